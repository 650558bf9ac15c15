import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, describe, expect, it } from 'vitest';
import { readSignedManifest } from '../daemon/evidence/index.js';
import { REPO, cli } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';

// The second verifier, written in Python from docs/formats/ alone, held to the same verdicts as the daemon.
const VERIFY = join(REPO, 'test/verifier-py/verify.py');
const VECTORS = join(REPO, 'docs/formats/vectors');

/** A python3 that imports `cryptography`, installing Debian's package when missing (root); or why there is none. */
function findPython(): { python: string } | { missing: string } {
  const works = (p: string): boolean => spawnSync(p, ['-c', 'import cryptography'], { encoding: 'utf8' }).status === 0;
  const candidates = ['python3', '/usr/bin/python3'];
  let found = candidates.find(works);
  let why = '';
  if (!found) {
    const r = spawnSync('bash', [join(REPO, 'scripts/ensure-python-crypto.sh')], { encoding: 'utf8', timeout: 600_000 });
    why = (r.stderr || r.stdout || `ensure-python-crypto.sh exited ${r.status}`).trim();
    found = candidates.find(works);
  }
  return found ? { python: found } : { missing: `no python3 with cryptography: ${why}` };
}

const py = findPython();

interface Judgement {
  valid: boolean;
  reasons: string[];
  messages: string[];
}

function run(args: string[]): { code: number; out: string; err: string } {
  if (!('python' in py)) throw new Error(py.missing);
  const r = spawnSync(py.python, [VERIFY, ...args], { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout, err: r.stderr };
}

function judge(kind: string, file: string, trusted?: string, packs: string[] = []): Judgement & { code: number } {
  const r = run([kind, file, ...(trusted ? ['--trusted', trusted] : []), ...packs.flatMap((p) => ['--pack', p])]);
  expect(r.err).toBe('');
  return { ...(JSON.parse(r.out) as Judgement), code: r.code };
}

/** Runs the test when python3 with cryptography is there; skips with the reason when not, except under CI. */
function needsPython(ctx: { skip: (note?: string) => never }): void {
  if ('python' in py) return;
  if (process.env.CI) throw new Error(`${py.missing} (CI must have it: scripts/ensure-python-crypto.sh)`);
  ctx.skip(py.missing);
}

const fx = daemonFixture('waveos-pyverify-');
const scratch = mkdtempSync(join(tmpdir(), 'waveos-pyverify-'));
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('the Python verifier on the format vectors', () => {
  it('prints the RFC 8785 form of every jcs.json vector and refuses the ones it must', (ctx) => {
    needsPython(ctx);
    const vectors = (JSON.parse(readFileSync(join(VECTORS, 'jcs.json'), 'utf8')) as { vectors: { name: string; expected?: string; error?: string }[] }).vectors;
    const got = new Map((JSON.parse(run(['jcs', join(VECTORS, 'jcs.json')]).out) as { name: string; output?: string; error?: string }[]).map((g) => [g.name, g]));
    for (const v of vectors) {
      if (v.error !== undefined) expect(got.get(v.name)?.error, v.name).toBeDefined();
      else expect(got.get(v.name)?.output, v.name).toBe(v.expected);
    }
  });

  it('reaches the verdict of verdicts.json on every vector: the valid pass, each tampered one fails for its reason', (ctx) => {
    needsPython(ctx);
    const verdicts = (JSON.parse(readFileSync(join(VECTORS, 'verdicts.json'), 'utf8')) as { vectors: { file: string; valid: boolean; reason: string | null }[] }).vectors;
    const r = run(['batch', join(VECTORS, 'verdicts.json')]);
    expect(r.code, r.err).toBe(0);
    const got = new Map((JSON.parse(r.out) as (Judgement & { file: string })[]).map((g) => [g.file, g]));
    expect(got.size).toBe(verdicts.length);
    for (const v of verdicts) {
      const g = got.get(v.file);
      expect(g?.valid, `${v.file}: ${g?.messages.join('; ')}`).toBe(v.valid);
      if (!v.valid) expect(g?.reasons, v.file).toContain(v.reason);
    }
  });

  it('exits 5 on a tampered vector and 0 on a valid one', (ctx) => {
    needsPython(ctx);
    expect(judge('journal', join(VECTORS, 'journal-v2.db')).code).toBe(0);
    expect(judge('journal', join(VECTORS, 'journal-truncated-tail.db'))).toMatchObject({ code: 5, reasons: ['tail.truncated'], messages: ['seq 7..8 missing at the tail'] });
  });
});

describe('the Python verifier on what a real daemon wrote', () => {
  it("verifies the daemon's journal and an exported pack, and finds the journal's last rows deleted", async (ctx) => {
    needsPython(ctx);
    const { root, d } = await fx.start({ schema_version: 2 });
    const pack = join(scratch, 'real.tar.gz');
    const exp = cli(['evidence', 'export', '--since', '15m', '--reason', 'second verifier', '--out', pack, '--json', '--root', root]);
    expect(exp.code, exp.stderr).toBe(0);
    expect((await d.kill('SIGTERM')).code).toBe(143);

    const trusted = mkdtempSync(join(scratch, 'trusted-'));
    copyFileSync(join(root, 'var/lib/waveos/device.pub'), join(trusted, 'device.pub'));
    const p = judge('pack', pack, trusted);
    expect(p, p.messages.join('; ')).toMatchObject({ code: 0, valid: true });
    expect(judge('pack', pack, join(VECTORS, 'trusted'))).toMatchObject({ code: 5, reasons: ['signature.untrusted'] });

    const db = join(root, 'var/lib/waveos/waveos.db');
    const j = judge('journal', db);
    expect(j, j.messages.join('; ')).toMatchObject({ code: 0, valid: true });
    expect(judge('journal', db, undefined, [pack])).toMatchObject({ code: 0, valid: true });
    const last = (JSON.parse(cli(['journal', 'verify', '--root', root, '--json']).stdout) as { lastSeq: number }).lastSeq;
    const w = new Database(db);
    w.prepare('DELETE FROM events WHERE seq > ?').run(last - 2);
    w.close();
    expect(judge('journal', db)).toMatchObject({ code: 5, reasons: ['tail.truncated'], messages: [`seq ${last - 1}..${last} missing at the tail`] });
    // The head mark cut with the rows, below what the pack recorded: only the pack shows it.
    const cut = (readSignedManifest(pack).journal.head_seq as number) - 1;
    const w2 = new Database(db);
    w2.prepare('DELETE FROM events WHERE seq > ?').run(cut);
    w2.prepare('UPDATE journal_head SET seq = ?, hash = (SELECT hash FROM events WHERE seq = ?)').run(cut, cut);
    w2.close();
    expect(judge('journal', db).code).toBe(0);
    expect(judge('journal', db, undefined, [pack])).toMatchObject({ code: 5, reasons: ['tail.truncated'], messages: [expect.stringContaining(`seq ${cut + 1}..`)] });
  });
});
