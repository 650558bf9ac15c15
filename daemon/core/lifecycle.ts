import type { Logger } from './logger.js';
import { errorMessage } from './errors.js';

/** The one contract of every long-lived module (STYLE.md). */
export interface Lifecycle {
  readonly name: string;
  start(signal: AbortSignal): Promise<void> | void;
  stop(): Promise<void> | void;
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const limit = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  return Promise.race([p, limit]).finally(() => clearTimeout(timer));
}

/**
 * Starts modules in order with a time limit each, and stops the started ones in reverse order;
 * one module failing to stop does not keep the others from stopping. A start that fails stops what
 * already started (the failing module too: it may have half-started) before it throws.
 */
export class ModuleRunner {
  private readonly started: Lifecycle[] = [];
  private readonly abort = new AbortController();
  /** Each started module's start time in ms, in start order (the ready log line reports them). */
  readonly startMs: Record<string, number> = {};

  constructor(
    private readonly log: Logger,
    private readonly startTimeoutMs = 10_000,
    private readonly stopTimeoutMs = 1_500,
  ) {}

  async start(modules: readonly Lifecycle[]): Promise<void> {
    for (const m of modules) {
      this.started.push(m);
      const t0 = performance.now();
      try {
        await withTimeout(Promise.resolve().then(() => m.start(this.abort.signal)), this.startTimeoutMs, `start of ${m.name}`);
        this.startMs[m.name] = Math.round(performance.now() - t0);
      } catch (e) {
        this.log.error({ module: m.name, err: errorMessage(e) }, 'module failed to start: stopping what started');
        await this.stop();
        throw e;
      }
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    while (this.started.length > 0) {
      const m = this.started.pop() as Lifecycle;
      try {
        await withTimeout(Promise.resolve(m.stop()), this.stopTimeoutMs, `stop of ${m.name}`);
      } catch (e) {
        this.log.error({ module: m.name, err: errorMessage(e) }, 'module failed to stop cleanly');
      }
    }
  }
}
