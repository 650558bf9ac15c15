import { describe, expect, it } from 'vitest';
import { AuthThrottle } from './auth-throttle.js';

function throttle(burst: number): { t: AuthThrottle; advance(ms: number): void; summaries: [string, number][] } {
  let mono = 0;
  const summaries: [string, number][] = [];
  const t = new AuthThrottle({ burst, clock: { monoMs: () => mono }, onSummary: (s, n) => summaries.push([s, n]) });
  return { t, advance: (ms) => (mono += ms), summaries };
}

describe('AuthThrottle', () => {
  it('answers a burst of failures, then one a second; refusals are summed per socket, once per summary', () => {
    const { t, advance, summaries } = throttle(5);
    for (let i = 0; i < 5; i++) {
      expect(t.admit('token')).toBe(true);
      t.failed('token');
    }
    for (let i = 0; i < 100; i++) expect(t.admit('token')).toBe(false);
    // Another socket's peers are not held back by this one's guesser.
    expect(t.admit('admin')).toBe(true);
    advance(1_000);
    expect(t.admit('token')).toBe(true);
    t.failed('token');
    expect(t.admit('token')).toBe(false);
    t.summarise();
    t.summarise();
    expect(summaries).toEqual([['token', 101]]);
  });

  it('successes cost nothing, and the allowance comes back to the burst and no further', () => {
    const { t, advance } = throttle(3);
    for (let i = 0; i < 1000; i++) expect(t.admit('viewer')).toBe(true);
    t.failed('viewer');
    advance(3_600_000);
    let admitted = 0;
    while (t.admit('viewer') && admitted < 10) {
      t.failed('viewer');
      admitted++;
    }
    expect(admitted).toBe(3);
  });
});
