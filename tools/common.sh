# Shared by the build scripts: where the cache lives and how things are keyed.
# shellcheck shell=bash
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RXE_MIGROS_CACHE:-/var/cache/rxe_migros}
# shellcheck source=tools/pins.env
. "$TOP/tools/pins.env"
KVER_MAJOR=${LINUX_SOURCE_PKG#linux-source-}

log() { printf '[%s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

# A short hash of files and strings: the cache key of a build step.
key_of() {
	local f
	for f in "$@"; do
		if [ -f "$f" ]; then cat "$f"; else printf '%s\n' "$f"; fi
	done | sha256sum | cut -c1-12
}

# The Debian mirror this machine is configured with; never written into the repo.
debian_mirror() {
	local m
	m=$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/*.sources 2>/dev/null | grep -v security | head -n1 || true)
	[ -n "$m" ] || m=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
	[ -n "$m" ] || die "no Debian mirror found in /etc/apt; set MIRROR="
	printf '%s\n' "${MIRROR:-$m}"
}

# The chroot's content follows from the pins alone (versions and package
# lists live there), so that is its key.
TOOLCHAIN_KEY=$(key_of "$TOP/tools/pins.env")
CHROOT=$CACHE/chroot-$TOOLCHAIN_KEY
KSRC=/build/linux-source-$KVER_MAJOR
KERNEL_KEY=$(key_of "$TOOLCHAIN_KEY" "$TOP/kernel/rxe_migros.config" "$TOP/tools/kernel.sh")
KOUT=/build/kernel-$KERNEL_KEY

# Serialises the steps that build into the cache: a second run (another
# checkout, CI) waits here instead of building over the first one.
lock_cache() {
	mkdir -p "$CACHE"
	exec 9>"$CACHE/.lock"
	flock -n 9 || { log "waiting for another build using $CACHE"; flock 9; }
}

# Unmounts everything below directory $1, deepest first: the chroot's bind
# mounts of /proc, /dev and the checkout.
unmount_under() {
	findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1' | sort -r |
		while read -r m; do umount -l "$m"; done
}

# Removes a cache directory. A chroot holds bind mounts of /dev and of the
# checkout: removing it without unmounting them would delete those too.
remove_cached() {
	unmount_under "$1"
	if findmnt -rn -o TARGET | awk -v p="$1/" 'index($0, p) == 1' | grep -q .; then
		die "cannot unmount everything under $1; not removing it"
	fi
	rm -rf "$1"
}

# Run a command inside the build chroot, with the checkout at the same path.
in_chroot() {
	local m
	for m in proc sys dev dev/pts; do
		mountpoint -q "$CHROOT/$m" || mount --bind "/$m" "$CHROOT/$m"
	done
	mkdir -p "$CHROOT$TOP"
	# A mount left by an earlier checkout at the same path (a fresh clone
	# in CI) shows the old, possibly deleted, directory: replace it.
	if mountpoint -q "$CHROOT$TOP" &&
		[ "$(stat -c %d:%i "$TOP")" != "$(stat -c %d:%i "$CHROOT$TOP")" ]; then
		umount -l "$CHROOT$TOP"
	fi
	mountpoint -q "$CHROOT$TOP" || mount --bind "$TOP" "$CHROOT$TOP"
	chroot "$CHROOT" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}
