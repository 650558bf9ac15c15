/**
 * Compressed chunks of one metric series, in a checksummed chunk with delta-of-delta timestamps and one of two
 * value encodings, chosen per chunk as the smaller: version 1, Gorilla (Pelkonen et al., VLDB 2015: XOR'd
 * float64 values), for any values; version 2, decimal (as VictoriaMetrics does), for values that are all
 * exactly m / 10^k for one k and integers m, stored as bit-packed deltas of m. The byte layout is specified in
 * docs/formats/chunks.md; a change to it is a new format version.
 */
import { crc32 } from 'node:zlib';

/** Gorilla values (version 1). */
export const CHUNK_FORMAT_VERSION = 1;
/** Decimal values (version 2). */
export const CHUNK_FORMAT_DECIMAL = 2;
/** version (1) + count (4) + first t (8) + last t (8) + payload length in bits (4) */
export const CHUNK_HEADER_BYTES = 25;
const CRC_BYTES = 4;
const MAX_COUNT = 0xffff_ffff;

export interface Sample {
  t: number;
  v: number;
}

export type ChunkCorruptReason = 'truncated' | 'version' | 'length' | 'checksum' | 'payload';

/** A chunk that cannot be decoded exactly: nothing of it is returned. */
export class ChunkCorrupt extends Error {
  readonly reason: ChunkCorruptReason;

  constructor(reason: ChunkCorruptReason, message: string) {
    super(`corrupt chunk (${reason}): ${message}`);
    this.name = 'ChunkCorrupt';
    this.reason = reason;
  }
}

// One scratch view turns a float64 into its two 32-bit halves and back (big-endian, so [0] is the high half).
const scratch = new DataView(new ArrayBuffer(8));

/** Bits appended most significant first into a byte array that doubles when full; unused bits stay zero. */
class BitWriter {
  private buf = new Uint8Array(256);
  private byte = 0;
  private bit = 0;

  get byteLength(): number {
    return this.byte + (this.bit > 0 ? 1 : 0);
  }

  get bitLength(): number {
    return this.byte * 8 + this.bit;
  }

  /** The first `n` (≤ 32) low bits of the unsigned `value`. */
  write(value: number, n: number): void {
    while (n > 0) {
      const free = 8 - this.bit;
      const take = free < n ? free : n;
      const bits = (value >>> (n - take)) & ((1 << take) - 1);
      this.buf[this.byte] = (this.buf[this.byte] ?? 0) | (bits << (free - take));
      n -= take;
      this.bit += take;
      if (this.bit === 8) {
        this.bit = 0;
        if (++this.byte === this.buf.length) this.grow();
      }
    }
  }

  /** The first `n` (≤ 53) low bits of the unsigned safe integer `value`. */
  writeWide(value: number, n: number): void {
    if (n > 32) {
      this.write(Math.floor(value / 2 ** 32), n - 32);
      this.write(value >>> 0, 32);
    } else this.write(value, n);
  }

  copyInto(target: Uint8Array, offset: number): void {
    target.set(this.buf.subarray(0, this.byteLength), offset);
  }

  private grow(): void {
    const next = new Uint8Array(this.buf.length * 2);
    next.set(this.buf);
    this.buf = next;
  }
}

/** Reads what BitWriter wrote, from a payload of known bit length; reading past its end is a corrupt chunk. */
class BitReader {
  private pos = 0;

  constructor(
    private readonly buf: Uint8Array,
    private readonly end: number,
  ) {}

  /** `n` (≤ 32) bits as an unsigned number. */
  read(n: number): number {
    if (this.pos + n > this.end) throw new ChunkCorrupt('payload', 'the bit stream ends inside a sample');
    if (n === 0) return 0;
    // The n bits lie in the five bytes from the current one: the first four as one word shifted left by the
    // bit offset, the fifth filling in from the right. Bytes past the payload read as zero.
    const b = this.buf;
    const i = this.pos >>> 3;
    const off = this.pos & 7;
    const word = (((b[i] ?? 0) << 24) | ((b[i + 1] ?? 0) << 16) | ((b[i + 2] ?? 0) << 8) | (b[i + 3] ?? 0)) >>> 0;
    const bits = off === 0 ? word : ((word << off) | ((b[i + 4] ?? 0) >>> (8 - off))) >>> 0;
    this.pos += n;
    return n === 32 ? bits : bits >>> (32 - n);
  }

  /** `n` (≤ 53) bits as an unsigned safe integer. */
  readWide(n: number): number {
    if (n <= 32) return this.read(n);
    const hi = this.read(n - 32);
    return hi * 2 ** 32 + this.read(32);
  }

  /** The last sample must end where the header says the bits end, and the last byte's padding be zero. */
  checkEnd(): void {
    if (this.pos !== this.end) throw new ChunkCorrupt('payload', `${this.end - this.pos} bits after the last sample`);
    const padding = (8 - (this.end & 7)) & 7;
    if (padding > 0 && ((this.buf[this.end >>> 3] ?? 0) & ((1 << padding) - 1)) !== 0) throw new ChunkCorrupt('payload', 'padding bits set');
  }
}

// Timestamp buckets: control prefix, its length, and the two's-complement width of the delta-of-delta after it.
// The paper's buckets (0, 10+7, 110+9, 1110+12, 1111+32), with 1111 split so that a 64-bit escape exists:
// timestamps are any safe integer, so a delta-of-delta can need up to 56 bits.
const TS_BUCKETS = [
  { prefix: 0b10, prefixBits: 2, bits: 7 },
  { prefix: 0b110, prefixBits: 3, bits: 9 },
  { prefix: 0b1110, prefixBits: 4, bits: 12 },
  { prefix: 0b11110, prefixBits: 5, bits: 32 },
] as const;

function writeDod(w: BitWriter, dod: number | bigint): void {
  if (dod === 0) {
    w.write(0, 1);
    return;
  }
  if (typeof dod === 'number') {
    for (const b of TS_BUCKETS) {
      const half = 2 ** (b.bits - 1);
      if (dod >= -half && dod < half) {
        w.write(b.prefix, b.prefixBits);
        w.write(dod < 0 ? dod + 2 * half : dod, b.bits);
        return;
      }
    }
  }
  const raw = BigInt.asUintN(64, BigInt(dod));
  w.write(0b11111, 5);
  w.write(Number(raw >> 32n), 32);
  w.write(Number(raw & 0xffff_ffffn), 32);
}

function readDod(r: BitReader): number | bigint {
  let ones = 0;
  while (ones < 5 && r.read(1) === 1) ones++;
  if (ones === 0) return 0;
  if (ones === 5) {
    const hi = r.read(32);
    const lo = r.read(32);
    return BigInt.asIntN(64, (BigInt(hi) << 32n) | BigInt(lo));
  }
  const bits = TS_BUCKETS[ones - 1]?.bits ?? 0;
  const raw = r.read(bits);
  const half = 2 ** (bits - 1);
  return raw >= half ? raw - 2 * half : raw;
}

/**
 * (t - prev) - (prev - prevPrev), exactly. Number arithmetic on integers is exact while every result is a
 * safe integer (a result that is not is rounded to one that is not, so the check cannot be fooled); past
 * that, BigInt.
 */
function deltaOfDelta(t: number, prev: number, prevPrev: number): number | bigint {
  const d1 = t - prev;
  const d0 = prev - prevPrev;
  const dod = d1 - d0;
  if (Number.isSafeInteger(d1) && Number.isSafeInteger(d0) && Number.isSafeInteger(dod)) return dod;
  const big = BigInt(t) - 2n * BigInt(prev) + BigInt(prevPrev);
  return big <= BigInt(Number.MAX_SAFE_INTEGER) && big >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(big) : big;
}

/** The inverse of deltaOfDelta; a timestamp outside the safe range can only come from a corrupt chunk. */
function undoDeltaOfDelta(dod: number | bigint, prev: number, prevPrev: number): number {
  if (typeof dod === 'number') {
    const d1 = prev - prevPrev + dod;
    const t = prev + d1;
    if (Number.isSafeInteger(d1) && Number.isSafeInteger(prev - prevPrev) && Number.isSafeInteger(t)) return t;
  }
  const t = BigInt(dod) + 2n * BigInt(prev) - BigInt(prevPrev);
  if (t > BigInt(Number.MAX_SAFE_INTEGER) || t < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ChunkCorrupt('payload', 'a timestamp outside the safe integer range');
  }
  return Number(t);
}

/** The XOR window of the previous value: leading zeros and meaningful bits, or none before the first XOR. */
interface XorWindow {
  leading: number;
  meaningful: number;
}

function leadingZeros(hi: number, lo: number): number {
  return hi !== 0 ? Math.clz32(hi) : 32 + Math.clz32(lo);
}

function trailingZeros(hi: number, lo: number): number {
  if (lo !== 0) return 31 - Math.clz32(lo & -lo);
  return 32 + 31 - Math.clz32(hi & -hi);
}

/** Writes bits [64 - leading - meaningful, 64 - leading) of the 64-bit hi:lo, high first. */
function writeMeaningful(w: BitWriter, hi: number, lo: number, leading: number, meaningful: number): void {
  const trailing = 64 - leading - meaningful;
  if (trailing >= 32) {
    w.write(hi >>> (trailing - 32), meaningful);
    return;
  }
  const loBits = 32 - trailing;
  const hiBits = meaningful - loBits;
  if (hiBits > 0) w.write(hi & (2 ** hiBits - 1), hiBits);
  w.write(lo >>> trailing, hiBits >= 0 ? loBits : meaningful);
}

/**
 * One series' open chunk: samples appended in the order they came (any order of timestamps), and at any
 * time the complete chunk holding them all, so a head chunk can live in memory and be flushed as it is.
 */
export class ChunkAppender {
  private readonly w = new BitWriter();
  private n = 0;
  private first = 0;
  private prev = 0;
  private prevPrev = 0;
  private prevHi = 0;
  private prevLo = 0;
  private window: XorWindow | null = null;
  /** Whether every value so far may be decimal, at exponent decK at least: a cheap no before the seal tries. */
  private decimal = true;
  private decK = 0;

  get count(): number {
    return this.n;
  }

  append(t: number, v: number): void {
    if (!Number.isSafeInteger(t)) throw new RangeError(`chunk timestamp must be a safe integer (ms), got ${t}`);
    if (typeof v !== 'number') throw new TypeError(`chunk value must be a number, got ${typeof v}`);
    if (this.n === MAX_COUNT) throw new RangeError(`a chunk holds at most ${MAX_COUNT} samples`);
    scratch.setFloat64(0, v);
    const hi = scratch.getUint32(0);
    const lo = scratch.getUint32(4);
    if (this.n === 0) {
      this.first = this.prev = this.prevPrev = t;
      this.w.write(hi, 32);
      this.w.write(lo, 32);
    } else {
      writeDod(this.w, deltaOfDelta(t, this.prev, this.prevPrev));
      this.prevPrev = this.prev;
      this.prev = t;
      this.writeXor((hi ^ this.prevHi) >>> 0, (lo ^ this.prevLo) >>> 0);
    }
    this.prevHi = hi;
    this.prevLo = lo;
    this.n++;
    if (this.decimal) this.noteDecimal(v);
  }

  private noteDecimal(v: number): void {
    if (!Number.isFinite(v) || Object.is(v, -0)) {
      this.decimal = false;
      return;
    }
    while (!decimalAt(v, this.decK)) {
      if (++this.decK > DECIMAL_MAX_EXPONENT) {
        this.decimal = false;
        return;
      }
    }
  }

  /**
   * The chunk as it stands, decodable by decodeChunk: the decimal encoding (version 2) when its values allow
   * it and it is smaller, else Gorilla (version 1).
   */
  bytes(): Uint8Array {
    const gorilla = this.gorillaBytes();
    if (this.n < 2 || !this.decimal) return gorilla;
    const { t, v } = decodeChunkColumns(gorilla);
    return smaller(gorilla, encodeDecimal(t, v));
  }

  /** The chunk as it stands in the Gorilla encoding (version 1). */
  gorillaBytes(): Uint8Array {
    return chunkBytes(CHUNK_FORMAT_VERSION, this.n, this.first, this.prev, this.w);
  }

  private writeXor(hi: number, lo: number): void {
    if (hi === 0 && lo === 0) {
      this.w.write(0, 1);
      return;
    }
    // Five bits hold the leading-zero count, so more than 31 are written as 31 and counted as meaningful.
    const leading = Math.min(31, leadingZeros(hi, lo));
    const trailing = trailingZeros(hi, lo);
    const win = this.window;
    if (win !== null && leading >= win.leading && trailing >= 64 - win.leading - win.meaningful) {
      this.w.write(0b10, 2);
      writeMeaningful(this.w, hi, lo, win.leading, win.meaningful);
      return;
    }
    const meaningful = 64 - leading - trailing;
    this.w.write(0b11, 2);
    this.w.write(leading, 5);
    // Six bits hold 1..64 meaningful bits; 64 is written as 0.
    this.w.write(meaningful & 63, 6);
    writeMeaningful(this.w, hi, lo, leading, meaningful);
    this.window = { leading, meaningful };
  }
}

/** Header, the bit stream and the checksum. */
function chunkBytes(version: number, count: number, first: number, last: number, w: BitWriter): Uint8Array {
  const payload = w.byteLength;
  if (w.bitLength > 0xffff_ffff) throw new RangeError('a chunk payload holds at most 2^32 - 1 bits');
  const out = new Uint8Array(CHUNK_HEADER_BYTES + payload + CRC_BYTES);
  const dv = new DataView(out.buffer);
  dv.setUint8(0, version);
  dv.setUint32(1, count);
  dv.setBigInt64(5, BigInt(first));
  dv.setBigInt64(13, BigInt(last));
  dv.setUint32(21, w.bitLength);
  w.copyInto(out, CHUNK_HEADER_BYTES);
  dv.setUint32(CHUNK_HEADER_BYTES + payload, crc32(out.subarray(0, CHUNK_HEADER_BYTES + payload)));
  return out;
}

/** The decimal chunk when there is one and it is strictly smaller; else the Gorilla one. */
function smaller(gorilla: Uint8Array, decimal: Uint8Array | null): Uint8Array {
  return decimal !== null && decimal.length < gorilla.length ? decimal : gorilla;
}

/** The samples as the smaller of the two encodings (decimal when its values allow it and it is smaller). */
export function encodeChunk(samples: readonly Sample[]): Uint8Array {
  const a = new ChunkAppender();
  for (const s of samples) a.append(s.t, s.v);
  const gorilla = a.gorillaBytes();
  if (samples.length < 2) return gorilla;
  return smaller(
    gorilla,
    encodeDecimal(
      samples.map((s) => s.t),
      samples.map((s) => s.v),
    ),
  );
}

/** The samples in the Gorilla encoding (version 1) whatever their values. */
export function encodeGorillaChunk(samples: readonly Sample[]): Uint8Array {
  const a = new ChunkAppender();
  for (const s of samples) a.append(s.t, s.v);
  return a.gorillaBytes();
}

// ---------- version 2: decimal values ----------

/** 10^k for k = 0..22, each exact in a float64 (5^22 < 2^53): m / 10^k is then one correctly rounded division. */
const POW10 = [1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15, 1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22] as const;
export const DECIMAL_MAX_EXPONENT = 22;
/** |m| stays below this, so every delta, delta of delta and zigzag of them is a safe integer (< 2^53). */
export const DECIMAL_MAX_MANTISSA = 2 ** 50;
const MAX_WIDTH = 53;
/** k (5 bits), order (1), four widths (6 each), the first m's width (6): the bits before the first m. */
const DECIMAL_PARAM_BITS = 5 + 1 + 4 * 6 + 6;

const zigzag = (x: number): number => (x < 0 ? -2 * x - 1 : 2 * x);
const unzigzag = (z: number): number => (z % 2 === 1 ? -(z + 1) / 2 : z / 2);
/** Bits of an unsigned safe integer: 0 for 0. */
const bitLength = (z: number): number => (z === 0 ? 0 : z < 2 ** 32 ? 32 - Math.clz32(z) : 64 - Math.clz32(Math.floor(z / 2 ** 32)));

/**
 * The integers m and the one exponent k with v = m / 10^k bit for bit for every value, |m| < 2^50; null when
 * some value is not so (NaN, ±Inf, −0, too many digits, too large). A value that is m / 10^j is also
 * (m·10^(k−j)) / 10^k for k > j (the same real number, so the same nearest float64), so k only grows.
 */
export function decimalMantissas(v: ArrayLike<number>): { k: number; m: Float64Array } | null {
  let k = 0;
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as number;
    if (!Number.isFinite(x) || Object.is(x, -0)) return null;
    while (!decimalAt(x, k)) if (++k > DECIMAL_MAX_EXPONENT) return null;
  }
  const p = POW10[k] as number;
  const m = new Float64Array(v.length);
  for (let i = 0; i < v.length; i++) {
    const x = v[i] as number;
    const mi = Math.round(x * p);
    // Checked again: nothing is stored that does not decode to the very same bits.
    if (!(Math.abs(mi) < DECIMAL_MAX_MANTISSA) || mi / p !== x) return null;
    m[i] = mi;
  }
  return { k, m };
}

/** Whether x is m / 10^k for an integer |m| < 2^50. Rounding x·10^k finds m: its error is under 0.25 there. */
function decimalAt(x: number, k: number): boolean {
  const p = POW10[k] as number;
  const m = Math.round(x * p);
  return Math.abs(m) < DECIMAL_MAX_MANTISSA && m / p === x;
}

/** Residuals of m: order 0 the deltas, order 1 the deltas of delta (the first one a delta), zigzagged. */
function residuals(m: Float64Array, order: 0 | 1): Float64Array {
  const z = new Float64Array(m.length - 1);
  let d = 0;
  for (let i = 1; i < m.length; i++) {
    const delta = (m[i] as number) - (m[i - 1] as number);
    z[i - 1] = zigzag(order === 0 || i === 1 ? delta : delta - d);
    d = delta;
  }
  return z;
}

/**
 * The four bucket widths that spend the fewest bits on these residuals, and that many bits. A residual takes
 * 1 bit when 0, else 2, 3, 4 or 4 control bits and the width of the first bucket that holds it; the last
 * bucket is as wide as the widest residual. Only widths that some residual needs can be best.
 */
function bestWidths(z: Float64Array): { widths: [number, number, number, number]; bits: number } {
  const count = new Array<number>(MAX_WIDTH + 1).fill(0);
  for (let i = 0; i < z.length; i++) {
    const b = bitLength(z[i] as number);
    count[b] = (count[b] as number) + 1;
  }
  const zeros = count[0] as number;
  const nonzero = z.length - zeros;
  let top = 0;
  for (let b = 1; b <= MAX_WIDTH; b++) if ((count[b] as number) > 0) top = b;
  const w4 = Math.max(1, top);
  // below[b]: residuals of 1..b bits.
  const below = new Array<number>(MAX_WIDTH + 1).fill(0);
  for (let b = 1; b <= MAX_WIDTH; b++) below[b] = (below[b - 1] as number) + (count[b] as number);
  const cand = [...new Set([1, ...Array.from({ length: w4 }, (_, i) => i + 1).filter((b) => (count[b] as number) > 0)])].filter((b) => b <= w4);
  let best: [number, number, number, number] = [w4, w4, w4, w4];
  let bestBits = Infinity;
  for (let a = 0; a < cand.length; a++) {
    const w1 = cand[a] as number;
    const c1 = below[w1] as number;
    for (let b = a; b < cand.length; b++) {
      const w2 = cand[b] as number;
      const c2 = below[w2] as number;
      for (let c = b; c < cand.length; c++) {
        const w3 = cand[c] as number;
        const c3 = below[w3] as number;
        const bits = zeros + c1 * (2 + w1) + (c2 - c1) * (3 + w2) + (c3 - c2) * (4 + w3) + (nonzero - c3) * (4 + w4);
        if (bits < bestBits) {
          bestBits = bits;
          best = [w1, w2, w3, w4];
        }
      }
    }
  }
  return { widths: best, bits: bestBits };
}

function writeResidual(w: BitWriter, z: number, widths: readonly number[]): void {
  if (z === 0) {
    w.write(0, 1);
    return;
  }
  const n = bitLength(z);
  for (let j = 0; j < 3; j++) {
    const wj = widths[j] as number;
    if (n <= wj) {
      // j + 1 ones and a zero: 10, 110, 1110
      w.write((2 ** (j + 2) - 2) >>> 0, j + 2);
      w.writeWide(z, wj);
      return;
    }
  }
  w.write(0b1111, 4);
  w.writeWide(z, widths[3] as number);
}

function readResidual(r: BitReader, widths: readonly number[]): number {
  let ones = 0;
  while (ones < 4 && r.read(1) === 1) ones++;
  if (ones === 0) return 0;
  return r.readWide(widths[ones - 1] as number);
}

/**
 * The samples in the decimal encoding (version 2), or null when their values are not all decimal (see
 * decimalMantissas) or there are fewer than two. Timestamps as in version 1.
 */
export function encodeDecimal(t: ArrayLike<number>, v: ArrayLike<number>): Uint8Array | null {
  if (t.length < 2 || t.length !== v.length) return null;
  if (!Number.isSafeInteger(t[0])) throw new RangeError(`chunk timestamp must be a safe integer (ms), got ${t[0]}`);
  const dec = decimalMantissas(v);
  if (dec === null) return null;
  const { k, m } = dec;
  const z0 = residuals(m, 0);
  const z1 = residuals(m, 1);
  const b0 = bestWidths(z0);
  const b1 = bestWidths(z1);
  const order: 0 | 1 = b1.bits < b0.bits ? 1 : 0;
  const z = order === 1 ? z1 : z0;
  const { widths } = order === 1 ? b1 : b0;
  const w = new BitWriter();
  w.write(k, 5);
  w.write(order, 1);
  for (const x of widths) w.write(x, 6);
  const first = zigzag(m[0] as number);
  const firstBits = bitLength(first);
  w.write(firstBits, 6);
  w.writeWide(first, firstBits);
  let prev = t[0] as number;
  let prevPrev = prev;
  for (let i = 1; i < t.length; i++) {
    const ti = t[i] as number;
    if (!Number.isSafeInteger(ti)) throw new RangeError(`chunk timestamp must be a safe integer (ms), got ${ti}`);
    writeDod(w, deltaOfDelta(ti, prev, prevPrev));
    prevPrev = prev;
    prev = ti;
    writeResidual(w, z[i - 1] as number, widths);
  }
  return chunkBytes(CHUNK_FORMAT_DECIMAL, t.length, t[0] as number, prev, w);
}

/** The value half of a version 2 decoder: m, its last delta, and the exponent. */
class DecimalReader {
  private m = 0;
  private d = 0;
  private i = 0;
  private readonly p: number;
  private readonly order: number;
  private readonly widths: number[];

  constructor(private readonly r: BitReader) {
    const k = r.read(5);
    if (k > DECIMAL_MAX_EXPONENT) throw new ChunkCorrupt('payload', `a decimal exponent of ${k}`);
    this.p = POW10[k] as number;
    this.order = r.read(1);
    this.widths = [r.read(6), r.read(6), r.read(6), r.read(6)];
    if (this.widths.some((x) => x < 1 || x > MAX_WIDTH)) throw new ChunkCorrupt('payload', `bucket widths ${this.widths.join(',')} outside 1..${MAX_WIDTH}`);
  }

  first(): number {
    const n = this.r.read(6);
    if (n > 51) throw new ChunkCorrupt('payload', `a first value of ${n} bits`);
    return this.set(unzigzag(this.r.readWide(n)));
  }

  next(): number {
    const x = unzigzag(readResidual(this.r, this.widths));
    const delta = this.order === 0 || this.i === 1 ? x : this.d + x;
    if (Math.abs(delta) > 2 * DECIMAL_MAX_MANTISSA) throw new ChunkCorrupt('payload', 'a decimal delta out of range');
    this.d = delta;
    return this.set(this.m + delta);
  }

  private set(m: number): number {
    if (!(Math.abs(m) < DECIMAL_MAX_MANTISSA)) throw new ChunkCorrupt('payload', 'a decimal value out of range');
    this.m = m;
    this.i++;
    return m / this.p;
  }
}

interface ChunkHeader {
  version: number;
  count: number;
  first: number;
  last: number;
  payload: Uint8Array;
  payloadBits: number;
}

function readSafeInt64(dv: DataView, offset: number, what: string): number {
  const x = dv.getBigInt64(offset);
  if (x > BigInt(Number.MAX_SAFE_INTEGER) || x < BigInt(Number.MIN_SAFE_INTEGER)) {
    throw new ChunkCorrupt('payload', `${what} timestamp outside the safe integer range`);
  }
  return Number(x);
}

/** Checks everything but the bit stream: version, lengths and checksum, in that order. */
function readHeader(bytes: Uint8Array): ChunkHeader {
  if (bytes.length === 0) throw new ChunkCorrupt('truncated', 'empty');
  const version = bytes[0] as number;
  if (version !== CHUNK_FORMAT_VERSION && version !== CHUNK_FORMAT_DECIMAL) throw new ChunkCorrupt('version', `format version ${version}, this build reads 1 and 2`);
  if (bytes.length < CHUNK_HEADER_BYTES + CRC_BYTES) throw new ChunkCorrupt('truncated', `${bytes.length} bytes, shorter than header and checksum`);
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const payloadBits = dv.getUint32(21);
  const payloadLength = Math.ceil(payloadBits / 8);
  const expected = CHUNK_HEADER_BYTES + payloadLength + CRC_BYTES;
  if (bytes.length < expected) throw new ChunkCorrupt('truncated', `${bytes.length} bytes, the header says ${expected}`);
  if (bytes.length > expected) throw new ChunkCorrupt('length', `${bytes.length} bytes, the header says ${expected}`);
  const covered = bytes.subarray(0, CHUNK_HEADER_BYTES + payloadLength);
  if (crc32(covered) !== dv.getUint32(CHUNK_HEADER_BYTES + payloadLength)) throw new ChunkCorrupt('checksum', 'CRC-32 mismatch');
  const count = dv.getUint32(1);
  const first = readSafeInt64(dv, 5, 'first');
  const last = readSafeInt64(dv, 13, 'last');
  if (count === 0 && (first !== 0 || last !== 0 || payloadBits !== 0)) throw new ChunkCorrupt('payload', 'an empty chunk with timestamps or bits');
  // The first sample takes 64 bits (version 2: 36 of parameters and the first value) and every later one at
  // least 2: a count the payload cannot hold is refused before anything is allocated for it.
  const firstBits = version === CHUNK_FORMAT_VERSION ? 64 : DECIMAL_PARAM_BITS;
  if (count > 0 && (count - 1) * 2 + firstBits > payloadBits) throw new ChunkCorrupt('payload', `${count} samples cannot fit in ${payloadBits} bits`);
  return { version, count, first, last, payload: bytes.subarray(CHUNK_HEADER_BYTES, CHUNK_HEADER_BYTES + payloadLength), payloadBits };
}

/** Decodes a whole chunk or throws ChunkCorrupt; never returns part of one or values it cannot vouch for. */
export function decodeChunk(bytes: Uint8Array): Sample[] {
  const { t, v } = decodeChunkColumns(bytes);
  const out: Sample[] = new Array<Sample>(t.length);
  for (let i = 0; i < t.length; i++) out[i] = { t: t[i] as number, v: v[i] as number };
  return out;
}

/** A decoded chunk as two columns: timestamps (ms, safe integers) and values, in stored order. */
export interface ChunkColumns {
  t: Float64Array;
  v: Float64Array;
}

/**
 * Decodes a whole chunk into two typed columns (no object per sample) or throws ChunkCorrupt; the same
 * checks as decodeChunk, which is built on it.
 */
export function decodeChunkColumns(bytes: Uint8Array): ChunkColumns {
  const h = readHeader(bytes);
  const ts = new Float64Array(h.count);
  const vs = new Float64Array(h.count);
  if (h.count === 0) return { t: ts, v: vs };
  const r = new BitReader(h.payload, h.payloadBits);
  const value = h.version === CHUNK_FORMAT_VERSION ? new XorReader(r) : new DecimalReader(r);
  let prev = h.first;
  let prevPrev = h.first;
  ts[0] = h.first;
  vs[0] = value.first();
  for (let i = 1; i < h.count; i++) {
    const t = undoDeltaOfDelta(readDod(r), prev, prevPrev);
    prevPrev = prev;
    prev = t;
    ts[i] = t;
    vs[i] = value.next();
  }
  r.checkEnd();
  if (prev !== h.last) throw new ChunkCorrupt('payload', `the last timestamp is ${prev}, the header says ${h.last}`);
  return { t: ts, v: vs };
}

/** The value half of the decoder: the previous bit pattern and XOR window. */
class XorReader {
  private hi = 0;
  private lo = 0;
  private window: XorWindow | null = null;

  constructor(private readonly r: BitReader) {}

  first(): number {
    this.hi = this.r.read(32);
    this.lo = this.r.read(32);
    return this.value();
  }

  next(): number {
    if (this.r.read(1) === 0) return this.value();
    let win = this.window;
    if (this.r.read(1) === 1) {
      const leading = this.r.read(5);
      const meaningful = this.r.read(6) || 64;
      if (leading + meaningful > 64) throw new ChunkCorrupt('payload', 'an XOR window wider than 64 bits');
      win = this.window = { leading, meaningful };
    } else if (win === null) {
      throw new ChunkCorrupt('payload', 'a reused XOR window before any was set');
    }
    this.xorMeaningful(win);
    return this.value();
  }

  private xorMeaningful(win: XorWindow): void {
    const trailing = 64 - win.leading - win.meaningful;
    if (trailing >= 32) {
      this.hi = (this.hi ^ (this.r.read(win.meaningful) << (trailing - 32))) >>> 0;
      return;
    }
    const loBits = 32 - trailing;
    const hiBits = win.meaningful - loBits;
    if (hiBits > 0) this.hi = (this.hi ^ this.r.read(hiBits)) >>> 0;
    const loPart = this.r.read(hiBits >= 0 ? loBits : win.meaningful);
    this.lo = (this.lo ^ (trailing === 0 ? loPart : loPart << trailing)) >>> 0;
  }

  private value(): number {
    scratch.setUint32(0, this.hi);
    scratch.setUint32(4, this.lo);
    return scratch.getFloat64(0);
  }
}
