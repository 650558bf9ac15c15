// Unit tests of the controller's pure parts: wave sizes, the rollout decisions, signing compatible with the
// protocol module, the key file checks and the --where filters.
import { chmodSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { newFleetKeyPair, signFleetMessage, verifyEnvelopeSignature, verifyFleetMessage } from '../daemon/fleet/protocol.js';
import { signDesired } from '../fleet/engine.js';
import { loadSigningKey, signingKeyOf, signWith, verifyWith } from '../fleet/keys.js';
import { type WaveNumbers, decide, parseDuration, planSchema, waveSizes } from '../fleet/plan.js';
import { whereOf } from '../fleet/select.js';

const plan = planSchema.parse({ canary: '1%', waves: ['10%', '50%', '100%'], max_failures: '2%', min_health_delta: -10, soak_ms: 60_000 });
const n = (x: Partial<WaveNumbers>): WaveNumbers => ({ wave: 1, waves: 4, size: 100, applied: 0, failed: 0, pending: 100, offline: 0, health_wave: null, health_control: null, control_n: 0, health_before: null, ...x });
const at = (phase: 'dispatch' | 'installing' | 'soaking', since = 0, now = 0) => ({ wave: 1, phase, phaseSinceMs: since, nowMs: now });

describe('wave sizes', () => {
  it('are cumulative, at least one device for a canary, and end at the whole cohort', () => {
    expect(waveSizes(plan, 10_000)).toEqual([100, 1000, 5000, 10_000]);
    expect(waveSizes(plan, 8)).toEqual([1, 4, 8]);
    expect(waveSizes(planSchema.parse({ canary: '1', waves: ['50%', '100%'] }), 3)).toEqual([1, 2, 3]);
  });
  it('parses durations', () => {
    expect(parseDuration('10m')).toBe(600_000);
    expect(parseDuration('500ms')).toBe(500);
    expect(parseDuration('ten')).toBeUndefined();
  });
});

describe('rollout decisions', () => {
  it('dispatches, then waits for every online device, then soaks', () => {
    expect(decide(plan, at('dispatch'), n({}))?.effect).toBe('dispatch');
    expect(decide(plan, at('installing'), n({ applied: 99, pending: 1 }))).toBeUndefined();
    const d = decide(plan, at('installing'), n({ applied: 97, failed: 1, offline: 2, pending: 0 }));
    expect(d?.kind).toBe('wave_installed');
    expect(d?.reason).toContain('2 offline');
  });
  it('halts and rolls back when failures exceed the share allowed, with the numbers', () => {
    const d = decide(plan, at('installing'), n({ applied: 50, failed: 3, pending: 47 }));
    expect(d).toMatchObject({ kind: 'halted', effect: 'rollback', next: { state: 'halted' } });
    expect(d?.numbers).toMatchObject({ failed: 3, size: 100, failure_rate_pct: 3, max_failures_pct: 2 });
    expect(decide(plan, at('installing'), n({ applied: 98, failed: 2, pending: 0 }))?.kind).toBe('wave_installed');
    expect(decide({ ...plan, on_halt: 'hold' }, at('installing'), n({ failed: 3 }))?.effect).toBe('none');
  });
  it('halts on a health regression against the control group, or the baseline when none is left', () => {
    const sick = n({ applied: 100, pending: 0, health_wave: 70, health_control: 95, control_n: 500 });
    expect(decide(plan, at('soaking', 0, 1000), sick)).toMatchObject({ kind: 'halted', numbers: { health_delta: -25, health_against: 'control' } });
    const last = n({ wave: 3, applied: 100, pending: 0, health_wave: 80, health_control: null, control_n: 0, health_before: 95 });
    expect(decide(plan, { ...at('soaking', 0, 1000), wave: 3 }, last)).toMatchObject({ kind: 'halted', numbers: { health_against: 'baseline' } });
  });
  it('passes a wave after the soak within thresholds and completes after the last', () => {
    const ok = n({ applied: 100, pending: 0, health_wave: 93, health_control: 95, control_n: 500 });
    expect(decide(plan, at('soaking', 0, 59_000), ok)).toBeUndefined();
    expect(decide(plan, at('soaking', 0, 60_000), ok)).toMatchObject({ kind: 'wave_passed', next: { wave: 2, phase: 'dispatch' } });
    expect(decide(plan, { ...at('soaking', 0, 60_000), wave: 3 }, { ...ok, wave: 3 })).toMatchObject({ kind: 'completed', next: { state: 'completed' } });
  });
});

describe('signing', () => {
  it('signs exactly as the protocol module does, and a device accepts the document', () => {
    const kp = newFleetKeyPair(new Uint8Array(32).fill(7));
    const key = signingKeyOf(kp.secretKey);
    expect(key.key_id).toBe(kp.key_id);
    const m = { fleet: 'f', target: { device: 'd1' }, seq: 5, issued_at: '2026-12-03T11:00:00.000Z', expires_at: '2026-12-04T11:00:00.000Z', issuer: 'ops', body: { bundles: {}, maintenance_windows: [] } };
    const ours = signWith({ v: 1, type: 'desired', ...m, key_id: key.key_id }, key);
    expect(ours.sig).toBe(signFleetMessage('desired', m, kp).sig);
    expect(verifyEnvelopeSignature(ours, kp.publicKey)).toBe(true);
    expect(verifyWith(ours, Buffer.from(kp.publicKey).toString('base64'))).toBe(true);
    const doc = signDesired({ fleet: 'f', key, issuer: 'ops' }, 'd1', 9, { bundles: { app: { version: '2.0.0', url: 'http://x/b.wbundle', sha256: 'a'.repeat(64), size: 10 } }, maintenance_windows: [] });
    const v = verifyFleetMessage('desired', doc, { fleet: 'f', deviceId: 'd1', cohorts: [], keys: new Map([[kp.key_id, kp.publicKey]]), nowMs: Date.now(), seq: { last: 8, recent: [] } });
    expect(v.ok).toBe(true);
  });
  it('refuses a key file its group or others can read, with the fix', () => {
    const dir = mkdtempSync(join(tmpdir(), 'fleet-key-'));
    const file = join(dir, 'k');
    writeFileSync(file, newFleetKeyPair().keyFileText);
    chmodSync(file, 0o640);
    expect(() => loadSigningKey(file)).toThrow(/accessible to others \(mode 640\); run `chmod 600/);
    chmodSync(file, 0o600);
    expect(loadSigningKey(file).key_id).toMatch(/^[0-9a-f]{16}$/);
    writeFileSync(file, '{"algorithm":"rsa"}');
    expect(() => loadSigningKey(file)).toThrow(/expected \{"algorithm":"ed25519"/);
  });
});

describe('--where', () => {
  it('builds parameterised SQL and names a bad filter', () => {
    expect(whereOf(['tag=a', 'health<70', 'bundle:app=1.2.0'], 2)).toEqual({ sql: " AND $2 = ANY(tags) AND health < $3 AND bundles -> $4::text ->> 'version' = $5", params: ['a', 70, 'app', '1.2.0'] });
    expect(() => whereOf(['size=3'], 1)).toThrow(/--where "size=3": expected/);
  });
});
