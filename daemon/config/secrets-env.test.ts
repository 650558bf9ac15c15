import { describe, expect, it } from 'vitest';
import { isWaveosError } from '../core/index.js';
import { effectiveConfig, parseConfigText } from './index.js';

function problemsOf(text: string): { line?: number; path?: string; message: string }[] {
  try {
    parseConfigText(text, 'c.yaml');
  } catch (e) {
    if (isWaveosError(e)) return [...e.problems];
    throw e;
  }
  return [];
}

describe('a service names the secrets and variables it gets', () => {
  const svc = (extra: string): string => `schema_version: 2\nsecrets:\n  db: {env: DB_SECRET}\nservices:\n  - name: app\n    command: /bin/true\n${extra}`;

  it('accepts declared secrets and inherited names, and carries them into the spec', () => {
    const parsed = parseConfigText(svc('    secrets_env: {DB_PASSWORD: db}\n    inherit_env: [HTTP_PROXY]\n'), 'c.yaml');
    const spec = effectiveConfig(parsed.file, 'prod', 'd').services[0];
    expect(spec?.secrets_env).toEqual({ DB_PASSWORD: 'db' });
    expect(spec?.inherit_env).toEqual(['HTTP_PROXY']);
  });

  it('refuses an undeclared secret, located at the service key', () => {
    expect(problemsOf(svc('    secrets_env: {DB_PASSWORD: nope}\n'))[0]).toMatchObject({ path: 'services.0.secrets_env.DB_PASSWORD', line: 7, message: expect.stringMatching(/secret "nope" is not declared under secrets: \(declared: db\)/) });
    expect(problemsOf(svc('    inherit_env: ["not a name"]\n'))[0]).toMatchObject({ path: 'services.0.inherit_env.0' });
  });

  it('refuses a redaction pattern that the linear-time engine cannot run, located', () => {
    expect(problemsOf('schema_version: 2\nspooler:\n  redact: ["ok", "(?<=token=)\\\\S+"]\n')[0]).toMatchObject({ path: 'spooler.redact.1', line: 3, message: expect.stringMatching(/linear time/) });
  });
});
