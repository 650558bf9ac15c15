// The metric chunk vectors of docs/formats/vectors/chunks.json (docs/formats/chunks.md), made with the
// daemon's own codec from dist/: valid chunks of both versions with their samples, and damaged or forged
// ones with the reason a decoder must give. scripts/make-vectors.mjs writes them with the other vectors;
// `node scripts/chunk-vectors.mjs` writes only them.
import { writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { crc32 } from 'node:zlib';

const REPO = resolve(import.meta.dirname, '..');

const hex = (u) => Buffer.from(u).toString('hex');
const view = new DataView(new ArrayBuffer(8));
const bitsOf = (v) => (view.setFloat64(0, v), view.getBigUint64(0).toString(16).padStart(16, '0'));
const fromBits = (b) => (view.setBigUint64(0, b), view.getFloat64(0));

/** The bytes before the checksum edited, then the checksum made anew: a chunk as a faulty writer makes it. */
function resealed(bytes, edit) {
  const out = Uint8Array.from(bytes);
  const dv = new DataView(out.buffer);
  edit(dv, out);
  dv.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)));
  return out;
}

export async function chunkVectors() {
  const { encodeChunk, encodeDecimal, encodeGorillaChunk, decodeChunk } = await import(join(REPO, 'dist/telemetry/chunk-codec.js'));
  const T = 1_768_464_000_000; // 2026-01-15T08:00:00Z
  const every = (n, f, dt = 1000) => Array.from({ length: n }, (_, i) => ({ t: T + i * dt, v: f(i) }));
  const valid = [];
  const add = (name, note, samples, bytes = encodeChunk(samples)) => {
    const back = decodeChunk(bytes);
    if (back.length !== samples.length || back.some((s, i) => s.t !== samples[i].t || bitsOf(s.v) !== bitsOf(samples[i].v))) throw new Error(`${name}: does not round-trip`);
    valid.push({ name, valid: true, version: bytes[0], written: hex(bytes) === hex(encodeChunk(samples)), note, hex: hex(bytes), samples: samples.map((s) => [s.t, bitsOf(s.v)]) });
    return bytes;
  };
  add('v1-worked-example', 'the version 1 worked example of chunks.md (a writer makes these samples version 2)', [
    { t: 1000, v: 1 },
    { t: 2000, v: 1 },
    { t: 3000, v: 2 },
  ], encodeGorillaChunk([
    { t: 1000, v: 1 },
    { t: 2000, v: 1 },
    { t: 3000, v: 2 },
  ]));
  const v2 = add('v2-worked-example', 'the version 2 worked example of chunks.md', [
    { t: 1000, v: 4.74 },
    { t: 2000, v: 4.74 },
    { t: 3000, v: 4.75 },
    { t: 4000, v: 4.72 },
  ]);
  add('empty', 'no samples: version 1, 29 bytes', []);
  add('v1-one-sample', 'one sample is always version 1', [{ t: -42, v: -0 }]);
  add('v1-specials', 'values no decimal holds: NaN payloads, −0, ±∞, subnormals, extremes (version 1)', [
    NaN,
    fromBits(0x7ff0_0000_0000_0001n),
    fromBits(0xfff8_dead_0000_beefn),
    -0,
    Infinity,
    -Infinity,
    Number.MIN_VALUE,
    2.2250738585072009e-308,
    Number.MAX_VALUE,
    0.1 + 0.2,
  ].map((v, i) => ({ t: T + i * 1000, v })));
  add('v1-ratios', 'a gauge computed as a ratio of counters (version 1)', every(20, (i) => (1000 + ((i * 7919) % 613)) / 1201));
  add('v2-order-1', 'a steady counter: deltas of delta (order 1)', every(30, (i) => 1_234_567 + 1500 * i + (i % 7 === 0 ? 1 : 0)));
  add('v2-three-decimals', 'a busy-seconds counter with 3 decimals (k 3), jittered timestamps', every(30, (i) => (47_444 + i * 13 + ((i * 31) % 17)) / 1000).map((s, i) => ({ ...s, t: s.t + ((i * 37) % 9) - 4 })));
  add('v2-wide', 'integers moving by up to 2^48 (bucket widths above 32 bits) and negative', every(12, (i) => (i % 2 === 0 ? 1 : -1) * (2 ** 48 + i * 2 ** 40 + i)));
  add('v2-k22', 'the largest exponent: values m / 10^22', every(8, (i) => (i + 1) / 1e22));
  add('v2-timestamps', 'duplicate, backward and far timestamps with decimal values', [1000, 1000, 999, -5000, 2 ** 40, 9_007_199_254_740_991, -9_007_199_254_740_991, 3].map((t, i) => ({ t, v: i / 10 })));
  const largest = encodeDecimal([0, 1000], [2 ** 50 - 1, 2 ** 50 - 1]);
  add('v2-largest-m', 'the largest |m| a version 2 chunk holds, 2^50 − 1, twice (a writer makes these samples version 1)', [
    { t: 0, v: 2 ** 50 - 1 },
    { t: 1000, v: 2 ** 50 - 1 },
  ], largest);
  const bad = [];
  const refuse = (name, reason, note, bytes) => {
    try {
      decodeChunk(bytes);
    } catch (e) {
      if (e.reason !== reason) throw new Error(`${name}: ${e.reason}, wanted ${reason}`);
      bad.push({ name, valid: false, reason, note, hex: hex(bytes) });
      return;
    }
    throw new Error(`${name}: decoded`);
  };
  const flip = (bytes, bit) => {
    const out = Uint8Array.from(bytes);
    out[bit >>> 3] ^= 0x80 >>> (bit & 7);
    return out;
  };
  refuse('v2-bit-flipped', 'checksum', 'the worked example with payload bit 40 flipped', flip(v2, 25 * 8 + 40));
  refuse('v2-crc-flipped', 'checksum', 'the worked example with a bit of its CRC flipped', flip(v2, v2.length * 8 - 1));
  refuse('v2-truncated', 'truncated', 'the worked example without its last byte', v2.subarray(0, v2.length - 1));
  refuse('v2-trailing', 'length', 'the worked example with a byte after it', Uint8Array.of(...v2, 0));
  refuse('version-3', 'version', 'the worked example with version 3 (checksum made anew)', resealed(v2, (dv) => dv.setUint8(0, 3)));
  refuse('v2-k23', 'payload', 'k = 23 (checksum made anew)', resealed(v2, (dv) => dv.setUint8(25, (23 << 3) | (dv.getUint8(25) & 7))));
  refuse('v2-width-0', 'payload', 'w1 = 0 (checksum made anew)', resealed(v2, (dv) => dv.setUint16(25, dv.getUint16(25) & 0b1111_1100_0000_1111)));
  refuse('v2-last-t', 'payload', 'last_t 4001 where the samples end at 4000 (checksum made anew)', resealed(v2, (dv) => dv.setBigInt64(13, 4001n)));
  refuse('v2-count', 'payload', 'count 5 for 4 samples (checksum made anew)', resealed(v2, (dv) => dv.setUint32(1, 5)));
  // The first m's zigzag is 51 bits from payload bit 36: its last bit (bit 86) set makes 2^51 − 1, m = −2^50.
  refuse('v2-m-out-of-range', 'payload', 'v2-largest-m with a first m of −2^50 (zigzag 2^51 − 1; checksum made anew)', resealed(largest, (dv, out) => (out[25 + 10] |= 0x02)));
  return {
    description:
      'Metric chunks (docs/formats/chunks.md) as hex. A valid vector decodes to `samples`, each [timestamp ms, the float64 bit pattern in hex]; `written` says whether a writer makes exactly these bytes of those samples (it picks the smaller version). An invalid one must be refused with `reason`. Regenerate with `node scripts/chunk-vectors.mjs` (or scripts/make-vectors.mjs) after a build.',
    vectors: [...valid, ...bad],
  };
}

/** One vector a line, so that a diff shows which changed. */
export function writeChunkVectors(file, { description, vectors }) {
  writeFileSync(file, `{\n"description": ${JSON.stringify(description)},\n"vectors": [\n${vectors.map((v) => JSON.stringify(v)).join(',\n')}\n]}\n`);
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = join(REPO, 'docs/formats/vectors/chunks.json');
  const v = await chunkVectors();
  writeChunkVectors(file, v);
  console.log(`${v.vectors.length} chunk vectors in ${file}`);
}
