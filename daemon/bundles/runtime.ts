import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { AppHost } from './actions.js';
import { Redactor } from '../security/index.js';
import { appServiceName } from './app-service.js';
import { quoteOutput, runHealthCheck } from './health-check.js';
import type { Manifest } from './manifest.js';

/** What the agent hands a health gate: one slot of one bundle. */
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
 * What is bundle-specific about a trial, beside the supervisor that runs an app: config, certs and policy
 * bundles pass once validated and switched; an app must keep running for its trial time, then its declared
 * `app.health` command must exit 0; a waveos bundle must keep this daemon up for the trial time.
 */
export interface BundleRuntime {
  healthGate(ref: SlotRef, signal: AbortSignal): Promise<GateResult>;
  /** How long the trial of this slot lasts (0: judged at the switch), for progress and the trial event. */
  trialMs?(ref: SlotRef): number;
}

export interface DefaultRuntimeDeps {
  root: string;
  /** Where an app's service is watched during its trial. */
  apps: Pick<AppHost, 'state'>;
  /** How long an app must stay up in its trial when its manifest does not say. */
  defaultTrialMs: number;
  env?: NodeJS.ProcessEnv;
  /**
   * Masks secrets in what a health check printed before it goes into the gate's reason: the daemon's one
   * redactor (its secrets and the operator's patterns). The reason also reaches the API's answer and the CLI,
   * which the journal's redactor does not see; without one, the shape rules still apply.
   */
  redact?: (text: string) => string;
}

const HEALTH_TIMEOUT_MS = 10_000;

/** Sleeps `ms` or until `signal` aborts; the abort listener goes with the sleep (a trial sleeps many times). */
export const sleep = (ms: number, signal?: AbortSignal): Promise<void> =>
  new Promise((r) => {
    const onAbort = (): void => {
      clearTimeout(t);
      r();
    };
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      r();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });

export class DefaultRuntime implements BundleRuntime {
  private readonly redact: (text: string) => string;

  constructor(private readonly deps: DefaultRuntimeDeps) {
    const shapes = new Redactor();
    this.redact = deps.redact ?? ((t) => shapes.text(t));
  }

  trialMs(ref: SlotRef): number {
    return ref.kind === 'app' || ref.kind === 'waveos' ? (ref.manifest.app?.trial_ms ?? this.deps.defaultTrialMs) : 0;
  }

  async healthGate(ref: SlotRef, signal: AbortSignal): Promise<GateResult> {
    const trialMs = ref.manifest.app?.trial_ms ?? this.deps.defaultTrialMs;
    if (ref.kind !== 'app' && ref.kind !== 'waveos') return { ok: true, reason: `${ref.kind} bundle validated and switched`, data: {} };
    const service = appServiceName(ref.name);
    const t0 = performance.now();
    while (performance.now() - t0 < trialMs && !signal.aborted) {
      if (ref.kind === 'app' && ref.manifest.app?.run) {
        const st = this.deps.apps.state(service);
        if (st?.pid == null) {
          const x = st?.last_exit;
          const after = Math.round(performance.now() - t0);
          return {
            ok: false,
            reason: `app ${ref.name} ${ref.manifest.version} exited ${x?.signal ? `on ${x.signal}` : `with code ${x?.code ?? '?'}`} ${after} ms into its ${trialMs} ms trial`,
            data: { exit_code: x?.code ?? null, signal: x?.signal ?? null, after_ms: after, trial_ms: trialMs },
          };
        }
      }
      await sleep(Math.min(100, trialMs), signal);
    }
    if (signal.aborted) return { ok: false, reason: 'the trial was interrupted', data: {} };
    const health = ref.manifest.app?.health;
    if (ref.kind === 'app' && health?.[0]) {
      const cwd = realpathSync(join(ref.slotDir, 'payload'));
      const prog = existsSync(join(cwd, health[0])) ? join(cwd, health[0]) : health[0];
      const env = { ...(this.deps.env ?? process.env), WAVEOS_ROOT: this.deps.root, WAVEOS_APP_NAME: ref.name };
      const r = await runHealthCheck([prog, ...health.slice(1)], { cwd, env, timeoutMs: HEALTH_TIMEOUT_MS });
      if (r.code !== 0) {
        const output = this.redact(r.output);
        const how = r.error ? `could not run (${r.error})` : r.signal ? `was killed by ${r.signal}` : `exited with ${r.code ?? 'an error'}`;
        // What the check printed is what says why it failed.
        const said = output ? `: ${quoteOutput(output)}` : ' and printed nothing';
        return {
          ok: false,
          reason: `health check ${health.join(' ')} of app ${ref.name} ${how}${said}`,
          data: { exit_code: r.code, signal: r.signal, trial_ms: trialMs, output, output_truncated: r.truncated },
        };
      }
    }
    return { ok: true, reason: `${ref.kind} ${ref.name} ${ref.manifest.version} stayed healthy for ${trialMs} ms`, data: { trial_ms: trialMs } };
  }
}
