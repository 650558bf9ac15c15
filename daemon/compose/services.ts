import { clockJumpEvent } from '../boot/index.js';
import type { PolicyRuntime } from '../policy-runtime/index.js';
import { type ActionExecutor, HardwareWatchdog, MainLoop, Recovery, RssGuard, memoryFigures } from '../recovery/index.js';
import { type ServiceLogSockets, Supervisor } from '../services/index.js';
import type { LogSink } from '../core/index.js';
import { HeapKeeper } from '../core/heap-keeper.js';
import type { BootContext } from './open.js';

/** Service-manager hand-offs meant for the daemon alone: children never inherit them. */
const DAEMON_ONLY_ENV = ['NOTIFY_SOCKET', 'WATCHDOG_USEC', 'WATCHDOG_PID', 'LISTEN_FDS', 'LISTEN_PID', 'LISTEN_FDNAMES', 'WAVEOS_TEST_STALL_FILE'];

/** The spooler as the supervisor uses it: the children's pipes, and each service's own log socket. */
interface ServiceLogs extends LogSink {
  openServiceSocket?(service: string, owner: { uid?: number; gid?: number }): Promise<string | undefined>;
  closeServiceSocket?(service: string): Promise<void>;
}

function logSocketsOf(sink: ServiceLogs): ServiceLogSockets | undefined {
  const { openServiceSocket, closeServiceSocket } = sink;
  if (!openServiceSocket || !closeServiceSocket) return undefined;
  return { open: (service, owner) => openServiceSocket.call(sink, service, owner), close: (service) => closeServiceSocket.call(sink, service) };
}

/** The one supervisor of child processes; it starts and stops only what the executor asks. */
export function supervisorUnit(boot: BootContext, sink: ServiceLogs): Supervisor {
  const logSockets = logSocketsOf(sink);
  const env = { ...boot.env };
  for (const k of DAEMON_ONLY_ENV) delete env[k];
  return new Supervisor({ specs: boot.config.services, journal: boot.journal, clock: boot.clock, log: boot.log.child({ module: 'services' }), sink, root: boot.paths.root, runId: boot.runId, env, secret: (name) => boot.secrets.get(name), logSockets });
}

/** The escalation ladder and the device's mode; the policy's rate limit and mode transitions bound it. */
export function recoveryUnit(boot: BootContext, deps: { executor: ActionExecutor; supervisor: Supervisor; policy: PolicyRuntime }): Recovery {
  const { policy } = deps;
  return new Recovery({
    executor: deps.executor,
    supervisor: deps.supervisor,
    journal: boot.journal,
    clock: boot.clock,
    log: boot.log.child({ module: 'recovery' }),
    config: boot.config.recovery,
    root: boot.paths.root,
    admitRestart: (service) => policy.admit('service.restart', service),
    allowTransition: (from, to) => {
      const v = policy.canTransition(from, to);
      return v.allowed ? true : v.reason;
    },
  });
}

/** The main loop: the watchdog is petted from it, so a stalled loop stops petting; it also notices clock jumps. */
export function mainLoopUnit(boot: BootContext, deps: { supervisor: Supervisor; recovery: Recovery }): MainLoop {
  const { config, journal } = boot;
  return new MainLoop({
    log: boot.log.child({ module: 'main-loop' }),
    notifier: boot.notifier,
    hardware: config.recovery.watchdog.device ? new HardwareWatchdog(config.recovery.watchdog.device) : undefined,
    tickMs: config.recovery.watchdog.tick_ms,
    stallFile: boot.env.WAVEOS_TEST_STALL_FILE,
    // Timestamps jump with the wall clock; the journal says when and how far, so a reader can line them up.
    onClockJump: (j) => journal.append(clockJumpEvent(j)),
    summary: () => {
      const list = deps.supervisor.list();
      const up = list.filter((s) => s.state === 'running').length;
      const failed = list.filter((s) => s.state === 'failed').length;
      return `mode ${deps.recovery.mode()}; ${up}/${list.length} services running${failed ? `, ${failed} failed` : ''}; journal seq ${journal.lastSeq()}`;
    },
  });
}

/**
 * The RSS creep guard (recovery.rss_guard; none unless configured): RSS above the ceiling for the configured
 * time is journaled with V8's figures, durably, and the daemon stops through its normal exit to be restarted.
 */
export function rssGuardUnit(boot: BootContext, restart: (reason: string) => void): RssGuard | undefined {
  const cfg = boot.config.recovery.rss_guard;
  if (!cfg) return undefined;
  const mib = (b: number): string => `${(b / 1048576).toFixed(1)} MiB`;
  return new RssGuard({
    config: cfg,
    monoMs: () => boot.clock.monoMs(),
    onTrip: (t) => {
      const reason = `RSS ${mib(t.rss_bytes)} stayed above the ceiling of ${mib(t.ceiling_bytes)} for ${Math.round(t.above_for_ms / 1000)} s`;
      boot.journal.appendDurable({
        kind: 'daemon.rss_ceiling',
        severity: 'error',
        source: 'daemon',
        reason: `${reason}: stopping cleanly to be started again`,
        data: { rss_bytes: t.rss_bytes, ceiling_bytes: t.ceiling_bytes, above_for_ms: t.above_for_ms, ...memoryFigures() },
      });
      restart(reason);
    },
  });
}

/**
 * The heap keeper (recovery.heap_keeper; on by default): a full GC when the heap has grown well past its size
 * after the last one and the event loop is quiet. Each forced GC is a debug log line and a counter, not an event.
 */
export function heapKeeperUnit(boot: BootContext): HeapKeeper | undefined {
  const cfg = boot.config.recovery.heap_keeper;
  if (!cfg.enabled) return undefined;
  return new HeapKeeper({ config: cfg, monoMs: () => boot.clock.monoMs(), log: boot.log.child({ module: 'heap-keeper' }) });
}
