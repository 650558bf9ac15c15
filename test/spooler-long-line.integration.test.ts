import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DaemonProcess, cli, removeRoot, tempRoot, waitFor } from './helpers/daemon.js';

const roots: string[] = [];
const daemons: DaemonProcess[] = [];
afterEach(async () => {
  for (const d of daemons.splice(0)) if (d.proc.exitCode === null && d.proc.signalCode === null) await d.kill('SIGKILL');
  for (const r of roots.splice(0)) removeRoot(r);
});

describe('a line far longer than max_line', () => {
  it('a service printing 50 MB without a newline, then a normal line: both are stored, the long one cut and marked', async () => {
    const root = tempRoot('waveos-longline-');
    roots.push(root);
    const script = join(root, 'long.mjs');
    // 50 MB in 1 MB writes with no newline, then an ordinary line; then it stays up.
    writeFileSync(script, "const mb = 'x'.repeat(1_000_000);\nfor (let i = 0; i < 50; i++) process.stdout.write(mb);\nprocess.stdout.write('\\nafter-the-long-line\\n');\nsetInterval(() => {}, 60_000);\n");
    writeFileSync(
      join(root, 'waveos.yaml'),
      `schema_version: 2\npolicy: {examples: false}\nspooler: {flush_interval: 50ms}\nservices:\n  - {name: long-liner, command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(script)}]}\n`,
    );
    const d = new DaemonProcess(root, ['--config', join(root, 'waveos.yaml')]);
    daemons.push(d);
    await d.ready();
    const out = await waitFor(
      'both lines in the spool',
      () => {
        const r = cli(['logs', 'long-liner', '--root', root]);
        return r.code === 0 && r.stdout.includes('after-the-long-line') ? r.stdout : undefined;
      },
      30_000,
      200,
    );
    const lines = out.trim().split('\n');
    const cut = lines.find((l) => l.includes('xxxx'));
    expect(cut).toBeDefined();
    const n = Number(/\[truncated ([\d,]+) bytes\]$/.exec(cut ?? '')?.[1]?.replace(/,/g, ''));
    const kept = (cut?.match(/x+/)?.[0] ?? '').length;
    expect(kept).toBe(8 * 1024);
    expect(kept + n).toBe(50_000_000);
    expect(lines.filter((l) => l.endsWith('after-the-long-line'))).toHaveLength(1);
  });
});
