/** A finished span as the journal keeps it (`trace.spans` events): short keys, times in ms. */
export interface CompactSpan {
  /** trace id (32 hex) */
  t: string;
  /** span id (16 hex) */
  s: string;
  /** parent span id, null for a root */
  p: string | null;
  /** name */
  n: string;
  /** start, epoch ms */
  b: number;
  /** duration, ms */
  d: number;
  /** status: 0 unset, 1 ok, 2 error */
  st: number;
  /** attributes (the waveos.* ones and a few semantic-convention ones) */
  a: Record<string, string | number | boolean>;
}

/** One row of a waterfall: a span, its depth in its trace and its offset from the trace's start. */
export interface WaterfallRow {
  span: CompactSpan;
  depth: number;
  offset_ms: number;
}

/**
 * The spans of each trace as a waterfall: parents before children, children by start time; a span whose
 * parent is not among them (exported elsewhere, or dropped) starts a tree of its own.
 */
export function waterfalls(spans: readonly CompactSpan[]): WaterfallRow[][] {
  const byTrace = new Map<string, CompactSpan[]>();
  for (const s of spans) byTrace.set(s.t, [...(byTrace.get(s.t) ?? []), s]);
  const out: WaterfallRow[][] = [];
  for (const list of byTrace.values()) {
    const ids = new Set(list.map((s) => s.s));
    const kids = new Map<string | null, CompactSpan[]>();
    for (const s of list) {
      const p = s.p !== null && ids.has(s.p) ? s.p : null;
      kids.set(p, [...(kids.get(p) ?? []), s]);
    }
    for (const k of kids.values()) k.sort((a, b) => a.b - b.b);
    const t0 = Math.min(...list.map((s) => s.b));
    const rows: WaterfallRow[] = [];
    const walk = (parent: string | null, depth: number): void => {
      for (const s of kids.get(parent) ?? []) {
        rows.push({ span: s, depth, offset_ms: s.b - t0 });
        walk(s.s, depth + 1);
      }
    };
    walk(null, 0);
    out.push(rows);
  }
  return out.sort((a, b) => (a[0]?.span.b ?? 0) - (b[0]?.span.b ?? 0));
}
