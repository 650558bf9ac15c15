import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { AUDIT_LIMITS, AuditLog } from '../daemon/security/audit.js';
import { removeRoot, tempRoot } from './helpers/daemon.js';

const roots: string[] = [];
afterEach(() => {
  for (const r of roots.splice(0)) removeRoot(r);
});
const clock = { now: () => Date.now() } as never;

function auditFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.startsWith('audit.jsonl'))
    .sort((a, b) => (Number(b.split('.')[2] ?? 0) || 0) - (Number(a.split('.')[2] ?? 0) || 0));
}

describe('the audit log is bounded and rotated', () => {
  it('keeps at most `keep` files of at most `maxBytes`, every line whole, the newest decisions in order', () => {
    const dir = tempRoot('audit-rot-');
    roots.push(dir);
    const log = new AuditLog(join(dir, 'audit.jsonl'), clock, { maxBytes: 4096, keep: 3 });
    for (let i = 0; i < 500; i++) log.append({ decision: 'deny', token: null, role: null, action: `guess-${i}`, target: null, reason: 'unknown token' });
    const files = auditFiles(dir);
    expect(files).toEqual(['audit.jsonl.2', 'audit.jsonl.1', 'audit.jsonl']);
    for (const f of files) expect(statSync(join(dir, f)).size).toBeLessThanOrEqual(4096);
    // Oldest file first: the actions read back are one unbroken run that ends with the last one written.
    const actions = files.flatMap((f) =>
      readFileSync(join(dir, f), 'utf8')
        .split('\n')
        .filter(Boolean)
        .map((l) => (JSON.parse(l) as { action: string }).action),
    );
    const first = Number(actions[0]?.slice('guess-'.length));
    expect(actions).toEqual(Array.from({ length: 500 - first }, (_, k) => `guess-${first + k}`));
    expect(actions.at(-1)).toBe('guess-499');
  });

  it('10,000 denied guesses stay within the default 5 × 1 MiB', () => {
    const dir = tempRoot('audit-rot-');
    roots.push(dir);
    const log = new AuditLog(join(dir, 'audit.jsonl'), clock);
    for (let i = 0; i < 10_000; i++) log.append({ decision: 'deny', token: null, role: null, action: 'status', target: null, reason: 'unknown token', socket: 'token' });
    const total = auditFiles(dir).reduce((n, f) => n + statSync(join(dir, f)).size, 0);
    expect(auditFiles(dir).length).toBeLessThanOrEqual(AUDIT_LIMITS.keep);
    expect(total).toBeLessThanOrEqual(AUDIT_LIMITS.maxBytes * AUDIT_LIMITS.keep);
  });
});
