import { createHash } from 'node:crypto';
import { hostname } from 'node:os';
import type { z } from 'zod';
import { INPUT_LIMITS, type InputProblem, type Locate, WaveosError, canonicalJson, defaultDeviceId, parseLocatedYaml, readInputFile } from '../core/index.js';
import { effectiveConfig } from './defaults.js';
import { type Migration, migrate } from './migrate.js';
import { CONFIG_SCHEMA_VERSION, type Config, type ConfigFile, type Profile, configFileSchema } from './schema.js';

export interface LoadedConfig {
  config: Config;
  /** sha256 of the effective config's canonical JSON: a change between runs is config drift. */
  hash: string;
  /** The file read, or undefined when the profile's built-in defaults are in force. */
  file: string | undefined;
  migrations: readonly Migration[];
}

function zodProblems(locate: Locate, error: z.ZodError, allowedTop: string[]): InputProblem[] {
  const out: InputProblem[] = [];
  for (const issue of error.issues) {
    if (issue.code === 'unrecognized_keys') {
      for (const key of issue.keys) {
        const allowed = issue.path.length === 0 ? ` (expected one of: ${allowedTop.join(', ')})` : '';
        out.push(locate(issue.path, `unknown key "${key}"${allowed}`, key));
      }
    } else {
      out.push(locate(issue.path, issue.message));
    }
  }
  return out;
}

function invalid(file: string, problems: InputProblem[]): WaveosError {
  const n = problems.length;
  return new WaveosError('WAVEOS_E_CONFIG_INVALID', `${file}: ${n} problem${n === 1 ? '' : 's'} in the config`, { problems });
}

export interface ParsedConfigFile {
  file: ConfigFile;
  migrations: Migration[];
  /** Locates a later problem (one that needs the profile) in the text that was parsed. */
  locate: Locate;
}

/** Parses and validates config text; every problem is located by file, line, column and key path. */
export function parseConfigText(text: string, file: string): ParsedConfigFile {
  const { value: raw, locate } = parseLocatedYaml(text, file, 'WAVEOS_E_CONFIG_SYNTAX');
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
    throw invalid(file, [{ file, line: 1, column: 1, message: 'expected a mapping of keys to values at the top level' }]);
  }
  const obj = raw as Record<string, unknown>;
  const version = obj.schema_version;
  if (version === undefined) {
    throw invalid(file, [locate([], `schema_version is missing (expected schema_version: ${CONFIG_SCHEMA_VERSION})`)]);
  }
  if (typeof version !== 'number' || !Number.isInteger(version) || version < 1) {
    throw invalid(file, [
      locate(['schema_version'], `expected a whole number such as ${CONFIG_SCHEMA_VERSION}, got ${JSON.stringify(version)}`),
    ]);
  }
  if (version > CONFIG_SCHEMA_VERSION) {
    throw new WaveosError('WAVEOS_E_CONFIG_VERSION', `${file}: schema_version ${version} is newer than this WaveOS understands`, {
      problems: [
        locate(
          ['schema_version'],
          `schema_version ${version} is newer than this WaveOS supports (${CONFIG_SCHEMA_VERSION}); upgrade WaveOS or write the config for schema_version ${CONFIG_SCHEMA_VERSION}`,
        ),
      ],
    });
  }
  const { doc: current, applied } = migrate(obj, version);
  const result = configFileSchema.safeParse(current);
  if (!result.success) {
    throw invalid(file, zodProblems(locate, result.error, Object.keys(configFileSchema.shape)));
  }
  return { file: result.data, migrations: applied, locate };
}

export function configHash(config: Config): string {
  return createHash('sha256').update(canonicalJson(config)).digest('hex');
}

export function readConfigFile(file: string): ParsedConfigFile {
  const r = readInputFile(file, INPUT_LIMITS.configFile);
  if (!r.ok) {
    const code = r.reason === 'too-large' ? 'WAVEOS_E_CONFIG_INVALID' : 'WAVEOS_E_CONFIG_MISSING';
    const expected = r.reason === 'too-large' ? '' : ` (expected a YAML file with schema_version: ${CONFIG_SCHEMA_VERSION})`;
    throw new WaveosError(code, `${file}: the config ${r.message}`, { problems: [{ file, message: `the config ${r.message}${expected}` }] });
  }
  return parseConfigText(r.text, file);
}

export interface LoadOptions {
  /** The file named with --config; it must exist. */
  explicitFile?: string;
  /** The default location; used only when it exists. */
  defaultFile: string;
  /** --profile; wins over the file's `profile:`. */
  profile?: Profile;
  fileExists(path: string): boolean;
}

/** Loads the effective config: the named file, else the default file if present, else built-in defaults. */
export function loadConfig(opts: LoadOptions): LoadedConfig {
  const file = opts.explicitFile ?? (opts.fileExists(opts.defaultFile) ? opts.defaultFile : undefined);
  const parsed = file === undefined ? undefined : readConfigFile(file);
  const profile = opts.profile ?? parsed?.file.profile ?? 'dev';
  if (profile === 'prod' && parsed?.file.chaos && file !== undefined) {
    throw invalid(file, [parsed.locate([], 'chaos (failure injection) is for test rigs and is refused in the prod profile: remove the chaos section', 'chaos')]);
  }
  const config = effectiveConfig(parsed?.file, profile, defaultDeviceId(hostname()));
  return { config, hash: configHash(config), file, migrations: parsed?.migrations ?? [] };
}
