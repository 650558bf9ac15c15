// The heap keeper (docs/footprint.md, "Heap keeper") in real processes: a node child running the built module
// against its own garbage, and a daemon whose keeper's counters come out as metrics.
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, removeRoot, tempRoot } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';

const REPO = join(import.meta.dirname, '..');
const MODULE = pathToFileURL(join(REPO, 'dist/core/heap-keeper.js')).href;

interface Forced {
  mono: number;
  before_bytes: number;
  after_bytes: number;
  elu: number;
}
interface ChildReport {
  forced: Forced[];
  used_before_quiet: number;
  used_at_end: number;
  rss_before_quiet: number;
  rss_at_end: number;
  stats: { forced: number; freed_bytes: number };
}

/**
 * A child that starts the keeper (checks every 100 ms), runs `phase` (a script body with `hold`, `sleep` and
 * `churn` in scope), and prints what the keeper did. `hold(mb)` keeps that much in objects that survive
 * scavenges (so they reach the old generation) and returns a release function; `churn(ms)` allocates
 * short-lived objects without a pause.
 */
function runChild(keeper: Record<string, number | boolean>, phase: string): ChildReport {
  const code = `
    const { HeapKeeper, heapKeeperStats } = await import(${JSON.stringify(MODULE)});
    const { getHeapStatistics } = await import('node:v8');
    const { performance } = await import('node:perf_hooks');
    const forced = [];
    const log = { debug: (o) => forced.push({ mono: performance.now(), before_bytes: o.before_bytes, after_bytes: o.after_bytes, elu: o.elu }), warn: (m) => { throw new Error(m); } };
    const keeper = new HeapKeeper({ config: { enabled: true, check_every_ms: 100, ...${JSON.stringify(keeper)} }, monoMs: () => performance.now(), log });
    const used = () => getHeapStatistics().used_heap_size;
    const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
    const hold = async (mb) => {
      let keep = [];
      for (let i = 0; i < mb * 10; i++) {
        keep.push(Array.from({ length: 2000 }, (_, j) => ({ i, j, s: 'x' + j })));
        if (i % 20 === 0) await sleep(0);
      }
      return () => { keep = null; };
    };
    let sink;
    const churn = async (ms) => {
      const end = performance.now() + ms;
      while (performance.now() < end) {
        for (let i = 0; i < 5000; i++) sink = { i, s: 'y' + i, a: [i, i] };
        await new Promise((r) => setImmediate(r));
      }
    };
    keeper.start();
    let usedBeforeQuiet = 0;
    let rssBeforeQuiet = 0;
    const markQuiet = () => { usedBeforeQuiet = used(); rssBeforeQuiet = process.memoryUsage.rss(); };
    ${phase}
    keeper.stop();
    process.stdout.write(JSON.stringify({ forced, used_before_quiet: usedBeforeQuiet, used_at_end: used(), rss_before_quiet: rssBeforeQuiet, rss_at_end: process.memoryUsage.rss(), stats: heapKeeperStats() }));
  `;
  const r = spawnSync(process.execPath, ['--max-semi-space-size=1', '--input-type=module', '-e', code], { encoding: 'utf8', timeout: 50_000 });
  expect(r.status, r.stderr).toBe(0);
  return JSON.parse(r.stdout) as ChildReport;
}

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) removeRoot(r);
});

describe('heap keeper', () => {
  it('after garbage and then quiet, forces a full GC that brings the heap in use down', () => {
    const rep = runChild(
      { min_interval_ms: 1_000, growth_bytes: 4 * 1024 * 1024, growth_ratio: 1.5, busy_elu: 0.5 },
      `
      await sleep(300);
      const release = await hold(40);
      release();
      markQuiet();
      for (let i = 0; i < 100 && forced.length === 0; i++) await sleep(100);
      // Node 20 unmaps the freed pages on a background thread within about a second
      await sleep(2000);
      `,
    );
    expect(rep.forced.length, JSON.stringify(rep)).toBeGreaterThanOrEqual(1);
    const [first] = rep.forced;
    expect(first?.elu ?? 1).toBeLessThanOrEqual(0.5);
    // the 40 MB that was held is gone: the heap after the GC is far below what it was when the child went quiet
    expect(first?.before_bytes ?? 0).toBeGreaterThan(30 * 1024 * 1024);
    expect(first?.after_bytes ?? Infinity).toBeLessThan((first?.before_bytes ?? 0) - 25 * 1024 * 1024);
    expect(rep.used_at_end).toBeLessThan(rep.used_before_quiet - 25 * 1024 * 1024);
    // and V8 gave the pages back: a full GC that keeps them pooled (Node 24's plain gc()) leaves RSS where it was
    expect(rep.rss_at_end).toBeLessThan(rep.rss_before_quiet - 20 * 1024 * 1024);
    expect(rep.stats.forced).toBe(rep.forced.length);
    expect(rep.stats.freed_bytes).toBeGreaterThan(25 * 1024 * 1024);
  });

  it('under sustained allocation, holds the rate limit even when it may collect a busy process, and never collects one it may not', () => {
    // busy_elu 1: a busy loop does not stop it, so only the rate limit spaces the GCs
    const free = runChild(
      { min_interval_ms: 1_000, growth_bytes: 1024 * 1024, growth_ratio: 1, busy_elu: 1 },
      `
      for (let round = 0; round < 8; round++) { const release = await hold(6); release(); await churn(300); }
      `,
    );
    expect(free.forced.length, JSON.stringify(free.forced)).toBeGreaterThanOrEqual(2);
    for (let i = 1; i < free.forced.length; i++) {
      const gap = (free.forced[i]?.mono ?? 0) - (free.forced[i - 1]?.mono ?? 0);
      expect(gap, JSON.stringify(free.forced)).toBeGreaterThanOrEqual(1_000);
    }
    // the default busy threshold: the same load, never a forced GC
    const busy = runChild(
      { min_interval_ms: 1_000, growth_bytes: 1024 * 1024, growth_ratio: 1, busy_elu: 0.5 },
      `
      for (let round = 0; round < 8; round++) { const release = await hold(6); release(); await churn(300); }
      `,
    );
    expect(busy.forced, JSON.stringify(busy.forced)).toEqual([]);
  });

  it("a daemon's keeper forces GCs on its own idle garbage and counts them in its metrics, without journaling them", async () => {
    const root = tempRoot();
    roots.push(root);
    const config = writeConfig(root, { services: [], recovery: { heap_keeper: { check_every: '1s', min_interval: '5s', growth: '1MiB', growth_ratio: 1 } } });
    const d = new DaemonProcess(root, ['--config', config]);
    await d.ready();
    let forced = 0;
    let freed = 0;
    for (let i = 0; i < 60 && forced === 0; i++) {
      await new Promise((r) => setTimeout(r, 1_000));
      const m = spawnSync(process.execPath, [join(REPO, 'bin/waveos.js'), 'metrics', '--json', '--root', root], { encoding: 'utf8' });
      if (m.status !== 0) continue;
      const list = (JSON.parse(m.stdout) as { metrics: { name: string; value: number }[] }).metrics;
      forced = list.find((x) => x.name === 'daemon_heap_gc_forced_total')?.value ?? 0;
      freed = list.find((x) => x.name === 'daemon_heap_gc_forced_freed_bytes_total')?.value ?? 0;
    }
    expect(forced, d.output).toBeGreaterThanOrEqual(1);
    expect(freed).toBeGreaterThan(0);
    const ev = spawnSync(process.execPath, [join(REPO, 'bin/waveos.js'), 'events', '--json', '--root', root], { encoding: 'utf8' });
    expect(ev.stdout).not.toMatch(/heap.keeper|gc_forced/);
    await d.kill('SIGTERM');
  });
});
