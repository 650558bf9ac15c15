import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import Database from 'better-sqlite3';
import { type Clock, WaveosError, canonicalJson, errorMessage, isoUtc } from '../core/index.js';
import { type EventBody, type EventInput, GENESIS_HASH, type JournalEvent, type Severity, canonicalBody, chainHash } from './event.js';
import { migrateSchema } from './schema.js';

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
}

export interface EventQuery {
  afterSeq?: number;
  /** ISO-8601 UTC; events at or after it. */
  sinceTs?: string;
  kindPrefix?: string;
  limit?: number;
}

export interface MetricSample {
  ts_ms: number;
  name: string;
  value: number;
  unit: string;
  labels: Record<string, string>;
}

export interface StoredSample extends MetricSample {
  id: number;
}

/** One series over one minute: what retention keeps after the raw samples are gone. */
export interface MetricAggregate {
  minute_ms: number;
  name: string;
  unit: string;
  labels: Record<string, string>;
  min: number;
  avg: number;
  max: number;
  last: number;
  count: number;
}

export interface MetricsQuery {
  sinceMs: number;
  untilMs?: number;
  name?: string;
  limit: number;
}

/** Size of the metrics history, estimated cheaply (row-id ranges times the average row size). */
export interface MetricsFootprint {
  raw_rows: number;
  raw_oldest_ms: number | null;
  aggregate_rows: number;
  aggregate_oldest_ms: number | null;
  raw_bytes: number;
  aggregate_bytes: number;
  bytes: number;
}

/** Bytes a row costs beyond its text: record header, integers, real, and its index entries. */
const RAW_ROW_OVERHEAD = 48;
const AGG_ROW_OVERHEAD = 96;

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

interface PendingEvent {
  body: EventBody;
  dataJson: string;
  prevHash: string;
  hash: string;
}

export function rowToEvent(r: EventRow): JournalEvent {
  return {
    v: 1,
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

function openDb(path: string, readonly: boolean): Database.Database {
  try {
    if (!readonly) mkdirSync(dirname(path), { recursive: true, mode: 0o750 });
    const db = new Database(path, { readonly, fileMustExist: readonly });
    db.pragma('busy_timeout = 5000');
    if (!readonly) {
      db.pragma('journal_mode = WAL');
      db.pragma('synchronous = FULL');
    }
    return db;
  } catch (e) {
    throw new WaveosError('WAVEOS_E_JOURNAL_OPEN', `cannot open the journal ${path}: ${errorMessage(e)}`, { cause: e });
  }
}

/** Read access to a journal file: for offline commands and for the daemon's own queries. */
export class JournalReader {
  protected readonly db: Database.Database;

  constructor(db: Database.Database) {
    this.db = db;
  }

  static openReadOnly(path: string): JournalReader {
    const db = openDb(path, true);
    return new JournalReader(db);
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
    if (q.kindPrefix) {
      // A prefix range keeps the kind index usable.
      where.push('(kind = ? OR (kind >= ? AND kind < ?))');
      args.push(q.kindPrefix, q.kindPrefix, `${q.kindPrefix}\uffff`);
    }
    const sql = `SELECT * FROM events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY seq${q.limit ? ` LIMIT ${Math.floor(q.limit)}` : ''}`;
    for (const r of this.db.prepare(sql).iterate(...args)) yield rowToEvent(r as EventRow);
  }

  /** The newest event of a run (optionally of one kind): how a run ended is read from its last events. */
  lastEventOfRun(runId: string, kind?: string): JournalEvent | undefined {
    const r = kind
      ? this.db.prepare('SELECT * FROM events WHERE kind = ? AND run_id = ? ORDER BY seq DESC LIMIT 1').get(kind, runId)
      : this.db.prepare('SELECT * FROM events WHERE run_id = ? ORDER BY seq DESC LIMIT 1').get(runId);
    return r === undefined ? undefined : rowToEvent(r as EventRow);
  }

  /** Raw rows in seq order, for chain verification. */
  iterateRows(): IterableIterator<EventRow> {
    return this.db.prepare('SELECT * FROM events ORDER BY seq').iterate() as IterableIterator<EventRow>;
  }

  getState<T>(key: string): T | undefined {
    const r = this.db.prepare('SELECT value FROM state WHERE key = ?').get(key) as { value: string } | undefined;
    return r === undefined ? undefined : (JSON.parse(r.value) as T);
  }

  samples(afterId: number, limit: number): StoredSample[] {
    const rows = this.db.prepare('SELECT * FROM metrics WHERE id > ? ORDER BY id LIMIT ?').all(afterId, limit) as (Omit<StoredSample, 'labels'> & {
      labels: string;
    })[];
    return rows.map((r) => ({ ...r, labels: JSON.parse(r.labels) as Record<string, string> }));
  }

  /** Raw samples at or after `sinceMs`, oldest first. */
  samplesSince(q: MetricsQuery): MetricSample[] {
    const until = q.untilMs ?? Number.MAX_SAFE_INTEGER;
    const rows = (
      q.name
        ? this.db.prepare('SELECT ts_ms, name, value, unit, labels FROM metrics WHERE name = ? AND ts_ms >= ? AND ts_ms < ? ORDER BY ts_ms, id LIMIT ?').all(q.name, q.sinceMs, until, q.limit)
        : // Rows go in in time order: scan by id from the first one in range (no index on ts alone).
          this.db
            .prepare(
              'SELECT ts_ms, name, value, unit, labels FROM metrics WHERE id >= (SELECT id FROM metrics WHERE ts_ms >= ? ORDER BY id LIMIT 1) AND ts_ms < ? ORDER BY id LIMIT ?',
            )
            .all(q.sinceMs, until, q.limit)
    ) as (Omit<MetricSample, 'labels'> & { labels: string })[];
    return rows.map((r) => ({ ...r, labels: JSON.parse(r.labels) as Record<string, string> }));
  }

  /** One-minute aggregates of minutes starting at or after `sinceMs`, oldest first. */
  aggregatesSince(q: MetricsQuery): MetricAggregate[] {
    const until = q.untilMs ?? Number.MAX_SAFE_INTEGER;
    const rows = (
      q.name
        ? this.db
            .prepare('SELECT minute_ms, name, unit, labels, min, avg, max, last, count FROM metrics_1m WHERE name = ? AND minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms LIMIT ?')
            .all(q.name, q.sinceMs, until, q.limit)
        : this.db
            .prepare('SELECT minute_ms, name, unit, labels, min, avg, max, last, count FROM metrics_1m WHERE minute_ms >= ? AND minute_ms < ? ORDER BY minute_ms, id LIMIT ?')
            .all(q.sinceMs, until, q.limit)
    ) as (Omit<MetricAggregate, 'labels'> & { labels: string })[];
    return rows.map((r) => ({ ...r, labels: JSON.parse(r.labels) as Record<string, string> }));
  }

  metricsFootprint(): MetricsFootprint {
    const raw = this.db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM metrics').get() as { lo: number | null; hi: number | null };
    const agg = this.db.prepare('SELECT min(id) AS lo, max(id) AS hi FROM metrics_1m').get() as { lo: number | null; hi: number | null };
    const rawRows = raw.lo === null || raw.hi === null ? 0 : raw.hi - raw.lo + 1;
    const aggRows = agg.lo === null || agg.hi === null ? 0 : agg.hi - agg.lo + 1;
    const rawText = rawRows
      ? ((this.db.prepare('SELECT avg(2 * length(name) + length(unit) + length(labels)) AS b FROM (SELECT name, unit, labels FROM metrics ORDER BY id DESC LIMIT 200)').get() as { b: number }).b ?? 0)
      : 0;
    const aggText = aggRows
      ? ((this.db.prepare('SELECT avg(2 * (length(name) + length(labels)) + length(unit)) AS b FROM (SELECT name, unit, labels FROM metrics_1m ORDER BY id DESC LIMIT 200)').get() as { b: number })
          .b ?? 0)
      : 0;
    const rawOldest = rawRows ? (this.db.prepare('SELECT ts_ms FROM metrics WHERE id = ?').get(raw.lo) as { ts_ms: number } | undefined) : undefined;
    const aggOldest = aggRows ? (this.db.prepare('SELECT minute_ms FROM metrics_1m WHERE id = ?').get(agg.lo) as { minute_ms: number } | undefined) : undefined;
    const rawBytes = Math.round(rawRows * (rawText + RAW_ROW_OVERHEAD));
    const aggBytes = Math.round(aggRows * (aggText + AGG_ROW_OVERHEAD));
    return {
      raw_rows: rawRows,
      raw_oldest_ms: rawOldest?.ts_ms ?? null,
      aggregate_rows: aggRows,
      aggregate_oldest_ms: aggOldest?.minute_ms ?? null,
      raw_bytes: rawBytes,
      aggregate_bytes: aggBytes,
      bytes: rawBytes + aggBytes,
    };
  }

  intents(status?: IntentStatus): Intent[] {
    const rows = (
      status ? this.db.prepare('SELECT * FROM intents WHERE status = ? ORDER BY id').all(status) : this.db.prepare('SELECT * FROM intents ORDER BY id').all()
    ) as (Omit<Intent, 'params' | 'outcome'> & { params: string; outcome: string | null })[];
    return rows.map((r) => ({
      ...r,
      params: JSON.parse(r.params) as Record<string, unknown>,
      outcome: r.outcome === null ? null : (JSON.parse(r.outcome) as Record<string, unknown>),
    }));
  }

  close(): void {
    if (this.db.open) this.db.close();
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
  private pending: PendingEvent[] = [];
  private timer: NodeJS.Timeout | undefined;
  private seq: number;
  private head: string;
  private readonly insertEvent: Database.Statement;
  private readonly putState: Database.Statement;
  private readonly insertSample: Database.Statement;
  /** Listeners that see each event once it is durable (the API's --follow, the exporter). */
  private readonly listeners = new Set<(e: JournalEvent[]) => void>();
  private commits = 0;

  private constructor(db: Database.Database, opts: JournalOptions) {
    super(db);
    this.clock = opts.clock;
    this.runId = opts.runId;
    this.bootId = opts.bootId;
    this.batchMax = opts.batchMax ?? 256;
    this.batchDelayMs = opts.batchDelayMs ?? 2;
    this.onCommitError =
      opts.onCommitError ??
      ((e) => {
        throw e;
      });
    const last = db.prepare('SELECT seq, hash FROM events ORDER BY seq DESC LIMIT 1').get() as { seq: number; hash: string } | undefined;
    this.seq = last?.seq ?? 0;
    this.head = last?.hash ?? GENESIS_HASH;
    this.insertEvent = db.prepare(
      'INSERT INTO events (seq, ts, mono_ms, run_id, boot_id, kind, severity, source, reason, data, prev_hash, hash) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)',
    );
    this.putState = db.prepare(
      'INSERT INTO state (key, value, updated_ts) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value, updated_ts = excluded.updated_ts',
    );
    this.insertSample = db.prepare('INSERT INTO metrics (ts_ms, name, value, unit, labels) VALUES (?,?,?,?,?)');
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
    if (this.pending.length >= this.batchMax) this.flush();
    else if (this.timer === undefined) {
      this.timer = setTimeout(() => this.backgroundFlush(), this.batchDelayMs);
      this.timer.unref();
    }
    return ev;
  }

  /** Appends and commits at once (with everything queued before it): durable when it returns. */
  appendDurable(input: EventInput): JournalEvent {
    const ev = this.chain(input);
    this.flush();
    return ev;
  }

  private chain(input: EventInput): JournalEvent {
    const data = input.data ?? {};
    const body: EventBody = {
      v: 1,
      seq: this.seq + 1,
      ts: isoUtc(this.clock.now()),
      mono_ms: this.clock.monoMs(),
      run_id: this.runId,
      boot_id: this.bootId,
      kind: input.kind,
      severity: input.severity ?? 'info',
      source: input.source,
      reason: input.reason,
      data,
    };
    const dataJson = canonicalJson(data);
    const hash = chainHash(this.head, canonicalBody(body, dataJson));
    this.pending.push({ body, dataJson, prevHash: this.head, hash });
    this.seq = body.seq;
    this.head = hash;
    return { ...body, prev_hash: this.pending[this.pending.length - 1]?.prevHash ?? GENESIS_HASH, hash };
  }

  private backgroundFlush(): void {
    try {
      this.flush();
    } catch (e) {
      this.onCommitError(e);
    }
  }

  private readonly writeBatch = (batch: PendingEvent[], extra?: () => void): void => {
    this.db.transaction(() => {
      for (const p of batch) {
        const b = p.body;
        this.insertEvent.run(b.seq, b.ts, b.mono_ms, b.run_id, b.boot_id, b.kind, b.severity, b.source, b.reason, p.dataJson, p.prevHash, p.hash);
      }
      extra?.();
    })();
  };

  /** Commits everything queued in one transaction. */
  flush(extra?: () => void): void {
    if (this.timer !== undefined) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.pending.length === 0 && !extra) return;
    const batch = this.pending;
    this.pending = [];
    try {
      this.writeBatch(batch, extra);
    } catch (e) {
      // Nothing of the batch is stored: the in-memory chain is now ahead of the file, so stop here.
      throw new WaveosError('WAVEOS_E_RUNTIME', `journal commit failed: ${errorMessage(e)}`, { cause: e });
    }
    this.commits++;
    if (batch.length > 0 && this.listeners.size > 0) {
      const events = batch.map((p) => ({ ...p.body, prev_hash: p.prevHash, hash: p.hash }));
      for (const l of this.listeners) {
        try {
          l(events);
        } catch {
          // a listener's failure is its own business; the journal has committed
        }
      }
    }
  }

  /** Calls `fn` with each committed batch; returns the unsubscribe handle. */
  onCommit(fn: (events: JournalEvent[]) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  /** Writes a state value durably, in the same commit as everything queued before it. */
  setState(key: string, value: unknown): void {
    const json = JSON.stringify(value);
    this.flush(() => this.putState.run(key, json, isoUtc(this.clock.now())));
  }

  /** Several state values in one durable commit. */
  setStates(entries: Record<string, unknown>): void {
    const ts = isoUtc(this.clock.now());
    this.flush(() => {
      for (const [k, v] of Object.entries(entries)) this.putState.run(k, JSON.stringify(v), ts);
    });
  }

  deleteState(key: string): void {
    this.flush(() => this.db.prepare('DELETE FROM state WHERE key = ?').run(key));
  }

  /** Bulk metrics: batched, and not fsynced on their own (a later durable commit carries them). */
  appendSamples(samples: readonly MetricSample[]): void {
    if (samples.length === 0) return;
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => {
        for (const s of samples) this.insertSample.run(s.ts_ms, s.name, s.value, s.unit, canonicalJson(s.labels));
      })();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /** One-minute aggregates; a minute written twice (a restart mid-minute) is merged, not duplicated. */
  appendAggregates(rows: readonly MetricAggregate[]): void {
    if (rows.length === 0) return;
    const ins = this.db.prepare(
      `INSERT INTO metrics_1m (minute_ms, name, unit, labels, min, avg, max, last, count) VALUES (?,?,?,?,?,?,?,?,?)
       ON CONFLICT (name, labels, minute_ms) DO UPDATE SET
         min = min(metrics_1m.min, excluded.min), max = max(metrics_1m.max, excluded.max),
         avg = (metrics_1m.avg * metrics_1m.count + excluded.avg * excluded.count) / (metrics_1m.count + excluded.count),
         last = excluded.last, count = metrics_1m.count + excluded.count`,
    );
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => {
        for (const r of rows) ins.run(r.minute_ms, r.name, r.unit, canonicalJson(r.labels), r.min, r.avg, r.max, r.last, r.count);
      })();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /**
   * Deletes raw samples older than `rawBeforeMs` and aggregates older than `aggregatesBeforeMs`, at most
   * `maxRows` of each per call so that one call never holds the writer for long. Returns what went.
   */
  pruneMetrics(rawBeforeMs: number, aggregatesBeforeMs: number, maxRows: number): { raw: number; aggregates: number } {
    const firstKept = (table: 'metrics' | 'metrics_1m', col: 'ts_ms' | 'minute_ms', before: number): number | null => {
      const r = this.db.prepare(`SELECT id FROM ${table} WHERE ${col} >= ? ORDER BY id LIMIT 1`).get(before) as { id: number } | undefined;
      if (r) return r.id;
      const all = this.db.prepare(`SELECT max(id) AS id FROM ${table}`).get() as { id: number | null };
      return all.id === null ? null : all.id + 1;
    };
    return this.deleteOldest(firstKept('metrics', 'ts_ms', rawBeforeMs), firstKept('metrics_1m', 'minute_ms', aggregatesBeforeMs), maxRows);
  }

  /** Deletes the oldest `rows` raw samples (or aggregates): how the disk quota is kept. */
  trimOldestMetrics(table: 'raw' | 'aggregates', rows: number): number {
    const t = table === 'raw' ? 'metrics' : 'metrics_1m';
    const lo = (this.db.prepare(`SELECT min(id) AS id FROM ${t}`).get() as { id: number | null }).id;
    if (lo === null || rows <= 0) return 0;
    const r = table === 'raw' ? this.deleteOldest(lo + rows, null, rows) : this.deleteOldest(null, lo + rows, rows);
    return table === 'raw' ? r.raw : r.aggregates;
  }

  private deleteOldest(rawBeforeId: number | null, aggBeforeId: number | null, maxRows: number): { raw: number; aggregates: number } {
    let raw = 0;
    let aggregates = 0;
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => {
        if (rawBeforeId !== null)
          raw = this.db.prepare('DELETE FROM metrics WHERE id < min(?, (SELECT min(id) FROM metrics) + ?)').run(rawBeforeId, maxRows).changes;
        if (aggBeforeId !== null)
          aggregates = this.db.prepare('DELETE FROM metrics_1m WHERE id < min(?, (SELECT min(id) FROM metrics_1m) + ?)').run(aggBeforeId, maxRows).changes;
      })();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
    return { raw, aggregates };
  }

  /**
   * Like `appendSamples`, for callers that keep each series' labels as canonical JSON already (the
   * telemetry registry does, once per series): no per-row serialization.
   */
  appendSamplesJson(samples: readonly { ts_ms: number; name: string; value: number; unit: string; labels_json: string }[]): void {
    if (samples.length === 0) return;
    this.db.pragma('synchronous = NORMAL');
    try {
      this.db.transaction(() => {
        for (const s of samples) this.insertSample.run(s.ts_ms, s.name, s.value, s.unit, s.labels_json);
      })();
    } finally {
      this.db.pragma('synchronous = FULL');
    }
  }

  /**
   * Records an action before it runs: the intent row and an `action.requested` event in one durable commit.
   * Start-up marks intents that never got an outcome as interrupted.
   */
  beginIntent(req: { action: string; target?: string; params?: Record<string, unknown>; reason: string; requestedBy: string }): Intent {
    const params = req.params ?? {};
    const ev = this.chain({
      kind: 'action.requested',
      source: req.requestedBy,
      reason: req.reason,
      data: { action: req.action, target: req.target ?? null, params },
    });
    let id = 0;
    this.flush(() => {
      const r = this.db
        .prepare(
          "INSERT INTO intents (run_id, action, target, params, reason, requested_by, status, intent_seq, created_ts) VALUES (?,?,?,?,?,?,'pending',?,?)",
        )
        .run(this.runId, req.action, req.target ?? null, JSON.stringify(params), req.reason, req.requestedBy, ev.seq, ev.ts);
      id = Number(r.lastInsertRowid);
    });
    return {
      id,
      run_id: this.runId,
      action: req.action,
      target: req.target ?? null,
      params,
      reason: req.reason,
      requested_by: req.requestedBy,
      status: 'pending',
      outcome: null,
      intent_seq: ev.seq,
      outcome_seq: null,
    };
  }

  /** Records an action's outcome and its event in one durable commit. */
  finishIntent(intent: Intent, status: 'succeeded' | 'failed', reason: string, outcome: Record<string, unknown> = {}): JournalEvent {
    const ev = this.chain({
      kind: `action.${status}`,
      severity: status === 'failed' ? 'error' : 'info',
      source: intent.requested_by,
      reason,
      data: { intent_id: intent.id, action: intent.action, target: intent.target, ...outcome },
    });
    this.flush(() =>
      this.db
        .prepare('UPDATE intents SET status = ?, outcome = ?, outcome_seq = ?, finished_ts = ? WHERE id = ?')
        .run(status, JSON.stringify(outcome), ev.seq, ev.ts, intent.id),
    );
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
      this.db.close();
    }
  }
}
