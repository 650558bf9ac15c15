#!/bin/bash
# Usage: ensure-debian-package.sh COMMAND PACKAGE
# Makes sure COMMAND is on the PATH, installing the Debian PACKAGE that provides it when it is not (e.g.
# `ensure-debian-package.sh promtool prometheus` for the metrics lint test). Idempotent; prints nothing when the
# command is already there or installs fine; on failure one line on stderr says why, and the exit code is 1.
set -u
source "$(dirname "$0")/lib/apt-install.sh"
if [[ $# -ne 2 || -z $1 || -z $2 ]]; then
  echo "usage: ensure-debian-package.sh COMMAND PACKAGE" >&2
  exit 2
fi
command -v "$1" >/dev/null 2>&1 && exit 0
apt_install ensure-debian-package "$2" || exit 1
command -v "$1" >/dev/null 2>&1 || { echo "ensure-debian-package: $2 installed but $1 is not on the PATH" >&2; exit 1; }
