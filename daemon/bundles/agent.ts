import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, realpathSync, renameSync, rmSync, statSync } from 'node:fs';
import { basename, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Clock, type Lifecycle, type Logger, type Paths, WaveosError, errorMessage, fsyncDir, fsyncPath, isoUtc, writeFileAtomic } from '../core/index.js';
import { BUNDLES_ACTIVE_KEY, BUNDLES_FAILURES_KEY, BUNDLES_HISTORY_KEY, BUNDLES_SEQ_KEY, type Intent, type Journal, LAUNCHER_NOTE_KEY, type Severity } from '../journal/index.js';
import type { ActionRequest, ActionResult } from '../recovery/index.js';
import type { AppHost, BundleActions } from './actions.js';
import { appServiceName } from './app-service.js';
import { loadTrustedKeys } from './keys.js';
import { validateContent, verifyBundle } from './content.js';
import type { Manifest } from './manifest.js';
import { type InstallState, type StepFacts, TERMINAL_STATES as TERMINAL, assertTransition, nextStep } from './next-step.js';
import { BundleRejection, isBundleRejection } from './rejection.js';
import type { BundleRuntime, GateResult, SlotRef } from './runtime.js';
import { type BundleLimits, type ScanOptions, type VerifiedBundle, scanBundle } from './scan.js';
import { compareSemver } from './semver.js';
import {
  LINK_CURRENT,
  type SlotGroup,
  ensureGroup,
  type BundleVersions,
  groupDir,
  installedVersions,
  listGroups,
  markSlot,
  readGroup,
  readLink,
  readSlotManifest,
  removeSlot,
  slotStatus,
} from './slots.js';
import { spanAttributes, inSpan } from '../tracing/index.js';

/** A request for one of the bundle actions, as the agent hands it to the executor. */
export type BundleRequest = { [A in keyof BundleActions]: ActionRequest<A> }[keyof BundleActions];

/** What one drive of an install remembers between steps (the rest is on disk and in the journal). */
interface DriveMemo {
  resumed: boolean;
  reactivated: boolean;
  gate: GateResult | undefined;
}

export interface InstallRecord {
  install_id: string;
  /** Where the operator's file was; the agent works on its own copy in `file`. */
  source: string;
  file: string;
  origin: 'api' | 'inbox';
  requested_by: string;
  state: InstallState;
  bundle_id?: string;
  kind?: Manifest['kind'];
  name?: string;
  version?: string;
  /** The slot `current` pointed at when this install was verified: where a rollback goes. */
  rollback_to?: string | null;
  trial_starts: number;
  intent_id?: number;
  reason?: string;
  check?: string;
  received_at: string;
  finished_at?: string;
  history: { state: InstallState; ts: string }[];
}

export interface AgentSettings {
  limits: BundleLimits;
  /** Stay-up time of an app/waveos trial when the manifest does not say. */
  trialMs: number;
  /** Daemon starts during one trial before the trial counts as failed (the Mender boot counter). */
  maxTrialStarts: number;
  /** Failed trials of one bundle before the loop guard refuses it for good. */
  maxAttempts: number;
}

export interface BundleAgentDeps {
  journal: Journal;
  paths: Paths;
  clock: Clock;
  log: Logger;
  settings: AgentSettings;
  runtime: BundleRuntime;
  /** The one action path: activation, commit and rollback are asked of the executor, never done here. */
  run: (req: BundleRequest) => Promise<ActionResult>;
  /** Whether an app runs, and from which slot (the supervisor's view). */
  apps: Pick<AppHost, 'state'>;
  /**
   * The fault-injection hook (WAVEOS_FAULT): called with `bundle.after:<state>` and `bundle.during:staging`.
   * When it fires it does not return: it kills the process, or (a test) throws, after which this agent does
   * nothing more, as a killed one would not.
   */
  fault?: (point: string) => void;
  /** Asks the daemon to exit so that the launcher starts the new WaveOS slot (exit code 75). */
  restartDaemon?: (reason: string) => void;
  /** Set when a launcher runs this daemon (WAVEOS_LAUNCHER=1): only then can a waveos bundle be tried. */
  underLauncher?: boolean;
  /** The daemon tree this process runs from; a waveos bundle is on trial when that is its slot. */
  selfTree?: string;
  /** Called after a commit or rollback so run_meta.json and status can show the new versions. */
  onVersionsChanged?: () => void;
}

const HISTORY_MAX = 100;

function short(id: string | undefined | null): string {
  return id ? id.slice(0, 12) : 'none';
}

/** The slots a commit or rollback action pruned, from its outcome. */
function prunedOf(out: ActionResult): string[] {
  const p = out.data?.pruned;
  return Array.isArray(p) ? (p as string[]) : [];
}

/**
 * The update agent: a journaled install state machine. Each state is durable (journal state + a
 * `bundle.<state>` event in one commit) before the next step starts, so a start-up after a crash at any
 * point resumes from the last recorded state: received → verified → staged → activated → trial →
 * committed, or rejected / rolled_back / failed. Installs run one at a time.
 */
export class BundleAgent implements Lifecycle {
  readonly name = 'bundles';
  private chain: Promise<unknown> = Promise.resolve();
  private readonly abort = new AbortController();
  private readonly workDir: string;
  private readonly rejectedDir: string;
  /** Set once the fault hook fired: this agent is dead and must not clean up after itself. */
  private dead = false;
  private readonly skippedKeys = new Set<string>();

  constructor(private readonly deps: BundleAgentDeps) {
    this.workDir = deps.paths.bundleWorkDir;
    this.rejectedDir = deps.paths.inboxRejectedDir;
  }

  private get j(): Journal {
    return this.deps.journal;
  }

  /** Crash-only start: hand orphaned work files back to the inbox, then resume the install in flight. */
  start(): void {
    mkdirSync(this.workDir, { recursive: true, mode: 0o750 });
    const active = this.j.readState(BUNDLES_ACTIVE_KEY) ?? null;
    for (const f of readdirSync(this.workDir)) {
      const p = join(this.workDir, f);
      if (active && p === active.file) continue;
      // A crash between copying a bundle in and journaling it: it was never recorded, so take it again.
      if (f.endsWith('.bundle')) renameSync(p, join(this.deps.paths.inboxDir, `recovered-${f}`));
      else rmSync(p, { force: true, recursive: true });
    }
    if (active && !TERMINAL.has(active.state)) {
      this.event(active, 'resumed', 'notice', `resuming install ${active.install_id} of ${active.name ?? basename(active.source)} from state ${active.state} after a restart`, { from_state: active.state });
      this.j.flush();
      this.chain = this.chain.then(() => this.drive(active, true)).catch((e: unknown) => this.deps.log.error({ err: errorMessage(e) }, 'resumed install failed'));
    }
  }

  /** Aborts a running trial; the next start resumes it from the journal (crash-only: nothing to finish). */
  stop(): void {
    this.abort.abort();
  }

  /** Waits until every queued install has settled (tests and the API use it). */
  idle(): Promise<void> {
    return this.chain.then(
      () => undefined,
      () => undefined,
    );
  }

  /** Queues an install of `file`; resolves with the final record, rejects with a BundleRejection. */
  install(file: string, opts: { origin: 'api' | 'inbox'; requestedBy: string }): Promise<InstallRecord> {
    const run = this.chain.then(() =>
      inSpan('bundle.install', { 'waveos.origin': opts.origin, 'waveos.requested_by': opts.requestedBy }, () => this.drive(this.receive(file, opts), false)),
    );
    this.chain = run.catch(() => undefined);
    return run;
  }

  // --- the machine ---------------------------------------------------------------------------------

  private receive(file: string, opts: { origin: 'api' | 'inbox'; requestedBy: string }): InstallRecord {
    if (this.abort.signal.aborted) throw new WaveosError('WAVEOS_E_BUNDLE_BUSY', 'the daemon is stopping; install again after it restarts');
    let st;
    try {
      st = statSync(file);
    } catch (e) {
      throw new WaveosError('WAVEOS_E_USAGE', `${file}: cannot read the bundle: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
    }
    if (!st.isFile()) throw new WaveosError('WAVEOS_E_USAGE', `${file}: not a regular file`);
    const seq = (this.j.readState(BUNDLES_SEQ_KEY) ?? 0) + 1;
    const install_id = `i${seq}`;
    const work = join(this.workDir, `${install_id}.bundle`);
    rmSync(work, { force: true });
    if (opts.origin === 'inbox') renameSync(file, work);
    else {
      // A hard link costs nothing on the same filesystem; staging re-hashes everything, so a later change
      // to the operator's file cannot slip through.
      try {
        linkSync(file, work);
      } catch {
        copyFileSync(file, work);
        // `received` is durable next: the copy must be, too, or a power cut leaves a short bundle to resume.
        fsyncPath(work);
      }
    }
    fsyncDir(this.workDir);
    const rec: InstallRecord = {
      install_id,
      source: file,
      file: work,
      origin: opts.origin,
      requested_by: opts.requestedBy,
      state: 'received',
      trial_starts: 0,
      received_at: isoUtc(this.deps.clock.now()),
      history: [],
    };
    const intent: Intent = this.j.beginIntent({
      action: 'bundle.install',
      target: basename(file),
      params: { install_id, source: file, bytes: st.size, origin: opts.origin },
      reason: `${opts.requestedBy} asked to install the bundle ${basename(file)} (${st.size} bytes)`,
      requestedBy: opts.requestedBy,
    });
    rec.intent_id = intent.id;
    this.j.writeState(BUNDLES_SEQ_KEY, seq);
    this.transition(rec, 'received', 'info', `received bundle ${basename(file)} (${st.size} bytes) from ${opts.origin === 'inbox' ? 'the inbox' : opts.requestedBy}`, { bytes: st.size, source: file });
    return rec;
  }

  /** Gather the facts, ask nextStep, perform it; until the install is settled (or the daemon restarts into it). */
  private async drive(rec: InstallRecord, resumed: boolean): Promise<InstallRecord> {
    const memo: DriveMemo = { resumed, reactivated: false, gate: undefined };
    try {
      for (;;) {
        const step = nextStep(rec, this.facts(rec, memo));
        const r = await inSpan(`bundle.${step.do}`, { 'waveos.install_id': rec.install_id, 'waveos.from_state': rec.state }, () => this.perform(rec, step, memo));
        if (typeof r === 'object') return r;
        if (r === 'next') memo.resumed = false;
      }
    } catch (e) {
      return this.failed(rec, e);
    }
  }

  /** One step of the install: the record when it is settled (or the daemon restarts into it), else what comes next. */
  private async perform(rec: InstallRecord, step: ReturnType<typeof nextStep>, memo: DriveMemo): Promise<InstallRecord | 'next' | 'resuming'> {
    switch (step.do) {
      case 'verify':
        await this.verify(rec);
        break;
      case 'stage':
        await this.stage(rec);
        break;
      case 'unstage':
        // Only a slot marked good may become current; a staged slot that is not means the disk lost it.
        this.move(rec, 'verified');
        break;
      case 'activate':
        await this.activate(rec);
        break;
      case 'reactivate':
        await this.ask(rec, 'bundle.activate', `resuming install ${rec.install_id}: its slot is put back into service before the trial starts again`);
        memo.reactivated = true;
        return 'resuming'; // still resuming: the trial start is counted next
      case 'begin-trial':
        this.beginTrial(rec);
        break;
      case 'run-trial':
        memo.gate = await this.deps.runtime.healthGate(this.slotRef(rec, rec.bundle_id as string), this.abort.signal);
        if (this.abort.signal.aborted) return new Promise(() => undefined); // stopping: the next start resumes the trial
        break;
      case 'commit':
        await this.commit(rec, step.reason, step.data);
        break;
      case 'rollback':
        await this.rollback(rec, step.reason, step.data);
        break;
      case 'restart-into-waveos':
        this.event(rec, 'restart', 'notice', `restarting into WaveOS ${rec.version} (slot ${short(rec.bundle_id)}) through the launcher`, {});
        this.j.flush();
        this.deps.restartDaemon?.(`restart into WaveOS ${rec.version}`);
        return rec;
      case 'done':
        return rec;
      case 'rejected':
        throw new BundleRejection('WAVEOS_E_BUNDLE_CONTENT', rec.check ?? 'rejected', rec.reason ?? 'rejected');
    }
    return 'next';
  }

  /** A step threw: a rejection is recorded, a failure ends the install cleanly (refused before activation, rolled back after). */
  private async failed(rec: InstallRecord, e: unknown): Promise<never> {
    if (this.dead) throw e;
    if (isBundleRejection(e)) {
      if (rec.state !== 'rejected') this.rejectInstall(rec, e);
      throw e;
    }
    // Stopping: the executor refuses actions now; the next start resumes from the recorded state.
    if (this.abort.signal.aborted) throw e;
    // A step failed for a reason of this board (disk full, I/O error, a failing activation): end the
    // install cleanly rather than leave it half-way — refused before activation, rolled back after.
    this.deps.log.error({ err: errorMessage(e), install_id: rec.install_id, state: rec.state }, 'bundle install step failed');
    if (rec.state === 'received' || rec.state === 'verified') {
      const r = new BundleRejection('WAVEOS_E_RUNTIME', 'runtime.error', `the install failed while ${rec.state === 'received' ? 'verifying' : 'staging'}: ${errorMessage(e)}`);
      this.rejectInstall(rec, r);
      throw r;
    }
    if (!TERMINAL.has(rec.state)) await this.rollback(rec, `the install failed in state ${rec.state}: ${errorMessage(e)}`, {});
    throw e;
  }

  /** What the disk, the journal and the supervisor say about this install now. */
  private facts(rec: InstallRecord, memo: DriveMemo): StepFacts {
    const f: StepFacts = {
      resumed: memo.resumed,
      reactivated: memo.reactivated,
      slotGood: false,
      currentIsBundle: false,
      inService: false,
      underLauncher: this.deps.underLauncher ?? false,
      runningFromSlot: false,
      launcherNote: this.j.readState(LAUNCHER_NOTE_KEY) ?? null,
      maxTrialStarts: this.deps.settings.maxTrialStarts,
      gate: memo.gate,
    };
    const { kind, name, bundle_id: id } = rec;
    if (!kind || !name || !id) return f;
    const dir = groupDir(this.deps.paths, kind, name);
    f.slotGood = slotStatus(join(dir, id)) === 'good';
    f.currentIsBundle = readLink(dir, LINK_CURRENT) === id;
    f.inService = f.currentIsBundle && this.appRunsFrom(name, dir, id, kind);
    if (kind === 'waveos') {
      try {
        f.runningFromSlot = this.deps.selfTree !== undefined && realpathSync(this.deps.selfTree) === realpathSync(join(dir, id, 'payload'));
      } catch {
        f.runningFromSlot = false;
      }
    }
    return f;
  }

  /** An app with `app.run` is in service when its service runs from this slot; anything else once current names it. */
  private appRunsFrom(name: string, dir: string, id: string, kind: string): boolean {
    if (kind !== 'app' || !readSlotManifest(join(dir, id))?.app?.run) return true;
    const st = this.deps.apps.state(appServiceName(name));
    return st?.pid != null && st.bundle_id === id;
  }

  /** Asks the executor for one of this install's actions (it journals the intent and its outcome). */
  private ask(rec: InstallRecord, action: 'bundle.activate' | 'bundle.commit' | 'bundle.rollback', reason: string): Promise<ActionResult> {
    const base = { install_id: rec.install_id, kind: rec.kind as string, name: rec.name as string };
    const id = rec.bundle_id as string;
    const req: BundleRequest =
      action === 'bundle.activate'
        ? { action, params: { ...base, bundle_id: id, from: rec.rollback_to ?? null }, reason, source: 'bundles' }
        : action === 'bundle.commit'
          ? { action, params: { ...base, bundle_id: id }, reason, source: 'bundles' }
          : { action, params: { ...base, from: id, to: rec.rollback_to ?? null }, reason, source: 'bundles' };
    return this.deps.run(req);
  }

  private async verify(rec: InstallRecord): Promise<void> {
    const v = await this.verifyWithContent(rec);
    const m = v.manifest;
    Object.assign(rec, { bundle_id: m.bundle_id, kind: m.kind, name: m.name, version: m.version });
    this.checkVersion(m);
    const failures = this.j.readState(BUNDLES_FAILURES_KEY) ?? {};
    const n = failures[m.bundle_id] ?? 0;
    if (n >= this.deps.settings.maxAttempts) {
      throw new BundleRejection(
        'WAVEOS_E_BUNDLE_FAILED',
        'loop_guard',
        `bundle ${m.name} ${m.version} (${short(m.bundle_id)}) already failed its trial ${n} time(s); the loop guard allows ${this.deps.settings.maxAttempts}: it will not be tried again`,
        { failures: n, limit: this.deps.settings.maxAttempts },
      );
    }
    rec.rollback_to = readGroup(this.deps.paths, m.kind, m.name).current ?? null;
    this.transition(rec, 'verified', 'info', `verified ${m.kind} bundle ${m.name} ${m.version} (${short(m.bundle_id)}): signed by ${v.signedBy.join(', ')}, ${v.fileCount} files, ${v.payloadBytes} bytes`, {
      signed_by: v.signedBy,
      files: v.fileCount,
      payload_bytes: v.payloadBytes,
      rollback_to: rec.rollback_to,
    });
  }

  /** The verify stage; kinds whose content is parsed are extracted into a scratch folder of this install. */
  private verifyWithContent(rec: InstallRecord): Promise<VerifiedBundle> {
    return verifyBundle(this.scanOptions(rec.file), join(this.workDir, `${rec.install_id}.verify`), (m) => this.policyBeside(m));
  }

  /**
   * The folders whose policy files the runtime merges with a policy bundle's: etc/waveos/policies.d and the
   * other installed policy bundles (the bundle replaces its own group's current slot).
   */
  private policyBeside(m: Manifest): string[] {
    const others = listGroups(this.deps.paths)
      .filter((g) => g.kind === 'policy' && g.name !== m.name && g.current)
      .map((g) => join(g.dir, g.current as string, 'payload'));
    return [this.deps.paths.policiesDir, ...others];
  }

  private scanOptions(file: string): Omit<ScanOptions, 'extractTo'> {
    return {
      file,
      keys: loadTrustedKeys(this.deps.paths.keysDir, (f, why) => this.keySkipped(f, why)),
      limits: this.deps.settings.limits,
      now: new Date(this.deps.clock.now()),
    };
  }

  private scan(file: string, extractTo: string, strictModes: boolean): Promise<VerifiedBundle> {
    return scanBundle({ ...this.scanOptions(file), extractTo, strictModes, onExtracted: (n) => (n === 1 ? this.crashPoint('bundle.during:staging') : undefined) });
  }

  /** A key file that does not parse is said once per file and error (each install reads the keys again). */
  private keySkipped(file: string, why: string): void {
    const key = `${file}\0${why}`;
    if (this.skippedKeys.has(key)) return;
    this.skippedKeys.add(key);
    this.deps.log.warn({ file, err: why }, 'a trusted-key file does not parse; it is ignored');
    this.j.append({ kind: 'bundle.key_skipped', severity: 'warning', source: 'bundles', reason: `ignored the key file ${basename(file)}: ${why}; the other trusted keys still count`, data: { file, error: why } });
  }

  /** TUF's rule: versions only go up; the one way down is back to the recorded last known-good. */
  private checkVersion(m: Manifest): void {
    const g = readGroup(this.deps.paths, m.kind, m.name);
    if (g.current === m.bundle_id) {
      throw new BundleRejection('WAVEOS_E_BUNDLE_VERSION', 'version.replay', `${m.kind} ${m.name} ${m.version} (${short(m.bundle_id)}) is already the installed version`, { version: m.version });
    }
    if (m.bundle_id === g.lastKnownGood || m.bundle_id === g.previousGood) return;
    const installed = g.current ? readSlotManifest(join(g.dir, g.current)) : undefined;
    if (!installed) return;
    const c = compareSemver(m.version, installed.version);
    if (c === 0) {
      throw new BundleRejection('WAVEOS_E_BUNDLE_VERSION', 'version.replay', `${m.kind} ${m.name} ${m.version} is the installed version (a different build of it, ${short(m.bundle_id)}, cannot replace ${short(installed.bundle_id)})`, { version: m.version });
    }
    if (c < 0) {
      throw new BundleRejection('WAVEOS_E_BUNDLE_VERSION', 'version.downgrade', `${m.kind} ${m.name} ${m.version} is older than the installed ${installed.version}; only the recorded last known-good may be installed over a newer version`, {
        version: m.version,
        installed: installed.version,
      });
    }
  }

  private slotRef(rec: InstallRecord, id: string): SlotRef {
    const dir = groupDir(this.deps.paths, rec.kind as string, rec.name as string);
    const slotDir = join(dir, id);
    const manifest = readSlotManifest(slotDir);
    if (!manifest) throw new WaveosError('WAVEOS_E_RUNTIME', `slot ${slotDir} has no readable manifest`);
    return { kind: manifest.kind, name: manifest.name, slotDir, manifest };
  }

  private async stage(rec: InstallRecord): Promise<void> {
    const id = rec.bundle_id as string;
    const g = readGroup(this.deps.paths, rec.kind as string, rec.name as string);
    ensureGroup(g.dir);
    const slotDir = join(g.dir, id);
    const keep = id === g.lastKnownGood || id === g.previousGood;
    if (!(keep && slotStatus(slotDir) === 'good')) {
      if (keep) throw new WaveosError('WAVEOS_E_RUNTIME', `slot ${slotDir} is in use but not marked good`);
      // A partial slot from an interrupted staging is never trusted: start it again from nothing.
      removeSlot(slotDir);
      mkdirSync(slotDir, { mode: 0o755 });
      markSlot(slotDir, 'bad');
      fsyncDir(g.dir);
      try {
        const v = await this.scan(rec.file, join(slotDir, 'payload'), rec.kind === 'certs');
        if (v.manifest.bundle_id !== id) throw new BundleRejection('WAVEOS_E_BUNDLE_FORMAT', 'manifest.changed', `the bundle file changed between verification and staging (${short(v.manifest.bundle_id)} ≠ ${short(id)})`);
        // Synced before the slot is marked good: after a power cut a good slot must not have an empty manifest.
        writeFileAtomic(join(slotDir, 'manifest.json'), v.manifestBytes, 0o644);
        writeFileAtomic(join(slotDir, 'manifest.sig'), v.signatureBytes, 0o644);
        validateContent(v.manifest, join(slotDir, 'payload'), this.policyBeside(v.manifest));
      } catch (e) {
        removeSlot(slotDir);
        fsyncDir(g.dir);
        throw e;
      }
      fsyncDir(slotDir);
      markSlot(slotDir, 'good');
    }
    this.transition(rec, 'staged', 'info', `staged ${rec.kind} ${rec.name} ${rec.version} into slot ${short(id)}`, { slot: slotDir });
  }

  private async activate(rec: InstallRecord): Promise<void> {
    const id = rec.bundle_id as string;
    await this.ask(rec, 'bundle.activate', `install ${rec.install_id}: switch ${rec.kind} ${rec.name} to ${rec.version}, staged in slot ${short(id)}`);
    this.transition(rec, 'activated', 'notice', `activated ${rec.kind} ${rec.name} ${rec.version}: current now points at slot ${short(id)} (was ${short(rec.rollback_to)})`, { from: rec.rollback_to ?? null, to: id });
  }

  private beginTrial(rec: InstallRecord): void {
    rec.trial_starts++;
    let trialMs: number | null = null;
    try {
      trialMs = this.deps.runtime.trialMs?.(this.slotRef(rec, rec.bundle_id as string)) ?? null;
    } catch {
      // an unreadable slot fails the trial itself, with its own reason
    }
    const lasts = trialMs ? `; it lasts ${Math.round(trialMs / 1000)} s` : '';
    this.transition(rec, 'trial', 'info', `trial ${rec.trial_starts} of ${rec.kind} ${rec.name} ${rec.version} started${lasts}`, {
      trial_starts: rec.trial_starts,
      max_trial_starts: this.deps.settings.maxTrialStarts,
      trial_ms: trialMs,
    });
  }

  private async commit(rec: InstallRecord, why: string, data: Record<string, unknown>): Promise<void> {
    const out = await this.ask(rec, 'bundle.commit', `install ${rec.install_id}: ${rec.kind} ${rec.name} ${rec.version} passed its trial: ${why}`);
    this.transition(rec, 'committed', 'notice', `committed ${rec.kind} ${rec.name} ${rec.version}: ${why}; it is now the last known-good`, { ...data, pruned: prunedOf(out) });
    this.deps.onVersionsChanged?.();
  }

  private async rollback(rec: InstallRecord, why: string, data: Record<string, unknown>): Promise<void> {
    const target = rec.rollback_to ?? null;
    const out = await this.ask(rec, 'bundle.rollback', `install ${rec.install_id} of ${rec.kind} ${rec.name} ${rec.version}: ${why}`);
    const failures = { ...(this.j.readState(BUNDLES_FAILURES_KEY) ?? {}) };
    const n = (failures[rec.bundle_id as string] ?? 0) + 1;
    failures[rec.bundle_id as string] = n;
    this.j.writeState(BUNDLES_FAILURES_KEY, failures);
    rec.reason = why;
    this.transition(rec, 'rolled_back', 'error', `rolled back ${rec.kind} ${rec.name} ${rec.version} to ${target ? `slot ${short(target)}` : 'no bundle (none was installed before)'}: ${why}`, {
      ...data,
      to: target,
      failures: n,
      max_attempts: this.deps.settings.maxAttempts,
      pruned: prunedOf(out),
    });
    if (n >= this.deps.settings.maxAttempts) {
      this.j.appendDurable({
        kind: 'bundle.failed',
        severity: 'error',
        source: 'bundles',
        reason: `loop guard: bundle ${rec.name} ${rec.version} (${short(rec.bundle_id)}) has failed ${n} time(s); it is marked failed and will not be tried again`,
        data: { bundle_id: rec.bundle_id, name: rec.name, kind: rec.kind, version: rec.version, failures: n, limit: this.deps.settings.maxAttempts },
      });
    }
    this.deps.onVersionsChanged?.();
  }

  private rejectInstall(rec: InstallRecord, e: BundleRejection): void {
    rec.check = e.check;
    rec.reason = e.message;
    const guard = e.check === 'loop_guard';
    // The rejected file is moved aside (inbox) or dropped (our copy of an API request); nothing else changes.
    if (rec.origin === 'inbox' && existsSync(rec.file)) {
      mkdirSync(this.rejectedDir, { recursive: true, mode: 0o750 });
      const dest = join(this.rejectedDir, basename(rec.source));
      renameSync(rec.file, dest);
      fsyncDir(this.rejectedDir);
    }
    this.transition(rec, guard ? 'failed' : 'rejected', 'error', `rejected bundle ${basename(rec.source)}: ${e.message}`, { check: e.check, code: e.code, ...e.detail });
  }

  private event(rec: InstallRecord, what: InstallState | 'resumed' | 'restart', severity: Severity, reason: string, data: Record<string, unknown>): void {
    const ev = this.j.append({
      kind: `bundle.${what}`,
      severity,
      source: 'bundles',
      reason,
      data: { install_id: rec.install_id, bundle_id: rec.bundle_id ?? null, bundle_kind: rec.kind ?? null, name: rec.name ?? null, version: rec.version ?? null, state: rec.state, ...data },
    });
    spanAttributes({ 'waveos.state': rec.state, 'waveos.event_seq': ev.seq, 'waveos.bundle': `${rec.kind ?? '?'}/${rec.name ?? '?'}`, ...(rec.version ? { 'waveos.version': rec.version } : {}) });
  }

  /** One durable commit per state: the event and the record together; then the fault hook may kill us. */
  private transition(rec: InstallRecord, state: InstallState, severity: Severity, reason: string, data: Record<string, unknown>): void {
    this.move(rec, state);
    this.event(rec, state, severity, reason, data);
    if (TERMINAL.has(state)) {
      rec.finished_at = isoUtc(this.deps.clock.now());
      if (existsSync(rec.file)) rmSync(rec.file, { force: true });
      const history = [rec, ...(this.j.readState(BUNDLES_HISTORY_KEY) ?? [])].slice(0, HISTORY_MAX);
      if (rec.intent_id !== undefined) {
        const intent = this.j.intents().find((i) => i.id === rec.intent_id);
        if (intent && intent.status === 'pending') this.j.finishIntent(intent, state === 'committed' ? 'succeeded' : 'failed', reason, { install_id: rec.install_id, state });
      }
      this.j.writeStates({ [BUNDLES_ACTIVE_KEY]: null, [BUNDLES_HISTORY_KEY]: history });
    } else this.j.writeState(BUNDLES_ACTIVE_KEY, rec);
    this.crashPoint(`bundle.after:${state}`);
  }

  /** Moves the record to `state`, along an edge of the declared table only, and says so in its history. */
  private move(rec: InstallRecord, state: InstallState): void {
    assertTransition(rec.history.length === 0 ? undefined : rec.state, state);
    rec.state = state;
    rec.history.push({ state, ts: isoUtc(this.deps.clock.now()) });
  }

  private crashPoint(point: string): void {
    try {
      this.deps.fault?.(point);
    } catch (e) {
      this.dead = true;
      throw e;
    }
  }

  // --- queries and operator actions -----------------------------------------------------------------

  /** The app whose install is in flight with its slot current (activated or on trial): its service starts on trial. */
  appOnTrial(): { name: string; bundle_id: string } | undefined {
    const a = this.j.readState(BUNDLES_ACTIVE_KEY);
    if (!a || a.kind !== 'app' || !a.name || !a.bundle_id || (a.state !== 'activated' && a.state !== 'trial')) return undefined;
    return { name: a.name, bundle_id: a.bundle_id };
  }

  versions(): BundleVersions {
    return installedVersions(this.deps.paths);
  }

  list(): { installed: (SlotGroup & { current_version?: string; last_known_good_version?: string })[]; active: InstallRecord | null; history: InstallRecord[]; failures: Record<string, number> } {
    const installed = listGroups(this.deps.paths).map((g) => ({
      ...g,
      current_version: g.slots.find((s) => s.bundle_id === g.current)?.version,
      last_known_good_version: g.slots.find((s) => s.bundle_id === g.lastKnownGood)?.version,
    }));
    return {
      installed,
      active: this.j.readState(BUNDLES_ACTIVE_KEY) ?? null,
      history: this.j.readState(BUNDLES_HISTORY_KEY) ?? [],
      failures: this.j.readState(BUNDLES_FAILURES_KEY) ?? {},
    };
  }

  /** `waveos bundle rollback`: back to the last known-good on purpose (or, when current is it, the one before). */
  rollbackTo(opts: { kind?: string; name?: string; requestedBy: string }): Promise<Record<string, unknown>> {
    const run = this.chain.then(async () => {
      const candidates = listGroups(this.deps.paths).filter(
        (g) => (!opts.kind || g.kind === opts.kind) && (!opts.name || g.name === opts.name) && g.current && ((g.lastKnownGood && g.lastKnownGood !== g.current) || g.previousGood),
      );
      if (candidates.length === 0) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no installed bundle${opts.kind ? ` of kind ${opts.kind}` : ''}${opts.name ? ` named ${opts.name}` : ''} has a last known-good to go back to`);
      if (candidates.length > 1) throw new WaveosError('WAVEOS_E_USAGE', `several bundles could be rolled back (${candidates.map((g) => `${g.kind}/${g.name}`).join(', ')}): name one with --kind and --name`);
      const g = candidates[0] as SlotGroup;
      const from = g.current as string;
      const to = g.lastKnownGood && g.lastKnownGood !== from ? g.lastKnownGood : (g.previousGood as string);
      const manifest = readSlotManifest(join(g.dir, to));
      await this.deps.run({
        action: 'bundle.rollback',
        params: { kind: g.kind, name: g.name, from, to },
        reason: `${opts.requestedBy} asked to roll ${g.kind}/${g.name} back to its last known-good`,
        source: opts.requestedBy,
      });
      const fromVersion = g.slots.find((s) => s.bundle_id === from)?.version;
      const data = { bundle_kind: g.kind, name: g.name, from, to, from_version: fromVersion ?? null, to_version: manifest?.version ?? null };
      this.j.append({ kind: 'bundle.rolled_back', severity: 'notice', source: opts.requestedBy, reason: `${g.kind}/${g.name} rolled back on request from ${fromVersion ?? short(from)} to ${manifest?.version ?? short(to)}`, data });
      this.deps.onVersionsChanged?.();
      if (g.kind === 'waveos') this.deps.restartDaemon?.(`restart into WaveOS ${manifest?.version ?? short(to)} after a rollback`);
      return data;
    });
    this.chain = run.catch(() => undefined);
    return run;
  }
}

/** The daemon tree this code runs from (dist/bundles/agent.js → the tree's root). */
export function ownTree(): string {
  return fileURLToPath(new URL('../..', import.meta.url));
}
