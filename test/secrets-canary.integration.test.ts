import { mkdirSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { extract } from 'tar';
import { afterEach, describe, expect, it } from 'vitest';
import { gunzipSync } from 'node:zlib';
import { buildBundle } from '../daemon/bundles/index.js';
import { systemClock } from '../daemon/core/index.js';
import { appDir, makeKey, trustKey } from './helpers/bundles.js';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';

const dirs: string[] = [];
afterEach(() => {
  for (const r of dirs.splice(0)) removeRoot(r);
});

function* filesUnder(dir: string): Generator<string> {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) yield* filesUnder(p);
    else if (e.isFile()) yield p;
  }
}

/** Every text a file holds: its bytes, gunzipped when gzip'd, and every row of every table when it is SQLite. */
async function contentsOf(file: string, scratch: string): Promise<{ where: string; text: string }[]> {
  const bytes = readFileSync(file);
  const out = [{ where: file, text: bytes.toString('latin1') }];
  if (bytes[0] === 0x1f && bytes[1] === 0x8b) {
    const plain = gunzipSync(bytes);
    out.push({ where: `${file} (gunzipped)`, text: plain.toString('latin1') });
    if (plain.subarray(257, 262).toString() === 'ustar') {
      const dest = mkdtempSync(join(scratch, 'unpacked-'));
      await extract({ file, cwd: dest });
      for (const f of filesUnder(dest)) for (const c of await contentsOf(f, scratch)) out.push({ where: `${file} → ${c.where}`, text: c.text });
    }
  }
  if (bytes.subarray(0, 15).toString() === 'SQLite format 3') {
    const db = new Database(file, { readonly: true, fileMustExist: true });
    try {
      for (const { name } of db.prepare("SELECT name FROM sqlite_master WHERE type = 'table'").all() as { name: string }[]) {
        out.push({ where: `${file} table ${name}`, text: JSON.stringify(db.prepare(`SELECT * FROM "${name}"`).all()) });
      }
    } finally {
      db.close();
    }
  }
  return out;
}

async function sendToLogSocket(root: string, lines: string[]): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const sock = createConnection(join(root, 'run/waveos/log.sock'), () => sock.end(`${lines.join('\n')}\n`));
    sock.on('error', reject);
    sock.on('close', () => resolve());
  });
}

// A service that prints every shape to stdout and stderr, then whatever the test drops into `late.txt` (the admin token).
const PRINTER = `
import { existsSync, readFileSync } from 'node:fs';
const out = (l) => { process.stdout.write(l + '\\n'); process.stderr.write('err: ' + l + '\\n'); };
for (const l of JSON.parse(readFileSync(process.argv[2], 'utf8'))) out(l);
out('DB_PASSWORD=' + process.env.DB_PASSWORD);
out('the uplink token is ' + process.env.UPLINK + ' and the api token ' + process.env.API_TOKEN);
let done = false;
setInterval(() => {
  if (!done && existsSync(process.argv[3])) { done = true; for (const l of readFileSync(process.argv[3], 'utf8').split('\\n')) out(l); out('late-done'); }
}, 100);
`;
const ENV_DUMP = `import { writeFileSync } from 'node:fs'; writeFileSync(process.argv[2], JSON.stringify(process.env)); setInterval(() => {}, 1000);`;

describe('secrets never reach storage', () => {
  it('plants each shape through every input path and finds none of them in any file under the root; a viewer never sees them', async () => {
    const root = tempRoot();
    // the config, the scripts and the secrets' source live outside the root: they are the operator's, not WaveOS's
    const outside = tempRoot('waveos-canary-src-');
    dirs.push(root, outside);
    const planted = {
      db: 'canary-db-pass-4f1e9b',
      uplink: 'canary-uplink-token-8c2d7a',
      daemonEnv: 'canary-daemon-env-3b9f0e',
      config: 'canary-config-api-6a4c1d',
      github: 'ghp_CanaryGithub0123456789abcdefABCDEF',
      basic: 'Y2FuYXJ5OmJhc2ljLXBhc3M=',
      url: 'canary-url-pass-5e8b2f',
      pem: 'MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQCanaryPem',
    };
    const shapes = [
      `GITHUB_TOKEN=${planted.github}`,
      `Authorization: Basic ${planted.basic}`,
      `fetching https://deploy:${planted.url}@git.example.com/repo.git`,
      '-----BEGIN PRIVATE KEY-----',
      planted.pem,
      '-----END PRIVATE KEY-----',
    ];
    writeFileSync(join(outside, 'shapes.json'), JSON.stringify(shapes));
    writeFileSync(join(outside, 'printer.mjs'), PRINTER);
    writeFileSync(join(outside, 'envdump.mjs'), ENV_DUMP);
    writeFileSync(join(outside, 'db.txt'), `${planted.db}\n`);
    const cfg = join(outside, 'waveos.yaml');
    const service = (name: string, script: string, args: string[], extra: Record<string, unknown>) => ({ name, command: process.execPath, args: [join(outside, script), ...args], ...extra });
    writeFileSync(
      cfg,
      JSON.stringify({
        schema_version: 2,
        secrets: { 'uplink.token': { env: 'WAVEOS_TEST_UPLINK_TOKEN' }, db_password: { file: join(outside, 'db.txt') } },
        services: [
          service('printer', 'printer.mjs', [join(outside, 'shapes.json'), join(outside, 'late.txt')], {
            critical: true,
            env: { API_TOKEN: planted.config },
            secrets_env: { DB_PASSWORD: 'db_password', UPLINK: 'uplink.token' },
          }),
          service('plain', 'envdump.mjs', [join(outside, 'env-plain.json')], { critical: true }),
          service('named', 'envdump.mjs', [join(outside, 'env-named.json')], { critical: true, secrets_env: { DB_PASSWORD: 'db_password' }, inherit_env: ['WAVEOS_TEST_PASSED_ON'] }),
        ],
      }),
    );
    const key = makeKey(outside);
    trustKey(root, key);
    const d = new DaemonProcess(root, ['--config', cfg], { WAVEOS_TEST_UPLINK_TOKEN: planted.uplink, WAVEOS_TEST_DAEMON_SECRET: planted.daemonEnv, WAVEOS_TEST_PASSED_ON: 'visible' });
    await d.ready();

    // a real admin token, made through the daemon, then planted everywhere
    const made = cli(['token', 'create', 'canary-admin', '--role', 'admin', '--json', '--root', root]);
    expect(made.code, made.stderr).toBe(0);
    const admin = (JSON.parse(made.stdout) as { token: string }).token;
    const viewer = (JSON.parse(cli(['token', 'create', 'canary-viewer', '--role', 'viewer', '--json', '--root', root]).stdout) as { token: string }).token;
    const values = [...Object.values(planted), admin];
    const late = [`token=${admin}`, `bare ${admin}`, `DB_PASSWORD=${planted.db}`];
    writeFileSync(join(outside, 'late.txt'), late.join('\n'));
    await sendToLogSocket(root, ['source=canary', ...shapes, ...late, `uplink ${planted.uplink}`, `config ${planted.config}`]);

    const reason = `DB_PASSWORD=${planted.db} with ${admin} and ${planted.uplink}`;
    // a signed bundle whose manifest's description carries them
    const bundleFile = join(outside, 'demo.bundle');
    await buildBundle({
      dir: appDir(outside, 'demo', '1.0.0'),
      kind: 'app',
      name: 'demo',
      version: '1.0.0',
      key: key.key,
      out: bundleFile,
      clock: systemClock,
      description: `notes: ${reason}`,
      app: { run: ['./run.sh'], trial_ms: 300 },
    });
    const installed = cli(['bundle', 'install', bundleFile, '--root', root], { WAVEOS_TOKEN: admin });
    expect(installed.code, installed.stderr).toBe(0);
    for (const args of [['mode', 'set', 'degraded', '--reason', reason], ['mode', 'set', 'normal', '--reason', reason], ['service', 'restart', 'plain', '--reason', reason]]) {
      const r = cli([...args, '--root', root], { WAVEOS_TOKEN: admin });
      expect(r.code, `${args.join(' ')}: ${r.stderr}`).toBe(0);
    }
    await waitFor('the printer to print the late lines', () => (cli(['logs', 'printer', '--root', root]).stdout.includes('late-done') ? true : undefined), 20_000, 200);
    await waitFor('the socket lines to be spooled', () => (cli(['logs', 'canary', '--root', root]).stdout.includes('config ') ? true : undefined), 20_000, 200);

    // a viewer reads every source and sees the lines, never the values
    for (const source of ['printer', 'canary', 'waveos']) {
      const r = cli(['logs', source, '--root', root], { WAVEOS_TOKEN: viewer });
      expect(r.code, r.stderr).toBe(0);
      if (source !== 'waveos') expect(r.stdout).toContain('[REDACTED]');
      for (const v of values) expect(r.stdout, `${source} shows ${v}`).not.toContain(v);
    }

    const x = cli(['evidence', 'export', '--since', '10m', '--reason', `incident ${admin}`, '--json', '--root', root], { WAVEOS_TOKEN: admin });
    expect(x.code, x.stderr).toBe(0);
    await d.kill('SIGTERM');

    // services get what their config names, nothing of the daemon's own secrets
    const plainEnv = JSON.parse(readFileSync(join(outside, 'env-plain.json'), 'utf8')) as Record<string, string>;
    const namedEnv = JSON.parse(readFileSync(join(outside, 'env-named.json'), 'utf8')) as Record<string, string>;
    for (const env of [plainEnv, namedEnv]) {
      expect(Object.values(env)).not.toContain(planted.daemonEnv);
      expect(Object.values(env)).not.toContain(planted.uplink);
      expect(env.WAVEOS_TEST_UPLINK_TOKEN).toBeUndefined();
      expect(env.PATH).toBeTruthy();
    }
    expect(plainEnv.DB_PASSWORD).toBeUndefined();
    expect(plainEnv.WAVEOS_TEST_PASSED_ON).toBeUndefined();
    expect(namedEnv.DB_PASSWORD).toBe(planted.db);
    expect(namedEnv.WAVEOS_TEST_PASSED_ON).toBe('visible');
    expect(plainEnv.WAVEOS_SERVICE).toBe('plain');

    const scratch = mkdtempSync(join(tmpdir(), 'waveos-canary-scan-'));
    dirs.push(scratch);
    let files = 0;
    let packs = 0;
    let sqlite = 0;
    for (const f of filesUnder(root)) {
      // a signed manifest is kept byte for byte in its slot (its signature covers those bytes): the one exception
      if (/\/var\/lib\/waveos\/slots\/.*\/manifest\.json$/.test(f)) continue;
      files++;
      for (const c of await contentsOf(f, scratch)) {
        if (c.where.includes('→')) packs++;
        if (c.where.includes(' table ')) sqlite++;
        for (const v of values) expect(c.text.includes(v), `${c.where} holds ${v}`).toBe(false);
      }
    }
    expect(files).toBeGreaterThan(10);
    expect(packs).toBeGreaterThan(3);
    expect(sqlite).toBeGreaterThan(2);
  }, 120_000);

  it('the control socket answers while the log socket ingests 60 lines of 8,000 spaces (and other adversarial lines)', async () => {
    const root = tempRoot();
    dirs.push(root);
    mkdirSync(join(root, 'etc/waveos'), { recursive: true });
    writeFileSync(join(root, 'etc/waveos/waveos.yaml'), 'schema_version: 2\nservices: []\nspooler: {rate: false}\n');
    const d = new DaemonProcess(root, []);
    await d.ready();
    const lines = ['source=adversarial'];
    for (let i = 0; i < 60; i++) lines.push(' '.repeat(8_000), `password=${' '.repeat(8_000)}x`, 'a='.repeat(4_000), 'Bearer '.repeat(1_100), '://'.repeat(2_600), 'wos_'.repeat(2_000));
    const sending = sendToLogSocket(root, lines);
    const status = cli(['status', '--json', '--root', root]);
    expect(status.code, status.stderr).toBe(0);
    expect(JSON.parse(status.stdout)).toHaveProperty('mode');
    await sending;
    // the last kind of line, all 60 of them (one kind at a time keeps the output within the CLI helper's buffer)
    await waitFor('the adversarial lines to be spooled', () => {
      const r = cli(['logs', 'adversarial', '--grep', 'wos_wos_', '--root', root]);
      return r.code === 0 && r.stdout.split('\n').filter(Boolean).length === 60 ? true : undefined;
    }, 30_000, 200);
    expect(cli(['status', '--root', root]).code).toBe(0);
    await d.kill('SIGTERM');
  }, 90_000);
});
