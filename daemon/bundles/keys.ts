import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { PUBLIC_KEY_LENGTH, SECRET_KEY_LENGTH, SIGNATURE_LENGTH, generateKeyPair as ed25519KeyPair, signDetached as ed25519Sign, verifyDetached as ed25519Verify } from '../core/ed25519.js';
import { z } from 'zod';
import { INPUT_LIMITS, WaveosError, readInputFile, writeFileAtomic } from '../core/index.js';
import { keyIdSchema } from './manifest.js';

export interface TrustedKey {
  key_id: string;
  publicKey: Uint8Array;
  file: string;
}

export interface SigningKey {
  key_id: string;
  secretKey: Uint8Array;
}

const publicKeyFile = z.strictObject({ key_id: keyIdSchema, algorithm: z.literal('ed25519'), public_key: z.base64() });
const secretKeyFile = z.strictObject({ key_id: keyIdSchema, algorithm: z.literal('ed25519'), secret_key: z.base64() });

/** A key id names the public key: the first 16 hex digits of its sha256. */
export function keyIdOf(publicKey: Uint8Array): string {
  return createHash('sha256').update(publicKey).digest('hex').slice(0, 16);
}

/** Writes `<key_id>.key` (0600, keep it off the board) and `<key_id>.pub` (copy it to etc/waveos/keys/). */
export function generateKeyPair(outDir: string): { key_id: string; keyFile: string; pubFile: string } {
  const kp = ed25519KeyPair();
  const key_id = keyIdOf(kp.publicKey);
  mkdirSync(outDir, { recursive: true, mode: 0o700 });
  const keyFile = join(outDir, `${key_id}.key`);
  const pubFile = join(outDir, `${key_id}.pub`);
  const b64 = (u: Uint8Array): string => Buffer.from(u).toString('base64');
  writeFileAtomic(keyFile, `${JSON.stringify({ key_id, algorithm: 'ed25519', secret_key: b64(kp.secretKey) }, null, 2)}\n`, 0o600);
  writeFileAtomic(pubFile, `${JSON.stringify({ key_id, algorithm: 'ed25519', public_key: b64(kp.publicKey) }, null, 2)}\n`, 0o644);
  return { key_id, keyFile, pubFile };
}

function readJson(file: string): unknown {
  // Never a blocking open (a FIFO in the keys folder) and never a parse of more than a key file can hold.
  const r = readInputFile(file, INPUT_LIMITS.keyFile);
  if (!r.ok) throw new WaveosError('WAVEOS_E_USAGE', `${file}: the key file ${r.message}`);
  try {
    return JSON.parse(r.text);
  } catch (e) {
    throw new WaveosError('WAVEOS_E_USAGE', `${file}: not a WaveOS key file (expected JSON): ${(e as Error).message}`);
  }
}

export function readSigningKey(file: string): SigningKey {
  const r = secretKeyFile.safeParse(readJson(file));
  if (!r.success) throw new WaveosError('WAVEOS_E_USAGE', `${file}: not a WaveOS signing key: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const secretKey = new Uint8Array(Buffer.from(r.data.secret_key, 'base64'));
  if (secretKey.length !== SECRET_KEY_LENGTH) throw new WaveosError('WAVEOS_E_USAGE', `${file}: secret_key must be ${SECRET_KEY_LENGTH} bytes`);
  if (keyIdOf(secretKey.slice(32)) !== r.data.key_id) throw new WaveosError('WAVEOS_E_USAGE', `${file}: key_id does not match the key`);
  return { key_id: r.data.key_id, secretKey };
}

/**
 * The trusted keys: every `*.pub` in the directory that parses. A malformed file is skipped — it can add no
 * trust, and it must not take away the trust the other keys give — and handed to `onSkipped` to be said.
 */
export function loadTrustedKeys(dir: string, onSkipped?: (file: string, why: string) => void): TrustedKey[] {
  let names: string[];
  try {
    names = readdirSync(dir).filter((n) => n.endsWith('.pub')).sort();
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  const keys: TrustedKey[] = [];
  for (const n of names) {
    const file = join(dir, n);
    try {
      keys.push(readPublicKey(file));
    } catch (e) {
      onSkipped?.(file, (e as Error).message);
    }
  }
  return keys;
}

function readPublicKey(file: string): TrustedKey {
  const r = publicKeyFile.safeParse(readJson(file));
  if (!r.success) throw new WaveosError('WAVEOS_E_USAGE', `${file}: not a WaveOS public key: ${r.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ')}`);
  const publicKey = new Uint8Array(Buffer.from(r.data.public_key, 'base64'));
  if (publicKey.length !== PUBLIC_KEY_LENGTH || keyIdOf(publicKey) !== r.data.key_id) {
    throw new WaveosError('WAVEOS_E_USAGE', `${file}: public_key is not a 32-byte ed25519 key matching key_id ${r.data.key_id}`);
  }
  return { key_id: r.data.key_id, publicKey, file };
}

export function signDetached(message: Uint8Array, key: SigningKey): string {
  return Buffer.from(ed25519Sign(message, key.secretKey)).toString('base64');
}

export function verifyDetached(message: Uint8Array, sigB64: string, key: TrustedKey): boolean {
  const sig = new Uint8Array(Buffer.from(sigB64, 'base64'));
  if (sig.length !== SIGNATURE_LENGTH) return false;
  return ed25519Verify(message, sig, key.publicKey);
}
