import type { TelemetryCollector } from '../config/index.js';
import type { MetricDef } from './registry.js';

const g = (name: string, unit: string, labelNames: string[], help: string): MetricDef => ({ name, type: 'gauge', unit, labelNames, help });
const c = (name: string, unit: string, labelNames: string[], help: string): MetricDef => ({ name, type: 'counter', unit, labelNames, help });

/** Every metric WaveOS itself exports (docs/telemetry.md lists the same). Prometheus adds `waveos_`. */
export const METRICS = {
  cpu_usage_ratio: g('cpu_usage_ratio', 'ratio', ['cpu'], 'share of time the CPU was not idle over the last interval (cpu="total" or a core number)'),
  cpu_iowait_ratio: g('cpu_iowait_ratio', 'ratio', ['cpu'], 'share of time the CPU waited for I/O over the last interval'),
  load_average: g('load_average', 'load', ['period'], 'run-queue load average over 1m, 5m, 15m'),
  memory_total_bytes: g('memory_total_bytes', 'bytes', [], 'physical memory'),
  memory_available_bytes: g('memory_available_bytes', 'bytes', [], 'memory available for new work without swapping (MemAvailable)'),
  memory_used_ratio: g('memory_used_ratio', 'ratio', [], '1 - available/total'),
  swap_total_bytes: g('swap_total_bytes', 'bytes', [], 'swap space'),
  swap_free_bytes: g('swap_free_bytes', 'bytes', [], 'unused swap space'),
  pressure_avg10_ratio: g('pressure_avg10_ratio', 'ratio', ['resource', 'kind'], 'pressure stall information: share of the last 10 s tasks stalled on the resource'),
  pressure_stall_seconds_total: c('pressure_stall_seconds_total', 'seconds', ['resource', 'kind'], 'pressure stall information: total stall time'),
  daemon_rss_bytes: g('daemon_rss_bytes', 'bytes', [], 'resident memory of the WaveOS daemon'),
  daemon_heap_used_bytes: g('daemon_heap_used_bytes', 'bytes', [], 'V8 heap in use'),
  daemon_heap_total_bytes: g('daemon_heap_total_bytes', 'bytes', [], 'V8 heap reserved'),
  daemon_event_loop_lag_seconds: g('daemon_event_loop_lag_seconds', 'seconds', ['quantile'], 'event-loop delay over the last interval, p50 and p99'),
  daemon_open_fds: g('daemon_open_fds', 'count', [], 'open file descriptors of the daemon'),
  daemon_gc_seconds_total: c('daemon_gc_seconds_total', 'seconds', [], 'time spent in garbage collection'),
  daemon_heap_gc_forced_total: c('daemon_heap_gc_forced_total', 'count', [], 'full GCs the heap keeper forced while the daemon was quiet'),
  daemon_heap_gc_forced_freed_bytes_total: c('daemon_heap_gc_forced_freed_bytes_total', 'bytes', [], 'V8 heap the forced GCs freed'),
  daemon_cpu_seconds_total: c('daemon_cpu_seconds_total', 'seconds', [], 'CPU time (user + system) of the daemon process'),
  service_up: g('service_up', 'bool', ['service'], '1 when the service state is running, else 0'),
  service_restarts_total: c('service_restarts_total', 'count', ['service'], 'restarts of the service since WaveOS started'),
  service_uptime_seconds: g('service_uptime_seconds', 'seconds', ['service'], 'time since the service last started'),
  service_last_exit_code: g('service_last_exit_code', 'code', ['service'], 'exit code of the last exit (128 + signal number for a signal; -1 none yet)'),
  service_rss_bytes: g('service_rss_bytes', 'bytes', ['service'], 'resident memory of the whole process group of the service'),
  service_cpu_ratio: g('service_cpu_ratio', 'ratio', ['service'], 'CPU used by the process group over the last interval, in cores (1 = one core busy)'),
  service_cpu_seconds_total: c('service_cpu_seconds_total', 'seconds', ['service'], 'CPU time of the process group seen since WaveOS started watching it'),
  service_processes: g('service_processes', 'count', ['service'], 'processes in the service process group'),
  service_open_fds: g('service_open_fds', 'count', ['service'], 'open file descriptors of the process group (only where WaveOS may read /proc/<pid>/fd)'),
  spool_bytes: g('spool_bytes', 'bytes', ['source'], 'bytes a log source holds in the spool (current file and rotated segments)'),
  filesystem_size_bytes: g('filesystem_size_bytes', 'bytes', ['volume', 'path'], 'size of the filesystem holding WaveOS state or logs'),
  filesystem_free_bytes: g('filesystem_free_bytes', 'bytes', ['volume', 'path'], 'space available to WaveOS on that filesystem'),
  filesystem_used_ratio: g('filesystem_used_ratio', 'ratio', ['volume', 'path'], '1 - available/size'),
  disk_reads_total: c('disk_reads_total', 'count', ['device'], 'completed reads (/proc/diskstats)'),
  disk_writes_total: c('disk_writes_total', 'count', ['device'], 'completed writes'),
  disk_read_bytes_total: c('disk_read_bytes_total', 'bytes', ['device'], 'bytes read'),
  disk_written_bytes_total: c('disk_written_bytes_total', 'bytes', ['device'], 'bytes written'),
  disk_io_seconds_total: c('disk_io_seconds_total', 'seconds', ['device'], 'time the device was busy with I/O'),
  net_receive_bytes_total: c('net_receive_bytes_total', 'bytes', ['interface'], 'bytes received (wraparound handled)'),
  net_transmit_bytes_total: c('net_transmit_bytes_total', 'bytes', ['interface'], 'bytes sent'),
  net_receive_packets_total: c('net_receive_packets_total', 'count', ['interface'], 'packets received'),
  net_transmit_packets_total: c('net_transmit_packets_total', 'count', ['interface'], 'packets sent'),
  net_receive_errors_total: c('net_receive_errors_total', 'count', ['interface'], 'receive errors'),
  net_transmit_errors_total: c('net_transmit_errors_total', 'count', ['interface'], 'transmit errors'),
  net_receive_drops_total: c('net_receive_drops_total', 'count', ['interface'], 'received packets dropped'),
  net_transmit_drops_total: c('net_transmit_drops_total', 'count', ['interface'], 'packets dropped on send'),
  net_up: g('net_up', 'bool', ['interface'], '1 when operstate is up, 0 otherwise'),
  temperature_celsius: g('temperature_celsius', 'celsius', ['sensor'], 'thermal zone or hwmon temperature'),
  gpu_utilization_ratio: g('gpu_utilization_ratio', 'ratio', ['gpu'], 'GPU utilization (nvidia-smi)'),
  gpu_memory_used_bytes: g('gpu_memory_used_bytes', 'bytes', ['gpu'], 'GPU memory in use'),
  gpu_memory_total_bytes: g('gpu_memory_total_bytes', 'bytes', ['gpu'], 'GPU memory'),
  gpu_temperature_celsius: g('gpu_temperature_celsius', 'celsius', ['gpu'], 'GPU temperature'),
  queue_depth: g('queue_depth', 'count', ['queue'], 'items waiting in a bounded queue inside WaveOS'),
  events_per_minute: g('events_per_minute', 'per_minute', ['severity'], 'journal events of this severity in the last 60 s'),
  events_total: c('events_total', 'count', ['severity'], 'journal events of this severity since the daemon started'),
  health_score: g('health_score', 'points', [], 'device health score, 0-100 (docs/telemetry.md has the formula)'),
  health_deduction_points: g('health_deduction_points', 'points', ['input'], 'points the health score loses to one input'),
  telemetry_collector_up: g('telemetry_collector_up', 'bool', ['collector'], '1 while the collector works, 0 while it fails'),
  telemetry_collector_errors_total: c('telemetry_collector_errors_total', 'count', ['collector'], 'failed collector runs (errors and timeouts)'),
  telemetry_collector_duration_seconds: {
    name: 'telemetry_collector_duration_seconds',
    type: 'histogram',
    unit: 'seconds',
    labelNames: ['collector'],
    help: 'time one collector run took',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5],
  } satisfies MetricDef,
  telemetry_series: g('telemetry_series', 'count', [], 'series held by the metrics registry'),
} as const;

export type MetricName = keyof typeof METRICS;

/**
 * The collector that produces each metric, so a policy naming a metric can be told when nothing would ever
 * sample it; `always` for the daemon's own figures that run whatever the config says.
 */
export const METRIC_COLLECTOR: Readonly<Record<MetricName, TelemetryCollector | 'gpu' | 'always'>> = Object.fromEntries(
  Object.keys(METRICS).map((name) => [name, collectorOf(name)]),
) as Record<MetricName, TelemetryCollector | 'gpu' | 'always'>;

function collectorOf(name: string): TelemetryCollector | 'gpu' | 'always' {
  const prefixes: [RegExp, TelemetryCollector | 'gpu' | 'always'][] = [
    [/^cpu_/, 'cpu'],
    [/^load_/, 'load'],
    [/^(memory|swap)_/, 'memory'],
    [/^pressure_/, 'pressure'],
    [/^daemon_/, 'self'],
    [/^service_/, 'services'],
    [/^filesystem_/, 'filesystem'],
    [/^disk_/, 'diskstats'],
    [/^net_/, 'net'],
    [/^temperature_/, 'temperature'],
    [/^gpu_/, 'gpu'],
    [/^queue_/, 'queues'],
    [/^spool_/, 'spool'],
    [/^events_/, 'events'],
    [/^health_/, 'health'],
  ];
  return prefixes.find(([re]) => re.test(name))?.[1] ?? 'always';
}
