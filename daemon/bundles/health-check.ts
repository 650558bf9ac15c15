import { spawn } from 'node:child_process';

/** How much of a health check's output is kept: its last bytes, where a failing check says why. */
export const HEALTH_OUTPUT_MAX = 4_096;
/** How much of that the rollback reason quotes (the event's data holds the rest). */
export const HEALTH_REASON_MAX = 300;
/** How long the pipes may stay open after the check exited. */
const PIPE_GRACE_MS = 500;

export interface HealthCheckResult {
  code: number | null;
  signal: string | null;
  /** Set when the check could not be started at all. */
  error?: string;
  /** stdout and stderr together as they came, the last HEALTH_OUTPUT_MAX bytes, trimmed. */
  output: string;
  /** True when earlier output was dropped to stay within the bound. */
  truncated: boolean;
}

/** Keeps the tail of a stream of chunks within a byte bound. */
class TailBuffer {
  private chunks: Buffer[] = [];
  private size = 0;
  dropped = false;

  constructor(private readonly max: number) {}

  push(b: Buffer): void {
    this.chunks.push(b);
    this.size += b.length;
    while (this.size > this.max && this.chunks.length > 0) {
      const first = this.chunks[0] as Buffer;
      const over = this.size - this.max;
      this.dropped = true;
      if (first.length <= over) {
        this.chunks.shift();
        this.size -= first.length;
      } else {
        this.chunks[0] = first.subarray(over);
        this.size -= over;
      }
    }
  }

  text(): string {
    // A cut inside a multi-byte character decodes to U+FFFD at the start; that is all it costs.
    return Buffer.concat(this.chunks).toString('utf8').trim();
  }
}

/**
 * Runs an app's health check to its end, keeping the tail of what it printed: a check that fails says why
 * there, and the rollback reason quotes it. Its process group is killed with SIGKILL after `timeoutMs`, and
 * when it ends (nothing it started lingers); never rejects.
 */
export function runHealthCheck(argv: readonly string[], opts: { cwd: string; env: NodeJS.ProcessEnv; timeoutMs: number }): Promise<HealthCheckResult> {
  const [cmd, ...args] = argv;
  if (cmd === undefined) return Promise.resolve({ code: null, signal: null, error: 'no command given', output: '', truncated: false });
  return new Promise((resolve) => {
    const tail = new TailBuffer(HEALTH_OUTPUT_MAX);
    // Its own process group, so that what it started is killed with it and never outlives the check.
    const c = spawn(cmd, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    const killGroup = (): void => {
      try {
        if (c.pid !== undefined) process.kill(-c.pid, 'SIGKILL');
      } catch {
        // the group is gone already
      }
    };
    c.stdout.on('data', (b: Buffer) => tail.push(b));
    c.stderr.on('data', (b: Buffer) => tail.push(b));
    const timer = setTimeout(killGroup, opts.timeoutMs);
    let settled = false;
    let error: string | undefined;
    const finish = (code: number | null, signal: string | null): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      killGroup();
      resolve({ code, signal, ...(error === undefined ? {} : { error }), output: tail.text(), truncated: tail.dropped });
    };
    c.on('error', (e) => {
      error = e.message;
      finish(null, null);
    });
    // 'close' waits for the pipes to end; a child the check left behind may hold them open, so the exit
    // settles it a moment later whatever the pipes do (and the leftover is killed with the group).
    c.on('exit', (code, signal) => setTimeout(() => finish(code, signal), PIPE_GRACE_MS).unref());
    c.on('close', (code, signal) => finish(code, signal));
  });
}

/** The output as the rollback reason quotes it: on one line, its last HEALTH_REASON_MAX characters. */
export function quoteOutput(output: string): string {
  const line = output.replace(/\s*\n\s*/g, ' | ');
  return line.length > HEALTH_REASON_MAX ? `…${line.slice(-HEALTH_REASON_MAX)}` : line;
}
