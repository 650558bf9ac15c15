import { z } from 'zod';
import { boundsOverride, replaceSchema } from '../core/index.js';
import { numeralAtLeast, numeralBelow } from '../core/decimal-range.js';
import { chaosRuleSchema } from '../core/chaos.js';
import { CRON_SOURCE } from './cron-pattern.js';
import { CONFIG_SCHEMA_VERSION, configFileSchema, evidenceSchema } from './schema.js';
import { healthSchema, healthVariantsSchema } from './services-schema.js';

type JsonSchema = Record<string, unknown>;

/** node-cron's URL check is `new URL()` plus the protocol; the pattern states the protocol and a non-empty host. */
const HTTP_URL_PATTERN = '^[hH][tT][tT][pP][sS]?://[^\\s/?#]+(?:[/?#]\\S*)?$';

/** Chaos errno effects belong to disk points, `fail` to the others (core/chaos.ts ruleProblem). */
const CHAOS_RULE_CONDITIONS = [
  {
    if: { properties: { point: { enum: ['journal.commit', 'artifacts.write', 'spool.write', 'evidence.write'] } } },
    then: { properties: { effect: { not: { const: 'fail' } } } },
    else: { properties: { effect: { not: { enum: ['EIO', 'ENOSPC'] } } } },
  },
];

function override(ctx: { zodSchema: unknown; jsonSchema: JsonSchema }): void {
  boundsOverride(ctx);
  const s = ctx.zodSchema;
  if (s === healthSchema) replaceSchema(ctx.jsonSchema, generate(healthVariantsSchema));
  else if (s === chaosRuleSchema) ctx.jsonSchema.allOf = CHAOS_RULE_CONDITIONS;
  else if (s === evidenceSchema.shape.schedule.unwrap()) replaceSchema(ctx.jsonSchema, { type: 'string', pattern: CRON_SOURCE, description: 'a node-cron expression (`0 3 * * *` = daily at 03:00) or `off`' });
  else if (ctx.jsonSchema.format === 'uri') ctx.jsonSchema.pattern = HTTP_URL_PATTERN;
}

function generate(schema: z.ZodType): JsonSchema {
  const out = z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any', override }) as JsonSchema;
  delete out.$schema;
  return out;
}

/** The prod profile refuses failure injection (config/load.ts); an explicit --profile is beyond a schema's sight. */
const PROD_REFUSES_CHAOS = { if: { properties: { profile: { const: 'prod' } }, required: ['profile'] }, then: { not: { required: ['chaos'] } } };

/**
 * A v1 flush_interval_s becomes the duration `<n>s`, bounded 100ms..1h like artifacts.flush_interval: as text,
 * a numeral from 0.0995 (rounding up to 100 ms) to below 3600.0005.
 */
const FLUSH_SECONDS_TEXT = `^(?=(?:${numeralAtLeast({ num: 199n, den: 2000n })})$)(?:${numeralBelow({ num: 7_200_001n, den: 2000n })})$`;

/**
 * schema_version 1 is migrated on load (config/migrate.ts): identity at the top level, and
 * artifacts.flush_interval_s, a number of seconds that becomes the duration "<n>s". Those keys are described
 * beside the current ones, and refused unless the file says schema_version: 1.
 */
function withVersionOne(v2: JsonSchema): JsonSchema {
  const props = v2.properties as Record<string, JsonSchema>;
  const device = (props.device?.properties ?? {}) as Record<string, JsonSchema>;
  const artifacts = props.artifacts as { properties: Record<string, JsonSchema> };
  const flushSeconds = { anyOf: [{ type: 'number', minimum: 0.0995, exclusiveMaximum: 3600.0005 }, { type: 'string', pattern: FLUSH_SECONDS_TEXT }], description: 'schema_version 1: seconds, 0.1 to 3600' };
  const old = (s: JsonSchema | undefined): JsonSchema => ({ ...s, description: 'schema_version 1: now under device:' });
  return {
    ...v2,
    properties: {
      ...props,
      schema_version: { enum: [1, CONFIG_SCHEMA_VERSION], description: `schema_version ${CONFIG_SCHEMA_VERSION}; 1 is accepted and migrated when the daemon reads it` },
      device_id: old(device.device_id),
      app_id: old(device.app_id),
      environment: old(device.environment),
      artifacts: { ...artifacts, properties: { ...artifacts.properties, flush_interval_s: flushSeconds } },
    },
    if: { properties: { schema_version: { const: 1 } } },
    else: { properties: { device_id: false, app_id: false, environment: false, artifacts: { type: 'object', properties: { flush_interval_s: false } } } },
    allOf: [PROD_REFUSES_CHAOS],
  };
}

/** JSON Schema of the config file for editors (yaml-language-server and the like), as strict as the daemon. */
export function configJsonSchema(): Record<string, unknown> {
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'WaveOS config (etc/waveos/waveos.yaml)',
    ...withVersionOne(generate(configFileSchema)),
  };
}
