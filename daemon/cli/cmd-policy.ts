import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { type InputProblem, WaveosError, isWaveosError } from '../core/index.js';
import {
  type Decision,
  MetricsCsvReader,
  type Observation,
  type PolicySample,
  type PolicySet,
  type SimulationResult,
  Simulator,
  buildPolicySet,
  describe as describeAction,
  fmtMs,
  observationFromEvent,
  parsePolicyText,
  policyJsonSchema,
} from '../policy/index.js';
import { type Output, parseFlags } from './context.js';

const USAGE = `waveos policy validate FILE...
       waveos policy simulate FILE... --metrics metrics.csv [--events events.jsonl] [--mode MODE] [--json]
       waveos policy schema [--out FILE]`;

function readText(file: string, what: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EACCES' ? 'permission denied' : code === 'EISDIR' ? 'is a directory' : String(code);
    throw new WaveosError('WAVEOS_E_USAGE', `${file}: cannot read the ${what}: ${why}`, { problems: [{ file, message: `cannot read the ${what}: ${why}` }] });
  }
}

/** Parses every file, collecting the problems of all of them, then builds the effective policy. */
export function loadPolicyFiles(files: readonly string[]): PolicySet {
  const parsed = [];
  const problems: InputProblem[] = [];
  let code: 'WAVEOS_E_POLICY_SYNTAX' | 'WAVEOS_E_POLICY_INVALID' = 'WAVEOS_E_POLICY_INVALID';
  for (const f of files) {
    try {
      parsed.push(parsePolicyText(readText(f, 'policy'), f));
    } catch (e) {
      if (!isWaveosError(e) || e.problems.length === 0) throw e;
      if (e.code === 'WAVEOS_E_POLICY_SYNTAX') code = e.code;
      problems.push(...e.problems);
    }
  }
  if (problems.length > 0) {
    const n = problems.length;
    throw new WaveosError(code, `${n} problem${n === 1 ? '' : 's'} in ${files.length === 1 ? files[0] : `${files.length} policy files`}`, { problems });
  }
  return buildPolicySet(parsed);
}

function readEvents(file: string): Observation[] {
  const out: Observation[] = [];
  const problems: InputProblem[] = [];
  readText(file, 'events')
    .split('\n')
    .forEach((line, i) => {
      if (line.trim() === '') return;
      try {
        const e = JSON.parse(line) as { kind?: unknown; ts?: unknown; source?: unknown; data?: unknown };
        if (typeof e.kind !== 'string' || typeof e.ts !== 'string') throw new Error('expected an event with kind and ts');
        if (e.kind.startsWith('policy.')) return;
        out.push(observationFromEvent({ kind: e.kind, ts: e.ts, source: typeof e.source === 'string' ? e.source : undefined, data: (e.data ?? {}) as Record<string, unknown> }));
      } catch (err) {
        if (problems.length < 20) problems.push({ file, line: i + 1, column: 1, message: (err as Error).message });
      }
    });
  if (problems.length > 0) throw new WaveosError('WAVEOS_E_USAGE', `${file}: not a valid events.jsonl`, { problems });
  return out;
}

/** Streams a metrics.csv through a simulator in chunks: a day of samples never sits in memory at once. */
export function simulateCsvFile(
  policy: PolicySet,
  csvFile: string,
  opts: { mode?: string; observations?: readonly Observation[]; onDecision?: (d: Decision) => void } = {},
): SimulationResult {
  const sim = new Simulator(policy, opts);
  const reader = new MetricsCsvReader(csvFile);
  let fd: number;
  try {
    fd = openSync(csvFile, 'r');
  } catch {
    readText(csvFile, 'metrics');
    throw new WaveosError('WAVEOS_E_USAGE', `${csvFile}: cannot read the metrics`);
  }
  try {
    const buf = Buffer.allocUnsafe(4 << 20);
    const dec = new StringDecoder('utf8');
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n === 0) break;
      const batch: PolicySample[] = reader.push(dec.write(buf.subarray(0, n)));
      reader.check();
      sim.feed(batch);
    }
    const tail = reader.push(dec.end());
    reader.end(tail);
    reader.check();
    sim.feed(tail);
  } finally {
    closeSync(fd);
  }
  return sim.finish();
}

function decisionJson(d: Decision): Record<string, unknown> {
  return {
    seq: d.seq,
    ts: new Date(d.ts_ms).toISOString(),
    rule_id: d.rule_id,
    rule_kind: d.rule_kind,
    action: d.action,
    severity: d.severity,
    mode: d.mode,
    reason: d.reason,
    data: d.data,
  };
}

export function policyCommand(argv: string[], io: Output): number {
  const { values, positionals } = parseFlags(
    argv,
    { metrics: { type: 'string' }, events: { type: 'string' }, mode: { type: 'string' }, out: { type: 'string' } },
    USAGE,
  );
  const [sub, ...files] = positionals;
  if (sub === 'validate') {
    if (files.length === 0) throw new WaveosError('WAVEOS_E_USAGE', `policy validate takes one or more FILEs\nusage: ${USAGE}`);
    const set = loadPolicyFiles(files);
    if (values.json) io.out(JSON.stringify({ valid: true, policy_version: set.version, files: set.files, rules: set.rules.length, modes: Object.keys(set.modes) }));
    else {
      const kinds = new Map<string, number>();
      for (const r of set.rules) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
      const summary = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ') || 'no rules';
      io.out(`${files.join(', ')}: valid — policy_version ${set.version}; ${summary}; modes ${Object.keys(set.modes).join(', ')}`);
    }
    return 0;
  }
  if (sub === 'simulate') {
    if (files.length === 0 || !values.metrics) throw new WaveosError('WAVEOS_E_USAGE', `policy simulate needs FILE... and --metrics metrics.csv\nusage: ${USAGE}`);
    const set = loadPolicyFiles(files);
    if (values.mode !== undefined && !(values.mode in set.modes)) {
      throw new WaveosError('WAVEOS_E_USAGE', `--mode ${values.mode}: not a mode of this policy (modes: ${Object.keys(set.modes).join(', ')})`);
    }
    const observations = values.events ? readEvents(values.events) : [];
    const lines: string[] = [];
    const r = simulateCsvFile(set, values.metrics, {
      mode: values.mode,
      observations,
      onDecision: values.json
        ? undefined
        : (d) => lines.push(`${new Date(d.ts_ms).toISOString()}  ${d.mode.padEnd(9)} ${d.rule_id.padEnd(20)} ${describeAction(d.action).padEnd(36)} ${d.reason}`),
    });
    if (values.json) {
      io.out(
        JSON.stringify({
          policy_version: set.version,
          metrics: values.metrics,
          samples: r.samples,
          observations: r.observations,
          from: r.first_ts_ms === null ? null : new Date(r.first_ts_ms).toISOString(),
          to: r.last_ts_ms === null ? null : new Date(r.last_ts_ms).toISOString(),
          start_mode: r.start_mode,
          end_mode: r.end_mode,
          mode_ms: r.mode_ms,
          decisions: r.decisions.map(decisionJson),
        }),
      );
      return 0;
    }
    const span = r.first_ts_ms === null ? 'no samples' : `${new Date(r.first_ts_ms).toISOString()} .. ${new Date((r.last_ts_ms ?? r.first_ts_ms)).toISOString()}`;
    io.out(`policy ${set.version}: replaying ${r.samples} samples${r.observations ? ` and ${r.observations} events` : ''} (${span}), starting in mode ${r.start_mode}`);
    io.out(lines.length > 0 ? lines.join('\n') : '(nothing would have fired)');
    const inModes = Object.entries(r.mode_ms)
      .map(([m, ms]) => `${m} ${fmtMs(ms)}`)
      .join(', ');
    io.out(`${r.decisions.length} decision${r.decisions.length === 1 ? '' : 's'}; mode at the end: ${r.end_mode}${inModes ? `; time in modes: ${inModes}` : ''}`);
    return 0;
  }
  if (sub === 'schema') {
    const text = `${JSON.stringify(policyJsonSchema(), null, 2)}\n`;
    if (values.out) writeFileSync(values.out, text);
    else io.out(text);
    return 0;
  }
  throw new WaveosError('WAVEOS_E_USAGE', `unknown policy command "${sub ?? ''}"\nusage: ${USAGE}`);
}
