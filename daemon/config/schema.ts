import { z } from 'zod';
import { validate as validateCron } from 'node-cron';
import { parseDuration, parseSize } from '../core/index.js';

export const CONFIG_SCHEMA_VERSION = 2;
export const PROFILES = ['dev', 'prod'] as const;
export type Profile = (typeof PROFILES)[number];

/** "5s", "500ms", "1m": kept as text in the file, turned into milliseconds here. */
export const durationSchema = z
  .string()
  .describe('a duration such as 500ms, 5s, 1m, 2h or 30d')
  .transform((text, ctx) => {
    const ms = parseDuration(text);
    if (ms === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a duration such as 500ms, 5s, 1m, 2h or 30d, got "${text}"` });
      return z.NEVER;
    }
    return ms;
  });

export const sizeSchema = z
  .union([z.number().int().nonnegative(), z.string()])
  .describe('a size in bytes, or with a unit: 512KiB, 256MiB, 1GB')
  .transform((v, ctx) => {
    const bytes = typeof v === 'number' ? v : parseSize(v);
    if (bytes === undefined) {
      ctx.addIssue({ code: 'custom', message: `expected a size such as 4096, 512KiB or 256MiB, got "${v}"` });
      return z.NEVER;
    }
    return bytes;
  });

const identifier = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"');

export const deviceSchema = z.strictObject({
  device_id: identifier.optional().describe('defaults to one derived from /etc/machine-id'),
  app_id: identifier.optional(),
  environment: identifier.optional(),
});

export const logSchema = z.strictObject({
  level: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace']).optional(),
  format: z.enum(['json', 'pretty']).optional(),
  /** Extra pino redaction paths on top of the built-in secret names. */
  redact: z.array(z.string().min(1)).optional(),
});

export const journalSchema = z.strictObject({
  /** Most events in one group commit. */
  batch_max: z.number().int().min(1).max(10_000).optional(),
  /** How long an append may wait for others to share its commit. */
  batch_delay_ms: z.number().int().min(0).max(1_000).optional(),
});

export const artifactsSchema = z.strictObject({
  flush_interval: durationSchema.optional(),
  keep_runs: z.number().int().min(1).max(10_000).optional(),
  max_bytes: sizeSchema.optional(),
});

export const evidenceSchema = z.strictObject({
  /** A node-cron expression (`0 3 * * *` = daily at 03:00) or `off`. */
  schedule: z
    .string()
    .refine((s) => s === 'off' || validateCron(s), 'expected a cron expression such as "0 3 * * *" (daily at 03:00), or "off"')
    .optional(),
  /** Most packs kept in var/lib/waveos/evidence/; the oldest go first. */
  keep: z.number().int().min(1).max(10_000).optional(),
  /** Most bytes all packs may take together. */
  max_bytes: sizeSchema.optional(),
  /** Incident exports allowed per `incident_per`; more are suppressed (and counted in an event). */
  incident_max: z.number().int().min(0).max(1_000).optional(),
  incident_per: durationSchema.optional(),
  /** How much history before an incident its pack holds, and how long after it the export waits. */
  window_before: durationSchema.optional(),
  window_after: durationSchema.optional(),
  /** The window of on-demand and scheduled exports when none is given. */
  default_window: durationSchema.optional(),
});

/** The config file as written by an operator (schema_version 2). */
export const configFileSchema = z.strictObject({
  schema_version: z.literal(CONFIG_SCHEMA_VERSION),
  profile: z.enum(PROFILES).optional(),
  device: deviceSchema.optional(),
  feature_flags: z.record(z.string().regex(/^[a-z][a-z0-9_.-]*$/), z.boolean()).optional(),
  log: logSchema.optional(),
  journal: journalSchema.optional(),
  artifacts: artifactsSchema.optional(),
  evidence: evidenceSchema.optional(),
});
export type ConfigFile = z.output<typeof configFileSchema>;

/** The effective config: file values over the profile's defaults, every field present. */
export interface Config {
  readonly schema_version: number;
  readonly profile: Profile;
  readonly device: { readonly device_id: string; readonly app_id: string; readonly environment: string };
  readonly feature_flags: Readonly<Record<string, boolean>>;
  readonly log: { readonly level: string; readonly format: 'json' | 'pretty'; readonly redact: readonly string[] };
  readonly journal: { readonly batch_max: number; readonly batch_delay_ms: number };
  readonly artifacts: { readonly flush_interval_ms: number; readonly keep_runs: number; readonly max_bytes: number };
  readonly evidence: {
    readonly schedule: string | null;
    readonly keep: number;
    readonly max_bytes: number;
    readonly incident_max: number;
    readonly incident_per_ms: number;
    readonly window_before_ms: number;
    readonly window_after_ms: number;
    readonly default_window_ms: number;
  };
}

/** Keys whose change takes effect only after a daemon restart (all of them, until hot reload lands). */
export const RESTART_REQUIRED = ['device', 'journal', 'artifacts', 'log', 'evidence'] as const;
