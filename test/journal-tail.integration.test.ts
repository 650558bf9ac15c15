import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { readSignedManifest } from '../daemon/evidence/index.js';
import { cli } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';

const fx = daemonFixture('waveos-tail-');

describe('waveos journal verify and a truncated tail', () => {
  it('exits 5 naming the missing range when the last rows of a real journal are deleted', async () => {
    const { root, d } = await fx.start({ schema_version: 2 });
    expect((await d.kill('SIGTERM')).code).toBe(143);
    const intact = cli(['journal', 'verify', '--root', root, '--json']);
    expect(intact.code, intact.stderr).toBe(0);
    const report = JSON.parse(intact.stdout) as { lastSeq: number; headMark: { seq: number } };
    expect(report.headMark.seq).toBe(report.lastSeq);
    const last = report.lastSeq;
    expect(last).toBeGreaterThan(3);

    const db = new Database(join(root, 'var/lib/waveos/waveos.db'));
    db.prepare('DELETE FROM events WHERE seq > ?').run(last - 2);
    db.close();
    const r = cli(['journal', 'verify', '--root', root]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`seq ${last - 1}..${last} missing at the tail`);
    expect(r.stderr).toMatch(/truncated/);
  });

  it('with --pack, finds the tail cut even when the head mark was cut with it, from a signed pack kept elsewhere', async () => {
    const { root, d } = await fx.start({ schema_version: 2 });
    const pack = join(mkdtempSync(join(root, 'kept-')), 'kept.tar.gz');
    const exp = cli(['evidence', 'export', '--since', '15m', '--reason', 'kept elsewhere', '--out', pack, '--root', root]);
    expect(exp.code, exp.stderr).toBe(0);
    expect((await d.kill('SIGTERM')).code).toBe(143);
    expect(cli(['journal', 'verify', '--root', root, '--pack', pack]).code).toBe(0);
    const headSeq = readSignedManifest(pack).journal.head_seq as number;
    const cut = headSeq - 2;

    const db = new Database(join(root, 'var/lib/waveos/waveos.db'));
    db.prepare('DELETE FROM events WHERE seq > ?').run(cut);
    db.prepare('UPDATE journal_head SET seq = ?, hash = (SELECT hash FROM events WHERE seq = ?)').run(cut, cut);
    db.close();
    // The journal alone now looks whole: rows and mark were cut together.
    expect(cli(['journal', 'verify', '--root', root]).code).toBe(0);
    const r = cli(['journal', 'verify', '--root', root, '--pack', pack]);
    expect(r.code).toBe(5);
    expect(r.stderr).toContain(`seq ${cut + 1}..`);
    expect(r.stderr).toMatch(/missing at the tail: evidence pack kept\.tar\.gz records that the journal reached seq \d+/);
  });
});
