#!/bin/bash
# uapi/rdma_user_rxe.h must describe the same bytes as the kernel's
# include/uapi/rdma/rdma_user_rxe.h, which librxe is built against: compile
# a use of every struct against each header with debug info and compare the
# layouts pahole reads back (names, types, offsets, sizes).
. "$(dirname "$0")/common.sh"
[ -f "$CHROOT$KOUT/.done" ] || die "no kernel: run 'make kernel' first"

structs="rxe_gid rxe_global_route rxe_av rxe_send_wr rxe_sge mminfo rxe_dma_info
	rxe_send_wqe rxe_recv_wqe rxe_create_ah_resp rxe_create_cq_resp rxe_resize_cq_resp
	rxe_create_qp_resp rxe_create_srq_resp rxe_modify_srq_cmd rxe_queue_buf"
work=$(mktemp -d "$TOP/.abi.XXXXXX")
trap 'rm -rf "$work"' EXIT
{
	echo '#include HEADER'
	for s in $structs; do
		[ "$s" = rxe_gid ] && echo "union $s use_$s;" || echo "struct $s use_$s;"
	done
} >"$work/use.c"
# Both headers include <linux/types.h> and friends: the chroot's sanitised
# kernel headers (linux-libc-dev) serve them, as they serve rdma-core.
layout() { # header object
	in_chroot clang -g -c -o "$2" -DHEADER="\"$1\"" "$work/use.c" &&
		in_chroot pahole --suppress_aligned_attribute "$2" | grep -v '^\s*/\* \(sum members\|last cacheline\|padding\|XXX\)'
}
ours=$(layout "$TOP/uapi/rdma_user_rxe.h" "$work/ours.o") || die "cannot compile uapi/rdma_user_rxe.h"
theirs=$(layout "$KOUT/include/uapi/rdma/rdma_user_rxe.h" "$work/theirs.o") || die "cannot compile the kernel's header"
[ -n "$ours" ] || die "pahole read no layouts"
if ! diff <(echo "$theirs") <(echo "$ours") >"$work/diff"; then
	cat "$work/diff" >&2
	die "uapi/rdma_user_rxe.h differs from the kernel's rdma_user_rxe.h"
fi
log "uapi/rdma_user_rxe.h: $(echo "$structs" | wc -w) layouts identical to the kernel's"

# uapi/rxe_migros_ctl.h: the control ioctls' sizes, offsets and numbers, as
# rxe_migros/control.rs pins them too.
cat >"$work/ctl.c" <<'C'
#include <stddef.h>
#include "rxe_migros_ctl.h"
_Static_assert(sizeof(struct rxe_migros_stop) == 24, "stop size");
_Static_assert(offsetof(struct rxe_migros_stop, qps) == 16, "stop qps");
_Static_assert(sizeof(struct rxe_migros_resume) == 40, "resume size");
_Static_assert(offsetof(struct rxe_migros_resume, sgid) == 16, "resume sgid");
_Static_assert(offsetof(struct rxe_migros_resume, qps) == 32, "resume qps");
_Static_assert(RXE_MIGROS_IOC_STOP == 0xc018bb01u, "stop number");
_Static_assert(RXE_MIGROS_IOC_RESUME == 0xc028bb02u, "resume number");
_Static_assert(sizeof(struct rxe_migros_dump) == 40, "dump size");
_Static_assert(offsetof(struct rxe_migros_dump, buf) == 16, "dump buf");
_Static_assert(offsetof(struct rxe_migros_dump, image_len) == 32, "dump image_len");
_Static_assert(RXE_MIGROS_IOC_DUMP == 0xc028bb03u, "dump number");
_Static_assert(sizeof(struct rxe_migros_identify) == 32, "identify size");
_Static_assert(offsetof(struct rxe_migros_identify, kind) == 16, "identify kind");
_Static_assert(offsetof(struct rxe_migros_identify, channel) == 20, "identify channel");
_Static_assert(offsetof(struct rxe_migros_identify, context) == 24, "identify context");
_Static_assert(RXE_MIGROS_IOC_IDENTIFY == 0xc020bb04u, "identify number");
_Static_assert(sizeof(struct rxe_migros_restore) == 48, "restore size");
_Static_assert(offsetof(struct rxe_migros_restore, image) == 16, "restore image");
_Static_assert(offsetof(struct rxe_migros_restore, objects) == 32, "restore objects");
_Static_assert(RXE_MIGROS_IOC_RESTORE_CHECK == 0xc030bb05u, "check number");
_Static_assert(RXE_MIGROS_IOC_RESTORE == 0xc030bb06u, "restore number");
_Static_assert(RXE_MIGROS_RESTORE_PIN_LATER == 1, "pin later flag");
_Static_assert(sizeof(struct rxe_migros_adopt) == 24, "adopt size");
_Static_assert(offsetof(struct rxe_migros_adopt, pid) == 16, "adopt pid");
_Static_assert(offsetof(struct rxe_migros_adopt, pinned) == 20, "adopt pinned");
_Static_assert(RXE_MIGROS_IOC_ADOPT == 0xc018bb07u, "adopt number");
C
in_chroot clang -fsyntax-only -I"$TOP/uapi" "$work/ctl.c" || die "uapi/rxe_migros_ctl.h does not match the driver"
log "uapi/rxe_migros_ctl.h: the control ioctls match the driver"
