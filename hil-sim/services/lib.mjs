// Shared by the example services: flags and a seeded random generator, so each run is reproducible.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/** `--name value` pairs into an object; `--flag` alone is true. */
export function flags(argv = process.argv.slice(2)) {
  const out = {};
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (!a.startsWith('--')) continue;
    const next = argv[i + 1];
    if (next === undefined || next.startsWith('--')) out[a.slice(2)] = true;
    else {
      out[a.slice(2)] = next;
      i++;
    }
  }
  return out;
}

export function num(v, fallback) {
  const n = Number(v);
  return v === undefined || v === true || !Number.isFinite(n) ? fallback : n;
}

/** mulberry32: small, fast, deterministic for a given seed. */
export function rng(seed) {
  let a = Number(seed) >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The seed: --seed, else WAVEOS_SEED, else 1. */
export function seedOf(f) {
  return num(f.seed, num(process.env.WAVEOS_SEED, 1));
}

const made = new Set();
/** Touches the heartbeat file; its folder is made once, so a root removed under a leftover is not re-created. */
export function heartbeat(file) {
  if (!made.has(file)) {
    mkdirSync(dirname(file), { recursive: true });
    made.add(file);
  }
  try {
    writeFileSync(file, `${Date.now()}\n`);
  } catch {
    // the folder is gone: the health check will say so
  }
}

/** Common behaviours every example supports: --ignore-term (for stop escalation), --spawn-child (a grandchild in the group). */
export async function common(f) {
  if (f['ignore-term']) process.on('SIGTERM', () => console.log('SIGTERM received and ignored'));
  if (f['spawn-child']) {
    const { spawn } = await import('node:child_process');
    const c = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1000)'], { stdio: 'ignore' });
    console.log(`grandchild ${c.pid}`);
  }
  // A closed stdout (the supervisor went away) must not turn into a crash loop of EPIPE errors.
  process.stdout.on('error', () => {});
  process.stderr.on('error', () => {});
  // An example left behind by a killed supervisor lingers long enough for the next start to find and stop
  // it (what the orphan tests check), then leaves on its own so test machines do not collect them.
  const parent = process.ppid;
  const orphanExitMs = num(f['orphan-exit-s'], 30) * 1000;
  let orphanedAt;
  setInterval(() => {
    if (process.ppid === parent) return;
    orphanedAt ??= Date.now();
    if (Date.now() - orphanedAt >= orphanExitMs) process.exit(0);
  }, 1000).unref();
}
