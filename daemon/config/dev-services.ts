import { fileURLToPath } from 'node:url';
import type { ServiceFile } from './services-schema.js';

/** The repo's example services, found relative to this file (daemon/config or dist/config, two levels below the package). */
export function examplesDir(): string {
  return fileURLToPath(new URL('../../hil-sim/services/', import.meta.url));
}

function node(name: string, script: string, args: string[], extra: Partial<ServiceFile> = {}): ServiceFile {
  return { name, command: process.execPath, args: [`${examplesDir()}${script}`, ...args], ...extra };
}

/**
 * What `npm start` supervises: one of each misbehaviour, gentle enough that an idle dev daemon stays cheap.
 * `{root}` in args and paths is the daemon's root.
 */
export function devServices(): ServiceFile[] {
  return [
    node('healthy', 'healthy.mjs', ['--heartbeat', '{root}/run/waveos/hb/healthy'], {
      critical: true,
      health: { kind: 'heartbeat', file: '{root}/run/waveos/hb/healthy', max_age: 5_000, interval: 2_000, failures: 2 },
    }),
    node('crasher', 'crasher.mjs', ['--seed', '1', '--mean-s', '45']),
    node('hang', 'hang.mjs', ['--seed', '2', '--heartbeat', '{root}/run/waveos/hb/hang', '--hang-after-s', '90'], {
      health: { kind: 'heartbeat', file: '{root}/run/waveos/hb/hang', max_age: 5_000, interval: 2_000, failures: 2 },
    }),
    node('leaker', 'leaker.mjs', ['--seed', '3', '--kb-per-s', '128', '--max-mb', '32']),
    node('flooder', 'flooder.mjs', ['--seed', '4', '--period-s', '60', '--burst-lines', '500']),
  ];
}

/** The dev profile records reboot requests in a file instead of rebooting the machine it runs on. */
export function devRebootCommand(): string[] {
  return [process.execPath, `${examplesDir()}record-reboot.mjs`, '{root}/var/lib/waveos/reboot-requests.log'];
}
