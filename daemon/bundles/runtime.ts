import { type ChildProcess, spawn } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { type Lifecycle, type Logger, type Paths, processStartTime, unlinkDurable, writeFileAtomic } from '../core/index.js';
import type { Manifest } from './manifest.js';
import { LINK_CURRENT, listGroups, readSlotManifest } from './slots.js';

/** What the agent hands an activator or a health gate: one slot of one bundle. */
export interface SlotRef {
  kind: Manifest['kind'];
  name: string;
  /** The slot folder (payload is `<slotDir>/payload`). */
  slotDir: string;
  manifest: Manifest;
}

export interface GateResult {
  ok: boolean;
  reason: string;
  data: Record<string, unknown>;
}

/**
 * The seams to the service supervisor / action executor. The defaults below (DefaultRuntime) work on their
 * own: config, certs and policy bundles are live once their slot is switched; an app bundle's declared
 * `app.run` command is started from its slot, and its gate is "stays up for the trial time, then the
 * declared `app.health` command exits 0".
 */
export interface BundleRuntime {
  /** Puts the now-current slot into service (restart the app onto it). */
  activate(ref: SlotRef): Promise<void>;
  /** Takes a bundle out of service (no slot to fall back to). */
  deactivate(kind: string, name: string): Promise<void>;
  healthGate(ref: SlotRef, signal: AbortSignal): Promise<GateResult>;
}

interface RunningRecord {
  pid: number;
  start_time: string | undefined;
  bundle_id: string;
}

export interface DefaultRuntimeDeps {
  paths: Paths;
  log: Logger;
  /** How long an app must stay up in its trial when its manifest does not say. */
  defaultTrialMs: number;
  env?: NodeJS.ProcessEnv;
}

const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((r) => {
    const t = setTimeout(r, ms);
    signal?.addEventListener('abort', () => {
      clearTimeout(t);
      r();
    });
  });

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** The stand-alone runtime: one process group per app, recorded under run/ so a restarted daemon reaps orphans. */
export class DefaultRuntime implements BundleRuntime, Lifecycle {
  readonly name = 'bundle-runtime';
  private readonly children = new Map<string, { child: ChildProcess; bundle_id: string; exit?: { code: number | null; signal: string | null } }>();

  constructor(private readonly deps: DefaultRuntimeDeps) {}

  private recordFile(name: string): string {
    return join(this.deps.paths.appsRunDir, `${name}.json`);
  }

  private payloadOf(slotDir: string): string {
    return realpathSync(join(slotDir, 'payload'));
  }

  /** Starts every committed app from its current slot, after reaping what a killed daemon left running. */
  async start(): Promise<void> {
    for (const g of listGroups(this.deps.paths)) {
      if (g.kind !== 'app') continue;
      await this.reap(g.name);
      if (!g.current) continue;
      const slotDir = join(g.dir, LINK_CURRENT);
      const manifest = readSlotManifest(slotDir);
      if (manifest?.app?.run) this.spawnApp(g.name, join(g.dir, g.current), manifest);
    }
  }

  async stop(): Promise<void> {
    await Promise.all([...this.children.keys()].map((n) => this.stopApp(n)));
  }

  private async reap(name: string): Promise<void> {
    let rec: RunningRecord;
    try {
      rec = JSON.parse(readFileSync(this.recordFile(name), 'utf8')) as RunningRecord;
    } catch {
      return;
    }
    if (rec.start_time !== undefined && processStartTime(rec.pid) === rec.start_time) {
      this.deps.log.warn({ app: name, pid: rec.pid }, 'stopping an app process left by a previous run');
      try {
        process.kill(-rec.pid, 'SIGKILL');
      } catch {
        // gone meanwhile
      }
      for (let i = 0; i < 50 && alive(rec.pid); i++) await sleep(20);
    }
    unlinkDurable(this.recordFile(name));
  }

  private spawnApp(name: string, slotDir: string, manifest: Manifest): void {
    const argv = manifest.app?.run;
    if (!argv?.[0]) return;
    const cwd = this.payloadOf(slotDir);
    const prog = existsSync(join(cwd, argv[0])) ? join(cwd, argv[0]) : argv[0];
    const logDir = this.deps.paths.appsLogDir;
    mkdirSync(logDir, { recursive: true, mode: 0o750 });
    const out = openSync(join(logDir, `${name}.log`), 'a', 0o640);
    const child = spawn(prog, argv.slice(1), {
      cwd,
      detached: true,
      stdio: ['ignore', out, out],
      env: {
        ...(this.deps.env ?? process.env),
        WAVEOS_ROOT: this.deps.paths.root,
        WAVEOS_APP_NAME: name,
        WAVEOS_APP_VERSION: manifest.version,
        WAVEOS_APP_BUNDLE_ID: manifest.bundle_id,
      },
    });
    closeSync(out);
    const entry: { child: ChildProcess; bundle_id: string; exit?: { code: number | null; signal: string | null } } = { child, bundle_id: manifest.bundle_id };
    child.on('exit', (code, signal) => (entry.exit = { code, signal }));
    child.on('error', (e) => {
      entry.exit = { code: null, signal: null };
      this.deps.log.error({ app: name, err: e.message }, 'app failed to start');
    });
    this.children.set(name, entry);
    if (child.pid !== undefined) {
      mkdirSync(this.deps.paths.appsRunDir, { recursive: true, mode: 0o750 });
      const rec: RunningRecord = { pid: child.pid, start_time: processStartTime(child.pid), bundle_id: manifest.bundle_id };
      writeFileAtomic(this.recordFile(name), `${JSON.stringify(rec)}\n`);
    }
    this.deps.log.info({ app: name, pid: child.pid, version: manifest.version, cwd }, `started app ${name} ${manifest.version}`);
  }

  private async stopApp(name: string): Promise<void> {
    const e = this.children.get(name);
    if (!e) {
      await this.reap(name);
      return;
    }
    this.children.delete(name);
    const pid = e.child.pid;
    if (pid !== undefined && !e.exit) {
      try {
        process.kill(-pid, 'SIGTERM');
      } catch {
        // already gone
      }
      for (let i = 0; i < 100 && !e.exit && alive(pid); i++) await sleep(20);
      if (!e.exit && alive(pid)) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // gone
        }
      }
    }
    unlinkDurable(this.recordFile(name));
  }

  async activate(ref: SlotRef): Promise<void> {
    if (ref.kind !== 'app') return;
    await this.stopApp(ref.name);
    if (ref.manifest.app?.run) this.spawnApp(ref.name, ref.slotDir, ref.manifest);
  }

  async deactivate(kind: string, name: string): Promise<void> {
    if (kind === 'app') await this.stopApp(name);
  }

  /** Is the app from this bundle running now? (for status and tests) */
  running(name: string): { pid: number; bundle_id: string } | undefined {
    const e = this.children.get(name);
    if (!e || e.exit || e.child.pid === undefined) return undefined;
    return { pid: e.child.pid, bundle_id: e.bundle_id };
  }

  async healthGate(ref: SlotRef, signal: AbortSignal): Promise<GateResult> {
    const trialMs = ref.manifest.app?.trial_ms ?? this.deps.defaultTrialMs;
    if (ref.kind !== 'app' && ref.kind !== 'waveos') return { ok: true, reason: `${ref.kind} bundle validated and switched`, data: {} };
    const t0 = performance.now();
    while (performance.now() - t0 < trialMs && !signal.aborted) {
      if (ref.kind === 'app' && ref.manifest.app?.run) {
        const e = this.children.get(ref.name);
        if (!e || e.exit) {
          const x = e?.exit;
          return {
            ok: false,
            reason: `app ${ref.name} ${ref.manifest.version} exited ${x?.signal ? `on ${x.signal}` : `with code ${x?.code ?? '?'}`} ${Math.round(performance.now() - t0)} ms into its ${trialMs} ms trial`,
            data: { exit_code: x?.code ?? null, signal: x?.signal ?? null, after_ms: Math.round(performance.now() - t0), trial_ms: trialMs },
          };
        }
      }
      await sleep(Math.min(100, trialMs), signal);
    }
    if (signal.aborted) return { ok: false, reason: 'the trial was interrupted', data: {} };
    const health = ref.manifest.app?.health;
    if (ref.kind === 'app' && health?.[0]) {
      const cwd = this.payloadOf(ref.slotDir);
      const prog = existsSync(join(cwd, health[0])) ? join(cwd, health[0]) : health[0];
      const code = await new Promise<number | null>((resolve) => {
        const c = spawn(prog, health.slice(1), { cwd, stdio: 'ignore', env: { ...(this.deps.env ?? process.env), WAVEOS_ROOT: this.deps.paths.root, WAVEOS_APP_NAME: ref.name } });
        const timer = setTimeout(() => c.kill('SIGKILL'), 10_000);
        c.on('exit', (x) => {
          clearTimeout(timer);
          resolve(x);
        });
        c.on('error', () => {
          clearTimeout(timer);
          resolve(null);
        });
      });
      if (code !== 0) return { ok: false, reason: `health check ${health.join(' ')} of app ${ref.name} exited with ${code ?? 'an error'}`, data: { exit_code: code, trial_ms: trialMs } };
    }
    return { ok: true, reason: `${ref.kind} ${ref.name} ${ref.manifest.version} stayed healthy for ${trialMs} ms`, data: { trial_ms: trialMs } };
  }
}
