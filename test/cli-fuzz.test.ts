import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { main } from '../daemon/cli/main.js';
import { removeRoot, tempRoot } from './helpers/daemon.js';

const root = tempRoot('waveos-cli-fuzz-');
afterAll(() => removeRoot(root));

// Everything but `run` (it would start a daemon) and what blocks or writes outside the root (--follow, --out, keygen).
const COMMANDS = ['status', 'events', 'metrics', 'service', 'mode', 'logs', 'config', 'journal', 'token', 'policy', 'evidence', 'bundle', 'help', 'frobnicate'];
const WORDS = ['list', 'get', 'set', 'start', 'stop', 'restart', 'validate', 'verify', 'simulate', 'schema', 'create', 'revoke', 'export', 'inspect', 'install', 'rollback', 'safe', 'normal'];
const FLAGS = ['--json', '--since', '--kind', '--limit', '--role', '--reason', '--grep', '--metrics', '--keys', '--offline', '--name', '--version', '--no-such-flag', '-h'];

const arg = fc.oneof(fc.constantFrom(...WORDS), fc.constantFrom(...FLAGS), fc.string({ maxLength: 24 }), fc.constantFrom('10m', '2026-11-22T00:00:00Z', '-1', '0', '1e999', '', '../../etc/passwd', '\u0000', 'admin'));

describe('the waveos command on generated input', () => {
  it('never throws and always exits with a contract exit code (no daemon running)', async () => {
    const seen = new Set<number>();
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMMANDS), fc.array(arg, { maxLength: 6 }), async (cmd, rest) => {
        if (rest.some((a) => a === '--follow' || a.startsWith('--out') || a === 'keygen')) return;
        const out: string[] = [];
        const code = await main([cmd, ...rest, '--root', root], { out: (t) => out.push(t), err: (t) => out.push(t) });
        expect(code === undefined ? -1 : code, `${cmd} ${rest.join(' ')}\n${out.join('')}`).toBeOneOf([0, 1, 2, 3, 4, 5]);
        seen.add(code ?? -1);
      }),
      { numRuns: 300 },
    );
    // The generator reaches usage errors and "daemon not reachable" at least.
    expect([...seen]).toEqual(expect.arrayContaining([2, 3]));
  });
});
