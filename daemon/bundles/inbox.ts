import { statSync } from 'node:fs';
import { basename } from 'node:path';
import { type FSWatcher, watch } from 'chokidar';
import { type Lifecycle, type Logger, errorMessage, fileTypeOf } from '../core/index.js';
import { isBundleRejection } from './rejection.js';

export interface InboxDeps {
  dir: string;
  /** Refused bundles are moved here; it is not watched. */
  rejectedDir: string;
  log: Logger;
  /** How long a file's size must stay unchanged before it counts as complete. */
  stableMs: number;
  install(file: string): Promise<unknown>;
}

/** What a non-regular inbox entry is (undefined for a regular file, or a link to one). */
function inboxEntryType(file: string): string | undefined {
  try {
    const st = statSync(file);
    return st.isFile() ? undefined : fileTypeOf(st);
  } catch {
    return 'gone';
  }
}

/**
 * Watches `var/lib/waveos/inbox/`. A file is taken once it has stopped growing (chokidar's
 * awaitWriteFinish); names ending in `.part` or starting with `.` are still being written and are left
 * alone — writing `x.part` and renaming it to `x` is the way to hand over a file atomically.
 */
export class InboxWatcher implements Lifecycle {
  readonly name = 'bundle-inbox';
  private watcher: FSWatcher | undefined;

  constructor(private readonly deps: InboxDeps) {}

  async start(): Promise<void> {
    const rejected = this.deps.rejectedDir;
    this.watcher = watch(this.deps.dir, {
      depth: 0,
      ignoreInitial: false,
      awaitWriteFinish: { stabilityThreshold: this.deps.stableMs, pollInterval: Math.max(20, Math.floor(this.deps.stableMs / 5)) },
      ignored: (p: string) => p !== this.deps.dir && (p === rejected || p.startsWith(`${rejected}/`) || basename(p).startsWith('.') || p.endsWith('.part')),
    });
    this.watcher.on('add', (file: string) => {
      // A FIFO or device dropped here would hold a reader (and a thread-pool thread) forever: never opened.
      const kind = inboxEntryType(file);
      if (kind !== undefined) {
        this.deps.log.warn({ file, type: kind }, `inbox: ${basename(file)} is ${kind}, not a regular file; skipped`);
        return;
      }
      this.deps.log.info({ file }, `inbox: ${basename(file)} is complete; installing it`);
      this.deps.install(file).catch((e: unknown) => {
        if (!isBundleRejection(e)) this.deps.log.error({ file, err: errorMessage(e) }, 'inbox install failed');
      });
    });
    this.watcher.on('error', (e: unknown) => this.deps.log.error({ err: errorMessage(e) }, 'inbox watcher error'));
    await new Promise<void>((r) => this.watcher?.once('ready', () => r()));
  }

  async stop(): Promise<void> {
    await this.watcher?.close();
  }
}
