// A spooled line's envelope, on its own: `waveos logs --json` splits lines with it without loading the reader.

/** One spooled line split into its envelope: `<ISO time> <stream> <text>`. */
export interface SpoolLine {
  ts: string;
  stream: string;
  line: string;
}

export function parseSpoolLine(raw: string): SpoolLine {
  const a = raw.indexOf(' ');
  const b = a < 0 ? -1 : raw.indexOf(' ', a + 1);
  if (a < 0 || b < 0) return { ts: '', stream: '', line: raw };
  return { ts: raw.slice(0, a), stream: raw.slice(a + 1, b), line: raw.slice(b + 1) };
}
