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
  afterEach(async () => {
    const stopping = daemons.splice(0);
    for (const d of stopping) d.proc.kill('SIGKILL');
    await Promise.all(stopping.map((d) => d.exit));
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
