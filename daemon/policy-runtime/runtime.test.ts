import { createServer, type Server } from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock, silentLogger } from '../core/index.js';
import type { EventInput } from '../journal/index.js';
import type { Decision } from '../policy/index.js';
import type { StoredBreakers, StoredPolicy } from '../journal/index.js';
import { PolicyRuntime, type PolicyRuntimeDeps } from './runtime.js';

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'policy-rt-'));
  cleanups.push(() => rmSync(d, { recursive: true, force: true }));
  return d;
}

async function waitFor<T>(what: string, fn: () => T | undefined, ms: number): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const KEEPS_FIRING = (version: number, value = 10) => `policy_version: ${version}
rules:
  - id: hot
    kind: threshold
    metric: temp
    op: ">"
    value: ${value}
    cooldown: 1s
    repeat: true
    actions: [{ type: emit_event, severity: warning, kind: test.hot }]
  - id: restart-web
    kind: threshold
    metric: web_health
    op: "=="
    value: 0
    actions: [{ type: restart_service, service: web }]
`;

function runtime(dir: string, extra: Partial<PolicyRuntimeDeps> = {}) {
  const clock = new FakeClock();
  const events: EventInput[] = [];
  const executed: Decision[] = [];
  /** The journal's `policy.last_good`, as a test double kept across a restart. */
  const kept: { policy?: StoredPolicy } = {};
  const rt = new PolicyRuntime({
    clock,
    log: silentLogger(),
    dirs: [dir],
    tickIntervalMs: 50,
    emit: (e) => events.push(e),
    execute: (d) => void executed.push(d),
    lastGood: { read: () => kept.policy, write: (p) => (kept.policy = p) },
    ...extra,
  });
  cleanups.push(() => rt.stop());
  const sample = (name: string, value: number) => rt.observe([{ ts_ms: clock.now(), name, value, unit: '', labels: {} }]);
  return { rt, clock, events, executed, kept, sample };
}

describe('policy runtime', () => {
  it('a start with the policy files recorded as last good does not write them again; a changed file does', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'main.yaml'), KEEPS_FIRING(1));
    let stored: StoredPolicy | undefined;
    let writes = 0;
    const lastGood = { read: () => stored, write: (p: StoredPolicy) => ((stored = p), writes++) };
    runtime(dir, { watch: false, lastGood }).rt.load();
    expect(writes).toBe(1);
    // The next start, same files: nothing to record.
    expect(runtime(dir, { watch: false, lastGood }).rt.load().status).toBe('reloaded');
    expect(writes).toBe(1);
    writeFileSync(join(dir, 'main.yaml'), KEEPS_FIRING(2));
    runtime(dir, { watch: false, lastGood }).rt.load();
    expect(writes).toBe(2);
    expect(stored?.version).toBe('main@2');
  });

  it('loads the folder, journals policy.loaded, routes emit_event to the journal and the rest to execute', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'main.yaml'), KEEPS_FIRING(1));
    const { rt, events, executed, sample } = runtime(dir, { watch: false });
    expect(rt.load()).toEqual({ status: 'reloaded', version: 'main@1' });
    expect(events.map((e) => e.kind)).toEqual(['policy.loaded']);
    sample('temp', 11);
    sample('web_health', 0);
    expect(events.at(-1)).toMatchObject({ kind: 'test.hot', severity: 'warning', source: 'policy:hot' });
    expect(events.at(-1)?.data).toMatchObject({ rule_id: 'hot', observed: 11, threshold: 10, policy_version: 'main@1' });
    expect(executed.map((d) => d.action)).toEqual([{ type: 'restart_service', service: 'web' }]);
  });

  it('a valid change takes effect within 2 s and emits policy.reloaded old → new', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'main.yaml'), KEEPS_FIRING(1, 10));
    const { rt, events, sample, clock } = runtime(dir);
    rt.load();
    rt.start();
    // Give the watcher its first scan; it reports nothing that was there before.
    await new Promise((r) => setTimeout(r, 200));
    writeFileSync(join(dir, 'main.yaml'), KEEPS_FIRING(2, 50));
    const t0 = Date.now();
    const reloaded = await waitFor('policy.reloaded', () => events.find((e) => e.kind === 'policy.reloaded'), 2_000);
    expect(Date.now() - t0).toBeLessThan(2_000);
    expect(reloaded.data).toMatchObject({ from: 'main@1', to: 'main@2' });
    expect(reloaded.reason).toMatch(/policy reloaded: main@1 → main@2/);
    // The new threshold is in force: 20 no longer fires, 60 does.
    const before = events.length;
    sample('temp', 20);
    expect(events.length).toBe(before);
    clock.advance(1000);
    sample('temp', 60);
    expect(events.at(-1)?.kind).toBe('test.hot');
  });

  it('an invalid change is rejected with a located message and the last good policy keeps firing', async () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'main.yaml'), KEEPS_FIRING(1));
    const { rt, events, sample, clock, kept } = runtime(dir);
    rt.load();
    rt.start();
    await new Promise((r) => setTimeout(r, 200));
    const hot = () => events.filter((e) => e.kind === 'test.hot').length;
    sample('temp', 11);
    expect(hot()).toBe(1);
    writeFileSync(join(dir, 'main.yaml'), 'policy_version: 2\nrules:\n  - id: hot\n    kind: threshold\n    metric: temp\n    op: "~"\n');
    const rejected = await waitFor('policy.rejected', () => events.find((e) => e.kind === 'policy.rejected'), 2_000);
    expect(rejected.reason).toMatch(/main\.yaml:6:9: rules\.0\.op: /);
    expect(rejected.data).toMatchObject({ kept_version: 'main@1' });
    expect(rt.version).toBe('main@1');
    // The rule of the last good policy still fires, each cooldown.
    for (let i = 0; i < 3; i++) {
      clock.advance(1000);
      sample('temp', 11);
    }
    expect(hot()).toBe(4);
    // A restart with the broken file on disk keeps enforcing the last good policy from the journal state.
    expect(kept.policy?.version).toBe('main@1');
    const again = runtime(dir, { watch: false, lastGood: { read: () => kept.policy, write: (p) => (kept.policy = p) } });
    expect(again.rt.load().status).toBe('rejected');
    expect(again.rt.version).toBe('main@1');
    again.sample('temp', 11);
    expect(again.events.map((e) => e.kind)).toEqual(['policy.rejected', 'policy.loaded', 'test.hot']);
    // The event tells the truth: which version stays in force, and from where.
    expect(again.events[0]?.reason).toMatch(/last good version main@1 from the last good policy main@1 recorded in the journal/);
    expect(again.events[0]?.reason).not.toMatch(/none/);
    expect(again.events[0]?.data).toMatchObject({ kept_version: 'main@1', kept_from: expect.stringMatching(/journal/) });
    // Fixing the file brings the new version in.
    writeFileSync(join(dir, 'main.yaml'), KEEPS_FIRING(3));
    const fixed = await waitFor('policy.reloaded', () => events.find((e) => e.kind === 'policy.reloaded'), 2_000);
    expect(fixed.data).toMatchObject({ from: 'main@1', to: 'main@3' });
  });

  it('a broken file in one folder does not block valid changes in another, and every refusal is journaled', async () => {
    const local = tempDir();
    const bundle = tempDir();
    writeFileSync(join(local, 'main.yaml'), KEEPS_FIRING(1));
    // What a bad policy bundle leaves behind: a rule of an unknown kind, and a config file among the policies.
    writeFileSync(join(bundle, 'bad.yaml'), 'policy_version: 1\nrules:\n  - { id: x, kind: nonsense }\n');
    writeFileSync(join(bundle, 'waveos.yaml'), 'schema_version: 2\ndevice: { device_id: d }\n');
    const { rt, events } = runtime(local, { dirs: [local, bundle] });
    expect(rt.load().status).toBe('rejected');
    expect(rt.version).toBe('main@1');
    rt.start();
    await new Promise((r) => setTimeout(r, 200));
    const rejected = () => events.filter((e) => e.kind === 'policy.rejected');
    expect(rejected()).toHaveLength(1);
    for (const v of [2, 3]) {
      writeFileSync(join(local, 'main.yaml'), KEEPS_FIRING(v));
      await waitFor(`main@${v} in force`, () => (rt.version === `main@${v}` ? true : undefined), 3_000);
    }
    // Each valid change went in, and each time the still-broken bundle files were said again.
    expect(events.filter((e) => e.kind === 'policy.reloaded').map((e) => (e.data as { to: string }).to)).toEqual(['main@2', 'main@3']);
    expect(rejected()).toHaveLength(3);
    expect(rejected().at(-1)?.reason).toMatch(/bad\.yaml: it was never good/);
    // A broken local change is refused and said too, the last good text of that file staying in force.
    writeFileSync(join(local, 'main.yaml'), 'policy_version: 9\nrules: [ { id: hot, kind: nope } ]\n');
    await waitFor('a fourth refusal', () => (rejected().length === 4 ? true : undefined), 3_000);
    expect(rejected().at(-1)?.reason).toMatch(/main\.yaml: its last good version main@3 from the policy in force stays in force/);
    expect(rt.version).toBe('main@3');
  });

  it('a later folder overrides a file of the same name; ticks move breakers on their own', async () => {
    const a = tempDir();
    const b = tempDir();
    writeFileSync(join(a, 'x.yaml'), 'policy_version: a\n');
    writeFileSync(join(a, 'y.yaml'), 'policy_version: 1\n');
    writeFileSync(
      join(b, 'x.yaml'),
      'policy_version: b\nrules:\n  - { id: k, kind: breaker, trigger: { event: boom }, threshold: 1, window: 1s, open_for: 1s, probe: 1s, mode: safe }\n',
    );
    const { rt, clock, executed } = runtime(a, { dirs: [a, b] });
    rt.load();
    expect(rt.version).toBe('x@b,y@1');
    rt.start();
    rt.observeJournalEvents([{ kind: 'boom', ts: new Date(clock.now()).toISOString(), source: 'test', data: {} }]);
    expect(rt.mode).toBe('safe');
    clock.advance(2_500);
    await waitFor('the breaker to close on ticks', () => (rt.mode === 'normal' ? true : undefined), 2_000);
    expect(executed.map((d) => d.action.type)).toEqual(['set_mode', 'set_mode']);
  });

  it('an open breaker survives a restart: status shows it open with its trips, and after the cool-down the mode returns', async () => {
    const dir = tempDir();
    writeFileSync(
      join(dir, 'b.yaml'),
      'policy_version: 1\nrules:\n  - { id: k, kind: breaker, trigger: { event: boom }, threshold: 1, window: 10s, open_for: 5s, probe: 1s, mode: safe }\n',
    );
    let saved: StoredBreakers | undefined;
    const store = { read: () => saved, write: (b: StoredBreakers) => (saved = structuredClone(b)) };
    const first = runtime(dir, { watch: false, breakers: store });
    first.rt.load();
    first.rt.observeJournalEvents([{ kind: 'boom', ts: new Date(first.clock.now()).toISOString(), source: 'test', data: {} }]);
    expect(first.rt.mode).toBe('safe');
    expect(saved?.[0]).toMatchObject({ rule_id: 'k', phase: 'open', trips: 1, previous_mode: 'normal' });
    await first.rt.stop();
    // The next run starts in the mode the executor recorded (safe) with the breaker as it was left.
    const second = runtime(dir, { watch: false, breakers: store, initialMode: 'safe' });
    second.clock.advance(first.clock.now() - second.clock.now() + 2_000);
    second.rt.load();
    expect(second.rt.snapshot().breakers[0]).toMatchObject({ rule_id: 'k', state: 'open', trips: 1 });
    second.rt.start();
    second.clock.advance(3_500);
    second.rt.tick();
    second.clock.advance(1_500);
    second.rt.tick();
    expect(second.rt.snapshot().breakers[0]).toMatchObject({ state: 'closed', trips: 1 });
    expect(second.executed.map((d) => d.action)).toEqual([expect.objectContaining({ type: 'set_mode', mode: 'normal', from: 'safe' })]);
    expect(second.events.map((e) => e.kind)).toEqual(expect.arrayContaining(['policy.breaker_half_open', 'policy.breaker_closed']));
  });

  it('admit() routes its refusal decision and canTransition answers from the graph', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'r.yaml'), 'policy_version: 1\nrules:\n  - { id: r, kind: rate_limit, flow: log.lines, limit: 2, per: 1s }\n');
    const { rt, events } = runtime(dir, { watch: false });
    rt.load();
    expect([1, 2, 3].map(() => rt.admit('log.lines', 'app').allowed)).toEqual([true, true, false]);
    expect(events.at(-1)).toMatchObject({ kind: 'policy.rate_limited', source: 'policy:r' });
    expect(rt.canTransition('normal', 'safe').allowed).toBe(true);
    expect(rt.canTransition('normal', 'nowhere').allowed).toBe(false);
  });
});

describe('webhook action', () => {
  async function server(handler: (n: number) => number | 'hang'): Promise<{ url: string; hits: () => number; bodies: unknown[] }> {
    let n = 0;
    const bodies: unknown[] = [];
    const s: Server = createServer((req, res) => {
      let body = '';
      req.on('data', (c: Buffer) => (body += c.toString()));
      req.on('end', () => {
        bodies.push(JSON.parse(body));
        const code = handler(++n);
        if (code === 'hang') return;
        res.statusCode = code;
        res.end('ok');
      });
    });
    await new Promise<void>((r) => s.listen(0, '127.0.0.1', r));
    cleanups.push(() => {
      s.closeAllConnections();
      return new Promise((r) => s.close(r));
    });
    const addr = s.address() as { port: number };
    return { url: `http://127.0.0.1:${addr.port}/hook`, hits: () => n, bodies };
  }

  const POLICY = 'policy_version: 1\nrules:\n  - { id: w, kind: threshold, metric: m, op: ">", value: 0, actions: [{ type: webhook, message: hello }] }\n';
  const webhook = (url: string) => ({ url, timeout_ms: 300, retries: 3, backoff_ms: 10, max_backoff_ms: 50, queue_max: 10 });

  it('retries with backoff until delivered, without blocking the loop', async () => {
    const srv = await server((n) => (n < 3 ? 503 : 200));
    const dir = tempDir();
    writeFileSync(join(dir, 'w.yaml'), POLICY);
    const { rt, events, sample } = runtime(dir, { watch: false, webhook: webhook(srv.url) });
    rt.load();
    sample('m', 1);
    // observe() returned before any delivery happened.
    expect(srv.hits()).toBe(0);
    expect(events.map((e) => e.kind)).toEqual(['policy.loaded', 'policy.decision']);
    await rt.webhookIdle();
    expect(srv.hits()).toBe(3);
    expect(events.at(-1)).toMatchObject({ kind: 'policy.webhook_delivered', data: { attempts: 3, status: 200 } });
    expect(srv.bodies[0]).toMatchObject({ rule_id: 'w', message: 'hello', policy_version: 'w@1' });
  });

  it('gives up after the bounded retries (errors and timeouts) and says so', async () => {
    const srv = await server((n) => (n % 2 === 0 ? 'hang' : 500));
    const dir = tempDir();
    writeFileSync(join(dir, 'w.yaml'), POLICY);
    const { rt, events, sample } = runtime(dir, { watch: false, webhook: webhook(srv.url) });
    rt.load();
    sample('m', 1);
    await rt.webhookIdle();
    expect(srv.hits()).toBe(4);
    const failed = events.at(-1);
    expect(failed?.kind).toBe('policy.webhook_failed');
    expect(failed?.data).toMatchObject({ attempts: 4 });
    expect((failed?.data as { errors: string[] }).errors.join(' ')).toMatch(/HTTP 500.*(timeout|aborted)/i);
  });

  it('without a URL the decision is journaled and says nothing is sent', () => {
    const dir = tempDir();
    writeFileSync(join(dir, 'w.yaml'), POLICY);
    const { rt, events, sample } = runtime(dir, { watch: false });
    rt.load();
    sample('m', 1);
    expect(events.at(-1)?.reason).toMatch(/no alert receiver is configured/);
  });
});
