import { type ClientOptions, apiStream } from '../api/index.js';
import type { JournalEvent } from '../journal/index.js';

/** How often the time left of a running trial is said. */
const TRIAL_TICK_MS = 5_000;

/** One line per step of an install, from its `bundle.*` event: the step's name and the event's own reason. */
export function progressLine(e: Pick<JournalEvent, 'kind' | 'reason'>): string {
  return `  ${e.kind.slice('bundle.'.length).padEnd(11)} ${e.reason}`;
}

const ENDS = new Set(['bundle.committed', 'bundle.rolled_back', 'bundle.rejected', 'bundle.failed']);

/**
 * Says each step of the install in flight (verify, stage, activate, trial with the time it has left) while
 * `waveos bundle install` waits for its answer: the journal's `bundle.*` events from `sinceIso` on, followed
 * over the control socket until `signal` aborts. Progress is for a person: the caller writes it to stderr on
 * a terminal only, so scripts see the one result line on stdout.
 */
export async function followInstall(opts: ClientOptions, sinceIso: string, write: (line: string) => void, signal: AbortSignal): Promise<void> {
  let tick: NodeJS.Timeout | undefined;
  const stopTick = (): void => {
    if (tick) clearInterval(tick);
    tick = undefined;
  };
  signal.addEventListener('abort', stopTick, { once: true });
  const q = new URLSearchParams({ follow: '1', kind: 'bundle.', since: sinceIso });
  try {
    await apiStream(
      opts,
      `/v1/events?${q}`,
      (line) => {
        const e = JSON.parse(line) as JournalEvent;
        write(progressLine(e));
        if (ENDS.has(e.kind)) stopTick();
        const trialMs = e.kind === 'bundle.trial' ? Number(e.data.trial_ms) : 0;
        if (trialMs > TRIAL_TICK_MS) {
          stopTick();
          const end = Date.parse(e.ts) + trialMs;
          tick = setInterval(() => {
            const left = Math.round((end - Date.now()) / 1000);
            if (left > 0) write(`  trial       ${left} s left`);
          }, TRIAL_TICK_MS);
          tick.unref();
        }
      },
      signal,
    );
  } catch {
    // progress is a courtesy: the install's own answer is what counts
  } finally {
    stopTick();
  }
}
