import { hash } from 'node:crypto';
import { canonicalJson, jcs } from '../core/index.js';
import type { EventKind } from './event-kinds.js';
import type { Severity } from './severity.js';

/**
 * The event format written now (docs/formats/journal.md). 1: a fixed field order with data keys sorted by
 * `canonicalJson`; 2: the whole body, `"v":2` included, in RFC 8785 form. Old events keep their version and
 * its rule, so a journal begun before version 2 still verifies.
 */
export const EVENT_FORMAT_VERSION = 2;
export const EVENT_FORMAT_VERSIONS = [1, 2] as const;
export type EventFormatVersion = (typeof EVENT_FORMAT_VERSIONS)[number];

export function isEventFormatVersion(v: unknown): v is EventFormatVersion {
  return v === 1 || v === 2;
}

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
  /** The event format version: which canonical form its hash covers. */
  v: EventFormatVersion;
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
 * The canonical body of an event (without its chain fields) by the rule of its version: the text its hash
 * covers. `dataJson` is the data already canonical by that rule, when the caller has it. Throws a JcsError
 * when a version 2 body holds what RFC 8785 cannot write (an unpaired surrogate, a non-finite number).
 */
export function canonicalBody(e: EventBody, dataJson?: string): string {
  return e.v === 1 ? bodyV1(e, dataJson ?? canonicalJson(e.data)) : bodyV2(e, dataJson ?? jcs(e.data));
}

/** Version 1: exactly JSON.stringify of the body with its keys in this order and data keys sorted. */
function bodyV1(e: EventBody, dataJson: string): string {
  return (
    `{"v":1,"seq":${e.seq},"ts":${JSON.stringify(e.ts)},"mono_ms":${e.mono_ms}` +
    `,"run_id":${JSON.stringify(e.run_id)},"boot_id":${JSON.stringify(e.boot_id)}` +
    `,"kind":${JSON.stringify(e.kind)},"severity":${JSON.stringify(e.severity)}` +
    `,"source":${JSON.stringify(e.source)},"reason":${JSON.stringify(e.reason)},"data":${dataJson}}`
  );
}

/** Version 2: RFC 8785 of the body, members in code-unit order (the journal's writer builds the same text). */
function bodyV2(e: EventBody, dataJson: string): string {
  return (
    `{"boot_id":${jcs(e.boot_id)},"data":${dataJson},"kind":${jcs(e.kind)},"mono_ms":${jcs(e.mono_ms)}` +
    `,"reason":${jcs(e.reason)},"run_id":${jcs(e.run_id)},"seq":${jcs(e.seq)},"severity":${jcs(e.severity)}` +
    `,"source":${jcs(e.source)},"ts":${jcs(e.ts)},"v":2}`
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
