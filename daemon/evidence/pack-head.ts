import { closeSync, openSync, readSync } from 'node:fs';
import { constants as zlibConstants, gunzipSync } from 'node:zlib';
import { WaveosError, errorMessage } from '../core/index.js';
import { keyIdOf, verifySignature } from './device-key.js';
import { MANIFEST_FILE, type Manifest, SIGNATURE_FILE, manifestSchema } from './manifest.js';

/** MANIFEST.json and MANIFEST.sig lead the archive: this much of the gzip stream holds them in any pack WaveOS writes. */
const HEAD_BYTES = 8 * 1024 * 1024;

/** The leading members of a tar held in `tar`, by name, up to the first one that runs past what was read. */
function leadingMembers(tar: Buffer): Map<string, Buffer> {
  const out = new Map<string, Buffer>();
  let longName: string | undefined;
  for (let off = 0; off + 512 <= tar.length; ) {
    const header = tar.subarray(off, off + 512);
    if (header.every((b) => b === 0)) break;
    const size = Number.parseInt(header.subarray(124, 136).toString('latin1').replace(/\0.*$/s, '').trim() || '0', 8);
    const type = String.fromCharCode(header[156] ?? 0);
    const body = tar.subarray(off + 512, off + 512 + size);
    if (body.length < size) break;
    const name = (longName ?? header.subarray(0, 100).toString('utf8').replace(/\0.*$/s, '')).replace(/^\.\//, '');
    longName = undefined;
    if (type === 'x') longName = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(body.toString('utf8'))?.[1];
    else if (type === '0' || type === '\0') out.set(name, Buffer.from(body));
    off += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

/**
 * A pack's manifest, read without unpacking the rest and checked against its own signature (the key it
 * names, and the key id that key has): enough to trust what it says of the journal it came from. Throws a
 * WaveosError (WAVEOS_E_EVIDENCE_VERIFY) when it cannot be read or does not verify.
 */
export function readSignedManifest(file: string): Manifest {
  const fail = (why: string): never => {
    throw new WaveosError('WAVEOS_E_EVIDENCE_VERIFY', `${file}: ${why}`);
  };
  let members: Map<string, Buffer>;
  try {
    const fd = openSync(file, 'r');
    const head = Buffer.alloc(HEAD_BYTES);
    let n: number;
    try {
      n = readSync(fd, head, 0, HEAD_BYTES, 0);
    } finally {
      closeSync(fd);
    }
    members = leadingMembers(gunzipSync(head.subarray(0, n), { finishFlush: zlibConstants.Z_SYNC_FLUSH }));
  } catch (e) {
    return fail(`not a readable evidence pack: ${errorMessage(e)}`);
  }
  const bytes = members.get(MANIFEST_FILE) ?? fail(`no ${MANIFEST_FILE} at the start of the pack`);
  const sig = members.get(SIGNATURE_FILE) ?? fail(`no ${SIGNATURE_FILE} at the start of the pack`);
  let manifest: Manifest | undefined;
  try {
    const parsed = manifestSchema.safeParse(JSON.parse(bytes.toString('utf8')));
    manifest = parsed.success ? parsed.data : undefined;
  } catch {
    manifest = undefined;
  }
  if (!manifest) return fail(`${MANIFEST_FILE} is not a valid manifest`);
  const pub = new Uint8Array(Buffer.from(manifest.device.public_key, 'base64'));
  if (keyIdOf(pub) !== manifest.device.key_id) fail('device.key_id does not belong to device.public_key');
  if (!verifySignature(pub, new Uint8Array(bytes), new Uint8Array(Buffer.from(sig.toString('utf8').trim(), 'base64')))) fail(`${SIGNATURE_FILE} does not verify: the manifest was changed`);
  return manifest;
}
