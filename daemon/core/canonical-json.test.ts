import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { jcsOfByHand } from './canonical-json.js';
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

  it('prints through JSON.stringify only what it prints by hand: the same text for any value', () => {
    const values = fc.oneof(
      fc.anything({ withBoxedValues: true, withMap: true, withSet: true, withDate: true, withNullPrototype: true, withSparseArray: true, withObjectString: true }),
      fc.jsonValue(),
      // sorted plain members, the common case of event data
      fc.dictionary(fc.string(), fc.oneof(fc.double(), fc.string(), fc.boolean(), fc.constant(null))).map((d) => Object.fromEntries(Object.entries(d).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)))),
    );
    fc.assert(
      fc.property(values, (v) => {
        expect(jcsOf(v)).toBe(jcsOfByHand(v));
      }),
      { numRuns: 2_000 },
    );
  });

  it('takes the slow path wherever JSON.stringify would print otherwise', () => {
    class Point {
      constructor(
        readonly y: number,
        readonly x: number,
      ) {}
    }
    const inherited = Object.create({ b: 1 }) as Record<string, unknown>;
    inherited.a = 2;
    const cases: [unknown, string][] = [
      [{ '9': 'a', '10': 'b' }, '{"10":"b","9":"a"}'], // integer names come first in for-in and JSON.stringify order
      [{ b: 1, a: 2 }, '{"a":2,"b":1}'],
      [{ a: 'x\ud800' }, '{"a":"x\ufffd"}'],
      [{ '\udc00': 1 }, '{"\ufffd":1}'],
      [{ a: new Number(3) }, '{"a":{}}'],
      [{ a: { toJSON: () => ({ z: 1, y: 2 }) } }, '{"a":{"y":2,"z":1}}'],
      [new Point(1, 2), '{"x":2,"y":1}'],
      [inherited, '{"a":2}'],
      // eslint-disable-next-line no-sparse-arrays -- a hole is what is tested
      [[1, , 3], '[1,null,3]'],
      [{ a: undefined, b: [undefined] }, '{"b":[null]}'],
      [{ a: -0, b: Number.NaN, c: Number.POSITIVE_INFINITY, d: 1e21, e: 5e-7 }, '{"a":0,"b":null,"c":null,"d":1e+21,"e":5e-7}'],
      [JSON.parse('{"__proto__":1,"a":2}'), '{"__proto__":1,"a":2}'],
      [Object.assign(Object.create(null) as object, { a: 1, b: [true, null] }), '{"a":1,"b":[true,null]}'],
    ];
    for (const [v, text] of cases) {
      expect(jcsOf(v)).toBe(text);
      expect(jcsOfByHand(v)).toBe(text);
    }
  });
});
