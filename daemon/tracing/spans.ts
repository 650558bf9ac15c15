import { type Attributes, type Context, type Span, SpanKind, SpanStatusCode, context, trace } from '@opentelemetry/api';

/**
 * Spans through the OpenTelemetry API alone. Until the SDK is registered (tracing: enabled) the API hands
 * out non-recording spans and these cost a few object allocations: an idle daemon without tracing pays
 * nothing else (docs/observability.md, "Traces").
 */
const TRACER = 'waveos';

export type SpanAttributes = Attributes;

/** Runs `fn` inside a new span, child of the active one; the span ends when `fn` settles, with its error status. */
export function inSpan<T>(name: string, attributes: SpanAttributes, fn: (span: Span) => T, kind: SpanKind = SpanKind.INTERNAL): T {
  return trace.getTracer(TRACER).startActiveSpan(name, { attributes, kind }, (span) => {
    const fail = (e: unknown): void => {
      span.recordException(e instanceof Error ? e : String(e));
      span.setStatus({ code: SpanStatusCode.ERROR, message: e instanceof Error ? e.message : String(e) });
    };
    let out: T;
    try {
      out = fn(span);
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
  trace.getActiveSpan()?.setAttributes(attributes);
}

/** Marks a point in the active span (a bundle state reached, an event journaled). */
export function spanEvent(name: string, attributes: SpanAttributes): void {
  trace.getActiveSpan()?.addEvent(name, attributes);
}

/** The active context, to carry across a queue (the executor's) into the code that runs later. */
export function activeContext(): Context {
  return context.active();
}

export function withContext<T>(ctx: Context, fn: () => T): T {
  return context.with(ctx, fn);
}

export { SpanKind };
