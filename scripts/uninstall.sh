#!/usr/bin/env bash
# Removes what install.sh installed. State (/var/lib/waveos, /var/log/waveos) and config (/etc/waveos)
# stay unless --purge is given: a reinstall then continues the same journal.
#   scripts/uninstall.sh [--root DESTDIR] [--prefix /opt/waveos] [--purge]
set -euo pipefail
root=/
prefix=/opt/waveos
purge=0
while (($#)); do
  case $1 in
    --root) root=$2; shift 2 ;;
    --prefix) prefix=$2; shift 2 ;;
    --purge) purge=1; shift ;;
    *) echo "uninstall.sh: unknown option $1" >&2; exit 2 ;;
  esac
done
if [[ $root == / && -d /run/systemd/system ]]; then
  systemctl disable --now waveos.service >/dev/null 2>&1 || true
fi
rm -rf "${root%/}$prefix"
rm -f "${root%/}/usr/bin/waveos" "${root%/}/lib/systemd/system/waveos.service" "${root%/}/usr/lib/sysusers.d/waveos.conf" \
  "${root%/}/usr/lib/tmpfiles.d/waveos.conf" "${root%/}/usr/share/polkit-1/rules.d/50-waveos-reboot.rules"
if ((purge)); then rm -rf "${root%/}/etc/waveos" "${root%/}/var/lib/waveos" "${root%/}/var/log/waveos" "${root%/}/var/cache/waveos"; fi
[[ $root == / && -d /run/systemd/system ]] && systemctl daemon-reload
echo "removed WaveOS from ${root}"
