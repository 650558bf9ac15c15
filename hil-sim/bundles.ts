import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { type Manifest, buildBundle, compareSemver, generateKeyPair, readSigningKey } from '../daemon/bundles/index.js';
import { systemClock } from '../daemon/core/index.js';
import type { Rig } from './rig.js';

/** The app the rig installs over and over; the daemon runs it as service `app-hil`. */
export const HIL_APP = 'hil';

export interface FeedBundle {
  file: string;
  version: string;
  /** A payload that exits at once: it fails its trial and must be rolled back. */
  broken: boolean;
  bundle_id: string;
}

/**
 * Signed app bundles of rising versions for one rig: a key trusted under the rig's root, and a payload
 * big enough (`payloadKiB`) that staging takes long enough for a kill to land inside it.
 */
export class BundleFeed {
  private readonly keyDir: string;
  private readonly keyFile: string;
  private readonly work: string;
  private n = 0;

  constructor(
    private readonly rig: Rig,
    private readonly payloadKiB = 512,
  ) {
    this.work = join(rig.base, 'bundles');
    this.keyDir = join(this.work, 'keys');
    const k = generateKeyPair(this.keyDir);
    const trusted = join(rig.root, 'etc/waveos/keys');
    mkdirSync(trusted, { recursive: true });
    writeFileSync(join(trusted, `${k.key_id}.pub`), readFileSync(k.pubFile));
    this.keyFile = k.keyFile;
  }

  /** Builds the next version (1.0.1, 1.0.2, ...); each is newer than every one before it. */
  async next(broken = false): Promise<FeedBundle> {
    this.n++;
    const version = `1.0.${this.n}`;
    const dir = join(this.work, `src-${version}`);
    mkdirSync(join(dir, 'etc'), { recursive: true });
    writeFileSync(
      join(dir, 'run.sh'),
      `#!/bin/sh\necho "$WAVEOS_APP_VERSION $$" > "$WAVEOS_ROOT/app-$WAVEOS_APP_NAME.version"\n${broken ? 'exit 1' : 'exec sleep 3600'}\n`,
    );
    chmodSync(join(dir, 'run.sh'), 0o755);
    // Incompressible filler, so the staged copy really costs I/O.
    const filler = createHash('sha512');
    const chunks: Buffer[] = [];
    for (let i = 0; i < this.payloadKiB * 16; i++) chunks.push(filler.copy().update(`${version}/${i}`).digest());
    writeFileSync(join(dir, 'etc/filler.bin'), Buffer.concat(chunks));
    const file = join(this.work, `hil-${version}.bundle`);
    const m = await buildBundle({
      dir,
      kind: 'app',
      name: HIL_APP,
      version,
      key: readSigningKey(this.keyFile),
      out: file,
      clock: systemClock,
      app: { run: ['./run.sh'], trial_ms: 300 },
    });
    return { file, version, broken, bundle_id: m.bundle_id };
  }
}

/**
 * Every slot group's `current` link points at a slot that is whole: marked good, and every file of its manifest
 * present with its digest. A kill can leave the old slot or the new one current, never a mix.
 */
export function slotViolations(root: string): { groups: number; versions: Record<string, string>; violations: string[] } {
  const slots = join(root, 'var/lib/waveos/slots');
  const violations: string[] = [];
  const versions: Record<string, string> = {};
  let groups = 0;
  for (const kind of safeList(slots)) {
    for (const name of safeList(join(slots, kind))) {
      const group = join(slots, kind, name);
      let id: string;
      try {
        id = readlinkSync(join(group, 'current'));
      } catch {
        continue; // nothing committed in this group yet
      }
      groups++;
      const where = `${kind}/${name} current -> ${id.slice(0, 12)}`;
      try {
        const status = readFileSync(join(group, id, 'STATUS'), 'utf8').trim();
        if (status !== 'good') violations.push(`${where} is marked ${status}`);
        const m = JSON.parse(readFileSync(join(group, id, 'manifest.json'), 'utf8')) as Manifest;
        versions[`${kind}/${name}`] = m.version;
        for (const f of m.files) {
          const p = join(group, id, 'payload', f.path);
          if (f.type === 'file' && createHash('sha256').update(readFileSync(p)).digest('hex') !== f.sha256) violations.push(`${where}: ${f.path} does not match its manifest`);
          if (f.type === 'symlink' && readlinkSync(p) !== f.target) violations.push(`${where}: link ${f.path} differs from its manifest`);
        }
      } catch (e) {
        violations.push(`${where}: ${(e as Error).message}`);
      }
    }
  }
  return { groups, versions, violations };
}

/** Is `have` at least `want` (both semver)? */
export function atLeast(have: string | undefined, want: string): boolean {
  return have !== undefined && compareSemver(have, want) >= 0;
}

function safeList(dir: string): string[] {
  try {
    return readdirSync(dir, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .map((d) => d.name);
  } catch {
    return [];
  }
}
