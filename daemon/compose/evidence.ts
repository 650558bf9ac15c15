import { dirname, resolve } from 'node:path';
import cron from 'node-cron';
import { EvidenceService, type PolicyInForce, deviceKeyFinding, loadOrCreateDeviceKey, systemFacts } from '../evidence/index.js';
import { type JournalReader, LAST_GOOD_KEY } from '../journal/index.js';
import type { BootContext } from './open.js';
import { type PolicyDir, policyDirs } from './policy.js';

/**
 * The policy files in force, as the policy runtime last put them in force (the journal's `policy.last_good`:
 * a refused file's last good text stands in for it), each with the folder it was read from.
 */
export function policiesInForce(journal: Pick<JournalReader, 'readState'>, dirs: readonly PolicyDir[]): PolicyInForce[] {
  const stored = journal.readState(LAST_GOOD_KEY);
  if (!stored) return [];
  return stored.files.map((f) => {
    const from = resolve(dirname(f.file));
    const dir = dirs.find((d) => resolve(d.dir) === from);
    // A folder no longer configured (the config changed since): named by its own path.
    return { file: f.file, text: f.text, origin: dir ? dir.origin : `other/${from.replace(/^\/+/, '')}` };
  });
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
    policyFiles: () => policiesInForce(journal, policyDirs(config, paths)),
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
