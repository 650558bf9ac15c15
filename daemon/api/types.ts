import type { z } from 'zod';

export const ROLES = ['viewer', 'operator', 'admin'] as const;
export type Role = (typeof ROLES)[number];

export function roleAllows(have: Role, need: Role): boolean {
  return ROLES.indexOf(have) >= ROLES.indexOf(need);
}

/** Who is asking, once the authorizer has decided. */
export interface Principal {
  name: string;
  role: Role;
}

export interface ApiRequest<Q = unknown, B = unknown> {
  query: Q;
  body: B;
  principal: Principal;
  /** Aborted when the client goes away (for streams). */
  signal: AbortSignal;
}

export type ApiResult =
  | { kind: 'json'; status?: number; body: unknown }
  /** Newline-delimited JSON, written as the iterable yields, until it ends or the client leaves. */
  | { kind: 'stream'; lines: AsyncIterable<string> }
  /** Bytes (a file download), written with back-pressure; `headers` such as content-disposition. */
  | { kind: 'bytes'; chunks: AsyncIterable<Uint8Array | string>; contentType: string; headers?: Record<string, string> };

export interface Route<Q = unknown, B = unknown> {
  method: 'GET' | 'POST' | 'DELETE';
  path: string;
  /** The action name the authorizer and the audit log see, e.g. `status.read`. */
  action: string;
  /** The least role that may call it. */
  role: Role;
  /** What the request acts on, for the audit log (a service name, a token name), read from the raw input. */
  target?: (raw: { query: Record<string, string>; body: unknown }) => string | undefined;
  query?: z.ZodType<Q>;
  body?: z.ZodType<B>;
  handle(req: ApiRequest<Q, B>): Promise<ApiResult> | ApiResult;
}

export interface AuthDecision {
  allowed: boolean;
  principal: Principal | null;
  /** Why it was denied, for the client and the audit log. */
  reason?: string;
  /** Denied for want of disk space, not of permission: the request may succeed once space is freed (503). */
  diskFull?: boolean;
}

/** Decides whether a request may run; the security module supplies the real one (tokens, audit). */
/** Which control socket a request came in on (security's SocketKind): the group sockets authenticate by file mode. */
export type ApiSocketKind = 'admin' | 'viewer' | 'token';

export type Authorizer = (req: { token: string | undefined; via?: ApiSocketKind; action: string; need: Role; target?: string }) => AuthDecision;

export function defineRoute<Q, B>(r: Route<Q, B>): Route {
  return r as unknown as Route;
}
