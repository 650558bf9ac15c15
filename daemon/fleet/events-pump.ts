import { type JournalEvent, SEVERITIES, type Severity } from '../journal/index.js';
import { MAX_EVENTS_PER_MESSAGE, MAX_MESSAGE_BYTES, type EventsBody } from './protocol.js';

/** Room left in a message for the envelope around the batch. */
const ENVELOPE_ROOM = 2048;
/** How many journal rows one look reads (most may be below the severity floor). */
const READ_AHEAD = 250;

export interface EventsSource {
  events(q: { afterSeq: number; limit: number }): JournalEvent[];
}

/** One batch to publish: the events and the journal seq the cursor moves to once the broker has it. */
export interface EventBatch {
  body: EventsBody;
  /** The last journal seq this batch accounts for (sent or skipped). */
  covers: number;
}

/** An event too large for one message keeps its identity and loses its data (its hash then no longer covers it). */
function fitted(e: JournalEvent): JournalEvent {
  const bytes = Buffer.byteLength(JSON.stringify(e));
  return bytes <= MAX_MESSAGE_BYTES - ENVELOPE_ROOM ? e : { ...e, data: { truncated: bytes } };
}

/**
 * The next batch after `cursor`: events at or above `minSeverity`, in seq order, at most 200 and under the
 * message size. Null when the journal holds nothing new; a batch with no events (everything read was below
 * the floor) only moves the cursor.
 */
export function nextBatch(src: EventsSource, cursor: number, minSeverity: Severity): EventBatch | { events: 0; covers: number } | null {
  const floor = SEVERITIES.indexOf(minSeverity);
  const rows = src.events({ afterSeq: cursor, limit: READ_AHEAD });
  if (rows.length === 0) return null;
  const events: JournalEvent[] = [];
  let bytes = 0;
  let covers = cursor;
  for (const row of rows) {
    if (SEVERITIES.indexOf(row.severity) < floor) {
      covers = row.seq;
      continue;
    }
    const e = fitted(row);
    const size = Buffer.byteLength(JSON.stringify(e)) + 1;
    if (events.length > 0 && (events.length >= MAX_EVENTS_PER_MESSAGE || bytes + size > MAX_MESSAGE_BYTES - ENVELOPE_ROOM)) break;
    events.push(e);
    bytes += size;
    covers = row.seq;
  }
  if (events.length === 0) return { events: 0, covers };
  const first = events[0] as JournalEvent;
  const last = events[events.length - 1] as JournalEvent;
  return { covers, body: { first_seq: first.seq, last_seq: last.seq, skipped: covers - cursor - events.length, events: events as EventsBody['events'] } };
}
