import { csvField, formatLabels } from '../artifacts/index.js';
import type { RawSample } from '../journal/index.js';

/**
 * metrics.csv rows for many samples, the same text `sampleRow` writes: each series' fixed parts and the
 * last timestamp are formatted once (a window holds millions of rows; 50 series share each second).
 */
export class SampleRowFormatter {
  private readonly series = new Map<string, Map<string, Map<string, { head: string; tail: string; labels: Record<string, string> }>>>();
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
    // Nested by part, not keyed by a joined text: the parts are the catalogue's own strings, whose hashes
    // are computed once, while a joined key would be built and hashed again for every sample.
    let byUnit = this.series.get(s.name);
    if (!byUnit) this.series.set(s.name, (byUnit = new Map()));
    let byLabels = byUnit.get(s.unit);
    if (!byLabels) byUnit.set(s.unit, (byLabels = new Map()));
    let e = byLabels.get(s.labels);
    if (!e) {
      const labels = JSON.parse(s.labels) as Record<string, string>;
      e = { head: `,${csvField(s.name)},`, tail: `,${csvField(s.unit)},${csvField(formatLabels(labels))}\n`, labels };
      byLabels.set(s.labels, e);
    }
    return e;
  }
}

/** The fixed parts of one series' metrics.csv rows: before the value, and after it. */
export interface SeriesRowParts {
  head: string;
  tail: string;
}

/** metrics.csv row parts of a catalogue series (the same text as sampleRow around the timestamp and value). */
export function seriesRowParts(s: { name: string; unit: string; labels: string }): SeriesRowParts {
  const labels = JSON.parse(s.labels) as Record<string, string>;
  return { head: `,${csvField(s.name)},`, tail: `,${csvField(s.unit)},${csvField(formatLabels(labels))}\n` };
}
