import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, DaemonProcess, removeRoot, tempRoot } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.kill('SIGTERM');
  for (const r of roots.splice(0)) removeRoot(r);
});

describe('WAVEOS_HEAP_GROWING_PERCENT (the unit sets it; the daemon applies it to V8 itself)', () => {
  it('a daemon started with it serves as usual', async () => {
    const root = tempRoot();
    roots.push(root);
    const config = writeConfig(root, { services: [] });
    const d = new DaemonProcess(root, ['--config', config], { WAVEOS_HEAP_GROWING_PERCENT: '20' });
    daemons.push(d);
    const status = await d.ready();
    expect(status).toHaveProperty('mode');
  });

  it.each(['abc', '0', '401', '1.5', '-3'])('refuses %s with a usage error naming the variable, before anything is written', (value) => {
    const root = tempRoot();
    roots.push(root);
    const r = spawnSync(process.execPath, [BIN, 'run', '--root', join(root, 'fresh')], { encoding: 'utf8', env: { ...process.env, WAVEOS_HEAP_GROWING_PERCENT: value } });
    expect(r.status, r.stderr).toBe(2);
    expect(r.stderr).toContain(`WAVEOS_HEAP_GROWING_PERCENT: expected a whole number of percent from 1 to 400, got "${value}"`);
    expect(existsSync(join(root, 'fresh'))).toBe(false);
  });
});
