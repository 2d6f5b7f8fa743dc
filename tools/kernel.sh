#!/bin/bash
# Build (once) our kernel from kernel/rxe_migros.config inside the toolchain
# chroot. Cached under $CACHE, keyed on the toolchain and the config fragment.
. "$(dirname "$0")/common.sh"

K=$CHROOT$KOUT
lock_cache
[ -f "$CHROOT/.done" ] || die "no toolchain at $CHROOT: run tools/toolchain.sh first"
[ -f "$K/.done" ] && { log "kernel cached: $K"; exit 0; }

log "kernel $KERNEL_KEY: unpacking $LINUX_SOURCE_PKG"
remove_cached "$K"
in_chroot bash -c "mkdir -p $KOUT && tar xf /usr/src/$LINUX_SOURCE_PKG.tar.xz -C $KOUT --strip-components=1"

# kvm_guest.config plus ours, forced over allnoconfig: olddefconfig after
# scripts/config would switch on every default-y driver and double the build.
cat "$K/kernel/configs/kvm_guest.config" "$TOP/kernel/rxe_migros.config" >"$K/fragment.config"
in_chroot make -C "$KOUT" LLVM=1 KCONFIG_ALLCONFIG=fragment.config allnoconfig >/dev/null

# Every option the fragment sets must have survived Kconfig's dependencies.
bad=$(grep -E '^CONFIG_[A-Z0-9_]+=' "$TOP/kernel/rxe_migros.config" | while read -r line; do
	grep -qxF "$line" "$K/.config" || echo "${line%%=*}"
done)
[ -z "$bad" ] || die "kernel config lost options (unmet dependencies?): $bad"

# Progress every 30 s: build steps done (Kbuild's CC, RUSTC, AS, LD, ... lines)
# out of those of the last build of this config, or of the count recorded
# here, which a cold machine has nothing better than.
steps_about=$(cat "$CACHE/kernel-steps-$(key_of "$TOP/kernel/rxe_migros.config")" 2>/dev/null || echo 2200)
steps() { grep -cE '^  [A-Z0-9_]+ +[^ ]' "$K/build.log" || true; }
log "kernel $KERNEL_KEY: building (cold: about 8 to 20 min on 2 cores; log in $K/build.log)"
start=$(date +%s)
with_progress "kernel $KERNEL_KEY" 'echo "$(steps) of about $steps_about build steps"' -- \
	in_chroot make -C "$KOUT" LLVM=1 -j"$(nproc)" bzImage modules >"$K/build.log" 2>&1 ||
	{ tail -n 30 "$K/build.log" >&2; die "kernel build failed, see $K/build.log"; }
steps >"$CACHE/kernel-steps-$(key_of "$TOP/kernel/rxe_migros.config")"
in_chroot make -C "$KOUT" LLVM=1 INSTALL_MOD_PATH=modroot INSTALL_MOD_STRIP=1 modules_install >/dev/null
log "kernel $KERNEL_KEY: built in $(($(date +%s) - start)) s"
touch "$K/.done"
