#!/bin/bash
# Build (once) the Debian chroot that holds the kernel source and the Rust and
# LLVM toolchain, with the versions of tools/pins.env. Cached under $CACHE,
# keyed on the pins; safe to rerun.
. "$(dirname "$0")/common.sh"

need_host_tools() {
	local missing=()
	command -v debootstrap >/dev/null || missing+=(debootstrap)
	command -v qemu-system-x86_64 >/dev/null || missing+=(qemu-system-x86)
	command -v sha256sum >/dev/null || missing+=(coreutils)
	if [ ${#missing[@]} -gt 0 ]; then
		log "installing on the host: ${missing[*]}"
		DEBIAN_FRONTEND=noninteractive apt-get update -q >/dev/null
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null
	fi
}

# Fail at once, naming the package, when the mirror lacks a pinned version.
check_available() {
	local pkg=$1 ver=$2
	in_chroot apt-cache madison "$pkg" | awk -F'|' '{gsub(/ /,"",$2); print $2}' | grep -qxF "$ver" ||
		die "the mirror no longer has $pkg=$ver; pick a version from 'apt-cache madison $pkg' and change it in tools/pins.env"
}

[ "$(id -u)" = 0 ] || die "the toolchain build needs root (debootstrap, chroot, mounts)"
need_host_tools
lock_cache
[ -f "$CHROOT/.done" ] && { log "toolchain cached: $CHROOT"; exit 0; }

mirror=$(debian_mirror)
remove_cached "$CHROOT"
mkdir -p "$CACHE"
log "debootstrap $DEBIAN_SUITE into $CHROOT"
debootstrap --variant=minbase "$DEBIAN_SUITE" "$CHROOT" "$mirror" >"$CACHE/debootstrap.log" 2>&1 ||
	die "debootstrap failed, see $CACHE/debootstrap.log"
for s in "$DEBIAN_SUITE" "$DEBIAN_SUITE-updates" "$DEBIAN_SUITE-backports"; do
	echo "deb $mirror $s main"
done >"$CHROOT/etc/apt/sources.list"
printf 'Package: *\nPin: release n=%s-backports\nPin-Priority: 100\n' "$DEBIAN_SUITE" \
	>"$CHROOT/etc/apt/preferences.d/backports"

in_chroot apt-get update -q
check_available "$LINUX_SOURCE_PKG" "$LINUX_SOURCE_VERSION"
check_available rustc "$RUSTC_VERSION"
check_available rust-src "$RUSTC_VERSION"
check_available bindgen "$BINDGEN_VERSION"
for p in clang lld llvm libclang; do
	[ $p = libclang ] && p=libclang-$LLVM_MAJOR-dev || p=$p-$LLVM_MAJOR
	check_available "$p" "$LLVM_VERSION"
done

log "installing the toolchain"
# shellcheck disable=SC2086 # a list of packages
in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	"clang-$LLVM_MAJOR=$LLVM_VERSION" "lld-$LLVM_MAJOR=$LLVM_VERSION" \
	"llvm-$LLVM_MAJOR=$LLVM_VERSION" "libclang-$LLVM_MAJOR-dev=$LLVM_VERSION" \
	clang lld llvm "bindgen=$BINDGEN_VERSION" $BUILD_PACKAGES >"$CACHE/apt-toolchain.log" 2>&1 ||
	die "apt-get install failed in the chroot, see $CACHE/apt-toolchain.log"
in_chroot env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
	-t "$DEBIAN_SUITE-backports" \
	"rustc=$RUSTC_VERSION" "rust-src=$RUSTC_VERSION" \
	"$LINUX_SOURCE_PKG=$LINUX_SOURCE_VERSION" >>"$CACHE/apt-toolchain.log" 2>&1 ||
	die "apt-get install (backports) failed in the chroot, see $CACHE/apt-toolchain.log"

log "unpacking $LINUX_SOURCE_PKG"
in_chroot bash -c "mkdir -p /build && cd /build && tar xf /usr/src/$LINUX_SOURCE_PKG.tar.xz"
in_chroot make -C "$KSRC" LLVM=1 rustavailable >/dev/null
in_chroot bash -c 'rustc --version; bindgen --version; clang --version | head -n1' >&2
touch "$CHROOT/.done"
