#!/usr/bin/env node
// Maps the bundle's frames in a stack trace (…/dist/bundle/chunk-X.mjs:1:12345, as a board's journal or log
// shows them: the installed bundle is minified) back to TypeScript source lines, with the source maps of the
// same build: dist/bundle/ of a checkout built at the release's commit, or the release's
// waveos_<version>_sourcemaps.tar.gz unpacked (docs/runbooks.md, "A stack trace from a board").
//   node scripts/symbolize.mjs [--maps DIR] [FILE]        (the trace on stdin without FILE)
// Frames whose file has no map in DIR are left as they are; a map of another build gives wrong lines, so the
// chunk names (content hashes) must match.
import { existsSync, readFileSync } from 'node:fs';
import { SourceMap } from 'node:module';
import { join, relative, resolve } from 'node:path';
import { parseArgs } from 'node:util';

const FRAME = /((?:file:\/\/)?[^\s()]*?)([\w.-]+\.mjs):(\d+):(\d+)/g;

/** The trace with every mappable frame replaced by `source.ts:line:column [chunk.mjs:line:column]`. */
export function symbolize(text, mapsDir) {
  const maps = new Map();
  const mapFor = (file) => {
    if (!maps.has(file)) {
      const p = join(mapsDir, `${file}.map`);
      maps.set(file, existsSync(p) ? new SourceMap(JSON.parse(readFileSync(p, 'utf8'))) : null);
    }
    return maps.get(file);
  };
  return text.replace(FRAME, (whole, _dir, file, line, column) => {
    const map = mapFor(file);
    const e = map?.findEntry(Number(line) - 1, Number(column) - 1);
    if (!e?.originalSource) return whole;
    // Sources are relative to the map's directory (../../daemon/…): shown relative to the checkout.
    const src = relative(resolve(mapsDir, '../..'), resolve(mapsDir, e.originalSource));
    return `${src}:${e.originalLine + 1}:${e.originalColumn + 1} [${file}:${line}:${column}]`;
  });
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const { values, positionals } = parseArgs({ allowPositionals: true, options: { maps: { type: 'string', default: join(import.meta.dirname, '../dist/bundle') } } });
  if (!existsSync(values.maps)) {
    process.stderr.write(`symbolize: no source maps in ${values.maps} (build with npm run build, or unpack the release's sourcemaps tarball)\n`);
    process.exit(2);
  }
  const text = positionals[0] ? readFileSync(positionals[0], 'utf8') : readFileSync(0, 'utf8');
  process.stdout.write(symbolize(text, values.maps));
}
