import { WaveosError } from '../core/index.js';

export const REDACTED = '[redacted]';

/** Compiles the configured patterns once into one case-insensitive alternation. */
export function compileRedaction(patterns: readonly string[]): ((line: string) => string) | undefined {
  if (patterns.length === 0) return undefined;
  const parts: string[] = [];
  patterns.forEach((p, i) => {
    try {
      new RegExp(p, 'i');
    } catch (e) {
      throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `spooler.redact[${i}]: not a valid regular expression: ${(e as Error).message}`, {
        problems: [{ path: `spooler.redact.${i}`, message: `not a valid regular expression: ${p}` }],
      });
    }
    parts.push(`(?:${p})`);
  });
  const re = new RegExp(parts.join('|'), 'gi');
  return (line) => {
    re.lastIndex = 0;
    return re.test(line) ? line.replace(re, REDACTED) : line;
  };
}
