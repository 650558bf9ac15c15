import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import cron from 'node-cron';
import { EvidenceService, deviceKeyFinding, loadOrCreateDeviceKey, systemFacts } from '../evidence/index.js';
import type { BootContext } from './open.js';

function listPolicyFiles(dir: string): string[] {
  try {
    return readdirSync(dir)
      .filter((n) => /\.ya?ml$/.test(n))
      .sort()
      .map((n) => join(dir, n));
  } catch {
    return [];
  }
}

/** The device key (made on first start, journaled when new) and the evidence exporter that signs with it. */
export function evidenceUnit(boot: BootContext): EvidenceService {
  const { journal, paths, config, build, env } = boot;
  const deviceKey = loadOrCreateDeviceKey(paths.deviceKey, paths.devicePub, config.device.device_id, boot.clock.now());
  const finding = deviceKeyFinding(deviceKey, paths.devicePub);
  if (finding) journal.appendDurable(finding);
  return new EvidenceService({
    journal,
    paths,
    clock: boot.clock,
    log: boot.log.child({ module: 'evidence' }),
    bootId: boot.bootId,
    key: deviceKey.key,
    device: { ...config.device },
    waveos: { version: build.version, git_commit: build.git_commit, git_dirty: build.git_dirty, built_at: build.built_at, node_version: process.version },
    runId: boot.runId,
    config,
    configFile: boot.loaded.file,
    policyFiles: () => listPolicyFiles(paths.policiesDir),
    env,
    systemFacts: () => systemFacts(env, { waveos: build.version }),
    settings: config.evidence,
    scheduler: (expr, fn) => cron.schedule(expr, fn, { name: 'evidence', noOverlap: true }),
    chaos: boot.chaos,
    // A secret read from a variable named like any other (WAVEOS_UPLINK_KEY) is still a secret.
    secretValues: () => boot.secrets.list(),
    redactor: boot.redactor,
  });
}
