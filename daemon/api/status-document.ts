import type { Clock } from '../core/index.js';

/** Where each part of the status document comes from; read at every request, so it is always current. */
export interface StatusSources {
  clock: Clock;
  /** Fixed for the run: ids, when and how it started, the device's key. */
  identity: {
    run_id: string;
    boot_id: string;
    device_id: string;
    started_at: string;
    profile: string;
    root: string;
    pid: number;
    device_public_key: string;
    device_key_id: string;
  };
  startedMono: number;
  previousRun: unknown;
  mode(): string;
  health(): { score: number };
  versions(): { waveos: string; policy: string | null; bundles: Record<string, string> };
  policy(): unknown;
  services(): unknown[];
  journal(): { last_seq: number; disk_full: unknown; read_only: unknown };
  telemetry(): { prometheus: string | null; prometheus_error: string | null; collectors_failing: string[] };
  /** Only a test rig's daemon has it. */
  chaos(): unknown;
}

/** The status document (CONTRACT.md `status --json`): the contract's fields first, then the rest. */
export function statusDocument(src: StatusSources): Record<string, unknown> {
  const id = src.identity;
  const health = src.health();
  const chaos = src.chaos();
  return {
    run_id: id.run_id,
    boot_id: id.boot_id,
    device_id: id.device_id,
    mode: src.mode(),
    health_score: health.score,
    health,
    versions: src.versions(),
    policy: src.policy(),
    services: src.services(),
    previous_run: src.previousRun,
    uptime_s: Math.round((src.clock.monoMs() - src.startedMono) / 1000),
    started_at: id.started_at,
    profile: id.profile,
    root: id.root,
    pid: id.pid,
    journal: src.journal(),
    telemetry: src.telemetry(),
    device_public_key: id.device_public_key,
    device_key_id: id.device_key_id,
    ...(chaos === undefined ? {} : { chaos }),
  };
}
