import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { recoveryConfig } from '../config/index.js';
import { FakeClock, silentLogger } from '../core/index.js';
import { Journal, MODE_KEY } from '../journal/index.js';
import { Supervisor } from '../services/index.js';
import { ActionExecutor, Recovery, type RecoveryActions, backoffDelay, captureResetReason, decideReboot, initialLadder, planAfterFailure } from './index.js';

const cfg = { ...recoveryConfig(undefined, { reboot_command: ['true'] }), jitter: 0 };

describe('backoff', () => {
  it('grows exponentially up to the cap', () => {
    expect([0, 1, 2, 3, 10].map((a) => backoffDelay(cfg, a, 0.5))).toEqual([1_000, 2_000, 4_000, 8_000, 60_000]);
  });
  it('keeps jitter within its fraction and the cap', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 30 }), fc.double({ min: 0, max: 0.999, noNaN: true }), fc.double({ min: 0, max: 1, noNaN: true }), (attempt, r, jitter) => {
        const c = { ...cfg, jitter };
        const base = Math.min(c.backoff_max_ms, c.backoff_initial_ms * 2 ** attempt);
        const d = backoffDelay(c, attempt, r);
        return d >= Math.floor(base * (1 - jitter)) - 1 && d <= Math.min(c.backoff_max_ms, Math.ceil(base * (1 + jitter)) + 1);
      }),
    );
  });
});

describe('the escalation ladder', () => {
  const ladder = { ...cfg, crash_loop: { exits: 3, window_ms: 10_000 }, healthy_reset_ms: 30_000 };
  it('restarts with growing delays, then degrades, then asks for a reboot on each further crash loop', () => {
    let s = initialLadder();
    const kinds: string[][] = [];
    for (let i = 0; i < 9; i++) {
      const p = planAfterFailure(s, { at: 1_000 + i * 100, uptime_ms: 50 }, ladder, 0.5);
      s = p.state;
      kinds.push(p.steps.map((x) => (x.kind === 'restart' ? `restart:${x.delay_ms}` : x.kind)));
    }
    expect(kinds).toEqual([
      ['restart:1000'],
      ['restart:2000'],
      ['degrade', 'restart:4000'],
      ['restart:8000'],
      ['restart:16000'],
      ['reboot', 'restart:32000'],
      ['restart:60000'],
      ['restart:60000'],
      ['reboot', 'restart:60000'],
    ]);
  });
  it('forgets failures outside the window', () => {
    let s = initialLadder();
    for (let i = 0; i < 10; i++) {
      const p = planAfterFailure(s, { at: i * 6_000, uptime_ms: 50 }, ladder, 0.5);
      expect(p.steps.map((x) => x.kind)).toEqual(['restart']);
      s = p.state;
    }
  });
  it('resets backoff and escalation after a healthy run', () => {
    let s = initialLadder();
    for (let i = 0; i < 4; i++) s = planAfterFailure(s, { at: i, uptime_ms: 10 }, ladder, 0.5).state;
    expect(s.level).toBe(1);
    const p = planAfterFailure(s, { at: 100_000, uptime_ms: 40_000 }, ladder, 0.5);
    expect(p.steps).toEqual([{ kind: 'restart', delay_ms: 1_000, attempt: 1, failures_in_window: 1, reset: true }]);
    expect(p.state.level).toBe(0);
  });
});

describe('the reboot guard', () => {
  it('allows K reboots in the window, then refuses; old ones age out; a future-dated record counts', () => {
    const h = [{ at: 1_000, service: 'a', reason: 'r' }, { at: 2_000, service: 'a', reason: 'r' }];
    expect(decideReboot(h.slice(0, 1), 3_000, 2, 10_000)).toMatchObject({ allowed: true, recent: 1 });
    expect(decideReboot(h, 3_000, 2, 10_000)).toMatchObject({ allowed: false, recent: 2 });
    expect(decideReboot(h, 12_500, 2, 10_000)).toMatchObject({ allowed: true, recent: 0 });
    expect(decideReboot([{ at: 99_999, service: null, reason: 'r' }], 1_000, 1, 10_000).allowed).toBe(false);
  });
});

/** A journal in a temp folder for each test of the block, closed and removed after it. */
function withTempJournal(prefix: string): { dir: string; journal: Journal } {
  const t = {} as { dir: string; journal: Journal };
  beforeEach(() => {
    t.dir = mkdtempSync(join(tmpdir(), `${prefix}-`));
    t.journal = Journal.openWriter(join(t.dir, 'j.db'), { clock: new FakeClock(), runId: 'r1', bootId: 'b1' });
  });
  afterEach(() => {
    t.journal.close();
    rmSync(t.dir, { recursive: true, force: true });
  });
  return t;
}

describe('ActionExecutor', () => {
  const t = withTempJournal('executor');

  /** A map of its own: the executor is generic over it, and the compiler checks these tests' requests too. */
  interface TestActions {
    'test.act': { item: string };
    'test.fail': Record<string, never>;
  }
  const failing = {
    run: () => {
      throw new Error('no luck');
    },
  };

  it('journals the intent before the action and the outcome after, one action at a time', async () => {
    const ex = new ActionExecutor<TestActions>({ journal: t.journal, log: silentLogger() });
    const order: string[] = [];
    let running = 0;
    ex.install({
      'test.act': {
        target: (p) => p.item,
        run: async (p) => {
          running++;
          expect(running).toBe(1);
          // the intent is durable before the handler runs
          expect(t.journal.intents('pending').map((i) => i.target)).toEqual([p.item]);
          order.push(`start ${p.item}`);
          await new Promise((r) => setTimeout(r, 5));
          order.push(`end ${p.item}`);
          running--;
          return { reason: `did ${p.item}`, data: { n: 1 } };
        },
      },
      'test.fail': failing,
    });
    const results = await Promise.all(['a', 'b', 'c'].map((t) => ex.run({ action: 'test.act', params: { item: t }, reason: `because ${t}`, source: 'test', rule_id: 'r-1' })));
    expect(order).toEqual(['start a', 'end a', 'start b', 'end b', 'start c', 'end c']);
    expect(results.map((r) => [r.reason, r.target])).toEqual([
      ['did a', 'a'],
      ['did b', 'b'],
      ['did c', 'c'],
    ]);
    expect(t.journal.intents('succeeded')).toHaveLength(3);
    expect(t.journal.intents('succeeded')[0]?.params).toEqual({ item: 'a', rule_id: 'r-1' });
    const kinds = t.journal.events().map((e) => e.kind);
    expect(kinds).toEqual(['action.requested', 'action.succeeded', 'action.requested', 'action.succeeded', 'action.requested', 'action.succeeded']);
  });

  it('records a failed action and rejects; refuses an action without a handler and a second install', async () => {
    const ex = new ActionExecutor<TestActions>({ journal: t.journal, log: silentLogger() });
    expect(() => ex.start(new AbortController().signal)).toThrow(/no action handlers/);
    const handlers = { 'test.act': { run: () => ({ reason: 'ok' }) }, 'test.fail': failing };
    ex.install(handlers);
    await expect(ex.run({ action: 'test.fail', params: {}, reason: 'try', source: 'test' })).rejects.toThrow('no luck');
    expect(t.journal.intents('failed')[0]?.outcome).toMatchObject({ error: 'no luck' });
    // A request from outside the compiler's view (parsed JSON, a plugin) that names no known action.
    const stray = JSON.parse('{"action":"test.nope","params":{},"reason":"x","source":"test"}') as { action: 'test.act'; params: { item: string }; reason: string; source: string };
    await expect(ex.run(stray)).rejects.toThrow(/unknown action/);
    expect(() => ex.install(handlers)).toThrow(/already installed/);
  });

  it('aborts: after stop nothing further runs', async () => {
    const ex = new ActionExecutor<TestActions>({ journal: t.journal, log: silentLogger() });
    ex.install({ 'test.act': { run: () => ({ reason: 'ok' }) }, 'test.fail': failing });
    await ex.stop();
    await expect(ex.run({ action: 'test.act', params: { item: 'x' }, reason: 'x', source: 'test' })).rejects.toThrow(/stopping/);
    expect(t.journal.intents()).toHaveLength(0);
  });
});

describe("Recovery's mode action", () => {
  const t = withTempJournal('recovery');
  const rig = (allow: (from: string, to: string) => true | string = () => true) => {
    const clock = new FakeClock();
    const supervisor = new Supervisor({ specs: [], journal: t.journal, clock, log: silentLogger(), sink: { attach: () => undefined }, root: t.dir, runId: 'r1' });
    const executor = new ActionExecutor<RecoveryActions>({ journal: t.journal, log: silentLogger() });
    const recovery = new Recovery({ executor, supervisor, journal: t.journal, clock, log: silentLogger(), config: cfg, root: t.dir, allowTransition: allow });
    executor.install(recovery.handlers());
    return { recovery, executor };
  };

  it('records the mode and its event together, and refuses what the transition rules refuse', async () => {
    const { recovery, executor } = rig((from, to) => (to === 'safe' && from === 'normal' ? 'safe only from degraded' : true));
    await executor.run({ action: 'mode.set', params: { mode: 'degraded' }, reason: 'test', source: 'operator:t' });
    expect(recovery.mode()).toBe('degraded');
    expect(t.journal.readState(MODE_KEY)).toBe('degraded');
    expect(t.journal.events().filter((e) => e.kind === 'mode.changed').map((e) => e.data)).toEqual([{ from: 'normal', to: 'degraded' }]);
    await executor.run({ action: 'mode.set', params: { mode: 'normal' }, reason: 'back', source: 'operator:t' });
    await expect(executor.run({ action: 'mode.set', params: { mode: 'safe' }, reason: 'x', source: 'operator:t' })).rejects.toMatchObject({ code: 'WAVEOS_E_PERMISSION' });
    const seq = t.journal.events().length;
    await expect(executor.run({ action: 'mode.set', params: { mode: 'maintenance' }, reason: 'x', source: 'policy:p' })).rejects.toMatchObject({ code: 'WAVEOS_E_USAGE' });
    // A mode that does not exist is refused before an intent is journaled: a typo is not a failed action.
    expect(t.journal.events().length).toBe(seq);
    expect(recovery.mode()).toBe('normal');
  });

  it('reads a recorded mode it does not know (a newer WaveOS wrote it) as normal instead of failing', () => {
    const { recovery } = rig();
    t.journal.setState(MODE_KEY, 'maintenance');
    expect(recovery.mode()).toBe('normal');
  });
});

describe('captureResetReason', () => {
  let dir: string;
  beforeEach(() => (dir = mkdtempSync(join(tmpdir(), 'reset-'))));
  afterEach(() => rmSync(dir, { recursive: true, force: true }));
  const prev = (ended: 'clean' | 'crash' | 'power-loss-or-kill') => ({
    run_id: 'r0',
    boot_id: 'b0',
    started_at: '2026-01-01T00:00:00.000Z',
    ended,
    ended_at: null,
    reset_reason: `ended ${ended}`,
    last_seq: 1,
  });

  it('ranks pstore over watchdog bootstatus over a journaled request, and reads none of them without a reboot', () => {
    const j = Journal.openWriter(join(dir, 'j.db'), { clock: new FakeClock(), runId: 'r0', bootId: 'b0' });
    j.append({ kind: 'recovery.reboot_requested', source: 'recovery', reason: 'crash loop of core', data: {} });
    j.flush();
    const sysfs = join(dir, 'sys');
    const at = (bootId: string) => captureResetReason({ previous: prev('power-loss-or-kill'), journal: j, bootId, sysfs, env: {} });
    expect(at('b1').cause).toBe('requested-reboot');
    mkdirSync(join(sysfs, 'class/watchdog/watchdog0'), { recursive: true });
    writeFileSync(join(sysfs, 'class/watchdog/watchdog0/bootstatus'), '0\n');
    expect(at('b1').cause).toBe('requested-reboot');
    writeFileSync(join(sysfs, 'class/watchdog/watchdog0/bootstatus'), '32\n');
    expect(at('b1')).toMatchObject({ cause: 'watchdog-reset', board_rebooted: true });
    mkdirSync(join(sysfs, 'fs/pstore'), { recursive: true });
    writeFileSync(join(sysfs, 'fs/pstore/dmesg-ramoops-0'), 'Kernel panic');
    expect(at('b1').summary).toMatch(/kernel panic.*dmesg-ramoops-0/);
    expect(at('b0').cause).toBe('daemon-killed');
    expect(captureResetReason({ previous: prev('clean'), journal: j, bootId: 'b0', sysfs, env: {} }).cause).toBe('clean-stop');
    expect(
      captureResetReason({ previous: prev('power-loss-or-kill'), journal: j, bootId: 'b0', sysfs, env: { SERVICE_RESULT: 'watchdog', EXIT_STATUS: 'ABRT' } }).summary,
    ).toMatch(/systemd: watchdog, exit ABRT/);
    j.close();
  });
});
