import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { BIN, DaemonProcess, artifactsDir, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { EXAMPLES, events, example, killMarked, writeConfig } from './helpers/services.js';
import { spawnSync } from 'node:child_process';

interface DgramSocket {
  bind(path: string): void;
  on(ev: 'message', fn: (buf: Buffer) => void): void;
  on(ev: 'error', fn: (e: Error) => void): void;
  close(): void;
}
const dgram = createRequire(import.meta.url)('unix-dgram') as { createSocket(t: 'unix_dgram'): DgramSocket };

const MARK = 'WAVEOS_TEST_MARK';
const roots: string[] = [];
const daemons: DaemonProcess[] = [];
const sockets: DgramSocket[] = [];
afterEach(() => {
  for (const d of daemons.splice(0)) d.proc.kill('SIGKILL');
  for (const s of sockets.splice(0)) s.close();
  for (const r of roots.splice(0)) {
    killMarked(MARK, r);
    removeRoot(r);
  }
});

/** The test's own notify socket: what systemd would listen on. */
function listen(path: string): { at: number; text: string }[] {
  const got: { at: number; text: string }[] = [];
  const s = dgram.createSocket('unix_dgram');
  s.on('message', (b) => got.push({ at: Date.now(), text: b.toString() }));
  s.on('error', () => {});
  s.bind(path);
  sockets.push(s);
  return got;
}

describe('systemd Type=notify and the watchdog', () => {
  it('sends READY=1 after start-up recovery, WATCHDOG=1 from the main loop, none while the loop stalls, and STOPPING=1', async () => {
    const root = tempRoot('waveos-wd-');
    roots.push(root);
    const sock = join(root, 'notify.sock');
    const got = listen(sock);
    const stall = join(root, 'stall');
    const hw = join(root, 'fake-watchdog');
    writeFileSync(hw, '');
    const config = writeConfig(root, {
      services: [example('one', 'healthy.mjs'), example('two', 'healthy.mjs')],
      recovery: { watchdog: { device: hw, tick: '1s' } },
    });
    const d = new DaemonProcess(root, ['--config', config], { [MARK]: root, NOTIFY_SOCKET: sock, WATCHDOG_USEC: '400000', WAVEOS_TEST_STALL_FILE: stall });
    daemons.push(d);
    await d.ready();
    const ready = await waitFor('READY=1', () => got.find((m) => m.text.includes('READY=1')));
    // Ready only once recovery is done: both services were already running when it was sent.
    expect(ready.text).toMatch(/STATUS=mode normal; 2\/2 services running/);
    expect(got.findIndex((m) => m.text.includes('READY=1'))).toBeGreaterThan(got.findIndex((m) => m.text.startsWith('STATUS=WaveOS starting')));
    const pings = (): number => got.filter((m) => m.text === 'WATCHDOG=1').length;
    await waitFor('pings', () => (pings() >= 4 ? true : undefined), 10_000, 50);

    // A stalled main loop stops petting: no ping while it is stalled, pings again after.
    writeFileSync(stall, '');
    await new Promise((r) => setTimeout(r, 300));
    const atStall = pings();
    await new Promise((r) => setTimeout(r, 1_500));
    expect(pings() - atStall).toBe(0);
    rmSync(stall);
    await waitFor('pings resume', () => (pings() >= atStall + 3 ? true : undefined), 10_000, 50);

    await d.kill('SIGTERM');
    await waitFor('STOPPING=1', () => got.find((m) => m.text.includes('STOPPING=1')), 5_000);
    // The hardware watchdog was petted and magic-closed on the clean stop.
    const hwText = readFileSync(hw, 'utf8');
    expect(hwText.length).toBeGreaterThan(2);
    expect(hwText.endsWith('V')).toBe(true);
  });

  it('refuses to start when NOTIFY_SOCKET is set but cannot be written', () => {
    const root = tempRoot('waveos-wd-');
    roots.push(root);
    mkdirSync(join(root, 'nothing-here'));
    const r = spawnSync(process.execPath, [BIN, 'run', '--root', root, '--profile', 'prod'], {
      env: { ...process.env, NOTIFY_SOCKET: join(root, 'nothing-here/notify.sock') },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/NOTIFY_SOCKET/);
    expect(r.stderr).toMatch(/WAVEOS_E_NOTIFY/);
  });
});

describe('reset reason capture', () => {
  it('names a reboot WaveOS asked for, and a hardware watchdog reset, in run_meta.json and boot.reset_reason', async () => {
    const root = tempRoot('waveos-rr-');
    roots.push(root);
    const bootFile = join(root, 'boot_id');
    writeFileSync(bootFile, 'boot-1\n');
    const sysfs = join(root, 'sys');
    const rebootLog = join(root, 'reboots.log');
    const config = writeConfig(root, {
      services: [example('core', 'crasher.mjs', ['--after-ms', '50'], { critical: true })],
      recovery: {
        backoff_initial: '20ms',
        backoff_factor: 1,
        jitter: 0,
        crash_loop: { exits: 2, window: '1m' },
        reboot_guard: { max: 5, window: '1h' },
        reboot_command: [process.execPath, join(EXAMPLES, 'record-reboot.mjs'), rebootLog],
        sysfs,
      },
    });
    const env = { [MARK]: root, WAVEOS_BOOT_ID_FILE: bootFile };
    const d = new DaemonProcess(root, ['--config', config], env);
    daemons.push(d);
    await d.ready();
    await waitFor('a reboot request', () => events(root, 'recovery.reboot_requested')[0], 30_000, 100);
    // The "reboot": the daemon dies with the board, and the kernel's boot id changes.
    await d.kill('SIGKILL');
    killMarked(MARK, root);
    writeFileSync(bootFile, 'boot-2\n');
    const d2 = new DaemonProcess(root, ['--config', config], env);
    daemons.push(d2);
    const st = (await d2.ready()) as { run_id: string; previous_run: { reset_cause: string; reset_reason: string } };
    expect(st.previous_run.reset_cause).toBe('requested-reboot');
    const meta = JSON.parse(readFileSync(join(artifactsDir(root), st.run_id, 'run_meta.json'), 'utf8')) as { previous_run: Record<string, unknown> };
    expect(meta.previous_run.reset_cause).toBe('requested-reboot');
    expect(meta.previous_run.reset_reason).toMatch(/rebooted as WaveOS asked .*crash loop/);
    const ev = events(root, 'boot.reset_reason').at(-1);
    expect(ev?.data.cause).toBe('requested-reboot');
    expect(ev?.data.boot_id_changed).toBe(true);

    // Next: the board is reset by its hardware watchdog (bootstatus says so) — that wins over the request.
    await d2.kill('SIGKILL');
    killMarked(MARK, root);
    mkdirSync(join(sysfs, 'class/watchdog/watchdog0'), { recursive: true });
    writeFileSync(join(sysfs, 'class/watchdog/watchdog0/bootstatus'), '32\n');
    writeFileSync(bootFile, 'boot-3\n');
    const d3 = new DaemonProcess(root, ['--config', config], env);
    daemons.push(d3);
    const st3 = (await d3.ready()) as { previous_run: { reset_cause: string; reset_reason: string } };
    expect(st3.previous_run.reset_cause).toBe('watchdog-reset');
    expect(st3.previous_run.reset_reason).toMatch(/hardware watchdog watchdog0 \(bootstatus 0x20: card-reset\)/);
    expect(cli(['journal', 'verify', '--root', root]).code).toBe(0);
  });
});
