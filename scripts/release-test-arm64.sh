#!/usr/bin/env bash
# The arm64 package on arm64 (emulated): builds the arm64 release, runs its Node and native modules under
# qemu-aarch64-static, then installs the .deb with dpkg -i into an arm64 Debian 12 root (debootstrap, cached)
# and runs the packaged daemon there: status, artifacts, recovery after SIGKILL, journal verify, a signed app
# bundle, remove and purge. Needs root (chroot, binfmt_misc); installs its Debian packages itself.
#   npm run test:arm64          (about 10 min the first time, less with the cached root and native build)
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
cache=${WAVEOS_RELEASE_CACHE:-/var/cache/waveos-release}
base=$cache/rootfs-bookworm-arm64
work=$(mktemp -d -t waveos-arm64.XXXXXX)
root=$work/root
daemon=
. "$here/scripts/lib/check-tally.sh"
cleanup() {
  [[ -n $daemon ]] && kill -9 "$daemon" 2>/dev/null || true
  for m in "$root/dev" "$root/proc" "$root/run"; do mountpoint -q "$m" 2>/dev/null && umount -l "$m"; done
  rm -rf "$work"
}
trap cleanup EXIT
[[ $(id -u) == 0 ]] || { say "arm64 test: needs root"; exit 1; }
ensure() { bash "$here/scripts/ensure-debian-package.sh" "$@"; }
ensure qemu-aarch64-static qemu-user-static
ensure update-binfmts binfmt-support
ensure debootstrap debootstrap
ensure aarch64-linux-gnu-gcc gcc-aarch64-linux-gnu
[[ -e /usr/aarch64-linux-gnu/lib/libstdc++.so.6 ]] || bash -c "source '$here/scripts/lib/apt-install.sh'; apt_install arm64-test libc6-arm64-cross libstdc++6-arm64-cross"
# binfmt_misc lets the arm64 root's own programs (dpkg's maintainer scripts, sh) run through qemu.
mountpoint -q /proc/sys/fs/binfmt_misc || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
update-binfmts --enable qemu-aarch64 >/dev/null 2>&1 || true
[[ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ]] || { say "arm64 test: binfmt_misc has no qemu-aarch64 entry"; exit 1; }

# 1. The release for arm64.
out=$work/release
SECONDS=0
node "$here/scripts/release.mjs" --arch arm64 --out "$out" >/dev/null
version=$(node -p "require('$here/package.json').version")
deb=$out/waveos_${version}_arm64.deb
say "     built the arm64 release in ${SECONDS} s: $(du -h "$deb" | cut -f1) .deb"
tree=$out/.stage/arm64/root
# lintian: no errors (the warnings kept are listed in docs/release.md, "lintian").
ensure lintian lintian
lintian --tag-display-limit 0 "$deb" >"$work/lintian.log" 2>&1 || true
if grep -q '^E:' "$work/lintian.log"; then bad "lintian errors: $(grep '^E:' "$work/lintian.log" | head -n 5 | tr '\n' ' ')"; else ok "lintian: no errors ($(grep -c '^W:' "$work/lintian.log") warnings: $(grep '^W:' "$work/lintian.log" | awk '{print $3}' | sort | uniq -c | awk '{printf "%s x%s, ", $2, $1}'))"; fi
q() { qemu-aarch64-static -L /usr/aarch64-linux-gnu "$tree/usr/lib/waveos/runtime/bin/node" "$@"; }
v=$(q -p 'process.version + " " + process.arch')
[[ $v == "v24."*" arm64" ]] && ok "the packaged runtime runs under qemu: $v" || bad "packaged node under qemu said '$v'"
natives=$(cd "$tree/usr/lib/waveos" && q -e "const D=require('better-sqlite3'); const db=new D(':memory:'); const u=require('unix-dgram'); console.log('sqlite', db.prepare('select sqlite_version() v').get().v, 'unix-dgram', typeof u.createSocket)")
[[ $natives == sqlite*function ]] && ok "native modules load on arm64: $natives" || bad "native modules under qemu: $natives"
wv=$(q "$tree/usr/lib/waveos/bin/waveos.js" --version 2>&1 || true)
[[ $wv == *"$version"* ]] && ok "waveos --version on arm64: $wv" || bad "waveos --version on arm64: $wv"

# 2. An arm64 Debian 12 root, made once with debootstrap (--foreign, second stage under qemu).
if [[ ! -x $base/usr/bin/dpkg ]]; then
  say "     making the arm64 Debian 12 root (once, several minutes under emulation)"
  mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
  rm -rf "$base.tmp" && mkdir -p "$cache"
  debootstrap --arch=arm64 --foreign --variant=minbase bookworm "$base.tmp" "${mirror:-http://deb.debian.org/debian}" >/dev/null
  chroot "$base.tmp" /debootstrap/debootstrap --second-stage >/dev/null
  mv "$base.tmp" "$base"
fi
cp -a "$base" "$root"
mount --bind /dev "$root/dev"
mount -t proc proc "$root/proc"
mount -t tmpfs tmpfs "$root/run"
inside() { chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin WAVEOS_ROOT=/ "$@"; }
[[ $(inside uname -m) == aarch64 ]] && ok "the root is arm64 Debian $(cat "$root/etc/debian_version")" || bad "the root does not run aarch64"

# 3. dpkg -i: the maintainer scripts make the user and groups and the directories (no systemd runs here).
cp "$deb" "$root/tmp/waveos.deb"
if inside dpkg -i /tmp/waveos.deb >"$work/dpkg.log" 2>&1; then ok "dpkg -i waveos_${version}_arm64.deb"; else bad "dpkg -i failed: $(tail -n 5 "$work/dpkg.log" | tr '\n' ' ')"; fi
inside getent passwd waveos >/dev/null && inside getent group waveos-admin >/dev/null && ok "postinst made the waveos user and the waveos-admin group" || bad "no waveos user or group after dpkg -i"
[[ -L $root/etc/systemd/system/multi-user.target.wants/waveos.service ]] && ok "postinst enabled waveos.service" || bad "waveos.service not enabled"
[[ $(inside /usr/bin/waveos --version 2>&1) == *"$version"* ]] && ok "/usr/bin/waveos --version in the arm64 root" || bad "/usr/bin/waveos --version failed in the root"

# 4. The packaged daemon as the unit runs it (user waveos, the prod profile), under emulation.
install -d -m 0751 "$root/run/waveos" && inside chown waveos:waveos /run/waveos
start() {
  chroot "$root" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin setpriv --reuid=waveos --regid=waveos --init-groups \
    /usr/bin/waveos run --profile prod --config /etc/waveos/waveos.yaml >>"$work/daemon.log" 2>&1 &
  daemon=$!
  for _ in $(seq 1 300); do inside waveos status >/dev/null 2>&1 && return 0; sleep 0.5; done
  return 1
}
if start; then ok "the daemon answers waveos status (as root, admin socket)"; else bad "the daemon did not answer in 150 s: $(tail -n 5 "$work/daemon.log" | tr '\n' ' ')"; fi
meta=$root/var/lib/waveos/artifacts/latest/run_meta.json
[[ -f $meta ]] && ok "artifacts written: $(ls "$root/var/lib/waveos/artifacts/latest/" | tr '\n' ' ')" || bad "no run_meta.json under artifacts/latest"
nodev=$(node -p "require('$meta').build.node_version ?? require('$meta').build.node" 2>/dev/null || true)
[[ $nodev == *24.* ]] && ok "run_meta.json: the daemon ran on Node $nodev" || bad "run_meta.json build node is '$nodev'"

# 5. SIGKILL, start again: the new run records the kill; the journal chain verifies.
kill -9 "$daemon"; wait "$daemon" 2>/dev/null || true; daemon=
if start; then ok "started again after SIGKILL"; else bad "no restart after SIGKILL"; fi
prev=$(node -p "require('$meta').previous_run.ended" 2>/dev/null || true)
[[ $prev == power-loss-or-kill ]] && ok "the new run recorded the previous one as $prev" || bad "previous_run.ended is '$prev'"
inside waveos journal verify --root / >"$work/verify.log" 2>&1 && ok "waveos journal verify passes" || bad "journal verify: $(tail -n 3 "$work/verify.log" | tr '\n' ' ')"

# 6. A signed app bundle installs (key made on the build machine, trusted in /etc/waveos/keys).
keys=$work/keys
node "$here/bin/waveos.js" bundle keygen --out "$keys" >/dev/null
cp "$keys"/*.pub "$root/etc/waveos/keys/"
node "$here/bin/waveos.js" bundle build "$here/bundles/examples/app-hello" --kind app --name hello-app --version 1.0.0 \
  --key "$(ls "$keys"/*.key)" --run ./run.sh --health ./health.sh --trial 3s --out "$root/tmp/hello.wbundle" >/dev/null
if inside waveos bundle install /tmp/hello.wbundle >"$work/bundle.log" 2>&1; then ok "signed app bundle installed: $(tail -n 1 "$work/bundle.log")"; else bad "bundle install: $(tail -n 3 "$work/bundle.log" | tr '\n' ' ')"; fi
inside waveos bundle list 2>/dev/null | grep -q hello-app && ok "waveos bundle list shows hello-app" || bad "hello-app not in bundle list"
kill "$daemon" 2>/dev/null; wait "$daemon" 2>/dev/null || true; daemon=

# 7. remove keeps the journal, config and keys; purge takes them (docs/release.md).
inside dpkg -r waveos >/dev/null 2>&1 || true
[[ ! -e $root/usr/lib/waveos && -f $root/var/lib/waveos/waveos.db && -d $root/etc/waveos/keys ]] && ok "dpkg -r: program gone; journal, config and keys kept" || bad "after dpkg -r: $(ls "$root/var/lib/waveos" "$root/etc/waveos" 2>&1 | tr '\n' ' ')"
inside dpkg -P waveos >/dev/null 2>&1 || true
[[ ! -e $root/var/lib/waveos && ! -e $root/etc/waveos && ! -e $root/var/log/waveos ]] && ok "dpkg -P: /var/lib/waveos, /var/log/waveos and /etc/waveos removed" || bad "after purge: $(ls -d "$root"/var/lib/waveos "$root"/etc/waveos 2>&1 | tr '\n' ' ')"

say "arm64 checks: $pass ok, $fail failing"
((fail == 0))
