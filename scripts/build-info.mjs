// Stamps the build with the git commit and dirty flag, so run_meta.json can say exactly what runs.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';

function git(...args) {
  try {
    return execFileSync('git', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

const commit = git('rev-parse', 'HEAD');
const porcelain = git('status', '--porcelain', '--untracked-files=no');
const { version } = JSON.parse(readFileSync('package.json', 'utf8'));
mkdirSync('dist', { recursive: true });
writeFileSync(
  'dist/build-info.json',
  `${JSON.stringify({ version, git_commit: commit, git_dirty: porcelain === null ? null : porcelain.length > 0, built_at: new Date().toISOString() }, null, 2)}\n`,
);
