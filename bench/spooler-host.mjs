// Runs the spooler in this process with one child's stdout attached (the supervisor's path), and prints
// one JSON line when every line the child wrote is on disk: {ms, lines}. Used by spooler.bench.mjs.
import { spawn } from 'node:child_process';
import { performance } from 'node:perf_hooks';

const [spoolDir, code] = process.argv.slice(2);
const { Spooler, spoolerSettings } = await import('../dist/spooler/index.js');
const { systemClock, silentLogger } = await import('../dist/core/index.js');
// the daemon's redactor with a secret literal, as every spooled line passes it (older builds had none)
const security = await import('../dist/security/index.js').catch(() => ({}));
const redactor = security.Redactor ? new security.Redactor({ literals: ['bench-secret-value-0123456789'] }) : undefined;

const spooler = new Spooler({
  clock: systemClock,
  log: silentLogger(),
  spoolDir,
  redactor,
  settings: spoolerSettings({
    quota_bytes: 4 * 1024 * 1024 * 1024,
    keep_files: 100_000,
    min_free_bytes: 0,
    rotate_bytes: 8 * 1024 * 1024,
    socket: false,
    defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 8192 },
  }),
});
await spooler.start();
// BENCH_HEAP_KEEPER: the daemon's heap keeper in this process too, `on` (its defaults) or JSON overriding them
// (docs/footprint.md, "Heap keeper"), to measure what it costs the ingest rate.
const keeperSetting = process.env.BENCH_HEAP_KEEPER;
let keeperStats;
if (keeperSetting) {
  const { HeapKeeper, HEAP_KEEPER_DEFAULTS, heapKeeperStats } = await import('../dist/core/heap-keeper.js');
  const config = { ...HEAP_KEEPER_DEFAULTS, ...(keeperSetting === 'on' ? {} : JSON.parse(keeperSetting)) };
  new HeapKeeper({ config, monoMs: () => performance.now() }).start();
  keeperStats = heapKeeperStats;
}
// let the bench read the idle RSS first
process.stdout.write('ready\n');
await new Promise((r) => process.stdin.once('data', r));
const t0 = performance.now();
const child = spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
spooler.attach('bench', child.stdout, 'stdout');
await new Promise((r) => child.on('close', r));
await spooler.drain();
const ms = performance.now() - t0;
const lines = spooler.stats().sources.bench?.lines_written ?? 0;
await spooler.stop();
process.stdout.write(`${JSON.stringify({ ms, lines, ...(keeperStats ? { heap_gc_forced: keeperStats().forced } : {}) })}\n`);
process.exit(0);
