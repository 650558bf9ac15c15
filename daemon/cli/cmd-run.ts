import { type Profile, PROFILES } from '../config/index.js';
import { WaveosError, resolveRoot } from '../core/index.js';
import { applyHeapGrowth } from '../core/heap-growth.js';
import { runDaemon } from '../main.js';
import { parseFlags } from './context.js';

const USAGE = 'waveos run [--config FILE] [--root DIR] [--profile dev|prod] [--log-format json|pretty]';

export async function runCommand(argv: string[]): Promise<number | undefined> {
  const { values, positionals } = parseFlags(argv, { config: { type: 'string' }, profile: { type: 'string' }, 'log-format': { type: 'string' } }, USAGE);
  if (positionals.length) throw new WaveosError('WAVEOS_E_USAGE', `unexpected argument "${positionals[0]}"\nusage: ${USAGE}`);
  const profile = values.profile;
  if (profile !== undefined && !(PROFILES as readonly string[]).includes(profile))
    throw new WaveosError('WAVEOS_E_USAGE', `--profile: expected dev or prod, got "${profile}"`);
  const format = values['log-format'];
  if (format !== undefined && format !== 'json' && format !== 'pretty')
    throw new WaveosError('WAVEOS_E_USAGE', `--log-format: expected json or pretty, got "${format}"`);
  applyHeapGrowth(process.env);
  await runDaemon({ root: resolveRoot(values.root), configFile: values.config, profile: profile as Profile | undefined, logFormat: format });
  // The daemon keeps the process alive; it exits on its own signal handling.
  return undefined;
}
