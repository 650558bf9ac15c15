import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync, gzipSync } from 'node:zlib';
import { create as createTar, extract as extractTar, list as listTar } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { browserUnavailable, launchChromium, openReport } from './helpers/browser.js';
import { DaemonProcess, REPO, cli, readJsonl, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';

import { systemClock } from '../daemon/core/index.js';
import { Journal } from '../daemon/journal/index.js';

const CANARY_ENV = 'canary-env-7Hq2Lx9Vw3Zr';
const CANARY_POLICY = 'canary-policy-Jd8Kp2Qs5Tm';
const CANARY_LOG = 'canary-log-Xn4Bc7Wy1Fe';

const root = tempRoot('waveos-evidence-');
const daemons: DaemonProcess[] = [];
afterAll(() => {
  for (const d of daemons) d.proc.kill('SIGKILL');
  removeRoot(root);
});

function start(): DaemonProcess {
  const d = new DaemonProcess(root, [], { WAVEOS_UPLINK_TOKEN: CANARY_ENV });
  daemons.push(d);
  return d;
}

function allFiles(dir: string, base = ''): string[] {
  return readdirSync(join(dir, base), { withFileTypes: true }).flatMap((d) => (d.isDirectory() ? allFiles(dir, join(base, d.name)) : [join(base, d.name)]));
}

async function unpack(file: string): Promise<string> {
  const dir = mkdtempSync(join(root, 'unpacked-'));
  await extractTar({ file, cwd: dir });
  return dir;
}

/** The pack rewritten with one file changed, every entry name and the order kept. */
async function tampered(file: string, edit: (dir: string) => void): Promise<string> {
  const dir = await unpack(file);
  const order: string[] = [];
  await listTar({ file, onReadEntry: (e) => order.push(e.path) });
  edit(dir);
  const out = join(root, `tampered-${order.length}-${Math.random().toString(16).slice(2)}.tar.gz`);
  await createTar({ file: out, cwd: dir, gzip: true, portable: true }, order);
  return out;
}


let pack = '';
let unpacked = '';

describe('evidence packs from a running daemon', () => {
  it('exports a signed pack that covers the window, holds the spooled logs and no secret, and verify names any change', async () => {
    mkdirSync(join(root, 'etc/waveos/policies.d'), { recursive: true });
    writeFileSync(
      join(root, 'etc/waveos/waveos.yaml'),
      ['schema_version: 2', 'device: {device_id: pump-17, app_id: pump, environment: field-test}', 'evidence: {schedule: "off", keep: 5, max_bytes: 64MiB}', ''].join('\n'),
    );
    writeFileSync(
      join(root, 'etc/waveos/policies.d/notify.yaml'),
      ['policy_version: 1', 'notify:', `  webhook: https://ops:${CANARY_POLICY}@hooks.example.org/waveos`, `  token: ${CANARY_POLICY}`, ''].join('\n'),
    );
    // A spool as the logging spooler leaves it: a rotated .gz and the active file.
    const spool = join(root, 'var/log/waveos/spool/sensor-app');
    mkdirSync(spool, { recursive: true });
    writeFileSync(join(spool, 'sensor-app.1.log.gz'), gzipSync(`sensor-app starting\nconnecting with password=${CANARY_LOG}\n`));
    const past = (Date.now() - 5 * 60_000) / 1000;
    utimesSync(join(spool, 'sensor-app.1.log.gz'), past, past);
    writeFileSync(join(spool, 'sensor-app.log'), `reading 17.2\nsensor timeout on /dev/ttyS1\nretrying with api_key=${CANARY_LOG}\n`);

    // Two runs, the first killed: the pack must say how it ended.
    const first = start();
    await first.ready();
    await first.kill('SIGKILL');
    const d = start();
    const status = await d.ready();
    const pub = readFileSync(join(root, 'var/lib/waveos/device.pub'), 'utf8');
    expect(status.device_public_key).toBe(pub.split(' ')[0]);
    expect(cli(['evidence', 'pubkey', '--root', root]).stdout.trim()).toBe(pub.trim());

    // Metric samples for the last ten minutes, as telemetry writes them into the journal.
    const j = Journal.openWriter(join(root, 'var/lib/waveos/waveos.db'), { clock: systemClock, runId: 'test-feed', bootId: 'test' });
    const now = Date.now();
    const samples = [];
    for (let t = now - 600_000; t <= now; t += 1000) {
      const phase = (t - now) / 60_000;
      samples.push({ ts_ms: t, name: 'cpu_usage', value: 0.3 + 0.2 * Math.sin(phase), unit: 'ratio', labels: {} });
      samples.push({ ts_ms: t, name: 'temperature', value: 48 + 6 * Math.sin(phase / 2), unit: 'celsius', labels: { zone: 'board' } });
      samples.push({ ts_ms: t, name: 'temperature', value: 41 + 3 * Math.cos(phase / 3), unit: 'celsius', labels: { zone: 'ambient' } });
    }
    // and one from long before the window, which must stay out
    samples.push({ ts_ms: now - 3 * 3_600_000, name: 'cpu_usage', value: 0.9, unit: 'ratio', labels: {} });
    j.appendSamples(samples);
    j.close();

    const out = join(root, 'pack.tar.gz');
    const exp = cli(['evidence', 'export', '--since', '15m', '--reason', 'integration check', '--out', out, '--json', '--root', root]);
    expect(exp.code, exp.stderr).toBe(0);
    const summary = JSON.parse(exp.stdout) as { name: string; window: { since: string; until: string }; samples: number };
    expect(summary.name).toMatch(/^evidence-pump-17-\d{8}T\d{6}Z-integration-check\.tar\.gz$/);
    expect(existsSync(join(root, 'var/lib/waveos/evidence', summary.name))).toBe(true);
    expect(readFileSync(out)).toEqual(readFileSync(join(root, 'var/lib/waveos/evidence', summary.name)));
    pack = out;

    // Verifies offline, also against the enrolled key.
    const keys = join(root, 'trusted');
    mkdirSync(keys);
    copyFileSync(join(root, 'var/lib/waveos/device.pub'), join(keys, 'pump-17.pub'));
    const ok = cli(['evidence', 'verify', out, '--keys', keys]);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stdout).toContain('verified');
    expect(ok.stdout).toContain('trusted (pump-17.pub)');

    unpacked = await unpack(out);
    const files = allFiles(unpacked);
    for (const f of ['MANIFEST.json', 'MANIFEST.sig', 'run_meta.json', 'events.jsonl', 'metrics.csv', 'bundles.json', 'system.json', 'report.html', 'config/effective.json', 'config/policies/index.json', 'config/policies/not-in-force/notify.yaml'])
      expect(files).toContain(f);
    expect(files).toContain('logs/sensor-app/sensor-app.log');
    expect(files).toContain('logs/sensor-app/sensor-app.1.log.gz');
    expect(readFileSync(join(unpacked, 'logs/sensor-app/sensor-app.log'), 'utf8')).toContain('sensor timeout on /dev/ttyS1');
    const manifest = JSON.parse(readFileSync(join(unpacked, 'MANIFEST.json'), 'utf8')) as {
      window: { since: string; until: string };
      journal: { first_seq: number; last_seq: number; events: number };
      runs: string[];
    };

    // Events: every event stamped inside the window, and only the contiguous stretch around them.
    const events = readJsonl(join(unpacked, 'events.jsonl'));
    const all = JSON.parse(cli(['events', '--json', '--root', root]).stdout) as { seq: number; ts: string; kind: string }[];
    const inWindow = all.filter((e) => e.ts >= manifest.window.since && e.ts <= manifest.window.until).map((e) => e.seq);
    expect(events.map((e) => e.seq)).toEqual(inWindow);
    expect(events.map((e) => e.kind)).toContain('daemon.start');
    expect(manifest.journal.events).toBe(events.length);
    expect(manifest.runs).toHaveLength(2);
    const meta = JSON.parse(readFileSync(join(unpacked, 'run_meta.json'), 'utf8')) as { run_id: string; previous_run: { ended: string } };
    expect(meta.run_id).toBe(status.run_id);
    expect(meta.previous_run.ended).not.toBe('clean');
    expect(JSON.parse(readFileSync(join(unpacked, 'bundles.json'), 'utf8'))).toEqual([]);

    // Metrics: exactly the fed samples inside the window, beside the daemon's own (written out for the export).
    const rows = readFileSync(join(unpacked, 'metrics.csv'), 'utf8').trim().split('\n');
    expect(rows[0]).toBe('ts,metric,value,unit,labels');
    const ts = rows.slice(1).map((r) => r.split(',')[0] as string);
    const expected = samples.filter((s) => s.ts_ms >= Date.parse(manifest.window.since) && s.ts_ms <= Date.parse(manifest.window.until)).length;
    const fed = rows.slice(1).filter((r) => ['cpu_usage', 'temperature'].includes(r.split(',')[1] as string));
    expect(fed).toHaveLength(expected);
    expect(summary.samples).toBe(rows.length - 1);
    expect(ts.every((t) => t >= manifest.window.since && t <= manifest.window.until)).toBe(true);
    expect(rows.some((r) => r.includes('temperature') && r.endsWith('zone=board'))).toBe(true);

    // No secret anywhere: the env token, the policy's token, the log lines' keys, the device's secret key.
    const secretKey = (JSON.parse(readFileSync(join(root, 'var/lib/waveos/device.key'), 'utf8')) as { secret_key: string }).secret_key;
    for (const f of files) {
      let bytes = readFileSync(join(unpacked, f));
      if (f.endsWith('.gz')) bytes = gunzipSync(bytes);
      for (const canary of [CANARY_ENV, CANARY_POLICY, CANARY_LOG, secretKey]) expect(bytes.includes(canary), `${f} holds a secret`).toBe(false);
    }
    expect(readFileSync(join(unpacked, 'system.json'), 'utf8')).toContain('"WAVEOS_UPLINK_TOKEN": "[REDACTED]"');
    expect(readFileSync(join(unpacked, 'logs/sensor-app/sensor-app.log'), 'utf8')).toContain('api_key=[REDACTED]');

    // The export is an event; the pack is listed.
    await waitFor('the evidence.exported event', () => {
      const ev = JSON.parse(cli(['events', '--kind', 'evidence.exported', '--json', '--root', root]).stdout) as { data: { name: string } }[];
      return ev.find((e) => e.data.name === summary.name);
    });
    expect(cli(['evidence', 'list', '--root', root]).stdout).toContain(summary.name);
  });

  it('makes `waveos evidence verify` exit 5 naming the file when any file, the manifest or the signature changed', async () => {
    expect(pack, 'the export test ran first').not.toBe('');
    const out = pack;
    const keys = join(root, 'trusted');
    // Any change is caught and named, exit 5.
    const edits: [string, (dir: string) => void][] = [
      ['events.jsonl', (x) => writeFileSync(join(x, 'events.jsonl'), readFileSync(join(x, 'events.jsonl'), 'utf8').replace('"severity":"warning"', '"severity":"info"'))],
      ['metrics.csv', (x) => writeFileSync(join(x, 'metrics.csv'), readFileSync(join(x, 'metrics.csv'), 'utf8').replace(/,0\.(\d)/, ',9.$1'))],
      ['report.html', (x) => writeFileSync(join(x, 'report.html'), readFileSync(join(x, 'report.html'), 'utf8').replace('Hash chain', 'Hash-chain'))],
      ['logs/sensor-app/sensor-app.log', (x) => writeFileSync(join(x, 'logs/sensor-app/sensor-app.log'), 'all fine\n')],
      ['system.json', (x) => writeFileSync(join(x, 'system.json'), '{}\n')],
      ['MANIFEST.json', (x) => writeFileSync(join(x, 'MANIFEST.json'), readFileSync(join(x, 'MANIFEST.json'), 'utf8').replace('integration check', 'integration-check'))],
      ['MANIFEST.sig', (x) => writeFileSync(join(x, 'MANIFEST.sig'), `${Buffer.alloc(64, 9).toString('base64')}\n`)],
    ];
    for (const [name, edit] of edits) {
      const bad = cli(['evidence', 'verify', await tampered(out, edit), '--keys', keys]);
      expect(bad.code, `${name}: ${bad.stderr}`).toBe(5);
      expect(bad.stderr, name).toContain(name);
    }
    // A pack signed by a key that is not enrolled fails against --keys.
    rmSync(join(keys, 'pump-17.pub'));
    writeFileSync(join(keys, 'other.pub'), `${Buffer.alloc(32, 3).toString('base64')}\n`);
    const untrusted = cli(['evidence', 'verify', out, '--keys', keys]);
    expect(untrusted.code).toBe(5);
    expect(untrusted.stderr).toContain('MANIFEST.sig');
  });

  const noBrowser = browserUnavailable();
  if (noBrowser) process.stderr.write(`report.html browser check skipped: ${noBrowser}\n`);

  it.skipIf(noBrowser !== undefined)('report.html renders its charts and timeline in headless Chromium without console errors', async () => {
    expect(unpacked, 'the export test ran first').not.toBe('');
    const browser = await launchChromium();
    try {
      const { page, problems, requests } = await openReport(browser, join(unpacked, 'report.html'), { width: 1400, height: 1000 });
      expect(await page.locator('canvas').count()).toBeGreaterThanOrEqual(2);
      expect(await page.locator('.chart h3').allTextContents()).toEqual(expect.arrayContaining([expect.stringContaining('cpu_usage'), expect.stringContaining('temperature')]));
      const rows = await page.locator('#timeline-body tr').count();
      expect(rows).toBeGreaterThan(0);
      expect(await page.locator('#timeline-body').textContent()).toContain('daemon.start');
      expect(await page.locator('#chain-status').textContent()).toContain('Hash chain verified');
      expect(await page.locator('#sig-status').textContent()).toContain('Signed by device key');
      expect(await page.locator('header').textContent()).toContain('pump-17');
      expect(await page.locator('#runs').textContent()).toMatch(/crash|power-loss-or-kill/);
      // The filter narrows the timeline.
      await page.selectOption('#f-sev', 'warning');
      expect(await page.locator('#timeline-body tr').count()).toBeLessThan(rows);
      await page.selectOption('#f-sev', 'info');
      mkdirSync(join(REPO, 'test-results'), { recursive: true });
      await page.screenshot({ path: join(REPO, 'test-results/evidence-report.png'), fullPage: true });
      expect(problems).toEqual([]);
      expect(requests).toEqual([]);
    } finally {
      await browser.close();
    }
  });
});
