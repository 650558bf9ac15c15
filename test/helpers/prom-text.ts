/**
 * A strict parser of the Prometheus text exposition format (version 0.0.4): every line must be a
 * HELP, a TYPE, a blank line or a sample of the family declared by the TYPE before it; names, labels,
 * escapes and values must be well formed; histogram buckets must be cumulative and end in +Inf.
 * Throws with the line number on the first violation.
 */
export interface PromSample {
  name: string;
  labels: Record<string, string>;
  value: number;
}

export interface PromFamily {
  name: string;
  type: 'counter' | 'gauge' | 'histogram' | 'summary' | 'untyped';
  help: string;
  samples: PromSample[];
}

const NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

function parseValue(text: string, where: string): number {
  if (text === '+Inf') return Infinity;
  if (text === '-Inf') return -Infinity;
  if (text === 'NaN') return NaN;
  if (!/^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/.test(text)) throw new Error(`${where}: bad sample value "${text}"`);
  return Number(text);
}

function parseLabels(text: string, where: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    const eq = text.indexOf('=', i);
    if (eq < 0) throw new Error(`${where}: label without "="`);
    const name = text.slice(i, eq);
    if (!LABEL.test(name)) throw new Error(`${where}: bad label name "${name}"`);
    if (text[eq + 1] !== '"') throw new Error(`${where}: label value of ${name} is not quoted`);
    let j = eq + 2;
    let value = '';
    for (;;) {
      const c = text[j];
      if (c === undefined) throw new Error(`${where}: unterminated label value of ${name}`);
      if (c === '\\') {
        const n = text[j + 1];
        if (n === 'n') value += '\n';
        else if (n === '\\' || n === '"') value += n;
        else throw new Error(`${where}: bad escape \\${n ?? ''} in label ${name}`);
        j += 2;
        continue;
      }
      if (c === '"') break;
      value += c;
      j++;
    }
    if (name in out) throw new Error(`${where}: duplicate label ${name}`);
    out[name] = value;
    j++;
    if (j < text.length) {
      if (text[j] !== ',') throw new Error(`${where}: expected "," between labels`);
      j++;
    }
    i = j;
  }
  return out;
}

export function parsePromText(text: string): Map<string, PromFamily> {
  const families = new Map<string, PromFamily>();
  let current: PromFamily | undefined;
  if (text.length > 0 && !text.endsWith('\n')) throw new Error('exposition does not end with a newline');
  const lines = text.split('\n');
  lines.forEach((line, idx) => {
    const where = `line ${idx + 1}`;
    if (line === '') return;
    if (line.startsWith('# HELP ')) {
      const [, name = '', ...rest] = line.slice(2).split(' ');
      if (!NAME.test(name)) throw new Error(`${where}: bad metric name in HELP "${name}"`);
      if (families.has(name)) throw new Error(`${where}: second HELP for ${name}`);
      current = { name, type: 'untyped', help: rest.join(' '), samples: [] };
      families.set(name, current);
      return;
    }
    if (line.startsWith('# TYPE ')) {
      const [, name = '', type = ''] = line.slice(2).split(' ');
      if (!['counter', 'gauge', 'histogram', 'summary', 'untyped'].includes(type)) throw new Error(`${where}: bad TYPE "${type}"`);
      if (!current || current.name !== name) {
        if (families.has(name)) throw new Error(`${where}: TYPE for ${name} after its samples`);
        current = { name, type: 'untyped', help: '', samples: [] };
        families.set(name, current);
      }
      if (current.samples.length > 0) throw new Error(`${where}: TYPE for ${name} after its samples`);
      current.type = type as PromFamily['type'];
      return;
    }
    if (line.startsWith('#')) return;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)( -?\d+)?$/.exec(line);
    if (!m) throw new Error(`${where}: not a sample line: "${line}"`);
    const name = m[1] as string;
    if (!current) throw new Error(`${where}: sample ${name} before any HELP/TYPE`);
    const suffixOk =
      current.type === 'histogram'
        ? [`${current.name}_bucket`, `${current.name}_sum`, `${current.name}_count`].includes(name)
        : current.type === 'summary'
          ? [current.name, `${current.name}_sum`, `${current.name}_count`].includes(name)
          : name === current.name;
    if (!suffixOk) throw new Error(`${where}: sample ${name} does not belong to the family ${current.name} (${current.type})`);
    const labels = m[3] ? parseLabels(m[3], where) : {};
    const value = parseValue(m[4] as string, where);
    if (current.type === 'counter' && (value < 0 || Number.isNaN(value))) throw new Error(`${where}: counter ${name} is ${value}`);
    current.samples.push({ name, labels, value });
  });
  for (const f of families.values()) {
    if (f.type !== 'histogram') continue;
    const groups = new Map<string, PromSample[]>();
    for (const s of f.samples.filter((x) => x.name.endsWith('_bucket'))) {
      const { le, ...rest } = s.labels;
      if (le === undefined) throw new Error(`${f.name}: bucket without le`);
      const k = JSON.stringify(rest);
      groups.set(k, [...(groups.get(k) ?? []), s]);
    }
    for (const [k, buckets] of groups) {
      let prev = -Infinity;
      for (const b of buckets) {
        if (b.value < prev) throw new Error(`${f.name}${k}: buckets are not cumulative`);
        prev = b.value;
      }
      if (buckets[buckets.length - 1]?.labels.le !== '+Inf') throw new Error(`${f.name}${k}: last bucket is not +Inf`);
    }
  }
  return families;
}
