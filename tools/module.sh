#!/bin/bash
# Build rxe_migros.ko against our kernel, inside the build chroot; the
# bindings are regenerated when their header or the kernel changes.
. "$(dirname "$0")/common.sh"

[ -f "$CHROOT$KOUT/.done" ] || die "no kernel at $CHROOT$KOUT: run 'make kernel' first"
stamp=$TOP/rust/bindings/.rdma_bindings.key
key=$(key_of "$KERNEL_KEY" "$TOP/rust/bindings/rdma_helper.h" "$TOP/tools/gen-bindings.sh")
if [ "${1:-}" = clean ]; then
	in_chroot make -C "$KOUT" M="$TOP" LLVM=1 clean >/dev/null
	rm -f "$TOP/rust/bindings/rdma_bindings.rs" "$stamp"
	exit 0
fi
if [ ! -f "$TOP/rust/bindings/rdma_bindings.rs" ] || [ "$(cat "$stamp" 2>/dev/null)" != "$key" ]; then
	log "generating RDMA bindings"
	in_chroot "$TOP/tools/gen-bindings.sh" "$KOUT" 2> >(grep -v 'Failed to run rustfmt' >&2)
	echo "$key" >"$stamp"
fi
buildlog=$(mktemp)
trap 'rm -f "$buildlog"' EXIT
if ! in_chroot make -C "$KOUT" M="$TOP" LLVM=1 -j"$(nproc)" modules >"$buildlog" 2>&1; then
	grep -v -E '^make|^  [A-Z]+ ' "$buildlog" | head -n 80 >&2
	die "module build failed"
fi
grep -i -E 'warning' "$buildlog" >&2 || true
log "built rxe_migros.ko"
