/**
 * A token bucket on the monotonic clock: `rate` tokens per second, at most `capacity` saved up.
 * The caller passes the time, so the bucket itself is pure and tests drive it with a fake clock.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private rate: number,
    private capacity: number,
    nowMs: number,
  ) {
    this.tokens = capacity;
    this.last = nowMs;
  }

  private refill(nowMs: number): void {
    const dt = nowMs - this.last;
    if (dt > 0) {
      this.tokens = Math.min(this.capacity, this.tokens + (dt * this.rate) / 1000);
      this.last = nowMs;
    }
  }

  /** Takes `n` tokens if they are there; otherwise takes none and says no. */
  take(n: number, nowMs: number): boolean {
    this.refill(nowMs);
    if (this.tokens >= n) {
      this.tokens -= n;
      return true;
    }
    return false;
  }

  /** Milliseconds until `n` tokens will be there (0 when they are). */
  waitMs(n: number, nowMs: number): number {
    this.refill(nowMs);
    if (this.tokens >= n) return 0;
    return this.rate <= 0 ? Number.POSITIVE_INFINITY : Math.ceil(((n - this.tokens) * 1000) / this.rate);
  }

  /** New limits keep the tokens already saved, up to the new capacity. */
  reconfigure(rate: number, capacity: number, nowMs: number): void {
    this.refill(nowMs);
    this.rate = rate;
    this.capacity = capacity;
    this.tokens = Math.min(this.tokens, capacity);
  }
}
