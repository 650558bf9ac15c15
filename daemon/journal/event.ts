import { hash } from 'node:crypto';
import { canonicalJson } from '../core/index.js';
import type { EventKind } from './event-kinds.js';
import type { Severity } from './severity.js';

/** The first event's prev_hash. */
export const GENESIS_HASH = '0'.repeat(64);

/** What a module hands the journal; the journal adds seq, times, ids and the chain. */
export interface EventInput {
  /** Dotted, most general first: `daemon.start`, `service.restart`, `config.changed`; listed in EVENT_KINDS. */
  kind: EventKind;
  severity?: Severity;
  /** The module or actor that emitted it: `daemon`, `artifacts`, `operator:alice`. */
  source: string;
  /** Why, as a sentence a field engineer can read. */
  reason: string;
  /** The numbers behind the reason. */
  data?: Record<string, unknown>;
}

/** An event in the journal's own form (CONTRACT.md, events.jsonl). */
export interface JournalEvent {
  v: 1;
  seq: number;
  ts: string;
  mono_ms: number;
  run_id: string;
  boot_id: string;
  kind: string;
  severity: Severity;
  source: string;
  reason: string;
  data: Record<string, unknown>;
  prev_hash: string;
  hash: string;
}

export type EventBody = Omit<JournalEvent, 'prev_hash' | 'hash'>;

/**
 * The canonical JSON of an event without its chain fields: fixed field order, data keys sorted.
 * It is exactly JSON.stringify of the body with its keys in this order, so anyone can recompute it.
 */
export function canonicalBody(e: EventBody, dataJson = canonicalJson(e.data)): string {
  return (
    `{"v":1,"seq":${e.seq},"ts":${JSON.stringify(e.ts)},"mono_ms":${e.mono_ms}` +
    `,"run_id":${JSON.stringify(e.run_id)},"boot_id":${JSON.stringify(e.boot_id)}` +
    `,"kind":${JSON.stringify(e.kind)},"severity":${JSON.stringify(e.severity)}` +
    `,"source":${JSON.stringify(e.source)},"reason":${JSON.stringify(e.reason)},"data":${dataJson}}`
  );
}

/** hash = sha256(prev_hash + canonical body), hex. */
export function chainHash(prevHash: string, body: string): string {
  return hash('sha256', prevHash + body, 'hex');
}

/** The events.jsonl line of an event: its canonical body with the chain fields appended. */
export function eventLine(body: string, prevHash: string, hash: string): string {
  return `${body.slice(0, -1)},"prev_hash":"${prevHash}","hash":"${hash}"}\n`;
}
