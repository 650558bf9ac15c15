import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { REDACTED, Redactor, compilePatterns, daemonRedactor, isSecretName, literalsFromEnv, secretLiterals } from './index.js';

const CANARY = 'CANARY-7f3a9c1e5b';
const WOS = `wos_${'Ab3_'.repeat(10)}xY9`;
const PEM_BODY = ['MIIEvQIBADANBgkqhkiG9w0BAQEFAASCBKcwggSjAgEAAoIBAQC7', 'VJTUt9Us8cKjMzEfYyjiWA4R4/M2bS1GB4t7NXp98C3SC6dVMvDu'];
const PEM = `-----BEGIN PRIVATE KEY-----\n${PEM_BODY.join('\n')}\n-----END PRIVATE KEY-----`;

/** Each shape with the secret part that must never survive. */
const SHAPES: { text: string; secret: string }[] = [
  { text: 'DB_PASSWORD=hunter2-db-pass', secret: 'hunter2-db-pass' },
  { text: 'GITHUB_TOKEN=ghp_16C7e42F292c6912E7710c838347Ae178B4a', secret: 'ghp_16C7e42F292c6912E7710c838347Ae178B4a' },
  { text: `token ${WOS}`, secret: WOS },
  { text: 'Authorization: Basic dXNlcjpwYXNzd29yZA==', secret: 'dXNlcjpwYXNzd29yZA==' },
  { text: 'Authorization: Bearer abc.DEF-123_456', secret: 'abc.DEF-123_456' },
  { text: 'curl https://admin:pa55w0rd-url@example.com/x', secret: 'pa55w0rd-url' },
  { text: 'jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV', secret: 'SflKxwRJSMeKKF2QT4fwpMeJf36POk6yJV' },
  { text: PEM, secret: PEM_BODY[0] as string },
  { text: `the value ${CANARY} leaked`, secret: CANARY },
];

describe('the redactor', () => {
  const r = new Redactor({ literals: [CANARY] });

  it('masks every built-in shape and known literal, and leaves ordinary text alone', () => {
    for (const s of SHAPES) expect(r.text(s.text), s.text).not.toContain(s.secret);
    expect(r.text('https://user:pa55word@host/x')).toBe(`https://user:${REDACTED}@host/x`);
    expect(r.text('DB_PASSWORD=x1y2z3 next')).toBe(`DB_PASSWORD=${REDACTED} next`);
    expect(r.text('{"password": "two words", "api_key":"k-123456"}')).toBe(`{"password": "${REDACTED}", "api_key":"${REDACTED}"}`);
    expect(r.text(PEM)).toBe(`-----BEGIN PRIVATE KEY-----\n${REDACTED}\n${REDACTED}\n-----END PRIVATE KEY-----`);
    for (const plain of ['cpu load 0.5 at 12:00:01, service=pump', 'UPLINK_TOKEN_FILE=/etc/x', 'Basic authentication failed', 'Token refreshed', 'key=value monkey=1', 'see https://example.com:8443/a']) {
      expect(r.text(plain)).toBe(plain);
    }
  });

  it('masks secret-named keys of values, sharing what did not change', () => {
    expect(r.value({ uplink: { token: 'x', url: 'https://a:b-secret@h' }, nested: [{ password: 1 }], redact: ['a.b'] })).toEqual({
      uplink: { token: REDACTED, url: `https://a:${REDACTED}@h` },
      nested: [{ password: REDACTED }],
      redact: ['a.b'],
    });
    const plain = { a: [1, 'two'], b: { c: 'd' } };
    expect(r.value(plain)).toBe(plain);
    // a change after unchanged members: those are kept, in order, and shared
    const later = { a: 1, b: { c: 'd' }, token: 'x', z: [1, { e: 2 }, 'https://u:p-secret@h', 4] };
    const out = r.value(later) as typeof later;
    expect(out).toEqual({ a: 1, b: { c: 'd' }, token: REDACTED, z: [1, { e: 2 }, `https://u:${REDACTED}@h`, 4] });
    expect(Object.keys(out)).toEqual(['a', 'b', 'token', 'z']);
    expect(out.b).toBe(later.b);
    expect(out.z[1]).toBe(later.z[1]);
    expect(later.token).toBe('x');
    expect(isSecretName('WAVEOS_UPLINK_TOKEN')).toBe(true);
    expect(isSecretName('WAVEOS_TOKEN_FILE')).toBe(false);
    expect(isSecretName('keep_runs')).toBe(false);
    // a service's secrets_env names secrets, it does not hold them
    expect(secretLiterals({ services: [{ env: { API_TOKEN: 'tok-123456' }, secrets_env: { DB_PASSWORD: 'db_password' } }] })).toEqual(['tok-123456']);
  });

  it('carries an open PEM block from one chunk of a stream to the next', () => {
    const redact = r.stream();
    const out = [redact('t0 stdout -----BEGIN RSA PRIVATE KEY-----\n'), redact(`t1 stdout ${PEM_BODY[0]}\n`), redact('t2 stdout -----END RSA PRIVATE KEY-----\nt3 stdout after\n')].join('');
    expect(out).not.toContain(PEM_BODY[0]);
    expect(out).toContain('t3 stdout after');
  });

  it('applies the operator patterns on the linear-time engine, and refuses one it cannot run, located', () => {
    const d = daemonRedactor({ secrets: ['declared-secret-1'], env: { DB_PASSWORD: 'from-env-password', HOME: '/home/x' }, config: {}, patterns: ['sk_[a-z]+'] });
    expect(d.text('a sk_live b declared-secret-1 c from-env-password /home/x')).toBe(`a ${REDACTED} b ${REDACTED} c ${REDACTED} /home/x`);
    expect(() => compilePatterns(['ok', '(a)\\1'], 'spooler.redact')).toThrow(/spooler\.redact\[1\].*linear time/);
    // (a+)+b backtracks exponentially on V8's usual engine; on the linear one it is harmless
    expect(new Redactor({ patterns: ['(a+)+b'] }).text(`${'a'.repeat(5_000)}c`)).toBe(`${'a'.repeat(5_000)}c`);
  });
});

describe('redaction properties', () => {
  const secret = fc.constantFrom(...SHAPES);
  // surrounding text that cannot itself complete a shape's secret: printable ASCII and newlines
  const around = fc.string({ unit: fc.constantFrom(...' \n\tabcxyzABC019=:/@._-"\',;{}'.split('')), maxLength: 60 });

  it('never lets a planted secret through, whatever text surrounds it', () => {
    const r = new Redactor({ literals: [CANARY] });
    fc.assert(
      fc.property(around, secret, around, (before, s, after) => {
        // a separator keeps the surrounding text from becoming part of the shape's own name or value
        expect(r.text(`${before} ${s.text}\n${after}`)).not.toContain(s.secret);
      }),
      { numRuns: 500 },
    );
  });

  it('redacts a declared secret inside a private key block, ended or not', () => {
    const r = new Redactor({ literals: [CANARY] });
    const ended = `-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAxyz0123456789abcdef ${CANARY} tail\n-----END RSA PRIVATE KEY-----\nafter ${CANARY}`;
    expect(r.text(ended)).toBe(`-----BEGIN RSA PRIVATE KEY-----\n${REDACTED} ${REDACTED} tail\n-----END RSA PRIVATE KEY-----\nafter ${REDACTED}`);
    // A header with no END line: the lines after it are a key body for the redactor, and the secret still goes.
    expect(r.text(`-----BEGIN PRIVATE KEY-----\n ${CANARY}\nx`)).toBe(`-----BEGIN PRIVATE KEY-----\n ${REDACTED}\nx`);
  });

  // How the time grows with these shapes is measured in `npm run bench -- redaction`, not asserted here.
  it('redacts adversarial shapes of 160,000 characters in one piece, and a secret planted at their end', () => {
    const r = new Redactor({ literals: [CANARY, 'another-secret'], patterns: ['sk_[a-z]+', '(x+)+y'] });
    const adversarial = [' ', 'a=', 'password=', '://', 'http://a:', 'Bearer ', 'Basic ', 'wos_', 'wos_a', 'eyJ', 'eyJaaaaaaaa.', 'token', 'DB_PASSWORD', '"key": "', '-----BEGIN PRIVATE KEY-----\n', 'CANARY-7f3a9c1e5', 'x'];
    for (const unit of adversarial) {
      const text = `${unit.repeat(Math.ceil(160_000 / unit.length))} ${CANARY}\nsk_live tail`;
      const out = r.text(text);
      expect(out, JSON.stringify(unit)).not.toContain(CANARY);
      expect(out, JSON.stringify(unit)).not.toMatch(/sk_live/);
    }
  });
});

describe('secrets from the environment', () => {
  it('takes secret-named variables, never the working directory the shell sets in PWD and OLDPWD', () => {
    const env = { PWD: '/opt/waveos/current', OLDPWD: '/home/operator', DB_PASSWORD: 'hunter2-db-pass', HOME: '/root' };
    expect(literalsFromEnv(env)).toEqual(['hunter2-db-pass']);
    const r = new Redactor({ literals: literalsFromEnv(env) });
    expect(r.text('wrote /opt/waveos/current/x; pass hunter2-db-pass')).toBe(`wrote /opt/waveos/current/x; pass ${REDACTED}`);
  });
});
