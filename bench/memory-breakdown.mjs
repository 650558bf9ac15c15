// `node bench/memory-breakdown.mjs [--seconds N] [--json FILE] [--repeat N] [--log-format json|pretty] [--snapshot FILE]`: where an idle dev-profile daemon's
// memory goes, and what `waveos status` costs. Runs the built daemon (dist/) unchanged: its heap figures come
// from a small preload given to node on the command line (--import), which answers SIGUSR2 with V8's heap
// statistics and a heap snapshot. Not a test: nothing passes or fails.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { performance } from 'node:perf_hooks';
import { parseArgs } from 'node:util';
import { median } from './lib.mjs';

const REPO = resolve(import.meta.dirname, '..');
const BIN = join(REPO, 'bin/waveos.js');
const MB = 1024 * 1024;

const DEPENDENCIES = ['better-sqlite3', 'pino', 'pino-pretty', 'zod', 'systeminformation', 'chokidar', 'node-cron', 'tweetnacl', 'yaml', 'prom-client', 'tar', 'uplot', 'unix-dgram'];

/** The daemon's own module groups, each imported through its entry (which pulls in what it imports). */
function ownGroups() {
  const dist = join(REPO, 'dist');
  const groups = [];
  for (const dir of ['core', 'config', 'journal', 'telemetry', 'evidence', 'bundles', 'policy', 'policy-runtime', 'api', 'security', 'services', 'spooler', 'proxy', 'recovery', 'artifacts', 'boot']) {
    if (existsSync(join(dist, dir, 'index.js'))) groups.push({ name: `dist/${dir}`, file: join(dist, dir, 'index.js') });
  }
  groups.push({ name: 'dist/cli (main, no command run)', file: join(dist, 'cli/main.js') });
  groups.push({ name: 'dist/cli/cmd-status', file: join(dist, 'cli/cmd-status.js') });
  // The CLI's transport alone: what a command that only talks to the daemon needs at the least.
  groups.push({ name: 'dist/api/client (alone)', file: join(dist, 'api/client.js') });
  groups.push({ name: 'dist/main (whole daemon)', file: join(dist, 'main.js') });
  return groups;
}

// ---------- the preload: heap figures from inside the daemon without changing it ----------

/** Runs inside the daemon: on SIGUSR2 writes V8's figures to $FOOTPRINT_OUT.json, then a heap snapshot beside it. */
const PROBE = `
import v8 from 'node:v8';
import { writeFileSync } from 'node:fs';
const out = process.env.FOOTPRINT_OUT;
if (out) process.on('SIGUSR2', () => {
  const spaces = Object.fromEntries(v8.getHeapSpaceStatistics().map((s) => [s.space_name, { used: s.space_used_size, size: s.space_size }]));
  writeFileSync(out + '.json', JSON.stringify({ heap: v8.getHeapStatistics(), spaces, usage: process.memoryUsage() }));
  setImmediate(() => { v8.writeHeapSnapshot(out + '.heapsnapshot'); writeFileSync(out + '.done', ''); });
});
`;
const PROBE_URL = `data:text/javascript,${encodeURIComponent(PROBE)}`;

/** Runs in a command: records every ESM module it loads (a loader hook) and, at exit, CJS modules and native addons. */
const MODULE_LIST = `
import { register, createRequire } from 'node:module';
import { appendFileSync, readFileSync } from 'node:fs';
const out = process.env.FOOTPRINT_MODULES;
register('data:text/javascript,' + encodeURIComponent(\`
import { appendFileSync } from 'node:fs';
export async function load(url, context, next) { appendFileSync(process.env.FOOTPRINT_MODULES, 'esm ' + url + '\\\\n'); return next(url, context); }
\`));
process.on('exit', () => {
  const cjs = Object.keys(createRequire(import.meta.url).cache).map((f) => 'cjs ' + f);
  const addons = readFileSync('/proc/self/maps', 'utf8').split('\\n').filter((l) => l.endsWith('.node')).map((l) => 'addon ' + l.split(/\\s+/).pop());
  appendFileSync(out, [...cjs, ...new Set(addons)].join('\\n') + '\\n');
});
`;
const MODULE_LIST_URL = `data:text/javascript,${encodeURIComponent(MODULE_LIST)}`;

// ---------- /proc ----------

function procFields(file) {
  const fields = {};
  for (const line of readFileSync(file, 'utf8').split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m) fields[m[1]] = Number(m[2]) * 1024;
  }
  return fields;
}

function childPids(pid) {
  try {
    const direct = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
    return direct.flatMap((c) => [c, ...childPids(c)]);
  } catch {
    return [];
  }
}

/** RSS by mapping (the node binary, each addon, the heap, anonymous memory) from /proc/<pid>/smaps, largest first. */
function rssByMapping(pid) {
  const by = {};
  let current = '[anonymous]';
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^[0-9a-f]+-[0-9a-f]+ \S+ \S+ \S+ \d+\s*(.*)$/.exec(line);
    if (head) current = head[1] || '[anonymous]';
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss) by[current] = (by[current] ?? 0) + Number(rss[1]) * 1024;
  }
  return Object.fromEntries(Object.entries(by).sort((a, b) => b[1] - a[1]).slice(0, 8));
}

/** The daemon's own memory as the kernel counts it, and its supervised children's RSS summed apart. */
function procMemory(pid) {
  const status = procFields(`/proc/${pid}/status`);
  const threads = Number(/^Threads:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  const rollup = procFields(`/proc/${pid}/smaps_rollup`);
  const children = childPids(pid).map((c) => {
    try {
      return procFields(`/proc/${c}/status`).VmRSS ?? 0;
    } catch {
      return 0;
    }
  });
  return {
    VmRSS: status.VmRSS, VmHWM: status.VmHWM, RssAnon: status.RssAnon, RssFile: status.RssFile, RssShmem: status.RssShmem,
    Pss: rollup.Pss, Private_Dirty: rollup.Private_Dirty, Shared_Clean: rollup.Shared_Clean, Anonymous: rollup.Anonymous,
    threads,
    mappings: rssByMapping(pid),
    children: { count: children.length, rss: children.reduce((a, b) => a + b, 0) },
  };
}

/** The same figures for a bare node that only waits: the baseline every row is read against. */
async function bareProcMemory() {
  const proc = spawn(process.execPath, ['-e', 'setTimeout(() => {}, 600_000)'], { stdio: 'ignore' });
  try {
    await sleep(1_000);
    return procMemory(proc.pid);
  } finally {
    const gone = new Promise((r) => proc.once('exit', r));
    proc.kill('SIGTERM');
    await gone;
  }
}

// ---------- the daemon ----------

/** VmRSS every 500 ms from spawn: where start-up peaks and whether the idle daemon still grows. */
function rssTimeline(pid) {
  const t0 = Date.now();
  const samples = [];
  let readyAt;
  const sample = () => {
    try {
      samples.push({ s: (Date.now() - t0) / 1000, rss: procFields(`/proc/${pid}/status`).VmRSS });
    } catch {
      // not up yet, or gone
    }
  };
  const timer = setInterval(sample, 500);
  return {
    mark: () => {
      sample();
      readyAt = samples.at(-1);
    },
    stop: () => clearInterval(timer),
    summary: () => {
      const peak = samples.reduce((a, b) => (b.rss > a.rss ? b : a), samples[0]);
      const idle = samples.filter((x) => x.s >= (readyAt?.s ?? 0)).map((x) => x.rss);
      const end = samples.at(-1)?.s ?? 0;
      const last30 = samples.filter((x) => x.s >= end - 30).map((x) => x.rss);
      const window = { min: Math.min(...idle), median: median(idle), max: Math.max(...idle), last30Median: median(last30) };
      return { ready: readyAt, peak, window, last: samples.at(-1), samples };
    },
  };
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function waitForStatus(root, proc, ms = 30_000) {
  const { apiCall } = await import('../dist/api/index.js');
  const { pathsFor } = await import('../dist/core/index.js');
  const end = Date.now() + ms;
  for (;;) {
    if (proc.exitCode !== null || proc.signalCode !== null) throw new Error('daemon exited during start');
    const r = await apiCall({ socketPath: pathsFor(root).adminSocket, timeoutMs: 5_000 }, 'GET', '/v1/status').catch(() => undefined);
    if (r?.status === 200) return;
    if (Date.now() > end) throw new Error(`daemon did not answer status within ${ms} ms`);
    await sleep(200);
  }
}

async function waitForFile(file, ms) {
  const end = Date.now() + ms;
  while (!existsSync(file)) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${file}`);
    await sleep(100);
  }
}

async function stopDaemon(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((r) => proc.once('exit', r));
  proc.kill('SIGTERM');
  if ((await Promise.race([gone.then(() => true), sleep(15_000).then(() => false)])) === false) {
    proc.kill('SIGKILL');
    await gone;
  }
}

/**
 * One dev-profile daemon on a temp root: up, idle for `seconds`, measured from /proc, the CLI run against it,
 * then the preload's heap figures and snapshot; stopped and its root removed whatever happens.
 */
async function measureDaemon(seconds, work, repeat, logFormat) {
  const root = mkdtempSync(join(tmpdir(), 'waveos-footprint-'));
  const out = join(work, 'daemon');
  // The dev profile logs pretty unless told otherwise; --log-format passes through to compare.
  const format = logFormat ? ['--log-format', logFormat] : [];
  const proc = spawn(process.execPath, ['--import', PROBE_URL, BIN, 'run', '--root', root, '--profile', 'dev', ...format], {
    env: { ...process.env, FOOTPRINT_OUT: out },
    stdio: ['ignore', 'ignore', 'ignore'],
  });
  const timeline = rssTimeline(proc.pid);
  try {
    await waitForStatus(root, proc);
    timeline.mark('ready');
    process.stderr.write(`footprint: daemon ${proc.pid} up; idling ${seconds} s\n`);
    await sleep(seconds * 1000);
    timeline.stop();
    const proc1 = { ...procMemory(proc.pid), timeline: timeline.summary() };
    const cli = measureCli(root, work, repeat);
    process.kill(proc.pid, 'SIGUSR2');
    await waitForFile(`${out}.done`, 120_000);
    const v8 = JSON.parse(readFileSync(`${out}.json`, 'utf8'));
    return { proc: proc1, v8, cli, snapshotFile: `${out}.heapsnapshot` };
  } finally {
    timeline.stop();
    await stopDaemon(proc);
    rmSync(root, { recursive: true, force: true, maxRetries: 5, retryDelay: 200 });
  }
}

// ---------- the CLI ----------

/** Without GNU time: the command's own peak RSS, written by a preload as it exits (node has no RUSAGE_CHILDREN). */
const EXIT_RSS = `import { writeFileSync } from 'node:fs';
process.on('exit', () => writeFileSync(process.env.FOOTPRINT_RSS, String(process.resourceUsage().maxRSS * 1024)));`;
const EXIT_RSS_URL = `data:text/javascript,${encodeURIComponent(EXIT_RSS)}`;

/** Wall time and peak RSS of one command, from GNU time when it is there, else from the preload above. */
function timed(args, work) {
  if (existsSync('/usr/bin/time')) {
    const r = spawnSync('/usr/bin/time', ['-v', process.execPath, ...args], { encoding: 'utf8' });
    const peak = Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(r.stderr)?.[1]) * 1024;
    const wall = /Elapsed \(wall clock\) time \(h:mm:ss or m:ss\): (?:(\d+):)?(\d+):([\d.]+)/.exec(r.stderr);
    const wallMs = wall ? ((Number(wall[1] ?? 0) * 60 + Number(wall[2])) * 60 + Number(wall[3])) * 1000 : NaN;
    return { code: r.status, wallMs, peakRss: peak };
  }
  const rssFile = join(work, 'exit-rss');
  const t = performance.now();
  const r = spawnSync(process.execPath, ['--import', EXIT_RSS_URL, ...args], { stdio: 'ignore', env: { ...process.env, FOOTPRINT_RSS: rssFile } });
  return { code: r.status, wallMs: performance.now() - t, peakRss: Number(readFileSync(rssFile, 'utf8')) };
}

function timedMedian(args, repeat, work) {
  const runs = Array.from({ length: repeat }, () => timed(args, work));
  return { code: runs[0].code, wallMs: median(runs.map((r) => r.wallMs)), peakRss: median(runs.map((r) => r.peakRss)) };
}

/** `waveos status` against the running daemon: its cost against a bare node, and which modules it loads. */
function measureCli(root, work, repeat) {
  const bare = timedMedian(['-e', ''], repeat, work);
  const status = timedMedian([BIN, 'status', '--root', root], repeat, work);
  const listFile = join(work, 'status-modules.txt');
  writeFileSync(listFile, '');
  spawnSync(process.execPath, ['--import', MODULE_LIST_URL, BIN, 'status', '--root', root], { env: { ...process.env, FOOTPRINT_MODULES: listFile }, stdio: 'ignore' });
  const loaded = readFileSync(listFile, 'utf8').split('\n').filter(Boolean);
  const files = [...new Set(loaded.map((l) => l.slice(l.indexOf(' ') + 1)))].filter((f) => !f.startsWith('node:') && !f.startsWith('data:'));
  return { bare, status, modules: { count: files.length, byGroup: countByGroup(files) } };
}

// ---------- import cost ----------

/** Imports `target` (or nothing) in a fresh node, collects garbage, and reports RSS and heap after. */
function importOnce(target) {
  const code = `const t = performance.now(); ${target ? `await import(${JSON.stringify(target)});` : ''} const ms = performance.now() - t;
    globalThis.gc(); await new Promise((r) => setTimeout(r, 50)); globalThis.gc();
    const m = process.memoryUsage();
    process.stdout.write(JSON.stringify({ rss: m.rss, heapUsed: m.heapUsed, external: m.external, ms }));`;
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', code], {
    cwd: REPO, encoding: 'utf8', env: { ...process.env, WAVEOS_CLI_NO_AUTORUN: '1' }, timeout: 60_000,
  });
  if (r.status !== 0) return { error: (r.stderr.trim().split('\n').find((l) => /Error/.test(l)) ?? r.stderr.trim()).slice(0, 160) };
  return JSON.parse(r.stdout);
}

function importCost(target, repeat) {
  const runs = Array.from({ length: repeat }, () => importOnce(target));
  const failed = runs.find((r) => r.error);
  if (failed) return failed;
  const m = (k) => median(runs.map((r) => r[k]));
  return { rss: m('rss'), heapUsed: m('heapUsed'), external: m('external'), ms: m('ms') };
}

function measureImports(repeat, work) {
  const bare = importCost(undefined, repeat);
  // The floor: what loading any one file from disk costs (the loader's own first-use allocations).
  const empty = join(work, 'empty.mjs');
  writeFileSync(empty, 'export {};\n');
  const rows = [{ name: '(an empty module file)', kind: 'floor', ...delta(importCost(`file://${empty}`, repeat), bare) }];
  for (const dep of DEPENDENCIES) rows.push({ name: dep, kind: 'dependency', ...delta(importCost(dep, repeat), bare) });
  for (const g of ownGroups()) rows.push({ name: g.name, kind: 'own', ...delta(importCost(`file://${g.file}`, repeat), bare) });
  return { bare, rows };
}

function delta(m, bare) {
  if (m.error) return { error: m.error };
  return { rss: m.rss - bare.rss, heapUsed: m.heapUsed - bare.heapUsed, external: m.external - bare.external, importMs: m.ms };
}

// ---------- the heap snapshot ----------

/** Which part of the program a script path belongs to: a package, a dist/ group, node's own, or the path. */
function groupOf(path) {
  if (!path) return '(no script)';
  if (path.startsWith('node:')) return 'node (internal)';
  const f = path.replace(/^file:\/\//, '');
  const nm = f.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const rest = f.slice(nm + '/node_modules/'.length).split('/');
    return rest[0].startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0];
  }
  const d = /\/dist\/([^/]+)(\/|$)/.exec(f);
  if (d) return d[1].endsWith('.js') ? `dist/${d[1].replace(/\.js$/, '')}` : `dist/${d[1]}`;
  if (f.startsWith(`${REPO}/bin/`)) return 'bin';
  if (f.startsWith('data:')) return '(bench preload)';
  return f;
}

function countByGroup(files) {
  const counts = {};
  for (const f of files) counts[groupOf(f)] = (counts[groupOf(f)] ?? 0) + 1;
  return Object.fromEntries(Object.entries(counts).sort((a, b) => b[1] - a[1]));
}

/** The snapshot as flat arrays, with forward edges (weak ones left out, as retainers) and their reverse. */
function loadGraph(file) {
  const snap = JSON.parse(readFileSync(file, 'utf8'));
  const { node_fields: nf, edge_fields: ef, node_types: nt, edge_types: et } = snap.snapshot.meta;
  const N = nf.length, E = ef.length, n = snap.nodes.length / N;
  const typeNames = nt[0], edgeTypeNames = et[0];
  const firstEdge = new Uint32Array(n + 1);
  for (let i = 0, e = 0; i < n; i++) {
    firstEdge[i] = e;
    e += snap.nodes[i * N + nf.indexOf('edge_count')] * E;
    firstEdge[i + 1] = e;
  }
  return { snap, n, N, E, typeNames, edgeTypeNames, firstEdge, fields: Object.fromEntries(nf.map((f, i) => [f, i])), edgeField: Object.fromEntries(ef.map((f, i) => [f, i])) };
}

function nodeAccess(g) {
  const { snap, N, E, typeNames, edgeTypeNames, firstEdge, fields, edgeField } = g;
  const weak = edgeTypeNames.indexOf('weak');
  const str = (i) => snap.strings[i];
  return {
    type: (i) => typeNames[snap.nodes[i * N + fields.type]],
    name: (i) => str(snap.nodes[i * N + fields.name]),
    self: (i) => snap.nodes[i * N + fields.self_size],
    /** [edge type, edge name, target node] of each strong edge of node i. */
    *edges(i) {
      for (let e = firstEdge[i]; e < firstEdge[i + 1]; e += E) {
        const t = snap.edges[e + edgeField.type];
        if (t === weak) continue;
        const tn = edgeTypeNames[t];
        const nameOrIndex = snap.edges[e + edgeField.name_or_index];
        yield [tn, tn === 'element' || tn === 'hidden' ? nameOrIndex : str(nameOrIndex), snap.edges[e + edgeField.to_node] / N];
      }
    },
  };
}

/** Immediate dominators (Cooper, Harvey and Kennedy's iterative algorithm) from node 0, the snapshot's root. */
function dominators(g, at) {
  const { n } = g;
  const order = new Int32Array(n).fill(-1); // postorder number
  const rpo = [];
  const preds = Array.from({ length: n }, () => []);
  const stack = [[0, at.edges(0)]];
  order[0] = -2;
  while (stack.length) {
    const top = stack[stack.length - 1];
    const next = top[1].next();
    if (next.done) {
      stack.pop();
      order[top[0]] = rpo.length;
      rpo.push(top[0]);
      continue;
    }
    const to = next.value[2];
    preds[to].push(top[0]);
    if (order[to] === -1) {
      order[to] = -2;
      stack.push([to, at.edges(to)]);
    }
  }
  rpo.reverse();
  const idom = new Int32Array(n).fill(-1);
  idom[0] = 0;
  const intersect = (a, b) => {
    while (a !== b) {
      while (order[a] < order[b]) a = idom[a];
      while (order[b] < order[a]) b = idom[b];
    }
    return a;
  };
  for (let changed = true; changed; ) {
    changed = false;
    for (const b of rpo) {
      if (b === 0) continue;
      let d = -1;
      for (const p of preds[b]) if (idom[p] !== -1) d = d === -1 ? p : intersect(p, d);
      if (d !== idom[b]) {
        idom[b] = d;
        changed = true;
      }
    }
  }
  return { idom, rpo };
}

/**
 * The script a node is defined by, when the snapshot says: a shared function info points at its script
 * (script_or_debug_info), a script is a code node named by its URL, a closure points at its shared info.
 */
function scriptResolver(g, at) {
  const isScript = new Uint8Array(g.n);
  const sfiScript = new Int32Array(g.n).fill(-1);
  for (let i = 0; i < g.n; i++) {
    if (at.type(i) !== 'code') continue;
    for (const [, name, to] of at.edges(i)) {
      if (name !== 'script_or_debug_info' || at.type(to) !== 'code') continue;
      isScript[to] = 1;
      sfiScript[i] = to;
    }
  }
  const resolve = (i) => {
    if (isScript[i]) return { path: at.name(i), script: true };
    if (sfiScript[i] >= 0) return { path: at.name(sfiScript[i]), script: false };
    if (at.type(i) !== 'closure') return undefined;
    for (const [, name, to] of at.edges(i)) if (name === 'shared' && sfiScript[to] >= 0) return { path: at.name(sfiScript[to]), script: false };
    return undefined;
  };
  return resolve;
}

/**
 * Every object counted once, under the module whose function (or script) is its nearest dominator: what would be
 * freed with that module's functions. Objects no module's function dominates are left "(not under a module)".
 * Also the loaded scripts by group, and a summary by constructor name (self sizes), as DevTools shows it.
 */
const UNATTRIBUTED = '(not under a module)';

function summariseSnapshot(file) {
  const g = loadGraph(file);
  const at = nodeAccess(g);
  const { idom, rpo } = dominators(g, at);
  const scriptOf = scriptResolver(g, at);
  const group = new Array(g.n);
  const byModule = {}, byConstructor = {}, unattributed = {}, scripts = new Set();
  let total = 0;
  for (const i of rpo) {
    const own = scriptOf(i);
    if (own?.script && own.path) scripts.add(own.path);
    group[i] = own?.path ? groupOf(own.path) : i === 0 ? UNATTRIBUTED : group[idom[i]];
    const self = at.self(i);
    total += self;
    byModule[group[i]] = (byModule[group[i]] ?? 0) + self;
    const t = at.type(i);
    const ctor = t === 'object' || t === 'native' ? at.name(i) : `(${t})`;
    const c = (byConstructor[ctor] ??= { count: 0, self: 0 });
    c.count++;
    c.self += self;
    if (group[i] === UNATTRIBUTED) unattributed[ctor] = (unattributed[ctor] ?? 0) + self;
  }
  const top = (o, k, f) => Object.entries(o).sort((a, b) => f(b[1]) - f(a[1])).slice(0, k);
  return {
    nodes: g.n,
    reachableSelfTotal: total,
    byModule: Object.fromEntries(top(byModule, 25, (v) => v)),
    byConstructor: Object.fromEntries(top(byConstructor, 20, (v) => v.self)),
    unattributedByConstructor: Object.fromEntries(top(unattributed, 10, (v) => v)),
    loadedScripts: { count: scripts.size, byGroup: countByGroup([...scripts]) },
  };
}

// ---------- the report ----------

const mb = (b) => (typeof b === 'number' && Number.isFinite(b) ? (b / MB).toFixed(1) : '—');
const signedMb = (b) => (typeof b === 'number' ? `${b >= 0 ? '+' : ''}${(b / MB).toFixed(1)}` : '—');

function markdown(r) {
  const p = r.daemon.proc, v = r.daemon.v8, s = r.snapshot;
  const lines = [
    `## Idle dev-profile daemon after ${r.seconds} s (node ${process.version}, ${r.machine}, log format: ${r.logFormat})`,
    '',
    '| figure | daemon MB | bare node MB |',
    '|---|---|---|',
    ...['VmRSS', 'VmHWM', 'RssAnon', 'RssFile', 'RssShmem', 'Pss', 'Private_Dirty', 'Anonymous'].map((k) => `| ${k} | ${mb(p[k])} | ${mb(r.bareProc[k])} |`),
    `| threads | ${p.threads} | ${r.bareProc.threads} |`,
    `| VmRSS when status first answered (${p.timeline.ready?.s.toFixed(1)} s after spawn) | ${mb(p.timeline.ready?.rss)} | |`,
    `| VmRSS sampled peak (${p.timeline.peak?.s.toFixed(1)} s after spawn) | ${mb(p.timeline.peak?.rss)} | |`,
    `| VmRSS from ready to the end, min / median / max (every 500 ms) | ${mb(p.timeline.window.min)} / ${mb(p.timeline.window.median)} / ${mb(p.timeline.window.max)} | |`,
    `| VmRSS median of the last 30 s | ${mb(p.timeline.window.last30Median)} | |`,
    `| supervised children (${p.children.count}), RSS summed | ${mb(p.children.rss)} | |`,
    ...Object.entries(p.mappings).map(([k, b]) => `| RSS of mapping ${k.replace(/^.*\/node_modules\//, 'node_modules/')} | ${mb(b)} | ${mb(r.bareProc.mappings[k])} |`),
    `| V8 heap used / total | ${mb(v.heap.used_heap_size)} / ${mb(v.heap.total_heap_size)} |`,
    `| V8 code space used / size | ${mb(v.spaces.code_space?.used)} / ${mb(v.spaces.code_space?.size)} |`,
    ...Object.entries(v.spaces).filter(([k]) => k !== 'code_space').map(([k, x]) => `| V8 ${k} used / size | ${mb(x.used)} / ${mb(x.size)} |`),
    `| external (ArrayBuffers ${mb(v.usage.arrayBuffers)}) | ${mb(v.usage.external)} |`,
    '',
    `### Heap snapshot: ${mb(s.reachableSelfTotal)} MB reachable in ${s.nodes} nodes, by the module whose functions dominate it`,
    '',
    '| module | MB |',
    '|---|---|',
    ...Object.entries(s.byModule).map(([k, b]) => `| ${k} | ${mb(b)} |`),
    '',
    `${UNATTRIBUTED}, by constructor: ${Object.entries(s.unattributedByConstructor).map(([k, b]) => `${k} ${mb(b)}`).join(', ')}`,
    '',
    '### Heap snapshot by constructor (self size)',
    '',
    '| constructor | count | MB |',
    '|---|---|---|',
    ...Object.entries(s.byConstructor).map(([k, c]) => `| ${k.replace(/\|/g, '\\|').slice(0, 60)} | ${c.count} | ${mb(c.self)} |`),
    '',
    `### Scripts loaded by the daemon (${s.loadedScripts.count}), by group`,
    '',
    Object.entries(s.loadedScripts.byGroup).map(([k, c]) => `${k} ${c}`).join(', '),
    '',
    `### Import cost in a fresh node (median of ${r.repeat}; bare node: RSS ${mb(r.imports.bare.rss)} MB, heap ${mb(r.imports.bare.heapUsed)} MB after gc)`,
    '',
    '| module | ΔRSS MB | Δheap MB | Δexternal MB | import ms |',
    '|---|---|---|---|---|',
    ...r.imports.rows.map((x) =>
      x.error ? `| ${x.name} | fails: ${x.error.replace(/\|/g, '\\|')} | | | |` : `| ${x.name} | ${signedMb(x.rss)} | ${signedMb(x.heapUsed)} | ${signedMb(x.external)} | ${x.importMs.toFixed(0)} |`,
    ),
    '',
    `### \`waveos status\` (median of ${r.repeat})`,
    '',
    '| command | wall ms | peak RSS MB |',
    '|---|---|---|',
    `| node -e '' | ${r.daemon.cli.bare.wallMs.toFixed(0)} | ${mb(r.daemon.cli.bare.peakRss)} |`,
    `| waveos status (exit ${r.daemon.cli.status.code}) | ${r.daemon.cli.status.wallMs.toFixed(0)} | ${mb(r.daemon.cli.status.peakRss)} |`,
    '',
    `Modules \`waveos status\` loads (${r.daemon.cli.modules.count} files): ${Object.entries(r.daemon.cli.modules.byGroup).map(([k, c]) => `${k} ${c}`).join(', ')}`,
  ];
  return lines.join('\n');
}

async function main() {
  const { values } = parseArgs({ options: { seconds: { type: 'string', default: '60' }, json: { type: 'string' }, repeat: { type: 'string', default: '3' }, 'log-format': { type: 'string' }, snapshot: { type: 'string' } } });
  // --snapshot FILE: only summarise a heap snapshot taken elsewhere.
  if (values.snapshot) return void console.log(JSON.stringify(summariseSnapshot(values.snapshot), null, 2));
  const seconds = Number(values.seconds), repeat = Math.max(1, Number(values.repeat));
  if (!existsSync(join(REPO, 'dist/main.js'))) throw new Error('dist/ is missing: run `npm run build --silent` first');
  const work = mkdtempSync(join(tmpdir(), 'waveos-footprint-work-'));
  try {
    const bareProc = await bareProcMemory();
    const daemon = await measureDaemon(seconds, work, repeat, values['log-format']);
    process.stderr.write(`footprint: summarising the heap snapshot (${mb(statSync(daemon.snapshotFile).size)} MB)\n`);
    const snapshot = summariseSnapshot(daemon.snapshotFile);
    process.stderr.write('footprint: import costs\n');
    const imports = measureImports(repeat, work);
    const machine = `${(await import('node:os')).cpus().length} cores`;
    const report = { seconds, repeat, machine, logFormat: values['log-format'] ?? 'dev default (pretty)', node: process.version, bareProc, daemon: { proc: daemon.proc, v8: daemon.v8, cli: daemon.cli }, snapshot, imports };
    console.log(markdown(report));
    if (values.json) writeFileSync(values.json, `${JSON.stringify(report, null, 2)}\n`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

await main();
