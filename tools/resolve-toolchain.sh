#!/bin/bash
# Picks the toolchain's versions from what the Debian mirror offers today.
#
#   tools/resolve-toolchain.sh PINS MADISON_DIR
#
# PINS is tools/pins.env (or a test's copy); MADISON_DIR holds one file per
# package, named after it, with `apt-cache madison PACKAGE` output (recorded
# for the tests in tools/testdata/resolver/, taken live by toolchain.sh).
# Prints the chosen versions as shell assignments on stdout and a table of
# what was chosen and why on stderr. Exits 1, saying what the mirror has,
# when no acceptable set exists. Pure: reads only its arguments.
set -euo pipefail

die() { printf 'error: %s\n' "$*" >&2; exit 1; }
[ $# = 2 ] || die "usage: $0 PINS MADISON_DIR"
# shellcheck source=tools/pins.env
. "$1"
M=$2

# "VERSION SUITE" lines for a package, one per version, as the mirror lists them.
offers() {
	[ -f "$M/$1" ] || return 0
	awk -F'|' '{ gsub(/ /, "", $1); gsub(/ /, "", $2); split($3, w, " ");
		sub(/\/.*/, "", w[2]); print $2, w[2] }' "$M/$1" | sort -u
}
versions() { offers "$1" | cut -d' ' -f1; }
suite_of() { offers "$1" | awk -v v="$2" '$1 == v { print $2; exit }'; }
has() { versions "$1" | grep -qxF -- "$2"; }

# The newest of the versions on stdin, in dpkg's order.
newest() {
	local best= v
	while read -r v; do
		if [ -z "$best" ] || dpkg --compare-versions "$v" gt "$best"; then best=$v; fi
	done
	printf '%s' "$best"
}

# 1.97.1+dfsg1-1~bpo13+1 -> 1.97.1
upstream() { local v=${1#*:}; v=${v%%-*}; v=${v%%+*}; printf '%s' "${v%%~*}"; }

rows=()
row() { rows+=("$(printf '  %-18s %-26s %-18s %s' "$1" "$2" "($3)" "$4")"); }

# What was pinned, said once for the rows that did not get it.
gone() { [ -n "$1" ] && printf 'the pin %s is gone from the mirror; ' "$1"; return 0; }

# --- linux-source: the pin, else the newest of the series (the package name).
if has "$LINUX_SOURCE_PKG" "$LINUX_SOURCE_VERSION"; then
	linux=$LINUX_SOURCE_VERSION why="the pin"
else
	linux=$(versions "$LINUX_SOURCE_PKG" | newest)
	[ -n "$linux" ] || die "the mirror has no $LINUX_SOURCE_PKG at all (the kernel series is its name in tools/pins.env)"
	why="$(gone "$LINUX_SOURCE_VERSION")the newest ${LINUX_SOURCE_PKG#linux-source-}.x"
fi
row "$LINUX_SOURCE_PKG" "$linux" "$(suite_of "$LINUX_SOURCE_PKG" "$linux")" "$why"

# --- rustc: only versions rust-src has too, no older than the kernel's minimum.
pairs=$(versions rustc | while read -r v; do
	has rust-src "$v" && dpkg --compare-versions "$(upstream "$v")" ge "$RUST_MIN" && echo "$v"
done || true)
paired() { printf '%s\n' "$pairs" | grep -qxF -- "$1"; }
if [ -n "${RUSTC_VERSION:-}" ] && paired "$RUSTC_VERSION"; then
	rust=$RUSTC_VERSION why="the pin"
else
	series=
	[ -z "${RUST_SERIES:-}" ] || series=$(printf '%s\n' "$pairs" | while read -r v; do
		case $(upstream "$v") in "$RUST_SERIES" | "$RUST_SERIES".*) echo "$v" ;; esac
	done | newest)
	if [ -n "$series" ]; then
		rust=$series why="$(gone "${RUSTC_VERSION:-}")the newest of the preferred $RUST_SERIES series"
	else
		rust=$(printf '%s\n' "$pairs" | grep . | newest || true)
		why="$(gone "${RUSTC_VERSION:-}")${RUST_SERIES:+no $RUST_SERIES series; }the newest rustc with the same rust-src"
	fi
fi
if [ -z "$rust" ]; then
	die "no rustc the kernel can use: it needs rustc and rust-src of the same version, at least $RUST_MIN.
  rustc on the mirror:    $(versions rustc | tr '\n' ' ')
  rust-src on the mirror: $(versions rust-src | tr '\n' ' ')
Wait for the mirror to carry a matched pair, or point the host's apt at one that does."
fi
row "rustc, rust-src" "$rust" "$(suite_of rustc "$rust")" "$why"
# cargo only runs the host tests when the host has none: rustc's version if
# the mirror has it, else none.
cargo=
has cargo "$rust" && cargo=$rust
if [ -n "$cargo" ]; then
	row cargo "$cargo" "$(suite_of cargo "$cargo")" "rustc's version"
else
	row cargo none "-" "none at rustc's version: the host tests need the host's cargo"
fi

# --- bindgen and LLVM: the pin, else the newest.
if has bindgen "$BINDGEN_VERSION"; then
	bindgen=$BINDGEN_VERSION why="the pin"
else
	bindgen=$(versions bindgen | newest)
	[ -n "$bindgen" ] || die "the mirror has no bindgen"
	why="$(gone "$BINDGEN_VERSION")the newest"
fi
row bindgen "$bindgen" "$(suite_of bindgen "$bindgen")" "$why"

# libclang-rt: libFuzzer, for the core's fuzz targets (tools/fuzz.sh).
llvm_pkgs="clang-$LLVM_MAJOR lld-$LLVM_MAJOR llvm-$LLVM_MAJOR libclang-$LLVM_MAJOR-dev libclang-rt-$LLVM_MAJOR-dev"
all_llvm() { local p; for p in $llvm_pkgs; do has "$p" "$1" || return 1; done; }
if all_llvm "$LLVM_VERSION"; then
	llvm=$LLVM_VERSION why="the pin"
else
	llvm=$(versions "clang-$LLVM_MAJOR" | while read -r v; do all_llvm "$v" && echo "$v"; done | newest)
	[ -n "$llvm" ] || die "the mirror has no version that all of $llvm_pkgs share"
	why="$(gone "$LLVM_VERSION")the newest all five share"
fi
row "LLVM $LLVM_MAJOR" "$llvm" "$(suite_of "clang-$LLVM_MAJOR" "$llvm")" "$why"

printf 'toolchain, as resolved from the mirror:\n' >&2
printf '%s\n' "${rows[@]}" >&2

# The chroot's whole recipe: its cache key is a hash of these lines.
cat <<EOF
DEBIAN_SUITE=$DEBIAN_SUITE
LINUX_SOURCE_PKG=$LINUX_SOURCE_PKG
LINUX_SOURCE_VERSION=$linux
LINUX_SOURCE_SUITE=$(suite_of "$LINUX_SOURCE_PKG" "$linux")
RUSTC_VERSION=$rust
RUSTC_SUITE=$(suite_of rustc "$rust")
CARGO_VERSION=$cargo
BINDGEN_VERSION=$bindgen
LLVM_MAJOR=$LLVM_MAJOR
LLVM_VERSION=$llvm
LLVM_PACKAGES="$llvm_pkgs"
BUILD_PACKAGES="$BUILD_PACKAGES"
EOF
