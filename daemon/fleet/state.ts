import { type EventInput, FLEET_STATE_KEY, type FleetStateValue, type Journal } from '../journal/index.js';

const EMPTY: FleetStateValue = { events_cursor: 0, seq: { desired: { last: 0, recent: [] }, cmd: { last: 0, recent: [] } }, desired: null, last_sync: null, applied: null };

/** The link's progress in the journal's state table (key fleet.state): read once, written through. */
export class FleetState {
  private value: FleetStateValue;

  constructor(private readonly journal: Journal) {
    this.value = journal.readState(FLEET_STATE_KEY) ?? structuredClone(EMPTY);
  }

  get(): Readonly<FleetStateValue> {
    return this.value;
  }

  /** Written with the next batch of the journal (the cursor: a crash before it resends, which is allowed). */
  update(patch: Partial<FleetStateValue>): void {
    this.value = { ...this.value, ...patch };
    this.journal.writeState(FLEET_STATE_KEY, this.value);
  }

  /** Written durably in one commit with an event: an accepted seq must be on disk before the message is acted on. */
  updateWithEvent(patch: Partial<FleetStateValue>, event: EventInput): void {
    this.value = { ...this.value, ...patch };
    this.journal.appendDurableWritingStates(event, { [FLEET_STATE_KEY]: this.value });
  }
}
