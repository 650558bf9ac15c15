#!/usr/bin/env bash
# The x86-64 .deb under a real systemd (Debian 12 booted in systemd-nspawn, the image scripts/systemd-test.sh
# caches): lintian, `dpkg -i` enables and starts waveos.service, `apt remove` stops it and keeps the journal,
# config and keys, `apt purge` removes what docs/release.md says. Needs root.
#   npm run test:deb-systemd            (about 5 min; DEB=FILE tests a .deb already built, LINTIAN=0 skips lintian)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=/var/cache/waveos-systemd-test
base=$cache/rootfs-bookworm
work=$(mktemp -d -t waveos-debsd.XXXXXX)
rootfs=$work/rootfs
nspawn_pid=
. "$here/scripts/lib/check-tally.sh"
cleanup() {
  if [[ -n $nspawn_pid ]]; then kill "$nspawn_pid" 2>/dev/null || true; sleep 1; kill -9 "$nspawn_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
[[ $(id -u) == 0 ]] || { say "deb systemd test: needs root"; exit 1; }
ensure() { bash "$here/scripts/ensure-debian-package.sh" "$@"; }
ensure systemd-nspawn systemd-container
ensure debootstrap debootstrap
ensure lintian lintian

deb=${DEB:-}
if [[ -z $deb ]]; then
  SECONDS=0
  WAVEOS_RELEASE_DEB_COMPRESSION=gzip node "$here/scripts/release.mjs" --arch x86-64 --out "$work/release" >/dev/null
  deb=$(ls "$work"/release/waveos_*_amd64.deb)
  say "     built $(basename "$deb") in ${SECONDS} s"
fi
if [[ ${LINTIAN:-1} == 1 ]]; then # LINTIAN=0 skips it (about 3 min) when the .deb was checked already
  lintian --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1 || true
  if grep -q '^E:' "$work/lintian.log"; then bad "lintian errors: $(grep '^E:' "$work/lintian.log" | head -n 5 | tr '\n' ' ')"; else ok "lintian: no errors ($(grep -c '^W:' "$work/lintian.log") warnings: $(grep '^W:' "$work/lintian.log" | awk '{print $3}' | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}'))"; fi
fi

if [[ ! -x $base/lib/systemd/systemd ]]; then
  say "     building the base image (once, about a minute)"
  rm -rf "$base.tmp" && mkdir -p "$cache"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$base.tmp" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  mv "$base.tmp" "$base"
fi
cp -a "$base" "$rootfs"
cp "$deb" "$rootfs/var/tmp/waveos.deb"   # /tmp is a fresh tmpfs once the container boots
setsid timeout 900 systemd-nspawn -D "$rootfs" --boot --console=pipe --register=no --keep-unit </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
pid1=
for _ in $(seq 1 100); do
  pid1=$(pgrep -P "$nspawn_pid" -x systemd 2>/dev/null | head -n1 || true)
  [[ -z $pid1 ]] && pid1=$(ps -o pid= --ppid "$(pgrep -P "$nspawn_pid" | head -n1)" 2>/dev/null | head -n1 | tr -d ' ' || true)
  [[ -n $pid1 ]] && nsenter -t "$pid1" -a true 2>/dev/null && break
  sleep 0.2
done
[[ -n $pid1 ]] || { say "deb systemd test: the container did not boot"; tail -n 20 "$work/console.log"; exit 1; }
inside() { nsenter -t "$pid1" -a env -u NODE_EXTRA_CA_CERTS DEBIAN_FRONTEND=noninteractive "$@"; }
for _ in $(seq 1 50); do state=$(inside systemctl is-system-running 2>/dev/null || true); [[ $state == degraded || $state == running ]] && break; sleep 0.2; done
prop() { inside systemctl show -p "$1" --value waveos.service; }
wait_for() { local t=$1; shift; for _ in $(seq 1 $((t * 5))); do "$@" && return 0; sleep 0.2; done; return 1; }
active() { [[ $(prop ActiveState) == active ]]; }
inactive() { [[ $(prop ActiveState) == inactive ]]; }

# 1. dpkg -i: user, directories, enabled, started (Type=notify: active only after READY=1).
if inside dpkg -i /var/tmp/waveos.deb >"$work/dpkg.log" 2>&1; then ok "dpkg -i $(basename "$deb")"; else bad "dpkg -i: $(tail -n 5 "$work/dpkg.log" | tr '\n' ' ')"; fi
if wait_for 60 active; then ok "systemctl status waveos: active after dpkg -i ($(prop StatusText))"; else bad "waveos.service is $(prop ActiveState)/$(prop SubState)"; inside journalctl -u waveos -n 20 --no-pager || true; fi
[[ $(inside systemctl is-enabled waveos.service 2>/dev/null) == enabled ]] && ok "waveos.service enabled" || bad "waveos.service not enabled"
user=$(inside ps -o user= -p "$(prop MainPID)" 2>/dev/null | tr -d ' ' || true)
[[ $user == waveos ]] && ok "runs as waveos, on $(inside /usr/lib/waveos/runtime/bin/node --version)" || bad "runs as '$user'"
inside sh -c 'WAVEOS_ROOT=/ waveos status' >/dev/null 2>&1 && ok "waveos status answers" || bad "waveos status failed"
inside sh -c 'WAVEOS_ROOT=/ waveos journal verify --root /' >/dev/null 2>&1 && ok "waveos journal verify passes" || bad "journal verify failed"
echo '# edited by the operator' >>"$rootfs/etc/waveos/waveos.yaml"
inside install -m 0644 /dev/null /etc/waveos/keys/operator.pub

# 2. apt remove: stopped; journal, config (the edited conffile) and keys stay.
inside apt-get remove -y waveos >"$work/remove.log" 2>&1 || bad "apt-get remove: $(tail -n 3 "$work/remove.log" | tr '\n' ' ')"
wait_for 15 inactive && ok "apt remove stopped waveos.service" || bad "after apt remove the unit is $(prop ActiveState)"
[[ ! -e $rootfs/usr/lib/waveos && -f $rootfs/var/lib/waveos/waveos.db && -f $rootfs/var/lib/waveos/device.key && -f $rootfs/etc/waveos/keys/operator.pub ]] && grep -q 'edited by the operator' "$rootfs/etc/waveos/waveos.yaml" \
  && ok "apt remove: program gone; journal, device key, edited config and trusted keys kept" || bad "after apt remove: $(ls "$rootfs/var/lib/waveos" "$rootfs/etc/waveos" 2>&1 | tr '\n' ' ')"

# 3. apt purge: state, logs and config go; the system user stays (Debian keeps system users).
inside apt-get purge -y waveos >"$work/purge.log" 2>&1 || bad "apt-get purge: $(tail -n 3 "$work/purge.log" | tr '\n' ' ')"
[[ ! -e $rootfs/var/lib/waveos && ! -e $rootfs/var/log/waveos && ! -e $rootfs/var/cache/waveos && ! -e $rootfs/etc/waveos ]] && ok "apt purge removed /var/lib/waveos, /var/log/waveos, /var/cache/waveos and /etc/waveos" || bad "after purge: $(ls -d "$rootfs"/var/lib/waveos "$rootfs"/var/log/waveos "$rootfs"/etc/waveos 2>&1 | tr '\n' ' ')"
inside getent passwd waveos >/dev/null && ok "apt purge left the waveos user, as documented" || bad "the waveos user is gone after purge"

say "deb under systemd: $pass ok, $fail failing"
((fail == 0))
