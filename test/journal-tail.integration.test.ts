import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
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
});
