#!/bin/bash
# make check-debug: the whole selftest suite on a second kernel with KASAN,
# KFENCE, kmemleak, UBSAN, slab, list and debug-object checking on
# (kernel/debug.config) besides the lockdep every kernel of ours has.
#
# The checkout is copied to out/debug/tree with kernel/debug.config appended
# to the kernel config, and built and tested there exactly as `make check`
# does: the debug kernel is cached beside the other under its own key, and
# the module built against it never overwrites the checkout's. In the guest,
# selftests/run.sh sees kmemleak and scans after every test; any report, of
# any checker, fails the test it appeared in.
. "$(dirname "$0")/common.sh"

D=$TOP/out/debug/tree
mkdir -p "$D"
# Tracked and new files as they are now, with their times, so that a second
# run rebuilds only what changed; what the copy built is kept, and a file
# gone from the checkout since the last copy goes from the copy too.
git -C "$TOP" ls-files -co --exclude-standard | while read -r f; do
	if [ -e "$TOP/$f" ]; then printf '%s\n' "$f"; fi
done | sort >"$D.files.new"
[ -f "$D.files" ] && comm -23 "$D.files" "$D.files.new" | (cd "$D" && xargs -r -d '\n' rm -f)
tar -C "$TOP" -cf - -T "$D.files.new" | tar -C "$D" -xf -
mv "$D.files.new" "$D.files"
cat "$TOP/kernel/debug.config" >>"$D/kernel/rxe_migros.config"

start=$(date +%s)
make -C "$D" --no-print-directory module plugin rootfs
log "check-debug: debug kernel and module ready in $(elapsed "$start")"
start=$(date +%s)
rc=0
# Under TCG the debug kernel's ACPI interpreter runs past ACPICA's 30 s
# loop timeout on the PC machine's PCI routing method (_PRT, a loop over
# 128 slots), once per device, and boot takes minutes; q35's _PRT is a
# table. Its boot takes about 20 s against 3 s.
export RXE_MIGROS_MACHINE=q35
TIMEOUT=${TIMEOUT:-14400} "$D/tools/selftests.sh" "${1:-}" || rc=$?
log "check-debug: selftests on the debug kernel took $(elapsed "$start") (logs in $D/out/selftests/)"
exit $rc
