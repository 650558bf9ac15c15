import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { BIN, cli } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';

const fixture = daemonFixture('waveos-colour-');
const ESC = '\u001b[';

/** The command under script(1)'s pseudo-terminal, as an operator's shell runs it. */
function onTerminal(args: string, env: Record<string, string> = {}): string {
  const r = spawnSync('script', ['-qec', `${process.execPath} ${BIN} ${args}`, '/dev/null'], { encoding: 'utf8', env: { ...process.env, NO_COLOR: '', TERM: 'xterm', ...env } });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout;
}

/** What bash's completion offers for the words typed so far (the last one is being completed). */
function complete(words: string[]): string[] {
  const script = cli(['completion', 'bash']).stdout;
  const r = spawnSync('bash', ['-c', `${script}\nCOMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}); COMP_CWORD=${words.length - 1}; _waveos; printf '%s\\n' "\${COMPREPLY[@]}"`], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split('\n').filter(Boolean);
}

describe('colour for people, plain for programs', () => {
  it('status and events are coloured on a terminal; never with NO_COLOR, --no-color or when piped', async () => {
    const { root } = await fixture.start({});
    expect(onTerminal(`status --root ${root}`)).toContain(`${ESC}32mnormal`);
    expect(cli(['mode', 'set', 'degraded', '--reason', 'colour drill', '--root', root]).code).toBe(0);
    expect(onTerminal(`status --root ${root}`)).toContain(`${ESC}33mdegraded`);
    // mode.changed is a warning: its severity is painted, the info lines around it are not.
    const events = onTerminal(`events --kind mode. --root ${root}`);
    expect(events.includes(`${ESC}33mwarning`) || events.includes(`${ESC}1mnotice`)).toBe(true);
    expect(onTerminal(`status --root ${root}`, { NO_COLOR: '1' })).not.toContain(ESC);
    expect(onTerminal(`status --no-color --root ${root}`)).not.toContain(ESC);
    expect(onTerminal(`status --root ${root}`, { TERM: 'dumb' })).not.toContain(ESC);
    const piped = cli(['status', '--root', root]);
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain(ESC);
    expect(cli(['events', '--root', root]).stdout).not.toContain(ESC);
  });
});

describe('shell completion, generated from the same definitions as --help', () => {
  it('bash completes commands, subcommands and each command’s flags', () => {
    expect(complete(['waveos', 'ser'])).toEqual(['service']);
    expect(complete(['waveos', 'service', 're'])).toEqual(['restart']);
    expect(complete(['waveos', 'events', '--fo'])).toEqual(['--follow']);
    expect(complete(['waveos', 'bundle', 'build', '--ke'])).toEqual(['--key', '--keys']);
    expect(complete(['waveos', 'status', '--no'])).toEqual(['--no-color']);
  });

  it('every command of the help is offered, and the zsh script is valid zsh where zsh is installed', () => {
    const help = cli(['--help']).stdout;
    const commands = [...help.matchAll(/^ {2}waveos (\w+)/gm)].map((m) => m[1]);
    expect(complete(['waveos', ''])).toEqual(expect.arrayContaining([...new Set(commands)]));
    const zsh = cli(['completion', 'zsh']);
    expect(zsh.code).toBe(0);
    expect(zsh.stdout).toMatch(/^#compdef waveos/);
    if (spawnSync('sh', ['-c', 'command -v zsh']).status === 0) {
      expect(spawnSync('zsh', ['-n', '-c', zsh.stdout]).status).toBe(0);
    }
    expect(cli(['completion', 'fish']).code).toBe(2);
  });
});
