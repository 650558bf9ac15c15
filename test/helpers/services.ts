import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO, cli } from './daemon.js';

export const EXAMPLES = join(REPO, 'hil-sim/services');

/** A service entry running one of the example scripts with the test's node. */
export function example(name: string, script: string, args: string[] = [], extra: Record<string, unknown> = {}): Record<string, unknown> {
  return { name, command: process.execPath, args: [join(EXAMPLES, script), ...args], ...extra };
}

/** Writes a config file (JSON is YAML) into the root and returns its path. */
/** The ladder and supervision are tested on their own: the repo's example policies (a crash breaker among them) stay off unless a test adds them. */
export function writeConfig(root: string, doc: Record<string, unknown>): string {
  const file = join(root, 'waveos.yaml');
  writeFileSync(file, JSON.stringify({ schema_version: 2, profile: 'dev', artifacts: { flush_interval: '200ms' }, policy: { examples: false }, ...doc }, null, 2));
  return file;
}

export interface Ev {
  seq: number;
  kind: string;
  source: string;
  reason: string;
  severity: string;
  data: Record<string, unknown>;
}

/** Events of the journal, read through the real CLI. */
export function events(root: string, kind = ''): Ev[] {
  const r = cli(['events', '--json', '--root', root, ...(kind ? ['--kind', kind] : [])]);
  if (r.code !== 0) return [];
  const body = JSON.parse(r.stdout) as Ev[] | { events: Ev[] };
  return Array.isArray(body) ? body : body.events;
}

export interface Svc {
  name: string;
  state: string;
  pid: number | null;
  restarts: number;
  uptime_s: number;
  last_exit: { code: number | null; signal: string | null } | null;
}

export function services(root: string): Svc[] {
  const r = cli(['service', 'list', '--json', '--root', root]);
  if (r.code !== 0) throw new Error(`service list failed: ${r.stderr}`);
  return (JSON.parse(r.stdout) as { services: Svc[] }).services;
}

/** Processes whose environment carries `KEY=value`, with the service name they were started for. */
export function markedProcesses(key: string, value: string): { pid: number; service: string | undefined }[] {
  const out: { pid: number; service: string | undefined }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      if (/\) Z /.test(stat)) continue;
      const env = readFileSync(`/proc/${d}/environ`, 'utf8').split('\0');
      if (!env.includes(`${key}=${value}`)) continue;
      const svc = env.find((e) => e.startsWith('WAVEOS_SERVICE='))?.slice('WAVEOS_SERVICE='.length);
      out.push({ pid: Number(d), service: svc });
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out;
}

export function killMarked(key: string, value: string): void {
  for (const p of markedProcesses(key, value)) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
}
