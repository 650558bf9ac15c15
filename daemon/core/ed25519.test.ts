import nacl from 'tweetnacl';
import { describe, expect, it } from 'vitest';
import { generateKeyPair, keyPairFromSeed, publicKeyOfSeed, signDetached, verifyDetached } from './ed25519.js';

// Key files and signatures made with tweetnacl before must keep working, and the other way round.
describe('ed25519 through node:crypto in tweetnacl byte formats', () => {
  const message = new TextEncoder().encode('manifest bytes to sign');

  it('signs a tweetnacl secret key exactly as tweetnacl does', () => {
    const kp = nacl.sign.keyPair();
    const ours = signDetached(message, kp.secretKey);
    expect(Buffer.from(ours).toString('hex')).toBe(Buffer.from(nacl.sign.detached(message, kp.secretKey)).toString('hex'));
    expect(verifyDetached(message, ours, kp.publicKey)).toBe(true);
    expect(Buffer.from(publicKeyOfSeed(kp.secretKey))).toEqual(Buffer.from(kp.publicKey));
  });

  it('makes keys tweetnacl reads and verifies', () => {
    const kp = generateKeyPair();
    expect(kp.publicKey.length).toBe(32);
    expect(kp.secretKey.length).toBe(64);
    expect(Buffer.from(nacl.sign.keyPair.fromSecretKey(kp.secretKey).publicKey)).toEqual(Buffer.from(kp.publicKey));
    const sig = signDetached(message, kp.secretKey);
    expect(nacl.sign.detached.verify(message, sig, kp.publicKey)).toBe(true);
    expect(Buffer.from(sig)).toEqual(Buffer.from(nacl.sign.detached(message, kp.secretKey)));
  });

  it('derives from a seed the key pair tweetnacl derives, and refuses a seed of another length', () => {
    const seed = Uint8Array.from({ length: 32 }, (_, i) => (i * 37 + 11) & 0xff);
    const ours = keyPairFromSeed(seed);
    const theirs = nacl.sign.keyPair.fromSeed(seed);
    expect(Buffer.from(ours.publicKey)).toEqual(Buffer.from(theirs.publicKey));
    expect(Buffer.from(ours.secretKey)).toEqual(Buffer.from(theirs.secretKey));
    expect(() => keyPairFromSeed(seed.subarray(0, 31))).toThrow(/32 bytes, got 31/);
  });

  it('refuses a changed message, a wrong key, and malformed input without throwing', () => {
    const kp = generateKeyPair();
    const sig = signDetached(message, kp.secretKey);
    const changed = Uint8Array.from(message);
    changed[0] = (changed[0] ?? 0) ^ 1;
    expect(verifyDetached(changed, sig, kp.publicKey)).toBe(false);
    expect(verifyDetached(message, sig, generateKeyPair().publicKey)).toBe(false);
    expect(verifyDetached(message, sig.subarray(0, 63), kp.publicKey)).toBe(false);
    expect(verifyDetached(message, sig, kp.publicKey.subarray(0, 31))).toBe(false);
    expect(verifyDetached(message, sig, new Uint8Array(32).fill(0xff))).toBe(false);
  });
});
