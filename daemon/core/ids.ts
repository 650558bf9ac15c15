import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';

/** A run id sorts by start time and is unique: `20261122T014500Z-3f9a1c`. */
export function newRunId(wallMs: number): string {
  const stamp = new Date(wallMs)
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d{3}/, '');
  return `${stamp}-${randomBytes(3).toString('hex')}`;
}

/**
 * The kernel's boot id changes on every boot, so comparing it tells a board reboot from a daemon restart.
 * Test rigs that simulate reboots point WAVEOS_BOOT_ID_FILE at a file of their own.
 */
export function readBootId(env: NodeJS.ProcessEnv = process.env): string {
  const file = env.WAVEOS_BOOT_ID_FILE ?? '/proc/sys/kernel/random/boot_id';
  try {
    const id = readFileSync(file, 'utf8').trim();
    if (id) return id;
  } catch {
    // not Linux, or /proc hidden: fall through
  }
  return 'unknown';
}

/** A stable device id when the config names none: derived from /etc/machine-id, else the hostname. */
export function defaultDeviceId(hostname: string): string {
  try {
    const id = readFileSync('/etc/machine-id', 'utf8').trim();
    if (/^[0-9a-f]{32}$/.test(id)) return `dev-${id.slice(0, 12)}`;
  } catch {
    // no machine-id on this image
  }
  return hostname.replace(/[^A-Za-z0-9_.-]/g, '-') || 'device';
}
