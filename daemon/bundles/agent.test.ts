import { existsSync, mkdirSync, mkdtempSync, readdirSync, readlinkSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { type TestKey, appDir, buildApp, makeKey, patchFile, trustKey } from '../../test/helpers/bundles.js';
import { FakeClock, type Paths, ensureLayout, pathsFor, silentLogger, systemClock } from '../core/index.js';
import { Journal } from '../journal/index.js';
import { ActionExecutor, type ActionHandler } from '../recovery/index.js';
import type { ServiceInput } from '../services/index.js';
import {
  type AgentSettings,
  type AppHost,
  type AppState,
  type BundleActions,
  BundleAgent,
  type BundleRuntime,
  DEFAULT_LIMITS,
  INSTALL_STATES,
  type InstallRecord,
  type InstallState,
  type Step,
  type StepFacts,
  TRANSITIONS,
  appServiceName,
  assertTransition,
  buildBundle,
  bundleHandlers,
  nextStep,
  registerApps,
} from './index.js';

// --- the declared machine ---------------------------------------------------------------------------

describe('the transition table', () => {
  it('allows exactly its edges: any other transition throws', () => {
    for (const from of INSTALL_STATES) {
      for (const to of INSTALL_STATES) {
        if (TRANSITIONS[from].includes(to)) expect(() => assertTransition(from, to)).not.toThrow();
        else expect(() => assertTransition(from, to), `${from} → ${to}`).toThrow(/is not a transition/);
      }
    }
    expect(() => assertTransition(undefined, 'received')).not.toThrow();
    expect(() => assertTransition(undefined, 'verified')).toThrow(/\(new\) → verified/);
    for (const t of ['committed', 'rejected', 'rolled_back', 'failed'] as const) expect(TRANSITIONS[t]).toEqual([]);
  });
});

const F: StepFacts = {
  resumed: false,
  reactivated: false,
  slotGood: true,
  currentIsBundle: true,
  inService: true,
  underLauncher: false,
  runningFromSlot: false,
  launcherNote: null,
  maxTrialStarts: 3,
};
const ID = 'a'.repeat(64);
const rec = (state: InstallState, kind: 'app' | 'waveos' | 'config' = 'app', trial_starts = 1) => ({ state, kind, bundle_id: ID, trial_starts });

describe('nextStep', () => {
  const cases: { name: string; rec: ReturnType<typeof rec>; facts: Partial<StepFacts>; step: Step['do']; reason?: RegExp }[] = [
    { name: 'received: verify', rec: rec('received'), facts: {}, step: 'verify' },
    { name: 'received, resumed: verify again', rec: rec('received'), facts: { resumed: true }, step: 'verify' },
    { name: 'verified: stage', rec: rec('verified'), facts: {}, step: 'stage' },
    { name: 'staged, slot good: activate', rec: rec('staged'), facts: {}, step: 'activate' },
    { name: 'staged, slot not good: stage again', rec: rec('staged'), facts: { slotGood: false, resumed: true }, step: 'unstage' },
    { name: 'activated app: begin the trial', rec: rec('activated'), facts: {}, step: 'begin-trial' },
    { name: 'activated app, resumed, not running from its slot: put it back', rec: rec('activated'), facts: { resumed: true, inService: false }, step: 'reactivate' },
    { name: 'activated app, resumed, put back once already: trial', rec: rec('activated'), facts: { resumed: true, inService: false, reactivated: true }, step: 'begin-trial' },
    { name: 'activated config, resumed, in service: trial', rec: rec('activated', 'config'), facts: { resumed: true }, step: 'begin-trial' },
    { name: 'activated waveos, current moved away', rec: rec('activated', 'waveos'), facts: { currentIsBundle: false }, step: 'rollback', reason: /^current no longer points/ },
    {
      name: 'activated waveos, the launcher switched back',
      rec: rec('activated', 'waveos'),
      facts: { currentIsBundle: false, launcherNote: { bundle_id: ID, starts: 3, ts: 'x' } },
      step: 'rollback',
      reason: /launcher switched back .* 3 time\(s\)/,
    },
    { name: 'activated waveos, running from its slot: trial', rec: rec('activated', 'waveos'), facts: { runningFromSlot: true, resumed: true }, step: 'begin-trial' },
    { name: 'activated waveos, no launcher', rec: rec('activated', 'waveos'), facts: {}, step: 'rollback', reason: /not started by the WaveOS launcher/ },
    { name: 'activated waveos, under the launcher: restart into it', rec: rec('activated', 'waveos'), facts: { underLauncher: true }, step: 'restart-into-waveos' },
    { name: 'activated waveos, old daemon started again', rec: rec('activated', 'waveos'), facts: { underLauncher: true, resumed: true }, step: 'rollback', reason: /started the old daemon again/ },
    { name: 'trial: run the gate', rec: rec('trial'), facts: {}, step: 'run-trial' },
    { name: 'trial, gate passed: commit', rec: rec('trial'), facts: { gate: { ok: true, reason: 'stayed up', data: {} } }, step: 'commit', reason: /^stayed up$/ },
    { name: 'trial, gate failed: roll back', rec: rec('trial'), facts: { gate: { ok: false, reason: 'exited with code 1', data: {} } }, step: 'rollback', reason: /^health gate failed: exited with code 1$/ },
    { name: 'trial, resumed: count a new start', rec: rec('trial'), facts: { resumed: true }, step: 'begin-trial' },
    { name: 'trial, resumed, app not running: put it back', rec: rec('trial'), facts: { resumed: true, inService: false }, step: 'reactivate' },
    { name: 'trial, resumed at the start limit: roll back', rec: rec('trial', 'app', 3), facts: { resumed: true }, step: 'rollback', reason: /stopped during the trial 3 time\(s\); the limit is 3/ },
    { name: 'trial waveos, resumed in the new daemon: trial', rec: rec('trial', 'waveos'), facts: { resumed: true, runningFromSlot: true, underLauncher: true }, step: 'begin-trial' },
    { name: 'trial waveos, resumed in the old daemon', rec: rec('trial', 'waveos'), facts: { resumed: true, underLauncher: true }, step: 'rollback', reason: /old daemon again/ },
    { name: 'committed: done', rec: rec('committed'), facts: {}, step: 'done' },
    { name: 'rolled_back: done', rec: rec('rolled_back'), facts: {}, step: 'done' },
    { name: 'failed: done', rec: rec('failed'), facts: {}, step: 'done' },
    { name: 'rejected: refused', rec: rec('rejected'), facts: {}, step: 'rejected' },
  ];
  it.each(cases)('$name', (c) => {
    const s = nextStep(c.rec, { ...F, ...c.facts });
    expect(s.do).toBe(c.step);
    if (c.reason) expect('reason' in s ? s.reason : '').toMatch(c.reason);
  });
  it('has a case for every state', () => {
    expect(new Set(cases.map((c) => c.rec.state))).toEqual(new Set(INSTALL_STATES));
  });
});

// --- the agent over a temp root, the real executor and journal, a fake supervisor and gate ----------

/** The supervisor as app bundles see it: services that "run" once started, or exit at once when broken. */
class FakeApps implements AppHost {
  readonly services = new Map<string, { input: ServiceInput; trial: boolean; pid: number | null; last_exit: AppState['last_exit'] }>();
  private pid = 1000;

  constructor(private readonly broken: ReadonlySet<string>) {}

  state(s: string): AppState | undefined {
    const e = this.services.get(s);
    return e && { pid: e.pid, last_exit: e.last_exit, trial: e.trial, bundle_id: e.input.env?.WAVEOS_APP_BUNDLE_ID ?? null };
  }
  register(input: ServiceInput, trial: boolean): void {
    if (this.services.get(input.name)?.pid != null) throw new Error(`${input.name} runs`);
    this.services.set(input.name, { input, trial, pid: null, last_exit: null });
  }
  async start(s: string): Promise<number> {
    const e = this.services.get(s);
    if (!e) throw new Error(`no service ${s}`);
    if (e.pid !== null) return e.pid;
    if (this.broken.has(e.input.env?.WAVEOS_APP_BUNDLE_ID ?? '')) e.last_exit = { code: 1, signal: null };
    else e.pid = this.pid++;
    return e.pid ?? -1;
  }
  async stop(s: string): Promise<void> {
    const e = this.services.get(s);
    if (e?.pid != null) Object.assign(e, { pid: null, last_exit: { code: null, signal: 'SIGTERM' } });
  }
  remove(s: string): void {
    this.services.delete(s);
  }
  setTrial(s: string, trial: boolean): void {
    const e = this.services.get(s);
    if (e) e.trial = trial;
  }
  /** What recovery does at start-up: every registered service is started. */
  async startAll(): Promise<void> {
    for (const s of this.services.keys()) await this.start(s);
  }
}

/** The gate: an app passes when its service still runs; other kinds pass. */
const fakeRuntime = (apps: FakeApps): BundleRuntime => ({
  healthGate: async (ref) => {
    if (ref.kind !== 'app') return { ok: true, reason: `${ref.kind} switched`, data: {} };
    const st = apps.state(appServiceName(ref.name));
    return st?.pid != null ? { ok: true, reason: 'stayed up', data: {} } : { ok: false, reason: `app ${ref.name} exited with code ${st?.last_exit?.code ?? '?'}`, data: { exit_code: st?.last_exit?.code ?? null } };
  },
});

class Crash extends Error {}

interface LifeOptions {
  /** The fault point that "kills" this life (the hook throws, the agent is abandoned). */
  fault?: string;
  /** This action's handler runs, then never returns: a kill right after the world changed, before the journal says so. */
  hangAfter?: keyof BundleActions;
  /** This action's handler fails. */
  failAction?: keyof BundleActions;
  settings?: Partial<AgentSettings>;
}

interface Life {
  journal: Journal;
  agent: BundleAgent;
  apps: FakeApps;
}

let dir: string;
let root: string;
let paths: Paths;
let k: TestKey;
let clock: FakeClock;
let broken: Set<string>;
let runs: number;
let lives: Life[];
const log = silentLogger();

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'bundle-agent-'));
  root = join(dir, 'root');
  mkdirSync(root);
  paths = pathsFor(root);
  ensureLayout(paths);
  k = makeKey(join(dir, 'keys'));
  trustKey(root, k);
  clock = new FakeClock(Date.now());
  broken = new Set();
  runs = 0;
  lives = [];
});
afterEach(() => {
  for (const l of lives) {
    l.agent.stop();
    try {
      l.journal.close();
    } catch {
      // closed when it was "killed"
    }
  }
  rmSync(dir, { recursive: true, force: true });
});

/** One run of the daemon, as far as bundles go: journal, executor with the bundle handlers, supervisor, agent. */
async function life(o: LifeOptions = {}): Promise<Life> {
  const journal = Journal.openWriter(paths.db, { clock, runId: `run-${++runs}`, bootId: 'boot' });
  journal.resolveInterruptedIntents();
  const apps = new FakeApps(broken);
  const real = bundleHandlers({ paths, apps, log });
  const wrap = <P,>(a: keyof BundleActions, h: ActionHandler<P>): ActionHandler<P> => ({
    target: h.target,
    run: async (p, r, c) => {
      if (o.failAction === a) throw new Error(`${a} failed: disk on fire`);
      const out = await h.run(p, r, c);
      return o.hangAfter === a ? new Promise<never>(() => undefined) : out;
    },
  });
  const executor = new ActionExecutor<BundleActions>({ journal, log });
  executor.install({
    'bundle.activate': wrap('bundle.activate', real['bundle.activate']),
    'bundle.commit': wrap('bundle.commit', real['bundle.commit']),
    'bundle.rollback': wrap('bundle.rollback', real['bundle.rollback']),
  });
  const agent = new BundleAgent({
    journal,
    paths,
    clock,
    log,
    settings: { limits: DEFAULT_LIMITS, trialMs: 0, maxTrialStarts: 3, maxAttempts: 3, ...o.settings },
    runtime: fakeRuntime(apps),
    run: (req) => executor.run(req),
    apps,
    fault: (point) => {
      if (point === o.fault) throw new Crash(point);
    },
    underLauncher: false,
    selfTree: root,
  });
  registerApps(paths, apps, log, agent.appOnTrial());
  await apps.startAll();
  agent.start();
  const l = { journal, agent, apps };
  lives.push(l);
  return l;
}

/** Kills a life: nothing it does from now on reaches the journal. */
function kill(l: Life): void {
  l.journal.close();
}

const link = (name: string, which = 'current'): string | undefined => {
  try {
    return readlinkSync(join(paths.slotsDir, 'app', name, which));
  } catch {
    return undefined;
  }
};
const slotsOf = (name: string): string[] => readdirSync(join(paths.slotsDir, 'app', name)).filter((n) => /^[0-9a-f]{64}$/.test(n)).sort();

async function app(version: string, opts: { broken?: boolean } = {}): Promise<{ file: string; id: string }> {
  const file = join(dir, `demo-${version}.bundle`);
  const m = await buildApp(k, appDir(dir, 'demo', version), file, version);
  if (opts.broken) broken.add(m.bundle_id);
  return { file, id: m.bundle_id };
}

const install = (l: Life, file: string): Promise<InstallRecord> => l.agent.install(file, { origin: 'api', requestedBy: 'operator:test' });

/** After everything settled: nothing in flight, the links and the app where `expected` says, every intent finished. */
function settled(l: Life, expected: { current: string; lkg: string; state: InstallState }): InstallRecord {
  const list = l.agent.list();
  expect(list.active).toBeNull();
  const last = list.history[0] as InstallRecord;
  expect(last.state).toBe(expected.state);
  expect(link('demo')).toBe(expected.current);
  expect(link('demo', 'last_known_good')).toBe(expected.lkg);
  expect(existsSync(join(paths.slotsDir, 'app/demo', expected.current, 'STATUS'))).toBe(true);
  const svc = l.apps.state(appServiceName('demo'));
  expect(svc).toMatchObject({ bundle_id: expected.current, trial: false });
  expect(svc?.pid).not.toBeNull();
  expect(l.journal.intents('pending')).toEqual([]);
  return last;
}

/** Consecutive states of every record's history: the edges the agent took. */
const edgesOf = (records: InstallRecord[]): string[] => records.flatMap((r) => r.history.slice(1).map((h, i) => `${r.history[i]?.state} → ${h.state}`));

describe('the update agent on the action path', () => {
  it('installs, rolls a broken update back, and rolls back on request: every change through an executor action', async () => {
    const l = await life();
    const v1 = await app('1.0.0');
    const v2 = await app('2.0.0', { broken: true });
    const v3 = await app('3.0.0');
    expect((await install(l, v1.file)).state).toBe('committed');
    settled(l, { current: v1.id, lkg: v1.id, state: 'committed' });
    const bad = await install(l, v2.file);
    expect(bad).toMatchObject({ state: 'rolled_back', reason: 'health gate failed: app demo exited with code 1' });
    settled(l, { current: v1.id, lkg: v1.id, state: 'rolled_back' });
    expect(slotsOf('demo')).toEqual([v1.id]);
    expect((await install(l, v3.file)).state).toBe('committed');
    expect(link('demo', 'previous_good')).toBe(v1.id);
    const data = await l.agent.rollbackTo({ requestedBy: 'operator:test' });
    expect(data).toMatchObject({ from: v3.id, to: v1.id, from_version: '3.0.0', to_version: '1.0.0' });
    expect(link('demo')).toBe(v1.id);
    expect(link('demo', 'last_known_good')).toBe(v1.id);
    expect(link('demo', 'previous_good')).toBeUndefined();
    expect(l.apps.state(appServiceName('demo'))?.bundle_id).toBe(v1.id);
    // The agent journals the install as a whole; each change to the world is the executor's intent.
    const intents = l.journal.intents().map((i) => `${i.action} ${i.requested_by} ${i.status}`);
    expect(intents).toEqual([
      'bundle.install operator:test succeeded',
      'bundle.activate bundles succeeded',
      'bundle.commit bundles succeeded',
      'bundle.install operator:test failed',
      'bundle.activate bundles succeeded',
      'bundle.rollback bundles succeeded',
      'bundle.install operator:test succeeded',
      'bundle.activate bundles succeeded',
      'bundle.commit bundles succeeded',
      'bundle.rollback operator:test succeeded',
    ]);
  });

  it('takes every edge of the transition table', async () => {
    const records: InstallRecord[] = [];
    const collect = async (p: Promise<InstallRecord>): Promise<void> => {
      await p.catch(() => undefined);
    };
    // Commit, a failed trial, the loop guard (one attempt allowed), a rejection.
    let l = await life({ settings: { maxAttempts: 1 } });
    const v1 = await app('1.0.0');
    const v2 = await app('2.0.0', { broken: true });
    await collect(install(l, v1.file));
    await collect(install(l, v2.file));
    await collect(install(l, v2.file));
    const other = makeKey(join(dir, 'other'));
    await buildApp(other, appDir(dir, 'demo', '9.0.0'), join(dir, 'evil.bundle'), '9.0.0');
    await collect(install(l, join(dir, 'evil.bundle')));
    // A config bundle whose payload fails the config schema: refused while verifying.
    const cfg = join(dir, 'cfg');
    mkdirSync(cfg);
    writeFileSync(join(cfg, 'waveos.yaml'), 'schema_version: 2\nno_such_section: 1\n');
    await buildBundle({ dir: cfg, kind: 'config', name: 'main', version: '1.0.0', key: k.key, out: join(dir, 'cfg.bundle'), clock: systemClock });
    await collect(install(l, join(dir, 'cfg.bundle')));
    // A bundle changed on disk between verification and staging: refused while staging.
    records.push(...l.agent.list().history);
    kill(l);
    l = await life({ fault: 'bundle.after:verified' });
    const v4 = await app('4.0.0');
    await expect(install(l, v4.file)).rejects.toBeInstanceOf(Crash);
    kill(l);
    const work = readdirSync(paths.bundleWorkDir).filter((n) => n.endsWith('.bundle'));
    for (const n of work) patchFile(join(paths.bundleWorkDir, n), 'version=4.0.0', 'version=4.0.1');
    l = await life();
    await l.agent.idle();
    // A waveos bundle without the launcher: rolled back from activated.
    const wv = join(dir, 'wv');
    mkdirSync(wv);
    writeFileSync(join(wv, 'README'), 'a daemon tree\n');
    await buildBundle({ dir: wv, kind: 'waveos', name: 'waveos', version: '1.0.0', key: k.key, out: join(dir, 'wv.bundle'), clock: systemClock });
    await collect(install(l, join(dir, 'wv.bundle')));
    records.push(...l.agent.list().history);
    kill(l);

    // An activation that fails: rolled back from staged.
    l = await life({ failAction: 'bundle.activate' });
    const v3 = await app('3.0.0');
    await expect(install(l, v3.file)).rejects.toThrow(/disk on fire/);
    kill(l);
    // Killed after staging, and the slot lost its mark: staged again. Killed during the trial: a new trial.
    l = await life({ fault: 'bundle.after:staged' });
    await expect(install(l, v3.file)).rejects.toBeInstanceOf(Crash);
    kill(l);
    unlinkSync(join(paths.slotsDir, 'app/demo', v3.id, 'STATUS'));
    l = await life({ fault: 'bundle.after:trial' });
    await l.agent.idle();
    kill(l);
    l = await life();
    await l.agent.idle();
    records.push(...l.agent.list().history);
    expect(l.agent.list().history[0]?.history.map((h) => h.state)).toEqual(['received', 'verified', 'staged', 'verified', 'staged', 'activated', 'trial', 'trial', 'committed']);

    const all = Object.entries(TRANSITIONS).flatMap(([from, tos]) => tos.map((to) => `${from} → ${to}`));
    expect(new Set(edgesOf(records))).toEqual(new Set(all));
  });

  const goodPoints = ['received', 'verified', 'staged', 'activated', 'trial', 'committed'];
  it.each(goodPoints)('killed right after %s is journaled: the next run resumes it to committed', async (state) => {
    let l = await life();
    const v1 = await app('1.0.0');
    const v2 = await app('2.0.0');
    await install(l, v1.file);
    kill(l);
    l = await life({ fault: `bundle.after:${state}` });
    await expect(install(l, v2.file)).rejects.toBeInstanceOf(Crash);
    kill(l);
    // At the kill the board is on the old slot or the new one, whole.
    expect([v1.id, v2.id]).toContain(link('demo'));
    l = await life();
    await l.agent.idle();
    const r = settled(l, { current: v2.id, lkg: v2.id, state: 'committed' });
    expect(r.trial_starts).toBe(state === 'trial' ? 2 : 1);
    expect(slotsOf('demo')).toEqual([v1.id, v2.id].sort());
    expect(link('demo', 'previous_good')).toBe(v1.id);
  });

  it.each(['staged', 'activated', 'trial', 'rolled_back'])('killed right after %s with a broken update: the next run ends it rolled back', async (state) => {
    let l = await life();
    const v1 = await app('1.0.0');
    const v2 = await app('2.0.0', { broken: true });
    await install(l, v1.file);
    kill(l);
    l = await life({ fault: `bundle.after:${state}` });
    await expect(install(l, v2.file)).rejects.toBeInstanceOf(Crash);
    kill(l);
    l = await life();
    await l.agent.idle();
    settled(l, { current: v1.id, lkg: v1.id, state: 'rolled_back' });
    expect(l.agent.list().failures[v2.id]).toBe(1);
    expect(slotsOf('demo')).toEqual([v1.id]);
  });

  it.each([
    ['bundle.activate', false, 'committed'],
    ['bundle.commit', false, 'committed'],
    ['bundle.rollback', true, 'rolled_back'],
  ] as const)('killed inside %s, after the world changed and before the journal says so: resumed to the same end', async (action, isBroken, end) => {
    let l = await life();
    const v1 = await app('1.0.0');
    const v2 = await app('2.0.0', { broken: isBroken });
    await install(l, v1.file);
    kill(l);
    l = await life({ hangAfter: action });
    void install(l, v2.file);
    await expect.poll(() => l.journal.intents('pending').some((i) => i.action === action)).toBe(true);
    kill(l);
    l = await life();
    await l.agent.idle();
    const ok = end === 'committed';
    settled(l, { current: ok ? v2.id : v1.id, lkg: ok ? v2.id : v1.id, state: end });
    expect(l.journal.intents().filter((i) => i.action === action).map((i) => i.status)).toEqual(action === 'bundle.rollback' ? ['interrupted', 'succeeded'] : ['succeeded', 'interrupted', 'succeeded']);
  });
});
