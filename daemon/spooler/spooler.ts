import { mkdirSync, readdirSync, statSync, statfsSync, unlinkSync } from 'node:fs';
import type { Server, Socket } from 'node:net';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { type Chaos, type Clock, type Lifecycle, type LogSink, type Logger, errorMessage, isDiskFull, isoUtc } from '../core/index.js';
import type { EventKind } from '../journal/index.js';
import { LineSplitter } from './line-splitter.js';
import { CURRENT, compressSegment, listSegments, recoverSourceDir, sourceBytes } from './segments.js';
import type { RateLimit, SourceSettings, SpoolerSettings } from './settings.js';
import { type SourceCounters, type SourceHost, SourceLog } from './source-log.js';
import { type SocketOwner, closeServer, listenUnix, setSocketOwner } from './unix-server.js';

/** An event as the journal takes it; the spooler needs nothing else from the journal. */
export interface SpoolEvent {
  kind: EventKind;
  severity?: 'info' | 'notice' | 'warning' | 'error' | 'critical';
  source: string;
  reason: string;
  data?: Record<string, unknown>;
}

/** What the spooler needs of the one redactor (security/redaction.ts). */
export interface LineRedactor {
  text(s: string): string;
  /** A redactor for one stream of chunks cut at line ends (a PEM block may span chunks). */
  stream(): (chunk: string) => string;
}

export interface SpoolerDeps {
  clock: Clock;
  log: Logger;
  /** `var/log/waveos/spool` under the root. */
  spoolDir: string;
  /** The ingestion socket (`run/waveos/log.sock`); none when undefined or `settings.socket` is off. */
  socketPath?: string;
  /** Where each supervised service's own socket is made (`run/waveos/log`); none when undefined. */
  serviceSocketDir?: string;
  /**
   * Names log.sock refuses to take lines for, besides `waveos` and every service with its own socket: the
   * configured services, so that a service that has not started yet cannot be spoken for either.
   */
  reservedSources?: readonly string[];
  settings: SpoolerSettings;
  /** Every line is redacted before it is stored: secrets never reach the spool. */
  redactor: LineRedactor;
  events?: { append(e: SpoolEvent): unknown };
  /** Free bytes on the spool's filesystem; fs.statfs unless a test supplies its own. */
  freeBytes?: (dir: string) => number;
  /** Rate limits from elsewhere (the policy engine) override the config's, source by source. */
  rateLimitFor?: (source: string) => RateLimit | undefined;
  /** Failure injection at each spool write (test rigs only). */
  chaos?: Chaos;
}

export interface SourceStats extends SourceCounters {
  pending_bytes: number;
  paused: boolean;
  current_bytes: number;
}

export interface SpoolerStats {
  sources: Record<string, SourceStats>;
  usage_bytes: number;
  quota_bytes: number;
  free_bytes: number | null;
  disk_full: boolean;
  compressions_pending: number;
  socket_connections: number;
  socket_refused: number;
  /** Lines refused on log.sock because they claimed `waveos` or a supervised service's name. */
  socket_claims_refused: number;
}

const SOURCE_RE = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;
/** The hello line is short; a connection that sends more without a newline is not speaking the protocol. */
const HELLO_MAX = 4096;
/** Sources the socket may create in one run. */
const MAX_SOURCES = 256;
/** A service's socket: its owner (the service's user) and group, and the daemon as root, may write it. */
const SERVICE_SOCKET_MODE = 0o660;
/** Traversable by all, listable by the daemon's group: each socket's own mode decides who connects. */
const SERVICE_SOCKET_DIR_MODE = 0o751;
/** The daemon's own source. */
const SELF_SOURCE = 'waveos';

/** Refused claims of one name on log.sock since the last report. */
interface ClaimWindow {
  lines: number;
  connections: number;
  sinceMono: number;
  lastReportMono: number;
}

/** What a connection's lines go into once its source is known. */
interface Ingest {
  push(chunk: Buffer): void;
  end(): void;
}

/** Source names become folder names: anything else is replaced, so no name escapes the spool. */
export function safeSourceName(name: string): string {
  if (SOURCE_RE.test(name)) return name;
  const s = name.replace(/[^A-Za-z0-9_.-]/g, '_').replace(/^[^A-Za-z0-9]+/, '').slice(0, 64);
  return s.length > 0 ? s : 'unnamed';
}

function fmt(n: number): string {
  return n.toLocaleString('en-US');
}

function mib(n: number): string {
  return `${(n / (1024 * 1024)).toFixed(1)} MiB`;
}

interface Producer {
  pause(): void;
  resume(): void;
}

/** About what ` [truncated N bytes]` adds to a cut line. */
const TRUNCATION_MARK_BYTES = 32;

/**
 * The logging spooler: every source's lines, rate-limited, redacted, truncated and enveloped, into its own
 * append-only files under the spool, rotated, compressed and kept within a quota and the disk's headroom.
 * It never throws into a producer and never blocks one on a full disk.
 */
export class Spooler implements Lifecycle, LogSink {
  readonly name = 'spooler';
  private readonly settings: SpoolerSettings;
  private readonly sources = new Map<string, SourceLog>();
  private usage = 0;
  private full = false;
  private fullReason = '';
  /** Free bytes when a write last failed for lack of space. */
  private freeAtFailure: number | null = null;
  private compressingPath: string | undefined;
  private compressedAway = false;
  private retained: Record<string, { files: number; bytes: number }> = {};
  private lastRetentionReport = Number.NEGATIVE_INFINITY;
  private lastFree: number | null = null;
  private readonly compressQueue: string[] = [];
  private compressing = false;
  /** The compression in flight: a stop waits for it, so a clean stop leaves no half-written .gz.tmp. */
  private compression: Promise<void> = Promise.resolve();
  private timers: NodeJS.Timeout[] = [];
  private server: Server | undefined;
  private readonly conns = new Set<Socket>();
  private refused = 0;
  /** Each supervised service's own socket, by source name; a promise while it is being opened. */
  private readonly serviceServers = new Map<string, Promise<{ server: Server; path: string }>>();
  private readonly claims = new Map<string, ClaimWindow>();
  private claimsRefused = 0;
  private lastFsyncMono: number;
  private lastDiskCheckMono = Number.NEGATIVE_INFINITY;
  private stopped = false;
  private readonly host: SourceHost;

  constructor(private readonly deps: SpoolerDeps) {
    this.settings = deps.settings;
    this.lastFsyncMono = deps.clock.monoMs();
    this.host = {
      fsync: this.settings.fsync,
      rotateBytes: this.settings.rotate_bytes,
      bufferBytes: this.settings.buffer_bytes,
      batchBytes: this.settings.batch_bytes,
      reserve: (bytes) => this.reserve(bytes),
      account: (d) => {
        this.usage += d;
      },
      writeFailed: (source, err) => this.onWriteFailed(source, err),
      rotated: (source, plain) => this.onRotated(source, plain),
      monoMs: () => deps.clock.monoMs(),
      chaos: deps.chaos,
    };
  }

  /** Repairs what a crash left (torn lines, half compressions), measures the spool, then serves. */
  async start(): Promise<void> {
    if (!this.settings.enabled) return;
    const dir = this.deps.spoolDir;
    mkdirSync(dir, { recursive: true, mode: 0o750 });
    let trimmed = 0;
    let undone = 0;
    let completed = 0;
    for (const name of readdirSync(dir)) {
      const sub = join(dir, name);
      if (!statSync(sub).isDirectory()) continue;
      const r = recoverSourceDir(sub);
      trimmed += r.trimmedBytes;
      undone += r.removedTemp;
      completed += r.finishedCompressions;
      this.compressQueue.push(...r.toCompress);
      for (const s of listSegments(sub)) this.usage += s.size;
      try {
        this.usage += statSync(join(sub, CURRENT)).size;
      } catch {
        // no current file
      }
    }
    if (trimmed + undone + completed > 0) {
      this.event({
        kind: 'spool.recovered',
        severity: 'notice',
        source: 'spooler',
        reason: `the spool was repaired after an unclean stop: ${fmt(trimmed)} bytes of torn lines trimmed, ${undone} interrupted compressions undone, ${completed} completed`,
        data: { trimmed_bytes: trimmed, compressions_undone: undone, compressions_completed: completed },
      });
    }
    this.checkDisk();
    this.pumpCompression();
    if (this.settings.socket && this.deps.socketPath) await this.listen(this.deps.socketPath);
    this.timers.push(setInterval(() => this.flushAll(), this.settings.flush_interval_ms).unref());
    this.timers.push(setInterval(() => this.tick(), Math.min(1_000, this.settings.disk_check_interval_ms)).unref());
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    this.stopped = true;
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
    const server = this.server;
    this.server = undefined;
    for (const c of this.conns) c.destroy();
    if (server) await new Promise<void>((r) => server.close(() => r()));
    if (this.deps.socketPath && server) {
      try {
        unlinkSync(this.deps.socketPath);
      } catch {
        // already gone
      }
    }
    await Promise.all([...this.serviceServers.keys()].map((name) => this.closeServiceSocket(name)));
    this.reportSuppressed(true);
    this.reportClaims(true);
    await this.drain();
    await this.compression;
    for (const s of this.sources.values()) s.close();
  }

  // --- producers -------------------------------------------------------------------------------------

  /** LogSink: the supervisor hands over a child's stdout or stderr; flow control is ours from here. */
  attach(source: string, stream: Readable, streamName: 'stdout' | 'stderr'): void {
    if (!this.settings.enabled) {
      // spooling is off: keep the pipe flowing so that the child never blocks on it
      stream.resume();
      return;
    }
    const log = this.source(source);
    const ingest = this.ingester(log, streamName, stream);
    stream.on('data', (chunk: Buffer | string) => ingest.push(typeof chunk === 'string' ? Buffer.from(chunk) : chunk));
    stream.on('end', () => {
      ingest.end();
      log.forget(stream);
    });
    stream.on('error', () => log.forget(stream));
    stream.on('close', () => log.forget(stream));
  }

  /** Writes one line from inside WaveOS (summaries, the daemon's own notes) to a source, unlimited. */
  note(source: string, text: string): void {
    const log = this.source(source);
    if (this.full) {
      log.counters.dropped_disk++;
      log.droppedWhileFull++;
      return;
    }
    const line = this.deps.redactor.text(text);
    log.enqueue(Buffer.from(`${isoUtc(this.deps.clock.now())} spool ${line.replace(/\n/g, ' ')}\n`), 1);
  }

  private source(name: string): SourceLog {
    const safe = safeSourceName(name);
    let s = this.sources.get(safe);
    if (!s) {
      s = new SourceLog(safe, this.deps.spoolDir, this.sourceSettings(safe), this.host, this.deps.clock.monoMs());
      this.sources.set(safe, s);
    }
    return s;
  }

  private sourceSettings(name: string): SourceSettings {
    const over = this.settings.sources[name] ?? {};
    const rate = this.deps.rateLimitFor?.(name) ?? (over.rate !== undefined ? over.rate : this.settings.defaults.rate);
    return { ...this.settings.defaults, ...over, rate };
  }

  /** New limits for one source (the policy engine's), in force from the next line; undefined restores the config's. */
  setRateLimit(source: string, rate: RateLimit | undefined): void {
    const log = this.source(source);
    const base = this.sourceSettings(log.name);
    log.settings = { ...base, rate: rate ?? base.rate };
    log.applyRate(this.deps.clock.monoMs());
  }

  /**
   * Splits a producer's bytes into lines and spools them: rate limit, backpressure rule, truncation marker,
   * envelope, then redaction over the chunk's text, with no string or object made per line.
   */
  private ingester(log: SourceLog, streamName: string, producer: Producer | undefined): { push(chunk: Buffer): void; end(): void; splitter: LineSplitter } {
    const splitter = new LineSplitter(log.settings.max_line_bytes);
    const redact = this.deps.redactor.stream();
    // accepted lines of the current chunk as [start, end, truncated] triples into `src`
    let ranges: number[] = [];
    let src: Buffer = Buffer.alloc(0);
    let pieces: Buffer[] = [];
    let now = 0;
    const c = log.counters;
    const drop = log.settings.backpressure === 'drop';
    let queuedBytes = 0;
    const collect = (buf: Buffer, start: number, end: number, truncated: number): void => {
      if (this.full) {
        c.dropped_disk++;
        log.droppedWhileFull++;
        return;
      }
      // The rate is charged for what is stored (the kept part and its mark), not for the bytes a cut discards:
      // counting those made one long line cost more than the bucket can ever hold, so it was dropped whole.
      const bytes = end - start + 1 + (truncated > 0 ? TRUNCATION_MARK_BYTES : 0);
      if ((log.lineBucket !== undefined && log.lineBucket.waitMs(now, 1) > 0) || (log.byteBucket !== undefined && log.byteBucket.waitMs(now, bytes) > 0)) {
        if (log.window.lines === 0) log.window.sinceMono = now;
        log.window.lines++;
        log.window.bytes += bytes;
        c.suppressed_lines++;
        c.suppressed_bytes += bytes;
        return;
      }
      log.lineBucket?.take(now, 1);
      log.byteBucket?.take(now, bytes);
      if (drop && log.pendingBytes + queuedBytes >= this.settings.buffer_bytes) {
        c.dropped_backpressure++;
        return;
      }
      if (buf !== src) {
        // a line carried over from the previous chunk lives in its own buffer
        flushRanges();
        src = buf;
      }
      ranges.push(start, end, truncated);
      queuedBytes += end - start;
    };
    const flushRanges = (): void => {
      if (ranges.length === 0) return;
      pieces.push(this.envelope(src, ranges, streamName, log));
      ranges = [];
    };
    const finish = (): void => {
      flushRanges();
      queuedBytes = 0;
      if (pieces.length === 0) return;
      const n = pieces.reduce((a, p) => a + ((p as Buffer & { lines?: number }).lines ?? 0), 0);
      let out = pieces.length === 1 ? (pieces[0] as Buffer) : Buffer.concat(pieces);
      pieces = [];
      const text = out.toString('utf8');
      const masked = redact(text);
      if (masked !== text) {
        c.redacted_chunks++;
        out = Buffer.from(masked, 'utf8');
      }
      log.enqueue(out, n);
      if (!drop && producer && log.full) log.hold(producer);
    };
    return {
      splitter,
      push: (chunk) => {
        // after stop, a producer still attached (the daemon's own log) has nowhere to go
        if (this.stopped) return;
        now = this.deps.clock.monoMs();
        src = chunk;
        splitter.push(chunk, collect);
        finish();
      },
      end: () => {
        if (this.stopped) return;
        now = this.deps.clock.monoMs();
        splitter.end(collect);
        finish();
      },
    };
  }

  /** `<ISO time> <stream> <line>[ [truncated N bytes]]\n` for each range, in one buffer. */
  private envelope(src: Buffer, ranges: number[], streamName: string, log: SourceLog): Buffer {
    const prefix = Buffer.from(`${isoUtc(this.deps.clock.now())} ${streamName} `);
    let size = 0;
    const marks: (Buffer | undefined)[] = [];
    for (let i = 0; i < ranges.length; i += 3) {
      const t = ranges[i + 2] as number;
      const mark = t > 0 ? Buffer.from(` [truncated ${fmt(t)} bytes]`) : undefined;
      if (mark) log.counters.truncated_lines++;
      marks.push(mark);
      size += prefix.length + ((ranges[i + 1] as number) - (ranges[i] as number)) + (mark?.length ?? 0) + 1;
    }
    const out = Buffer.allocUnsafe(size) as Buffer & { lines?: number };
    let o = 0;
    for (let i = 0, k = 0; i < ranges.length; i += 3, k++) {
      o += prefix.copy(out, o);
      o += src.copy(out, o, ranges[i] as number, ranges[i + 1] as number);
      const mark = marks[k];
      if (mark) o += mark.copy(out, o);
      out[o++] = 0x0a;
    }
    out.lines = ranges.length / 3;
    return out;
  }

  // --- the ingestion socket ---------------------------------------------------------------------------

  private async listen(path: string): Promise<void> {
    const server = await listenUnix(path, this.settings.socket_mode, undefined, (sock) => this.onConnection(sock, undefined));
    server.on('error', (e) => this.deps.log.warn({ err: errorMessage(e) }, 'log socket error'));
    this.server = server;
  }

  /**
   * Opens (once) the socket of one supervised service, `<serviceSocketDir>/<service>.sock`, and returns its
   * path: every line on it is stored under that service's source, whatever it claims. When the daemon runs
   * as root the socket is chowned to `owner` (the service's user and group), so only the service and the
   * daemon can write it. Undefined when the spooler takes no socket input.
   */
  async openServiceSocket(service: string, owner?: SocketOwner): Promise<string | undefined> {
    const dir = this.deps.serviceSocketDir;
    if (!this.settings.enabled || !this.settings.socket || dir === undefined || this.stopped) return undefined;
    const source = safeSourceName(service);
    const open = this.serviceServers.get(source);
    if (open) {
      // the same name again (a replaced app service): its current user gets the socket
      const { path } = await open;
      setSocketOwner(path, owner);
      return path;
    }
    const path = join(dir, `${source}.sock`);
    mkdirSync(dir, { recursive: true, mode: SERVICE_SOCKET_DIR_MODE });
    const opening = listenUnix(path, SERVICE_SOCKET_MODE, owner, (sock) => this.onConnection(sock, source)).then((server) => {
      server.on('error', (e) => this.deps.log.warn({ err: errorMessage(e), service: source }, 'service log socket error'));
      return { server, path };
    });
    this.serviceServers.set(source, opening);
    try {
      await opening;
    } catch (e) {
      this.serviceServers.delete(source);
      throw e;
    }
    return path;
  }

  /** Closes and removes a service's socket (the service is gone); connections still open may finish. */
  async closeServiceSocket(service: string): Promise<void> {
    const source = safeSourceName(service);
    const open = this.serviceServers.get(source);
    if (!open) return;
    this.serviceServers.delete(source);
    try {
      const { server, path } = await open;
      await closeServer(server, path);
    } catch (e) {
      this.deps.log.warn({ err: errorMessage(e), service: source }, 'closing a service log socket failed');
    }
  }

  /** Names no writer on log.sock may take: the daemon's own and every supervised service's. */
  private claimRefused(name: string): boolean {
    return name === SELF_SOURCE || this.serviceServers.has(name) || (this.deps.reservedSources ?? []).includes(name);
  }

  /**
   * On log.sock the first line names the source: `source=NAME`, or a JSON object with a `source` field
   * (which is also stored as the first line). Every later line is stored as it came, JSON or text. On a
   * service's own socket (`bound`) the source is the service: a first `source=NAME` line is taken as the
   * hello and its name ignored, and every other line is stored as it came.
   */
  private onConnection(sock: Socket, bound: string | undefined): void {
    this.conns.add(sock);
    let head: Buffer = Buffer.alloc(0);
    let ingest: Ingest | undefined;
    let log: SourceLog | undefined;
    sock.on('data', (chunk: Buffer) => {
      if (ingest) {
        ingest.push(chunk);
        return;
      }
      head = head.length ? Buffer.concat([head, chunk]) : chunk;
      const nl = head.indexOf(0x0a);
      if (nl < 0 && head.length <= HELLO_MAX) return;
      const opened = bound !== undefined ? this.boundStream(sock, bound, head, nl) : this.claimedStream(sock, head, nl);
      if (!opened) return;
      ({ ingest, log } = opened);
      head = Buffer.alloc(0);
      if (opened.rest.length) ingest.push(opened.rest);
    });
    sock.on('end', () => {
      // a service's one short line without a newline is still a line
      if (!ingest && bound !== undefined && head.length > 0) {
        ({ ingest, log } = this.boundStream(sock, bound, head, head.indexOf(0x0a)));
        ingest.push(head);
      }
      ingest?.end();
      sock.end();
    });
    sock.on('error', () => undefined);
    sock.on('close', () => {
      this.conns.delete(sock);
      log?.forget(sock);
    });
  }

  private boundStream(sock: Socket, source: string, head: Buffer, nl: number): { ingest: Ingest; log: SourceLog; rest: Buffer } {
    const log = this.source(source);
    const hello = nl >= 0 ? helloSource(head.toString('utf8', 0, nl)) : undefined;
    return { ingest: this.ingester(log, 'socket', sock), log, rest: hello && !hello.store ? head.subarray(nl + 1) : head };
  }

  /** log.sock: the hello names the source; an unnamed connection is closed, a reserved name's lines are dropped. */
  private claimedStream(sock: Socket, head: Buffer, nl: number): { ingest: Ingest; log: SourceLog | undefined; rest: Buffer } | undefined {
    const named = nl >= 0 ? helloSource(head.toString('utf8', 0, nl)) : undefined;
    // each new name is a folder and a buffer: an app cannot make them without bound
    if (!named || (!this.sources.has(named.source) && this.sources.size >= MAX_SOURCES)) {
      this.refused++;
      sock.end('error: the first line must be source=NAME or a JSON object with a "source" field\n');
      sock.destroy();
      return undefined;
    }
    const rest = named.store ? head : head.subarray(nl + 1);
    if (this.claimRefused(named.source)) return { ingest: this.refusedClaim(sock, named.source), log: undefined, rest };
    const log = this.source(named.source);
    return { ingest: this.ingester(log, 'socket', sock), log, rest };
  }

  /**
   * A writer on log.sock that claims `waveos` or a service's name: it is told once, and its lines are read,
   * counted and dropped (so a writer that does not read its replies is not blocked or cut off mid-write).
   */
  private refusedClaim(sock: Socket, name: string): Ingest {
    const w = this.claimWindow(name);
    w.connections++;
    sock.write(`error: source "${name}" is ${name === SELF_SOURCE ? "WaveOS's own" : 'a supervised service\'s'}; lines claiming it are dropped (a service writes to its own socket, $WAVEOS_LOG_SOCKET)\n`);
    let partial = false;
    const count = (n: number): void => {
      w.lines += n;
      this.claimsRefused += n;
    };
    return {
      push: (chunk) => {
        let n = 0;
        for (let i = chunk.indexOf(0x0a); i >= 0; i = chunk.indexOf(0x0a, i + 1)) n++;
        if (chunk.length > 0) partial = chunk[chunk.length - 1] !== 0x0a;
        count(n);
      },
      end: () => count(partial ? 1 : 0),
    };
  }

  private claimWindow(name: string): ClaimWindow {
    let w = this.claims.get(name);
    if (!w) {
      w = { lines: 0, connections: 0, sinceMono: this.deps.clock.monoMs(), lastReportMono: Number.NEGATIVE_INFINITY };
      this.claims.set(name, w);
    } else if (w.lines === 0 && w.connections === 0) {
      w.sinceMono = this.deps.clock.monoMs();
    }
    return w;
  }

  /** One `spool.source_refused` event per claimed name per report interval, with what was dropped since the last. */
  private reportClaims(all: boolean): void {
    const now = this.deps.clock.monoMs();
    for (const [name, w] of this.claims) {
      if (w.lines === 0 && w.connections === 0) continue;
      if (!all && now - w.lastReportMono < this.settings.report_interval_ms) continue;
      const secs = Math.max(1, Math.round((now - w.sinceMono) / 1000));
      const socket = name === SELF_SOURCE || this.deps.serviceSocketDir === undefined ? null : join(this.deps.serviceSocketDir, `${name}.sock`);
      const owner = name === SELF_SOURCE ? "it is WaveOS's own source" : `it belongs to the supervised service ${name}, whose lines come only from its own socket ${socket ?? '(none)'} ($WAVEOS_LOG_SOCKET)`;
      this.event({
        kind: 'spool.source_refused',
        severity: 'warning',
        source: 'spooler',
        reason: `refused ${fmt(w.lines)} line${w.lines === 1 ? '' : 's'} on the shared log socket claiming source "${name}" (${w.connections} connection${w.connections === 1 ? '' : 's'} in ${secs} s): ${owner}`,
        data: { source: name, lines: w.lines, connections: w.connections, window_s: secs, service_socket: socket },
      });
      w.lines = 0;
      w.connections = 0;
      w.lastReportMono = now;
      w.sinceMono = now;
    }
  }

  // --- writing, rotation, compression, quota ----------------------------------------------------------

  /** Writes every source's pending batch now. */
  flushAll(): void {
    for (const s of this.sources.values()) s.flush();
  }

  /** Resolves once every pending line is written (or dropped by the disk rule). */
  async drain(): Promise<void> {
    await Promise.all([...this.sources.values()].map((s) => s.drain()));
  }

  private reserve(bytes: number): boolean {
    if (this.full) return false;
    if (this.usage + bytes > this.settings.quota_bytes) {
      this.evictUntil(() => this.usage + bytes <= this.settings.quota_bytes);
      if (this.usage + bytes > this.settings.quota_bytes) {
        this.enterFull(`the spool quota of ${mib(this.settings.quota_bytes)} is reached (${mib(this.usage)} used) and no rotated file is left to delete`);
        return false;
      }
    }
    this.usage += bytes;
    return true;
  }

  private onWriteFailed(source: string, err: NodeJS.ErrnoException): void {
    if (isDiskFull(err)) {
      this.freeAtFailure = this.freeBytes() ?? 0;
      this.lastFree = this.freeAtFailure;
      this.evictUntil(() => false, 1);
      this.enterFull(`writing ${source}'s spool failed: the filesystem is full (${err.code})`);
    } else {
      this.enterFull(`writing ${source}'s spool failed: ${err.code ?? err.message}`);
    }
  }

  private onRotated(source: string, plain: string): void {
    this.compressQueue.push(plain);
    this.retain(source);
    this.pumpCompression();
  }

  private pumpCompression(): void {
    if (this.compressing || this.stopped) return;
    const next = this.compressQueue.shift();
    if (!next) return;
    this.compressing = true;
    this.compressingPath = next;
    this.compressedAway = false;
    this.compression = compressSegment(next, this.settings.fsync !== 'none')
      .then(({ before, after }) => {
        if (!this.compressedAway) this.usage += after - before;
      })
      .catch((e: NodeJS.ErrnoException) => {
        // the plain segment stays readable; a full disk gets it compressed on a later rotation or start
        if (e.code !== 'ENOENT') this.deps.log.warn({ file: next, err: errorMessage(e) }, 'compressing a rotated spool file failed; it stays uncompressed');
      })
      .finally(() => {
        if (this.compressedAway) {
          // evicted while it was being compressed: the compressed copy goes too
          try {
            unlinkSync(`${next}.gz`);
          } catch {
            // it never got that far
          }
        }
        this.compressing = false;
        this.compressingPath = undefined;
        this.pumpCompression();
      });
  }

  /** Per-source retention: at most keep_files rotated files, none older than max_age. */
  private retain(source: string): void {
    const segs = listSegments(join(this.deps.spoolDir, source));
    const nowWall = this.deps.clock.now();
    const excess = segs.length - this.settings.keep_files;
    let removed = 0;
    let bytes = 0;
    segs.forEach((s, i) => {
      if (i < excess || nowWall - s.mtimeMs > this.settings.max_age_ms) {
        if (this.remove(s.path, s.size)) {
          removed++;
          bytes += s.size;
        }
      }
    });
    if (removed > 0) {
      // steady-state retention deletes a file per rotation: counted here, reported once per report interval
      const r = (this.retained[source] ??= { files: 0, bytes: 0 });
      r.files += removed;
      r.bytes += bytes;
    }
  }

  private reportRetention(): void {
    const now = this.deps.clock.monoMs();
    if (now - this.lastRetentionReport < this.settings.report_interval_ms) return;
    const entries = Object.entries(this.retained);
    if (entries.length === 0) return;
    this.lastRetentionReport = now;
    this.retained = {};
    const files = entries.reduce((a, [, r]) => a + r.files, 0);
    const bytes = entries.reduce((a, [, r]) => a + r.bytes, 0);
    this.event({
      kind: 'spool.retention',
      source: 'spooler',
      reason: `deleted ${fmt(files)} rotated file${files === 1 ? '' : 's'} (${fmt(bytes)} bytes) beyond the retention of ${this.settings.keep_files} files or ${Math.round(this.settings.max_age_ms / 3_600_000)} h per source`,
      data: { files, bytes, by_source: Object.fromEntries(entries) },
    });
  }

  private remove(path: string, size: number): boolean {
    try {
      unlinkSync(path);
      this.usage -= size;
      if (path === this.compressingPath) this.compressedAway = true;
      const i = this.compressQueue.indexOf(path);
      if (i >= 0) this.compressQueue.splice(i, 1);
      return true;
    } catch {
      return false;
    }
  }

  /** Deletes the oldest rotated files across all sources until `enough()` holds or none is left. */
  private evictUntil(enough: () => boolean, atLeast = 0): void {
    const all = this.sourceNames()
      .flatMap((name) => listSegments(join(this.deps.spoolDir, name)).map((seg) => ({ ...seg, source: name })))
      .sort((a, b) => a.mtimeMs - b.mtimeMs || a.seq - b.seq);
    let removed = 0;
    let bytes = 0;
    const bySource: Record<string, number> = {};
    for (const seg of all) {
      if (removed >= atLeast && enough()) break;
      if (!this.remove(seg.path, seg.size)) continue;
      removed++;
      bytes += seg.size;
      bySource[seg.source] = (bySource[seg.source] ?? 0) + 1;
    }
    if (removed > 0) {
      this.event({
        kind: 'spool.evicted',
        severity: 'warning',
        source: 'spooler',
        reason: `deleted the ${removed} oldest rotated spool file${removed === 1 ? '' : 's'} (${fmt(bytes)} bytes) to stay within the quota and the disk's headroom`,
        data: { files: removed, bytes, by_source: bySource, usage_bytes: this.usage, quota_bytes: this.settings.quota_bytes },
      });
    }
  }

  private freeBytes(): number | null {
    try {
      if (this.deps.freeBytes) return this.deps.freeBytes(this.deps.spoolDir);
      const st = statfsSync(this.deps.spoolDir);
      return st.bavail * st.bsize;
    } catch {
      return null;
    }
  }

  private enterFull(reason: string): void {
    for (const s of this.sources.values()) s.dropPending();
    if (this.full) return;
    this.full = true;
    this.fullReason = reason;
    this.deps.log.warn({ usage_bytes: this.usage, free_bytes: this.lastFree }, `spooling paused: ${reason}; new lines are dropped and counted`);
    this.event({
      kind: 'spool.disk_full',
      severity: 'warning',
      source: 'spooler',
      reason: `spooling paused: ${reason}; new log lines are dropped and counted until space returns`,
      data: { usage_bytes: this.usage, quota_bytes: this.settings.quota_bytes, free_bytes: this.lastFree, min_free_bytes: this.settings.min_free_bytes },
    });
  }

  /** Headroom: oldest rotated files go first, then new lines; when space returns, spooling resumes and says so. */
  checkDisk(): void {
    const free = this.freeBytes();
    this.lastFree = free;
    const lowFree = (): boolean => {
      const f = this.freeBytes();
      this.lastFree = f;
      return f !== null && f < this.settings.min_free_bytes;
    };
    if (lowFree() || this.usage > this.settings.quota_bytes) {
      this.evictUntil(() => !lowFree() && this.usage <= this.settings.quota_bytes);
    }
    const low = lowFree();
    const over = this.usage >= this.settings.quota_bytes;
    if (low || over) {
      if (!this.full) {
        this.enterFull(
          low
            ? `free space on the spool's filesystem is ${mib(this.lastFree ?? 0)}, below the ${mib(this.settings.min_free_bytes)} kept free, and no rotated file is left to delete`
            : `the spool quota of ${mib(this.settings.quota_bytes)} is reached`,
        );
      }
      return;
    }
    // after a failed write, wait until real space came back, or a still-full disk would flap on and off
    if (this.full && (this.freeAtFailure === null || (this.lastFree ?? 0) > this.freeAtFailure + this.settings.batch_bytes)) this.resume();
  }

  private resume(): void {
    this.full = false;
    this.freeAtFailure = null;
    const dropped: Record<string, number> = {};
    let total = 0;
    for (const s of this.sources.values()) {
      if (s.droppedWhileFull > 0) {
        dropped[s.name] = s.droppedWhileFull;
        total += s.droppedWhileFull;
      }
    }
    const was = this.fullReason;
    this.fullReason = '';
    for (const [name, n] of Object.entries(dropped)) {
      const s = this.sources.get(name);
      if (s) s.droppedWhileFull = 0;
      this.note(name, `spooling resumed: ${fmt(n)} lines from ${name} were dropped while the disk was full`);
    }
    this.deps.log.info({ dropped }, `spooling resumed; ${fmt(total)} lines were dropped while it was paused`);
    this.event({
      kind: 'spool.resumed',
      severity: 'notice',
      source: 'spooler',
      reason: `spooling resumed: ${mib(this.lastFree ?? 0)} free and ${mib(this.usage)} of the ${mib(this.settings.quota_bytes)} quota used; ${fmt(total)} lines were dropped while paused (${was})`,
      data: { dropped_lines: total, by_source: dropped, free_bytes: this.lastFree, usage_bytes: this.usage },
    });
  }

  // --- the periodic tick ----------------------------------------------------------------------------

  /** Disk headroom, rotation by age, retention by age, suppression summaries and interval fsync. */
  tick(): void {
    if (this.stopped) return;
    const now = this.deps.clock.monoMs();
    try {
      if (now - this.lastDiskCheckMono >= this.settings.disk_check_interval_ms) {
        this.lastDiskCheckMono = now;
        this.checkDisk();
        for (const name of this.sourceNames()) this.retain(name);
      }
      for (const s of this.sources.values()) {
        if (s.firstLineMono !== undefined && now - s.firstLineMono >= this.settings.rotate_age_ms) s.rotate();
      }
      this.reportSuppressed(false);
      this.reportClaims(false);
      this.reportRetention();
      if (this.settings.fsync === 'interval' && now - this.lastFsyncMono >= this.settings.fsync_interval_ms) {
        this.lastFsyncMono = now;
        for (const s of this.sources.values()) s.fsyncIfDirty();
      }
    } catch (e) {
      this.deps.log.warn({ err: errorMessage(e) }, 'spooler housekeeping failed; retrying on the next tick');
    }
  }

  /** One summary line in the spool and one `spool.suppressed` event per source per report interval. */
  private reportSuppressed(all: boolean): void {
    const now = this.deps.clock.monoMs();
    for (const s of this.sources.values()) {
      const w = s.window;
      if (w.lines === 0) continue;
      const elapsed = now - w.sinceMono;
      if (!all && elapsed < this.settings.report_interval_ms) continue;
      const secs = Math.max(1, Math.round(elapsed / 1000));
      const text = `suppressed ${fmt(w.lines)} lines from ${s.name} in ${secs} s`;
      const data = { source: s.name, lines: w.lines, bytes: w.bytes, window_s: secs, limit: s.settings.rate ?? null };
      s.window = { lines: 0, bytes: 0, sinceMono: now };
      this.note(s.name, `${text} (rate limit)`);
      this.event({ kind: 'spool.suppressed', severity: 'warning', source: 'spooler', reason: `${text}: over its rate limit`, data });
    }
  }

  private event(e: SpoolEvent): void {
    try {
      this.deps.events?.append(e);
    } catch (err) {
      this.deps.log.warn({ err: errorMessage(err), kind: e.kind }, 'could not record a spooler event');
    }
  }

  // --- observation ----------------------------------------------------------------------------------

  stats(): SpoolerStats {
    const sources: Record<string, SourceStats> = {};
    for (const s of this.sources.values()) {
      sources[s.name] = { ...s.counters, pending_bytes: s.pendingBytes, paused: s.isPaused, current_bytes: s.currentBytes };
    }
    return {
      sources,
      usage_bytes: this.usage,
      quota_bytes: this.settings.quota_bytes,
      free_bytes: this.lastFree,
      disk_full: this.full,
      compressions_pending: this.compressQueue.length + (this.compressing ? 1 : 0),
      socket_connections: this.conns.size,
      socket_refused: this.refused,
      socket_claims_refused: this.claimsRefused,
    };
  }

  /** Bytes each source holds in the spool, read from its folder (the spool_bytes metric). */
  usageBySource(): Map<string, number> {
    return new Map(this.sourceNames().map((name) => [name, sourceBytes(join(this.deps.spoolDir, name))]));
  }

  /** Names of the sources that have spool folders. */
  sourceNames(): string[] {
    return [...new Set([...this.sources.keys(), ...listSourceDirs(this.deps.spoolDir)])].sort();
  }
}

export function listSourceDirs(spoolDir: string): string[] {
  try {
    return readdirSync(spoolDir, { withFileTypes: true })
      .filter((d) => d.isDirectory() && SOURCE_RE.test(d.name))
      .map((d) => d.name);
  } catch {
    return [];
  }
}

function helloSource(line: string): { source: string; store: boolean } | undefined {
  const t = line.trim();
  const m = /^source=(\S+)$/.exec(t);
  if (m) return SOURCE_RE.test(m[1] as string) ? { source: m[1] as string, store: false } : undefined;
  if (!t.startsWith('{')) return undefined;
  try {
    const o = JSON.parse(t) as unknown;
    if (o && typeof o === 'object' && typeof (o as { source?: unknown }).source === 'string') {
      const s = (o as { source: string }).source;
      return SOURCE_RE.test(s) ? { source: s, store: true } : undefined;
    }
  } catch {
    // not JSON
  }
  return undefined;
}

export function createSpooler(deps: SpoolerDeps): Spooler {
  return new Spooler(deps);
}
