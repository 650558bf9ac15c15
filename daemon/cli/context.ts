import { accessSync, constants, readFileSync } from 'node:fs';
import { type ParseArgsConfig, parseArgs } from 'node:util';
import type { ClientOptions } from '../api/client.js';
import { WaveosError } from '../core/errors.js';
import { type Paths, pathsFor, resolveRoot } from '../core/paths.js';

/** Flags every command takes (CONTRACT.md "Global"). */
export const GLOBAL_OPTIONS = {
  root: { type: 'string' },
  json: { type: 'boolean' },
  'token-file': { type: 'string' },
  help: { type: 'boolean', short: 'h' },
  'no-color': { type: 'boolean' },
} as const satisfies ParseArgsConfig['options'];

export interface Output {
  out(text: string): void;
  err(text: string): void;
  /** Bytes for stdout as they are (large output written without being made one string first); else `out`. */
  outBytes?(pieces: readonly Uint8Array[]): void;
}

export const stdio: Output = {
  out: (t) => process.stdout.write(t.endsWith('\n') ? t : `${t}\n`),
  err: (t) => process.stderr.write(t.endsWith('\n') ? t : `${t}\n`),
  outBytes: (pieces) => {
    for (const p of pieces) process.stdout.write(p);
    process.stdout.write('\n');
  },
};

/** Parses one command's flags strictly: an unknown or malformed flag is a usage error (exit 2). */
export function parseFlags<O extends NonNullable<ParseArgsConfig['options']>>(argv: string[], options: O, usage: string) {
  try {
    return parseArgs({ args: argv, options: { ...GLOBAL_OPTIONS, ...options }, allowPositionals: true, strict: true });
  } catch (e) {
    throw new WaveosError('WAVEOS_E_USAGE', `${(e as Error).message}\nusage: ${usage}`);
  }
}

export function rootPaths(flag: string | undefined): Paths {
  return pathsFor(resolveRoot(flag));
}

/** The API token: WAVEOS_TOKEN, else the file named by --token-file. */
export function clientOptions(paths: Paths, tokenFile: string | undefined, env: NodeJS.ProcessEnv = process.env): ClientOptions {
  let token = env.WAVEOS_TOKEN?.trim() || undefined;
  if (tokenFile) {
    try {
      token = readFileSync(tokenFile, 'utf8').trim();
    } catch (e) {
      throw new WaveosError('WAVEOS_E_USAGE', `${tokenFile}: cannot read the token file: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
    }
  }
  return { socketPath: controlSocketFor(paths), token };
}

/**
 * The first control socket this user may connect to: the admin socket, then the viewer socket (their file
 * modes are the authentication), then the token socket. A socket that is missing or not writable for us is
 * passed over, so the message on failure names the token socket of CONTRACT.md.
 */
export function controlSocketFor(paths: Paths): string {
  for (const path of [paths.adminSocket, paths.viewerSocket]) {
    try {
      accessSync(path, constants.W_OK);
      return path;
    } catch {
      // not ours to use: try the next
    }
  }
  return paths.socket;
}
