import { describe, expect, it } from 'vitest';
import { BUNDLE_KINDS, INSTALL_STATES, type InstallRecord } from '../bundles/index.js';
import type { RebootRecord } from '../recovery/index.js';
import type { ChildRecord, Hold } from '../services/index.js';
import {
  type ChildRecordValue,
  type HoldValue,
  type InstallRecordValue,
  type RebootRecordValue,
  STATE_KEYS,
  STORED_BUNDLE_KINDS,
  STORED_INSTALL_STATES,
  checkStateValue,
} from './index.js';

/** True only when each type is assignable to the other. */
type Same<A, B> = [A] extends [B] ? ([B] extends [A] ? true : false) : false;

describe('the journal state key registry', () => {
  it('lists dotted lowercase keys', () => {
    for (const key of Object.keys(STATE_KEYS)) expect(key).toMatch(/^[a-z]+(\.[a-z_]+)+$/);
  });

  it("stores the bundle module's kinds and install states", () => {
    expect(STORED_BUNDLE_KINDS).toEqual(BUNDLE_KINDS);
    expect(STORED_INSTALL_STATES).toEqual(INSTALL_STATES);
  });

  it("has schemas whose types are the modules' own record types", () => {
    // Compile-time: the tuple below only type-checks while each pair is the same type both ways.
    const same: [Same<Hold, HoldValue>, Same<ChildRecord, ChildRecordValue>, Same<InstallRecord, InstallRecordValue>, Same<RebootRecord, RebootRecordValue>] = [true, true, true, true];
    expect(same).toEqual([true, true, true, true]);
  });

  it('checks values the way the writers store them', () => {
    const rec: InstallRecord = {
      install_id: 'i1',
      source: '/in/a.wbundle',
      file: '/work/a.wbundle',
      origin: 'inbox',
      requested_by: 'inbox',
      state: 'trial',
      kind: 'app',
      rollback_to: null,
      trial_starts: 1,
      received_at: 't',
      history: [{ state: 'received', ts: 't' }],
    };
    expect(checkStateValue('bundles.active', rec)).toBe(rec);
    expect(checkStateValue('bundles.active', null)).toBeNull();
    expect(() => checkStateValue('bundles.active', { ...rec, state: 'floating' })).toThrow(/bundles\.active does not match its schema: state/);
    expect(() => checkStateValue('services.holds', { cam: { kind: 'operator', reason: 'r' } })).toThrow(/services\.holds .*cam\.since/);
  });
});
