import { z } from 'zod';
import { MODES, type Mode, boundedDuration, boundedSize } from '../core/index.js';
import { HEAP_KEEPER_DEFAULTS, type HeapKeeperConfig } from '../core/heap-keeper.js';

/** The modes live in core (the journal's state schemas need them too); config still exports them. */
export { MODES, type Mode };

const signalName = z.string().regex(/^SIG[A-Z0-9]+$/, 'expected a signal name such as SIGTERM or SIGINT');
const serviceName = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/, 'expected 1-64 letters, digits, "_", "." or "-"');

const healthCommon = {
  /** How often the check runs. */
  interval: boundedDuration('100ms', '1h', { seconds: true }).optional(),
  /** Consecutive failed checks before the service counts as hung. */
  failures: z.number().int().min(1).max(100).optional(),
  /** Checks do not count until the service has run this long. */
  start_grace: boundedDuration('0s', '1h', { seconds: true }).optional(),
};

export const HEALTH_KINDS = ['process', 'exec', 'tcp', 'http', 'heartbeat'] as const;

const healthVariants = {
  process: z.strictObject({ kind: z.literal('process') }),
  exec: z.strictObject({
    kind: z.literal('exec'),
    command: z.string().min(1, 'expected the health command to run'),
    args: z.array(z.string()).optional(),
    timeout: boundedDuration('10ms', '5m', { seconds: true }).optional(),
    ...healthCommon,
  }),
  tcp: z.strictObject({
    kind: z.literal('tcp'),
    host: z.string().min(1).optional(),
    port: z.number().int().min(1).max(65535),
    timeout: boundedDuration('10ms', '5m', { seconds: true }).optional(),
    ...healthCommon,
  }),
  http: z.strictObject({
    kind: z.literal('http'),
    url: z.url({ protocol: /^https?$/ }),
    expect_status: z.number().int().min(100).max(599).optional(),
    timeout: boundedDuration('10ms', '5m', { seconds: true }).optional(),
    ...healthCommon,
  }),
  heartbeat: z.strictObject({
    kind: z.literal('heartbeat'),
    file: z.string().min(1),
    max_age: boundedDuration('100ms', '1d', { seconds: true }),
    ...healthCommon,
  }),
};

/** The health check as a union on `kind` (the published JSON Schema states this one). */
export const healthVariantsSchema = z.discriminatedUnion('kind', [healthVariants.process, healthVariants.exec, healthVariants.tcp, healthVariants.http, healthVariants.heartbeat]);

/** Unknown kinds get one clear message instead of a union's list of mismatches. */
export const healthSchema = z
  .looseObject({ kind: z.string() })
  .superRefine((v, ctx) => {
    if (!(HEALTH_KINDS as readonly string[]).includes(v.kind)) {
      ctx.addIssue({ code: 'custom', path: ['kind'], message: `unknown health check kind "${v.kind}" (expected one of: ${HEALTH_KINDS.join(', ')})` });
    }
  })
  .pipe(healthVariantsSchema);

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'expected an environment variable name');

export const serviceSchema = z.strictObject({
  name: serviceName,
  command: z.string({ error: (i) => (i.input === undefined ? 'command is missing (expected the program to run)' : 'expected the program to run as text') }).min(1, 'command is empty'),
  args: z.array(z.string()).optional(),
  env: z.record(envName, z.string()).optional(),
  /** Environment variable → name of a secret declared under top-level `secrets:`; the only way a secret reaches a service. */
  secrets_env: z.record(envName, z.string().regex(/^[a-z][a-z0-9_.-]*$/, 'expected the name of a secret declared under secrets:')).optional(),
  /** Variables of the daemon's own environment passed on as they are (the escape hatch; the base set is always given). */
  inherit_env: z.array(envName).max(256).optional(),
  cwd: z.string().min(1).optional(),
  user: z.union([z.string().min(1), z.number().int().nonnegative()]).optional(),
  group: z.union([z.string().min(1), z.number().int().nonnegative()]).optional(),
  stop_signal: signalName.optional(),
  stop_timeout: boundedDuration('100ms', '1h', { seconds: true }).optional(),
  critical: z.boolean().optional(),
  modes: z.array(z.enum(MODES)).min(1).optional(),
  health: healthSchema.optional(),
});
export type ServiceFile = z.output<typeof serviceSchema>;

export const servicesSchema = z.array(serviceSchema).superRefine((list, ctx) => {
  const seen = new Set<string>();
  list.forEach((s, i) => {
    if (seen.has(s.name)) ctx.addIssue({ code: 'custom', path: [i, 'name'], message: `service "${s.name}" is declared twice` });
    seen.add(s.name);
  });
});

/** Each `secrets_env` entry must name a secret declared under `secrets:` (located at the service's key). */
export function undeclaredSecretIssues(services: readonly ServiceFile[] | undefined, declared: readonly string[]): { path: (string | number)[]; message: string }[] {
  const out: { path: (string | number)[]; message: string }[] = [];
  (services ?? []).forEach((s, i) => {
    for (const [variable, secret] of Object.entries(s.secrets_env ?? {})) {
      if (!declared.includes(secret)) {
        const known = declared.length ? ` (declared: ${declared.join(', ')})` : ' (none is declared)';
        out.push({ path: ['services', i, 'secrets_env', variable], message: `secret "${secret}" is not declared under secrets:${known}` });
      }
    }
  });
  return out;
}

export const recoverySchema = z.strictObject({
  /** First restart delay after a crash; it doubles (backoff_factor) with each further crash. */
  backoff_initial: boundedDuration('10ms', '1h', { seconds: true }).optional(),
  backoff_max: boundedDuration('10ms', '1d', { seconds: true }).optional(),
  backoff_factor: z.number().min(1).max(10).optional(),
  /** Random spread of each delay, as a fraction (0.2 = ±20 %). */
  jitter: z.number().min(0).max(1).optional(),
  /** A run at least this long resets the backoff and the escalation. */
  healthy_reset: boundedDuration('1s', '1d', { seconds: true }).optional(),
  crash_loop: z.strictObject({ exits: z.number().int().min(2).max(1000).optional(), window: boundedDuration('1s', '1d', { seconds: true }).optional() }).optional(),
  reboot_guard: z.strictObject({ max: z.number().int().min(0).max(100).optional(), window: boundedDuration('1m', '30d', { seconds: true }).optional() }).optional(),
  /** The command that reboots the board (argv). */
  reboot_command: z.array(z.string().min(1)).min(1).optional(),
  watchdog: z
    .strictObject({
      /** A hardware watchdog device to pet from the main loop, e.g. /dev/watchdog. */
      device: z.string().min(1).optional(),
      /** Main-loop period. */
      tick: boundedDuration('100ms', '1m', { seconds: true }).optional(),
    })
    .optional(),
  /** Where sysfs is mounted (watchdog bootstatus, pstore); tests point it at a fake tree. */
  sysfs: z.string().min(1).optional(),
  /**
   * RSS creep guard, off unless set: when the daemon's RSS stays above `ceiling` for `for`, it journals
   * `daemon.rss_ceiling` (with V8's heap statistics) and stops cleanly with exit code 75, so the service
   * manager starts it again before the kernel's OOM killer stops it mid-write (docs/footprint.md).
   */
  rss_guard: z
    .strictObject({
      ceiling: boundedSize('16MiB', '64GiB').describe('RSS above this starts the clock, e.g. 200MiB'),
      for: boundedDuration('1s', '1d', { seconds: true }).optional().describe('how long RSS must stay above the ceiling (default 5m)'),
      check_every: boundedDuration('100ms', '10m', { seconds: true }).optional().describe('how often RSS is read (default 5s, at most `for`)'),
    })
    .optional(),
  /**
   * Heap keeper, on unless `enabled: false`: when V8's heap has grown well past its size after the last full GC
   * and the event loop is quiet, the daemon runs a full GC so that V8 returns the garbage's pages (docs/footprint.md).
   */
  heap_keeper: z
    .strictObject({
      enabled: z.boolean().optional().describe('run the heap keeper (default true)'),
      /** How often the heap and the event loop are read (default 5s). */
      check_every: boundedDuration('1s', '10m', { seconds: true }).optional(),
      /** The least time from one forced GC to the next (default 30s; doubled, up to 16 ×, while they free little). */
      min_interval: boundedDuration('5s', '1d', { seconds: true }).optional(),
      /** Growth over the heap after the last full GC that makes a GC worth forcing (default 8MiB)... */
      growth: boundedSize('1MiB', '4GiB').optional(),
      /** ...and the factor of that heap it must reach as well (default 1.5). */
      growth_ratio: z.number().min(1).max(10).optional().describe('factor of the heap after the last full GC the heap in use must reach too (default 1.5)'),
      busy_elu: z.number().min(0).max(1).optional().describe('event-loop utilization above which the daemon is busy and no GC is forced (default 0.5)'),
    })
    .optional(),
});
export type RecoveryFile = z.output<typeof recoverySchema>;

export type HealthSpec =
  | { kind: 'process' }
  | { kind: 'exec'; command: string; args: string[]; timeout_ms: number; interval_ms: number; failures: number; start_grace_ms: number }
  | { kind: 'tcp'; host: string; port: number; timeout_ms: number; interval_ms: number; failures: number; start_grace_ms: number }
  | { kind: 'http'; url: string; expect_status: number; timeout_ms: number; interval_ms: number; failures: number; start_grace_ms: number }
  | { kind: 'heartbeat'; file: string; max_age_ms: number; interval_ms: number; failures: number; start_grace_ms: number };

/** One supervised service with every default filled in. */
export interface ServiceSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  readonly env: Readonly<Record<string, string>>;
  /** Environment variable → secret name (checked against `secrets:` when the config is loaded). */
  readonly secrets_env: Readonly<Record<string, string>>;
  /** Daemon environment variables passed on as they are. */
  readonly inherit_env: readonly string[];
  readonly cwd: string | null;
  readonly user: string | number | null;
  readonly group: string | number | null;
  readonly stop_signal: string;
  readonly stop_timeout_ms: number;
  readonly critical: boolean;
  readonly modes: readonly Mode[];
  readonly health: HealthSpec;
}

export interface RecoveryConfig {
  readonly backoff_initial_ms: number;
  readonly backoff_max_ms: number;
  readonly backoff_factor: number;
  readonly jitter: number;
  readonly healthy_reset_ms: number;
  readonly crash_loop: { readonly exits: number; readonly window_ms: number };
  readonly reboot_guard: { readonly max: number; readonly window_ms: number };
  readonly reboot_command: readonly string[];
  readonly watchdog: { readonly device: string | null; readonly tick_ms: number };
  readonly sysfs: string;
  /** Null unless `recovery.rss_guard` is configured. */
  readonly rss_guard: { readonly ceiling_bytes: number; readonly for_ms: number; readonly check_every_ms: number } | null;
  readonly heap_keeper: HeapKeeperConfig;
}

function healthSpec(h: ServiceFile['health']): HealthSpec {
  if (!h || h.kind === 'process') return { kind: 'process' };
  const common = { interval_ms: h.interval ?? 5_000, failures: h.failures ?? 3, start_grace_ms: h.start_grace ?? 2_000 };
  switch (h.kind) {
    case 'exec':
      return { kind: 'exec', command: h.command, args: h.args ?? [], timeout_ms: h.timeout ?? 2_000, ...common };
    case 'tcp':
      return { kind: 'tcp', host: h.host ?? '127.0.0.1', port: h.port, timeout_ms: h.timeout ?? 2_000, ...common };
    case 'http':
      return { kind: 'http', url: h.url, expect_status: h.expect_status ?? 200, timeout_ms: h.timeout ?? 2_000, ...common };
    case 'heartbeat':
      return { kind: 'heartbeat', file: h.file, max_age_ms: h.max_age, ...common };
  }
}

export function serviceSpec(s: ServiceFile): ServiceSpec {
  const critical = s.critical ?? false;
  return {
    name: s.name,
    command: s.command,
    args: [...(s.args ?? [])],
    env: { ...(s.env ?? {}) },
    secrets_env: { ...(s.secrets_env ?? {}) },
    inherit_env: [...(s.inherit_env ?? [])],
    cwd: s.cwd ?? null,
    user: s.user ?? null,
    group: s.group ?? null,
    stop_signal: s.stop_signal ?? 'SIGTERM',
    stop_timeout_ms: s.stop_timeout ?? 10_000,
    critical,
    // Non-critical services are shed in degraded and safe modes unless they say otherwise.
    modes: s.modes ? [...s.modes] : critical ? [...MODES] : ['normal'],
    health: healthSpec(s.health),
  };
}

export function recoveryConfig(r: RecoveryFile | undefined, defaults: { reboot_command: readonly string[] }): RecoveryConfig {
  return {
    backoff_initial_ms: r?.backoff_initial ?? 1_000,
    backoff_max_ms: r?.backoff_max ?? 60_000,
    backoff_factor: r?.backoff_factor ?? 2,
    jitter: r?.jitter ?? 0.2,
    healthy_reset_ms: r?.healthy_reset ?? 60_000,
    crash_loop: { exits: r?.crash_loop?.exits ?? 5, window_ms: r?.crash_loop?.window ?? 60_000 },
    reboot_guard: { max: r?.reboot_guard?.max ?? 3, window_ms: r?.reboot_guard?.window ?? 3_600_000 },
    reboot_command: [...(r?.reboot_command ?? defaults.reboot_command)],
    watchdog: { device: r?.watchdog?.device ?? null, tick_ms: r?.watchdog?.tick ?? 1_000 },
    sysfs: r?.sysfs ?? '/sys',
    rss_guard: rssGuardConfig(r?.rss_guard),
    heap_keeper: heapKeeperConfig(r?.heap_keeper),
  };
}

function heapKeeperConfig(k: RecoveryFile['heap_keeper']): HeapKeeperConfig {
  const d = HEAP_KEEPER_DEFAULTS;
  return {
    enabled: k?.enabled ?? d.enabled,
    check_every_ms: k?.check_every ?? d.check_every_ms,
    min_interval_ms: k?.min_interval ?? d.min_interval_ms,
    growth_bytes: k?.growth ?? d.growth_bytes,
    growth_ratio: k?.growth_ratio ?? d.growth_ratio,
    busy_elu: k?.busy_elu ?? d.busy_elu,
  };
}

function rssGuardConfig(g: RecoveryFile['rss_guard']): RecoveryConfig['rss_guard'] {
  if (!g) return null;
  const forMs = g.for ?? 300_000;
  return { ceiling_bytes: g.ceiling, for_ms: forMs, check_every_ms: Math.min(g.check_every ?? 5_000, forMs) };
}
