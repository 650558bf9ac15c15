import type { Readable } from 'node:stream';

/**
 * Where supervised services' output goes. The logging spooler implements it; the supervisor only attaches
 * streams. `attach` owns flow control: a sink in `block` mode pauses the stream while its writer lags (the
 * child then blocks on a full pipe), in `drop` mode it drops and counts.
 */
export interface LogSink {
  attach(source: string, stream: Readable, streamName: 'stdout' | 'stderr'): void;
}
