import { readFileSync } from 'node:fs';
import { WaveosError } from './errors.js';
import { writeFileAtomic } from './atomic-file.js';

/** Field 22 of /proc/<pid>/stat: the start time in clock ticks since boot; PIDs are reused, this pair is not. */
export function processStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name may hold spaces and parentheses: fields are counted after the last ')'.
    const rest = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return rest[19];
  } catch {
    return undefined;
  }
}

interface PidRecord {
  pid: number;
  start_time: string | undefined;
}

/**
 * Claims the root for this process: a second daemon on the same root would interleave two journals'
 * worth of intents. A pid file whose process is gone (or whose pid now belongs to another process) is stale.
 */
export function claimPidFile(path: string): void {
  try {
    const rec = JSON.parse(readFileSync(path, 'utf8')) as PidRecord;
    if (rec.pid !== process.pid && rec.start_time !== undefined && processStartTime(rec.pid) === rec.start_time) {
      throw new WaveosError('WAVEOS_E_ALREADY_RUNNING', `another WaveOS daemon (pid ${rec.pid}) already runs on this root (${path})`);
    }
  } catch (e) {
    if (e instanceof WaveosError) throw e;
    // missing or unreadable: stale, overwrite
  }
  const rec: PidRecord = { pid: process.pid, start_time: processStartTime(process.pid) };
  writeFileAtomic(path, `${JSON.stringify(rec)}\n`);
}
