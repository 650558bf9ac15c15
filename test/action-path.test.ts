import { readFileSync, readdirSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

/**
 * ARCHITECTURE.md: only the action executor changes the world. This test reads the daemon's source and
 * fails when a module other than the executor's handler modules spawns a process, sends a signal, switches
 * a slot link, writes the device's mode or drives the supervisor. Each exception says why it is one.
 */
const REPO = resolve(import.meta.dirname, '..');

interface Rule {
  what: string;
  /** Folders (ending in /) or files where the call is allowed. */
  allowed: readonly string[];
  find(node: ts.Node): boolean;
}

const CHILD_PROCESS_CALLS = new Set(['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork']);
const SUPERVISOR_CHANGES = new Set(['startService', 'stopService', 'addService', 'removeService', 'setHold']);
const STATE_WRITES = new Set(['setState', 'setStates', 'writeState', 'writeStates', 'appendDurableWithState']);

const calleeName = (n: ts.CallExpression): string | undefined =>
  ts.isIdentifier(n.expression) ? n.expression.text : ts.isPropertyAccessExpression(n.expression) ? n.expression.name.text : undefined;

/** The executor's handlers: recovery's, the supervisor they drive, and the update agent's. */
const HANDLERS = ['daemon/recovery/', 'daemon/services/', 'daemon/bundles/actions.ts'];

export const RULES: readonly Rule[] = [
  {
    what: 'starts a process (node:child_process)',
    // The launcher is a process of its own that starts the daemon (it never runs inside it); the GPU
    // collector reads figures through nvidia-smi, a probe that changes nothing; so is an app bundle's trial
    // health command (health-check.ts), run in a process group of its own.
    // `waveos fleet provision` runs openssl in the CLI's own process to make the board's TLS key and CSR (never in the daemon).
    allowed: [...HANDLERS, 'daemon/bundles/launcher.ts', 'daemon/telemetry/collectors.ts', 'daemon/bundles/health-check.ts', 'daemon/cli/cmd-fleet.ts'],
    find: (n) =>
      ts.isImportDeclaration(n) &&
      ts.isStringLiteral(n.moduleSpecifier) &&
      /^(node:)?child_process$/.test(n.moduleSpecifier.text) &&
      !!n.importClause?.namedBindings &&
      ts.isNamedImports(n.importClause.namedBindings) &&
      n.importClause.namedBindings.elements.some((e) => CHILD_PROCESS_CALLS.has((e.propertyName ?? e.name).text)),
  },
  {
    what: "runs a command (services' runCommand)",
    // The trial's health command of an app bundle is a probe, like a service's exec health check.
    allowed: [...HANDLERS, 'daemon/bundles/runtime.ts'],
    find: (n) => ts.isCallExpression(n) && ts.isIdentifier(n.expression) && n.expression.text === 'runCommand',
  },
  {
    what: 'sends a signal (process.kill)',
    // fault.ts kills its own process at a named point, for the HIL rig's crash tests (WAVEOS_FAULT);
    // health-check.ts kills only the process group of the probe it started, when it ends or times out.
    allowed: [...HANDLERS, 'daemon/bundles/fault.ts', 'daemon/bundles/health-check.ts'],
    find: (n) => ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && n.expression.getText() === 'process.kill',
  },
  {
    what: 'switches a slot link (switchLink)',
    // slots.ts defines it; the launcher switches back to the last known-good while no daemon runs.
    allowed: ['daemon/bundles/actions.ts', 'daemon/bundles/slots.ts', 'daemon/bundles/launcher.ts'],
    find: (n) => ts.isCallExpression(n) && calleeName(n) === 'switchLink',
  },
  {
    what: "writes the device's mode (mode.current)",
    allowed: ['daemon/recovery/'],
    find: (n) => ts.isCallExpression(n) && STATE_WRITES.has(calleeName(n) ?? '') && n.arguments.some((a) => /\bMODE_KEY\b|['"]mode\.current['"]/.test(a.getText())),
  },
  {
    what: 'starts, stops or holds a supervised service',
    allowed: HANDLERS,
    find: (n) => ts.isCallExpression(n) && ts.isPropertyAccessExpression(n.expression) && SUPERVISOR_CHANGES.has(n.expression.name.text),
  },
];

export function violations(root: string, files: readonly string[]): string[] {
  const out: string[] = [];
  for (const file of files) {
    const rel = relative(root, file);
    const src = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true);
    const visit = (n: ts.Node): void => {
      for (const r of RULES) {
        if (r.allowed.some((a) => (a.endsWith('/') ? rel.startsWith(a) : rel === a))) continue;
        if (r.find(n)) out.push(`${rel}:${src.getLineAndCharacterOfPosition(n.getStart()).line + 1} ${r.what}`);
      }
      ts.forEachChild(n, visit);
    };
    visit(src);
  }
  return out;
}

function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return sources(p);
    return e.name.endsWith('.ts') && !e.name.endsWith('.test.ts') && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

describe('one action path', () => {
  it('only the executor handler modules change the world', () => {
    expect(violations(REPO, sources(join(REPO, 'daemon')))).toEqual([]);
  });

  it('finds each kind of world-changing call outside the handlers', () => {
    const fixture = join(REPO, 'test/fixtures/action-path/daemon/rogue.ts');
    const found = violations(join(REPO, 'test/fixtures/action-path'), [fixture]).map((v) => v.replace(/^daemon\/rogue\.ts:\d+ /, ''));
    expect(found.sort()).toEqual(RULES.map((r) => r.what).sort());
  });
});
