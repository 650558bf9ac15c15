import { writeFileSync } from 'node:fs';
import { configJsonSchema, readConfigFile, CONFIG_SCHEMA_VERSION } from '../config/index.js';
import { WaveosError } from '../core/index.js';
import { type Output, parseFlags } from './context.js';

const USAGE = 'waveos config validate FILE | config schema [--out FILE] | config network-allow FILE [--scraper ADDR]... [--allow ADDR|CIDR]... [--out FILE]';

export function configCommand(argv: string[], io: Output): number | Promise<number> {
  const { values, positionals } = parseFlags(argv, { out: { type: 'string' }, scraper: { type: 'string', multiple: true }, allow: { type: 'string', multiple: true } }, USAGE);
  const [sub, ...rest] = positionals;
  if (sub === 'validate') {
    if (rest.length !== 1) throw new WaveosError('WAVEOS_E_USAGE', `config validate takes one FILE\nusage: ${USAGE}`);
    const file = rest[0] as string;
    const parsed = readConfigFile(file);
    const notes = parsed.migrations.map((m) => `note: written for schema_version ${m.from}; migrated in memory to ${m.to} (${m.describe})`);
    if (values.json)
      io.out(
        JSON.stringify({
          file,
          valid: true,
          schema_version: CONFIG_SCHEMA_VERSION,
          migrations: parsed.migrations.map((m) => ({ from: m.from, to: m.to, describe: m.describe })),
        }),
      );
    else io.out([`${file}: valid`, ...notes].join('\n'));
    return 0;
  }
  if (sub === 'schema') {
    const text = `${JSON.stringify(configJsonSchema(), null, 2)}\n`;
    if (values.out) writeFileSync(values.out, text);
    else io.out(text);
    return 0;
  }
  if (sub === 'network-allow') {
    if (rest.length !== 1) throw new WaveosError('WAVEOS_E_USAGE', `config network-allow takes one FILE\nusage: ${USAGE}`);
    return import('./cmd-network-allow.js').then((m) => m.networkAllowCommand(rest[0] as string, { scrapers: values.scraper ?? [], extra: values.allow ?? [] }, values.out, io));
  }
  throw new WaveosError('WAVEOS_E_USAGE', `unknown config command "${sub ?? ''}"\nusage: ${USAGE}`);
}
