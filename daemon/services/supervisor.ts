import { type ChildProcess, spawn } from 'node:child_process';
import type { z } from 'zod';
import { type Mode, type ServiceSpec, serviceSchema, serviceSpec } from '../config/index.js';
import { type Clock, type Lifecycle, type LogSink, type Logger, WaveosError, errorMessage, isoUtc } from '../core/index.js';
import { CHILDREN_KEY, HOLDS_KEY, type Journal } from '../journal/index.js';
import { serviceEnvironment } from './environment.js';
import { type HealthResult, type HeartbeatMemo, checkHealth } from './health.js';
import { type ChildRecord, reapOrphans, unrecordedChildren, waitGroupGone } from './orphans.js';
import { killGroup, primaryGroupOf, processStartTime, procUsage, resolveId } from './proc.js';
import { inSpan, spanAttributes } from '../tracing/index.js';

export type ServiceState = 'stopped' | 'starting' | 'running' | 'stopping' | 'backoff' | 'failed';

/** The per-service figures the status document, the CLI and telemetry read. */
export interface ServiceFigures {
  name: string;
  pid: number | null;
  state: ServiceState;
  /** Every start after the first. */
  restarts: number;
  /** Of those, the starts that followed a crash or a failed health check (the rest were asked for). */
  failure_restarts: number;
  uptime_s: number;
  last_exit: { code: number | null; signal: string | null } | null;
  critical: boolean;
  /** Why it is held stopped or failed, when it is. */
  held: string | null;
  /** Of the main process, from /proc; null when not running. */
  rss_bytes: number | null;
  cpu_s: number | null;
}

export interface ExitInfo {
  name: string;
  pid: number;
  code: number | null;
  signal: string | null;
  uptime_ms: number;
  /** True when the supervisor itself stopped it. */
  expected: boolean;
}

export interface UnhealthyInfo {
  name: string;
  pid: number;
  failures: number;
  detail: string;
  value: number | undefined;
}

export interface StopResult {
  name: string;
  was_running: boolean;
  pid: number | null;
  signal: string;
  waited_ms: number;
  escalated_to_sigkill: boolean;
  code: number | null;
  exit_signal: string | null;
}

/** Who asked, in words, for the events the supervisor writes. */
export interface Because {
  reason: string;
  source: string;
}

/** A hold keeps a service from being started by the ladder or a mode change until an operator starts it. */
export interface Hold {
  kind: 'operator' | 'failed';
  reason: string;
  since: string;
}


/** Each service's own log socket (the spooler's): lines written there are stored as the service's. */
export interface ServiceLogSockets {
  /** Opens it once (owned by the service's user and group when given) and returns its path, or undefined. */
  open(service: string, owner: { uid?: number; gid?: number }): Promise<string | undefined>;
  close(service: string): Promise<void>;
}

export interface SupervisorDeps {
  specs: readonly ServiceSpec[];
  journal: Journal;
  clock: Clock;
  log: Logger;
  sink: LogSink;
  /** The daemon's root: `{root}` in a service's args, env, cwd and health paths stands for it. */
  root: string;
  runId: string;
  /** The daemon's environment: a service gets only its base set and what its config names (environment.ts). */
  env?: NodeJS.ProcessEnv;
  /** A declared secret's value, for the services whose `secrets_env` names it. */
  secret?: (name: string) => string;
  /** Gives each service its own log socket, as WAVEOS_LOG_SOCKET. */
  logSockets?: ServiceLogSockets;
  /** Orphans from a previous run get this long between SIGTERM and SIGKILL. */
  orphanStopTimeoutMs?: number;
  /** On daemon stop, each child gets at most this long between its stop signal and SIGKILL. */
  shutdownBudgetMs?: number;
}

interface Running {
  proc: ChildProcess;
  pid: number;
  startedMono: number;
  expectedStop: boolean;
  exited: Promise<ExitInfo>;
  healthTimer: NodeJS.Timeout | undefined;
  healthFailures: number;
  checking: boolean;
  /** The heartbeat check's memory, per run of the service. */
  heartbeat: HeartbeatMemo;
}

interface Entry {
  spec: ServiceSpec;
  /** Added at run time (an app bundle's service), not from the config. */
  dynamic: boolean;
  /** On trial: an exit is the trial's verdict, so it is not handed to the exit listeners (the ladder). */
  trial: boolean;
  state: ServiceState;
  running: Running | undefined;
  restarts: number;
  failureRestarts: number;
  /** Set by a crash or a failed health check; the next start is then a failure restart. */
  failedSinceStart: boolean;
  starts: number;
  lastExit: { code: number | null; signal: string | null } | null;
}

type Listener<T> = (info: T) => void;

/** A service as the config file declares one (durations as text or seconds), before defaults are filled in. */
export type ServiceInput = z.input<typeof serviceSchema>;

function expand(text: string, root: string): string {
  return text.split('{root}').join(root);
}

function expandSpec(s: ServiceSpec, root: string): ServiceSpec {
  const h = s.health;
  const health =
    h.kind === 'heartbeat'
      ? { ...h, file: expand(h.file, root) }
      : h.kind === 'exec'
        ? { ...h, command: expand(h.command, root), args: h.args.map((a) => expand(a, root)) }
        : h;
  return {
    ...s,
    command: expand(s.command, root),
    args: s.args.map((a) => expand(a, root)),
    env: Object.fromEntries(Object.entries(s.env).map(([k, v]) => [k, expand(v, root)])),
    cwd: s.cwd === null ? null : expand(s.cwd, root),
    health,
  };
}

/**
 * Runs the configured services as children, each in its own process group, and reports what they do.
 * It decides nothing: exits and failed health checks go to listeners (the recovery ladder), and every
 * start or stop it performs is asked for by the action executor.
 */
export class Supervisor implements Lifecycle {
  readonly name = 'services';
  private readonly entries = new Map<string, Entry>();
  private readonly exitListeners = new Set<Listener<ExitInfo>>();
  private readonly unhealthyListeners = new Set<Listener<UnhealthyInfo>>();
  private readonly startListeners = new Set<Listener<{ name: string; pid: number }>>();
  private children: Record<string, ChildRecord>;
  private holds: Record<string, Hold>;
  private shuttingDown = false;

  constructor(private readonly deps: SupervisorDeps) {
    for (const s of deps.specs) {
      this.entries.set(s.name, { spec: expandSpec(s, deps.root), dynamic: false, trial: false, state: 'stopped', running: undefined, restarts: 0, failureRestarts: 0, failedSinceStart: false, starts: 0, lastExit: null });
    }
    this.children = { ...(deps.journal.readState(CHILDREN_KEY) ?? {}) };
    this.holds = { ...(deps.journal.readState(HOLDS_KEY) ?? {}) };
    for (const [name, h] of Object.entries(this.holds)) {
      const e = this.entries.get(name);
      if (e && h.kind === 'failed') e.state = 'failed';
    }
  }

  /** Start-up recovery: stop whatever a previous run left running before anything new starts. */
  async start(): Promise<void> {
    // Recorded children, and any a killed run spawned but did not get to record.
    const records = { ...this.children, ...unrecordedChildren(this.deps.root, this.children) };
    if (Object.keys(records).length === 0) return;
    const results = await reapOrphans(records, this.deps.orphanStopTimeoutMs ?? 3_000);
    for (const r of results) {
      const rec = records[r.name] as ChildRecord;
      if (r.stopped) {
        this.deps.journal.append({
          kind: 'service.orphan_stopped',
          severity: 'warning',
          source: 'services',
          reason: `${r.name} (pid ${r.pid}) was still running from run ${rec.run_id}, which ended without stopping it; stopped its process group ${r.escalated ? 'with SIGKILL after SIGTERM was ignored' : 'with SIGTERM'} so that it is started fresh, never twice`,
          data: { service: r.name, pid: r.pid, found: r.found, escalated_to_sigkill: r.escalated, waited_ms: r.waited_ms, previous_run_id: rec.run_id },
        });
      } else {
        this.deps.log.debug({ service: r.name, pid: r.pid, found: r.found }, 'recorded child of a previous run is gone');
      }
    }
    this.children = {};
    // With the next commit: a record of children already stopped is harmless if a crash keeps it (the next
    // start finds them gone).
    this.deps.journal.writeStateWithNextCommit(CHILDREN_KEY, this.children);
  }

  /** Daemon stop: every child gets its stop signal at once, then SIGKILL within the shutdown budget. */
  async stop(): Promise<void> {
    this.shuttingDown = true;
    const budget = this.deps.shutdownBudgetMs ?? 1_000;
    await Promise.all(
      [...this.entries.values()]
        .filter((e) => e.running)
        .map((e) => this.stopService(e.spec.name, { reason: 'WaveOS is stopping', source: 'daemon' }, Math.min(budget, e.spec.stop_timeout_ms)).catch(() => undefined)),
    );
  }

  onExit(fn: Listener<ExitInfo>): () => void {
    this.exitListeners.add(fn);
    return () => this.exitListeners.delete(fn);
  }

  /** Called the moment a child is running (its exec succeeded), before anything is recorded. */
  onStart(fn: Listener<{ name: string; pid: number }>): () => void {
    this.startListeners.add(fn);
    return () => this.startListeners.delete(fn);
  }

  onUnhealthy(fn: Listener<UnhealthyInfo>): () => void {
    this.unhealthyListeners.add(fn);
    return () => this.unhealthyListeners.delete(fn);
  }

  names(): string[] {
    return [...this.entries.keys()];
  }

  spec(name: string): ServiceSpec {
    return this.entry(name).spec;
  }

  /**
   * Adds a service at run time (an app bundle's `app.run`), validated like a configured one; it is then
   * started, stopped, laddered and reconciled with the mode like any other. Replaces a stopped dynamic
   * service of the same name; a configured service's name, or a running service, is refused.
   */
  addService(file: ServiceInput, opts: { trial?: boolean } = {}): ServiceSpec {
    const parsed = serviceSchema.safeParse(file);
    if (!parsed.success) throw new WaveosError('WAVEOS_E_RUNTIME', `service ${file.name}: ${parsed.error.issues.map((i) => `${i.path.join('.') || 'spec'}: ${i.message}`).join('; ')}`);
    const spec = expandSpec(serviceSpec(parsed.data), this.deps.root);
    const old = this.entries.get(spec.name);
    if (old && !old.dynamic) throw new WaveosError('WAVEOS_E_RUNTIME', `a configured service is already named "${spec.name}"`);
    if (old?.running) throw new WaveosError('WAVEOS_E_RUNTIME', `service ${spec.name} runs: stop it before replacing it`);
    const kept = old
      ? { restarts: old.restarts, failureRestarts: old.failureRestarts, failedSinceStart: old.failedSinceStart, starts: old.starts, lastExit: old.lastExit }
      : { restarts: 0, failureRestarts: 0, failedSinceStart: false, starts: 0, lastExit: null };
    this.entries.set(spec.name, { spec, dynamic: true, trial: opts.trial ?? false, state: old?.state === 'failed' ? 'failed' : 'stopped', running: undefined, ...kept });
    return spec;
  }

  /** Removes a stopped dynamic service (and any hold on it). */
  removeService(name: string): void {
    const e = this.entry(name);
    if (!e.dynamic) throw new WaveosError('WAVEOS_E_RUNTIME', `${name} is a configured service; it cannot be removed at run time`);
    if (e.running) throw new WaveosError('WAVEOS_E_RUNTIME', `service ${name} runs: stop it before removing it`);
    this.entries.delete(name);
    void this.deps.logSockets?.close(name);
    if (this.holds[name]) {
      delete this.holds[name];
      this.deps.journal.writeState(HOLDS_KEY, this.holds);
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Puts a service on trial or takes it off: while on trial its exits are not handed to the exit listeners. */
  setTrial(name: string, trial: boolean): void {
    this.entry(name).trial = trial;
  }

  /** Its pid while it runs, its last exit, and whether it is on trial (what a trial watches). */
  state(name: string): { pid: number | null; last_exit: { code: number | null; signal: string | null } | null; trial: boolean; starts: number } {
    const e = this.entry(name);
    return { pid: e.running?.pid ?? null, last_exit: e.lastExit, trial: e.trial, starts: e.starts };
  }

  private entry(name: string): Entry {
    const e = this.entries.get(name);
    if (!e) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no service named "${name}" (configured: ${this.names().join(', ') || 'none'})`);
    return e;
  }

  /** False for a name that is gone too: a removed app service does not run. */
  isRunning(name: string): boolean {
    return this.entries.get(name)?.running !== undefined;
  }

  hold(name: string): Hold | undefined {
    return this.holds[name];
  }

  /** Whether the service should run in `mode`, leaving holds aside. */
  runsIn(name: string, mode: Mode): boolean {
    return this.entry(name).spec.modes.includes(mode);
  }

  list(): ServiceFigures[] {
    const now = this.deps.clock.monoMs();
    return [...this.entries.values()].map((e) => {
      const usage = e.running ? procUsage(e.running.pid) : undefined;
      return {
        name: e.spec.name,
        pid: e.running?.pid ?? null,
        state: e.state,
        restarts: e.restarts,
        failure_restarts: e.failureRestarts,
        uptime_s: e.running ? Math.round((now - e.running.startedMono) / 1000) : 0,
        last_exit: e.lastExit,
        critical: e.spec.critical,
        held: this.holds[e.spec.name]?.reason ?? null,
        rss_bytes: usage?.rss_bytes ?? null,
        cpu_s: usage?.cpu_s ?? null,
      };
    });
  }

  /** Shown while the ladder waits to restart a service. */
  markBackoff(name: string): void {
    const e = this.entry(name);
    if (!e.running && e.state !== 'failed') e.state = 'backoff';
  }

  setHold(name: string, hold: Hold | undefined): void {
    const e = this.entry(name);
    if (hold) this.holds[name] = hold;
    else delete this.holds[name];
    if (hold?.kind === 'failed') e.state = 'failed';
    else if (!e.running && (e.state === 'failed' || e.state === 'backoff')) e.state = 'stopped';
    this.deps.journal.writeState(HOLDS_KEY, this.holds);
  }

  /** Starts a service in its own process group; a running service is left as it is (never two copies). */
  startService(name: string, why: Because): Promise<{ pid: number; already_running: boolean; restarts: number }> {
    return inSpan('service.start', { 'waveos.service': name }, async () => {
      const r = await this.startServiceNow(name, why);
      spanAttributes({ 'process.pid': r.pid, 'waveos.already_running': r.already_running });
      return r;
    });
  }

  private async startServiceNow(name: string, why: Because): Promise<{ pid: number; already_running: boolean; restarts: number }> {
    const e = this.entry(name);
    if (e.running) return { pid: e.running.pid, already_running: true, restarts: e.restarts };
    if (this.shuttingDown) throw new WaveosError('WAVEOS_E_RUNTIME', `not starting ${name}: WaveOS is stopping`);
    const s = e.spec;
    e.state = 'starting';
    const uid = s.user === null ? undefined : resolveId('user', s.user);
    const gid = s.group !== null ? resolveId('group', s.group) : s.user !== null ? primaryGroupOf(s.user) : undefined;
    if ((s.user !== null && uid === undefined) || (s.group !== null && gid === undefined)) {
      e.state = 'stopped';
      throw new WaveosError('WAVEOS_E_RUNTIME', `cannot start ${name}: unknown ${uid === undefined && s.user !== null ? `user "${s.user}"` : `group "${String(s.group)}"`}`);
    }
    const logSocket = await this.logSocket(name, uid, gid);
    let env: Record<string, string>;
    try {
      env = serviceEnvironment(s, { daemonEnv: this.deps.env ?? process.env, secret: this.deps.secret, root: this.deps.root, logSocket });
    } catch (err) {
      e.state = 'stopped';
      throw new WaveosError('WAVEOS_E_RUNTIME', `cannot start ${name}: ${errorMessage(err)}`, { cause: err });
    }
    const proc = spawn(s.command, [...s.args], {
      cwd: s.cwd ?? undefined,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      uid,
      gid,
    });
    const pid = await new Promise<number>((resolve, reject) => {
      proc.once('spawn', () => resolve(proc.pid as number));
      proc.once('error', reject);
    }).catch((err: unknown) => {
      e.state = 'stopped';
      e.lastExit = { code: null, signal: null };
      throw new WaveosError('WAVEOS_E_RUNTIME', `cannot start ${name}: ${errorMessage(err)}`, { cause: err });
    });
    for (const l of this.startListeners) l({ name, pid });
    if (proc.stdout) this.deps.sink.attach(name, proc.stdout, 'stdout');
    if (proc.stderr) this.deps.sink.attach(name, proc.stderr, 'stderr');
    const startedMono = this.deps.clock.monoMs();
    const running: Running = {
      proc,
      pid,
      startedMono,
      expectedStop: false,
      exited: new Promise<ExitInfo>((resolve) => {
        proc.once('exit', (code, signal) => {
          resolve({ name, pid, code, signal, uptime_ms: this.deps.clock.monoMs() - startedMono, expected: running.expectedStop });
        });
      }),
      healthTimer: undefined,
      healthFailures: 0,
      heartbeat: {},
      checking: false,
    };
    e.running = running;
    e.state = 'running';
    if (e.starts > 0) e.restarts++;
    if (e.starts > 0 && e.failedSinceStart) e.failureRestarts++;
    e.failedSinceStart = false;
    e.starts++;
    void running.exited.then((info) => this.exited(e, running, info));
    this.children[name] = { pid, start_time: processStartTime(pid) ?? '', run_id: this.deps.runId, started_at: isoUtc(this.deps.clock.now()) };
    // With the next commit (the action's outcome): a child a crash left unrecorded is found by its environment.
    this.deps.journal.writeStateWithNextCommit(CHILDREN_KEY, this.children);
    this.deps.journal.append({
      kind: 'service.started',
      source: why.source,
      reason: `${name} started as pid ${pid}: ${why.reason}`,
      data: { service: name, pid, restarts: e.restarts, command: s.command, args: [...s.args] },
    });
    this.scheduleHealth(e, running);
    return { pid, already_running: false, restarts: e.restarts };
  }

  /** A service whose socket cannot be made still starts: its stdout and stderr are spooled as ever. */
  private async logSocket(name: string, uid: number | undefined, gid: number | undefined): Promise<string | undefined> {
    try {
      return await this.deps.logSockets?.open(name, { uid, gid });
    } catch (err) {
      this.deps.log.warn({ service: name, err: errorMessage(err) }, 'could not open the service log socket; the service starts without WAVEOS_LOG_SOCKET');
      return undefined;
    }
  }

  private exited(e: Entry, r: Running, info: ExitInfo): void {
    if (r.healthTimer) clearInterval(r.healthTimer);
    if (e.running === r) e.running = undefined;
    e.lastExit = { code: info.code, signal: info.signal };
    if (e.state !== 'failed') e.state = 'stopped';
    // Leftovers of the group (a grandchild the service forked) must not outlive it.
    if (!info.expected) killGroup(r.pid, 'SIGKILL');
    // Not written back at once: a stale record is harmless (the next start checks pid and start time),
    // and skipping the commit keeps an fsync out of the exit-to-restart path.
    delete this.children[e.spec.name];
    if (!info.expected) {
      e.failedSinceStart = true;
      this.deps.journal.append({
        kind: 'service.exited',
        severity: 'warning',
        source: 'services',
        reason: `${info.name} (pid ${info.pid}) exited on its own ${info.signal ? `on ${info.signal}` : `with code ${info.code}`} after ${(info.uptime_ms / 1000).toFixed(1)} s`,
        data: { service: info.name, pid: info.pid, code: info.code, signal: info.signal, uptime_ms: info.uptime_ms, restarts: e.restarts },
      });
    }
    // A trial's exit is the trial's verdict (the bundle agent watches it), not a crash for the ladder.
    if (this.shuttingDown || e.trial) return;
    for (const l of this.exitListeners) {
      try {
        l(info);
      } catch (err) {
        this.deps.log.error({ err: errorMessage(err) }, 'service exit listener failed');
      }
    }
  }

  /**
   * Stops a service: its stop signal to the whole process group, then SIGKILL to the group when it has
   * not gone within the stop timeout.
   */
  stopService(name: string, why: Because, timeoutMs?: number): Promise<StopResult> {
    return inSpan('service.stop', { 'waveos.service': name }, () => this.stopServiceNow(name, why, timeoutMs));
  }

  private async stopServiceNow(name: string, why: Because, timeoutMs?: number): Promise<StopResult> {
    const e = this.entry(name);
    const s = e.spec;
    const r = e.running;
    if (!r) {
      if (e.state === 'backoff') e.state = 'stopped';
      return { name, was_running: false, pid: null, signal: s.stop_signal, waited_ms: 0, escalated_to_sigkill: false, code: null, exit_signal: null };
    }
    const limit = timeoutMs ?? s.stop_timeout_ms;
    r.expectedStop = true;
    e.state = 'stopping';
    if (r.healthTimer) clearInterval(r.healthTimer);
    const t0 = this.deps.clock.monoMs();
    killGroup(r.pid, s.stop_signal as NodeJS.Signals);
    const deadline = performance.now() + limit;
    let escalated = false;
    const timer = new Promise<'timeout'>((res) => setTimeout(() => res('timeout'), limit).unref());
    let info = await Promise.race([r.exited, timer]);
    // The leader has gone; what else its group still runs gets the rest of the same time limit.
    if (info !== 'timeout' && !(await waitGroupGone(r.pid, Math.max(0, deadline - performance.now())))) info = 'timeout';
    if (info === 'timeout') {
      escalated = true;
      killGroup(r.pid, 'SIGKILL');
      info = await r.exited;
      await waitGroupGone(r.pid, 2_000);
    }
    const waited = this.deps.clock.monoMs() - t0;
    if (e.state === 'stopping') e.state = 'stopped';
    this.deps.journal.append({
      kind: 'service.stopped',
      severity: escalated ? 'warning' : 'info',
      source: why.source,
      reason: escalated
        ? `${name} (pid ${r.pid}) did not stop within ${limit} ms of ${s.stop_signal}; its process group was killed with SIGKILL: ${why.reason}`
        : `${name} (pid ${r.pid}) stopped on ${s.stop_signal} after ${waited} ms: ${why.reason}`,
      data: {
        service: name,
        pid: r.pid,
        signal: s.stop_signal,
        stop_timeout_ms: limit,
        waited_ms: waited,
        escalated_to_sigkill: escalated,
        code: info.code,
        exit_signal: info.signal,
      },
    });
    return { name, was_running: true, pid: r.pid, signal: s.stop_signal, waited_ms: waited, escalated_to_sigkill: escalated, code: info.code, exit_signal: info.signal };
  }

  private scheduleHealth(e: Entry, r: Running): void {
    const h = e.spec.health;
    if (h.kind === 'process') return;
    r.healthTimer = setInterval(() => void this.runCheck(e, r), h.interval_ms);
    r.healthTimer.unref();
  }

  private async runCheck(e: Entry, r: Running): Promise<void> {
    const h = e.spec.health;
    if (h.kind === 'process' || r.checking || e.running !== r || r.expectedStop) return;
    if (this.deps.clock.monoMs() - r.startedMono < h.start_grace_ms) return;
    r.checking = true;
    let result: HealthResult;
    try {
      result = await checkHealth(h, this.deps.clock.now(), this.deps.clock.monoMs(), r.heartbeat);
    } finally {
      r.checking = false;
    }
    if (e.running !== r || r.expectedStop) return;
    if (result.ok) {
      r.healthFailures = 0;
      return;
    }
    r.healthFailures++;
    if (r.healthFailures < h.failures) return;
    r.healthFailures = 0;
    e.failedSinceStart = true;
    const info: UnhealthyInfo = { name: e.spec.name, pid: r.pid, failures: h.failures, detail: result.detail, value: result.value };
    this.deps.journal.append({
      kind: 'service.unhealthy',
      severity: 'warning',
      source: 'services',
      reason: `${e.spec.name} (pid ${r.pid}) failed its ${h.kind} health check ${h.failures} times in a row: ${result.detail}`,
      data: { service: e.spec.name, pid: r.pid, check: h.kind, failures: h.failures, interval_ms: h.interval_ms, detail: result.detail, value: result.value ?? null },
    });
    for (const l of this.unhealthyListeners) {
      try {
        l(info);
      } catch (err) {
        this.deps.log.error({ err: errorMessage(err) }, 'service health listener failed');
      }
    }
  }
}
