import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AuditLog } from '../daemon/security/audit.js';

const root = process.getuid?.() === 0;

describe.skipIf(!root)('audit log on a full disk (real tmpfs)', () => {
  it('never leaves a torn line: every line parses after the disk fills and frees', () => {
    const dir = mkdtempSync(join(tmpdir(), 'audit-full-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=64k', 'tmpfs', dir]);
    try {
      const log = new AuditLog(join(dir, 'audit.jsonl'), { now: () => Date.now() } as never);
      const rec = { decision: 'deny' as const, token: null, role: null, action: 'x', target: 'y'.repeat(300), reason: 'bad token' };
      try { writeFileSync(join(dir, 'filler'), Buffer.alloc(40 * 1024)); } catch { /* full already */ }
      let failed = 0;
      for (let i = 0; i < 200; i++) {
        try { log.append(rec); } catch { failed++; }
      }
      expect(failed).toBeGreaterThan(0);
      unlinkSync(join(dir, 'filler'));
      for (let i = 0; i < 5; i++) log.append(rec);
      const lines = readFileSync(join(dir, 'audit.jsonl'), 'utf8').split('\n').filter(Boolean);
      for (const l of lines) expect(() => JSON.parse(l)).not.toThrow();
      expect(lines.length).toBe(200 - failed + 5);
    } finally {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
