import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { TokenBucket } from './index.js';

describe('TokenBucket', () => {
  it('allows the burst, then the rate on the monotonic clock', () => {
    const b = new TokenBucket({ capacity: 20, refillPerSec: 10, nowMs: 0 });
    let ok = 0;
    for (let i = 0; i < 100; i++) if (b.take(0)) ok++;
    expect(ok).toBe(20);
    expect(b.take(50)).toBe(false);
    expect(b.take(100)).toBe(true);
    expect(b.waitMs(100, 5)).toBe(500);
  });

  it('takes n tokens at once or none of them', () => {
    const b = new TokenBucket({ capacity: 10, refillPerSec: 1, nowMs: 0 });
    expect(b.take(0, 7)).toBe(true);
    expect(b.take(0, 4)).toBe(false);
    expect(b.available(0)).toBe(3);
    expect(b.take(0, 3)).toBe(true);
    expect(b.available(0)).toBe(0);
  });

  it('says how long to wait: 0 when the tokens are there, Infinity when they never will be', () => {
    const b = new TokenBucket({ capacity: 4, refillPerSec: 2, nowMs: 1_000 });
    expect(b.waitMs(1_000, 4)).toBe(0);
    expect(b.take(1_000, 4)).toBe(true);
    expect(b.waitMs(1_000, 1)).toBe(500);
    expect(b.waitMs(1_250, 1)).toBe(250);
    expect(b.waitMs(1_250, 5)).toBe(Number.POSITIVE_INFINITY);
    const stopped = new TokenBucket({ capacity: 4, refillPerSec: 0, nowMs: 0 });
    stopped.take(0, 4);
    expect(stopped.waitMs(10_000, 1)).toBe(Number.POSITIVE_INFINITY);
  });

  it('refills no further than its capacity', () => {
    const b = new TokenBucket({ capacity: 3, refillPerSec: 100, nowMs: 0 });
    b.take(0, 3);
    expect(b.available(3_600_000)).toBe(3);
  });

  it('adds nothing when time goes back, and refills from the latest time it saw', () => {
    const b = new TokenBucket({ capacity: 10, refillPerSec: 1, nowMs: 10_000 });
    b.take(10_000, 10);
    expect(b.available(5_000)).toBe(0);
    expect(b.take(9_000)).toBe(false);
    // 1 s after the latest reading, not 1 s after the stale one.
    expect(b.available(11_000)).toBe(1);
  });

  it('keeps its saved tokens through new limits, up to the new capacity', () => {
    const b = new TokenBucket({ capacity: 10, refillPerSec: 1, nowMs: 0 });
    b.take(0, 4);
    b.reconfigure(0, { capacity: 20, refillPerSec: 5 });
    expect(b.capacity).toBe(20);
    expect(b.refillPerSec).toBe(5);
    expect(b.available(0)).toBe(6);
    expect(b.available(1_000)).toBe(11);
    b.reconfigure(1_000, { capacity: 2, refillPerSec: 5 });
    expect(b.available(1_000)).toBe(2);
  });

  it('property: over any window W it admits at most capacity + rate × W', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.double({ min: 0.01, max: 1_000, noNaN: true }),
        fc.array(fc.record({ dt: fc.integer({ min: -2_000, max: 5_000 }), n: fc.integer({ min: 1, max: 3 }), reads: fc.boolean() }), { maxLength: 300 }),
        (capacity, refillPerSec, calls) => {
          let t = 1_000_000;
          let latest = t;
          const b = new TokenBucket({ capacity, refillPerSec, nowMs: t });
          const admitted: { t: number; n: number }[] = [];
          for (const c of calls) {
            // Time may be read stale (behind the latest reading); the window is measured on the latest time seen.
            t += c.dt;
            latest = Math.max(latest, t);
            if (c.reads) b.available(t);
            if (b.take(t, c.n)) admitted.push({ t: latest, n: c.n });
          }
          for (let i = 0; i < admitted.length; i++) {
            let sum = 0;
            for (let j = i; j < admitted.length; j++) {
              sum += (admitted[j] as { n: number }).n;
              const w = (admitted[j] as { t: number }).t - (admitted[i] as { t: number }).t;
              expect(sum).toBeLessThanOrEqual(capacity + (refillPerSec * w) / 1000 + 1e-6);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });
});
