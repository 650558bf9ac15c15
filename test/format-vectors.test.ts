import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, isBundleRejection, loadTrustedKeys, readSigningKey, scanBundle } from '../daemon/bundles/index.js';
import { parsePublicKey, readSignedManifest, verifyPack } from '../daemon/evidence/index.js';
import { JournalReader, verifyJournal } from '../daemon/journal/index.js';

const DIR = join(import.meta.dirname, '../docs/formats/vectors');

interface Verdict {
  file: string;
  kind: 'journal' | 'pack' | 'bundle' | 'public-key' | 'secret-key' | 'device-pub';
  valid: boolean;
  reason: string | null;
  trusted?: string;
  note: string;
}

const verdicts = (JSON.parse(readFileSync(join(DIR, 'verdicts.json'), 'utf8')) as { vectors: Verdict[] }).vectors;
const scratch = mkdtempSync(join(tmpdir(), 'waveos-vectors-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

/** What the project's own verifier says of a vector: valid, or the code of what failed. */
async function judge(v: Verdict): Promise<{ valid: boolean; reasons: string[] }> {
  const file = join(DIR, v.file);
  switch (v.kind) {
    case 'journal': {
      const r = JournalReader.openReadOnly(file);
      try {
        const report = verifyJournal(r);
        return { valid: report.ok, reasons: report.broken ? [report.broken.code] : [] };
      } finally {
        r.close();
      }
    }
    case 'pack': {
      const report = await verifyPack(file, { keysDir: join(DIR, v.trusted ?? 'trusted') });
      return { valid: report.ok, reasons: report.problems.map((p) => p.code) };
    }
    case 'bundle':
      try {
        await scanBundle({ file, keys: loadTrustedKeys(join(DIR, v.trusted ?? 'trusted')), limits: DEFAULT_LIMITS, now: new Date() });
        return { valid: true, reasons: [] };
      } catch (e) {
        if (isBundleRejection(e)) return { valid: false, reasons: [e.check] };
        throw e;
      }
    case 'public-key': {
      // The daemon's loader, on a folder holding just this file: a key it skips adds no trust.
      const dir = mkdtempSync(join(scratch, 'keys-'));
      copyFileSync(file, join(dir, basename(file)));
      const skipped: string[] = [];
      const keys = loadTrustedKeys(dir, (_f, why) => skipped.push(why));
      return { valid: keys.length === 1, reasons: skipped };
    }
    case 'secret-key':
      readSigningKey(file);
      return { valid: true, reasons: [] };
    case 'device-pub':
      return { valid: parsePublicKey(readFileSync(file, 'utf8')) !== undefined, reasons: [] };
  }
}

describe('the format vectors (docs/formats/vectors/verdicts.json)', () => {
  it('cover every kind, valid and tampered, a truncated tail among them', () => {
    for (const kind of ['journal', 'pack', 'bundle', 'public-key', 'device-pub']) {
      expect(verdicts.some((v) => v.kind === kind && v.valid)).toBe(true);
      expect(verdicts.some((v) => v.kind === kind && !v.valid)).toBe(true);
    }
    expect(verdicts.some((v) => v.reason === 'tail.truncated')).toBe(true);
  });

  it.each(verdicts.map((v) => [v.file, v] as const))("the project's verifier reaches the verdict on %s", async (_, v) => {
    const got = await judge(v);
    expect(got.valid, `${v.file}: ${v.note}; got ${got.reasons.join(', ')}`).toBe(v.valid);
    // Keys are judged valid or not; their reasons are the second verifier's words for the same verdict.
    if (!v.valid && v.reason && !v.kind.includes('key') && v.kind !== 'device-pub') expect(got.reasons).toContain(v.reason);
  });

  it("reads a pack's signed manifest without unpacking it, and refuses one changed after signing", () => {
    expect(readSignedManifest(join(DIR, 'pack-valid.tar.gz')).journal).toMatchObject({ last_seq: 8, head_seq: 10 });
    expect(() => readSignedManifest(join(DIR, 'pack-manifest-edited.tar.gz'))).toThrow(/does not verify/);
    expect(() => readSignedManifest(join(DIR, 'pack-key-id-mismatch.tar.gz'))).toThrow(/key_id does not belong/);
    expect(() => readSignedManifest(join(DIR, 'journal-v2.db'))).toThrow(/not a readable evidence pack/);
  });
});
