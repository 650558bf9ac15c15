import { type InputProblem, WaveosError } from '../core/index.js';
import type { PolicySample } from './types.js';

export const METRICS_HEADER = 'ts,metric,value,unit,labels';

/** Splits one CSV line (RFC 4180 quoting: "" inside quotes is a quote). Undefined when a quote is left open. */
/** Whether text[from, to) equals s, without cutting a string out of text (cheaper than startsWith on a slice). */
function same(text: string, from: number, to: number, s: string): boolean {
  if (to - from !== s.length) return false;
  for (let i = 0; i < s.length; i++) if (text.charCodeAt(from + i) !== s.charCodeAt(i)) return false;
  return true;
}

function hashRange(text: string, from: number, to: number): number {
  let h = 0;
  for (let i = from; i < to; i++) h = (Math.imul(h, 31) + text.charCodeAt(i)) | 0;
  return h;
}

function splitCsv(line: string): string[] | undefined {
  if (!line.includes('"')) return line.split(',');
  const out: string[] = [];
  let i = 0;
  for (;;) {
    if (line[i] === '"') {
      let v = '';
      i++;
      for (;;) {
        const q = line.indexOf('"', i);
        if (q < 0) return undefined;
        v += line.slice(i, q);
        if (line[q + 1] === '"') {
          v += '"';
          i = q + 2;
        } else {
          i = q + 1;
          break;
        }
      }
      out.push(v);
      if (i >= line.length) return out;
      if (line[i] !== ',') return undefined;
      i++;
    } else {
      const c = line.indexOf(',', i);
      if (c < 0) {
        out.push(line.slice(i));
        return out;
      }
      out.push(line.slice(i, c));
      i = c + 1;
    }
  }
}

/**
 * Turns metrics.csv text into samples, incrementally (feed it chunks). Repeated timestamps and label sets
 * share one parsed value and one labels object, which keeps replay of a day of samples fast.
 */
export class MetricsCsvReader {
  private rest = '';
  private lineNo = 0;
  private lastTsText = '';
  private lastTs = 0;
  private readonly labelCache = new Map<string, Readonly<Record<string, string>>>();
  readonly problems: InputProblem[] = [];

  constructor(
    private readonly file: string,
    private readonly maxProblems = 20,
  ) {}

  /** Parses the complete lines in `chunk` (the tail is kept for the next call) and returns their samples. */
  push(chunk: string, out: PolicySample[] = []): PolicySample[] {
    const text = this.rest + chunk;
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      if (nl < 0) break;
      const end = nl > start && text.charCodeAt(nl - 1) === 13 ? nl - 1 : nl;
      if (this.lineNo === 0 || !this.fastLine(text, start, end, out)) this.line(text.slice(start, end), out);
      start = nl + 1;
    }
    this.rest = text.slice(start);
    return out;
  }

  private lastName = '';
  private lastUnit = '';
  private lastLabelText = '';
  private lastLabels: Readonly<Record<string, string>> | undefined;
  /** Label texts seen, by a hash of their characters: found without cutting the text out of the line. */
  private readonly labelIndex = new Map<number, { text: string; labels: Readonly<Record<string, string>> }[]>();

  /**
   * The common row: no quotes, a timestamp, name, unit and label set like the previous row's. Compares in
   * place instead of cutting strings; anything unusual goes to the general parser.
   */
  private fastLine(text: string, start: number, end: number, out: PolicySample[]): boolean {
    const c1 = text.indexOf(',', start);
    if (c1 < 0 || c1 > end) return false;
    const c2 = text.indexOf(',', c1 + 1);
    if (c2 < 0 || c2 > end) return false;
    const c3 = text.indexOf(',', c2 + 1);
    if (c3 < 0 || c3 > end) return false;
    const c4 = text.indexOf(',', c3 + 1);
    if (c4 < 0 || c4 > end) return false;
    // The writer quotes whole fields, so a quote can only open a field.
    if (text.charCodeAt(start) === 34 || text.charCodeAt(c1 + 1) === 34 || text.charCodeAt(c3 + 1) === 34 || text.charCodeAt(c4 + 1) === 34) return false;
    const c5 = text.indexOf(',', c4 + 1);
    if (c5 >= 0 && c5 < end) return false;
    if (!same(text, start, c1, this.lastTsText)) return false;
    if (!same(text, c1 + 1, c2, this.lastName)) this.lastName = text.slice(c1 + 1, c2);
    if (!same(text, c3 + 1, c4, this.lastUnit)) this.lastUnit = text.slice(c3 + 1, c4);
    if (!this.lastLabels || !same(text, c4 + 1, end, this.lastLabelText)) {
      const bucket = this.labelIndex.get(hashRange(text, c4 + 1, end));
      const hit = bucket?.find((b) => same(text, c4 + 1, end, b.text));
      if (hit === undefined) return false;
      this.lastLabelText = hit.text;
      this.lastLabels = hit.labels;
    }
    const valueText = text.slice(c2 + 1, c3);
    const value = Number(valueText);
    if (valueText === '' || Number.isNaN(value)) return false;
    this.lineNo++;
    out.push({ ts_ms: this.lastTs, name: this.lastName, value, unit: this.lastUnit, labels: this.lastLabels });
    return true;
  }

  /** The last line when the file does not end in a newline. */
  end(out: PolicySample[] = []): PolicySample[] {
    if (this.rest.length > 0) this.line(this.rest.replace(/\r$/, ''), out);
    this.rest = '';
    if (this.lineNo === 0) this.problem(1, `the file is empty (expected the header "${METRICS_HEADER}")`);
    return out;
  }

  private problem(line: number, message: string): void {
    if (this.problems.length < this.maxProblems) this.problems.push({ file: this.file, line, column: 1, message });
  }

  private line(line: string, out: PolicySample[]): void {
    this.lineNo++;
    if (this.lineNo === 1) {
      if (line.replace(/^\uFEFF/, '').trim() !== METRICS_HEADER) this.problem(1, `expected the header "${METRICS_HEADER}", got "${line.slice(0, 80)}"`);
      return;
    }
    if (line === '') return;
    const f = splitCsv(line);
    if (!f || f.length !== 5) {
      this.problem(this.lineNo, f ? `expected 5 fields (ts,metric,value,unit,labels), got ${f.length}` : 'a quoted field is not closed');
      return;
    }
    const [tsText, name, valueText, unit, labelText] = f as [string, string, string, string, string];
    let ts = this.lastTs;
    if (tsText !== this.lastTsText) {
      ts = Date.parse(tsText);
      if (Number.isNaN(ts)) {
        this.problem(this.lineNo, `expected an ISO-8601 time in the ts column, got "${tsText.slice(0, 40)}"`);
        return;
      }
      this.lastTsText = tsText;
      this.lastTs = ts;
    }
    const value = Number(valueText);
    if (valueText === '' || (Number.isNaN(value) && valueText !== 'NaN')) {
      this.problem(this.lineNo, `expected a number in the value column, got "${valueText.slice(0, 40)}"`);
      return;
    }
    let labels = this.labelCache.get(labelText);
    if (labels === undefined) {
      const l: Record<string, string> = {};
      if (labelText !== '') {
        for (const pair of labelText.split(';')) {
          const eq = pair.indexOf('=');
          if (eq <= 0) {
            this.problem(this.lineNo, `expected labels as key=value;key=value, got "${labelText.slice(0, 80)}"`);
            return;
          }
          l[pair.slice(0, eq)] = pair.slice(eq + 1);
        }
      }
      labels = Object.freeze(l);
      if (this.labelCache.size < 100_000) {
        this.labelCache.set(labelText, labels);
        const h = hashRange(labelText, 0, labelText.length);
        const bucket = this.labelIndex.get(h) ?? [];
        bucket.push({ text: labelText, labels });
        this.labelIndex.set(h, bucket);
      }
    }
    out.push({ ts_ms: ts, name, value, unit, labels });
  }

  get lines(): number {
    return this.lineNo;
  }

  /** Throws the located problems, if any. */
  check(): void {
    if (this.problems.length > 0) {
      throw new WaveosError('WAVEOS_E_METRICS_CSV', `${this.file}: not a valid metrics.csv`, { problems: [...this.problems] });
    }
  }
}

/** Parses a whole metrics.csv text (tests and small files). */
export function parseMetricsCsv(text: string, file = 'metrics.csv'): PolicySample[] {
  const r = new MetricsCsvReader(file);
  const out = r.push(text);
  r.end(out);
  r.check();
  return out;
}
