import { describe, expect, it } from 'vitest';
import { effectiveConfig, parseConfigText } from '../config/index.js';
import { isWaveosError } from '../core/index.js';

function problems(text: string): { line?: number; path?: string; message: string }[] {
  try {
    parseConfigText(text, 'c.yaml');
  } catch (e) {
    if (isWaveosError(e)) return [...e.problems];
    throw e;
  }
  return [];
}

describe('telemetry config', () => {
  it('defaults: 1 s in dev with the endpoint on, 10 s in prod with it off, 24 h raw / 30 d aggregates', () => {
    const dev = effectiveConfig(undefined, 'dev', 'd').telemetry;
    const prod = effectiveConfig(undefined, 'prod', 'd').telemetry;
    expect(dev).toMatchObject({ sample_interval_ms: 1_000, raw_retention_ms: 86_400_000, aggregate_retention_ms: 30 * 86_400_000, prometheus: { enabled: true, host: '127.0.0.1' } });
    expect(prod).toMatchObject({ sample_interval_ms: 10_000, prometheus: { enabled: true, host: '127.0.0.1' }, gpu: { enabled: false } });
    expect(dev.collectors.cpu).toEqual({ enabled: true, interval_ms: 1_000, timeout_ms: 1_000 });
    expect(dev.collectors.load.interval_ms).toBe(5_000);
    expect(prod.collectors.cpu.interval_ms).toBe(10_000);
  });

  it('takes every knob from the file', () => {
    const { file } = parseConfigText(
      [
        'schema_version: 2',
        'telemetry:',
        '  sample_interval: 2s',
        '  raw_retention: 6h',
        '  aggregate_retention: 90d',
        '  quota: 32MiB',
        '  prometheus: {enabled: true, host: 0.0.0.0, port: 9100}',
        '  health: {window: 5m, weights: {service_restart: {points: 10}, disk_headroom: {below: 0.2}}}',
        '  collectors: {net: false, cpu: {interval: 500ms}}',
        '  gpu: {enabled: true}',
      ].join('\n'),
      'c.yaml',
    );
    const t = effectiveConfig(file, 'prod', 'd').telemetry;
    expect(t).toMatchObject({ sample_interval_ms: 2_000, raw_retention_ms: 6 * 3_600_000, aggregate_retention_ms: 90 * 86_400_000, quota_bytes: 32 * 1024 ** 2 });
    expect(t.prometheus).toEqual({ enabled: true, host: '0.0.0.0', port: 9100 });
    expect(t.health.window_ms).toBe(300_000);
    expect(t.health.weights.service_restart).toEqual({ points: 10, max: 25 });
    expect(t.health.weights.disk_headroom).toEqual({ points: 30, below: 0.2 });
    expect(t.collectors.net.enabled).toBe(false);
    expect(t.collectors.cpu.interval_ms).toBe(500);
    expect(t.gpu).toEqual({ enabled: true, command: 'nvidia-smi', interval_ms: 10_000 });
  });

  it('locates mistakes in the telemetry section', () => {
    expect(problems('schema_version: 2\ntelemetry:\n  sample_interval: soon\n')).toEqual([
      expect.objectContaining({ line: 3, path: 'telemetry.sample_interval', message: expect.stringMatching(/duration/) }),
    ]);
    expect(problems('schema_version: 2\ntelemetry:\n  collectors: {wifi: true}\n')).toEqual([expect.objectContaining({ line: 3, path: 'telemetry.collectors.wifi' })]);
    expect(problems('schema_version: 2\ntelemetry:\n  prometheus: {port: 70000}\n')).toEqual([expect.objectContaining({ path: 'telemetry.prometheus.port' })]);
  });
});
