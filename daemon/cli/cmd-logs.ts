import { existsSync } from 'node:fs';
import { apiStream } from '../api/client.js';
import { WaveosError, isWaveosError } from '../core/errors.js';
import { parseSpoolLine } from '../spooler/spool-line.js';
import { parseSince } from './cmd-events.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE =
  'waveos logs SOURCE [--since DURATION|TIME] [--follow] [--grep TEXT] [--escape|--raw] [--json] [--root DIR]\n' +
  '  On a terminal, control characters from service output (ESC, OSC, BEL, CR, other C0/C1, DEL) are shown\n' +
  '  escaped (\\x1b); piped output is the stored bytes unless --escape.';

/**
 * Control characters a service printed, made visible: written raw they would drive the viewer's terminal
 * (colours, cursor moves, an OSC 52 clipboard write, a CR that hides the start of a line). Tab stays.
 */
export function escapeControls(line: string): string {
  // eslint-disable-next-line no-control-regex -- matching control characters is the point
  return line.replace(/[\x00-\x08\x0a-\x1f\x7f-\x9f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
}

/**
 * A source's spooled lines, across rotated and compressed files, in order. Through the daemon when it runs
 * (so lines still in its memory are included); straight from the spool files when it does not.
 */
export async function logsCommand(argv: string[], io: Output, signal?: AbortSignal): Promise<number> {
  const { values, positionals } = parseFlags(
    argv,
    { since: { type: 'string' }, follow: { type: 'boolean' }, grep: { type: 'string' }, escape: { type: 'boolean' }, raw: { type: 'boolean' } },
    USAGE,
  );
  const escape = values.escape === true || (values.raw !== true && process.stdout.isTTY === true);
  const source = positionals[0];
  if (source === undefined || positionals.length > 1) throw new WaveosError('WAVEOS_E_USAGE', `expected one SOURCE\nusage: ${USAGE}`);
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/.test(source))
    throw new WaveosError('WAVEOS_E_USAGE', `SOURCE: expected 1-64 letters, digits, "_", "." or "-", got "${source}"`);
  const paths = rootPaths(values.root);
  // `waveos logs X | head` closes the pipe early: that ends the command, it is not an error
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(0);
  });
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const print = (raw: string): void => {
    io.out(values.json ? JSON.stringify({ source, ...parseSpoolLine(raw) }) : escape ? escapeControls(raw) : raw);
  };
  const q = new URLSearchParams({ source });
  if (since) q.set('since', since);
  if (values.grep) q.set('grep', values.grep);
  if (values.follow) q.set('follow', '1');
  let status: number | undefined;
  try {
    status = await apiStream(
      clientOptions(paths, values['token-file']),
      `/v1/logs?${q}`,
      (line) => {
        const o = JSON.parse(line) as { line?: unknown };
        if (typeof o.line === 'string') print(o.line);
      },
      signal,
    );
  } catch (e) {
    if (!isWaveosError(e) || e.code !== 'WAVEOS_E_DAEMON_UNREACHABLE' || !existsSync(paths.spoolDir)) throw e;
  }
  if (status !== undefined) {
    if (status === 404) {
      const { listSources } = await import('../spooler/index.js');
      const known = listSources(paths.spoolDir);
      throw new WaveosError('WAVEOS_E_NOT_FOUND', `no spooled logs for "${source}" (${known.length ? `sources: ${known.join(', ')}` : 'no source has logged yet'})`);
    }
    if (status === 401 || status === 403) throw new WaveosError('WAVEOS_E_PERMISSION', 'permission denied: reading logs needs the viewer role');
    if (status >= 400) throw new WaveosError(status < 500 ? 'WAVEOS_E_USAGE' : 'WAVEOS_E_RUNTIME', `the daemon answered HTTP ${status}`);
    return 0;
  }
  // The daemon is down: read the files themselves.
  const { readSpool } = await import('../spooler/index.js');
  for await (const raw of readSpool(paths.spoolDir, source, { since, grep: values.grep, follow: values.follow, signal })) print(raw);
  return 0;
}
