// `node scripts/function-lengths.mjs [MAX] [--json]` (from the repo root): lists every function in
// daemon/**/*.ts (tests excluded) longer than MAX lines (120 by default), counted from the line the
// function starts on to the line it ends on, its leading comment not included. Exits 1 when any is found.
import { readFileSync, readdirSync } from 'node:fs';
import { join, relative } from 'node:path';
import ts from 'typescript';

const DEFAULT_MAX = 120;

function sourceFiles(dir) {
  const out = [];
  for (const d of readdirSync(dir, { withFileTypes: true })) {
    const full = join(dir, d.name);
    if (d.isDirectory()) out.push(...sourceFiles(full));
    else if (d.name.endsWith('.ts') && !d.name.endsWith('.test.ts') && !d.name.endsWith('.d.ts')) out.push(full);
  }
  return out;
}

/** A readable name: `f`, `Class.method`, `Class.constructor`, the variable or property an arrow is bound to. */
function nameOf(node) {
  const own = node.name && ts.isIdentifier(node.name) ? node.name.text : node.name?.getText();
  if (ts.isConstructorDeclaration(node)) return `${node.parent.name?.text ?? '<class>'}.constructor`;
  if (ts.isMethodDeclaration(node) || ts.isGetAccessor(node) || ts.isSetAccessor(node)) {
    const cls = ts.isClassLike(node.parent) ? (node.parent.name?.text ?? '<class>') : '<object>';
    return `${cls}.${own ?? '<method>'}`;
  }
  if (own) return own;
  const p = node.parent;
  if (p && (ts.isVariableDeclaration(p) || ts.isPropertyDeclaration(p) || ts.isPropertyAssignment(p)) && p.name) return p.name.getText();
  return node.kind === ts.SyntaxKind.ArrowFunction ? '<arrow>' : '<function>';
}

function isFunction(node) {
  return (
    ts.isFunctionDeclaration(node) ||
    ts.isFunctionExpression(node) ||
    ts.isArrowFunction(node) ||
    ts.isMethodDeclaration(node) ||
    ts.isConstructorDeclaration(node) ||
    ts.isGetAccessor(node) ||
    ts.isSetAccessor(node)
  );
}

/** Every function over `max` lines under `root`/daemon: `{ file, name, line, lines }`, longest first. */
export function longFunctions(root, max = DEFAULT_MAX) {
  const found = [];
  for (const file of sourceFiles(join(root, 'daemon'))) {
    const sf = ts.createSourceFile(file, readFileSync(file, 'utf8'), ts.ScriptTarget.Latest, true, ts.ScriptKind.TS);
    const visit = (node) => {
      if (isFunction(node) && node.body) {
        const start = sf.getLineAndCharacterOfPosition(node.getStart(sf)).line;
        const end = sf.getLineAndCharacterOfPosition(node.getEnd()).line;
        const lines = end - start + 1;
        if (lines > max) found.push({ file: relative(root, file), name: nameOf(node), line: start + 1, lines });
      }
      ts.forEachChild(node, visit);
    };
    visit(sf);
  }
  return found.sort((a, b) => b.lines - a.lines || a.file.localeCompare(b.file));
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const args = process.argv.slice(2);
  const max = Number(args.find((a) => /^\d+$/.test(a)) ?? DEFAULT_MAX);
  const found = longFunctions(process.cwd(), max);
  if (args.includes('--json')) console.log(JSON.stringify(found));
  else for (const f of found) console.log(`${f.file}:${f.line} ${f.name} ${f.lines} lines`);
  process.exitCode = found.length > 0 ? 1 : 0;
}
