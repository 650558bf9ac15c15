import { isoUtc } from '../core/index.js';
import type { HealthBody } from './protocol.js';
import type { FleetDeps } from './types.js';

/** Most samples one summary reads: a window of a minute of a busy board holds a few hundred. */
const MAX_SAMPLES = 20_000;

/** The `health` summary of the time since the last one: every metric downsampled to n / min / max / mean / last. */
export class HealthWindow {
  private from: number;

  constructor(private readonly d: Pick<FleetDeps, 'clock' | 'facts' | 'config'>) {
    this.from = d.clock.now();
  }

  summary(outbox: { depth: number; dropped: number }): HealthBody {
    const to = this.d.clock.now();
    const rows = new Map<string, HealthBody['metrics'][number] & { sum: number }>();
    for (const s of this.d.facts.samples(this.from, MAX_SAMPLES)) {
      const ts = Date.parse(s.ts);
      if (ts < this.from || ts >= to) continue;
      const labels = Object.entries(s.labels)
        .map(([k, v]) => `${k}=${v}`)
        .join(',');
      const name = labels ? `${s.name}{${labels}}` : s.name;
      const r = rows.get(name);
      if (!r) rows.set(name, { name, unit: s.unit, n: 1, min: s.value, max: s.value, mean: s.value, last: s.value, sum: s.value });
      else {
        r.n++;
        r.min = Math.min(r.min, s.value);
        r.max = Math.max(r.max, s.value);
        r.sum += s.value;
        r.last = s.value;
      }
    }
    const from = this.from;
    this.from = to;
    return {
      from: isoUtc(from),
      to: isoUtc(to),
      interval_s: this.d.config.health_interval_ms / 1000,
      mode: this.d.facts.mode(),
      score: this.d.facts.health().score,
      metrics: [...rows.values()].map(({ sum, ...r }) => ({ ...r, mean: sum / r.n })),
      outbox,
    };
  }
}
