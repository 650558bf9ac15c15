import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { bundleRig } from './helpers/bundle-rig.js';
import { appDir, buildApp } from './helpers/bundles.js';
import { cli, waitFor } from './helpers/daemon.js';
import { type ReceivedSpan, otlpReceiver } from './helpers/otlp-receiver.js';
import { exitBreakerPolicy, installPolicy } from './helpers/policies.js';
import { events } from './helpers/services.js';

const repo = join(import.meta.dirname, '..');
// protoc (Debian's protobuf-compiler) decodes the receiver's bodies with the official .proto files.
const ensured = spawnSync('bash', [join(repo, 'scripts/ensure-debian-package.sh'), 'protoc', 'protobuf-compiler'], { encoding: 'utf8' });
if (ensured.status !== 0) throw new Error(`protoc is needed to decode OTLP protobuf: ${ensured.stderr}`);

const { setup, start } = bundleRig({ prefix: 'waveos-tracing-', config: 'schema_version: 2\nbundles:\n  trial: 300ms\n  inbox_stable: 200ms\ntelemetry:\n  prometheus: {enabled: false}\npolicy:\n  examples: false\n' });

const POLICY = exitBreakerPolicy({ version: 't.1', id: 'exit-breaker', threshold: 1, window: '1m', open_for: '1h', probe: '1m' });

const closers: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0)) await c();
});

function children(spans: readonly ReceivedSpan[], parent: ReceivedSpan): ReceivedSpan[] {
  return spans.filter((s) => s.parentSpanId === parent.spanId && s.traceId === parent.traceId);
}

function tree(spans: readonly ReceivedSpan[], root: ReceivedSpan, depth = 0): string[] {
  return [`${'  '.repeat(depth)}${root.name}`, ...children(spans, root).sort((a, b) => (a.startNs < b.startNs ? -1 : 1)).flatMap((c) => tree(spans, c, depth + 1))];
}

describe('traces over OTLP/HTTP to a real receiver', () => {
  it('a service restart and a bundle install arrive as span trees: API request → action → supervisor / install states', async () => {
    const rx = await otlpReceiver();
    closers.push(() => rx.close());
    const { root, work, k } = setup(
      [
        'device: {device_id: trace-board}',
        'services:',
        `  - {name: steady, command: ${JSON.stringify(process.execPath)}, args: ["-e", "setInterval(() => {}, 1000)"]}`,
        'tracing:',
        '  enabled: true',
        `  otlp_endpoint: ${rx.url}`,
        '  export_interval: 200ms',
        '',
      ].join('\n'),
    );
    // A breaker that opens at the first unexpected exit: the policy path's spans (killed below, at the end).
    installPolicy(root, 't.yaml', POLICY);
    await start(root);
    // The collector is away for a while: spans wait in the bounded buffer and arrive later.
    rx.up = false;
    const r = cli(['service', 'restart', 'steady', '--root', root]);
    expect(r.code, r.stderr).toBe(0);
    await new Promise((res) => setTimeout(res, 1_000));
    rx.up = true;

    const restart = await waitFor('the restart action span', () => rx.spans.find((s) => s.name === 'action service.restart'), 20_000, 100);
    const api = rx.spans.find((s) => s.spanId === restart.parentSpanId);
    expect(api?.name).toMatch(/^api POST /);
    expect(api?.kind).toBe('SPAN_KIND_SERVER');
    expect(tree(rx.spans, api as ReceivedSpan)).toEqual([expect.stringMatching(/^api POST /), '  action service.restart', '    service.stop', '    service.start']);
    const intent = events(root, 'action.requested').find((e) => e.data.action === 'service.restart');
    expect(restart.attributes).toMatchObject({ 'waveos.action': 'service.restart', 'waveos.target': 'steady', 'waveos.intent_id': expect.any(Number), 'waveos.intent_seq': intent?.seq, 'waveos.device_id': 'trace-board', 'waveos.outcome': 'succeeded' });
    expect(restart.attributes['waveos.run_id']).toMatch(/./);
    expect(restart.resource).toMatchObject({ 'service.name': 'waveos', 'service.instance.id': 'trace-board' });

    await buildApp(k, appDir(work, 'demo', '1.0.0'), join(work, 'v1.bundle'), '1.0.0');
    expect(cli(['bundle', 'install', join(work, 'v1.bundle'), '--root', root]).code).toBe(0);
    const install = await waitFor('the install span', () => rx.spans.find((s) => s.name === 'bundle.install' && children(rx.spans, s).some((c) => c.name === 'bundle.commit')), 20_000, 100);
    expect(rx.spans.find((s) => s.spanId === install.parentSpanId)?.name).toMatch(/^api POST /);
    const steps = children(rx.spans, install).sort((a, b) => (a.startNs < b.startNs ? -1 : 1));
    expect(steps.map((s) => s.name)).toEqual(expect.arrayContaining(['bundle.verify', 'bundle.stage', 'bundle.activate', 'bundle.begin-trial', 'bundle.run-trial', 'bundle.commit']));
    expect(steps.map((s) => s.attributes['waveos.state']).filter(Boolean)).toEqual(expect.arrayContaining(['verified', 'staged', 'activated', 'trial', 'committed']));
    // Activation goes through the executor: its action span is the activate step's child.
    const activate = steps.find((s) => s.name === 'bundle.activate') as ReceivedSpan;
    expect(children(rx.spans, activate).map((s) => s.name)).toContain('action bundle.activate');
    const committed = events(root, 'bundle.committed').at(-1);
    expect(steps.find((s) => s.name === 'bundle.commit')?.attributes['waveos.event_seq']).toBe(committed?.seq);

    // The same spans are kept compactly in the journal for the evidence report.
    const kept = await waitFor('trace.spans in the journal', () => {
      const all = events(root, 'trace.spans').flatMap((e) => e.data.spans as { s: string; n: string }[]);
      return all.some((s) => s.n === 'bundle.install') ? all : undefined;
    }, 10_000, 200);
    expect(kept.find((s) => s.n === 'action service.restart')?.s).toBe(restart.spanId);

    // And an evidence pack's report shows the action's waterfall offline.
    const out = join(work, 'pack.tar.gz');
    const ex = cli(['evidence', 'export', '--reason', 'traces', '--out', out, '--root', root]);
    expect(ex.code, ex.stderr).toBe(0);
    const html = spawnSync('tar', ['-xzOf', out, 'report.html'], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 }).stdout;
    const data = JSON.parse(/<script type="application\/json" id="evidence-data">(.*?)<\/script>/s.exec(html)?.[1] ?? '{}') as { traces?: { span: { n: string; s: string }; depth: number }[][] };
    const wf = data.traces?.find((rows) => rows.some((r) => r.span.s === restart.spanId));
    expect(wf?.map((r) => `${r.depth}:${r.span.n}`)).toEqual([expect.stringMatching(/^0:api POST /), '1:action service.restart', '2:service.stop', '2:service.start']);
    expect(html).toContain('id="traces"');

    // Policy path: an exit → the breaker's evaluation → its decision → the executor's mode action.
    const pid = (JSON.parse(cli(['service', 'list', '--json', '--root', root]).stdout) as { services: { name: string; pid: number }[] }).services.find((x) => x.name === 'steady')?.pid;
    expect(pid).toBeGreaterThan(0);
    process.kill(pid as number, 'SIGKILL');
    const modeSet = await waitFor('the mode action from the breaker', () => rx.spans.find((s) => s.name === 'action mode.set'), 20_000, 100).catch((e: unknown) => {
      throw new Error(`${(e as Error).message}; spans: ${rx.spans.map((s) => s.name).join(', ')}; rejected: ${events(root, 'policy.rejected').map((x) => x.reason).join(' | ')}`);
    });
    expect(modeSet.attributes['waveos.source']).toBe('policy:exit-breaker');
    const decision = rx.spans.find((s) => s.spanId === modeSet.parentSpanId);
    expect(decision?.name).toBe('policy.decision exit-breaker');
    expect(rx.spans.find((s) => s.spanId === decision?.parentSpanId)?.name).toBe('policy.evaluate');
  }, 120_000);
});
