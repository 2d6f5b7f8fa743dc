#!/bin/bash
# Build the CRIU plugin (criu/rxe_migros_plugin.c, criu/restore.c) against the criu-plugin.h
# of the guest's CRIU: libcriu-dev of the pinned version, fetched once from
# the Debian mirror into the cache. Output: out/criu/rxe_migros.so, which
# the selftests hand to criu with --libdir; and out/criu-compat/sockopt.so,
# which they preload into criu (criu/compat/sockopt.c says why).
. "$(dirname "$0")/common.sh"

# trixie's criu, which the guest runs; the header ships in libcriu-dev of the
# same version. (Not in pins.env: that file keys the build chroot.)
CRIU_VERSION=4.1.1-1

# In the build chroot, which the compiler runs in.
H=/build/criu-headers-$CRIU_VERSION
lock_cache
if [ ! -f "$CHROOT$H/.done" ]; then
	log "fetching criu-plugin.h from libcriu-dev $CRIU_VERSION"
	rm -rf "$CHROOT$H"
	mkdir -p "$CHROOT$H"
	in_chroot sh -c "cd /tmp && apt-get download -q libcriu-dev=$CRIU_VERSION" >/dev/null ||
		die "libcriu-dev $CRIU_VERSION is not on the mirror: change CRIU_VERSION in $0"
	dpkg-deb -x "$CHROOT"/tmp/libcriu-dev_"${CRIU_VERSION#*:}"_amd64.deb "$CHROOT$H"
	rm -f "$CHROOT"/tmp/libcriu-dev_*.deb
	[ -f "$CHROOT$H/usr/include/criu/criu-plugin.h" ] || die "libcriu-dev has no criu-plugin.h"
	touch "$CHROOT$H/.done"
fi
mkdir -p "$TOP/out/criu"
in_chroot clang -std=gnu11 -O2 -Wall -Wextra -Werror -fPIC -shared \
	-isystem "$H/usr/include/criu" -I"$TOP/uapi" \
	-o "$TOP/out/criu/rxe_migros.so" "$TOP/criu/rxe_migros_plugin.c" "$TOP/criu/restore.c" ||
	die "the CRIU plugin does not build"
# Not in out/criu: criu loads every shared object of its --libdir.
mkdir -p "$TOP/out/criu-compat"
in_chroot clang -std=gnu11 -O2 -Wall -Wextra -Werror -fPIC -shared \
	-o "$TOP/out/criu-compat/sockopt.so" "$TOP/criu/compat/sockopt.c" -ldl ||
	die "criu/compat/sockopt.c does not build"
log "built out/criu/rxe_migros.so (criu-plugin.h of criu $CRIU_VERSION)"
