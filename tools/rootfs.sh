#!/bin/bash
# Build (once) the guest's Debian userspace: rdma-core and its tools, perftest,
# criu, iproute2 and the rest the tests use. The guest mounts it read-only
# over 9p. Cached under $CACHE, keyed on the package list.
. "$(dirname "$0")/common.sh"

PKGS=iproute2,kmod,rdma-core,ibverbs-providers,ibverbs-utils,rdmacm-utils,perftest,criu,busybox-static,procps,python3,python3-pyverbs,ethtool,tcpdump,util-linux,iputils-ping,podman,crun,conmon,libcriu2
# The directories made after debootstrap; a change to them is a new rootfs.
DIRS="lib/modules checkout usr/lib/criu"
ROOTFS_KEY=$(key_of "$DEBIAN_SUITE" "$PKGS" "$DIRS")
R=$CACHE/rootfs-$ROOTFS_KEY
lock_cache
[ -f "$R/.done" ] && { echo "$R"; exit 0; }
command -v debootstrap >/dev/null || die "debootstrap missing on the host: run tools/toolchain.sh first"

log "guest rootfs $ROOTFS_KEY: debootstrap $DEBIAN_SUITE with $PKGS"
remove_cached "$R"
mkdir -p "$CACHE"
with_progress "guest rootfs" "debootstrap_counter $CACHE/rootfs.log" -- \
	debootstrap --variant=minbase --include="$PKGS" "$DEBIAN_SUITE" "$R" "$(debian_mirror)" \
	>"$CACHE/rootfs.log" 2>&1 || die "guest debootstrap failed, see $CACHE/rootfs.log"
# Mount points: the kernel's modules and the checkout (tools/vm-run.sh),
# and CRIU's plugin directory, where a test binds out/criu (Debian's
# criu ships none, and CRIU run by podman gets no --libdir).
for d in $DIRS; do mkdir -p "$R/$d"; done
rm -f "$R/etc/resolv.conf"
touch "$R/.done"
echo "$R"
