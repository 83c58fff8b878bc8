#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the root filesystem tarball of the ndu lab test host.
#
#   build.sh OUTPUT_TAR
#
# Environment (set by hostsctl, which reads them from the host's apt sources):
#   NDU_LAB_MIRROR            Debian mirror URI for bookworm (+ bookworm-updates)
#   NDU_LAB_SECURITY_MIRROR   Debian security mirror URI for bookworm-security
#
# The result is a tar of a Debian bookworm tree with systemd, Open vSwitch
# $OVS_VERSION, and a local apt repository in /srv/ndu-lab-repo holding the
# original OVS packages plus two rebuilt upgrade candidates:
#   $OVS_VERSION+lab1        clean upgrade (apt's default candidate)
#   $OVS_VERSION+lab2broken  installs, but its ovs-vswitchd exits non-zero
# The image has no network apt source: everything comes from the local repo.
set -euo pipefail

OVS_VERSION=3.1.0-2+deb12u1
SUITE=bookworm
REPO=/srv/ndu-lab-repo

out=${1:?usage: build.sh OUTPUT_TAR}
here=$(cd "$(dirname "$0")" && pwd)
mirror=${NDU_LAB_MIRROR:?NDU_LAB_MIRROR must name a Debian mirror}
security=${NDU_LAB_SECURITY_MIRROR:?NDU_LAB_SECURITY_MIRROR must name a Debian security mirror}

work=$(mktemp -d /var/tmp/ndu-lab-image.XXXXXX)
root=$work/root
cleanup() {
    for m in proc sys; do
        if mountpoint -q "$root/$m" 2>/dev/null; then umount -l "$root/$m"; fi
    done
    rm -rf --one-file-system "$work"
}
trap cleanup EXIT

log() { printf '[image %s] %s\n' "$(date +%T)" "$*" >&2; }

include=$(grep -v -e '^#' -e '^$' "$here/packages.txt" | paste -sd,)
log "debootstrap $SUITE ($include)"
debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    log "debootstrap failed; full log was in $work/debootstrap.log"
    exit 1
}

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

# Keep maintainer scripts from starting daemons inside the build chroot.
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"

cat >"$root/etc/apt/sources.list" <<SOURCES
deb $mirror $SUITE main
deb $mirror $SUITE-updates main
deb $security $SUITE-security main
SOURCES
log "installing openvswitch-switch $OVS_VERSION"
in_root apt-get update -q >/dev/null
in_root apt-get install -y -q --no-install-recommends \
    "openvswitch-common=$OVS_VERSION" "openvswitch-switch=$OVS_VERSION" >"$work/apt.log" 2>&1 || {
    tail -n 30 "$work/apt.log" >&2
    exit 1
}

log "building the local apt repository $REPO"
repo=$root$REPO
mkdir -p "$repo"
arch=$(in_root dpkg --print-architecture)
for pkg in openvswitch-common openvswitch-switch; do
    deb=$root/var/cache/apt/archives/${pkg}_${OVS_VERSION//:/%3a}_${arch}.deb
    if [ ! -f "$deb" ]; then
        (cd "$root/var/cache/apt/archives" && in_root sh -c "cd /var/cache/apt/archives && apt-get download -q $pkg=$OVS_VERSION")
    fi
    cp "$deb" "$repo/"
done

# rebuild VARIANT: repack both packages as $OVS_VERSION+VARIANT.
rebuild() {
    local variant=$1 new=$OVS_VERSION+$1 pkg tree
    for pkg in openvswitch-common openvswitch-switch; do
        tree=$work/$pkg-$variant
        dpkg-deb -R "$repo/${pkg}_${OVS_VERSION}_${arch}.deb" "$tree"
        sed -i "s/^Version: .*/Version: $new/" "$tree/DEBIAN/control"
        # -switch depends on the exact -common version it was built with.
        sed -i "s/openvswitch-common (= [^)]*)/openvswitch-common (= $new)/" "$tree/DEBIAN/control"
        if [ "$variant" = lab2broken ] && [ "$pkg" = openvswitch-switch ]; then
            bin=usr/lib/openvswitch-switch/ovs-vswitchd
            [ -x "$tree/$bin" ] || { log "no $bin in $pkg: cannot build the broken candidate"; exit 1; }
            # ovs-ctl asks "ovs-vswitchd --version" while starting ovsdb-server:
            # answer that like the real binary, so only ovs-vswitchd fails.
            version_line=$(in_root "/$bin" --version | head -n 1)
            cat >"$tree/$bin" <<BROKEN
#!/bin/sh
# ndu lab: deliberately broken ovs-vswitchd of the +lab2broken candidate.
case "\$1" in
    --version|-V) echo "$version_line"; exit 0 ;;
esac
echo "ovs-vswitchd: this is the ndu lab's broken build (+lab2broken); refusing to start" >&2
exit 1
BROKEN
            chmod 0755 "$tree/$bin"
            sum=$(md5sum "$tree/$bin" | cut -d' ' -f1)
            sed -i "s|^[0-9a-f]*  $bin\$|$sum  $bin|" "$tree/DEBIAN/md5sums"
            grep -q "^$sum  $bin\$" "$tree/DEBIAN/md5sums"
        fi
        grep -q "^Version: $new\$" "$tree/DEBIAN/control"
        dpkg-deb -Zgzip -b "$tree" "$repo/${pkg}_${new}_${arch}.deb" >/dev/null
        rm -rf "$tree"
    done
}
rebuild lab1
rebuild lab2broken

(cd "$repo" && dpkg-scanpackages --multiversion . /dev/null 2>/dev/null >Packages && gzip -9kf Packages)
{
    echo "Origin: ndu-lab"
    echo "Label: ndu-lab"
    echo "Suite: ndu-lab"
    echo "Codename: ndu-lab"
    echo "Date: $(LC_ALL=C date -u -R)"
    echo "Architectures: $arch all"
    echo "Description: ndu lab local Open vSwitch candidates (offline)"
    echo "SHA256:"
    for f in Packages Packages.gz; do
        printf ' %s %s %s\n' "$(sha256sum "$repo/$f" | cut -d' ' -f1)" "$(stat -c %s "$repo/$f")" "$f"
    done
} >"$repo/Release"
n=$(grep -c '^Package:' "$repo/Packages")
[ "$n" -eq 6 ] || { log "expected 6 packages in the local repo, found $n"; exit 1; }

log "configuring the image"
cp -a "$here/rootfs/." "$root/"
find "$root/usr/local" "$root/etc/ndu-lab" -name __pycache__ -prune -exec rm -rf {} +
chown -R root:root "$root/etc/ndu-lab" "$root/usr/local/sbin" "$root/etc/systemd/system" "$root/etc/apt"
# Network sources out, local repository in: the containers work offline.
rm -f "$root/etc/apt/sources.list" "$root/etc/apt/sources.list.d/debian.sources"
rm -rf "$root"/var/lib/apt/lists/*
in_root apt-get update -q >/dev/null
in_root apt-get clean
cand=$(in_root apt-cache policy openvswitch-switch | awk '/Candidate:/ {print $2}')
[ "$cand" = "$OVS_VERSION+lab1" ] || { log "apt candidate is '$cand', expected $OVS_VERSION+lab1"; exit 1; }

if ! grep -q '^OVS_CTL_OPTS=' "$root/etc/default/openvswitch-switch"; then
    printf '\n# ndu lab: containers may not lock memory.\nOVS_CTL_OPTS=--no-mlockall\n' >>"$root/etc/default/openvswitch-switch"
fi
in_root systemctl enable ndu-lab-dataplane.service ndu-lab-nova-compute.service >/dev/null 2>&1
# Units that have nothing to do in a container.
in_root systemctl mask systemd-udevd.service systemd-udev-trigger.service getty@tty1.service \
    systemd-resolved.service >/dev/null 2>&1 || true
mkdir -p "$root/var/lib/nova" "$root/opt/ndu-lab/venv" "$root/etc/nova" "$root/etc/ndu-lab/driver" "$root/etc/ndu-lab/host"
: >"$root/etc/machine-id"
rm -f "$root/var/lib/dbus/machine-id" "$root/usr/sbin/policy-rc.d" "$root/etc/hostname"
rm -rf "$root"/var/log/*.log "$root"/var/cache/debconf/*-old "$root"/tmp/*

umount "$root/proc" "$root/sys"
log "writing $out"
tar --numeric-owner --xattrs -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$out.partial" .
mv "$out.partial" "$out"
log "done: $(du -h "$out" | cut -f1)"
