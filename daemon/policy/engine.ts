import { type Clock, TokenBucket } from '../core/index.js';
import { fmtLabels, fmtMs, fmtValue } from './format.js';
import { emptyPolicySet, type PolicySet } from './policy-set.js';
import type {
  ActionSpec,
  BreakerRuleSpec,
  BudgetResource,
  CapRuleSpec,
  CapSpec,
  ModeSpec,
  Op,
  PolicySeverity,
  RateLimitRuleSpec,
  RuleSpec,
} from './schema.js';
import { BUDGET_METRICS } from './budget-metrics.js';
import type { Action, AdmitResult, Decision, Observation, PolicySample, RuleKind, TransitionCheck } from './types.js';

export { BUDGET_METRICS };

/** The flow each kind of decided action is counted against, and its key. */
export const ACTION_FLOWS: Readonly<Partial<Record<Action['type'], (a: Action) => string>>> = {
  restart_service: (a) => (a as { service: string }).service,
  request_reboot: () => 'device',
  export_evidence: () => 'device',
};
const FLOW_OF: Readonly<Partial<Record<Action['type'], string>>> = {
  restart_service: 'service.restart',
  request_reboot: 'device.reboot',
  export_evidence: 'evidence.export',
};

const DEFAULT_THROTTLE: CapSpec = { nice: 10, cpu_weight: 20 };
/** Wall and monotonic clocks that drift apart by more than this mean the wall clock was set: re-anchor. */
const WALL_JUMP_MS = 1_000;
/** Bounded per-key state: beyond this many keys in one flow, full buckets are forgotten. */
const MAX_KEYS_PER_FLOW = 10_000;

type Pred = (v: string | undefined) => boolean;

function globPred(pattern: string): Pred {
  if (!pattern.includes('*')) return (v) => v === pattern;
  const re = new RegExp(`^${pattern.split('*').map((p) => p.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`);
  return (v) => v !== undefined && re.test(v);
}

function selector(labels: Readonly<Record<string, string>> | undefined): (l: Readonly<Record<string, string>>) => boolean {
  const preds = Object.entries(labels ?? {}).map(([k, p]) => [k, globPred(p)] as const);
  if (preds.length === 0) return () => true;
  return (l) => preds.every(([k, p]) => p(l[k]));
}

export function compare(v: number, op: Op, x: number): boolean {
  switch (op) {
    case '>':
      return v > x;
    case '>=':
      return v >= x;
    case '<':
      return v < x;
    case '<=':
      return v <= x;
    case '==':
      return v === x;
    case '!=':
      return v !== x;
  }
}

export function serviceMatches(patterns: readonly string[], service: string): boolean {
  return patterns.some((p) => globPred(p)(service));
}

/** A threshold or budget rule, ready to evaluate. */
interface Watch {
  id: string;
  kind: 'threshold' | 'budget';
  metric: string;
  match: (l: Readonly<Record<string, string>>) => boolean;
  op: Op;
  value: number;
  forMs: number;
  clear: { op: Op; value: number; forMs: number } | undefined;
  cooldownMs: number;
  repeat: boolean;
  actions: readonly ActionSpec[];
  onClear: readonly ActionSpec[];
  modes: readonly string[] | undefined;
  /** For budgets: what the reason calls it. */
  budget?: { service: string; resource: BudgetResource; action: string };
  spec: string;
}

interface SeriesState {
  phase: 'ok' | 'pending' | 'firing';
  since: number;
  lastFired: number;
  clearSince: number | undefined;
  last: number;
}

interface Breaker {
  rule: BreakerRuleSpec & { source: string };
  match: (kind: string, l: Readonly<Record<string, string>>) => boolean;
  metricMatch: ((s: PolicySample) => boolean) | undefined;
  phase: 'closed' | 'open' | 'half_open';
  failures: number[];
  openedAt: number;
  halfOpenAt: number;
  previousMode: string | undefined;
  trips: number;
  spec: string;
}

interface Flow {
  rule: RateLimitRuleSpec & { source: string };
  buckets: Map<string, TokenBucket>;
  /** Keys currently refused, with how many refusals since the first: reported once, then counted. */
  refused: Map<string, number>;
  spec: string;
}

interface SeriesEntry {
  watches: Watch[];
  states: SeriesState[];
  breakers: Breaker[];
  labels: Readonly<Record<string, string>>;
}

export interface EngineOptions {
  clock: Clock;
  policy?: PolicySet;
  /** The mode the device was in (it survives a daemon restart); the policy's initial mode otherwise. */
  mode?: string;
}

export interface EngineSnapshot {
  policy_version: string;
  mode: string;
  previous_mode: string | undefined;
  rules: number;
  firing: { rule_id: string; series: string; since_ms: number }[];
  breakers: { rule_id: string; state: string; failures_in_window: number; trips: number; mode: string | undefined }[];
  flows: { flow: string; rule_id: string; keys: number; refusing: string[] }[];
  decisions: number;
}

function specJson(r: unknown): string {
  return JSON.stringify(r);
}

/**
 * The policy engine: pure. It turns metric samples and observations into decided actions with reasons; it
 * performs none. Time comes from the Clock (monotonic for durations) and, for samples, from the samples' own
 * timestamps mapped onto monotonic time, so replaying recorded samples gives the decisions a live run gave.
 */
export class PolicyEngine {
  private readonly clock: Clock;
  private policy: PolicySet;
  private modeNow: string;
  private prevMode: string | undefined;
  private watchesByMetric = new Map<string, Watch[]>();
  private breakers: Breaker[] = [];
  private breakersByMetric = new Map<string, Breaker[]>();
  private flows = new Map<string, Flow>();
  private caps: (CapRuleSpec & { source: string })[] = [];
  private activeCaps = new Map<string, { spec: string; service: string }>();
  private series = new Map<string, SeriesEntry>();
  /** The same entries by name, then label key: no new key string to hash per sample. */
  private seriesByName = new Map<string, Map<string, SeriesEntry>>();
  private readonly labelKeys = new WeakMap<object, string>();
  private pending: Decision[] = [];
  private seq = 0;
  private offset: number | undefined;
  /** The latest sample time evaluated: sample time never goes back, whatever the wall clock does. */
  private lastSampleT = Number.NEGATIVE_INFINITY;
  private capsSettled = false;

  constructor(opts: EngineOptions) {
    this.clock = opts.clock;
    this.policy = opts.policy ?? emptyPolicySet();
    this.modeNow = opts.mode !== undefined && opts.mode in this.policy.modes ? opts.mode : this.policy.initialMode;
    this.compile(undefined);
  }

  get mode(): string {
    return this.modeNow;
  }

  get version(): string {
    return this.policy.version;
  }

  get policySet(): PolicySet {
    return this.policy;
  }

  // ---- time ---------------------------------------------------------------------------------------------

  /**
   * Policy time of a sample: its wall time on the monotonic scale, never later than now, never before the
   * previous sample. Ticks do not move it: a batch delivered late is evaluated at the times it was taken.
   */
  private timeOf(tsMs: number): number {
    const mono = this.clock.monoMs();
    const off = mono - this.clock.now();
    if (this.offset === undefined || Math.abs(off - this.offset) > WALL_JUMP_MS) this.offset = off;
    let t = Number.isFinite(tsMs) ? tsMs + this.offset : mono;
    if (t > mono) t = mono;
    if (t < this.lastSampleT) t = this.lastSampleT;
    this.lastSampleT = t;
    return t;
  }

  private nowT(): number {
    const mono = this.clock.monoMs();
    if (this.offset === undefined) this.offset = mono - this.clock.now();
    return Math.max(mono, this.lastSampleT);
  }

  private wallOf(t: number): number {
    return t - (this.offset ?? 0);
  }

  // ---- inputs -------------------------------------------------------------------------------------------

  /** Feeds samples (in the order taken) and returns what they decide. */
  observe(samples: readonly PolicySample[]): Decision[] {
    this.settleCaps();
    for (const s of samples) {
      const t = this.timeOf(s.ts_ms);
      this.advanceTo(t);
      this.evaluateSample(s, t);
    }
    return this.drain();
  }

  /** Feeds one observation (a service exit, a mode change, any counted event). */
  observeEvent(o: Observation): Decision[] {
    this.settleCaps();
    const t = this.timeOf(o.ts_ms);
    this.advanceTo(t);
    switch (o.type) {
      case 'mode_changed':
        if (o.mode in this.policy.modes && o.mode !== this.modeNow) {
          this.prevMode = this.modeNow;
          this.modeNow = o.mode;
          this.capsForMode(t, `the mode changed to ${o.mode}${o.by ? ` (${o.by})` : ''}`);
        }
        break;
      case 'service_exit':
        this.countEvent('service.exit', { service: o.service, code: String(o.code), signal: String(o.signal) }, t);
        break;
      case 'service_start':
        this.countEvent('service.start', { service: o.service }, t);
        break;
      case 'event':
        this.countEvent(o.kind, o.labels ?? {}, t);
        break;
    }
    return this.drain();
  }

  /** Moves policy time to now: breakers half-open and close on time even when nothing is observed. */
  tick(): Decision[] {
    this.settleCaps();
    this.advanceTo(this.nowT());
    return this.drain();
  }

  /**
   * Asks whether one more unit (or `cost` units) of a named flow may pass: restarts per service, log lines per
   * source, proxy requests, evidence exports, reboots. A flow no rule limits is always admitted. The first
   * refusal of a key produces a decision (its rule's on_exceeded, or a warning event); later ones are counted.
   */
  admit(flow: string, key: string, cost = 1): AdmitResult {
    const f = this.flows.get(flow);
    if (!f) return { allowed: true, limited: false, flow, key };
    const t = this.nowT();
    // Timers due before this call fire first, so decisions stay in time order.
    this.advanceTo(t);
    const bucketKey = f.rule.per_key ? key : '*';
    const b = this.bucket(f, bucketKey, t);
    const allowed = b.take(t, cost);
    if (allowed) {
      const refused = f.refused.get(bucketKey);
      if (refused !== undefined) f.refused.delete(bucketKey);
    } else {
      const n = f.refused.get(bucketKey);
      if (n === undefined) this.refusal(f, flow, bucketKey, t, cost);
      f.refused.set(bucketKey, (n ?? 0) + 1);
    }
    return {
      allowed,
      limited: true,
      flow,
      key: bucketKey,
      rule_id: f.rule.id,
      remaining: Math.floor(b.available(t)),
      retry_after_ms: allowed ? 0 : b.waitMs(t, cost),
    };
  }

  /** Decisions produced outside observe/tick (the refusals of admit()): the runtime collects them. */
  drain(): Decision[] {
    const out = this.pending;
    this.pending = [];
    return out;
  }

  // ---- modes --------------------------------------------------------------------------------------------

  /** Whether the mode graph allows going from one mode to another; the executor asks before changing mode. */
  canTransition(from: string, to: string): TransitionCheck {
    const modes = this.policy.modes;
    const a = modes[from];
    if (!a) return { allowed: false, reason: `mode "${from}" is not defined (defined: ${Object.keys(modes).join(', ')})` };
    if (!(to in modes)) return { allowed: false, reason: `mode "${to}" is not defined (defined: ${Object.keys(modes).join(', ')})` };
    if (from === to) return { allowed: true, reason: `already in mode ${to}` };
    if (!a.transitions.includes(to)) {
      return { allowed: false, reason: `the policy does not allow ${from} → ${to} (from ${from} only: ${a.transitions.join(', ') || 'none'})` };
    }
    return { allowed: true, reason: `${from} → ${to} is allowed` };
  }

  modeSpec(mode: string): ModeSpec | undefined {
    return this.policy.modes[mode];
  }

  /** Whether a service may run in a mode (by the mode's service globs). */
  serviceAllowed(mode: string, service: string): boolean {
    const m = this.policy.modes[mode];
    return m !== undefined && serviceMatches(m.services, service);
  }

  // ---- policy -------------------------------------------------------------------------------------------

  /**
   * Puts a new policy in force. The mode stays (if the new graph has it); a rule whose definition did not
   * change keeps its state (a half-way `for`, an open breaker, a drained bucket).
   */
  replacePolicy(next: PolicySet): Decision[] {
    const old = this.policy;
    this.policy = next;
    if (!(this.modeNow in next.modes)) {
      this.prevMode = this.modeNow;
      this.modeNow = next.initialMode;
    }
    this.compile(old);
    if (this.capsSettled) this.capsForMode(this.nowT(), `policy ${next.version} replaced ${old.version}`);
    return this.drain();
  }

  private compile(old: PolicySet | undefined): void {
    const oldSeries = old ? this.series : new Map<string, SeriesEntry>();
    const oldBreakers = new Map(this.breakers.map((b) => [b.rule.id, b]));
    const oldFlows = new Map([...this.flows.values()].map((f) => [f.rule.flow, f]));
    const keepStates = new Map<string, SeriesState>();
    for (const [key, e] of oldSeries) e.watches.forEach((w, i) => keepStates.set(`${w.spec}\u0002${key}`, e.states[i] as SeriesState));

    this.watchesByMetric = new Map();
    this.breakers = [];
    this.breakersByMetric = new Map();
    this.flows = new Map();
    this.caps = [];
    this.series = new Map();
    this.seriesByName = new Map();
    for (const r of this.policy.rules) {
      switch (r.kind) {
        case 'threshold':
        case 'budget': {
          const w = this.watchOf(r);
          const list = this.watchesByMetric.get(w.metric) ?? [];
          list.push(w);
          this.watchesByMetric.set(w.metric, list);
          break;
        }
        case 'breaker': {
          const spec = specJson(r);
          const prev = oldBreakers.get(r.id);
          const trig = r.trigger;
          const sel = selector(trig.labels);
          const b: Breaker =
            prev && prev.spec === spec
              ? { ...prev, rule: r }
              : {
                  rule: r,
                  match: 'event' in trig ? (kind, l) => kind === trig.event && sel(l) : () => false,
                  metricMatch: 'metric' in trig ? (s) => sel(s.labels ?? {}) && compare(s.value, trig.op, trig.value) : undefined,
                  phase: 'closed',
                  failures: [],
                  openedAt: 0,
                  halfOpenAt: 0,
                  previousMode: undefined,
                  trips: 0,
                  spec,
                };
          this.breakers.push(b);
          if ('metric' in trig) {
            const list = this.breakersByMetric.get(trig.metric) ?? [];
            list.push(b);
            this.breakersByMetric.set(trig.metric, list);
          }
          break;
        }
        case 'rate_limit': {
          const spec = specJson({ limit: r.limit, per: r.per, burst: r.burst, per_key: r.per_key });
          const prev = oldFlows.get(r.flow);
          this.flows.set(r.flow, prev && prev.spec === spec ? { ...prev, rule: r } : { rule: r, buckets: new Map(), refused: new Map(), spec });
          break;
        }
        case 'cap':
          this.caps.push(r);
          break;
      }
    }
    // Series states survive for watches whose definition did not change.
    if (keepStates.size > 0) {
      for (const [key, e] of oldSeries) {
        const entry = this.seriesEntry(key, key.slice(0, key.indexOf('\u0000')), e.labels);
        entry.watches.forEach((w, i) => {
          const s = keepStates.get(`${w.spec}\u0002${key}`);
          if (s) entry.states[i] = s;
        });
      }
    }
  }

  private watchOf(r: RuleSpec & { source: string }): Watch {
    if (r.kind === 'threshold') {
      return {
        id: r.id,
        kind: 'threshold',
        metric: r.metric,
        match: selector(r.labels),
        op: r.op,
        value: r.value,
        forMs: r.for ?? 0,
        clear: r.clear ? { op: r.clear.op, value: r.clear.value, forMs: r.clear.for ?? 0 } : undefined,
        cooldownMs: r.cooldown ?? 0,
        repeat: r.repeat ?? false,
        actions: r.actions,
        onClear: r.on_clear ?? [],
        modes: r.modes,
        spec: specJson(r),
      };
    }
    if (r.kind !== 'budget') throw new TypeError(`not a watch rule: ${r.kind}`);
    const m = BUDGET_METRICS[r.resource];
    const action: ActionSpec =
      r.action === 'warn'
        ? { type: 'emit_event', severity: 'warning', kind: 'policy.budget_exceeded' }
        : r.action === 'throttle'
          ? { type: 'apply_cap', service: r.service, ...(r.throttle ?? DEFAULT_THROTTLE) }
          : r.action === 'restart'
            ? { type: 'restart_service', service: r.service }
            : { type: 'stop_service', service: r.service };
    return {
      id: r.id,
      kind: 'budget',
      metric: r.metric ?? m.metric,
      match: selector({ [m.label]: r.service }),
      op: '>',
      value: r.limit,
      forMs: r.for ?? 0,
      clear: undefined,
      cooldownMs: r.cooldown ?? 0,
      repeat: r.repeat ?? false,
      actions: [action],
      onClear: [],
      modes: r.modes,
      budget: { service: r.service, resource: r.resource, action: r.action },
      spec: specJson(r),
    };
  }

  // ---- samples ------------------------------------------------------------------------------------------

  private labelKey(labels: Readonly<Record<string, string>>): string {
    const cached = this.labelKeys.get(labels);
    if (cached !== undefined) return cached;
    const keys = Object.keys(labels);
    if (keys.length > 1) keys.sort();
    let k = '';
    for (const key of keys) k += `${key}=${labels[key]}\u0001`;
    this.labelKeys.set(labels, k);
    return k;
  }

  private seriesEntry(key: string, name: string, labels: Readonly<Record<string, string>>): SeriesEntry {
    let e = this.series.get(key);
    if (e) return e;
    const watches = (this.watchesByMetric.get(name) ?? []).filter((w) => w.match(labels));
    const breakers = (this.breakersByMetric.get(name) ?? []).filter((b) => b.metricMatch !== undefined);
    e = {
      watches,
      states: watches.map(() => ({ phase: 'ok', since: 0, lastFired: Number.NEGATIVE_INFINITY, clearSince: undefined, last: Number.NaN })),
      breakers,
      labels,
    };
    this.series.set(key, e);
    return e;
  }

  private evaluateSample(s: PolicySample, t: number): void {
    const labels = s.labels ?? {};
    const name = String(s.name);
    if (!this.watchesByMetric.has(name) && !this.breakersByMetric.has(name)) return;
    let byLabels = this.seriesByName.get(name);
    if (byLabels === undefined) {
      byLabels = new Map();
      this.seriesByName.set(name, byLabels);
    }
    const lk = this.labelKey(labels);
    let e = byLabels.get(lk);
    if (e === undefined) {
      e = this.seriesEntry(`${name}\u0000${lk}`, name, labels);
      byLabels.set(lk, e);
    }
    const v = typeof s.value === 'number' ? s.value : Number(s.value);
    for (let i = 0; i < e.watches.length; i++) this.evaluateWatch(e.watches[i] as Watch, e.states[i] as SeriesState, s, v, t);
    for (const b of e.breakers) {
      if (b.metricMatch?.(s)) this.failure(b, t, `${name}${fmtLabels(labels)} was ${fmtValue(v, s.unit)}`);
    }
  }

  private evaluateWatch(w: Watch, st: SeriesState, s: PolicySample, v: number, t: number): void {
    st.last = v;
    if (w.modes && !w.modes.includes(this.modeNow)) {
      st.phase = 'ok';
      st.clearSince = undefined;
      return;
    }
    const cond = compare(v, w.op, w.value);
    if (st.phase === 'firing') {
      const clearCond = w.clear ? compare(v, w.clear.op, w.clear.value) : !cond;
      if (clearCond) {
        st.clearSince ??= t;
        if (t - st.clearSince >= (w.clear?.forMs ?? 0)) {
          st.phase = 'ok';
          st.clearSince = undefined;
          if (w.onClear.length > 0) this.fireWatch(w, st, s, v, t, true);
          return;
        }
      } else st.clearSince = undefined;
      if (w.repeat && cond && t - st.lastFired >= w.cooldownMs) this.fireWatch(w, st, s, v, t, false);
      return;
    }
    if (!cond) {
      st.phase = 'ok';
      return;
    }
    if (st.phase === 'ok') {
      st.phase = 'pending';
      st.since = t;
    }
    if (t - st.since >= w.forMs && t - st.lastFired >= w.cooldownMs) {
      st.phase = 'firing';
      st.clearSince = undefined;
      this.fireWatch(w, st, s, v, t, false);
    }
  }

  private fireWatch(w: Watch, st: SeriesState, s: PolicySample, v: number, t: number, clearing: boolean): void {
    const labels = s.labels ?? {};
    const series = `${s.name}${fmtLabels(labels)}`;
    const held = t - st.since;
    const sinceLast = Number.isFinite(st.lastFired) ? t - st.lastFired : null;
    if (!clearing) st.lastFired = t;
    const data: Record<string, unknown> = {
      metric: s.name,
      labels: { ...labels },
      observed: v,
      unit: s.unit,
      op: w.op,
      threshold: w.value,
      for_ms: w.forMs,
      window_ms: held,
      cooldown_ms: w.cooldownMs,
      since_last_firing_ms: sinceLast,
    };
    let why: string;
    if (clearing) {
      const c = w.clear ?? { op: negate(w.op), value: w.value, forMs: 0 };
      data.clear = { op: c.op, threshold: c.value, for_ms: c.forMs };
      why = `${series} is ${fmtValue(v, s.unit)} (${c.op} ${fmtValue(c.value, s.unit)}): rule ${w.id} cleared`;
    } else if (w.budget) {
      const b = w.budget;
      data.budget = { service: b.service, resource: b.resource, limit: w.value, on_exceed: b.action };
      why = `${b.service} uses ${fmtValue(v, s.unit)} of ${b.resource}, over its budget of ${fmtValue(w.value, s.unit)}${w.forMs > 0 ? ` for ${fmtMs(held)} (allowed: ${fmtMs(w.forMs)})` : ''} (rule ${w.id})`;
    } else {
      why = `${series} was ${fmtValue(v, s.unit)}, ${w.op} ${fmtValue(w.value, s.unit)}${w.forMs > 0 ? ` for ${fmtMs(held)} (rule needs ${fmtMs(w.forMs)})` : ''} (rule ${w.id})`;
    }
    for (const a of clearing ? w.onClear : w.actions) this.decide(w.id, w.kind, a, labels, why, data, t, s.ts_ms);
  }

  // ---- breakers -----------------------------------------------------------------------------------------

  private countEvent(kind: string, labels: Readonly<Record<string, string>>, t: number): void {
    for (const b of this.breakers) {
      if (b.match(kind, labels)) this.failure(b, t, `${kind}${fmtLabels(labels)}`);
    }
  }

  private failure(b: Breaker, t: number, what: string): void {
    const r = b.rule;
    if (r.modes && !r.modes.includes(this.modeNow) && b.phase === 'closed') return;
    b.failures.push(t);
    while (b.failures.length > 0 && (b.failures[0] as number) <= t - r.window) b.failures.shift();
    // Only the last `threshold` failures matter.
    if (b.failures.length > r.threshold) b.failures.splice(0, b.failures.length - r.threshold);
    if (b.phase === 'closed' && b.failures.length >= r.threshold) {
      this.openBreaker(b, t, `${b.failures.length} failures within ${fmtMs(r.window)} (threshold ${r.threshold}; the last: ${what})`);
    } else if (b.phase === 'half_open') {
      this.openBreaker(b, t, `a failure during the half-open probe (${what})`);
    }
  }

  private breakerData(b: Breaker, t: number, extra: Record<string, unknown> = {}): Record<string, unknown> {
    const r = b.rule;
    return {
      breaker: r.id,
      state: b.phase,
      failures_in_window: b.failures.filter((f) => f > t - r.window).length,
      threshold: r.threshold,
      window_ms: r.window,
      open_for_ms: r.open_for,
      probe_ms: r.probe,
      trips: b.trips,
      breaker_mode: r.mode ?? null,
      previous_mode: b.previousMode ?? null,
      ...extra,
    };
  }

  private openBreaker(b: Breaker, t: number, cause: string): void {
    const r = b.rule;
    const reopening = b.phase === 'half_open';
    if (!reopening) b.previousMode = this.modeNow;
    b.phase = 'open';
    b.openedAt = t;
    b.trips++;
    const why = `breaker ${r.id} opened: ${cause}; it stays open ${fmtMs(r.open_for)}`;
    const wall = this.wallOf(t);
    this.decide(r.id, 'breaker', { type: 'emit_event', severity: 'error', kind: 'policy.breaker_open' }, {}, why, this.breakerData(b, t), t, wall);
    if (r.mode !== undefined && !reopening) this.requestMode(r.id, 'breaker', r.mode, why, this.breakerData(b, t), t, wall);
    if (!reopening) for (const a of r.actions ?? []) this.decide(r.id, 'breaker', a, {}, why, this.breakerData(b, t), t, wall);
  }

  /** The breakers as they stand, times in wall-clock ms (policy time does not survive a restart; the wall clock does). */
  breakerStates(): { rule_id: string; spec: string; phase: Breaker['phase']; opened_at: number; half_open_at: number; previous_mode: string | null; trips: number; failures: number[] }[] {
    return this.breakers.map((b) => ({
      rule_id: b.rule.id,
      spec: b.spec,
      phase: b.phase,
      opened_at: this.wallOf(b.openedAt),
      half_open_at: this.wallOf(b.halfOpenAt),
      previous_mode: b.previousMode ?? null,
      trips: b.trips,
      failures: b.failures.map((f) => this.wallOf(f)),
    }));
  }

  /**
   * Puts breakers back as a previous run left them: same rule id and same spec only (a changed rule starts
   * closed). Time spent down counts toward the cool-down: the next tick half-opens or closes what is due.
   */
  restoreBreakers(states: readonly ReturnType<PolicyEngine['breakerStates']>[number][]): void {
    this.nowT();
    const off = this.offset ?? 0;
    for (const s of states) {
      const b = this.breakers.find((x) => x.rule.id === s.rule_id && x.spec === s.spec);
      if (!b) continue;
      b.phase = s.phase;
      b.openedAt = s.opened_at + off;
      b.halfOpenAt = s.half_open_at + off;
      b.previousMode = s.previous_mode ?? undefined;
      b.trips = s.trips;
      b.failures = s.failures.map((f) => f + off);
    }
  }

  /** Fires breaker timers due up to `t`, each at its own due time, in time order. */
  private advanceTo(t: number): void {
    for (;;) {
      let next: Breaker | undefined;
      let due = Number.POSITIVE_INFINITY;
      for (const b of this.breakers) {
        const d = b.phase === 'open' ? b.openedAt + b.rule.open_for : b.phase === 'half_open' ? b.halfOpenAt + b.rule.probe : Number.POSITIVE_INFINITY;
        if (d < due) {
          due = d;
          next = b;
        }
      }
      if (!next || due > t) break;
      this.breakerTimer(next, due);
    }
  }

  private breakerTimer(b: Breaker, at: number): void {
    const r = b.rule;
    const wall = this.wallOf(at);
    if (b.phase === 'open') {
      b.phase = 'half_open';
      b.halfOpenAt = at;
      const why = `breaker ${r.id} half-open after ${fmtMs(r.open_for)} open: probing for ${fmtMs(r.probe)}; a failure in that time opens it again`;
      this.decide(r.id, 'breaker', { type: 'emit_event', severity: 'notice', kind: 'policy.breaker_half_open' }, {}, why, this.breakerData(b, at), at, wall);
      for (const a of r.on_half_open ?? []) this.decide(r.id, 'breaker', a, {}, why, this.breakerData(b, at), at, wall);
      return;
    }
    b.phase = 'closed';
    b.failures = [];
    const back = b.previousMode;
    b.previousMode = undefined;
    const why = `breaker ${r.id} closed: no failure during the ${fmtMs(r.probe)} probe${r.mode !== undefined && back !== undefined ? `; returning from ${r.mode} to ${back}` : ''}`;
    const data = this.breakerData(b, at, { return_mode: back ?? null });
    this.decide(r.id, 'breaker', { type: 'emit_event', severity: 'notice', kind: 'policy.breaker_closed' }, {}, why, data, at, wall);
    // Return to the previous mode only if the breaker's mode is still the one in force.
    if (r.mode !== undefined && back !== undefined && this.modeNow === r.mode && back !== r.mode) this.requestMode(r.id, 'breaker', back, why, data, at, wall);
    for (const a of r.on_close ?? []) this.decide(r.id, 'breaker', a, {}, why, data, at, wall);
  }

  // ---- rate limits --------------------------------------------------------------------------------------

  private bucket(f: Flow, key: string, t: number): TokenBucket {
    let b = f.buckets.get(key);
    if (b) return b;
    if (f.buckets.size >= MAX_KEYS_PER_FLOW) {
      for (const [k, old] of f.buckets) if (old.available(t) >= old.capacity) f.buckets.delete(k);
      if (f.buckets.size >= MAX_KEYS_PER_FLOW) {
        const first = f.buckets.keys().next().value;
        if (first !== undefined) f.buckets.delete(first);
      }
    }
    const cap = f.rule.burst ?? f.rule.limit;
    // `per` is in milliseconds.
    b = new TokenBucket({ capacity: cap, refillPerSec: (f.rule.limit * 1000) / f.rule.per, nowMs: t });
    f.buckets.set(key, b);
    return b;
  }

  private flowData(f: Flow, key: string, t: number, cost: number): Record<string, unknown> {
    const b = this.bucket(f, key, t);
    return {
      flow: f.rule.flow,
      key,
      limit: f.rule.limit,
      per_ms: f.rule.per,
      burst: f.rule.burst ?? f.rule.limit,
      window_ms: f.rule.per,
      tokens_left: Math.floor(b.available(t) * 1000) / 1000,
      cost,
      retry_after_ms: b.waitMs(t, cost),
    };
  }

  private refusal(f: Flow, flow: string, key: string, t: number, cost: number): void {
    const r = f.rule;
    const why = `${flow} for ${key} refused by rate limit ${r.id}: more than ${r.limit} per ${fmtMs(r.per)}${r.burst ? ` (burst ${r.burst})` : ''}; further refusals are counted until it is admitted again`;
    const data = this.flowData(f, key, t, cost);
    const actions = r.on_exceeded ?? [{ type: 'emit_event', severity: 'warning', kind: 'policy.rate_limited' } as ActionSpec];
    for (const a of actions) this.decide(r.id, 'rate_limit', a, { service: key, source: key }, why, data, t, this.wallOf(t));
  }

  // ---- caps and modes -----------------------------------------------------------------------------------

  private settleCaps(): void {
    if (this.capsSettled) return;
    this.capsSettled = true;
    this.capsForMode(this.nowT(), `policy ${this.policy.version} is in force in mode ${this.modeNow}`);
  }

  /** Applies the caps active in the current mode and lifts those no longer active. */
  private capsForMode(t: number, cause: string): void {
    const want = new Map<string, CapRuleSpec & { source: string }>();
    for (const c of this.caps) if (!c.modes || c.modes.includes(this.modeNow)) want.set(c.id, c);
    const wall = this.wallOf(t);
    for (const [id, c] of want) {
      const spec = specJson(c);
      if (this.activeCaps.get(id)?.spec === spec) continue;
      this.activeCaps.set(id, { spec, service: c.service });
      const cap: CapSpec = { nice: c.nice, ionice: c.ionice, cpu_weight: c.cpu_weight, cpu_max: c.cpu_max };
      const why = `cap ${id} applies to ${c.service} in mode ${this.modeNow} (${capText(cap)}): ${cause}`;
      this.decide(id, 'cap', { type: 'apply_cap', service: c.service, ...cap }, {}, why, { cap: stripUndefined(cap), service: c.service }, t, wall);
    }
    for (const [id, { service }] of [...this.activeCaps]) {
      if (want.has(id)) continue;
      this.activeCaps.delete(id);
      const why = `cap ${id} is lifted from ${service}: ${cause}`;
      this.decide(id, 'cap', { type: 'apply_cap', service, reset: true }, {}, why, { service, reset: true }, t, wall);
    }
  }

  private requestMode(ruleId: string, kind: RuleKind, target: string, cause: string, data: Record<string, unknown>, t: number, wall: number): void {
    const from = this.modeNow;
    if (target === from) return;
    const check = this.canTransition(from, target);
    if (!check.allowed) {
      this.decide(
        ruleId,
        kind,
        { type: 'emit_event', severity: 'warning', kind: 'policy.transition_refused' },
        {},
        `rule ${ruleId} asked for mode ${target}, refused: ${check.reason} (${cause})`,
        { ...data, from, to: target },
        t,
        wall,
      );
      return;
    }
    const fromSpec = this.policy.modes[from];
    const toSpec = this.policy.modes[target] as ModeSpec;
    const modeData = { ...data, from, to: target, services: toSpec.services, feature_flags: toSpec.feature_flags };
    for (const a of fromSpec?.on_exit ?? []) this.decide(ruleId, 'mode', a, {}, `leaving mode ${from}: ${cause}`, modeData, t, wall);
    this.prevMode = from;
    this.modeNow = target;
    this.push(ruleId, kind, { type: 'set_mode', mode: target, from }, 'warning', `mode ${from} → ${target}: ${cause}`, { ...modeData, rule_id: ruleId }, t, wall);
    for (const a of toSpec.on_enter ?? []) this.decide(ruleId, 'mode', a, {}, `entering mode ${target}: ${cause}`, modeData, t, wall);
    this.capsForMode(t, `the mode changed to ${target}`);
  }

  // ---- decisions ----------------------------------------------------------------------------------------

  /** Resolves an action spec against the series it came from and records the decision. */
  private decide(
    ruleId: string,
    kind: RuleKind,
    spec: ActionSpec | Action,
    labels: Readonly<Record<string, string>>,
    why: string,
    data: Record<string, unknown>,
    t: number,
    wall: number,
  ): void {
    const service = (s: string | undefined): string | undefined => s ?? labels.service ?? labels.source;
    let action: Action;
    switch (spec.type) {
      case 'set_mode':
        this.requestMode(ruleId, kind, spec.mode, why, data, t, wall);
        return;
      case 'restart_service':
      case 'stop_service':
      case 'start_service':
      case 'apply_cap': {
        const svc = service(spec.service);
        if (svc === undefined) {
          this.push(
            ruleId,
            kind,
            { type: 'emit_event', severity: 'warning', kind: 'policy.action_unresolved' },
            'warning',
            `${why}; ${spec.type} names no service and the series has no "service" label, so it cannot be done`,
            { ...data, action_unresolved: spec.type },
            t,
            wall,
          );
          return;
        }
        action = { ...spec, service: svc } as Action;
        break;
      }
      case 'emit_event':
        action = { type: 'emit_event', severity: spec.severity, kind: spec.kind ?? 'policy.alert', ...(spec.message ? { message: spec.message } : {}) };
        break;
      case 'export_evidence':
        action = { type: 'export_evidence', reason: spec.reason ?? ruleId };
        break;
      case 'request_reboot':
        action = { type: 'request_reboot' };
        break;
      case 'webhook':
        action = spec.message ? { type: 'webhook', message: spec.message } : { type: 'webhook' };
        break;
    }
    // Actions with a named flow are admitted here, so the executor is not asked for more than the policy allows.
    const flow = FLOW_OF[action.type];
    if (flow !== undefined) {
      const f = this.flows.get(flow);
      const key = (ACTION_FLOWS[action.type] as (a: Action) => string)(action);
      if (f) {
        const bucketKey = f.rule.per_key ? key : '*';
        const b = this.bucket(f, bucketKey, t);
        if (!b.take(t)) {
          const n = (f.refused.get(bucketKey) ?? 0) + 1;
          f.refused.set(bucketKey, n);
          this.push(
            ruleId,
            kind,
            { type: 'emit_event', severity: 'warning', kind: 'policy.suppressed' },
            'warning',
            `${why}; ${describe(action)} suppressed by rate limit ${f.rule.id} (${f.rule.limit} per ${fmtMs(f.rule.per)})`,
            { ...data, suppressed_action: action, rate_limit: { rule_id: f.rule.id, ...this.flowData(f, bucketKey, t, 1), refused: n } },
            t,
            wall,
          );
          return;
        }
        data = { ...data, rate_limit: { rule_id: f.rule.id, flow, key: bucketKey, tokens_left: Math.floor(b.available(t) * 1000) / 1000 } };
      }
    }
    const severity = action.type === 'emit_event' ? action.severity : action.type === 'request_reboot' || action.type === 'stop_service' ? 'error' : 'warning';
    this.push(ruleId, kind, action, severity, `${why}: ${describe(action)}`, data, t, wall);
  }

  private push(ruleId: string, kind: RuleKind, action: Action, severity: PolicySeverity, reason: string, data: Record<string, unknown>, t: number, wall: number): void {
    this.seq++;
    this.pending.push({
      seq: this.seq,
      at_ms: t,
      ts_ms: wall,
      rule_id: ruleId,
      rule_kind: kind,
      policy_version: this.policy.version,
      action,
      severity,
      reason,
      data: { rule_id: ruleId, rule_kind: kind, ...data, action, mode: this.modeNow },
      mode: this.modeNow,
    });
  }

  // ---- status -------------------------------------------------------------------------------------------

  snapshot(): EngineSnapshot {
    const t = this.nowT();
    const firing: EngineSnapshot['firing'] = [];
    for (const [key, e] of this.series) {
      e.watches.forEach((w, i) => {
        const s = e.states[i] as SeriesState;
        if (s.phase === 'firing') firing.push({ rule_id: w.id, series: key.replace('\u0000', ' ').replaceAll('\u0001', ' ').trim(), since_ms: t - s.since });
      });
    }
    return {
      policy_version: this.policy.version,
      mode: this.modeNow,
      previous_mode: this.prevMode,
      rules: this.policy.rules.length,
      firing,
      breakers: this.breakers.map((b) => ({
        rule_id: b.rule.id,
        state: b.phase,
        failures_in_window: b.failures.filter((f) => f > t - b.rule.window).length,
        trips: b.trips,
        mode: b.rule.mode,
      })),
      flows: [...this.flows.values()].map((f) => ({ flow: f.rule.flow, rule_id: f.rule.id, keys: f.buckets.size, refusing: [...f.refused.keys()] })),
      decisions: this.seq,
    };
  }
}

function negate(op: Op): Op {
  const n: Record<Op, Op> = { '>': '<=', '>=': '<', '<': '>=', '<=': '>', '==': '!=', '!=': '==' };
  return n[op];
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

export function capText(c: CapSpec): string {
  const parts: string[] = [];
  if (c.nice !== undefined) parts.push(`nice ${c.nice}`);
  if (c.ionice) parts.push(`ionice ${c.ionice.class}${c.ionice.level !== undefined ? `/${c.ionice.level}` : ''}`);
  if (c.cpu_weight !== undefined) parts.push(`cpu.weight ${c.cpu_weight}`);
  if (c.cpu_max) parts.push(`cpu.max ${c.cpu_max.quota === 'max' ? 'max' : fmtMs(c.cpu_max.quota)} per ${fmtMs(c.cpu_max.period ?? 100)}`);
  return parts.join(', ') || 'no limits';
}

export function describe(a: Action): string {
  switch (a.type) {
    case 'emit_event':
      return `${a.severity} event ${a.kind}${a.message ? ` (${a.message})` : ''}`;
    case 'set_mode':
      return `switch mode ${a.from} → ${a.mode}`;
    case 'restart_service':
      return `restart ${a.service}`;
    case 'stop_service':
      return `stop ${a.service}`;
    case 'start_service':
      return `start ${a.service}`;
    case 'apply_cap':
      return a.reset ? `lift the caps of ${a.service}` : `cap ${a.service} (${capText(a)})`;
    case 'export_evidence':
      return `export an evidence pack (${a.reason})`;
    case 'request_reboot':
      return 'request a reboot through the reboot guard';
    case 'webhook':
      return `call the alert webhook${a.message ? ` (${a.message})` : ''}`;
  }
}
