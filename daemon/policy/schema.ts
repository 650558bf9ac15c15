import { z } from 'zod';
import { boundedDuration, parseSize } from '../core/index.js';

/** A plain number, or a size with a unit ("256MiB"), so memory thresholds read as operators think of them. */
export const quantity = z
  .union([z.number(), z.string()])
  .describe('a number, or a size with a unit such as 512KiB or 256MiB')
  .transform((v, ctx) => {
    if (typeof v === 'number') return v;
    const bytes = parseSize(v);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a number or a size such as 4096, 512KiB or 256MiB, got "${v}"` });
      return z.NEVER;
    }
    return bytes;
  });

export const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"');
const eventKind = z.string().regex(/^[a-z][a-z0-9_]*(\.[a-z0-9_]+)*$/, 'expected a dotted event kind such as service.exited');
const metricName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_.:]*$/, 'expected a metric name such as service_rss_bytes');
/** Label selector: exact value, or a glob with `*`. */
const labelSelector = z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected a label name'), z.string());
/** Service names in actions and modes; `*` globs are allowed in mode service lists. */
const serviceGlob = z.string().regex(/^[A-Za-z0-9*][A-Za-z0-9_.*-]{0,63}$/, 'expected a service name or a glob such as sensor-*');

export const OPS = ['>', '>=', '<', '<=', '==', '!='] as const;
export type Op = (typeof OPS)[number];
const op = z.enum(OPS);

export const SEVERITIES = ['info', 'notice', 'warning', 'error', 'critical'] as const;
export type PolicySeverity = (typeof SEVERITIES)[number];

const capFields = {
  nice: z.number().int().min(-20).max(19).optional().describe('process niceness, -20..19'),
  ionice: z
    .strictObject({ class: z.enum(['realtime', 'best-effort', 'idle']), level: z.number().int().min(0).max(7).optional() })
    .optional()
    .describe('I/O scheduling class and level'),
  cpu_weight: z.number().int().min(1).max(10_000).optional().describe('cgroup v2 cpu.weight, 1..10000'),
  cpu_max: z
    .strictObject({ quota: z.union([z.literal('max'), boundedDuration('1ms', '10s')]), period: boundedDuration('1ms', '1s').optional() })
    .optional()
    .describe('cgroup v2 cpu.max: quota per period (period defaults to 100ms)'),
};

export const actionSchema = z.discriminatedUnion('type', [
  z.strictObject({
    type: z.literal('emit_event'),
    severity: z.enum(SEVERITIES).default('warning'),
    kind: eventKind.optional().describe('event kind; defaults to policy.alert'),
    message: z.string().max(500).optional().describe('text added to the reason'),
  }),
  z.strictObject({ type: z.literal('set_mode'), mode: identifier }),
  z.strictObject({ type: z.literal('restart_service'), service: identifier.optional().describe('defaults to the series label "service"') }),
  z.strictObject({ type: z.literal('stop_service'), service: identifier.optional() }),
  z.strictObject({ type: z.literal('start_service'), service: identifier.optional() }),
  z.strictObject({ type: z.literal('apply_cap'), service: identifier.optional(), ...capFields }),
  z.strictObject({ type: z.literal('export_evidence'), reason: z.string().max(200).optional() }),
  z.strictObject({ type: z.literal('request_reboot') }),
  z.strictObject({ type: z.literal('webhook'), message: z.string().max(500).optional() }),
]);
export type ActionSpec = z.output<typeof actionSchema>;
export type ActionType = ActionSpec['type'];

const actions = z.array(actionSchema).min(1);

const base = {
  id: identifier,
  description: z.string().max(500).optional(),
  /** The rule is evaluated only in these modes (default: all). */
  modes: z.array(identifier).min(1).optional(),
};

export const thresholdRuleSchema = z.strictObject({
  ...base,
  kind: z.literal('threshold'),
  metric: metricName,
  labels: labelSelector.optional(),
  op,
  value: quantity,
  for: boundedDuration('0s', '1d').optional().describe('the condition must hold this long before the rule fires (default 0)'),
  clear: z
    .strictObject({ op, value: quantity, for: boundedDuration('0s', '1d').optional() })
    .optional()
    .describe('hysteresis: the condition under which a fired rule is cleared (default: the trigger no longer holds)'),
  cooldown: boundedDuration('0s', '7d').optional().describe('the least time between two firings of the rule for one series'),
  repeat: z.boolean().optional().describe('fire again after the cooldown while the condition still holds (default false)'),
  actions,
  on_clear: actions.optional(),
});

export const BUDGET_RESOURCES = ['rss', 'cpu_share', 'open_files', 'spool_bytes'] as const;
export type BudgetResource = (typeof BUDGET_RESOURCES)[number];

export const budgetRuleSchema = z.strictObject({
  ...base,
  kind: z.literal('budget'),
  service: identifier,
  resource: z.enum(BUDGET_RESOURCES),
  limit: quantity,
  metric: metricName.optional().describe('override the metric the resource is read from'),
  for: boundedDuration('0s', '1d').optional(),
  cooldown: boundedDuration('0s', '7d').optional(),
  repeat: z.boolean().optional(),
  action: z.enum(['warn', 'throttle', 'restart', 'stop']),
  /** What `throttle` applies (default: nice 10, cpu.weight 20). */
  throttle: z.strictObject(capFields).optional(),
});

export const rateLimitRuleSchema = z.strictObject({
  ...base,
  kind: z.literal('rate_limit'),
  flow: identifier.describe('service.restart, log.lines, proxy.request, evidence.export, device.reboot, or your own'),
  limit: z.number().int().min(1).describe('tokens refilled per `per`'),
  per: boundedDuration('100ms', '30d'),
  burst: z.number().int().min(1).optional().describe('bucket size (default: limit)'),
  per_key: z.boolean().default(true).describe('one bucket per key (service, source) rather than one for the flow'),
  on_exceeded: actions.optional(),
});

export const capRuleSchema = z.strictObject({
  ...base,
  kind: z.literal('cap'),
  service: identifier,
  ...capFields,
});

const breakerTrigger = z.union([
  z.strictObject({ event: eventKind, labels: labelSelector.optional() }),
  z.strictObject({ metric: metricName, labels: labelSelector.optional(), op, value: quantity }),
]);

export const breakerRuleSchema = z.strictObject({
  ...base,
  kind: z.literal('breaker'),
  trigger: breakerTrigger.describe('what counts as one failure: an event (service.exited) or a metric sample over a threshold'),
  threshold: z.number().int().min(1).describe('failures within `window` that open the breaker'),
  window: boundedDuration('1s', '30d'),
  open_for: boundedDuration('100ms', '7d').describe('how long the breaker stays open before it half-opens'),
  probe: boundedDuration('100ms', '1d').describe('half-open: this long without a failure closes the breaker'),
  mode: identifier.optional().describe('the mode entered while open (the previous mode is restored on close)'),
  actions: actions.optional().describe('extra actions when the breaker opens'),
  on_half_open: actions.optional(),
  on_close: actions.optional(),
});

export const ruleSchema = z.discriminatedUnion('kind', [thresholdRuleSchema, budgetRuleSchema, rateLimitRuleSchema, capRuleSchema, breakerRuleSchema]);
export type RuleSpec = z.output<typeof ruleSchema>;
export type ThresholdRuleSpec = z.output<typeof thresholdRuleSchema>;
export type BudgetRuleSpec = z.output<typeof budgetRuleSchema>;
export type RateLimitRuleSpec = z.output<typeof rateLimitRuleSchema>;
export type CapRuleSpec = z.output<typeof capRuleSchema>;
export type BreakerRuleSpec = z.output<typeof breakerRuleSchema>;
export type CapSpec = Pick<CapRuleSpec, 'nice' | 'ionice' | 'cpu_weight' | 'cpu_max'>;

export const modeSchema = z.strictObject({
  description: z.string().max(500).optional(),
  transitions: z.array(identifier).describe('modes this mode may change to'),
  services: z.array(serviceGlob).default(['*']).describe('services allowed to run in this mode (globs)'),
  feature_flags: z.record(z.string().regex(/^[a-z][a-z0-9_.-]*$/), z.boolean()).default({}).describe('feature flags forced in this mode'),
  on_enter: actions.optional(),
  on_exit: actions.optional(),
});
export type ModeSpec = z.output<typeof modeSchema>;

export const REQUIRED_MODES = ['normal', 'degraded', 'safe'] as const;

/** One policy file under policies.d/ as an operator writes it. */
export const policyFileSchema = z.strictObject({
  policy_version: z
    .union([z.string().min(1).max(64), z.number()])
    .transform((v) => String(v))
    .describe('the version of this file; the effective version of all files goes into run_meta.json and every policy event'),
  description: z.string().max(1000).optional(),
  modes: z.record(identifier, modeSchema).optional().describe('the mode graph; at most one file may define it'),
  initial_mode: identifier.optional(),
  rules: z.array(ruleSchema).default([]),
});
export type PolicyFile = z.output<typeof policyFileSchema>;
