import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import nacl from 'tweetnacl';
import {
  type SeqState,
  acceptSeq,
  deviceKeyIdOf,
  fleetJsonSchemas,
  inMaintenanceWindow,
  newFleetKeyPair,
  parseTopic,
  signDeviceMessage,
  signFleetMessage,
  topicOf,
  verifyDeviceMessage,
  verifyFleetMessage,
} from './protocol.js';

const NOW = Date.parse('2026-12-03T12:00:00Z');
const key = newFleetKeyPair(new Uint8Array(32).fill(7));
const other = newFleetKeyPair(new Uint8Array(32).fill(9));

function cmd(over: Partial<{ seq: number; target: { device: string } | { cohort: string }; expires_at: string; fleet: string }> = {}, k = key) {
  return signFleetMessage(
    'cmd',
    {
      fleet: over.fleet ?? 'acme',
      target: over.target ?? { device: 'dev-1' },
      seq: over.seq ?? 5,
      issued_at: '2026-12-03T11:59:00Z',
      expires_at: over.expires_at ?? '2026-12-03T12:10:00Z',
      issuer: 'ops',
      body: { id: 'c1', action: 'report', args: {} },
    },
    k,
  );
}

function check(payload: unknown, seq: SeqState = { last: 0, recent: [] }) {
  return verifyFleetMessage('cmd', typeof payload === 'string' ? payload : JSON.stringify(payload), {
    fleet: 'acme',
    deviceId: 'dev-1',
    cohorts: ['canary'],
    keys: new Map([[key.key_id, key.publicKey]]),
    nowMs: NOW,
    seq,
  });
}

describe('fleet protocol', () => {
  it('names topics and parses them back', () => {
    expect(topicOf('acme', 'dev-1', 'cmd/result')).toBe('waveos/acme/dev-1/cmd/result');
    expect(parseTopic('waveos/acme/dev-1/cmd/result')).toEqual({ fleet: 'acme', device: 'dev-1', channel: 'cmd/result' });
    expect(parseTopic('waveos/acme/+/cmd')).toBeUndefined();
    expect(() => topicOf('a/b', 'd', 'cmd')).toThrow(/topic level/);
  });

  it('accepts a signed command for this device or its cohort', () => {
    expect(check(cmd())).toMatchObject({ ok: true, duplicate: false });
    expect(check(cmd({ target: { cohort: 'canary' } }))).toMatchObject({ ok: true });
  });

  it('refuses forged, unsigned, expired, other-device, replayed and reordered messages with their codes', () => {
    const good = cmd();
    const forged = { ...good, body: { ...good.body, action: 'set_mode', args: { mode: 'safe', reason: 'x' } } };
    const { sig: _s, ...unsigned } = good;
    expect(check(forged)).toMatchObject({ ok: false, code: 'bad_signature' });
    expect(check(unsigned)).toMatchObject({ ok: false, code: 'unsigned' });
    expect(check(cmd({}, other))).toMatchObject({ ok: false, code: 'unknown_key' });
    expect(check(cmd({ expires_at: '2026-12-03T11:59:30Z' }))).toMatchObject({ ok: false, code: 'expired' });
    expect(check(cmd({ target: { device: 'dev-2' } }))).toMatchObject({ ok: false, code: 'other_device' });
    expect(check(cmd({ target: { cohort: 'beta' } }))).toMatchObject({ ok: false, code: 'other_device' });
    expect(check(cmd({ fleet: 'evil' }))).toMatchObject({ ok: false, code: 'other_fleet' });
    expect(check('{"v":1')).toMatchObject({ ok: false, code: 'malformed' });
    expect(check('x'.repeat(300 * 1024))).toMatchObject({ ok: false, code: 'too_large' });
    const v = check(good);
    if (!v.ok) throw new Error('expected ok');
    const state = acceptSeq({ last: 0, recent: [] }, 5, v.digest);
    expect(check(good, state)).toMatchObject({ ok: false, code: 'replayed' });
    expect(check(cmd({ seq: 5, expires_at: '2026-12-03T12:11:00Z' }), state)).toMatchObject({ ok: false, code: 'replayed' });
    expect(check(cmd({ seq: 4 }), state)).toMatchObject({ ok: false, code: 'reordered' });
    expect(check(cmd({ seq: 6 }), state)).toMatchObject({ ok: true, duplicate: false });
  });

  it('device messages verify with the device key and not after a change', () => {
    const kp = nacl.sign.keyPair();
    const m = signDeviceMessage('cmd/result', { fleet: 'acme', device: 'dev-1', seq: 1, ts: new Date(NOW).toISOString(), body: { cmd_id: 'c1', cmd_seq: 5, action: 'report', outcome: 'succeeded', code: null, reason: 'ok', data: {} } }, { keyId: deviceKeyIdOf(kp.publicKey), secretKey: kp.secretKey });
    expect(verifyDeviceMessage('cmd/result', JSON.stringify(m), kp.publicKey)).toMatchObject({ ok: true });
    expect(verifyDeviceMessage('cmd/result', JSON.stringify({ ...m, seq: 2 }), kp.publicKey)).toMatchObject({ ok: false });
  });

  it('maintenance windows: same day, over midnight, days of the week', () => {
    const at = (s: string) => Date.parse(s);
    expect(inMaintenanceWindow([], at('2026-12-03T12:00:00Z'))).toBe(true);
    expect(inMaintenanceWindow([{ start: '01:00', end: '04:00' }], at('2026-12-03T02:00:00Z'))).toBe(true);
    expect(inMaintenanceWindow([{ start: '01:00', end: '04:00' }], at('2026-12-03T04:00:00Z'))).toBe(false);
    // 2026-12-03 is a Thursday (4): a Wednesday 23:00–02:00 window covers Thursday 01:00.
    expect(inMaintenanceWindow([{ days: [3], start: '23:00', end: '02:00' }], at('2026-12-03T01:00:00Z'))).toBe(true);
    expect(inMaintenanceWindow([{ days: [4], start: '23:00', end: '02:00' }], at('2026-12-03T01:00:00Z'))).toBe(false);
  });

  it('the JSON Schemas in docs/formats/fleet are the ones the module generates', () => {
    for (const [file, schema] of Object.entries(fleetJsonSchemas())) {
      const onDisk = JSON.parse(readFileSync(join(import.meta.dirname, '..', '..', 'docs', 'formats', 'fleet', file), 'utf8')) as unknown;
      expect(onDisk, `${file} is stale: run npm run build && node scripts/fleet-schemas.mjs`).toEqual(schema);
    }
  });
});

describe('the published JSON Schemas', () => {
  it('accept what the module signs and refuse what it refuses', async () => {
    const { fleetValidators, assertFleetMessage } = await import('../../test/helpers/fleet-schemas.js');
    const v = fleetValidators();
    expect([...v.keys()].sort()).toEqual(['cmd', 'cmd/result', 'desired', 'events', 'health', 'status']);
    assertFleetMessage(v, 'cmd', cmd());
    const desired = signFleetMessage('desired', { fleet: 'acme', target: { device: 'dev-1' }, seq: 1, issued_at: '2026-12-03T11:59:00Z', expires_at: '2026-12-04T11:59:00Z', issuer: 'ops', body: { bundles: { app: { version: '1.0.0', url: 'http://127.0.0.1/a.wbundle', sha256: 'a'.repeat(64), size: 10 } } } }, key);
    assertFleetMessage(v, 'desired', desired);
    const { sig: _s, ...unsigned } = cmd();
    expect(() => assertFleetMessage(v, 'cmd', unsigned)).toThrow(/does not match/);
  });
});
