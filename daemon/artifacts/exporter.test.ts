import { appendFileSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Chaos, FakeClock, ensureLayout, pathsFor, silentLogger, type Paths } from '../core/index.js';
import { Journal } from '../journal/index.js';
import { ArtifactExporter, METRICS_CSV_HEADER } from './index.js';

let root: string;
let paths: Paths;
const clock = new FakeClock();
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'artifacts-'));
  paths = pathsFor(root);
  ensureLayout(paths);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function journal(runId: string): Journal {
  return Journal.openWriter(paths.db, { clock, runId, bootId: 'b', batchDelayMs: 1000 });
}

function exporter(j: Journal, runId: string, keepRuns = 20, maxBytes = 1e9): ArtifactExporter {
  mkdirSync(join(paths.artifactsDir, runId), { recursive: true });
  return new ArtifactExporter({ journal: j, paths, log: silentLogger(), runId, flushIntervalMs: 60_000, keepRuns, maxBytes });
}

function lines(runId: string, file = 'events.jsonl'): string[] {
  return readFileSync(join(paths.artifactsDir, runId, file), 'utf8')
    .split('\n')
    .filter(Boolean);
}

describe('ArtifactExporter', () => {
  it('a failed append (a torn write of half the lines) is cut back and retried: every event once, no torn line', () => {
    const j = journal('r1');
    // Every other append fails with EIO after writing half of its bytes.
    const chaos = new Chaos({ seed: 3, origin: 'config', rules: [{ point: 'artifacts.write', rate: 0.5, effect: 'EIO', delay_ms: 1 }] });
    mkdirSync(join(paths.artifactsDir, 'r1'), { recursive: true });
    const x = new ArtifactExporter({ journal: j, paths, log: silentLogger(), runId: 'r1', flushIntervalMs: 60_000, keepRuns: 20, maxBytes: 1e9, chaos });
    for (let pass = 0; pass < 40; pass++) {
      for (let k = 0; k < 5; k++) j.append({ kind: 'service.started', source: 's', reason: `pass ${pass} event ${k}`, data: { pass, k } });
      x.exportNow();
    }
    // The retries: a seeded 50% failure rate lets every pass through within a few more.
    for (let i = 0; i < 50 && lines('r1').length < 200; i++) x.exportNow();
    expect(chaos.stats().injected['artifacts.write:EIO']).toBeGreaterThan(5);
    const text = readFileSync(join(paths.artifactsDir, 'r1', 'events.jsonl'), 'utf8');
    expect(text.endsWith('\n')).toBe(true);
    const out = lines('r1').map((l) => JSON.parse(l) as { seq: number });
    expect(out.map((e) => e.seq)).toEqual(j.events().map((e) => e.seq));
    j.close();
  });

  it('writes each event once, as the journal holds it, and resumes from its cursor', () => {
    const j = journal('r1');
    const x = exporter(j, 'r1');
    j.append({ kind: 'daemon.start', source: 's', reason: 'first', data: { n: 1 } });
    expect(x.exportNow()).toEqual({ events: 1, samples: 0 });
    j.append({ kind: 'daemon.stop', source: 's', reason: 'second' });
    expect(x.exportNow()).toEqual({ events: 1, samples: 0 });
    expect(x.exportNow()).toEqual({ events: 0, samples: 0 });
    const out = lines('r1').map((l) => JSON.parse(l));
    expect(out).toEqual(j.events());
    j.close();
  });

  it('a start whose export fails (a failing disk) still starts, says so, and leaves the export to the next pass', () => {
    const j1 = journal('r1');
    j1.append({ kind: 'daemon.start', source: 's', reason: 'never exported' });
    j1.close();
    const j2 = journal('r2');
    for (const r of ['r1', 'r2']) mkdirSync(join(paths.artifactsDir, r), { recursive: true });
    const always = new Chaos({ seed: 1, origin: 'env', rules: [{ point: 'artifacts.write', rate: 1, effect: 'ENOSPC', delay_ms: 1 }] });
    const x = new ArtifactExporter({ journal: j2, paths, log: silentLogger(), runId: 'r2', flushIntervalMs: 60_000, keepRuns: 20, maxBytes: 1e9, chaos: always });
    expect(x.recover('r1')).toEqual({ events: 0, samples: 0, trimmedBytes: 0 });
    j2.flush();
    expect(j2.events().map((e) => e.kind)).toContain('artifacts.export_failed');
    // The torn half of the failed write was cut back: nothing but whole lines, here none.
    expect(existsSync(join(paths.artifactsDir, 'r1', 'events.jsonl')) ? lines('r1') : []).toEqual([]);
    j2.close();
  });

  it('writes metrics.csv with the contract header', () => {
    const j = journal('r1');
    const x = exporter(j, 'r1');
    j.appendSamples([{ ts_ms: Date.UTC(2026, 0, 1), name: 'cpu_usage', value: 0.25, unit: 'ratio', labels: { core: 'all', b: 'x,y' } }]);
    x.exportNow();
    j.appendSamples([{ ts_ms: Date.UTC(2026, 0, 1, 0, 0, 1), name: 'mem_available', value: 1024, unit: 'bytes', labels: {} }]);
    x.exportNow();
    const text = readFileSync(join(paths.artifactsDir, 'r1', 'metrics.csv'), 'utf8');
    expect(text).toBe(
      `${METRICS_CSV_HEADER}2026-01-01T00:00:00.000Z,cpu_usage,0.25,ratio,"b=x,y;core=all"\n2026-01-01T00:00:01.000Z,mem_available,1024,bytes,\n`,
    );
    j.close();
  });

  it('with metrics_csv at_stop, metrics.csv keeps its header while the run lasts and gets every sample at the stop, or at the next start after a crash', () => {
    const j = journal('r1');
    mkdirSync(join(paths.artifactsDir, 'r1'), { recursive: true });
    const opts = { journal: j, paths, log: silentLogger(), flushIntervalMs: 60_000, keepRuns: 20, maxBytes: 1e9, metricsCsv: 'at_stop' as const };
    const x = new ArtifactExporter({ ...opts, runId: 'r1' });
    x.recover(undefined);
    const t0 = Date.UTC(2026, 0, 1);
    j.appendSamples([{ ts_ms: t0, name: 'cpu_usage', value: 0.25, unit: 'ratio', labels: {} }]);
    j.append({ kind: 'daemon.start', source: 'test', reason: 'r', data: {} });
    x.exportNow();
    expect(readFileSync(join(paths.artifactsDir, 'r1', 'metrics.csv'), 'utf8')).toBe(METRICS_CSV_HEADER);
    expect(lines('r1')).toHaveLength(1);
    x.stop();
    expect(lines('r1', 'metrics.csv')).toEqual([METRICS_CSV_HEADER.trim(), '2026-01-01T00:00:00.000Z,cpu_usage,0.25,ratio,']);
    // A run that is killed: its samples reach its metrics.csv at the next start.
    mkdirSync(join(paths.artifactsDir, 'r2'), { recursive: true });
    const y = new ArtifactExporter({ ...opts, runId: 'r2' });
    y.recover('r1');
    j.appendSamples([{ ts_ms: t0 + 1000, name: 'cpu_usage', value: 0.5, unit: 'ratio', labels: {} }]);
    y.exportNow();
    expect(lines('r2', 'metrics.csv')).toEqual([METRICS_CSV_HEADER.trim()]);
    const z = new ArtifactExporter({ ...opts, runId: 'r3' });
    z.recover('r2');
    expect(lines('r2', 'metrics.csv')).toEqual([METRICS_CSV_HEADER.trim(), '2026-01-01T00:00:01.000Z,cpu_usage,0.5,ratio,']);
    j.close();
  });

  it('commits the cursor for samples alone at most once a minute: a crash in between exports those lines again, each exactly once', () => {
    const j = journal('r1');
    const x = exporter(j, 'r1');
    x.recover(undefined);
    const t0 = Date.UTC(2026, 0, 1);
    const cursorId = (): number => (j.readState('artifacts.cursor') as { metrics_id: number }).metrics_id;
    j.appendSamples([{ ts_ms: t0, name: 'm', value: 1, unit: 'u', labels: {} }]);
    x.exportNow();
    const committed = cursorId();
    j.appendSamples([{ ts_ms: t0 + 1000, name: 'm', value: 2, unit: 'u', labels: {} }]);
    x.exportNow();
    // Written out, its cursor not committed yet.
    expect(lines('r1', 'metrics.csv')).toHaveLength(3);
    expect(cursorId()).toBe(committed);
    // Killed here: the next start cuts the file back to the committed cursor and writes the rest again.
    mkdirSync(join(paths.artifactsDir, 'r2'), { recursive: true });
    exporter(j, 'r2').recover('r1');
    expect(lines('r1', 'metrics.csv')).toEqual([METRICS_CSV_HEADER.trim(), '2026-01-01T00:00:00.000Z,m,1,u,', '2026-01-01T00:00:01.000Z,m,2,u,']);
    j.close();
  });

  it('after a crash, cuts lines written past the committed cursor and exports them again exactly once', () => {
    const j1 = journal('r1');
    const x1 = exporter(j1, 'r1');
    j1.append({ kind: 'daemon.start', source: 's', reason: 'r' });
    x1.exportNow();
    j1.append({ kind: 'daemon.stop', source: 's', reason: 'r' });
    j1.flush();
    // The crash: a duplicate of a line and a torn half line reached the file, the cursor did not move.
    appendFileSync(join(paths.artifactsDir, 'r1', 'events.jsonl'), `${lines('r1')[0]}\n{"v":1,"se`);
    j1.close();

    const j2 = journal('r2');
    const x2 = exporter(j2, 'r2');
    const r = x2.recover('r1');
    expect(r.events).toBe(1);
    expect(r.trimmedBytes).toBeGreaterThan(0);
    expect(lines('r1').map((l) => JSON.parse(l).kind)).toEqual(['daemon.start', 'daemon.stop']);
    x2.exportNow();
    expect(lines('r2').map((l) => JSON.parse(l).kind)).toEqual(['artifacts.trimmed']);
    j2.close();
  });

  it('a previous run whose files were never committed is rewritten from the journal', () => {
    const j1 = journal('r1');
    j1.append({ kind: 'daemon.start', source: 's', reason: 'r' });
    j1.close();
    mkdirSync(join(paths.artifactsDir, 'r1'), { recursive: true });
    writeFileSync(join(paths.artifactsDir, 'r1', 'events.jsonl'), 'garbage line\n');
    const j2 = journal('r2');
    exporter(j2, 'r2').recover('r1');
    expect(lines('r1').map((l) => JSON.parse(l).kind)).toEqual(['daemon.start']);
    j2.close();
  });

  it('prunes the oldest runs beyond keep_runs, never the current one, and says so', () => {
    for (const r of ['r1', 'r2', 'r3']) mkdirSync(join(paths.artifactsDir, r), { recursive: true });
    const j = journal('r4');
    const x = exporter(j, 'r4', 2);
    expect(x.prune()).toEqual(['r1', 'r2']);
    expect(readdirSync(paths.artifactsDir).sort()).toEqual(['r3', 'r4']);
    expect(x.prune()).toEqual([]);
    j.flush();
    expect(j.events({ kindPrefix: 'artifacts.pruned' })[0]?.data).toMatchObject({ removed: ['r1', 'r2'], keep_runs: 2 });
    j.close();
  });

  it('prunes by size too', () => {
    for (const r of ['r1', 'r2']) {
      mkdirSync(join(paths.artifactsDir, r), { recursive: true });
      writeFileSync(join(paths.artifactsDir, r, 'events.jsonl'), 'x'.repeat(1000));
    }
    const j = journal('r3');
    const x = exporter(j, 'r3', 100, 1500);
    expect(x.prune()).toEqual(['r1']);
    expect(existsSync(join(paths.artifactsDir, 'r2'))).toBe(true);
    j.close();
  });
});
