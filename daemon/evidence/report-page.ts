import { formatValue } from './report-units.js';

/** The page's look: readable on a laptop and on a phone, nothing wider than the screen. */
export const CSS = String.raw`
:root { --bg:#f5f6f8; --card:#fff; --ink:#1d232b; --mute:#5d6876; --line:#dfe3e8; --ok:#1a7f37; --bad:#c62828; --warn:#b26a00;
  --info:#5d6876; --notice:#1f6feb; --warning:#b26a00; --error:#c62828; --critical:#7b1fa2; --policy:#fff4d6; --recovery:#e6f0ff;
  --m-normal:#2da44e; --m-degraded:#d4a72c; --m-safe:#cf222e; --m-other:#8c959f; }
* { box-sizing: border-box; }
html, body { overflow-wrap:anywhere; }
body { margin:0; font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,sans-serif; color:var(--ink); background:var(--bg); }
header { background:#17202b; color:#fff; padding:14px 20px; }
header h1 { margin:0 0 4px; font-size:19px; font-weight:600; }
header .sub { color:#b8c2cc; font-size:13px; }
header .sub b { color:#fff; font-weight:600; }
main { padding:14px 20px 48px; max-width:1400px; margin:0 auto; }
section { background:var(--card); border:1px solid var(--line); border-radius:8px; padding:14px 16px; margin:0 0 16px; min-width:0; }
section h2 { margin:0 0 10px; font-size:16px; }
td.wf-cell { width:40%; min-width:120px; } .wf { height:10px; border-radius:2px; }
#answer { border-left:6px solid var(--bad); }
#answer.quiet { border-left-color:var(--ok); }
#headline { font-size:19px; font-weight:600; margin:0 0 6px; }
#incidents { margin:4px 0 10px; padding-left:20px; color:var(--mute); }
.band-wrap { margin:10px 0 2px; }
.band { position:relative; height:22px; border-radius:4px; background:#eef1f4; overflow:hidden; }
.band .span { position:absolute; top:0; bottom:0; }
.band .span.normal { background:var(--m-normal); } .band .span.degraded { background:var(--m-degraded); } .band .span.safe { background:var(--m-safe); }
.band .span.other { background:var(--m-other); }
.band .tick { position:absolute; top:0; bottom:0; width:2px; background:#17202b; opacity:.8; }
.band.track { height:14px; background:#f3f4f6; }
.band.track .tick { width:1px; opacity:.45; }
.band-axis { display:flex; justify-content:space-between; font-size:12px; color:var(--mute); font-family:ui-monospace,Menlo,monospace; }
.keys { font-size:12px; color:var(--mute); display:flex; gap:12px; flex-wrap:wrap; margin-top:4px; }
.keys i { display:inline-block; width:10px; height:10px; border-radius:2px; margin-right:4px; vertical-align:-1px; }
details { margin-top:8px; } summary { cursor:pointer; color:var(--mute); font-size:13px; }
.grid { display:grid; grid-template-columns:repeat(auto-fill,minmax(140px,1fr)); gap:10px; }
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
td.kind { font-family:ui-monospace,Menlo,monospace; font-size:12px; }
td.data { font-family:ui-monospace,Menlo,monospace; font-size:11px; color:var(--mute); white-space:pre-wrap; overflow-wrap:anywhere; word-break:break-word; }
.sev { display:inline-block; min-width:60px; text-align:center; border-radius:4px; padding:1px 6px; color:#fff; font-size:12px; }
.sev.info { background:var(--info); } .sev.notice { background:var(--notice); } .sev.warning { background:var(--warning); }
.sev.error { background:var(--error); } .sev.critical { background:var(--critical); }
tr.hl-policy td { background:var(--policy); } tr.hl-recovery td { background:var(--recovery); }
tr.incident td:first-child { box-shadow: inset 4px 0 0 var(--bad); }
.tag { font-size:11px; border-radius:3px; padding:0 4px; margin-left:4px; border:1px solid; }
.tag.policy { color:#8a5a00; border-color:#e0b64f; } .tag.recovery { color:#0b4fa8; border-color:#8db4f0; }
.charts { display:grid; grid-template-columns:repeat(auto-fill,minmax(min(560px,100%),1fr)); gap:14px; }
.chart { min-width:0; }
.chart h3 { margin:0 0 4px; font-size:14px; } .chart .u { font-size:12px; color:var(--mute); font-weight:400; }
.u-legend { font-size:12px; max-width:100%; } .u-legend .u-value { min-width:0 !important; }
.uplot { max-width:100%; }
.controls { display:flex; gap:12px; flex-wrap:wrap; align-items:center; margin-bottom:8px; }
.controls input[type=search] { padding:5px 8px; border:1px solid var(--line); border-radius:4px; min-width:0; width:min(320px,100%); }
.controls select { padding:3px; }
.scroll { max-height:720px; overflow-y:auto; overflow-x:hidden; border:1px solid var(--line); border-radius:6px; }
.ended-clean { color:var(--ok); font-weight:600; } .ended-crash, .ended-power-loss-or-kill { color:var(--bad); font-weight:600; }
code { font-family:ui-monospace,Menlo,monospace; font-size:12px; background:#f0f2f5; padding:1px 4px; border-radius:3px; }
pre { background:#f7f8fa; padding:8px; border-radius:6px; font-size:12px; white-space:pre-wrap; overflow-wrap:anywhere; }
ul.flat { columns:2 260px; font-size:13px; padding-left:18px; }
@media (max-width: 760px) {
  main { padding:10px 8px 32px; } header { padding:12px 10px; } section { padding:10px; }
  #headline { font-size:17px; }
  table.stack thead { display:none; }
  table.stack tr { display:block; border-bottom:1px solid var(--line); padding:4px 0; }
  table.stack td { display:inline-block; border:0; padding:2px 6px; max-width:100%; }
  table.stack td.data, table.stack td.reason { display:block; }
  table.stack tr.incident { box-shadow: inset 4px 0 0 var(--bad); } table.stack tr.incident td:first-child { box-shadow:none; }
}
`;

export const BODY = `
<header><h1 id="title">Evidence</h1><div class="sub" id="sub"></div><div class="sub" id="sub2"></div></header>
<main>
<section id="answer"><p id="headline"></p><ol id="incidents"></ol>
<div class="band-wrap"><div class="band" id="modes" title="device mode"></div><div class="band-axis"><span id="band-from"></span><span>mode (times UTC)</span><span id="band-to"></span></div>
<div class="keys"><span><i style="background:var(--m-normal)"></i>normal</span><span><i style="background:var(--m-degraded)"></i>degraded</span><span><i style="background:var(--m-safe)"></i>safe</span><span><i style="background:#17202b"></i>incident</span></div></div>
<p class="muted" style="margin:6px 0 0;font-size:13px"><a href="#timeline">Jump to the timeline</a> · <a href="#metrics">the charts</a></p>
<details id="track-box"><summary id="track-summary">Other policy and recovery events</summary><div class="band track" id="track"></div><p class="muted" id="track-note"></p></details>
</section>
<section id="metrics"><h2>Metrics that moved <span class="muted" style="font-weight:400;font-size:13px" id="metrics-note"></span></h2><div class="charts" id="charts"></div>
<details id="flat-box"><summary id="flat-summary">Metrics that kept one value</summary><ul class="flat" id="flat"></ul></details></section>
<section id="timeline"><h2>Timeline, newest first</h2>
<div class="controls">
<input type="search" id="f-text" placeholder="filter: kind, service, reason, data" aria-label="filter the timeline">
<label>Severity at least <select id="f-sev"><option value="info">info</option><option value="notice">notice</option><option value="warning">warning</option><option value="error">error</option><option value="critical">critical</option></select></label>
<label>Kind <select id="f-kind"><option value="">all</option></select></label>
<label><input type="checkbox" id="f-hl"> only policy and recovery</label>
</div>
<p class="muted" id="timeline-count"></p>
<div class="scroll"><table class="stack"><thead><tr><th>time (UTC)</th><th>seq</th><th>severity</th><th>kind</th><th>source</th><th>reason</th><th>data</th></tr></thead><tbody id="timeline-body"></tbody></table></div>
</section>
<section id="traces"><h2>Action traces</h2><div id="traces-body"></div></section>
<section><h2>Integrity</h2><div class="verify" id="verify"></div><p class="muted" id="verify-note"></p></section>
<section id="incident" hidden><h2>Why this pack was made</h2><div id="incident-body"></div></section>
<section><h2>Summary</h2><div class="grid" id="summary"></div></section>
<section><h2>Runs in this window and how the runs before them ended</h2><div id="runs"></div></section>
<section><h2>Bundle history</h2><div id="bundles"></div></section>
<section><h2>Logs in this pack</h2><div id="logs"></div></section>
<section><h2>Files in this pack</h2><div id="files"></div></section>
<section><h2>Notes</h2><ul id="notes"></ul></section>
</main>
`;

/** Header, answer block and mode band: what the page says before anything else. */
const APP_TOP = String.raw`
  var D = JSON.parse(document.getElementById('evidence-data').textContent);
  var SEV = ['info', 'notice', 'warning', 'error', 'critical'];
  var PALETTE = ['#1f6feb', '#d62728', '#2ca02c', '#9467bd', '#ff7f0e', '#17becf', '#8c564b', '#e377c2'];
  var MODE_TINT = { degraded: 'rgba(212,167,44,0.13)', safe: 'rgba(207,34,46,0.10)' };
  function el(tag, attrs, kids) {
    var e = document.createElement(tag);
    if (attrs) Object.keys(attrs).forEach(function (k) { if (k === 'text') e.textContent = attrs[k]; else if (k === 'cls') e.className = attrs[k]; else e.setAttribute(k, attrs[k]); });
    (kids || []).forEach(function (c) { if (c != null) e.appendChild(typeof c === 'string' ? document.createTextNode(c) : c); });
    return e;
  }
  function $(id) { return document.getElementById(id); }
  function fmtTs(ts) { return ts.replace('T', ' ').replace(/\.\d+Z$/, 'Z'); }
  function hms(ms) { return new Date(ms).toISOString().slice(11, 19); }
  function sevRank(s) { var i = SEV.indexOf(s); return i < 0 ? 0 : i; }
  function table(head, rows, cls) {
    return el('table', cls ? { cls: cls } : null, [el('thead', null, [el('tr', null, head.map(function (h) { return el('th', { text: h }); }))]), el('tbody', null, rows)]);
  }
  var P = D.plan, span = Math.max(1, P.to_ms - P.from_ms);
  function pct(ms) { return Math.min(100, Math.max(0, (ms - P.from_ms) / span * 100)); }

  $('title').textContent = 'Evidence from ' + D.device.device_id;
  $('sub').appendChild(el('span', null, [
    'app ', el('b', { text: D.device.app_id }), ' · environment ', el('b', { text: D.device.environment }),
    ' · WaveOS ', el('b', { text: String(D.waveos.version) + (D.waveos.git_commit ? ' (' + String(D.waveos.git_commit).slice(0, 10) + (D.waveos.git_dirty ? ', modified' : '') + ')' : '') }),
    ' · reason ', el('b', { text: D.reason }), ' (' + D.trigger + ', by ' + D.requested_by + ')',
  ]));
  $('sub2').textContent = 'Window ' + fmtTs(D.window.since) + ' → ' + fmtTs(D.window.until) + ' · data ' + hms(P.from_ms) + '–' + hms(P.to_ms) + ' UTC · ' + D.name;

  $('headline').textContent = D.headline;
  if (!D.incidents.length) $('answer').className = 'quiet';
  D.incidents.slice(1, 8).forEach(function (i) { $('incidents').appendChild(el('li', { text: i.text })); });
  if (D.incidents.length > 8) $('incidents').appendChild(el('li', { text: (D.incidents.length - 8) + ' more in the timeline' }));

  D.modes.forEach(function (m) {
    var cls = m.mode === 'normal' || m.mode === 'degraded' || m.mode === 'safe' ? m.mode : 'other';
    $('modes').appendChild(el('div', { cls: 'span ' + cls, title: m.mode + ' ' + hms(m.from_ms) + '–' + hms(m.to_ms), style: 'left:' + pct(m.from_ms) + '%;width:' + (pct(m.to_ms) - pct(m.from_ms)) + '%' }));
  });
  var incidentMs = D.incidents.map(function (i) { return { t: Date.parse(i.ts), text: i.text }; });
  incidentMs.forEach(function (i) { $('modes').appendChild(el('div', { cls: 'tick', title: i.text, style: 'left:' + pct(i.t) + '%' })); });
  $('band-from').textContent = hms(P.from_ms);
  $('band-to').textContent = hms(P.to_ms);
  D.other_markers.forEach(function (m) {
    $('track').appendChild(el('div', { cls: 'tick', title: fmtTs(m.ts) + ' ' + m.kind, style: 'left:' + pct(Date.parse(m.ts)) + '%;background:' + (m.hl === 'policy' ? '#b26a00' : m.hl === 'recovery' ? '#1f6feb' : '#5d6876') }));
  });
  $('track-summary').textContent = D.other_markers.length + ' other policy, recovery and warning events (not drawn on the charts)';
  $('track-note').textContent = 'amber = policy decision, blue = recovery action, grey = warning or error; the timeline below lists each.';
`;

/** The charts: uPlot on the fitted window, unit-aware axes, mode tint and incident lines. */
const APP_CHARTS = String.raw`
  function modeHook(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save();
    D.modes.forEach(function (m) {
      var tint = MODE_TINT[m.mode];
      if (!tint) return;
      var a = u.valToPos(m.from_ms / 1000, 'x', true), b = u.valToPos(m.to_ms / 1000, 'x', true);
      ctx.fillStyle = tint; ctx.fillRect(a, top, Math.max(1, b - a), h);
    });
    ctx.restore();
  }
  function incidentHook(u) {
    var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
    ctx.save();
    incidentMs.forEach(function (i) {
      var x = Math.round(u.valToPos(i.t / 1000, 'x', true));
      ctx.strokeStyle = '#c62828'; ctx.globalAlpha = 0.8; ctx.lineWidth = 1.5; ctx.setLineDash([5, 3]);
      ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
    });
    ctx.restore();
  }
  function yAxis(unit) {
    return {
      values: function (u, splits) { return splits.map(function (v) { return formatValue(v, unit); }); },
      size: function (u, values) { var n = 0; (values || []).forEach(function (v) { n = Math.max(n, String(v).length); }); return Math.max(40, n * 7 + 18); },
    };
  }
  function widthOf(holder) { return Math.max(240, holder.clientWidth || 560); }
  var plots = [];
  if (P.charts.length === 0) $('charts').appendChild(el('p', { cls: 'muted', text: 'No metric moved in this window.' }));
  $('metrics-note').textContent = '(' + P.charts.length + ' charts, times in UTC; dashed red = incident, tint = degraded or safe mode)';
  P.charts.forEach(function (c) {
    var holder = el('div');
    $('charts').appendChild(el('div', { cls: 'chart', 'data-metric': c.name }, [el('h3', null, [c.name + ' ', el('span', { cls: 'u', text: c.unit ? '(' + c.unit + ')' : '' })]), holder]));
    var series = [{}], data = [c.x];
    c.series.forEach(function (s, k) {
      // null = no sample in this bucket: drawn across (uPlot spans undefined); a break only on a long silence.
      var y = s.y.map(function (v) { return v === null ? undefined : v; });
      s.breaks.forEach(function (j) { y[j] = null; });
      data.push(y);
      series.push({ label: s.label, stroke: PALETTE[k % PALETTE.length], width: 1.5, points: { show: s.samples < 40, size: 4 },
        value: function (u, v) { return v == null ? '–' : formatValue(v, c.unit); } });
    });
    plots.push(new uPlot({ width: widthOf(holder), height: 200, series: series,
      scales: { x: { time: true, range: [P.from_ms / 1000, P.to_ms / 1000] } }, axes: [{}, yAxis(c.unit)],
      hooks: { drawClear: [modeHook], draw: [incidentHook] },
      tzDate: function (ts) { return uPlot.tzDate(new Date(ts * 1e3), 'Etc/UTC'); } }, data, holder));
  });
  window.reportPlots = plots;
  window.addEventListener('resize', function () { plots.forEach(function (p) { var w = p.root.parentNode.clientWidth; if (w) p.setSize({ width: w, height: 200 }); }); });
  $('flat-summary').textContent = P.flat.length + ' metrics kept one value all along (not drawn)';
  P.flat.forEach(function (f) { $('flat').appendChild(el('li', null, [el('code', { text: f.name }), ' ' + formatValue(f.value, f.unit) + (f.series > 1 ? ' (' + f.series + ' series)' : '')])); });
`;

/** The timeline (newest first, filtered as one types) and the reference sections under it. */
const APP_REST = String.raw`
  var v = D.verification;
  var kinds = {};
  var newest = D.events.slice().reverse();
  newest.forEach(function (e) { kinds[e.kind.split('.')[0]] = 1; });
  Object.keys(kinds).sort().forEach(function (k) { $('f-kind').appendChild(el('option', { value: k, text: k })); });
  var INCIDENT = {}; D.incident_kinds.forEach(function (k) { INCIDENT[k] = 1; });
  var LIMIT = 1500;
  function render() {
    var minSev = sevRank($('f-sev').value), kind = $('f-kind').value, text = $('f-text').value.toLowerCase(), only = $('f-hl').checked;
    var shown = newest.filter(function (e) {
      if (sevRank(e.severity) < minSev) return false;
      if (kind && e.kind.split('.')[0] !== kind) return false;
      if (only && !e.hl) return false;
      if (text && (e.kind + ' ' + e.source + ' ' + e.reason + ' ' + e.data).toLowerCase().indexOf(text) < 0) return false;
      return true;
    });
    var tb = $('timeline-body');
    tb.textContent = '';
    shown.slice(0, LIMIT).forEach(function (e) {
      tb.appendChild(el('tr', { cls: (e.hl ? 'hl-' + e.hl : '') + (INCIDENT[e.kind] ? ' incident' : '') }, [
        el('td', { cls: 'ts', text: fmtTs(e.ts) }), el('td', { text: '#' + e.seq, cls: 'ts' }),
        el('td', null, [el('span', { cls: 'sev ' + e.severity, text: e.severity })]),
        el('td', { cls: 'kind' }, [e.kind, e.hl ? el('span', { cls: 'tag ' + e.hl, text: e.hl }) : null]),
        el('td', { text: e.source }), el('td', { cls: 'reason', text: e.reason }), el('td', { cls: 'data', text: e.data === '{}' ? '' : e.data })]));
    });
    $('timeline-count').textContent = 'Showing ' + Math.min(shown.length, LIMIT) + ' of ' + shown.length + ' matching events' + (shown.length > LIMIT ? ' (the newest)' : '') +
      '; this page holds ' + D.events.length + ' of the ' + v.events + ' events of the window' + (D.events_omitted ? ' (the oldest routine ones are left out; events.jsonl has all)' : '') + '.';
  }
  ['f-sev', 'f-kind', 'f-text', 'f-hl'].forEach(function (id) { $(id).addEventListener('input', render); $(id).addEventListener('change', render); });
  render();

  var vb = $('verify');
  vb.appendChild(el('span', { cls: 'badge ' + (v.chain_ok ? 'ok' : 'bad'), id: 'chain-status',
    text: v.chain_ok ? '✔ Hash chain verified at export: ' + v.events + ' events' + (v.first_seq ? ', seq ' + v.first_seq + '–' + v.last_seq : '')
      : '✘ Hash chain BROKEN at export: ' + v.chain_problem }));
  vb.appendChild(el('span', { cls: 'badge ' + (v.key_self_test ? 'ok' : 'bad'), id: 'sig-status',
    text: v.key_self_test ? '✔ Signed by device key ' + v.key_id : '✘ Device key failed its self-test: the signature cannot be trusted' }));
  $('verify-note').textContent = 'MANIFEST.json lists every file of this pack with its sha256 and is signed (MANIFEST.sig). To check that nothing was changed since export, run: waveos evidence verify ' + D.name + ' --keys DIR-WITH-TRUSTED-DEVICE-KEYS';
  if (D.incident) { $('incident').hidden = false; $('incident-body').appendChild(el('pre', { text: JSON.stringify(D.incident, null, 2) })); }

  var sc = D.counts.severity;
  var policyN = D.events.filter(function (e) { return e.hl === 'policy'; }).length;
  var recoveryN = D.events.filter(function (e) { return e.hl === 'recovery'; }).length;
  [[v.events, 'events in the window'], [(sc.warning || 0), 'warnings'], [(sc.error || 0) + (sc.critical || 0), 'errors and critical'],
   [policyN, 'policy decisions'], [recoveryN, 'recovery actions'], [D.runs.length, 'runs'], [D.counts.samples, 'metric samples'], [D.counts.series, 'metric series']]
    .forEach(function (c) { $('summary').appendChild(el('div', { cls: 'card' }, [el('div', { cls: 'n', text: String(c[0]) }), el('div', { cls: 'l', text: c[1] })])); });

  $('runs').appendChild(table(['run', 'started', 'WaveOS', 'how the run before it ended', 'reset reason'], D.runs.map(function (r) {
    var p = r.previous_run;
    return el('tr', null, [el('td', { cls: 'kind', text: r.run_id }), el('td', { cls: 'ts', text: fmtTs(r.started_at) }), el('td', { text: r.waveos_version }),
      el('td', null, [p ? el('span', { cls: 'ended-' + p.ended, text: p.ended + ' (' + p.run_id + ')' }) : el('span', { cls: 'muted', text: 'no earlier run recorded' })]),
      el('td', { text: p ? p.reset_reason : '' })]);
  }), 'stack'));
  if (D.bundles.length === 0) $('bundles').appendChild(el('p', { cls: 'muted', text: 'No bundle was ever installed on this device (bundles.json is empty).' }));
  else $('bundles').appendChild(table(['time', 'state', 'reason', 'data'], D.bundles.slice().reverse().map(function (b) {
    return el('tr', null, [el('td', { cls: 'ts', text: fmtTs(b.ts) }), el('td', { cls: 'kind', text: b.kind }), el('td', { cls: 'reason', text: b.reason }), el('td', { cls: 'data', text: b.data })]);
  }), 'stack'));
  var tb2 = $('traces-body');
  if (!D.traces || D.traces.length === 0) tb2.appendChild(el('p', { cls: 'muted', text: 'No action traces in this window (tracing is off, or no action ran).' }));
  else D.traces.slice().reverse().forEach(function (rows) {
    var total = Math.max(1, Math.max.apply(null, rows.map(function (r) { return r.offset_ms + r.span.d; })));
    var root = rows[0].span;
    tb2.appendChild(el('h3', { cls: 'kind', text: root.n + ' · ' + fmtTs(new Date(root.b).toISOString()) + ' · trace ' + root.t.slice(0, 12) }));
    tb2.appendChild(table(['span', 'waterfall', 'ms', 'attributes'], rows.map(function (r) {
      var a = r.span.a, keep = Object.keys(a).filter(function (k) { return k !== 'waveos.run_id' && k !== 'waveos.device_id'; });
      var bar = el('div', { cls: 'wf', style: 'margin-left:' + (r.offset_ms / total * 100).toFixed(2) + '%;width:' + Math.max(0.5, r.span.d / total * 100).toFixed(2) + '%;background:' + (r.span.st === 2 ? '#cf222e' : '#1f6feb') });
      return el('tr', { cls: 'span' }, [el('td', { cls: 'kind', text: '\u00a0'.repeat(r.depth * 3) + r.span.n }), el('td', { cls: 'wf-cell' }, [bar]),
        el('td', { text: r.span.d.toFixed(1) }), el('td', { cls: 'data', text: keep.map(function (k) { return k.replace(/^waveos\./, '') + '=' + a[k]; }).join(' ') })]);
    }), 'stack'));
  });
  var lg = D.logs.map(function (l) { return el('li', null, [el('b', { text: l.source }), ': ' + l.files.join(', ')]); });
  $('logs').appendChild(lg.length ? el('ul', null, lg) : el('p', { cls: 'muted', text: 'No spooled logs cover this window.' }));
  $('files').appendChild(table(['file', 'bytes'], D.files.map(function (f) { return el('tr', null, [el('td', { cls: 'kind', text: f.path }), el('td', { text: formatValue(f.size, 'bytes') })]); })));
  D.notes.forEach(function (n) { $('notes').appendChild(el('li', { text: n })); });
  if (!D.notes.length) $('notes').appendChild(el('li', { cls: 'muted', text: 'none' }));
  document.body.setAttribute('data-rendered', '1');
`;

/** The page's script: builds the page from the embedded JSON with textContent only (no data as HTML). */
export const APP = `(function () {\n  'use strict';\n  var formatValue = ${formatValue.toString()};\n${APP_TOP}${APP_CHARTS}${APP_REST}})();\n`;
