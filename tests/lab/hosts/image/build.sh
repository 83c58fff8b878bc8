#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
#
# Build the root filesystem tarball of the ndu lab test host.
#
#   build.sh base SUITE BASE_TAR             debootstrap, Open vSwitch (+ OVN), local repo
#   build.sh finish SUITE BASE_TAR OUTPUT_TAR   the lab's files (rootfs/) on top of a base
#
# SUITE: trixie (the lab's hosts) or bookworm (kept for a molecule scenario).
# hostsctl caches the base keyed by build.sh + packages.txt (minutes to build)
# and the finished image keyed by everything in image/ (seconds to finish).
#
# Environment (set by hostsctl, which reads them from the host's apt sources):
#   NDU_LAB_MIRROR            Debian mirror URI (SUITE, SUITE-updates)
#   NDU_LAB_SECURITY_MIRROR   Debian security mirror URI (SUITE-security)
#
# The result is a tar of a Debian SUITE tree with systemd, Open vSwitch
# $OVS_VERSION, and a local apt repository in /srv/ndu-lab-repo holding the
# original OVS packages plus two rebuilt upgrade candidates:
#   $OVS_VERSION+lab1        clean upgrade (apt's default candidate)
#   $OVS_VERSION+lab2broken  installs, but its ovs-vswitchd exits non-zero
# trixie also gets OVN $OVN_VERSION: ovn-host and ovn-common installed (their
# units disabled: the lab's network unit starts ovn-controller when the lab
# runs the ovn backend) with a rebuilt $OVN_VERSION+lab1 of both in the repo,
# and ovn-central in the repo only (the lab's OVN central container installs
# it from there), plus python3-venv (the host-side venv is built with the
# image's own Python).
# The image has no network apt source: everything comes from the local repo.
set -euo pipefail

usage="usage: build.sh base SUITE BASE_TAR | build.sh finish SUITE BASE_TAR OUTPUT_TAR"
stage=${1:?$usage}
SUITE=${2:?$usage}
base=${3:?$usage}
out=${4:-}
case $stage in
    base) out=$base ;;
    finish) [ -n "$out" ] || { echo "$usage" >&2; exit 2; } ;;
    *) echo "$usage" >&2; exit 2 ;;
esac
case $SUITE in
    bookworm) OVS_VERSION=3.1.0-2+deb12u1; OVN_VERSION= ;;
    trixie)   OVS_VERSION=3.5.0-1+b1;      OVN_VERSION=25.03.0-1 ;;
    *) echo "build.sh: unknown suite $SUITE (bookworm or trixie)" >&2; exit 2 ;;
esac
REPO=/srv/ndu-lab-repo
here=$(cd "$(dirname "$0")" && pwd)

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

in_root() { chroot "$root" env DEBIAN_FRONTEND=noninteractive LC_ALL=C "$@"; }

if [ "$stage" = base ]; then
mirror=${NDU_LAB_MIRROR:?NDU_LAB_MIRROR must name a Debian mirror}
security=${NDU_LAB_SECURITY_MIRROR:?NDU_LAB_SECURITY_MIRROR must name a Debian security mirror}
include=$(grep -v -e '^#' -e '^$' "$here/packages.txt" | paste -sd,)
log "debootstrap $SUITE ($include)"
debootstrap --variant=minbase --include="$include" "$SUITE" "$root" "$mirror" >"$work/debootstrap.log" 2>&1 || {
    tail -n 30 "$work/debootstrap.log" >&2
    log "debootstrap failed; full log was in $work/debootstrap.log"
    exit 1
}

mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"

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
extra=()
if [ -n "$OVN_VERSION" ]; then
    extra=("ovn-common=$OVN_VERSION" "ovn-host=$OVN_VERSION" python3-venv)
fi
in_root apt-get install -y -q --no-install-recommends \
    "openvswitch-common=$OVS_VERSION" "openvswitch-switch=$OVS_VERSION" "${extra[@]}" >"$work/apt.log" 2>&1 || {
    tail -n 30 "$work/apt.log" >&2
    exit 1
}
if [ -n "$OVN_VERSION" ]; then
    # In the repo only: the OVN central container installs it offline.
    in_root sh -c "cd /var/cache/apt/archives && apt-get download -q ovn-central=$OVN_VERSION" >>"$work/apt.log" 2>&1
fi

log "building the local apt repository $REPO"
repo=$root$REPO
mkdir -p "$repo"
arch=$(in_root dpkg --print-architecture)
copy_debs() {
    local version=$1 pkg deb
    shift
    for pkg in "$@"; do
        deb=$root/var/cache/apt/archives/${pkg}_${version//:/%3a}_${arch}.deb
        if [ ! -f "$deb" ]; then
            in_root sh -c "cd /var/cache/apt/archives && apt-get download -q $pkg=$version"
        fi
        cp "$deb" "$repo/"
    done
}
copy_debs "$OVS_VERSION" openvswitch-common openvswitch-switch
[ -z "$OVN_VERSION" ] || copy_debs "$OVN_VERSION" ovn-common ovn-host ovn-central

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

# rebuild_ovn: ovn-common and ovn-host as $OVN_VERSION+lab1 (-host depends on the exact -common).
rebuild_ovn() {
    local new=$OVN_VERSION+lab1 pkg tree
    for pkg in ovn-common ovn-host; do
        tree=$work/$pkg-lab1
        dpkg-deb -R "$repo/${pkg}_${OVN_VERSION}_${arch}.deb" "$tree"
        sed -i "s/^Version: .*/Version: $new/" "$tree/DEBIAN/control"
        sed -i "s/ovn-common (= [^)]*)/ovn-common (= $new)/" "$tree/DEBIAN/control"
        grep -q "^Version: $new\$" "$tree/DEBIAN/control"
        dpkg-deb -Zgzip -b "$tree" "$repo/${pkg}_${new}_${arch}.deb" >/dev/null
        rm -rf "$tree"
    done
}
[ -z "$OVN_VERSION" ] || rebuild_ovn

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
want=6
[ -z "$OVN_VERSION" ] || want=11
[ "$n" -eq "$want" ] || { log "expected $want packages in the local repo, found $n"; exit 1; }

umount "$root/proc" "$root/sys"
log "writing the base $out"
tar --numeric-owner --xattrs -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
    -cf "$out.partial" .
mv "$out.partial" "$out"
log "done: $(du -h "$out" | cut -f1)"
exit 0
fi

# finish: the lab's files on top of the base.
mkdir -p "$root"
tar --numeric-owner --xattrs -C "$root" -xf "$base"
mount -t proc proc "$root/proc"
mount -t sysfs sysfs "$root/sys"
repo=$root$REPO
arch=$(in_root dpkg --print-architecture)
log "configuring the image"
cp -a "$here/rootfs/." "$root/"
find "$root/usr/local" "$root/etc/ndu-lab" -name __pycache__ -prune -exec rm -rf {} +
chown -R root:root "$root/etc/ndu-lab" "$root/usr/local/sbin" "$root/etc/systemd/system" "$root/etc/apt" "$root/etc/sudoers.d"
chmod 0440 "$root/etc/sudoers.d/ndu-lab"
# Network sources out, local repository in: the containers work offline.
rm -f "$root/etc/apt/sources.list" "$root/etc/apt/sources.list.d/debian.sources"
rm -rf "$root"/var/lib/apt/lists/*
in_root apt-get update -q >/dev/null
in_root apt-get clean
cand=$(in_root apt-cache policy openvswitch-switch | awk '/Candidate:/ {print $2}')
[ "$cand" = "$OVS_VERSION+lab1" ] || { log "apt candidate is '$cand', expected $OVS_VERSION+lab1"; exit 1; }
if [ -n "$OVN_VERSION" ]; then
    cand=$(in_root apt-cache policy ovn-host | awk '/Candidate:/ {print $2}')
    [ "$cand" = "$OVN_VERSION+lab1" ] || { log "ovn-host candidate is '$cand', expected $OVN_VERSION+lab1"; exit 1; }
    # ovn-controller runs only when the lab's network unit says so (backend ovn).
    in_root systemctl disable ovn-host.service ovn-controller.service >/dev/null 2>&1 || true
fi

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
