import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { SecretSource } from '../config/index.js';
import { WaveosError } from '../core/index.js';

/** Resolved secrets, handed only to the code that uses them; `toJSON` keeps them out of logs and events. */
export class Secrets {
  private readonly values: Map<string, string>;

  constructor(values: Map<string, string>) {
    this.values = values;
  }

  get(name: string): string {
    const v = this.values.get(name);
    if (v === undefined) throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `secret "${name}" is used but not declared under secrets:`);
    return v;
  }

  /** Every value, for masking in spooled logs and exports. */
  list(): string[] {
    return [...this.values.values()].filter((v) => v.length >= 4);
  }

  toJSON(): Record<string, string> {
    return Object.fromEntries([...this.values.keys()].map((k) => [k, '[redacted]']));
  }
}

export function resolveSecrets(spec: Readonly<Record<string, SecretSource>>, env: NodeJS.ProcessEnv = process.env): Secrets {
  const values = new Map<string, string>();
  const problems: { path: string; message: string }[] = [];
  for (const [name, src] of Object.entries(spec)) {
    try {
      if ('env' in src) {
        const v = env[src.env];
        if (v === undefined || v === '') throw new Error(`environment variable ${src.env} is not set`);
        values.set(name, v);
      } else if ('file' in src) {
        values.set(name, readFileSync(src.file, 'utf8').replace(/\r?\n$/, ''));
      } else {
        const dir = env.CREDENTIALS_DIRECTORY;
        if (!dir) throw new Error(`credential ${src.credential} needs $CREDENTIALS_DIRECTORY (LoadCredential= in the unit)`);
        values.set(name, readFileSync(join(dir, src.credential), 'utf8').replace(/\r?\n$/, ''));
      }
    } catch (e) {
      const why = (e as NodeJS.ErrnoException).code === 'ENOENT' ? 'the file does not exist' : (e as Error).message;
      problems.push({ path: `secrets.${name}`, message: `cannot read secret "${name}": ${why}` });
    }
  }
  if (problems.length > 0) throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `${problems.length} secret(s) cannot be read`, { problems });
  return new Secrets(values);
}
