import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createConnection, createServer as createNetServer } from 'node:net';
import { createServer as createHttpServer, request as httpRequest } from 'node:http';
import { join } from 'node:path';
import fc from 'fast-check';
import { JournalReader } from '../daemon/journal/index.js';
import { BundleFeed, HIL_APP, slotViolations } from './bundles.js';
import { auditFile } from './fsync-audit.js';
import { Ledger, checkInvariants } from './invariants.js';
import { Load } from './load.js';
import { powerCut } from './power-cut.js';
import { Prng, slope } from './prng.js';
import { type HilReport, Recorder } from './report.js';
import { aptInstall } from './host.js';
import { Rig, example, loadServices, runCommand, sleep } from './rig.js';

import { isKind } from './event-kind.js';
import type { ScenarioOptions } from './scenario-options.js';
export type { ScenarioOptions } from './scenario-options.js';

export const SCENARIOS = ['kill-storm', 'install-interrupt', 'service-faults', 'bad-inputs', 'fsync-audit', 'soak', 'mixed', 'disk-full', 'chaos', 'power-cut', 'clock-jump'] as const;
export type ScenarioName = (typeof SCENARIOS)[number];

export async function runScenario(name: ScenarioName, o: ScenarioOptions): Promise<HilReport> {
  const replay = ` --duration ${Math.round(o.durationMs / 1000)}s --count ${o.count}`;
  const rec = new Recorder(name, o.seed, replay);
  switch (name) {
    case 'kill-storm':
      await killStorm(rec, o);
      break;
    case 'install-interrupt':
      await installInterrupt(rec, o);
      break;
    case 'service-faults':
      await serviceFaults(rec, o);
      break;
    case 'bad-inputs':
      await badInputs(rec, o);
      break;
    case 'fsync-audit':
      await fsyncAudit(rec, o);
      break;
    case 'soak':
      await soak(rec, o);
      break;
    case 'mixed':
      await mixed(rec, o);
      break;
    case 'disk-full':
      await diskFull(rec, o);
      break;
    case 'chaos':
      await chaosRun(rec, o);
      break;
    case 'power-cut':
      await powerCut(rec, o);
      break;
    case 'clock-jump':
      await clockJump(rec, o);
      break;
  }
  return rec.report();
}

/** Runs the invariants and records each check and each violation. */
async function verify(rec: Recorder, rig: Rig, ledger: Ledger, log?: (line: string) => void): Promise<void> {
  record(rec, await checkInvariants(rig, ledger), log);
}

function record(rec: Recorder, r: Awaited<ReturnType<typeof checkInvariants>>, log?: (line: string) => void): void {
  rec.checked(r.checked);
  for (const v of r.violations) {
    rec.violation(v);
    log?.(`VIOLATION after fault ${rec.faults}: ${v}`);
  }
}

/**
 * SIGKILL now, start again, and time how long until `status` answers. `whileDown` changes the world between the
 * kill and the start (the clock, say); `env` is the next daemon's environment on top of the rig's.
 */
async function killAndRecover(rec: Recorder, rig: Rig, o: ScenarioOptions, next: { env?: NodeJS.ProcessEnv; whileDown?: () => void } = {}): Promise<boolean> {
  const t0 = Date.now();
  await rig.kill('SIGKILL');
  rec.kills++;
  const atKill = slotViolations(rig.root);
  rec.expect('bundle-slots-whole-at-kill', atKill.violations.length === 0, atKill.violations.join('; '));
  next.whileDown?.();
  try {
    rig.spawnDaemon([], undefined, next.env);
    await rig.waitReady(o.recoveryBoundMs * 2);
  } catch (e) {
    rec.violation(`daemon-back: ${(e as Error).message}`);
    return false;
  }
  const ms = Date.now() - t0;
  rec.recovered(ms);
  rec.expect('recovery-within-bound', ms <= o.recoveryBoundMs, `status answered ${ms} ms after the kill (bound ${o.recoveryBoundMs} ms)`);
  return true;
}

function names(services: Record<string, unknown>[]): string[] {
  return services.map((s) => s.name as string);
}

/**
 * SIGKILL of the daemon at seeded random instants, under mixed load: CLI event bursts, the flooder's log bursts,
 * bundle installs and evidence exports. Every fourth kill interrupts an install on purpose (at a state of the
 * install machine or at a random instant).
 */
async function killStorm(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const prng = new Prng(o.seed);
  const installs = prng.fork(2);
  const rig = new Rig({ name: 'kill-storm', seed: o.seed });
  const ledger = new Ledger();
  const feed = new BundleFeed(rig);
  const load = new Load(rig, ledger, prng.fork(1), names(rig.services), undefined, { bundles: feed, evidence: true });
  const deadline = Date.now() + o.durationMs;
  try {
    await rig.start();
    for (let i = 0; i < o.count && Date.now() < deadline; i++) {
      if (i % 4 === 3) {
        await ledger.acknowledge(rig);
        if (!(await interruptInstall(rec, rig, ledger, feed, planInstall(installs), o))) break;
        await verify(rec, rig, ledger, o.log);
        o.log?.(`kill ${i + 1} (interrupted install): ${rec.violations.length} violations so far`);
        continue;
      }
      load.start();
      await sleep(prng.int(150, 1500));
      // The instant of the kill: what the API has returned so far is acknowledged and must survive.
      await ledger.acknowledge(rig);
      await sleep(prng.int(0, 150));
      rec.fault(load.inFlight ? `sigkill-during-${load.inFlight}` : 'sigkill');
      if (load.inFlight === 'bundle') rec.interruptedInstalls++;
      const back = await killAndRecover(rec, rig, o);
      await load.stop();
      if (!back) break;
      await verify(rec, rig, ledger, o.log);
      o.log?.(`kill ${i + 1}: back in ${rec.recoveries.at(-1)} ms, ${rec.violations.length} violations so far`);
    }
    rec.details.load = loadDetails(load, ledger);
  } finally {
    await load.stop();
    await rig.cleanup();
  }
}

function loadDetails(load: Load, ledger: Ledger): Record<string, unknown> {
  return {
    requests: load.sent,
    acknowledged: load.acked,
    bundle_installs: load.installs,
    evidence_exports: load.exports,
    events_acknowledged: ledger.events.size,
    journal_last_seq: ledger.maxSeq,
  };
}

/** Where an install can be stopped by the daemon's own fault hook (WAVEOS_FAULT): after each durable state. */
const INSTALL_POINTS = [
  'bundle.after:received',
  'bundle.after:verified',
  'bundle.during:staging',
  'bundle.after:staged',
  'bundle.after:activated',
  'bundle.after:trial',
  'bundle.after:committed',
  'bundle.after:rolled_back',
] as const;

interface BundleListDoc {
  active: { state: string } | null;
  history: { install_id: string; state: string; version?: string }[];
}

/**
 * One interrupted install: either the daemon's fault hook kills it right after a seeded state of the install
 * machine, or the rig SIGKILLs it at a seeded instant while `waveos bundle install` waits. Right after the kill
 * the slot is the old one or the new one, whole; after a restart the install settles (resumed to committed, or
 * rolled back if its payload is broken), and the journal says what happened.
 */
type InstallPlan = { point: string; broken: boolean } | { delayMs: number; broken: boolean };

/** A seeded plan: a fault point (half the time) or an instant, and a broken payload one time in seven. */
function planInstall(prng: Prng): InstallPlan {
  const broken = prng.chance(0.15);
  return prng.chance(0.5) ? { point: prng.pick(INSTALL_POINTS), broken } : { delayMs: prng.int(0, 2_500), broken };
}

async function interruptInstall(rec: Recorder, rig: Rig, ledger: Ledger, feed: BundleFeed, plan: InstallPlan, o: ScenarioOptions): Promise<boolean> {
  const group = `app/${HIL_APP}`;
  const { broken } = plan;
  const b = await feed.next(broken);
  const before = slotViolations(rig.root).versions[group];
  let outcome: number | undefined;
  if ('point' in plan) {
    const { point } = plan;
    rec.fault(`install-killed-${point.replace(/^bundle\./, '')}`);
    // The fault hook is armed at start: this restart is itself a kill.
    await rig.kill('SIGKILL');
    rec.kills++;
    const d = rig.spawnDaemon([], undefined, { WAVEOS_FAULT: point });
    await rig.waitReady(o.recoveryBoundMs * 2, d);
    outcome = (await rig.cli(['bundle', 'install', b.file], 60_000)).code;
    // A point this install never reaches (rolled_back of a good bundle): the rig kills it instead.
    await Promise.race([d.exit, sleep(5_000)]);
    if (!d.exited) await rig.kill('SIGKILL');
  } else {
    rec.fault('install-killed-at-random-instant');
    const pending = rig.cli(['bundle', 'install', b.file], 60_000);
    await sleep(plan.delayMs);
    await rig.kill('SIGKILL');
    outcome = (await pending).code;
  }
  rec.kills++;
  rec.interruptedInstalls++;
  if (outcome === 0) ledger.installCommitted(group, b.version);
  const atKill = slotViolations(rig.root);
  rec.expect('bundle-slots-whole-at-kill', atKill.violations.length === 0, atKill.violations.join('; '));
  const v = atKill.versions[group];
  rec.expect('bundle-old-or-new-at-kill', v === before || v === b.version, `${group} is on ${v ?? 'nothing'}: neither the old ${before ?? 'nothing'} nor the new ${b.version}`);

  const t0 = Date.now();
  try {
    rig.spawnDaemon();
    await rig.waitReady(o.recoveryBoundMs * 2);
  } catch (e) {
    rec.violation(`daemon-back: ${(e as Error).message}`);
    return false;
  }
  rec.recovered(Date.now() - t0);
  let list: BundleListDoc | undefined;
  for (const end = Date.now() + 60_000; Date.now() < end; await sleep(200)) {
    const r = await rig.cli(['bundle', 'list', '--json']);
    if (r.code !== 0) continue;
    const l = JSON.parse(r.stdout) as BundleListDoc;
    if (l.active === null) {
      list = l;
      break;
    }
  }
  rec.expect('interrupted-install-settles', list !== undefined, `the install of ${b.version} was still active 60 s after the restart`);
  const record = list?.history.find((h) => h.version === b.version);
  const after = slotViolations(rig.root).versions[group];
  if (!record) {
    // Killed before the daemon took it: nothing changed.
    rec.expect('unreceived-install-changes-nothing', after === before, `${b.version} was never received but ${group} went from ${before ?? 'nothing'} to ${after ?? 'nothing'}`);
  } else if (broken) {
    rec.expect('broken-install-rolled-back', record.state !== 'committed' && after !== b.version, `broken ${b.version} ended ${record.state}, ${group} is on ${after ?? 'nothing'}`);
  } else {
    rec.expect('received-install-completed', record.state === 'committed' && after === b.version, `${b.version} ended ${record.state}, ${group} is on ${after ?? 'nothing'}`);
  }
  return true;
}

/** Interrupted installs only: kills at every state of the install machine and at random instants. */
async function installInterrupt(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const prng = new Prng(o.seed);
  const rig = new Rig({ name: 'install-interrupt', seed: o.seed, services: loadServices(o.seed).slice(0, 1) });
  const ledger = new Ledger();
  const feed = new BundleFeed(rig);
  const deadline = Date.now() + o.durationMs;
  try {
    await rig.start();
    // A committed base version first, so every later install has an old version to fall back on.
    const base = await feed.next();
    const r = await rig.cli(['bundle', 'install', base.file], 60_000);
    rec.expect('base-install-committed', r.code === 0, r.stderr.slice(0, 200));
    if (r.code === 0) ledger.installCommitted(`app/${HIL_APP}`, base.version);
    for (let i = 0; i < o.count && Date.now() < deadline; i++) {
      // The first ones walk every point in order, so even a short run covers each state once.
      const point = INSTALL_POINTS[i];
      const plan = point ? { point, broken: point === 'bundle.after:rolled_back' } : planInstall(prng);
      await ledger.acknowledge(rig);
      if (!(await interruptInstall(rec, rig, ledger, feed, plan, o))) break;
      await verify(rec, rig, ledger, o.log);
      o.log?.(`interrupted install ${i + 1} (${'point' in plan ? plan.point : `at ${plan.delayMs} ms`}${plan.broken ? ', broken payload' : ''}): ${rec.violations.length} violations so far`);
    }
  } finally {
    await rig.cleanup();
  }
}

/** Crash loops, a hang, a leak and a flood at once; then a daemon kill in the middle of it. */
async function serviceFaults(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const hb = '{root}/run/waveos/hb/hang';
  const services = [
    example('healthy', 'healthy.mjs', ['--heartbeat', '{root}/run/waveos/hb/healthy', '--heartbeat-ms', '300']),
    example('crasher', 'crasher.mjs', ['--after-ms', '600', '--exit-code', '3']),
    example('hang', 'hang.mjs', ['--hang-after-s', '1.5', '--exact', '--heartbeat', hb, '--heartbeat-ms', '100'], {
      health: { kind: 'heartbeat', file: hb, max_age: '800ms', interval: '300ms', failures: 2, start_grace: '1s' },
    }),
    example('leaker', 'leaker.mjs', ['--seed', String(o.seed), '--kb-per-s', '8192', '--max-mb', '24']),
    example('flooder', 'flooder.mjs', ['--seed', String(o.seed), '--period-s', '0.5', '--burst-lines', '4000']),
  ];
  const rig = new Rig({ name: 'service-faults', seed: o.seed, services });
  const ledger = new Ledger();
  try {
    await rig.start();
    const end = Date.now() + Math.max(8_000, Math.min(o.durationMs, 60_000));
    const statusMs: number[] = [];
    while (Date.now() < end) {
      const t = Date.now();
      const r = await rig.api('GET', '/v1/status');
      statusMs.push(Date.now() - t);
      rec.expect('status-answers-under-faults', r.status === 200, `status answered ${r.status}`);
      await sleep(500);
    }
    await ledger.acknowledge(rig);
    const evs = (await rig.api('GET', '/v1/events?kind=service&limit=100000')).body as { events: { kind: string; ts: string; data: Record<string, unknown> }[] };
    const of = (kind: string, svc: string): { ts: string; data: Record<string, unknown> }[] => evs.events.filter((e) => e.kind === kind && e.data.service === svc);
    const crashes = of('service.exited', 'crasher').filter((e) => e.data.code === 3).length;
    const hangs = of('service.unhealthy', 'hang').length;
    const leaks = of('service.exited', 'leaker').filter((e) => e.data.code === 137).length;
    for (let i = 0; i < crashes; i++) rec.fault('service-crash');
    for (let i = 0; i < hangs; i++) rec.fault('service-hang');
    for (let i = 0; i < leaks; i++) rec.fault('service-leak');
    rec.fault('service-flood');
    rec.expect('crash-loop-restarted', crashes >= 2 && of('service.started', 'crasher').length > crashes - 1, `${crashes} crashes, ${of('service.started', 'crasher').length} starts of crasher`);
    rec.expect('hang-detected-and-restarted', hangs >= 1 && of('service.started', 'hang').length >= 2, `${hangs} unhealthy events, ${of('service.started', 'hang').length} starts of hang`);
    rec.expect('leak-restarted', leaks >= 1 && of('service.started', 'leaker').length >= 2, `${leaks} exits with 137, ${of('service.started', 'leaker').length} starts of leaker`);
    // Service recovery time: from an exit to the next start of the same service.
    for (const svc of ['crasher', 'leaker', 'hang']) {
      const exits = of('service.exited', svc);
      const starts = of('service.started', svc);
      for (const x of exits) {
        const next = starts.find((s) => s.ts > x.ts);
        if (next) rec.recovered(Date.parse(next.ts) - Date.parse(x.ts));
      }
    }
    const spool = join(rig.root, 'var/log/waveos/spool/flooder');
    const spooled = existsSync(spool) ? readdirSync(spool).reduce((n, f) => n + statSync(join(spool, f)).size, 0) : 0;
    rec.expect('flood-spooled', spooled > 0, `the flooder's spool ${spool} holds ${spooled} bytes`);
    const rss = rssOf(rig.daemon?.pid ?? 0);
    rec.expect('daemon-rss-bounded', rss < 400 * 1024 * 1024, `daemon RSS ${Math.round(rss / 1048576)} MiB under a flood`);
    rec.details.services = { crashes, hangs, leaks, flooder_spool_bytes: spooled, daemon_rss_mib: Math.round(rss / 1048576), status_ms_max: Math.max(...statusMs) };
    await verify(rec, rig, ledger);
    // And the daemon dies in the middle of all that.
    rec.fault('sigkill');
    if (await killAndRecover(rec, rig, o)) await verify(rec, rig, ledger);
  } finally {
    await rig.cleanup();
  }
}

function rssOf(pid: number): number {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function fdsOf(pid: number): number {
  try {
    return readdirSync(`/proc/${pid}/fd`).length;
  } catch {
    return 0;
  }
}

/** The bytes of everything the daemon keeps, to prove that a refused start changed nothing. */
function stateFingerprint(root: string): string {
  const h = createHash('sha256');
  const lib = join(root, 'var/lib/waveos');
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true }).sort((a, b) => a.name.localeCompare(b.name))) {
      const p = join(d, n.name);
      if (n.isDirectory()) walk(p);
      else if (n.isFile()) h.update(p).update(readFileSync(p));
      else if (n.isSymbolicLink()) h.update(p);
    }
  };
  walk(lib);
  return h.digest('hex');
}

/** Broken configs the start must refuse: a seeded mix of hand-made kinds and byte-level mutations. */
function brokenConfigs(good: string, prng: Prng, n: number): { kind: string; text: string }[] {
  const doc = JSON.parse(good) as Record<string, unknown>;
  const fixed: { kind: string; text: string }[] = [
    { kind: 'not-yaml', text: 'schema_version: 2\nservices: [\n  {name: x\n' },
    { kind: 'wrong-type', text: JSON.stringify({ ...doc, artifacts: { flush_interval: 5 } }) },
    { kind: 'unknown-key', text: JSON.stringify({ ...doc, hil_unknown_key: true }) },
    { kind: 'bad-duration', text: JSON.stringify({ ...doc, recovery: { backoff_initial: '-3 fortnights' } }) },
    { kind: 'duplicate-service', text: JSON.stringify({ ...doc, services: [...((doc.services as unknown[]) ?? []), ...((doc.services as unknown[]) ?? []).slice(0, 1)] }) },
    { kind: 'binary', text: Buffer.from(Array.from({ length: 64 }, () => prng.int(0, 255))).toString('latin1') },
    { kind: 'empty', text: '' },
  ];
  const out: { kind: string; text: string }[] = [];
  for (let i = 0; i < n; i++) {
    if (i < fixed.length) {
      out.push(fixed[i] as { kind: string; text: string });
      continue;
    }
    // Generated: truncate at a seeded point, or overwrite a few bytes.
    const seed = prng.int(0, 2 ** 30);
    const [mut] = fc.sample(
      fc.oneof(
        fc.nat({ max: good.length - 1 }).map((at) => ({ kind: 'truncated', text: good.slice(0, at) })),
        fc.tuple(fc.nat({ max: good.length - 1 }), fc.string({ minLength: 1, maxLength: 4 })).map(([at, s]) => ({ kind: 'overwritten', text: good.slice(0, at) + s + good.slice(at + s.length) })),
      ),
      { seed, numRuns: 1 },
    );
    if (mut) out.push(mut);
  }
  return out;
}

/** Malformed API requests against the real socket (fast-check), then broken and missing configs at start. */
async function badInputs(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const prng = new Prng(o.seed);
  const rig = new Rig({ name: 'bad-inputs', seed: o.seed });
  const ledger = new Ledger();
  try {
    await rig.start();
    const pid = rig.daemon?.pid;
    const api = await apiFuzz(rec, rig, o.seed, Math.max(40, Math.min(o.count * 20, 2_000)));
    rec.details.api_fuzz = api;
    const st = await rig.api('GET', '/v1/status');
    rec.expect('daemon-up-after-fuzz', st.status === 200 && (st.body as { pid?: number }).pid === pid, `status ${st.status}, pid ${(st.body as { pid?: number }).pid} (was ${pid})`);
    await ledger.acknowledge(rig);
    await verify(rec, rig, ledger);

    // The daemon is down (killed, as a crash would leave it); each bad start must refuse with exit 2 and change nothing.
    await rig.kill('SIGKILL');
    const good = readFileSync(rig.configFile, 'utf8');
    let before = stateFingerprint(rig.root);
    const refuse = async (kind: string, args: string[], expectCode: number | 'validate'): Promise<void> => {
      rec.fault(kind);
      const d = rig.spawnDaemon(args);
      const exit = await Promise.race([d.exit, sleep(30_000).then(() => undefined)]);
      if (exit === undefined) {
        if (expectCode === 0) {
          rec.expect('valid-config-starts', true, '');
          await rig.kill('SIGTERM');
          // A start that was allowed writes a run: compare the next refusals with that.
          before = stateFingerprint(rig.root);
          return;
        }
        rec.violation(`bad-config-refused: ${kind}: the daemon started instead of refusing`);
        await rig.kill('SIGKILL');
        return;
      }
      rec.expect('bad-config-refused', exit.code === expectCode, `${kind}: exit ${exit.code ?? exit.signal}, expected ${expectCode}: ${rig.logTail(2)}`);
      rec.expect('state-unchanged-after-refusal', stateFingerprint(rig.root) === before, `${kind}: the journal or artifacts changed`);
    };
    await refuse('config-missing', ['--config', join(rig.root, 'etc/waveos/nope.yaml')], 2);
    for (const b of brokenConfigs(good, prng, Math.max(4, Math.min(o.count, 40)))) {
      writeFileSync(rig.configFile, b.text);
      // The oracle: what `config validate` says. A mutation that is still a valid config must start instead.
      const v = await rig.cli(['config', 'validate', rig.configFile]);
      await refuse(`config-${b.kind}`, [], v.code === 0 ? 0 : 2);
    }
    writeFileSync(rig.configFile, good);
    // A secret that cannot be read also stops the start, before anything is written.
    rec.fault('secret-missing');
    const noSecret = rig.spawnDaemonWithEnv({ WAVEOS_HIL_CANARY: undefined });
    const ns = await Promise.race([noSecret.exit, sleep(30_000).then(() => undefined)]);
    rec.expect('missing-secret-refused', ns?.code === 2, `exit ${ns?.code ?? 'none (started)'}`);
    if (!ns) await rig.kill('SIGKILL');
    rec.expect('state-unchanged-after-refusal', stateFingerprint(rig.root) === before, 'missing secret: the journal or artifacts changed');

    await policyCorruption(rec, rig);

    const t0 = Date.now();
    await rig.start();
    rec.recovered(Date.now() - t0);
    await verify(rec, rig, ledger);

    // A damaged and then a missing journal: the device must come back, say so, and keep the damaged file.
    await journalDamage(rec, rig, prng, o);
  } finally {
    await rig.cleanup();
  }
}

/**
 * The journal's header overwritten (what a bad flash page or a torn write below the filesystem does), then the
 * journal deleted. Each time the daemon must start, record `journal.quarantined` / `journal.missing`, keep the
 * damaged file byte for byte beside the new one, leave the older runs' artifacts as they were, and pass every
 * invariant from then on (a new ledger: what was acknowledged lives in the moved-aside file and the artifacts).
 */
async function journalDamage(rec: Recorder, rig: Rig, prng: Prng, o: ScenarioOptions): Promise<void> {
  const dbDir = join(rig.root, 'var/lib/waveos');
  const artifactsDir = join(dbDir, 'artifacts');
  const runsBefore = (): string => readdirSync(artifactsDir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort().map((r) => {
    const f = join(artifactsDir, r, 'events.jsonl');
    return existsSync(f) ? `${r}:${createHash('sha256').update(readFileSync(f)).digest('hex')}` : r;
  }).join(',');
  for (const kind of ['journal-corrupted', 'journal-missing'] as const) {
    // A clean stop first: the WAL is checkpointed into the file, so the damage is not masked by newer pages.
    await rig.kill(kind === 'journal-corrupted' ? 'SIGTERM' : 'SIGKILL');
    const artifacts = runsBefore();
    let damaged: string | undefined;
    if (kind === 'journal-corrupted') {
      const buf = readFileSync(rig.db);
      for (let i = 0; i < 100; i++) buf[i] = prng.int(0, 255);
      writeFileSync(rig.db, buf);
      damaged = createHash('sha256').update(buf).digest('hex');
    } else {
      for (const f of readdirSync(dbDir)) if (f === 'waveos.db' || f === 'waveos.db-wal' || f === 'waveos.db-shm') unlinkSync(join(dbDir, f));
    }
    rec.fault(kind);
    const t0 = Date.now();
    try {
      await rig.start([], o.recoveryBoundMs * 2);
    } catch (e) {
      rec.violation(`${kind}: the daemon did not come back: ${(e as Error).message}`);
      return;
    }
    rec.recovered(Date.now() - t0);
    const evs = (await rig.api('GET', '/v1/events?kind=journal&limit=100')).body as { events: { kind: string; data: { files?: string[] } }[] };
    const want = kind === 'journal-corrupted' ? 'journal.quarantined' : 'journal.missing';
    const ev = evs.events.find((e) => isKind(e, want));
    rec.expect(`${kind}-recorded`, ev !== undefined, `no ${want} event in the new journal`);
    if (damaged !== undefined) {
      const moved = ev?.data.files?.[0];
      const same = moved !== undefined && existsSync(moved) && createHash('sha256').update(readFileSync(moved)).digest('hex') === damaged;
      rec.expect('damaged-journal-kept', same, `the damaged journal is not kept byte for byte (moved to ${moved ?? 'nowhere'})`);
    }
    // The older runs' events.jsonl are untouched (the new run's folder is the only new one).
    const now = runsBefore().split(',');
    const changed = artifacts.split(',').filter((r) => !now.includes(r));
    rec.expect('older-artifacts-untouched', changed.length === 0, `artifact runs changed: ${changed.join(', ')}`);
    const fresh = new Ledger();
    await fresh.acknowledge(rig);
    await verify(rec, rig, fresh);
  }
}

/** A corrupted policy file, if this build has the policy module; otherwise said so in the report. */
async function policyCorruption(rec: Recorder, rig: Rig): Promise<void> {
  const help = await rig.cli(['help']);
  if (!/waveos policy/.test(help.stdout)) {
    rec.notes.push('corrupted policy file: NOT AVAILABLE (no policy module in this build)');
    return;
  }
  rec.fault('policy-corrupted');
  const file = join(rig.root, 'etc/waveos/policies.d/hil-broken.yaml');
  writeFileSync(file, 'rules: [ {name: broken, when: "cpu >" \n');
  const v = await rig.cli(['policy', 'validate', file]);
  rec.expect('bad-policy-refused', v.code === 2, `policy validate exited ${v.code}`);
  const d = rig.spawnDaemon();
  try {
    await rig.waitReady(60_000, d);
    rec.expect('daemon-runs-with-bad-policy-file', true, '');
  } catch (e) {
    rec.expect('daemon-runs-with-bad-policy-file', false, (e as Error).message);
  }
  await rig.kill('SIGKILL');
  unlinkSync(file);
}

/** fast-check requests over the real socket: no answer in the 5xx range, and the daemon stays up. */
async function apiFuzz(rec: Recorder, rig: Rig, seed: number, runs: number): Promise<Record<string, unknown>> {
  const paths = ['/v1/status', '/v1/events', '/v1/services', '/v1/services/action', '/v1/mode', '/v1/tokens', '/v1/routes', '/v1/metrics', '/', '/v1/../etc/passwd', '/v1/%ff'];
  const statuses: Record<string, number> = {};
  const bad: string[] = [];
  const json = fc.jsonValue({ maxDepth: 3 });
  const arb = fc.record({
    method: fc.constantFrom('GET', 'POST', 'PUT', 'DELETE', 'PATCH', 'OPTIONS'),
    path: fc.oneof(fc.constantFrom(...paths), fc.webPath()),
    query: fc.oneof(
      fc.constant(''),
      fc.dictionary(fc.constantFrom('since', 'after_seq', 'kind', 'limit', 'follow', 'x'), fc.oneof(fc.string(), fc.integer().map(String), fc.constant('-1'), fc.constant('1e309'))).map((d) => `?${new URLSearchParams(d)}`),
    ),
    body: fc.option(
      fc.oneof(
        json.map((v) => JSON.stringify(v)),
        fc.string({ maxLength: 200 }),
        fc.record({ action: fc.string(), name: fc.string({ maxLength: 100 }), reason: fc.string() }).map((v) => JSON.stringify(v)),
        fc.record({ mode: fc.string({ maxLength: 40 }), reason: fc.string() }).map((v) => JSON.stringify(v)),
      ),
      { nil: undefined },
    ),
    auth: fc.option(fc.oneof(fc.string({ maxLength: 80 }), fc.constant('Bearer '), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'), minLength: 64, maxLength: 64 }).map((h) => `Bearer ${h}`)), { nil: undefined }),
  });
  const samples = fc.sample(arb, { seed, numRuns: runs });
  for (const s of samples) {
    // A follow stream would stay open by design; everything else must answer.
    const query = s.query.includes('follow=1') ? s.query.replace('follow=1', 'follow=0') : s.query;
    const headers: Record<string, string> = { 'content-type': 'application/json' };
    if (s.auth !== undefined) headers.authorization = s.auth.replace(/[^\x20-\x7e]/g, '');
    // A request that would really change the world (a valid action) is allowed, but not to a mode that stops everything.
    let status: number;
    try {
      const r = await rig.api(s.method, `${s.path}${query}`, s.body, headers, 10_000);
      status = r.status;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? '';
      if (code === 'EPIPE' || code === 'ECONNRESET') {
        // The server's HTTP parser refused the request and closed the connection: a refusal, not a failure,
        // as long as the daemon still answers (checked right after the fuzz).
        status = 0;
      } else if (code.startsWith('ERR_')) {
        // The client would not even send it (an invalid character in the path or a header).
        status = -2;
      } else {
        status = -1;
        bad.push(`${s.method} ${s.path}${query}: no answer (${(e as Error).message})`);
      }
    }
    statuses[String(status)] = (statuses[String(status)] ?? 0) + 1;
    if (status >= 500) bad.push(`${s.method} ${s.path}${query} body ${String(s.body).slice(0, 60)}: ${status}`);
  }
  rec.fault('api-fuzz');
  rec.expect('api-no-5xx', bad.length === 0, `${bad.length} of ${samples.length} requests failed: ${bad.slice(0, 3).join('; ')}`);
  // Raw garbage on the socket: the HTTP parser must refuse it without taking the daemon down.
  const prng = new Prng(seed);
  for (let i = 0; i < 5; i++) {
    const garbage = Buffer.from(Array.from({ length: prng.int(1, 400) }, () => prng.int(0, 255)));
    await new Promise<void>((res) => {
      const c = createConnection(rig.socket, () => c.end(garbage));
      c.on('data', () => {});
      c.on('close', () => res());
      c.on('error', () => res());
      setTimeout(() => {
        c.destroy();
        res();
      }, 3_000);
    });
  }
  rec.fault('api-garbage-bytes');
  return { requests: samples.length, statuses, failures: bad.slice(0, 10) };
}

/** Runs a scenario under strace and audits every commit and every acknowledgement for the fsyncs it needs. */
async function fsyncAudit(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const prng = new Prng(o.seed);
  // Few services: each one is traced too (strace -f), which makes every start slow.
  const rig = new Rig({ name: 'fsync-audit', seed: o.seed, services: loadServices(o.seed).slice(0, 2) });
  const ledger = new Ledger();
  const trace = join(rig.base, 'strace.log');
  await aptInstall(['strace'], () => existsSync('/usr/bin/strace') || existsSync('/bin/strace'));
  try {
    await rig.start([], 120_000, trace);
    const load = new Load(rig, ledger, prng.fork(1), names(rig.services));
    load.start();
    await sleep(Math.max(4_000, Math.min(o.durationMs, 30_000)));
    await load.stop();
    const tok = await rig.cli(['token', 'create', 'hil-audit', '--role', 'viewer']);
    rec.expect('token-created', tok.code === 0, tok.stderr.slice(0, 200));
    await ledger.acknowledge(rig);
    rec.fault('sigterm-under-strace');
    await rig.kill('SIGTERM');
    // A second traced run starts after that clean stop (so the marker's removal is audited too), then is killed.
    const trace2 = join(rig.base, 'strace-2.log');
    await rig.start([], 120_000, trace2);
    await rig.cli(['mode', 'set', 'degraded', '--reason', 'fsync audit, second run']).then((r) => r.code === 0 && (ledger.lastModeSet = 'degraded'));
    await rig.cli(['mode', 'set', 'normal', '--reason', 'fsync audit, second run']).then((r) => r.code === 0 && (ledger.lastModeSet = 'normal'));
    await ledger.acknowledge(rig);
    rec.fault('sigkill-under-strace');
    await rig.kill('SIGKILL');
    const a1 = auditFile(trace, rig.root);
    const a2 = auditFile(trace2, rig.root);
    const a = {
      calls: a1.calls + a2.calls,
      daemonCalls: a1.daemonCalls + a2.daemonCalls,
      renames: [...a1.renames, ...a2.renames],
      unlinks: [...a1.unlinks, ...a2.unlinks],
      acks: [...a1.acks, ...a2.acks],
      walWrites: a1.walWrites + a2.walWrites,
      walFsyncs: a1.walFsyncs + a2.walFsyncs,
      checked: [...a1.checked, ...a2.checked],
      violations: [...a1.violations, ...a2.violations],
    };
    rec.checked(a.checked.map((c) => `fsync-audit: ${c.replace(/\/var\/lib\/waveos\/artifacts\/[^/]+\//, '/var/lib/waveos/artifacts/RUN/')}`));
    for (const v of a.violations) rec.violation(`fsync-audit: ${v}`);
    const targets = [...new Set(a.renames.filter((r) => r.checked).map((r) => r.target.replace(/artifacts\/[^/]+\//, 'artifacts/RUN/')))];
    rec.expect('fsync-audit-saw-commits', ['run_meta.json', 'clean-stop.json', 'waveos.pid', 'tokens.json', 'latest'].every((t) => targets.some((x) => x.endsWith(t))), `renamed into place: ${targets.join(', ')}`);
    rec.expect('fsync-audit-saw-marker-removal', a.unlinks.length >= 1, `${a.unlinks.length} removals of the clean-stop marker traced`);
    rec.expect('fsync-audit-saw-acks', a.acks.length >= 3, `${a.acks.length} acknowledged actions in the trace`);
    rec.details.fsync_audit = {
      syscalls_traced: a.calls,
      daemon_syscalls: a.daemonCalls,
      commit_renames: a.renames.filter((r) => r.checked).length,
      other_renames: a.renames.filter((r) => !r.checked).map((r) => r.target),
      targets,
      durable_unlinks: a.unlinks,
      acknowledged_actions: a.acks.length,
      wal_writes: a.walWrites,
      wal_fsyncs: a.walFsyncs,
      load_requests: load.sent,
    };
    // And the root it left is sound.
    rig.spawnDaemon();
    await rig.waitReady(o.recoveryBoundMs * 2);
    await verify(rec, rig, ledger);
  } finally {
    await rig.cleanup();
  }
}

/** Samples the daemon's RSS, heap, fds and event-loop lag under mixed load and reports their slopes. */
async function soak(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const prng = new Prng(o.seed);
  const rig = new Rig({ name: 'soak', seed: o.seed, services: [...loadServices(o.seed), example('leaker', 'leaker.mjs', ['--kb-per-s', '2048', '--max-mb', '32'])] });
  const doc = rig.configDoc();
  if (o.heapKeeper !== undefined) doc.recovery = { ...(doc.recovery as Record<string, unknown>), heap_keeper: { enabled: o.heapKeeper } };
  if (o.daemonLogLevel) doc.log = { level: o.daemonLogLevel };
  rig.writeConfig(doc);
  const ledger = new Ledger();
  const load = new Load(rig, ledger, prng.fork(1), ['healthy', 'flooder', 'crasher']);
  const every = o.durationMs >= 600_000 ? 10_000 : 1_000;
  const series: Record<'rss_mib' | 'heap_mib' | 'fds' | 'loop_lag_p99_ms' | 'heap_gc_forced', [number, number][]> = { rss_mib: [], heap_mib: [], fds: [], loop_lag_p99_ms: [], heap_gc_forced: [] };
  try {
    await rig.start();
    load.start();
    const t0 = Date.now();
    const pid = rig.daemon?.pid ?? 0;
    while (Date.now() - t0 < o.durationMs) {
      await sleep(every);
      const h = (Date.now() - t0) / 3_600_000;
      series.rss_mib.push([h, rssOf(pid) / 1048576]);
      series.fds.push([h, fdsOf(pid)]);
      const m = await rig.cli(['metrics', '--json']);
      if (m.code === 0) {
        const list = (JSON.parse(m.stdout) as { metrics: { name: string; value: number; labels: Record<string, string> }[] }).metrics;
        const heap = list.find((x) => x.name === 'daemon_heap_used_bytes');
        const lag = list.find((x) => x.name === 'daemon_event_loop_lag_seconds' && x.labels.quantile === '0.99');
        if (heap) series.heap_mib.push([h, heap.value / 1048576]);
        if (lag) series.loop_lag_p99_ms.push([h, lag.value * 1000]);
        const forced = list.find((x) => x.name === 'daemon_heap_gc_forced_total');
        if (forced) series.heap_gc_forced.push([h, forced.value]);
      }
      o.log?.(`soak ${Math.round((Date.now() - t0) / 1000)} s: rss ${series.rss_mib.at(-1)?.[1].toFixed(1)} MiB, fds ${series.fds.at(-1)?.[1]}`);
    }
    await load.stop();
    rec.fault('soak-load');
    // With log.level debug, each forced GC's line (docs/footprint.md, "Heap keeper"), before the rig's folder goes.
    if (o.daemonLogLevel === 'debug' && existsSync(rig.logFile)) {
      const lines = readFileSync(rig.logFile, 'utf8').split('\n').filter((l) => l.includes('heap keeper: forced GC'));
      rec.details.soak_heap_keeper = lines.slice(-500).map((l) => {
        try {
          return JSON.parse(l) as unknown;
        } catch {
          return l;
        }
      });
    }
    const summary: Record<string, unknown> = {};
    for (const [k, pts] of Object.entries(series)) {
      const ys = pts.map((p) => p[1]);
      summary[k] = {
        samples: pts.length,
        first: ys[0] ?? null,
        last: ys.at(-1) ?? null,
        max: ys.length ? Math.max(...ys) : null,
        slope_per_hour: round(slope(pts)),
      };
    }
    rec.details.soak = { sample_every_ms: every, load_requests: load.sent, ...summary };
    rec.details.soak_series = series;
    rec.expect('soak-sampled', series.rss_mib.length >= 3 && series.heap_mib.length >= 3, `${series.rss_mib.length} RSS and ${series.heap_mib.length} heap samples`);
    await ledger.acknowledge(rig);
    await verify(rec, rig, ledger);
  } finally {
    await load.stop();
    await rig.cleanup();
  }
}

function round(v: number | null): number | null {
  return v === null ? null : Math.round(v * 1000) / 1000;
}

/** A seeded mix: daemon kills, service kills, API fuzz bursts and bad-config restarts, invariants after each. */
async function mixed(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const prng = new Prng(o.seed);
  const rig = new Rig({ name: 'mixed', seed: o.seed });
  const ledger = new Ledger();
  const feed = new BundleFeed(rig);
  const load = new Load(rig, ledger, prng.fork(1), names(rig.services), undefined, { bundles: feed, evidence: true });
  const deadline = Date.now() + o.durationMs;
  try {
    await rig.start();
    for (let i = 0; i < o.count && Date.now() < deadline; i++) {
      load.start();
      await sleep(prng.int(200, 1200));
      const kind = prng.pick(['sigkill', 'sigkill', 'sigkill', 'sigkill', 'install', 'install', 'service-sigkill', 'api-fuzz', 'bad-config-restart'] as const);
      if (kind === 'install') await load.stop();
      await ledger.acknowledge(rig);
      if (kind === 'install') {
        if (!(await interruptInstall(rec, rig, ledger, feed, planInstall(prng), o))) break;
      } else if (kind === 'sigkill') {
        rec.fault(load.inFlight ? `sigkill-during-${load.inFlight}` : 'sigkill');
        if (load.inFlight === 'bundle') rec.interruptedInstalls++;
        if (!(await killAndRecover(rec, rig, o))) break;
      } else if (kind === 'service-sigkill') {
        const victims = rig.marked().filter((p) => p.service !== undefined);
        const v = victims.length ? prng.pick(victims) : undefined;
        rec.fault('service-sigkill');
        if (v) process.kill(v.pid, 'SIGKILL');
        await sleep(1_500);
      } else if (kind === 'api-fuzz') {
        await load.stop();
        await apiFuzz(rec, rig, prng.int(0, 2 ** 30), 30);
      } else {
        await load.stop();
        rec.fault('bad-config-restart');
        const good = readFileSync(rig.configFile, 'utf8');
        await rig.kill('SIGKILL');
        rec.kills++;
        writeFileSync(rig.configFile, good.slice(0, prng.int(1, good.length - 2)));
        const v = await rig.cli(['config', 'validate', rig.configFile]);
        const d = rig.spawnDaemon();
        const exit = await Promise.race([d.exit, sleep(20_000).then(() => undefined)]);
        if (v.code !== 0) rec.expect('bad-config-refused', exit?.code === 2, `exit ${exit?.code ?? 'none (started)'}`);
        if (!exit) await rig.kill('SIGKILL');
        writeFileSync(rig.configFile, good);
        const t0 = Date.now();
        rig.spawnDaemon();
        await rig.waitReady(o.recoveryBoundMs * 2);
        rec.recovered(Date.now() - t0);
      }
      await load.stop();
      await verify(rec, rig, ledger, o.log);
      o.log?.(`fault ${i + 1} (${kind}): ${rec.violations.length} violations so far`);
    }
    rec.details.load = loadDetails(load, ledger);
  } finally {
    await load.stop();
    await rig.cleanup();
  }
}

/**
 * The root on a small tmpfs that fills up under the flood. The daemon must keep answering reads, refuse what it
 * cannot record with WAVEOS_E_DISK_FULL, and once space is freed commit what waited and work again — whole.
 */
async function diskFull(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const rig = new Rig({ name: 'disk-full', seed: o.seed, tmpfsMiB: 48 });
  const ledger = new Ledger();
  const filler = join(rig.root, 'filler.bin');
  try {
    await rig.start();
    await sleep(1_000);
    await ledger.acknowledge(rig);
    // Fill all but a few KiB: the flood and the journal then hit ENOSPC.
    await runCommand('dd', ['if=/dev/zero', `of=${filler}`, 'bs=64k'], process.env, 60_000);
    rec.fault('disk-full');
    const end = Date.now() + Math.max(5_000, Math.min(o.durationMs, 30_000));
    let answered = 0;
    let asked = 0;
    let sawFull = false;
    while (Date.now() < end && !rig.daemon?.exited) {
      await sleep(500);
      asked++;
      try {
        const r = await rig.api('GET', '/v1/status', undefined, {}, 5_000);
        if (r.status === 200) answered++;
        if ((r.body as { journal?: { disk_full?: unknown } }).journal?.disk_full) sawFull = true;
      } catch {
        // counted as not answered
      }
    }
    const exited = rig.daemon?.exited ?? true;
    rec.expect('disk-full-daemon-keeps-running', !exited, `the daemon exited while the disk was full: ${rig.logTail(2)}`);
    rec.expect('disk-full-status-answers', answered === asked, `status answered ${answered} of ${asked} times while the disk was full`);
    rec.expect('disk-full-reported', sawFull, 'status never reported the journal as disk-full');
    // An action that must be durable is refused, and says why.
    const refused = exited ? undefined : await rig.cli(['mode', 'set', 'degraded', '--reason', 'hil disk full']);
    rec.expect('disk-full-action-refused-clearly', refused?.code === 1 && /WAVEOS_E_DISK_FULL/.test(refused.stderr), `mode set while full: exit ${refused?.code}: ${refused?.stderr.slice(0, 200)}`);
    unlinkSync(filler);
    const t0 = Date.now();
    let recoveredEvent = false;
    if (!exited) {
      // Freed: within a few seconds the journal commits what waited, with a record of when it began and ended.
      for (const stop = Date.now() + 15_000; Date.now() < stop && !recoveredEvent; await sleep(250)) {
        const r = await rig.api('GET', '/v1/events?kind=journal&limit=100', undefined, {}, 5_000).catch(() => undefined);
        const evs = (r?.body as { events?: { kind: string }[] } | undefined)?.events ?? [];
        recoveredEvent = evs.some((e) => isKind(e, 'journal.disk_full')) && evs.some((e) => isKind(e, 'journal.disk_full_recovered'));
      }
      rec.recovered(Date.now() - t0);
      rec.expect('disk-full-recovered', recoveredEvent, 'no journal.disk_full / journal.disk_full_recovered events 15 s after space was freed');
      const after = await rig.cli(['mode', 'set', 'normal', '--reason', 'hil disk freed', '--json']);
      rec.expect('disk-full-actions-work-again', after.code === 0, `mode set after freeing: exit ${after.code}: ${after.stderr.slice(0, 200)}`);
      if (after.code === 0) {
        ledger.intents.add((JSON.parse(after.stdout) as { intent_id: number }).intent_id);
        ledger.lastModeSet = 'normal';
      }
      await ledger.acknowledge(rig);
    }
    rec.details.disk_full = { status_answers_while_full: answered, status_asked_while_full: asked, daemon_exited_while_full: exited, recovered_ms: Date.now() - t0 };
    // And a kill afterwards leaves a root that starts whole.
    await rig.kill('SIGKILL');
    rig.spawnDaemon();
    await rig.waitReady(o.recoveryBoundMs * 2);
    await verify(rec, rig, ledger);
  } finally {
    await rig.cleanup();
  }
}

/** A free loopback TCP port (bound, then released) for the proxy to listen on. */
function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const srv = createNetServer();
    srv.on('error', rej);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => res(port));
    });
  });
}

/**
 * Starts the daemon with chaos on, as systemd's Restart=always would: a start whose own journal commit drew an
 * injected failure exits non-zero (it cannot record its start), and the next attempt goes on.
 */
async function startUnderChaos(rig: Rig, env: NodeJS.ProcessEnv, o: ScenarioOptions, seen: { failed_starts: number }): Promise<boolean> {
  for (let attempt = 0; attempt < 5; attempt++) {
    const d = rig.spawnDaemon([], undefined, env);
    try {
      await rig.waitReady(o.recoveryBoundMs * 2, d);
      return true;
    } catch {
      seen.failed_starts++;
      await rig.kill('SIGKILL');
    }
  }
  return false;
}

/** The rules the chaos scenario runs with: every point, errors and stalls, at rates that reach each path often. */
export function chaosSpec(seed: number): string {
  return [
    `seed=${seed}`,
    'journal.commit=0.01:EIO',
    'artifacts.write=0.2:EIO',
    'artifacts.write=0.1:40ms',
    'spool.write=0.05:ENOSPC',
    'spool.write=0.1:30ms',
    'evidence.write=0.5:EIO',
    'collector=0.15',
    'collector=0.02:3s',
    'uplink=0.4',
  ].join(';');
}

interface ProxyPost {
  status: number;
  key?: string;
}

function postReading(port: number, n: number): Promise<ProxyPost> {
  const body = JSON.stringify({ sensor: 'hil', value: n });
  return new Promise((res) => {
    const req = httpRequest(
      { host: '127.0.0.1', port, method: 'POST', path: '/v1/readings', headers: { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(body)) }, timeout: 10_000 },
      (r) => {
        let text = '';
        r.on('data', (c: Buffer) => (text += c.toString()));
        r.on('end', () => {
          let key: string | undefined;
          try {
            key = (JSON.parse(text) as { idempotency_key?: string }).idempotency_key;
          } catch {
            // not JSON: no key
          }
          res({ status: r.statusCode ?? 0, key });
        });
      },
    );
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', () => res({ status: -1 }));
    req.end(body);
  });
}

/**
 * The daemon's own failure injection (WAVEOS_CHAOS) at every point — journal commits, artifact, spool and evidence
 * writes (EIO, ENOSPC, stalls), collectors and the uplink — under the usual load plus proxy traffic to a local
 * upstream. A daemon that exits on a failed journal commit is started again at once, as systemd would. The
 * invariants run every few seconds and after each exit; at the end the daemon runs without chaos, and every
 * stated degradation must have been seen: failed collectors reported, a full spool reported, failed evidence
 * exports refused with an event and no partial pack left, every durable proxy request acknowledged before or
 * during the failures delivered upstream.
 */
async function chaosRun(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const prng = new Prng(o.seed);
  const received = new Set<string>();
  const upstream = createHttpServer((req, res) => {
    const key = req.headers['idempotency-key'];
    req.resume();
    req.on('end', () => {
      if (typeof key === 'string') received.add(key);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
    });
  });
  await new Promise<void>((r) => upstream.listen(0, '127.0.0.1', () => r()));
  const upstreamPort = (upstream.address() as AddressInfo).port;
  const proxyPort = await freePort();
  const rig = new Rig({
    name: 'chaos',
    seed: o.seed,
    config: {
      proxy: {
        enabled: true,
        listen: `127.0.0.1:${proxyPort}`,
        upstreams: { cloud: { url: `http://127.0.0.1:${upstreamPort}/api`, timeout: '2s', breaker: { failures: 5, open_for: '1s' }, retry: { base: '100ms', max: '1s' } } },
        routes: [{ name: 'readings', upstream: 'cloud', path: '/v1/readings', durable: true }],
      },
      evidence: { schedule: 'off' },
    },
  });
  const ledger = new Ledger();
  const load = new Load(rig, ledger, prng.fork(1), names(rig.services), undefined, { evidence: true });
  const chaosEnv = { WAVEOS_CHAOS: chaosSpec(o.seed) };
  const acked = new Set<string>();
  const injected: Record<string, number> = {};
  const perRun = new Map<string, Record<string, number>>();
  const seen = { collector_failed: 0, spool_full: 0, export_failed: 0, exits: 0, failed_starts: 0, checks_dropped: 0, proxy_posts: 0, proxy_status: {} as Record<string, number> };
  const end = Date.now() + Math.max(15_000, o.durationMs);
  const sample = async (): Promise<void> => {
    const r = await rig.api('GET', '/v1/status', undefined, {}, 5_000).catch(() => undefined);
    const b = r?.body as { run_id?: string; chaos?: { injected: Record<string, number> } } | undefined;
    if (b?.run_id && b.chaos) perRun.set(b.run_id, b.chaos.injected);
  };
  try {
    if (!(await startUnderChaos(rig, chaosEnv, o, seen))) throw new Error(`the daemon did not start under chaos: ${rig.logTail(2)}`);
    load.start();
    let nextCheck = Date.now() + 4_000;
    let n = 0;
    while (Date.now() < end && rec.faults < o.count) {
      if (rig.daemon?.exited) {
        // A failed background journal commit is fatal by design: the service manager starts the daemon again.
        seen.exits++;
        rec.fault('chaos-journal-commit-exit');
        const t0 = Date.now();
        const atExit = slotViolations(rig.root);
        rec.expect('bundle-slots-whole-at-kill', atExit.violations.length === 0, atExit.violations.join('; '));
        if (!(await startUnderChaos(rig, chaosEnv, o, seen))) {
          rec.violation(`daemon-back: the daemon did not start in 5 attempts under chaos: ${rig.logTail(2)}`);
          break;
        }
        rec.recovered(Date.now() - t0);
        continue;
      }
      // Counts live in the daemon: read them often, so a run that dies on an injected commit loses few.
      if (n % 5 === 0) await sample();
      const p = await postReading(proxyPort, n++);
      seen.proxy_posts++;
      seen.proxy_status[String(p.status)] = (seen.proxy_status[String(p.status)] ?? 0) + 1;
      if (p.status === 202 && p.key) acked.add(p.key);
      if (Date.now() >= nextCheck) {
        await sample();
        // The load pauses while the checks read: a mode set landing between reading status and reading the
        // journal would look like a mismatch that no device state ever had.
        await load.stop();
        try {
          await ledger.acknowledge(rig);
        } catch {
          // the daemon went down meanwhile: the loop restarts it
          load.start();
          continue;
        }
        rec.fault('chaos-window');
        // An export per window, so the evidence write path meets its failures even in a short run.
        const x = await rig.cli(['evidence', 'export', '--since', '1m', '--reason', 'hil chaos window', '--json'], 60_000);
        if (x.code === 0) ledger.packs.add((JSON.parse(x.stdout) as { file: string }).file);
        else rec.expect('chaos-export-refused-clearly', /WAVEOS_E_|failed/i.test(x.stderr), `evidence export exited ${x.code}: ${x.stderr.slice(0, 200)}`);
        // A daemon that exits on an injected commit failure in the middle of the checks fails them for that
        // reason alone: such a round is dropped and the next one, after the restart, checks it all again.
        const pid = rig.daemon?.pid;
        const r = await checkInvariants(rig, ledger);
        load.start();
        if (rig.daemon?.exited || rig.daemon?.pid !== pid) {
          seen.checks_dropped++;
          continue;
        }
        record(rec, r, o.log);
        o.log?.(`chaos ${Math.round((end - Date.now()) / 1000)} s left: ${seen.exits} exits, ${acked.size} proxy requests queued, ${rec.violations.length} violations so far`);
        nextCheck = Date.now() + prng.int(3_000, 6_000);
      }
      await sleep(prng.int(20, 120));
    }
    await sample();
    await load.stop();
    // Chaos off: the daemon must settle and deliver what it acknowledged.
    await rig.kill('SIGTERM');
    await rig.start();
    for (const counts of perRun.values()) for (const [k, v] of Object.entries(counts)) injected[k] = (injected[k] ?? 0) + v;
    for (const point of ['journal.commit', 'artifacts.write', 'spool.write', 'evidence.write', 'collector', 'uplink']) {
      const hits = Object.entries(injected).filter(([k]) => k.startsWith(`${point}:`)).reduce((a, [, v]) => a + v, 0);
      // journal.commit injections end the process before its counts can be read; its exits count instead.
      const reached = point === 'journal.commit' ? hits + seen.exits : hits;
      rec.expect('chaos-point-reached', reached > 0, `${point}: no failure was injected`);
    }
    const undelivered = (): string[] => [...acked].filter((k) => !received.has(k));
    let missing = undelivered();
    for (const stop = Date.now() + 30_000; missing.length > 0 && Date.now() < stop; missing = undelivered()) await sleep(250);
    rec.expect('acked-proxy-requests-delivered', missing.length === 0, `${missing.length} of ${acked.size} acknowledged durable requests never reached the upstream (e.g. ${missing.slice(0, 3).join(', ')})`);
    const evs = (await rig.api('GET', '/v1/events?limit=100000')).body as { events: { kind: string }[] };
    for (const e of evs.events) {
      if (isKind(e, 'telemetry.collector_failed')) seen.collector_failed++;
      if (isKind(e, 'spool.disk_full')) seen.spool_full++;
      if (isKind(e, 'evidence.export_failed')) seen.export_failed++;
    }
    rec.expect('chaos-collector-failures-reported', seen.collector_failed > 0, 'no telemetry.collector_failed event while collectors failed');
    rec.expect('chaos-spool-failures-reported', seen.spool_full > 0 || !injected['spool.write:ENOSPC'], 'spool writes failed with ENOSPC but no spool.disk_full event');
    rec.expect('chaos-export-failures-reported', seen.export_failed > 0 || !injected['evidence.write:EIO'], 'evidence exports failed but no evidence.export_failed event');
    const evidenceDir = join(rig.root, 'var/lib/waveos/evidence');
    const partial = existsSync(evidenceDir) ? readdirSync(evidenceDir).filter((f) => !f.endsWith('.tar.gz')) : [];
    rec.expect('chaos-no-partial-pack', partial.length === 0, `left in the pack folder: ${partial.join(', ')}`);
    await ledger.acknowledge(rig);
    await verify(rec, rig, ledger, o.log);
    rec.details.chaos = { spec: chaosSpec(o.seed), injected, ...seen, proxy_acked: acked.size, proxy_delivered: acked.size - missing.length, load: loadDetails(load, ledger) };
  } finally {
    await load.stop();
    await rig.cleanup();
    await new Promise((r) => upstream.close(r));
  }
}

/** libfaketime's preload library, installed from Debian's package when missing. */
async function faketimeLibrary(): Promise<string> {
  const find = (): string | undefined => {
    for (const dir of ['/usr/lib/x86_64-linux-gnu', '/usr/lib/aarch64-linux-gnu', '/usr/lib/arm-linux-gnueabihf', '/usr/lib']) {
      const f = join(dir, 'faketime/libfaketimeMT.so.1');
      if (existsSync(f)) return f;
    }
    return undefined;
  };
  await aptInstall(['libfaketime'], () => find() !== undefined);
  const lib = find();
  if (!lib) throw new Error('libfaketime is not installed and could not be installed (apt-get install libfaketime)');
  return lib;
}

function metricRows(db: string): number {
  const journal = JournalReader.openReadOnly(db);
  try {
    return journal.sampleCount();
  } finally {
    journal.close();
  }
}

/**
 * The board's wall clock jumps forward and back (NTP stepping it, an RTC-less board setting it late) while the
 * monotonic clock runs on: libfaketime, preloaded into the daemon and its services, moves their wall clock by
 * offsets the rig writes to a file. After each jump (and, some of the time, a SIGKILL so the next start meets the
 * moved clock) the daemon must record the jump, keep restarting crashed services and sampling telemetry, stamp
 * events with the clock it now has, and pass every invariant.
 */
async function clockJump(rec: Recorder, o: ScenarioOptions): Promise<void> {
  const lib = await faketimeLibrary();
  const prng = new Prng(o.seed);
  const rig = new Rig({ name: 'clock-jump', seed: o.seed });
  const rc = join(rig.base, 'faketime.rc');
  writeFileSync(rc, '+0\n');
  const env = { LD_PRELOAD: lib, FAKETIME_TIMESTAMP_FILE: rc, FAKETIME_CACHE_DURATION: '1', DONT_FAKE_MONOTONIC: '1' };
  const ledger = new Ledger();
  const load = new Load(rig, ledger, prng.fork(1), names(rig.services));
  const deadline = Date.now() + o.durationMs;
  let offsetS = 0;
  const jumps: { delta_s: number; recorded_ms: number | null; killed: boolean }[] = [];
  try {
    rig.spawnDaemon([], undefined, env);
    await rig.waitReady(o.recoveryBoundMs * 2);
    load.start();
    for (let i = 0; i < o.count && Date.now() < deadline; i++) {
      await sleep(prng.int(1_000, 3_000));
      const deltaS = prng.pick([3_600, -3_600, 86_400, -600, -7_200, 300, -86_400]);
      // Stay within two days of the real time, so the rig's own reading of the journal stays meaningful.
      offsetS = Math.max(-172_800, Math.min(172_800, offsetS + deltaS));
      await ledger.acknowledge(rig);
      const mark = ledger.maxSeq;
      const rowsBefore = metricRows(rig.db);
      const setClock = (): void => writeFileSync(rc, `${offsetS >= 0 ? '+' : ''}${offsetS}\n`);
      // Some jumps happen while the daemon is down (killed first): the next start meets the moved clock.
      const killed = prng.chance(0.4);
      let recordedMs: number | null = null;
      if (killed) {
        rec.fault(deltaS > 0 ? 'clock-jump-forward-while-down' : 'clock-jump-back-while-down');
        if (!(await killAndRecover(rec, rig, o, { env, whileDown: setClock }))) break;
        if (deltaS < 0) {
          const r = await rig.api('GET', `/v1/events?after_seq=${mark}&kind=clock.behind_journal&limit=10`);
          const n = ((r.body as { events?: unknown[] }).events ?? []).length;
          rec.expect('clock-behind-journal-recorded', n === 1, `a start ${-deltaS} s behind the journal's last event recorded ${n} clock.behind_journal events`);
        }
      } else {
        setClock();
        const jumpedAt = Date.now();
        rec.fault(deltaS > 0 ? 'clock-jump-forward' : 'clock-jump-back');
        // libfaketime rereads the file within a second; the main loop looks once a second.
        for (const stop = Date.now() + 10_000; Date.now() < stop && recordedMs === null; await sleep(200)) {
          const r = await rig.api('GET', `/v1/events?after_seq=${mark}&kind=clock.jumped&limit=10`, undefined, {}, 5_000).catch(() => undefined);
          const evs = (r?.body as { events?: { data: { delta_ms?: number } }[] } | undefined)?.events ?? [];
          if (evs.length > 0) {
            recordedMs = Date.now() - jumpedAt;
            const d = evs[0]?.data.delta_ms ?? 0;
            rec.expect('clock-jump-size-right', Math.abs(d - deltaS * 1000) < 3_000, `clock.jumped says ${d} ms for a ${deltaS} s jump`);
          }
        }
        rec.expect('clock-jump-recorded', recordedMs !== null, `no clock.jumped event within 10 s of a ${deltaS} s jump`);
      }
      jumps.push({ delta_s: deltaS, recorded_ms: recordedMs, killed });
      // Recovery goes on under the moved clock: a crashed service is started again, samples are taken.
      let restarted = false;
      for (const stop = Date.now() + 20_000; Date.now() < stop && !restarted; await sleep(300)) {
        const r = await rig.api('GET', `/v1/events?after_seq=${mark}&kind=service.started&limit=100`, undefined, {}, 5_000).catch(() => undefined);
        restarted = ((r?.body as { events?: { data: { service?: string } }[] } | undefined)?.events ?? []).some((e) => e.data.service === 'crasher');
      }
      rec.expect('restarts-continue-after-clock-jump', restarted, `crasher was not started again within 20 s of a ${deltaS} s jump`);
      // The history is written in batches: wait for the next one.
      let rowsAfter = metricRows(rig.db);
      for (const stop = Date.now() + 40_000; Date.now() < stop && rowsAfter <= rowsBefore; await sleep(500)) rowsAfter = metricRows(rig.db);
      rec.expect('telemetry-continues-after-clock-jump', rowsAfter > rowsBefore, `metric rows ${rowsBefore} → ${rowsAfter} after a ${deltaS} s jump`);
      const last = (await rig.api('GET', `/v1/events?after_seq=${Math.max(0, ledger.maxSeq)}&limit=100000`)).body as { events: { ts: string }[] };
      const ts = last.events.at(-1)?.ts;
      const skew = ts === undefined ? 0 : Math.abs(Date.parse(ts) - (Date.now() + offsetS * 1000));
      rec.expect('event-time-follows-clock', skew < 15_000, `the newest event is stamped ${ts}, ${Math.round(skew / 1000)} s from the board's clock`);
      await ledger.acknowledge(rig);
      await verify(rec, rig, ledger, o.log);
      o.log?.(`clock jump ${i + 1} (${deltaS > 0 ? '+' : ''}${deltaS} s, now ${offsetS} s off${killed ? ', then SIGKILL' : ''}): recorded in ${recordedMs ?? '-'} ms, ${rec.violations.length} violations so far`);
    }
    await load.stop();
    rec.details.clock_jump = { jumps, load: loadDetails(load, ledger) };
  } finally {
    await load.stop();
    await rig.cleanup();
  }
}
