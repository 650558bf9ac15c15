// The CycloneDX SBOM of one release tree: read from the tree itself (every package.json under its
// node_modules), so it lists exactly what ships, plus the Node runtime and the natives as built here.
import { randomUUID } from 'node:crypto';
import { existsSync, lstatSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { ARCHES, NODE_RUNTIME_VERSION, PREFIX, productionLock, sha256 } from './release-lib.mjs';

/** Lock-style paths (node_modules/a, node_modules/a/node_modules/b, node_modules/@s/c) of the packages in a tree. */
export function treeModules(app, rel = 'node_modules') {
  const out = [];
  const dir = join(app, rel);
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir).sort()) {
    if (name.startsWith('.')) continue;
    if (name.startsWith('@')) {
      for (const sub of readdirSync(join(dir, name)).sort()) out.push(...moduleAt(app, `${rel}/${name}/${sub}`));
    } else out.push(...moduleAt(app, `${rel}/${name}`));
  }
  return out;
}

function moduleAt(app, rel) {
  if (!lstatSync(join(app, rel)).isDirectory() || !existsSync(join(app, rel, 'package.json'))) return [];
  return [rel, ...treeModules(app, `${rel}/node_modules`)];
}

const purl = (name, version) => `pkg:npm/${name.startsWith('@') ? `%40${name.slice(1)}` : name}@${version}`;
const sriHex = (sri) => (sri?.startsWith('sha512-') ? [{ alg: 'SHA-512', content: Buffer.from(sri.slice(7), 'base64').toString('hex') }] : []);

function license(pkg) {
  const l = typeof pkg.license === 'string' ? pkg.license : pkg.license?.type;
  return l ? [{ license: /^[A-Za-z0-9.+-]+$/.test(l) ? { id: l } : { name: l } }] : [];
}

/** The SBOM document for the tree at `root` built for `arch`. */
export async function makeSbom(root, arch, version, runtime, natives, build) {
  const app = join(root, PREFIX);
  const lock = productionLock();
  const components = [];
  for (const rel of treeModules(app)) {
    const pkg = JSON.parse(readFileSync(join(app, rel, 'package.json'), 'utf8'));
    const c = { type: 'library', 'bom-ref': rel, name: pkg.name, version: pkg.version, purl: purl(pkg.name, pkg.version), licenses: license(pkg), hashes: sriHex(lock.get(rel)?.integrity), properties: [] };
    const native = natives[pkg.name];
    if (native && rel === `node_modules/${pkg.name}`) {
      c.properties.push({ name: 'waveos:native', value: `compiled for ${arch} (${ARCHES[arch].gyp}) against Node ${NODE_RUNTIME_VERSION} headers` });
      for (const f of native.files) c.properties.push({ name: `waveos:sha256:${f}`, value: await sha256(join(app, rel, f)) });
    }
    components.push(c);
  }
  components.push({
    type: 'platform',
    'bom-ref': 'runtime/node',
    name: 'node',
    version: NODE_RUNTIME_VERSION,
    description: `Node.js runtime, the official linux-${ARCHES[arch].gyp} binary from the npm registry package ${runtime.npmName} (static symbol table stripped)`,
    purl: purl(runtime.npmName, NODE_RUNTIME_VERSION),
    licenses: [{ license: { id: 'MIT' } }],
    hashes: [{ alg: 'SHA-512', content: runtime.integrity }],
    properties: [{ name: `waveos:sha256:${PREFIX}/runtime/bin/node`, value: await sha256(join(app, 'runtime/bin/node')) }],
  });
  return {
    bomFormat: 'CycloneDX',
    specVersion: '1.5',
    serialNumber: `urn:uuid:${randomUUID()}`,
    version: 1,
    metadata: {
      timestamp: new Date().toISOString(),
      component: {
        type: 'application',
        'bom-ref': 'waveos',
        name: 'waveos',
        version,
        purl: `pkg:generic/waveos@${version}?arch=${ARCHES[arch].deb}`,
        properties: [
          { name: 'waveos:arch', value: ARCHES[arch].deb },
          { name: 'waveos:payload', value: build.source },
          { name: 'waveos:git_commit', value: build.commit ?? 'unknown' },
        ],
      },
    },
    components,
  };
}
