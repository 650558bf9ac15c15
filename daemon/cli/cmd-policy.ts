import { closeSync, openSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { StringDecoder } from 'node:string_decoder';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { PROFILES, type Profile, loadConfig } from '../config/index.js';
import { type ErrorCode, INPUT_LIMITS, type InputProblem, WaveosError, isWaveosError, readInputFile } from '../core/index.js';
import { policyWorld } from '../policy-runtime/index.js';
import {
  type Decision,
  MetricsCsvReader,
  type Observation,
  type PolicySample,
  type PolicyWorld,
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
import { type JournalEvent, JournalReader, type SeriesRow } from '../journal/index.js';
import { type CorruptChunkHandler, columnBatches } from '../telemetry/history-query.js';
import { type Output, parseFlags, rootPaths } from './context.js';
import { parseSince } from './since.js';

/** The sources of one argument together: a folder's files, a document's blocks, or one file. */
function groupBySource<T extends { file: string }>(sources: readonly T[]): T[][] {
  const groups = new Map<string, T[]>();
  for (const s of sources) {
    const key = s.file.replace(/:\d+$/, '').replace(/\/[^/]*\.ya?ml$/, '');
    const g = groups.get(key) ?? [];
    g.push(s);
    groups.set(key, g);
  }
  // Every doc block stands alone: two examples may well use the same rule id.
  return [...groups.values()].flatMap((g) => (g[0]?.file.match(/\.md:\d+$/) ? g.map((x) => [x]) : [g]));
}

const USAGE = `waveos policy validate FILE|DIR... [--config FILE] [--profile dev|prod] [--strict]
       waveos policy simulate FILE... --metrics metrics.csv [--events events.jsonl] [--mode MODE] [--json]
       waveos policy simulate FILE... --since DURATION|TIME [--until TIME] [--root DIR] [--events events.jsonl] [--mode MODE] [--json]
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

/** A policy file, read only if it is a regular file within the daemon's own limit (so validate agrees with it). */
function readPolicyText(file: string, maxBytes: number = INPUT_LIMITS.policyFile): string {
  const r = readInputFile(file, maxBytes);
  if (r.ok) return r.text;
  // A missing or unreadable file says so as every other input of the command does.
  if (r.reason === 'unreadable') return readText(file, 'policy');
  throw new WaveosError('WAVEOS_E_USAGE', `${file}: ${r.message}`, { problems: [{ file, message: r.message }] });
}

/**
 * The policy texts behind the arguments: a file as it is, a folder's `*.yaml`/`*.yml` files, and with
 * `--strict` a Markdown file's fenced yaml blocks that are policies (they carry `policy_version`), each
 * named `doc.md:LINE` so a problem points at the block.
 */
export function policySources(args: readonly string[]): { file: string; text: string; lineOffset: number }[] {
  const out: { file: string; text: string; lineOffset: number }[] = [];
  for (const a of args) {
    if (existsSync(a) && statSync(a).isDirectory()) {
      for (const n of readdirSync(a).filter((x) => /\.ya?ml$/.test(x)).sort()) out.push({ file: join(a, n), text: readPolicyText(join(a, n)), lineOffset: 0 });
    } else if (a.endsWith('.md')) {
      const lines = readPolicyText(a, INPUT_LIMITS.policySet).split('\n');
      for (let i = 0; i < lines.length; i++) {
        if (!/^```ya?ml\s*$/.test(lines[i] as string)) continue;
        const end = lines.findIndex((l, j) => j > i && l.startsWith('```'));
        const block = lines.slice(i + 1, end < 0 ? lines.length : end).join('\n');
        if (/^policy_version:/m.test(block)) out.push({ file: `${a}:${i + 2}`, text: block, lineOffset: i + 1 });
        // A list of rules, as the reference shows them: checked as the rules of a file of their own.
        else if (/^- id:/.test(block)) out.push({ file: `${a}:${i + 2}`, text: `policy_version: doc\nrules:\n${block}`, lineOffset: i - 1 });
        i = end < 0 ? lines.length : end;
      }
    } else out.push({ file: a, text: readPolicyText(a), lineOffset: 0 });
  }
  return out;
}

/** Parses every file, collecting the problems of all of them, then builds the effective policy. */
export function loadPolicyFiles(files: readonly string[], world?: PolicyWorld): PolicySet {
  return loadPolicySources(files.map((f) => ({ file: f, text: readPolicyText(f), lineOffset: 0 })), world);
}

function loadPolicySources(sources: readonly { file: string; text: string; lineOffset: number }[], world?: PolicyWorld): PolicySet {
  try {
    return loadParsedSources(sources, world);
  } catch (e) {
    if (!isWaveosError(e)) throw e;
    // A document's block: point at the line of the document, not of the block.
    const offsets = new Map(sources.filter((x) => x.lineOffset > 0).map((x) => [x.file, x.lineOffset]));
    const problems = e.problems.map((p) => {
      const off = p.file === undefined ? undefined : offsets.get(p.file);
      return off === undefined || p.line === undefined ? p : { ...p, file: (p.file as string).replace(/:\d+$/, ''), line: p.line + off };
    });
    throw new WaveosError(e.code, e.message, { problems });
  }
}

function loadParsedSources(sources: readonly { file: string; text: string; lineOffset: number }[], world?: PolicyWorld): PolicySet {
  const files = sources.map((s) => s.file);
  const parsed = [];
  const problems: InputProblem[] = [];
  let code: 'WAVEOS_E_POLICY_SYNTAX' | 'WAVEOS_E_POLICY_INVALID' = 'WAVEOS_E_POLICY_INVALID';
  for (const { file: f, text } of sources) {
    try {
      parsed.push(parsePolicyText(text, f));
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
  return buildPolicySet(parsed, world);
}

/** Loads each group as its own policy, reporting the problems of all of them together. */
function loadEach(groups: readonly { file: string; text: string; lineOffset: number }[][], world: PolicyWorld): PolicySet[] {
  const sets: PolicySet[] = [];
  const problems: InputProblem[] = [];
  let code: ErrorCode = 'WAVEOS_E_POLICY_INVALID';
  for (const g of groups) {
    try {
      sets.push(loadPolicySources(g, world));
    } catch (e) {
      if (!isWaveosError(e) || e.problems.length === 0) throw e;
      if (e.code === 'WAVEOS_E_POLICY_SYNTAX') code = e.code;
      problems.push(...e.problems);
    }
  }
  if (problems.length > 0) throw new WaveosError(code, `${problems.length} problem(s) in ${groups.length} policy set(s)`, { problems });
  if (sets.length === 0) throw new WaveosError('WAVEOS_E_USAGE', 'no policy files found in the arguments');
  return sets;
}

/**
 * What the rules may name: the services of the config (`--config`, else the root's config file, else the
 * profile's defaults) and the metrics its enabled collectors produce. Validation and the daemon agree.
 */
function validationWorld(values: { config?: string; profile?: string; root?: string }): PolicyWorld {
  if (values.profile !== undefined && !(PROFILES as readonly string[]).includes(values.profile)) {
    throw new WaveosError('WAVEOS_E_USAGE', `--profile: expected ${PROFILES.join(' or ')}, got "${values.profile}"`);
  }
  const { config } = loadConfig({
    explicitFile: values.config,
    defaultFile: rootPaths(values.root).configFile,
    profile: values.profile as Profile | undefined,
    fileExists: existsSync,
  });
  return policyWorld(config);
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

/** The window of the journal's history a simulation replays. */
export interface HistoryWindow {
  sinceMs: number;
  untilMs: number;
}

/** Every event of the window as the policy engine observes it (its own decisions aside, as from events.jsonl). */
function journalObservations(j: JournalReader, w: HistoryWindow): Observation[] {
  const out: Observation[] = [];
  const range = j.seqWindow(new Date(w.sinceMs).toISOString(), new Date(w.untilMs).toISOString());
  if (!range) return out;
  for (let after = range.first - 1; after < range.last; ) {
    const page = j.eventPage(after, Math.min(1_000, range.last - after));
    if (page.length === 0) break;
    for (const e of page) if (!e.kind.startsWith('policy.')) out.push(observationFromEvent({ kind: e.kind, ts: e.ts, source: e.source, data: e.data }));
    after = (page[page.length - 1] as JournalEvent).seq;
  }
  return out;
}

/**
 * Replays the journal's own metric history (through the one history reader: chunks checked, a corrupt one
 * reported and left out) through a simulator, a time slice at a time. Observations default to the journal's
 * events of the same window.
 */
export function simulateJournal(
  policy: PolicySet,
  j: JournalReader,
  w: HistoryWindow,
  opts: { mode?: string; observations?: readonly Observation[]; onDecision?: (d: Decision) => void; onCorrupt?: CorruptChunkHandler } = {},
): SimulationResult {
  const sim = new Simulator(policy, { ...opts, observations: opts.observations ?? journalObservations(j, w) });
  // By the batch's series index: the labels parsed once, shared (frozen) by every sample of the series.
  const labels: Readonly<Record<string, string>>[] = [];
  for (const c of columnBatches(j, { sinceMs: w.sinceMs, untilMs: w.untilMs, onCorrupt: opts.onCorrupt })) {
    const batch = new Array<PolicySample>(c.n);
    for (let i = 0; i < c.n; i++) {
      const k = c.s[i] as number;
      const series = c.series[k] as SeriesRow;
      let l = labels[k];
      if (l === undefined) l = labels[k] = Object.freeze(JSON.parse(series.labels) as Record<string, string>);
      batch[i] = { ts_ms: c.t[i] as number, name: series.name, value: c.v[i] as number, unit: series.unit, labels: l };
    }
    sim.feed(batch);
  }
  return sim.finish();
}

/** `--since`/`--until` as a window of the journal file under --root, read-only (the daemon may be running). */
function simulateFromJournal(set: PolicySet, values: { since?: string; until?: string; root?: string; mode?: string }, observations: Observation[] | undefined, io: Output, onDecision: ((d: Decision) => void) | undefined): { r: SimulationResult; source: Record<string, unknown> } {
  const now = Date.now();
  const sinceMs = Date.parse(parseSince(values.since as string, now));
  const untilMs = values.until === undefined ? now : Date.parse(parseSince(values.until, now));
  if (untilMs < sinceMs) throw new WaveosError('WAVEOS_E_USAGE', `--until ${values.until}: before --since ${values.since}`);
  const db = rootPaths(values.root).db;
  if (!existsSync(db)) throw new WaveosError('WAVEOS_E_USAGE', `${db}: no journal to replay (is --root right?)`);
  const j = JournalReader.openReadOnly(db);
  let corrupt = 0;
  try {
    const r = simulateJournal(set, j, { sinceMs, untilMs }, {
      mode: values.mode,
      observations,
      onDecision,
      onCorrupt: (c) => {
        corrupt++;
        io.err(`warning: a metric chunk of ${c.name} (${c.count} samples from ${new Date(c.start_ms).toISOString()}) failed its check (${c.reason}) and is left out`);
      },
    });
    return { r, source: { metrics: null, journal: db, since: new Date(sinceMs).toISOString(), until: new Date(untilMs).toISOString(), corrupt_chunks: corrupt } };
  } finally {
    j.close();
  }
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
    {
      metrics: { type: 'string' },
      since: { type: 'string' },
      until: { type: 'string' },
      events: { type: 'string' },
      mode: { type: 'string' },
      out: { type: 'string' },
      config: { type: 'string' },
      profile: { type: 'string' },
      strict: { type: 'boolean' },
    },
    USAGE,
  );
  const [sub, ...files] = positionals;
  if (sub === 'validate') {
    if (files.length === 0) throw new WaveosError('WAVEOS_E_USAGE', `policy validate takes one or more FILEs\nusage: ${USAGE}`);
    const sources = policySources(files.filter((f) => values.strict || !f.endsWith('.md')));
    const world = validationWorld(values);
    // --strict: each folder and each document block is a set of its own (the docs' examples are not one policy).
    const sets = values.strict ? loadEach(groupBySource(sources), world) : [loadPolicySources(sources, world)];
    const set = sets[0] as PolicySet;
    if (values.json) io.out(JSON.stringify({ valid: true, policy_version: set.version, files: set.files, rules: set.rules.length, modes: Object.keys(set.modes) }));
    else {
      const kinds = new Map<string, number>();
      for (const r of set.rules) kinds.set(r.kind, (kinds.get(r.kind) ?? 0) + 1);
      const summary = [...kinds].map(([k, n]) => `${n} ${k}`).join(', ') || 'no rules';
      io.out(`${files.join(', ')}: valid — ${sets.length > 1 ? `${sets.length} policy sets, the first ` : ''}policy_version ${set.version}; ${summary}; modes ${Object.keys(set.modes).join(', ')}`);
    }
    return 0;
  }
  if (sub === 'simulate') {
    if (files.length === 0 || (!values.metrics && !values.since)) throw new WaveosError('WAVEOS_E_USAGE', `policy simulate needs FILE... and --metrics metrics.csv or --since DURATION|TIME\nusage: ${USAGE}`);
    if (values.metrics && values.since) throw new WaveosError('WAVEOS_E_USAGE', `policy simulate replays --metrics metrics.csv or the journal's --since window, not both\nusage: ${USAGE}`);
    if (values.until !== undefined && !values.since) throw new WaveosError('WAVEOS_E_USAGE', `--until goes with --since\nusage: ${USAGE}`);
    const set = loadPolicyFiles(files);
    if (values.mode !== undefined && !(values.mode in set.modes)) {
      throw new WaveosError('WAVEOS_E_USAGE', `--mode ${values.mode}: not a mode of this policy (modes: ${Object.keys(set.modes).join(', ')})`);
    }
    const lines: string[] = [];
    const onDecision = values.json
      ? undefined
      : (d: Decision): void => void lines.push(`${new Date(d.ts_ms).toISOString()}  ${d.mode.padEnd(9)} ${d.rule_id.padEnd(20)} ${describeAction(d.action).padEnd(36)} ${d.reason}`);
    const { r, source } = values.metrics
      ? { r: simulateCsvFile(set, values.metrics, { mode: values.mode, observations: values.events ? readEvents(values.events) : [], onDecision }), source: { metrics: values.metrics } }
      : simulateFromJournal(set, values, values.events ? readEvents(values.events) : undefined, io, onDecision);
    if (values.json) {
      io.out(
        JSON.stringify({
          policy_version: set.version,
          ...source,
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
