#!/bin/bash
# Makes sure a headless-capable Chromium is at /usr/bin/chromium (Debian's `chromium` package), for the
# report.html browser test. Idempotent; prints nothing when the browser is already there or installs fine.
set -u
[[ -x /usr/bin/chromium ]] && exit 0
if [[ $(id -u) != 0 ]]; then
  echo "ensure-chromium: /usr/bin/chromium is missing and installing it needs root" >&2
  exit 1
fi
command -v apt-get >/dev/null || { echo "ensure-chromium: no apt-get to install chromium with" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Another process may hold the apt lock (a parallel test run): wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get -o DPkg::Lock::Timeout=300 update && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends chromium; } >"$log" 2>&1; then
  echo "ensure-chromium: apt-get could not install chromium: $(tail -n 3 "$log" | tr '\n' ' ')" >&2
  exit 1
fi
[[ -x /usr/bin/chromium ]] || { echo "ensure-chromium: chromium installed but /usr/bin/chromium is missing" >&2; exit 1; }
