#!/bin/bash
# Makes sure a headless-capable Chromium is at /usr/bin/chromium (Debian's `chromium` package), for the
# report.html browser test. Idempotent; prints nothing when the browser is already there or installs fine.
set -u
source "$(dirname "$0")/lib/apt-install.sh"
[[ -x /usr/bin/chromium ]] && exit 0
apt_install ensure-chromium chromium || exit 1
[[ -x /usr/bin/chromium ]] || { echo "ensure-chromium: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
