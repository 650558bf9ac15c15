import { z } from 'zod';
import { type Route, defineRoute } from './types.js';

export const logsQuery = z.strictObject({
  source: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected a source name such as sensor-app'),
  since: z.iso.datetime({ offset: true }).optional(),
  grep: z.string().min(1).max(1_000).optional(),
  follow: z.enum(['0', '1']).optional(),
});
export type LogsQuery = z.infer<typeof logsQuery>;

export interface LogsRouteDeps {
  /**
   * The source's spooled lines in order (with `follow`, until the signal aborts). Throws a
   * WAVEOS_E_NOT_FOUND error before yielding when the source has no spool.
   */
  readLogs(q: { source: string; since?: string; grep?: string; follow: boolean; signal: AbortSignal }): AsyncGenerator<string>;
  /** Writes out what waits in memory, so that a read sees every line accepted so far. */
  flush(): Promise<void>;
}

/** `GET /v1/logs?source=NAME[&since=ISO][&grep=TEXT][&follow=1]`: spooled lines as NDJSON `{"line": "…"}`, viewer role. */
export function logsRoutes(deps: LogsRouteDeps): Route[] {
  return [
    defineRoute({
      method: 'GET',
      path: '/v1/logs',
      action: 'logs.read',
      role: 'viewer',
      query: logsQuery,
      handle: async (req) => {
        const q = req.query;
        await deps.flush();
        const gen = deps.readLogs({ source: q.source, since: q.since, grep: q.grep, follow: q.follow === '1', signal: req.signal });
        // The first step runs now, so that an unknown source is a 404 rather than an empty stream.
        const first = await gen.next();
        async function* lines(): AsyncGenerator<string> {
          if (first.done) return;
          yield `${JSON.stringify({ line: first.value })}\n`;
          for await (const l of gen) yield `${JSON.stringify({ line: l })}\n`;
        }
        return { kind: 'stream', lines: lines() };
      },
    }),
  ];
}
