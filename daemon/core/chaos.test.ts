import { describe, expect, it } from 'vitest';
import { Chaos, NO_CHAOS, type ChaosSpec, parseChaosEnv } from './chaos.js';
import { WaveosError } from './errors.js';

function pattern(spec: ChaosSpec, point: 'spool.write' | 'collector', n: number): string {
  const c = new Chaos(spec);
  let out = '';
  for (let i = 0; i < n; i++) {
    try {
      c.check(point);
      out += '.';
    } catch {
      out += 'x';
    }
  }
  return out;
}

describe('chaos', () => {
  it('parses WAVEOS_CHAOS: seed, points, rates, errno effects and stalls', () => {
    const s = parseChaosEnv('seed=7; spool.write=0.05:ENOSPC;collector=0.2;artifacts.write=0.1:50ms;uplink=1');
    expect(s.seed).toBe(7);
    expect(s.origin).toBe('env');
    expect(s.rules).toEqual([
      { point: 'spool.write', rate: 0.05, effect: 'ENOSPC', delay_ms: 100 },
      { point: 'collector', rate: 0.2, effect: 'fail', delay_ms: 100 },
      { point: 'artifacts.write', rate: 0.1, effect: 'slow', delay_ms: 50 },
      { point: 'uplink', rate: 1, effect: 'fail', delay_ms: 100 },
    ]);
  });

  it.each([
    ['nope=0.1', /unknown point "nope"/],
    ['spool.write=2', /rate "2" is not a number from 0 to 1/],
    ['spool.write', /expected POINT=RATE/],
    ['collector=0.1:ENOSPC', /applies to disk points only/],
    ['spool.write=0.1:fail', /fails with EIO or ENOSPC/],
    ['spool.write=0.1:sideways', /effect "sideways"/],
    ['seed=-1', /seed "-1"/],
  ])('refuses %s with a located config error', (text, why) => {
    let err: unknown;
    try {
      parseChaosEnv(text);
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(WaveosError);
    expect((err as WaveosError).code).toBe('WAVEOS_E_CONFIG_INVALID');
    expect((err as Error).message).toMatch(why);
  });

  it('is deterministic: the same seed gives the same injections, another seed others', () => {
    const spec = (seed: number): ChaosSpec => ({ seed, origin: 'config', rules: [{ point: 'spool.write', rate: 0.3, effect: 'EIO', delay_ms: 1 }] });
    const a = pattern(spec(42), 'spool.write', 200);
    expect(pattern(spec(42), 'spool.write', 200)).toBe(a);
    expect(pattern(spec(43), 'spool.write', 200)).not.toBe(a);
    // About the configured rate.
    const hits = [...a].filter((c) => c === 'x').length;
    expect(hits).toBeGreaterThan(30);
    expect(hits).toBeLessThan(95);
  });

  it('one point drawing does not shift another point sequence', () => {
    const rules = [
      { point: 'spool.write', rate: 0.3, effect: 'EIO', delay_ms: 1 },
      { point: 'collector', rate: 0.3, effect: 'fail', delay_ms: 1 },
    ] as const;
    const alone = pattern({ seed: 5, origin: 'env', rules: [rules[1]] }, 'collector', 100);
    const c = new Chaos({ seed: 5, origin: 'env', rules: [...rules] });
    let mixed = '';
    for (let i = 0; i < 100; i++) {
      try {
        c.check('spool.write');
      } catch {
        // drawn and counted
      }
      try {
        c.check('collector');
        mixed += '.';
      } catch {
        mixed += 'x';
      }
    }
    expect(mixed).toBe(alone);
  });

  it('throws errno-shaped errors, counts checks and injections, and stalls for slow', async () => {
    const c = new Chaos({
      seed: 1,
      origin: 'config',
      rules: [
        { point: 'journal.commit', rate: 1, effect: 'ENOSPC', delay_ms: 1 },
        { point: 'uplink', rate: 1, effect: 'fail', delay_ms: 1 },
        { point: 'collector', rate: 1, effect: 'slow', delay_ms: 30 },
      ],
    });
    expect(() => c.check('journal.commit')).toThrow(expect.objectContaining({ code: 'ENOSPC', errno: -28, chaos: true }));
    await expect(c.checkAsync('uplink')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    const t0 = performance.now();
    c.check('collector');
    expect(performance.now() - t0).toBeGreaterThanOrEqual(25);
    expect(c.draws('collector')).toEqual({ delayMs: 30 });
    // A point with no rule is free and not counted.
    c.check('spool.write');
    const st = c.stats();
    expect(st.injected).toEqual({ 'journal.commit:ENOSPC': 1, 'uplink:fail': 1, 'collector:slow': 2 });
    expect(st.checks).toEqual({ 'journal.commit': 1, uplink: 1, collector: 2 });
    expect(st.enabled).toBe(true);
  });

  it('is inert without a spec', async () => {
    for (let i = 0; i < 100; i++) NO_CHAOS.check('journal.commit');
    await NO_CHAOS.checkAsync('uplink');
    expect(NO_CHAOS.enabled).toBe(false);
    expect(NO_CHAOS.stats().injected).toEqual({});
  });
});
