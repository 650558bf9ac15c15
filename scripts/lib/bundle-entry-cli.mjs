// The bundle's `waveos` entry (scripts/bundle.mjs): the command line, which runs the daemon too (`waveos run`).
import { runAsProgram } from '../../daemon/cli/main.ts';

await runAsProgram();
