import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { escapeControls } from '../daemon/cli/cmd-logs.js';
import { BIN, cli, waitFor } from './helpers/daemon.js';
import { daemonFixture } from './helpers/fixture.js';

const fixture = daemonFixture('waveos-logs-tty-');

// An OSC 52 clipboard write, a colour, a bell and a CR that would hide "secret" on a terminal.
const HOSTILE = '\u001b]52;c;aGk=\u0007\u001b[31mred\u001b[0m secret\rcover';

describe('waveos logs on a terminal', () => {
  it('escapes every control character but tab', () => {
    expect(escapeControls(`a\tb${HOSTILE}\u009b\u007f`)).toBe('a\tb\\x1b]52;c;aGk=\\x07\\x1b[31mred\\x1b[0m secret\\x0dcover\\x9b\\x7f');
  });

  it('shows service output escaped under a pseudo-terminal and raw when piped', async () => {
    const { root } = await fixture.start({
      services: [{ name: 'hostile', command: process.execPath, args: ['-e', `process.stdout.write(${JSON.stringify(`${HOSTILE}\n`)}); setInterval(() => {}, 1000)`] }],
    });
    await waitFor('the hostile line in the spool', () => (cli(['logs', 'hostile', '--root', root]).stdout.includes('cover') ? true : undefined), 20_000, 200);
    const piped = cli(['logs', 'hostile', '--root', root]).stdout;
    expect(piped).toContain('\u001b]52;c;aGk=\u0007');
    // script(1) gives the command a real pseudo-terminal, as an operator's shell would.
    const tty = spawnSync('script', ['-qec', `${process.execPath} ${BIN} logs hostile --root ${root}`, '/dev/null'], { encoding: 'utf8' });
    expect(tty.status, tty.stderr).toBe(0);
    expect(tty.stdout).toContain('\\x1b]52;c;aGk=\\x07\\x1b[31mred\\x1b[0m secret\\x0dcover');
    expect(tty.stdout).not.toContain('\u001b]52');
    expect(tty.stdout).not.toContain('\u0007');
  });
});
