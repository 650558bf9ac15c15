import { MODES, type Mode, type RecoveryConfig } from '../config/index.js';
import { type Clock, type Lifecycle, type Logger, WaveosError, didYouMean, errorMessage, isoUtc } from '../core/index.js';
import { DEGRADED_FEATURES_KEY, type Journal, MODE_KEY, REBOOTS_KEY } from '../journal/index.js';
import { type ExitInfo, type Supervisor, type UnhealthyInfo, runCommand } from '../services/index.js';
import type { ActionMap } from './actions.js';
import { applyCap } from './caps.js';
import type { ActionExecutor, ActionHandlers, ActionOutcome } from './executor.js';
import { type LadderState, type Step, initialLadder, planAfterFailure } from './ladder.js';
import { decideReboot, pruneReboots } from './reboot-guard.js';


/**
 * Decides whether a mode change may happen; the policy engine supplies the real one. `true` allows it;
 * a string refuses it and says why.
 */
export type ModeTransitionHook = (from: Mode, to: Mode) => true | string;

/** The actions Recovery executes: services, the mode, features and the board. */
export type RecoveryActions = Pick<ActionMap, 'service.start' | 'service.stop' | 'service.restart' | 'service.cap' | 'mode.set' | 'feature.degrade' | 'board.reboot'>;

/** Who asked, and why: what a handler gets beside its parameters. */
interface Asked {
  reason: string;
  source: string;
}

export const allowAllModes: ModeTransitionHook = () => true;

export interface RecoveryDeps {
  /** Where the ladder's own steps go: the executor, for the actions Recovery owns. */
  executor: Pick<ActionExecutor<RecoveryActions>, 'run'>;
  supervisor: Supervisor;
  journal: Journal;
  clock: Clock;
  log: Logger;
  config: RecoveryConfig;
  /** `{root}` in the reboot command stands for it. */
  root: string;
  /** Uniform in [0, 1): the jitter's source; tests pass a fixed one. */
  random?: () => number;
  allowTransition?: ModeTransitionHook;
  /** Asks the policy's `service.restart` rate limit; a refused restart waits until the limit admits it. */
  admitRestart?: (service: string) => { allowed: boolean; retry_after_ms?: number; rule_id?: string };
}

/** The recorded mode; one that cannot be read (a newer WaveOS's mode after a rollback) counts as normal, as before any was recorded. */
export function recordedMode(journal: Pick<Journal, 'readState'>, log: Logger): Mode {
  try {
    return journal.readState(MODE_KEY) ?? 'normal';
  } catch (e) {
    log.warn({ err: errorMessage(e) }, 'the recorded mode cannot be read: running as in mode normal');
    return 'normal';
  }
}

function isMode(v: unknown): v is Mode {
  return typeof v === 'string' && (MODES as readonly string[]).includes(v);
}

function assertMode(v: string): asserts v is Mode {
  if (!isMode(v)) throw new WaveosError('WAVEOS_E_USAGE', `no mode named ${JSON.stringify(v)}${didYouMean(v, MODES)} (modes: ${MODES.join(', ')})`);
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(ms < 10_000 ? 1 : 0)} s`;
}

/**
 * The recovery side of supervision: registers the built-in actions with the executor, keeps each service on
 * its escalation ladder (restart with backoff → degrade → guarded reboot → failed, needs operator), and
 * holds the device's mode.
 */
export class Recovery implements Lifecycle {
  readonly name = 'recovery';
  private readonly ladders = new Map<string, LadderState>();
  private readonly timers = new Map<string, NodeJS.Timeout>();
  private readonly unsubscribe: (() => void)[] = [];
  private readonly hook: ModeTransitionHook;
  private stopped = false;

  constructor(private readonly deps: RecoveryDeps) {
    this.hook = deps.allowTransition ?? allowAllModes;
  }

  /** The executor's handlers of the actions Recovery owns. */
  handlers(): ActionHandlers<RecoveryActions> {
    const service = (p: { service: string }): string => p.service;
    const known = (p: { service: string }): void => this.assertService(p.service);
    return {
      'service.start': { target: service, check: known, run: (p, r) => this.serviceStart(p.service, r) },
      'service.stop': { target: service, check: known, run: (p, r) => this.serviceStop(p.service, r) },
      'service.restart': { target: service, check: known, run: (p, r) => this.serviceRestart(p.service, r) },
      'service.cap': { target: service, check: known, run: (p) => applyCap(this.deps.supervisor.list(), p) },
      'mode.set': { check: (p) => assertMode(p.mode), run: (p, r) => this.modeSet(p.mode, r) },
      'feature.degrade': { target: (p) => p.feature, run: (p, r) => this.featureDegrade(p, r) },
      'board.reboot': { target: (p) => p.service, run: (p, r) => this.boardReboot(p, r) },
    };
  }

  private assertService(name: string): void {
    const names = this.deps.supervisor.names();
    if (!names.includes(name)) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no service named "${name}"${didYouMean(name, names)} (configured: ${names.join(', ') || 'none'})`);
  }

  mode(): Mode {
    return recordedMode(this.deps.journal, this.deps.log);
  }

  /** Start-up: every service that runs in the current mode and is not held is started, through the executor. */
  async start(): Promise<void> {
    const sup = this.deps.supervisor;
    this.unsubscribe.push(
      sup.onExit((i) => this.onFailure(i.name, i, undefined)),
      sup.onUnhealthy((i) => this.onFailure(i.name, undefined, i)),
    );
    const mode = this.mode();
    for (const name of sup.names()) {
      const hold = sup.hold(name);
      if (hold || !sup.runsIn(name, mode)) {
        this.deps.journal.append({
          kind: 'service.not_started',
          source: 'recovery',
          reason: hold ? `${name} is not started: ${hold.reason} (since ${hold.since})` : `${name} is not started: it does not run in mode ${mode}`,
          data: { service: name, mode, hold: hold?.kind ?? null },
        });
        continue;
      }
      await this.deps.executor
        .run({ action: 'service.start', params: { service: name }, reason: `start-up: ${name} runs in mode ${mode}`, source: 'recovery', unattended: true })
        .catch((e: unknown) => this.deps.log.error({ service: name, err: errorMessage(e) }, 'service did not start'));
    }
  }

  stop(): void {
    this.stopped = true;
    for (const t of this.timers.values()) clearTimeout(t);
    this.timers.clear();
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private cancelTimer(name: string): void {
    const t = this.timers.get(name);
    if (t) clearTimeout(t);
    this.timers.delete(name);
  }

  // --- the ladder ------------------------------------------------------------------------------------

  private onFailure(name: string, exit: ExitInfo | undefined, sick: UnhealthyInfo | undefined): void {
    if (this.stopped || exit?.expected) return;
    void this.climb(name, exit, sick).catch((e: unknown) => this.deps.log.error({ service: name, err: errorMessage(e) }, 'recovery ladder step failed'));
  }

  private async climb(name: string, exit: ExitInfo | undefined, sick: UnhealthyInfo | undefined): Promise<void> {
    const { clock, config } = this.deps;
    const now = clock.monoMs();
    const uptime_ms = exit?.uptime_ms ?? 0;
    const plan = planAfterFailure(this.ladders.get(name) ?? initialLadder(), { at: now, uptime_ms }, config, (this.deps.random ?? Math.random)());
    this.ladders.set(name, plan.state);
    const what = exit
      ? `${name} exited ${exit.signal ? `on ${exit.signal}` : `with code ${exit.code}`} after ${secs(exit.uptime_ms)}`
      : `${name} failed its health check: ${sick?.detail ?? 'no answer'}`;
    if (sick) {
      // A hung process is stopped now; the restart follows on the ladder's schedule.
      await this.deps.executor.run({
        action: 'service.stop',
        params: { service: name, failures: sick.failures, value: sick.value ?? null },
        reason: `${what}; stopping the hung process before restarting it`,
        source: 'recovery',
      });
    }
    for (const step of plan.steps) {
      if (this.stopped) return;
      if (!(await this.perform(name, step, what, exit, sick))) return;
    }
  }

  /** Performs one planned step; false ends the ladder for this failure. */
  private perform(name: string, step: Step, what: string, exit: ExitInfo | undefined, sick: UnhealthyInfo | undefined): Promise<boolean> {
    const loop = (s: { failures_in_window: number; window_ms: number }): string =>
      `crash loop: ${s.failures_in_window} failures of ${name} within ${secs(s.window_ms)} (limit ${this.deps.config.crash_loop.exits})`;
    switch (step.kind) {
      case 'degrade':
        return this.degrade(name, step, loop(step), what);
      case 'reboot':
        return this.reboot(name, step, loop(step), what);
      case 'restart':
        return this.scheduleRestart(name, step, what, exit, sick);
    }
  }

  private async degrade(name: string, step: Extract<Step, { kind: 'degrade' }>, loop: string, what: string): Promise<boolean> {
    const { journal } = this.deps;
    const mode = this.mode();
    if (mode !== 'normal') {
      journal.append({
        kind: 'recovery.degrade',
        severity: 'warning',
        source: 'recovery',
        reason: `${loop}; the device is already in mode ${mode}, so the next crash loop asks for a reboot`,
        data: { service: name, mode, failures_in_window: step.failures_in_window, window_ms: step.window_ms, level: 1 },
      });
      return true;
    }
    journal.append({
      kind: 'recovery.degrade',
      severity: 'error',
      source: 'recovery',
      reason: `${loop}; escalating from restarts to degraded mode (non-critical services stop)`,
      data: { service: name, mode_from: mode, mode_to: 'degraded', failures_in_window: step.failures_in_window, window_ms: step.window_ms, level: 1 },
    });
    await this.deps.executor
      .run({
        action: 'mode.set',
        params: { mode: 'degraded' },
        reason: `${loop}: ${what}`,
        source: 'recovery',
      })
      .catch((e: unknown) => this.deps.log.warn({ err: errorMessage(e) }, 'degrade refused'));
    return true;
  }

  private async reboot(name: string, step: Extract<Step, { kind: 'reboot' }>, loop: string, what: string): Promise<boolean> {
    const { supervisor: sup, journal } = this.deps;
    try {
      await this.deps.executor.run({
        action: 'board.reboot',
        params: { service: name, failures_in_window: step.failures_in_window, window_ms: step.window_ms },
        reason: `${loop} persists in mode ${this.mode()}; asking for a controlled reboot as the last resort: ${what}`,
        source: 'recovery',
      });
      return true;
    } catch (e) {
      const hold = { kind: 'failed' as const, reason: `failed — needs operator: ${errorMessage(e)}`, since: isoUtc(this.deps.clock.now()) };
      sup.setHold(name, hold);
      this.cancelTimer(name);
      journal.appendDurable({
        kind: 'service.failed',
        severity: 'critical',
        source: 'recovery',
        reason: `${name} marked failed — needs operator: ${loop} continues and no reboot is allowed (${errorMessage(e)}); it stays stopped until an operator runs "waveos service start ${name}"`,
        data: { service: name, failures_in_window: step.failures_in_window, window_ms: step.window_ms, needs_operator: true },
      });
      if (sup.isRunning(name))
        await this.deps.executor.run({ action: 'service.stop', params: { service: name }, reason: `${name} failed — needs operator`, source: 'recovery' }).catch(() => undefined);
      return false;
    }
  }

  private async scheduleRestart(name: string, step: Extract<Step, { kind: 'restart' }>, what: string, exit: ExitInfo | undefined, sick: UnhealthyInfo | undefined): Promise<boolean> {
    const { supervisor: sup, journal, config } = this.deps;
    if (sup.hold(name)) return false;
    const mode = this.mode();
    if (!sup.runsIn(name, mode)) {
      journal.append({
        kind: 'service.not_restarted',
        source: 'recovery',
        reason: `${what}; not restarted: it does not run in mode ${mode}`,
        data: { service: name, mode },
      });
      return false;
    }
    const admitted = this.deps.admitRestart?.(name);
    let delayMs = step.delay_ms;
    if (admitted && !admitted.allowed) {
      const wait = Math.min(Math.max(admitted.retry_after_ms ?? 60_000, 1_000), 3_600_000);
      journal.append({
        kind: 'service.restart_limited',
        severity: 'warning',
        source: 'recovery',
        reason: `${what}; the restart rate limit${admitted.rule_id ? ` (${admitted.rule_id})` : ''} refuses a restart now: it waits ${secs(wait)}`,
        data: { service: name, wait_ms: wait, rule_id: admitted.rule_id ?? null, backoff_ms: step.delay_ms },
      });
      delayMs = Math.max(step.delay_ms, wait);
    }
    sup.markBackoff(name);
    journal.append({
      kind: 'service.backoff',
      severity: step.attempt > 1 ? 'warning' : 'notice',
      source: 'recovery',
      reason: `${what}; restart ${step.attempt} in ${secs(delayMs)}${step.reset ? ' (backoff reset after a healthy run)' : ''} (${step.failures_in_window} failure${step.failures_in_window === 1 ? '' : 's'} within ${secs(config.crash_loop.window_ms)})`,
      data: {
        service: name,
        delay_ms: delayMs,
        attempt: step.attempt,
        failures_in_window: step.failures_in_window,
        window_ms: config.crash_loop.window_ms,
        code: exit?.code ?? null,
        signal: exit?.signal ?? null,
        uptime_ms: exit?.uptime_ms ?? null,
        health_failures: sick?.failures ?? null,
        reset: step.reset,
      },
    });
    this.cancelTimer(name);
    const fire = (): void => {
      this.timers.delete(name);
      if (this.stopped || sup.hold(name) || sup.isRunning(name)) return;
      void this.deps.executor
        .run({
          action: 'service.restart',
          params: { service: name, attempt: step.attempt, delay_ms: delayMs },
          reason: `restart ${step.attempt} after ${secs(delayMs)} of backoff: ${what}`,
          source: 'recovery',
        })
        .catch((e: unknown) => this.deps.log.error({ service: name, err: errorMessage(e) }, 'restart failed'));
    };
    if (delayMs === 0) fire();
    else {
      const t = setTimeout(fire, delayMs);
      this.timers.set(name, t);
    }
    return true;
  }

  // --- the actions -----------------------------------------------------------------------------------

  /** A name that is not a configured service is refused before anything changes. */
  private known(name: string): string {
    this.deps.supervisor.spec(name);
    return name;
  }

  private isOperator(req: Asked): boolean {
    return req.source.startsWith('operator:');
  }

  private async serviceStart(service: string, req: Asked): Promise<ActionOutcome> {
    const name = this.known(service);
    const sup = this.deps.supervisor;
    const hold = sup.hold(name);
    if (hold && !this.isOperator(req)) return { reason: `${name} not started: ${hold.reason}`, data: { service: name, started: false, hold: hold.kind } };
    if (hold) {
      sup.setHold(name, undefined);
      this.ladders.delete(name);
    }
    this.cancelTimer(name);
    const r = await sup.startService(name, { reason: req.reason, source: req.source });
    return {
      reason: r.already_running ? `${name} already runs as pid ${r.pid}; not started twice` : `${name} started as pid ${r.pid}${hold ? ` (cleared: ${hold.reason})` : ''}`,
      data: { service: name, pid: r.pid, already_running: r.already_running, restarts: r.restarts, cleared_hold: hold?.kind ?? null },
    };
  }

  private async serviceStop(service: string, req: Asked): Promise<ActionOutcome> {
    const name = this.known(service);
    const sup = this.deps.supervisor;
    this.cancelTimer(name);
    if (this.isOperator(req)) sup.setHold(name, { kind: 'operator', reason: `stopped by ${req.source}`, since: isoUtc(this.deps.clock.now()) });
    const r = await sup.stopService(name, { reason: req.reason, source: req.source });
    return {
      reason: r.was_running
        ? `${name} (pid ${r.pid}) stopped${r.escalated_to_sigkill ? ' with SIGKILL after the stop timeout' : ` on ${r.signal}`} in ${r.waited_ms} ms`
        : `${name} was not running`,
      data: { ...r },
    };
  }

  private async serviceRestart(service: string, req: Asked): Promise<ActionOutcome> {
    const name = this.known(service);
    const sup = this.deps.supervisor;
    const hold = sup.hold(name);
    if (hold && !this.isOperator(req)) return { reason: `${name} not restarted: ${hold.reason}`, data: { service: name, restarted: false, hold: hold.kind } };
    if (hold) {
      sup.setHold(name, undefined);
      this.ladders.delete(name);
    }
    this.cancelTimer(name);
    const stopped = await sup.stopService(name, { reason: req.reason, source: req.source });
    const started = await sup.startService(name, { reason: req.reason, source: req.source });
    this.deps.journal.append({
      kind: 'service.restart',
      source: req.source,
      reason: `${name} restarted (pid ${stopped.pid ?? 'none'} → ${started.pid}): ${req.reason}`,
      data: { service: name, old_pid: stopped.pid, pid: started.pid, restarts: started.restarts, stop_waited_ms: stopped.waited_ms, escalated_to_sigkill: stopped.escalated_to_sigkill },
    });
    return {
      reason: `${name} restarted as pid ${started.pid}${stopped.was_running ? ` (pid ${stopped.pid} stopped in ${stopped.waited_ms} ms)` : ''}`,
      data: { service: name, old_pid: stopped.pid, pid: started.pid, restarts: started.restarts, stop_waited_ms: stopped.waited_ms },
    };
  }

  private async modeSet(to: string, req: Asked): Promise<ActionOutcome> {
    assertMode(to);
    const from = this.mode();
    const verdict = this.hook(from, to);
    if (verdict !== true) throw new WaveosError('WAVEOS_E_PERMISSION', `mode change ${from} → ${to} refused: ${verdict}`);
    const { journal, supervisor: sup } = this.deps;
    if (from !== to) {
      // The state and its event commit together: a failed commit leaves neither, never a mode without its record.
      journal.appendDurableWritingStates(
        {
          kind: 'mode.changed',
          severity: to === 'normal' ? 'notice' : 'warning',
          source: req.source,
          reason: `mode ${from} → ${to}: ${req.reason}`,
          data: { from, to },
        },
        { [MODE_KEY]: to },
      );
    }
    // Reconcile: what does not run in the new mode stops, what does (and is not held) starts.
    const stopped: string[] = [];
    const started: string[] = [];
    for (const name of sup.names()) {
      if (!sup.runsIn(name, to)) {
        this.cancelTimer(name);
        if (sup.isRunning(name)) {
          await sup.stopService(name, { reason: `it does not run in mode ${to}`, source: req.source });
          stopped.push(name);
        }
      } else if (!sup.isRunning(name) && !sup.hold(name) && !this.timers.has(name)) {
        await sup.startService(name, { reason: `it runs in mode ${to}`, source: req.source });
        started.push(name);
      }
    }
    return {
      reason: from === to ? `mode stays ${to}` : `mode ${from} → ${to}; stopped ${stopped.length} service(s), started ${started.length}`,
      data: { from, to, stopped, started },
    };
  }

  private featureDegrade(p: ActionMap['feature.degrade'], req: Asked): ActionOutcome {
    const { feature } = p;
    if (!feature) throw new WaveosError('WAVEOS_E_BAD_REQUEST', 'feature.degrade needs a feature name');
    const { journal } = this.deps;
    const current = { ...(journal.readState(DEGRADED_FEATURES_KEY) ?? {}) };
    const restore = p.restore === true;
    if (restore) delete current[feature];
    else current[feature] = isoUtc(this.deps.clock.now());
    journal.writeState(DEGRADED_FEATURES_KEY, current);
    journal.append({
      kind: restore ? 'feature.restored' : 'feature.degraded',
      severity: restore ? 'notice' : 'warning',
      source: req.source,
      reason: `${feature} ${restore ? 'restored' : 'degraded'}: ${req.reason}`,
      data: { feature, degraded: Object.keys(current) },
    });
    return { reason: `${feature} ${restore ? 'restored' : 'degraded'}`, data: { feature, degraded: Object.keys(current).length } };
  }

  private async boardReboot(p: ActionMap['board.reboot'], req: Asked): Promise<ActionOutcome> {
    const { journal, clock, config } = this.deps;
    const now = clock.now();
    const history = journal.readState(REBOOTS_KEY) ?? [];
    const d = decideReboot(history, now, config.reboot_guard.max, config.reboot_guard.window_ms);
    const { service } = p;
    if (!d.allowed) {
      journal.appendDurable({
        kind: 'recovery.reboot_refused',
        severity: 'critical',
        source: req.source,
        reason: `reboot refused by the reboot guard: ${d.recent} reboots were already asked for within ${secs(d.window_ms)} (limit ${d.max}): ${req.reason}`,
        data: { service, recent: d.recent, max: d.max, window_ms: d.window_ms },
      });
      throw new WaveosError('WAVEOS_E_REBOOT_GUARD', `the reboot guard allows ${d.max} reboots within ${secs(d.window_ms)} and ${d.recent} were already asked for`);
    }
    const argv = config.reboot_command.map((a) => a.split('{root}').join(this.deps.root));
    // Recorded durably before the command runs: the next boot reads it as the reset reason.
    journal.writeState(REBOOTS_KEY, [...pruneReboots(history, now, Math.max(d.window_ms, 86_400_000)), { at: now, service, reason: req.reason }]);
    journal.appendDurable({
      kind: 'recovery.reboot_requested',
      severity: 'critical',
      source: req.source,
      reason: `controlled reboot requested (${d.recent + 1} of ${d.max} allowed within ${secs(d.window_ms)}): ${req.reason}`,
      data: { service, recent: d.recent + 1, max: d.max, window_ms: d.window_ms, failures_in_window: p.failures_in_window ?? null, command: argv },
    });
    const result = await runCommand(argv, { timeoutMs: 30_000 });
    if (result.error !== undefined || result.code !== 0)
      throw new WaveosError('WAVEOS_E_RUNTIME', `the reboot command ${argv.join(' ')} failed: ${result.error ?? `exit ${result.code ?? result.signal}`}`);
    return { reason: `reboot command ran: ${argv.join(' ')}`, data: { service, code: result.code, recent: d.recent + 1, max: d.max } };
  }
}
