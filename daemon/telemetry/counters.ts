const WRAP32 = 2 ** 32;

/**
 * The increase of a kernel counter between two reads. Counters on 32-bit kernels and some drivers wrap
 * at 2^32: a smaller value after one below 2^32 is read as a wrap. A smaller value after one above
 * 2^32 cannot be a 32-bit wrap (and a 64-bit wrap does not happen in practice): the counter was reset,
 * e.g. the driver reloaded, so the new value itself is the increase.
 */
export function counterDelta(prev: number, cur: number): number {
  if (cur >= prev) return cur - prev;
  if (prev < WRAP32) return cur + WRAP32 - prev;
  return cur;
}

/**
 * Turns raw kernel counters (which may wrap or reset) into monotonic totals: the first read is taken as
 * is, every later one adds its increase. Keys that are not seen in a pass are forgotten, so an interface
 * that disappears and comes back starts again from its new raw value.
 */
export class MonotonicCounters {
  private readonly raw = new Map<string, number>();
  private readonly total = new Map<string, number>();

  /** Feeds one raw read; returns the monotonic total. */
  update(key: string, value: number): number {
    const prev = this.raw.get(key);
    const t = prev === undefined ? value : (this.total.get(key) ?? 0) + counterDelta(prev, value);
    this.raw.set(key, value);
    this.total.set(key, t);
    return t;
  }

  /** Forgets every key for which `keep` says no. */
  retain(keep: (key: string) => boolean): string[] {
    const gone: string[] = [];
    for (const k of this.raw.keys()) {
      if (!keep(k)) {
        this.raw.delete(k);
        this.total.delete(k);
        gone.push(k);
      }
    }
    return gone;
  }
}
