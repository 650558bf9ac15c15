// Observability cost: idle CPU and RSS of a daemon with tracing (OTLP exporter to a local sink) and alerting
// (a webhook receiver) configured, against one with both off, side by side in the same run.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const BIN = new URL('../bin/waveos.js', import.meta.url).pathname;
const TICK = 100; // USER_HZ on Linux
const WARMUP_MS = 8_000;
const MEASURE_MS = 20_000;

const cpuTicks = (pid) => {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssMb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0) / 1024;

function daemon(name, extra) {
  const root = mkdtempSync(join(tmpdir(), `bench-obs-${name}-`));
  const config = join(root, 'waveos.yaml');
  writeFileSync(config, JSON.stringify({ schema_version: 2, profile: 'dev', services: [], policy: { examples: false }, telemetry: { prometheus: { enabled: true, host: '127.0.0.1', port: 0 } }, ...extra }));
  const proc = spawn(process.execPath, [BIN, 'run', '--root', root, '--config', config, '--log-format', 'json'], { stdio: 'ignore' });
  return { root, proc };
}

export async function run(row) {
  let received = 0;
  const sink = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      received++;
      res.writeHead(200).end();
    });
  });
  await new Promise((r) => sink.listen(0, '127.0.0.1', r));
  const base = `http://127.0.0.1:${sink.address().port}`;
  const off = daemon('off', {});
  const on = daemon('on', {
    tracing: { enabled: true, otlp_endpoint: `${base}/v1/traces`, export_interval: '5s' },
    alerting: { receivers: { ops: { kind: 'webhook', url: `${base}/hook` } } },
  });
  try {
    await new Promise((r) => setTimeout(r, WARMUP_MS));
    const t0 = { off: cpuTicks(off.proc.pid), on: cpuTicks(on.proc.pid) };
    await new Promise((r) => setTimeout(r, MEASURE_MS));
    const cpu = (d, t) => ((cpuTicks(d.proc.pid) - t) / TICK / (MEASURE_MS / 1000)) * 100;
    const cOff = cpu(off, t0.off);
    const cOn = cpu(on, t0.on);
    const rOff = rssMb(off.proc.pid);
    const rOn = rssMb(on.proc.pid);
    row('observability: idle CPU, tracing + alerting on', cOn.toFixed(2), '% of a core', cOff.toFixed(2), '% with both off', cOff > 0 ? cOn / cOff : undefined, 'within noise of off');
    row('observability: idle RSS, tracing + alerting on', rOn.toFixed(1), 'MiB', rOff.toFixed(1), 'MiB with both off', rOn / rOff, '< +10 MiB');
    row('observability: OTLP/webhook requests to the sink while idle', received, 'requests', '', '', undefined, '0 (nothing to send)');
  } finally {
    for (const d of [off, on]) {
      d.proc.kill('SIGKILL');
      rmSync(d.root, { recursive: true, force: true });
    }
    sink.close();
  }
}
