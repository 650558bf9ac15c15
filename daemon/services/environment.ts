import { readFileSync } from 'node:fs';
import type { ServiceSpec } from '../config/index.js';
import { SUPERVISOR_ROOT_ENV } from './orphans.js';

/**
 * The variables every service gets from the daemon's environment: enough to find programs, speak the
 * locale and keep time. Anything else (the daemon's tokens, NOTIFY_SOCKET, the secrets it was started
 * with) reaches a service only when its config names it: `env`, `secrets_env` or `inherit_env`.
 */
export const BASE_ENV = ['PATH', 'LANG', 'LANGUAGE', 'TZ', 'TMPDIR'] as const;
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export interface EnvironmentSource {
  /** The daemon's environment: the base and `inherit_env` are taken from it. */
  daemonEnv: NodeJS.ProcessEnv;
  /** A declared secret's value; throws for an undeclared one. */
  secret?: (name: string) => string;
  root: string;
  /** The service's own log socket (the spooler's), given to it as WAVEOS_LOG_SOCKET. */
  logSocket?: string;
}

/** The home of a user from /etc/passwd; undefined when it is not listed. */
export function homeOf(user: string | number): string | undefined {
  try {
    for (const line of readFileSync('/etc/passwd', 'utf8').split('\n')) {
      const f = line.split(':');
      if ((typeof user === 'number' ? f[2] === String(user) : f[0] === user) && f[5]) return f[5];
    }
  } catch {
    // no user database: no HOME
  }
  return undefined;
}

/**
 * A service's whole environment, in layers: the base; `HOME` of the user it runs as (the daemon's own
 * when it runs as the daemon's user, none when that user has no home); `inherit_env`; its own `env`; the
 * secrets `secrets_env` names; then `WAVEOS_SERVICE`, `WAVEOS_LOG_SOCKET` (its own log socket, when the spooler
 * offers one: lines there are stored as the service's, whatever they claim) and the supervisor's root marker
 * (orphan reaping needs it). The daemon's variables come last so that no config can point them elsewhere.
 */
export function serviceEnvironment(s: ServiceSpec, src: EnvironmentSource): Record<string, string> {
  const from = src.daemonEnv;
  const env: Record<string, string> = {};
  for (const k of Object.keys(from)) {
    const v = from[k];
    if (v !== undefined && ((BASE_ENV as readonly string[]).includes(k) || k.startsWith('LC_'))) env[k] = v;
  }
  env.PATH ??= DEFAULT_PATH;
  const home = s.user === null ? from.HOME : homeOf(s.user);
  if (home !== undefined) env.HOME = home;
  for (const k of s.inherit_env) {
    const v = from[k];
    if (v !== undefined) env[k] = v;
  }
  Object.assign(env, s.env);
  for (const [k, name] of Object.entries(s.secrets_env)) {
    if (!src.secret) throw new Error(`secret "${name}" is named by ${k} but no secrets are available`);
    env[k] = src.secret(name);
  }
  env.WAVEOS_SERVICE = s.name;
  if (src.logSocket !== undefined) env.WAVEOS_LOG_SOCKET = src.logSocket;
  else delete env.WAVEOS_LOG_SOCKET;
  env[SUPERVISOR_ROOT_ENV] = src.root;
  return env;
}
