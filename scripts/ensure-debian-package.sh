#!/bin/bash
# Usage: ensure-debian-package.sh COMMAND PACKAGE
# Makes sure COMMAND is on the PATH, installing the Debian PACKAGE that provides it when it is not (e.g.
# `ensure-debian-package.sh promtool prometheus` for the metrics lint test). Idempotent; prints nothing when the
# command is already there or installs fine; on failure one line on stderr says why, and the exit code is 1.
set -u
if [[ $# -ne 2 || -z $1 || -z $2 ]]; then
  echo "usage: ensure-debian-package.sh COMMAND PACKAGE" >&2
  exit 2
fi
cmd=$1
pkg=$2
me="ensure-debian-package"
command -v "$cmd" >/dev/null 2>&1 && exit 0
if [[ $(id -u) != 0 ]]; then
  echo "$me: $cmd is missing and installing $pkg needs root" >&2
  exit 1
fi
command -v apt-get >/dev/null || { echo "$me: no apt-get to install $pkg with" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Another process may hold the apt lock (a parallel test run): wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get -o DPkg::Lock::Timeout=300 update && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$pkg"; } >"$log" 2>&1; then
  echo "$me: apt-get could not install $pkg: $(tail -n 3 "$log" | tr '\n' ' ')" >&2
  exit 1
fi
hash -r
command -v "$cmd" >/dev/null 2>&1 || { echo "$me: $pkg installed but $cmd is not on the PATH" >&2; exit 1; }
