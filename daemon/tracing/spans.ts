import type * as Otel from '@opentelemetry/api';

/**
 * Spans through the official OpenTelemetry API, which is itself loaded only when tracing starts
 * (startTracing hands it here): until then `inSpan` just runs its function, so a daemon without tracing, and
 * the CLI that shares these modules, never import OpenTelemetry at all (docs/observability.md, "Traces").
 * The API's own registration is process-global by design; this reference follows it.
 */
let otel: typeof Otel | undefined;

/** Called by startTracing once the SDK is registered, and with undefined when tracing stops. */
export function useOpenTelemetry(api: typeof Otel | undefined): void {
  otel = api;
}

export type SpanAttributes = Otel.Attributes;

/** OpenTelemetry's SpanKind values (the enum lives in the API package, not loaded while tracing is off). */
export const SpanKind = { INTERNAL: 0, SERVER: 1, CLIENT: 2 } as const;

/** An opaque captured context: undefined while tracing is off. */
export type CapturedContext = Otel.Context | undefined;

/** Runs `fn` inside a new span, child of the active one; the span ends when `fn` settles, with its error status. */
export function inSpan<T>(name: string, attributes: SpanAttributes, fn: () => T, kind: number = SpanKind.INTERNAL): T {
  const api = otel;
  if (!api) return fn();
  return api.trace.getTracer('waveos').startActiveSpan(name, { attributes, kind: kind as Otel.SpanKind }, (span) => {
    const fail = (e: unknown): void => {
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({ code: api.SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
    };
    let out: T;
    try {
      out = fn();
    } catch (e) {
      fail(e);
      span.end();
      throw e;
    }
    if (out instanceof Promise) {
      return out.then(
        (v: unknown) => {
          span.end();
          return v;
        },
        (e: unknown) => {
          fail(e);
          span.end();
          throw e;
        },
      ) as T;
    }
    span.end();
    return out;
  });
}

/** Adds attributes to the active span, if any records. */
export function spanAttributes(attributes: SpanAttributes): void {
  otel?.trace.getActiveSpan()?.setAttributes(attributes);
}

/** Marks a point in the active span. */
export function spanEvent(name: string, attributes: SpanAttributes): void {
  otel?.trace.getActiveSpan()?.addEvent(name, attributes);
}

/** The active context, to carry across a queue (the executor's) into the code that runs later. */
export function activeContext(): CapturedContext {
  return otel?.context.active();
}

export function withContext<T>(ctx: CapturedContext, fn: () => T): T {
  return otel && ctx ? otel.context.with(ctx, fn) : fn();
}
