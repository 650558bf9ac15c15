/**
 * JSON with object keys sorted at every depth, so equal values always hash alike. Same output as
 * JSON.stringify with a key-sorting replacer (toJSON honoured, undefined and functions dropped from
 * objects and nulled in arrays), written out by hand because it sits on the journal's append path.
 * It is the rule of journal event format 1 and must never change (docs/formats/journal.md); for the JSON
 * values a parsed document holds it prints what RFC 8785 prints, except that it escapes an unpaired
 * surrogate where `jcs` refuses it.
 */
export function canonicalJson(value: unknown): string {
  return canon(value) ?? 'null';
}

function canon(v: unknown): string | undefined {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
    case 'number':
    case 'boolean':
      return JSON.stringify(v);
    case 'undefined':
    case 'function':
    case 'symbol':
      return undefined;
    case 'bigint':
      // JSON.stringify throws on bigint; keep that behaviour rather than invent a format.
      return JSON.stringify(v);
    case 'object':
      break;
  }
  const o = v as Record<string, unknown> & { toJSON?: () => unknown };
  if (typeof o.toJSON === 'function') return canon(o.toJSON());
  if (Array.isArray(o)) {
    let out = '[';
    for (let i = 0; i < o.length; i++) out += `${i ? ',' : ''}${canon(o[i]) ?? 'null'}`;
    return `${out}]`;
  }
  const keys = Object.keys(o).sort();
  let out = '{';
  let first = true;
  for (const k of keys) {
    const s = canon(o[k]);
    if (s === undefined) continue;
    out += `${first ? '' : ','}${JSON.stringify(k)}:${s}`;
    first = false;
  }
  return `${out}}`;
}

/** A value that RFC 8785 cannot serialize (a non-finite number, an unpaired surrogate, a non-JSON type). */
export class JcsError extends TypeError {}

const ANY_SURROGATE = /[\uD800-\uDFFF]/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
const LONE_SURROGATES = new RegExp(LONE_SURROGATE.source, 'g');

/** Whether the string holds an unpaired surrogate (the cheap class test first: most text has no surrogate at all). */
function hasLoneSurrogate(s: string): boolean {
  return ANY_SURROGATE.test(s) && LONE_SURROGATE.test(s);
}

/** The string with every unpaired surrogate replaced by U+FFFD, so that it can be written as UTF-8. */
export function wellFormed(s: string): string {
  return hasLoneSurrogate(s) ? s.replace(LONE_SURROGATES, '\uFFFD') : s;
}

/**
 * RFC 8785 (JSON Canonicalization Scheme) of a JSON value: object members sorted by their names' UTF-16
 * code units, no whitespace, numbers as ECMAScript prints them (the shortest round-trip form: 1e+21,
 * 1e-7, -0 as 0), strings escaped as JSON.stringify does. Strict, as the RFC asks: a non-finite number, an
 * unpaired surrogate, or anything that is not null, boolean, number, string, array or plain object throws
 * a JcsError instead of being changed. Use `toJsonValue` first for values that are not plain JSON yet.
 */
export function jcs(value: unknown): string {
  if (value === null) return 'null';
  switch (typeof value) {
    case 'boolean':
      return value ? 'true' : 'false';
    case 'number':
      if (!Number.isFinite(value)) throw new JcsError(`${value} is not a JSON number`);
      return JSON.stringify(value);
    case 'string':
      if (hasLoneSurrogate(value)) throw new JcsError('a string holds an unpaired surrogate');
      return JSON.stringify(value);
    case 'object':
      break;
    default:
      throw new JcsError(`a ${typeof value} is not a JSON value`);
  }
  if (Array.isArray(value)) {
    const items: string[] = [];
    for (let i = 0; i < value.length; i++) items.push(jcs(value[i]));
    return `[${items.join(',')}]`;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) throw new JcsError('only plain objects are JSON objects');
  const o = value as Record<string, unknown>;
  const members = Object.keys(o)
    .sort()
    .map((k) => `${jcs(k)}:${jcs(o[k])}`);
  return `{${members.join(',')}}`;
}

/**
 * `jcs` of a JavaScript value taken as JSON.stringify would take it (toJSON honoured, undefined and functions
 * dropped from objects and nulled in arrays, non-finite numbers null), with every unpaired surrogate replaced
 * by U+FFFD. It never refuses a value JSON.stringify accepts, and what it prints is its own RFC 8785 form, so
 * a reader that parses it and canonicalises it again gets the same text: the journal stores and hashes this.
 */
export function jcsOf(value: unknown): string {
  // Most event data is already in RFC 8785 form as JSON.stringify prints it (plain members in sorted order,
  // no surrogates): checking that is cheaper than printing it by hand, and the journal's append path runs it
  // for every event.
  return printsAsIs(value, 0) ? JSON.stringify(value) : (lenient(value) ?? 'null');
}

/** `jcsOf` printed by hand, whatever the value: what the fast path of `jcsOf` must equal (its tests compare the two). */
export function jcsOfByHand(value: unknown): string {
  return lenient(value) ?? 'null';
}

/**
 * Whether JSON.stringify prints the value exactly as `lenient` does: null, booleans, numbers (JSON.stringify
 * and RFC 8785 print finite ones alike and non-finite ones as null), strings without any surrogate, arrays
 * without holes, and plain objects without toJSON whose own members come in sorted order (for-in order is
 * JSON.stringify's: integer names first, so an order that is not UTF-16 order fails the check) and hold
 * only such values. Anything else (undefined and functions, which both drop, included) takes the slow path.
 */
function printsAsIs(v: unknown, depth: number): boolean {
  if (v === null) return true;
  switch (typeof v) {
    case 'string':
      return !ANY_SURROGATE.test(v);
    case 'number':
    case 'boolean':
      return true;
    case 'object':
      break;
    default:
      return false;
  }
  if (depth > 64) return false;
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) if (!(i in v) || !printsAsIs(v[i], depth + 1)) return false;
    return true;
  }
  const proto = Object.getPrototypeOf(v) as unknown;
  if (proto !== Object.prototype && proto !== null) return false;
  const o = v as Record<string, unknown>;
  if (typeof o.toJSON === 'function') return false;
  let prev: string | undefined;
  for (const k in o) {
    if (!Object.hasOwn(o, k) || (prev !== undefined && !(prev < k)) || ANY_SURROGATE.test(k) || !printsAsIs(o[k], depth + 1)) return false;
    prev = k;
  }
  return true;
}

function lenient(v: unknown): string | undefined {
  if (v === null) return 'null';
  switch (typeof v) {
    case 'string':
      return JSON.stringify(wellFormed(v));
    case 'number':
      return Number.isFinite(v) ? JSON.stringify(v) : 'null';
    case 'boolean':
      return v ? 'true' : 'false';
    case 'bigint':
      throw new JcsError('a bigint is not a JSON value');
    case 'object':
      break;
    default:
      return undefined;
  }
  const o = v as Record<string, unknown> & { toJSON?: () => unknown };
  if (typeof o.toJSON === 'function') return lenient(o.toJSON());
  if (Array.isArray(o)) {
    // An index loop, not map: a hole in a sparse array is null, as JSON.stringify prints it.
    const items: string[] = [];
    for (let i = 0; i < o.length; i++) items.push(lenient(o[i]) ?? 'null');
    return `[${items.join(',')}]`;
  }
  const keys = Object.keys(o);
  if (keys.some(hasLoneSurrogate)) return mendedMembers(o, keys);
  keys.sort();
  let out = '{';
  for (const k of keys) {
    const m = lenient(o[k]);
    if (m === undefined) continue;
    out += `${out.length > 1 ? ',' : ''}${JSON.stringify(k)}:${m}`;
  }
  return `${out}}`;
}

/** Members whose names must be mended first: sorted after mending, two that become one keep the later value, as JSON.parse would. */
function mendedMembers(o: Record<string, unknown>, keys: string[]): string {
  const members = new Map<string, string>();
  for (const k of keys) {
    const m = lenient(o[k]);
    if (m !== undefined) members.set(wellFormed(k), m);
  }
  const names = [...members.keys()].sort();
  return `{${names.map((k) => `${JSON.stringify(k)}:${members.get(k) as string}`).join(',')}}`;
}
