import { type KeyObject, createPrivateKey, createPublicKey, generateKeyPairSync, sign as cryptoSign, verify as cryptoVerify } from 'node:crypto';

/**
 * Ed25519 through node:crypto (OpenSSL, native) in the byte formats tweetnacl used, which the key files keep:
 * a secret key is 64 bytes, the 32-byte seed then the 32-byte public key; a public key is 32 bytes; a
 * signature 64 bytes (RFC 8032, so signatures and keys are the same as before). Native signing needs no
 * JavaScript curve code in memory, and no keypair derivation at start.
 */
export const PUBLIC_KEY_LENGTH = 32;
export const SECRET_KEY_LENGTH = 64;
export const SIGNATURE_LENGTH = 64;

// DER wrappers of a raw key (RFC 8410): PKCS#8 around the seed, SubjectPublicKeyInfo around the public key.
const PKCS8_PREFIX = Buffer.from('302e020100300506032b657004220420', 'hex');
const SPKI_PREFIX = Buffer.from('302a300506032b6570032100', 'hex');

export interface Ed25519KeyPair {
  publicKey: Uint8Array;
  /** seed ‖ public key, as tweetnacl's `sign.keyPair()` gave it. */
  secretKey: Uint8Array;
}

const privateKeys = new WeakMap<Uint8Array, KeyObject>();

function privateKeyOf(secretKey: Uint8Array): KeyObject {
  let k = privateKeys.get(secretKey);
  if (!k) {
    k = createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, secretKey.subarray(0, 32)]), format: 'der', type: 'pkcs8' });
    privateKeys.set(secretKey, k);
  }
  return k;
}

export function generateKeyPair(): Ed25519KeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = new Uint8Array(publicKey.export({ format: 'der', type: 'spki' }).subarray(SPKI_PREFIX.length));
  const seed = privateKey.export({ format: 'der', type: 'pkcs8' }).subarray(PKCS8_PREFIX.length);
  const secretKey = new Uint8Array(SECRET_KEY_LENGTH);
  secretKey.set(seed, 0);
  secretKey.set(pub, 32);
  return { publicKey: pub, secretKey };
}

/** The key pair of a 32-byte seed (tweetnacl's `sign.keyPair.fromSeed`). */
export function keyPairFromSeed(seed: Uint8Array): Ed25519KeyPair {
  if (seed.length !== 32) throw new Error(`an ed25519 seed is 32 bytes, got ${seed.length}`);
  const secretKey = new Uint8Array(SECRET_KEY_LENGTH);
  secretKey.set(seed, 0);
  const publicKey = publicKeyOfSeed(secretKey);
  secretKey.set(publicKey, 32);
  return { publicKey, secretKey };
}

/** The public key derived from a secret key's seed (what the second half of a well-formed secret key holds). */
export function publicKeyOfSeed(secretKey: Uint8Array): Uint8Array {
  const der = createPublicKey(privateKeyOf(secretKey)).export({ format: 'der', type: 'spki' });
  return new Uint8Array(der.subarray(SPKI_PREFIX.length));
}

/** A detached signature of `message` by the 64-byte secret key. */
export function signDetached(message: Uint8Array, secretKey: Uint8Array): Uint8Array {
  return new Uint8Array(cryptoSign(null, message, privateKeyOf(secretKey)));
}

/** Whether `signature` is the 32-byte public key's signature of `message`; any malformed input is false. */
export function verifyDetached(message: Uint8Array, signature: Uint8Array, publicKey: Uint8Array): boolean {
  if (publicKey.length !== PUBLIC_KEY_LENGTH || signature.length !== SIGNATURE_LENGTH) return false;
  try {
    const key = createPublicKey({ key: Buffer.concat([SPKI_PREFIX, publicKey]), format: 'der', type: 'spki' });
    return cryptoVerify(null, message, key, signature);
  } catch {
    return false;
  }
}
