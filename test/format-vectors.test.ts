import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEFAULT_LIMITS, isBundleRejection, loadTrustedKeys, readSigningKey, scanBundle } from '../daemon/bundles/index.js';
import { parsePublicKey, readSignedManifest, verifyPack } from '../daemon/evidence/index.js';
import { JournalReader, verifyJournal } from '../daemon/journal/index.js';
import { ChunkCorrupt, decodeChunk, encodeChunk } from '../daemon/telemetry/chunk-codec.js';

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

interface ChunkVector {
  name: string;
  valid: boolean;
  version?: number;
  written?: boolean;
  reason?: string;
  note: string;
  hex: string;
  samples?: [number, string][];
}

describe('the metric chunk vectors (docs/formats/vectors/chunks.json)', () => {
  const chunks = (JSON.parse(readFileSync(join(DIR, 'chunks.json'), 'utf8')) as { vectors: ChunkVector[] }).vectors;
  const view = new DataView(new ArrayBuffer(8));
  const bitsOf = (v: number): string => (view.setFloat64(0, v), view.getBigUint64(0).toString(16).padStart(16, '0'));
  const fromBits = (b: string): number => (view.setBigUint64(0, BigInt(`0x${b}`)), view.getFloat64(0));

  it('cover both versions, valid and refused for each reason', () => {
    expect(new Set(chunks.filter((c) => c.valid).map((c) => c.version))).toEqual(new Set([1, 2]));
    expect(new Set(chunks.filter((c) => !c.valid).map((c) => c.reason))).toEqual(new Set(['checksum', 'truncated', 'length', 'version', 'payload']));
  });

  it.each(chunks.map((c) => [c.name, c] as const))('%s decodes to its samples bit for bit, or is refused with its reason', (_, c) => {
    const bytes = Buffer.from(c.hex, 'hex');
    if (!c.valid) {
      let reason = 'decoded';
      try {
        decodeChunk(bytes);
      } catch (e) {
        if (!(e instanceof ChunkCorrupt)) throw e;
        reason = e.reason;
      }
      expect(reason, c.note).toBe(c.reason);
      return;
    }
    expect(bytes[0]).toBe(c.version);
    const back = decodeChunk(bytes);
    expect(back.map((s) => [s.t, bitsOf(s.v)])).toEqual(c.samples);
    // What a writer makes of the samples: these very bytes when `written`, another (smaller) chunk when not.
    const made = Buffer.from(encodeChunk((c.samples ?? []).map(([t, b]) => ({ t, v: fromBits(b) })))).toString('hex');
    if (c.written) expect(made).toBe(c.hex);
    else expect(made.length).toBeLessThan(c.hex.length);
  });
});
