import { rmSync } from 'node:fs';
import type { Route } from '../api/index.js';
import { fleetRoutes } from '../api/fleet-routes.js';
import type { BundleAgent } from '../bundles/index.js';
import { type Lifecycle, writeFileAtomic } from '../core/index.js';
// The key module alone: the evidence barrel would load the pack builder and systeminformation at start.
import { readDevicePublicKey } from '../evidence/device-key.js';
import type { EvidenceService } from '../evidence/index.js';
import type { FleetLink } from '../fleet/index.js';
import type { PolicyRuntime } from '../policy-runtime/index.js';
import type { ActionExecutor, Recovery } from '../recovery/index.js';
import { AuditLog, TOKEN_ROLES } from '../security/index.js';
import type { Telemetry } from '../telemetry/index.js';
import type { BootContext } from './open.js';
import { installedBundles } from './startup.js';

export interface FleetUnitDeps {
  executor: ActionExecutor;
  recovery: Recovery;
  policy: PolicyRuntime;
  telemetry: Telemetry;
  evidence: EvidenceService;
  bundles: BundleAgent;
}

/**
 * The fleet link as a unit. Its code (and mqtt) is imported only when `fleet.enabled` is set, at start: a
 * daemon without a fleet pays nothing for it. The routes exist either way and say whether it is enabled.
 */
export class FleetUnit implements Lifecycle {
  readonly name = 'fleet';
  private link: FleetLink | undefined;

  constructor(
    private readonly boot: BootContext,
    private readonly d: FleetUnitDeps,
  ) {}

  routes(): Route[] {
    const { paths } = this.boot;
    return fleetRoutes({
      snapshot: () => this.link?.snapshot() ?? { enabled: false },
      lock: (reason) => writeFileAtomic(paths.updateLock, `${reason}\n`, 0o644),
      unlock: () => rmSync(paths.updateLock, { force: true }),
    });
  }

  async start(): Promise<void> {
    if (!this.boot.config.fleet.enabled) return;
    const { FleetLink } = await import('../fleet/index.js');
    this.link = new FleetLink(this.deps());
    await this.link.start();
  }

  stop(): void {
    this.link?.stop();
  }

  private deps(): ConstructorParameters<typeof FleetLink>[0] {
    const { boot, d } = this;
    const { config, paths, journal, clock } = boot;
    const key = readDevicePublicKey(paths.deviceKey);
    const audit = new AuditLog(paths.auditLog, clock);
    const role = config.fleet.role;
    return {
      config: config.fleet,
      deviceId: config.device.device_id,
      runId: boot.runId,
      bootId: boot.bootId,
      paths,
      clock,
      log: boot.log.child({ module: 'fleet' }),
      journal,
      key: { keyId: key.keyId, publicKeyB64: key.publicKeyB64, secretKey: key.secretKey },
      waveosVersion: boot.build.version,
      startedMono: boot.startedMono,
      facts: {
        mode: () => d.recovery.mode(),
        modeReason: () => {
          const e = journal.lastEventOf('mode.changed');
          return e ? { reason: e.reason, since: e.ts } : null;
        },
        health: () => d.telemetry.health(),
        policyVersion: () => d.policy.version,
        bundles: () => installedBundles(paths, journal),
        evidence: () => d.evidence.list(),
        samples: (sinceMs, limit) => d.telemetry.historySince(sinceMs, undefined, limit).samples,
      },
      run: (req) => d.executor.run(req),
      exportEvidence: (r) => d.evidence.exportNow({ reason: r.reason, since: r.since, requestedBy: r.requestedBy, trigger: 'manual' }),
      install: (file, requestedBy) => d.bundles.install(file, { origin: 'api', requestedBy }),
      authorize: (r) => {
        const allowed = TOKEN_ROLES.indexOf(role) >= TOKEN_ROLES.indexOf(r.need);
        const reason = allowed ? `the fleet role ${role} may ${r.action}` : `the fleet role ${role} may not ${r.action}: it needs ${r.need} (fleet.role)`;
        audit.append({ decision: allowed ? 'allow' : 'deny', token: r.principal, role, action: r.action, target: r.target, reason, socket: 'fleet' });
        return { allowed, reason };
      },
      auditRefusal: (r) => audit.append({ decision: 'deny', token: r.principal, role: null, action: r.action, target: r.target, reason: r.reason, socket: 'fleet' }),
    };
  }
}
