// Leaf modules, not the barrels: the client path loads no schema library and no daemon code (docs/footprint.md).
import { readBuildStamp } from '../core/build-info.js';
import { ExitCode, formatProblem, isWaveosError } from '../core/errors.js';
import { didYouMean } from '../core/nearest.js';
import { type Output, stdio } from './context.js';

const HELP = `waveos — the WaveOS overlay control plane

  waveos run        [--config FILE] [--root DIR] [--profile dev|prod] [--log-format json|pretty]
  waveos status     [--json]
  waveos events     [--since DURATION|TIME] [--kind PREFIX] [--limit N] [--follow] [--json]
  waveos metrics    [--json] [--since DURATION|TIME] [--name METRIC] [--limit N]
  waveos service    list [--json] | start NAME | stop NAME | restart NAME [--reason TEXT]
  waveos mode       [get] | set MODE --reason TEXT
  waveos logs       SOURCE [--since DURATION|TIME] [--follow] [--grep TEXT] [--json]
  waveos config     validate FILE | schema [--out FILE]          (offline)
  waveos token      create NAME --role viewer|operator|admin | list | revoke NAME  [--offline]
  waveos journal    verify [--root DIR] [--pack FILE]...             (offline)
  waveos policy     validate FILE... | simulate FILE... --metrics CSV|--since D [--until T] [--events JSONL] [--mode M] | schema [--out FILE]   (offline)
  waveos evidence   export [--since D] [--until T] [--reason TEXT] [--out FILE] | list
  waveos evidence   verify FILE [--keys DIR] | pubkey [--out FILE]  (offline)
  waveos bundle     install FILE | list | rollback [--kind K] [--name N]
  waveos bundle     keygen --out DIR | build DIR --kind K --version V --key KEY --out FILE
                    | verify FILE [--keys DIR] | inspect FILE     (offline)
  waveos fleet      status | lock --reason TEXT | unlock | provision --csr [--cn NAME] | provision --cert FILE [--ca FILE]
  waveos completion bash | zsh                                   (a shell completion script)

Global: --root DIR (or WAVEOS_ROOT), --json, --token-file FILE (or WAVEOS_TOKEN), --no-color (or NO_COLOR).
Exit codes: 0 ok, 1 runtime failure, 2 usage or invalid input, 3 daemon not reachable,
4 permission denied, 5 verification failed.`;

/** Every command and its subcommands: the help guard and the tests that hold it walk the same list. */
export const COMMANDS: Readonly<Record<string, readonly string[]>> = {
  run: [],
  status: [],
  events: [],
  metrics: [],
  service: ['list', 'start', 'stop', 'restart'],
  mode: ['get', 'set'],
  logs: [],
  config: ['validate', 'schema'],
  token: ['create', 'list', 'revoke'],
  journal: ['verify'],
  policy: ['validate', 'simulate', 'schema'],
  evidence: ['export', 'list', 'verify', 'pubkey'],
  bundle: ['install', 'list', 'rollback', 'keygen', 'build', 'verify', 'inspect'],
  fleet: ['status', 'provision', 'lock', 'unlock'],
  completion: ['bash', 'zsh'],
};

const GLOBAL_FLAGS = ['--root', '--json', '--token-file', '--help', '--no-color'];

/** The flags of one command as its usage lines name them: completion is generated from the same text as help. */
function commandFlags(cmd: string): string[] {
  return [...new Set(usageLines(cmd).join(' ').match(/--[a-z][a-z-]*/g) ?? [])].filter((f) => !GLOBAL_FLAGS.includes(f));
}

/** `waveos completion bash|zsh`: a completion script for the shell, from COMMANDS and the usage text. */
async function completionCommand(rest: readonly string[], io: Output): Promise<number> {
  const shell = rest.find((a) => !a.startsWith('-'));
  if (shell !== 'bash' && shell !== 'zsh') {
    io.err(`waveos completion: expected bash or zsh, got ${shell === undefined ? 'nothing' : `"${shell}"`}\nusage: waveos completion bash|zsh`);
    return ExitCode.usage;
  }
  const { bashCompletion, zshCompletion } = await import('./completion.js');
  const specs = Object.entries(COMMANDS).map(([name, subcommands]) => ({ name, subcommands, flags: commandFlags(name) }));
  io.out((shell === 'bash' ? bashCompletion : zshCompletion)(specs, GLOBAL_FLAGS));
  return ExitCode.ok;
}

const EXIT_CODES = HELP.slice(HELP.indexOf('Exit codes:'));

/** The usage of one command: its lines of the overview (continuations included), the globals and exit codes. */
function usageLines(cmd: string): string[] {
  const out: string[] = [];
  let mine = false;
  for (const l of HELP.split('\n')) {
    if (/^ {2}waveos /.test(l)) mine = l.trimStart().split(/\s+/)[1] === cmd;
    else if (!/^ {4,}/.test(l)) mine = false;
    if (mine) out.push(l);
  }
  return out;
}

export function commandHelp(cmd: string): string {
  const out = usageLines(cmd);
  const subs = COMMANDS[cmd] ?? [];
  return [
    `waveos ${cmd}${subs.length ? ` ${subs.join('|')}` : ''} — usage:`,
    ...out,
    '',
    'Global: --root DIR (or WAVEOS_ROOT), --json, --token-file FILE (or WAVEOS_TOKEN), --no-color (or NO_COLOR), -h/--help (prints this and does nothing else).',
    EXIT_CODES,
  ].join('\n');
}

/** `-h`/`--help` anywhere before a `--` asks how to use the command: it must never run it. */
function asksForHelp(args: readonly string[]): boolean {
  const end = args.indexOf('--');
  return (end < 0 ? args : args.slice(0, end)).some((a) => a === '--help' || a === '-h');
}


/** A failure as the command prints it: words on a terminal, `{"error": …}` with --json (same exit code). */
function reportFailure(io: Output, code: string, message: string, problems: readonly unknown[] = []): void {
  io.err(JSON.stringify({ error: { code, message, problems } }));
}

/** Runs one command and returns its exit code; `undefined` means the command keeps the process alive. */
export async function main(argv: string[], io: Output = stdio): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
  const json = rest.includes('--json');
  if (cmd === '--version' || cmd === '-V') {
    const b = readBuildStamp();
    io.out(`waveos ${b.version}${b.git_commit ? ` (${b.git_commit.slice(0, 12)}${b.git_dirty ? ', modified' : ''})` : ''}`);
    return ExitCode.ok;
  }
  if (cmd !== undefined && cmd in COMMANDS && asksForHelp(rest)) {
    io.out(commandHelp(cmd));
    return ExitCode.ok;
  }
  try {
    switch (cmd) {
      case 'run':
        return await (await import('./cmd-run.js')).runCommand(rest);
      case 'status':
        return await (await import('./cmd-status.js')).statusCommand(rest, io);
      case 'events': {
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        return await (await import('./cmd-events.js')).eventsCommand(rest, io, abort.signal);
      }
      case 'metrics':
        return await (await import('./cmd-metrics.js')).metricsCommand(rest, io);
      case 'service':
        return await (await import('./cmd-service.js')).serviceCommand(rest, io);
      case 'mode':
        return await (await import('./cmd-mode.js')).modeCommand(rest, io);
      case 'logs': {
        const abort = new AbortController();
        process.once('SIGINT', () => abort.abort());
        return await (await import('./cmd-logs.js')).logsCommand(rest, io, abort.signal);
      }
      case 'config':
        return await (await import('./cmd-config.js')).configCommand(rest, io);
      case 'journal':
        return (await import('./cmd-journal.js')).journalCommand(rest, io);
      case 'token':
        return await (await import('./cmd-token.js')).tokenCommand(rest, io);
      case 'policy':
        return (await import('./cmd-policy.js')).policyCommand(rest, io);
      case 'evidence':
        return await (await import('./cmd-evidence.js')).evidenceCommand(rest, io);
      case 'bundle':
        return await (await import('./cmd-bundle.js')).bundleCommand(rest, io);
      case 'fleet':
        return await (await import('./cmd-fleet.js')).fleetCommand(rest, io);
      case 'completion':
        return await completionCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return cmd === undefined ? ExitCode.usage : ExitCode.ok;
      default: {
        const message = `unknown command "${cmd}"${didYouMean(cmd, Object.keys(COMMANDS))}`;
        if (json) reportFailure(io, 'WAVEOS_E_USAGE', message);
        else io.err(`waveos: ${message}\n\n${HELP}`);
        return ExitCode.usage;
      }
    }
  } catch (e) {
    if (isWaveosError(e) && json) {
      reportFailure(io, e.code, e.message, e.problems);
      return e.exitCode;
    }
    if (isWaveosError(e)) {
      io.err(`waveos: ${e.message}`);
      for (const p of e.problems) io.err(`  ${formatProblem(p)}`);
      io.err(`  (${e.code})`);
      return e.exitCode;
    }
    // A file the command was pointed at (--out, an input) that cannot be used is the user's to fix, not a crash.
    const fsErr = e as NodeJS.ErrnoException;
    if (typeof fsErr?.code === 'string' && typeof fsErr.path === 'string' && ['ENOENT', 'EACCES', 'EISDIR', 'ENOTDIR', 'EROFS', 'EEXIST'].includes(fsErr.code)) {
      const message = `${fsErr.path}: ${fsErr.code === 'ENOENT' ? 'no such file or directory' : fsErr.code === 'EACCES' ? 'permission denied' : fsErr.code}`;
      if (json) reportFailure(io, 'WAVEOS_E_USAGE', message);
      else io.err(`waveos: ${message}`);
      return ExitCode.usage;
    }
    if (json) reportFailure(io, 'WAVEOS_E_RUNTIME', e instanceof Error ? e.message : String(e));
    else io.err(`waveos: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return ExitCode.runtime;
  }
}

/** Runs the command line as the program: bin/waveos.js (through dist/cli/main.js) and the bundle's entry. */
export async function runAsProgram(argv: string[] = process.argv.slice(2)): Promise<void> {
  // `waveos events | head -1`: the reader went away; that is the end of the output, not an error.
  for (const s of [process.stdout, process.stderr]) {
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw e;
    });
  }
  const code = await main(argv);
  if (code !== undefined) {
    process.exitCode = code;
  }
}

// Only when run as the program, not when a test imports main().
if (process.argv[1] && import.meta.url.endsWith('/cli/main.js') && process.env.WAVEOS_CLI_NO_AUTORUN !== '1') {
  await runAsProgram();
}
