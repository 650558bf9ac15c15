import type { Clock } from '../core/index.js';
import { PolicyEngine } from './engine.js';
import type { PolicySet } from './policy-set.js';
import type { Decision, Observation, PolicySample } from './types.js';

/** The simulated clock: wall and monotonic time are both the recorded time being replayed. */
export class SimClock implements Clock {
  t = 0;
  now(): number {
    return this.t;
  }
  monoMs(): number {
    return this.t;
  }
}

export interface SimulationResult {
  decisions: Decision[];
  samples: number;
  observations: number;
  first_ts_ms: number | null;
  last_ts_ms: number | null;
  start_mode: string;
  end_mode: string;
  /** Time spent in each mode over the replayed period, in ms. */
  mode_ms: Record<string, number>;
}

/**
 * Replays recorded samples (and, optionally, recorded observations such as service exits) through a policy
 * with a simulated clock. Feed batches with `feed`; `finish` returns what would have happened.
 */
export class Simulator {
  private readonly clock = new SimClock();
  private readonly engine: PolicyEngine;
  private readonly decisions: Decision[] = [];
  private samples = 0;
  private observations = 0;
  private first: number | null = null;
  private last: number | null = null;
  private readonly startMode: string;
  private modeSince: number | null = null;
  private readonly modeMs: Record<string, number> = {};
  private readonly events: Observation[];
  /** The next observation to replay: an index, as cutting the array at every timestamp would copy it each time. */
  private nextEvent = 0;

  constructor(
    policy: PolicySet,
    opts: { mode?: string; observations?: readonly Observation[]; onDecision?: (d: Decision) => void } = {},
  ) {
    this.engine = new PolicyEngine({ clock: this.clock, policy, mode: opts.mode });
    this.startMode = this.engine.mode;
    this.events = [...(opts.observations ?? [])].sort((a, b) => a.ts_ms - b.ts_ms);
    this.onDecision = opts.onDecision;
  }

  private readonly onDecision: ((d: Decision) => void) | undefined;

  private moveTo(ts: number): void {
    if (this.first === null) {
      this.first = ts;
      this.modeSince = ts;
    }
    if (ts > this.clock.t || this.last === null) this.clock.t = Math.max(ts, this.clock.t);
    this.last = this.clock.t;
  }

  private record(ds: Decision[]): void {
    for (const d of ds) {
      if (d.action.type === 'set_mode' && this.modeSince !== null) {
        this.modeMs[d.action.from] = (this.modeMs[d.action.from] ?? 0) + Math.max(0, d.at_ms - this.modeSince);
        this.modeSince = d.at_ms;
      }
      this.decisions.push(d);
      this.onDecision?.(d);
    }
  }

  private eventsUpTo(ts: number): void {
    while (this.nextEvent < this.events.length && (this.events[this.nextEvent] as Observation).ts_ms <= ts) {
      const o = this.events[this.nextEvent++] as Observation;
      this.moveTo(o.ts_ms);
      this.record(this.engine.observeEvent(o));
      this.observations++;
    }
  }

  /** Samples in recorded order; runs of one timestamp are evaluated together. */
  feed(samples: readonly PolicySample[]): void {
    let i = 0;
    while (i < samples.length) {
      const ts = (samples[i] as PolicySample).ts_ms;
      let j = i + 1;
      while (j < samples.length && (samples[j] as PolicySample).ts_ms === ts) j++;
      if (this.nextEvent < this.events.length) this.eventsUpTo(ts);
      this.moveTo(ts);
      this.record(this.engine.observe(i === 0 && j === samples.length ? samples : samples.slice(i, j)));
      this.samples += j - i;
      i = j;
    }
  }

  finish(): SimulationResult {
    this.eventsUpTo(Number.POSITIVE_INFINITY);
    this.record(this.engine.tick());
    const end = this.engine.mode;
    if (this.modeSince !== null && this.last !== null) this.modeMs[end] = (this.modeMs[end] ?? 0) + Math.max(0, this.last - this.modeSince);
    return {
      decisions: this.decisions,
      samples: this.samples,
      observations: this.observations,
      first_ts_ms: this.first,
      last_ts_ms: this.last,
      start_mode: this.startMode,
      end_mode: end,
      mode_ms: this.modeMs,
    };
  }
}

/** Replays everything at once. */
export function simulate(policy: PolicySet, samples: readonly PolicySample[], opts: { mode?: string; observations?: readonly Observation[] } = {}): SimulationResult {
  const sim = new Simulator(policy, opts);
  sim.feed(samples);
  return sim.finish();
}
