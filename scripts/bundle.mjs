// Bundles the CLI (which also runs the daemon: `waveos run`) and the launcher into dist/bundle/ with esbuild.
// Run by `npm run build` after tsc. What dist/bundle/ needs at run time is listed in docs/footprint.md
// ("The bundle"): this directory, plus the native modules left external below in a node_modules the
// bundle's directory resolves to (dist/bundle/node_modules, dist/node_modules or <tree>/node_modules).
//
// Code splitting keeps what an idle daemon does not run out of the entry: every `await import()` of the
// sources becomes its own chunk, loaded on first use, as it is from dist/.
import { copyFileSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = fileURLToPath(new URL('..', import.meta.url));
const out = join(root, 'dist/bundle');
const require = createRequire(join(root, 'package.json'));

/** Native addons (a .node file each): they stay packages of their own, resolved at run time. */
export const NATIVE = ['better-sqlite3', 'unix-dgram'];

// `createRequire(import.meta.url)('name')` is how the sources load a package late but synchronously; in the
// bundle it becomes `require('name')`, which esbuild bundles (a lazily run CommonJS wrapper).
const lateRequire = {
  name: 'late-require',
  setup(b) {
    b.onLoad({ filter: /[\\/]daemon[\\/].*\.ts$/ }, (args) => {
      const text = readFileSync(args.path, 'utf8');
      if (!text.includes('createRequire(import.meta.url)(')) return undefined;
      return { contents: text.replace(/createRequire\(import\.meta\.url\)\((['"][^'"]+['"])\)/g, 'require($1)'), loader: 'ts' };
    });
  },
};

// mqtt.js brings its own copies of Node's streams (readable-stream 4, twice: its own and mqtt-packet's, with
// their polyfills) and a browser's worker timers (used only in a browser): in node, the built-in modules are the
// same API and already loaded. Measured by bench/fleet-link.bench.mjs (docs/fleet-protocol.md, "Cost").
const NODE_SHIMS = {
  'readable-stream': "module.exports = require('node:stream');",
  'worker-timers': "const t = require('node:timers'); module.exports = { setInterval: t.setInterval, clearInterval: t.clearInterval, setTimeout: t.setTimeout, clearTimeout: t.clearTimeout };",
};
const nodeShims = {
  name: 'node-shims',
  setup(b) {
    b.onResolve({ filter: /^(readable-stream|worker-timers)$/ }, (args) => ({ path: args.path, namespace: 'node-shim' }));
    b.onLoad({ filter: /.*/, namespace: 'node-shim' }, (args) => ({ contents: NODE_SHIMS[args.path], loader: 'js', resolveDir: root }));
  },
};

// A `require` for the external native modules (and node's own), as ESM output has none of its own.
const banner = "import { createRequire as __waveosCreateRequire } from 'node:module';\nconst require = __waveosCreateRequire(import.meta.url);";

const started = Date.now();
rmSync(out, { recursive: true, force: true });
mkdirSync(join(out, 'assets'), { recursive: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: [
    { in: 'scripts/lib/bundle-entry-cli.mjs', out: 'waveos' },
    { in: 'scripts/lib/bundle-entry-launcher.mjs', out: 'waveos-launcher' },
  ],
  outdir: out,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  external: NATIVE,
  define: { WAVEOS_BUNDLED: 'true' },
  banner: { js: banner },
  chunkNames: '[name]-[hash]', // beside the entries: import.meta.url-relative paths are the same in every file
  plugins: [lateRequire, nodeShims],
  legalComments: 'none',
  // Whitespace, comments and syntax only (names stay, for stack traces and constructor names): V8 keeps every
  // loaded chunk's source text in its heap, and parses less at start.
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: 'linked',
  metafile: true,
  logLevel: 'warning',
});

// What the bundled code reads from its own directory (daemon/core/resources.ts).
for (const name of ['uPlot.iife.min.js', 'uPlot.min.css']) copyFileSync(require.resolve(`uplot/dist/${name}`), join(out, 'assets', name));
cpSync(join(root, 'policies'), join(out, 'policies'), { recursive: true });
copyFileSync(join(root, 'dist/build-info.json'), join(out, 'build-info.json'));
writeFileSync(join(root, 'dist/bundle-meta.json'), JSON.stringify(result.metafile));

const sizes = Object.entries(result.metafile.outputs)
  .filter(([f]) => f.endsWith('.mjs'))
  .map(([f, o]) => ({ f: f.replace(/^dist\/bundle\//, ''), kb: o.bytes / 1024 }));
const total = sizes.reduce((a, s) => a + s.kb, 0);
if (process.env.WAVEOS_BUNDLE_VERBOSE === '1') for (const s of sizes) process.stdout.write(`${s.f} ${s.kb.toFixed(0)} KiB\n`);
process.stdout.write(`bundle: dist/bundle/ (${sizes.length} files, ${(total / 1024).toFixed(1)} MiB) in ${Date.now() - started} ms\n`);
