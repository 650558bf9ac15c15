import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { PreviousRun } from '../artifacts/index.js';
import type { Highlight } from '../journal/index.js';

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

export interface ReportSeries {
  name: string;
  unit: string;
  labels: string;
  /** Per bucket of the window: the mean and the highest value, or null where no sample fell. */
  avg: (number | null)[];
  max: (number | null)[];
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
  const req = createRequire(import.meta.url);
  const js = readFileSync(req.resolve('uplot/dist/uPlot.iife.min.js'), 'utf8');
  const css = readFileSync(req.resolve('uplot/dist/uPlot.min.css'), 'utf8');
  // A script body may not contain its own end tag.
  return { js: js.replace(/<\/(script)/gi, '<\\/$1'), css: css.replace(/<\/(style)/gi, '<\\/$1') };
}

const CSS = String.raw`
:root { --bg:#f5f6f8; --card:#fff; --ink:#1d232b; --mute:#5d6876; --line:#dfe3e8; --ok:#1a7f37; --bad:#c62828; --warn:#b26a00;
  --info:#5d6876; --notice:#1f6feb; --warning:#b26a00; --error:#c62828; --critical:#7b1fa2; --policy:#fff4d6; --recovery:#e6f0ff; }
* { box-sizing: border-box; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:var(--bg); }
header { background:#17202b; color:#fff; padding:16px 24px; }
header h1 { margin:0 0 4px; font-size:20px; font-weight:600; }
header .sub { color:#b8c2cc; font-size:13px; }
header .sub b { color:#fff; font-weight:600; }
main { padding:16px 24px 48px; max-width:1400px; margin:0 auto; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin:0 0 16px; }
section h2 { margin:0 0 10px; font-size:16px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(150px,1fr)); gap:10px; }
.card { border:1px solid var(--line); border-radius:6px; padding:8px 10px; }
.card .n { font-size:22px; font-weight:600; }
.card .l { color:var(--mute); font-size:12px; }
.verify { display:flex; gap:10px; flex-wrap:wrap; }
.badge { display:inline-block; padding:6px 10px; border-radius:6px; font-weight:600; }
.badge.ok { background:#e7f5ea; color:var(--ok); border:1px solid #a6d8b2; }
.badge.bad { background:#fdecea; color:var(--bad); border:1px solid #f1aaa5; }
.muted { color:var(--mute); }
table { border-collapse:collapse; width:100%; font-size:13px; }
th,td { text-align:left; padding:5px 8px; border-bottom:1px solid var(--line); vertical-align:top; }
th { color:var(--mute); font-weight:600; background:#fafbfc; position:sticky; top:0; }
td.ts { white-space:nowrap; font-family:ui-monospace,Menlo,monospace; font-size:12px; }
td.kind { font-family:ui-monospace,Menlo,monospace; font-size:12px; white-space:nowrap; }
td.data { font-family:ui-monospace,Menlo,monospace; font-size:11px; color:var(--mute); min-width:260px; max-width:480px; overflow-wrap:anywhere; }
.sev { display:inline-block; min-width:64px; text-align:center; border-radius:4px; padding:1px 6px; color:#fff; font-size:12px; }
.sev.info { background:var(--info); } .sev.notice { background:var(--notice); } .sev.warning { background:var(--warning); }
.sev.error { background:var(--error); } .sev.critical { background:var(--critical); }
tr.hl-policy td { background:var(--policy); } tr.hl-recovery td { background:var(--recovery); }
.tag { font-size:11px; border-radius:3px; padding:0 4px; margin-left:4px; border:1px solid; }
.tag.policy { color:#8a5a00; border-color:#e0b64f; } .tag.recovery { color:#0b4fa8; border-color:#8db4f0; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(560px,1fr)); gap:14px; }
.chart h3 { margin:0 0 4px; font-size:14px; } .chart .u { font-size:12px; color:var(--mute); font-weight:400; }
.controls { display:flex; gap:12px; flex-wrap:wrap; align-items:center; margin-bottom:8px; }
.controls input[type=text] { padding:4px 6px; border:1px solid var(--line); border-radius:4px; min-width:180px; }
.controls select { padding:3px; }
.scroll { max-height:640px; overflow:auto; border:1px solid var(--line); border-radius:6px; }
.ended-clean { color:var(--ok); font-weight:600; } .ended-crash, .ended-power-loss-or-kill { color:var(--bad); font-weight:600; }
.legend-markers { font-size:12px; color:var(--mute); margin-top:4px; }
code { font-family:ui-monospace,Menlo,monospace; font-size:12px; background:#f0f2f5; padding:1px 4px; border-radius:3px; }
pre { background:#f7f8fa; padding:8px; border-radius:6px; overflow:auto; font-size:12px; }
`;

/** The page's script: builds the page from the embedded JSON with textContent only (no data as HTML). */
const APP = String.raw`
(function () {
  'use strict';
  var D = JSON.parse(document.getElementById('evidence-data').textContent);
  var SEV = ['info', 'notice', 'warning', 'error', 'critical'];
  var SEVCOL = { info: '#5d6876', notice: '#1f6feb', warning: '#b26a00', error: '#c62828', critical: '#7b1fa2' };
  var PALETTE = ['#1f6feb', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { if (k === 'text') e.textContent = attrs[k]; else if (k === 'cls') e.className = attrs[k]; else e.setAttribute(k, attrs[k]); });
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function $(id) { return document.getElementById(id); }
  function dataCell(d) {
    if (d === '{}') return el('td', { cls: 'data' });
    return el('td', { cls: 'data', title: d, text: d.length > 160 ? d.slice(0, 160) + '…' : d });
  }
  function fmtTs(ts) { return ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z'); }
  function sevRank(s) { var i = SEV.indexOf(s); return i < 0 ? 0 : i; }
  function table(head, rows) {
    return el('table', null, [el('thead', null, [el('tr', null, head.map(function (h) { return el('th', { text: h }); }))]), el('tbody', null, rows)]);
  }

  // Header
  $('title').textContent = 'Evidence from ' + D.device.device_id;
  $('sub').appendChild(el('span', null, [
    'app ', el('b', { text: D.device.app_id }), ' · environment ', el('b', { text: D.device.environment }),
    ' · WaveOS ', el('b', { text: String(D.waveos.version) + (D.waveos.git_commit ? ' (' + String(D.waveos.git_commit).slice(0, 10) + (D.waveos.git_dirty ? ', modified' : '') + ')' : '') }),
    ' · reason ', el('b', { text: D.reason }), ' (' + D.trigger + ', by ' + D.requested_by + ')',
  ]));
  $('sub2').textContent = 'Window ' + fmtTs(D.window.since) + ' → ' + fmtTs(D.window.until) + ' · exported ' + fmtTs(D.created_at) + ' · ' + D.name;

  // Verification
  var v = D.verification;
  var vb = $('verify');
  vb.appendChild(el('span', { cls: 'badge ' + (v.chain_ok ? 'ok' : 'bad'), id: 'chain-status',
    text: v.chain_ok ? '✔ Hash chain verified at export: ' + v.events + ' events' + (v.first_seq ? ', seq ' + v.first_seq + '–' + v.last_seq : '')
      : '✘ Hash chain BROKEN at export: ' + v.chain_problem }));
  vb.appendChild(el('span', { cls: 'badge ' + (v.key_self_test ? 'ok' : 'bad'), id: 'sig-status',
    text: v.key_self_test ? '✔ Signed by device key ' + v.key_id : '✘ Device key failed its self-test: the signature cannot be trusted' }));
  $('verify-note').textContent = 'MANIFEST.json lists every file of this pack with its sha256 and is signed (MANIFEST.sig). To check that nothing was changed since export, run: waveos evidence verify ' + D.name + ' --keys DIR-WITH-TRUSTED-DEVICE-KEYS';

  if (D.incident) {
    $('incident').hidden = false;
    $('incident-body').appendChild(el('pre', { text: JSON.stringify(D.incident, null, 2) }));
  }

  // Summary
  var sc = D.counts.severity;
  var policyN = D.events.filter(function (e) { return e.hl === 'policy'; }).length;
  var recoveryN = D.events.filter(function (e) { return e.hl === 'recovery'; }).length;
  [[v.events, 'events in the window'], [(sc.warning || 0), 'warnings'], [(sc.error || 0) + (sc.critical || 0), 'errors and critical'],
   [policyN, 'policy decisions'], [recoveryN, 'recovery actions'], [D.runs.length, 'runs'], [D.counts.samples, 'metric samples'], [D.counts.series, 'metric series']]
    .forEach(function (c) { $('summary').appendChild(el('div', { cls: 'card' }, [el('div', { cls: 'n', text: String(c[0]) }), el('div', { cls: 'l', text: c[1] })])); });

  // Runs and how the previous ones ended
  $('runs').appendChild(table(['run', 'started', 'WaveOS', 'how the run before it ended', 'reset reason'], D.runs.map(function (r) {
    var p = r.previous_run;
    return el('tr', null, [el('td', { cls: 'kind', text: r.run_id }), el('td', { cls: 'ts', text: fmtTs(r.started_at) }), el('td', { text: r.waveos_version }),
      el('td', null, [p ? el('span', { cls: 'ended-' + p.ended, text: p.ended + ' (' + p.run_id + ')' }) : el('span', { cls: 'muted', text: 'no earlier run recorded' })]),
      el('td', { text: p ? p.reset_reason : '' })]);
  })));

  // Charts: one per metric, its label sets as lines, events marked
  var byName = {};
  D.chart.series.forEach(function (s) { (byName[s.name] = byName[s.name] || []).push(s); });
  var KEY = [/cpu/, /load/, /mem/, /disk|fs/, /temp/, /health/, /restart/, /net/];
  var names = Object.keys(byName).sort(function (a, b) {
    function rank(n) { for (var i = 0; i < KEY.length; i++) if (KEY[i].test(n)) return i; return KEY.length; }
    return rank(a) - rank(b) || (a < b ? -1 : 1);
  }).slice(0, 24);
  var xs = [];
  for (var i = 0; i < D.chart.buckets; i++) xs.push((D.chart.start_ms + (i + 0.5) * D.chart.bucket_ms) / 1000);
  var markers = D.markers.map(function (m) { return { t: Date.parse(m.ts) / 1000, sev: m.severity, hl: m.hl, label: m.kind }; });
  function markerPlugin() {
    return { hooks: { draw: [function (u) {
      var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      markers.forEach(function (m) {
        var x = Math.round(u.valToPos(m.t, 'x', true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) return;
        ctx.strokeStyle = m.hl === 'policy' ? '#e0a800' : m.hl === 'recovery' ? '#1f6feb' : SEVCOL[m.sev] || '#888';
        ctx.globalAlpha = 0.55; ctx.lineWidth = 1; ctx.setLineDash([4, 3]);
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
      });
      ctx.restore();
    }] } };
  }
  if (names.length === 0) $('charts').appendChild(el('p', { cls: 'muted', text: 'No metric samples were recorded in this window.' }));
  var plots = [];
  names.forEach(function (name) {
    var ss = byName[name].slice(0, 8);
    var box = el('div', { cls: 'chart' }, [el('h3', null, [name + ' ', el('span', { cls: 'u', text: ss[0].unit ? '(' + ss[0].unit + ')' : '' })])]);
    var holder = el('div');
    box.appendChild(holder);
    $('charts').appendChild(box);
    var series = [{}];
    var data = [xs];
    ss.forEach(function (s, k) {
      series.push({ label: s.labels || name, stroke: PALETTE[k % PALETTE.length], width: 1.5, spanGaps: false, points: { show: false } });
      data.push(s.avg);
    });
    if (ss.length === 1) {
      series.push({ label: 'max', stroke: PALETTE[0], width: 1, dash: [2, 3], alpha: 0.5, points: { show: false } });
      data.push(ss[0].max);
    }
    var width = Math.max(320, holder.clientWidth || 560);
    // Times in UTC, like the timeline and the files: the engineer's laptop is rarely in the device's zone.
    plots.push(new uPlot({ width: width, height: 220, series: series, scales: { x: { time: true } }, axes: [{}, { size: 56 }], plugins: [markerPlugin()],
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); } }, data, holder));
  });
  window.addEventListener('resize', function () { plots.forEach(function (p) { var w = p.root.parentNode.clientWidth; if (w) p.setSize({ width: w, height: 220 }); }); });
  if (D.markers.length) $('marker-legend').textContent = 'Dashed lines mark ' + D.markers.length + ' events: amber = policy decision, blue = recovery action, red = error, brown = warning.';

  // Timeline
  var kinds = {};
  D.events.forEach(function (e) { kinds[e.kind.split('.')[0]] = 1; });
  Object.keys(kinds).sort().forEach(function (k) { $('f-kind').appendChild(el('option', { value: k, text: k })); });
  var LIMIT = 1500;
  function render() {
    var minSev = sevRank($('f-sev').value), kind = $('f-kind').value, text = $('f-text').value.toLowerCase(), only = $('f-hl').checked;
    var shown = D.events.filter(function (e) {
      if (sevRank(e.severity) < minSev) return false;
      if (kind && e.kind.split('.')[0] !== kind) return false;
      if (only && !e.hl) return false;
      if (text && (e.kind + ' ' + e.source + ' ' + e.reason + ' ' + e.data).toLowerCase().indexOf(text) < 0) return false;
      return true;
    });
    var tb = $('timeline-body');
    tb.textContent = '';
    shown.slice(-LIMIT).forEach(function (e) {
      tb.appendChild(el('tr', { cls: e.hl ? 'hl-' + e.hl : '' }, [
        el('td', { cls: 'ts', text: fmtTs(e.ts) }), el('td', { text: '#' + e.seq, cls: 'ts' }),
        el('td', null, [el('span', { cls: 'sev ' + e.severity, text: e.severity })]),
        el('td', { cls: 'kind' }, [e.kind, e.hl ? el('span', { cls: 'tag ' + e.hl, text: e.hl }) : null]),
        el('td', { text: e.source }), el('td', { text: e.reason }), dataCell(e.data)]));
    });
    $('timeline-count').textContent = 'Showing ' + Math.min(shown.length, LIMIT) + ' of ' + shown.length + ' matching events' + (shown.length > LIMIT ? ' (the newest)' : '') +
      '; this page holds ' + D.events.length + ' of the ' + v.events + ' events of the window' + (D.events_omitted ? ' (the oldest routine ones are left out; events.jsonl has all)' : '') + '.';
  }
  ['f-sev', 'f-kind', 'f-text', 'f-hl'].forEach(function (id) { $(id).addEventListener('input', render); $(id).addEventListener('change', render); });
  render();

  // Bundles
  if (D.bundles.length === 0) $('bundles').appendChild(el('p', { cls: 'muted', text: 'No bundle was ever installed on this device (bundles.json is empty).' }));
  else $('bundles').appendChild(table(['time', 'state', 'reason', 'data'], D.bundles.map(function (b) {
    return el('tr', null, [el('td', { cls: 'ts', text: fmtTs(b.ts) }), el('td', { cls: 'kind', text: b.kind }), el('td', { text: b.reason }), dataCell(b.data)]);
  })));

  // Contents
  var lg = D.logs.map(function (l) { return el('li', null, [el('b', { text: l.source }), ': ' + l.files.join(', ')]); });
  $('logs').appendChild(lg.length ? el('ul', null, lg) : el('p', { cls: 'muted', text: 'No spooled logs cover this window.' }));
  $('files').appendChild(table(['file', 'bytes'], D.files.map(function (f) { return el('tr', null, [el('td', { cls: 'kind', text: f.path }), el('td', { text: String(f.size) })]); })));
  D.notes.forEach(function (n) { $('notes').appendChild(el('li', { text: n })); });
  if (!D.notes.length) $('notes').appendChild(el('li', { cls: 'muted', text: 'none' }));
  document.body.setAttribute('data-rendered', '1');
})();
`;

const BODY = `
<header><h1 id="title">Evidence</h1><div class="sub" id="sub"></div><div class="sub" id="sub2"></div></header>
<main>
<section><h2>Integrity</h2><div class="verify" id="verify"></div><p class="muted" id="verify-note"></p></section>
<section id="incident" hidden><h2>Incident</h2><div id="incident-body"></div></section>
<section><h2>Summary</h2><div class="grid" id="summary"></div></section>
<section><h2>Runs in this window and how the runs before them ended</h2><div id="runs"></div></section>
<section><h2>Metrics <span class="muted" style="font-weight:400;font-size:13px">(times in UTC)</span></h2><div class="charts" id="charts"></div><div class="legend-markers" id="marker-legend"></div></section>
<section><h2>Timeline</h2>
<div class="controls">
<label>Severity at least <select id="f-sev"><option value="info">info</option><option value="notice">notice</option><option value="warning">warning</option><option value="error">error</option><option value="critical">critical</option></select></label>
<label>Kind <select id="f-kind"><option value="">all</option></select></label>
<label>Text <input type="text" id="f-text" placeholder="search kind, source, reason, data"></label>
<label><input type="checkbox" id="f-hl"> only policy decisions and recovery actions</label>
</div>
<p class="muted" id="timeline-count"></p>
<div class="scroll"><table><thead><tr><th>time (UTC)</th><th>seq</th><th>severity</th><th>kind</th><th>source</th><th>reason</th><th>data</th></tr></thead><tbody id="timeline-body"></tbody></table></div>
</section>
<section><h2>Bundle history</h2><div id="bundles"></div></section>
<section><h2>Logs in this pack</h2><div id="logs"></div></section>
<section><h2>Files in this pack</h2><div id="files"></div></section>
<section><h2>Notes</h2><ul id="notes"></ul></section>
</main>
`;

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
  await write(scriptSafeJson(data));
  await write('</script>\n<script>');
  await write(js);
  await write('</script>\n<script>');
  await write(APP);
  await write('</script>\n</body></html>\n');
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);
}
