import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type * as PromClient from 'prom-client';
import type { Histogram } from 'prom-client';
import type { Logger } from '../core/index.js';
import type { Labels, MetricDef, Registry } from './registry.js';

export const PROM_PREFIX = 'waveos_';

/** What the exposition reads from outside telemetry at scrape time: the build, the mode, breakers, bundles. */
export interface ExpositionSources {
  build: () => { version: string; commit: string | null };
  /** The current mode and every mode there is (one series each, 1 for the current one). */
  mode: () => { current: string; known: readonly string[] };
  breakers: () => readonly { rule_id: string; state: string }[];
  /** Installed bundles by `kind/name` (the bundle agent's versions().by_name). */
  bundles: () => Readonly<Record<string, { version: string | undefined }>>;
  /** The journal holds events in memory because its disk is full (observability/ alert rules). */
  journalDiskFull?: () => boolean;
  /** The newest bundle install was rolled back and nothing has been committed since. */
  rolloutHalted?: () => boolean;
}

export const BREAKER_STATES = ['closed', 'open', 'half_open'] as const;

type Prom = typeof PromClient;
type PromRegistry = InstanceType<Prom['Registry']>;

/** Info and state gauges, set at scrape time from the sources (Prometheus's `_info` and one-hot enum idioms). */
function addSourceGauges(prom: Prom, reg: PromRegistry, src: ExpositionSources): void {
  const gauge = (name: string, help: string, labelNames: string[], fill: (set: (labels: Record<string, string>, v: number) => void) => void): void => {
    new prom.Gauge({
      name: `${PROM_PREFIX}${name}`,
      help,
      labelNames,
      registers: [reg],
      collect() {
        this.reset();
        fill((labels, v) => this.set(labels, v));
      },
    });
  };
  gauge('build_info', 'the running build: always 1, the version and the git commit in labels', ['version', 'commit'], (set) => {
    const b = src.build();
    set({ version: b.version, commit: b.commit ?? 'unknown' }, 1);
  });
  gauge('mode', 'the device mode: 1 for the current mode, 0 for the others', ['mode'], (set) => {
    const m = src.mode();
    for (const mode of new Set([...m.known, m.current])) set({ mode }, mode === m.current ? 1 : 0);
  });
  gauge('breaker_state', 'each policy breaker: 1 for its current state (closed, open, half_open), 0 for the others', ['rule', 'state'], (set) => {
    for (const b of src.breakers()) for (const state of BREAKER_STATES) set({ rule: b.rule_id, state }, b.state === state ? 1 : 0);
  });
  gauge('journal_disk_full', 'the journal cannot commit for a full disk: 1 while events wait in memory, else 0', [], (set) => set({}, src.journalDiskFull?.() ? 1 : 0));
  gauge('rollout_halted', 'the newest bundle install was rolled back and none was committed since: 1, else 0', [], (set) => set({}, src.rolloutHalted?.() ? 1 : 0));
  gauge('bundle_info', 'each installed bundle: always 1, its name, kind and version in labels', ['name', 'kind', 'version'], (set) => {
    for (const [key, v] of Object.entries(src.bundles())) {
      const slash = key.indexOf('/');
      set({ name: key.slice(slash + 1), kind: key.slice(0, slash), version: v.version ?? 'unknown' }, 1);
    }
  });
}

/** A label value in the text format: backslash, double quote and newline escaped. */
function labelValue(v: string): string {
  return v.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n');
}

/**
 * Gauges labelled by `quantile` are precomputed quantiles (the event-loop lag): written as a summary, the type
 * that label belongs to. The quantiles come from a histogram reset every interval, so there is no _sum or _count.
 */
function summaryText(registry: Registry, def: MetricDef): string {
  const name = `${PROM_PREFIX}${def.name}`;
  const lines = [`# HELP ${name} ${def.help} (${def.unit})`, `# TYPE ${name} summary`];
  for (const s of registry.series(def.name)) lines.push(`${name}{quantile="${labelValue(String(s.labels.quantile))}"} ${s.value}`);
  return `${lines.join('\n')}\n`;
}

const isSummary = (def: MetricDef): boolean => def.type === 'gauge' && def.labelNames.length === 1 && def.labelNames[0] === 'quantile';


/**
 * The text exposition of the registry, through prom-client. Gauges and counters are copied from the
 * registry at scrape time; histograms mirror every observation as it happens.
 */
export async function buildExposition(registry: Registry, sources?: ExpositionSources): Promise<{ metrics: () => Promise<string>; contentType: string; close: () => void }> {
  // Loaded only when the endpoint is on, so a daemon without it does not carry prom-client.
  // A CommonJS package: its exports object is the namespace's default, in node and in the bundle alike (the
  // bundle's split chunk has no named exports for it).
  const prom = ((await import('prom-client')) as unknown as { default: typeof PromClient }).default;
  const reg = new prom.Registry();
  const made = new Set<string>();
  const hist = new Map<string, Histogram>();

  if (sources) addSourceGauges(prom, reg, sources);
  const ensure = (def: MetricDef): void => {
    if (made.has(def.name) || isSummary(def)) return;
    made.add(def.name);
    const name = `${PROM_PREFIX}${def.name}`;
    const help = `${def.help} (${def.unit})`;
    const labelNames = [...def.labelNames];
    if (def.type === 'gauge') {
      new prom.Gauge({
        name,
        help,
        labelNames,
        registers: [reg],
        collect() {
          this.reset();
          for (const s of registry.series(def.name)) this.set(s.labels as Record<string, string>, s.value);
        },
      });
    } else if (def.type === 'counter') {
      new prom.Counter({
        name,
        help,
        labelNames,
        registers: [reg],
        collect() {
          this.reset();
          for (const s of registry.series(def.name)) this.inc(s.labels as Record<string, string>, s.value);
        },
      });
    } else {
      hist.set(def.name, new prom.Histogram({ name, help, labelNames, buckets: [...(def.buckets ?? [])], registers: [reg] }));
    }
  };
  for (const def of registry.definitions()) ensure(def);
  const unsubscribe = registry.onObserve((def: MetricDef, labels: Labels, value: number) => {
    ensure(def);
    hist.get(def.name)?.observe(labels as Record<string, string>, value);
  });
  return {
    metrics: async () => {
      for (const def of registry.definitions()) ensure(def);
      const summaries = registry.definitions().filter(isSummary).map((def) => summaryText(registry, def));
      return (await reg.metrics()) + summaries.join('');
    },
    contentType: reg.contentType,
    close: () => {
      unsubscribe();
      reg.clear();
    },
  };
}

export interface PrometheusServer {
  /** `http://host:port/metrics` once listening. */
  url: string;
  /** Settles once the exposition is built (prom-client loaded, histograms subscribed). */
  built: Promise<void>;
  close(): Promise<void>;
}

/**
 * Serves GET /metrics on host:port (127.0.0.1 unless configured otherwise); port 0 picks a free one. It listens
 * at once; prom-client is loaded and the exposition built once `buildAfter` settles (the daemon's READY=1, so
 * that start-up does not wait for it), and a scrape before that waits for it.
 */
export async function startPrometheus(
  registry: Registry,
  host: string,
  port: number,
  log: Logger,
  sources?: ExpositionSources,
  buildAfter: Promise<unknown> = Promise.resolve(),
): Promise<PrometheusServer> {
  const expoReady = buildAfter.then(
    () => buildExposition(registry, sources),
    () => buildExposition(registry, sources),
  );
  // A failure to build is answered per scrape (500, logged there), not left as an unhandled rejection.
  expoReady.catch(() => undefined);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    let contentType = 'text/plain';
    expoReady.then((expo) => ((contentType = expo.contentType), expo.metrics())).then(
      (text) => res.writeHead(200, { 'content-type': contentType }).end(text),
      (e: unknown) => {
        log.error({ err: String(e) }, 'prometheus exposition failed');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('exposition failed\n');
      },
    );
  });
  server.keepAliveTimeout = 5_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const addr = server.address() as AddressInfo;
  const h = addr.family === 'IPv6' ? `[${addr.address}]` : addr.address;
  return {
    url: `http://${h}:${addr.port}/metrics`,
    built: expoReady.then(
      () => undefined,
      () => undefined,
    ),
    close: () =>
      new Promise<void>((resolve) => {
        void expoReady.then((expo) => expo.close(), () => undefined);
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
