#!/bin/bash
# Makes sure python3 can import `cryptography` (Debian's python3-cryptography), for the second verifier of
# the stored formats (test/verifier-py/verify.py). Idempotent; prints nothing when it is there or installs fine.
set -u
source "$(dirname "$0")/lib/apt-install.sh"
# The python3 first on PATH may not be Debian's (pyenv, a venv): Debian's package serves /usr/bin/python3.
has_crypto() { python3 -c 'import cryptography' 2>/dev/null || /usr/bin/python3 -c 'import cryptography' 2>/dev/null; }
has_crypto && exit 0
apt_install ensure-python-crypto python3 python3-cryptography || exit 1
has_crypto || { echo "ensure-python-crypto: python3-cryptography installed but neither python3 nor /usr/bin/python3 can import it" >&2; exit 1; }
