import { existsSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import type { ServiceInput } from '../services/index.js';
import type { Manifest } from './manifest.js';

/** An app bundle runs as the supervised service `app-<name>` (its logs: `waveos logs app-<name>`). */
export function appServiceName(name: string): string {
  return `app-${name}`;
}

/** The environment variable that names the bundle a service was started from. */
export const APP_BUNDLE_ENV = 'WAVEOS_APP_BUNDLE_ID';

/**
 * The service an app slot declares with `app.run`, or undefined when it declares none. It runs from the slot's
 * payload (resolved, so a later switch of `current` does not move it), like a configured service that is not
 * critical; a stop gets 2 s before SIGKILL, as apps always had.
 */
export function appServiceInput(root: string, slotDir: string, manifest: Manifest): ServiceInput | undefined {
  const argv = manifest.app?.run;
  if (!argv?.[0]) return undefined;
  const cwd = realpathSync(join(slotDir, 'payload'));
  return {
    name: appServiceName(manifest.name),
    command: existsSync(join(cwd, argv[0])) ? join(cwd, argv[0]) : argv[0],
    args: argv.slice(1),
    cwd,
    env: { WAVEOS_ROOT: root, WAVEOS_APP_NAME: manifest.name, WAVEOS_APP_VERSION: manifest.version, [APP_BUNDLE_ENV]: manifest.bundle_id },
    stop_timeout: '2s',
  };
}
