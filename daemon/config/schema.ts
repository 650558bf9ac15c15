import { z } from 'zod';
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

/** Signed bundles: verification limits, trial and loop-guard settings (docs/bundles.md). */
export const bundlesSchema = z.strictObject({
  max_bytes: sizeSchema.optional(),
  max_files: z.number().int().min(1).max(1_000_000).optional(),
  max_path_length: z.number().int().min(16).max(4096).optional(),
  signature_threshold: z.number().int().min(1).max(16).optional(),
  trial: durationSchema.optional(),
  max_trial_starts: z.number().int().min(1).max(100).optional(),
  max_attempts: z.number().int().min(1).max(100).optional(),
  inbox_stable: durationSchema.optional(),
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
  bundles: bundlesSchema.optional(),
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
  readonly bundles: {
    readonly max_bytes: number;
    readonly max_files: number;
    readonly max_path_length: number;
    readonly signature_threshold: number;
    readonly trial_ms: number;
    readonly max_trial_starts: number;
    readonly max_attempts: number;
    readonly inbox_stable_ms: number;
  };
}

/** Keys whose change takes effect only after a daemon restart (all of them, until hot reload lands). */
export const RESTART_REQUIRED = ['device', 'journal', 'artifacts', 'log'] as const;
