import type { MetricSample } from '../journal/index.js';

export const METRICS_CSV_HEADER = 'ts,metric,value,unit,labels\n';

function field(s: string): string {
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

/** Labels as `key=value;key=value`, sorted, so one series always prints alike. */
export function formatLabels(labels: Record<string, string>): string {
  return Object.keys(labels)
    .sort()
    .map((k) => `${k}=${labels[k]}`)
    .join(';');
}

/** The CSV quoting of one field, for writers that format rows of many samples themselves. */
export const csvField = field;

export function sampleRow(s: MetricSample): string {
  return `${new Date(s.ts_ms).toISOString()},${field(s.name)},${s.value},${field(s.unit)},${field(formatLabels(s.labels))}\n`;
}
