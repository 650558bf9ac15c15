import type { FleetConfig } from '../config/index.js';
import type { Clock, Logger, Paths } from '../core/index.js';
import type { Journal } from '../journal/index.js';

/** The device key as the link signs with it. */
export interface LinkKey {
  keyId: string;
  publicKeyB64: string;
  secretKey: Uint8Array;
}

/** An installed bundle, by `<kind>/<name>`, as status shows it. */
export interface InstalledBundleView {
  kind: string;
  name: string;
  bundle_id: string;
  version: string | null;
  state: string;
}

/** What the link needs from the daemon, handed in by compose/fleet.ts (the link imports no other module's internals). */
export interface FleetDeps {
  config: FleetConfig;
  deviceId: string;
  runId: string;
  bootId: string;
  paths: Paths;
  clock: Clock;
  log: Logger;
  journal: Journal;
  key: LinkKey;
  waveosVersion: string;
  startedMono: number;
  /** Facts for `status`. */
  facts: {
    mode(): string;
    modeReason(): { reason: string; since: string } | null;
    health(): { score: number | null; deductions: { points: number; why?: string; input?: string }[] };
    policyVersion(): string | null;
    bundles(): Record<string, InstalledBundleView>;
    evidence(): { name: string; bytes: number; created_at: string }[];
    /** Raw metric samples since a time (buffered ones written out first), as `waveos metrics --since` reads them. */
    samples(sinceMs: number, limit: number): { ts: string; name: string; value: number; unit: string; labels: Record<string, string> }[];
  };
  /** The one action path. */
  run(req: { action: 'service.restart'; params: { service: string }; reason: string; source: string } | { action: 'mode.set'; params: { mode: string }; reason: string; source: string }): Promise<{ intent_id: number; reason: string; data?: Record<string, unknown> }>;
  /** As `waveos evidence export`. */
  exportEvidence(req: { reason: string; since?: string; requestedBy: string }): Promise<{ ok: true; name: string; file: string; bytes: number; sha256: string } | { ok: false; error: string }>;
  /** As a local `waveos bundle install`: verification, staging, trial, commit or rollback. */
  install(file: string, requestedBy: string): Promise<{ state: string; reason?: string; check?: string; version?: string; install_id: string }>;
  /** RBAC as a token of the fleet's role would have it; the decision is audited. */
  authorize(req: { principal: string; action: string; need: 'viewer' | 'operator' | 'admin'; target: string | null }): { allowed: boolean; reason: string };
  /** Appends a deny record to the audit log for a refused message. */
  auditRefusal(req: { principal: string; action: string; target: string | null; reason: string }): void;
}
