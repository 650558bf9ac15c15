import { csvField, formatLabels } from '../artifacts/index.js';
import type { RawSample } from '../journal/index.js';

/**
 * metrics.csv rows for many samples, the same text `sampleRow` writes: each series' fixed parts and the
 * last timestamp are formatted once (a window holds millions of rows; 50 series share each second).
 */
export class SampleRowFormatter {
  private readonly series = new Map<string, { head: string; tail: string; labels: Record<string, string> }>();
  private lastTs = Number.NaN;
  private lastIso = '';

  /** The labels of a sample's series, parsed once. */
  labelsOf(s: RawSample): Record<string, string> {
    return this.entry(s).labels;
  }

  row(s: RawSample): string {
    if (s.ts_ms !== this.lastTs) {
      this.lastTs = s.ts_ms;
      this.lastIso = new Date(s.ts_ms).toISOString();
    }
    const e = this.entry(s);
    return `${this.lastIso}${e.head}${s.value}${e.tail}`;
  }

  private entry(s: RawSample): { head: string; tail: string; labels: Record<string, string> } {
    const key = `${s.name}\u0000${s.unit}\u0000${s.labels}`;
    let e = this.series.get(key);
    if (!e) {
      const labels = JSON.parse(s.labels) as Record<string, string>;
      e = { head: `,${csvField(s.name)},`, tail: `,${csvField(s.unit)},${csvField(formatLabels(labels))}\n`, labels };
      this.series.set(key, e);
    }
    return e;
  }
}
