import { spawnSync } from 'node:child_process';
import { type Server, createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

/**
 * A local OTLP/HTTP trace receiver for tests. Bodies are decoded with the official OpenTelemetry proto
 * definitions (test/fixtures/opentelemetry-proto, from open-telemetry/opentelemetry-proto) by Debian's
 * protoc, never parsed by hand: `decodeExportTraceRequest` is the one decoding function.
 */
const PROTO_ROOT = join(import.meta.dirname, '../fixtures/opentelemetry-proto');
const REQUEST = 'opentelemetry.proto.collector.trace.v1.ExportTraceServiceRequest';

/** A decoded message in protobuf text form: every field a list (repeated or not), as protoc prints it. */
export interface PbMessage {
  [field: string]: (PbMessage | string | number | boolean)[];
}

/** Text-format string escapes (C style, octal and hex) to bytes. */
function unescapeBytes(s: string): Buffer {
  const out: number[] = [];
  for (let i = 0; i < s.length; i++) {
    const c = s[i] as string;
    if (c !== '\\') {
      out.push(...Buffer.from(c, 'utf8'));
      continue;
    }
    const n = s[++i] as string;
    if (/[0-7]/.test(n)) {
      let oct = n;
      while (oct.length < 3 && /[0-7]/.test(s[i + 1] ?? '')) oct += s[++i];
      out.push(parseInt(oct, 8));
    } else if (n === 'x') {
      let hex = '';
      while (hex.length < 2 && /[0-9a-fA-F]/.test(s[i + 1] ?? '')) hex += s[++i];
      out.push(parseInt(hex, 16));
    } else out.push(({ n: 10, t: 9, r: 13, '"': 34, "'": 39, '\\': 92 } as Record<string, number>)[n] ?? n.charCodeAt(0));
  }
  return Buffer.from(out);
}

/** protoc's text output to a message tree; `bytes` fields stay as binary strings (see `hex`). */
function parseText(text: string): PbMessage {
  const tokens = text.match(/"(?:[^"\\]|\\.)*"|[{}:]|[^\s{}:"]+/g) ?? [];
  let i = 0;
  const message = (): PbMessage => {
    const m: PbMessage = {};
    while (i < tokens.length && tokens[i] !== '}') {
      const name = tokens[i++] as string;
      let v: PbMessage | string | number | boolean;
      if (tokens[i] === ':') i++;
      if (tokens[i] === '{') {
        i++;
        v = message();
        i++; // }
      } else {
        const t = tokens[i++] as string;
        v = t.startsWith('"') ? unescapeBytes(t.slice(1, -1)).toString('latin1') : t === 'true' ? true : t === 'false' ? false : /^-?\d/.test(t) ? Number(t) : t;
      }
      (m[name] ??= []).push(v);
    }
    return m;
  };
  return message();
}

/** An ExportTraceServiceRequest body (protobuf bytes), decoded with the official definitions. */
export function decodeExportTraceRequest(body: Buffer): PbMessage {
  const r = spawnSync('protoc', [`--proto_path=${PROTO_ROOT}`, `--decode=${REQUEST}`, 'opentelemetry/proto/collector/trace/v1/trace_service.proto'], { input: body, maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`protoc could not decode the body as ${REQUEST}: ${r.stderr.toString()}`);
  return parseText(r.stdout.toString('utf8'));
}

/** A bytes field (trace and span ids) as lowercase hex. */
export const hex = (v: unknown): string => Buffer.from(String(v ?? ''), 'latin1').toString('hex');

/** One span, flattened from the decoded request. */
export interface ReceivedSpan {
  traceId: string;
  spanId: string;
  parentSpanId: string;
  name: string;
  kind: string;
  startNs: bigint;
  attributes: Record<string, string | number | boolean>;
  resource: Record<string, string | number | boolean>;
  status: number;
}

function attrs(list: (PbMessage | string | number | boolean)[] | undefined): Record<string, string | number | boolean> {
  const out: Record<string, string | number | boolean> = {};
  for (const kv of (list ?? []) as PbMessage[]) {
    const key = String(kv.key?.[0] ?? '');
    const v = (kv.value?.[0] ?? {}) as PbMessage;
    const s = v.string_value?.[0];
    out[key] = s !== undefined ? Buffer.from(String(s), 'latin1').toString('utf8') : ((v.int_value?.[0] ?? v.bool_value?.[0] ?? v.double_value?.[0] ?? '') as string | number | boolean);
  }
  return out;
}

export function spansOf(req: PbMessage): ReceivedSpan[] {
  const out: ReceivedSpan[] = [];
  for (const rs of (req.resource_spans ?? []) as PbMessage[]) {
    const resource = attrs(((rs.resource?.[0] ?? {}) as PbMessage).attributes);
    for (const ss of (rs.scope_spans ?? []) as PbMessage[]) {
      for (const sp of (ss.spans ?? []) as PbMessage[]) {
        out.push({
          traceId: hex(sp.trace_id?.[0]),
          spanId: hex(sp.span_id?.[0]),
          parentSpanId: hex(sp.parent_span_id?.[0]),
          name: Buffer.from(String(sp.name?.[0] ?? ''), 'latin1').toString('utf8'),
          kind: String(sp.kind?.[0] ?? ''),
          startNs: BigInt(String(sp.start_time_unix_nano?.[0] ?? 0)),
          attributes: attrs(sp.attributes),
          resource,
          status: Number(((sp.status?.[0] ?? {}) as PbMessage).code?.[0] === 'STATUS_CODE_ERROR' ? 2 : 0),
        });
      }
    }
  }
  return out;
}

/** The receiver: POST /v1/traces with protobuf bodies; `up` false answers 503 (a collector that is away). */
export async function otlpReceiver(): Promise<{ url: string; spans: ReceivedSpan[]; requests: number; up: boolean; close(): Promise<void> }> {
  const state = { url: '', spans: [] as ReceivedSpan[], requests: 0, up: true, close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url !== '/v1/traces' || req.headers['content-type'] !== 'application/x-protobuf') return void res.writeHead(415).end();
      if (!state.up) return void res.writeHead(503).end();
      state.requests++;
      state.spans.push(...spansOf(decodeExportTraceRequest(Buffer.concat(chunks))));
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  state.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/traces`;
  state.close = () =>
    new Promise<undefined>((r) => {
      server.closeAllConnections();
      server.close(() => r(undefined));
    });
  return state;
}
