import { afterEach } from 'vitest';
import { DaemonProcess, removeRoot, tempRoot } from './daemon.js';
import { killMarked, writeConfig } from './services.js';

const MARK = 'WAVEOS_TEST_MARK';

/**
 * Daemons on temp roots that are killed, with every process they started, after each test. Their children
 * carry `WAVEOS_TEST_MARK=<root>` so a leaked one can be found.
 */
export function daemonFixture(prefix = 'waveos-test-'): { start(doc: Record<string, unknown>): Promise<{ root: string; d: DaemonProcess }> } {
  const roots: string[] = [];
  const daemons: DaemonProcess[] = [];
  afterEach(() => {
    for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
    for (const r of roots.splice(0)) {
      killMarked(MARK, r);
      removeRoot(r);
    }
  });
  return {
    async start(doc) {
      const root = tempRoot(prefix);
      roots.push(root);
      const d = new DaemonProcess(root, ['--config', writeConfig(root, doc)], { [MARK]: root });
      daemons.push(d);
      await d.ready();
      return { root, d };
    },
  };
}
