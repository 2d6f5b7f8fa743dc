#!/bin/bash
# Build (once) the Debian chroot that holds the kernel source and the Rust and
# LLVM toolchain. What it holds is resolved on every run from tools/pins.env
# and what the mirror offers now (tools/resolve-toolchain.sh); the chroot is
# cached under $CACHE keyed on that resolution. Safe to rerun.
. "$(dirname "$0")/common.sh"

need_host_tools() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v sha256sum >/dev/null || missing+=(coreutils)
	# make demo plots the migration on the host.
	command -v gnuplot >/dev/null || missing+=(gnuplot-nox)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing on the host: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# The packages whose versions the resolver chooses among.
RESOLVED_PACKAGES="$LINUX_SOURCE_PKG rustc rust-src cargo bindgen clang-$LLVM_MAJOR lld-$LLVM_MAJOR llvm-$LLVM_MAJOR libclang-$LLVM_MAJOR-dev libclang-rt-$LLVM_MAJOR-dev"

[ "$(id -u)" = 0 ] || die "the toolchain build needs root (debootstrap, chroot, mounts)"
need_host_tools
lock_cache
mirror=$(debian_mirror)

# A bare Debian of the suite with its backports in apt's sources: it answers
# "what does the mirror have" and is the seed every toolchain chroot is
# copied from.
BASE=$CACHE/apt-$DEBIAN_SUITE
if [ ! -f "$BASE/.done" ]; then
	remove_cached "$BASE"
	mkdir -p "$CACHE"
	log "debootstrap $DEBIAN_SUITE into $BASE"
	with_progress "$DEBIAN_SUITE base" "debootstrap_counter $CACHE/debootstrap.log" -- \
		debootstrap --variant=minbase "$DEBIAN_SUITE" "$BASE" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
		die "debootstrap failed, see $CACHE/debootstrap.log"
	for s in "$DEBIAN_SUITE" "$DEBIAN_SUITE-updates" "$DEBIAN_SUITE-backports"; do
		echo "deb $mirror $s main"
	done >"$BASE/etc/apt/sources.list"
	printf 'Package: *\nPin: release n=%s-backports\nPin-Priority: 100\n' "$DEBIAN_SUITE" \
		>"$BASE/etc/apt/preferences.d/backports"
	touch "$BASE/.done"
fi

# What the mirror has today. Offline, the last lists answer, with a warning.
if ! in_root "$BASE" apt-get update -q >"$CACHE/apt-update.log" 2>&1; then
	log "warning: apt-get update failed (see $CACHE/apt-update.log); resolving from the lists of the last update"
fi
madison=$CACHE/madison
rm -rf "$madison"
mkdir -p "$madison"
for p in $RESOLVED_PACKAGES; do
	in_root "$BASE" apt-cache madison "$p" >"$madison/$p" 2>/dev/null || true
done
unmount_under "$BASE"

"$TOP/tools/resolve-toolchain.sh" "$PINS" "$madison" >"$RESOLVED.new" || { rm -f "$RESOLVED.new"; exit 1; }
mv "$RESOLVED.new" "$RESOLVED"
load_toolchain
if [ -f "$CHROOT/.done" ]; then
	log "toolchain cached: $CHROOT"
	exit 0
fi

log "toolchain $TOOLCHAIN_KEY: installing into $CHROOT"
remove_cached "$CHROOT"
cp -a "$BASE" "$CHROOT"
rm -f "$CHROOT/.done"
cp "$RESOLVED" "$CHROOT/toolchain.env"
apt_in() {
	in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@" \
		>>"$CACHE/apt-toolchain.log" 2>&1 ||
		die "apt-get install failed in the chroot, see $CACHE/apt-toolchain.log"
}
: >"$CACHE/apt-toolchain.log"
# shellcheck disable=SC2086,SC2046 # lists of packages
apt_in $(for p in $LLVM_PACKAGES; do echo "$p=$LLVM_VERSION"; done) \
	clang lld llvm "bindgen=$BINDGEN_VERSION" $BUILD_PACKAGES
# From its own suite, so that its dependencies come from there too.
apt_in -t "$RUSTC_SUITE" "rustc=$RUSTC_VERSION" "rust-src=$RUSTC_VERSION" ${CARGO_VERSION:+"cargo=$CARGO_VERSION"}
apt_in -t "$LINUX_SOURCE_SUITE" "$LINUX_SOURCE_PKG=$LINUX_SOURCE_VERSION"

log "unpacking $LINUX_SOURCE_PKG"
in_chroot bash -c "mkdir -p /build && cd /build && tar xf /usr/src/$LINUX_SOURCE_PKG.tar.xz"
in_chroot make -C "$KSRC" LLVM=1 rustavailable >/dev/null ||
	die "the kernel refuses rustc $RUSTC_VERSION (make rustavailable); raise RUST_MIN in tools/pins.env to what scripts/min-tool-version.sh asks"
in_chroot bash -c 'rustc --version; bindgen --version; clang --version | head -n1' >&2
touch "$CHROOT/.done"
