# Sourced by the ensure-*.sh scripts: apt_install WHO PACKAGE... installs Debian packages for a test that
# needs them, as root, `apt-get update` first, waiting for the apt lock a parallel run may hold. Quiet on
# success; on failure one line on stderr names WHO and why, and it returns 1.
apt_install() {
  local who=$1; shift
  if [[ $(id -u) != 0 ]]; then
    echo "$who: installing $* needs root" >&2
    return 1
  fi
  command -v apt-get >/dev/null || { echo "$who: no apt-get to install $* with" >&2; return 1; }
  local log
  log=$(mktemp)
  export DEBIAN_FRONTEND=noninteractive
  if ! { apt-get -o DPkg::Lock::Timeout=300 update && apt-get -o DPkg::Lock::Timeout=300 install -y --no-install-recommends "$@"; } >"$log" 2>&1; then
    echo "$who: apt-get could not install $*: $(tail -n 3 "$log" | tr '\n' ' ')" >&2
    rm -f "$log"
    return 1
  fi
  rm -f "$log"
  hash -r
}
