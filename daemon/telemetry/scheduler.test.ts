import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/index.js';
import type { EventInput } from '../journal/index.js';
import { CollectorScheduler, TickStamper } from './scheduler.js';

function setup() {
  const clock = new FakeClock();
  const events: EventInput[] = [];
  const runs: string[] = [];
  const s = new CollectorScheduler({ clock, emit: (e) => events.push(e), maxBackoffMs: 8_000, onRun: (name, ok) => runs.push(`${name}:${ok ? 'ok' : 'fail'}`) });
  return { clock, events, runs, s };
}

describe('CollectorScheduler', () => {
  it('a collector that throws does not stop the others; it is reported once, backed off, and reported again when it recovers', async () => {
    const { clock, events, s } = setup();
    let good = 0;
    let broken = true;
    let badAttempts = 0;
    s.add({ name: 'good', intervalMs: 1_000, timeoutMs: 500, collect: () => void good++ });
    s.add({
      name: 'bad',
      intervalMs: 1_000,
      timeoutMs: 500,
      collect: () => {
        badAttempts++;
        if (broken) throw new Error('ENOENT: /proc/nothing');
      },
    });
    for (let i = 0; i < 20; i++) {
      await s.runDue();
      clock.advance(1_000);
    }
    expect(good).toBe(20);
    const failed = events.filter((e) => e.kind === 'telemetry.collector_failed');
    expect(failed).toHaveLength(1);
    expect(failed[0]?.data).toMatchObject({ collector: 'bad', error: 'ENOENT: /proc/nothing' });
    // Backoff 2 s, 4 s, 8 s, 8 s … over 20 s: far fewer attempts than ticks.
    expect(badAttempts).toBeGreaterThanOrEqual(3);
    expect(badAttempts).toBeLessThanOrEqual(6);
    expect(s.status().find((x) => x.name === 'bad')).toMatchObject({ ok: false, errors_total: badAttempts });
    expect(s.failingCount()).toBe(1);

    const failedAttempts = badAttempts;
    broken = false;
    for (let i = 0; i < 10; i++) {
      await s.runDue();
      clock.advance(1_000);
    }
    const recovered = events.filter((e) => e.kind === 'telemetry.collector_recovered');
    expect(recovered).toHaveLength(1);
    expect(recovered[0]?.data).toMatchObject({ collector: 'bad', failed_attempts: failedAttempts });
    expect(s.failingCount()).toBe(0);
    expect(good).toBe(30);
  });

  it('a collector that hangs times out, does not hold up the others, and does not pile up runs', async () => {
    const { clock, events, s } = setup();
    let good = 0;
    let started = 0;
    let release: () => void = () => undefined;
    s.add({ name: 'good', intervalMs: 1_000, timeoutMs: 20, collect: () => void good++ });
    s.add({
      name: 'hang',
      intervalMs: 1_000,
      timeoutMs: 20,
      collect: () => {
        started++;
        return new Promise<void>((r) => (release = r));
      },
    });
    for (let i = 0; i < 12; i++) {
      await s.runDue();
      clock.advance(1_000);
    }
    expect(good).toBe(12);
    expect(started).toBe(1);
    expect(events.filter((e) => e.kind === 'telemetry.collector_failed')).toHaveLength(1);
    expect(String(events[0]?.reason)).toMatch(/did not finish within 20 ms/);
    release();
    await new Promise((r) => setImmediate(r));
    // After the hung run settles, the next attempt runs for real; this one finishes in time.
    let ran = false;
    for (let i = 0; i < 12 && !ran; i++) {
      const before = started;
      const p = s.runDue();
      if (started > before) {
        release();
        ran = true;
      }
      await p;
      clock.advance(1_000);
    }
    expect(ran).toBe(true);
    expect(events.filter((e) => e.kind === 'telemetry.collector_recovered')).toHaveLength(1);
  });

  it('a synchronous collector that overruns its limit counts as failed', async () => {
    const { clock, events, s } = setup();
    s.add({ name: 'slow', intervalMs: 1_000, timeoutMs: 50, collect: () => clock.advance(200) });
    await s.runDue();
    expect(events[0]).toMatchObject({ kind: 'telemetry.collector_failed', data: { collector: 'slow' } });
    expect(String(events[0]?.reason)).toMatch(/took 200 ms/);
  });

  it('keeps each collector on its own interval', async () => {
    const { clock, runs, s } = setup();
    s.add({ name: 'fast', intervalMs: 1_000, timeoutMs: 100, collect: () => undefined });
    s.add({ name: 'slow', intervalMs: 5_000, timeoutMs: 100, collect: () => undefined });
    expect(s.tickMs()).toBe(1_000);
    for (let i = 0; i < 10; i++) {
      await s.runDue();
      clock.advance(1_000);
    }
    expect(runs.filter((r) => r === 'fast:ok')).toHaveLength(10);
    expect(runs.filter((r) => r === 'slow:ok')).toHaveLength(2);
  });
});

describe('TickStamper', () => {
  const I = 1_000;

  it('stamps a sample taken within the tolerance of its tick with the tick, any other with its own time', () => {
    const st = new TickStamper(50);
    const tick = st.begin(5_000, 1_700_000_005_003, 5_003);
    expect(tick).toBe(1_700_000_005_000);
    expect(st.stamp(1_700_000_005_049, tick)).toBe(tick);
    expect(st.stamp(1_700_000_004_950, tick)).toBe(tick);
    expect(st.stamp(1_700_000_005_051, tick)).toBe(1_700_000_005_051);
    st.end(1_700_000_005_060);
    // tolerance 0: every sample keeps its own time
    const off = new TickStamper(0);
    expect(off.stamp(1_700_000_005_000, off.begin(5_000, 1_700_000_005_000, 5_000))).toBe(1_700_000_005_000);
  });

  it('keeps the offset of wall to monotonic time until the wall clock steps by more than the tolerance', () => {
    const st = new TickStamper(50);
    const wall0 = 1_700_000_000_000;
    const at = (k: number, step: number, late: number) => {
      const tick = st.begin(k * I, wall0 + k * I + step + late, k * I + late);
      const s = st.stamp(wall0 + k * I + step + late + 2, tick);
      st.end(wall0 + k * I + step + late + 5);
      return s;
    };
    expect(at(1, 0, 3)).toBe(wall0 + 1_000);
    // A step of 30 ms (within the tolerance): the grid stays, the stamps within 50 ms of the samples.
    expect(at(2, 30, 3)).toBe(wall0 + 2_000);
    // A step back of 10 s: the offset is taken anew, the stamps follow the new clock (and go back), on its grid.
    expect(at(3, -10_000, 3)).toBe(wall0 + 3_000 - 10_000);
    expect(at(4, -10_000, 7)).toBe(wall0 + 4_000 - 10_000);
  });

  it('stamps nothing in a pass that begins after the pass before ended past its tick', () => {
    const st = new TickStamper(50);
    const wall0 = 1_700_000_000_000;
    const t1 = st.begin(1_000, wall0 + 1_000, 1_000);
    expect(st.stamp(wall0 + 1_020, t1)).toBe(wall0 + 1_000);
    // a sample of the pass late in it, past the next tick; the pass ends there
    expect(st.stamp(wall0 + 2_030, t1)).toBe(wall0 + 2_030);
    st.end(wall0 + 2_031);
    const t2 = st.begin(2_000, wall0 + 2_032, 2_032);
    expect(t2).toBeNaN();
    expect(st.stamp(wall0 + 2_040, t2)).toBe(wall0 + 2_040);
  });

  it('never moves a stamp further than the tolerance from its sample, nor before the pass before unless the clock stepped back (property)', () => {
    const pass = fc.record({
      skip: fc.integer({ min: 0, max: 2 }), // ticks between this pass and the one before
      early: fc.integer({ min: 0, max: 5 }), // a timer fires up to a few ms early
      late: fc.oneof(fc.integer({ min: 0, max: 40 }), fc.integer({ min: 0, max: 1_500 })),
      takes: fc.array(fc.integer({ min: 0, max: 120 }), { minLength: 1, maxLength: 4 }), // offsets of samples in the pass
      step: fc.oneof({ weight: 4, arbitrary: fc.constant(0) }, { weight: 1, arbitrary: fc.integer({ min: -20_000, max: 20_000 }) }),
    });
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 400 }), fc.array(pass, { maxLength: 40 }), (tol, passes) => {
        const st = new TickStamper(tol);
        let mono = 10_000;
        let offset = 1_700_000_000_000;
        let due = mono;
        let lastStamp = -Infinity;
        for (const p of passes) {
          due += (1 + p.skip) * I;
          offset += p.step;
          const begin = Math.max(mono, due - p.early + (p.late > 40 ? p.late : 0));
          const tick = st.begin(due, begin + offset, begin);
          let m = begin;
          let maxStamp = -Infinity;
          for (const d of p.takes) {
            m += d;
            const actual = m + offset;
            const s = st.stamp(actual, tick);
            expect(Math.abs(s - actual)).toBeLessThanOrEqual(tol);
            if (p.step >= 0) expect(s).toBeGreaterThanOrEqual(lastStamp);
            maxStamp = Math.max(maxStamp, s);
          }
          mono = m + 1;
          st.end(mono + offset);
          lastStamp = maxStamp;
        }
      }),
      { numRuns: 500 },
    );
  });
});
