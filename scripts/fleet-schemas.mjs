// Writes docs/formats/fleet/*.schema.json from the protocol module's zod schemas (run after `npm run build`).
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fleetJsonSchemas } from '../dist/fleet/protocol.js';

const dir = join(import.meta.dirname, '..', 'docs', 'formats', 'fleet');
mkdirSync(dir, { recursive: true });
for (const [file, schema] of Object.entries(fleetJsonSchemas())) writeFileSync(join(dir, file), `${JSON.stringify(schema, null, 2)}\n`);
console.log(`wrote ${Object.keys(fleetJsonSchemas()).length} schemas to ${dir}`);
