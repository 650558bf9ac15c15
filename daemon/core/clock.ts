/** Wall time is recorded, never trusted for ordering; durations and timeouts use the monotonic clock. */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (may jump when NTP syncs). */
  now(): number;
  /** Monotonic milliseconds (CLOCK_MONOTONIC: since boot, never goes back). */
  monoMs(): number;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  monoMs: () => Number(process.hrtime.bigint() / 1_000_000n),
};

/** A clock that moves only when told to; wall and monotonic time can be moved apart to model jumps. */
export class FakeClock implements Clock {
  private wall: number;
  private mono: number;

  constructor(startWall = Date.UTC(2026, 0, 1), startMono = 1_000) {
    this.wall = startWall;
    this.mono = startMono;
  }

  now(): number {
    return this.wall;
  }

  monoMs(): number {
    return this.mono;
  }

  advance(ms: number): void {
    if (ms < 0) throw new RangeError('monotonic time cannot go back');
    this.wall += ms;
    this.mono += ms;
  }

  /** Moves only the wall clock, as an RTC correction or NTP step would. */
  jumpWall(ms: number): void {
    this.wall += ms;
  }
}

export function isoUtc(ms: number): string {
  return new Date(ms).toISOString();
}
