#!/usr/bin/env bash
# Boots a real systemd (Debian bookworm in systemd-nspawn), installs WaveOS with scripts/install.sh and
# checks the unit the way a board runs it. Needs root; installs systemd-container and debootstrap from
# apt when missing; caches the base image under /var/cache/waveos-systemd-test.
#   npm run test:systemd          (scripts/systemd-test.sh --prepare only builds the cached base image)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=/var/cache/waveos-systemd-test
base=$cache/rootfs-bookworm
work=$(mktemp -d -t waveos-systemd.XXXXXX)
rootfs=$work/rootfs
nspawn_pid=
. "$here/scripts/lib/check-tally.sh"
cleanup() {
  if [[ -n $nspawn_pid ]]; then kill "$nspawn_pid" 2>/dev/null || true; sleep 1; kill -9 "$nspawn_pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT

[[ $(id -u) == 0 ]] || { say "systemd test: needs root"; exit 1; }
if ! command -v systemd-nspawn >/dev/null || ! command -v debootstrap >/dev/null; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd-container debootstrap >/dev/null
fi
mkdir -p "$cache"
# One builder at a time (CI warms the image in the background while the suite runs: scripts/ci-prefetch.sh).
exec 9>"$cache/.lock"
flock 9
if [[ ! -x $base/lib/systemd/systemd ]]; then
  say "systemd test: building the base image (once, about a minute)"
  rm -rf "$base.tmp"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  mirror=${mirror:-$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null)}
  debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,procps bookworm "$base.tmp" "$mirror" >/dev/null
  mv "$base.tmp" "$base"
fi
flock -u 9
# --prepare: only make sure the base image exists.
[[ ${1:-} == --prepare ]] && exit 0
[[ -f $here/dist/cli/main.js ]] || (cd "$here" && npm run build --silent)

cp -a "$base" "$rootfs"
install -m 0755 "$(command -v node)" "$rootfs/usr/local/bin/node"
"$here/scripts/install.sh" --root "$rootfs" >/dev/null
# A short watchdog keeps the SIGSTOP check quick; everything else is the shipped unit.
install -d "$rootfs/etc/systemd/system/waveos.service.d"
printf '[Service]\nWatchdogSec=4s\nRestartSec=1s\n' > "$rootfs/etc/systemd/system/waveos.service.d/test.conf"
ln -sf /lib/systemd/system/waveos.service "$rootfs/etc/systemd/system/multi-user.target.wants/waveos.service"

setsid timeout 900 systemd-nspawn -D "$rootfs" --boot --console=pipe --register=no --keep-unit </dev/null >"$work/console.log" 2>&1 &
nspawn_pid=$!
pid1=
for _ in $(seq 1 100); do
  pid1=$(pgrep -P "$nspawn_pid" -x systemd 2>/dev/null | head -n1 || true)
  [[ -z $pid1 ]] && pid1=$(ps -o pid= --ppid "$(pgrep -P "$nspawn_pid" | head -n1)" 2>/dev/null | head -n1 | tr -d ' ' || true)
  [[ -n $pid1 ]] && nsenter -t "$pid1" -a true 2>/dev/null && break
  sleep 0.2
done
[[ -n $pid1 ]] || { say "systemd test: the container did not boot"; tail -n 20 "$work/console.log"; exit 1; }
inside() { nsenter -t "$pid1" -a env -u NODE_EXTRA_CA_CERTS "$@"; }
for _ in $(seq 1 50); do inside systemctl is-system-running >/dev/null 2>&1 && break; state=$(inside systemctl is-system-running 2>/dev/null || true); [[ $state == degraded || $state == running ]] && break; sleep 0.2; done
prop() { inside systemctl show -p "$1" --value waveos.service; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...
  local t=$1 what=$2; shift 2
  for _ in $(seq 1 $((t * 5))); do "$@" && return 0; sleep 0.2; done
  say "     (waited ${t} s for $what)"; return 1
}
active() { [[ $(prop ActiveState) == active ]]; }

# 1. Reaches active only after READY=1 (Type=notify), with WaveOS's STATUS= line.
if wait_for 60 "active" active; then ok "waveos.service active (Type=notify, READY=1 received)"; else bad "waveos.service never became active: $(prop ActiveState)/$(prop SubState)"; inside journalctl -u waveos -n 20 --no-pager || true; fi
status_text=$(prop StatusText)
[[ -n $status_text ]] && ok "systemctl status shows STATUS=: $status_text" || bad "no STATUS= text"
main=$(prop MainPID)
user=$(inside ps -o user= -p "$main" | tr -d ' ')
[[ $user == waveos ]] && ok "runs as user waveos (pid $main)" || bad "runs as '$user', not waveos"
cache_owner=$(inside stat -c %U /var/cache/waveos 2>/dev/null || true)
[[ $cache_owner == waveos ]] && ok "CacheDirectory /var/cache/waveos (NODE_COMPILE_CACHE) is the daemon's" || bad "/var/cache/waveos is owned by '$cache_owner', not waveos"
# The first admin token of a prod board is made offline, as the daemon's user (docs/security.md).
token=$(inside setpriv --reuid=waveos --regid=waveos --clear-groups sh -c 'WAVEOS_ROOT=/ waveos token create admin --role admin --offline --json' | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>console.log(JSON.parse(s).token))')
# First contact: root is admin on the admin socket without a token; a user outside the groups is denied without one.
if inside sh -c 'WAVEOS_ROOT=/ waveos status' >/dev/null 2>&1; then ok "waveos status as root with no token (admin socket)"; else bad "waveos status as root with no token failed"; fi
inside getent group waveos-admin >/dev/null 2>&1 && ok "sysusers made the waveos-admin group" || bad "no waveos-admin group"
code=0; inside setpriv --reuid=nobody --regid=nogroup --clear-groups sh -c 'WAVEOS_ROOT=/ waveos status' >/dev/null 2>&1 || code=$?; [[ $code == 4 ]] && ok "a token-less request from a user outside the groups is denied in prod (exit 4)" || bad "a token-less outsider got exit $code, not 4"
inside env WAVEOS_ROOT=/ WAVEOS_TOKEN="$token" waveos events --kind daemon.start --json >/dev/null 2>&1 && ok "waveos events with an admin token made offline" || bad "waveos events with a token failed inside the container"
# journald: events at or above notice are native entries with their priority; the daemon's lines carry <N>.
inside env WAVEOS_ROOT=/ WAVEOS_TOKEN="$token" waveos mode set safe --reason "journald drill" >/dev/null 2>&1 || bad "mode set safe failed"
sleep 1
if inside journalctl -u waveos -p warning --no-pager -o cat 2>/dev/null | grep -c 'mode.changed: mode normal → safe' >/dev/null; then ok "journalctl -p warning shows the move to safe mode"; else bad "journalctl -p warning does not show mode.changed"; fi
inside journalctl -u waveos WAVEOS_EVENT_KIND=mode.changed -o verbose --no-pager 2>/dev/null | grep -c 'WAVEOS_SEQ=' >/dev/null && ok "the entry carries WAVEOS_EVENT_KIND and WAVEOS_SEQ" || bad "no WAVEOS_* fields on the mode.changed entry"
inside journalctl -u waveos -p info..info --no-pager -o cat 2>/dev/null | grep -c '"msg":"WaveOS .* ready' >/dev/null && ok "the daemon's own ready line is at priority info" || bad "the ready line has no info priority"
inside env WAVEOS_ROOT=/ WAVEOS_TOKEN="$token" waveos mode set normal --reason "journald drill over" >/dev/null 2>&1 || true

# 2. A stalled daemon (SIGSTOP) stops petting the watchdog: systemd kills it and restarts it.
restarts=$(prop NRestarts)
inside sh -c "kill -STOP $main"
if wait_for 30 "watchdog restart" bash -c "[[ \$(nsenter -t $pid1 -a systemctl show -p NRestarts --value waveos.service) -gt $restarts ]]"; then
  ok "SIGSTOP'd daemon killed by the watchdog and restarted (NRestarts $restarts -> $(prop NRestarts))"
else
  bad "no watchdog restart after SIGSTOP (result $(prop Result))"
fi
wait_for 60 "active after watchdog restart" active || true
inside journalctl -u waveos --no-pager 2>/dev/null | grep -ci watchdog>/dev/null && ok "journal records the watchdog timeout" || bad "no watchdog line in the journal"

# 3. kill -9 is followed by a restart and start-up recovery.
main=$(prop MainPID)
restarts=$(prop NRestarts)
inside sh -c "kill -9 $main"
if wait_for 30 "restart after kill -9" bash -c "[[ \$(nsenter -t $pid1 -a systemctl show -p NRestarts --value waveos.service) -gt $restarts ]] && [[ \$(nsenter -t $pid1 -a systemctl show -p ActiveState --value waveos.service) == active ]]"; then
  ok "kill -9 followed by a restart (NRestarts $(prop NRestarts))"
else
  bad "no restart after kill -9"
fi
prev=$(inside sh -c 'cat /var/lib/waveos/artifacts/latest/run_meta.json' 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).previous_run.ended)}catch{console.log("?")}})')
[[ $prev == power-loss-or-kill ]] && ok "the new run recorded the previous one as $prev" || bad "run_meta previous_run.ended is '$prev'"
inside sh -c 'waveos journal verify --root /' >/dev/null 2>&1 && ok "journal verify passes after the kills" || bad "journal verify failed"

# 4. systemctl stop is clean within the timeout.
SECONDS=0
inside systemctl stop waveos.service
took=$SECONDS
result=$(prop Result)
[[ $result == success && $took -le 10 ]] && ok "systemctl stop clean in ${took} s (Result=$result)" || bad "stop took ${took} s, Result=$result"
inside test -f /var/lib/waveos/clean-stop.json && ok "clean-stop marker written" || bad "no clean-stop marker after systemctl stop"

say "real-systemd checks: $pass ok, $fail failing"
((fail == 0))
