import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { type Browser, type Page, chromium } from 'playwright-core';
import { REPO } from './daemon.js';

export const CHROMIUM = '/usr/bin/chromium';

/** Installs Debian's chromium when missing (root); undefined when a browser is there, else why not. */
export function browserUnavailable(): string | undefined {
  const r = spawnSync('bash', [join(REPO, 'scripts/ensure-chromium.sh')], { encoding: 'utf8', timeout: 600_000 });
  if (existsSync(CHROMIUM)) return undefined;
  return `no browser: ${(r.stderr || r.stdout || `ensure-chromium.sh exited ${r.status}`).trim()}`;
}

/** Headless Chromium that talks to nothing on its own (no updates, sync or background fetches). */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

export interface WatchedPage {
  page: Page;
  /** Console errors and warnings, and uncaught page errors. */
  problems: string[];
  /** Every request for anything but a local file: an offline report must make none. */
  requests: string[];
}

/** Opens a rendered report.html (its `body[data-rendered="1"]`) with its console and requests watched. */
export async function openReport(browser: Browser, file: string, viewport: { width: number; height: number }): Promise<WatchedPage> {
  const page = await browser.newPage({ viewport });
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
