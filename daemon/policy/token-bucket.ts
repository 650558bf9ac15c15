/**
 * A token bucket on monotonic milliseconds: `capacity` tokens, refilled continuously at `refillPerMs`.
 * Over any window of length W it admits at most capacity + refillPerMs * W tokens.
 */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    readonly capacity: number,
    readonly refillPerMs: number,
    now: number,
  ) {
    this.tokens = capacity;
    this.last = now;
  }

  private refill(now: number): void {
    // Time that seems to go back (a caller with a stale reading) adds nothing and takes nothing.
    if (now > this.last) {
      this.tokens = Math.min(this.capacity, this.tokens + (now - this.last) * this.refillPerMs);
      this.last = now;
    }
  }

  /** Takes `cost` tokens if there are that many; never takes part of them. */
  take(now: number, cost = 1): boolean {
    this.refill(now);
    if (cost <= this.tokens + 1e-9) {
      this.tokens = Math.max(0, this.tokens - cost);
      return true;
    }
    return false;
  }

  available(now: number): number {
    this.refill(now);
    return this.tokens;
  }

  /** How long until `cost` tokens are there (0 if they are now; Infinity if cost exceeds the bucket). */
  waitMs(now: number, cost = 1): number {
    this.refill(now);
    if (cost > this.capacity) return Number.POSITIVE_INFINITY;
    if (this.tokens >= cost) return 0;
    return Math.ceil((cost - this.tokens) / this.refillPerMs);
  }
}
