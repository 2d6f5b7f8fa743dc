# Shared by the build scripts: where the cache lives and how things are keyed.
# shellcheck shell=bash
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
CACHE=${RXE_MIGROS_CACHE:-/var/cache/rxe_migros}
# What the build wants (tools/toolchain-matrix.sh points this at its own).
PINS=${RXE_MIGROS_PINS:-$TOP/tools/pins.env}
# shellcheck source=tools/pins.env
. "$PINS"
KVER_MAJOR=${LINUX_SOURCE_PKG#linux-source-}

# The step's own stderr, kept as fd 8: progress reports go there even while
# the command they watch writes into a log (with_progress ... >LOG 2>&1).
exec 8>&2

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

# The versions tools/toolchain.sh resolved for these pins: the chroot's whole
# recipe, so its hash is the chroot's key. A different resolution (the mirror
# moved on) is another chroot, never the old one reused.
RESOLVED=$CACHE/toolchain-$(key_of "$PINS").env
load_toolchain() {
	if [ -f "$RESOLVED" ]; then
		# shellcheck source=/dev/null
		. "$RESOLVED"
		TOOLCHAIN_KEY=$(key_of "$RESOLVED")
	else
		TOOLCHAIN_KEY=unresolved
	fi
	CHROOT=$CACHE/chroot-$TOOLCHAIN_KEY
	KSRC=/build/linux-source-$KVER_MAJOR
	KERNEL_KEY=$(key_of "$TOOLCHAIN_KEY" "$TOP/kernel/rxe_migros.config" "$TOP/tools/kernel.sh")
	KOUT=/build/kernel-$KERNEL_KEY
}
load_toolchain

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
in_chroot() { in_root "$CHROOT" "$@"; }

# Run a command inside the chroot at $1, with /proc, /sys, /dev and the
# checkout (at the same path) bind-mounted.
in_root() {
	local root=$1 m
	shift
	for m in proc sys dev dev/pts; do
		mountpoint -q "$root/$m" || mount --bind "/$m" "$root/$m"
	done
	mkdir -p "$root$TOP"
	# A mount left by an earlier checkout at the same path (a fresh clone
	# in CI) shows the old, possibly deleted, directory: replace it.
	if mountpoint -q "$root$TOP" &&
		[ "$(stat -c %d:%i "$TOP")" != "$(stat -c %d:%i "$root$TOP")" ]; then
		umount -l "$root$TOP"
	fi
	mountpoint -q "$root$TOP" || mount --bind "$TOP" "$root$TOP"
	chroot "$root" /usr/bin/env -i HOME=/root TERM="${TERM:-dumb}" LANG=C.UTF-8 \
		PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@"
}

# Runs a long step, saying every $PROGRESS_S seconds (default 30) how far it
# is: "LABEL: <what COUNTER prints>, <elapsed>". COUNTER is a shell snippet.
# Redirecting the call sends COMMAND's output to a log; the reports still
# reach the terminal (fd 8).
#   with_progress LABEL COUNTER -- COMMAND... >LOG 2>&1
with_progress() {
	local label=$1 counter=$2 start pid rc=0 every=${PROGRESS_S:-30} t
	shift 3
	start=$(date +%s)
	"$@" &
	pid=$!
	while kill -0 "$pid" 2>/dev/null; do
		for ((t = 0; t < every * 2; t++)); do
			kill -0 "$pid" 2>/dev/null || break 2
			sleep 0.5
		done
		log "$label: $(eval "$counter" 2>/dev/null), $(elapsed "$start")" 2>&8
	done
	wait "$pid" || rc=$?
	return $rc
}

# "4m05s" since the epoch second $1.
elapsed() {
	local s=$(($(date +%s) - $1))
	printf '%dm%02ds' $((s / 60)) $((s % 60))
}

# Progress of a debootstrap from its log: packages fetched, unpacked, set up.
debootstrap_counter() {
	printf 'debootstrap %s packages retrieved, %s unpacked, %s configured' \
		"$(grep -c '^I: Retrieving' "$1")" "$(grep -c '^I: Unpacking' "$1")" "$(grep -c '^I: Configuring' "$1")"
}
