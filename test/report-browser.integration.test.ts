import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { extract as extractTar } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { DaemonProcess, REPO, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { events, example, killMarked, writeConfig } from './helpers/services.js';

const CHROMIUM = '/usr/bin/chromium';
const MARK = 'WAVEOS_TEST_MARK';
const RESULTS = join(REPO, 'test-results');

// A breaker that stays open for the whole test: the pack must show the device still in safe mode.
const POLICY = `policy_version: "report.1"
rules:
  - id: crash-breaker
    kind: breaker
    trigger: { event: service.exited }
    threshold: 5
    window: 60s
    open_for: 10m
    probe: 1m
    mode: safe
    actions:
      - { type: export_evidence, reason: crash-breaker }
`;

const root = tempRoot('waveos-report-');
const daemons: DaemonProcess[] = [];
afterAll(() => {
  for (const d of daemons) d.proc.kill('SIGKILL');
  killMarked(MARK, root);
  removeRoot(root);
});

/** Installs Debian's chromium when missing (root); undefined when a browser is there, else why not. */
function browserUnavailable(): string | undefined {
  const r = spawnSync('bash', [join(REPO, 'scripts/ensure-chromium.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (existsSync(CHROMIUM)) return undefined;
  return `no browser: ${(r.stderr || r.stdout || `ensure-chromium.sh exited ${r.status}`).trim()}`;
}

/** A real daemon whose crashing service opens a breaker into safe mode; the incident pack it exports, unpacked. */
async function incidentPack(): Promise<string> {
  mkdirSync(join(root, 'etc/waveos/policies.d'), { recursive: true });
  writeFileSync(join(root, 'etc/waveos/policies.d/crash.yaml'), POLICY);
  const env = { env: { [MARK]: root } };
  const config = writeConfig(root, {
    device: { device_id: 'pump-17', app_id: 'pump', environment: 'field-test' },
    // Health and load every 5 s, the rest every second: the charts must draw both.
    telemetry: { sample_interval: '1s', prometheus: { enabled: false }, collectors: { health: { interval: '5s' }, load: { interval: '5s' } } },
    recovery: { backoff_initial: '200ms', backoff_max: '1s', jitter: 0, crash_loop: { exits: 1000, window: '1m' } },
    // As in the field: a quarter of an hour before the incident, though the daemon has run for seconds.
    evidence: { schedule: 'off', window_before: '15m', window_after: '3s' },
    services: [
      example('core', 'healthy.mjs', [], { critical: true, ...env }),
      example('sensor', 'healthy.mjs', [], { modes: ['normal', 'degraded'], ...env }),
      example('hang', 'crasher.mjs', ['--after-ms', '1500', '--exit-code', '3'], { modes: ['normal', 'degraded'], ...env }),
    ],
  });
  const d = new DaemonProcess(root, ['--config', config], { [MARK]: root });
  daemons.push(d);
  await d.ready();
  await waitFor('breaker open', () => events(root, 'policy.breaker_open').at(0), 90_000, 300);
  const dir = join(root, 'var/lib/waveos/evidence');
  const pack = await waitFor('the incident pack', () => (existsSync(dir) ? readdirSync(dir).find((f) => /^evidence-.*crash-breaker.*\.tar\.gz$/.test(f)) : undefined), 60_000, 500);
  const v = cli(['evidence', 'verify', join(dir, pack)]);
  expect(v.code, v.stderr).toBe(0);
  const out = mkdtempSync(join(root, 'unpacked-'));
  await extractTar({ file: join(dir, pack), cwd: out });
  mkdirSync(RESULTS, { recursive: true });
  copyFileSync(join(out, 'report.html'), join(RESULTS, 'report.html'));
  return out;
}

interface Watched {
  page: Page;
  problems: string[];
  requests: string[];
}

async function openReport(browser: Browser, file: string, width: number): Promise<Watched> {
  const page = await browser.newPage({ viewport: { width, height: 900 } });
  const problems: string[] = [];
  const requests: string[] = [];
  page.on('console', (m) => {
    if (m.type() === 'error' || m.type() === 'warning') problems.push(`${m.type()}: ${m.text()}`);
  });
  page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
  page.on('request', (r) => {
    if (!r.url().startsWith('file:')) requests.push(r.url());
  });
  await page.goto(`file://${file}`);
  await page.waitForSelector('body[data-rendered="1"]', { timeout: 15_000 });
  return { page, problems, requests };
}

const noBrowser = browserUnavailable();
if (noBrowser) process.stderr.write(`report.html browser check skipped: ${noBrowser}\n`);

describe('report.html of an incident pack', () => {
  it.skipIf(noBrowser !== undefined)('answers first: the headline names the breaker, the charts that moved are drawn, and it fits a phone', async () => {
    const unpacked = await incidentPack();
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    try {
      for (const width of [1400, 390]) {
        const { page, problems, requests } = await openReport(browser, join(unpacked, 'report.html'), width);
        await page.screenshot({ path: join(RESULTS, `report-${width}.png`), fullPage: true });
        expect(problems, `${width}px`).toEqual([]);
        expect(requests, `${width}px`).toEqual([]);
      }
    } finally {
      await browser.close();
    }
  }, 240_000);
});
