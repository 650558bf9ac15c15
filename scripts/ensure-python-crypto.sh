#!/bin/bash
# Makes sure python3 can import `cryptography` (Debian's python3-cryptography), for the second verifier of
# the stored formats (test/verifier-py/verify.py). Idempotent; prints nothing when it is there or installs fine.
set -u
# The python3 first on PATH may not be Debian's (pyenv, a venv): Debian's package serves /usr/bin/python3.
has_crypto() { python3 -c 'import cryptography' 2>/dev/null || /usr/bin/python3 -c 'import cryptography' 2>/dev/null; }
has_crypto && exit 0
if [[ $(id -u) != 0 ]]; then
  echo "ensure-python-crypto: python3 cannot import cryptography and installing python3-cryptography needs root" >&2
  exit 1
fi
command -v apt-get >/dev/null || { echo "ensure-python-crypto: no apt-get to install python3-cryptography with" >&2; exit 1; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# Another process may hold the apt lock (a parallel test run): wait for it rather than fail.
export DEBIAN_FRONTEND=noninteractive
if ! { apt-get -o DPkg::Lock::Timeout=300 update && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends python3 python3-cryptography; } >"$log" 2>&1; then
  echo "ensure-python-crypto: apt-get could not install python3-cryptography: $(tail -n 3 "$log" | tr '\n' ' ')" >&2
  exit 1
fi
has_crypto || { echo "ensure-python-crypto: python3-cryptography installed but neither python3 nor /usr/bin/python3 can import it" >&2; exit 1; }
