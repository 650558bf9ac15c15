import { createHash } from 'node:crypto';
import { z } from 'zod';
import { WaveosError } from './errors.js';
import { parseDuration } from './duration.js';

/**
 * Deterministic failure injection (chaos mode) for test rigs: at named points of the daemon's I/O, an error or a
 * delay is injected at a configured rate, from a seeded generator, and counted. It is compiled in always and inert
 * unless a spec is given (the `chaos:` config section or `WAVEOS_CHAOS`); the prod profile refuses it.
 */
export const CHAOS_POINTS = ['journal.commit', 'artifacts.write', 'spool.write', 'evidence.write', 'collector', 'uplink'] as const;
export type ChaosPoint = (typeof CHAOS_POINTS)[number];

/** What an injection does: fail with an errno (EIO, ENOSPC), fail a collector or an upstream call, or stall. */
export const CHAOS_EFFECTS = ['EIO', 'ENOSPC', 'fail', 'slow'] as const;
export type ChaosEffect = (typeof CHAOS_EFFECTS)[number];

const IO_POINTS = new Set<ChaosPoint>(['journal.commit', 'artifacts.write', 'spool.write', 'evidence.write']);

function defaultEffect(point: ChaosPoint): ChaosEffect {
  return IO_POINTS.has(point) ? 'EIO' : 'fail';
}

export const chaosRuleSchema = z
  .strictObject({
    point: z.enum(CHAOS_POINTS),
    rate: z.number().min(0).max(1),
    effect: z.enum(CHAOS_EFFECTS).optional(),
    /** How long a `slow` injection stalls, in ms. */
    delay_ms: z.number().int().min(1).max(60_000).optional(),
  })
  .superRefine((r, ctx) => {
    const problem = ruleProblem(r.point, r.effect ?? defaultEffect(r.point));
    if (problem) ctx.addIssue({ code: 'custom', path: ['effect'], message: problem });
  });
export type ChaosRuleInput = z.output<typeof chaosRuleSchema>;

export const chaosSchema = z.strictObject({
  seed: z.number().int().min(0).max(2 ** 32 - 1).optional(),
  rules: z.array(chaosRuleSchema).max(64),
});

export interface ChaosRule {
  readonly point: ChaosPoint;
  readonly rate: number;
  readonly effect: ChaosEffect;
  readonly delay_ms: number;
}

export interface ChaosSpec {
  readonly seed: number;
  readonly rules: readonly ChaosRule[];
  /** Where the spec came from: `config` or `env`. */
  readonly origin: 'config' | 'env';
}

export interface ChaosStats {
  enabled: boolean;
  seed: number | null;
  origin: string | null;
  rules: ChaosRule[];
  /** Checks made per point (how often the point was reached). */
  checks: Record<string, number>;
  /** Injections per `point:effect`. */
  injected: Record<string, number>;
}

/** Errno effects belong to disk points, `fail` to the others. */
function ruleProblem(point: ChaosPoint, effect: ChaosEffect): string | undefined {
  const io = IO_POINTS.has(point);
  if ((effect === 'EIO' || effect === 'ENOSPC') && !io) return `${point}: ${effect} applies to disk points only (use fail or slow)`;
  if (effect === 'fail' && io) return `${point}: a disk point fails with EIO or ENOSPC, not "fail"`;
  return undefined;
}

/** Completes one rule with its defaults; throws on an effect the point cannot have. */
export function chaosRule(r: ChaosRuleInput): ChaosRule {
  const effect = r.effect ?? defaultEffect(r.point);
  const problem = ruleProblem(r.point, effect);
  if (problem) throw new Error(problem);
  return { point: r.point, rate: r.rate, effect, delay_ms: r.delay_ms ?? 100 };
}

/**
 * Parses `WAVEOS_CHAOS`: `;`-separated `seed=N` and `POINT=RATE[:EFFECT]` items, EFFECT one of EIO, ENOSPC, fail
 * or a stall such as `200ms` (e.g. `seed=7;spool.write=0.05:ENOSPC;collector=0.2;artifacts.write=0.1:50ms`).
 */
export function parseChaosEnv(text: string): ChaosSpec {
  const bad = (msg: string): never => {
    throw new WaveosError('WAVEOS_E_CONFIG_INVALID', `WAVEOS_CHAOS: ${msg}`, { problems: [{ file: 'environment', path: 'WAVEOS_CHAOS', message: msg }] });
  };
  let seed = 1;
  const rules: ChaosRule[] = [];
  for (const raw of text.split(';')) {
    const item = raw.trim();
    if (!item) continue;
    const eq = item.indexOf('=');
    if (eq < 0) bad(`"${item}": expected POINT=RATE[:EFFECT] or seed=N`);
    const key = item.slice(0, eq).trim();
    const value = item.slice(eq + 1).trim();
    if (key === 'seed') {
      if (!/^\d+$/.test(value) || Number(value) > 2 ** 32 - 1) bad(`seed "${value}": expected a whole number below 2^32`);
      seed = Number(value);
      continue;
    }
    if (!(CHAOS_POINTS as readonly string[]).includes(key)) bad(`unknown point "${key}" (expected one of: ${CHAOS_POINTS.join(', ')})`);
    const [rateText = '', effectText] = value.split(':');
    const rate = Number(rateText);
    if (rateText === '' || !Number.isFinite(rate) || rate < 0 || rate > 1) bad(`${key}: rate "${rateText}" is not a number from 0 to 1`);
    let effect: ChaosEffect | undefined;
    let delay: number | undefined;
    if (effectText !== undefined) {
      if ((CHAOS_EFFECTS as readonly string[]).includes(effectText) && effectText !== 'slow') effect = effectText as ChaosEffect;
      else {
        delay = parseDuration(effectText);
        if (delay === undefined || delay <= 0) bad(`${key}: effect "${effectText}" is not EIO, ENOSPC, fail or a duration such as 200ms`);
        effect = 'slow';
      }
    }
    try {
      rules.push(chaosRule({ point: key as ChaosPoint, rate, effect, delay_ms: delay === undefined ? undefined : Math.max(1, Math.round(delay)) }));
    } catch (e) {
      bad((e as Error).message);
    }
  }
  return { seed, rules, origin: 'env' };
}

/** An errno-style error, as the fs calls throw it, marked as injected. */
function injectedError(code: 'EIO' | 'ENOSPC', point: ChaosPoint): NodeJS.ErrnoException {
  const text = code === 'EIO' ? 'i/o error' : 'no space left on device';
  return Object.assign(new Error(`${code}: ${text} (injected by chaos at ${point})`), { code, errno: code === 'EIO' ? -5 : -28, syscall: 'write', chaos: true });
}

/** mulberry32: a small seeded generator of numbers in [0, 1), the same sequence for the same seed everywhere. */
export function mulberry32(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** One independent stream per point, so what one point draws does not shift another's sequence. */
function stream(seed: number, point: string): () => number {
  return mulberry32(seed ^ createHash('sha256').update(point).digest().readUInt32LE(0));
}

const sleeper = new Int32Array(new SharedArrayBuffer(4));

export class Chaos {
  private readonly byPoint = new Map<ChaosPoint, { rules: ChaosRule[]; next: () => number }>();
  private readonly checks: Record<string, number> = {};
  private readonly injectedCount: Record<string, number> = {};

  constructor(readonly spec: ChaosSpec | undefined) {
    for (const r of spec?.rules ?? []) {
      const p = this.byPoint.get(r.point) ?? { rules: [], next: stream(spec?.seed ?? 1, r.point) };
      p.rules.push(r);
      this.byPoint.set(r.point, p);
    }
  }

  get enabled(): boolean {
    return this.byPoint.size > 0;
  }

  /** The rule that fires at this reach of the point, if any (every rule draws, in order, so runs replay). */
  private draw(point: ChaosPoint): ChaosRule | undefined {
    const p = this.byPoint.get(point);
    if (!p) return undefined;
    this.checks[point] = (this.checks[point] ?? 0) + 1;
    let fired: ChaosRule | undefined;
    for (const r of p.rules) if (p.next() < r.rate && !fired) fired = r;
    if (fired) {
      const k = `${point}:${fired.effect}`;
      this.injectedCount[k] = (this.injectedCount[k] ?? 0) + 1;
    }
    return fired;
  }

  private static failure(r: ChaosRule): Error {
    if (r.effect === 'EIO' || r.effect === 'ENOSPC') return injectedError(r.effect, r.point);
    if (r.point === 'uplink') return Object.assign(new Error('connect ECONNREFUSED (injected by chaos at uplink)'), { code: 'ECONNREFUSED', chaos: true });
    return Object.assign(new Error(`${r.point} failed (injected by chaos at ${r.point})`), { code: 'ECHAOS', chaos: true });
  }

  /** For synchronous I/O: throws the injected error, or blocks for a stall as a slow disk blocks a sync write. */
  check(point: ChaosPoint): void {
    const r = this.draw(point);
    if (!r) return;
    if (r.effect === 'slow') {
      Atomics.wait(sleeper, 0, 0, r.delay_ms);
      return;
    }
    throw Chaos.failure(r);
  }

  /** For asynchronous work: rejects with the injected error, or resolves after a stall. */
  async checkAsync(point: ChaosPoint): Promise<void> {
    const r = this.draw(point);
    if (!r) return;
    if (r.effect === 'slow') {
      await new Promise((res) => setTimeout(res, r.delay_ms));
      return;
    }
    throw Chaos.failure(r);
  }

  /** The injected error for a callback-style write (or undefined): stalls are served by the caller. */
  draws(point: ChaosPoint): { error?: Error; delayMs?: number } {
    const r = this.draw(point);
    if (!r) return {};
    return r.effect === 'slow' ? { delayMs: r.delay_ms } : { error: Chaos.failure(r) };
  }

  stats(): ChaosStats {
    return {
      enabled: this.enabled,
      seed: this.spec?.seed ?? null,
      origin: this.spec?.origin ?? null,
      rules: [...(this.spec?.rules ?? [])],
      checks: { ...this.checks },
      injected: { ...this.injectedCount },
    };
  }
}

/** The inert instance modules get when no chaos is configured. */
export const NO_CHAOS = new Chaos(undefined);
