import { existsSync, readFileSync, readlinkSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, artifactsDir, removeRoot, tempRoot } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) removeRoot(r);
});

describe('a run killed before its first flush', () => {
  it('still has run_meta.json and a metrics.csv with its header (the artifacts of every run are whole)', async () => {
    const root = tempRoot('waveos-early-kill-');
    roots.push(root);
    // Nothing would reach the artifacts for an hour but what the start writes itself.
    const config = writeConfig(root, { artifacts: { flush_interval: '1h' }, telemetry: { flush_interval: '1h', prometheus: { enabled: false } } });
    const d = new DaemonProcess(root, ['--config', config]);
    const status = await d.ready();
    await d.kill('SIGKILL');
    const run = join(artifactsDir(root), String(status.run_id));
    expect(readlinkSync(join(artifactsDir(root), 'latest'))).toContain(String(status.run_id));
    expect(JSON.parse(readFileSync(join(run, 'run_meta.json'), 'utf8')).run_id).toBe(status.run_id);
    expect(existsSync(join(run, 'metrics.csv'))).toBe(true);
    expect(readFileSync(join(run, 'metrics.csv'), 'utf8').split('\n')[0]).toBe('ts,metric,value,unit,labels');
  });
});
