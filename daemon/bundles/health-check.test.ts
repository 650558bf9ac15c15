import { getEventListeners } from 'node:events';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { HEALTH_OUTPUT_MAX, HEALTH_REASON_MAX, quoteOutput, runHealthCheck } from './health-check.js';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'health-check-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

/** Until the process is gone (a zombie counts as gone: it no longer runs). */
async function waitGone(pid: number): Promise<void> {
  for (;;) {
    let state: string | undefined;
    try {
      state = /\) (\S) /.exec(readFileSync(`/proc/${pid}/stat`, 'utf8'))?.[1];
    } catch {
      return;
    }
    if (state === 'Z') return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const sh = (script: string): Promise<Awaited<ReturnType<typeof runHealthCheck>>> => runHealthCheck(['/bin/sh', '-c', script], { cwd: dir, env: { PATH: '/usr/bin:/bin' }, timeoutMs: 10_000 });

describe('an app health check', () => {
  it('keeps what it printed on stdout and stderr, trimmed, with its exit code', async () => {
    const r = await sh('echo "  first"; echo "second" >&2; exit 4');
    expect(r).toMatchObject({ code: 4, signal: null, truncated: false });
    expect(r.output.split('\n').sort()).toEqual(['first', 'second'].sort());
    expect(r.output.startsWith(' ')).toBe(false);
  });

  it('keeps only the last bytes of a long output and says it cut some', async () => {
    const r = await sh(`i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; echo "the last word"; exit 1`);
    expect(r.truncated).toBe(true);
    expect(Buffer.byteLength(r.output)).toBeLessThanOrEqual(HEALTH_OUTPUT_MAX);
    expect(r.output.endsWith('the last word')).toBe(true);
    expect(r.output).not.toContain('line 0\n');
  });

  it('settles when the check exits though a child it left holds the pipes open, and the child is killed', async () => {
    const pidFile = join(dir, 'child.pid');
    const r = await sh(`sleep 60 & echo $! > ${pidFile}; echo "left a child"; exit 2`);
    expect(r).toMatchObject({ code: 2, output: 'left a child' });
    const pid = Number(readFileSync(pidFile, 'utf8'));
    await waitGone(pid);
  });

  it('kills the check and what it started after the timeout', async () => {
    const r = await runHealthCheck(['/bin/sh', '-c', 'echo "hanging"; sleep 60'], { cwd: dir, env: { PATH: '/usr/bin:/bin' }, timeoutMs: 200 });
    expect(r).toMatchObject({ code: null, signal: 'SIGKILL', output: 'hanging' });
  });

  it('says so when the program cannot be started', async () => {
    const r = await runHealthCheck([join(dir, 'missing')], { cwd: dir, env: {}, timeoutMs: 10_000 });
    expect(r.code).toBeNull();
    expect(r.error).toMatch(/ENOENT/);
  });

  it('quotes the output on one line, its tail when long', () => {
    expect(quoteOutput('a\n  b\nc')).toBe('a | b | c');
    const q = quoteOutput(`${'x'.repeat(1000)}END`);
    expect(q.startsWith('…')).toBe(true);
    expect(q.endsWith('END')).toBe(true);
    expect(q.length).toBe(HEALTH_REASON_MAX + 1);
  });
});

describe('the trial sleep', () => {
  it('leaves no abort listener behind, however often a trial sleeps (no MaxListenersExceededWarning)', async () => {
    const { sleep } = await import('./runtime.js');
    const abort = new AbortController();
    for (let i = 0; i < 20; i++) await sleep(1, abort.signal);
    expect(getEventListeners(abort.signal, 'abort')).toHaveLength(0);
    const pending = sleep(60_000, abort.signal);
    abort.abort();
    await pending;
  });
});
