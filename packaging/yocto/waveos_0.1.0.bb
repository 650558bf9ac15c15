# WaveOS from its release tarball (docs/release.md): the prebuilt, self-contained tree for the machine's
# architecture, with its own Node.js runtime, unpacked into the image.
# UNTESTED: no bitbake could run where this was written; it follows the poky (scarthgap) class docs.
# Put waveos_${PV}_arm64.tar.gz / waveos_${PV}_amd64.tar.gz beside this recipe (files/), or point SRC_URI at
# your release server and set the per-architecture sha256sum from the release's signed SHA256SUMS.
SUMMARY = "WaveOS overlay control plane (prebuilt release)"
HOMEPAGE = "https://example.invalid/waveos"
LICENSE = "CLOSED"

WAVEOS_ARCH = "unsupported"
WAVEOS_ARCH:aarch64 = "arm64"
WAVEOS_ARCH:x86-64 = "amd64"
COMPATIBLE_HOST = "(aarch64|x86_64).*-linux"
# The packaged Node binary needs glibc (>= 2.28) and libstdc++.
COMPATIBLE_HOST:libc-musl = "null"

SRC_URI = "file://waveos_${PV}_${WAVEOS_ARCH}.tar.gz;subdir=${BP}"
S = "${WORKDIR}/${BP}"

inherit systemd useradd

SYSTEMD_SERVICE:${PN} = "waveos.service"
SYSTEMD_AUTO_ENABLE = "enable"
USERADD_PACKAGES = "${PN}"
GROUPADD_PARAM:${PN} = "--system waveos-admin"
USERADD_PARAM:${PN} = "--system --user-group --home-dir /var/lib/waveos --no-create-home --shell /sbin/nologin waveos"

do_configure[noexec] = "1"
do_compile[noexec] = "1"

do_install() {
    cp -R --no-preserve=ownership ${S}/. ${D}/
    # The tarball has the unit in /lib/systemd/system; a usrmerge image wants it in ${systemd_system_unitdir}.
    if [ "${systemd_system_unitdir}" != "/lib/systemd/system" ]; then
        install -d ${D}${systemd_system_unitdir}
        mv ${D}/lib/systemd/system/waveos.service ${D}${systemd_system_unitdir}/
        rm -rf ${D}/lib
    fi
}

FILES:${PN} += "${libdir}/waveos ${nonarch_libdir}/sysusers.d ${nonarch_libdir}/tmpfiles.d ${datadir}/polkit-1 \
    ${datadir}/bash-completion ${datadir}/zsh ${systemd_system_unitdir}"
CONFFILES:${PN} = "${sysconfdir}/waveos/waveos.yaml"
RDEPENDS:${PN} = "libstdc++ libgcc"

# Prebuilt binaries: the Node runtime and the native modules are already stripped and built for the target.
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
INHIBIT_SYSROOT_STRIP = "1"
INSANE_SKIP:${PN} = "already-stripped ldflags file-rdeps textrel"
