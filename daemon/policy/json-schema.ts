import { z } from 'zod';
import { SIZE_PATTERN, boundsOverride, replaceSchema } from '../core/index.js';
import { breakerRuleSchema, budgetRuleSchema, policyFileSchema, quantity, thresholdRuleSchema } from './schema.js';

/** The per-file checks of policy/parse.ts that a schema can state. */
const REPEAT_NEEDS_COOLDOWN = { if: { properties: { repeat: { const: true } }, required: ['repeat'] }, then: { required: ['cooldown'] } };
const BREAKER_NEEDS_EFFECT = { anyOf: [{ required: ['mode'] }, { required: ['actions'] }] };

function override(ctx: { zodSchema: unknown; jsonSchema: Record<string, unknown> }): void {
  boundsOverride(ctx);
  if (ctx.zodSchema === thresholdRuleSchema || ctx.zodSchema === budgetRuleSchema) ctx.jsonSchema.allOf = [REPEAT_NEEDS_COOLDOWN];
  if (ctx.zodSchema === breakerRuleSchema) ctx.jsonSchema.allOf = [BREAKER_NEEDS_EFFECT];
  if (ctx.zodSchema === quantity) {
    replaceSchema(ctx.jsonSchema, { anyOf: [{ type: 'number' }, { type: 'string', pattern: SIZE_PATTERN }], description: 'a number, or a size with a unit such as 512KiB or 256MiB' });
  }
}

/** JSON Schema of a policy file for editors (yaml-language-server and the like), with the daemon's patterns and bounds. */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(policyFileSchema, { io: 'input', unrepresentable: 'any', override }),
    title: 'WaveOS policy file (etc/waveos/policies.d/*.yaml)',
  };
}
