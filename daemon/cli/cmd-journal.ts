import { existsSync } from 'node:fs';
import { WaveosError } from '../core/index.js';
import { JournalReader, verifyJournal } from '../journal/index.js';
import { type Output, parseFlags, rootPaths } from './context.js';

const USAGE = 'waveos journal verify [--root DIR] [--json]';

export function journalCommand(argv: string[], io: Output): number {
  const { values, positionals } = parseFlags(argv, {}, USAGE);
  if (positionals[0] !== 'verify' || positionals.length !== 1) throw new WaveosError('WAVEOS_E_USAGE', `usage: ${USAGE}`);
  const paths = rootPaths(values.root);
  if (!existsSync(paths.db)) throw new WaveosError('WAVEOS_E_NOT_FOUND', `no journal at ${paths.db} (wrong --root?)`);
  const reader = JournalReader.openReadOnly(paths.db);
  try {
    const report = verifyJournal(reader);
    if (values.json) io.out(JSON.stringify({ file: paths.db, ...report }));
    if (!report.ok) {
      const b = report.broken as { seq: number; problem: string };
      const t = report.missingTail;
      throw new WaveosError(
        'WAVEOS_E_JOURNAL_CHAIN',
        t
          ? `${paths.db}: the journal was truncated: seq ${t.from}..${t.to} missing at the tail (the head mark says seq ${t.to}; ${report.events} events verified)`
          : `${paths.db}: the hash chain breaks at seq ${b.seq}: ${b.problem} (${report.events} events before it verified)`,
      );
    }
    const mark = report.headMark ? 'matches the head mark' : 'no head mark (a journal from before it)';
    if (!values.json)
      io.out(`${paths.db}: ${report.events} events, seq ${report.firstSeq ?? 0}..${report.lastSeq ?? 0}, hash chain intact, ${mark} (head ${report.head.slice(0, 16)})`);
    return 0;
  } finally {
    reader.close();
  }
}
