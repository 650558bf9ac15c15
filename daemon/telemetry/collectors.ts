import { execFile } from 'node:child_process';
import { readFileSync, readdirSync, statSync, statfsSync } from 'node:fs';
import { join } from 'node:path';
import { type IntervalHistogram, PerformanceObserver, monitorEventLoopDelay } from 'node:perf_hooks';
import { getHeapStatistics } from 'node:v8';
import type { Clock } from '../core/index.js';
import { heapKeeperStats } from '../core/heap-keeper.js';
import type { EventInput } from '../journal/index.js';
import { MonotonicCounters } from './counters.js';
import { METRICS } from './metrics.js';
import {
  type CpuTimes,
  cpuShares,
  isInterestingDisk,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseMilliCelsius,
  parseNetDev,
  parseNvidiaSmi,
  parsePidStat,
  parsePressure,
  parseProcStat,
  parseStatusRss,
} from './parsers.js';
import type { ProcFiles } from './procfs.js';
import type { Labels, Registry } from './registry.js';

/** What the supervisor tells telemetry about each service (the `service list` shape). */
export interface ServiceInfo {
  name: string;
  pid: number | null;
  state: string;
  restarts: number;
  /** Restarts after a crash or a failed health check; when absent every restart counts as one. */
  failure_restarts?: number;
  uptime_s: number;
  last_exit: { code: number | null; signal: string | null } | null;
}

export interface CollectorEnv {
  registry: Registry;
  clock: Clock;
  emit(e: EventInput): void;
  /** `/proc` and `/sys`: tests point them at fixtures. */
  procDir: string;
  sysDir: string;
  /** Open descriptors of the files read every sample. */
  files: ProcFiles;
  /** Facts about this system worth a log line but not an event (nothing happened, nothing was done). */
  note(msg: string, data: Record<string, unknown>): void;
}

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux ABI WaveOS runs on). */
const USER_HZ = 100;

function read(path: string): string {
  return readFileSync(path, 'latin1');
}

function errno(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException | undefined)?.code;
}

/** Says once that a source does not exist on this system: not a failure, just nothing to sample. */
function unavailable(env: CollectorEnv, collector: string, what: string, error: string): void {
  env.note(`collector ${collector}: ${what} is not available on this system (${error}); it exports no series`, { collector, what, error });
}

export function cpuCollector(env: CollectorEnv): () => void {
  let prev = new Map<string, CpuTimes>();
  const labelCache = new Map<string, Labels>();
  return () => {
    const cur = parseProcStat(env.files.read(join(env.procDir, 'stat')));
    if (cur.length === 0) throw new Error(`${env.procDir}/stat has no cpu lines`);
    const next = new Map<string, CpuTimes>();
    for (const t of cur) {
      next.set(t.cpu, t);
      const p = prev.get(t.cpu);
      const s = p && cpuShares(p, t);
      if (s) {
        let l = labelCache.get(t.cpu);
        if (!l) labelCache.set(t.cpu, (l = Object.freeze({ cpu: t.cpu })));
        env.registry.set(METRICS.cpu_usage_ratio.name, l, s.busy);
        env.registry.set(METRICS.cpu_iowait_ratio.name, l, s.iowait);
      }
    }
    // A core taken offline stops being reported.
    for (const k of prev.keys()) {
      if (!next.has(k)) {
        env.registry.remove(METRICS.cpu_usage_ratio.name, { cpu: k });
        env.registry.remove(METRICS.cpu_iowait_ratio.name, { cpu: k });
      }
    }
    prev = next;
  };
}

const PERIODS = (['1m', '5m', '15m'] as const).map((name) => ({ name, labels: Object.freeze({ period: name }) }));

export function loadCollector(env: CollectorEnv): () => void {
  return () => {
    const l = parseLoadavg(env.files.read(join(env.procDir, 'loadavg')));
    for (const period of PERIODS) env.registry.set(METRICS.load_average.name, period.labels, l[period.name]);
  };
}

export function memoryCollector(env: CollectorEnv): () => void {
  return () => {
    const m = parseMeminfo(env.files.read(join(env.procDir, 'meminfo')));
    const r = env.registry;
    r.set(METRICS.memory_total_bytes.name, {}, m.total_bytes);
    r.set(METRICS.memory_available_bytes.name, {}, m.available_bytes);
    r.set(METRICS.memory_used_ratio.name, {}, m.total_bytes > 0 ? 1 - m.available_bytes / m.total_bytes : 0);
    r.set(METRICS.swap_total_bytes.name, {}, m.swap_total_bytes);
    r.set(METRICS.swap_free_bytes.name, {}, m.swap_free_bytes);
  };
}

/** PSI exists from Linux 4.20 with CONFIG_PSI, and can be off at boot (psi=0: reads fail with EOPNOTSUPP). */
export function pressureCollector(env: CollectorEnv): () => void {
  let resources: string[] | undefined;
  const labelCache = new Map<string, Labels>();
  return () => {
    if (resources === undefined) {
      resources = [];
      for (const res of ['cpu', 'memory', 'io']) {
        try {
          env.files.read(join(env.procDir, 'pressure', res));
          resources.push(res);
        } catch (e) {
          if (errno(e) !== 'ENOENT' && errno(e) !== 'EOPNOTSUPP') throw e;
        }
      }
      if (resources.length === 0) unavailable(env, 'pressure', `${env.procDir}/pressure`, 'no PSI in this kernel, or booted with psi=0');
    }
    for (const res of resources) {
      for (const p of parsePressure(env.files.read(join(env.procDir, 'pressure', res)))) {
        const k = `${res}/${p.kind}`;
        let l = labelCache.get(k);
        if (!l) labelCache.set(k, (l = Object.freeze({ resource: res, kind: p.kind })));
        env.registry.set(METRICS.pressure_avg10_ratio.name, l, p.avg10 / 100);
        env.registry.set(METRICS.pressure_stall_seconds_total.name, l, p.total_us / 1e6);
      }
    }
  };
}

const Q50 = Object.freeze({ quantile: '0.5' });
const Q99 = Object.freeze({ quantile: '0.99' });

/** The daemon's own health. Returns the sampler and a stop function for its observers. */
export function selfCollector(env: CollectorEnv, procDir: string, loopResolutionMs: number): { collect: () => void; stop: () => void } {
  // The histogram samples on a timer of its own: a coarser resolution wakes the process less often.
  const loop: IntervalHistogram = monitorEventLoopDelay({ resolution: loopResolutionMs });
  loop.enable();
  let gcMs = 0;
  const gc = new PerformanceObserver((list) => {
    for (const e of list.getEntries()) gcMs += e.duration;
  });
  gc.observe({ entryTypes: ['gc'] });
  return {
    collect: () => {
      const r = env.registry;
      // Cheaper than process.memoryUsage(), which also walks external and array-buffer memory.
      const heap = getHeapStatistics();
      r.set(METRICS.daemon_rss_bytes.name, {}, process.memoryUsage.rss());
      r.set(METRICS.daemon_heap_used_bytes.name, {}, heap.used_heap_size);
      r.set(METRICS.daemon_heap_total_bytes.name, {}, heap.total_heap_size);
      if (loop.count > 0) {
        // The histogram records the whole interval between its timer's runs: the lag is what exceeds the resolution.
        const lag = (q: number): number => Math.max(0, loop.percentile(q) - loopResolutionMs * 1e6) / 1e9;
        r.set(METRICS.daemon_event_loop_lag_seconds.name, Q50, lag(50));
        r.set(METRICS.daemon_event_loop_lag_seconds.name, Q99, lag(99));
      }
      loop.reset();
      // The directory listing holds one descriptor of its own while it is read.
      r.set(METRICS.daemon_open_fds.name, {}, Math.max(0, readdirSync(join(procDir, 'self/fd')).length - 1));
      r.set(METRICS.daemon_gc_seconds_total.name, {}, gcMs / 1000);
      const kept = heapKeeperStats();
      r.set(METRICS.daemon_heap_gc_forced_total.name, {}, kept.forced);
      r.set(METRICS.daemon_heap_gc_forced_freed_bytes_total.name, {}, kept.freed_bytes);
      const cpu = process.cpuUsage();
      r.set(METRICS.daemon_cpu_seconds_total.name, {}, (cpu.user + cpu.system) / 1e6);
    },
    stop: () => {
      loop.disable();
      gc.disconnect();
    },
  };
}

export interface FsVolume {
  volume: string;
  path: string;
}

/** Usage of the filesystems holding the given paths; two paths on one filesystem are reported once. */
export function filesystemCollector(env: CollectorEnv, volumes: readonly FsVolume[]): () => void {
  return () => {
    const seen = new Set<number>();
    const errors: string[] = [];
    for (const v of volumes) {
      try {
        const dev = statSync(v.path).dev;
        if (seen.has(dev)) continue;
        seen.add(dev);
        const s = statfsSync(v.path);
        const size = s.blocks * s.bsize;
        const free = s.bavail * s.bsize;
        const labels = { volume: v.volume, path: v.path };
        env.registry.set(METRICS.filesystem_size_bytes.name, labels, size);
        env.registry.set(METRICS.filesystem_free_bytes.name, labels, free);
        env.registry.set(METRICS.filesystem_used_ratio.name, labels, size > 0 ? 1 - free / size : 0);
      } catch (e) {
        errors.push(`${v.path}: ${errno(e) ?? String(e)}`);
      }
    }
    if (errors.length > 0) throw new Error(`statfs failed: ${errors.join(', ')}`);
  };
}

export function diskstatsCollector(env: CollectorEnv): () => void {
  const counters = new MonotonicCounters();
  const known = new Set<string>();
  const labelCache = new Map<string, Labels>();
  return () => {
    const r = env.registry;
    const now = new Set<string>();
    for (const d of parseDiskstats(env.files.read(join(env.procDir, 'diskstats')))) {
      if (!isInterestingDisk(d.device)) continue;
      now.add(d.device);
      let l = labelCache.get(d.device);
      if (!l) labelCache.set(d.device, (l = Object.freeze({ device: d.device })));
      r.set(METRICS.disk_reads_total.name, l, counters.update(`${d.device}/r`, d.reads));
      r.set(METRICS.disk_writes_total.name, l, counters.update(`${d.device}/w`, d.writes));
      r.set(METRICS.disk_read_bytes_total.name, l, counters.update(`${d.device}/rb`, d.read_bytes));
      r.set(METRICS.disk_written_bytes_total.name, l, counters.update(`${d.device}/wb`, d.write_bytes));
      r.set(METRICS.disk_io_seconds_total.name, l, counters.update(`${d.device}/io`, d.io_ms) / 1000);
    }
    for (const dev of known) {
      if (now.has(dev)) continue;
      for (const m of [METRICS.disk_reads_total, METRICS.disk_writes_total, METRICS.disk_read_bytes_total, METRICS.disk_written_bytes_total, METRICS.disk_io_seconds_total])
        r.remove(m.name, { device: dev });
      counters.retain((k) => !k.startsWith(`${dev}/`));
      labelCache.delete(dev);
    }
    known.clear();
    for (const d of now) known.add(d);
  };
}

const NET_FIELDS = [
  ['rx_bytes', METRICS.net_receive_bytes_total.name],
  ['tx_bytes', METRICS.net_transmit_bytes_total.name],
  ['rx_packets', METRICS.net_receive_packets_total.name],
  ['tx_packets', METRICS.net_transmit_packets_total.name],
  ['rx_errs', METRICS.net_receive_errors_total.name],
  ['tx_errs', METRICS.net_transmit_errors_total.name],
  ['rx_drop', METRICS.net_receive_drops_total.name],
  ['tx_drop', METRICS.net_transmit_drops_total.name],
] as const;

/**
 * operstate `up`; loopback and many virtual interfaces report `unknown` while they work, so for those
 * the administrative IFF_UP flag decides.
 */
function linkUp(env: CollectorEnv, iface: string): boolean {
  const dir = join(env.sysDir, 'class/net', iface);
  try {
    const state = env.files.read(join(dir, 'operstate')).trim();
    if (state !== 'unknown') return state === 'up';
    return (Number.parseInt(env.files.read(join(dir, 'flags')).trim(), 16) & 0x1) === 1;
  } catch {
    return false; // gone between the two reads, or no sysfs
  }
}

/** Per-interface counters with wraparound handled; interfaces that disappear drop their series. */
export function netCollector(env: CollectorEnv): () => void {
  const counters = new MonotonicCounters();
  const known = new Set<string>();
  // The same label object every time, so the registry finds the series by identity.
  const labelCache = new Map<string, Labels>();
  return () => {
    const r = env.registry;
    const now = new Set<string>();
    for (const d of parseNetDev(env.files.read(join(env.procDir, 'net/dev')))) {
      now.add(d.iface);
      let l = labelCache.get(d.iface);
      if (!l) labelCache.set(d.iface, (l = Object.freeze({ interface: d.iface })));
      for (const [field, metric] of NET_FIELDS) r.set(metric, l, counters.update(`${d.iface}/${field}`, d[field]));
      r.set(METRICS.net_up.name, l, linkUp(env, d.iface) ? 1 : 0);
    }
    for (const iface of known) {
      if (now.has(iface)) continue;
      for (const [, metric] of NET_FIELDS) r.remove(metric, { interface: iface });
      r.remove(METRICS.net_up.name, { interface: iface });
      counters.retain((k) => !k.startsWith(`${iface}/`));
      env.files.forgetUnder(join(env.sysDir, 'class/net', iface) + '/');
      labelCache.delete(iface);
    }
    known.clear();
    for (const i of now) known.add(i);
  };
}

interface TempSensor {
  sensor: string;
  file: string;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

function readTrim(file: string): string | undefined {
  try {
    return read(file).trim();
  } catch {
    return undefined;
  }
}

/** Finds thermal zones and hwmon temperature inputs; boards add and remove them rarely, so cached for a minute. */
export function discoverTemperatureSensors(sysDir: string): TempSensor[] {
  const out: TempSensor[] = [];
  const thermal = join(sysDir, 'class/thermal');
  for (const z of listDir(thermal).filter((n) => n.startsWith('thermal_zone')).sort()) {
    const type = readTrim(join(thermal, z, 'type')) ?? z;
    out.push({ sensor: `${type}/${z.slice('thermal_zone'.length)}`, file: join(thermal, z, 'temp') });
  }
  const hwmon = join(sysDir, 'class/hwmon');
  for (const h of listDir(hwmon).sort()) {
    const name = readTrim(join(hwmon, h, 'name')) ?? h;
    for (const f of listDir(join(hwmon, h))
      .filter((n) => /^temp\d+_input$/.test(n))
      .sort()) {
      const label = readTrim(join(hwmon, h, f.replace('_input', '_label'))) ?? f.replace('_input', '');
      out.push({ sensor: `${name}/${label}`, file: join(hwmon, h, f) });
    }
  }
  return out;
}

export function temperatureCollector(env: CollectorEnv): () => void {
  let sensors: TempSensor[] = [];
  let discoveredAt = -Infinity;
  let said = false;
  return () => {
    const now = env.clock.monoMs();
    if (now - discoveredAt >= 60_000) {
      const found = discoverTemperatureSensors(env.sysDir);
      for (const s of sensors) {
        if (found.some((f) => f.sensor === s.sensor)) continue;
        env.registry.remove(METRICS.temperature_celsius.name, { sensor: s.sensor });
        env.files.forget(s.file);
      }
      sensors = found;
      discoveredAt = now;
      if (sensors.length === 0 && !said) {
        said = true;
        unavailable(env, 'temperature', `${env.sysDir}/class/thermal and hwmon temperature inputs`, 'none found');
      }
    }
    for (const s of sensors) {
      let t: string | undefined;
      try {
        t = env.files.read(s.file).trim();
      } catch {
        t = undefined;
      }
      // A sensor that cannot be read right now (some report EAGAIN or ENODATA) is skipped this round.
      if (t === undefined) continue;
      env.registry.set(METRICS.temperature_celsius.name, { sensor: s.sensor }, parseMilliCelsius(t));
    }
  };
}

/** nvidia-smi is the one child process telemetry may start, and only when the config turns GPU sampling on. */
export function gpuCollector(env: CollectorEnv, command: string, timeoutMs: number): () => Promise<void> {
  let missing = false;
  return () =>
    new Promise<void>((resolve, reject) => {
      if (missing) return resolve();
      execFile(
        command,
        ['--query-gpu=utilization.gpu,memory.used,memory.total,temperature.gpu', '--format=csv,noheader,nounits'],
        { timeout: timeoutMs, encoding: 'utf8' },
        (err, stdout) => {
          if (err) {
            if (errno(err) === 'ENOENT') {
              missing = true;
              unavailable(env, 'gpu', command, 'command not found');
              return resolve();
            }
            return reject(err);
          }
          try {
            for (const gpu of parseNvidiaSmi(stdout)) {
              const l = { gpu: gpu.gpu };
              env.registry.set(METRICS.gpu_utilization_ratio.name, l, gpu.utilization_ratio);
              env.registry.set(METRICS.gpu_memory_used_bytes.name, l, gpu.memory_used_bytes);
              env.registry.set(METRICS.gpu_memory_total_bytes.name, l, gpu.memory_total_bytes);
              env.registry.set(METRICS.gpu_temperature_celsius.name, l, gpu.temperature_celsius);
            }
            resolve();
          } catch (e) {
            reject(e instanceof Error ? e : new Error(String(e)));
          }
        },
      );
    });
}

type GroupMember = { pid: number; ticks: number; rssBytes: number };

/** One process, if it is in one of the groups: its CPU ticks and RSS. */
function groupMember(procDir: string, pid: string, pgids: ReadonlySet<number>): (GroupMember & { pgrp: number }) | undefined {
  let st;
  let rss = 0;
  try {
    st = parsePidStat(read(join(procDir, pid, 'stat')));
    if (!pgids.has(st.pgrp)) return undefined;
    rss = parseStatusRss(read(join(procDir, pid, 'status')));
  } catch {
    return undefined; // exited while we looked
  }
  return { pid: st.pid, pgrp: st.pgrp, ticks: st.utime + st.stime, rssBytes: rss };
}

/** The members of the process groups `pgids`, found by scanning every /proc/<pid>/stat. */
export function processGroupMembers(procDir: string, pgids: ReadonlySet<number>): Map<number, GroupMember[]> {
  const out = new Map<number, GroupMember[]>();
  if (pgids.size === 0) return out;
  for (const name of listDir(procDir)) {
    const c = name.charCodeAt(0);
    if (c < 48 || c > 57) continue;
    const m = groupMember(procDir, name, pgids);
    if (!m) continue;
    const list = out.get(m.pgrp) ?? [];
    list.push({ pid: m.pid, ticks: m.ticks, rssBytes: m.rssBytes });
    out.set(m.pgrp, list);
  }
  return out;
}

/**
 * The members of the services' process groups, without reading every process's stat at every pass: that
 * scan was a third of an idle daemon's CPU. Between full scans (every `rescanEvery` passes, and whenever a
 * group is new) a pass reads only the members it knows and their children (`/proc/<pid>/task/<pid>/children`),
 * so a fork is seen at once; a member that joined otherwise (its parent exited before the pass) is seen at the
 * next full scan, and its CPU counts from then.
 */
export class GroupMembers {
  private known = new Map<number, number[]>();
  private passes = 0;

  constructor(
    private readonly procDir: string,
    private readonly rescanEvery = 10,
  ) {}

  members(pgids: ReadonlySet<number>): Map<number, GroupMember[]> {
    const full = this.passes++ % this.rescanEvery === 0 || [...pgids].some((g) => !this.known.has(g));
    const out = full ? processGroupMembers(this.procDir, pgids) : this.fromKnown(pgids);
    this.known = new Map([...pgids].map((g) => [g, (out.get(g) ?? []).map((m) => m.pid)]));
    return out;
  }

  private fromKnown(pgids: ReadonlySet<number>): Map<number, GroupMember[]> {
    const out = new Map<number, GroupMember[]>();
    for (const g of pgids) {
      const todo = [g, ...(this.known.get(g) ?? [])];
      const seen = new Set<number>();
      const list: GroupMember[] = [];
      while (todo.length > 0) {
        const pid = todo.pop() as number;
        if (seen.has(pid)) continue;
        seen.add(pid);
        const m = groupMember(this.procDir, String(pid), pgids);
        if (!m || m.pgrp !== g) continue;
        list.push({ pid: m.pid, ticks: m.ticks, rssBytes: m.rssBytes });
        for (const c of childrenOf(this.procDir, pid)) if (!seen.has(c)) todo.push(c);
      }
      if (list.length > 0) out.set(g, list.sort((a, b) => a.pid - b.pid));
    }
    return out;
  }
}

/** The children of a process's main thread; none where the kernel has no `children` file. */
function childrenOf(procDir: string, pid: number): number[] {
  let text;
  try {
    text = read(join(procDir, String(pid), 'task', String(pid), 'children'));
  } catch {
    return [];
  }
  const out: number[] = [];
  for (const w of text.split(' ')) if (w.length > 0) out.push(Number(w));
  return out;
}

const SIGNALS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGQUIT: 3, SIGABRT: 6, SIGKILL: 9, SIGSEGV: 11, SIGPIPE: 13, SIGALRM: 14, SIGTERM: 15 };

/** Task health per supervised service, with RSS and CPU of its whole process group. */
export function servicesCollector(env: CollectorEnv, services: () => ServiceInfo[]): () => void {
  // CPU seconds per service: a monotonic sum over the group's members, tracked per pid.
  const lastTicks = new Map<string, Map<number, number>>();
  const cpuTotal = new Map<string, number>();
  const lastAt = new Map<string, number>();
  let known = new Set<string>();
  const groupMembers = new GroupMembers(env.procDir);
  return () => {
    const r = env.registry;
    const list = services();
    const pgids = new Set(list.map((s) => s.pid).filter((p): p is number => p !== null && p > 0));
    const groups = groupMembers.members(pgids);
    const now = env.clock.monoMs();
    const seen = new Set<string>();
    for (const s of list) {
      seen.add(s.name);
      const l = { service: s.name };
      r.set(METRICS.service_up.name, l, s.state === 'running' ? 1 : 0);
      r.set(METRICS.service_restarts_total.name, l, s.restarts);
      r.set(METRICS.service_uptime_seconds.name, l, s.uptime_s);
      const exit = s.last_exit;
      r.set(METRICS.service_last_exit_code.name, l, exit === null ? -1 : (exit.code ?? (exit.signal ? 128 + (SIGNALS[exit.signal] ?? 0) : -1)));
      const members = s.pid ? (groups.get(s.pid) ?? []) : [];
      const prev = lastTicks.get(s.name) ?? new Map<number, number>();
      const next = new Map<number, number>();
      let dTicks = 0;
      let rss = 0;
      for (const m of members) {
        next.set(m.pid, m.ticks);
        const before = prev.get(m.pid);
        // A pid seen for the first time counts from now: its earlier CPU was not spent while we watched.
        if (before !== undefined && m.ticks >= before) dTicks += m.ticks - before;
        rss += m.rssBytes;
      }
      lastTicks.set(s.name, next);
      const total = (cpuTotal.get(s.name) ?? 0) + dTicks / USER_HZ;
      cpuTotal.set(s.name, total);
      const since = lastAt.get(s.name);
      lastAt.set(s.name, now);
      r.set(METRICS.service_rss_bytes.name, l, rss);
      r.set(METRICS.service_processes.name, l, members.length);
      const fds = openFds(env.procDir, members);
      if (fds === undefined) r.remove(METRICS.service_open_fds.name, l);
      else r.set(METRICS.service_open_fds.name, l, fds);
      r.set(METRICS.service_cpu_seconds_total.name, l, total);
      if (since !== undefined && now > since) r.set(METRICS.service_cpu_ratio.name, l, dTicks / USER_HZ / ((now - since) / 1000));
    }
    for (const name of known) {
      if (seen.has(name)) continue;
      for (const m of Object.values(METRICS)) if (m.labelNames.length === 1 && m.labelNames[0] === 'service') r.remove(m.name, { service: name });
      lastTicks.delete(name);
      cpuTotal.delete(name);
      lastAt.delete(name);
    }
    known = seen;
  };
}

/**
 * Open descriptors of a process group; undefined when any member's fd folder may not be read (a service
 * running as another user than WaveOS), because a partial count would understate what a budget limits.
 */
function openFds(procDir: string, members: readonly { pid: number }[]): number | undefined {
  let n = 0;
  for (const m of members) {
    try {
      n += readdirSync(join(procDir, String(m.pid), 'fd')).length;
    } catch (e) {
      if (errno(e) === 'ENOENT') continue; // exited while we counted
      return undefined;
    }
  }
  return members.length > 0 ? n : undefined;
}

/** Bytes each log source holds in the spool, read from the spooler's own accounting of its folders. */
export function spoolCollector(env: CollectorEnv, usage: () => ReadonlyMap<string, number>): () => void {
  let known = new Set<string>();
  return () => {
    const now = new Set<string>();
    for (const [source, bytes] of usage()) {
      now.add(source);
      env.registry.set(METRICS.spool_bytes.name, { source }, bytes);
    }
    for (const s of known) if (!now.has(s)) env.registry.remove(METRICS.spool_bytes.name, { source: s });
    known = now;
  };
}

/** Queue depths: any module registers `name → () => depth`. */
export function queueCollector(env: CollectorEnv, queues: ReadonlyMap<string, () => number>): () => void {
  return () => {
    const errors: string[] = [];
    for (const [name, depth] of queues) {
      try {
        env.registry.set(METRICS.queue_depth.name, { queue: name }, depth());
      } catch (e) {
        errors.push(`${name}: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    if (errors.length > 0) throw new Error(`queue depth probe failed: ${errors.join(', ')}`);
  };
}
