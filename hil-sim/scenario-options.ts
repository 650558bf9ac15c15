/** What every scenario is given; its own module so that scenario modules and the scenario list do not import each other. */
export interface ScenarioOptions {
  seed: number;
  /** Wall-clock budget; the scenario stops injecting once it is spent. */
  durationMs: number;
  /** Most faults to inject (kill-storm, mixed). */
  count: number;
  /** How long the daemon may take to answer `status` again after a fault. */
  recoveryBoundMs: number;
  /** The daemon's `recovery.heap_keeper.enabled` (soak; default: the daemon's own default). */
  heapKeeper?: boolean;
  /** The daemon's `log.level` (soak; its log is the rig's daemon.log). */
  daemonLogLevel?: 'info' | 'debug';
  /** Progress lines (the runner prints them; tests stay quiet). */
  log?: (line: string) => void;
}
