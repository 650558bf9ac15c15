import { join } from 'node:path';
import { BundleFeed, slotViolations } from './bundles.js';
import { Ledger, type SpoolMark, checkInvariants, snapshotSpool, spoolViolations } from './invariants.js';
import { Load } from './load.js';
import { ensurePowercutFs, pathsOfInodes } from './powercut/powercut.js';
import { Prng, median } from './prng.js';
import type { Recorder } from './report.js';
import { Rig, sleep } from './rig.js';
import type { ScenarioOptions } from './scenario-options.js';

const SPOOL = 'var/log/waveos/spool';

/**
 * What the spooler promises under `fsync: interval` (the rig's dev profile: every 5 s, checked on its 1 s tick,
 * after a 200 ms flush): a line that was in `current.log` this long before a cut was fsynced before it. The
 * slack covers event-loop lag on a loaded 2-core machine.
 */
const SPOOL_SYNC_BOUND_MS = 5_000 + 1_000 + 200 + 1_800;

/** Spool marks read through the mount (so including unsynced bytes) once a second while the power is on. */
class SpoolSampler {
  private marks: { at: number; spool: Map<string, SpoolMark> }[] = [];
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly dir: string) {}

  start(): void {
    this.stop();
    this.marks = [];
    const take = (): void => {
      try {
        this.marks.push({ at: Date.now(), spool: snapshotSpool(this.dir) });
      } catch {
        // a file rotated away mid-read: the next second's mark will do
      }
    };
    take();
    this.timer = setInterval(take, 1_000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** The newest mark taken at or before `t`, with its age at `now`. */
  before(t: number, now: number): { ageMs: number; spool: Map<string, SpoolMark> } | undefined {
    const m = this.marks.filter((x) => x.at <= t).at(-1);
    return m ? { ageMs: now - m.at, spool: m.spool } : undefined;
  }
}

interface CutRecord {
  cut: number;
  after_ms: number;
  in_flight: string | null;
  dropped_bytes: number | null;
  dirty_files: number | null;
  recovery_ms: number | null;
  spool_promise_checked: boolean;
}

/**
 * Power cuts at seeded instants under the kill-storm load, with the root on powercut-fs: the daemon, its
 * services and every unsynced byte die together; `/run` comes back empty. After each restart every invariant
 * holds — what was acknowledged before the cut survives — with the spool compared to what was durable at the
 * cut (and, where a sample is old enough, to what the spooler's fsync interval promises).
 */
export async function powerCut(rec: Recorder, o: ScenarioOptions): Promise<void> {
  await ensurePowercutFs(o.log);
  const prng = new Prng(o.seed);
  const rig = new Rig({ name: 'power-cut', seed: o.seed, powerCut: true });
  const ledger = new Ledger();
  const cuts: CutRecord[] = [];
  const droppedByFile: Record<string, number> = {};
  let load: Load | undefined;
  const sampler = new SpoolSampler(join(rig.root, SPOOL));
  const deadline = Date.now() + o.durationMs;
  try {
    const feed = new BundleFeed(rig);
    // The trusted key and the config are provisioned before any power cut: durable, as a factory image is.
    rig.syncProvisioned();
    load = new Load(rig, ledger, prng.fork(1), rig.services.map((s) => s.name as string), undefined, { bundles: feed, evidence: true });
    await rig.start();
    for (let i = 0; i < o.count && Date.now() < deadline; i++) {
      load.start();
      sampler.start();
      // Longer than the kill storm's gaps, so some cuts land after a spool fsync interval has passed.
      const afterMs = prng.int(1_000, 14_000);
      await sleep(afterMs);
      await ledger.acknowledge(rig);
      await sleep(prng.int(0, 150));
      rec.fault('power-cut');
      const inFlight = load.inFlight ?? null;
      if (inFlight === 'bundle') rec.interruptedInstalls++;
      const t0 = Date.now();
      const promised = sampler.before(t0 - SPOOL_SYNC_BOUND_MS, t0);
      sampler.stop();
      let durable = new Map<string, SpoolMark>();
      const stats = await rig.powerCut((disk) => {
        // Everything is dead and the filesystem not yet cut: the backing dir holds exactly the durable bytes.
        durable = snapshotSpool(join(disk, SPOOL));
        if (promised) {
          const v = spoolViolations(join(disk, SPOOL), promised.spool);
          rec.expect('spool-synced-lines-kept', v.length === 0, `lines in current.log ${promised.ageMs} ms before the cut were not durable: ${v.join('; ')}`);
        }
        const slots = slotViolations(disk);
        rec.expect('bundle-slots-whole-at-cut', slots.violations.length === 0, `on the disk at the cut: ${slots.violations.join('; ')}`);
      });
      rec.kills++;
      // Which files held the dropped bytes (names generalized, so cuts add up per kind of file).
      const paths = pathsOfInodes(rig.disk, (stats?.dirty ?? []).map(([ino]) => ino));
      for (const [ino, bytes] of stats?.dirty ?? []) {
        const name = generalize(paths.get(ino) ?? '(unlinked or renamed away)');
        droppedByFile[name] = (droppedByFile[name] ?? 0) + bytes;
      }
      // The spool invariant compares with what was durable, not with what the rig read through the mount.
      ledger.spool = durable;
      let recovery: number | null = null;
      try {
        rig.spawnDaemon();
        await rig.waitReady(o.recoveryBoundMs * 2);
        recovery = Date.now() - t0;
        rec.recovered(recovery);
        rec.expect('recovery-within-bound', recovery <= o.recoveryBoundMs, `status answered ${recovery} ms after the cut (bound ${o.recoveryBoundMs} ms)`);
      } catch (e) {
        rec.violation(`daemon-back: ${(e as Error).message}`);
      }
      await load.stop();
      cuts.push({
        cut: i + 1,
        after_ms: afterMs,
        in_flight: inFlight,
        dropped_bytes: stats?.dirty_bytes ?? null,
        dirty_files: stats?.dirty_files ?? null,
        recovery_ms: recovery,
        spool_promise_checked: promised !== undefined,
      });
      if (recovery === null) break;
      const r = await checkInvariants(rig, ledger);
      rec.checked(r.checked);
      for (const v of r.violations) {
        rec.violation(v);
        o.log?.(`VIOLATION after fault ${rec.faults}: ${v}`);
      }
      o.log?.(`power cut ${i + 1} (${afterMs} ms into the load${inFlight ? `, during ${inFlight}` : ''}): ${stats?.dirty_bytes ?? '?'} unsynced bytes in ${stats?.dirty_files ?? '?'} files dropped, back in ${recovery} ms, ${rec.violations.length} violations so far`);
    }
  } finally {
    sampler.stop();
    await load?.stop();
    const totals = rig.fs?.totals() ?? {};
    const dropped = cuts.map((c) => c.dropped_bytes ?? 0);
    rec.details.power_cut = {
      cuts: cuts.length,
      bytes_dropped_total: dropped.reduce((a, b) => a + b, 0),
      bytes_dropped_median: median(dropped),
      fsyncs: (totals.fsyncs ?? 0) + (totals.fdatasyncs ?? 0),
      fsyncdirs: totals.fsyncdirs ?? 0,
      bytes_written: totals.bytes_written ?? 0,
      bytes_durable: totals.bytes_durable ?? 0,
      fs_totals: totals,
      dropped_bytes_by_file: Object.fromEntries(Object.entries(droppedByFile).sort((a, b) => b[1] - a[1])),
      per_cut: cuts,
      load: load && { requests: load.sent, acknowledged: load.acked, bundle_installs: load.installs, evidence_exports: load.exports, events_acknowledged: ledger.events.size, journal_last_seq: ledger.maxSeq },
    };
    await rig.cleanup();
  }
}

/** A path with its run ids, hashes and sequence numbers replaced, e.g. `var/lib/waveos/artifacts/RUN/events.jsonl`. */
function generalize(p: string): string {
  return p
    .replace(/artifacts\/[^/]+\//, 'artifacts/RUN/')
    .replace(/[0-9a-f]{12,}/g, 'ID')
    .replace(/\d{6,}/g, 'N');
}
