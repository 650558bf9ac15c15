export { type ActionMap, type ActionName, type CapParams } from './actions.js';
export {
  type ActionContext,
  ActionExecutor,
  type ActionHandler,
  type ActionHandlers,
  type ActionOutcome,
  type ActionRequest,
  type ActionResult,
  type AnyActionRequest,
  type MapRequest,
} from './executor.js';
export { type DecisionStep, planDecision } from './decisions.js';
export { type Failure, type LadderConfig, type LadderState, type Level, type Step, backoffDelay, initialLadder, planAfterFailure } from './ladder.js';
export { type GuardDecision, type RebootRecord, decideReboot, pruneReboots } from './reboot-guard.js';
export { type ModeTransitionHook, Recovery, type RecoveryActions, type RecoveryDeps, allowAllModes, recordedMode } from './recovery.js';
export { type ResetCause, type ResetReason, captureResetReason } from './reset-reason.js';
export { CLOCK_JUMP_MS, HardwareWatchdog, MainLoop, type MainLoopDeps, SdNotifier } from './watchdog.js';
export { applyCap } from './caps.js';
export { RssCeiling, RssGuard, type RssGuardConfig, type RssTrip, memoryFigures } from './rss-guard.js';
