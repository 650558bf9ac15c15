// Policy figures: evaluation time per tick (1,000 rules over 500 metric series) against an unindexed
// evaluator of the same rules, and simulator replay speed of one day of 1 Hz samples for 50 series against
// just reading and splitting the same metrics.csv.
import { closeSync, mkdtempSync, openSync, readSync, rmSync, writeSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median } from './lib.mjs';

const { PolicyEngine, buildPolicySet, parsePolicyText } = await import('../dist/policy/index.js');
const { FakeClock } = await import('../dist/core/index.js');
const { simulateCsvFile } = await import('../dist/cli/cmd-policy.js');

const SERVICES = 50;
const METRICS = 10;

function rulesYaml() {
  const lines = ['policy_version: bench', 'rules:'];
  let n = 0;
  // 500 rules on one series each.
  for (let m = 0; m < METRICS; m++)
    for (let s = 0; s < SERVICES; s++)
      lines.push(`  - { id: r${n++}, kind: threshold, metric: m${m}, labels: { service: svc-${String(s).padStart(2, '0')} }, op: ">", value: 90, for: 5s, cooldown: 1m, actions: [{ type: restart_service }] }`);
  // 300 rules on ten series each (a glob).
  for (let i = 0; i < 300; i++)
    lines.push(`  - { id: r${n++}, kind: threshold, metric: m${i % METRICS}, labels: { service: "svc-${i % 5}*" }, op: ">=", value: ${95 + (i % 5)}, clear: { op: "<", value: 50 }, actions: [{ type: emit_event }] }`);
  // 100 budgets, 50 caps, 30 rate limits, 20 breakers.
  for (let i = 0; i < 100; i++) lines.push(`  - { id: r${n++}, kind: budget, service: svc-${String(i % SERVICES).padStart(2, '0')}, resource: rss, limit: ${200 + i}MiB, for: 10s, action: warn }`);
  for (let i = 0; i < 50; i++) lines.push(`  - { id: r${n++}, kind: cap, service: svc-${String(i).padStart(2, '0')}, nice: 5 }`);
  for (let i = 0; i < 30; i++) lines.push(`  - { id: r${n++}, kind: rate_limit, flow: flow${i}, limit: 10, per: 1m }`);
  for (let i = 0; i < 20; i++)
    lines.push(`  - { id: r${n++}, kind: breaker, trigger: { metric: m${i % METRICS}, op: ">", value: 99.5 }, threshold: 5, window: 1m, open_for: 1m, probe: 30s, actions: [{ type: webhook }] }`);
  if (n !== 1000) throw new Error(`expected 1000 rules, made ${n}`);
  return lines.join('\n') + '\n';
}

function seriesLabels() {
  const out = [];
  for (let m = 0; m < METRICS; m++) for (let s = 0; s < SERVICES; s++) out.push({ name: `m${m}`, labels: Object.freeze({ service: `svc-${String(s).padStart(2, '0')}` }) });
  return out;
}

/** What an evaluator without an index does: every rule against every sample. */
function naiveTick(rules, samples) {
  let hits = 0;
  for (const s of samples) {
    for (const r of rules) {
      if (r.metric !== s.name) continue;
      let ok = true;
      for (const [k, re] of r.sel) if (!re.test(s.labels[k] ?? '')) ok = false;
      if (ok && s.value > r.value) hits++;
    }
  }
  return hits;
}

function benchTick() {
  const policy = buildPolicySet([parsePolicyText(rulesYaml(), 'bench.yaml')]);
  const clock = new FakeClock();
  const engine = new PolicyEngine({ clock, policy });
  const series = seriesLabels();
  let x = 1;
  const rnd = () => ((x = (x * 1103515245 + 12345) % 2147483648) / 2147483648) * 100;
  const batch = () => series.map((s) => ({ ts_ms: clock.now(), name: s.name, value: rnd(), unit: 'bytes', labels: s.labels }));
  const times = [];
  for (let i = 0; i < 600; i++) {
    clock.advance(1000);
    const b = batch();
    const t0 = performance.now();
    engine.observe(b);
    engine.tick();
    const ms = performance.now() - t0;
    if (i >= 100) times.push(ms);
  }
  const naiveRules = policy.rules
    .filter((r) => r.kind === 'threshold' || r.kind === 'budget')
    .map((r) => ({
      metric: r.kind === 'budget' ? 'service.rss_bytes' : r.metric,
      value: r.kind === 'budget' ? r.limit : r.value,
      sel: Object.entries(r.kind === 'budget' ? { service: r.service } : (r.labels ?? {})).map(([k, p]) => [k, new RegExp(`^${p.replace(/\*/g, '.*')}$`)]),
    }));
  const naive = [];
  for (let i = 0; i < 200; i++) {
    const b = batch();
    const t0 = performance.now();
    naiveTick(naiveRules, b);
    naive.push(performance.now() - t0);
  }
  return { ours: median(times), naive: median(naive.slice(50)) };
}

function writeDay(file, seconds, seriesCount) {
  const fd = openSync(file, 'w');
  const start = Date.UTC(2026, 0, 1);
  let buf = 'ts,metric,value,unit,labels\n';
  let rows = 0;
  for (let t = 0; t < seconds; t++) {
    const ts = new Date(start + t * 1000).toISOString();
    for (let s = 0; s < seriesCount; s++) {
      const svc = s === 0 ? 'leaker' : `svc-${String(s).padStart(2, '0')}`;
      // The leaker grows to ~90 MiB and is "restarted" every 40 minutes; the others wander.
      const v = s === 0 ? 20e6 + ((t % 2400) / 2400) * 75e6 : 30e6 + ((t * 7919 + s * 104729) % 1000) * 1000;
      buf += `${ts},service.rss_bytes,${Math.round(v)},bytes,service=${svc}\n`;
      rows++;
    }
    if (buf.length > 1 << 20) {
      writeSync(fd, buf);
      buf = '';
    }
  }
  writeSync(fd, buf);
  closeSync(fd);
  return rows;
}

function readOnly(file) {
  const fd = openSync(file, 'r');
  const b = Buffer.allocUnsafe(4 << 20);
  let lines = 0;
  let rest = '';
  for (;;) {
    const n = readSync(fd, b, 0, b.length, null);
    if (n === 0) break;
    const parts = (rest + b.toString('utf8', 0, n)).split('\n');
    rest = parts.pop() ?? '';
    for (const p of parts) if (p.split(',').length === 5) lines++;
  }
  closeSync(fd);
  return lines;
}

function benchReplay() {
  const seconds = Number(process.env.BENCH_POLICY_SECONDS ?? 86_400);
  const dir = mkdtempSync(join(tmpdir(), 'bench-policy-'));
  try {
    const file = join(dir, 'metrics.csv');
    const rows = writeDay(file, seconds, 50);
    const policy = buildPolicySet([
      parsePolicyText(
        `policy_version: 1
rules:
  - { id: leaker-rss, kind: budget, service: leaker, resource: rss, limit: 64MiB, for: 5s, cooldown: 30s, action: restart }
  - { id: restart-limit, kind: rate_limit, flow: service.restart, limit: 5, per: 10m }
  - { id: any-big, kind: threshold, metric: service.rss_bytes, op: ">", value: 80MiB, for: 10s, clear: { op: "<", value: 40MiB }, actions: [{ type: emit_event }] }
`,
        'replay.yaml',
      ),
    ]);
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    const r = simulateCsvFile(policy, file);
    const ms = performance.now() - t0;
    const cpu = process.cpuUsage(c0);
    const cpuMs = (cpu.user + cpu.system) / 1000;
    const t1 = performance.now();
    readOnly(file);
    const readMs = performance.now() - t1;
    return { rows, samples: r.samples, ms, cpuMs, readMs, decisions: r.decisions.length };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

export async function run(row) {
  const t = benchTick();
  row('policy tick: 1,000 rules over 500 series (median)', t.ours.toFixed(3), 'ms/tick', t.naive.toFixed(3), 'ms unindexed evaluator', t.ours / t.naive, '< 2 ms per tick');
  const r = benchReplay();
  const rate = r.samples / (r.ms / 1000);
  const readRate = r.samples / (r.readMs / 1000);
  row(
    `policy simulate: ${r.samples.toLocaleString('en')} samples (1 Hz, 50 series), ${r.decisions} decisions`,
    Math.round(rate),
    'samples/s',
    Math.round(readRate),
    'rows/s read+split only',
    rate / readRate,
    `a day of 50 series < 10 s (took ${(r.ms / 1000).toFixed(1)} s, ${(r.cpuMs / 1000).toFixed(1)} s CPU, load ${loadavg()[0].toFixed(1)})`,
  );
}
