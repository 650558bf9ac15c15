import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Histogram } from 'prom-client';
import type { Logger } from '../core/index.js';
import type { Labels, MetricDef, Registry } from './registry.js';

export const PROM_PREFIX = 'waveos_';


/**
 * The text exposition of the registry, through prom-client. Gauges and counters are copied from the
 * registry at scrape time; histograms mirror every observation as it happens.
 */
export async function buildExposition(registry: Registry): Promise<{ metrics: () => Promise<string>; contentType: string; close: () => void }> {
  // Loaded only when the endpoint is on, so a daemon without it does not carry prom-client.
  const prom = await import('prom-client');
  const reg = new prom.Registry();
  const made = new Set<string>();
  const hist = new Map<string, Histogram>();

  const ensure = (def: MetricDef): void => {
    if (made.has(def.name)) return;
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
      return reg.metrics();
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
  close(): Promise<void>;
}

/** Serves GET /metrics on host:port (127.0.0.1 unless configured otherwise); port 0 picks a free one. */
export async function startPrometheus(registry: Registry, host: string, port: number, log: Logger): Promise<PrometheusServer> {
  const expo = await buildExposition(registry);
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found: try GET /metrics\n');
      return;
    }
    expo.metrics().then(
      (text) => res.writeHead(200, { 'content-type': expo.contentType }).end(text),
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
    close: () =>
      new Promise<void>((resolve) => {
        expo.close();
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
