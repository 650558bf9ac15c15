#!/usr/bin/env bash
# Warms, in the background of .ci/run, what the later steps would otherwise fetch one after another while
# the suite waits: the Debian packages the tests install (one `apt-get update`, one install), the systemd
# test's base image, and the packaged Node 24 runtime with its native builds (at the lowest CPU priority, so
# the suite keeps the cores). Each step is only a cache: the tests and scripts still ensure what they need
# themselves, so a failure here costs time, never a result. Prints one line per step.
#   scripts/ci-prefetch.sh
set -uo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
source "$here/scripts/lib/apt-install.sh"
# The Debian packages the tests and scripts ask for (scripts/ensure-*.sh, test/helpers, fleet/rig.ts,
# hil-sim: docs/testing.md, "CI").
packages=(chromium prometheus protobuf-compiler mosquitto nginx postgresql prometheus-node-exporter monit dpkg
  openssl gcc g++ make python3 python3-cryptography file strace fuse3 libfuse3-dev pkg-config libfaketime
  systemd-container debootstrap)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
done
if (( ${#missing[@]} )); then
  start=$SECONDS
  if apt_install ci-prefetch "${missing[@]}"; then echo "prefetch: installed ${missing[*]} ($((SECONDS - start)) s)"; else echo "prefetch: packages not installed (the tests will try again)"; fi
else
  echo "prefetch: Debian packages already present"
fi
start=$SECONDS
if bash "$here/scripts/systemd-test.sh" --prepare >/dev/null 2>&1; then echo "prefetch: systemd base image ready ($((SECONDS - start)) s)"; else echo "prefetch: systemd base image not built (the systemd test will try again)"; fi
start=$SECONDS
if (cd "$here" && nice -n 19 node --input-type=module -e "
const l = await import('./scripts/release-lib.mjs');
l.buildNatives('x86-64', l.nodeRuntime('x86-64'));") >/dev/null 2>&1; then
  echo "prefetch: Node 24 runtime and native builds ready ($((SECONDS - start)) s)"
else
  echo "prefetch: Node 24 runtime or natives not ready (the release steps will try again)"
fi
