// The harmless reboot command of the dev profile and the tests: records the request instead of rebooting.
import { appendFileSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';

const file = process.argv[2];
if (!file) {
  console.error('usage: record-reboot.mjs FILE [WORDS...]');
  process.exit(2);
}
mkdirSync(dirname(file), { recursive: true });
appendFileSync(file, `${JSON.stringify({ at: new Date().toISOString(), pid: process.pid, args: process.argv.slice(3) })}\n`);
