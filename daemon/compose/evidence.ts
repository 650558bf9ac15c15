import { dirname } from 'node:path';
import cron from 'node-cron';
import { INPUT_LIMITS, readInputFile } from '../core/index.js';
import { deviceKeyFinding, loadOrCreateDeviceKey } from '../evidence/device-key.js';
import type { PolicyFileCopy } from '../evidence/pack-builder.js';
import { EvidenceService } from '../evidence/service.js';
import { type JournalReader, LAST_GOOD_KEY } from '../journal/index.js';
import type { BootContext } from './open.js';
import { type PolicyFileOnDisk, fileOnDisk, policyDirs, policyFilesOnDisk } from './policy.js';

/**
 * The policy files for an evidence pack, each with the folder it came from: the texts in force, as the policy
 * runtime last put them in force (the journal's `policy.last_good`, stored through the redactor: a refused
 * file's last good text stands in for it), and every file in the policy folders whose bytes are not in force
 * (refused, overridden by a file of the same name in a later folder, or not loaded yet).
 */
export function policyFilesForPack(journal: Pick<JournalReader, 'readState'>, onDisk: readonly PolicyFileOnDisk[], redact: (text: string) => string): PolicyFileCopy[] {
  const out: PolicyFileCopy[] = [];
  const inForce = new Map<string, string>();
  for (const f of journal.readState(LAST_GOOD_KEY)?.files ?? []) {
    const disk = fileOnDisk(f.file, onDisk, redact);
    // A file removed since it was put in force: named by the path it was read from.
    const origin = disk ? disk.origin : `other/${dirname(f.file).replace(/^\/+/, '')}`;
    out.push({ file: disk?.file ?? f.file, text: f.text, origin, inForce: true });
    if (disk) inForce.set(disk.file, f.text);
  }
  for (const f of onDisk) {
    const r = readInputFile(f.file, INPUT_LIMITS.policyFile);
    if (!r.ok || inForce.get(f.file) === redact(r.text)) continue;
    out.push({ file: f.file, text: r.text, origin: f.origin, inForce: false });
  }
  return out;
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
    policyFiles: () => policyFilesForPack(journal, policyFilesOnDisk(policyDirs(config, paths)), (t) => boot.redactor.text(t)),
    env,
    // systeminformation is loaded by the first export that asks for system.json, not at start.
    systemFacts: async () => (await import('../evidence/system-facts.js')).systemFacts(env, { waveos: build.version }),
    settings: config.evidence,
    scheduler: (expr, fn) => cron.schedule(expr, fn, { name: 'evidence', noOverlap: true }),
    chaos: boot.chaos,
    // A secret read from a variable named like any other (WAVEOS_UPLINK_KEY) is still a secret.
    secretValues: () => boot.secrets.list(),
    redactor: boot.redactor,
  });
}
