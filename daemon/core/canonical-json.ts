/**
 * JSON with object keys sorted at every depth, so equal values always hash alike. Same output as
 * JSON.stringify with a key-sorting replacer (toJSON honoured, undefined and functions dropped from
 * objects and nulled in arrays), written out by hand because it sits on the journal's append path.
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
