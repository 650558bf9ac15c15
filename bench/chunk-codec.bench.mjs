// Metric chunk codec: bytes per sample on realistic series, as chunks are written (the smaller of the decimal
// and the Gorilla encoding) against Gorilla alone (version 1, the encoding before the decimal one), and
// encode/decode speed against JSON.stringify/parse of the same samples.
// Series are one hour at 1 s (3,600 samples, one chunk each) from a seeded generator, so every run sees
// the same bytes; timestamps carry the sampler's few milliseconds of jitter.
import { performance } from 'node:perf_hooks';
import { median } from './lib.mjs';

const { encodeChunk, encodeGorillaChunk, decodeChunk } = await import('../dist/telemetry/chunk-codec.js');

const N = 3600;
const START = 1_764_748_800_000;

/** mulberry32: a small seeded generator, so the series are the same on every run. */
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function series(seed, value) {
  const r = rng(seed);
  const out = [];
  for (let i = 0; i < N; i++) out.push({ t: START + i * 1000 + Math.floor(r() * 5) - 2, v: value(r, i) });
  return out;
}

const SERIES = {
  // busy ticks out of 200 (2 cores at 100 Hz) over each second, as the CPU collector computes it
  'CPU % gauge, noisy': series(1, (r) => (100 * Math.min(200, Math.round(30 + r() * 20 + (r() < 0.02 ? 100 : 0)))) / 200),
  'slowly rising counter': (() => {
    let c = 1_234_567;
    return series(2, (r) => (c += Math.round(900 + r() * 200)));
  })(),
  constant: series(3, () => 1),
  'load average, 2 decimals, steps every 5 s': (() => {
    let x = 150;
    return series(5, (r, i) => {
      if (i % 5 === 0) x = Math.max(0, x + Math.round((r() - 0.5) * 40));
      return x / 100;
    });
  })(),
  'busy seconds counter, 3 decimals': (() => {
    let ms = 47_444;
    return series(6, (r) => (ms += Math.round(r() * 30)) / 1000);
  })(),
  'temperature, 0.1° steps': (() => {
    let k = 452;
    return series(4, (r) => {
      const u = r();
      k += u < 0.1 ? -1 : u > 0.9 ? 1 : 0;
      return k / 10;
    });
  })(),
};

/** Median ms per call of fn over several timed batches. */
function time(fn, reps = 20, batches = 7) {
  for (let i = 0; i < reps; i++) fn();
  const ms = [];
  for (let b = 0; b < batches; b++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) fn();
    ms.push((performance.now() - t0) / reps);
  }
  return median(ms);
}

export async function run(row) {
  for (const [name, s] of Object.entries(SERIES)) {
    const perSample = encodeChunk(s).length / s.length;
    const gorilla = encodeGorillaChunk(s).length / s.length;
    row(`chunk codec size: ${name} (1 h chunk)`, perSample.toFixed(3), 'B/sample', gorilla.toFixed(3), 'B/sample Gorilla only', perSample / gorilla, '');
  }
  // The same series with the timestamps on the tick (telemetry.stamp_tolerance): what the jitter costs.
  for (const [name, s] of Object.entries(SERIES)) {
    const ticked = s.map((x, i) => ({ t: START + i * 1000, v: x.v }));
    const perSample = encodeChunk(ticked).length / s.length;
    const gorilla = encodeGorillaChunk(ticked).length / s.length;
    row(`chunk codec size, stamped on the tick: ${name}`, perSample.toFixed(3), 'B/sample', gorilla.toFixed(3), 'B/sample Gorilla only', perSample / gorilla, '');
  }
  const s = SERIES['CPU % gauge, noisy'];
  const chunk = encodeChunk(s);
  const json = JSON.stringify(s);
  const msps = (ms) => (N / ms / 1000).toFixed(2);
  const enc = time(() => encodeChunk(s));
  const encJson = time(() => JSON.stringify(s));
  row('chunk codec encode: CPU % series', msps(enc), 'M samples/s', msps(encJson), 'M/s JSON.stringify', encJson / enc, '');
  const encGorilla = time(() => encodeGorillaChunk(s));
  row('chunk codec encode, Gorilla only: CPU % series', msps(encGorilla), 'M samples/s', msps(encJson), 'M/s JSON.stringify', encJson / encGorilla, '');
  const dec = time(() => decodeChunk(chunk));
  const decJson = time(() => JSON.parse(json));
  row('chunk codec decode, CRC checked: CPU % series', msps(dec), 'M samples/s', msps(decJson), 'M/s JSON.parse', decJson / dec, '');
  row('chunk codec: chunk vs JSON text, CPU % series', chunk.length, 'B', json.length, 'B JSON', chunk.length / json.length, '');
}
