import { describe, expect, it } from 'vitest';
import { HeapKeeperPolicy } from './heap-keeper.js';

const MiB = 1024 * 1024;
const cfg = { min_interval_ms: 30_000, growth_bytes: 8 * MiB, growth_ratio: 1.5, busy_elu: 0.5 };
const quiet = 0.02;

describe('HeapKeeperPolicy', () => {
  it('waits while the heap is within the growth over the size after the last full GC, and forces once past it when quiet', () => {
    const p = new HeapKeeperPolicy(cfg);
    expect(p.observe({ monoMs: 0, usedBytes: 16 * MiB, elu: quiet })).toEqual({ action: 'wait', why: 'small' });
    // 16 MiB baseline: threshold max(8 MiB, 16 × 0.5) = 8 MiB
    expect(p.observe({ monoMs: 5_000, usedBytes: 23.9 * MiB, elu: quiet })).toEqual({ action: 'wait', why: 'small' });
    expect(p.observe({ monoMs: 10_000, usedBytes: 24 * MiB, elu: quiet })).toEqual({ action: 'force', baselineBytes: 16 * MiB, excessBytes: 8 * MiB });
  });

  it('uses the ratio when it asks for more than the absolute growth', () => {
    const p = new HeapKeeperPolicy(cfg);
    p.observe({ monoMs: 0, usedBytes: 40 * MiB, elu: quiet });
    expect(p.threshold(40 * MiB)).toBe(20 * MiB);
    expect(p.observe({ monoMs: 1, usedBytes: 59 * MiB, elu: quiet })).toEqual({ action: 'wait', why: 'small' });
    expect(p.observe({ monoMs: 2, usedBytes: 60 * MiB, elu: quiet }).action).toBe('force');
  });

  it('never forces while the event loop is busy, however far the heap has grown', () => {
    const p = new HeapKeeperPolicy(cfg);
    p.observe({ monoMs: 0, usedBytes: 16 * MiB, elu: quiet });
    expect(p.observe({ monoMs: 5_000, usedBytes: 200 * MiB, elu: 0.51 })).toEqual({ action: 'wait', why: 'busy' });
    expect(p.observe({ monoMs: 10_000, usedBytes: 200 * MiB, elu: 0.5 }).action).toBe('force');
  });

  it('holds the rate limit after a forced GC, and the heap after it is the new baseline', () => {
    const p = new HeapKeeperPolicy(cfg);
    p.observe({ monoMs: 0, usedBytes: 16 * MiB, elu: quiet });
    expect(p.observe({ monoMs: 5_000, usedBytes: 40 * MiB, elu: quiet }).action).toBe('force');
    p.forced(5_000, 40 * MiB, 17 * MiB);
    expect(p.observe({ monoMs: 10_000, usedBytes: 80 * MiB, elu: quiet })).toEqual({ action: 'wait', why: 'rate-limit' });
    expect(p.observe({ monoMs: 34_999, usedBytes: 80 * MiB, elu: quiet })).toEqual({ action: 'wait', why: 'rate-limit' });
    expect(p.observe({ monoMs: 35_000, usedBytes: 80 * MiB, elu: quiet })).toEqual({ action: 'force', baselineBytes: 17 * MiB, excessBytes: 63 * MiB });
  });

  it("follows V8's own full GCs down: a lower reading is the new baseline", () => {
    const p = new HeapKeeperPolicy(cfg);
    p.observe({ monoMs: 0, usedBytes: 30 * MiB, elu: quiet });
    p.observe({ monoMs: 5_000, usedBytes: 15 * MiB, elu: quiet });
    expect(p.observe({ monoMs: 10_000, usedBytes: 22.9 * MiB, elu: quiet })).toEqual({ action: 'wait', why: 'small' });
    expect(p.observe({ monoMs: 15_000, usedBytes: 23.5 * MiB, elu: quiet })).toEqual({ action: 'force', baselineBytes: 15 * MiB, excessBytes: 8.5 * MiB });
  });

  it('doubles the interval (up to 16 ×) while forced GCs free little, and resets it after one that frees much', () => {
    const p = new HeapKeeperPolicy(cfg);
    const intervals: number[] = [];
    for (let i = 0; i < 6; i++) {
      // the growth was live: the GC freed 1 MiB of 9
      p.forced(i * 1_000_000, 25 * MiB + i * 9 * MiB, 24 * MiB + i * 9 * MiB);
      intervals.push(p.intervalMs());
    }
    expect(intervals).toEqual([60_000, 120_000, 240_000, 480_000, 480_000, 480_000]);
    p.forced(10_000_000, 120 * MiB, 40 * MiB);
    expect(p.intervalMs()).toBe(30_000);
  });
});
