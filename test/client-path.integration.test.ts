import { spawnSync } from 'node:child_process';
import { readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, DaemonProcess, REPO, removeRoot, tempRoot } from './helpers/daemon.js';
import { writeConfig } from './helpers/services.js';

// The CLI's API commands talk to the socket without the daemon's modules (docs/footprint.md): no zod, no
// SQLite, no pino, no yaml, from the bundle and from dist/ alike.
const HEAVY = ['zod', 'better-sqlite3', 'better_sqlite3.node', 'pino', 'yaml', 'systeminformation', 'tar', 'prom-client', 'tweetnacl'];

interface Meta {
  outputs: Record<string, { inputs: Record<string, unknown> }>;
}

let root: string;
let daemon: DaemonProcess;
beforeAll(async () => {
  root = tempRoot();
  daemon = new DaemonProcess(root, ['--config', writeConfig(root, { services: [] })]);
  await daemon.ready();
}, 30_000);
afterAll(async () => {
  await daemon.kill('SIGTERM');
  removeRoot(root);
});

/** What one CLI run loaded: the files, and for bundle chunks the sources esbuild put into them. */
function loads(args: string[], env: NodeJS.ProcessEnv): { code: number | null; files: string[]; sources: string[] } {
  const out = join(root, `loads-${Math.random().toString(36).slice(2)}.txt`);
  const r = spawnSync(process.execPath, ['--import', join(REPO, 'test/fixtures/record-loads.mjs'), BIN, ...args, '--root', root], {
    env: { ...process.env, ...env, WAVEOS_TEST_LOADS: out },
    encoding: 'utf8',
  });
  const files = readFileSync(out, 'utf8').trim().split('\n').map((u) => u.replace(/^file:\/\//, ''));
  rmSync(out);
  const meta = JSON.parse(readFileSync(join(REPO, 'dist/bundle-meta.json'), 'utf8')) as Meta;
  const sources = files.filter((f) => f.includes('/dist/bundle/')).flatMap((f) => Object.keys(meta.outputs[`dist/bundle/${f.split('/dist/bundle/')[1]}`]?.inputs ?? {}));
  return { code: r.status, files: [...new Set(files)], sources };
}

const packagesIn = (paths: string[]): string[] =>
  [...new Set(paths.map((p) => /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(p)?.[1] ?? (p.endsWith('.node') ? p.split('/').at(-1) : undefined)).filter((x): x is string => x !== undefined))].sort();

describe('the CLI client path', () => {
  for (const args of [['status'], ['status', '--json'], ['service', 'list'], ['mode', 'get'], ['events', '--limit', '3']]) {
    it(`waveos ${args.join(' ')} loads none of the daemon's heavy modules, bundled or from dist/`, () => {
      const bundled = loads(args, {});
      expect(bundled.code).toBe(0);
      expect(bundled.files.some((f) => f.endsWith('/dist/bundle/waveos.mjs'))).toBe(true);
      const fromBundle = packagesIn([...bundled.files, ...bundled.sources]);
      expect(fromBundle.filter((p) => HEAVY.includes(p))).toEqual([]);

      const tree = loads(args, { WAVEOS_NO_BUNDLE: '1' });
      expect(tree.code).toBe(0);
      expect(tree.files.some((f) => f.endsWith('/dist/cli/main.js'))).toBe(true);
      expect(packagesIn(tree.files).filter((p) => HEAVY.includes(p))).toEqual([]);
      // and none of the daemon's own groups beyond the client's
      const groups = [...new Set(tree.files.map((f) => /\/dist\/([a-z-]+)\//.exec(f)?.[1]).filter(Boolean))].sort();
      expect(groups).toEqual(['api', 'cli', 'core']);
    });
  }
});
