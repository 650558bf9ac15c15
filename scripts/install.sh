#!/usr/bin/env bash
# Installs the built WaveOS tree the way a Debian/Yocto/Buildroot image expects. Idempotent.
#   scripts/install.sh [--root DESTDIR] [--prefix /opt/waveos] [--keys DIR] [--no-enable]
# --root installs into an image tree (nothing is started); without it, systemd is told to reload.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
root=/
prefix=/opt/waveos
keys=
enable=1
while (($#)); do
  case $1 in
    --root) root=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --keys) keys=$2; shift 2 ;;
    --no-enable) enable=0; shift ;;
    -h|--help) sed -n '2,4p' "$0"; exit 0 ;;
    *) echo "install.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
[[ -f $here/dist/cli/main.js ]] || { echo "install.sh: build first (npm ci && npm run build)" >&2; exit 1; }
dest="${root%/}$prefix"

# The application tree: built JS, launcher, production dependencies (native modules already built).
install -d -m 0755 "$dest"
for f in package.json package-lock.json README.md; do install -m 0644 "$here/$f" "$dest/$f"; done
rm -rf "$dest/dist" "$dest/bin" "$dest/policies" "$dest/docs" "$dest/systemd"
cp -a "$here/dist" "$here/bin" "$here/docs" "$here/systemd" "$dest/"
[[ -d $here/policies ]] && cp -a "$here/policies" "$dest/"
[[ -d $here/hil-sim/services ]] && { install -d "$dest/hil-sim"; rm -rf "$dest/hil-sim/services"; cp -a "$here/hil-sim/services" "$dest/hil-sim/"; }
rm -rf "$dest/node_modules"
cp -a "$here/node_modules" "$dest/node_modules"
(cd "$dest" && npm prune --omit=dev --no-audit --no-fund >/dev/null 2>&1) || echo "install.sh: npm prune failed; dev dependencies left in $dest/node_modules" >&2

# The command, the unit and its companions.
install -d "${root%/}/usr/bin" "${root%/}/lib/systemd/system" "${root%/}/usr/lib/sysusers.d" "${root%/}/usr/lib/tmpfiles.d" "${root%/}/usr/share/polkit-1/rules.d"
ln -sfn "$prefix/bin/waveos.js" "${root%/}/usr/bin/waveos"
install -m 0644 "$here/systemd/waveos.service" "${root%/}/lib/systemd/system/waveos.service"
install -m 0644 "$here/systemd/waveos.sysusers" "${root%/}/usr/lib/sysusers.d/waveos.conf"
install -m 0644 "$here/systemd/waveos.tmpfiles" "${root%/}/usr/lib/tmpfiles.d/waveos.conf"
install -m 0644 "$here/systemd/50-waveos-reboot.rules" "${root%/}/usr/share/polkit-1/rules.d/50-waveos-reboot.rules"
# Shell completion, generated from the command's own usage text.
install -d "${root%/}/usr/share/bash-completion/completions" "${root%/}/usr/share/zsh/vendor-completions"
node "$dest/bin/waveos.js" completion bash > "${root%/}/usr/share/bash-completion/completions/waveos" || echo "install.sh: no bash completion written" >&2
node "$dest/bin/waveos.js" completion zsh > "${root%/}/usr/share/zsh/vendor-completions/_waveos" || echo "install.sh: no zsh completion written" >&2

# Config: a default one only where none exists; trusted keys when given.
install -d -m 0755 "${root%/}/etc/waveos" "${root%/}/etc/waveos/policies.d" "${root%/}/etc/waveos/keys"
if [[ ! -f ${root%/}/etc/waveos/waveos.yaml ]]; then
  printf 'schema_version: 2\nprofile: prod\n' > "${root%/}/etc/waveos/waveos.yaml"
  chmod 0644 "${root%/}/etc/waveos/waveos.yaml"
fi
if [[ -n $keys ]]; then install -m 0644 "$keys"/*.pub "${root%/}/etc/waveos/keys/"; fi

if [[ $root == / ]]; then
  command -v systemd-sysusers >/dev/null && systemd-sysusers /usr/lib/sysusers.d/waveos.conf
  command -v systemd-tmpfiles >/dev/null && systemd-tmpfiles --create /usr/lib/tmpfiles.d/waveos.conf
  if [[ -d /run/systemd/system ]]; then
    systemctl daemon-reload
    ((enable)) && systemctl enable waveos.service >/dev/null
  fi
fi
echo "installed WaveOS into ${dest} (root ${root})"
