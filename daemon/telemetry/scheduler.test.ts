import { describe, expect, it } from 'vitest';
import { FakeClock } from '../core/index.js';
import type { EventInput } from '../journal/index.js';
import { CollectorScheduler } from './scheduler.js';

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
