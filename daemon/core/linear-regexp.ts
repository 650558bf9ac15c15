import { setFlagsFromString } from 'node:v8';

/**
 * Compiles an operator's pattern for V8's non-backtracking engine (the `l` flag), so that matching is linear
 * in the input whatever the pattern: `(a+)+b` cannot stall the daemon. On Node 20 the engine is behind a
 * V8 flag, switched on here the first time a pattern is compiled (the flag only lets `l` be used; other
 * regular expressions keep V8's usual engine). Node 20's engine supports neither lookaround, nor
 * backreferences, nor the `i` flag: such a pattern is refused with the reason, never run by the backtracker.
 */
let enabled = false;

export function linearRegExp(source: string, flags = 'g'): RegExp {
  const f = `${flags}l`;
  if (!enabled) {
    try {
      return new RegExp(source, f);
    } catch (e) {
      if (!/Invalid flags/i.test((e as Error).message)) throw explain(e);
      setFlagsFromString('--enable-experimental-regexp-engine');
      enabled = true;
    }
  }
  try {
    return new RegExp(source, f);
  } catch (e) {
    throw explain(e);
  }
}

function explain(e: unknown): Error {
  const m = (e as Error).message;
  if (/linear time/i.test(m)) {
    return new SyntaxError('cannot be matched in linear time: lookahead, lookbehind and backreferences are not allowed (and patterns are case-sensitive: write [Tt]oken)');
  }
  return new SyntaxError(m.replace(/^Invalid regular expression: /, ''));
}
