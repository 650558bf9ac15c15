import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { modeReasonOf } from '../daemon/api/index.js';
import { installedBundles } from '../daemon/compose/startup.js';
import { type Paths, pathsFor } from '../daemon/core/index.js';
import { BUNDLES_ACTIVE_KEY, type Journal } from '../daemon/journal/index.js';

// Unit tests of the status document's sources: real slot folders on a temp root, the journal's state as a value.
let root: string;
let paths: Paths;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'status-sources-'));
  paths = pathsFor(root);
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

const id = (c: string): string => c.repeat(64);

/** A slot group with the slots named and its links. */
function group(kind: string, name: string, slots: string[], links: Record<string, string>): void {
  const dir = join(paths.slotsDir, kind, name);
  for (const s of slots) {
    mkdirSync(join(dir, s), { recursive: true });
    writeFileSync(join(dir, s, 'STATUS'), 'good\n');
  }
  for (const [link, to] of Object.entries(links)) symlinkSync(to, join(dir, link));
}

function journalWith(active: unknown): Pick<Journal, 'readState'> {
  return { readState: ((key: string) => (key === BUNDLES_ACTIVE_KEY ? active : undefined)) as Journal['readState'] };
}

describe('installed bundles by name', () => {
  it('tells committed, on trial, rolled back to the one before, and uncommitted apart', () => {
    group('app', 'alpha', [id('a')], { current: id('a'), last_known_good: id('a') });
    group('app', 'beta', [id('b'), id('c')], { current: id('c'), last_known_good: id('b') });
    group('app', 'gamma', [id('d'), id('e')], { current: id('d'), last_known_good: id('e'), previous_good: id('d') });
    group('config', 'delta', [id('f'), id('0')], { current: id('f'), last_known_good: id('0') });
    group('config', 'empty', [], {});
    const active = { install_id: 'i9', source: '/x', file: '/y', origin: 'api', requested_by: 'op', state: 'trial', kind: 'app', name: 'beta', bundle_id: id('c'), trial_starts: 1, received_at: 'now', history: [] };
    const got = installedBundles(paths, journalWith(active));
    expect(Object.fromEntries(Object.entries(got).map(([k, v]) => [k, v.state]))).toEqual({
      'app/alpha': 'committed',
      'app/beta': 'trial',
      'app/gamma': 'previous_good',
      'config/delta': 'uncommitted',
    });
    expect(got['app/beta']).toEqual({ kind: 'app', name: 'beta', bundle_id: id('c'), version: null, state: 'trial' });
  });

  it('an install in flight for another slot of the group does not make the current one on trial', () => {
    group('app', 'beta', [id('b'), id('c')], { current: id('b'), last_known_good: id('b') });
    const active = { install_id: 'i9', source: '/x', file: '/y', origin: 'api', requested_by: 'op', state: 'staged', kind: 'app', name: 'beta', bundle_id: id('c'), trial_starts: 0, received_at: 'now', history: [] };
    expect(installedBundles(paths, journalWith(active))['app/beta']?.state).toBe('committed');
  });
});

describe('why the mode is what it is', () => {
  const rules = [{ id: 'crash-storm', kind: 'breaker', source: 'storm' }];
  const ev = (source: string, data: Record<string, unknown> = { from: 'normal', to: 'safe' }) => ({ seq: 7, ts: '2026-01-02T03:04:05.000Z', source, reason: 'why', data });

  it('reads a rule, an operator token and the recovery ladder from the event source', () => {
    expect(modeReasonOf('safe', ev('policy:crash-storm'), rules)).toMatchObject({ by: 'rule', rule: { id: 'crash-storm', kind: 'breaker', policy: 'storm' }, operator: null, since: '2026-01-02T03:04:05.000Z', seq: 7, from: 'normal', mode: 'safe' });
    expect(modeReasonOf('safe', ev('operator:night-shift'), rules)).toMatchObject({ by: 'operator', operator: 'night-shift', rule: null });
    expect(modeReasonOf('degraded', ev('recovery', { from: 'normal', to: 'degraded' }), rules)).toMatchObject({ by: 'recovery', rule: null, operator: null, mode: 'degraded' });
  });

  it('names a rule no longer in the policy without its kind or file', () => {
    expect(modeReasonOf('safe', ev('policy:gone-rule'), rules)?.rule).toEqual({ id: 'gone-rule', kind: null, policy: null });
  });

  it('is null when the mode was never changed', () => {
    expect(modeReasonOf('normal', undefined, rules)).toBeNull();
  });
});
