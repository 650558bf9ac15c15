import { closeSync, openSync, readSync } from 'node:fs';

/**
 * Reads /proc and /sys files through descriptors kept open: a read at offset 0 makes the kernel generate
 * the file afresh, so each sample costs one pread instead of open + read + close. One buffer serves all.
 */
export class ProcFiles {
  private readonly fds = new Map<string, number>();
  private buf = Buffer.allocUnsafe(16 * 1024);

  /** Reads the whole file; throws like readFileSync when it cannot be opened. */
  read(path: string): string {
    let fd = this.fds.get(path);
    if (fd === undefined) {
      fd = openSync(path, 'r');
      this.fds.set(path, fd);
    }
    try {
      for (;;) {
        const n = readSync(fd, this.buf, 0, this.buf.length, 0);
        if (n < this.buf.length) return this.buf.toString('latin1', 0, n);
        // The file did not fit (many interfaces or disks): grow and read again from the start.
        this.buf = Buffer.allocUnsafe(this.buf.length * 2);
      }
    } catch (e) {
      // The file went away (an interface removed) or the descriptor went bad: reopen next time.
      this.forget(path);
      throw e;
    }
  }

  /** Closes one file, e.g. of an interface that disappeared. */
  forget(path: string): void {
    const fd = this.fds.get(path);
    if (fd === undefined) return;
    this.fds.delete(path);
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  }

  /** Closes every file whose path starts with `prefix`. */
  forgetUnder(prefix: string): void {
    for (const p of [...this.fds.keys()]) if (p.startsWith(prefix)) this.forget(p);
  }

  get open(): number {
    return this.fds.size;
  }

  close(): void {
    for (const p of [...this.fds.keys()]) this.forget(p);
  }
}
