import { ExitCode, formatProblem, isWaveosError } from '../core/index.js';
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
  waveos journal    verify [--root DIR]                          (offline)
  waveos policy     validate FILE... | simulate FILE... --metrics CSV [--events JSONL] [--mode M] | schema [--out FILE]   (offline)
  waveos evidence   export [--since D] [--until T] [--reason TEXT] [--out FILE] | list
  waveos evidence   verify FILE [--keys DIR] | pubkey [--out FILE]  (offline)

Global: --root DIR (or WAVEOS_ROOT), --json, --token-file FILE (or WAVEOS_TOKEN).
Exit codes: 0 ok, 1 runtime failure, 2 usage or invalid input, 3 daemon not reachable,
4 permission denied, 5 verification failed.`;

/** Runs one command and returns its exit code; `undefined` means the command keeps the process alive. */
export async function main(argv: string[], io: Output = stdio): Promise<number | undefined> {
  const [cmd, ...rest] = argv;
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
        return (await import('./cmd-config.js')).configCommand(rest, io);
      case 'journal':
        return (await import('./cmd-journal.js')).journalCommand(rest, io);
      case 'token':
        return await (await import('./cmd-token.js')).tokenCommand(rest, io);
      case 'policy':
        return (await import('./cmd-policy.js')).policyCommand(rest, io);
      case 'evidence':
        return await (await import('./cmd-evidence.js')).evidenceCommand(rest, io);
      case undefined:
      case 'help':
      case '--help':
      case '-h':
        io.out(HELP);
        return cmd === undefined ? ExitCode.usage : ExitCode.ok;
      default:
        io.err(`waveos: unknown command "${cmd}"\n\n${HELP}`);
        return ExitCode.usage;
    }
  } catch (e) {
    if (isWaveosError(e)) {
      io.err(`waveos: ${e.message}`);
      for (const p of e.problems) io.err(`  ${formatProblem(p)}`);
      io.err(`  (${e.code})`);
      return e.exitCode;
    }
    io.err(`waveos: unexpected error: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}`);
    return ExitCode.runtime;
  }
}

// Only when run as the program, not when a test imports main().
if (process.argv[1] && import.meta.url.endsWith('/cli/main.js') && process.env.WAVEOS_CLI_NO_AUTORUN !== '1') {
  const code = await main(process.argv.slice(2));
  if (code !== undefined) {
    process.exitCode = code;
  }
}
