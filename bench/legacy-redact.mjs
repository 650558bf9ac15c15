// The redaction WaveOS had before the one linear-time redactor, kept only as the bench's baseline: the
// spooler's built-in patterns compiled into one case-insensitive alternation (with lookbehinds), and the
// evidence packs' regex chain. Never used by the daemon.
const DEFAULT_SPOOL_REDACT = [
  String.raw`(?<=\b(?:password|passwd|pwd|token|secret|api[_-]?key|access[_-]?key|private[_-]?key|auth)["']?\s*[:=]\s*["']?)[^\s"',;&]+`,
  String.raw`(?<=\bBearer\s+)[A-Za-z0-9._~+/=-]+`,
  String.raw`-----BEGIN [A-Z ]*PRIVATE KEY-----`,
];

export function legacySpoolRedact() {
  const re = new RegExp(DEFAULT_SPOOL_REDACT.map((p) => `(?:${p})`).join('|'), 'gi');
  return (line) => {
    re.lastIndex = 0;
    return re.test(line) ? line.replace(re, '[redacted]') : line;
  };
}

export function legacyPackRedact(literals) {
  const lits = [...new Set(literals.filter((s) => s.length >= 6))].sort((a, b) => b.length - a.length);
  const patterns = [
    { re: /\b(Bearer|Basic)\s+(?!\[REDACTED\])[A-Za-z0-9._~+/=-]{6,}/g, to: '$1 [REDACTED]' },
    {
      re: /((?:[A-Za-z0-9]+[_.-])*(?:pass(?:word|wd|phrase)?|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|credentials?|authorization|cookie|client[_-]?secret)"?\s*[:=]\s*"?)(?!\[REDACTED\])([^\s"',;&}]+)/gi,
      to: '$1[REDACTED]',
    },
    { re: /(\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:)[^\s@/]+@/gi, to: '$1[REDACTED]@' },
    { re: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g, to: '[REDACTED]' },
    { re: /-----BEGIN [A-Z ]*PRIVATE KEY-----[^-]*(-----END [A-Z ]*PRIVATE KEY-----)?/g, to: '[REDACTED]' },
  ];
  return (s) => {
    let out = s;
    for (const lit of lits) if (out.includes(lit)) out = out.split(lit).join('[REDACTED]');
    for (const p of patterns) out = out.replace(p.re, p.to);
    return out;
  };
}
