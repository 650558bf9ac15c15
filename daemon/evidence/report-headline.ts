/** The fields of a report event the headline reads; `data` is the event's JSON, possibly cut short. */
export interface HeadlineEvent {
  ts: string;
  kind: string;
  source: string;
  reason: string;
  data: string;
}

/** One incident in words, with the time it began (ISO) and the event that marks it. */
export interface Incident {
  ts: string;
  kind: string;
  text: string;
}

/** The kinds the report calls incidents: the headline names them and only they mark the charts. */
export const INCIDENT_KINDS: ReadonlySet<string> = new Set([
  'policy.breaker_open',
  'mode.changed',
  'bundle.rolled_back',
  'recovery.degrade',
  'recovery.reboot_requested',
  'service.failed',
  'daemon.fatal',
]);

/** A field of event data read from its JSON text: the report cuts long data, so a plain parse may fail. */
export function dataField(data: string, key: string): string | number | undefined {
  const m = new RegExp(`"${key}":(?:"((?:[^"\\\\]|\\\\.)*)"|(-?\\d+(?:\\.\\d+)?))`).exec(data);
  if (!m) return undefined;
  return m[1] !== undefined ? m[1] : Number(m[2]);
}

function hms(ts: string): string {
  return ts.slice(11, 19);
}

function seconds(ms: number): string {
  if (ms % 60_000 === 0 && ms >= 120_000) return `${ms / 60_000} min`;
  return `${Math.round(ms / 1000)} s`;
}

/** "5 exits of hang in 60 s", from the breaker's reason (which names its last failure) and its numbers. */
function breakerCause(e: HeadlineEvent): string {
  const n = dataField(e.data, 'failures_in_window') ?? /(\d+) failures/.exec(e.reason)?.[1];
  const windowMs = dataField(e.data, 'window_ms');
  const within = /failures within ([^(]+?) \(/.exec(e.reason)?.[1];
  const span = typeof windowMs === 'number' ? seconds(windowMs) : within?.replace(/^1 min$/, '60 s');
  const last = /the last: ([a-z0-9_.]+)(?:\{([^}]*)\})?/.exec(e.reason);
  const service = last?.[2] ? /(?:^|,)service=([^,]+)/.exec(last[2])?.[1] : undefined;
  const what = last?.[1] === 'service.exited' ? 'exits' : last?.[1] === 'service.unhealthy' ? 'failed health checks' : last ? `${last[1]} events` : 'failures';
  return `${n ?? 'repeated'} ${what}${service ? ` of ${service}` : ''}${span ? ` in ${span}` : ''}`;
}

/** The mode the device entered at `from` (seq order), and whether it stayed: "device in safe mode since". */
function modeAfter(events: readonly HeadlineEvent[], from: number, source: string): string | undefined {
  const change = events.slice(from).find((e) => e.kind === 'mode.changed' && e.source === source);
  if (!change) return undefined;
  const to = String(dataField(change.data, 'to') ?? '');
  const left = events.slice(events.indexOf(change) + 1).find((e) => e.kind === 'mode.changed');
  return left ? `device in ${to} mode until ${hms(left.ts)}` : `device in ${to} mode since`;
}

/** Services stopped by the same source after `from` and not started again. */
function stoppedAfter(events: readonly HeadlineEvent[], from: number, source: string): number {
  const stopped = new Set<string>();
  for (const e of events.slice(from)) {
    const svc = String(dataField(e.data, 'service') ?? '');
    if (e.kind === 'service.stopped' && e.source === source && svc) stopped.add(svc);
    if (e.kind === 'service.started' && svc) stopped.delete(svc);
  }
  return stopped.size;
}

function plural(n: number, one: string): string {
  return `${n} ${one}${n === 1 ? '' : 's'}`;
}

function breakerText(events: readonly HeadlineEvent[], i: number): string {
  const e = events[i] as HeadlineEvent;
  const name = dataField(e.data, 'breaker') ?? e.source.replace(/^policy:/, '');
  const parts = [`Breaker ${name} opened at ${hms(e.ts)} after ${breakerCause(e)}`];
  const mode = modeAfter(events, i, e.source);
  if (mode) parts.push(mode);
  const stopped = stoppedAfter(events, i, e.source);
  if (stopped > 0) parts.push(`${plural(stopped, 'service')} stopped`);
  return parts.join('; ');
}

/** A mode change is an incident when it leaves normal and no breaker (already told) asked for it. */
function modeText(events: readonly HeadlineEvent[], i: number): string | undefined {
  const e = events[i] as HeadlineEvent;
  const to = String(dataField(e.data, 'to') ?? '');
  if (to === 'normal' || to === '') return undefined;
  if (events.slice(0, i).some((b) => b.kind === 'policy.breaker_open' && b.source === e.source)) return undefined;
  const left = events.slice(i + 1).find((x) => x.kind === 'mode.changed');
  const stopped = stoppedAfter(events, i, e.source);
  return [`Device entered ${to} mode at ${hms(e.ts)} (${e.source})`, left ? `until ${hms(left.ts)}` : 'still in it at the end', stopped > 0 ? `${plural(stopped, 'service')} stopped` : '']
    .filter(Boolean)
    .join('; ');
}

function incidentText(events: readonly HeadlineEvent[], i: number): string | undefined {
  const e = events[i] as HeadlineEvent;
  const svc = dataField(e.data, 'service');
  switch (e.kind) {
    case 'policy.breaker_open':
      // A re-opening after a failed probe is part of the first opening's story.
      return dataField(e.data, 'trips') !== undefined && Number(dataField(e.data, 'trips')) > 1 && /half-open probe/.test(e.reason) ? undefined : breakerText(events, i);
    case 'mode.changed':
      return modeText(events, i);
    case 'bundle.rolled_back':
      return `Bundle ${dataField(e.data, 'name') ?? ''} rolled back at ${hms(e.ts)}: ${e.reason}`.replace('  ', ' ');
    case 'recovery.degrade':
      return `Crash loop of ${svc ?? 'a service'} at ${hms(e.ts)}: ${dataField(e.data, 'failures_in_window') ?? 'repeated'} failures in ${seconds(Number(dataField(e.data, 'window_ms') ?? 60_000))}`;
    case 'recovery.reboot_requested':
      return `Reboot requested at ${hms(e.ts)} after a crash loop of ${svc ?? 'a service'}`;
    case 'service.failed':
      return `Service ${svc ?? ''} failed for good at ${hms(e.ts)}: it needs an operator`;
    case 'daemon.fatal':
      return `WaveOS stopped on a fatal error at ${hms(e.ts)}: ${e.reason}`;
    default:
      return undefined;
  }
}

/** The window's incidents in words, newest first. `events` are in seq order. */
export function incidentsOf(events: readonly HeadlineEvent[]): Incident[] {
  const out: Incident[] = [];
  events.forEach((e, i) => {
    if (!INCIDENT_KINDS.has(e.kind)) return;
    const text = incidentText(events, i);
    if (text) out.push({ ts: e.ts, kind: e.kind, text });
  });
  return out.reverse();
}

/** The sentence the report opens with: the newest incident, or that there was none. */
export function headlineOf(events: readonly HeadlineEvent[], incidents: readonly Incident[] = incidentsOf(events)): string {
  const first = incidents[0];
  if (!first) return `No incident in this window: no breaker opened, no crash loop, no rollback (${plural(events.length, 'event')} listed).`;
  const more = incidents.length > 1 ? ` (and ${plural(incidents.length - 1, 'earlier incident')})` : '';
  return `${first.text}${more}`;
}
