/*
 * The fleet controller's test and bench rig (not used by the controller itself): a throwaway PostgreSQL cluster (initdb + postgres on a unix socket in a temp
 * dir, run as the `postgres` user when the tests run as root), a Mosquitto broker on a free port, controllers
 * (the real `waveos-fleet serve`) and simulated devices (dist/controller/fleet/sim.js). Shared by the
 * end-to-end test (test/fleet-controller.integration.test.ts) and the scale bench (bench/fleet.bench.mjs, from dist/).
 */
import { type ChildProcess, execFileSync, spawn, spawnSync } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';

/** The repository: this file is fleet/rig.ts, or dist/controller/fleet/rig.js when built. */
export const REPO = existsSync(resolve(import.meta.dirname, '../package.json')) ? resolve(import.meta.dirname, '..') : resolve(import.meta.dirname, '../../..');

/** Lets the postgres user reach a dir through 0700 parents (traverse only). */
function openTraversal(path: string): void {
  for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
    const mode = statSync(dir).mode & 0o7777;
    if ((mode & 0o001) === 0) chmodSync(dir, mode | 0o001);
  }
}
export const FLEET_BIN = join(REPO, 'bin/waveos-fleet.js');
export const SIM = join(REPO, 'dist/controller/fleet/sim.js');

export function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (typeof a === 'object' && a ? res(a.port) : rej(new Error('no port'))));
    });
  });
}

function ensure(cmd: string, pkg: string): void {
  const r = spawnSync('bash', [join(REPO, 'scripts/ensure-debian-package.sh'), cmd, pkg], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`cannot install ${pkg}: ${r.stderr}`);
}

function pgBin(): string {
  ensure('pg_ctlcluster', 'postgresql');
  const base = '/usr/lib/postgresql';
  const v = readdirSync(base).sort((a, b) => Number(b) - Number(a))[0];
  if (!v) throw new Error('postgresql is installed but /usr/lib/postgresql has no version');
  return join(base, v, 'bin');
}

export interface Pg {
  url: string;
  stop: () => void;
}

export async function startPostgres(dir: string): Promise<Pg> {
  const bin = pgBin();
  const data = join(dir, 'pgdata');
  mkdirSync(dir, { recursive: true });
  const asRoot = process.getuid?.() === 0;
  let ids: { uid: number; gid: number } | undefined;
  if (asRoot) {
    const uid = Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim());
    ids = { uid, gid };
    chownSync(dir, uid, gid);
    openTraversal(dir);
  }
  const r = spawnSync(join(bin, 'initdb'), ['-D', data, '-A', 'trust', '-U', 'waveos', '--no-sync', '-E', 'UTF8'], { encoding: 'utf8', ...ids });
  if (r.status !== 0) throw new Error(`initdb: ${r.stderr}`);
  const port = await freePort();
  const child = spawn(join(bin, 'postgres'), ['-D', data, '-k', dir, '-p', String(port), '-c', 'listen_addresses=', '-c', 'fsync=off', '-c', 'max_connections=200', '-c', 'shared_buffers=128MB'], { stdio: ['ignore', 'ignore', 'pipe'], ...ids });
  let log = '';
  child.stderr?.on('data', (b: Buffer) => (log += b.toString()));
  const url = `postgresql:///postgres?host=${encodeURIComponent(dir)}&port=${port}&user=waveos`;
  const end = Date.now() + 30_000;
  while (!existsSync(join(dir, `.s.PGSQL.${port}`)) || !log.includes('ready to accept connections')) {
    if (Date.now() > end || child.exitCode !== null) throw new Error(`postgres did not start: ${log}`);
    await new Promise((res) => setTimeout(res, 100));
  }
  return { url, stop: () => void child.kill('SIGTERM') };
}

export interface Broker {
  port: number;
  url: string;
  child: ChildProcess;
  stop: () => Promise<void>;
  start: () => Promise<void>;
}

export async function startMosquitto(dir: string): Promise<Broker> {
  ensure('mosquitto', 'mosquitto');
  mkdirSync(dir, { recursive: true });
  const port = await freePort();
  const conf = join(dir, 'mosquitto.conf');
  const user = process.getuid?.() === 0 ? 'root' : (process.env.USER ?? 'root');
  // Unlimited queues: the controller's session receives every device's retained status at once.
  writeFileSync(conf, [`listener ${port} 127.0.0.1`, 'allow_anonymous true', 'persistence true', `persistence_location ${dir}/`, `user ${user}`, 'max_queued_messages 0', 'max_inflight_messages 200', 'max_keepalive 600', 'log_dest none', ''].join('\n'));
  const b: Broker = {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    child: undefined as unknown as ChildProcess,
    start: async () => {
      b.child = spawn('mosquitto', ['-c', conf], { stdio: 'ignore' });
      const end = Date.now() + 15_000;
      for (;;) {
        const ok = await new Promise<boolean>((res) => {
          const s = createServer();
          s.once('error', () => res(true));
          s.listen(port, '127.0.0.1', () => s.close(() => res(false)));
        });
        if (ok) return;
        if (Date.now() > end) throw new Error('mosquitto did not start');
        await new Promise((res) => setTimeout(res, 100));
      }
    },
    stop: () =>
      new Promise<void>((res) => {
        if (b.child.exitCode !== null) return res();
        b.child.once('exit', () => res());
        b.child.kill('SIGTERM');
      }),
  };
  await b.start();
  return b;
}

export interface Controller {
  child: ChildProcess;
  id: string;
  port: number;
  ready: Promise<Record<string, unknown>>;
  log: () => string;
}

export function fleetEnv(pg: Pg, broker: Broker, fleet: string, key: string, store: string): NodeJS.ProcessEnv {
  return { WAVEOS_FLEET_DB: pg.url, WAVEOS_FLEET_BROKER: broker.url, WAVEOS_FLEET_ID: fleet, WAVEOS_FLEET_KEY: key, WAVEOS_FLEET_STORE: store };
}

/** `port`: listen where a controller listened before (a restarted one keeps serving the bundle URLs it published). */
export async function startController(env: NodeJS.ProcessEnv, id: string, extra: string[] = [], port?: number): Promise<Controller> {
  port ??= await freePort();
  const child = spawn(process.execPath, [FLEET_BIN, 'serve', '--id', id, '--listen', `127.0.0.1:${port}`, '--public-url', `http://127.0.0.1:${port}`, ...extra], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let err = '';
  child.stderr?.on('data', (b: Buffer) => (err += b.toString()));
  const ready = new Promise<Record<string, unknown>>((res, rej) => {
    let out = '';
    child.stdout?.on('data', (b: Buffer) => {
      out += b.toString();
      const line = out.split('\n').find((l) => l.includes('"ready"'));
      if (line) res(JSON.parse(line) as Record<string, unknown>);
    });
    child.once('exit', (code) => rej(new Error(`controller ${id} exited ${String(code)}: ${err}`)));
  });
  ready.catch(() => undefined);
  return { child, id, port, ready, log: () => err };
}

export interface Sims {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  send: (op: 'offline' | 'online', ids: string[]) => void;
  ready: Promise<void>;
}

export function startSims(options: Record<string, unknown>): Sims {
  const child = spawn(process.execPath, [SIM, JSON.stringify(options)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines: Record<string, unknown>[] = [];
  let buf = '';
  let onReady: () => void = () => undefined;
  const ready = new Promise<void>((res) => (onReady = res));
  child.stdout?.on('data', (b: Buffer) => {
    buf += b.toString();
    const parts = buf.split('\n');
    buf = parts.pop() ?? '';
    for (const p of parts) {
      const x = JSON.parse(p) as Record<string, unknown>;
      lines.push(x);
      if ('ready' in x) onReady();
    }
  });
  return { child, lines, ready, send: (op, ids) => child.stdin?.write(`${JSON.stringify({ op, ids })}\n`) };
}

export function fleetCli(args: string[], env: NodeJS.ProcessEnv): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [FLEET_BIN, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

export async function until<T>(what: string, fn: () => T | undefined | false | Promise<T | undefined | false>, ms = 60_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((res) => setTimeout(res, 200));
  }
}
