// Services figure: time from a supervised child's exit to its replacement running (the restart path through
// the ladder, the action executor with its durable intent, and the supervisor), against spawning the same
// command again from a bare Node script in the same run.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { median, percentile } from './lib.mjs';

const { Journal } = await import('../dist/journal/index.js');
const { systemClock, silentLogger, pathsFor } = await import('../dist/core/index.js');
const { Supervisor } = await import('../dist/services/index.js');
const { ActionExecutor, Recovery } = await import('../dist/recovery/index.js');
const { recoveryConfig, serviceSpec } = await import('../dist/config/index.js');

const N = 200;
// A short-lived child, so each exit finds the previous restart finished.
const COMMAND = '/bin/sleep';
const ARGS = ['0.02'];

/** The exit-to-respawn loop, as a bare Node script would run it; stringified to run in a separate process. */
async function bareLoop(n, command, args) {
  const { spawn } = await import('node:child_process');
  const { performance } = await import('node:perf_hooks');
  const gaps = [];
  for (let i = 0; i < n; i++) {
    const exitAt = await new Promise((resolve) => {
      const c = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
      c.stdout.resume();
      c.stderr.resume();
      c.on('exit', () => resolve(performance.now()));
    });
    const c2 = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    await new Promise((r) => c2.once('spawn', r));
    gaps.push(performance.now() - exitAt);
    c2.stdout.resume();
    c2.stderr.resume();
    await new Promise((r) => c2.once('exit', r));
  }
  return gaps;
}

/** The baseline: a separate, bare Node process running the same loop. */
function bareScript(n) {
  const code = `(${bareLoop.toString()})(${n}, ${JSON.stringify(COMMAND)}, ${JSON.stringify(ARGS)}).then((g) => process.stdout.write(JSON.stringify(g)))`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', maxBuffer: 1 << 20 });
  if (r.status !== 0) throw new Error(`bare baseline failed: ${r.stderr}`);
  return JSON.parse(r.stdout);
}

async function supervised(n) {
  const dir = mkdtempSync(join(tmpdir(), 'bench-services-'));
  const journal = Journal.openWriter(join(dir, 'j.db'), { clock: systemClock, runId: 'bench', bootId: 'bench' });
  const log = silentLogger();
  const sink = { attach: (_s, stream) => stream.resume() };
  const exits = [];
  const starts = [];
  const spec = serviceSpec({ name: 'bench', command: COMMAND, args: ARGS });
  const supervisor = new Supervisor({ specs: [spec], journal, clock: systemClock, log, sink, root: dir, runId: 'bench' });
  supervisor.onExit(() => exits.push(performance.now()));
  supervisor.onStart(() => starts.push(performance.now()));
  const executor = new ActionExecutor({ journal, log });
  const config = { ...recoveryConfig(undefined, { reboot_command: ['true'] }), backoff_initial_ms: 0, jitter: 0, crash_loop: { exits: 1e9, window_ms: 1 } };
  const recovery = new Recovery({ executor, supervisor, journal, clock: systemClock, log, config, root: pathsFor(dir).root });
  const ac = new globalThis.AbortController();
  await supervisor.start(ac.signal);
  executor.start(ac.signal);
  await recovery.start(ac.signal);
  while (starts.length < n + 1) await new Promise((r) => setTimeout(r, 20));
  recovery.stop();
  await executor.stop();
  await supervisor.stop();
  journal.close();
  rmSync(dir, { recursive: true, force: true });
  // exit i is followed by start i+1
  return exits.slice(0, n).map((t, i) => starts[i + 1] - t);
}

export async function run(row) {
  const b = bareScript(N);
  const s = await supervised(N);
  const local = await bareLoop(N, COMMAND, ARGS);
  const bm = median(b);
  const sm = median(s);
  row(`service restart: exit → replacement running, median (${N})`, sm.toFixed(2), 'ms', bm.toFixed(2), 'ms bare node script', sm / bm, '≤ 1.5x');
  const bp = percentile(b, 99);
  const sp = percentile(s, 99);
  row(`service restart: exit → replacement running, p99 (${N})`, sp.toFixed(2), 'ms', bp.toFixed(2), 'ms bare node script', sp / bp, '');
  // The same loop inside the daemon-sized process: fork() costs grow with the parent's memory.
  const lm = median(local);
  row(`service restart: median vs respawn in the same process (${N})`, sm.toFixed(2), 'ms', lm.toFixed(2), 'ms respawn, same proc', sm / lm, '');
}
