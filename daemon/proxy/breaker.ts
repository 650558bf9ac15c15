export type BreakerState = 'closed' | 'open' | 'half-open';

/**
 * A circuit breaker on the monotonic clock: after `threshold` failures in a row it opens for `openMs`,
 * then lets one trial through (half-open); the trial's outcome closes or reopens it.
 */
export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private opened = false;
  private trial = false;

  constructor(
    private readonly threshold: number,
    private readonly openMs: number,
  ) {}

  state(nowMs: number): BreakerState {
    if (!this.opened) return 'closed';
    return nowMs - this.openedAt >= this.openMs ? 'half-open' : 'open';
  }

  /** May a request go now? In half-open, only one at a time. */
  allow(nowMs: number): boolean {
    const s = this.state(nowMs);
    if (s === 'closed') return true;
    if (s === 'open' || this.trial) return false;
    this.trial = true;
    return true;
  }

  /** Milliseconds until the breaker lets a trial through (0 when closed or half-open). */
  retryInMs(nowMs: number): number {
    return this.state(nowMs) === 'open' ? this.openMs - (nowMs - this.openedAt) : 0;
  }

  /** Records an outcome; returns the state change it caused, if any. */
  record(ok: boolean, nowMs: number): 'opened' | 'closed' | undefined {
    this.trial = false;
    if (ok) {
      this.failures = 0;
      if (this.opened) {
        this.opened = false;
        return 'closed';
      }
      return undefined;
    }
    this.failures++;
    if (this.opened) {
      this.openedAt = nowMs;
      return undefined;
    }
    if (this.failures >= this.threshold) {
      this.opened = true;
      this.openedAt = nowMs;
      return 'opened';
    }
    return undefined;
  }
}
