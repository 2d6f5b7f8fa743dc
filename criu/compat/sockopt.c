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
 *
 * Linux 7.x has no UDP-Lite any more, so its sock_diag answers a request
 * for UDP-Lite sockets with ENOENT. CRIU 4.1.1 asks for them in every
 * network namespace it dumps, and gives up on that answer in any
 * namespace but its own, which is where a container runtime's CRIU finds
 * the container (upstream CRIU still asks). On a kernel that cannot make
 * a UDP-Lite socket, the request becomes one for UDP sockets in no state:
 * the kernel answers it with the empty list that is the truth.
 */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <string.h>
#include <unistd.h>
#include <stdbool.h>
#include <sys/socket.h>
#include <linux/inet_diag.h>
#include <linux/netlink.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

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

/* Whether this kernel can make UDP-Lite sockets (asked once). */
static bool have_udplite(void)
{
	static int known = -1;
	int fd;

	if (known < 0) {
		fd = socket(AF_INET, SOCK_DGRAM, IPPROTO_UDPLITE);
		known = fd >= 0;
		if (fd >= 0)
			close(fd);
	}
	return known;
}

static bool is_sock_diag(int fd)
{
	int v;
	socklen_t l = sizeof(v);

	return !getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &v, &l) && v == AF_NETLINK &&
	       !getsockopt(fd, SOL_SOCKET, SO_PROTOCOL, &v, &l) && v == NETLINK_SOCK_DIAG;
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags)
{
	static ssize_t (*real)(int, const struct msghdr *, int);
	const struct iovec *iov = msg ? msg->msg_iov : NULL;
	unsigned char buf[256];
	const struct nlmsghdr *h;
	const struct inet_diag_req_v2 *r;
	struct inet_diag_req_v2 *w;
	struct iovec one;
	struct msghdr copy;

	if (!real)
		real = (ssize_t (*)(int, const struct msghdr *, int))dlsym(RTLD_NEXT, "sendmsg");
	if (!iov || msg->msg_iovlen != 1 || iov->iov_len < NLMSG_LENGTH(sizeof(*r)) ||
	    iov->iov_len > sizeof(buf))
		return real(fd, msg, flags);
	h = iov->iov_base;
	r = NLMSG_DATA(h);
	if (h->nlmsg_type != SOCK_DIAG_BY_FAMILY || r->sdiag_protocol != IPPROTO_UDPLITE ||
	    (r->sdiag_family != AF_INET && r->sdiag_family != AF_INET6) || have_udplite() ||
	    !is_sock_diag(fd))
		return real(fd, msg, flags);
	memcpy(buf, iov->iov_base, iov->iov_len);
	w = NLMSG_DATA((struct nlmsghdr *)buf);
	w->sdiag_protocol = IPPROTO_UDP;
	w->idiag_states = 0;
	one.iov_base = buf;
	one.iov_len = iov->iov_len;
	copy = *msg;
	copy.msg_iov = &one;
	return real(fd, &copy, flags);
}
