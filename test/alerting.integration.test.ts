import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { type IncomingMessage, type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, sleep, tempRoot, waitFor } from './helpers/daemon.js';
import { freePort } from './helpers/net.js';
import { exitBreakerPolicy, installPolicy } from './helpers/policies.js';
import { type Ev, events, killMarked, writeConfig } from './helpers/services.js';

const MARK = 'WAVEOS_TEST_MARK';
const HOOK_TOKEN = 'hooktok-CANARY-5b1e07c3a9';
const CHAT_TOKEN = 'chattok-CANARY-9d2f44e1b0';
const SMTP_PASSWORD = 'smtp-pw-CANARY-77a0c1f3e2';

interface Body {
  status: string;
  trigger: string;
  device_id?: string;
  fleet?: Record<string, string>;
  text?: string;
  alerts?: { alertname: string; status: string; rule: string | null; severity: string }[];
  id?: string;
}

/** A real HTTP receiver: records JSON bodies POSTed to its secret path. */
function receiver(): { server: Server; got: Body[]; listen(port?: number): Promise<number>; close(): Promise<void> } {
  const got: Body[] = [];
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (!req.url?.includes('CANARY')) return void res.writeHead(404).end();
      got.push(JSON.parse(Buffer.concat(chunks).toString('utf8')) as Body);
      res.writeHead(200).end('ok');
    });
  });
  return {
    server,
    got,
    listen: (port = 0) => new Promise((r) => server.listen(port, '127.0.0.1', () => r((server.address() as AddressInfo).port))),
    close: () => new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    }),
  };
}


const dirs: string[] = [];
let certDir = '';
const mails: { subject: string; text: string }[] = [];
let smtp: SMTPServer;
let smtpPort = 0;

beforeAll(async () => {
  certDir = mkdtempSync(join(tmpdir(), 'waveos-smtp-cert-'));
  const gen = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '2', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
    '-keyout', join(certDir, 'key.pem'), '-out', join(certDir, 'cert.pem')], { encoding: 'utf8' });
  if (gen.status !== 0) throw new Error(`openssl: ${gen.stderr}`);
  smtp = new SMTPServer({
    secure: false,
    key: readFileSync(join(certDir, 'key.pem')),
    cert: readFileSync(join(certDir, 'cert.pem')),
    authMethods: ['PLAIN', 'LOGIN'],
    // Like a real relay: no AUTH before STARTTLS.
    allowInsecureAuth: false,
    onAuth(auth, session, cb) {
      if (!session.secure) return cb(new Error('STARTTLS first'));
      if (auth.username === 'waveos' && auth.password === SMTP_PASSWORD) return cb(null, { user: 'waveos' });
      return cb(new Error('bad credentials'));
    },
    onData(stream, _session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const subject = /^Subject: (.*)$/m.exec(raw)?.[1] ?? '';
        mails.push({ subject, text: raw });
        cb();
      });
    },
  });
  await new Promise<void>((r) => smtp.listen(0, '127.0.0.1', () => r()));
  smtpPort = (smtp.server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise<void>((r) => smtp.close(() => r()));
  rmSync(certDir, { recursive: true, force: true });
});

const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) await d.kill('SIGKILL');
  for (const r of dirs.splice(0)) {
    killMarked(MARK, r);
    removeRoot(r);
  }
});

const POLICY = exitBreakerPolicy({
  version: 'a.1', threshold: 3, window: '20s', open_for: '4s', probe: '1s',
  actions: ['{ type: webhook, message: "crash storm: device entering safe mode" }'],
});

/** Crashes while the file `crash-on` exists in the root, and runs quietly otherwise. */
const CRASHER = `import { existsSync } from 'node:fs';
setTimeout(() => { if (existsSync(process.argv[2])) process.exit(3); }, 200);
setInterval(() => {}, 60_000);
`;

function names(b: Body): string[] {
  return (b.alerts ?? []).map((a) => `${a.alertname}:${a.status}`).sort();
}

function setMode(root: string, mode: string): void {
  const r = cli(['mode', 'set', mode, '--reason', 'alert flap test', '--root', root]);
  expect(r.code, r.stderr).toBe(0);
}

/** Every file under a folder, as text. */
function allText(dir: string): string {
  let out = '';
  for (const e of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const p = join(e.parentPath, e.name);
    if (e.isFile() && statSync(p).size < 64 * 1024 * 1024) out += readFileSync(p).toString('latin1');
  }
  return out;
}

describe('alert routes to real receivers', () => {
  it('groups per route, de-duplicates a flap, sends resolutions, and delivers everything in order to a receiver that was down across a kill -9', async () => {
    const root = tempRoot('waveos-alerting-');
    dirs.push(root);
    installPolicy(root, 'a.yaml', POLICY);
    writeFileSync(join(root, 'crasher.mjs'), CRASHER);
    const crashOn = join(root, 'crash-on');
    writeFileSync(crashOn, '');
    const hook = receiver();
    const hookPort = await hook.listen();
    const chat = receiver();
    const chatPort = await freePort();
    const env = {
      [MARK]: root,
      WAVEOS_TEST_HOOK_URL: `http://127.0.0.1:${hookPort}/hook/${HOOK_TOKEN}`,
      WAVEOS_TEST_CHAT_URL: `http://127.0.0.1:${chatPort}/services/${CHAT_TOKEN}`,
      WAVEOS_TEST_SMTP_PW: SMTP_PASSWORD,
    };
    const config = writeConfig(root, {
      device: { device_id: 'board-7', environment: 'staging' },
      telemetry: { prometheus: { enabled: false } },
      recovery: { backoff_initial: '200ms', backoff_max: '1s', jitter: 0, crash_loop: { exits: 1000, window: '1m' } },
      services: [{ name: 'crasher', command: process.execPath, args: [join(root, 'crasher.mjs'), crashOn], modes: ['normal'], env: { [MARK]: root } }],
      secrets: { hook_url: { env: 'WAVEOS_TEST_HOOK_URL' }, chat_url: { env: 'WAVEOS_TEST_CHAT_URL' }, smtp_pw: { env: 'WAVEOS_TEST_SMTP_PW' } },
      alerting: {
        labels: { fleet: 'north', site: 'plant-3' },
        resolve_timeout: '10s',
        outbox: { backoff: '200ms', max_backoff: '1s' },
        receivers: {
          hook: { kind: 'webhook', url_secret: 'hook_url' },
          chat: { kind: 'slack', url_secret: 'chat_url', timeout: '1s' },
          mail: { kind: 'email', host: '127.0.0.1', port: smtpPort, servername: 'localhost', ca_file: join(certDir, 'cert.pem'), user: 'waveos', password_secret: 'smtp_pw', from: 'waveos@board-7.example', to: ['oncall@example.org'] },
        },
        route: {
          group_by: ['device'],
          group_wait: '2s',
          group_interval: '3s',
          repeat_interval: '1h',
          routes: [
            { receiver: 'hook', continue: true },
            { receiver: 'chat', match: { kind: ['policy.*', 'mode.*'] }, continue: true },
            { receiver: 'mail', match: { severity: ['error', 'critical'], environment: ['staging'] } },
          ],
        },
      },
    });
    const start = async (): Promise<DaemonProcess> => {
      const d = new DaemonProcess(root, ['--config', config], env);
      daemons.push(d);
      await d.ready();
      return d;
    };
    let d = await start();

    // The breaker opens: one grouped notification per route.
    await waitFor('the first hook notification', () => hook.got.at(0), 45_000, 200);
    await waitFor('the first mail', () => mails.at(0), 20_000, 200);
    await sleep(1_500);
    const first = hook.got[0] as Body;
    expect(first).toMatchObject({ status: 'firing', trigger: 'new', device_id: 'board-7', fleet: { fleet: 'north', site: 'plant-3' } });
    expect(names(first)).toEqual(expect.arrayContaining(['WaveosBreakerOpen:firing', 'WaveosSafeMode:firing', 'WaveosPolicyAlert:firing']));
    expect(hook.got.filter((b) => b.trigger === 'new')).toHaveLength(1);
    expect(mails).toHaveLength(1);
    expect(mails[0]?.subject).toMatch(/^\[FIRING:\d+\] .*WaveosBreakerOpen.* on board-7 \(staging\)$/);
    expect(mails[0]?.text).toContain('fleet: north');

    // The crashes stop: the breaker closes, the mode returns, the policy alert times out: all resolved.
    unlinkSync(crashOn);
    await waitFor('the hook all-clear', () => hook.got.find((b) => b.status === 'resolved'), 40_000, 200).catch((e: unknown) => {
      // What the hook got and what the journal says, for the failure message.
      const got = JSON.stringify(hook.got.map((b) => [b.status, b.trigger, names(b)]));
      const seen = JSON.stringify(events(root).filter((x) => /^(policy|mode|alert)\./.test(x.kind)).map((x) => [x.seq, x.kind]));
      throw new Error(`${(e as Error).message}; hook got ${got}; journal ${seen}`);
    });
    await waitFor('the mail all-clear', () => mails.find((m) => m.subject.startsWith('[RESOLVED]')), 20_000, 200);

    // A flap: safe, normal, safe within one group interval after the first notice is one notification, not three.
    const before = hook.got.length;
    setMode(root, 'safe');
    await waitFor('safe-mode notice', () => hook.got.slice(before).find((b) => names(b).includes('WaveosSafeMode:firing')), 20_000, 100);
    setMode(root, 'normal');
    setMode(root, 'safe');
    await sleep(4_500);
    expect(hook.got.slice(before)).toHaveLength(1);
    setMode(root, 'normal');
    await waitFor('safe-mode all-clear', () => hook.got.slice(before).find((b) => b.status === 'resolved'), 20_000, 100);
    expect(hook.got.slice(before).map((b) => `${b.status}/${b.trigger}`)).toEqual(['firing/new', 'resolved/resolved']);

    // The chat receiver has been down all along; its notifications wait, retried. Kill -9 during the retries.
    await waitFor('a few failed sends to chat', () => (events(root, 'alert.send_failed').filter((e) => e.data.receiver === 'chat').length >= 3 ? true : undefined), 20_000, 300);
    const queued = events(root, 'alert.notified').filter((e) => e.data.receiver === 'chat');
    expect(queued.length).toBeGreaterThanOrEqual(4);
    await d.kill('SIGKILL');
    killMarked(MARK, root);
    d = await start();
    await sleep(3_000);
    const chatUp = await chat.listen(chatPort);
    expect(chatUp).toBe(chatPort);
    await waitFor('every chat notification', () => (chat.got.length >= queued.length ? true : undefined), 30_000, 200);
    // In the order they were queued, none lost (a send cut by the kill may come twice: at least once).
    const sentIds = events(root, 'alert.sent').filter((e) => e.data.receiver === 'chat').map((e) => e.data.outbox_id as number);
    expect(sentIds).toEqual([...sentIds].sort((a, b) => a - b));
    expect(new Set(sentIds)).toEqual(new Set(queued.map((e) => e.data.outbox_id as number)));
    const chatStates = chat.got.map((b) => (b.text?.startsWith('[RESOLVED]') ? 'resolved' : 'firing'));
    expect(chatStates[0]).toBe('firing');
    expect(chatStates.at(-1)).toBe('resolved');
    // Every send and every failure is an event.
    const failed: Ev[] = events(root, 'alert.send_failed');
    expect(failed.every((e) => e.data.target === `127.0.0.1:${chatPort}`)).toBe(true);

    // No secret in the journal, the artifacts, the logs, the alerting state, or an evidence pack.
    const packDir = mkdtempSync(join(tmpdir(), 'waveos-pack-'));
    dirs.push(packDir);
    const out = join(packDir, 'pack.tar.gz');
    const ex = cli(['evidence', 'export', '--reason', 'alert-test', '--out', out, '--root', root]);
    expect(ex.code, ex.stderr).toBe(0);
    const unpacked = join(packDir, 'x');
    mkdirSync(unpacked);
    expect(spawnSync('tar', ['-xzf', out, '-C', unpacked]).status).toBe(0);
    await d.kill('SIGKILL');
    const everything = allText(root) + allText(unpacked) + daemons.map((x) => x.output).join('');
    expect(existsSync(join(unpacked, 'events.jsonl'))).toBe(true);
    for (const secret of [HOOK_TOKEN, CHAT_TOKEN, SMTP_PASSWORD]) expect(everything.includes(secret), secret).toBe(false);
    await hook.close();
    await chat.close();
  }, 240_000);
});
