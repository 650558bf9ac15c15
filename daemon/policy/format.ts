/** Numbers in reasons: sizes in binary units, ratios as percentages, everything else with up to 3 decimals. */
export function fmtValue(v: number, unit: string): string {
  if (!Number.isFinite(v)) return `${v}${unit ? ` ${unit}` : ''}`;
  if (unit === 'bytes' || unit === 'B') {
    const a = Math.abs(v);
    if (a >= 1024 ** 3) return `${round(v / 1024 ** 3)} GiB`;
    if (a >= 1024 ** 2) return `${round(v / 1024 ** 2)} MiB`;
    if (a >= 1024) return `${round(v / 1024)} KiB`;
    return `${v} bytes`;
  }
  if (unit === 'ratio') return `${round(v * 100)}%`;
  return unit ? `${round(v)} ${unit}` : String(round(v));
}

function round(v: number): number {
  return Math.round(v * 1000) / 1000;
}

export function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return String(ms);
  if (ms % 3_600_000 === 0 && ms >= 3_600_000) return `${ms / 3_600_000} h`;
  if (ms % 60_000 === 0 && ms >= 60_000) return `${ms / 60_000} min`;
  if (ms >= 1000) return `${round(ms / 1000)} s`;
  return `${ms} ms`;
}

export function fmtLabels(labels: Readonly<Record<string, string>>): string {
  const keys = Object.keys(labels).sort();
  return keys.length === 0 ? '' : `{${keys.map((k) => `${k}=${labels[k]}`).join(',')}}`;
}
