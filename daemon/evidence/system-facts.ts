import { arch, cpus, freemem, hostname, loadavg, platform, release, totalmem, uptime, version } from 'node:os';
import si from 'systeminformation';
import { errorMessage } from '../core/index.js';

const ENV_SHOWN = /^(WAVEOS_|NODE_|TZ$|LANG$|INVOCATION_ID$|NOTIFY_SOCKET$|WATCHDOG_USEC$)/;

async function fact<T>(what: string, fn: () => Promise<T>, ms: number): Promise<T | { error: string }> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      fn(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} took over ${ms} ms`)), ms);
      }),
    ]);
  } catch (e) {
    return { error: errorMessage(e) };
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A snapshot of the machine for system.json: slow facts, taken once per export (systeminformation spawns
 * helpers for some; each has a time limit so a hung tool cannot hold the export). The environment is
 * limited to WaveOS's own variables; secret-named ones are masked by the pack's redactor.
 */
export async function systemFacts(env: NodeJS.ProcessEnv, versions: Record<string, unknown>, timeoutMs = 5_000): Promise<Record<string, unknown>> {
  const [osInfo, disks, network, mem] = await Promise.all([
    fact('osInfo', () => si.osInfo(), timeoutMs),
    fact('fsSize', () => si.fsSize(), timeoutMs),
    fact('networkInterfaces', async () => {
      const n = await si.networkInterfaces();
      return (Array.isArray(n) ? n : [n]).map((i) => ({ iface: i.iface, ip4: i.ip4, ip6: i.ip6, mac: i.mac, operstate: i.operstate, type: i.type, speed: i.speed, internal: i.internal }));
    }, timeoutMs),
    fact('mem', () => si.mem(), timeoutMs),
  ]);
  return {
    taken_at: new Date().toISOString(),
    hostname: hostname(),
    os: { platform: platform(), arch: arch(), kernel: release(), kernel_version: version(), info: osInfo },
    uptime_s: Math.round(uptime()),
    load_avg: loadavg(),
    cpus: { count: cpus().length, model: cpus()[0]?.model ?? null },
    memory: { total_bytes: totalmem(), free_bytes: freemem(), detail: mem },
    disks,
    network_interfaces: network,
    versions: { ...versions, node: process.versions.node, v8: process.versions.v8, sqlite: process.versions.sqlite ?? null, openssl: process.versions.openssl },
    process: { pid: process.pid, uptime_s: Math.round(process.uptime()), rss_bytes: process.memoryUsage().rss, argv: process.argv.slice(1) },
    environment: Object.fromEntries(Object.entries(env).filter(([k]) => ENV_SHOWN.test(k))),
  };
}
