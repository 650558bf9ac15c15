import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, generateKeyPair, signDetached, verifyDetached } from '../core/ed25519.js';
import { INPUT_LIMITS, WaveosError, errorMessage, readInputFile, writeFileAtomic } from '../core/index.js';
import type { EventInput } from '../journal/index.js';

/** The device's signing identity: ed25519, the secret half never leaves var/lib/waveos/device.key. */
export interface DeviceKey {
  readonly publicKey: Uint8Array;
  readonly secretKey: Uint8Array;
  /** `ed25519:` and the first 16 hex digits of sha256(public key): short enough to read over the phone. */
  readonly keyId: string;
  readonly publicKeyB64: string;
}

interface KeyFile {
  algorithm: 'ed25519';
  created_at: string;
  public_key: string;
  secret_key: string;
}

export function keyIdOf(publicKey: Uint8Array): string {
  return `ed25519:${createHash('sha256').update(publicKey).digest('hex').slice(0, 16)}`;
}

/** A 64-byte secret key holds its public half after the seed (tweetnacl's layout, which the key file keeps). */
function fromSecret(secretKey: Uint8Array): DeviceKey {
  const publicKey = secretKey.slice(32);
  return { publicKey, secretKey, keyId: keyIdOf(publicKey), publicKeyB64: Buffer.from(publicKey).toString('base64') };
}

/** The `.pub` file: the base64 public key, then the key id as a comment a person can match. */
export function publicKeyText(key: Pick<DeviceKey, 'publicKeyB64' | 'keyId'>, deviceId: string): string {
  return `${key.publicKeyB64} ${key.keyId} ${deviceId}\n`;
}

function parseKeyFile(text: string): DeviceKey {
  const f = JSON.parse(text) as Partial<KeyFile>;
  if (f.algorithm !== 'ed25519' || typeof f.secret_key !== 'string') throw new Error('not an ed25519 key file');
  const secret = Buffer.from(f.secret_key, 'base64');
  if (secret.length !== SECRET_KEY_LENGTH) throw new Error(`the secret key is ${secret.length} bytes, expected ${SECRET_KEY_LENGTH}`);
  const key = fromSecret(new Uint8Array(secret));
  if (f.public_key !== undefined && f.public_key !== key.publicKeyB64) throw new Error('the public key does not belong to the secret key');
  return key;
}

export interface LoadedDeviceKey {
  key: DeviceKey;
  created: boolean;
  /** Where an unreadable key was moved before a new one was made. */
  quarantined?: string;
  problem?: string;
}

/**
 * Loads the device key, creating it on first start (0600, written atomically so a power cut leaves no
 * half a key). An unreadable key is moved aside, not overwritten, and a new one made: the daemon must
 * start, and the caller journals that the identity changed. The `.pub` beside it is rewritten each time.
 */
export function loadOrCreateDeviceKey(file: string, pubFile: string, deviceId: string, nowMs: number): LoadedDeviceKey {
  let quarantined: string | undefined;
  let problem: string | undefined;
  if (existsSync(file)) {
    try {
      const key = parseKeyFile(readFileSync(file, 'utf8'));
      writePub(pubFile, key, deviceId);
      return { key, created: false };
    } catch (e) {
      problem = errorMessage(e);
      quarantined = `${file}.unreadable-${nowMs}`;
      renameSync(file, quarantined);
    }
  }
  const kp = generateKeyPair();
  const key = fromSecret(kp.secretKey);
  const body: KeyFile = {
    algorithm: 'ed25519',
    created_at: new Date(nowMs).toISOString(),
    public_key: key.publicKeyB64,
    secret_key: Buffer.from(kp.secretKey).toString('base64'),
  };
  writeFileAtomic(file, `${JSON.stringify(body)}\n`, 0o600);
  writePub(pubFile, key, deviceId);
  return { key, created: true, quarantined, problem };
}

function writePub(pubFile: string, key: DeviceKey, deviceId: string): void {
  const text = publicKeyText(key, deviceId);
  try {
    if (readFileSync(pubFile, 'utf8') === text) return;
  } catch {
    // not there yet
  }
  writeFileAtomic(pubFile, text, 0o644);
}

/** Reads the public half without the daemon: for `waveos evidence pubkey` on a stopped device. */
export function readDevicePublicKey(file: string): DeviceKey {
  try {
    return parseKeyFile(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new WaveosError('WAVEOS_E_NOT_FOUND', `cannot read the device key ${file}: ${errorMessage(e)} (has the daemon started once on this root?)`);
  }
}

export function sign(key: DeviceKey, message: Uint8Array): Uint8Array {
  return signDetached(message, key.secretKey);
}

export function verifySignature(publicKey: Uint8Array, message: Uint8Array, signature: Uint8Array): boolean {
  return verifyDetached(message, signature, publicKey);
}

/**
 * A public key as found in a `.pub` file: base64 or hex of the 32 bytes, first word of the first
 * non-comment line (what `publicKeyText` writes), or a JSON object with `public_key`.
 */
export function parsePublicKey(text: string): Uint8Array | undefined {
  const t = text.trim();
  if (t.startsWith('{')) {
    try {
      const v = (JSON.parse(t) as { public_key?: unknown }).public_key;
      return typeof v === 'string' ? parsePublicKey(v) : undefined;
    } catch {
      return undefined;
    }
  }
  const line = t.split('\n').find((l) => l.trim() && !l.trim().startsWith('#'));
  const [word = '', id] = line?.trim().split(/\s+/) ?? [];
  const bytes = /^[0-9a-f]{64}$/i.test(word) ? Buffer.from(word, 'hex') : Buffer.from(word, 'base64');
  if (bytes.length !== PUBLIC_KEY_LENGTH) return undefined;
  const key = new Uint8Array(bytes);
  // A key id written after the key (as publicKeyText writes it) must be this key's: a file that says otherwise was edited.
  if (id !== undefined && /^ed25519:[0-9a-f]{16}$/.test(id) && id !== keyIdOf(key)) return undefined;
  return key;
}

/** Every `*.pub` in a directory that holds a usable key, by file name. */
export function readTrustedKeys(dir: string): Map<string, Uint8Array> {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pub'));
  } catch (e) {
    throw new WaveosError('WAVEOS_E_USAGE', `--keys ${dir}: cannot read the directory: ${(e as NodeJS.ErrnoException).code ?? errorMessage(e)}`);
  }
  const out = new Map<string, Uint8Array>();
  for (const n of names) {
    // Like an unusable key, a FIFO or an oversized file is passed over (never opened blocking).
    const r = readInputFile(join(dir, n), INPUT_LIMITS.keyFile);
    const k = r.ok ? parsePublicKey(r.text) : undefined;
    if (k) out.set(n, k);
  }
  return out;
}

/** The start-up finding of a new device key (first start, or an unreadable one replaced); none when it was read. */
export function deviceKeyFinding(loaded: LoadedDeviceKey, pubFile: string): EventInput | undefined {
  if (!loaded.created) return undefined;
  const { key, quarantined, problem } = loaded;
  return {
    kind: quarantined ? 'evidence.key_replaced' : 'evidence.key_created',
    severity: quarantined ? 'error' : 'notice',
    source: 'evidence',
    reason: quarantined
      ? `the device key could not be read (${problem}); it was moved to ${quarantined} and a new key ${key.keyId} made: enrol the new public key`
      : `created the device signing key ${key.keyId}; its public half is ${pubFile}`,
    data: { key_id: key.keyId, public_key: key.publicKeyB64, quarantined: quarantined ?? null },
  };
}
