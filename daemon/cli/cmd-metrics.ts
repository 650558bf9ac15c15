import { existsSync } from 'node:fs';
import { WaveosError, isWaveosError } from '../core/errors.js';
import type { CorruptChunk, HistoryAnswer, HistoryQuery } from '../telemetry/history-query.js';
import { checkResponse } from './api-errors.js';
import { parseSince } from './since.js';
import { type Output, clientOptions, parseFlags, rootPaths } from './context.js';

const USAGE = 'waveos metrics [--json] [--since DURATION|TIME] [--name METRIC] [--limit N] [--root DIR]';

interface MetricRow {
  name: string;
  value: number;
  unit: string;
  labels: Record<string, string>;
}

function labelText(labels: Record<string, string>): string {
  const keys = Object.keys(labels).sort();
  return keys.length ? `{${keys.map((k) => `${k}="${labels[k]}"`).join(',')}}` : '';
}

function num(v: number): string {
  return Number.isInteger(v) ? String(v) : v.toPrecision(4).replace(/\.?0+$/, '');
}

/** Per series: how many points, min, avg, max and the last value, over raw samples and minute aggregates. */
function summarize(h: HistoryAnswer): string[] {
  const by = new Map<string, { unit: string; n: number; min: number; max: number; sum: number; last: number }>();
  const add = (key: string, unit: string, n: number, min: number, max: number, sum: number, last: number): void => {
    const s = by.get(key);
    if (!s) by.set(key, { unit, n, min, max, sum, last });
    else {
      s.n += n;
      s.min = Math.min(s.min, min);
      s.max = Math.max(s.max, max);
      s.sum += sum;
      s.last = last;
    }
  };
  for (const a of h.aggregates) add(`${a.name}${labelText(a.labels)}`, a.unit, a.count, a.min, a.max, a.avg * a.count, a.last);
  for (const s of h.samples) add(`${s.name}${labelText(s.labels)}`, s.unit, 1, s.value, s.value, s.value, s.value);
  const lines = [
    `history since ${h.since}${h.raw_from ? ` (raw samples from ${h.raw_from}, one-minute aggregates before)` : ' (no raw samples stored)'}${h.truncated ? ', truncated: narrow it with --name or --limit' : ''}`,
  ];
  for (const [k, s] of [...by.entries()].sort(([a], [b]) => a.localeCompare(b)))
    lines.push(`${k}  n=${s.n} min=${num(s.min)} avg=${num(s.sum / s.n)} max=${num(s.max)} last=${num(s.last)} ${s.unit}`);
  return lines;
}

function warnCorrupt(corrupt: readonly CorruptChunk[], io: Output): void {
  for (const c of corrupt) io.err(`warning: a metric chunk of ${c.name} (${c.count} samples from ${new Date(c.start_ms).toISOString()}) failed its check (${c.reason}) and is left out`);
}

/** History read from the journal file when no daemon runs; --json is written without an object per sample. */
async function historyFromFile(db: string, q: HistoryQuery, json: boolean, io: Output): Promise<number> {
  // Only SQLite, the history side of the journal and the codec: not the events' side of the journal, nor the
  // schema, config and logging libraries it needs (test/client-path.integration.test.ts holds this).
  const [{ HistoryReader }, { readHistory, readHistoryJsonBytes }] = await Promise.all([import('../journal/history-reader.js'), import('../telemetry/history-query.js')]);
  const reader = HistoryReader.openReadOnly(db);
  try {
    if (json) {
      const r = readHistoryJsonBytes(reader, q);
      warnCorrupt(r.corrupt, io);
      const pieces = [Buffer.from('{"metrics":[],"history":'), ...r.parts, Buffer.from('}')];
      if (io.outBytes) io.outBytes(pieces);
      else io.out(Buffer.concat(pieces).toString());
      return 0;
    }
    const h = readHistory(reader, q);
    warnCorrupt(h.corrupt_chunks, io);
    io.out(summarize(h).join('\n'));
    return 0;
  } finally {
    reader.close();
  }
}

export async function metricsCommand(argv: string[], io: Output): Promise<number> {
  const { values } = parseFlags(argv, { since: { type: 'string' }, name: { type: 'string' }, limit: { type: 'string' } }, USAGE);
  const paths = rootPaths(values.root);
  const since = values.since === undefined ? undefined : parseSince(values.since, Date.now());
  const limit = values.limit === undefined ? undefined : Number(values.limit);
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new WaveosError('WAVEOS_E_USAGE', `--limit: expected a whole number above 0, got "${values.limit}"`);
  if (values.name !== undefined && !/^[a-z_][a-z0-9_]*$/.test(values.name))
    throw new WaveosError('WAVEOS_E_USAGE', `--name: expected a metric name such as cpu_usage_ratio, got "${values.name}"`);
  const q = new URLSearchParams();
  if (since) q.set('since', since);
  if (values.name) q.set('name', values.name);
  if (limit) q.set('limit', String(limit));
  const client = clientOptions(paths, values['token-file']);
  let body: { metrics: MetricRow[]; history?: HistoryAnswer };
  try {
    // No socket file: no daemon to ask (what the call would find out, without loading the HTTP client).
    if (since && !existsSync(client.socketPath)) throw new WaveosError('WAVEOS_E_DAEMON_UNREACHABLE', `no daemon: ${client.socketPath} does not exist`);
    const { apiCall } = await import('../api/client.js');
    body = checkResponse(await apiCall(client, 'GET', `/v1/metrics${q.size ? `?${q}` : ''}`)) as typeof body;
  } catch (e) {
    // History needs no daemon: read the journal file itself. Current values do.
    if (!since || !isWaveosError(e) || e.code !== 'WAVEOS_E_DAEMON_UNREACHABLE' || !existsSync(paths.db)) throw e;
    return historyFromFile(paths.db, { sinceMs: Date.parse(since), name: values.name, limit: limit ?? 100_000 }, values.json === true, io);
  }
  warnCorrupt(body.history?.corrupt_chunks ?? [], io);
  if (values.json) {
    io.out(JSON.stringify(body));
    return 0;
  }
  if (body.history) {
    io.out(summarize(body.history).join('\n'));
    return 0;
  }
  io.out(body.metrics.map((m) => `${m.name}${labelText(m.labels)} ${num(m.value)} ${m.unit}`).join('\n') || 'no metrics sampled yet');
  return 0;
}
