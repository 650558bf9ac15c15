// Bundle figures: verify + install of a 200 MB app bundle through the real daemon, against the floor of the
// same work done by standard tools in the same run (openssl dgst -sha256 + tar -x onto the same filesystem
// + sync), and the daemon's peak RSS above idle while it installs (streaming, never buffering).
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';

const { buildBundle, generateKeyPair, readSigningKey } = await import('../dist/bundles/index.js');
const { apiCall } = await import('../dist/api/index.js');
const { systemClock } = await import('../dist/core/index.js');

const MB = 1024 * 1024;
const TOTAL = 200 * MB;

function rssMb(pid) {
  try {
    const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}

function payload(dir) {
  // Four 50 MB files of incompressible bytes plus a few small ones, like an app with assets.
  mkdirSync(join(dir, 'assets'), { recursive: true });
  const block = randomBytes(MB);
  for (let f = 0; f < 4; f++) {
    const fd = openSync(join(dir, 'assets', `blob-${f}.bin`), 'w');
    for (let i = 0; i < TOTAL / 4 / MB; i++) {
      block[i % MB] ^= f + 1;
      writeSync(fd, block);
    }
    closeSync(fd);
  }
  for (let i = 0; i < 20; i++) writeFileSync(join(dir, `conf-${i}.txt`), `setting=${i}\n`);
}

async function waitReady(root, proc) {
  const sock = join(root, 'run/waveos/waveos.sock');
  for (let i = 0; i < 300; i++) {
    if (proc.exitCode !== null) throw new Error('daemon exited');
    try {
      const r = await apiCall({ socketPath: sock }, 'GET', '/v1/status');
      if (r.status === 200) return;
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error('daemon did not become ready');
}

export async function run(row) {
  const base = mkdtempSync(join(tmpdir(), 'bench-bundles-'));
  try {
    const root = join(base, 'root');
    const src = join(base, 'src');
    payload(src);
    const k = generateKeyPair(join(base, 'keys'));
    mkdirSync(join(root, 'etc/waveos/keys'), { recursive: true });
    writeFileSync(join(root, 'etc/waveos/keys', `${k.key_id}.pub`), readFileSync(k.pubFile));
    writeFileSync(join(root, 'etc/waveos/waveos.yaml'), 'schema_version: 2\nbundles:\n  trial: 0ms\n');
    const file = join(base, 'app.wbundle');
    await buildBundle({ dir: src, kind: 'app', name: 'bench', version: '1.0.0', key: readSigningKey(k.keyFile), out: file, clock: systemClock, app: { trial_ms: 0 } });
    rmSync(src, { recursive: true, force: true });

    // The floor: standard tools doing the same work on the same filesystem, in this run.
    const floorDir = join(base, 'floor');
    mkdirSync(floorDir);
    spawnSync('sync');
    const f0 = performance.now();
    const o = spawnSync('openssl', ['dgst', '-sha256', file]);
    const t = spawnSync('tar', ['-xf', file, '-C', floorDir]);
    spawnSync('sync');
    const floorMs = performance.now() - f0;
    if (o.status !== 0 || t.status !== 0) throw new Error('the floor tools failed');
    rmSync(floorDir, { recursive: true, force: true });
    spawnSync('sync');

    // WaveOS: the real daemon, installing through the API as `waveos bundle install` does.
    const proc = spawn(process.execPath, [new URL('../bin/waveos.js', import.meta.url).pathname, 'run', '--root', root, '--log-format', 'json'], { stdio: 'ignore' });
    try {
      await waitReady(root, proc);
      await new Promise((r) => setTimeout(r, 1000));
      const idle = rssMb(proc.pid) ?? 0;
      let peak = idle;
      const sampler = setInterval(() => {
        const r = rssMb(proc.pid);
        if (r !== undefined && r > peak) peak = r;
      }, 10);
      const w0 = performance.now();
      const res = await apiCall({ socketPath: join(root, 'run/waveos/waveos.sock'), timeoutMs: 600_000 }, 'POST', '/v1/bundles/install', { path: file });
      const oursMs = performance.now() - w0;
      clearInterval(sampler);
      if (res.status !== 200 || res.body?.install?.state !== 'committed') throw new Error(`install failed: ${JSON.stringify(res.body).slice(0, 300)}`);
      const mbps = (ms) => Math.round((TOTAL / MB / (ms / 1000)) * 10) / 10;
      row('bundles: verify + install 200 MB app bundle', mbps(oursMs), 'MB/s', mbps(floorMs), 'MB/s openssl+tar+sync', floorMs / oursMs, 'ratio ≥ 0.6');
      row('bundles: daemon peak RSS above idle, installing', Math.round((peak - idle) * 10) / 10, 'MB', Math.round(idle * 10) / 10, 'MB idle RSS', undefined, '< 40 MB');
    } finally {
      proc.kill('SIGTERM');
      await new Promise((r) => proc.once('exit', r));
    }
  } finally {
    rmSync(base, { recursive: true, force: true });
  }
}
