import { mkdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { errorMessage, isoUtc } from '../core/index.js';
import { download } from './download.js';
import { type DesiredBundle, type DesiredMessage, inMaintenanceWindow } from './protocol.js';
import type { FleetState } from './state.js';
import type { FleetDeps } from './types.js';

/** How often a waiting desired state looks at its windows and the update lock again. */
const RECHECK_MS = 5_000;

type DesiredStateName = 'applied' | 'applying' | 'waiting' | 'failed';

/**
 * Converges the device on the last accepted `desired`: each named bundle whose installed version differs is
 * downloaded (resumable) and installed by the bundle agent exactly as a local install, inside a maintenance
 * window and while no update lock is held. A bundle that fails (download, verification, trial) is reported
 * and not tried again for the same desired seq.
 */
export class Desired {
  private current: DesiredMessage | undefined;
  private running = false;
  private again = false;
  private timer: NodeJS.Timeout | undefined;
  private readonly abort = new AbortController();
  private readonly failed = new Map<string, string>();
  private saidWaiting = '';
  private saidStale = '';

  constructor(
    private readonly d: FleetDeps,
    private readonly store: FleetState,
    private readonly changed: () => void,
  ) {}

  start(): void {
    mkdirSync(this.d.paths.fleetDownloadDir, { recursive: true, mode: 0o750 });
  }

  stop(): void {
    this.abort.abort();
    clearTimeout(this.timer);
  }

  /** A verified desired state (or the broker re-delivering the one accepted). */
  offer(m: DesiredMessage, duplicate: boolean): void {
    if (duplicate && this.current?.seq === m.seq) return;
    const st = this.store.get().desired;
    this.current = m;
    // After a restart: a desired state that already failed is not tried again until a new one comes.
    if (duplicate && st?.seq === m.seq && st.state === 'failed') return;
    this.kick();
  }

  private kick(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = true;
    void this.converge()
      .catch((e: unknown) => this.d.log.error({ err: errorMessage(e) }, 'fleet desired state failed'))
      .finally(() => {
        this.running = false;
        if (this.again && !this.abort.signal.aborted) {
          this.again = false;
          this.kick();
        }
      });
  }

  private setState(m: DesiredMessage, state: DesiredStateName, reason: string): void {
    const prev = this.store.get().desired;
    if (prev && prev.seq === m.seq && prev.state === state && prev.reason === reason) return;
    this.store.update({ desired: { seq: m.seq, state, reason, at: isoUtc(this.d.clock.now()), issuer: m.issuer } });
    this.changed();
  }

  /** Whether the update lock holds: the file run/waveos/update.lock, unless older than update_lock_max_age. */
  lockState(): { held: boolean; reason: string | null } {
    const file = this.d.paths.updateLock;
    let st;
    try {
      st = statSync(file);
    } catch {
      return { held: false, reason: null };
    }
    let reason = '';
    try {
      reason = readFileSync(file, 'utf8').trim().slice(0, 200);
    } catch {
      // unreadable: still a lock
    }
    const age = this.d.clock.now() - st.mtimeMs;
    if (age > this.d.config.update_lock_max_age_ms) {
      const mark = `${st.mtimeMs}`;
      if (this.saidStale !== mark) {
        this.saidStale = mark;
        this.d.journal.append({ kind: 'fleet.update_lock_stale', severity: 'warning', source: 'fleet', reason: `the update lock ${file} is ${Math.round(age / 60_000)} min old, more than fleet.update_lock_max_age: it is ignored`, data: { file, age_ms: age, reason } });
      }
      return { held: false, reason: null };
    }
    return { held: true, reason: reason || 'no reason given' };
  }

  private gate(m: DesiredMessage): string | null {
    const lock = this.lockState();
    if (lock.held) return `the update lock is held (${lock.reason})`;
    if (!inMaintenanceWindow(m.body.maintenance_windows, this.d.clock.now())) return 'outside every maintenance window';
    return null;
  }

  private changes(m: DesiredMessage): [string, DesiredBundle][] {
    const installed = Object.values(this.d.facts.bundles());
    return Object.entries(m.body.bundles).filter(([name, b]) => installed.find((i) => i.name === name)?.version !== b.version);
  }

  private async converge(): Promise<void> {
    const m = this.current;
    if (!m) return;
    await this.applyMode(m);
    const todo = this.changes(m).filter(([name, b]) => !this.failed.has(`${m.seq}:${name}@${b.version}`));
    if (todo.length === 0) return this.settle(m);
    const wait = this.gate(m);
    if (wait) {
      this.setState(m, 'waiting', wait);
      if (this.saidWaiting !== `${m.seq}:${wait}`) {
        this.saidWaiting = `${m.seq}:${wait}`;
        this.d.journal.append({ kind: 'fleet.desired_waiting', severity: 'info', source: 'fleet', reason: `desired state seq ${m.seq} waits: ${wait}`, data: { seq: m.seq, why: wait } });
      }
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.kick(), RECHECK_MS);
      this.timer.unref();
      return;
    }
    for (const [name, b] of todo) {
      if (this.abort.signal.aborted || this.current !== m) return;
      await this.applyBundle(m, name, b);
    }
    if (this.current === m) this.settle(m);
  }

  private async applyMode(m: DesiredMessage): Promise<void> {
    const want = m.body.mode;
    if (!want || want.mode === this.d.facts.mode()) return;
    const who = `fleet:${m.issuer}`;
    try {
      await this.d.run({ action: 'mode.set', params: { mode: want.mode }, reason: `${who} (desired state seq ${m.seq}): ${want.reason}`, source: who });
    } catch (e) {
      this.d.log.warn({ err: errorMessage(e) }, 'desired mode not applied');
    }
  }

  private settle(m: DesiredMessage): void {
    const failures = Object.entries(m.body.bundles)
      .map(([name, b]) => this.failed.get(`${m.seq}:${name}@${b.version}`))
      .filter((r): r is string => r !== undefined);
    if (failures.length > 0) return this.setState(m, 'failed', failures.join('; '));
    const prev = this.store.get().desired;
    if (prev?.seq === m.seq && prev.state === 'applied') return;
    const installed = Object.fromEntries(Object.entries(m.body.bundles).map(([n, b]) => [n, b.version]));
    const was = this.store.get().applied;
    // A desired state without the member says nothing about it: the revision applied before stays in force.
    const applied = {
      seq: m.seq,
      config_revision: m.body.config_revision === undefined ? (was?.config_revision ?? null) : m.body.config_revision,
      policy_revision: m.body.policy_revision === undefined ? (was?.policy_revision ?? null) : m.body.policy_revision,
      at: isoUtc(this.d.clock.now()),
    };
    this.d.journal.append({
      kind: 'fleet.desired_applied',
      severity: 'notice',
      source: 'fleet',
      reason: `desired state seq ${m.seq} is in force: ${Object.entries(installed).map(([n, v]) => `${n} ${v}`).join(', ') || 'no bundles'}${applied.config_revision ? `, config revision ${applied.config_revision}` : ''}${applied.policy_revision ? `, policy revision ${applied.policy_revision}` : ''}`,
      data: { seq: m.seq, installed, config_revision: applied.config_revision, policy_revision: applied.policy_revision },
    });
    this.store.update({ applied });
    this.setState(m, 'applied', 'every desired bundle is installed');
  }

  private fail(m: DesiredMessage, name: string, b: DesiredBundle, stage: string, error: string): void {
    const reason = `${name} ${b.version}: ${stage} failed: ${error}`;
    this.failed.set(`${m.seq}:${name}@${b.version}`, reason);
    this.d.journal.append({ kind: 'fleet.desired_failed', severity: 'error', source: 'fleet', reason: `desired state seq ${m.seq}: ${reason}`, data: { seq: m.seq, name, version: b.version, stage, error } });
    this.setState(m, 'failed', reason);
  }

  private async applyBundle(m: DesiredMessage, name: string, b: DesiredBundle): Promise<void> {
    const file = join(this.d.paths.fleetDownloadDir, `${name}-${b.version}.wbundle`);
    this.setState(m, 'applying', `downloading ${name} ${b.version}`);
    try {
      const r = await download(b.url, file, b, Date.now() + this.d.config.download_timeout_ms, this.abort.signal);
      this.d.journal.append({ kind: 'fleet.download', severity: 'info', source: 'fleet', reason: `downloaded ${name} ${b.version} (${r.bytes} bytes${r.resumedFrom ? `, resumed at byte ${r.resumedFrom}` : ''}, ${r.attempts} attempt(s)); size and sha256 match`, data: { name, version: b.version, bytes: r.bytes, resumed_from: r.resumedFrom, attempts: r.attempts, url: new URL(b.url).origin } });
    } catch (e) {
      if (this.abort.signal.aborted) return;
      return this.fail(m, name, b, 'download', errorMessage(e));
    }
    this.setState(m, 'applying', `installing ${name} ${b.version}`);
    try {
      const rec = await this.d.install(file, `fleet:${m.issuer}`);
      if (rec.state !== 'committed') this.fail(m, name, b, 'install', `${rec.state}${rec.check ? ` (${rec.check})` : ''}: ${rec.reason ?? 'no reason recorded'}`);
    } catch (e) {
      if (this.abort.signal.aborted) return;
      const check = (e as { check?: string }).check;
      this.fail(m, name, b, 'install', `rejected${check ? ` (${check})` : ''}: ${errorMessage(e)}`);
    } finally {
      rmSync(file, { force: true });
    }
  }
}
