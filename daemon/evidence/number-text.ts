/**
 * A number's text, String(v) exactly, written as bytes without making a string when it can. String() puts
 * every string it makes into V8's number-string cache, an old-space table: millions of metric values then
 * survive young collections through it, are promoted, and wait as garbage for a full GC (about 90 MiB of
 * them for a day of 50 series). Values with few decimals (most metrics) are written digit by digit here;
 * the rest go through JSON.stringify, which gives the same text for finite numbers and bypasses the cache.
 */

/** Powers of ten, exact as doubles up to 1e22. */
const POW10 = Array.from({ length: 18 }, (_, d) => 10 ** d);
/**
 * Below this the candidate integer m (v times 10^d) is unique: the doubles around v are closer together
 * than a quarter of 10^-d, so at most one d-decimal number rounds to v and Math.round finds it.
 */
const EXACT_LIMIT = 2 ** 50;
/** Shortest round-trip text has this many decimals at most for the values the fast path takes. */
const MAX_DECIMALS = 17;

/** Writes String(v) as ASCII bytes at `at`; returns the offset past them. The caller leaves 32 bytes of room. */
export function numberInto(v: number, into: Uint8Array, at: number): number {
  const a = Math.abs(v);
  // Plain decimal notation without exponent: String() uses it for 1e-6 <= |v| < 1e21 (and 0).
  if (a === 0) {
    into[at] = 0x30; // "0", also for -0
    return at + 1;
  }
  if (a >= 1e-6 && a < EXACT_LIMIT) {
    for (let d = 0; d <= MAX_DECIMALS; d++) {
      const x = a * (POW10[d] as number);
      if (x >= EXACT_LIMIT) break;
      const m = Math.round(x);
      // The fewest decimals whose number rounds back to v: the shortest text, which String() gives.
      if (m / (POW10[d] as number) === a) {
        if (v < 0) into[at++] = 0x2d;
        return decimalInto(m, d, into, at);
      }
    }
  }
  return asciiInto(Number.isFinite(v) ? JSON.stringify(v) : String(v), into, at);
}

/** m / 10^d in plain notation: "123.45", "0.00012", "42". */
function decimalInto(m: number, d: number, into: Uint8Array, at: number): number {
  // Digits of m, least significant first, into the end of the room, then moved to their place.
  let digits = 0;
  const scratch = DIGITS;
  for (let r = m; r > 0 || digits <= d; r = Math.floor(r / 10)) scratch[digits++] = 0x30 + (r % 10);
  // digits > d: at least one digit before the point.
  for (let i = digits - 1; i >= d; i--) into[at++] = scratch[i] as number;
  if (d > 0) {
    into[at++] = 0x2e;
    for (let i = d - 1; i >= 0; i--) into[at++] = scratch[i] as number;
  }
  return at;
}

const DIGITS = new Uint8Array(32);

/** Writes an ASCII string's characters as bytes at `at`; returns the offset past them. */
export function asciiInto(s: string, into: Uint8Array, at: number): number {
  for (let j = 0; j < s.length; j++) into[at++] = s.charCodeAt(j);
  return at;
}
