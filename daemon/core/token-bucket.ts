/** How big a bucket is and how fast it fills: named, so that the two numbers cannot be swapped. */
export interface TokenBucketLimits {
  /** Most tokens saved up (the burst). */
  capacity: number;
  /** Tokens added per second, continuously. */
  refillPerSec: number;
}

/** Rounding slack: a bucket refilled in many small steps may fall a few ulps short of a whole token. */
const SLACK = 1e-9;

/**
 * A token bucket on monotonic milliseconds. The caller passes the time (always the first argument), so
 * the bucket is pure and tests drive it with a fake clock. Over any window of length W it admits at most
 * capacity + refillPerSec × W / 1000 tokens; a time that seems to go back adds nothing and takes nothing.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;
  private limits: TokenBucketLimits;

  /** A full bucket at `nowMs`. */
  constructor(limits: TokenBucketLimits & { nowMs: number }) {
    this.limits = { capacity: limits.capacity, refillPerSec: limits.refillPerSec };
    this.tokens = limits.capacity;
    this.last = limits.nowMs;
  }

  get capacity(): number {
    return this.limits.capacity;
  }

  get refillPerSec(): number {
    return this.limits.refillPerSec;
  }

  private refill(nowMs: number): void {
    if (nowMs > this.last) {
      this.tokens = Math.min(this.limits.capacity, this.tokens + ((nowMs - this.last) * this.limits.refillPerSec) / 1000);
      this.last = nowMs;
    }
  }

  /** Takes `n` tokens if they are there; otherwise takes none and says no. */
  take(nowMs: number, n = 1): boolean {
    this.refill(nowMs);
    if (n <= this.tokens + SLACK) {
      this.tokens = Math.max(0, this.tokens - n);
      return true;
    }
    return false;
  }

  /** Tokens there now. */
  available(nowMs: number): number {
    this.refill(nowMs);
    return this.tokens;
  }

  /** Milliseconds until `n` tokens are there: 0 when they are now, Infinity when they never will be. */
  waitMs(nowMs: number, n = 1): number {
    this.refill(nowMs);
    if (n <= this.tokens + SLACK) return 0;
    if (n > this.limits.capacity || this.limits.refillPerSec <= 0) return Number.POSITIVE_INFINITY;
    return Math.ceil(((n - this.tokens) * 1000) / this.limits.refillPerSec);
  }

  /** New limits keep the tokens already saved, up to the new capacity. */
  reconfigure(nowMs: number, limits: TokenBucketLimits): void {
    this.refill(nowMs);
    this.limits = { capacity: limits.capacity, refillPerSec: limits.refillPerSec };
    this.tokens = Math.min(this.tokens, limits.capacity);
  }
}
