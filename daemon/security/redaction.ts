import { Transform, type TransformCallback } from 'node:stream';
import { WaveosError, linearRegExp } from '../core/index.js';

/**
 * The one redactor: every byte WaveOS stores (spool, journal, artifacts, evidence packs) passes through it.
 *
 * It removes (a) the value of every known secret (resolved secrets, secret-named environment and config
 * values), (b) credential shapes — `NAME=value` where NAME marks a secret, `wos_` API tokens, HTTP Bearer and
 * Basic credentials, passwords in URLs, JWTs, PEM private keys — and (c) the operator's `spooler.redact`
 * patterns. Time is linear in the input: one pass of a trigger expression made only of literal words (no
 * quantifier can backtrack), a hand-written scanner at each trigger whose reach is bounded or ends at a
 * character the next trigger needs, and the operator's patterns on V8's non-backtracking engine.
 */
export const REDACTED = '[REDACTED]';

/** Key names whose values are secrets wherever they appear: config keys, env names, `k=v` in logs. */
const SECRET_NAME =
  /(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|signing[_-]?key|credentials?|authorization|auth|cookie|session[_-]?id|bearer|client[_-]?secret)$/i;
/** Also inside a longer name: `UPLINK_TOKEN_FILE` is not a secret, `UPLINK_TOKEN` is. */
const SECRET_PART = /(^|[_.-])(pass(word|wd|phrase)?|pwd|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)([_.-]|$)/i;
const NOT_SECRET = /_(file|path|dir|ttl|len|length|expiry|expires|name|count)$/i;

export function isSecretName(name: string): boolean {
  if (name.length > 256 || NOT_SECRET.test(name)) return false;
  return SECRET_NAME.test(name) || SECRET_PART.test(name);
}

/** Variables the shell sets to the working directory: "pwd" in their names is not a password. */
const SHELL_DIR_VARS = new Set(['PWD', 'OLDPWD']);

/** Secret literals from an environment: values of variables whose names mark them as secrets. */
export function literalsFromEnv(env: NodeJS.ProcessEnv): string[] {
  return Object.entries(env)
    .filter(([k, v]) => v !== undefined && v.length >= MIN_ENV_LITERAL && !SHELL_DIR_VARS.has(k) && isSecretName(k))
    .map(([, v]) => v as string);
}

/** Keys whose values name secrets or variables, never hold them. */
const NAMING_KEYS = new Set(['secrets_env', 'inherit_env']);

/** The values under secret-named keys of a config-like object. */
export function secretLiterals(v: unknown, key?: string, out: string[] = []): string[] {
  if (key !== undefined && NAMING_KEYS.has(key)) return out;
  if (key !== undefined && isSecretName(key) && (typeof v === 'string' || typeof v === 'number')) out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) secretLiterals(x, undefined, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) secretLiterals(x, k, out);
  return out;
}

/**
 * The daemon's redactor, built once at start: the resolved secrets, secret-named values of its environment
 * and config, and the operator's patterns.
 */
export function daemonRedactor(d: { secrets: readonly string[]; env: NodeJS.ProcessEnv; config: unknown; patterns: readonly string[] }): Redactor {
  return new Redactor({ literals: [...d.secrets, ...literalsFromEnv(d.env), ...secretLiterals(d.config)], patterns: d.patterns, patternsPath: 'spooler.redact' });
}

/** Shorter values would mask ordinary words; the shape rules still apply to them. */
const MIN_LITERAL = 4;
const MIN_ENV_LITERAL = 6;
/** How far a scanner looks around a trigger for a name, spaces or a PEM label. */
const NAME_REACH = 128;
const SPACE_REACH = 16;
/** A PEM block without its END line stops being redacted after this many lines. */
const PEM_MAX_LINES = 256;

function ci(word: string): string {
  return [...word].map((c) => (/[a-z]/i.test(c) ? `[${c.toLowerCase()}${c.toUpperCase()}]` : c)).join('');
}

function escapeLiteral(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\/-]/g, '\\$&');
}

/** Words that end or start a secret name; each trigger is a literal, so the expression cannot backtrack. */
const NAME_WORDS = ['pass', 'pwd', 'secret', 'token', 'key', 'credential', 'auth', 'cookie', 'session', 'bearer'];
const TRIGGERS = [
  `(${['Bearer', 'Basic'].map(ci).join('|')})(?=[ \\t])`,
  `(${NAME_WORDS.map(ci).join('|')})`,
  '(:\\/\\/)',
  '(wos_)',
  '(eyJ)',
  '(-----BEGIN )',
].join('|');
// capture groups of TRIGGERS, after the literals' group when there is one
const G_SCHEME = 1;
const G_NAME = 2;
const G_URL = 3;
const G_WOS = 4;
const G_JWT = 5;

// character classes as code tests: no per-character regular expression in the scanners
function isAlnum(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}
function isNameChar(c: number): boolean {
  return isAlnum(c) || c === 95 || c === 46 || c === 45; // _ . -
}
function isB64Url(c: number): boolean {
  return isAlnum(c) || c === 95 || c === 45;
}
function isB64(c: number): boolean {
  return isAlnum(c) || c === 43 || c === 47 || c === 61; // + / =
}
function isSpace(c: number): boolean {
  return c === 32 || c === 9;
}
function isWhite(c: number): boolean {
  return c === 32 || c === 9 || c === 10 || c === 13 || c === 11 || c === 12;
}
/** `[^\s"',;&}]`: where an unquoted value ends. */
function isValueChar(c: number): boolean {
  return !(isWhite(c) || c === 34 || c === 39 || c === 44 || c === 59 || c === 38 || c === 125);
}
/** `[A-Za-z0-9._~+/=-]`: an HTTP credential's characters. */
function isCredChar(c: number): boolean {
  return isAlnum(c) || c === 46 || c === 95 || c === 126 || c === 43 || c === 47 || c === 61 || c === 45;
}

/** Redaction state carried between the chunks of one stream (a PEM block may span them). */
interface StreamState {
  pemLines: number;
}

/** One pass over one text: collects the kept pieces and the cuts in order. */
class Pass {
  private readonly parts: string[] = [];
  private copied = 0;
  /** Nothing before this index is looked at again. */
  floor = 0;
  private endFrom = Number.POSITIVE_INFINITY;
  private endAt = -1;

  constructor(readonly s: string) {}

  cut(a: number, b: number): void {
    this.parts.push(this.s.slice(this.copied, a), REDACTED);
    this.copied = b;
    this.floor = b;
  }

  private litFrom = Number.POSITIVE_INFINITY;
  private lit: { at: number; end: number } | undefined;

  /** The next match of `re` at or after `from`, remembered so that each line of a long PEM body does not search to the end. */
  literalAt(re: RegExp, from: number): { at: number; end: number } | undefined {
    if (from >= this.litFrom && (this.lit === undefined || this.lit.at >= from)) return this.lit;
    this.litFrom = from;
    re.lastIndex = from;
    const m = re.exec(this.s);
    this.lit = m ? { at: m.index, end: m.index + m[0].length } : undefined;
    return this.lit;
  }

  /** The next `-----END` at or after `from`, remembered so that many PEM headers do not each search to the end. */
  pemEnd(from: number): number {
    if (from >= this.endFrom && (this.endAt === -1 || this.endAt >= from)) return this.endAt;
    this.endFrom = from;
    this.endAt = this.s.indexOf('-----END', from);
    return this.endAt;
  }

  result(): string {
    if (this.parts.length === 0) return this.s;
    this.parts.push(this.s.slice(this.copied));
    return this.parts.join('');
  }
}

export interface RedactorOptions {
  /** Values that are secret wherever they appear (resolved secrets, secret-named env and config values). */
  literals?: Iterable<string>;
  /** The operator's patterns (`spooler.redact`), matched on the linear-time engine; a match is replaced whole. */
  patterns?: readonly string[];
  /** Where the patterns come from, for the located error of one that cannot be compiled. */
  patternsPath?: string;
}

export class Redactor {
  private readonly trigger: RegExp;
  /** 1 when the trigger's first group is the literals (an always-failing group would defeat V8's quick scan). */
  private readonly g: number;
  private readonly configured: RegExp | undefined;
  /** The literals alone: a PEM body is scanned for base64 runs, not triggers, and a declared secret must still go. */
  private readonly literalsOnly: RegExp | undefined;
  private readonly options: RedactorOptions;

  constructor(options: RedactorOptions = {}) {
    this.options = options;
    const literals = [...new Set([...(options.literals ?? [])].filter((s) => s.length >= MIN_LITERAL))].sort((a, b) => b.length - a.length);
    // literals first: at one position the whole secret wins over a trigger word inside it
    this.g = literals.length ? 1 : 0;
    this.trigger = new RegExp(literals.length ? `(${literals.map(escapeLiteral).join('|')})|${TRIGGERS}` : TRIGGERS, 'g');
    this.literalsOnly = literals.length ? new RegExp(literals.map(escapeLiteral).join('|'), 'g') : undefined;
    this.configured = compilePatterns(options.patterns ?? [], options.patternsPath ?? 'spooler.redact');
  }

  /** The same rules with more secret literals (e.g. an export's own). */
  withLiterals(more: Iterable<string>): Redactor {
    return new Redactor({ ...this.options, literals: [...(this.options.literals ?? []), ...more] });
  }

  text(s: string): string {
    return this.run(s, { pemLines: 0 });
  }

  /** A redactor for one stream of text chunks cut at line ends (state such as an open PEM block carries over). */
  stream(): (chunk: string) => string {
    const st: StreamState = { pemLines: 0 };
    return (chunk) => this.run(chunk, st);
  }

  private run(s: string, st: StreamState): string {
    const p = new Pass(s);
    let i = st.pemLines > 0 ? this.pemBody(p, 0, st) : 0;
    const re = this.trigger;
    re.lastIndex = i;
    let wosRejectedUntil = -1;
    const g = this.g;
    for (let m = re.exec(s); m !== null; m = re.exec(s)) {
      const at = m.index;
      if (g === 1 && m[1] !== undefined) {
        p.cut(at, at + m[0].length);
        i = at + m[0].length;
      } else if (m[g + G_SCHEME] !== undefined) i = this.scheme(p, at, m[0].length);
      else if (m[g + G_NAME] !== undefined) i = this.name(p, at, m[0].length);
      else if (m[g + G_URL] !== undefined) i = this.url(p, at);
      else if (m[g + G_WOS] !== undefined) {
        if (at < wosRejectedUntil) i = at + 4;
        else {
          const r = this.wos(p, at);
          if (r.rejected) wosRejectedUntil = r.end;
          i = r.rejected ? at + 4 : r.end;
        }
      } else if (m[g + G_JWT] !== undefined) i = this.jwt(p, at);
      else i = this.pemHeader(p, at, st);
      re.lastIndex = Math.max(i, at + 1);
    }
    const out = p.result();
    if (!this.configured) return out;
    this.configured.lastIndex = 0;
    return this.configured.test(out) ? out.replace(this.configured, REDACTED) : out;
  }

  /** `NAME=value`, `NAME: value`, `"NAME": "value"` where NAME (found around the trigger word) marks a secret. */
  private name(p: Pass, at: number, len: number): number {
    const s = p.s;
    const n = s.length;
    let a = at;
    while (a > p.floor && a > at - NAME_REACH && isNameChar(s.charCodeAt(a - 1))) a--;
    let b = at + len;
    while (b < n && b < at + len + NAME_REACH && isNameChar(s.charCodeAt(b))) b++;
    if (!isSecretName(s.slice(a, b))) {
      // a later trigger inside the same long name does not scan back over it again
      p.floor = Math.max(p.floor, b);
      return b;
    }
    let q = b;
    if (s.charCodeAt(q) === 34 || s.charCodeAt(q) === 39) q++;
    q = skipSpaces(s, q);
    const sep = s.charCodeAt(q);
    if (sep !== 61 && sep !== 58) return b; // = :
    q = skipSpaces(s, q + 1 + (s.charCodeAt(q + 1) === 62 ? 1 : 0)); // `=>`
    const quote = s.charCodeAt(q);
    const quoted = quote === 34 || quote === 39;
    const v0 = quoted ? q + 1 : q;
    if (s.startsWith(REDACTED, v0)) return v0 + REDACTED.length;
    let v1 = v0;
    if (quoted) while (v1 < n && s.charCodeAt(v1) !== quote && s.charCodeAt(v1) !== 10) v1++;
    else while (v1 < n && isValueChar(s.charCodeAt(v1))) v1++;
    if (v1 === v0) return b;
    if (!quoted && v1 - v0 <= 6 && /^(bearer|basic|token|digest)$/i.test(s.slice(v0, v1))) {
      // `Authorization: Bearer x`: the scheme stays, the credential after it goes
      const c0 = skipSpaces(s, v1);
      let c1 = c0;
      while (c1 < n && isCredChar(s.charCodeAt(c1))) c1++;
      if (c1 > c0 && !s.startsWith(REDACTED, c0)) p.cut(c0, c1);
      return Math.max(c1, v1);
    }
    p.cut(v0, v1);
    return v1;
  }

  /** `Bearer x` / `Basic x` where x looks like a credential (not an English word). */
  private scheme(p: Pass, at: number, len: number): number {
    const s = p.s;
    if (at > 0 && isAlnum(s.charCodeAt(at - 1))) return at + len;
    const c0 = skipSpaces(s, at + len);
    if (s.startsWith(REDACTED, c0)) return c0 + REDACTED.length;
    let c1 = c0;
    let digits = 0;
    let upper = 0;
    let lower = 0;
    for (; c1 < s.length; c1++) {
      const c = s.charCodeAt(c1);
      if (!isCredChar(c)) break;
      if (c >= 65 && c <= 90) upper++;
      else if (c >= 97 && c <= 122) lower++;
      else digits++;
    }
    const credential = c1 - c0 >= 6 && (digits > 0 || (upper > 1 && lower > 0));
    if (!credential) return c0;
    p.cut(c0, c1);
    return c1;
  }

  /** `scheme://user:password@`: the password goes. Every scan stops at `/`, so none reaches the next `://`. */
  private url(p: Pass, at: number): number {
    const s = p.s;
    const n = s.length;
    let q = at + 3;
    for (; q < n; q++) {
      const c = s.charCodeAt(q);
      if (isWhite(c) || c === 47 || c === 64 || c === 58 || c === 63 || c === 35) break;
    }
    if (s.charCodeAt(q) !== 58) return at + 3;
    const pw0 = q + 1;
    let pw1 = pw0;
    for (; pw1 < n; pw1++) {
      const c = s.charCodeAt(pw1);
      if (isWhite(c) || c === 47 || c === 64) break;
    }
    if (s.charCodeAt(pw1) !== 64 || pw1 === pw0 || s.startsWith(REDACTED, pw0)) return at + 3;
    p.cut(pw0, pw1);
    return pw1;
  }

  /** A WaveOS API token: `wos_` and base64url (43 characters when whole; any long, random-looking run goes). */
  private wos(p: Pass, at: number): { end: number; rejected: boolean } {
    const s = p.s;
    let q = at + 4;
    let mixed = 0;
    for (; q < s.length; q++) {
      const c = s.charCodeAt(q);
      if (!isB64Url(c)) break;
      if ((c >= 48 && c <= 57) || (c >= 65 && c <= 90)) mixed++;
    }
    if (q - at - 4 < 16 || mixed === 0) return { end: q, rejected: true };
    p.cut(at, q);
    return { end: q, rejected: false };
  }

  /** `eyJ….….…`: three base64url segments of 8 or more, starting at a word's start. */
  private jwt(p: Pass, at: number): number {
    const s = p.s;
    if (at > 0 && isB64Url(s.charCodeAt(at - 1))) return at + 3;
    let q = at;
    for (let seg = 0; seg < 3; seg++) {
      const q0 = q;
      while (q < s.length && isB64Url(s.charCodeAt(q))) q++;
      if (q - q0 < 8) return at + 3;
      if (seg < 2) {
        if (s.charCodeAt(q) !== 46) return at + 3;
        q++;
      }
    }
    p.cut(at, q);
    return q;
  }

  /** `-----BEGIN … PRIVATE KEY-----`: the header stays, the body is redacted up to the END line. */
  private pemHeader(p: Pass, at: number, st: StreamState): number {
    const s = p.s;
    let q = at + 11;
    while (q < s.length && q < at + 11 + 48 && (s.charCodeAt(q) === 32 || (s.charCodeAt(q) >= 65 && s.charCodeAt(q) <= 90))) q++;
    if (!s.slice(at + 11, q).endsWith('PRIVATE KEY') || !s.startsWith('-----', q)) return at + 11;
    st.pemLines = 1;
    return this.pemBody(p, q + 5, st);
  }

  /** One line of a PEM body: the declared secrets and every base64 run of 16 or more, in order. */
  private cutBody(p: Pass, from: number, to: number): void {
    let i = from;
    while (i < to) {
      const lit = this.literalsOnly ? p.literalAt(this.literalsOnly, i) : undefined;
      if (!lit || lit.at >= to) {
        cutRuns(p, i, to);
        return;
      }
      cutRuns(p, i, lit.at);
      p.cut(lit.at, lit.end);
      i = lit.end;
    }
  }

  /** Inside a PEM block: every base64 run of 16 or more goes, line by line, until `-----END`. */
  private pemBody(p: Pass, from: number, st: StreamState): number {
    const s = p.s;
    const n = s.length;
    const end = p.pemEnd(from);
    let i = from;
    while (i < n) {
      const nl = s.indexOf('\n', i);
      const lineEnd = nl < 0 ? n : nl;
      const stop = end >= 0 && end < lineEnd ? end : lineEnd;
      this.cutBody(p, Math.max(i, p.floor), stop);
      if (stop === end) {
        st.pemLines = 0;
        return end + 8;
      }
      if (nl < 0) return n;
      if (++st.pemLines > PEM_MAX_LINES) {
        st.pemLines = 0;
        return lineEnd;
      }
      i = lineEnd + 1;
    }
    return n;
  }

  /** Keys repeat from event to event: each is judged once (bounded). */
  private readonly secretKeys = new Map<string, boolean>();

  private secretKey(key: string): boolean {
    let r = this.secretKeys.get(key);
    if (r === undefined) {
      r = isSecretName(key);
      if (this.secretKeys.size < 4096) this.secretKeys.set(key, r);
    }
    return r;
  }

  /** A deep copy with secret-named keys masked and every string passed through `text`; unchanged parts are shared. */
  value(v: unknown, key?: string): unknown {
    if (key !== undefined && (typeof v === 'string' || typeof v === 'number') && this.secretKey(key)) return REDACTED;
    if (typeof v === 'string') return this.text(v);
    // Every event's data passes here: a copy is made only once something in it changes.
    if (Array.isArray(v)) {
      let out: unknown[] | undefined;
      for (let i = 0; i < v.length; i++) {
        const x: unknown = v[i];
        const y = this.value(x);
        if (out === undefined && y !== x) out = v.slice(0, i);
        out?.push(y);
      }
      return out ?? v;
    }
    if (v && typeof v === 'object') {
      const entries = Object.entries(v);
      let out: Record<string, unknown> | undefined;
      for (let i = 0; i < entries.length; i++) {
        const [k, x] = entries[i] as [string, unknown];
        const y = this.value(x, k);
        if (out === undefined && y !== x) {
          out = {};
          for (let j = 0; j < i; j++) out[(entries[j] as [string, unknown])[0]] = (entries[j] as [string, unknown])[1];
        }
        if (out !== undefined) out[k] = y;
      }
      return out ?? v;
    }
    return v;
  }

  /** A line-wise transform for streaming log files through the same rules. */
  lines(): Transform {
    let rest = '';
    const redact = this.stream();
    return new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        const text = rest + chunk.toString('utf8');
        const cut = text.lastIndexOf('\n');
        if (cut < 0) {
          rest = text;
          // a line longer than 1 MiB is passed on in pieces rather than held
          if (rest.length > 1 << 20) {
            cb(null, redact(rest));
            rest = '';
            return;
          }
          cb();
          return;
        }
        rest = text.slice(cut + 1);
        cb(null, redact(text.slice(0, cut + 1)));
      },
      flush(cb: TransformCallback) {
        cb(null, rest ? redact(rest) : undefined);
      },
    });
  }
}

function skipSpaces(s: string, from: number): number {
  let q = from;
  while (q < s.length && q < from + SPACE_REACH && isSpace(s.charCodeAt(q))) q++;
  return q;
}

function cutRuns(p: Pass, from: number, to: number): void {
  const s = p.s;
  let i = from;
  while (i < to) {
    while (i < to && !isB64(s.charCodeAt(i))) i++;
    const r0 = i;
    while (i < to && isB64(s.charCodeAt(i))) i++;
    if (i - r0 >= 16) p.cut(r0, i);
  }
}

/** The operator's patterns as one alternation on the linear-time engine; a pattern it cannot run is a located config error. */
export function compilePatterns(patterns: readonly string[], path: string): RegExp | undefined {
  if (patterns.length === 0) return undefined;
  patterns.forEach((src, i) => {
    try {
      linearRegExp(src);
    } catch (e) {
      const message = `not usable as a redaction pattern: ${(e as Error).message}`;
      throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `${path}[${i}]: ${message}`, { problems: [{ path: `${path}.${i}`, message: `${message}: ${src}` }] });
    }
  });
  return linearRegExp(patterns.map((src) => `(?:${src})`).join('|'));
}
