import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JcsError, canonicalJson, jcs, jcsOf } from './index.js';

interface Vector {
  name: string;
  input: string;
  expected?: string;
  error?: string;
}

const vectors = (JSON.parse(readFileSync(new URL('../../docs/formats/vectors/jcs.json', import.meta.url), 'utf8')) as { vectors: Vector[] }).vectors;

describe('jcs (RFC 8785)', () => {
  it.each(vectors.filter((v) => v.error === undefined).map((v) => [v.name, v] as const))('%s: prints the vector', (_, v) => {
    expect(jcs(JSON.parse(v.input))).toBe(v.expected);
  });

  it.each(vectors.filter((v) => v.error !== undefined).map((v) => [v.name, v] as const))('%s: refuses the value', (_, v) => {
    expect(() => jcs(JSON.parse(v.input))).toThrow(JcsError);
  });

  it('refuses what is not JSON: undefined, functions, bigint, class instances', () => {
    for (const bad of [undefined, () => 1, 1n, new Date(0), new Map(), { a: undefined }]) expect(() => jcs(bad)).toThrow(JcsError);
  });

  it('keeps a member named __proto__ as a member', () => {
    expect(jcs(JSON.parse('{"__proto__":1,"a":2}'))).toBe('{"__proto__":1,"a":2}');
  });
});

describe('jcsOf', () => {
  it('reads back to itself: parse and canonicalise again gives the same text, for any value', () => {
    fc.assert(
      fc.property(fc.anything({ withBoxedValues: false, withMap: false, withSet: false, withTypedArray: false, withBigInt: false, withSparseArray: true }), (v) => {
        const text = jcsOf(v);
        expect(jcs(JSON.parse(text))).toBe(text);
      }),
      { numRuns: 300 },
    );
  });

  it('takes values as JSON.stringify does and mends unpaired surrogates', () => {
    expect(jcsOf({ b: new Date(0), a: [undefined, Number.NaN, () => 1], c: undefined })).toBe('{"a":[null,null,null],"b":"1970-01-01T00:00:00.000Z"}');
    expect(jcsOf({ '\ud800': 'x\udc00y' })).toBe('{"\ufffd":"x\ufffdy"}');
  });

  it('prints what canonicalJson prints for well-formed JSON values (the version 1 rule agrees there)', () => {
    fc.assert(
      fc.property(fc.jsonValue(), (v) => {
        expect(jcsOf(v)).toBe(canonicalJson(v));
      }),
      { numRuns: 300 },
    );
  });
});
