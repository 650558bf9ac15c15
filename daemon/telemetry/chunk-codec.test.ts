import { crc32 } from 'node:zlib';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  CHUNK_HEADER_BYTES,
  ChunkAppender,
  ChunkCorrupt,
  DECIMAL_MAX_MANTISSA,
  type Sample,
  decimalMantissas,
  decodeChunk,
  encodeChunk,
  encodeDecimal,
  encodeGorillaChunk,
} from './chunk-codec.js';

const view = new DataView(new ArrayBuffer(8));
const bitsOf = (v: number): bigint => {
  view.setFloat64(0, v);
  return view.getBigUint64(0);
};
const fromBits = (b: bigint): number => {
  view.setBigUint64(0, b);
  return view.getFloat64(0);
};

/** Samples as comparable data: timestamps, and values as their 64-bit patterns (NaN payloads and -0 included). */
const exact = (s: readonly Sample[]): { t: number; bits: bigint }[] => s.map((x) => ({ t: x.t, bits: bitsOf(x.v) }));

/** The chunk's bytes before the checksum, then a checksum over them: a chunk as a forger would make it. */
function resealed(bytes: Uint8Array, edit: (dv: DataView) => void): Uint8Array {
  const out = bytes.slice();
  const dv = new DataView(out.buffer);
  edit(dv);
  dv.setUint32(out.length - 4, crc32(out.subarray(0, out.length - 4)));
  return out;
}

function corruptReason(bytes: Uint8Array): string {
  try {
    decodeChunk(bytes);
  } catch (e) {
    if (e instanceof ChunkCorrupt) return e.reason;
    throw e;
  }
  return 'decoded';
}

const SAFE = Number.MAX_SAFE_INTEGER;
const clampSafe = (t: number): number => Math.max(-SAFE, Math.min(SAFE, t));

// Values: any double (NaN, ±0, ±Inf, subnormals), any bit pattern (NaN payloads), and series that move a
// little at a time, where the XOR window is reused.
const anyDouble = fc.double();
const anyPattern = fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }).map(fromBits);
const values = fc.oneof(
  fc.array(fc.oneof(anyDouble, anyPattern), { maxLength: 200 }),
  fc
    .tuple(anyDouble, fc.array(fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.double({ min: -1, max: 1 })), { maxLength: 200 }))
    .map(([start, steps]) => steps.reduce<number[]>((acc, d) => [...acc, (acc.at(-1) ?? start) + d * 0.1], [start])),
);

// Timestamps: steps of a regular interval with jitter, duplicates, gaps and backward steps, from any start;
// or any safe integers at all (the largest deltas of delta).
const step = fc.oneof(
  fc.integer({ min: 995, max: 1005 }),
  fc.constant(0),
  fc.integer({ min: -5000, max: -1 }),
  fc.integer({ min: 1, max: 2 ** 40 }),
  fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
);
/** Timestamps whose deltas of delta are the given ones (so that each bucket's edges can be aimed at). */
function fromDods(start: number, dods: readonly number[]): number[] {
  const out = [start];
  let t = start;
  let delta = 0;
  for (const dod of dods) {
    delta += dod;
    out.push((t = clampSafe(t + delta)));
  }
  return out;
}
// Around each bucket's edges: 7, 9, 12 and 32 bits of two's complement.
const nearEdge = fc.oneof(...[6, 8, 11, 31].map((b) => fc.integer({ min: -(2 ** b) - 3, max: 2 ** b + 3 })));
const timestamps = (n: number) =>
  fc.oneof(
    fc.tuple(fc.integer({ min: -(2 ** 45), max: 2 ** 45 }), fc.array(nearEdge, { minLength: n, maxLength: n })).map(([start, dods]) => fromDods(start, dods).slice(1)),
    fc.tuple(fc.maxSafeInteger(), fc.array(step, { minLength: n, maxLength: n })).map(([start, steps]) => {
      const out: number[] = [];
      let t = start;
      for (const d of steps) out.push((t = clampSafe(t + d)));
      return out;
    }),
    fc.array(fc.maxSafeInteger(), { minLength: n, maxLength: n }),
  );
const series = values.chain((vs) => timestamps(vs.length).map((ts) => ts.map((t, i) => ({ t, v: vs[i] ?? 0 }))));

describe('chunk codec round trip', () => {
  it('gives back every sample bit for bit, for any values and any timestamps', () => {
    fc.assert(
      fc.property(series, (s) => {
        expect(exact(decodeChunk(encodeChunk(s)))).toEqual(exact(s));
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the special values and NaN payloads exactly', () => {
    const specials = [
      NaN,
      fromBits(0x7ff0_0000_0000_0001n), // signalling NaN
      fromBits(0xfff8_dead_0000_beefn), // negative quiet NaN with a payload
      fromBits(0x7fff_ffff_ffff_ffffn),
      -0,
      0,
      Infinity,
      -Infinity,
      Number.MIN_VALUE,
      -Number.MIN_VALUE,
      2.2250738585072009e-308, // largest subnormal
      Number.MAX_VALUE,
      -Number.MAX_VALUE,
      Number.EPSILON,
      1e-300,
      0.1,
    ];
    const s = specials.map((v, i) => ({ t: 1_700_000_000_000 + i * 1000, v }));
    expect(exact(decodeChunk(encodeChunk(s)))).toEqual(exact(s));
    expect(exact(decodeChunk(encodeChunk([...s].reverse())))).toEqual(exact([...s].reverse()));
  });

  it('keeps duplicate, backward and extreme timestamps', () => {
    const ts = [1000, 1000, 1000, 999, 0, -1, -5000, 2 ** 40, SAFE, -SAFE, SAFE, SAFE - 1, 3, 3, 2, 1];
    const s = ts.map((t, i) => ({ t, v: i }));
    expect(decodeChunk(encodeChunk(s))).toEqual(s);
  });

  it('keeps deltas of delta at the edges of every timestamp bucket', () => {
    const edges = [6, 8, 11, 31].flatMap((b) => [2 ** b - 1, 2 ** b, -(2 ** b), -(2 ** b) - 1]);
    const dods = edges.flatMap((d) => [d, -d, 0]);
    const s = fromDods(1_700_000_000_000, dods).map((t, i) => ({ t, v: i }));
    expect(decodeChunk(encodeChunk(s))).toEqual(s);
  });

  it('round-trips an empty chunk and a single sample', () => {
    expect(decodeChunk(encodeChunk([]))).toEqual([]);
    expect(exact(decodeChunk(encodeChunk([{ t: -42, v: -0 }])))).toEqual(exact([{ t: -42, v: -0 }]));
  });

  it('refuses timestamps that are not safe integers and values that are not numbers', () => {
    for (const t of [1.5, NaN, Infinity, 2 ** 53, -(2 ** 53)]) expect(() => encodeChunk([{ t, v: 1 }])).toThrow(RangeError);
    expect(() => encodeChunk([{ t: 0, v: '1' as unknown as number }])).toThrow(TypeError);
  });
});

describe('chunk layout', () => {
  it('matches the worked example of docs/formats/chunks.md byte for byte (version 1)', () => {
    const bytes = encodeGorillaChunk([
      { t: 1000, v: 1 },
      { t: 2000, v: 1 },
      { t: 3000, v: 2 },
    ]);
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex.slice(0, -8)).toBe('01' + '00000003' + '00000000000003e8' + '0000000000000bb8' + '0000006a' + '3ff0000000000000e3e83097ffc0');
    expect(hex.slice(-8)).toBe('db22b35a');
  });

  it('spends two bits on a sample that repeats the interval and the value', () => {
    const s = Array.from({ length: 1000 }, (_, i) => ({ t: 1_700_000_000_000 + i * 1000, v: 42.5 }));
    // header + checksum, the first value (64 bits), the first delta (4 + 12 bits), then 2 bits a sample
    expect(encodeGorillaChunk(s).length).toBe(CHUNK_HEADER_BYTES + 4 + Math.ceil((64 + 16 + 1 + 998 * 2) / 8));
  });
});

describe('a corrupt chunk is refused, never decoded', () => {
  it('throws on any single flipped bit', () => {
    fc.assert(
      fc.property(series, fc.nat(), (s, at) => {
        const bytes = encodeChunk(s);
        const bit = at % (bytes.length * 8);
        const bad = bytes.slice();
        bad[bit >>> 3] = (bad[bit >>> 3] ?? 0) ^ (0x80 >>> (bit & 7));
        expect(() => decodeChunk(bad)).toThrow(ChunkCorrupt);
      }),
      { numRuns: 1000 },
    );
  });

  it('throws on any truncation and on trailing bytes', () => {
    fc.assert(
      fc.property(series, fc.nat(), (s, at) => {
        const bytes = encodeChunk(s);
        expect(corruptReason(bytes.subarray(0, at % bytes.length))).toBe('truncated');
        expect(corruptReason(Uint8Array.of(...bytes, 0))).toBe('length');
      }),
      { numRuns: 300 },
    );
  });

  it('names each reason', () => {
    const good = encodeChunk([
      { t: 0, v: 1 },
      { t: 1000, v: 2 },
    ]);
    expect(corruptReason(good)).toBe('decoded');
    expect(corruptReason(new Uint8Array(0))).toBe('truncated');
    expect(corruptReason(resealed(good, (dv) => dv.setUint8(0, 3)))).toBe('version');
    expect(corruptReason(resealed(good, (dv) => dv.setUint8(0, 0)))).toBe('version');
    const flipped = good.slice();
    flipped[CHUNK_HEADER_BYTES] = (flipped[CHUNK_HEADER_BYTES] ?? 0) ^ 1;
    expect(corruptReason(flipped)).toBe('checksum');
  });

  it('refuses a chunk whose checksum holds but whose contents disagree', () => {
    const good = encodeChunk([
      { t: 0, v: 1 },
      { t: 1000, v: 2 },
      { t: 2000, v: 2 },
    ]);
    // the last timestamp of the header, the sample count (too many for the bits, or one fewer than written)
    expect(corruptReason(resealed(good, (dv) => dv.setBigInt64(13, 2001n)))).toBe('payload');
    expect(corruptReason(resealed(good, (dv) => dv.setUint32(1, 0xffff_ffff)))).toBe('payload');
    expect(corruptReason(resealed(good, (dv) => dv.setUint32(1, 2)))).toBe('payload');
    expect(corruptReason(resealed(good, (dv) => dv.setUint32(1, 4)))).toBe('payload');
    // a first timestamp beyond 2^53
    expect(corruptReason(resealed(good, (dv) => dv.setBigInt64(5, 2n ** 60n)))).toBe('payload');
    // an empty chunk that claims a timestamp
    expect(corruptReason(resealed(encodeChunk([]), (dv) => dv.setBigInt64(5, 1n)))).toBe('payload');
  });
});

describe('ChunkAppender', () => {
  it('gives at any point the chunk of what was appended so far, and keeps appending after', () => {
    fc.assert(
      fc.property(series, fc.nat(), (s, at) => {
        const cut = s.length === 0 ? 0 : at % s.length;
        const a = new ChunkAppender();
        for (const x of s.slice(0, cut)) a.append(x.t, x.v);
        const head = a.bytes();
        expect(exact(decodeChunk(head))).toEqual(exact(s.slice(0, cut)));
        for (const x of s.slice(cut)) a.append(x.t, x.v);
        expect(a.count).toBe(s.length);
        expect(a.bytes()).toEqual(encodeChunk(s));
      }),
      { numRuns: 300 },
    );
  });
});

/** The version 2 worked example of docs/formats/chunks.md. */
const DOC_V2_EXAMPLE = '02' + '00000004' + '00000000000003e8' + '0000000000000fa0' + '0000004b' + '1020c30caed38fa0a6a0' + 'a6ab38a6';

// Decimal values: m / 10^k for one k, as a gauge with a fixed number of decimals gives them; walks and jumps
// of m, with now and then a value no decimal encoding holds (NaN payloads, ±Inf, −0, subnormals, huge).
const decimalValues = fc
  .tuple(
    fc.integer({ min: 0, max: 22 }),
    fc.integer({ min: -(2 ** 40), max: 2 ** 40 }),
    fc.array(fc.oneof(fc.constant(0), fc.integer({ min: -3, max: 3 }), fc.integer({ min: -(2 ** 20), max: 2 ** 20 }), fc.integer({ min: -(2 ** 49), max: 2 ** 49 })), { maxLength: 200 }),
  )
  .map(([k, start, steps]) => {
    let m = start;
    const out = [m];
    for (const d of steps) {
      m = Math.max(-(2 ** 50) + 1, Math.min(2 ** 50 - 1, m + d));
      out.push(m);
    }
    return out.map((x) => x / 10 ** k);
  });
const strange = fc.oneof(anyPattern, fc.constantFrom(NaN, Infinity, -Infinity, -0, Number.MIN_VALUE, 2.2250738585072009e-308, Number.MAX_VALUE, 2 ** 50, -(2 ** 53), 1e-23, 0.1 + 0.2));
const mostlyDecimal = fc.tuple(decimalValues, fc.array(fc.tuple(fc.nat(), strange), { maxLength: 3 })).map(([vs, spoil]) => {
  const out = [...vs];
  for (const [at, v] of spoil) if (out.length > 0) out[at % out.length] = v;
  return out;
});
const decimalSeries = fc.oneof(decimalValues, mostlyDecimal).chain((vs) => timestamps(vs.length).map((ts) => ts.map((t, i) => ({ t, v: vs[i] ?? 0 }))));

describe('the decimal encoding (version 2)', () => {
  it('gives back every sample bit for bit through the per-chunk choice, for decimal, nearly decimal and any values', () => {
    fc.assert(
      fc.property(fc.oneof(decimalSeries, series), (s) => {
        const bytes = encodeChunk(s);
        expect(exact(decodeChunk(bytes))).toEqual(exact(s));
        // The choice is the smaller one: never larger than Gorilla alone.
        expect(bytes.length).toBeLessThanOrEqual(encodeGorillaChunk(s).length);
      }),
      { numRuns: 600 },
    );
  });

  it('an open chunk gives the same bytes as encodeChunk of its samples at any point, decimal or not', () => {
    fc.assert(
      fc.property(decimalSeries, fc.nat(), (s, at) => {
        const cut = s.length === 0 ? 0 : at % s.length;
        const a = new ChunkAppender();
        for (const x of s.slice(0, cut)) a.append(x.t, x.v);
        expect(a.bytes()).toEqual(encodeChunk(s.slice(0, cut)));
        for (const x of s.slice(cut)) a.append(x.t, x.v);
        expect(a.bytes()).toEqual(encodeChunk(s));
        expect(exact(decodeChunk(a.bytes()))).toEqual(exact(s));
      }),
      { numRuns: 300 },
    );
  });

  it('encodes every series of decimal values, and decodes it to the same bits', () => {
    fc.assert(
      fc.property(decimalSeries, (s) => {
        const d = encodeDecimal(
          s.map((x) => x.t),
          s.map((x) => x.v),
        );
        const allDecimal = s.length >= 2 && decimalMantissas(s.map((x) => x.v)) !== null;
        expect(d !== null).toBe(allDecimal);
        if (d) {
          expect(d[0]).toBe(2);
          expect(exact(decodeChunk(d))).toEqual(exact(s));
        }
      }),
      { numRuns: 600 },
    );
  });

  it('is chosen when it is smaller, as for short decimals', () => {
    const s = Array.from({ length: 600 }, (_, i) => ({ t: 1_700_000_000_000 + i * 1000, v: Math.round(474 + 30 * Math.sin(i / 40)) / 100 }));
    const bytes = encodeChunk(s);
    expect(bytes[0]).toBe(2);
    expect(bytes.length).toBeLessThan(encodeGorillaChunk(s).length / 2);
    expect(exact(decodeChunk(bytes))).toEqual(exact(s));
    // A single value no decimal holds turns the whole chunk to Gorilla, and nothing is lost.
    const spoiled = s.map((x, i) => (i === 300 ? { ...x, v: -0 } : x));
    expect(encodeChunk(spoiled)[0]).toBe(1);
    expect(exact(decodeChunk(encodeChunk(spoiled)))).toEqual(exact(spoiled));
  });

  it('stores a steady counter as deltas of delta', () => {
    const s = Array.from({ length: 600 }, (_, i) => ({ t: 1_700_000_000_000 + i * 1000, v: 1_234_567 + 1500 * i + (i % 7 === 0 ? 1 : 0) }));
    const bytes = encodeChunk(s);
    expect(bytes[0]).toBe(2);
    // payload bit 5: the order, 1 for deltas of delta
    expect(((bytes[CHUNK_HEADER_BYTES] ?? 0) >>> 2) & 1).toBe(1);
    expect(decodeChunk(bytes)).toEqual(s);
  });

  it('detects decimals exactly: the shared exponent, and what no decimal holds', () => {
    expect(decimalMantissas([4.74, 47.444, 1, -0.5, 0])).toEqual({ k: 3, m: Float64Array.from([4740, 47444, 1000, -500, 0]) });
    expect(decimalMantissas([3, -7, 2 ** 50 - 1])?.k).toBe(0);
    expect(decimalMantissas([1e-22])).toEqual({ k: 22, m: Float64Array.from([1]) });
    expect(decimalMantissas([0.1, 0.2, 0.3])?.k).toBe(1);
    for (const bad of [-0, NaN, Infinity, -Infinity, 1e-23, Number.MIN_VALUE, 2 ** 50, -(2 ** 50), 0.1 + 0.2, 0.8826530612244898, Number.MAX_VALUE, fromBits(0x7ff8_0000_0000_0001n)])
      expect(decimalMantissas([1.5, bad]), String(bad)).toBeNull();
    // 2^50 − 1 is the largest m; with k = 1 it is (2^50 − 1) / 10, but not one more digit.
    expect(decimalMantissas([(2 ** 50 - 1) / 10])?.k).toBe(1);
    expect(decimalMantissas([(2 ** 50 - 1) / 10, 0.01])).toBeNull();
    expect(encodeDecimal([1], [1])).toBeNull();
  });

  it('matches the worked example of docs/formats/chunks.md byte for byte (version 2)', () => {
    const bytes = encodeChunk([
      { t: 1000, v: 4.74 },
      { t: 2000, v: 4.74 },
      { t: 3000, v: 4.75 },
      { t: 4000, v: 4.72 },
    ]);
    const hex = Buffer.from(bytes).toString('hex');
    expect(hex).toBe(DOC_V2_EXAMPLE);
  });

  it('decodes a version 1 chunk as written before the decimal encoding existed', () => {
    // The worked example of the doc, as a build before version 2 wrote it.
    const v1 = Buffer.from('01' + '00000003' + '00000000000003e8' + '0000000000000bb8' + '0000006a' + '3ff0000000000000e3e83097ffc0' + 'db22b35a', 'hex');
    expect(decodeChunk(v1)).toEqual([
      { t: 1000, v: 1 },
      { t: 2000, v: 1 },
      { t: 3000, v: 2 },
    ]);
  });

  it('throws on any single flipped bit, truncation or trailing byte of a decimal chunk', () => {
    fc.assert(
      fc.property(decimalValues.filter((v) => v.length >= 2), fc.nat(), (vs, at) => {
        const bytes = encodeDecimal(
          vs.map((_, i) => 1_700_000_000_000 + i * 1000),
          vs,
        ) as Uint8Array;
        const bit = at % (bytes.length * 8);
        const bad = bytes.slice();
        bad[bit >>> 3] = (bad[bit >>> 3] ?? 0) ^ (0x80 >>> (bit & 7));
        expect(() => decodeChunk(bad)).toThrow(ChunkCorrupt);
        expect(corruptReason(bytes.subarray(0, at % bytes.length))).toBe('truncated');
        expect(corruptReason(Uint8Array.of(...bytes, 0))).toBe('length');
      }),
      { numRuns: 600 },
    );
  });

  it('refuses a decimal chunk whose checksum holds but whose parameters or values are out of range', () => {
    const good = encodeDecimal([0, 1000, 2000], [1.5, 1.5, 1.25]) as Uint8Array;
    expect(corruptReason(good)).toBe('decoded');
    const P = CHUNK_HEADER_BYTES;
    // The exponent is the first 5 bits of the payload: 23 is past 10^22.
    expect(corruptReason(resealed(good, (dv) => dv.setUint8(P, (23 << 3) | (dv.getUint8(P) & 7))))).toBe('payload');
    // A bucket width of 0 (the first width: bits 6..11 of the payload).
    expect(corruptReason(resealed(good, (dv) => dv.setUint16(P, dv.getUint16(P) & 0b1111_1100_0000_1111)))).toBe('payload');
    // Too many samples for the bits; the last timestamp of the header.
    expect(corruptReason(resealed(good, (dv) => dv.setUint32(1, 1000)))).toBe('payload');
    expect(corruptReason(resealed(good, (dv) => dv.setBigInt64(13, 2001n)))).toBe('payload');
    // A first m out of range: 2^50 − 1 is the largest (zigzag 2^51 − 2 in 51 bits, from payload bit 36); its
    // last bit set makes the zigzag 2^51 − 1, which is −2^50.
    const wide = encodeDecimal([0, 1000], [DECIMAL_MAX_MANTISSA - 1, DECIMAL_MAX_MANTISSA - 1]) as Uint8Array;
    expect(exact(decodeChunk(wide))).toEqual(exact([{ t: 0, v: DECIMAL_MAX_MANTISSA - 1 }, { t: 1000, v: DECIMAL_MAX_MANTISSA - 1 }]));
    const at = 36 + 51 - 1;
    expect(corruptReason(resealed(wide, (dv) => dv.setUint8(P + (at >>> 3), dv.getUint8(P + (at >>> 3)) | (0x80 >>> (at & 7)))))).toBe('payload');
  });
});
