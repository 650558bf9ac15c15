import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readFileSync, realpathSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { pathsFor, readBootId, resolveRoot, systemClock, unlinkDurable, writeFileAtomic } from '../core/index.js';
import { Journal, LAUNCHER_NOTE_KEY } from '../journal/index.js';
import { switchLink } from './actions.js';
import { ownTree } from './agent.js';
import { LINK_CURRENT, groupDir, readGroup } from './slots.js';

/** Exit code with which the daemon asks the launcher to start it again (onto a new `waveos` slot). */
export const RESTART_EXIT_CODE = 75;
const WAVEOS_NAME = 'waveos';

/** Tells the launcher (if one started us) that start-up, recovery included, is complete. */
export function notifyLauncherReady(env: NodeJS.ProcessEnv = process.env): void {
  if (env.WAVEOS_LAUNCHER === '1' && typeof process.send === 'function') process.send({ waveos: 'ready' });
}

interface TrialCounter {
  bundle_id: string;
  starts: number;
}

function say(msg: string): void {
  process.stderr.write(`waveos-launcher: ${msg}\n`);
}

/**
 * The stable launcher the unit starts (bin/waveos-launcher.js): it runs the daemon from the `waveos` slot's
 * `current` (or its own tree when none is installed). While the current slot is not yet the last known-good
 * it is on trial, and every start is counted in a file beside the slots; after `--max-starts` starts the
 * launcher switches `current` back to the last known-good before starting the daemon again, and journals it.
 */
export async function runLauncher(argv: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [cmd, ...rest] = argv;
  if (cmd !== 'run') {
    say('usage: waveos-launcher run [--max-starts N] [--restart-delay MS] [waveos run flags...]');
    return 2;
  }
  const { values, tokens } = parseArgs({
    args: rest,
    options: { root: { type: 'string' }, 'max-starts': { type: 'string' }, 'restart-delay': { type: 'string' } },
    strict: false,
    tokens: true,
    allowPositionals: true,
  });
  const maxStarts = Number(values['max-starts'] ?? 3);
  const delayMs = Number(values['restart-delay'] ?? 1000);
  if (!Number.isInteger(maxStarts) || maxStarts < 1 || !Number.isFinite(delayMs) || delayMs < 0) {
    say('--max-starts must be a positive integer and --restart-delay a number of milliseconds');
    return 2;
  }
  // Everything but the launcher's own flags goes to `waveos run`.
  const passOn: string[] = [];
  for (const t of tokens ?? []) {
    if (t.kind === 'option' && (t.name === 'max-starts' || t.name === 'restart-delay')) continue;
    if (t.kind === 'option') {
      passOn.push(t.rawName);
      if (t.value !== undefined) passOn.push(t.value);
    } else if (t.kind === 'positional') passOn.push(t.value);
  }
  const root = resolveRoot(typeof values.root === 'string' ? values.root : undefined, env);
  const paths = pathsFor(root);
  const base = ownTree();
  const dir = groupDir(paths, WAVEOS_NAME, WAVEOS_NAME);
  const counterFile = join(paths.slotsDir, WAVEOS_NAME, 'launcher-trial.json');

  // A daemon tree in a slot carries no node_modules: resolution walks up to this link to the base install's.
  const linkModules = (): void => {
    const link = join(paths.slotsDir, WAVEOS_NAME, 'node_modules');
    const target = join(base, 'node_modules');
    if (!existsSync(target)) return;
    try {
      lstatSync(link);
    } catch {
      symlinkSync(realpathSync(target), link);
    }
  };

  let stopping = false;
  let child: ReturnType<typeof spawn> | undefined;
  const forward = (sig: NodeJS.Signals): void => {
    stopping = true;
    child?.kill(sig);
  };
  process.on('SIGTERM', () => forward('SIGTERM'));
  process.on('SIGINT', () => forward('SIGINT'));

  for (;;) {
    const g = readGroup(paths, WAVEOS_NAME, WAVEOS_NAME);
    let entry = join(base, 'bin/waveos.js');
    if (g.current) {
      const onTrial = g.current !== g.lastKnownGood;
      if (onTrial) {
        let c: TrialCounter = { bundle_id: g.current, starts: 0 };
        try {
          const saved = JSON.parse(readFileSync(counterFile, 'utf8')) as TrialCounter;
          if (saved.bundle_id === g.current) c = saved;
        } catch {
          // no counter yet: first start of this trial
        }
        if (c.starts >= maxStarts) {
          rollBack(g.current, g.lastKnownGood, c.starts);
          continue;
        }
        c.starts++;
        writeFileAtomic(counterFile, `${JSON.stringify(c)}\n`);
        say(`starting WaveOS from slot ${g.current.slice(0, 12)} on trial (start ${c.starts} of ${maxStarts})`);
      } else unlinkDurable(counterFile);
      entry = join(dir, g.current, 'payload/bin/waveos.js');
      linkModules();
    }
    const started = performance.now();
    let ready = false;
    child = spawn(process.execPath, [entry, 'run', ...passOn], { stdio: ['inherit', 'inherit', 'inherit', 'ipc'], env: { ...env, WAVEOS_LAUNCHER: '1' } });
    child.on('message', (m: unknown) => {
      if ((m as { waveos?: string } | null)?.waveos === 'ready') ready = true;
    });
    const { code, signal } = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((r) => child?.on('exit', (c, s) => r({ code: c, signal: s })));
    child = undefined;
    if (stopping) return code ?? 1;
    if (code === RESTART_EXIT_CODE) {
      say('the daemon asked to be started again (new WaveOS slot or rollback)');
      continue;
    }
    if (code === 0) return 0;
    say(`the daemon exited ${signal ? `on ${signal}` : `with code ${code}`} after ${Math.round(performance.now() - started)} ms${ready ? '' : ', before it was ready'}; starting it again in ${delayMs} ms`);
    await new Promise((r) => setTimeout(r, delayMs));
    if (stopping) return code ?? 1;
  }

  function rollBack(bad: string, lkg: string | undefined, starts: number): void {
    switchLink(dir, LINK_CURRENT, lkg);
    unlinkDurable(counterFile);
    const reason = `the WaveOS daemon from slot ${bad.slice(0, 12)} was started ${starts} time(s) on trial without passing it; the launcher switched back to ${lkg ? `the last known-good slot ${lkg.slice(0, 12)}` : 'the base installation'}`;
    say(reason);
    // The daemon is not running now, so the launcher may write the journal itself.
    const j = Journal.openWriter(paths.db, { clock: systemClock, runId: 'launcher', bootId: readBootId(env) });
    try {
      j.append({ kind: 'bundle.rolled_back', severity: 'error', source: 'launcher', reason, data: { bundle_kind: WAVEOS_NAME, name: WAVEOS_NAME, bundle_id: bad, to: lkg ?? null, starts, max_starts: maxStarts } });
      j.writeState(LAUNCHER_NOTE_KEY, { bundle_id: bad, starts, ts: new Date().toISOString() });
    } finally {
      j.close();
    }
  }
}


