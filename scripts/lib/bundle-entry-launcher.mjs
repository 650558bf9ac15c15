// The bundle's `waveos-launcher` entry (scripts/bundle.mjs), as bin/waveos-launcher.js runs it.
import { runLauncher } from '../../daemon/bundles/launcher.ts';

process.exitCode = await runLauncher(process.argv.slice(2));
