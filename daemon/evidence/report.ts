import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { PreviousRun } from '../artifacts/index.js';
import { BUNDLED, resourcePath } from '../core/resources.js';
import type { Highlight } from '../journal/index.js';
import { type ChartPlan, type ModeSpan, type ReportSeries, modeSpans, planCharts } from './report-charts.js';

export type { ReportSeries } from './report-charts.js';
import { INCIDENT_KINDS, type Incident, headlineOf, incidentsOf } from './report-headline.js';
import { APP, BODY, CSS } from './report-page.js';
import type { WaterfallRow } from '../tracing/index.js';

export interface ReportEvent {
  seq: number;
  ts: string;
  severity: string;
  kind: string;
  source: string;
  reason: string;
  /** The event's data as JSON, cut at 400 characters. */
  data: string;
  /** From the event catalogue's highlight flag. */
  hl: Highlight | undefined;
}

/** Everything the page shows, embedded as JSON: bounded in size whatever the window holds. */
export interface ReportData {
  name: string;
  created_at: string;
  reason: string;
  trigger: string;
  requested_by: string;
  incident: Record<string, unknown> | null;
  window: { since: string; until: string };
  device: { device_id: string; app_id: string; environment: string; key_id: string };
  waveos: Record<string, unknown>;
  runs: { run_id: string; started_at: string; waveos_version: string; boot_id: string; previous_run: PreviousRun | null }[];
  verification: {
    chain_ok: boolean;
    chain_problem: string | null;
    events: number;
    first_seq: number | null;
    last_seq: number | null;
    key_id: string;
    key_self_test: boolean;
  };
  counts: { severity: Record<string, number>; kinds: [string, number][]; samples: number; series: number };
  chart: { start_ms: number; bucket_ms: number; buckets: number; series: ReportSeries[] };
  markers: ReportEvent[];
  events: ReportEvent[];
  events_omitted: number;
  /** Action traces from `trace.spans` events (tracing on), each a waterfall: parents first, offsets from the trace's start. */
  traces: WaterfallRow[][];
  bundles: { ts: string; kind: string; severity: string; reason: string; data: string }[];
  logs: { source: string; files: string[] }[];
  files: { path: string; size: number }[];
  notes: string[];
}

/** JSON that can sit inside a <script> element: no `</script>`, no `<!--`, no line separators that end JS strings. */
export function scriptSafeJson(v: unknown): string {
  return JSON.stringify(v)
    .replace(/</g, '\\u003c')
    .replace(/>/g, '\\u003e')
    .replace(/&/g, '\\u0026')
    .replace(/\u2028/g, '\\u2028')
    .replace(/\u2029/g, '\\u2029');
}

function uplotAssets(): { js: string; css: string } {
  // The bundle carries its own copy of the two files (dist/bundle/assets/); dist/ finds them in node_modules.
  const req = createRequire(import.meta.url);
  const file = (name: string): string => (BUNDLED ? resourcePath(`assets/${name}`, '') : req.resolve(`uplot/dist/${name}`));
  const js = readFileSync(file('uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(file('uPlot.min.css'), 'utf8');
  // A script body may not contain its own end tag.
  return { js: js.replace(/<\/(script)/gi, '<\\/$1'), css: css.replace(/<\/(style)/gi, '<\\/$1') };
}

/** What the page embeds: the pack's summary with the chart grid replaced by its plan, and the answer worked out. */
type PageData = Omit<ReportData, 'chart' | 'markers'> & {
  headline: string;
  incidents: Incident[];
  incident_kinds: string[];
  plan: ChartPlan;
  modes: ModeSpan[];
  other_markers: ReportEvent[];
};

/** The answer first: the incidents in words, the charts fitted to the data and the modes over the same span. */
export function pageData(data: ReportData): PageData {
  const { chart, markers, ...rest } = data;
  const incidents = incidentsOf(data.events);
  const window = { since_ms: Date.parse(data.window.since), until_ms: Date.parse(data.window.until) };
  const plan = planCharts(chart, window, incidents.map((i) => Date.parse(i.ts)));
  return {
    ...rest,
    headline: headlineOf(data.events, incidents),
    incidents,
    incident_kinds: [...INCIDENT_KINDS],
    plan,
    modes: modeSpans(data.events, plan.from_ms, plan.to_ms),
    other_markers: markers.filter((m) => !INCIDENT_KINDS.has(m.kind)),
  };
}

/** Writes report.html through `write` piece by piece: one self-contained page, no network. */
export async function writeReport(data: ReportData, write: (s: string) => Promise<void>): Promise<void> {
  const { js, css } = uplotAssets();
  await write(
    `<!doctype html>\n<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">` +
      `<meta http-equiv="Content-Security-Policy" content="default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; img-src data:">` +
      `<title>WaveOS evidence ${escapeHtml(data.device.device_id)} ${escapeHtml(data.created_at)}</title>\n<style>${css}\n${CSS}</style></head><body>\n`,
  );
  await write(BODY);
  await write('<script type="application/json" id="evidence-data">');
  await write(scriptSafeJson(pageData(data)));
  await write('</script>\n<script>');
  await write(js);
  await write('</script>\n<script>');
  await write(APP);
  await write('</script>\n</body></html>\n');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
