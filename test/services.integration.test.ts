import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, artifactsDir, cli, readJsonl, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';
import { EXAMPLES, type Ev, events, example, killMarked, markedProcesses, services, writeConfig } from './helpers/services.js';

const MARK = 'WAVEOS_TEST_MARK';
const roots: string[] = [];
const daemons: DaemonProcess[] = [];
function newRoot(): string {
  const r = tempRoot('waveos-svc-');
  roots.push(r);
  return r;
}
function start(root: string, config: string, env: NodeJS.ProcessEnv = {}): DaemonProcess {
  const d = new DaemonProcess(root, ['--config', config], { [MARK]: root, ...env });
  daemons.push(d);
  return d;
}
afterEach(async () => {
  const stopping = daemons.splice(0);
  for (const d of stopping) d.proc.kill('SIGKILL');
  await Promise.all(stopping.map((d) => d.exit));
  for (const r of roots.splice(0)) {
    killMarked(MARK, r);
    removeRoot(r);
  }
});

function find(evs: Ev[], kind: string, service?: string): Ev[] {
  return evs.filter((e) => e.kind === kind && (service === undefined || e.data.service === service));
}

/** Every step must be in events.jsonl (the exported artifact), with a reason and its numbers. */
async function expectExported(root: string, kinds: string[]): Promise<void> {
  const file = join(artifactsDir(root), 'latest', 'events.jsonl');
  await waitFor(
    `${kinds.join(', ')} in events.jsonl`,
    () => {
      if (!existsSync(file)) return undefined;
      const have = new Set(readJsonl(file).map((e) => e.kind as string));
      return kinds.every((k) => have.has(k)) ? true : undefined;
    },
    15_000,
    100,
  );
  for (const e of readJsonl(file).filter((x) => kinds.includes(x.kind as string))) {
    expect(typeof e.reason === 'string' && (e.reason as string).length > 10, `${String(e.kind)} has a reason`).toBe(true);
    expect(Object.keys(e.data as object).length, `${String(e.kind)} has data`).toBeGreaterThan(0);
  }
}

describe('service supervision with real child processes', () => {
  it('restarts a crashing service with growing delays', async () => {
    const root = newRoot();
    const config = writeConfig(root, {
      services: [example('crasher', 'crasher.mjs', ['--after-ms', '100'])],
      recovery: { backoff_initial: '100ms', backoff_factor: 2, jitter: 0, backoff_max: '5s', crash_loop: { exits: 50, window: '1m' } },
    });
    const d = start(root, config);
    await d.ready();
    const backoffs = await waitFor('four restarts', () => {
      const b = find(events(root, 'service.backoff'), 'service.backoff', 'crasher');
      return b.length >= 4 ? b : undefined;
    });
    const delays = backoffs.slice(0, 4).map((e) => e.data.delay_ms as number);
    expect(delays).toEqual([100, 200, 400, 800]);
    expect(backoffs.map((e) => e.data.attempt)).toEqual(backoffs.map((_, i) => i + 1));
    expect(backoffs[0]?.data.code).toBe(1);
    expect(backoffs[1]?.reason).toMatch(/crasher exited with code 1 after .* restart 2 in 0\.2 s/);
    const restarts = find(events(root, 'service.restart'), 'service.restart', 'crasher');
    expect(restarts.length).toBeGreaterThanOrEqual(3);
    expect(restarts[0]?.source).toBe('recovery');
    await expectExported(root, ['service.started', 'service.exited', 'service.backoff', 'service.restart', 'action.requested', 'action.succeeded']);
  });

  it('escalates a crash loop to degrade, then to recorded reboot requests, until the reboot guard marks the service failed', async () => {
    const root = newRoot();
    const rebootLog = join(root, 'reboots.log');
    const config = writeConfig(root, {
      services: [
        example('core', 'crasher.mjs', ['--after-ms', '50'], { critical: true }),
        example('extra', 'healthy.mjs', [], { stop_timeout: '2s' }),
      ],
      recovery: {
        backoff_initial: '20ms',
        backoff_factor: 1,
        jitter: 0,
        crash_loop: { exits: 3, window: '1m' },
        reboot_guard: { max: 2, window: '1h' },
        reboot_command: [process.execPath, join(EXAMPLES, 'record-reboot.mjs'), rebootLog],
      },
    });
    const d = start(root, config);
    await d.ready();
    await waitFor('core marked failed', () => (services(root).find((s) => s.name === 'core')?.state === 'failed' ? true : undefined), 40_000, 200);
    const evs = events(root);
    const seqOf = (kind: string, service?: string): number => find(evs, kind, service)[0]?.seq ?? -1;
    // restart → degrade → reboot → reboot → refused → failed, in that order
    const degrade = find(evs, 'recovery.degrade')[0];
    expect(degrade?.data).toMatchObject({ service: 'core', failures_in_window: 3, mode_to: 'degraded' });
    const modeChanged = find(evs, 'mode.changed')[0];
    expect(modeChanged?.data).toEqual({ from: 'normal', to: 'degraded' });
    const extraStopped = find(evs, 'service.stopped', 'extra')[0];
    expect(extraStopped?.reason).toMatch(/does not run in mode degraded/);
    const requests = find(evs, 'recovery.reboot_requested');
    expect(requests.map((e) => e.data.recent)).toEqual([1, 2]);
    expect(requests[0]?.data).toMatchObject({ service: 'core', max: 2, failures_in_window: 3 });
    const refused = find(evs, 'recovery.reboot_refused')[0];
    expect(refused?.data).toMatchObject({ recent: 2, max: 2 });
    const failed = find(evs, 'service.failed', 'core')[0];
    expect(failed?.reason).toMatch(/failed — needs operator/);
    expect(seqOf('service.backoff', 'core')).toBeLessThan(seqOf('recovery.degrade'));
    expect(seqOf('recovery.degrade')).toBeLessThan(requests[0]?.seq ?? -1);
    expect(requests[1]?.seq ?? -1).toBeLessThan(refused?.seq ?? -1);
    expect(refused?.seq ?? -1).toBeLessThan(failed?.seq ?? -1);
    // The harmless reboot command ran exactly twice.
    expect(readFileSync(rebootLog, 'utf8').trim().split('\n')).toHaveLength(2);
    const st = JSON.parse(cli(['status', '--json', '--root', root]).stdout) as { mode: string; services: { name: string; state: string }[] };
    expect(st.mode).toBe('degraded');
    expect(st.services.find((s) => s.name === 'core')?.state).toBe('failed');
    expect(st.services.find((s) => s.name === 'extra')?.state).toBe('stopped');
    await expectExported(root, ['recovery.degrade', 'mode.changed', 'recovery.reboot_requested', 'recovery.reboot_refused', 'service.failed']);

    // The guard is persisted: after a daemon restart the failed mark holds, and an operator start that
    // crash-loops again gets no third reboot.
    await d.kill('SIGTERM');
    const d2 = start(root, config);
    await d2.ready();
    expect(services(root).find((s) => s.name === 'core')?.state).toBe('failed');
    expect(find(events(root, 'service.not_started'), 'service.not_started', 'core').at(-1)?.reason).toMatch(/needs operator/);
    const r = cli(['service', 'start', 'core', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    await waitFor('core failed again', () => (find(events(root, 'service.failed'), 'service.failed', 'core').length >= 2 ? true : undefined), 40_000, 200);
    expect(readFileSync(rebootLog, 'utf8').trim().split('\n')).toHaveLength(2);
    expect(find(events(root, 'recovery.reboot_refused'), 'recovery.reboot_refused').length).toBe(2);
  });

  it('detects a hung service by its health check and restarts it', async () => {
    const root = newRoot();
    const hb = join(root, 'hb');
    const config = writeConfig(root, {
      services: [
        example('stuck', 'hang.mjs', ['--hang-after-s', '1.5', '--exact', '--heartbeat', hb, '--heartbeat-ms', '100'], {
          health: { kind: 'heartbeat', file: hb, max_age: '600ms', interval: '200ms', failures: 2, start_grace: '800ms' },
        }),
      ],
      recovery: { backoff_initial: '100ms', jitter: 0 },
    });
    const d = start(root, config);
    await d.ready();
    const first = services(root)[0]?.pid;
    expect(first).toBeGreaterThan(0);
    const sick = await waitFor('unhealthy', () => find(events(root, 'service.unhealthy'), 'service.unhealthy', 'stuck')[0], 20_000, 100);
    expect(sick.reason).toMatch(/failed its heartbeat health check 2 times/);
    expect(sick.data.value as number, sick.reason).toBeGreaterThan(600);
    const restarted = await waitFor('restart after hang', () => {
      const s = services(root)[0];
      return s && s.pid !== null && s.pid !== first && s.state === 'running' ? s : undefined;
    });
    expect(restarted.restarts).toBeGreaterThanOrEqual(1);
    const stop = find(events(root, 'service.stopped'), 'service.stopped', 'stuck')[0];
    expect(stop?.source).toBe('recovery');
    expect(stop?.data.pid).toBe(first);
    expect(() => process.kill(first as number, 0)).toThrow();
    await expectExported(root, ['service.unhealthy', 'service.stopped', 'service.backoff', 'service.restart']);
  });

  it('escalates a stop from the stop signal to SIGKILL after the stop timeout, for the whole process group', async () => {
    const root = newRoot();
    const config = writeConfig(root, {
      services: [example('stubborn', 'healthy.mjs', ['--ignore-term', '--spawn-child'], { stop_timeout: '700ms', env: { [MARK]: root } })],
    });
    const d = start(root, config);
    await d.ready();
    const group = await waitFor('service and its grandchild', () => {
      const ps = markedProcesses(MARK, root).filter((p) => p.service === 'stubborn');
      return ps.length >= 2 ? ps : undefined;
    });
    const r = cli(['service', 'stop', 'stubborn', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/SIGKILL/);
    const ev = find(events(root, 'service.stopped'), 'service.stopped', 'stubborn')[0];
    expect(ev?.data).toMatchObject({ signal: 'SIGTERM', escalated_to_sigkill: true, stop_timeout_ms: 700, exit_signal: 'SIGKILL' });
    expect(ev?.data.waited_ms as number).toBeGreaterThanOrEqual(700);
    expect(ev?.source).toBe('operator:local');
    for (const p of group) expect(() => process.kill(p.pid, 0), `pid ${p.pid} of the group`).toThrow();
    // An operator stop holds: the service stays stopped until an operator starts it.
    expect(services(root)[0]).toMatchObject({ state: 'stopped', pid: null });
    await expectExported(root, ['service.stopped']);
  });

  it('leaves no child behind when waveos is stopped, and exactly one instance of each service after kill -9', async () => {
    const root = newRoot();
    const config = writeConfig(root, {
      services: [
        example('a', 'healthy.mjs', [], { env: { [MARK]: root } }),
        example('b', 'healthy.mjs', ['--ignore-term'], { env: { [MARK]: root }, stop_timeout: '5s' }),
        example('c', 'flooder.mjs', ['--period-s', '1', '--burst-lines', '200'], { env: { [MARK]: root } }),
      ],
    });
    const count = (): Record<string, number> => {
      const n: Record<string, number> = {};
      for (const p of markedProcesses(MARK, root)) if (p.service) n[p.service] = (n[p.service] ?? 0) + 1;
      return n;
    };
    const d = start(root, config);
    await d.ready();
    await waitFor('three services', () => (Object.keys(count()).length === 3 ? true : undefined));
    const before = services(root).map((s) => s.pid);

    // kill -9 of the daemon: its children survive it; the next start stops them and starts fresh ones.
    await d.kill('SIGKILL');
    expect(Object.keys(count()).length).toBe(3);
    const d2 = start(root, config);
    await d2.ready();
    const after = await waitFor('all running once', () => {
      const l = services(root);
      return l.every((s) => s.state === 'running') ? l : undefined;
    });
    expect(count()).toEqual({ a: 1, b: 1, c: 1 });
    for (const s of after) expect(before).not.toContain(s.pid);
    const reaped = find(events(root, 'service.orphan_stopped'), 'service.orphan_stopped');
    expect(reaped.map((e) => e.data.service).sort()).toEqual(['a', 'b', 'c']);
    expect(reaped.find((e) => e.data.service === 'b')?.data.escalated_to_sigkill).toBe(true);
    await expectExported(root, ['service.orphan_stopped', 'boot.reset_reason']);

    // A clean stop leaves nothing, even a child that ignores SIGTERM.
    const exit = await d2.kill('SIGTERM');
    expect(exit.code).toBe(143);
    expect(count()).toEqual({});
  });

  it('takes operator service and mode commands through the action executor', async () => {
    const root = newRoot();
    const config = writeConfig(root, { services: [example('web', 'healthy.mjs'), example('core', 'healthy.mjs', [], { critical: true })] });
    const d = start(root, config);
    await d.ready();
    expect(cli(['mode', 'get', '--root', root]).stdout.trim()).toBe('normal');
    expect(cli(['mode', 'set', 'safe', '--root', root]).code).toBe(2);
    expect(cli(['mode', 'set', 'bogus', '--reason', 'x', '--root', root]).code).toBe(2);
    const r = cli(['mode', 'set', 'safe', '--reason', 'maintenance window', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    expect(cli(['mode', 'get', '--root', root]).stdout.trim()).toBe('safe');
    const changed = events(root, 'mode.changed')[0];
    expect(changed?.source).toBe('operator:local');
    expect(changed?.reason).toMatch(/maintenance window/);
    expect(services(root).find((s) => s.name === 'web')?.state).toBe('stopped');
    expect(cli(['service', 'restart', 'nosuch', '--root', root]).code).toBe(2);
    // The mode survives a restart of the daemon.
    await d.kill('SIGTERM');
    const d2 = start(root, config);
    const st = await d2.ready();
    expect(st.mode).toBe('safe');
    const req = events(root, 'action.requested').find((e) => e.data.action === 'mode.set');
    expect(req?.source).toBe('operator:local');
  });
});

describe('service definitions at config validation', () => {
  it('rejects a missing command, negative timeouts and unknown health check kinds with located messages', () => {
    const root = newRoot();
    const file = join(root, 'bad.yaml');
    writeFileSync(
      file,
      [
        'schema_version: 2',
        'services:',
        '  - name: nocmd',
        '    args: [x]',
        '  - name: negative',
        '    command: /bin/true',
        '    stop_timeout: -5',
        '  - name: weird',
        '    command: /bin/true',
        '    health:',
        '      kind: telepathy',
        '  - name: negtext',
        '    command: /bin/true',
        '    health: { kind: exec, command: /bin/true, timeout: "-2s" }',
        '',
      ].join('\n'),
    );
    const r = cli(['config', 'validate', file]);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/bad\.yaml:3:\d+: services\.0\.command: command is missing/);
    expect(r.stderr).toMatch(/bad\.yaml:7:\d+: services\.1\.stop_timeout: expected a non-negative number of seconds/);
    expect(r.stderr).toMatch(/bad\.yaml:11:\d+: services\.2\.health\.kind: unknown health check kind "telepathy" \(expected one of: process, exec, tcp, http, heartbeat\)/);
    expect(r.stderr).toMatch(/bad\.yaml:14:\d+: services\.3\.health\.timeout: expected a non-negative duration/);
  });
});
