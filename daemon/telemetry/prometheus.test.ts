import { get } from 'node:http';
import { describe, expect, it } from 'vitest';
import { silentLogger, systemClock } from '../core/index.js';
import { METRICS } from './metrics.js';
import { startPrometheus } from './prometheus.js';
import { Registry } from './registry.js';

function scrape(url: string): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    }).on('error', reject);
  });
}

/** Lets the event loop go round a few times (sockets, timers of 0), without waiting for a duration. */
async function turns(n: number): Promise<void> {
  for (let i = 0; i < n; i++) await new Promise((r) => setTimeout(r, 0));
}

describe('startPrometheus', () => {
  it('listens at once, builds the exposition only after READY, and a scrape before that waits for it', async () => {
    const registry = new Registry({ clock: systemClock, maxSeries: 100, windowPoints: 0 });
    registry.define(METRICS.telemetry_collector_duration_seconds);
    let ready!: () => void;
    const afterReady = new Promise<void>((r) => (ready = r));
    const server = await startPrometheus(registry, '127.0.0.1', 0, silentLogger(), undefined, afterReady);
    let built = false;
    void server.built.then(() => (built = true));
    let answered: { status: number; text: string } | undefined;
    const early = scrape(server.url).then((r) => (answered = r));
    await turns(20);
    expect(built).toBe(false);
    expect(answered).toBeUndefined();
    ready();
    await server.built;
    // An observation after `built` is in the histogram (the first sampling pass waits for it).
    registry.observe(METRICS.telemetry_collector_duration_seconds.name, { collector: 'cpu' }, 0.002);
    await early;
    const late = await scrape(server.url);
    await server.close();
    expect(answered?.status).toBe(200);
    expect(late.status).toBe(200);
    expect(late.text).toMatch(/^waveos_telemetry_collector_duration_seconds_count\{collector="cpu"\} 1$/m);
  });
});
