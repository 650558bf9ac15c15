import type { BudgetResource } from './schema.js';

/** Where each budget resource is read from (the telemetry contract) and which label names the service. */
export const BUDGET_METRICS: Readonly<Record<BudgetResource, { metric: string; label: string; unit: string }>> = {
  rss: { metric: 'service_rss_bytes', label: 'service', unit: 'bytes' },
  cpu_share: { metric: 'service_cpu_ratio', label: 'service', unit: 'ratio' },
  open_files: { metric: 'service_open_fds', label: 'service', unit: 'files' },
  spool_bytes: { metric: 'spool_bytes', label: 'source', unit: 'bytes' },
};
