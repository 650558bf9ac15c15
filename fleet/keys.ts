/*
 * The controller's ed25519 keys, through node:crypto (native: a few microseconds per signature, where the
 * pure-JS signer takes milliseconds, which matters at 10,000 desired documents a wave). Signatures are the
 * protocol's exactly: ed25519 is deterministic, over signedBytes() (RFC 8785 of the envelope without sig).
 */
import { createPrivateKey, createPublicKey, type KeyObject, sign, verify } from 'node:crypto';
import { readFileSync, statSync } from 'node:fs';
import { fleetKeyIdOf, signedBytes } from '../daemon/fleet/protocol.js';

export class FleetCtlError extends Error {
  constructor(
    readonly code: string,
    message: string,
    readonly exitCode = 1,
  ) {
    super(message);
  }
}

const b64url = (u: Uint8Array): string => Buffer.from(u).toString('base64url');

export interface SigningKey {
  key_id: string;
  publicKey: Uint8Array;
  privateKey: KeyObject;
}

/** A tweetnacl-form secret key (64 bytes: seed then public key) as a node KeyObject. */
export function signingKeyOf(secretKey: Uint8Array): SigningKey {
  if (secretKey.length !== 64) throw new FleetCtlError('WAVEOS_E_FLEET_KEY', `a fleet secret key is 64 bytes, this one is ${secretKey.length}`);
  const seed = secretKey.subarray(0, 32);
  const pub = secretKey.subarray(32);
  const privateKey = createPrivateKey({ key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(pub) }, format: 'jwk' });
  return { key_id: fleetKeyIdOf(pub), publicKey: new Uint8Array(pub), privateKey };
}

/**
 * Reads the controller's signing key file ({key_id, algorithm, secret_key}, the bundle keys' form). Refuses a
 * file that its group or others may read or write: whoever can read it can command the whole fleet.
 */
export function loadSigningKey(file: string): SigningKey {
  let mode: number;
  try {
    mode = statSync(file).mode;
  } catch (e) {
    throw new FleetCtlError('WAVEOS_E_FLEET_KEY', `${file}: cannot read the signing key: ${(e as Error).message}`);
  }
  if ((mode & 0o077) !== 0) {
    throw new FleetCtlError('WAVEOS_E_FLEET_KEY_MODE', `${file}: the signing key is accessible to others (mode ${(mode & 0o777).toString(8)}); run \`chmod 600 ${file}\``);
  }
  let parsed: { key_id?: unknown; algorithm?: unknown; secret_key?: unknown };
  try {
    parsed = JSON.parse(readFileSync(file, 'utf8')) as typeof parsed;
  } catch (e) {
    throw new FleetCtlError('WAVEOS_E_FLEET_KEY', `${file}: not a key file (JSON {key_id, algorithm, secret_key}): ${(e as Error).message}`);
  }
  if (parsed.algorithm !== 'ed25519' || typeof parsed.secret_key !== 'string') {
    throw new FleetCtlError('WAVEOS_E_FLEET_KEY', `${file}: expected {"algorithm":"ed25519","secret_key":"<base64>"}`);
  }
  const key = signingKeyOf(new Uint8Array(Buffer.from(parsed.secret_key, 'base64')));
  if (parsed.key_id !== undefined && parsed.key_id !== key.key_id) {
    throw new FleetCtlError('WAVEOS_E_FLEET_KEY', `${file}: key_id ${String(parsed.key_id)} does not match the key (${key.key_id})`);
  }
  return key;
}

/** Signs an unsigned envelope exactly as signEnvelope() of the protocol does. */
export function signWith<T extends Record<string, unknown>>(unsigned: T, key: SigningKey): T & { sig: string } {
  const sig = sign(null, signedBytes(unsigned), key.privateKey).toString('base64');
  return { ...unsigned, sig };
}

const publicKeys = new Map<string, KeyObject>();

/** The device's public key (raw 32 bytes, base64) as a KeyObject, cached. */
export function publicKeyObject(publicKeyB64: string): KeyObject {
  let k = publicKeys.get(publicKeyB64);
  if (!k) {
    k = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: Buffer.from(publicKeyB64, 'base64').toString('base64url') }, format: 'jwk' });
    if (publicKeys.size > 200_000) publicKeys.clear();
    publicKeys.set(publicKeyB64, k);
  }
  return k;
}

/** Checks an envelope's sig with a raw ed25519 public key (base64). */
export function verifyWith(envelope: Record<string, unknown>, publicKeyB64: string): boolean {
  if (typeof envelope.sig !== 'string') return false;
  const sig = Buffer.from(envelope.sig, 'base64');
  if (sig.length !== 64) return false;
  try {
    return verify(null, signedBytes(envelope), publicKeyObject(publicKeyB64), sig);
  } catch {
    return false;
  }
}
