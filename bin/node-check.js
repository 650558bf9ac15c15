// Loaded first by bin/waveos.js: WaveOS runs only on the Node lines its tests run on (docs/release.md,
// "Supported Node lines"); any other one is refused with a clear message and exit code 2 (usage error).
// Plain JS with no imports, so it works on any Node old enough to be refused.

/** Each supported major line and the lowest version of it: package.json's engines minimum, and the LTS the release packages. */
export const SUPPORTED_NODE = [
  { major: 20, min: '20.19.0', why: "the project's minimum (package.json engines)" },
  // 22 lies between the two lines CI runs and shares their native-module ABI range; refusing it would refuse
  // distributions and developers that ship it (the contract says "Node 20+"). Accepted, not run by CI.
  { major: 22, min: '22.12.0', why: 'an LTS line between the two tested ones (accepted, not run by CI)' },
  { major: 24, min: '24.11.0', why: 'the LTS line the release packages carry' },
];

function parts(v) {
  const m = /^v?(\d+)\.(\d+)\.(\d+)/.exec(v);
  return m ? [Number(m[1]), Number(m[2]), Number(m[3])] : null;
}

function atLeast(a, b) {
  for (let i = 0; i < 3; i++) if (a[i] !== b[i]) return a[i] > b[i];
  return true;
}

/** null when `version` (e.g. "v24.22.3") is supported, else the sentence that says why not and what to do. */
export function nodeVersionProblem(version) {
  const v = parts(version);
  const lines = SUPPORTED_NODE.map((l) => `${l.major}.x (>= ${l.min})`).join(' or ');
  if (!v) return `cannot read the Node version "${version}"; WaveOS runs on Node ${lines}`;
  const line = SUPPORTED_NODE.find((l) => l.major === v[0]);
  if (line && atLeast(v, parts(line.min))) return null;
  const what = line ? `is older than ${line.min}, the lowest supported ${line.major}.x` : `is not a supported line`;
  return `Node ${version} ${what}; WaveOS runs on Node ${lines}. The packaged release carries its own runtime (/usr/lib/waveos/runtime/bin/node, used by /usr/bin/waveos); set WAVEOS_ALLOW_ANY_NODE=1 to try another at your own risk`;
}

const problem = process.env.WAVEOS_ALLOW_ANY_NODE === '1' ? null : nodeVersionProblem(process.version);
if (problem) {
  process.stderr.write(`waveos: ${problem}\n`);
  process.exit(2);
}
