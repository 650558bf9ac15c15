import { Transform, type TransformCallback } from 'node:stream';

export const REDACTED = '[REDACTED]';

/** Key names whose values are secrets wherever they appear: config keys, env names, `k=v` in logs. */
const SECRET_NAME =
  /(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|signing[_-]?key|credential|authorization|cookie|session[_-]?id|bearer|client[_-]?secret)$/i;
/** Also inside a longer name: `UPLINK_TOKEN_FILE` is not a secret, `UPLINK_TOKEN` is. */
const SECRET_PART = /(^|[_.-])(pass(word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?)([_.-]|$)/i;

export function isSecretName(name: string): boolean {
  if (/_(file|path|dir|ttl|len|length|expiry|expires)$/i.test(name)) return false;
  return SECRET_NAME.test(name) || SECRET_PART.test(name);
}

/** Literal values known to be secret (env values, config values under secret keys), longest first. */
export class Redactor {
  private readonly literals: string[];
  private readonly patterns: { re: RegExp; to: string }[] = [
    { re: /\b(Bearer|Basic)\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{6,}/g, to: `$1 ${REDACTED}` },
    // key=value, key: value, "key": "value" where the key names a secret
    {
      re: /((?:[A-Za-z0-9]+[_.-])*(?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|authorization|cookie|client[_-]?secret)"?\s*[:=]\s*"?)(?!\[REDACTED\])([^\s"',;&}]+)/gi,
      to: `$1${REDACTED}`,
    },
    { re: /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, to: `$1${REDACTED}@` },
    { re: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, to: REDACTED },
    { re: /-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(-----END [A-Z ]*PRIVATE KEY-----)?/g, to: REDACTED },
  ];

  constructor(literals: Iterable<string> = []) {
    this.literals = [...new Set([...literals].filter((s) => s.length >= 6))].sort((a, b) => b.length - a.length);
  }

  /** Secret literals from an environment: values of variables whose names mark them as secrets. */
  static literalsFromEnv(env: NodeJS.ProcessEnv): string[] {
    return Object.entries(env)
      .filter(([k, v]) => v !== undefined && isSecretName(k))
      .map(([, v]) => v as string);
  }

  text(s: string): string {
    let out = s;
    for (const lit of this.literals) if (out.includes(lit)) out = out.split(lit).join(REDACTED);
    for (const p of this.patterns) out = out.replace(p.re, p.to);
    return out;
  }

  /** A deep copy with secret-named keys masked and every string passed through `text`. */
  value(v: unknown, key?: string): unknown {
    if (key !== undefined && isSecretName(key) && v !== null && v !== undefined && typeof v !== 'boolean') return REDACTED;
    if (typeof v === 'string') return this.text(v);
    if (Array.isArray(v)) return v.map((x) => this.value(x));
    if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, this.value(x, k)]));
    return v;
  }

  /** A line-wise transform for streaming log files through the same rules. */
  lines(): Transform {
    let rest = '';
    // eslint-disable-next-line @typescript-eslint/no-this-alias -- the transform's callbacks have their own `this`
    const self = this;
    return new Transform({
      transform(chunk: Buffer, _enc, cb: TransformCallback) {
        const text = rest + chunk.toString('utf8');
        const cut = text.lastIndexOf('\n');
        if (cut < 0) {
          rest = text;
          // a line longer than 1 MiB is passed on in pieces rather than held
          if (rest.length > 1 << 20) {
            cb(null, self.text(rest));
            rest = '';
            return;
          }
          cb();
          return;
        }
        rest = text.slice(cut + 1);
        cb(null, self.text(text.slice(0, cut + 1)));
      },
      flush(cb: TransformCallback) {
        cb(null, rest ? self.text(rest) : undefined);
      },
    });
  }
}

/** Collects the values under secret-named keys of a config-like object. */
export function secretLiterals(v: unknown, key?: string, out: string[] = []): string[] {
  if (key !== undefined && isSecretName(key) && (typeof v === 'string' || typeof v === 'number')) out.push(String(v));
  else if (Array.isArray(v)) for (const x of v) secretLiterals(x, undefined, out);
  else if (v && typeof v === 'object') for (const [k, x] of Object.entries(v)) secretLiterals(x, k, out);
  return out;
}
