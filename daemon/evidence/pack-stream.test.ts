import { createWriteStream, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { pipeline } from 'node:stream/promises';
import { createGzip, gunzipSync } from 'node:zlib';
import { create as createTar, extract as extractTar } from 'tar';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { METRICS_CSV_HEADER } from '../artifacts/index.js';
import { FakeClock, type Paths, ensureLayout, pathsFor } from '../core/index.js';
import { Journal, type JournalReader } from '../journal/index.js';
import { sampleBatches } from '../telemetry/history-query.js';
import { SampleRowFormatter } from './csv-rows.js';
import { buildPack, loadOrCreateDeviceKey, verifyPack } from './index.js';
import { numberInto } from './number-text.js';
import { writeTarGz } from './pack-archive.js';
import { type ExportMeter, STAGE_BUFFER, StagedFile } from './staged-file.js';

let root: string;
let paths: Paths;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'pack-stream-'));
  paths = pathsFor(root);
  ensureLayout(paths);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

function textOf(v: number): string {
  const b = new Uint8Array(64);
  return Buffer.from(b.subarray(0, numberInto(v, b, 0))).toString('latin1');
}

describe('numberInto', () => {
  it('writes exactly String(v) for any double', () => {
    fc.assert(
      fc.property(fc.double(), (v) => textOf(v) === String(v)),
      { numRuns: 20_000 },
    );
  });

  it('writes exactly String(v) for values with few decimals, the digit-by-digit path', () => {
    fc.assert(
      fc.property(fc.integer({ min: -(2 ** 50), max: 2 ** 50 }), fc.integer({ min: 0, max: 17 }), (m, d) => {
        const v = m / 10 ** d;
        return textOf(v) === String(v);
      }),
      { numRuns: 20_000 },
    );
    for (const v of [0, -0, 1e-6, 9.99e-7, 1e-7, 0.1 + 0.2, 2 ** 50, 2 ** 50 - 1, 2 ** 53, 1e21, 5e-324, Number.MAX_VALUE, NaN, Infinity, -Infinity, 12.3, -0.5]) {
      expect(textOf(v)).toBe(String(v));
    }
  });
});

describe('StagedFile', () => {
  it('writes text of any length through a small buffer in pieces, never splitting a surrogate pair', async () => {
    const dir = join(root, 'stage');
    const seen: number[] = [];
    const f = new StagedFile(dir, 'a/b.txt', Buffer.alloc(64), { staged: (n) => seen.push(n) });
    const text = `${'x'.repeat(21)}${'😀é'.repeat(200)}end`;
    await f.write(text);
    await f.write(Buffer.from('∑bytes'.repeat(30)));
    expect(f.tryWrite('ok')).toBe(true);
    const entry = await f.close();
    const want = `${text}${'∑bytes'.repeat(30)}ok`;
    expect(readFileSync(join(dir, 'a/b.txt'), 'utf8')).toBe(want);
    expect(entry.size).toBe(Buffer.byteLength(want));
    expect(Math.max(...seen)).toBeLessThanOrEqual(64);
    expect(seen.length).toBeGreaterThan(20);
  });
});

describe('writeTarGz', () => {
  it('writes the bytes node-tar writes for the same staged files, through a bounded buffer', async () => {
    const staging = join(root, 'stage');
    const files: [string, Buffer][] = [
      ['MANIFEST.json', Buffer.from('{"a":1}\n')],
      ['empty.txt', Buffer.alloc(0)],
      ['one', Buffer.from('1')],
      ['block', Buffer.alloc(512, 7)],
      ['block-and-one', Buffer.alloc(513, 8)],
      // Longer than several halves of the read buffer, ending just short of a block: padding in its own piece.
      ['big.csv', Buffer.from(Array.from({ length: 3000 }, (_, i) => `2026-11-22T12:00:${i % 60},m,${i / 7},u,\n`).join('').slice(0, 40_000 - 3))],
      [`logs/${'s'.repeat(90)}/${'f'.repeat(60)}.log`, Buffer.from('a prefix-split path\n')],
      [`config/policies/extra/${'d/'.repeat(140)}p.yaml`, Buffer.from('a path past 255 bytes takes a pax header\n')],
      ['config/policies/ünïcode-ß.yaml', Buffer.from('rules: []\n')],
    ];
    for (const [p, b] of files) {
      mkdirSync(join(staging, p, '..'), { recursive: true });
      writeFileSync(join(staging, p), b, { mode: 0o640 });
    }
    const order = files.map(([p]) => p);
    const mtime = new Date(Date.UTC(2026, 10, 22, 3, 0, 0));
    const want = join(root, 'want.tar.gz');
    // What the pack builder did before: node-tar's stream into Node's gzip.
    await pipeline(createTar({ cwd: staging, portable: true, mtime, noDirRecurse: true, maxReadSize: 256 * 1024 }, order), createGzip({ level: 1 }), createWriteStream(want));
    const max = { compressing: 0, writing: 0 };
    const meter: ExportMeter = {
      compressing: (n) => (max.compressing = Math.max(max.compressing, n)),
      writing: (n) => (max.writing = Math.max(max.writing, n)),
    };
    const buf = Buffer.alloc(4096);
    const got = join(root, 'got.tar.gz');
    const sum = await writeTarGz(staging, order, got, { mtime, level: 1, buf, meter });
    expect(gunzipSync(readFileSync(got)).equals(gunzipSync(readFileSync(want)))).toBe(true);
    // Same deflate input, same level: the compressed bytes are the same too.
    expect(readFileSync(got).equals(readFileSync(want))).toBe(true);
    expect(sum.size).toBe(readFileSync(got).length);
    // At most both halves of the read buffer (or a header and its pax block) wait for the compressor.
    expect(max.compressing).toBeLessThanOrEqual(buf.length);
    expect(max.writing).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    const out = join(root, 'out');
    mkdirSync(out);
    await extractTar({ file: got, cwd: out });
    for (const [p, b] of files) expect(readFileSync(join(out, p)).equals(b)).toBe(true);
  });
});

/** Hours of 1 Hz samples of `series` series (some odd values among them) and an event every `eventEvery` seconds. */
function fillJournal(clock: FakeClock, hours: number, series: number, eventEvery: number): { start: number; end: number } {
  const start = clock.now();
  const j = Journal.openWriter(paths.db, { clock, runId: 'r1', bootId: 'b1', batchMax: 5000, batchDelayMs: 1000 });
  const odd = [Number.NaN, Infinity, -Infinity, -0, 5e-324, 1.7976931348623157e308, 0.1 + 0.2, 1e-7, 123456789012345680000];
  const batch: { ts_ms: number; name: string; value: number; unit: string; labels: Record<string, string> }[] = [];
  for (let s = 0; s < hours * 3600; s++) {
    const ts = start + s * 1000;
    for (let k = 0; k < series; k++) {
      const value = k === 0 ? (odd[s % odd.length] as number) : k === 1 ? Math.sin(s) * 1e3 : (s % 600) / 10 + k;
      batch.push({ ts_ms: ts, name: `metric_${k % 4}`, value, unit: k % 2 ? 'ratio' : 'bytes', labels: { idx: String(k), zone: k % 3 ? 'a' : 'b "quoted", ü' } });
    }
    if (batch.length >= 20_000) j.appendSamples(batch.splice(0));
    if (s % eventEvery === 0) {
      // Warnings are scattered through the window; the newest of each kind are listed by the report.
      const warn = (s / eventEvery) % 97 === 0;
      clock.advance(ts - clock.now());
      j.append({ kind: warn ? 'policy.alert' : 'artifacts.pruned', severity: warn ? 'warning' : 'info', source: 't', reason: warn ? `rule fired at ${s}` : `routine ${s}`, data: { s, note: 'ü😀' } });
    }
  }
  j.appendSamples(batch.splice(0));
  clock.advance(start + hours * 3600_000 - clock.now());
  j.close();
  return { start, end: start + hours * 3600_000 - 1 };
}

/** metrics.csv as the generic reader and the artifacts' row formatter make it: the oracle for the pack's. */
function expectedCsv(j: JournalReader, sinceMs: number, untilMs: number): string {
  const f = new SampleRowFormatter();
  let out = METRICS_CSV_HEADER;
  for (const batch of sampleBatches(j, { sinceMs, untilMs })) for (const s of batch) out += f.row(s);
  return out;
}

describe('buildPack on a large journal', () => {
  it('writes a pack that verifies, with metrics.csv and the report identical to the generic reader, buffering a bounded number of bytes whatever the window', async () => {
    const clock = new FakeClock(Date.UTC(2026, 10, 22, 0, 0, 0));
    const { end } = fillJournal(clock, 3, 12, 2);
    const j = Journal.openReadOnly(paths.db);
    const key = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, 'dev-1', clock.now()).key;
    const maxima: Record<string, number>[] = [];
    for (const hours of [1, 3]) {
      const max: Record<string, number> = { allocated: 0, allocations: 0, staged: 0, compressing: 0, writing: 0 };
      const meter: ExportMeter = {
        allocated: (n) => {
          max.allocated = (max.allocated as number) + n;
          max.allocations = (max.allocations as number) + 1;
        },
        staged: (n) => (max.staged = Math.max(max.staged as number, n)),
        compressing: (n) => (max.compressing = Math.max(max.compressing as number, n)),
        writing: (n) => (max.writing = Math.max(max.writing as number, n)),
      };
      const sinceMs = end + 1 - hours * 3600_000;
      const built = await buildPack(
        { journal: j, paths, key, device: { device_id: 'dev-1', app_id: 'a', environment: 'e' }, waveos: { version: 't' }, runId: 'r1', config: {}, policyFiles: () => [], env: {}, systemFacts: () => Promise.resolve({}), meter },
        { sinceMs, untilMs: end, reason: `last ${hours} h`, trigger: 'manual', requestedBy: 't', nowMs: clock.now() + hours },
      );
      const v = await verifyPack(built.file);
      // The events carry non-ASCII data: lines whose characters straddle the verifier's read pieces still check.
      expect(v.problems).toEqual([]);
      expect(v.ok).toBe(true);
      expect(built.manifest.metrics.samples).toBe(hours * 3600 * 12);
      expect(built.manifest.journal.events).toBe(hours * 1800);
      const dir = join(root, `x-${hours}`);
      mkdirSync(dir);
      await extractTar({ file: built.file, cwd: dir });
      expect(readFileSync(join(dir, 'metrics.csv'), 'utf8')).toBe(expectedCsv(j, sinceMs, end));
      // The report lists the newest 5,000 notable and 2,000 other events of the window, in seq order.
      const html = readFileSync(join(dir, 'report.html'), 'utf8');
      const data = JSON.parse(/<script type="application\/json" id="evidence-data">(.*?)<\/script>/s.exec(html)?.[1] ?? 'null') as { events: { seq: number; reason: string; data: string }[]; events_omitted: number };
      const all = j.eventPage((built.manifest.journal.first_seq as number) - 1, 100_000);
      const notable = all.filter((e) => e.severity === 'warning').slice(-5_000);
      const other = all.filter((e) => e.severity !== 'warning').slice(-2_000);
      const want = [...notable, ...other].sort((a, b) => a.seq - b.seq);
      expect(data.events.map((e) => e.seq)).toEqual(want.map((e) => e.seq));
      expect(data.events.map((e) => e.reason)).toEqual(want.map((e) => e.reason));
      expect(data.events[0]?.data).toBe(JSON.stringify(want[0]?.data));
      expect(data.events_omitted).toBe(all.length - want.length);
      expect(readdirSync(paths.evidenceDir).filter((n) => n.startsWith('.staging'))).toEqual([]);
      maxima.push(max);
    }
    j.close();
    for (const max of maxima) {
      // One staging buffer for the whole export; nothing else the export allocates grows with the window.
      expect(max).toMatchObject({ allocated: STAGE_BUFFER, allocations: 1 });
      expect(max.staged).toBeLessThanOrEqual(STAGE_BUFFER);
      expect(max.compressing).toBeLessThanOrEqual(STAGE_BUFFER);
      expect(max.writing).toBeLessThanOrEqual(64 * 1024 + 16 * 1024);
    }
  }, 120_000);
});
