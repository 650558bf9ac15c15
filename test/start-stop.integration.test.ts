import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { events, example, killMarked, markedProcesses, writeConfig } from './helpers/services.js';

const MARK = 'WAVEOS_TEST_MARK';
/** The supervised children of a root (the daemon carries the mark too, without a service name). */
const children = (root: string) => markedProcesses(MARK, root).filter((p) => p.service !== undefined);
const roots: string[] = [];

afterEach(() => {
  for (const r of roots.splice(0)) {
    killMarked(MARK, r);
    removeRoot(r);
  }
});

describe('start and stop of the daemon process', () => {
  it('a start that fails at a late unit stops what started before it and exits non-zero, leaving no child', async () => {
    const root = tempRoot();
    roots.push(root);
    const config = writeConfig(root, { services: [example('a', 'healthy.mjs', [], { env: { [MARK]: root } }), example('b', 'healthy.mjs', ['--ignore-term'], { env: { [MARK]: root } })] });
    // The control socket's path is taken by a folder that is not empty: the API unit, started after the services, cannot listen.
    const sock = join(root, 'run/waveos/waveos.sock');
    mkdirSync(sock, { recursive: true });
    writeFileSync(join(sock, 'keep'), 'x');
    const d = new DaemonProcess(root, ['--config', config], { [MARK]: root });
    const exit = await d.exit;
    expect(exit.code, d.output).toBe(1);
    expect(d.output).toMatch(/module failed to start: stopping what started/);
    // The services had started (units before the API ran), and none of them outlives the failed start.
    const started = events(root, 'service.started').map((e) => e.data.service);
    expect(started.sort()).toEqual(['a', 'b']);
    expect(children(root)).toEqual([]);
    const fatal = events(root, 'daemon.fatal');
    expect(fatal).toHaveLength(1);
    expect(fatal[0]?.data).toMatchObject({ phase: 'start' });
    expect(existsSync(join(root, 'run/waveos/waveos.pid'))).toBe(false);
  });

  it('SIGTERM stops cleanly with exit code 128+15, SIGINT with 128+2', async () => {
    for (const [signal, code] of [
      ['SIGTERM', 143],
      ['SIGINT', 130],
    ] as const) {
      const root = tempRoot();
      roots.push(root);
      const config = writeConfig(root, { services: [example('a', 'healthy.mjs', [], { env: { [MARK]: root } })] });
      const d = new DaemonProcess(root, ['--config', config], { [MARK]: root });
      await d.ready();
      await waitFor('the service', () => (children(root).length === 1 ? true : undefined));
      expect((await d.kill(signal)).code).toBe(code);
      expect(children(root)).toEqual([]);
      expect(events(root, 'daemon.stop').map((e) => e.data.signal)).toEqual([signal]);
    }
  });
});
