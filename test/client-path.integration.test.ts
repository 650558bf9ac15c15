import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FakeClock, ensureLayout, pathsFor } from '../daemon/core/index.js';
import { Journal, JournalReader } from '../daemon/journal/index.js';
import { encodeChunk } from '../daemon/telemetry/chunk-codec.js';
import { readHistory } from '../daemon/telemetry/history-query.js';
import { BIN, DaemonProcess, REPO, removeRoot, tempRoot } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';

// The CLI's API commands talk to the socket without the daemon's modules (docs/footprint.md): no zod, no
// SQLite, no pino, no yaml, from the bundle and from dist/ alike.
const HEAVY = ['zod', 'better-sqlite3', 'better_sqlite3.node', 'pino', 'yaml', 'systeminformation', 'tar', 'prom-client', 'tweetnacl'];

interface Meta {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

let root: string;
let daemon: DaemonProcess;
beforeAll(async () => {
  root = tempRoot();
  daemon = new DaemonProcess(root, ['--config', writeConfig(root, { services: [] })]);
  await daemon.ready();
}, 30_000);
afterAll(async () => {
  await daemon.kill('SIGTERM');
  removeRoot(root);
});

/** What one CLI run loaded: the files, and for bundle chunks the sources esbuild put into them. */
function loads(args: string[], env: NodeJS.ProcessEnv, dir = root): { code: number | null; files: string[]; sources: string[]; stdout: string; stderr: string } {
  const out = join(dir, `loads-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(process.execPath, ['--import', join(REPO, 'test/fixtures/record-loads.mjs'), BIN, ...args, '--root', dir], {
    env: { ...process.env, ...env, WAVEOS_TEST_LOADS: out },
    encoding: 'utf8',
    maxBuffer: 1 << 28,
  });
  const files = readFileSync(out, 'utf8').trim().split('\n').map((u) => u.replace(/^file:\/\//, ''));
  rmSync(out);
  const meta = JSON.parse(readFileSync(join(REPO, 'dist/bundle-meta.json'), 'utf8')) as Meta;
  const sources = files.filter((f) => f.includes('/dist/bundle/')).flatMap((f) => Object.keys(meta.outputs[`dist/bundle/${f.split('/dist/bundle/')[1]}`]?.inputs ?? {}));
  return { code: r.status, files: [...new Set(files)], sources: [...new Set(sources)], stdout: r.stdout, stderr: r.stderr };
}

const packagesIn = (paths: string[]): string[] =>
  [...new Set(paths.map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p)?.[1] ?? (p.endsWith('.node') ? p.split('/').at(-1) : undefined)).filter((x): x is string => x !== undefined))].sort();

describe('the CLI client path', () => {
  for (const args of [['status'], ['status', '--json'], ['service', 'list'], ['mode', 'get'], ['events', '--limit', '3']]) {
    it(`waveos ${args.join(' ')} loads none of the daemon's heavy modules, bundled or from dist/`, () => {
      const bundled = loads(args, {});
      expect(bundled.code).toBe(0);
      expect(bundled.files.some((f) => f.endsWith('/dist/bundle/waveos.mjs'))).toBe(true);
      const fromBundle = packagesIn([...bundled.files, ...bundled.sources]);
      expect(fromBundle.filter((p) => HEAVY.includes(p))).toEqual([]);

      const tree = loads(args, { WAVEOS_NO_BUNDLE: '1' });
      expect(tree.code).toBe(0);
      expect(tree.files.some((f) => f.endsWith('/dist/cli/main.js'))).toBe(true);
      expect(packagesIn(tree.files).filter((p) => HEAVY.includes(p))).toEqual([]);
      // and none of the daemon's own groups beyond the client's
      const groups = [...new Set(tree.files.map((f) => /\/dist\/([a-z-]+)\//.exec(f)?.[1]).filter(Boolean))].sort();
      expect(groups).toEqual(['api', 'cli', 'core']);
    });
  }
});

// `waveos metrics --since` with no daemon reads the journal file (docs/journal.md, "Reading"): SQLite, the
// history side of the journal and the chunk codec, and nothing of the events' side, the schemas, the config or
// the logger.
const HISTORY_SOURCES = [
  'daemon/journal/history-reader.ts',
  'daemon/journal/head-log.ts',
  'daemon/journal/chunk-store.ts',
  'daemon/telemetry/history-query.ts',
  'daemon/telemetry/chunk-codec.ts',
  'daemon/core/atomic-file.ts',
];
/** The modules of the client path every command loads (main, flag parsing, paths, errors). */
const isClientCore = (src: string): boolean => /^daemon\/cli\//.test(src) || /^daemon\/core\/(errors|paths|duration-text|build-info|resources|nearest)\.ts$/.test(src) || src.startsWith('scripts/lib/');
const distSource = (f: string): string | undefined => /\/dist\/((?:cli|core|journal|telemetry|api)\/[a-z0-9-]+)\.js$/.exec(f)?.[1];

describe('waveos metrics --since from the journal file', () => {
  let fileRoot: string;
  const since = new Date(Date.now() - 3 * 3_600_000).toISOString();
  beforeAll(() => {
    fileRoot = tempRoot();
    const paths = pathsFor(fileRoot);
    ensureLayout(paths);
    // Two hours of 4 series at 1 Hz in sealed chunks, then the open chunks' last 10 minutes in the head log,
    // and one-minute aggregates before the raw samples: every part the reader puts together.
    const start = Date.now() - 2 * 3_600_000;
    const clock = new FakeClock(start);
    const j = Journal.openWriter(paths.db, { clock, runId: 'test', bootId: 'test' });
    j.append({ kind: 'daemon.start', source: 'daemon', reason: 'a test journal', data: {} });
    const series = [0, 1, 2, 3].map((k) => ({ name: k < 2 ? 'cpu_usage_ratio' : 'memory_used_ratio', unit: 'ratio', labels: { idx: String(k) } }));
    const sealedS = 6_600;
    const batch = [];
    for (let s = 0; s < sealedS; s++) for (const [k, x] of series.entries()) batch.push({ ...x, ts_ms: start + s * 1000, value: Math.sin(s / 100 + k) * (k + 1) });
    j.appendSamples(batch);
    const pieces = series.map((x, k) => {
      const samples = Array.from({ length: 600 }, (_, i) => ({ t: start + (sealedS + i) * 1000, v: k * 1000 + i / 7 }));
      return { series_id: j.seriesId(x.name, x.unit, JSON.stringify(x.labels)), start_ms: start + sealedS * 1000, end_ms: start + (sealedS + 599) * 1000, count: samples.length, data: encodeChunk(samples) };
    });
    j.writeChunks({ sealed: [], pieces });
    j.appendAggregates(
      series.map((x, k) => ({ minute_ms: Math.floor((start - 30 * 60_000) / 60_000) * 60_000, ...x, min: k, avg: k + 0.5, max: k + 1, last: k + 1, count: 60 })),
    );
    j.close();
  });
  afterAll(() => removeRoot(fileRoot));

  for (const args of [['metrics', '--since', since, '--name', 'cpu_usage_ratio', '--json'], ['metrics', '--since', since]]) {
    it(`waveos ${args.join(' ')} loads only SQLite, the history reader and the codec, and answers as the full reader does`, () => {
      const bundled = loads(args, {}, fileRoot);
      expect(bundled.stderr).toBe('');
      expect(bundled.code).toBe(0);
      expect(bundled.files.some((f) => f.endsWith('/dist/bundle/waveos.mjs'))).toBe(true);
      expect(packagesIn([...bundled.files, ...bundled.sources]).filter((p) => HEAVY.includes(p))).toEqual(['better-sqlite3']);
      expect(bundled.sources.filter((f) => !isClientCore(f) && !f.startsWith('node_modules/')).sort()).toEqual([...HISTORY_SOURCES].sort());
      expect(bundled.sources.filter((f) => f.startsWith('node_modules/'))).toEqual([]);

      const tree = loads(args, { WAVEOS_NO_BUNDLE: '1' }, fileRoot);
      expect(tree.code).toBe(0);
      expect(tree.files.some((f) => f.endsWith('/dist/cli/main.js'))).toBe(true);
      expect(packagesIn(tree.files).filter((p) => HEAVY.includes(p))).toEqual(['better-sqlite3']);
      const treeSources = tree.files.map(distSource).filter((x): x is string => x !== undefined).map((x) => `daemon/${x}.ts`);
      expect(treeSources.filter((f) => !isClientCore(f)).sort()).toEqual([...HISTORY_SOURCES].sort());
      expect(tree.stdout).toBe(bundled.stdout);

      // The same answer as the journal's full reader gives in-process.
      const r = JournalReader.openReadOnly(pathsFor(fileRoot).db);
      try {
        const name = args.includes('--name') ? 'cpu_usage_ratio' : undefined;
        const h = readHistory(r, { sinceMs: Date.parse(since), name, limit: 100_000 });
        if (args.includes('--json')) {
          expect(h.samples.length).toBe(2 * (6_600 + 600));
          expect(h.aggregates.length).toBe(2);
          expect(bundled.stdout).toBe(`${JSON.stringify({ metrics: [], history: h })}\n`);
        } else {
          const lines = bundled.stdout.trim().split('\n');
          expect(lines[0]).toBe(`history since ${since} (raw samples from ${h.raw_from}, one-minute aggregates before)`);
          expect(lines.slice(1).map((l) => l.split('  ')[0])).toEqual(['cpu_usage_ratio{idx="0"}', 'cpu_usage_ratio{idx="1"}', 'memory_used_ratio{idx="2"}', 'memory_used_ratio{idx="3"}']);
          // each series: its 60 aggregated samples and every raw one, the head log's last
          expect(lines[2]).toMatch(/^cpu_usage_ratio\{idx="1"\} {2}n=7260 min=-2 avg=\S+ max=1086 last=1086 ratio$/);
        }
      } finally {
        r.close();
      }
    });
  }

  it('keeps its errors: no journal, a bad --since, a file that is not a journal', () => {
    const empty = tempRoot();
    try {
      const none = loads(['metrics', '--since', '1h', '--json'], {}, empty);
      expect(none.code).toBe(3);
      expect(JSON.parse(none.stderr)).toEqual({ error: { code: 'WAVEOS_E_DAEMON_UNREACHABLE', message: `no daemon: ${join(empty, 'run/waveos/waveos.sock')} does not exist`, problems: [] } });
      const bad = loads(['metrics', '--since', 'yesterday-ish'], {}, fileRoot);
      expect(bad.code).toBe(2);
      expect(bad.stderr).toBe('waveos: --since: expected a duration such as 10m or 2h, or a time such as 2026-11-22T01:00:00Z, got "yesterday-ish"\n  (WAVEOS_E_USAGE)\n');
      mkdirSync(join(empty, 'var/lib/waveos'), { recursive: true });
      writeFileSync(join(empty, 'var/lib/waveos/waveos.db'), 'not a database, at all: just some text that is long enough to be looked at');
      const junk = loads(['metrics', '--since', '1h'], {}, empty);
      expect(junk.code).toBe(1);
      expect(junk.stderr).toMatch(/^waveos: .*waveos\.db.*\n {2}\(WAVEOS_E_JOURNAL_OPEN\)\n$/);
    } finally {
      removeRoot(empty);
    }
  });
});
