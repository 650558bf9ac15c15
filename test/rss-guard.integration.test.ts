import { afterEach, describe, expect, it } from 'vitest';
import { RssCeiling } from '../daemon/recovery/rss-guard.js';
import { DaemonProcess, removeRoot, tempRoot } from './helpers/daemon.js';
import { events, writeConfig } from './helpers/services.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) removeRoot(r);
});

describe('RSS creep guard', () => {
  it('trips only once RSS has stayed above the ceiling at every reading for the configured time', () => {
    const c = new RssCeiling({ ceiling_bytes: 100, for_ms: 1_000 });
    expect(c.observe(0, 150)).toBeUndefined();
    expect(c.observe(900, 150)).toBeUndefined();
    // a reading at the ceiling starts the clock again
    expect(c.observe(950, 100)).toBeUndefined();
    expect(c.observe(1_500, 150)).toBeUndefined();
    expect(c.observe(2_400, 200)).toBeUndefined();
    expect(c.observe(2_500, 200)).toEqual({ rss_bytes: 200, ceiling_bytes: 100, above_since_ms: 1_500, above_for_ms: 1_000 });
  });

  it('a real daemon above a low ceiling journals why, with heap statistics, and stops cleanly with exit 75', async () => {
    const root = tempRoot();
    roots.push(root);
    const config = writeConfig(root, { services: [], recovery: { rss_guard: { ceiling: '16MiB', for: '1s', check_every: '200ms' } } });
    const d = new DaemonProcess(root, ['--config', config]);
    await d.ready();
    const exit = await d.exit;
    expect(exit, d.output).toEqual({ code: 75, signal: null });
    const [trip, ...more] = events(root, 'daemon.rss_ceiling');
    expect(more).toEqual([]);
    expect(trip?.severity).toBe('error');
    expect(trip?.reason).toMatch(/^RSS \d+\.\d MiB stayed above the ceiling of 16\.0 MiB for \d+ s: stopping cleanly/);
    const data = trip?.data as { rss_bytes: number; ceiling_bytes: number; above_for_ms: number; heap: { used_heap_size: number; heap_size_limit: number }; heap_spaces: Record<string, unknown>; memory: { rss: number } };
    expect(data.ceiling_bytes).toBe(16 * 1024 * 1024);
    expect(data.rss_bytes).toBeGreaterThan(data.ceiling_bytes);
    expect(data.above_for_ms).toBeGreaterThanOrEqual(1_000);
    expect(data.heap.used_heap_size).toBeGreaterThan(0);
    expect(data.heap.heap_size_limit).toBeGreaterThan(data.heap.used_heap_size);
    expect(Object.keys(data.heap_spaces)).toContain('old_space');
    expect(data.memory.rss).toBeGreaterThan(0);
    // the normal exit: daemon.stop after the guard's event, and the clean-stop marker read at the next start
    const stop = events(root, 'daemon.stop');
    expect(stop).toHaveLength(1);
    expect(stop[0]?.seq ?? 0).toBeGreaterThan(trip?.seq ?? Infinity);
    const again = new DaemonProcess(root, ['--config', writeConfig(root, { services: [] })]);
    const status = await again.ready();
    expect((status.previous_run as { reset_reason: string }).reset_reason).toMatch(/stopped cleanly/);
    await again.kill('SIGTERM');
  });
});
