import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { type ErrorCode, ErrorCodes, WaveosError, isErrorCode } from './index.js';

interface DocRow {
  exit: number;
  http: number;
  alsoHttp: number[];
}

/**
 * The rows of docs/errors.md's table, by code: the exit cell is one number, the HTTP cell's first status is
 * the code's own and any further statuses in it are the others it is sent with.
 */
function docRows(): Map<string, DocRow> {
  const text = readFileSync(join(import.meta.dirname, '../../docs/errors.md'), 'utf8');
  const rows = new Map<string, DocRow>();
  for (const line of text.split('\n')) {
    const m = /^\| `(WAVEOS_E_[A-Z_]+)` \| ([^|]*) \| ([^|]*) \|/.exec(line);
    if (!m) continue;
    const [, code = '', exit = '', http = ''] = m;
    expect(rows.has(code), `${code} is in docs/errors.md twice`).toBe(false);
    expect(exit.trim(), `${code}: the exit cell`).toMatch(/^\d$/);
    const statuses = [...http.matchAll(/\b[1-5]\d\d\b/g)].map((s) => Number(s[0]));
    expect(statuses.length, `${code}: the HTTP cell names no status`).toBeGreaterThan(0);
    rows.set(code, { exit: Number(exit), http: statuses[0] ?? 0, alsoHttp: statuses.slice(1).sort() });
  }
  return rows;
}

describe('the error table', () => {
  const doc = docRows();
  const table = Object.entries(ErrorCodes).map(([code, spec]) => ({
    code,
    row: { exit: spec.exit, http: spec.http, alsoHttp: [...('alsoHttp' in spec ? spec.alsoHttp : [])].sort() } satisfies DocRow,
  }));

  it('documents every code of the table, with its exit and HTTP statuses', () => {
    for (const { code, row } of table) {
      expect(doc.has(code), `${code} is in daemon/core/errors.ts but not in docs/errors.md`).toBe(true);
      expect(doc.get(code), `${code}: docs/errors.md and daemon/core/errors.ts disagree`).toEqual(row);
    }
  });

  it('has every code docs/errors.md documents', () => {
    for (const code of doc.keys()) expect(isErrorCode(code), `${code} is in docs/errors.md but not in daemon/core/errors.ts`).toBe(true);
    expect(doc.size).toBe(table.length);
  });

  it('gives each error the exit status of its code', () => {
    for (const { code, row } of table) expect(new WaveosError(code as ErrorCode, 'x').exitCode).toBe(row.exit);
  });

  it('knows only its own codes', () => {
    expect(isErrorCode('WAVEOS_E_USAGE')).toBe(true);
    for (const s of ['WAVEOS_E_NOPE', 'toString', 'constructor', '__proto__', '', 2, undefined, null]) expect(isErrorCode(s)).toBe(false);
  });
});
