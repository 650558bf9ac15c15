/** A priority cap as a policy asks for it; only `nice` is applied on this build (caps.ts says why). */
export interface CapParams {
  service: string;
  reset?: boolean;
  nice?: number;
  ionice?: unknown;
  cpu_weight?: unknown;
  cpu_max?: unknown;
}

/**
 * Every way WaveOS changes the world, keyed by action name, with the parameters each one takes. The
 * executor's handler map is typed from these keys, so a handler or a request with the wrong parameters
 * does not compile (balena-supervisor's composition steps are keyed the same way).
 */
export interface ActionMap {
  'service.start': { service: string };
  /** `failures`/`value`: the failed health checks that made recovery stop a hung service. */
  'service.stop': { service: string; failures?: number; value?: number | null };
  'service.restart': { service: string; attempt?: number; delay_ms?: number };
  'service.cap': CapParams;
  /** One of the build's MODES; a policy may name a mode of its own, which the handler refuses with a reason. */
  'mode.set': { mode: string };
  'feature.degrade': { feature: string; restore?: boolean };
  /** `service`: the service whose crash loop asked for it, null when a policy or an operator did. */
  'board.reboot': { service: string | null; failures_in_window?: number; window_ms?: number };
  /** Points a bundle group's `current` at a staged (good) slot and puts it into service; `from` is where it pointed. */
  'bundle.activate': { install_id: string; kind: string; name: string; bundle_id: string; from: string | null };
  /** Makes the slot on trial the last known-good (the one before becomes previous_good) and prunes older slots. */
  'bundle.commit': { install_id: string; kind: string; name: string; bundle_id: string };
  /**
   * Points `current` back at `to` (none: the bundle is taken out of service) and puts it into service; `from`
   * is the slot given up. With `install_id` it undoes that install's trial; without, an operator asked.
   */
  'bundle.rollback': { kind: string; name: string; from: string | null; to: string | null; install_id?: string };
}

export type ActionName = keyof ActionMap;
