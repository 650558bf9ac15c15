// bin/node-check.js: the Node lines WaveOS runs on, kept in step with package.json's engines and the Node the
// release packages; an unsupported Node is refused by the real command with exit 2 and a sentence that says why.
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SUPPORTED_NODE, nodeVersionProblem } from '../bin/node-check.js';
import { NODE_RUNTIME_VERSION } from '../scripts/release-lib.mjs';
import { BIN, REPO } from './helpers/daemon.js';

const asNode = (version: string, args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['--input-type=module', '-e', `Object.defineProperty(process, 'version', { value: ${JSON.stringify(version)} }); process.argv.splice(1, 0, ${JSON.stringify(BIN)}); await import(${JSON.stringify(BIN)});`, '--', ...args], { encoding: 'utf8', env: { ...process.env, ...env } });

describe('the supported Node lines', () => {
  it("are package.json's engines minimum and the line the release packages", () => {
    const engines = (JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')) as { engines: { node: string } }).engines.node;
    expect(`>=${SUPPORTED_NODE[0]?.min.replace(/\.0$/, '')}`).toBe(engines);
    expect(nodeVersionProblem(`v${NODE_RUNTIME_VERSION}`)).toBeNull();
    expect(nodeVersionProblem(process.version)).toBeNull();
  });

  it.each([
    ['v20.19.0', null],
    ['v20.20.2', null],
    ['v24.11.0', null],
    ['v24.22.3', null],
    ['v20.18.3', /older than 20\.19\.0/],
    ['v18.20.4', /not a supported line/],
    ['v22.12.0', null],
    ['v22.11.0', /older than 22\.12\.0/],
    ['v26.1.0', /not a supported line/],
    ['v24.10.0', /older than 24\.11\.0/],
    ['nonsense', /cannot read the Node version/],
  ])('%s', (v, want) => {
    const p = nodeVersionProblem(v);
    if (want === null) expect(p).toBeNull();
    else expect(p).toMatch(want);
  });

  it('the command refuses Debian 12\'s Node 18 with exit 2 and the way out; WAVEOS_ALLOW_ANY_NODE=1 lets it try', () => {
    const r = asNode('v18.20.4', ['--version']);
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/^waveos: Node v18\.20\.4 is not a supported line; WaveOS runs on Node 20\.x \(>= 20\.19\.0\) or 22\.x \(>= 22\.12\.0\) or 24\.x \(>= 24\.11\.0\)\. The packaged release carries its own runtime/);
    expect(r.stdout).toBe('');
    const forced = asNode('v18.20.4', ['--version'], { WAVEOS_ALLOW_ANY_NODE: '1' });
    expect(forced.status, forced.stderr).toBe(0);
    expect(forced.stdout).toMatch(/^waveos \d+\.\d+\.\d+/);
  });
});
