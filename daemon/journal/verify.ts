import { type EventFormatVersion, GENESIS_HASH, canonicalBody, chainHash, isEventFormatVersion } from './event.js';
import { type Severity, SEVERITIES } from './severity.js';
import { JcsError } from '../core/index.js';
import type { HeadMark, JournalReader } from './journal.js';

/**
 * The stable name of each way a chain can break (docs/formats/journal.md): the words may change, these do
 * not, and another verifier names the same break with the same one.
 */
export type ChainBreakCode =
  | 'seq.start'
  | 'seq.gap'
  | 'seq.back'
  | 'prev_hash'
  | 'version.unknown'
  | 'version.back'
  | 'severity'
  | 'data.invalid'
  | 'canonical'
  | 'hash'
  | 'tail.truncated'
  | 'tail.extra'
  | 'tail.hash'
  | 'anchor';

export interface ChainBreak {
  seq: number;
  code: ChainBreakCode;
  problem: string;
}

type Problem = [ChainBreakCode, string];

export interface ChainReport {
  ok: boolean;
  events: number;
  firstSeq: number | null;
  lastSeq: number | null;
  head: string;
  broken?: ChainBreak;
  /** The journal's head mark (journal_head), when it has one; null for a journal an older WaveOS left. */
  headMark?: HeadMark | null;
  /** The seq range the head mark says was written and the journal no longer holds. */
  missingTail?: { from: number; to: number };
}

/** An event as the chain check reads it: a stored row (data as text) or a parsed event. */
export interface ChainLink {
  /** The event format version (docs/formats/journal.md): which canonical form the hash covers. */
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
  data: string | Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

/** Where a stretch of the chain hangs: the hash and seq of the event before its first. */
export interface ChainAnchor {
  prevHash: string;
  seq: number;
}

const GENESIS_ANCHOR: ChainAnchor = { prevHash: GENESIS_HASH, seq: 0 };

/**
 * Checks links pushed one at a time, in seq order, for what the chain promises: seq without gaps, each
 * prev_hash equal to the hash before it, and each hash equal to sha256(prev_hash + canonical body). It
 * stops at the first break. Anchored at genesis by default; `'first'` hangs it on whatever the first link
 * names (an evidence pack's window starts anywhere in the chain).
 */
export class ChainWalker {
  private prev: string;
  private expectSeq: number;
  private count = 0;
  private first: number | null = null;
  private last: number | null = null;
  private broken: ChainBreak | undefined;
  private from: ChainAnchor | undefined;
  /** The highest format version seen so far: a journal's versions never go back. */
  private version = 0;

  constructor(anchoredAt: ChainAnchor | 'first' = GENESIS_ANCHOR) {
    this.from = anchoredAt === 'first' ? undefined : anchoredAt;
    this.prev = this.from?.prevHash ?? GENESIS_HASH;
    this.expectSeq = (this.from?.seq ?? 0) + 1;
  }

  get ok(): boolean {
    return this.broken === undefined;
  }

  /** The anchor the walk hangs on (for `'first'`, known once a link was pushed). */
  get anchor(): ChainAnchor | undefined {
    return this.from;
  }

  /**
   * Checks the next link; false once the chain is broken (at this link or before). `body` is the link's
   * canonical body when the caller has made it already (to write it out): it is not made twice.
   */
  push(r: ChainLink, body?: string): boolean {
    if (this.broken) return false;
    if (this.first === null) {
      this.first = r.seq;
      if (this.from === undefined) {
        this.from = { prevHash: r.prev_hash, seq: r.seq - 1 };
        this.prev = r.prev_hash;
        this.expectSeq = r.seq;
      }
      // A chain from genesis starts at 1; a window may start anywhere.
      else if (this.from.seq === 0 && this.from.prevHash === GENESIS_HASH && r.seq !== 1) return this.fail(r.seq, ['seq.start', `the journal starts at seq ${r.seq}, expected 1`]);
    }
    const problem = this.problemOf(r, body);
    if (problem !== undefined) return this.fail(r.seq, problem);
    this.prev = r.hash;
    this.expectSeq = r.seq + 1;
    this.last = r.seq;
    this.count++;
    return true;
  }

  /** What is wrong with the next link, if anything. */
  private problemOf(r: ChainLink, body: string | undefined): Problem | undefined {
    if (r.seq !== this.expectSeq) return r.seq > this.expectSeq ? ['seq.gap', `seq ${this.expectSeq}..${r.seq - 1} missing`] : ['seq.back', `seq ${r.seq} repeats or goes back`];
    if (r.prev_hash !== this.prev) return ['prev_hash', 'prev_hash does not match the hash of the event before it'];
    if (!isEventFormatVersion(r.v)) return ['version.unknown', `unknown event format version ${JSON.stringify(r.v ?? null)} (this WaveOS knows 1 and 2)`];
    if (r.v < this.version) return ['version.back', `event format version ${r.v} after version ${this.version}: versions never go back`];
    if (!(SEVERITIES as readonly string[]).includes(r.severity)) return ['severity', `unknown severity "${r.severity}"`];
    const text = body ?? bodyOf(r, r.v);
    if (typeof text !== 'string') return text;
    if (chainHash(this.prev, text) !== r.hash) return ['hash', "hash does not match the event's content: the event was changed after it was written"];
    this.version = r.v;
    return undefined;
  }

  private fail(seq: number, [code, problem]: Problem): false {
    this.broken = { seq, code, problem };
    return false;
  }

  report(): ChainReport {
    const r: ChainReport = { ok: this.ok, events: this.count, firstSeq: this.first, lastSeq: this.last, head: this.prev };
    if (this.broken) r.broken = this.broken;
    return r;
  }
}

/** The canonical body a link's hash covers, by the rule of its version; or why there is none. */
function bodyOf(r: ChainLink, v: EventFormatVersion): string | Problem {
  let data: Record<string, unknown>;
  try {
    data = typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data;
  } catch {
    return ['data.invalid', 'data is not valid JSON'];
  }
  if (v === 2 && (typeof data !== 'object' || data === null || Array.isArray(data))) return ['data.invalid', 'data is not a JSON object'];
  const { seq, ts, mono_ms, run_id, boot_id, kind, source, reason } = r;
  try {
    return canonicalBody({ v, seq, ts, mono_ms, run_id, boot_id, kind, severity: r.severity as Severity, source, reason, data });
  } catch (e) {
    if (e instanceof JcsError) return ['canonical', `the event has no RFC 8785 form: ${e.message}`];
    throw e;
  }
}

/** Walks events in seq order (see ChainWalker); `anchor` lets a partial chain start after genesis. */
export function verifyChain(links: Iterable<ChainLink>, anchor: ChainAnchor = GENESIS_ANCHOR): ChainReport {
  const walker = new ChainWalker(anchor);
  for (const r of links) if (!walker.push(r)) break;
  return walker.report();
}

/**
 * The whole journal: the chain from genesis (verifyChain), then its end against the head mark, which is
 * kept outside the chain so that deleting the last rows cannot pass as a journal that ended there.
 */
export function verifyJournal(reader: JournalReader): ChainReport {
  return reader.readTogether(() => {
    const report = verifyChain(reader.iterateRows());
    const mark = reader.headMark();
    report.headMark = mark ?? null;
    if (mark && report.ok) checkTail(report, mark);
    return report;
  });
}

/** The chain verified: its last event must be the one the head mark names. */
function checkTail(report: ChainReport, mark: HeadMark): void {
  const last = report.lastSeq ?? 0;
  const fail = (seq: number, code: ChainBreakCode, problem: string): void => {
    report.ok = false;
    report.broken = { seq, code, problem };
  };
  if (mark.seq > last) {
    report.missingTail = { from: last + 1, to: mark.seq };
    fail(last + 1, 'tail.truncated', `seq ${last + 1}..${mark.seq} missing at the tail: the head mark says the journal reached seq ${mark.seq}, its last event is seq ${last}`);
  } else if (mark.seq < last) fail(mark.seq + 1, 'tail.extra', `seq ${mark.seq + 1}..${last} are past the head mark (seq ${mark.seq}): they were not written by WaveOS`);
  else if (mark.hash !== report.head) fail(last, 'tail.hash', "the last event's hash is not the one the head mark holds: the tail was replaced");
}

/** A point of the chain known from outside the journal: an evidence pack's head mark or window ends. */
export interface OutsideAnchor {
  seq: number;
  hash: string;
  /** Who says so, for the message: `evidence pack X`. */
  source: string;
}

/**
 * A verified journal against points of its chain known from elsewhere: it must still hold each one's event
 * with that hash. What the head mark cannot catch (rows and mark cut together) a pack kept elsewhere does.
 */
export function checkAnchors(reader: JournalReader, report: ChainReport, anchors: readonly OutsideAnchor[]): ChainReport {
  if (!report.ok) return report;
  const last = report.lastSeq ?? 0;
  for (const a of [...anchors].sort((x, y) => y.seq - x.seq)) {
    if (a.seq === 0) continue;
    if (a.seq > last) {
      report.ok = false;
      report.missingTail = { from: last + 1, to: a.seq };
      report.broken = { seq: last + 1, code: 'tail.truncated', problem: `seq ${last + 1}..${a.seq} missing at the tail: ${a.source} records that the journal reached seq ${a.seq}` };
      return report;
    }
    if (reader.eventAt(a.seq)?.hash !== a.hash) {
      report.ok = false;
      report.broken = { seq: a.seq, code: 'anchor', problem: `the event at seq ${a.seq} is not the one ${a.source} records: the journal was rewritten` };
      return report;
    }
  }
  return report;
}
