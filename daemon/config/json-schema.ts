import { z } from 'zod';
import { configFileSchema } from './schema.js';

/** JSON Schema of the config file for editors (yaml-language-server and the like). */
export function configJsonSchema(): Record<string, unknown> {
  return {
    ...z.toJSONSchema(configFileSchema, { io: 'input', unrepresentable: 'any' }),
    title: 'WaveOS config (etc/waveos/waveos.yaml)',
  };
}
