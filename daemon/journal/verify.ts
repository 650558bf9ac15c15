import { GENESIS_HASH, canonicalBody, chainHash } from './event.js';
import { type Severity, SEVERITIES } from './severity.js';
import { canonicalJson } from '../core/index.js';
import type { JournalReader } from './journal.js';

export interface ChainBreak {
  seq: number;
  problem: string;
}

export interface ChainReport {
  ok: boolean;
  events: number;
  firstSeq: number | null;
  lastSeq: number | null;
  head: string;
  broken?: ChainBreak;
}

interface ChainLink {
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

/**
 * Walks events in seq order and checks what the chain promises: seq without gaps, each prev_hash equal to
 * the hash before it, and each hash equal to sha256(prev_hash + canonical body). `anchor` lets a partial
 * chain (an evidence pack's window) start after genesis.
 */
export function verifyChain(links: Iterable<ChainLink>, anchor: { prevHash: string; seq: number } = { prevHash: GENESIS_HASH, seq: 0 }): ChainReport {
  let prev = anchor.prevHash;
  let expectSeq = anchor.seq + 1;
  let count = 0;
  let first: number | null = null;
  let last: number | null = null;
  const fail = (seq: number, problem: string): ChainReport => ({
    ok: false,
    events: count,
    firstSeq: first,
    lastSeq: last,
    head: prev,
    broken: { seq, problem },
  });
  for (const r of links) {
    if (first === null) {
      first = r.seq;
      // A window may start anywhere; its first prev_hash is the anchor it is checked against.
      if (anchor.seq === 0 && anchor.prevHash === GENESIS_HASH && r.seq !== 1) return fail(r.seq, `the journal starts at seq ${r.seq}, expected 1`);
    }
    if (r.seq !== expectSeq) return fail(r.seq, r.seq > expectSeq ? `seq ${expectSeq}..${r.seq - 1} missing` : `seq ${r.seq} repeats or goes back`);
    if (r.prev_hash !== prev) return fail(r.seq, 'prev_hash does not match the hash of the event before it');
    if (!(SEVERITIES as readonly string[]).includes(r.severity)) return fail(r.seq, `unknown severity "${r.severity}"`);
    let data: Record<string, unknown>;
    try {
      data = typeof r.data === 'string' ? (JSON.parse(r.data) as Record<string, unknown>) : r.data;
    } catch {
      return fail(r.seq, 'data is not valid JSON');
    }
    const body = canonicalBody(
      {
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
        data,
      },
      canonicalJson(data),
    );
    if (chainHash(prev, body) !== r.hash) return fail(r.seq, "hash does not match the event's content: the event was changed after it was written");
    prev = r.hash;
    expectSeq = r.seq + 1;
    last = r.seq;
    count++;
  }
  return { ok: true, events: count, firstSeq: first, lastSeq: last, head: prev };
}

export function verifyJournal(reader: JournalReader): ChainReport {
  return verifyChain(reader.iterateRows());
}
