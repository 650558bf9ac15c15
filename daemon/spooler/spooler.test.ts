import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PassThrough } from 'node:stream';
import { gunzipSync } from 'node:zlib';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../core/index.js';
import { LineSplitter } from './line-splitter.js';
import { Redactor, compilePatterns } from '../security/index.js';
import { type SpoolEvent, Spooler, type SpoolerSettings, readSpool, spoolerSettings } from './index.js';

let dir: string;
let spool: string;
let clock: FakeClock;
let events: SpoolEvent[];
const spoolers: Spooler[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'spooler-'));
  spool = join(dir, 'spool');
  clock = new FakeClock();
  events = [];
});
afterEach(async () => {
  for (const s of spoolers.splice(0)) await s.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Timers are set far out: the tests move the clock and call flushAll/tick themselves. */
function make(over: Partial<SpoolerSettings> = {}, extra: { freeBytes?: (d: string) => number; socketPath?: string; serviceSocketDir?: string; reservedSources?: string[] } = {}): Spooler {
  const s = new Spooler({
    clock,
    log: silentLogger(),
    spoolDir: spool,
    settings: spoolerSettings({ flush_interval_ms: 3_600_000, disk_check_interval_ms: 3_600_000, fsync: 'none', socket: extra.socketPath !== undefined, ...over }),
    redactor: new Redactor({ patterns: over.redact ?? [] }),
    events: { append: (e) => events.push(e) },
    ...extra,
  });
  spoolers.push(s);
  return s;
}

async function collect(source: string): Promise<string[]> {
  const out: string[] = [];
  for await (const l of readSpool(spool, source)) out.push(l);
  return out;
}

function body(l: string): string {
  return l.split(' ').slice(2).join(' ');
}

function until(what: string, fn: () => boolean, ms = 10_000): Promise<void> {
  const end = Date.now() + ms;
  return new Promise((resolve, reject) => {
    const poll = (): void => {
      if (fn()) resolve();
      else if (Date.now() > end) reject(new Error(`timed out waiting for ${what}`));
      else setTimeout(poll, 10);
    };
    poll();
  });
}

/** A real child process that writes `n` numbered lines as fast as it can. */
function flooder(n: number, width = 20): ReturnType<typeof spawn> {
  const code = `(async()=>{let s='';for(let i=1;i<=${n};i++){s+='line '+String(i).padStart(${width},'0')+'\\n';if(s.length>65536){if(!process.stdout.write(s))await new Promise(r=>process.stdout.once('drain',r));s='';}}process.stdout.write(s);})()`;
  return spawn(process.execPath, ['-e', code], { stdio: ['ignore', 'pipe', 'ignore'] });
}

function exited(child: ReturnType<typeof spawn>): Promise<number | null> {
  return new Promise((r) => child.on('close', (code) => r(code)));
}

describe('LineSplitter', () => {
  it('gives back every line, whatever the chunking, truncating only past the maximum', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ unit: fc.constantFrom('a', 'b', 'é', ' '), maxLength: 40 }), { maxLength: 30 }),
        fc.array(fc.integer({ min: 1, max: 50 }), { minLength: 1, maxLength: 10 }),
        (lines, cuts) => {
          const text = lines.map((l) => `${l}\n`).join('');
          const buf = Buffer.from(text);
          const sp = new LineSplitter(16);
          const out: { text: string; truncated: number }[] = [];
          const emit = (b: Buffer, s: number, e: number, truncated: number): void => void out.push({ text: b.toString('utf8', s, e), truncated });
          let off = 0;
          let i = 0;
          while (off < buf.length) {
            const n = cuts[i++ % cuts.length] as number;
            sp.push(buf.subarray(off, off + n), emit);
            off += n;
          }
          sp.end(emit);
          // cut at 16 bytes, backed off to a whole character; what is cut is counted in bytes
          const expected = lines.map((l) => {
            let t = '';
            for (const ch of l) if (Buffer.byteLength(t + ch) <= 16) t += ch; else break;
            return { text: t, truncated: Buffer.byteLength(l) - Buffer.byteLength(t) };
          });
          expect(out).toEqual(expected);
        },
      ),
    );
  });
});

describe('the spooler', () => {
  it('rate-limits a flooding child with an exact suppressed count, then one summary line and one event', async () => {
    const s = make({ defaults: { backpressure: 'block', rate: { lines_per_s: 100, burst_s: 2 }, max_line_bytes: 1024 }, report_interval_ms: 60_000 });
    await s.start();
    const child = flooder(10_000);
    s.attach('sensor-app', child.stdout as NonNullable<typeof child.stdout>, 'stdout');
    expect(await exited(child)).toBe(0);
    await until('all lines seen', () => (s.stats().sources['sensor-app']?.suppressed_lines ?? 0) + 200 >= 10_000);
    await s.drain();
    // the clock did not move: exactly the bucket's depth (100/s × 2 s) got through
    expect(s.stats().sources['sensor-app']?.suppressed_lines).toBe(9_800);
    s.tick();
    expect(events.filter((e) => e.kind === 'spool.suppressed')).toHaveLength(0);
    clock.advance(60_000);
    s.tick();
    s.tick();
    await s.drain();
    const sup = events.filter((e) => e.kind === 'spool.suppressed');
    expect(sup).toHaveLength(1);
    expect(sup[0]?.reason).toBe('suppressed 9,800 lines from sensor-app in 60 s: over its rate limit');
    expect(sup[0]?.data).toMatchObject({ source: 'sensor-app', lines: 9_800, window_s: 60 });
    const lines = await collect('sensor-app');
    expect(lines).toHaveLength(201);
    expect(body(lines[0] as string)).toBe('line 00000000000000000001');
    expect(body(lines[199] as string)).toBe('line 00000000000000000200');
    expect(lines[200]).toMatch(/ spool suppressed 9,800 lines from sensor-app in 60 s \(rate limit\)$/);
  });

  it('truncates over-long lines with a marker and envelopes each line with time and stream', async () => {
    const s = make({ defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 10 } });
    await s.start();
    const p = new PassThrough();
    s.attach('app', p, 'stderr');
    p.write('short\n0123456789abcdef\n');
    p.end('no newline at the end');
    await until('ended', () => (s.stats().sources.app?.truncated_lines ?? 0) === 2);
    await s.drain();
    expect(await collect('app')).toEqual([
      '2026-01-01T00:00:00.000Z stderr short',
      '2026-01-01T00:00:00.000Z stderr 0123456789 [truncated 6 bytes]',
      '2026-01-01T00:00:00.000Z stderr no newline [truncated 11 bytes]',
    ]);
  });

  it('masks secrets before anything reaches disk, with the built-in patterns', async () => {
    const canary = 'CANARY-7f3a9c1e5b';
    const s = make({ defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 8192 } });
    await s.start();
    const p = new PassThrough();
    s.attach('app', p, 'stdout');
    p.end(
      [
        `login ok password=${canary} user=bob`,
        `{"token": "${canary}", "n": 1}`,
        `Authorization: Bearer ${canary}`,
        `API_KEY: ${canary}`,
        'nothing secret here',
      ].join('\n'),
    );
    await until('written', () => s.stats().sources.app?.lines_written === 5 || (s.flushAll(), false));
    await s.stop();
    const text = readFileSync(join(spool, 'app/current.log'), 'utf8');
    expect(text).not.toContain(canary);
    expect(text).toContain('password=[REDACTED] user=bob');
    expect(text).toContain('"token": "[REDACTED]"');
    expect(text).toContain('Bearer [REDACTED]');
    expect(text).toContain('nothing secret here');
  });

  it('rotates by size and compresses off the hot path, keeping the total under quota and the newest lines', async () => {
    const s = make({ rotate_bytes: 8 * 1024, quota_bytes: 40 * 1024, keep_files: 1000, defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 8192 } });
    await s.start();
    const p = new PassThrough();
    s.attach('app', p, 'stdout');
    let n = 0;
    // random-ish text compresses poorly, so the quota has to do its work
    const noise = (i: number): string => Buffer.from(String(Math.sin(i) * 1e9)).toString('base64');
    for (let round = 0; round < 40; round++) {
      let chunk = '';
      for (let i = 0; i < 40; i++) chunk += `n=${String(++n).padStart(6, '0')} ${noise(n)}${noise(n + 0.5)}\n`;
      p.write(chunk);
      await new Promise((r) => setImmediate(r));
      s.flushAll();
      await s.drain();
      await until('compressed', () => s.stats().compressions_pending === 0);
    }
    const st = s.stats();
    const files = readdirSync(join(spool, 'app'));
    const onDisk = files.reduce((a, f) => a + statSync(join(spool, 'app', f)).size, 0);
    expect(files.some((f) => f.endsWith('.log.gz'))).toBe(true);
    expect(onDisk).toBe(st.usage_bytes);
    expect(onDisk).toBeLessThanOrEqual(40 * 1024);
    expect(events.some((e) => e.kind === 'spool.evicted')).toBe(true);
    const lines = await collect('app');
    const nums = lines.map((l) => Number(/n=(\d+)/.exec(l)?.[1]));
    // in order across compressed and plain files, nothing missing after the oldest kept, the newest there
    nums.forEach((x, i) => i > 0 && expect(x).toBe((nums[i - 1] as number) + 1));
    expect(nums.at(-1)).toBe(n);
    expect(nums[0]).toBeGreaterThan(1);
    for (const f of files.filter((f) => f.endsWith('.gz'))) expect(gunzipSync(readFileSync(join(spool, 'app', f))).toString().endsWith('\n')).toBe(true);
  });

  it('keeps free space: deletes the oldest rotated files, then drops and counts, and resumes when space returns', async () => {
    let free = 100 * 1024 * 1024;
    const s = make(
      { rotate_bytes: 4 * 1024, min_free_bytes: 10 * 1024 * 1024, defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 8192 } },
      { freeBytes: () => free },
    );
    await s.start();
    const p = new PassThrough();
    s.attach('app', p, 'stdout');
    const write = async (from: number, count: number): Promise<void> => {
      let chunk = '';
      for (let i = from; i < from + count; i++) chunk += `n=${String(i).padStart(6, '0')} ${'x'.repeat(80)}\n`;
      p.write(chunk);
      await new Promise((r) => setImmediate(r));
      s.flushAll();
      await s.drain();
    };
    for (let i = 0; i < 10; i++) await write(1 + i * 20, 20);
    await until('compressed', () => s.stats().compressions_pending === 0);
    expect(readdirSync(join(spool, 'app')).filter((f) => f.endsWith('.gz')).length).toBeGreaterThan(1);
    free = 1024 * 1024;
    s.checkDisk();
    expect(events.map((e) => e.kind)).toEqual(['spool.evicted', 'spool.disk_full']);
    expect(readdirSync(join(spool, 'app'))).toEqual(['current.log']);
    await write(1000, 50);
    expect(s.stats().sources.app?.dropped_disk).toBe(50);
    expect(s.stats().disk_full).toBe(true);
    free = 50 * 1024 * 1024;
    s.checkDisk();
    expect(events.at(-1)?.kind).toBe('spool.resumed');
    expect(events.at(-1)?.reason).toMatch(/spooling resumed: .* 50 lines were dropped while paused/);
    await write(2000, 5);
    const lines = await collect('app');
    expect(lines.some((l) => l.endsWith('spooling resumed: 50 lines from app were dropped while the disk was full'))).toBe(true);
    expect(lines.at(-1)).toContain('n=002004');
    expect(lines.some((l) => l.includes('n=001000'))).toBe(false);
  });

  it('blocks a child on its pipe while the writer lags in block mode, and loses nothing', async () => {
    const s = make({ buffer_bytes: 16 * 1024, batch_bytes: 1024 * 1024, defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 8192 } });
    await s.start();
    const child = flooder(50_000);
    let done = false;
    const code = exited(child).then((c) => ((done = true), c));
    s.attach('app', child.stdout as NonNullable<typeof child.stdout>, 'stdout');
    await until('paused', () => s.stats().sources.app?.paused === true);
    await new Promise((r) => setTimeout(r, 100));
    expect(done).toBe(false);
    const pump = setInterval(() => s.flushAll(), 5);
    try {
      expect(await code).toBe(0);
      await until('all written', () => s.stats().sources.app?.lines_written === 50_000 || (s.flushAll(), false));
    } finally {
      clearInterval(pump);
    }
    expect(s.stats().sources.app?.dropped_backpressure).toBe(0);
    expect(await collect('app')).toHaveLength(50_000);
  });

  it('drops and counts instead of blocking in drop mode', async () => {
    const s = make({ buffer_bytes: 16 * 1024, batch_bytes: 1024 * 1024, defaults: { backpressure: 'drop', rate: undefined, max_line_bytes: 8192 } });
    await s.start();
    const child = flooder(50_000);
    s.attach('app', child.stdout as NonNullable<typeof child.stdout>, 'stdout');
    expect(await exited(child)).toBe(0);
    await until('ended', () => {
      const st = s.stats().sources.app;
      return st !== undefined && st.dropped_backpressure > 0 && st.pending_bytes + 0 >= 0;
    });
    await new Promise((r) => setTimeout(r, 50));
    await s.drain();
    const st = s.stats().sources.app;
    expect(st?.paused).toBe(false);
    expect((st?.lines_written ?? 0) + (st?.dropped_backpressure ?? 0)).toBe(50_000);
    expect(await collect('app')).toHaveLength(st?.lines_written ?? -1);
  });

  it('repairs a crash: trims a torn line, undoes a half compression, completes a finished one', async () => {
    const d = join(spool, 'app');
    mkdirSync(d, { recursive: true });
    writeFileSync(join(d, '00000001.log'), 'a 1 one\n');
    writeFileSync(join(d, '00000001.log.gz'), Buffer.from([])); // stands in for a finished compression
    writeFileSync(join(d, '00000002.log'), 'a 2 two\n');
    writeFileSync(join(d, '00000002.log.gz.tmp'), 'half');
    writeFileSync(join(d, 'current.log'), 'a 3 three\na 4 fo');
    const s = make();
    await s.start();
    await until('compressed', () => s.stats().compressions_pending === 0);
    expect(readdirSync(d).sort()).toEqual(['00000001.log.gz', '00000002.log.gz', 'current.log']);
    expect(readFileSync(join(d, 'current.log'), 'utf8')).toBe('a 3 three\n');
    expect(events[0]).toMatchObject({ kind: 'spool.recovered', data: { trimmed_bytes: 6, compressions_undone: 1, compressions_completed: 1 } });
  });

  it('takes lines on the ingestion socket, named by a hello line or a JSON source field, and refuses an unnamed one', async () => {
    const sock = join(dir, 'log.sock');
    const s = make({}, { socketPath: sock });
    await s.start();
    const send = (text: string): Promise<string> =>
      new Promise((resolve) => {
        let got = '';
        const c = createConnection(sock, () => c.end(text));
        c.on('data', (b) => (got += b.toString()));
        c.on('close', () => resolve(got));
        c.on('error', () => resolve(got));
      });
    await send('source=text-app\nfirst\nsecond\n');
    await send('{"source":"json-app","msg":"hello"}\n{"msg":"again"}\n');
    expect(await send('who am i\nline\n')).toMatch(/first line must be source=NAME/);
    await until('written', () => (s.flushAll(), s.stats().sources['json-app']?.lines_written === 2 && s.stats().sources['text-app']?.lines_written === 2));
    expect((await collect('text-app')).map(body)).toEqual(['first', 'second']);
    expect((await collect('json-app')).map(body)).toEqual(['{"source":"json-app","msg":"hello"}', '{"msg":"again"}']);
    expect(s.stats().socket_refused).toBe(1);
    expect(existsSync(join(spool, 'who'))).toBe(false);
  });

  it('binds a service socket’s lines to the service and refuses claims of reserved names on log.sock, counted per interval', async () => {
    const sock = join(dir, 'log.sock');
    const s = make({ report_interval_ms: 10_000 }, { socketPath: sock, serviceSocketDir: join(dir, 'log'), reservedSources: ['idle-svc'] });
    await s.start();
    const own = await s.openServiceSocket('svc');
    expect(own).toBe(join(dir, 'log', 'svc.sock'));
    expect(await s.openServiceSocket('svc')).toBe(own);
    expect(statSync(own as string).mode & 0o777).toBe(0o660);
    const send = (path: string, text: string): Promise<string> =>
      new Promise((resolve) => {
        let got = '';
        const c = createConnection(path, () => c.end(text));
        c.on('data', (b) => (got += b.toString()));
        c.on('close', () => resolve(got));
        c.on('error', () => resolve(got));
      });
    await send(own as string, 'source=waveos\nmine\n{"source":"x","m":1}\n');
    await send(own as string, 'last words');
    expect(await send(sock, 'source=svc\nforged 1\nforged 2\nforged 3')).toMatch(/source "svc" is a supervised service's/);
    await send(sock, '{"source":"waveos","m":"forged"}\nforged\n');
    await send(sock, 'source=idle-svc\nforged\n');
    await send(sock, 'source=free\nok\n');
    await until('written', () => (s.flushAll(), s.stats().sources.svc?.lines_written === 3 && s.stats().sources.free?.lines_written === 1));
    expect((await collect('svc')).map(body)).toEqual(['mine', '{"source":"x","m":1}', 'last words']);
    expect(existsSync(join(spool, 'waveos'))).toBe(false);
    expect(existsSync(join(spool, 'idle-svc'))).toBe(false);
    expect(s.stats().socket_claims_refused).toBe(6);
    s.tick();
    const refused = events.filter((e) => e.kind === 'spool.source_refused');
    expect(refused.map((e) => [e.data?.source, e.data?.lines])).toEqual([['svc', 3], ['waveos', 2], ['idle-svc', 1]]);
    expect(refused[0]?.data?.service_socket).toBe(own);
    // within the interval a new claim is counted, not reported; after it, one more event
    await send(sock, 'source=svc\nforged 4\n');
    await until('counted', () => s.stats().socket_claims_refused === 7);
    s.tick();
    expect(events.filter((e) => e.kind === 'spool.source_refused')).toHaveLength(3);
    clock.advance(10_000);
    s.tick();
    expect(events.filter((e) => e.kind === 'spool.source_refused').at(-1)?.data).toMatchObject({ source: 'svc', lines: 1 });
    await s.closeServiceSocket('svc');
    expect(existsSync(own as string)).toBe(false);
  });

  it('reads across compressed and plain files in order, with since and grep', async () => {
    const s = make({ rotate_bytes: 2 * 1024, defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 8192 } });
    await s.start();
    const p = new PassThrough();
    s.attach('app', p, 'stdout');
    for (let i = 1; i <= 300; i++) {
      p.write(`n=${i}${i % 50 === 0 ? ' fifty' : ''}\n`);
      if (i % 20 === 0) {
        await new Promise((r) => setImmediate(r));
        s.flushAll();
        await s.drain();
        clock.advance(1_000);
      }
    }
    await until('compressed', () => s.stats().compressions_pending === 0);
    const all = await collect('app');
    expect(all.map((l) => Number(/n=(\d+)/.exec(l)?.[1]))).toEqual(Array.from({ length: 300 }, (_, i) => i + 1));
    const grep: string[] = [];
    for await (const l of readSpool(spool, 'app', { grep: 'fifty' })) grep.push(body(l));
    expect(grep).toEqual(['n=50 fifty', 'n=100 fifty', 'n=150 fifty', 'n=200 fifty', 'n=250 fifty', 'n=300 fifty']);
    const since: string[] = [];
    for await (const l of readSpool(spool, 'app', { since: new Date(Date.UTC(2026, 0, 1) + 14_000).toISOString() })) since.push(body(l));
    expect(since[0]).toBe('n=281');
    expect(since).toHaveLength(20);
    await expect(collect('nope')).rejects.toMatchObject({ code: 'WAVEOS_E_NOT_FOUND' });
  });

  it('refuses a bad redaction pattern with a located error', () => {
    expect(() => compilePatterns(['ok', '(unclosed'], 'spooler.redact')).toThrow(/spooler.redact\[1\]/);
    // a pattern the linear-time engine cannot run is refused, never handed to the backtracking one
    expect(() => compilePatterns(['(?<=password=)\\S+'], 'spooler.redact')).toThrow(/linear time/);
  });
});

describe('the spooler over time', () => {
  it('rotates by age on the monotonic clock and deletes rotated files past max_age', async () => {
    const s = make({ rotate_age_ms: 60_000, max_age_ms: 3_600_000, disk_check_interval_ms: 1, fsync: 'every-batch', defaults: { backpressure: 'block', rate: undefined, max_line_bytes: 8192 } });
    await s.start();
    const p = new PassThrough();
    s.attach('app', p, 'stdout');
    p.write('first\n');
    await new Promise((r) => setImmediate(r));
    s.flushAll();
    await s.drain();
    clock.advance(30_000);
    s.tick();
    expect(readdirSync(join(spool, 'app'))).toEqual(['current.log']);
    clock.advance(30_000);
    s.tick();
    await until('compressed', () => s.stats().compressions_pending === 0);
    // the current file is made again by the next line
    expect(readdirSync(join(spool, 'app'))).toEqual(['00000001.log.gz']);
    // retention by age reads the files' times: age the rotated one past max_age
    const { utimesSync } = await import('node:fs');
    const old = (clock.now() - 2 * 3_600_000) / 1000;
    utimesSync(join(spool, 'app/00000001.log.gz'), old, old);
    clock.advance(1_000);
    s.tick();
    expect(readdirSync(join(spool, 'app'))).toEqual([]);
    expect(await collect('app')).toEqual([]);
  });
});
