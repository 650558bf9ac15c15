import { z } from 'zod';
import { policyFileSchema } from './schema.js';

/** JSON Schema of a policy file for editors (yaml-language-server and the like). */
export function policyJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(policyFileSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'WaveOS policy file (etc/waveos/policies.d/*.yaml)',
  };
}
