import { readdirSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { type Clock, type Lifecycle, type Logger, type Paths, WaveosError, errorMessage, isoUtc } from '../core/index.js';
import { EVIDENCE_INCIDENTS_KEY, EVIDENCE_PENDING_KEY, type IncidentMark, type Journal, type PendingIncident } from '../journal/index.js';
import { type CorruptChunkHandler, reportCorruptOnce } from '../telemetry/history-query.js';
import type { DeviceKey } from './device-key.js';
import { PACK_NAME_RE, type Trigger } from './manifest.js';
import { removeLeftovers } from './leftovers.js';
import type { BuiltPack, PackSource } from './pack-builder.js';
import { inSpan, spanAttributes } from '../tracing/index.js';

export interface EvidenceSettings {
  schedule: string | null;
  keep: number;
  max_bytes: number;
  incident_max: number;
  incident_per_ms: number;
  window_before_ms: number;
  window_after_ms: number;
  default_window_ms: number;
}

/** Runs `fn` on a cron expression; returns the handle to stop it. The daemon passes node-cron. */
export type Scheduler = (expression: string, fn: () => void) => { stop(): void };

export interface EvidenceDeps extends Omit<PackSource, 'journal' | 'key'> {
  journal: Journal;
  key: DeviceKey;
  clock: Clock;
  log: Logger;
  bootId: string;
  settings: EvidenceSettings;
  scheduler?: Scheduler;
}

export interface ExportRequest {
  /** Why, in words; it also names the file. */
  reason: string;
  /** Start of the window (ISO-8601 or epoch ms); defaults depend on the trigger. */
  since?: string | number;
  /** End of the window; an on-demand export clamps it to now. */
  until?: string | number;
  trigger?: Trigger;
  /** Who asked: `operator:NAME`, `policy:RULE`, `schedule`. */
  requestedBy?: string;
  /** The incident's facts (rule, metric, values): kept in the manifest and shown in the report. */
  incident?: Record<string, unknown>;
}

export interface PackSummary {
  ok: true;
  name: string;
  file: string;
  bytes: number;
  sha256: string;
  events: number;
  samples: number;
  window: { since: string; until: string };
  ms: number;
}

export type ExportOutcome = PackSummary | { ok: false; error: string };

/** What the policy engine's `export_evidence` action gets back at once; `done` settles when the pack is written (it never rejects). */
export type IncidentOutcome =
  | { status: 'scheduled' | 'coalesced'; due_at: string; window: { since: string; until: string }; done: Promise<ExportOutcome> }
  | { status: 'suppressed'; reason: string };

export interface PackListing {
  name: string;
  bytes: number;
  created_at: string;
}

const MAX_MERGED_INCIDENTS = 20;

function toMs(v: string | number | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const ms = typeof v === 'number' ? v : Date.parse(v);
  if (!Number.isFinite(ms)) throw new WaveosError('WAVEOS_E_BAD_REQUEST', `${what}: expected an ISO-8601 time or epoch milliseconds, got "${String(v)}"`);
  return ms;
}

/**
 * Evidence packs on demand, on schedule and on incident. Exports run one at a time; incident exports wait
 * for the window after the trigger, merge while they wait (a storm makes one pack) and are rate limited.
 * A pending incident export is kept in the journal's state, so a restart finishes it.
 */
export class EvidenceService implements Lifecycle {
  readonly name = 'evidence';
  private queue: Promise<unknown> = Promise.resolve();
  private cron: { stop(): void } | undefined;
  private pendingTimer: NodeJS.Timeout | undefined;
  private pendingDone: { promise: Promise<ExportOutcome>; resolve: (o: ExportOutcome) => void } | undefined;
  private lastScheduledUntil: number | undefined;
  private stopped = false;
  private readonly flushers = new Set<() => void>();

  /** A corrupt metric chunk met while packing is recorded once (telemetry.chunk_corrupt) and left out. */
  private readonly onCorruptChunk: CorruptChunkHandler;

  constructor(private readonly deps: EvidenceDeps) {
    this.onCorruptChunk = reportCorruptOnce((e) => deps.journal.append(e));
  }

  /**
   * Registers what must be written out before each pack reads the journal (telemetry's sample buffer, up to a
   * flush interval of samples in memory), so a pack holds every sample taken up to its request. Returns the
   * handle that removes it.
   */
  flushBeforeEachPack(fn: () => void): () => void {
    this.flushers.add(fn);
    return () => this.flushers.delete(fn);
  }

  private flushBuffered(): void {
    this.deps.flushBuffered?.();
    for (const fn of this.flushers) {
      try {
        fn();
      } catch (e) {
        // The pack is still made from what the journal holds; the log says what is missing from it.
        this.deps.log.warn({ err: errorMessage(e) }, 'could not write buffered samples out before an evidence export');
      }
    }
  }

  get publicKey(): string {
    return this.deps.key.publicKeyB64;
  }

  get keyId(): string {
    return this.deps.key.keyId;
  }

  start(): void {
    const removed = removeLeftovers(this.deps.paths);
    if (removed.length > 0) {
      this.deps.journal.append({
        kind: 'evidence.cleaned',
        severity: 'notice',
        source: 'evidence',
        reason: `removed ${removed.length} unfinished export${removed.length === 1 ? '' : 's'} left by a run that ended during an export`,
        data: { removed },
      });
    }
    const { schedule } = this.deps.settings;
    if (schedule && this.deps.scheduler) {
      this.cron = this.deps.scheduler(schedule, () => void this.scheduledExport());
    }
    const pending = this.deps.journal.readState(EVIDENCE_PENDING_KEY);
    if (pending) void this.armPending(pending);
  }

  stop(): void {
    this.stopped = true;
    this.cron?.stop();
    this.cron = undefined;
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    this.pendingTimer = undefined;
    // A pending incident export stays in the journal's state: the next start finishes it.
  }

  /** On demand or on schedule: exports now, after any export already running. */
  exportNow(req: ExportRequest): Promise<ExportOutcome> {
    const now = this.deps.clock.now();
    const until = Math.min(toMs(req.until, 'until') ?? now, now);
    const since = toMs(req.since, 'since') ?? until - this.deps.settings.default_window_ms;
    if (since > until) throw new WaveosError('WAVEOS_E_BAD_REQUEST', `since (${isoUtc(since)}) is after until (${isoUtc(until)})`);
    return this.enqueue({
      sinceMs: since,
      untilMs: until,
      reason: req.reason,
      trigger: req.trigger ?? 'manual',
      requestedBy: req.requestedBy ?? 'operator',
      incident: req.incident ?? null,
    });
  }

  /**
   * The policy engine's `export_evidence` action. The window defaults to `window_before` before now and
   * `window_after` after it; the export runs when the window has passed. While one waits, further incidents
   * widen it instead of making packs of their own; beyond `incident_max` per `incident_per` they are
   * suppressed, each with an event.
   */
  exportEvidence(req: { reason: string; since?: string | number; until?: string | number; requestedBy?: string; incident?: Record<string, unknown> }): IncidentOutcome {
    const { clock, settings, journal } = this.deps;
    const now = clock.now();
    const mono = clock.monoMs();
    const since = toMs(req.since, 'since') ?? now - settings.window_before_ms;
    const until = toMs(req.until, 'until') ?? now + settings.window_after_ms;
    const requestedBy = req.requestedBy ?? 'policy';
    const incident = { ...(req.incident ?? {}), reason: req.reason, at: isoUtc(now) };
    const existing = journal.readState(EVIDENCE_PENDING_KEY);
    if (existing && this.pendingDone) {
      const merged: PendingIncident = {
        ...existing,
        since_ms: Math.min(existing.since_ms, since),
        until_ms: Math.max(existing.until_ms, until),
        incidents: existing.incidents.length < MAX_MERGED_INCIDENTS ? [...existing.incidents, incident] : existing.incidents,
        coalesced: existing.coalesced + 1,
      };
      const later = Math.max(0, merged.until_ms - existing.until_ms);
      merged.due_mono = existing.due_mono + later;
      merged.due_wall = existing.due_wall + later;
      journal.writeState(EVIDENCE_PENDING_KEY, merged);
      journal.append({
        kind: 'evidence.coalesced',
        source: 'evidence',
        reason: `incident "${req.reason}" joins the evidence export already waiting for "${existing.reason}" (${merged.coalesced} merged so far)`,
        data: { requested_by: requestedBy, coalesced: merged.coalesced, since: isoUtc(merged.since_ms), until: isoUtc(merged.until_ms) },
      });
      this.armTimer(merged);
      return { status: 'coalesced', due_at: isoUtc(merged.due_wall), window: { since: isoUtc(merged.since_ms), until: isoUtc(merged.until_ms) }, done: this.pendingDone.promise };
    }
    const marks = this.recentIncidents(now, mono);
    if (marks.length >= settings.incident_max) {
      const why = `evidence export for incident "${req.reason}" suppressed: ${marks.length} incident exports in the last ${Math.round(settings.incident_per_ms / 1000)} s already (limit ${settings.incident_max})`;
      journal.append({
        kind: 'evidence.suppressed',
        severity: 'warning',
        source: 'evidence',
        reason: why,
        data: { requested_by: requestedBy, recent: marks.length, limit: settings.incident_max, per_ms: settings.incident_per_ms, incident },
      });
      return { status: 'suppressed', reason: why };
    }
    journal.writeState(EVIDENCE_INCIDENTS_KEY, [...marks, { boot_id: this.deps.bootId, mono, wall: now }]);
    const delay = Math.max(0, until - now);
    const pending: PendingIncident = {
      reason: req.reason,
      since_ms: since,
      until_ms: until,
      requested_by: requestedBy,
      incidents: [incident],
      coalesced: 0,
      boot_id: this.deps.bootId,
      due_mono: mono + delay,
      due_wall: now + delay,
    };
    journal.writeState(EVIDENCE_PENDING_KEY, pending);
    journal.append({
      kind: 'evidence.scheduled',
      source: 'evidence',
      reason: `evidence export for incident "${req.reason}" will run at ${isoUtc(pending.due_wall)}, when its window (${isoUtc(since)} → ${isoUtc(until)}) has passed`,
      data: { requested_by: requestedBy, since: isoUtc(since), until: isoUtc(until), delay_ms: delay },
    });
    const done = this.armPending(pending);
    return { status: 'scheduled', due_at: isoUtc(pending.due_wall), window: { since: isoUtc(since), until: isoUtc(until) }, done };
  }

  /** Incident exports inside the rate window: monotonic time within this boot, wall time across boots. */
  private recentIncidents(now: number, mono: number): IncidentMark[] {
    const per = this.deps.settings.incident_per_ms;
    const marks = this.deps.journal.readState(EVIDENCE_INCIDENTS_KEY) ?? [];
    return marks.filter((m) => (m.boot_id === this.deps.bootId ? mono - m.mono < per : now - m.wall < per && now >= m.wall));
  }

  private armPending(p: PendingIncident): Promise<ExportOutcome> {
    if (!this.pendingDone) {
      let resolve!: (o: ExportOutcome) => void;
      const promise = new Promise<ExportOutcome>((r) => (resolve = r));
      this.pendingDone = { promise, resolve };
    }
    this.armTimer(p);
    return this.pendingDone.promise;
  }

  private armTimer(p: PendingIncident): void {
    if (this.pendingTimer) clearTimeout(this.pendingTimer);
    // Another boot's monotonic clock means nothing here: export at once.
    const delay = p.boot_id === this.deps.bootId ? Math.max(0, p.due_mono - this.deps.clock.monoMs()) : 0;
    this.pendingTimer = setTimeout(() => void this.firePending(), delay);
    this.pendingTimer.unref();
  }

  private async firePending(): Promise<void> {
    this.pendingTimer = undefined;
    const p = this.deps.journal.readState(EVIDENCE_PENDING_KEY);
    const done = this.pendingDone;
    this.pendingDone = undefined;
    if (!p || this.stopped) return;
    this.deps.journal.deleteState(EVIDENCE_PENDING_KEY);
    const now = this.deps.clock.now();
    const outcome = await this.enqueue({
      sinceMs: p.since_ms,
      untilMs: Math.min(p.until_ms, now),
      reason: p.coalesced > 0 ? `${p.reason} (+${p.coalesced} more)` : p.reason,
      trigger: 'incident',
      requestedBy: p.requested_by,
      incident: { incidents: p.incidents, coalesced: p.coalesced },
    });
    done?.resolve(outcome);
  }

  private async scheduledExport(): Promise<void> {
    const now = this.deps.clock.now();
    const since = this.lastScheduledUntil ?? now - this.deps.settings.default_window_ms;
    this.lastScheduledUntil = now;
    await this.enqueue({ sinceMs: since, untilMs: now, reason: 'scheduled', trigger: 'schedule', requestedBy: 'schedule', incident: null });
  }

  private enqueue(r: { sinceMs: number; untilMs: number; reason: string; trigger: Trigger; requestedBy: string; incident: Record<string, unknown> | null }): Promise<ExportOutcome> {
    const run = async (): Promise<ExportOutcome> => {
      const { journal, clock } = this.deps;
      try {
        // The pack builder (tar, the report page) is loaded by the first export, not by an idle daemon.
        const { buildPack } = await import('./pack-builder.js');
        const built = await inSpan('evidence.export', { 'waveos.trigger': r.trigger, 'waveos.requested_by': r.requestedBy }, async () => {
          const b = await buildPack({ ...this.deps, flushBuffered: () => this.flushBuffered(), onCorruptChunk: this.onCorruptChunk }, { ...r, nowMs: clock.now() });
          spanAttributes({ 'waveos.pack': b.name, 'waveos.pack_bytes': b.bytes, 'waveos.first_seq': b.manifest.journal.first_seq ?? -1, 'waveos.last_seq': b.manifest.journal.last_seq ?? -1 });
          return b;
        });
        const summary = this.summary(built);
        journal.appendDurable({
          kind: 'evidence.exported',
          severity: r.trigger === 'incident' ? 'notice' : 'info',
          source: 'evidence',
          reason: `exported evidence pack ${built.name} (${built.bytes} bytes, ${summary.events} events, ${summary.samples} samples) for "${r.reason}", requested by ${r.requestedBy}`,
          data: {
            name: built.name,
            bytes: built.bytes,
            sha256: built.sha256,
            trigger: r.trigger,
            requested_by: r.requestedBy,
            since: summary.window.since,
            until: summary.window.until,
            events: summary.events,
            first_seq: built.manifest.journal.first_seq,
            last_seq: built.manifest.journal.last_seq,
            samples: summary.samples,
            chain_verified: built.manifest.journal.chain_verified,
            ms: built.ms,
          },
        });
        this.prune(built.name);
        return summary;
      } catch (e) {
        const error = errorMessage(e);
        this.deps.log.error({ err: error }, 'evidence export failed');
        try {
          journal.append({
            kind: 'evidence.export_failed',
            severity: 'error',
            source: 'evidence',
            reason: `evidence export for "${r.reason}" failed: ${error}`,
            data: { trigger: r.trigger, requested_by: r.requestedBy, since: isoUtc(r.sinceMs), until: isoUtc(r.untilMs), error },
          });
        } catch {
          // the journal is what failed; the log has it
        }
        return { ok: false, error };
      }
    };
    const next = this.queue.then(run, run);
    this.queue = next;
    return next;
  }

  private summary(b: BuiltPack): PackSummary {
    return {
      ok: true,
      name: b.name,
      file: b.file,
      bytes: b.bytes,
      sha256: b.sha256,
      events: b.manifest.journal.events,
      samples: b.manifest.metrics.samples,
      window: b.manifest.window,
      ms: b.ms,
    };
  }

  list(): PackListing[] {
    return listPacks(this.deps.paths);
  }

  /** Keeps at most `keep` packs and `max_bytes` in all, oldest first; never the pack just made. */
  prune(keepName?: string): string[] {
    const { keep, max_bytes } = this.deps.settings;
    const packs = this.list().sort((a, b) => a.created_at.localeCompare(b.created_at) || a.name.localeCompare(b.name));
    let total = packs.reduce((s, p) => s + p.bytes, 0);
    let count = packs.length;
    const removed: string[] = [];
    for (const p of packs) {
      if (count <= keep && total <= max_bytes) break;
      if (p.name === keepName) continue;
      rmSync(join(this.deps.paths.evidenceDir, p.name), { force: true });
      removed.push(p.name);
      total -= p.bytes;
      count--;
    }
    if (removed.length > 0) {
      this.deps.journal.append({
        kind: 'evidence.pruned',
        source: 'evidence',
        reason: `removed ${removed.length} old evidence pack${removed.length === 1 ? '' : 's'} to stay within ${keep} packs and ${max_bytes} bytes`,
        data: { removed, kept: count, total_bytes: total, keep, max_bytes },
      });
    }
    return removed;
  }

  /** The path of a pack by name, refusing anything that is not a pack name (no paths from a request). */
  packPath(name: string): string {
    return packPath(this.deps.paths, name);
  }
}

export function packPath(paths: Paths, name: string): string {
  if (!PACK_NAME_RE.test(name) || name.includes('/')) throw new WaveosError('WAVEOS_E_BAD_REQUEST', `"${name}" is not an evidence pack name`);
  const file = join(paths.evidenceDir, name);
  try {
    if (statSync(file).isFile()) return file;
  } catch {
    // fall through
  }
  throw new WaveosError('WAVEOS_E_NOT_FOUND', `no evidence pack named ${name} (see waveos evidence list)`);
}

/** The packs on disk, newest first: a plain directory listing, so it works without the daemon too. */
export function listPacks(paths: Paths): PackListing[] {
  let names: string[] = [];
  try {
    names = readdirSync(paths.evidenceDir).filter((n) => PACK_NAME_RE.test(n));
  } catch {
    return [];
  }
  const out: PackListing[] = [];
  for (const n of names) {
    try {
      const st = statSync(join(paths.evidenceDir, n));
      out.push({ name: n, bytes: st.size, created_at: new Date(st.mtimeMs).toISOString() });
    } catch {
      // removed meanwhile
    }
  }
  return out.sort((a, b) => b.created_at.localeCompare(a.created_at) || b.name.localeCompare(a.name));
}
