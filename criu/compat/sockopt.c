// SPDX-License-Identifier: GPL-2.0
/*
 * Preloaded into Debian trixie's CRIU 4.1.1 (LD_PRELOAD; docs/criu.md).
 *
 * Since Linux 6.16, SO_PASSCRED and SO_PASSSEC exist only on AF_UNIX,
 * AF_NETLINK and AF_BLUETOOTH sockets: getsockopt(2) of them on any other
 * socket fails with EOPNOTSUPP. CRIU 4.1.1 reads both of every socket it
 * dumps and gives up on that failure, so it cannot dump a TCP socket on
 * our kernel. CRIU fixed it after 4.1.1 (commit 4b7398595, "criu/sockets:
 * Restrict SO_PASSCRED and SO_PASSSEC to supported families"); until
 * Debian ships a CRIU with the fix, this does the same from outside: on a
 * socket that cannot have the options, they read as off. (Restore sets
 * them only when on, so it needs nothing.)
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <sys/socket.h>

int getsockopt(int fd, int level, int name, void *val, socklen_t *len)
{
	static int (*real)(int, int, int, void *, socklen_t *);
	int ret;

	if (!real)
		real = (int (*)(int, int, int, void *, socklen_t *))dlsym(RTLD_NEXT, "getsockopt");
	ret = real(fd, level, name, val, len);
	if (ret && errno == EOPNOTSUPP && level == SOL_SOCKET &&
	    (name == SO_PASSCRED || name == SO_PASSSEC) && val && len && *len >= sizeof(int)) {
		memset(val, 0, sizeof(int));
		*len = sizeof(int);
		return 0;
	}
	return ret;
}
