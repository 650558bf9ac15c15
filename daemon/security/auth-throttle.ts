import type { Clock } from '../core/index.js';

/** How often the refusals of a throttled socket are summed up in one audit record and one event. */
export const THROTTLE_SUMMARY_MS = 10_000;
/** Failed authentications one connection may make before it is closed. */
export const FAILURES_PER_CONNECTION = 10;

interface Bucket {
  /** Failures that may still be answered now; refills at `refillPerSec`, up to the burst. */
  allowance: number;
  at: number;
  refused: number;
}

/**
 * Failed-authentication throttling per control socket (the peer class the daemon can verify: who could
 * connect to it). A socket answers `burst` failures at once and then one a second; while it has no
 * allowance, every request on it is refused unjudged, so a guesser learns nothing and writes no audit line
 * per guess. The refusals are counted and handed to `onSummary` at most once per window.
 */
export class AuthThrottle {
  private readonly buckets = new Map<string, Bucket>();

  constructor(
    private readonly opts: { burst: number; refillPerSec?: number; clock: Pick<Clock, 'monoMs'>; onSummary: (socket: string, refused: number) => void },
  ) {}

  private bucket(socket: string): Bucket {
    const now = this.opts.clock.monoMs();
    let b = this.buckets.get(socket);
    if (!b) {
      b = { allowance: this.opts.burst, at: now, refused: 0 };
      this.buckets.set(socket, b);
    }
    b.allowance = Math.min(this.opts.burst, b.allowance + ((now - b.at) / 1000) * (this.opts.refillPerSec ?? 1));
    b.at = now;
    return b;
  }

  /** Whether a request on `socket` may be judged now; a refusal is counted for the next summary. */
  admit(socket: string): boolean {
    const b = this.bucket(socket);
    if (b.allowance >= 1) return true;
    b.refused++;
    return false;
  }

  /** A request on `socket` failed authentication. */
  failed(socket: string): void {
    const b = this.bucket(socket);
    b.allowance = Math.max(0, b.allowance - 1);
  }

  /** Hands each socket's refusals since the last call to `onSummary` (the server calls it every window). */
  summarise(): void {
    for (const [socket, b] of this.buckets) {
      if (b.refused === 0) continue;
      const refused = b.refused;
      b.refused = 0;
      this.opts.onSummary(socket, refused);
    }
  }
}
