import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020.js';
import { describe, expect, it } from 'vitest';
import { alertingConfig } from '../config/observability-schema.js';
import type { JournalEvent } from '../journal/index.js';
import { alertChanges } from './alerts.js';
import { AlertGroups } from './groups.js';
import { slackBody, webhookBody } from './render.js';
import { routesFor } from './router.js';

function ev(seq: number, kind: string, data: Record<string, unknown>, severity = 'error'): JournalEvent {
  return { v: 2, seq, ts: new Date(1_700_000_000_000 + seq * 1000).toISOString(), mono_ms: seq, run_id: 'r', boot_id: 'b', kind, severity: severity as JournalEvent['severity'], source: 's', reason: `${kind} #${seq}`, data, prev_hash: '', hash: '' };
}

const config = alertingConfig(
  {
    receivers: { hook: { kind: 'webhook', url: 'http://h/x' }, mail: { kind: 'email', host: 'm', from: 'a@b', to: ['c@d'] } },
    route: { group_by: ['device'], group_wait: 2_000, group_interval: 5_000, repeat_interval: 3_600_000, routes: [{ receiver: 'mail', match: { severity: ['critical'] } }] },
  },
  undefined,
  5_000,
);

function harness() {
  let mono = 0;
  const groups = new AlertGroups(60_000, { mono: () => mono, wall: () => 1_700_000_000_000 + mono });
  const feed = (e: JournalEvent): void => {
    for (const c of alertChanges(e, 'critical')) {
      const labels: Record<string, string> = { ...c.labels, device: 'd1', environment: 'prod' };
      if (c.status === 'resolved') groups.resolve({ ...c, labels });
      else for (const hit of routesFor(config.route, { severity: c.severity, kind: c.kind, environment: 'prod', alertname: labels.alertname ?? '' })) groups.fire({ ...c, labels }, hit);
    }
  };
  return { groups, feed, at: (ms: number) => (mono = ms) };
}

describe('alert groups', () => {
  it('one notification for alerts raised together, after group_wait', () => {
    const h = harness();
    h.feed(ev(1, 'policy.breaker_open', { rule_id: 'crash' }));
    h.feed(ev(2, 'mode.changed', { from: 'normal', to: 'safe' }, 'warning'));
    h.at(1_999);
    expect(h.groups.due()).toEqual([]);
    h.at(2_000);
    const [n, ...rest] = h.groups.due();
    expect(rest).toEqual([]);
    expect(n).toMatchObject({ receiver: 'hook', status: 'firing', trigger: 'new' });
    expect(n?.alerts.map((a) => a.alertname).sort()).toEqual(['WaveosBreakerOpen', 'WaveosSafeMode']);
  });

  it('a flap between two notifications is not sent; the all-clear is, once', () => {
    const h = harness();
    h.feed(ev(1, 'mode.changed', { from: 'normal', to: 'safe' }, 'warning'));
    h.at(2_000);
    expect(h.groups.due()).toHaveLength(1);
    h.at(3_000);
    h.feed(ev(2, 'mode.changed', { from: 'safe', to: 'normal' }, 'warning'));
    h.feed(ev(3, 'mode.changed', { from: 'normal', to: 'safe' }, 'warning'));
    h.at(7_000);
    expect(h.groups.due()).toEqual([]);
    h.feed(ev(4, 'mode.changed', { from: 'safe', to: 'normal' }, 'warning'));
    h.at(12_000);
    const out = h.groups.due();
    expect(out.map((n) => [n.status, n.trigger])).toEqual([['resolved', 'resolved']]);
    expect(h.groups.nextDue()).toBeUndefined();
  });

  it('fired and cleared before the first notification: nothing is sent', () => {
    const h = harness();
    h.feed(ev(1, 'mode.changed', { from: 'normal', to: 'safe' }, 'warning'));
    h.feed(ev(2, 'mode.changed', { from: 'safe', to: 'normal' }, 'warning'));
    h.at(5_000);
    expect(h.groups.due()).toEqual([]);
  });

  it('repeats an unchanged firing group after repeat_interval', () => {
    const h = harness();
    h.feed(ev(1, 'policy.breaker_open', { rule_id: 'crash' }));
    h.at(2_000);
    h.groups.due();
    h.at(2_000 + 3_600_000);
    expect(h.groups.due().map((n) => n.trigger)).toEqual(['repeat']);
  });

  it('routes by severity; the clearing event (a notice) still resolves the alert where it fired', () => {
    const h = harness();
    h.feed(ev(1, 'service.failed', { service: 'cam' }, 'critical'));
    h.at(2_000);
    expect(h.groups.due().map((n) => n.receiver)).toEqual(['mail']);
    h.feed(ev(2, 'service.started', { service: 'cam' }, 'info'));
    h.at(7_000);
    expect(h.groups.due().map((n) => [n.receiver, n.status])).toEqual([['mail', 'resolved']]);
  });

  it('a policy webhook alert resolves after the resolve timeout', () => {
    const h = harness();
    h.feed(ev(1, 'policy.decision', { rule_id: 'hot', action: 'webhook', message: 'too hot' }, 'warning'));
    h.at(2_000);
    expect(h.groups.due()[0]?.alerts[0]).toMatchObject({ alertname: 'WaveosPolicyAlert', rule: 'hot', message: 'too hot' });
    h.at(62_000);
    expect(h.groups.due().map((n) => n.status)).toEqual(['resolved']);
  });

  it('never raises alerts from its own events', () => {
    expect(alertChanges(ev(1, 'alert.send_failed', {}, 'critical'), 'info')).toEqual([]);
    expect(alertChanges(ev(1, 'trace.spans', {}, 'critical'), 'info')).toEqual([]);
  });
});

describe('receiver formats', () => {
  it('the webhook body satisfies docs/alert-webhook.schema.json; Slack has text and blocks', () => {
    const h = harness();
    h.feed(ev(1, 'policy.breaker_open', { rule_id: 'crash', threshold: 3 }));
    h.at(2_000);
    const n = h.groups.due()[0];
    if (!n) throw new Error('no notification');
    const facts = { device_id: 'd1', app_id: 'a', environment: 'prod', run_id: 'r', fleet: { fleet: 'north' }, pack_id: null };
    const schema = JSON.parse(readFileSync(join(import.meta.dirname, '../../docs/alert-webhook.schema.json'), 'utf8')) as object;
    const validate = new Ajv2020.default({ strict: false }).compile(schema);
    const body = webhookBody(n, facts, 7);
    expect(validate(body), JSON.stringify(validate.errors)).toBe(true);
    expect(body).toMatchObject({ id: 'd1-hook-7', device_id: 'd1', fleet: { fleet: 'north' } });
    const slack = slackBody(n, facts);
    expect(slack.text).toBe('[FIRING:1] WaveosBreakerOpen on d1 (prod)');
    expect(Array.isArray(slack.blocks)).toBe(true);
  });
});
