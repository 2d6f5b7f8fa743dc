// SPDX-License-Identifier: GPL-2.0
/*
 * The restore side of rxe_migros's CRIU plugin (docs/criu.md).
 *
 * The destination is named by the environment of `criu restore`:
 * RXE_MIGROS_DEVICE, the RDMA device (one of ours) the restored process
 * uses, and RXE_MIGROS_GID, its new RoCE address (an IPv4 or IPv6
 * address), which its QPs announce to their partners.
 *
 * RESTORE_EXT_FILE runs in the task being restored, with CRIU's
 * credentials, before its memory is in place. For a uverbs file's image
 * it opens the destination device, gets a context (and so the new
 * asynchronous event file), creates the completion channels, stages the
 * image on the context (/dev/rxe_migros, RESTORE, with MRs pinned later)
 * and creates the image's objects in order with the plain uverbs
 * commands librxe uses: the RDMA core gives out handles lowest first, and
 * the driver takes each object's identity and state from the image. An
 * event file's image gets the context's asynchronous event file or the
 * channel of its number, restoring the context first if need be.
 *
 * UPDATE_VMA_MAP, still in the task: each ring the process had mapped is
 * mapped at its old address from its new offset in the new file.
 *
 * RESUME_DEVICES_LATE runs in CRIU once the task is whole and still
 * stopped: ADOPT pins the MRs in its memory and gives the uverbs file its
 * credentials, then RESUME lets the QPs run from the new address.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <criu-plugin.h>
#include <linux/kcmp.h>
#include <rdma/ib_user_verbs.h>

#include "rdma_user_rxe.h"
#include "rxe_migros_ctl.h"
#include "plugin.h"

/* Image layout (docs/image.md): offsets in a record's body. */
enum {
	HEADER_BYTES = 24,
	RECORD_HEADER_BYTES = 8,
	KIND_PD = 1, KIND_MR = 2, KIND_CQ = 3, KIND_QP = 4, KIND_AH = 5,
	KIND_CONTEXT = 6, KIND_EVENT_FILE = 7, KIND_SRQ = 8, KIND_MW = 9,
	KIND_MW_BINDING = 10, KIND_MCAST_ATTACH = 11,
	CQ_USER_HANDLE_AT = 24, CQ_RING_AT = 40,
	QP_SQ_SIG_ALL_AT = 115, QP_SQ_RING_AT = 192, QP_RQ_RING_AT = 208,
	QP_USER_HANDLE_AT = 224, QP_HAS_SRQ_AT = 257, QP_SRQ_AT = 272,
	SRQ_USER_HANDLE_AT = 32, SRQ_RING_AT = 40,
	AH_AV_AT = 16,
};

struct image {
	uint8_t *buf;
	size_t len;
};

/* A context this task's restore recreated. */
struct restored {
	uint64_t cookie;	/* the image's */
	int fd;			/* the uverbs file, handed to CRIU */
	int map_fd;		/* our own descriptor of it, for mappings */
	int async_fd;		/* handed to CRIU with its event file image */
	int *channels;		/* by number - 1; handed out likewise */
	unsigned int nr_channels;
};

/* Where a ring the process mapped at `old` is offered now. */
struct ring_move {
	uint64_t old, new;
	int map_fd;
	bool mapped;
};

static struct restored *contexts;
static size_t nr_contexts;
static struct ring_move *moves;
static size_t nr_moves;

static uint32_t le32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
	return le32(p) | (uint64_t)le32(p + 4) << 32;
}

/* Reads rxe_migros-<id>.img from the image directory. */
static int read_image(const char *name, struct image *img)
{
	struct stat st;
	int fd = openat(criu_get_image_dir(), name, O_RDONLY | O_CLOEXEC);
	ssize_t n = 0;

	if (fd < 0)
		return -errno;
	if (fstat(fd, &st) || st.st_size < HEADER_BYTES || st.st_size > (64 << 20)) {
		close(fd);
		return -EINVAL;
	}
	img->len = st.st_size;
	img->buf = malloc(img->len);
	if (img->buf)
		n = read(fd, img->buf, img->len);
	close(fd);
	if (!img->buf || n != (ssize_t)img->len) {
		free(img->buf);
		return img->buf ? -EIO : -ENOMEM;
	}
	return 0;
}

/*
 * Record `i` of an image: its kind and body, or NULL past the end. The
 * kernel checks an image whole before anything is created from it; these
 * bounds only keep a damaged one from taking this reader elsewhere.
 */
static const uint8_t *record(const struct image *img, unsigned int i, unsigned int *kind,
			     size_t *body_len)
{
	size_t at = HEADER_BYTES;

	for (;;) {
		size_t bytes;

		if (at + RECORD_HEADER_BYTES > img->len)
			return NULL;
		bytes = le32(img->buf + at + 4);
		if (bytes < RECORD_HEADER_BYTES || bytes > img->len - at)
			return NULL;
		if (!i--) {
			*kind = img->buf[at] | img->buf[at + 1] << 8;
			*body_len = bytes - RECORD_HEADER_BYTES;
			return img->buf + at + RECORD_HEADER_BYTES;
		}
		at += bytes;
	}
}

/* A uverbs command through write(2), as libibverbs' legacy path sends it:
 * `cmd` starts with its response pointer, which this fills in. */
static int uverbs_cmd(int fd, uint32_t command, void *cmd, size_t cmd_len, void *resp,
		      size_t resp_len)
{
	uint8_t buf[sizeof(struct ib_uverbs_cmd_hdr) + 256];
	struct ib_uverbs_cmd_hdr hdr = {
		.command = command,
		.in_words = (sizeof(hdr) + cmd_len) / 4,
		.out_words = resp_len / 4,
	};
	uint64_t response = (uintptr_t)resp;
	size_t total = sizeof(hdr) + cmd_len;

	memcpy(cmd, &response, sizeof(response));
	memcpy(buf, &hdr, sizeof(hdr));
	memcpy(buf + sizeof(hdr), cmd, cmd_len);
	if (write(fd, buf, total) != (ssize_t)total)
		return -errno;
	return 0;
}

/* The GID of an IPv4 or IPv6 address: IPv4 ones are IPv4-mapped. */
static bool gid_of(const char *text, uint8_t gid[16])
{
	struct in_addr v4;

	if (inet_pton(AF_INET6, text, gid) == 1)
		return true;
	if (inet_pton(AF_INET, text, &v4) != 1)
		return false;
	memset(gid, 0, 16);
	gid[10] = gid[11] = 0xff;
	memcpy(gid + 12, &v4, 4);
	return true;
}

/* The destination's new address, from RXE_MIGROS_GID. */
static bool new_gid(uint8_t gid[16])
{
	const char *text = getenv("RXE_MIGROS_GID");

	if (text && gid_of(text, gid))
		return true;
	say(LOG_ERROR, "set RXE_MIGROS_GID to the destination's RoCE address (now %s)",
	    text ? text : "unset");
	return false;
}

/* The index of `gid` in the GID table of port 1 of `dev`, or -1. */
static int gid_index(const char *dev, const uint8_t gid[16])
{
	for (int i = 0; i < 256; i++) {
		char path[128], text[64];
		uint8_t got[16];
		FILE *f;
		int n = 0;

		snprintf(path, sizeof(path), "/sys/class/infiniband/%s/ports/1/gids/%d", dev, i);
		f = fopen(path, "re");
		if (!f)
			return -1;
		if (fgets(text, sizeof(text), f)) {
			for (char *p = text; *p && n < 16; p++) {
				unsigned int hi;

				if (*p == ':' || *p == '\n')
					continue;
				if (sscanf(p, "%2x", &hi) != 1)
					break;
				got[n++] = hi;
				p++;
			}
		}
		fclose(f);
		if (n == 16 && !memcmp(got, gid, 16))
			return i;
	}
	return -1;
}

/* Opens the uverbs device of RDMA device `dev`. */
static int open_uverbs(const char *dev)
{
	DIR *d = opendir("/sys/class/infiniband_verbs");
	struct dirent *de;
	int fd = -ENODEV;

	if (!d)
		return -errno;
	while ((de = readdir(d))) {
		char path[300], name[64] = "";
		FILE *f;

		if (strncmp(de->d_name, "uverbs", 6))
			continue;
		snprintf(path, sizeof(path), "/sys/class/infiniband_verbs/%s/ibdev", de->d_name);
		f = fopen(path, "re");
		if (!f)
			continue;
		if (fgets(name, sizeof(name), f))
			name[strcspn(name, "\n")] = '\0';
		fclose(f);
		if (!strcmp(name, dev)) {
			snprintf(path, sizeof(path), "/dev/infiniband/%s", de->d_name);
			fd = open(path, O_RDWR | O_CLOEXEC);
			if (fd < 0)
				fd = -errno;
			break;
		}
	}
	closedir(d);
	return fd;
}

/*
 * Moves descriptor `fd` of ours out of the way of the task's own: CRIU
 * installs each restored file at its number, and refuses to if something
 * is there. Ours go to the upper half of the descriptor table, below the
 * service descriptors CRIU keeps at its top. Returns the new number
 * (closing `fd`), or -errno.
 */
static int high_base(void)
{
	struct rlimit lim;

	if (getrlimit(RLIMIT_NOFILE, &lim) || lim.rlim_cur < 64)
		lim.rlim_cur = 1024;
	return lim.rlim_cur / 2;
}

static int move_high(int fd)
{
	int high;

	if (fd < 0 || fd >= high_base())
		return fd;
	high = fcntl(fd, F_DUPFD_CLOEXEC, high_base());
	if (high < 0)
		high = -errno;
	close(fd);
	return high;
}

static int add_move(uint64_t old, const struct mminfo *mi, int map_fd)
{
	struct ring_move *more = realloc(moves, (nr_moves + 1) * sizeof(*moves));

	if (!more)
		return -ENOMEM;
	moves = more;
	moves[nr_moves++] = (struct ring_move){ .old = old, .new = mi->offset, .map_fd = map_fd };
	return 0;
}

/* A handle the core gave that is not the image's: the process would name
 * another object than it thinks. */
static int check_handle(const char *what, uint32_t got, uint32_t want)
{
	if (got == want)
		return 0;
	say(LOG_ERROR, "%s got handle %u, not %u: objects the image does not have "
	    "are in the way", what, got, want);
	return -EINVAL;
}

/* Creates object `b` (of `kind`) of the image on context `c`. */
static int create(struct restored *c, unsigned int kind, const uint8_t *b, int sgid_index)
{
	int fd = c->fd;
	int ret;

	switch (kind) {
	case KIND_PD: {
		struct ib_uverbs_alloc_pd cmd = {};
		struct ib_uverbs_alloc_pd_resp resp = {};

		ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_ALLOC_PD, &cmd, sizeof(cmd), &resp,
				 sizeof(resp));
		return ret ? ret : check_handle("a PD", resp.pd_handle, le32(b));
	}
	case KIND_MR: {
		struct ib_uverbs_reg_mr cmd = {
			.start = le64(b + 24),
			.length = le64(b + 40),
			.hca_va = le64(b + 32),
			.pd_handle = le32(b + 4),
			.access_flags = le32(b + 8),
		};
		struct ib_uverbs_reg_mr_resp resp = {};

		ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_REG_MR, &cmd, sizeof(cmd), &resp,
				 sizeof(resp));
		return ret ? ret : check_handle("an MR", resp.mr_handle, le32(b));
	}
	case KIND_CQ: {
		unsigned int channel = le32(b + 12);
		struct ib_uverbs_create_cq cmd = {
			.user_handle = le64(b + CQ_USER_HANDLE_AT),
			.cqe = le32(b + 4),
			.comp_vector = le32(b + 16),
			.comp_channel = channel ? c->channels[channel - 1] : -1,
		};
		struct {
			struct ib_uverbs_create_cq_resp core;
			struct rxe_create_cq_resp rxe;
		} resp = {};

		if (channel > c->nr_channels)
			return -EINVAL;
		ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_CREATE_CQ, &cmd, sizeof(cmd), &resp,
				 sizeof(resp));
		if (!ret)
			ret = check_handle("a CQ", resp.core.cq_handle, le32(b));
		return ret ? ret : add_move(le64(b + CQ_RING_AT), &resp.rxe.mi, c->map_fd);
	}
	case KIND_SRQ: {
		struct ib_uverbs_create_srq cmd = {
			.user_handle = le64(b + SRQ_USER_HANDLE_AT),
			.pd_handle = le32(b + 4),
			.max_wr = le32(b + 12),
			.max_sge = le32(b + 16),
			.srq_limit = le32(b + 20),
		};
		struct {
			/* struct ib_uverbs_create_srq_resp */
			uint32_t srq_handle, max_wr, max_sge, srq_limit;
			struct rxe_create_srq_resp rxe;
		} resp = {};

		ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_CREATE_SRQ, &cmd, sizeof(cmd), &resp,
				 sizeof(resp));
		if (!ret)
			ret = check_handle("an SRQ", resp.srq_handle, le32(b));
		return ret ? ret : add_move(le64(b + SRQ_RING_AT), &resp.rxe.mi, c->map_fd);
	}
	case KIND_QP: {
		/* A QP on an SRQ has no receive ring of its own to map. */
		bool on_srq = b[QP_HAS_SRQ_AT];
		struct ib_uverbs_create_qp cmd = {
			.user_handle = le64(b + QP_USER_HANDLE_AT),
			.pd_handle = le32(b + 16),
			.send_cq_handle = le32(b + 20),
			.recv_cq_handle = le32(b + 24),
			.srq_handle = on_srq ? le32(b + QP_SRQ_AT) : 0,
			.is_srq = on_srq,
			.max_send_wr = le32(b + 28),
			.max_recv_wr = le32(b + 32),
			.max_send_sge = le32(b + 36),
			.max_recv_sge = le32(b + 40),
			.max_inline_data = le32(b + 44),
			.sq_sig_all = b[QP_SQ_SIG_ALL_AT],
			.qp_type = le32(b + 8),
		};
		struct {
			struct ib_uverbs_create_qp_resp core;
			struct rxe_create_qp_resp rxe;
		} resp = {};

		ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_CREATE_QP, &cmd, sizeof(cmd), &resp,
				 sizeof(resp));
		if (!ret)
			ret = check_handle("a QP", resp.core.qp_handle, le32(b));
		if (ret)
			return ret;
		if (resp.core.qpn != le32(b + 4))
			say(LOG_INFO, "QP %#x is QP %#x here", le32(b + 4), resp.core.qpn);
		ret = add_move(le64(b + QP_SQ_RING_AT), &resp.rxe.sq_mi, c->map_fd);
		if (ret || on_srq)
			return ret;
		return add_move(le64(b + QP_RQ_RING_AT), &resp.rxe.rq_mi, c->map_fd);
	}
	case KIND_AH: {
		const uint8_t *av = b + AH_AV_AT;
		struct ib_uverbs_create_ah cmd = {
			.pd_handle = le32(b + 4),
			.attr = {
				.grh = {
					.flow_label = le32(av + 32),
					.sgid_index = sgid_index,
					.hop_limit = av[37],
					.traffic_class = av[38],
				},
				.is_global = 1,
				.port_num = 1,
			},
		};
		struct {
			uint32_t ah_handle;	/* struct ib_uverbs_create_ah_resp */
			struct rxe_create_ah_resp rxe;
		} resp = {};

		memcpy(cmd.attr.grh.dgid, av, 16);
		ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_CREATE_AH, &cmd, sizeof(cmd), &resp,
				 sizeof(resp));
		return ret ? ret : check_handle("an AH", resp.ah_handle, le32(b));
	}
	case KIND_MW: {
		/* The driver gives it the image's rkey; its binding, after every
		 * object in the image, is the driver's to make at ADOPT. */
		struct ib_uverbs_alloc_mw cmd = {
			.pd_handle = le32(b + 4),
			.mw_type = le32(b + 8),
		};
		struct ib_uverbs_alloc_mw_resp resp = {};

		ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_ALLOC_MW, &cmd, sizeof(cmd), &resp,
				 sizeof(resp));
		if (!ret && resp.rkey != le32(b + 12)) {
			say(LOG_ERROR, "a memory window got rkey %#x, not %#x", resp.rkey,
			    le32(b + 12));
			return -EINVAL;
		}
		return ret ? ret : check_handle("a memory window", resp.mw_handle, le32(b));
	}
	}
	say(LOG_ERROR, "an image record of kind %u cannot be created", kind);
	return -EINVAL;
}

/* Recreates the context of uverbs image `img` on the destination device;
 * returns it, or NULL with *err set. */
/* A PD in the way of a handle the image skips (an object the process had
 * destroyed): the core hands out handles lowest free first. */
static int fill_gap(int fd, uint32_t handle)
{
	struct ib_uverbs_alloc_pd cmd = {};
	struct ib_uverbs_alloc_pd_resp resp = {};
	int ret;

	ret = uverbs_cmd(fd, IB_USER_VERBS_CMD_ALLOC_PD, &cmd, sizeof(cmd), &resp, sizeof(resp));
	return ret ? ret : check_handle("a placeholder", resp.pd_handle, handle);
}

/* Destroys the placeholder PD at `handle`. DEALLOC_PD has no response, so
 * no pointer for uverbs_cmd. */
static int free_placeholder(int fd, uint32_t handle)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_dealloc_pd cmd;
	} w = {
		.hdr = { .command = IB_USER_VERBS_CMD_DEALLOC_PD, .in_words = sizeof(w) / 4 },
		.cmd = { .pd_handle = handle },
	};

	return write(fd, &w, sizeof(w)) == (ssize_t)sizeof(w) ? 0 : -errno;
}

/* Attaches a UD QP of the image to a multicast group again (an
 * attachment record: QP handle u32, LID u16, reserved u16, GID), through
 * the core, which keeps the attachment as the process's: its detach finds
 * it, and the QP's destroy undoes it. */
static int attach_mcast(int fd, const uint8_t *b)
{
	struct {
		struct ib_uverbs_cmd_hdr hdr;
		struct ib_uverbs_attach_mcast cmd;
	} w = {
		.hdr = { .command = IB_USER_VERBS_CMD_ATTACH_MCAST, .in_words = sizeof(w) / 4 },
		.cmd = { .qp_handle = le32(b), .mlid = b[4] | b[5] << 8 },
	};

	memcpy(w.cmd.gid, b + 8, sizeof(w.cmd.gid));
	return write(fd, &w, sizeof(w)) == (ssize_t)sizeof(w) ? 0 : -errno;
}

/* Creates the image's objects on context `c` in order (the order the
 * process created them). The core gives the lowest free handle, so before
 * each object a placeholder PD fills every free handle below the object's,
 * or, where the process reused a handle, the placeholder holding it goes;
 * the `gaps` placeholders left go once all are created. */
static int create_all(struct restored *c, const struct image *img, unsigned int gaps,
		      int sgid_index)
{
	uint32_t *holders = calloc(gaps + 1, sizeof(*holders));
	unsigned int nr_holders = 0, made = 0, attached = 0, kind;
	unsigned int trailer = UINT_MAX;	/* the first record after the objects */
	uint32_t next = 0;	/* one past the highest handle given */
	const uint8_t *b;
	size_t len;
	int ret = holders ? 0 : -ENOMEM;

	for (unsigned int i = 1; !ret && (b = record(img, i, &kind, &len)); i++) {
		uint32_t handle = le32(b);
		unsigned int j = 0;

		/* Bindings and attachments follow the objects. */
		if (kind == KIND_MW_BINDING || kind == KIND_MCAST_ATTACH) {
			trailer = i;
			break;
		}

		for (; !ret && next < handle && made < gaps; next++, made++) {
			ret = fill_gap(c->fd, next);
			if (!ret)
				holders[nr_holders++] = next;
		}
		if (!ret && handle < next) {
			while (j < nr_holders && holders[j] != handle)
				j++;
			ret = j < nr_holders ? free_placeholder(c->fd, handle) : -EINVAL;
			if (!ret)
				holders[j] = holders[--nr_holders];
		}
		if (!ret)
			ret = create(c, kind, b, sgid_index);
		if (ret)
			say(LOG_ERROR, "cannot recreate object %u (kind %u): %s", i, kind,
			    strerror(-ret));
		if (next <= handle)
			next = handle + 1;
	}
	for (unsigned int i = 0; !ret && i < nr_holders; i++)
		ret = free_placeholder(c->fd, holders[i]);
	if (made && !ret)
		say(LOG_INFO, "%u placeholders filled handle gaps", made);
	/* The windows' bindings are the driver's to make at the adoption; the
	 * multicast attachments are ours, now that the QPs have their handles. */
	for (unsigned int i = trailer; !ret && (b = record(img, i, &kind, &len)); i++) {
		if (kind != KIND_MCAST_ATTACH)
			continue;
		ret = len >= 24 ? attach_mcast(c->fd, b) : -EINVAL;
		if (ret)
			say(LOG_ERROR, "cannot attach QP %u to its multicast group again: %s",
			    le32(b), strerror(-ret));
		else
			attached++;
	}
	if (attached)
		say(LOG_INFO, "%u multicast attachments made again", attached);
	free(holders);
	return ret;
}

static struct restored *restore_context(const struct image *img, int *err)
{
	const char *dev = getenv("RXE_MIGROS_DEVICE");
	struct ib_uverbs_get_context gc = {};
	struct ib_uverbs_get_context_resp gc_resp = {};
	struct rxe_migros_restore r = {
		.size = sizeof(r),
		.version = RXE_MIGROS_CTL_VERSION,
		.flags = RXE_MIGROS_RESTORE_PIN_LATER,
		.image = (uintptr_t)img->buf,
		.image_len = img->len,
	};
	struct restored c = { .fd = -1, .map_fd = -1, .async_fd = -1 };
	struct restored *more;
	const uint8_t *b;
	unsigned int kind;
	size_t len;
	uint8_t gid[16];
	int sgid_index;

	*err = -EINVAL;
	if (!dev || !new_gid(gid)) {
		say(LOG_ERROR, "set RXE_MIGROS_DEVICE to the destination's RDMA device");
		return NULL;
	}
	sgid_index = gid_index(dev, gid);
	if (sgid_index < 0) {
		say(LOG_ERROR, "%s has no GID for RXE_MIGROS_GID", dev);
		return NULL;
	}
	b = record(img, 0, &kind, &len);
	if (!b || kind != KIND_CONTEXT || len < 8)
		return NULL;
	c.cookie = le64(b);
	/* Channels first: CQs name them. */
	for (unsigned int i = 1; (b = record(img, i, &kind, &len)); i++)
		if (kind == KIND_CQ && le32(b + 12) > c.nr_channels)
			c.nr_channels = le32(b + 12);
	c.channels = calloc(c.nr_channels + 1, sizeof(int));
	c.fd = move_high(open_uverbs(dev));
	if (!c.channels || c.fd < 0) {
		*err = c.channels ? c.fd : -ENOMEM;
		say(LOG_ERROR, "cannot open the uverbs device of %s: %s", dev, strerror(-*err));
		goto fail;
	}
	c.map_fd = fcntl(c.fd, F_DUPFD_CLOEXEC, high_base());
	*err = uverbs_cmd(c.fd, IB_USER_VERBS_CMD_GET_CONTEXT, &gc, sizeof(gc), &gc_resp,
			  sizeof(gc_resp));
	if (*err || c.map_fd < 0)
		goto fail;
	c.async_fd = move_high(gc_resp.async_fd);
	if (c.async_fd < 0) {
		*err = c.async_fd;
		goto fail;
	}
	for (unsigned int i = 0; i < c.nr_channels; i++) {
		struct ib_uverbs_create_comp_channel cmd = {};
		struct ib_uverbs_create_comp_channel_resp resp = {};

		c.channels[i] = -1;
		*err = uverbs_cmd(c.fd, IB_USER_VERBS_CMD_CREATE_COMP_CHANNEL, &cmd, sizeof(cmd),
				  &resp, sizeof(resp));
		if (*err)
			goto fail;
		c.channels[i] = move_high(resp.fd);
		if (c.channels[i] < 0) {
			*err = c.channels[i];
			goto fail;
		}
	}
	if (!open_ctl() || (ctl = move_high(ctl)) < 0) {
		*err = -errno;
		say(LOG_ERROR, "cannot open /dev/rxe_migros: %s", strerror(errno));
		goto fail;
	}
	r.uverbs_fd = c.fd;
	if (ioctl(ctl, RXE_MIGROS_IOC_RESTORE, &r)) {
		*err = -errno;
		say(LOG_ERROR, "%s refuses the image: %s", dev, strerror(errno));
		goto fail;
	}
	*err = create_all(&c, img, r.placeholders, sgid_index);
	if (*err)
		goto fail;
	more = realloc(contexts, (nr_contexts + 1) * sizeof(*contexts));
	if (!more) {
		*err = -ENOMEM;
		goto fail;
	}
	contexts = more;
	contexts[nr_contexts] = c;
	say(LOG_INFO, "context %llu: %u objects (%u new QPNs) on %s", (unsigned long long)c.cookie,
	    r.objects, r.remapped_qpns, dev);
	return &contexts[nr_contexts++];
fail:
	/* Closing the uverbs file destroys whatever was created on it. */
	for (unsigned int i = 0; c.channels && i < c.nr_channels; i++)
		if (c.channels[i] >= 0)
			close(c.channels[i]);
	free(c.channels);
	if (c.async_fd >= 0)
		close(c.async_fd);
	if (c.map_fd >= 0)
		close(c.map_fd);
	if (c.fd >= 0)
		close(c.fd);
	return NULL;
}

static struct restored *find_context(uint64_t cookie)
{
	for (size_t i = 0; i < nr_contexts; i++)
		if (contexts[i].cookie == cookie)
			return &contexts[i];
	return NULL;
}

/* The context of cookie `cookie`, restored from whichever of our images
 * in the image directory holds it if it is not yet. */
static struct restored *context_of(uint64_t cookie, int *err)
{
	struct restored *c = find_context(cookie);
	struct dirent *de;
	DIR *d;
	int dir;

	if (c)
		return c;
	*err = -ENOENT;
	dir = fcntl(criu_get_image_dir(), F_DUPFD_CLOEXEC, 0);
	d = dir >= 0 ? fdopendir(dir) : NULL;
	if (!d)
		return NULL;
	while (!c && (de = readdir(d))) {
		struct image img;
		const uint8_t *b;
		unsigned int kind;
		size_t len;

		if (strncmp(de->d_name, "rxe_migros-", 11) || read_image(de->d_name, &img))
			continue;
		b = record(&img, 0, &kind, &len);
		if (b && kind == KIND_CONTEXT && len >= 8 && le64(b) == cookie)
			c = restore_context(&img, err);
		free(img.buf);
	}
	closedir(d);
	if (!c && *err == -ENOENT)
		say(LOG_ERROR, "no image of context %llu", (unsigned long long)cookie);
	return c;
}

int restore_ext_file(int id)
{
	char name[64];
	struct image img;
	struct restored *c = NULL;
	const uint8_t *b;
	unsigned int kind;
	size_t len;
	int ret;

	snprintf(name, sizeof(name), "rxe_migros-%x.img", id);
	ret = read_image(name, &img);
	if (ret == -ENOENT)
		return -ENOTSUP;	/* another plugin's file */
	if (ret) {
		say(LOG_ERROR, "cannot read %s: %s", name, strerror(-ret));
		return ret;
	}
	b = record(&img, 0, &kind, &len);
	if (b && kind == KIND_CONTEXT && len >= 8) {
		c = find_context(le64(b));
		if (!c)
			c = restore_context(&img, &ret);
		ret = c ? c->fd : ret;
	} else if (b && kind == KIND_EVENT_FILE && len >= 12) {
		unsigned int channel = le32(b + 8);

		c = context_of(le64(b), &ret);
		if (c && channel > c->nr_channels) {
			say(LOG_ERROR, "%s: no channel %u", name, channel);
			ret = -EINVAL;
		} else if (c) {
			ret = channel ? c->channels[channel - 1] : c->async_fd;
		}
	} else {
		say(LOG_ERROR, "%s is no image of ours", name);
		ret = -EINVAL;
	}
	free(img.buf);
	if (ret >= 0)
		say(LOG_INFO, "file %#x restored as fd %d", id, ret);
	return ret;
}

/*
 * Once every ring is mapped, the descriptors this task's restore kept for
 * itself are closed: no later hook runs in the task, and the process
 * must not go on holding them.
 */
static void close_when_mapped(void)
{
	for (size_t i = 0; i < nr_moves; i++)
		if (!moves[i].mapped)
			return;
	for (size_t i = 0; i < nr_contexts; i++) {
		if (contexts[i].map_fd >= 0)
			close(contexts[i].map_fd);
		contexts[i].map_fd = -1;
	}
	if (ctl >= 0)
		close(ctl);
	ctl = -1;
}

int update_vma_map(const char *path, const uint64_t addr, const uint64_t old_pgoff,
		   uint64_t *new_pgoff, int *plugin_fd)
{
	for (size_t i = 0; i < nr_moves; i++) {
		if (moves[i].old != old_pgoff)
			continue;
		*plugin_fd = fcntl(moves[i].map_fd, F_DUPFD_CLOEXEC, 0);
		if (*plugin_fd < 0)
			return -errno;
		*new_pgoff = moves[i].new;
		moves[i].mapped = true;
		say(LOG_INFO, "ring at %#llx: offset %#llx is %#llx now", (unsigned long long)addr,
		    (unsigned long long)old_pgoff, (unsigned long long)*new_pgoff);
		close_when_mapped();
		return 1;
	}
	say(LOG_ERROR, "%s at %#llx: no ring was offset %#llx", path, (unsigned long long)addr,
	    (unsigned long long)old_pgoff);
	return -ENOENT;
}

/* Task `pid`'s uverbs file `task_fd`, if ours: adopts the task and resumes
 * its QPs from address `gid`. */
static int adopt_and_resume(int pid, int task_fd, const uint8_t gid[16])
{
	struct rxe_migros_adopt a = {
		.size = sizeof(a),
		.version = RXE_MIGROS_CTL_VERSION,
		.pid = pid,
	};
	struct rxe_migros_resume r = {
		.size = sizeof(r),
		.version = RXE_MIGROS_CTL_VERSION,
		.flags = RXE_MIGROS_RESUME_SGID,
	};
	int fd = take_fd(pid, task_fd);
	int ret = 0;

	if (fd < 0)
		return -errno;
	a.uverbs_fd = r.uverbs_fd = fd;
	memcpy(r.sgid, gid, 16);
	if (ioctl(ctl, RXE_MIGROS_IOC_ADOPT, &a)) {
		ret = errno == ENODEV ? 0 : -errno;
		if (ret)
			say(LOG_ERROR, "cannot adopt task %d fd %d: %s", pid, task_fd, strerror(errno));
	} else if (ioctl(ctl, RXE_MIGROS_IOC_RESUME, &r)) {
		ret = -errno;
		say(LOG_ERROR, "cannot resume task %d fd %d: %s", pid, task_fd, strerror(errno));
	} else {
		say(LOG_INFO, "task %d fd %d: %u MRs pinned, %u QPs resumed, %u announcing", pid,
		    task_fd, a.pinned, r.qps, r.announced);
	}
	close(fd);
	return ret;
}

/* Whether the task's descriptor `fd` is the same file as one of `seen`:
 * the driver adopts a context once, and refuses a second ADOPT. */
static bool seen_before(int pid, int fd, const int *seen, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (syscall(SYS_kcmp, pid, pid, KCMP_FILE, fd, seen[i]) == 0)
			return true;
	return false;
}

int resume_devices_late(int pid)
{
	char dir[32];
	struct dirent *de;
	uint8_t gid[16];
	int *seen = NULL, *more;
	size_t nr_seen = 0;
	DIR *d;
	int ret = 0;

	if (!open_ctl())
		return 0;
	snprintf(dir, sizeof(dir), "/proc/%d/fd", pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while (!ret && (de = readdir(d))) {
		int fd;

		if (de->d_name[0] == '.' || !links_to(pid, de->d_name, "/dev/infiniband/uverbs"))
			continue;
		fd = atoi(de->d_name);
		if (seen_before(pid, fd, seen, nr_seen))
			continue;
		more = realloc(seen, (nr_seen + 1) * sizeof(*seen));
		if (!more) {
			ret = -ENOMEM;
			break;
		}
		seen = more;
		seen[nr_seen++] = fd;
		ret = new_gid(gid) ? adopt_and_resume(pid, fd, gid) : -EINVAL;
	}
	free(seen);
	closedir(d);
	return ret;
}

void restore_fini(void)
{
	for (size_t i = 0; i < nr_contexts; i++) {
		if (contexts[i].map_fd >= 0)
			close(contexts[i].map_fd);
		free(contexts[i].channels);
	}
	free(contexts);
	contexts = NULL;
	nr_contexts = 0;
	free(moves);
	moves = NULL;
	nr_moves = 0;
}
