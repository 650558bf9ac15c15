import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../core/index.js';
import { type CollectorEnv, cpuCollector, netCollector, pressureCollector, temperatureCollector } from './collectors.js';
import { MonotonicCounters, counterDelta } from './counters.js';
import { METRICS } from './metrics.js';
import {
  cpuShares,
  discoverTemperatureSensors,
  isInterestingDisk,
  parseDiskstats,
  parseLoadavg,
  parseMeminfo,
  parseNetDev,
  parseNvidiaSmi,
  parsePidStat,
  parsePressure,
  parseProcStat,
  parseStatusRss,
} from './index.js';
import { ProcFiles } from './procfs.js';
import { Registry } from './registry.js';

const FIX = join(import.meta.dirname, 'fixtures');
const fx = (name: string): string => readFileSync(join(FIX, name), 'latin1');
function at<T>(xs: readonly T[], i: number): T {
  const x = xs[i];
  if (x === undefined) throw new Error(`no element ${i}`);
  return x;
}

describe('parsers on recorded /proc files', () => {
  it('/proc/stat: total and per core, and busy/iowait shares between two samples', () => {
    const real = parseProcStat(fx('proc-stat.txt'));
    expect(real.map((c) => c.cpu)).toEqual(['total', '0', '1']);
    expect(real[0]?.total).toBeGreaterThan(0);
    const a = parseProcStat(fx('proc-stat-2cpu-a.txt'));
    const b = parseProcStat(fx('proc-stat-2cpu-b.txt'));
    // total: +100 user +50 system +150 idle = 300 jiffies, 150 busy
    expect(cpuShares(at(a, 0), at(b, 0))).toEqual({ busy: 0.5, iowait: 0 });
    expect(cpuShares(at(a, 1), at(b, 1))).toEqual({ busy: 1, iowait: 0 });
    expect(cpuShares(at(a, 2), at(b, 2))).toEqual({ busy: 0.25, iowait: 0 });
    expect(cpuShares(at(a, 0), at(a, 0))).toBeUndefined();
  });

  it('/proc/stat of an old kernel with only four fields per cpu line', () => {
    const old = parseProcStat(fx('proc-stat-old-kernel.txt'));
    expect(old).toHaveLength(3);
    expect(old[0]).toEqual({ cpu: 'total', total: 2255 + 34 + 2290 + 22625563, idle: 22625563, iowait: 0 });
  });

  it('/proc/meminfo, and MemAvailable estimated on kernels that lack it', () => {
    const m = parseMeminfo(fx('proc-meminfo.txt'));
    expect(m.total_bytes).toBeGreaterThan(m.available_bytes);
    expect(m.available_bytes).toBeGreaterThan(0);
    const old = parseMeminfo('MemTotal: 1000 kB\nMemFree: 100 kB\nBuffers: 50 kB\nCached: 200 kB\nSwapTotal: 0 kB\nSwapFree: 0 kB\n');
    expect(old).toEqual({ total_bytes: 1_024_000, available_bytes: 350 * 1024, free_bytes: 102_400, swap_total_bytes: 0, swap_free_bytes: 0 });
    expect(() => parseMeminfo('garbage')).toThrow(/MemTotal/);
  });

  it('/proc/loadavg', () => {
    expect(parseLoadavg('0.50 1.25 2.00 1/123 4567\n')).toEqual({ '1m': 0.5, '5m': 1.25, '15m': 2 });
    expect(() => parseLoadavg('x y')).toThrow(/loadavg/);
    expect(Object.keys(parseLoadavg(fx('proc-loadavg.txt')))).toEqual(['1m', '5m', '15m']);
  });

  it('/proc/pressure: some and full lines, and the cpu file of kernels that print only some', () => {
    const cpu = parsePressure(fx('pressure-cpu.txt'));
    expect(cpu.map((p) => p.kind)).toEqual(['some', 'full']);
    expect(parsePressure(fx('pressure-cpu-some-only.txt'))).toEqual([{ kind: 'some', avg10: 1.5, avg60: 0.75, avg300: 0.2, total_us: 123456 }]);
  });

  it('/proc/net/dev: every interface with its receive and transmit counters', () => {
    const real = parseNetDev(fx('proc-net-dev.txt'));
    expect(real.map((d) => d.iface)).toContain('lo');
    const wrap = parseNetDev(fx('proc-net-dev-wrap-a.txt'));
    expect(wrap[1]).toEqual({ iface: 'eth0', rx_bytes: 4294967000, rx_packets: 4294967290, rx_errs: 1, rx_drop: 2, tx_bytes: 5000, tx_packets: 50, tx_errs: 0, tx_drop: 0 });
  });

  it('/proc/diskstats: bytes from 512-byte sectors; loop devices and partitions are left out', () => {
    const d = parseDiskstats('   8       0 sda 100 0 2048 50 200 0 4096 80 0 120 130\n   8       1 sda1 1 0 8 0 0 0 0 0 0 0 0\n');
    expect(d[0]).toEqual({ device: 'sda', reads: 100, read_bytes: 2048 * 512, writes: 200, write_bytes: 4096 * 512, io_ms: 120 });
    expect(parseDiskstats(fx('proc-diskstats.txt')).filter((x) => isInterestingDisk(x.device)).map((x) => x.device)).toEqual(['vda']);
    expect(['mmcblk0', 'nvme0n1', 'sda'].every(isInterestingDisk)).toBe(true);
    expect(['mmcblk0p1', 'nvme0n1p2', 'sda1', 'loop3', 'zram0', 'ram0'].some(isInterestingDisk)).toBe(false);
  });

  it('/proc/<pid>/stat with spaces and parentheses in the command name, and VmRSS from status', () => {
    const s = parsePidStat(fx('proc-pid-stat-odd-comm.txt'));
    expect(s).toMatchObject({ pid: 4242, comm: 'my (odd) svc', state: 'S', ppid: 1, pgrp: 4242, utime: 150, stime: 50, rss_pages: 2000 });
    const real = parsePidStat(fx('proc-pid-stat.txt'));
    expect(real.comm).toBe('cat');
    expect(parseStatusRss(fx('proc-pid-status.txt'))).toBeGreaterThan(0);
    expect(parseStatusRss('Name:\tkthreadd\nState:\tS\n')).toBe(0);
  });

  it('nvidia-smi CSV', () => {
    expect(parseNvidiaSmi(fx('nvidia-smi.csv'))).toEqual([
      { gpu: '0', utilization_ratio: 0.37, memory_used_bytes: 1024 * 1024 ** 2, memory_total_bytes: 8192 * 1024 ** 2, temperature_celsius: 61 },
      { gpu: '1', utilization_ratio: 0.05, memory_used_bytes: 10 * 1024 ** 2, memory_total_bytes: 4096 * 1024 ** 2, temperature_celsius: 40 },
    ]);
    expect(() => parseNvidiaSmi('[N/A], 1, 2, 3\n')).toThrow(/nvidia-smi/);
  });

  it('thermal zones and hwmon inputs from a recorded /sys tree', () => {
    expect(discoverTemperatureSensors(join(FIX, 'sys'))).toEqual([
      { sensor: 'cpu-thermal/0', file: join(FIX, 'sys/class/thermal/thermal_zone0/temp') },
      { sensor: 'gpu-thermal/1', file: join(FIX, 'sys/class/thermal/thermal_zone1/temp') },
      { sensor: 'rp1_adc/board', file: join(FIX, 'sys/class/hwmon/hwmon0/temp1_input') },
      { sensor: 'rp1_adc/temp2', file: join(FIX, 'sys/class/hwmon/hwmon0/temp2_input') },
    ]);
    expect(discoverTemperatureSensors(join(FIX, 'no-such-sys'))).toEqual([]);
  });
});

describe('counter wraparound', () => {
  it('reads a smaller value after one below 2^32 as a 32-bit wrap, and after a larger one as a reset', () => {
    expect(counterDelta(100, 150)).toBe(50);
    expect(counterDelta(4294967000, 704)).toBe(296 + 704);
    expect(counterDelta(2 ** 40, 5)).toBe(5);
  });

  it('keeps totals monotonic and forgets keys that went away', () => {
    const m = new MonotonicCounters();
    expect(m.update('eth0', 4294967000)).toBe(4294967000);
    expect(m.update('eth0', 704)).toBe(4294967000 + 1000);
    expect(m.retain((k) => k !== 'eth0')).toEqual(['eth0']);
    expect(m.update('eth0', 10)).toBe(10);
  });
});

describe('collectors on fixture trees', () => {
  let dir: string;
  let env: CollectorEnv;
  let notes: string[];
  const clock = new FakeClock();
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'telemetry-fx-'));
    mkdirSync(join(dir, 'proc/net'), { recursive: true });
    cpSync(join(FIX, 'sys'), join(dir, 'sys'), { recursive: true });
    notes = [];
    const registry = new Registry({ clock, maxSeries: 1000, windowPoints: 10 });
    for (const d of Object.values(METRICS)) registry.define(d);
    env = { registry, clock, emit: () => undefined, procDir: join(dir, 'proc'), sysDir: join(dir, 'sys'), files: new ProcFiles(), note: (m) => notes.push(m) };
  });
  afterEach(() => {
    env.files.close();
    rmSync(dir, { recursive: true, force: true });
  });
  const put = (rel: string, fixture: string): void => writeFileSync(join(dir, rel), fx(fixture));

  it('net: wraparound gives a monotonic total; interfaces appearing and disappearing add and drop series', () => {
    const collect = netCollector(env);
    const rx = (iface: string): number | undefined => env.registry.current(METRICS.net_receive_bytes_total.name, { interface: iface });
    put('proc/net/dev', 'proc-net-dev-wrap-a.txt');
    collect();
    expect(rx('eth0')).toBe(4294967000);
    expect(env.registry.current(METRICS.net_up.name, { interface: 'eth0' })).toBe(1);
    // loopback says "unknown"; its IFF_UP flag says it is up
    expect(env.registry.current(METRICS.net_up.name, { interface: 'lo' })).toBe(1);
    put('proc/net/dev', 'proc-net-dev-wrap-b.txt');
    collect();
    expect(rx('eth0')).toBe(4294967000 + 296 + 704);
    expect(env.registry.current(METRICS.net_receive_packets_total.name, { interface: 'eth0' })).toBe(4294967290 + 6 + 6);
    put('proc/net/dev', 'proc-net-dev-usb0-appears.txt');
    collect();
    expect(rx('usb0')).toBe(300);
    expect(env.registry.current(METRICS.net_up.name, { interface: 'usb0' })).toBe(0);
    expect(rx('eth0')).toBe(4294967000 + 1000 + 1296);
    put('proc/net/dev', 'proc-net-dev-eth0-gone.txt');
    collect();
    expect(rx('eth0')).toBeUndefined();
    expect(env.registry.series(METRICS.net_transmit_bytes_total.name).map((s) => s.labels.interface)).toEqual(['lo', 'usb0']);
    expect(rx('usb0')).toBe(500);
  });

  it('cpu: shares appear from the second sample on, per core and total', () => {
    const collect = cpuCollector(env);
    put('proc/stat', 'proc-stat-2cpu-a.txt');
    collect();
    expect(env.registry.current(METRICS.cpu_usage_ratio.name, { cpu: 'total' })).toBeUndefined();
    put('proc/stat', 'proc-stat-2cpu-b.txt');
    collect();
    expect(env.registry.current(METRICS.cpu_usage_ratio.name, { cpu: 'total' })).toBe(0.5);
    expect(env.registry.current(METRICS.cpu_usage_ratio.name, { cpu: '1' })).toBe(0.25);
  });

  it('pressure: a kernel without PSI says so once and exports nothing; one with PSI exports ratios', () => {
    const none = pressureCollector(env);
    none();
    none();
    expect(notes.filter((m) => /pressure.*not available/.test(m))).toHaveLength(1);
    expect(env.registry.series(METRICS.pressure_avg10_ratio.name)).toEqual([]);
    mkdirSync(join(dir, 'proc/pressure'));
    put('proc/pressure/cpu', 'pressure-cpu-some-only.txt');
    pressureCollector(env)();
    expect(env.registry.current(METRICS.pressure_avg10_ratio.name, { resource: 'cpu', kind: 'some' })).toBeCloseTo(0.015);
    expect(env.registry.current(METRICS.pressure_stall_seconds_total.name, { resource: 'cpu', kind: 'some' })).toBeCloseTo(0.123456);
  });

  it('temperature: thermal zones and hwmon in degrees Celsius', () => {
    temperatureCollector(env)();
    expect(env.registry.current(METRICS.temperature_celsius.name, { sensor: 'cpu-thermal/0' })).toBeCloseTo(48.312);
    expect(env.registry.current(METRICS.temperature_celsius.name, { sensor: 'rp1_adc/board' })).toBeCloseTo(51.234);
    expect(env.registry.series(METRICS.temperature_celsius.name)).toHaveLength(4);
  });
});
