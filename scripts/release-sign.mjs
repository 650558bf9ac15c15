// The signed SHA-256 list of a release (SHA256SUMS + SHA256SUMS.sig, ed25519 as bundles are) and its check.
// Signing key: WAVEOS_RELEASE_KEY (a WaveOS key file, `waveos bundle keygen`); without it a dev key from the
// cache, and every output says so. docs/release.md, "Signing" and "Verifying a release".
import { createHash, createPublicKey, verify as edVerify } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join } from 'node:path';
import nacl from 'tweetnacl';
import { cacheDir, repo, run, say, sha256 } from './release-lib.mjs';

const SPKI_ED25519 = Buffer.from('302a300506032b6570032100', 'hex');

function keyIdOf(pub) {
  return createHash('sha256').update(pub).digest('hex').slice(0, 16);
}

/** The signing key: `{key_id, secretKey, publicKey, dev}`. */
export function releaseKey() {
  let file = process.env.WAVEOS_RELEASE_KEY;
  let dev = false;
  if (!file) {
    dev = true;
    const dir = join(cacheDir(), 'dev-release-key');
    const have = existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith('.key')) : [];
    if (!have.length) run(process.execPath, [join(repo, 'bin/waveos.js'), 'bundle', 'keygen', '--out', dir], { capture: true });
    file = join(dir, readdirSync(dir).find((f) => f.endsWith('.key')));
    say(`WAVEOS_RELEASE_KEY is not set: signing with the DEV key ${file} (not for boards)`);
  }
  let k;
  try {
    k = JSON.parse(readFileSync(file, 'utf8'));
  } catch (e) {
    throw new Error(`${file}: not a WaveOS key file: ${e.message}`);
  }
  const secretKey = new Uint8Array(Buffer.from(k.secret_key ?? '', 'base64'));
  if (k.algorithm !== 'ed25519' || secretKey.length !== 64) throw new Error(`${file}: expected an ed25519 WaveOS signing key (secret_key of 64 bytes)`);
  const publicKey = secretKey.slice(32);
  if (keyIdOf(publicKey) !== k.key_id) throw new Error(`${file}: key_id does not match the key`);
  return { file, key_id: k.key_id, secretKey, publicKey, dev };
}

/** Writes the public key as a WaveOS .pub (for /etc/waveos/keys) and as PEM (for openssl). Returns both names. */
export function writePublicKey(dir, key) {
  const pub = `waveos-release-${key.key_id}.pub`;
  const pem = `waveos-release-${key.key_id}.pem`;
  writeFileSync(join(dir, pub), `${JSON.stringify({ key_id: key.key_id, algorithm: 'ed25519', public_key: Buffer.from(key.publicKey).toString('base64') }, null, 2)}\n`);
  const der = Buffer.concat([SPKI_ED25519, Buffer.from(key.publicKey)]);
  writeFileSync(join(dir, pem), `-----BEGIN PUBLIC KEY-----\n${der.toString('base64')}\n-----END PUBLIC KEY-----\n`);
  return { pub, pem };
}

/** SHA256SUMS (sha256sum's format) of `names` in `dir`, and SHA256SUMS.sig: the raw 64-byte ed25519 signature of it. */
export async function signSums(dir, names, key) {
  const lines = [];
  for (const n of [...names].sort()) lines.push(`${await sha256(join(dir, n))}  ${n}`);
  const text = Buffer.from(`${lines.join('\n')}\n`);
  writeFileSync(join(dir, 'SHA256SUMS'), text);
  writeFileSync(join(dir, 'SHA256SUMS.sig'), Buffer.from(nacl.sign.detached(new Uint8Array(text), key.secretKey)));
}

/**
 * Checks a release directory: SHA256SUMS.sig against the public key file (WaveOS .pub or PEM), then every
 * listed file's hash. Returns a list of problems (empty when it verifies).
 */
export async function verifyRelease(dir, pubFile) {
  const problems = [];
  const text = readFileSync(join(dir, 'SHA256SUMS'));
  const sig = readFileSync(join(dir, 'SHA256SUMS.sig'));
  const raw = readFileSync(pubFile, 'utf8');
  const keyObject = raw.includes('BEGIN PUBLIC KEY')
    ? createPublicKey(raw)
    : createPublicKey({ key: Buffer.concat([SPKI_ED25519, Buffer.from(JSON.parse(raw).public_key, 'base64')]), format: 'der', type: 'spki' });
  if (sig.length !== 64 || !edVerify(null, text, keyObject, sig)) problems.push(`SHA256SUMS.sig: not a valid signature of SHA256SUMS by ${basename(pubFile)}`);
  for (const line of text.toString('utf8').split('\n').filter(Boolean)) {
    const m = /^([0-9a-f]{64}) {2}(\S+)$/.exec(line);
    if (!m) {
      problems.push(`SHA256SUMS: malformed line "${line}"`);
      continue;
    }
    const f = join(dir, m[2]);
    if (!existsSync(f)) problems.push(`${m[2]}: listed in SHA256SUMS but missing`);
    else if ((await sha256(f)) !== m[1]) problems.push(`${m[2]}: sha256 differs from SHA256SUMS`);
  }
  return problems;
}
