/**
 * Regular expressions for decimal numerals (`\d+(\.\d+)?`, leading zeros allowed) whose value lies in a range
 * with rational bounds, so a JSON Schema pattern can state a duration's or a size's least and most value in
 * each unit. Bounds are exact fractions (BigInt numerator and denominator); a bound that is not a finite
 * decimal (a third of a minute) is compared through its repeating expansion.
 */

export interface Fraction {
  readonly num: bigint;
  readonly den: bigint;
}

const higher = (d: number): string | undefined => (d < 9 ? `[${d + 1}-9]` : undefined);
const lower = (d: number, least = 0): string | undefined => (d - 1 >= least ? `[${least}-${d - 1}]` : undefined);

/** The decimal expansion of num/den in [0, 1): the digits before the period and the period ('' when finite). */
function expansion(num: bigint, den: bigint): { pre: number[]; period: number[] } {
  const digits: number[] = [];
  const seen = new Map<bigint, number>();
  let r = num;
  while (r !== 0n && !seen.has(r)) {
    seen.set(r, digits.length);
    r *= 10n;
    digits.push(Number(r / den));
    r %= den;
  }
  if (r === 0n) return { pre: digits, period: [] };
  const start = seen.get(r) as number;
  return { pre: digits.slice(0, start), period: digits.slice(start) };
}

const lit = (ds: readonly number[]): string => ds.join('');
const alt = (parts: readonly string[]): string => (parts.length ? `(?:${parts.join('|')})` : '(?!)');

/** Canonical integers (no leading zero) above D. */
function intAbove(D: string): string[] {
  const L = D.length;
  const out = [`[1-9]\\d{${L},}`];
  for (let i = 0; i < L; i++) {
    const h = higher(Number(D[i]));
    if (h) out.push(`${D.slice(0, i)}${h}\\d{${L - i - 1}}`);
  }
  return out;
}

/** Canonical integers below D (D > 0), not counting 0. */
function intBelow(D: string): string[] {
  const L = D.length;
  const out = L >= 2 ? [`[1-9]\\d{0,${L - 2}}`] : [];
  for (let i = 0; i < L; i++) {
    const l = lower(Number(D[i]), i === 0 ? 1 : 0);
    if (l) out.push(`${D.slice(0, i)}${l}\\d{${L - i - 1}}`);
  }
  return out;
}

const intEqual = (n: bigint): string => (n === 0n ? '0+' : `0*${n}`);
const FRACTION = '(?:\\.\\d+)?';

/** Fraction digits F (one or more) with 0.F >= num/den, 0 < num/den < 1. */
function fractionAtLeast(num: bigint, den: bigint): string {
  const { pre, period } = expansion(num, den);
  const out: string[] = [];
  pre.forEach((d, i) => {
    const h = higher(d);
    if (h) out.push(`${lit(pre.slice(0, i))}${h}\\d*`);
  });
  if (period.length === 0) out.push(`${lit(pre)}\\d*`);
  period.forEach((d, j) => {
    const h = higher(d);
    if (h) out.push(`${lit(pre)}(?:${lit(period)})*${lit(period.slice(0, j))}${h}\\d*`);
  });
  return alt(out);
}

/** Fraction digits F (one or more) with 0.F < num/den, 0 < num/den < 1. */
function fractionBelow(num: bigint, den: bigint): string {
  const { pre, period } = expansion(num, den);
  const out: string[] = [];
  const branch = (prefix: string, d: number, nonEmpty: boolean): void => {
    const l = lower(d);
    if (l) out.push(`${prefix}${l}\\d*`);
    if (nonEmpty) out.push(prefix);
  };
  pre.forEach((d, i) => branch(lit(pre.slice(0, i)), d, i > 0));
  period.forEach((d, j) => branch(`${lit(pre)}(?:${lit(period)})*${lit(period.slice(0, j))}`, d, pre.length + j > 0));
  // F may also stop after whole periods when nothing precedes them (0.3, 0.33 below one third).
  if (period.length > 0 && pre.length === 0) out.push(`(?:${lit(period)})+`);
  return alt(out);
}

/** Numerals with a value at least `f` (f >= 0). */
export function numeralAtLeast(f: Fraction): string {
  if (f.num <= 0n) return `\\d+${FRACTION}`;
  const a = f.num / f.den;
  const r = f.num % f.den;
  const equal = r === 0n ? `${intEqual(a)}${FRACTION}` : `${intEqual(a)}\\.${fractionAtLeast(r, f.den)}`;
  return alt([`0*${alt(intAbove(a.toString()))}${FRACTION}`, equal]);
}

/** Numerals with a value below `f`. */
export function numeralBelow(f: Fraction): string {
  if (f.num <= 0n) return '(?!)';
  const b = f.num / f.den;
  const s = f.num % f.den;
  const out = b > 0n ? [`(?:0+|0*${alt(intBelow(b.toString()))})${FRACTION}`] : [];
  if (s !== 0n) out.push(`${intEqual(b)}(?:\\.${fractionBelow(s, f.den)})?`);
  return alt(out);
}
