/**
 * A value in words for an axis or a legend, by the metric's unit: bytes in KiB/MiB/GiB, ratios in %,
 * seconds in ms/s/min/h. Self-contained on purpose: the report inlines its source into the page's script.
 */
export function formatValue(v: number | null | undefined, unit: string): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  const trim = (n: number): string => {
    const a = Math.abs(n);
    const s = a >= 100 ? n.toFixed(0) : a >= 10 ? n.toFixed(1) : a >= 1 ? n.toFixed(2) : n.toPrecision(2);
    return s.indexOf('.') >= 0 && s.indexOf('e') < 0 ? s.replace(/\.?0+$/, '') : s;
  };
  if (unit === 'bytes') {
    const names = ['B', 'KiB', 'MiB', 'GiB', 'TiB', 'PiB'];
    let n = v;
    let i = 0;
    while (Math.abs(n) >= 1024 && i < names.length - 1) {
      n /= 1024;
      i++;
    }
    return `${trim(n)} ${names[i]}`;
  }
  if (unit === 'ratio') return `${trim(v * 100)} %`;
  if (unit === 'seconds') {
    const a = Math.abs(v);
    if (a === 0) return '0 s';
    if (a < 1) return `${trim(v * 1000)} ms`;
    if (a < 120) return `${trim(v)} s`;
    if (a < 7200) return `${trim(v / 60)} min`;
    return `${trim(v / 3600)} h`;
  }
  if (Math.abs(v) >= 1e6) return `${trim(v / 1e6)} M`;
  if (Math.abs(v) >= 1e4) return `${trim(v / 1e3)} k`;
  return trim(v);
}
