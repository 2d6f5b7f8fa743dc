#!/bin/bash
# Builds the kernel and rxe_migros.ko with each end of the supported rustc
# range: the oldest (the RUST_MIN series of tools/pins.env, Linux 7.3's
# minimum) and the newest matched rustc/rust-src pair on the mirror. Each end
# is its own resolution, so its own chroot and kernel in the cache; the
# module is built in a copy of the checkout under out/matrix/, so the
# checkout's own build is left alone. Prints a table; exits non-zero if a
# build fails or the module has a warning. Not part of make check: a cold
# end costs a kernel build (15 to 25 minutes).
#
#   tools/toolchain-matrix.sh [oldest|newest]...
. "$(dirname "$0")/common.sh"

ends=("$@")
[ ${#ends[@]} -gt 0 ] || ends=(oldest newest)
# Each end's tools/common.sh is sourced below, and sets TOP to its copy.
OUT=$TOP/out/matrix CHECKOUT=$TOP
mkdir -p "$OUT"
rows=() bad=0
for end in "${ends[@]}"; do
	pins=$OUT/$end.pins
	cp "$CHECKOUT/tools/pins.env" "$pins"
	case $end in
	oldest) printf 'RUSTC_VERSION=\nRUST_SERIES=%s\n' "${RUST_MIN%.*}" >>"$pins" ;;
	newest) printf 'RUSTC_VERSION=\nRUST_SERIES=\n' >>"$pins" ;;
	*) die "unknown end $end: oldest or newest" ;;
	esac
	tree=$OUT/$end
	rm -rf "$tree"
	mkdir -p "$tree"
	tar -C "$CHECKOUT" --exclude=./out --exclude=./.git --exclude=target --exclude='*.o' --exclude='*.ko' \
		--exclude=./rust/bindings/rdma_bindings.rs -cf - . | tar -C "$tree" -xf -
	export RXE_MIGROS_PINS=$pins
	log "matrix $end: toolchain"
	"$tree/tools/toolchain.sh"
	# shellcheck source=tools/common.sh
	. "$tree/tools/common.sh"
	rustc="$RUSTC_VERSION ($RUSTC_SUITE)"
	start=$(date +%s)
	cached=0
	[ -f "$CHROOT$KOUT/.done" ] && cached=1
	"$tree/tools/kernel.sh"
	ktime="$(($(date +%s) - start)) s"
	[ $cached = 0 ] || ktime=cached
	kwarn=$(grep -c 'warning:' "$CHROOT$KOUT/build.log" || true)
	mlog=$OUT/$end.module.log
	if "$tree/tools/module.sh" >"$mlog" 2>&1; then
		mwarn=$(grep -ci 'warning' "$mlog" || true)
		result="built, $mwarn warnings"
		[ "$mwarn" = 0 ] || bad=1
	else
		result="FAILED (see $mlog)"
		bad=1
	fi
	rows+=("$(printf '%-7s %-40s %-22s %-20s %s' "$end" "$rustc" "kernel $KERNEL_KEY" "$ktime, $kwarn warnings" "$result")")
	unset RXE_MIGROS_PINS
done
printf '%-7s %-40s %-22s %-20s %s\n' end rustc kernel "kernel build" rxe_migros.ko
printf '%s\n' "${rows[@]}"
exit $bad
