import { z } from 'zod';
import type { Journal, JournalEvent } from '../journal/index.js';
import { type Route, defineRoute } from './types.js';

export interface CoreRouteDeps {
  journal: Journal;
  /** The status document (CONTRACT.md `status --json`). */
  status(): Record<string, unknown>;
}

export const eventsQuery = z.strictObject({
  since: z.iso.datetime({ offset: true }).optional(),
  after_seq: z.coerce.number().int().nonnegative().optional(),
  kind: z
    .string()
    .max(200)
    .regex(/^[A-Za-z0-9_.:-]*$/, 'expected a kind prefix such as service or daemon.start')
    .optional(),
  limit: z.coerce.number().int().min(1).max(100_000).optional(),
  /** The newest N matching events (journalctl -n); with follow, the backlog shown before new ones. */
  last: z.coerce.number().int().min(0).max(100_000).optional(),
  follow: z.enum(['0', '1']).optional(),
});
type EventsQuery = z.infer<typeof eventsQuery>;

function matches(e: JournalEvent, q: EventsQuery): boolean {
  if (q.kind && e.kind !== q.kind && !e.kind.startsWith(q.kind)) return false;
  if (q.since && e.ts < q.since) return false;
  return true;
}

/** Yields the journal's events after `afterSeq`, then every new one as it commits, until the signal aborts. */
async function* follow(journal: Journal, q: EventsQuery, signal: AbortSignal): AsyncGenerator<string> {
  let queue: JournalEvent[] = [];
  let wake: (() => void) | undefined;
  const unsubscribe = journal.onCommit((events) => {
    queue.push(...events);
    wake?.();
  });
  const onAbort = (): void => wake?.();
  signal.addEventListener('abort', onAbort);
  try {
    journal.flushForRead();
    let last = q.after_seq ?? 0;
    // Like `journalctl -f`: without a starting point the backlog is the newest `last` events, not the whole journal.
    const fromStart = q.after_seq !== undefined || q.since !== undefined;
    const backlog = journal.events({ afterSeq: last, sinceTs: q.since, kindPrefix: q.kind, newest: fromStart ? q.last : (q.last ?? 0) });
    if (!fromStart && q.last === undefined) last = journal.lastSeq();
    for (const e of backlog) {
      last = e.seq;
      yield `${JSON.stringify(e)}\n`;
    }
    while (!signal.aborted) {
      if (queue.length === 0) await new Promise<void>((r) => (wake = r));
      wake = undefined;
      const batch = queue;
      queue = [];
      for (const e of batch) {
        if (e.seq <= last || !matches(e, q)) continue;
        last = e.seq;
        yield `${JSON.stringify(e)}\n`;
      }
    }
  } finally {
    unsubscribe();
    signal.removeEventListener('abort', onAbort);
  }
}

export function coreRoutes(deps: CoreRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/v1/status',
      action: 'status.read',
      role: 'viewer',
      handle: () => ({ kind: 'json', body: deps.status() }),
    }),
    defineRoute({
      method: 'GET',
      path: '/v1/events',
      action: 'events.read',
      role: 'viewer',
      query: eventsQuery,
      handle: (req) => {
        const q = req.query;
        if (q.follow === '1') return { kind: 'stream', lines: follow(deps.journal, q, req.signal) };
        deps.journal.flushForRead();
        const events = deps.journal.events({ afterSeq: q.after_seq, sinceTs: q.since, kindPrefix: q.kind, limit: q.limit ?? 10_000, newest: q.last });
        return { kind: 'json', body: { events } };
      },
    }),
  ];
}

/** `GET /v1/routes`: what this daemon serves and which role each action needs (for scripts and the RBAC tests). */
export function discoveryRoute(all: () => readonly Route[]): Route {
  return defineRoute({
    method: 'GET',
    path: '/v1/routes',
    action: 'routes.read',
    role: 'viewer',
    handle: () => ({ kind: 'json', body: { routes: all().map((r) => ({ method: r.method, path: r.path, action: r.action, role: r.role })) } }),
  });
}
