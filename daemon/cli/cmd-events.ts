import { existsSync } from 'node:fs';
import { apiCall, apiStream } from '../api/client.js';
import { WaveosError, isWaveosError } from '../core/errors.js';
import type { JournalEvent } from '../journal/index.js';
import { checkResponse } from './api-errors.js';
import { type Paint, colourOn, paintSeverity, painter } from './colour.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';
import { parseSince } from './since.js';

const USAGE =
  'waveos events [-n|--lines N] [--since DURATION|TIME] [--kind PREFIX] [--limit N] [--follow] [--reverse] [--output short|verbose|json] [--json] [--root DIR]';

// Kept here too: other commands import it from this module.
export { parseSince };

export function formatEvent(e: JournalEvent): string {
  const data = Object.keys(e.data).length ? `  ${JSON.stringify(e.data)}` : '';
  return `${e.ts}  #${e.seq}  ${e.severity.padEnd(8)} ${e.kind}  [${e.source}] ${e.reason}${data}`;
}

/** One line per event for a terminal: no data, cut to the width (`…` marks the cut), as journalctl does. */
export function shortEvent(e: JournalEvent, columns: number | undefined, paint: Paint = painter(false)): string {
  const head = `${e.ts.slice(0, 19).replace('T', ' ')} #${e.seq} `;
  const line = `${head}${e.severity.padEnd(8)} ${e.kind}: ${e.reason}`;
  const cut = columns !== undefined && line.length > columns ? `${line.slice(0, Math.max(1, columns - 1))}…` : line;
  // Coloured after the cut, so the width counts only what shows.
  if (cut.length < head.length + e.severity.length) return cut;
  return `${head}${paintSeverity(paint, e.severity)}${cut.slice(head.length + e.severity.length)}`;
}

type OutputMode = 'short' | 'verbose' | 'json';

function outputMode(values: { json?: boolean; output?: string }, tty: boolean): OutputMode {
  if (values.output !== undefined && !['short', 'verbose', 'json'].includes(values.output)) {
    throw new WaveosError('WAVEOS_E_USAGE', `--output: expected short, verbose or json, got "${values.output}"`);
  }
  if (values.json) return 'json';
  return (values.output as OutputMode | undefined) ?? (tty ? 'short' : 'verbose');
}

function isUnreachable(e: unknown): boolean {
  return isWaveosError(e) && e.code === 'WAVEOS_E_DAEMON_UNREACHABLE';
}

export async function eventsCommand(argv: string[], io: Output, signal?: AbortSignal): Promise<number> {
  const { values } = parseFlags(
    argv,
    {
      since: { type: 'string' },
      kind: { type: 'string' },
      follow: { type: 'boolean', short: 'f' },
      limit: { type: 'string' },
      lines: { type: 'string', short: 'n' },
      reverse: { type: 'boolean', short: 'r' },
      output: { type: 'string', short: 'o' },
    },
    USAGE,
  );
  const paths = rootPaths(values.root);
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new WaveosError('WAVEOS_E_USAGE', `--limit: expected a whole number above 0, got "${values.limit}"`);
  const lines = values.lines === undefined ? undefined : Number(values.lines);
  if (lines !== undefined && (!Number.isInteger(lines) || lines < 0))
    throw new WaveosError('WAVEOS_E_USAGE', `--lines: expected a whole number, got "${values.lines}"`);
  if (values.reverse && values.follow) throw new WaveosError('WAVEOS_E_USAGE', '--reverse and --follow do not go together');
  const mode = outputMode(values, process.stdout.isTTY === true);
  // A terminal that does not say its width (0, as under script(1) without a size) gets whole lines.
  const columns = process.stdout.isTTY && process.stdout.columns > 0 ? process.stdout.columns : undefined;
  const paint = painter(colourOn(argv));
  const q = new URLSearchParams();
  if (since) q.set('since', since);
  if (values.kind) q.set('kind', values.kind);
  if (limit) q.set('limit', String(limit));
  if (lines !== undefined) q.set('last', String(lines));
  const print = (e: JournalEvent, last: boolean, first: boolean): void => {
    if (mode === 'json' && !values.follow) io.out(`${first ? '[' : ''}${JSON.stringify(e)}${last ? ']' : ','}`);
    else io.out(mode === 'json' ? JSON.stringify(e) : mode === 'short' ? shortEvent(e, columns, paint) : formatEvent(e));
  };
  const ordered = (events: JournalEvent[]): JournalEvent[] => (values.reverse ? [...events].reverse() : events);
  const opts = clientOptions(paths, values['token-file']);
  try {
    if (values.follow) {
      q.set('follow', '1');
      const status = await apiStream(opts, `/v1/events?${q}`, (line) => print(JSON.parse(line) as JournalEvent, false, false), signal);
      if (status >= 300) checkResponse({ status, body: null });
      return 0;
    }
    const body = checkResponse(await apiCall(opts, 'GET', `/v1/events?${q}`)) as { events: JournalEvent[] };
    emitAll(ordered(body.events), mode === 'json', print, io);
    return 0;
  } catch (e) {
    // Reading history needs no daemon: fall back to the journal file itself.
    if (!isUnreachable(e) || !existsSync(paths.db)) throw e;
  }
  // SQLite only when the daemon is not there to ask.
  const { JournalReader } = await import('../journal/index.js');
  const reader = JournalReader.openReadOnly(paths.db);
  try {
    if (!values.follow) {
      emitAll(ordered(reader.events({ sinceTs: since, kindPrefix: values.kind, limit, newest: lines })), mode === 'json', print, io);
      return 0;
    }
    let last = since === undefined && lines === undefined ? reader.lastSeq() : 0;
    for (const e of reader.iterateEvents({ afterSeq: last, sinceTs: since, kindPrefix: values.kind, newest: since === undefined ? lines : undefined })) {
      print(e, false, false);
      last = e.seq;
    }
    while (!signal?.aborted) {
      await new Promise((r) => setTimeout(r, 500));
      for (const e of reader.iterateEvents({ afterSeq: last, kindPrefix: values.kind })) {
        print(e, false, false);
        last = e.seq;
      }
    }
    return 0;
  } finally {
    reader.close();
  }
}

function emitAll(events: JournalEvent[], json: boolean, print: (e: JournalEvent, last: boolean, first: boolean) => void, io: Output): void {
  if (json && events.length === 0) {
    io.out('[]');
    return;
  }
  events.forEach((e, i) => print(e, i === events.length - 1, i === 0));
}
