import { createHash } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { type FSWatcher, watch } from 'chokidar';
import { type Clock, type InputProblem, type Lifecycle, type Logger, WaveosError, errorMessage, formatProblem, isWaveosError, resourcePath } from '../core/index.js';
import { type EventInput, type StoredBreakers, type StoredPolicy, policyEventKind } from '../journal/index.js';
import {
  type AdmitResult,
  type Decision,
  type EngineSnapshot,
  type Observation,
  type ParsedPolicyFile,
  PolicyEngine,
  type PolicySample,
  type PolicySet,
  type TransitionCheck,
  buildPolicySet,
  emptyPolicySet,
  observationFromEvent,
  type PolicyWorld,
  parsePolicyText,
} from '../policy/index.js';
import { PolicyFolderReader } from './policy-files.js';
import { inSpan } from '../tracing/index.js';
import { WebhookSender } from './webhook.js';


export interface PolicyWebhookConfig {
  url: string | null;
  timeout_ms: number;
  retries: number;
  backoff_ms: number;
  max_backoff_ms: number;
  queue_max: number;
}

/** What the runtime needs from the daemon: everything through here, nothing global. */
export interface PolicyRuntimeDeps {
  clock: Clock;
  log: Logger;
  /** Policy folders in order; a file in a later folder replaces a file of the same name in an earlier one. */
  /** Folders read in order (a later file of the same name wins); a function is asked again at every reload. */
  dirs: readonly string[] | (() => readonly string[]);
  /** Folders the runtime may create if missing (the operator's policies.d). */
  createDirs?: readonly string[];
  tickIntervalMs: number;
  /** Quiet time after the last file change before a reload. */
  reloadDelayMs?: number;
  /** Journals an event (policy.loaded/reloaded/rejected, emit_event actions, webhook outcomes). */
  emit(e: EventInput): void;
  /** Every decided action other than emit_event and webhook: at merge, the recovery executor. */
  execute(d: Decision): void | Promise<void>;
  webhook?: PolicyWebhookConfig;
  /** The alerting module turns webhook decisions into alerts (docs/observability.md): no sender of its own. */
  alertsRouted?: boolean;
  /** Where the last good policy is kept across restarts (the journal's `policy.last_good`). */
  lastGood?: { read(): StoredPolicy | undefined; write(p: StoredPolicy): void };
  /** Where the breakers' state is kept across restarts (the journal's `policy.breakers`). */
  breakers?: { read(): StoredBreakers | undefined; write(s: StoredBreakers): void };
  /** The mode the device is in at start (it survives restarts; the executor persists it). */
  initialMode?: string;
  /** Called when the effective policy changes (run_meta.json, status). */
  onPolicyChange?(set: PolicySet): void;
  /** Watch the folders for changes (default true). */
  watch?: boolean;
  /** What rules may name (services, metrics, event kinds); a file naming anything else is rejected. */
  world?: PolicyWorld;
}


interface ReadResult {
  set: PolicySet;
  /** The texts put in force: the files on disk, with a broken file's last good text in its place. */
  texts: StoredPolicy['files'];
  digest: string;
  /** The digest of what is on disk: a change the watcher reports again without new bytes is not a new change. */
  diskDigest: string;
  /** Files on disk that failed validation, and which version of each (if any) stays in force. */
  refused: { file: string; problems: InputProblem[]; kept: string | null }[];
}

/** Where the texts a broken file falls back to come from: the policy in force, or at start the journal's record. */
interface Fallback {
  files: StoredPolicy['files'];
  from: string;
}

export type ReloadOutcome = { status: 'reloaded' | 'unchanged'; version: string } | { status: 'rejected'; version: string; problems: InputProblem[] };

/**
 * Loads policy files, keeps the engine fed and ticking, hot-reloads on change (a bad file is rejected and the
 * last good policy stays in force), and hands decisions on: emit_event and webhook itself, the rest to
 * `execute`.
 */
export class PolicyRuntime implements Lifecycle {
  readonly name = 'policy';
  private readonly engine: PolicyEngine;
  private readonly webhook: WebhookSender | undefined;
  private watcher: FSWatcher | undefined;
  private folders: PolicyFolderReader | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reloadTimer: NodeJS.Timeout | undefined;
  private digest = '';
  /** The digest of the files recorded as the last good policy (state policy.last_good). */
  private storedDigest: string | undefined;
  private lastSeen = '';
  /** Undefined until load() restored the previous run's breakers: nothing may overwrite them before that. */
  private breakersJson: string | undefined;
  private fallback: Fallback = { files: [], from: 'nowhere' };
  private reloading: Promise<void> = Promise.resolve();

  constructor(private readonly deps: PolicyRuntimeDeps) {
    this.engine = new PolicyEngine({ clock: deps.clock, policy: emptyPolicySet(), mode: deps.initialMode });
    const w = deps.webhook;
    this.webhook = w?.url
      ? new WebhookSender({
          url: w.url,
          timeoutMs: w.timeout_ms,
          retries: w.retries,
          backoffMs: w.backoff_ms,
          maxBackoffMs: w.max_backoff_ms,
          queueMax: w.queue_max,
          log: deps.log,
          emit: (e) => this.emit(e),
        })
      : undefined;
  }

  get version(): string {
    return this.engine.version;
  }

  get policy(): PolicySet {
    return this.engine.policySet;
  }

  get mode(): string {
    return this.engine.mode;
  }

  /**
   * Loads the policy at start, before anything else reads its version. A bad set on disk is rejected (an
   * event) and the last good policy from the journal state stays in force; with none, the empty policy.
   */
  load(): ReloadOutcome {
    const stored = this.deps.lastGood?.read();
    if (stored && Array.isArray(stored.files)) {
      this.fallback = { files: stored.files, from: `the last good policy ${stored.version} recorded in the journal (state policy.last_good)` };
      // The same files as recorded: a start does not write them again (a commit before READY=1).
      this.storedDigest = digestOf(stored.files);
    }
    const outcome = this.reload('start');
    // After the policy is in force: breakers of unchanged rules pick up where the previous run left them.
    try {
      const saved = this.deps.breakers?.read();
      if (saved) this.engine.restoreBreakers(saved);
      this.breakersJson = JSON.stringify(this.engine.breakerStates());
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'the stored breaker state could not be restored; breakers start closed');
      this.breakersJson = '';
    }
    return outcome;
  }

  /**
   * A whole set that cannot be put in force: the policy in force stays. At start nothing is in force yet, so
   * the journal's last good policy is restored first and the event names it and where it came from.
   */
  private keepOnRejection(why: 'start' | 'change' | 'request'): { version: string; from: string } {
    const stored = why === 'start' ? this.deps.lastGood?.read() : undefined;
    if (!stored || !Array.isArray(stored.files)) return { version: this.engine.version, from: why === 'start' ? 'no last good policy is recorded' : 'the policy in force' };
    try {
      const set = buildPolicySet(stored.files.map((f) => parsePolicyText(f.text, f.file)));
      this.handle(this.engine.replacePolicy(set));
      this.digest = digestOf(stored.files);
      this.fallback = { files: stored.files, from: 'the policy in force' };
      this.deps.onPolicyChange?.(set);
      return { version: set.version, from: 'the last good policy recorded in the journal (state policy.last_good)' };
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'the stored last good policy no longer parses; running with no policy rules');
      return { version: this.engine.version, from: `the recorded last good policy no longer parses (${errorMessage(e)})` };
    }
  }

  start(): void {
    for (const d of this.deps.createDirs ?? []) mkdirSync(d, { recursive: true, mode: 0o755 });
    this.handle(this.engine.tick());
    this.timer = setInterval(() => this.safely('tick', () => this.handle(this.engine.tick())), this.deps.tickIntervalMs);
    this.timer.unref();
    if (this.deps.watch !== false) {
      const dirs = this.dirs().filter((d) => existsSync(d));
      this.watcher = watch(dirs, {
        ignoreInitial: true,
        depth: 0,
        awaitWriteFinish: { stabilityThreshold: 100, pollInterval: 25 },
      });
      const changed = (path: string): void => {
        if (isPolicyFile(path)) this.scheduleReload();
      };
      this.watcher.on('add', changed).on('change', changed).on('unlink', changed);
      this.watcher.on('error', (e) => this.deps.log.warn({ err: errorMessage(e) }, 'policy folder watch error'));
    }
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.timer = undefined;
    this.webhook?.stop();
    await this.watcher?.close();
    this.watcher = undefined;
    await this.reloading;
  }

  private dirs(): readonly string[] {
    return typeof this.deps.dirs === 'function' ? this.deps.dirs() : this.deps.dirs;
  }

  private scheduleReload(): void {
    if (this.reloadTimer) clearTimeout(this.reloadTimer);
    this.reloadTimer = setTimeout(() => {
      this.reloadTimer = undefined;
      this.reloading = this.reloading.then(() => this.safely('reload', () => void this.reload('change')));
    }, this.deps.reloadDelayMs ?? 100);
    this.reloadTimer.unref();
  }

  private read(): ReadResult {
    this.folders ??= new PolicyFolderReader({ log: this.deps.log, emit: (e) => this.emit(e), accept: isPolicyFile });
    const { texts, problems: readProblems } = this.folders.read(this.dirs());
    if (readProblems.length > 0) {
      const n = readProblems.length;
      throw new WaveosError('WAVEOS_E_POLICY_INVALID', `${n} problem${n === 1 ? '' : 's'} in the policy files`, { problems: readProblems });
    }
    const parsed: ParsedPolicyFile[] = [];
    const used: StoredPolicy['files'] = [];
    const refused: ReadResult['refused'] = [];
    for (const f of texts) {
      try {
        parsed.push(parsePolicyText(f.text, f.file));
        used.push(f);
      } catch (e) {
        if (!isWaveosError(e)) throw e;
        // One broken file does not hold the others back: its last good text (if it ever had one) stays in force.
        const good = this.fallback.files.find((g) => g.name === f.name);
        let kept: string | null = null;
        if (good) {
          const p = parsePolicyText(good.text, good.file);
          parsed.push(p);
          used.push(good);
          kept = `${p.name}@${p.spec.policy_version}`;
        }
        refused.push({ file: f.file, problems: [...e.problems], kept });
      }
    }
    return { set: buildPolicySet(parsed, this.deps.world), texts: used, digest: digestOf(used), diskDigest: digestOf(texts), refused };
  }

  /** Every refused file is journaled, each change once: which file, what is wrong, what stays in force and from where. */
  private journalRefused(r: ReadResult, why: 'start' | 'change' | 'request'): void {
    if (r.refused.length === 0) return;
    const problems = r.refused.flatMap((f) => f.problems);
    const text = problems.map(formatProblem);
    const kept = r.refused.map((f) => (f.kept ? `${f.file}: its last good version ${f.kept} from ${this.fallback.from} stays in force` : `${f.file}: it was never good, nothing of it is in force`));
    this.deps.log.error({ problems: text, kept }, 'policy file rejected');
    this.emit({
      kind: 'policy.rejected',
      severity: 'error',
      source: 'policy',
      reason: `policy file${r.refused.length === 1 ? '' : 's'} rejected (${kept.join('; ')}), ${r.set.version} is in force: ${text[0] ?? 'invalid'}${text.length > 1 ? ` (and ${text.length - 1} more)` : ''}`,
      data: { kept_version: r.set.version, kept_from: this.fallback.from, files: r.refused, problems, messages: text, on: why },
    });
  }

  /** Reads every folder and puts the result in force if it is valid and differs from what is in force. */
  reload(why: 'start' | 'change' | 'request' = 'request'): ReloadOutcome {
    const old = this.engine.version;
    let r: ReadResult;
    try {
      r = this.read();
    } catch (e) {
      const problems: InputProblem[] = isWaveosError(e) ? [...e.problems] : [{ message: errorMessage(e) }];
      // Every refusal is journaled: the key is what is on disk, so only the same bytes reported again are quiet.
      const key = `set:${JSON.stringify(problems)}`;
      if (key !== this.lastSeen || why !== 'change') {
        this.lastSeen = key;
        const kept = this.keepOnRejection(why);
        const text = problems.map(formatProblem);
        this.deps.log.error({ problems: text }, 'policy rejected');
        this.emit({
          kind: 'policy.rejected',
          severity: 'error',
          source: 'policy',
          reason: `policy change rejected, ${kept.version} stays in force (from ${kept.from}): ${text[0] ?? errorMessage(e)}${text.length > 1 ? ` (and ${text.length - 1} more)` : ''}`,
          data: { kept_version: kept.version, kept_from: kept.from, problems, messages: text, on: why },
        });
      }
      return { status: 'rejected', version: this.engine.version, problems };
    }
    const seen = r.diskDigest === this.lastSeen && why === 'change';
    this.lastSeen = r.diskDigest;
    if (!seen) this.journalRefused(r, why);
    const refusedProblems = r.refused.flatMap((f) => f.problems);
    if (r.digest === this.digest) return refusedProblems.length ? { status: 'rejected', version: old, problems: refusedProblems } : { status: 'unchanged', version: old };
    this.digest = r.digest;
    this.handle(this.engine.replacePolicy(r.set));
    if (r.digest !== this.storedDigest) {
      this.deps.lastGood?.write({ version: r.set.version, files: r.texts });
      this.storedDigest = r.digest;
    }
    this.fallback = { files: r.texts, from: 'the policy in force' };
    const files = r.set.files.map((f) => ({ name: f.name, file: f.file, version: f.version, sha256: f.sha256 }));
    this.emit({
      kind: why === 'start' ? 'policy.loaded' : 'policy.reloaded',
      severity: why === 'start' ? 'info' : 'notice',
      source: 'policy',
      reason:
        why === 'start'
          ? `policy ${r.set.version} is in force (${files.length} file${files.length === 1 ? '' : 's'}, ${r.set.rules.length} rules)`
          : `policy reloaded: ${old} → ${r.set.version} (${files.length} file${files.length === 1 ? '' : 's'}, ${r.set.rules.length} rules)`,
      data: { from: old, to: r.set.version, files, rules: r.set.rules.length, mode: this.engine.mode },
    });
    this.deps.log.info({ from: old, to: r.set.version }, `policy ${r.set.version} in force`);
    this.deps.onPolicyChange?.(r.set);
    return refusedProblems.length ? { status: 'rejected', version: r.set.version, problems: refusedProblems } : { status: 'reloaded', version: r.set.version };
  }

  // ---- the seams other modules use -----------------------------------------------------------------------

  /** Moves policy time to now (the interval does this; the daemon's main loop may too). */
  tick(): void {
    this.safely('tick', () => this.handle(this.engine.tick()));
  }

  /** Telemetry's sample batches (journal MetricSample shape). */
  observe(samples: readonly PolicySample[]): void {
    this.safely('observe', () => this.handle(this.engine.observe(samples)));
  }

  /** Service exits and starts, mode changes applied by the executor, other counted events. */
  observeEvent(o: Observation): void {
    this.safely('observeEvent', () => this.handle(this.engine.observeEvent(o)));
  }

  /**
   * Journal events as they commit (main subscribes this to journal.onCommit): breakers count them by kind.
   * The engine's own events are skipped so a policy cannot feed on itself.
   */
  observeJournalEvents(events: readonly { kind: string; ts: string; source: string; data: Readonly<Record<string, unknown>> }[]): void {
    for (const e of events) {
      if (e.kind.startsWith('policy.') || e.source.startsWith('policy')) continue;
      this.observeEvent(observationFromEvent(e));
    }
  }

  /** Rate-limited flows: restarts per service, log lines per source, proxy requests, evidence exports, reboots. */
  admit(flow: string, key: string, cost = 1): AdmitResult {
    const r = this.engine.admit(flow, key, cost);
    this.handle(this.engine.drain());
    return r;
  }

  canTransition(from: string, to: string): TransitionCheck {
    return this.engine.canTransition(from, to);
  }

  serviceAllowed(mode: string, service: string): boolean {
    return this.engine.serviceAllowed(mode, service);
  }

  snapshot(): EngineSnapshot {
    return this.engine.snapshot();
  }

  // ---- decisions -----------------------------------------------------------------------------------------

  private emit(e: EventInput): void {
    try {
      this.deps.emit(e);
    } catch (err) {
      this.deps.log.error({ err: errorMessage(err), kind: e.kind }, 'could not journal a policy event');
      throw err;
    }
  }

  /**
   * The decisions of one evaluation (a tick, a sample, an event): one span for the evaluation and one per
   * decision, whose action's span is its child. An evaluation that decided nothing makes no span.
   */
  private handle(decisions: readonly Decision[]): void {
    if (decisions.length === 0) {
      this.persistBreakers();
      return;
    }
    inSpan('policy.evaluate', { 'waveos.policy_version': this.engine.version, 'waveos.decisions': decisions.length }, () => {
      for (const d of decisions) {
        inSpan(`policy.decision ${d.rule_id}`, { 'waveos.rule_id': d.rule_id, 'waveos.decision_seq': d.seq, 'waveos.action': d.action.type, 'waveos.mode': d.mode }, () => this.handleOne(d));
      }
      this.persistBreakers();
    });
  }

  private handleOne(d: Decision): void {
    const a = d.action;
    if (a.type === 'emit_event') {
      this.emit({
        kind: policyEventKind(a.kind),
        severity: a.severity,
        source: `policy:${d.rule_id}`,
        reason: a.message ? `${d.reason} — ${a.message}` : d.reason,
        data: decisionData(d),
      });
      return;
    }
    if (a.type === 'webhook') {
      this.emit({
        kind: 'policy.decision',
        severity: d.severity,
        source: `policy:${d.rule_id}`,
        reason: this.webhook || this.deps.alertsRouted ? d.reason : `${d.reason}; no alert receiver is configured (alerting.receivers), so nothing is sent`,
        // action and message: the alerting module raises the rule's alert from this event.
        data: { ...decisionData(d), action: 'webhook', message: a.message ?? null },
      });
      this.webhook?.send(
        {
          rule_id: d.rule_id,
          severity: d.severity,
          reason: d.reason,
          message: a.message ?? null,
          ts: new Date(d.ts_ms).toISOString(),
          mode: d.mode,
          policy_version: d.policy_version,
          data: d.data,
        },
        d.rule_id,
      );
      return;
    }
    try {
      const p = this.deps.execute(d);
      if (p) p.catch((e: unknown) => this.deps.log.error({ err: errorMessage(e), rule_id: d.rule_id }, 'executing a policy decision failed'));
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e), rule_id: d.rule_id }, 'executing a policy decision failed');
    }
  }

  /** Writes the breakers' state when it changed, so that a restart resumes their cool-downs. */
  private persistBreakers(): void {
    if (!this.deps.breakers || this.breakersJson === undefined) return;
    const states = this.engine.breakerStates();
    const json = JSON.stringify(states);
    if (json === this.breakersJson) return;
    try {
      this.deps.breakers.write(states);
      this.breakersJson = json;
    } catch (e) {
      this.deps.log.warn({ err: errorMessage(e) }, 'could not record the breaker state; a restart would begin with it closed');
    }
  }

  /** Webhook deliveries in flight (tests). */
  webhookIdle(): Promise<void> {
    return this.webhook?.idle() ?? Promise.resolve();
  }

  private safely(what: string, fn: () => void): void {
    try {
      fn();
    } catch (e) {
      // A policy that throws must not take the daemon down with it; the event says so.
      this.deps.log.error({ err: errorMessage(e), stack: e instanceof Error ? e.stack : undefined }, `policy ${what} failed`);
    }
  }
}

/** The decision's numbers plus what identifies it: the policy version, its seq, and the sample time it is about. */
export function decisionData(d: Decision): Record<string, unknown> {
  return { ...d.data, rule_id: d.rule_id, rule_kind: d.rule_kind, policy_version: d.policy_version, decision_seq: d.seq, decision_ts: new Date(d.ts_ms).toISOString() };
}

function isPolicyFile(path: string): boolean {
  return /\.ya?ml$/i.test(path) && !/(^|\/)\./.test(path.slice(path.lastIndexOf('/')));
}

function digestOf(files: readonly { name: string; file: string; text: string }[]): string {
  const h = createHash('sha256');
  for (const f of files) h.update(f.name).update('\0').update(f.file).update('\0').update(f.text).update('\0');
  return h.digest('hex');
}

/** The repo's example and default policies (loaded in the dev profile): `policies/` next to `daemon/` or `dist/`. */
export function bundledPoliciesDir(): string {
  return `${resourcePath('policies', 'policies')}/`;
}
