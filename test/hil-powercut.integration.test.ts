import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { powerCut } from '../hil-sim/power-cut.js';
import { PowercutFs, ensurePowercutFs } from '../hil-sim/powercut/powercut.js';
import { Recorder, summarize } from '../hil-sim/report.js';

// powercut-fs through real processes: what was fsynced survives a cut, what was not is gone. Then the
// power-cut HIL scenario, short and seeded, with every invariant after each cut.

const REPO = resolve(import.meta.dirname, '..');
let base: string;
let fs: PowercutFs;
let mnt: string;

/** Runs a node script in a child process (its own file handles, closed when it exits) with the mount as cwd. */
function child(script: string): string {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { cwd: mnt, encoding: 'utf8', timeout: 30_000 });
  if (r.status !== 0) throw new Error(`child failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

const FS = "import * as fs from 'node:fs';";

async function cutAndRemount(): Promise<void> {
  await fs.cut();
  fs.mount();
}

describe('powercut-fs', () => {
  beforeAll(async () => {
    await ensurePowercutFs();
    base = mkdtempSync(join(tmpdir(), 'waveos-powercut-test-'));
    mnt = join(base, 'mnt');
    fs = new PowercutFs(mnt, join(base, 'disk'), join(base, 'stats.json'), join(base, 'fs.log'));
    fs.mount();
  }, 600_000);

  afterAll(async () => {
    await fs?.unmount();
    if (base && !fs?.mounted) rmSync(base, { recursive: true, force: true });
  });

  it('a write without fsync is gone after a cut; with fsync it is whole; a later unsynced tail leaves it short', async () => {
    child(`${FS}
      fs.writeFileSync('lost.txt', 'never synced\\n');
      const fd = fs.openSync('kept.txt', 'w'); fs.writeSync(fd, 'synced\\n'.repeat(1000)); fs.fsyncSync(fd); fs.closeSync(fd);
      const g = fs.openSync('short.txt', 'w'); fs.writeSync(g, 'head\\n'); fs.fsyncSync(g); fs.writeSync(g, 'tail\\n'); fs.closeSync(g);`);
    // Before the cut every process sees everything, and the disk only what was synced.
    expect(readFileSync(join(mnt, 'lost.txt'), 'utf8')).toBe('never synced\n');
    expect(statSync(join(mnt, 'short.txt')).size).toBe(10);
    expect(statSync(join(base, 'disk/lost.txt')).size).toBe(0);
    const s = await fs.stats();
    expect(s?.dirty_bytes).toBeGreaterThanOrEqual(13 + 10);
    expect(s?.fsyncs).toBeGreaterThanOrEqual(2);
    await cutAndRemount();
    expect(readFileSync(join(mnt, 'lost.txt'), 'utf8')).toBe('');
    expect(readFileSync(join(mnt, 'kept.txt'), 'utf8')).toBe('synced\n'.repeat(1000));
    expect(readFileSync(join(mnt, 'short.txt'), 'utf8')).toBe('head\n');
    const last = fs.history.at(-1);
    expect(last?.bytes_durable).toBeGreaterThanOrEqual(7000 + 5);
  });

  it('a temp file renamed over the real one without fsync is empty after the cut; with fsync it is the new content', async () => {
    child(`${FS}
      for (const f of ['a.json', 'b.json']) { const fd = fs.openSync(f, 'w'); fs.writeSync(fd, '{"v":1}'); fs.fsyncSync(fd); fs.closeSync(fd); }
      fs.writeFileSync('a.json.tmp', '{"v":2}'); fs.renameSync('a.json.tmp', 'a.json');
      const fd = fs.openSync('b.json.tmp', 'w'); fs.writeSync(fd, '{"v":2}'); fs.fsyncSync(fd); fs.closeSync(fd); fs.renameSync('b.json.tmp', 'b.json');`);
    expect(readFileSync(join(mnt, 'a.json'), 'utf8')).toBe('{"v":2}');
    await cutAndRemount();
    expect(readFileSync(join(mnt, 'a.json'), 'utf8')).toBe('');
    expect(readFileSync(join(mnt, 'b.json'), 'utf8')).toBe('{"v":2}');
    expect(existsSync(join(mnt, 'a.json.tmp'))).toBe(false);
  });

  it('O_APPEND writes land at the logical end, across handles; a read sees unsynced data; one fsync makes the inode durable', async () => {
    child(`${FS}
      const a = fs.openSync('log.txt', 'a'); const b = fs.openSync('log.txt', 'a');
      fs.writeSync(a, 'one\\n'); fs.writeSync(b, 'two\\n'); fs.writeSync(a, 'three\\n');
      process.stdout.write(fs.readFileSync('log.txt', 'utf8'));
      fs.fsyncSync(b); fs.writeSync(a, 'four\\n'); fs.closeSync(a); fs.closeSync(b);`);
    expect(readFileSync(join(mnt, 'log.txt'), 'utf8')).toBe('one\ntwo\nthree\nfour\n');
    // A second process appending with the shell's >> sees the same end.
    expect(spawnSync('sh', ['-c', 'echo five >> log.txt; cat log.txt'], { cwd: mnt, encoding: 'utf8' }).stdout).toBe('one\ntwo\nthree\nfour\nfive\n');
    await cutAndRemount();
    expect(readFileSync(join(mnt, 'log.txt'), 'utf8')).toBe('one\ntwo\nthree\n');
  });

  it('truncation (O_TRUNC, ftruncate, truncate by path) is data: unsynced, the old content comes back', async () => {
    child(`${FS}
      for (const f of ['t1', 't2', 't3']) { const fd = fs.openSync(f, 'w'); fs.writeSync(fd, 'x'.repeat(10000)); fs.fsyncSync(fd); fs.closeSync(fd); }
      fs.writeFileSync('t1', 'short');
      const fd = fs.openSync('t2', 'r+'); fs.ftruncateSync(fd, 5000); fs.writeSync(fd, 'y', 8000); fs.closeSync(fd);
      fs.truncateSync('t3', 100);
      const g = fs.openSync('t4', 'w'); fs.writeSync(g, 'z'.repeat(9000)); fs.fsyncSync(g); fs.ftruncateSync(g, 10); fs.fsyncSync(g); fs.closeSync(g);`);
    expect(readFileSync(join(mnt, 't1'), 'utf8')).toBe('short');
    const t2 = readFileSync(join(mnt, 't2'));
    expect(t2.length).toBe(8001);
    // Bytes between the truncation point and a later write past it read as zeros, not as the old data.
    expect(t2.subarray(5000, 8000).every((b) => b === 0)).toBe(true);
    expect(t2[8000]).toBe('y'.charCodeAt(0));
    expect(statSync(join(mnt, 't3')).size).toBe(100);
    await cutAndRemount();
    for (const f of ['t1', 't2', 't3']) expect(readFileSync(join(mnt, f), 'utf8')).toBe('x'.repeat(10000));
    expect(readFileSync(join(mnt, 't4'), 'utf8')).toBe('z'.repeat(10));
  });

  it('a deleted file and a new one that gets its inode number do not share unsynced data', async () => {
    const out = child(`${FS}
      const inos = [];
      for (let i = 0; i < 20; i++) {
        fs.writeFileSync('old', 'stale data that was never synced');
        const a = fs.statSync('old').ino; fs.unlinkSync('old');
        fs.writeFileSync('new', ''); const st = fs.statSync('new');
        if (st.size !== 0 || fs.readFileSync('new', 'utf8') !== '') throw new Error('new file sees stale data');
        inos.push(a === st.ino); fs.unlinkSync('new');
      }
      // Renamed over: the old target's data goes with it.
      fs.writeFileSync('target', 'target data'); fs.writeFileSync('src', 'src data'); fs.renameSync('src', 'target');
      process.stdout.write(fs.readFileSync('target', 'utf8'));`);
    expect(out).toBe('src data');
    const s = await fs.stats();
    expect((s?.stale_dropped ?? 0) + (s?.unlinked_dropped ?? 0)).toBeGreaterThanOrEqual(20);
  });

  it('SQLite in WAL mode with synchronous=FULL keeps every committed row across a cut; with synchronous=OFF it does not', { timeout: 60_000 }, async () => {
    const writer = (file: string, sync: string): string => `
      import Database from ${JSON.stringify(join(REPO, 'node_modules/better-sqlite3/lib/index.js'))};
      const db = new Database(${JSON.stringify(file)});
      db.pragma('journal_mode = WAL'); db.pragma('synchronous = ${sync}');
      db.exec('CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)');
      const ins = db.prepare('INSERT INTO t (v) VALUES (?)');
      for (let i = 0; ; i++) { const id = ins.run('row ' + i + ' ' + 'x'.repeat(300)).lastInsertRowid; process.stdout.write(id + '\\n'); }`;
    const runWriter = async (file: string, sync: string): Promise<number> => {
      const p = spawn(process.execPath, ['--input-type=module', '-e', writer(file, sync)], { cwd: mnt, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      p.stdout.on('data', (c: Buffer) => (out += c.toString()));
      p.stderr.on('data', (c: Buffer) => (err += c.toString()));
      const exit = new Promise((r) => p.on('exit', r));
      // A reader in this process at the same time: the -shm index is shared through the mount.
      let seen = 0;
      for (let i = 0; i < 30 && !err; i++) {
        await new Promise((r) => setTimeout(r, 30));
        if (!existsSync(join(mnt, file))) continue;
        try {
          const r = new Database(join(mnt, file), { readonly: true });
          seen = Math.max(seen, (r.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n);
          r.close();
        } catch {
          // the table is not there yet
        }
      }
      p.kill('SIGKILL');
      await exit;
      expect(err).toBe('');
      const acked = out.split('\n').filter(Boolean).map(Number);
      // Printed means committed (stdout still queued in the writer when it died is simply not counted).
      expect(seen).toBeGreaterThan(0);
      return acked.at(-1) ?? 0;
    };
    const lastFull = await runWriter('full.db', 'FULL');
    const lastOff = await runWriter('off.db', 'OFF');
    await cutAndRemount();
    const full = new Database(join(mnt, 'full.db'));
    expect(full.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    const n = (full.prepare('SELECT count(*) AS n, max(id) AS hi FROM t').get() as { n: number; hi: number });
    // Every row whose commit returned is there (one more may have been committed as the writer died).
    expect(n.hi).toBeGreaterThanOrEqual(lastFull);
    expect(n.n).toBe(n.hi);
    full.close();
    const off = new Database(join(mnt, 'off.db'));
    expect(off.pragma('integrity_check')).toEqual([{ integrity_check: 'ok' }]);
    const offRows = (off.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 't'").get() as { n: number }).n ? (off.prepare('SELECT count(*) AS n FROM t').get() as { n: number }).n : 0;
    expect(offRows).toBeLessThan(lastOff);
    off.close();
  });
});

describe('HIL power-cut', () => {
  it('power cuts at seeded instants under load: everything acknowledged before a cut survives it', { timeout: 150_000 }, async () => {
    const rec = new Recorder('power-cut', 21, '');
    await powerCut(rec, { seed: 21, count: 4, durationMs: 80_000, recoveryBoundMs: 30_000 });
    const r = rec.report();
    expect(r.violations, summarize(r)).toEqual([]);
    expect(r.faults_by_kind['power-cut']).toBe(4);
    expect(r.daemon_sigkills).toBe(4);
    expect(r.recovery_ms.count).toBe(4);
    expect(r.checks_by_invariant['acked-events-kept']).toBe(4);
    expect(r.checks_by_invariant['spool-lines-kept']).toBe(4);
    expect(r.checks_by_invariant['bundle-slots-whole-at-cut']).toBe(4);
    // At least one cut came long enough after a restart to check the spooler's fsync-interval promise.
    expect(r.checks_by_invariant['spool-synced-lines-kept']).toBeGreaterThanOrEqual(1);
    const pc = r.details.power_cut as { cuts: number; bytes_dropped_total: number; fsyncs: number; bytes_durable: number };
    expect(pc.cuts).toBe(4);
    // The cuts really threw data away, and the daemon really made some durable.
    expect(pc.bytes_dropped_total).toBeGreaterThan(0);
    expect(pc.fsyncs).toBeGreaterThan(0);
    expect(pc.bytes_durable).toBeGreaterThan(0);
  });
});
