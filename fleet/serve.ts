/*
 * `waveos-fleet serve`: one controller process. Ingests the device channels, leads the rollouts whose
 * advisory lock it holds, publishes desired documents, serves /metrics, bundles and evidence uploads. It keeps
 * nothing that matters in memory: kill it at any instant and another (or the next start) carries on.
 */
import { mkdirSync } from 'node:fs';
import mqtt from 'mqtt';
import pg from 'pg';
import { migrate, openDb } from './db.js';
import { Engine } from './engine.js';
import { Ingest } from './ingest.js';
import { FleetCtlError, loadSigningKey } from './keys.js';
import { type Common, type Flags, needKey, str, tlsOptions } from './options.js';
import { Publisher } from './publisher.js';
import { startServer } from './server.js';

function cpuSeconds(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

export async function serve(c: Common, f: Flags): Promise<never> {
  const key = loadSigningKey(needKey(c));
  const listen = str(f, 'listen') ?? '127.0.0.1:9310';
  const lm = /^(.*):(\d+)$/.exec(listen);
  if (!lm) throw new FleetCtlError('WAVEOS_E_FLEET_USAGE', `--listen ${JSON.stringify(listen)}: expected HOST:PORT`, 2);
  const tickMs = Number(str(f, 'tick') ?? '1000');
  const log = (msg: string): void => void process.stderr.write(`${new Date().toISOString()} waveos-fleet[${c.controller}] ${msg}\n`);
  mkdirSync(c.store, { recursive: true });
  const db = openDb(c.db, 6);
  await migrate(db);
  // The session that holds this controller's rollout locks. If it drops, the locks are gone and another
  // controller may lead: exit at once (crash-only; the supervisor starts us again).
  const lockClient = new pg.Client({ connectionString: c.db });
  lockClient.on('error', (e) => {
    log(`lock session lost (${e.message}): exiting so that no rollout has two leaders`);
    process.exit(75);
  });
  await lockClient.connect();
  lockClient.on('end', () => {
    log('lock session ended: exiting');
    process.exit(75);
  });
  const ingest = new Ingest(db, c.fleet, log);
  await ingest.loadKeys();
  const client = mqtt.connect(c.broker, { clientId: `waveos-fleet-${c.controller}`.replace(/[^A-Za-z0-9._:-]/g, '-').slice(0, 128), clean: true, reconnectPeriod: 1000, connectTimeout: 10_000, keepalive: 30, ...tlsOptions(c) });
  const publisher = new Publisher(db, c.fleet, client, log);
  const engine = new Engine({ db, lockClient, ctx: { fleet: c.fleet, key, issuer: c.issuer }, controller: c.controller, log, kick: () => publisher.kick() });
  let connects = 0;
  client.on('connect', () => {
    connects++;
    log(`broker ${c.broker}: connected${connects > 1 ? ' again; publishing every desired document again' : ''}`);
    if (connects > 1) publisher.republishAll().catch((e: unknown) => log(`republish: ${(e as Error).message}`));
    else publisher.kick();
  });
  client.on('error', (e) => log(`broker: ${e.message}`));
  ingest.subscribe(client);
  let ticking = false;
  const tick = (): void => {
    // Desired documents written by an operator's command (a rollback) are published by whichever controller looks first.
    publisher.kick();
    if (ticking) return;
    ticking = true;
    engine
      .tick()
      .catch((e: unknown) => log(`engine: ${(e as Error).message}`))
      .finally(() => (ticking = false));
  };
  ingest.onFlushed = tick;
  const timer = setInterval(tick, tickMs);
  const extra = (): string[] => {
    const s = ingest.stats;
    return [
      '# HELP waveos_fleet_ingest_messages_total Device messages received, by outcome.',
      '# TYPE waveos_fleet_ingest_messages_total counter',
      `waveos_fleet_ingest_messages_total{outcome="accepted"} ${s.accepted}`,
      ...Object.entries(s.rejectedWhy).map(([k, v]) => `waveos_fleet_ingest_messages_total{outcome="rejected",why="${k}"} ${v}`),
      '# HELP waveos_fleet_ingest_statuses_written_total Device statuses this controller wrote to the inventory.',
      '# TYPE waveos_fleet_ingest_statuses_written_total counter',
      `waveos_fleet_ingest_statuses_written_total ${s.statusesWritten}`,
      '# HELP waveos_fleet_controller_leading Rollouts this controller leads.',
      '# TYPE waveos_fleet_controller_leading gauge',
      `waveos_fleet_controller_leading ${engine.leading.length}`,
      '# HELP waveos_fleet_desired_published_total Desired documents this controller published.',
      '# TYPE waveos_fleet_desired_published_total counter',
      `waveos_fleet_desired_published_total ${publisher.published}`,
      '# HELP waveos_fleet_controller_cpu_seconds_total CPU time of this controller process.',
      '# TYPE waveos_fleet_controller_cpu_seconds_total counter',
      `waveos_fleet_controller_cpu_seconds_total ${cpuSeconds()}`,
      '# HELP waveos_fleet_controller_rss_bytes Resident memory of this controller process.',
      '# TYPE waveos_fleet_controller_rss_bytes gauge',
      `waveos_fleet_controller_rss_bytes ${process.memoryUsage.rss()}`,
    ];
  };
  const srv = await startServer({ db, fleet: c.fleet, controller: c.controller, store: c.store, log, extra }, Number(lm[2]), lm[1] as string);
  const addr = srv.address();
  process.stdout.write(`${JSON.stringify({ ready: true, controller: c.controller, fleet: c.fleet, key_id: key.key_id, listen: typeof addr === 'object' && addr ? `${addr.address}:${addr.port}` : listen })}\n`);
  let stopping = false;
  const stop = (sig: string): void => {
    if (stopping) return;
    stopping = true;
    log(`${sig}: stopping`);
    clearInterval(timer);
    setTimeout(() => process.exit(0), 3000).unref();
    srv.close();
    client.end(false, {}, () => {
      lockClient.removeAllListeners('end');
      void lockClient.end().finally(() => void db.end().finally(() => process.exit(0)));
    });
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  return new Promise<never>(() => undefined);
}
