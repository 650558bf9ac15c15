import { createRequire } from 'node:module';
import type * as Yaml from 'yaml';
import type { Document, LineCounter, Node } from 'yaml';
import { type ErrorCode, type InputProblem, WaveosError } from './errors.js';

/** A key path inside a document, as a schema validator reports it. */
export type DocPath = readonly PropertyKey[];

/** Makes a problem located at `path` (or at `key` under it) in the file the document was read from. */
export type Locate = (path: DocPath, message: string, key?: string) => InputProblem;

export interface LocatedYaml {
  /** The document as plain data; an empty document is `{}`. */
  value: unknown;
  locate: Locate;
}

// yaml is loaded only when a file is actually read: code that never parses YAML needs no parser.
const yamlLib = (): typeof Yaml => createRequire(import.meta.url)('yaml') as typeof Yaml;

function locator(doc: Document, lc: LineCounter, file: string): Locate {
  return (path, message, key) => {
    const dotted = [...path, ...(key === undefined ? [] : [key])].map(String).join('.');
    const { isMap, isNode, isPair, isScalar } = yamlLib();
    let offset: number | undefined;
    // The deepest node that exists along the path marks the place; a missing key points at its parent.
    for (let n = path.length; n >= 0 && offset === undefined; n--) {
      const node = n === 0 ? doc.contents : doc.getIn(path.slice(0, n) as unknown[], true);
      if (key !== undefined && n === path.length && isMap(node)) {
        const pair = node.items.find((p) => isPair(p) && isScalar(p.key) && String(p.key.value) === key);
        if (pair && isNode(pair.key)) offset = (pair.key as Node).range?.[0];
      }
      if (offset === undefined && isNode(node)) offset = (node as Node).range?.[0];
    }
    const pos = offset === undefined ? undefined : lc.linePos(offset);
    return { file, line: pos?.line, column: pos?.col, path: dotted || undefined, message };
  };
}

/**
 * Parses YAML text read from `file` (duplicate keys refused, aliases resolved with a bound). A syntax error,
 * or an alias that cannot be resolved, throws a WaveosError with `syntaxCode` and problems located by file,
 * line and column; the returned `locate` points later (schema) problems back into the text.
 */
export function parseLocatedYaml(text: string, file: string, syntaxCode: ErrorCode): LocatedYaml {
  const { LineCounter, parseDocument } = yamlLib();
  const lc = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lc, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length > 0) {
    const problems = doc.errors.map((e) => {
      const pos = lc.linePos(e.pos[0]);
      return { file, line: pos.line, column: pos.col, message: `YAML syntax error: ${e.message.split('\n')[0]}` };
    });
    throw new WaveosError(syntaxCode, `${file}: YAML syntax error`, { problems });
  }
  let value: unknown;
  try {
    // Aliases are resolved here: an unknown alias or an alias bomb fails now, not in the schema.
    value = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (e) {
    throw new WaveosError(syntaxCode, `${file}: YAML error`, {
      problems: [{ file, line: 1, column: 1, message: `YAML error: ${e instanceof Error ? e.message : String(e)}` }],
    });
  }
  return { value, locate: locator(doc, lc, file) };
}
