import { existsSync } from 'node:fs';
import { basename } from 'node:path';
import { WaveosError } from '../core/index.js';
import { readSignedManifest } from '../evidence/index.js';
import { JournalReader, type OutsideAnchor, checkAnchors, verifyJournal } from '../journal/index.js';
import { checkAllChunks } from '../telemetry/history-query.js';
import { type Output, parseFlags, rootPaths } from './context.js';

const USAGE = 'waveos journal verify [--root DIR] [--pack FILE]... [--json]';

/** The points of the chain a signed evidence pack records: its window's ends and the head mark when it was made. */
function packAnchors(file: string): OutsideAnchor[] {
  const j = readSignedManifest(file).journal;
  const source = `evidence pack ${basename(file)}`;
  const out: OutsideAnchor[] = [];
  if (j.first_seq !== null && j.anchor_prev_hash !== null && j.first_seq > 1) out.push({ seq: j.first_seq - 1, hash: j.anchor_prev_hash, source });
  if (j.last_seq !== null && j.last_hash !== null) out.push({ seq: j.last_seq, hash: j.last_hash, source });
  if (j.head_seq !== undefined && j.head_hash !== undefined) out.push({ seq: j.head_seq, hash: j.head_hash, source });
  return out;
}

export function journalCommand(argv: string[], io: Output): number {
  const { values, positionals } = parseFlags(argv, { pack: { type: 'string', multiple: true } }, USAGE);
  if (positionals[0] !== 'verify' || positionals.length !== 1) throw new WaveosError('WAVEOS_E_USAGE', `usage: ${USAGE}`);
  const paths = rootPaths(values.root);
  if (!existsSync(paths.db)) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no journal at ${paths.db} (wrong --root?)`);
  const packs = values.pack ?? [];
  for (const p of packs) if (!existsSync(p)) throw new WaveosError('WAVEOS_E_USAGE', `--pack ${p}: no such file`);
  const anchors = packs.flatMap(packAnchors);
  const reader = JournalReader.openReadOnly(paths.db);
  try {
    const report = checkAnchors(reader, verifyJournal(reader), anchors);
    const chunks = checkAllChunks(reader);
    if (values.json) io.out(JSON.stringify({ file: paths.db, ...report, metric_chunks: chunks }));
    if (!report.ok) {
      const b = report.broken as { seq: number; problem: string };
      const t = report.missingTail;
      throw new WaveosError(
        'WAVEOS_E_JOURNAL_CHAIN',
        t
          ? `${paths.db}: the journal was truncated: ${b.problem} (${report.events} events verified)`
          : `${paths.db}: the hash chain breaks at seq ${b.seq}: ${b.problem} (${report.events} events before it verified)`,
      );
    }
    const bad = chunks.corrupt[0];
    if (bad)
      throw new WaveosError(
        'WAVEOS_E_JOURNAL_CHAIN',
        `${paths.db}: ${chunks.corrupt.length} metric chunk(s) failed their check, the first ${bad.chunk_id === null ? `the open chunk of series ${bad.series_id}` : `chunk ${bad.chunk_id}`} (${bad.name}, ${bad.count} samples from ${new Date(bad.start_ms).toISOString()}): ${bad.message}`,
      );
    const mark = report.headMark ? 'matches the head mark' : 'no head mark (a journal from before it)';
    const held = packs.length ? `, holds what ${packs.length} evidence pack${packs.length === 1 ? '' : 's'} recorded` : '';
    if (!values.json)
      io.out(`${paths.db}: ${report.events} events, seq ${report.firstSeq ?? 0}..${report.lastSeq ?? 0}, hash chain intact, ${mark}${held} (head ${report.head.slice(0, 16)}); ${chunks.chunked ? `${chunks.chunks} metric chunks (${chunks.samples} samples) check` : 'metric history not converted to chunks yet'}`);
    return 0;
  } finally {
    reader.close();
  }
}
