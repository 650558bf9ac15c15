import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as UnixDgram from 'unix-dgram';
import { describe, expect, it } from 'vitest';
import { silentLogger } from '../core/index.js';
import { pinoLinePriority } from '../spooler/self-log.js';
import type { JournalEvent } from './event.js';
import { eventMirror } from './journald.js';

const ev = (seq: number, severity: JournalEvent['severity'], reason: string): JournalEvent =>
  ({ seq, severity, kind: 'policy.breaker_open', source: 'policy', reason, data: {}, ts: '2026-12-02T00:00:00.000Z' }) as unknown as JournalEvent;

/** Parses native journal datagrams: `KEY=value` lines and the length-prefixed form for values with newlines. */
function fields(buf: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < buf.length) {
    const nl = buf.indexOf(0x0a, i);
    const line = buf.toString('utf8', i, nl);
    const eq = line.indexOf('=');
    if (eq >= 0) {
      out[line.slice(0, eq)] = line.slice(eq + 1);
      i = nl + 1;
    } else {
      const len = Number(buf.readBigUInt64LE(nl + 1));
      out[line] = buf.toString('utf8', nl + 9, nl + 9 + len);
      i = nl + 9 + len + 1;
    }
  }
  return out;
}

describe('journald mirror', () => {
  it('sends each event at or above the threshold as a native entry with its priority and fields', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'waveos-journald-'));
    const path = join(dir, 'socket');
    const got: Buffer[] = [];
    const server = (createRequire(import.meta.url)('unix-dgram') as typeof UnixDgram).createSocket('unix_dgram', (m) => got.push(m));
    server.bind(path);
    try {
      const mirror = eventMirror({ minSeverity: 'warning', runId: 'run-1', log: silentLogger(), socketPath: path });
      mirror?.([ev(1, 'info', 'quiet'), ev(2, 'error', 'breaker crash-breaker opened\nafter 5 exits'), ev(3, 'warning', 'safe mode')]);
      for (let i = 0; i < 50 && got.length < 2; i++) await new Promise((r) => setTimeout(r, 20));
      const entries = got.map(fields);
      expect(entries.map((e) => [e.PRIORITY, e.WAVEOS_SEQ, e.MESSAGE])).toEqual([
        ['3', '2', 'policy.breaker_open: breaker crash-breaker opened\nafter 5 exits'],
        ['4', '3', 'policy.breaker_open: safe mode'],
      ]);
      expect(entries[0]).toMatchObject({ SYSLOG_IDENTIFIER: 'waveos', WAVEOS_EVENT_KIND: 'policy.breaker_open', WAVEOS_RUN_ID: 'run-1', WAVEOS_SEVERITY: 'error' });
      expect(eventMirror({ minSeverity: 'off', runId: 'r', log: silentLogger() })).toBeUndefined();
    } finally {
      server.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('reads the priority of a pino line from its level', () => {
    expect([10, 20, 30, 40, 50, 60].map((l) => pinoLinePriority(Buffer.from(`{"level":${l},"time":1}\n`)))).toEqual([7, 7, 6, 4, 3, 2]);
    expect(pinoLinePriority(Buffer.from('plain text\n'))).toBeUndefined();
  });
});
