import { hash as digest } from 'node:crypto';
import { accessSync, constants as fsConstants, existsSync, renameSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type Database from 'better-sqlite3';
import { type Chaos, type Clock, NO_CHAOS, WaveosError, canonicalJson, errorMessage, jcsOf, wellFormed, fsyncDir, hasErrorCode, isDiskFull, isoUtc } from '../core/index.js';
import type { EventKind } from './event-kinds.js';
import { EVENT_FORMAT_VERSION, type EventFormatVersion, type EventInput, GENESIS_HASH, type JournalEvent } from './event.js';
import type { Severity } from './severity.js';
import { type ChunkRow, type CorruptChunk, chunkSamples } from './chunk-store.js';
import { type HeadPiece, HeadLogWriter, headKey, headSegments, keepCorrupt, moveHeadLogAside, pieceRow, readHeadLog, readSegment } from './head-log.js';
import { sealPieces } from './chunk-migration.js';
import { ChunkCorrupt, decodeChunkColumns } from '../telemetry/chunk-codec.js';
import { migrateSchema } from './schema.js';
import { HistoryReader, type MetricAggregate, openDb } from './history-reader.js';
import { type StateEntries, type StateKey, type StateValue, checkStateValue, isStateKey, parseStateValue } from './state-keys.js';

export { HistoryReader, type MetricAggregate, type MetricsFootprint, type MetricsQuery, type RawSample, SQLITE_CACHE_KIB } from './history-reader.js';

export interface JournalOptions {
  clock: Clock;
  runId: string;
  bootId: string;
  /** Most events in one group commit. */
  batchMax?: number;
  /** How long an append may wait for others to share its commit. */
  batchDelayMs?: number;
  /** Called when a background group commit fails: the daemon must not limp on with state unknown. */
  onCommitError?: (e: unknown) => void;
  /** Failure injection at each group commit (test rigs only). */
  chaos?: Chaos;
  /** Events held in memory while the disk is full or the files are read-only, before the journal gives up (onCommitError). */
  maxHeldEvents?: number;
  /** How often a held batch is tried again while the disk is full or the files are read-only. */
  fullRetryMs?: number;
  /**
   * Applied to every event's reason and data, intent and state value before it is hashed and stored, so
   * that no secret reaches the database and the hash chain covers exactly what is stored.
   */
  redactor?: StoredRedactor;
  /** Told when commits stop (the disk is full, the files turned read-only) and when they work again: the daemon logs it. */
  onWritableChange?: (change: { writable: boolean; cause: HoldCause; error?: string }) => void;
}

/** What the journal needs of the redactor (security/redaction.ts): text and JSON-like values, unchanged parts shared. */
export interface StoredRedactor {
  text(s: string): string;
  value(v: unknown): unknown;
}

const NO_REDACTION: StoredRedactor = { text: (s) => s, value: (v) => v };

/** Why commits are held: a full disk, or journal files that cannot be written (chattr +i, a read-only mount, permissions). */
export type HoldCause = 'disk_full' | 'read_only';

/** A corrupt journal moved aside at start: where it went and what SQLite said. */
export interface QuarantinedJournal {
  files: string[];
  problem: string;
}

/** SQLite says the file is not a database, or a damaged one. */
const CORRUPT_CODES = ['SQLITE_CORRUPT', 'SQLITE_NOTADB', 'SQLITE_CORRUPT_INDEX'] as const;

export interface DiskFullState {
  since_ms: number;
  held_events: number;
  retries: number;
}

/** While the journal's files cannot be written: what waits in memory, since when, and what the system said. */
export interface ReadOnlyState extends DiskFullState {
  error: string;
}

/** SQLite's and the system's words for "this file cannot be written" (as opposed to a damaged file). */
const READ_ONLY_CODES = ['EROFS', 'EPERM', 'EACCES', 'WAVEOS_E_JOURNAL_READONLY'] as const;

function isReadOnlyError(e: unknown): boolean {
  if (hasErrorCode(e, READ_ONLY_CODES)) return true;
  for (let c: unknown = e, i = 0; c && i < 4; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && (code.startsWith('SQLITE_READONLY') || code === 'SQLITE_CANTOPEN')) return true;
  }
  return false;
}

function isIoError(e: unknown): boolean {
  for (let c: unknown = e, i = 0; c && i < 4; c = (c as { cause?: unknown }).cause, i++) {
    const code = (c as { code?: unknown }).code;
    if (typeof code === 'string' && code.startsWith('SQLITE_IOERR')) return true;
  }
  return false;
}

export interface EventQuery {
  afterSeq?: number;
  /** ISO-8601 UTC; events at or after it. */
  sinceTs?: string;
  kindPrefix?: string;
  /** Events of exactly this kind. */
  kind?: EventKind;
  limit?: number;
  /** Only the newest N of the matching events (still returned oldest first), as `journalctl -n`. */
  newest?: number;
}

export interface MetricSample {
  ts_ms: number;
  name: string;
  value: number;
  unit: string;
  labels: Record<string, string>;
}

/** The journal's high-water mark: how far it had got, whatever rows are left. */
export interface HeadMark {
  seq: number;
  hash: string;
}

export type IntentStatus = 'pending' | 'succeeded' | 'failed' | 'interrupted';

export interface Intent {
  id: number;
  run_id: string;
  action: string;
  target: string | null;
  params: Record<string, unknown>;
  reason: string;
  requested_by: string;
  status: IntentStatus;
  outcome: Record<string, unknown> | null;
  intent_seq: number;
  outcome_seq: number | null;
}

interface EventRow {
  v: number;
  seq: number;
  ts: string;
  mono_ms: number;
  run_id: string;
  boot_id: string;
  kind: string;
  severity: string;
  source: string;
  reason: string;
  data: string;
  prev_hash: string;
  hash: string;
}

type IntentRow = Omit<Intent, 'params' | 'outcome'> & { params: string; outcome: string | null };

function rowToIntent(r: IntentRow): Intent {
  return {
    ...r,
    params: JSON.parse(r.params) as Record<string, unknown>,
    outcome: r.outcome === null ? null : (JSON.parse(r.outcome) as Record<string, unknown>),
  };
}

interface PendingEvent {
  event: JournalEvent;
  dataJson: string;
}

const sha256Hex = (text: string): string => digest('sha256', text, 'hex');

/** Rows per multi-row INSERT: one statement per 64 events costs far less than 64 statement runs. */
const ROWS_PER_INSERT = 64;
const MINUTE_MS = 60_000;

/** A sealed chunk as retention reads it before deleting it. */
interface FoldedChunk {
  id: number;
  series_id: number;
  start_ms: number;
  end_ms: number;
  count: number;
  data: Uint8Array;
}

/** A chunk deleted without being folded: it failed its check. */
export type UnfoldedChunk = CorruptChunk & { chunk_id: number };

/** Adds one minute of one series to metrics_1m, merged with what the minute already holds. */
const UPSERT_AGGREGATE = `INSERT INTO metrics_1m (minute_ms, series_id, min, avg, max, last, count) VALUES (?,?,?,?,?,?,?)
   ON CONFLICT (minute_ms, series_id) DO UPDATE SET
     min = min(metrics_1m.min, excluded.min), max = max(metrics_1m.max, excluded.max),
     avg = (metrics_1m.avg * metrics_1m.count + excluded.avg * excluded.count) / (metrics_1m.count + excluded.count),
     last = excluded.last, count = metrics_1m.count + excluded.count`;

/** What one retention or quota step deleted; `corrupt`: chunks deleted that failed their check, so could not be folded. */
export interface PruneResult {
  raw: number;
  aggregates: number;
  corrupt: UnfoldedChunk[];
}
const EVENT_COLUMNS = '(seq, ts, mono_ms, run_id, boot_id, kind, severity, source, reason, data, prev_hash, hash, v)';
const COLUMN_COUNT = 13;
const ROW_PLACEHOLDERS = `(${Array(COLUMN_COUNT).fill('?').join(',')})`;

export function rowToEvent(r: EventRow): JournalEvent {
  return {
    v: r.v as EventFormatVersion,
    seq: r.seq,
    ts: r.ts,
    mono_ms: r.mono_ms,
    run_id: r.run_id,
    boot_id: r.boot_id,
    kind: r.kind,
    severity: r.severity as Severity,
    source: r.source,
    reason: r.reason,
    data: JSON.parse(r.data) as Record<string, unknown>,
    prev_hash: r.prev_hash,
    hash: r.hash,
  };
}

/** The entries of a typed multi-key write, each checked against its key's schema. */
function checkedEntries(entries: StateEntries): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entries)) {
    if (!isStateKey(k)) throw new WaveosError('WAVEOS_E_RUNTIME', `${k} is not a journal state key (state-keys.ts)`);
    out[k] = checkStateValue(k, v);
  }
  return out;
}

function fillRow(params: unknown[], at: number, p: PendingEvent): void {
  const e = p.event;
  params[at] = e.seq;
  params[at + 1] = e.ts;
  params[at + 2] = e.mono_ms;
  params[at + 3] = e.run_id;
  params[at + 4] = e.boot_id;
  params[at + 5] = e.kind;
  params[at + 6] = e.severity;
  params[at + 7] = e.source;
  params[at + 8] = e.reason;
  params[at + 9] = p.dataJson;
  params[at + 10] = e.prev_hash;
  params[at + 11] = e.hash;
  params[at + 12] = e.v;
}

/** Read access to a journal file: for offline commands and for the daemon's own queries. */
export class JournalReader extends HistoryReader {
  private columns: string | undefined;

  /**
   * What to select for an event: a journal an older WaveOS left (schema 2, opened read-only, not migrated)
   * has no `v` column, and every row of it is version 1.
   */
  protected get eventColumns(): string {
    if (this.columns === undefined) {
      const names = (this.db.pragma('table_info(events)') as { name: string }[]).map((c) => c.name);
      this.columns = names.includes('v') ? '*' : '*, 1 AS v';
    }
    return this.columns;
  }

  static override openReadOnly(path: string): JournalReader {
    return new JournalReader(openDb(path, true));
  }

  lastSeq(): number {
    const r = this.db.prepare('SELECT max(seq) AS s FROM events').get() as { s: number | null };
    return r.s ?? 0;
  }

  events(q: EventQuery = {}): JournalEvent[] {
    return [...this.iterateEvents(q)];
  }

  *iterateEvents(q: EventQuery = {}): Generator<JournalEvent> {
    const where: string[] = [];
    const args: (string | number)[] = [];
    if (q.afterSeq !== undefined) {
      where.push('seq > ?');
      args.push(q.afterSeq);
    }
    if (q.sinceTs !== undefined) {
      where.push('ts >= ?');
      args.push(q.sinceTs);
    }
    if (q.kind !== undefined) {
      where.push('kind = ?');
      args.push(q.kind);
    }
    if (q.kindPrefix) {
      // A prefix range keeps the kind index usable.
      where.push('(kind = ? OR (kind >= ? AND kind < ?))');
      args.push(q.kindPrefix, q.kindPrefix, `${q.kindPrefix}\uffff`);
    }
    const filter = where.length ? `WHERE ${where.join(' AND ')}` : '';
    if (q.newest !== undefined) {
      const rows = this.db.prepare(`SELECT ${this.eventColumns} FROM events ${filter} ORDER BY seq DESC LIMIT ${Math.floor(q.newest)}`).all(...args) as EventRow[];
      for (const r of rows.reverse()) yield rowToEvent(r);
      return;
    }
    const sql = `SELECT ${this.eventColumns} FROM events ${filter} ORDER BY seq${q.limit ? ` LIMIT ${Math.floor(q.limit)}` : ''}`;
    for (const r of this.db.prepare(sql).iterate(...args)) yield rowToEvent(r as EventRow);
  }

  /**
   * Up to `limit` events after `afterSeq`, in seq order: what `events({ afterSeq, limit })` returns, read as
   * raw rows by one cached statement (about twice as fast for the long scans of packs and replays).
   */
  eventPage(afterSeq: number, limit: number): JournalEvent[] {
    const v = this.eventColumns === '*' ? 'v' : '1 AS v';
    const st = this.statement(`SELECT seq, ts, mono_ms, run_id, boot_id, kind, severity, source, reason, data, prev_hash, hash, ${v} FROM events WHERE seq > ? ORDER BY seq LIMIT ?`).raw();
    const rows = st.all(afterSeq, limit) as [number, string, number, string, string, string, string, string, string, string, string, string, number][];
    return rows.map((r) => ({
      v: r[12] as EventFormatVersion,
      seq: r[0],
      ts: r[1],
      mono_ms: r[2],
      run_id: r[3],
      boot_id: r[4],
      kind: r[5],
      severity: r[6] as Severity,
      source: r[7],
      reason: r[8],
      data: JSON.parse(r[9]) as Record<string, unknown>,
      prev_hash: r[10],
      hash: r[11],
    }));
  }

  /** The newest event of a run (optionally of one kind): how a run ended is read from its last events. */
  lastEventOfRun(runId: string, kind?: string): JournalEvent | undefined {
    const r = kind
      ? this.db.prepare(`SELECT ${this.eventColumns} FROM events WHERE kind = ? AND run_id = ? ORDER BY seq DESC LIMIT 1`).get(kind, runId)
      : this.db.prepare(`SELECT ${this.eventColumns} FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1`).get(runId);
    return r === undefined ? undefined : rowToEvent(r as EventRow);
  }

  /** The newest event of a kind, in any run. */
  lastEventOf(kind: EventKind): JournalEvent | undefined {
    const r = this.db.prepare(`SELECT ${this.eventColumns} FROM events WHERE kind = ? ORDER BY seq DESC LIMIT 1`).get(kind);
    return r === undefined ? undefined : rowToEvent(r as EventRow);
  }

  /** The event with this seq, if the journal has it. */
  eventAt(seq: number): JournalEvent | undefined {
    const r = this.db.prepare(`SELECT ${this.eventColumns} FROM events WHERE seq = ?`).get(seq);
    return r === undefined ? undefined : rowToEvent(r as EventRow);
  }

  /**
   * The head mark: the seq and hash of the last event committed, kept outside the chain (journal_head).
   * Undefined for a journal an older WaveOS left, which has none.
   */
  headMark(): HeadMark | undefined {
    const t = this.db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'journal_head'").get();
    if (t === undefined) return undefined;
    return this.db.prepare('SELECT seq, hash FROM journal_head WHERE id = 1').get() as HeadMark | undefined;
  }

  /** How many events there are and their lowest and highest seq: without gaps, first is 1 and last is count. */
  eventSpan(): { count: number; first: number | null; last: number | null } {
    const r = this.db.prepare('SELECT count(*) AS n, min(seq) AS lo, max(seq) AS hi FROM events').get() as { n: number; lo: number | null; hi: number | null };
    return { count: r.n, first: r.lo, last: r.hi };
  }

  /** The intent with this id, if one was recorded. */
  intent(id: number): Intent | undefined {
    const r = this.db.prepare('SELECT * FROM intents WHERE id = ?').get(id) as IntentRow | undefined;
    return r === undefined ? undefined : rowToIntent(r);
  }

  /** Runs `fn` in one read transaction: everything it reads comes from the same instant of the journal. */
  readTogether<T>(fn: () => T): T {
    return this.db.transaction(fn)();
  }

  /** SQLite's own check of the whole file: ['ok'] when sound, else what it found. */
  integrityCheck(): string[] {
    return (this.db.pragma('integrity_check') as { integrity_check: string }[]).map((r) => r.integrity_check);
  }

  /** Raw rows in seq order, for chain verification. */
  iterateRows(): IterableIterator<EventRow> {
    return this.db.prepare(`SELECT ${this.eventColumns} FROM events ORDER BY seq`).iterate() as IterableIterator<EventRow>;
  }

  /**
   * A state value from the registry (state-keys.ts), checked against its schema; undefined when it was never
   * written. A stored value that does not match throws a WaveosError naming the key.
   */
  readState<K extends StateKey>(key: K): StateValue<K> | undefined {
    const r = this.stateRow(key);
    return r === undefined ? undefined : parseStateValue(key, r.value);
  }

  /** @deprecated Untyped and unchecked: use readState with a key from the registry (state-keys.ts). */
  getState<T>(key: string): T | undefined {
    const r = this.stateRow(key);
    return r === undefined ? undefined : (JSON.parse(r.value) as T);
  }

  private stateRow(key: string): { value: string } | undefined {
    return this.db.prepare('SELECT value FROM state WHERE key = ?').get(key) as { value: string } | undefined;
  }

  /**
   * The seq range of the events stamped inside [sinceTs, untilTs]: from the first at or after `sinceTs` to
   * the last at or before `untilTs`. Everything between is part of it (a contiguous stretch of the chain,
   * even where the wall clock jumped), or undefined when no event falls inside.
   */
  seqWindow(sinceTs: string, untilTs: string): { first: number; last: number } | undefined {
    const r = this.db
      .prepare('SELECT (SELECT min(seq) FROM events WHERE ts >= ?) AS first, (SELECT max(seq) FROM events WHERE ts <= ?) AS last')
      .get(sinceTs, untilTs) as { first: number | null; last: number | null };
    if (r.first === null || r.last === null || r.first > r.last) return undefined;
    return { first: r.first, last: r.last };
  }

  intents(status?: IntentStatus): Intent[] {
    const rows = (
      status ? this.db.prepare('SELECT * FROM intents WHERE status = ? ORDER BY id').all(status) : this.db.prepare('SELECT * FROM intents ORDER BY id').all()
    ) as IntentRow[];
    return rows.map(rowToIntent);
  }

}

/**
 * The daemon's journal: the single writer. Appends are chained and numbered at once, in memory, and
 * committed in groups (one transaction, one fsync for many events). `appendDurable` and the intent and
 * state calls commit before they return, for anything an action depends on.
 */
export class Journal extends JournalReader {
  private readonly clock: Clock;
  readonly runId: string;
  readonly bootId: string;
  private readonly batchMax: number;
  private readonly batchDelayMs: number;
  private readonly onCommitError: (e: unknown) => void;
  private readonly chaos: Chaos;
  private readonly redactor: StoredRedactor;
  private readonly maxHeld: number;
  private readonly fullRetryMs: number;
  /** Set while commits fail because the disk is full or the files are read-only: events wait in memory and are retried. */
  private full: { cause: HoldCause; sinceMs: number; retries: number; timer: NodeJS.Timeout | undefined; announced: boolean; error: string } | undefined;
  private readonly onWritableChange: NonNullable<JournalOptions['onWritableChange']>;
  /** Intent outcomes whose commit was held: they go in with their events, in the commit that stores them. */
  private deferred: (() => void)[] = [];
  /** The files SQLite writes: probed before each write, since writing a mapped file that turned immutable is a SIGBUS. */
  private readonly files: string[];
  private pending: PendingEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private seq: number;
  private head: string;
  private readonly insertEvent: Database.Statement;
  private readonly insertEvents: Database.Statement;
  private readonly moveHead: Database.Statement;
  /** JSON of the few distinct kinds and sources, serialized once each. */
  private readonly jsonCache = new Map<string, string>();
  private readonly putState: Database.Statement;
  private readonly insertChunk: Database.Statement;
  /** The open chunks' pieces: appended at each flush, outside SQLite (head-log.ts says why). */
  private readonly headLog: HeadLogWriter;
  /** Listeners that see each event once it is durable (the API's --follow, the exporter). */
  private readonly listeners = new Set<(e: JournalEvent[]) => void>();
  private commits = 0;
  /** The run's ids are the same for every event of this run: serialized once. */
  private readonly runIdJson: string;
  private readonly bootIdJson: string;
  private lastTsMs = Number.NaN;
  private lastTs = '';

  private constructor(db: Database.Database, opts: JournalOptions) {
    super(db);
    this.clock = opts.clock;
    this.runId = opts.runId;
    this.bootId = opts.bootId;
    this.batchMax = opts.batchMax ?? 256;
    this.batchDelayMs = opts.batchDelayMs ?? 2;
    this.chaos = opts.chaos ?? NO_CHAOS;
    this.redactor = opts.redactor ?? NO_REDACTION;
    this.maxHeld = opts.maxHeldEvents ?? 20_000;
    this.fullRetryMs = opts.fullRetryMs ?? 1_000;
    this.onWritableChange = opts.onWritableChange ?? (() => undefined);
    this.files = db.memory ? [] : [db.name, `${db.name}-wal`, `${db.name}-shm`, dirname(db.name)];
    this.onCommitError =
      opts.onCommitError ??
      ((e) => {
        throw e;
      });
    const last = db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    this.seq = last?.seq ?? 0;
    this.head = last?.hash ?? GENESIS_HASH;
    // The head mark says the journal reached further than its last row (rows were deleted, or the last one
    // replaced): go on from the mark, so the cut stays in the chain as a gap every later verify reports,
    // instead of new events taking the missing seqs and the mark moving over the evidence.
    const mark = this.headMark();
    if (mark && (mark.seq > this.seq || (mark.seq === this.seq && mark.hash !== this.head))) {
      this.seq = mark.seq;
      this.head = mark.hash;
    }
    this.runIdJson = JSON.stringify(wellFormed(opts.runId));
    this.bootIdJson = JSON.stringify(wellFormed(opts.bootId));
    this.insertEvent = db.prepare(`INSERT INTO events ${EVENT_COLUMNS} VALUES ${ROW_PLACEHOLDERS}`);
    this.insertEvents = db.prepare(`INSERT INTO events ${EVENT_COLUMNS} VALUES ${Array(ROWS_PER_INSERT).fill(ROW_PLACEHOLDERS).join(',')}`);
    this.putState = db.prepare(
      'INSERT INTO state (key, value, updated_ts) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts',
    );
    this.insertChunk = db.prepare('INSERT INTO chunks (series_id, start_ms, end_ms, count, data) VALUES (?, ?, ?, ?, ?)');
    this.headLog = new HeadLogWriter(db.name);
    this.sealLeftoverHeads();
    this.moveHead = db.prepare('UPDATE journal_head SET seq = ?, hash = ? WHERE id = 1');
  }

  /**
   * Opens the writer for a start. A journal SQLite reports as corrupt (at open, or by `quick_check` when asked
   * — after an unclean stop) is moved aside beside itself, never deleted, and a new journal is begun, so the
   * device comes back; the caller records what happened in the new one. A missing file is said too.
   */
  static openForStart(path: string, opts: JournalOptions & { quickCheck?: boolean }): { journal: Journal; quarantined?: QuarantinedJournal; missing: boolean } {
    const missing = !existsSync(path);
    let problem: string | undefined;
    try {
      const j = Journal.openWriter(path, opts);
      if (!opts.quickCheck) return { journal: j, missing };
      const rows = j.db.pragma('quick_check(5)') as { quick_check: string }[];
      if (rows.length === 1 && rows[0]?.quick_check === 'ok') return { journal: j, missing };
      problem = `quick_check: ${rows.map((r) => r.quick_check).join('; ')}`;
      j.db.close();
    } catch (e) {
      if (!hasErrorCode(e, CORRUPT_CODES)) throw e;
      problem = errorMessage(e);
    }
    const stamp = isoUtc(opts.clock.now()).replace(/[-:]/g, '').replace(/\.\d+Z$/, 'Z');
    const files: string[] = [];
    for (const suffix of ['', '-wal', '-shm']) {
      const from = `${path}${suffix}`;
      if (!existsSync(from)) continue;
      const to = join(dirname(path), `${basename(path)}.corrupt-${stamp}${suffix}`);
      renameSync(from, to);
      files.push(to);
    }
    files.push(...moveHeadLogAside(path, (p) => join(dirname(p), basename(p).replace(basename(path), `${basename(path)}.corrupt-${stamp}`))));
    fsyncDir(dirname(path));
    return { journal: Journal.openWriter(path, opts), quarantined: { files, problem }, missing: false };
  }

  static openWriter(path: string, opts: JournalOptions): Journal {
    const db = openDb(path, false);
    try {
      migrateSchema(db);
    } catch (e) {
      db.close();
      throw new WaveosError('WAVEOS_E_JOURNAL_OPEN', `cannot migrate the journal ${path}: ${errorMessage(e)}`, { cause: e });
    }
    return new Journal(db, opts);
  }

  /** The seq the next event will get minus one: includes events not yet committed. */
  override lastSeq(): number {
    return this.seq;
  }

  get pendingCount(): number {
    return this.pending.length;
  }

  get commitCount(): number {
    return this.commits;
  }

  /** Queues an event for the next group commit and returns it with its seq and hash. */
  append(input: EventInput): JournalEvent {
    const ev = this.chain(input);
    if (this.full) {
      // The retry timer commits once writes work again; past the bound, waiting longer would only lose more.
      if (this.pending.length > this.maxHeld) {
        const f = this.full;
        const what = f.cause === 'disk_full' ? 'the disk has been full' : 'the journal files have been read-only';
        this.onCommitError(
          new WaveosError(f.cause === 'disk_full' ? 'WAVEOS_E_DISK_FULL' : 'WAVEOS_E_JOURNAL_READONLY', `${what} for ${Math.round((this.clock.now() - f.sinceMs) / 1000)} s and ${this.pending.length} events wait in memory: giving up`),
        );
      }
      return ev;
    }
    if (this.pending.length >= this.batchMax) {
      try {
        this.flush();
      } catch (e) {
        // Held for the retry; the event is numbered and chained already and is committed in order later.
        if (!this.full) throw e;
      }
    } else {
      this.armFlush();
    }
    return ev;
  }

  /** The group commit: what is queued goes in within the batch delay, or with an earlier commit. */
  private armFlush(): void {
    if (this.timer !== undefined) return;
    this.timer = setTimeout(() => this.backgroundFlush(), this.batchDelayMs);
    this.timer.unref();
  }

  /** Appends and commits at once (with everything queued before it): durable when it returns. */
  appendDurable(input: EventInput): JournalEvent {
    const ev = this.chain(input);
    this.flush();
    return ev;
  }

  private chain(input: EventInput): JournalEvent {
    // Every string made well-formed, so the stored text is exactly its RFC 8785 form and reads back as it was hashed.
    const data = this.redactor.value(input.data ?? {}) as Record<string, unknown>;
    const reason = wellFormed(this.redactor.text(input.reason));
    const now = this.clock.now();
    // Many events share a millisecond under load; format the timestamp once per millisecond.
    if (now !== this.lastTsMs) {
      this.lastTsMs = now;
      this.lastTs = isoUtc(now);
    }
    const seq = this.seq + 1;
    const kind = input.kind;
    const source = input.source;
    const severity = input.severity ?? 'info';
    const dataJson = jcsOf(data);
    const mono = this.clock.monoMs();
    const prevHash = this.head;
    // chainHash(prevHash, body), the body being the same text as canonicalBody(event, dataJson) for version 2
    // (members in RFC 8785 order), built with the run's ids serialized once and hashed as one string.
    const hash = sha256Hex(
      `${prevHash}{"boot_id":${this.bootIdJson},"data":${dataJson},"kind":${this.json(kind)},"mono_ms":${mono}` +
        `,"reason":${JSON.stringify(reason)},"run_id":${this.runIdJson},"seq":${seq},"severity":"${severity}"` +
        `,"source":${this.json(source)},"ts":"${this.lastTs}","v":${EVENT_FORMAT_VERSION}}`,
    );
    const event: JournalEvent = {
      v: EVENT_FORMAT_VERSION,
      seq,
      ts: this.lastTs,
      mono_ms: mono,
      run_id: this.runId,
      boot_id: this.bootId,
      kind,
      severity,
      source: wellFormed(source),
      reason,
      data,
      prev_hash: prevHash,
      hash,
    };
    this.pending.push({ event, dataJson });
    this.seq = seq;
    this.head = hash;
    return event;
  }

  private json(s: string): string {
    let j = this.jsonCache.get(s);
    if (j === undefined) {
      j = JSON.stringify(wellFormed(s));
      if (this.jsonCache.size < 1024) this.jsonCache.set(s, j);
    }
    return j;
  }

  private backgroundFlush(): void {
    try {
      this.flush();
    } catch (e) {
      // A full disk or read-only files are a state to wait out, not an unknown one: flush() queued the batch
      // again, in order, and set the retry going.
      if (this.full && this.pending.length <= this.maxHeld) return;
      this.onCommitError(e);
    }
  }

  /** While the disk is full, what waits in memory and since when; undefined when commits work. */
  diskFull(): DiskFullState | undefined {
    const f = this.full;
    return f?.cause === 'disk_full' ? { since_ms: f.sinceMs, held_events: this.pending.length, retries: f.retries } : undefined;
  }

  /** While the journal's files cannot be written, what waits in memory, since when and why; undefined otherwise. */
  readOnly(): ReadOnlyState | undefined {
    const f = this.full;
    return f?.cause === 'read_only' ? { since_ms: f.sinceMs, held_events: this.pending.length, retries: f.retries, error: f.error } : undefined;
  }

  /**
   * Throws WAVEOS_E_JOURNAL_READONLY when a file SQLite writes cannot be written. Checked before every write:
   * SQLite maps the wal-index (-shm), and a store into a mapping whose file turned immutable is a SIGBUS that
   * no handler survives, so the journal must not try.
   */
  private assertWritable(): void {
    for (const f of this.files) {
      try {
        accessSync(f, fsConstants.W_OK);
      } catch (e) {
        if (hasErrorCode(e, ['ENOENT'])) continue;
        throw new WaveosError('WAVEOS_E_JOURNAL_READONLY', `the journal file ${f} cannot be written (${errorMessage(e)})`, { cause: e });
      }
    }
  }

  private holdWhileFull(cause: HoldCause, error: string): void {
    if (!this.full) {
      this.full = { cause, sinceMs: this.clock.now(), retries: 0, timer: undefined, announced: false, error };
      this.onWritableChange({ writable: false, cause, error });
    }
    if (this.full.timer === undefined) {
      this.full.timer = setTimeout(() => {
        const f = this.full;
        if (f) {
          f.timer = undefined;
          f.retries++;
          // Chained here, not where the failure was seen: the caller of that commit may still take its event back.
          if (!f.announced) {
            f.announced = true;
            this.chain(this.heldEvent(f, true));
          }
        }
        this.backgroundFlush();
      }, this.fullRetryMs);
      this.full.timer.unref();
    }
  }

  private heldEvent(f: NonNullable<Journal['full']>, still: boolean): EventInput {
    if (f.cause === 'read_only') {
      return {
        kind: 'journal.read_only',
        severity: 'error',
        source: 'journal',
        reason: still
          ? `the journal cannot commit: its files are read-only since ${isoUtc(f.sinceMs)} (${f.error}); reads go on, events wait in memory (at most ${this.maxHeld}) and actions that must be durable are refused until the files can be written`
          : `the journal could not commit: its files were read-only since ${isoUtc(f.sinceMs)} (${f.error})`,
        data: { since: isoUtc(f.sinceMs), held_events: this.pending.length, max_held_events: this.maxHeld, error: f.error },
      };
    }
    return this.diskFullEvent(f.sinceMs, still);
  }

  private diskFullEvent(sinceMs: number, stillFull: boolean): EventInput {
    return {
      kind: 'journal.disk_full',
      severity: 'error',
      source: 'journal',
      reason: stillFull
        ? `the journal cannot commit: the disk is full since ${isoUtc(sinceMs)}; events wait in memory (at most ${this.maxHeld}) and actions that must be durable are refused until space is freed`
        : `the journal could not commit: the disk was full since ${isoUtc(sinceMs)}`,
      data: { since: isoUtc(sinceMs), held_events: this.pending.length, max_held_events: this.maxHeld },
    };
  }

  /** Called after each successful commit: the disk took a batch again. */
  private leaveFull(): void {
    const f = this.full;
    if (!f) return;
    this.full = undefined;
    if (f.timer) clearTimeout(f.timer);
    this.onWritableChange({ writable: true, cause: f.cause });
    // Freed before the first retry: the record of when it began still goes in, before the recovery.
    if (!f.announced) this.append(this.heldEvent(f, false));
    const seconds = Math.round((this.clock.now() - f.sinceMs) / 1000);
    if (f.cause === 'read_only') {
      this.append({
        kind: 'journal.writable_again',
        severity: 'notice',
        source: 'journal',
        reason: `the journal's files can be written again after ${seconds} s read-only (${f.retries} retries); what waited in memory is committed`,
        data: { seconds, retries: f.retries },
      });
      return;
    }
    this.append({
      kind: 'journal.disk_full_recovered',
      severity: 'notice',
      source: 'journal',
      reason: `the journal commits again after ${Math.round((this.clock.now() - f.sinceMs) / 1000)} s of a full disk (${f.retries} retries)`,
      data: { seconds: Math.round((this.clock.now() - f.sinceMs) / 1000), retries: f.retries },
    });
  }

  private readonly writeBatch = (batch: PendingEvent[], extra?: () => void): void => {
    this.chaos.check('journal.commit');
    this.assertWritable();
    const deferred = this.deferred;
    this.db.transaction(() => {
      let i = 0;
      if (batch.length >= ROWS_PER_INSERT) {
        const params: unknown[] = new Array(ROWS_PER_INSERT * COLUMN_COUNT);
        for (; i + ROWS_PER_INSERT <= batch.length; i += ROWS_PER_INSERT) {
          for (let r = 0; r < ROWS_PER_INSERT; r++) fillRow(params, r * COLUMN_COUNT, batch[i + r] as PendingEvent);
          this.insertEvents.run(params);
        }
      }
      const one: unknown[] = new Array(COLUMN_COUNT);
      for (; i < batch.length; i++) {
        fillRow(one, 0, batch[i] as PendingEvent);
        this.insertEvent.run(one);
      }
      const last = batch.at(-1)?.event;
      if (last) this.moveHead.run(last.seq, last.hash);
      for (const d of deferred) d();
      extra?.();
    })();
    if (deferred.length > 0) this.deferred = [];
  };

  /** Commits everything queued in one transaction. */
  flush(extra?: () => void): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0 && !extra && this.deferred.length === 0) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.writeBatch(batch, extra);
    } catch (e) {
      // Nothing of the batch is stored. Put it back in front, so seq and chain stay continuous if a
      // later commit succeeds (a full disk may free up); the caller decides whether to go on.
      this.pending = batch.concat(this.pending);
      throw this.commitFailure(e);
    }
    this.commits++;
    if (this.full) this.leaveFull();
    if (batch.length > 0 && this.listeners.size > 0) {
      const events = batch.map((p) => p.event);
      for (const l of this.listeners) {
        try {
          l(events);
        } catch {
          // a listener's failure is its own business; the journal has committed
        }
      }
    }
  }

  /**
   * What a failed commit means. A full disk, or files that cannot be written (probed again after an I/O error:
   * an immutable or read-only file fails writes with SQLITE_IOERR), hold the batch and retry: degraded, not
   * fatal. Anything else (a damaged file, an I/O error on writable files) leaves the caller to decide.
   */
  private commitFailure(e: unknown): WaveosError {
    if (isDiskFull(e)) {
      this.holdWhileFull('disk_full', errorMessage(e));
      return new WaveosError('WAVEOS_E_DISK_FULL', `journal commit failed: the disk is full (${errorMessage(e)}); free space on the journal's filesystem`, { cause: e });
    }
    let readOnly = isReadOnlyError(e) ? e : undefined;
    if (!readOnly && isIoError(e)) {
      try {
        this.assertWritable();
      } catch (probe) {
        readOnly = probe;
      }
    }
    if (readOnly) {
      this.holdWhileFull('read_only', errorMessage(readOnly));
      return new WaveosError(
        'WAVEOS_E_JOURNAL_READONLY',
        `journal commit failed: ${errorMessage(readOnly)}; the journal is read-only until its files can be written again (chattr -i, remount read-write, fix permissions)`,
        { cause: e },
      );
    }
    return new WaveosError('WAVEOS_E_RUNTIME', `journal commit failed: ${errorMessage(e)}`, { cause: e });
  }

  /**
   * Commits what is queued before a read, so the read sees it; while commits are held (disk full, read-only
   * files) the read is served from what is committed and the retry timer keeps trying. Reads never fail for
   * want of a write.
   */
  flushForRead(): void {
    if (this.full) return;
    try {
      this.flush();
    } catch (e) {
      if (!this.full) throw e;
    }
  }

  /** Calls `fn` with each committed batch; returns the unsubscribe handle. */
  onCommit(fn: (events: JournalEvent[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Appends an event and writes state values in one commit: both are durable together, or neither is. */
  appendDurableWritingStates(input: EventInput, entries: StateEntries): JournalEvent {
    return this.appendStoring(input, checkedEntries(entries));
  }

  /** @deprecated Untyped and unchecked: use appendDurableWritingStates with keys from the registry. */
  appendDurableWithState(input: EventInput, entries: Record<string, unknown>): JournalEvent {
    return this.appendStoring(input, entries);
  }

  private appendStoring(input: EventInput, entries: Record<string, unknown>): JournalEvent {
    const ev = this.chain(input);
    try {
      this.storeStates(entries);
    } catch (e) {
      // The state did not change, so the event must not be committed later on its own either.
      this.drop(ev);
      throw e;
    }
    return ev;
  }

  /** One durable commit of state values, with everything queued before them. */
  private storeStates(entries: Record<string, unknown>): void {
    const ts = isoUtc(this.clock.now());
    this.flush(() => {
      for (const [k, v] of Object.entries(entries)) this.putState.run(k, JSON.stringify(this.redactor.value(v)), ts);
    });
  }

  /** Takes back the newest queued event (its commit failed with the state it belonged to). */
  private drop(ev: JournalEvent): void {
    const last = this.pending.at(-1);
    if (last?.event !== ev) return;
    this.pending.pop();
    this.seq = ev.seq - 1;
    this.head = ev.prev_hash;
  }

  /** Writes a state value durably, in the same commit as everything queued before it; checked against its schema first. */
  writeState<K extends StateKey>(key: K, value: StateValue<K>): void {
    this.storeStates({ [key]: checkStateValue(key, value) });
  }

  /**
   * Writes a state value with the next commit (within the batch delay), not in a commit of its own: for a
   * value whose loss at a crash the start-up recovery makes good (the children record: orphans are also found
   * by their environment). The value is taken now; a later write of the key wins.
   */
  writeStateWithNextCommit<K extends StateKey>(key: K, value: StateValue<K>): void {
    const json = JSON.stringify(this.redactor.value(checkStateValue(key, value)));
    const ts = isoUtc(this.clock.now());
    this.deferred.push(() => this.putState.run(key, json, ts));
    this.armFlush();
  }

  /** Several state values in one durable commit, each checked against its schema first. */
  writeStates(entries: StateEntries): void {
    this.storeStates(checkedEntries(entries));
  }

  /** @deprecated Untyped and unchecked: use writeState with a key from the registry (state-keys.ts). */
  setState(key: string, value: unknown): void {
    this.storeStates({ [key]: value });
  }

  /** @deprecated Untyped and unchecked: use writeStates with keys from the registry (state-keys.ts). */
  setStates(entries: Record<string, unknown>): void {
    this.storeStates(entries);
  }

  deleteState(key: StateKey): void {
    this.flush(() => this.db.prepare('DELETE FROM state WHERE key = ?').run(key));
  }

  /**
   * Bulk metrics (imports, tests, benches): the samples of each series, in the order given, as sealed chunks
   * in one transaction. The live history writes through `writeChunks` instead.
   */
  appendSamples(samples: readonly MetricSample[]): void {
    if (samples.length === 0) return;
    const bySeries = new Map<string, { sid: number; samples: { t: number; v: number }[] }>();
    this.db.transaction(() => {
      for (const s of samples) {
        const labels = canonicalJson(s.labels);
        const key = `${s.name}\u0000${labels}`;
        let e = bySeries.get(key);
        if (!e) bySeries.set(key, (e = { sid: this.seriesId(s.name, s.unit, labels), samples: [] }));
        e.samples.push({ t: s.ts_ms, v: s.value });
      }
    })();
    const sealed: ChunkRow[] = [];
    for (const e of bySeries.values()) sealed.push(...chunkSamples(e.sid, e.samples));
    this.writeChunks({ sealed, pieces: [] });
  }

  private readonly seriesIds = new Map<string, number>();

  /** The catalogue id of a series (labels as canonical JSON), added on first use. */
  seriesId(name: string, unit: string, labelsJson: string): number {
    const key = `${name}\u0000${labelsJson}`;
    const known = this.seriesIds.get(key);
    if (known !== undefined) return known;
    this.assertWritable();
    this.db.prepare('INSERT INTO series (name, unit, labels) VALUES (?, ?, ?) ON CONFLICT (name, labels) DO NOTHING').run(name, unit, labelsJson);
    const id = (this.db.prepare('SELECT id FROM series WHERE name = ? AND labels = ?').get(name, labelsJson) as { id: number }).id;
    this.seriesIds.set(key, id);
    return id;
  }

  /**
   * One flush of the metric history: chunks sealed since the last flush are inserted in one transaction (one
   * fsync), then each open chunk's samples since the last flush (`pieces`) are appended to the head log as one
   * record (one fdatasync). A piece without `head_start_ms` starts its open chunk. `closedHeads` is not needed
   * any more (a sealed chunk supersedes the pieces of the open chunk it was) and is ignored.
   */
  writeChunks(w: { sealed: readonly ChunkRow[]; pieces: readonly (ChunkRow & { head_start_ms?: number })[]; closedHeads?: readonly number[] }): void {
    if (w.sealed.length === 0 && w.pieces.length === 0) return;
    this.assertWritable();
    if (w.sealed.length > 0)
      this.db.transaction(() => {
        for (const c of w.sealed) this.insertChunk.run(c.series_id, c.start_ms, c.end_ms, c.count, c.data);
      })();
    if (w.pieces.length > 0) this.headLog.append(w.pieces.map((p): HeadPiece => ({ series_id: p.series_id, head_start_ms: p.head_start_ms ?? p.start_ms, data: p.data })));
    if (w.sealed.length > 0) this.headLog.sealed(w.sealed.map((c) => headKey(c.series_id, c.start_ms)));
    this.forgetHeadLogFiles();
  }

  /**
   * Open chunks a previous run left (it stopped, or was killed, between flushes) will never grow: each one's
   * pieces in the head log are joined into sealed chunks as they stand (a piece that does not decode is kept
   * as it is, and so is a record that fails its check, for the reader to report), so every chunk but this
   * run's open ones is in `chunks`; then the log goes. Pieces of a chunk already sealed (the run stopped
   * between sealing it and removing its log file) are skipped.
   */
  private sealLeftoverHeads(): void {
    if (this.db.memory || headSegments(this.db.name).length === 0) return;
    const log = readHeadLog(this.db.name);
    const sealed = sealPieces(
      this.db,
      log.pieces.map((p) => ({ ...pieceRow(p), head_start_ms: p.head_start_ms })),
    );
    this.db.transaction(() => {
      for (const c of sealed) this.insertChunk.run(c.series_id, c.start_ms, c.end_ms, c.count, c.data);
    })();
    // Records that fail their check belong to no series: kept as they are, beside the journal, for verify to report.
    keepCorrupt(
      this.db.name,
      headSegments(this.db.name).flatMap((s) => readSegment(s.path).corrupt.map((c) => c.bytes)),
    );
    this.headLog.clear();
    this.forgetHeadLogFiles();
  }

  /** One-minute aggregates; a minute written twice (a restart mid-minute) is merged, not duplicated. */
  appendAggregates(rows: readonly MetricAggregate[]): void {
    if (rows.length === 0) return;
    this.assertWritable();
    const ins = this.statement(UPSERT_AGGREGATE);
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => {
        for (const r of rows) ins.run(r.minute_ms, this.seriesId(r.name, r.unit, canonicalJson(r.labels)), r.min, r.avg, r.max, r.last, r.count);
      })();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /**
   * Deletes sealed chunks whose last sample is older than `rawBeforeMs` and aggregates older than
   * `aggregatesBeforeMs`, at most `maxRows` of each per call so that one call never holds the writer for long.
   * Returns what went (chunks, aggregate rows) and the chunks that went without being folded because they
   * failed their check. A chunk goes whole: its samples all lie before the cut, and are folded into the
   * one-minute aggregates in the same transaction (foldChunks).
   */
  pruneMetrics(rawBeforeMs: number, aggregatesBeforeMs: number, maxRows: number): PruneResult {
    const r = this.db.prepare('SELECT id FROM metrics_1m WHERE minute_ms >= ? ORDER BY id LIMIT 1').get(aggregatesBeforeMs) as { id: number } | undefined;
    const all = this.db.prepare('SELECT max(id) AS id FROM metrics_1m').get() as { id: number | null };
    const aggBefore = r ? r.id : all.id === null ? null : all.id + 1;
    return this.deleteOldest(rawBeforeMs, aggBefore, maxRows, aggregatesBeforeMs);
  }

  /** Deletes the oldest `rows` chunks (folded into aggregates first) or aggregates: how the disk quota is kept. */
  trimOldestMetrics(table: 'raw' | 'aggregates', rows: number): PruneResult {
    if (rows <= 0) return { raw: 0, aggregates: 0, corrupt: [] };
    if (table === 'raw') return this.deleteOldest(Number.MAX_SAFE_INTEGER, null, rows, Number.MIN_SAFE_INTEGER);
    const lo = (this.db.prepare('SELECT min(id) AS id FROM metrics_1m').get() as { id: number | null }).id;
    if (lo === null) return { raw: 0, aggregates: 0, corrupt: [] };
    return this.deleteOldest(null, lo + rows, rows, Number.MIN_SAFE_INTEGER);
  }

  private deleteOldest(rawBeforeMs: number | null, aggBeforeId: number | null, maxRows: number, foldFromMs: number): PruneResult {
    let raw = 0;
    let aggregates = 0;
    let corrupt: UnfoldedChunk[] = [];
    this.assertWritable();
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => {
        if (rawBeforeMs !== null) {
          // A chunk whose pieces are still in the head log waits for their segment to go (HeadLogWriter.lingering).
          const old = this.db
            .prepare('SELECT id, series_id, start_ms, end_ms, count, data FROM chunks WHERE start_ms <= ? AND end_ms < ? ORDER BY start_ms, id LIMIT ?')
            .all(rawBeforeMs, rawBeforeMs, maxRows) as FoldedChunk[];
          const del = this.statement('DELETE FROM chunks WHERE id = ?');
          const going = old.filter((c) => !this.headLog.lingering(headKey(c.series_id, c.start_ms)));
          // Folded before the delete and in its transaction: a sample is in the aggregates exactly when its chunk is gone.
          corrupt = this.foldChunks(going, foldFromMs);
          for (const c of going) raw += del.run(c.id).changes;
        }
        if (aggBeforeId !== null)
          aggregates = this.db.prepare('DELETE FROM metrics_1m WHERE id < min(?, (SELECT min(id) FROM metrics_1m) + ?)').run(aggBeforeId, maxRows).changes;
      })();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    return { raw, aggregates, corrupt };
  }

  /**
   * Folds the samples of chunks about to be deleted into one-minute aggregates (min, max, count-weighted avg,
   * last by timestamp), merged with rows already there. Samples before the journal's fold boundary (written
   * by a build that aggregated every minute as it went, schema 9) and minutes older than `fromMs` (their
   * aggregates would be past retention) are not counted. Returns the chunks that failed their check.
   */
  private foldChunks(chunks: readonly FoldedChunk[], fromMs: number): UnfoldedChunk[] {
    if (chunks.length === 0) return [];
    const boundary = this.foldBoundary();
    const fromMinute = Math.floor(fromMs / MINUTE_MS) * MINUTE_MS;
    const buckets = new Map<string, { series_id: number; minute_ms: number; min: number; max: number; sum: number; count: number; last: number; last_t: number }>();
    const corrupt: UnfoldedChunk[] = [];
    for (const c of chunks) {
      if (c.end_ms < boundary || c.end_ms < fromMinute) continue;
      let cols: { t: Float64Array; v: Float64Array };
      try {
        cols = decodeChunkColumns(c.data);
      } catch (e) {
        const s = this.db.prepare('SELECT name, labels FROM series WHERE id = ?').get(c.series_id) as { name: string; labels: string } | undefined;
        corrupt.push({
          chunk_id: c.id,
          series_id: c.series_id,
          name: s?.name ?? '?',
          labels: s?.labels ?? '{}',
          start_ms: c.start_ms,
          end_ms: c.end_ms,
          count: c.count,
          reason: e instanceof ChunkCorrupt ? e.reason : 'decode',
          message: errorMessage(e),
        });
        continue;
      }
      for (let i = 0; i < cols.t.length; i++) {
        const t = cols.t[i] as number;
        const v = cols.v[i] as number;
        if (t < boundary) continue;
        const minute = Math.floor(t / MINUTE_MS) * MINUTE_MS;
        if (minute < fromMinute) continue;
        const key = `${c.series_id}:${minute}`;
        const b = buckets.get(key);
        if (!b) buckets.set(key, { series_id: c.series_id, minute_ms: minute, min: v, max: v, sum: v, count: 1, last: v, last_t: t });
        else {
          if (v < b.min) b.min = v;
          if (v > b.max) b.max = v;
          b.sum += v;
          b.count++;
          if (t >= b.last_t) {
            b.last = v;
            b.last_t = t;
          }
        }
      }
    }
    const ins = this.statement(UPSERT_AGGREGATE);
    // In minute order, so that rows (whose ids retention and the quota go by) are added oldest first.
    for (const b of [...buckets.values()].sort((x, y) => x.minute_ms - y.minute_ms || x.series_id - y.series_id))
      ins.run(b.minute_ms, b.series_id, b.min, b.sum / b.count, b.max, b.last, b.count);
    return corrupt;
  }

  /** Samples before this were aggregated as they were captured, by an earlier build (schema 9). */
  private foldBoundary(): number {
    const r = this.db.prepare('SELECT before_ms FROM aggregate_fold WHERE id = 1').get() as { before_ms: number } | undefined;
    return r ? r.before_ms : Number.MIN_SAFE_INTEGER;
  }

  /**
   * Records an action before it runs: the intent row and an `action.requested` event in one durable commit.
   * Start-up marks intents that never got an outcome as interrupted.
   */
  beginIntent(req: { action: string; target?: string; params?: Record<string, unknown>; reason: string; requestedBy: string }): Intent {
    const ev = this.chain({
      kind: 'action.requested',
      source: req.requestedBy,
      reason: req.reason,
      data: { action: req.action, target: req.target ?? null, params: req.params ?? {} },
    });
    // the intent row holds what the event holds: redacted
    const params = ev.data.params as Record<string, unknown>;
    let id = 0;
    try {
      this.flush(() => {
        const r = this.db
          .prepare(
            "INSERT INTO intents (run_id, action, target, params, reason, requested_by, status, intent_seq, created_ts) VALUES (?,?,?,?,?,?,'pending',?,?)",
          )
          .run(this.runId, req.action, req.target ?? null, JSON.stringify(params), ev.reason, req.requestedBy, ev.seq, ev.ts);
        id = Number(r.lastInsertRowid);
      });
    } catch (e) {
      // No intent row, so no action: its event must not be committed later on its own either.
      this.drop(ev);
      throw e;
    }
    return {
      id,
      run_id: this.runId,
      action: req.action,
      target: req.target ?? null,
      params,
      reason: ev.reason,
      requested_by: req.requestedBy,
      status: 'pending',
      outcome: null,
      intent_seq: ev.seq,
      outcome_seq: null,
    };
  }

  /**
   * Records an action's outcome and its event in one durable commit; with `withNextCommit`, in the next
   * commit instead (within the batch delay), for an action nobody waits on: a crash in between leaves the
   * intent pending, and the next start marks it `interrupted`.
   */
  finishIntent(intent: Intent, status: 'succeeded' | 'failed', reason: string, outcome: Record<string, unknown> = {}, withNextCommit = false): JournalEvent {
    const ev = this.chain({
      kind: `action.${status}`,
      severity: status === 'failed' ? 'error' : 'info',
      source: intent.requested_by,
      reason,
      data: { intent_id: intent.id, action: intent.action, target: intent.target, ...outcome },
    });
    const record = (): void => {
      this.db
        .prepare('UPDATE intents SET status = ?, outcome = ?, outcome_seq = ?, finished_ts = ? WHERE id = ?')
        .run(status, JSON.stringify(this.redactor.value(outcome)), ev.seq, ev.ts, intent.id);
    };
    if (withNextCommit) {
      this.deferred.push(record);
      this.armFlush();
      return ev;
    }
    try {
      this.flush(record);
    } catch (e) {
      if (!this.full) throw e;
      // The action has happened: its outcome waits with its event and goes in with it once writes work again.
      this.deferred.push(record);
    }
    return ev;
  }

  /** Crash-only start-up: every intent a previous run left without an outcome becomes `interrupted`. */
  resolveInterruptedIntents(): Intent[] {
    const open = this.intents('pending').filter((i) => i.run_id !== this.runId);
    for (const i of open) {
      const ev = this.chain({
        kind: 'action.interrupted',
        severity: 'warning',
        source: 'daemon',
        reason: `${i.action}${i.target ? ` of ${i.target}` : ''} was started by run ${i.run_id} and never finished: that run ended first`,
        data: { intent_id: i.id, action: i.action, target: i.target, run_id: i.run_id, intent_seq: i.intent_seq },
      });
      this.flush(() => this.db.prepare("UPDATE intents SET status = 'interrupted', outcome_seq = ?, finished_ts = ? WHERE id = ?").run(ev.seq, ev.ts, i.id));
    }
    return open;
  }

  override close(): void {
    if (!this.db.open) return;
    try {
      this.flush();
    } finally {
      this.headLog.close();
      this.db.close();
    }
  }
}
