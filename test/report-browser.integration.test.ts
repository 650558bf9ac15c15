/// <reference lib="dom" />
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { extract as extractTar } from 'tar';
import { afterAll, describe, expect, it } from 'vitest';
import { browserUnavailable, launchChromium, openReport } from './helpers/browser.js';
import { DaemonProcess, REPO, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { events, example, killMarked, writeConfig } from './helpers/services.js';

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


/** The headline names the breaker and the mode, above everything else; the mode band shows safe mode. */
async function checkAnswer(page: Page): Promise<void> {
  const headline = (await page.locator('#headline').textContent()) ?? '';
  expect(headline).toMatch(/^Breaker crash-breaker opened at \d\d:\d\d:\d\d after 5 exits of hang in 60 s; device in safe mode since/);
  const answerTop = (await page.locator('#answer').boundingBox())?.y ?? Infinity;
  const chartTop = (await page.locator('.chart').first().boundingBox())?.y ?? -Infinity;
  expect(answerTop).toBeLessThan(chartTop);
  expect(await page.locator('#modes .span.safe').count()).toBe(1);
  expect(await page.locator('#modes .span.normal').count()).toBe(1);
}

/** Every chart with samples draws them, key ones first, on a window fitted to the data. */
async function checkCharts(page: Page): Promise<void> {
  const charts = await page.evaluate(() => {
    interface Plot { data: (number | null | undefined)[][]; series: { label?: string; _paths?: { stroke?: unknown } | null }[]; root: HTMLElement; valToPos: (v: number, scale: string, canvas: boolean) => number }
    const plots = (window as unknown as { reportPlots: Plot[] }).reportPlots;
    const palette = [[31, 111, 235], [214, 39, 40], [44, 160, 44], [148, 103, 189], [255, 127, 14], [23, 190, 207], [140, 86, 75], [227, 119, 194]];
    /** The share of the canvas columns between a chart's first and last sample that hold a series' colour: a line, not dots. */
    const coverage = (u: Plot): number => {
      const canvas = u.root.querySelector('canvas') as HTMLCanvasElement;
      const px = (canvas.getContext('2d') as CanvasRenderingContext2D).getImageData(0, 0, canvas.width, canvas.height).data;
      const colours = palette.slice(0, u.series.length - 1);
      const xs = (u.data[0] ?? []).filter((_, i) => u.data.slice(1).some((d) => d[i] !== null && d[i] !== undefined)) as number[];
      if (xs.length < 2) return 1;
      const a = Math.ceil(u.valToPos(xs[0] as number, 'x', true)) + 2;
      const b = Math.floor(u.valToPos(xs[xs.length - 1] as number, 'x', true)) - 2;
      let inkedColumns = 0;
      for (let x = a; x <= b; x++) {
        for (let y = 0; y < canvas.height; y++) {
          const i = (y * canvas.width + x) * 4;
          if (colours.some((c) => Math.abs((px[i] as number) - (c[0] as number)) < 40 && Math.abs((px[i + 1] as number) - (c[1] as number)) < 40 && Math.abs((px[i + 2] as number) - (c[2] as number)) < 40)) {
            inkedColumns++;
            break;
          }
        }
      }
      return b > a ? inkedColumns / (b - a + 1) : 1;
    };
    return plots.map((u) => ({
      coverage: coverage(u),
      name: u.root.closest('.chart')?.getAttribute('data-metric') ?? '',
      series: u.series.slice(1).map((s, k) => ({ label: s.label ?? '', points: (u.data[k + 1] ?? []).filter((v) => v !== null && v !== undefined).length, drawn: Boolean(s._paths?.stroke) })),
    }));
  });
  const plan = await page.evaluate(() => {
    const d = JSON.parse(document.getElementById('evidence-data')?.textContent ?? '{}') as { plan: { from_ms: number; charts: unknown[] }; window: { since: string } };
    return { from: d.plan.from_ms, since: Date.parse(d.window.since), charts: d.plan.charts.length };
  });
  expect(charts.length).toBe(plan.charts);
  expect(await page.locator('.chart').count()).toBe(plan.charts);
  expect(charts.length).toBeGreaterThanOrEqual(4);
  expect(charts[0]?.name).toBe('health_score');
  for (const name of ['health_score', 'load_average', 'cpu_usage_ratio']) expect(charts.map((c) => c.name)).toContain(name);
  for (const c of charts) {
    expect(c.series.some((s) => s.points > 0), `${c.name} has no data`).toBe(true);
    expect(c.coverage, `${c.name}: its samples are not joined by a line`).toBeGreaterThan(0.9);
    for (const s of c.series) if (s.points > 0) expect(s.drawn, `${c.name} ${s.label}: ${s.points} points, nothing drawn`).toBe(true);
  }
  // Health is sampled every 5 s: its points are few, and still a line.
  const health = charts.find((c) => c.name === 'health_score');
  expect(health?.series[0]?.points).toBeGreaterThanOrEqual(2);
  // The daemon ran for seconds of a 15-minute window: the charts start at its data, not at the window.
  expect(plan.from - plan.since).toBeGreaterThan(10 * 60_000);
}

/** The timeline lists the newest first, holds the breaker, and the filter narrows it as one types. */
async function checkTimeline(page: Page): Promise<void> {
  const times = await page.locator('#timeline-body td.ts:first-child').allTextContents();
  expect(times.length).toBeGreaterThan(10);
  expect([...times].sort().reverse()).toEqual(times);
  const all = await page.locator('#timeline-body tr').count();
  await page.fill('#f-text', 'breaker_open');
  const rows = await page.locator('#timeline-body tr').allTextContents();
  expect(rows.length).toBeGreaterThan(0);
  expect(rows.length).toBeLessThan(all);
  for (const r of rows) expect(r).toContain('breaker_open');
  await page.fill('#f-text', '');
  expect(await page.locator('#timeline-body tr').count()).toBe(all);
}

const noBrowser = browserUnavailable();
if (noBrowser) process.stderr.write(`report.html browser check skipped: ${noBrowser}\n`);

describe('report.html of an incident pack', () => {
  it.skipIf(noBrowser !== undefined)('answers first: the headline names the breaker, the charts that moved are drawn, and it fits a phone', async () => {
    const unpacked = await incidentPack();
    const browser = await launchChromium();
    try {
      for (const width of [1400, 390]) {
        const { page, problems, requests } = await openReport(browser, join(unpacked, 'report.html'), { width, height: 900 });
        await page.screenshot({ path: join(RESULTS, `report-${width}.png`), fullPage: true });
        await checkAnswer(page);
        await checkCharts(page);
        await checkTimeline(page);
        const fit = await page.evaluate(() => ({ scroll: document.documentElement.scrollWidth, inner: window.innerWidth }));
        expect(fit.scroll, `${width}px: the page is wider than the screen`).toBeLessThanOrEqual(fit.inner);
        expect(problems, `${width}px`).toEqual([]);
        expect(requests, `${width}px`).toEqual([]);
      }
    } finally {
      await browser.close();
    }
  }, 240_000);
});
