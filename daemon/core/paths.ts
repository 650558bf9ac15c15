import { chmodSync, mkdirSync } from 'node:fs';
import { join, resolve } from 'node:path';

/** Every path WaveOS uses, derived from one root (CONTRACT.md, "Paths under the root"). */
export interface Paths {
  readonly root: string;
  readonly etcDir: string;
  readonly configFile: string;
  readonly policiesDir: string;
  readonly keysDir: string;
  readonly libDir: string;
  readonly db: string;
  readonly artifactsDir: string;
  readonly artifactsLatest: string;
  readonly slotsDir: string;
  readonly inboxDir: string;
  readonly evidenceDir: string;
  readonly deviceKey: string;
  readonly devicePub: string;
  readonly cleanStopMarker: string;
  readonly tokensFile: string;
  readonly logDir: string;
  readonly spoolDir: string;
  readonly auditLog: string;
  readonly runDir: string;
  /** The token socket (CONTRACT.md): every request is judged by its token alone (dev: token-less is admin). */
  readonly socket: string;
  /** Whoever can connect (root, the daemon's user, `api.admin_group`) is admin without a token. */
  readonly adminSocket: string;
  /** Whoever can connect (`api.viewer_group`) is a viewer without a token. */
  readonly viewerSocket: string;
  readonly pidFile: string;
  /** The logging spooler's ingestion socket (unix stream, newline-delimited). */
  readonly logSocket: string;
  /** The uplink proxy's store-and-forward queues. */
  readonly proxyDir: string;
  /** The uplink proxy's endpoint when it listens on a unix socket. */
  readonly proxySocket: string;
  /** The update agent's copies of bundles being installed. */
  readonly bundleWorkDir: string;
  /** Where refused inbox bundles are moved aside. */
  readonly inboxRejectedDir: string;
  /** Trusted fleet signing keys (docs/fleet-protocol.md). */
  readonly fleetKeysDir: string;
  /** The fleet link's TLS key and certificates and its outbox. */
  readonly fleetDir: string;
  /** Where desired bundles are downloaded (a dot folder: the inbox watcher leaves it alone). */
  readonly fleetDownloadDir: string;
  /** While this file exists, fleet updates wait (an app holds it while busy). */
  readonly updateLock: string;
}

/** The root comes from `--root`, then `WAVEOS_ROOT`, then `/`. */
export function resolveRoot(flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.WAVEOS_ROOT ?? '/');
}

export function pathsFor(rootDir: string): Paths {
  const root = resolve(rootDir);
  const etcDir = join(root, 'etc/waveos');
  const libDir = join(root, 'var/lib/waveos');
  const logDir = join(root, 'var/log/waveos');
  const runDir = join(root, 'run/waveos');
  const artifactsDir = join(libDir, 'artifacts');
  return {
    root,
    etcDir,
    configFile: join(etcDir, 'waveos.yaml'),
    policiesDir: join(etcDir, 'policies.d'),
    keysDir: join(etcDir, 'keys'),
    libDir,
    db: join(libDir, 'waveos.db'),
    artifactsDir,
    artifactsLatest: join(artifactsDir, 'latest'),
    slotsDir: join(libDir, 'slots'),
    inboxDir: join(libDir, 'inbox'),
    evidenceDir: join(libDir, 'evidence'),
    deviceKey: join(libDir, 'device.key'),
    devicePub: join(libDir, 'device.pub'),
    cleanStopMarker: join(libDir, 'clean-stop.json'),
    tokensFile: join(libDir, 'tokens.json'),
    logDir,
    spoolDir: join(logDir, 'spool'),
    auditLog: join(logDir, 'audit.jsonl'),
    runDir,
    socket: join(runDir, 'waveos.sock'),
    adminSocket: join(runDir, 'waveos-admin.sock'),
    viewerSocket: join(runDir, 'waveos-ro.sock'),
    pidFile: join(runDir, 'waveos.pid'),
    logSocket: join(runDir, 'log.sock'),
    proxyDir: join(libDir, 'proxy'),
    proxySocket: join(runDir, 'proxy.sock'),
    bundleWorkDir: join(libDir, 'bundles'),
    inboxRejectedDir: join(libDir, 'inbox', 'rejected'),
    fleetKeysDir: join(etcDir, 'fleet-keys'),
    fleetDir: join(libDir, 'fleet'),
    fleetDownloadDir: join(libDir, 'inbox', '.fleet'),
    updateLock: join(runDir, 'update.lock'),
  };
}

/** Creates the directories the daemon writes to; state directories are private to the daemon's user. */
export function ensureLayout(p: Paths): void {
  for (const dir of [p.libDir, p.artifactsDir, p.slotsDir, p.inboxDir, p.evidenceDir, p.spoolDir]) {
    mkdirSync(dir, { recursive: true, mode: 0o750 });
  }
  // The run dir is traversable (not listable) by all, so the sockets' own group modes decide who connects.
  mkdirSync(p.runDir, { recursive: true, mode: 0o751 });
  try {
    // An existing run dir (an older install's 0750, a RuntimeDirectory) would keep group members out.
    chmodSync(p.runDir, 0o751);
  } catch {
    // not ours to change (a read-only or foreign run dir): the sockets' modes still apply within it
  }
  mkdirSync(p.etcDir, { recursive: true, mode: 0o755 });
}

/** The file a log source's current output goes to under the spool (the spooler rotates it). */
export function spoolCurrentLog(p: Paths, source: string): string {
  return join(p.spoolDir, source, 'current.log');
}
