import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv2020, type ValidateFunction } from 'ajv/dist/2020.js';

const DIR = join(import.meta.dirname, '..', '..', 'docs', 'formats', 'fleet');

/** Validators for every fleet message, compiled from the published JSON Schemas (not from the zod code). */
export function fleetValidators(): Map<string, ValidateFunction> {
  const ajv = new Ajv2020({ strict: true, strictRequired: false, allErrors: true, formats: { uri: true, 'date-time': true, base64: true } });
  const out = new Map<string, ValidateFunction>();
  for (const f of readdirSync(DIR).filter((n) => n.endsWith('.schema.json'))) {
    out.set(f.replace('.schema.json', '').replace('-', '/'), ajv.compile(JSON.parse(readFileSync(join(DIR, f), 'utf8')) as object));
  }
  return out;
}

/** Throws with ajv's errors when a message on `channel` does not match its schema. */
export function assertFleetMessage(validators: Map<string, ValidateFunction>, channel: string, message: unknown): void {
  const v = validators.get(channel);
  if (!v) throw new Error(`no schema for channel ${channel}`);
  if (!v(message)) throw new Error(`${channel} message does not match docs/formats/fleet: ${JSON.stringify(v.errors?.slice(0, 5))}\n${JSON.stringify(message).slice(0, 2000)}`);
}
