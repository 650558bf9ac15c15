import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { summarize } from './report.js';
import { SCENARIOS, type ScenarioName, runScenario } from './scenarios.js';

const USAGE = `npm run hil -- --scenario NAME [--seed N] [--duration 60s|10m|1h] [--count N] [--recovery-bound 30s] [--out FILE] [--quiet]
  [--heap-keeper on|off] [--daemon-log-level info|debug]   (the daemon's recovery.heap_keeper and log.level; soak)
scenarios: ${SCENARIOS.join(', ')}`;

/** "90s", "10m", "1h", "500ms" or plain seconds. */
export function parseDurationMs(text: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(text.trim());
  if (!m) throw new Error(`expected a duration such as 90s, 10m or 1h, got "${text}"`);
  const n = Number(m[1]);
  const unit = m[2] ?? 's';
  return Math.round(n * (unit === 'ms' ? 1 : unit === 's' ? 1000 : unit === 'm' ? 60_000 : 3_600_000));
}

/** The runner's entry: parses flags, runs one scenario, writes the JSON report, prints the summary; returns the exit code. */
export async function main(argv: string[]): Promise<number> {
  const out = (s: string): boolean => process.stdout.write(`${s}\n`);
  let values;
  try {
    ({ values } = parseArgs({
      args: argv,
      options: {
        scenario: { type: 'string' },
        seed: { type: 'string' },
        duration: { type: 'string' },
        count: { type: 'string' },
        'recovery-bound': { type: 'string' },
        out: { type: 'string' },
        quiet: { type: 'boolean' },
        'heap-keeper': { type: 'string' },
        'daemon-log-level': { type: 'string' },
        help: { type: 'boolean' },
      },
    }));
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\n${USAGE}\n`);
    return 2;
  }
  if (values.help) {
    out(USAGE);
    return 0;
  }
  const scenario = values.scenario as ScenarioName | undefined;
  if (!scenario || !(SCENARIOS as readonly string[]).includes(scenario)) {
    process.stderr.write(`--scenario: expected one of ${SCENARIOS.join(', ')}\n${USAGE}\n`);
    return 2;
  }
  const seed = values.seed !== undefined ? Number(values.seed) : Math.floor(Math.random() * 2 ** 31);
  if (!Number.isInteger(seed) || seed < 0) {
    process.stderr.write(`--seed: expected a whole number, got "${values.seed}"\n`);
    return 2;
  }
  const durationMs = parseDurationMs(values.duration ?? (scenario === 'soak' ? '5m' : '10m'));
  const count = values.count !== undefined ? Number(values.count) : scenario === 'kill-storm' || scenario === 'mixed' || scenario === 'power-cut' ? 1_000_000 : 20;
  const recoveryBoundMs = parseDurationMs(values['recovery-bound'] ?? '30s');
  const keeper = values['heap-keeper'];
  if (keeper !== undefined && keeper !== 'on' && keeper !== 'off') {
    process.stderr.write(`--heap-keeper: expected on or off, got "${keeper}"\n`);
    return 2;
  }
  const level = values['daemon-log-level'];
  if (level !== undefined && level !== 'info' && level !== 'debug') {
    process.stderr.write(`--daemon-log-level: expected info or debug, got "${level}"\n`);
    return 2;
  }
  out(`HIL scenario ${scenario}, seed ${seed} (replay: npm run hil -- --scenario ${scenario} --seed ${seed} --duration ${Math.round(durationMs / 1000)}s${values.count ? ` --count ${count}` : ''})`);
  const report = await runScenario(scenario, {
    seed,
    durationMs,
    count,
    recoveryBoundMs,
    log: values.quiet ? undefined : out,
    ...(keeper ? { heapKeeper: keeper === 'on' } : {}),
    ...(level ? { daemonLogLevel: level } : {}),
  });
  const file = values.out ?? join(tmpdir(), `waveos-hil-${scenario}-${seed}.json`);
  writeFileSync(file, `${JSON.stringify(report, null, 2)}\n`);
  out(summarize(report));
  out(`report: ${file}`);
  return report.ok ? 0 : 1;
}
