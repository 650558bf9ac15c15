/**
 * Pure parsers of the /proc and /sys text the collectors read. Each takes the file's text and returns
 * numbers; none touches the file system, so each is tested on recorded fixtures.
 */

export interface CpuTimes {
  /** `total` for the aggregate line, else the core number. */
  cpu: string;
  /** All jiffies of the line (user..steal; guest is already inside user). */
  total: number;
  /** idle + iowait. */
  idle: number;
  iowait: number;
}

/** `/proc/stat` cpu lines. Old kernels print only user/nice/system/idle; missing fields count as 0. */
export function parseProcStat(text: string): CpuTimes[] {
  const out: CpuTimes[] = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith('cpu')) continue;
    const parts = line.trim().split(/\s+/);
    const label = parts[0] as string;
    const f = parts.slice(1, 9).map((x) => Number(x) || 0);
    const [user = 0, nice = 0, system = 0, idle = 0, iowait = 0, irq = 0, softirq = 0, steal = 0] = f;
    out.push({
      cpu: label === 'cpu' ? 'total' : label.slice(3),
      total: user + nice + system + idle + iowait + irq + softirq + steal,
      idle: idle + iowait,
      iowait,
    });
  }
  return out;
}

/** Busy and iowait shares of the time between two samples of one cpu line; undefined if no time passed. */
export function cpuShares(prev: CpuTimes, cur: CpuTimes): { busy: number; iowait: number } | undefined {
  const dt = cur.total - prev.total;
  if (dt <= 0) return undefined;
  const didle = Math.max(0, cur.idle - prev.idle);
  const dio = Math.max(0, cur.iowait - prev.iowait);
  return { busy: clamp01(1 - didle / dt), iowait: clamp01(dio / dt) };
}

function clamp01(x: number): number {
  return x < 0 ? 0 : x > 1 ? 1 : x;
}

export interface MemInfo {
  total_bytes: number;
  available_bytes: number;
  free_bytes: number;
  swap_total_bytes: number;
  swap_free_bytes: number;
}

/** `/proc/meminfo` (kB). Kernels before 3.14 lack MemAvailable: estimated as free + buffers + cached. */
export function parseMeminfo(text: string): MemInfo {
  const kv = new Map<string, number>();
  for (const line of text.split('\n')) {
    const m = /^(\w+(?:\(\w+\))?):\s+(\d+)/.exec(line);
    if (m) kv.set(m[1] as string, Number(m[2]) * 1024);
  }
  const total = kv.get('MemTotal');
  if (total === undefined) throw new Error('/proc/meminfo has no MemTotal line');
  const free = kv.get('MemFree') ?? 0;
  const available = kv.get('MemAvailable') ?? free + (kv.get('Buffers') ?? 0) + (kv.get('Cached') ?? 0);
  return {
    total_bytes: total,
    available_bytes: available,
    free_bytes: free,
    swap_total_bytes: kv.get('SwapTotal') ?? 0,
    swap_free_bytes: kv.get('SwapFree') ?? 0,
  };
}

/** `/proc/loadavg`: the 1, 5 and 15 minute averages. */
export function parseLoadavg(text: string): { '1m': number; '5m': number; '15m': number } {
  const [a, b, c] = text.trim().split(/\s+/).map(Number);
  if (a === undefined || b === undefined || c === undefined || [a, b, c].some(Number.isNaN)) throw new Error(`unexpected /proc/loadavg: "${text.trim()}"`);
  return { '1m': a, '5m': b, '15m': c };
}

export interface PressureLine {
  kind: 'some' | 'full';
  avg10: number;
  avg60: number;
  avg300: number;
  /** Total stall time in microseconds. */
  total_us: number;
}

/** `/proc/pressure/<resource>`; older kernels print only the `some` line for cpu. */
export function parsePressure(text: string): PressureLine[] {
  const out: PressureLine[] = [];
  for (const line of text.split('\n')) {
    const m = /^(some|full)\s+avg10=([\d.]+)\s+avg60=([\d.]+)\s+avg300=([\d.]+)\s+total=(\d+)/.exec(line.trim());
    if (m) out.push({ kind: m[1] as 'some' | 'full', avg10: Number(m[2]), avg60: Number(m[3]), avg300: Number(m[4]), total_us: Number(m[5]) });
  }
  return out;
}

export interface NetDevCounters {
  iface: string;
  rx_bytes: number;
  rx_packets: number;
  rx_errs: number;
  rx_drop: number;
  tx_bytes: number;
  tx_packets: number;
  tx_errs: number;
  tx_drop: number;
}

/** `/proc/net/dev`: two header lines, then `iface: 8 receive fields, 8 transmit fields`. */
export function parseNetDev(text: string): NetDevCounters[] {
  const out: NetDevCounters[] = [];
  for (const line of text.split('\n')) {
    const colon = line.indexOf(':');
    if (colon < 0 || line.includes('|')) continue;
    const iface = line.slice(0, colon).trim();
    const f = line
      .slice(colon + 1)
      .trim()
      .split(/\s+/)
      .map(Number);
    if (!iface || f.length < 16 || f.some(Number.isNaN)) continue;
    const n = (i: number): number => f[i] as number;
    out.push({
      iface,
      rx_bytes: n(0),
      rx_packets: n(1),
      rx_errs: n(2),
      rx_drop: n(3),
      tx_bytes: n(8),
      tx_packets: n(9),
      tx_errs: n(10),
      tx_drop: n(11),
    });
  }
  return out;
}

export interface DiskStats {
  device: string;
  reads: number;
  read_bytes: number;
  writes: number;
  write_bytes: number;
  io_ms: number;
}

/** Devices that only add noise: loop and ram disks, and partitions (their disk already counts them). */
export function isInterestingDisk(device: string): boolean {
  if (/^(loop|ram|zram|fd|sr)\d+$/.test(device)) return false;
  if (/^(sd[a-z]+|vd[a-z]+|xvd[a-z]+|hd[a-z]+)\d+$/.test(device)) return false;
  if (/^(mmcblk\d+|nvme\d+n\d+)p\d+$/.test(device)) return false;
  return true;
}

/** `/proc/diskstats`: sectors are always 512 bytes there, whatever the device's block size. */
export function parseDiskstats(text: string): DiskStats[] {
  const out: DiskStats[] = [];
  for (const line of text.split('\n')) {
    const p = line.trim().split(/\s+/);
    if (p.length < 14) continue;
    const device = p[2] as string;
    const n = (i: number): number => Number(p[i]) || 0;
    out.push({ device, reads: n(3), read_bytes: n(5) * 512, writes: n(7), write_bytes: n(9) * 512, io_ms: n(12) });
  }
  return out;
}

export interface PidStat {
  pid: number;
  comm: string;
  state: string;
  ppid: number;
  pgrp: number;
  /** Clock ticks (USER_HZ). */
  utime: number;
  stime: number;
  starttime: number;
  rss_pages: number;
}

/** `/proc/<pid>/stat`. The command name may hold spaces and parentheses: split at the last `)`. */
export function parsePidStat(text: string): PidStat {
  const open = text.indexOf('(');
  const close = text.lastIndexOf(')');
  if (open < 0 || close < open) throw new Error(`unexpected /proc/<pid>/stat: "${text.slice(0, 80)}"`);
  const rest = text
    .slice(close + 2)
    .trim()
    .split(/\s+/);
  // rest[0] is field 3 (state); field N is rest[N - 3].
  const f = (n: number): number => Number(rest[n - 3]) || 0;
  return {
    pid: Number(text.slice(0, open).trim()),
    comm: text.slice(open + 1, close),
    state: rest[0] ?? '?',
    ppid: f(4),
    pgrp: f(5),
    utime: f(14),
    stime: f(15),
    starttime: f(22),
    rss_pages: f(24),
  };
}

/** VmRSS from `/proc/<pid>/status`, in bytes; 0 for kernel threads and zombies, which have none. */
export function parseStatusRss(text: string): number {
  const m = /^VmRSS:\s+(\d+)\s*kB/m.exec(text);
  return m ? Number(m[1]) * 1024 : 0;
}

export interface GpuSample {
  gpu: string;
  utilization_ratio: number;
  memory_used_bytes: number;
  memory_total_bytes: number;
  temperature_celsius: number;
}

/** `nvidia-smi --query-gpu=utilization.gpu,memory.used,memory.total,temperature.gpu --format=csv,noheader,nounits`. */
export function parseNvidiaSmi(text: string): GpuSample[] {
  const out: GpuSample[] = [];
  let i = 0;
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    const [util, used, total, temp] = line.split(',').map((s) => Number(s.trim()));
    if ([util, used, total, temp].some((x) => x === undefined || Number.isNaN(x))) throw new Error(`unexpected nvidia-smi line: "${line}"`);
    out.push({
      gpu: String(i++),
      utilization_ratio: (util as number) / 100,
      memory_used_bytes: (used as number) * 1024 * 1024,
      memory_total_bytes: (total as number) * 1024 * 1024,
      temperature_celsius: temp as number,
    });
  }
  return out;
}

/** A sysfs temperature in millidegrees Celsius. */
export function parseMilliCelsius(text: string): number {
  const v = Number(text.trim());
  if (!Number.isFinite(v)) throw new Error(`unexpected temperature "${text.trim()}"`);
  return v / 1000;
}
