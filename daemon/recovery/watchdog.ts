import { closeSync, existsSync, openSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import type * as UnixDgram from 'unix-dgram';
import { type Lifecycle, type Logger, WaveosError, errorMessage } from '../core/index.js';

type DgramModule = typeof UnixDgram;

/**
 * sd_notify over the unix datagram socket systemd names in NOTIFY_SOCKET (Node's dgram has no unix
 * datagrams; `unix-dgram` does). Absent NOTIFY_SOCKET, every call is a no-op.
 */
export class SdNotifier {
  private readonly socket: ReturnType<DgramModule['createSocket']> | undefined;
  private readonly path: string | undefined;
  /** Half of WATCHDOG_USEC, in ms, when systemd asked this process for watchdog pings. */
  readonly watchdogIntervalMs: number | undefined;

  constructor(env: NodeJS.ProcessEnv, pid = process.pid) {
    const raw = env.NOTIFY_SOCKET;
    if (raw) {
      // An abstract socket is written with a leading '@'; on the wire it starts with a NUL byte.
      this.path = raw.startsWith('@') ? `\0${raw.slice(1)}` : raw;
      const dgram = createRequire(import.meta.url)('unix-dgram') as DgramModule;
      this.socket = dgram.createSocket('unix_dgram');
      this.socket.on('error', () => {});
    }
    const usec = Number(env.WATCHDOG_USEC);
    const forPid = env.WATCHDOG_PID === undefined || Number(env.WATCHDOG_PID) === pid;
    this.watchdogIntervalMs = raw && Number.isFinite(usec) && usec > 0 && forPid ? Math.max(1, Math.floor(usec / 2000)) : undefined;
  }

  get enabled(): boolean {
    return this.socket !== undefined;
  }

  /** Sends one notification; throws when the socket cannot be written. */
  send(text: string): void {
    if (!this.socket || this.path === undefined) return;
    const buf = Buffer.from(text);
    let failure: Error | undefined;
    this.socket.send(buf, 0, buf.length, this.path, (err) => {
      failure = err;
    });
    if (failure) throw new WaveosError('WAVEOS_E_NOTIFY', `cannot write to NOTIFY_SOCKET ${this.path.replace('\0', '@')}: ${failure.message}`);
  }

  /** Like send, for the steady state: a failure is logged, not fatal (systemd's watchdog then acts). */
  trySend(text: string, log: Logger): void {
    try {
      this.send(text);
    } catch (e) {
      log.warn({ err: errorMessage(e) }, 'sd_notify failed');
    }
  }

  close(): void {
    try {
      this.socket?.close();
    } catch {
      // already closed
    }
  }
}

/** A watchdog device (/dev/watchdog): any write pets it; 'V' before close disarms it (magic close). */
export class HardwareWatchdog {
  private fd: number | undefined;

  constructor(readonly device: string) {}

  open(): void {
    try {
      this.fd = openSync(this.device, 'w');
    } catch (e) {
      throw new WaveosError('WAVEOS_E_RUNTIME', `cannot open the hardware watchdog ${this.device}: ${errorMessage(e)}`, { cause: e });
    }
  }

  pet(): void {
    if (this.fd !== undefined) writeSync(this.fd, '.');
  }

  /** Clean stop only: a crash leaves the device armed, so the board resets if WaveOS does not come back. */
  magicClose(): void {
    if (this.fd === undefined) return;
    try {
      writeSync(this.fd, 'V');
    } finally {
      closeSync(this.fd);
      this.fd = undefined;
    }
  }
}

export interface MainLoopDeps {
  log: Logger;
  notifier: SdNotifier;
  hardware?: HardwareWatchdog;
  /** The main loop's period; shortened to half of WATCHDOG_USEC when systemd asks for pings. */
  tickMs: number;
  /** One line for systemd's STATUS=. */
  summary(): string;
  /** Other per-tick work. */
  onTick?: () => void;
  /**
   * The wall clock moved against the monotonic one by more than CLOCK_JUMP_MS since the last tick (NTP stepping
   * it, an RTC-less board setting it at last): `deltaMs` is how far, positive forward.
   */
  onClockJump?: (jump: { deltaMs: number; fromMs: number; toMs: number }) => void;
  /**
   * Tests only: while this file exists the loop blocks in its tick, as a stalled loop would, so the pings
   * stop. Read from WAVEOS_TEST_STALL_FILE, which nothing but the test suite sets.
   */
  stallFile?: string;
}

/**
 * The main loop: each tick pets the watchdogs and refreshes STATUS=. Pings come from here and nowhere else,
 * so a loop that stops turning stops petting, and systemd (or the hardware) acts.
 */
/** A step of the wall clock smaller than this is drift or a slow tick, not a jump. */
export const CLOCK_JUMP_MS = 2_000;

export class MainLoop implements Lifecycle {
  readonly name = 'main-loop';
  private timer: NodeJS.Timeout | undefined;
  private lastStatus = '';
  /** Monotonic: a wall clock stepped back must not stop the pings (systemd would kill a healthy daemon). */
  private lastPing = Number.NEGATIVE_INFINITY;
  readonly periodMs: number;
  /** wall − monotonic at the last tick: its change is how far the wall clock jumped. */
  private wallOffset: number | undefined;

  constructor(private readonly deps: MainLoopDeps) {
    const wd = deps.notifier.watchdogIntervalMs;
    this.periodMs = wd === undefined ? deps.tickMs : Math.min(deps.tickMs, wd);
  }

  start(): void {
    this.deps.hardware?.open();
    this.tick();
    this.timer = setInterval(() => this.tick(), this.periodMs);
  }

  /** READY=1: only once start-up recovery is complete. */
  ready(): void {
    const status = this.deps.summary();
    this.lastStatus = status;
    this.deps.notifier.send(`READY=1\nSTATUS=${status}\nMAINPID=${process.pid}`);
  }

  private stall(): void {
    const f = this.deps.stallFile;
    if (!f || !existsSync(f)) return;
    const cell = new Int32Array(new SharedArrayBuffer(4));
    const until = performance.now() + 60_000;
    while (existsSync(f) && performance.now() < until) Atomics.wait(cell, 0, 0, 50);
  }

  private tick(): void {
    this.stall();
    this.watchClock();
    try {
      this.deps.onTick?.();
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'main loop work failed');
    }
    const n = this.deps.notifier;
    const now = performance.now();
    if (n.watchdogIntervalMs !== undefined && now - this.lastPing >= n.watchdogIntervalMs * 0.9) {
      n.trySend('WATCHDOG=1', this.deps.log);
      this.lastPing = now;
    }
    const status = this.deps.summary();
    if (status !== this.lastStatus) {
      this.lastStatus = status;
      n.trySend(`STATUS=${status}`, this.deps.log);
    }
    try {
      this.deps.hardware?.pet();
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'cannot pet the hardware watchdog');
    }
  }

  private watchClock(): void {
    const wall = Date.now();
    const offset = wall - performance.now();
    const prev = this.wallOffset;
    this.wallOffset = offset;
    if (prev === undefined || Math.abs(offset - prev) < CLOCK_JUMP_MS) return;
    const deltaMs = Math.round(offset - prev);
    try {
      this.deps.onClockJump?.({ deltaMs, fromMs: wall - deltaMs, toMs: wall });
    } catch (e) {
      this.deps.log.error({ err: errorMessage(e) }, 'recording a clock jump failed');
    }
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.deps.notifier.trySend('STOPPING=1\nSTATUS=stopping', this.deps.log);
    this.deps.hardware?.magicClose();
  }
}
