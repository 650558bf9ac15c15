import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { type Fraction, numeralAtLeast, numeralBelow } from './decimal-range.js';

/** num/den compared with a numeral exactly, in BigInt arithmetic. */
function compare(text: string, f: Fraction): number {
  const [int = '0', frac = ''] = text.split('.');
  const scale = 10n ** BigInt(frac.length);
  const left = BigInt(int + frac) * f.den;
  const right = f.num * scale;
  return left < right ? -1 : left > right ? 1 : 0;
}

const numeral = fc.tuple(fc.stringMatching(/^0{0,2}\d{1,6}$/), fc.option(fc.stringMatching(/^\d{1,7}$/))).map(([i, f]) => (f === null ? i : `${i}.${f}`));
const fraction = fc.tuple(fc.bigInt({ min: 0n, max: 10n ** 7n }), fc.constantFrom(1n, 2n, 3n, 7n, 1000n, 60000n, 3600000n, 86400000n, 1024n ** 3n)).map(([num, den]) => ({ num, den }));

describe('numeral range patterns', () => {
  it('match exactly the numerals at least, and below, a fraction', () => {
    fc.assert(
      fc.property(numeral, fraction, (n, f) => {
        expect(new RegExp(`^${numeralAtLeast(f)}$`).test(n), `${n} >= ${f.num}/${f.den}`).toBe(compare(n, f) >= 0);
        expect(new RegExp(`^${numeralBelow(f)}$`).test(n), `${n} < ${f.num}/${f.den}`).toBe(compare(n, f) < 0);
      }),
      { numRuns: 3000 },
    );
  });

  it('handle bounds near the numeral', () => {
    const third = { num: 1n, den: 3n };
    expect(new RegExp(`^${numeralAtLeast(third)}$`).test('0.3334')).toBe(true);
    expect(new RegExp(`^${numeralAtLeast(third)}$`).test('0.3333333')).toBe(false);
    expect(new RegExp(`^${numeralBelow(third)}$`).test('0.33333')).toBe(true);
    expect(new RegExp(`^${numeralBelow({ num: 5n, den: 10n })}$`).test('0.50')).toBe(false);
    expect(new RegExp(`^${numeralAtLeast({ num: 5n, den: 10n })}$`).test('0.500')).toBe(true);
  });
});
