export { type CompactSpan, type WaterfallRow, waterfalls } from './compact.js';
export { type CapturedContext, type SpanAttributes, SpanKind, activeContext, inSpan, spanAttributes, spanEvent, withContext } from './spans.js';
export { type TracingDeps, type TracingHandle, startTracing } from './sdk.js';
