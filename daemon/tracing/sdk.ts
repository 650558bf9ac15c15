import type { HrTime } from '@opentelemetry/api';
import type { ReadableSpan, Span, SpanExporter, SpanProcessor } from '@opentelemetry/sdk-trace';
import type { TracingConfig } from '../config/index.js';
import { type Logger, errorMessage } from '../core/index.js';
import type { EventInput } from '../journal/index.js';
import type { CompactSpan } from './compact.js';
import { useOpenTelemetry } from './spans.js';

export interface TracingDeps {
  config: TracingConfig;
  device: { device_id: string; app_id: string; environment: string };
  runId: string;
  version: string;
  log: Logger;
  emit(e: EventInput): void;
}

const ms = (t: HrTime): number => t[0] * 1_000 + t[1] / 1e6;

function compact(s: ReadableSpan): CompactSpan {
  const a: CompactSpan['a'] = {};
  for (const [k, v] of Object.entries(s.attributes)) if (typeof v === 'string' || typeof v === 'number' || typeof v === 'boolean') a[k] = v;
  const c = s.spanContext();
  return {
    t: c.traceId,
    s: c.spanId,
    p: s.parentSpanContext?.spanId ?? null,
    n: s.name,
    b: Math.round(ms(s.startTime) * 1_000) / 1_000,
    d: Math.round(ms(s.duration) * 1_000) / 1_000,
    // SpanStatusCode: 0 unset, 1 ok, 2 error
    st: s.status.code,
    a,
  };
}

/**
 * Finished spans go two ways every `export_interval`: compactly into the journal (`trace.spans`), and over
 * OTLP/HTTP when an endpoint is set. While the collector cannot be reached the spans wait in a bounded
 * buffer; beyond `buffer_spans` the oldest are dropped and counted (the next `trace.spans` event says so).
 */
class WaveosSpanProcessor implements SpanProcessor {
  private readonly pending: ReadableSpan[] = [];
  private journalBuf: CompactSpan[] = [];
  private dropped = 0;
  private droppedReported = 0;
  private inFlight = false;
  private readonly timer: NodeJS.Timeout;

  constructor(
    private readonly deps: TracingDeps,
    private readonly exporter: SpanExporter | undefined,
  ) {
    this.timer = setInterval(() => this.flushNow(), deps.config.export_interval_ms);
    this.timer.unref();
  }

  onStart(span: Span): void {
    span.setAttributes({ 'waveos.run_id': this.deps.runId, 'waveos.device_id': this.deps.device.device_id });
  }

  onEnd(span: ReadableSpan): void {
    const max = this.deps.config.buffer_spans;
    if (this.deps.config.journal) {
      this.journalBuf.push(compact(span));
      if (this.journalBuf.length > max) this.journalBuf.splice(0, this.journalBuf.length - max);
    }
    if (!this.exporter) return;
    this.pending.push(span);
    if (this.pending.length > max) this.dropped += this.pending.splice(0, this.pending.length - max).length;
  }

  flushNow(): void {
    if (this.journalBuf.length) {
      const spans = this.journalBuf;
      this.journalBuf = [];
      try {
        this.deps.emit({
          kind: 'trace.spans',
          severity: 'info',
          source: 'tracing',
          reason: `${spans.length} finished span(s)${this.dropped > this.droppedReported ? `; ${this.dropped - this.droppedReported} not exported (the collector was away and the buffer full)` : ''}`,
          data: { spans, dropped: this.dropped },
        });
        this.droppedReported = this.dropped;
      } catch (e) {
        this.deps.log.warn({ err: errorMessage(e) }, 'finished spans could not be journaled');
      }
    }
    void this.export();
  }

  private export(): Promise<void> {
    const exporter = this.exporter;
    if (!exporter || this.inFlight || this.pending.length === 0) return Promise.resolve();
    this.inFlight = true;
    const batch = this.pending.splice(0, 512);
    return new Promise((resolve) => {
      exporter.export(batch, (r) => {
        this.inFlight = false;
        if (r.code !== 0) {
          // Back to the front, for the next interval; the bound still holds.
          this.pending.unshift(...batch);
          const over = this.pending.length - this.deps.config.buffer_spans;
          if (over > 0) this.dropped += this.pending.splice(0, over).length;
          this.deps.log.debug({ err: r.error ? errorMessage(r.error) : undefined, waiting: this.pending.length }, 'span export failed; kept for the next try');
        }
        resolve();
      });
    });
  }

  async forceFlush(): Promise<void> {
    this.flushNow();
    await this.export();
  }

  async shutdown(): Promise<void> {
    clearInterval(this.timer);
    this.flushNow();
    await this.exporter?.shutdown().catch(() => undefined);
  }
}

export interface TracingHandle {
  stop(): Promise<void>;
}

/**
 * The OpenTelemetry packages are CommonJS. Node's own import gives their named exports; from the esbuild bundle a
 * dynamic import gives them only under `default` (module.exports). Either way this returns the exports.
 */
function commonJs<T extends object>(m: T): T {
  const d = (m as { default?: unknown }).default;
  return d !== null && typeof d === 'object' ? (d as T) : m;
}

/** Loads the SDK (only now) and registers it: from here on the API's spans record. */
export async function startTracing(deps: TracingDeps): Promise<TracingHandle> {
  const [api, { TracerProvider }, { resourceFromAttributes }, { AsyncLocalContextManager }] = await Promise.all([
    import('@opentelemetry/api').then(commonJs),
    import('@opentelemetry/sdk-trace').then(commonJs),
    import('@opentelemetry/resources').then(commonJs),
    import('./context-manager.js'),
  ]);
  let exporter: SpanExporter | undefined;
  if (deps.config.otlp_endpoint) {
    const { OTLPTraceExporter } = commonJs(await import('@opentelemetry/exporter-trace-otlp-proto'));
    exporter = new OTLPTraceExporter({ url: deps.config.otlp_endpoint, timeoutMillis: 5_000 });
  }
  const processor = new WaveosSpanProcessor(deps, exporter);
  const provider = new TracerProvider({
    resource: resourceFromAttributes({
      'service.name': 'waveos',
      'service.version': deps.version,
      'service.instance.id': deps.device.device_id,
      'deployment.environment.name': deps.device.environment,
      'waveos.device_id': deps.device.device_id,
      'waveos.app_id': deps.device.app_id,
      'waveos.run_id': deps.runId,
    }),
    spanProcessors: [processor],
  });
  api.context.setGlobalContextManager(new AsyncLocalContextManager());
  api.trace.setGlobalTracerProvider(provider);
  useOpenTelemetry(api);
  return {
    async stop() {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([provider.shutdown().catch(() => undefined), new Promise<void>((r) => (t = setTimeout(r, 500)))]);
      clearTimeout(t);
      useOpenTelemetry(undefined);
      api.trace.disable();
      api.context.disable();
    },
  };
}
