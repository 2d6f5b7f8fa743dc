/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rxe_migros: the control device /dev/rxe_migros, which a checkpointer
 * uses to stop a process's QPs before a checkpoint, to dump its objects,
 * and to resume them after (docs/migration.md, docs/image.md).
 *
 * A process's QPs are named by its uverbs file: uverbs_fd is the caller's
 * descriptor of the very file the process opened (its own, or one taken
 * with pidfd_getfd(2)). Every command needs CAP_CHECKPOINT_RESTORE or
 * CAP_SYS_ADMIN (else EPERM).
 *
 * Every struct starts with its size and the version of this ABI; a size
 * or version the driver does not know is refused (EINVAL,
 * EPROTONOSUPPORT). Other errors: EBADF (uverbs_fd not open), ENODEV (not
 * a uverbs file of an rxe_migros device, or not yet a context), EINVAL
 * (unknown flags, non-zero reserved fields), ENOENT (RESUME_SGID with a
 * GID the device does not have), EFAULT (a pointer the caller cannot
 * access).
 */
#ifndef RXE_MIGROS_CTL_H
#define RXE_MIGROS_CTL_H

#include <linux/types.h>
#include <linux/ioctl.h>

#define RXE_MIGROS_CTL_VERSION	1

/* Stops every QP of the context: each sends nothing, executes nothing new
 * and answers new requests with the paused NAK. Returns once they are
 * quiescent. */
struct rxe_migros_stop {
	__u32	size;		/* sizeof(struct rxe_migros_stop) */
	__u32	version;	/* RXE_MIGROS_CTL_VERSION */
	__s32	uverbs_fd;
	__u32	flags;		/* zero */
	__u32	qps;		/* out: QPs stopped */
	__u32	reserved;	/* zero */
};

/* sgid is the source GID the QPs now use (their RoCE address moved). */
#define RXE_MIGROS_RESUME_SGID	(1U << 0)

/* Resumes every Stopped QP of the context. RC and UC QPs with a partner
 * (RTR or RTS) announce themselves with RESUME, carrying their source GID,
 * until acknowledged; a partner in the same context needs none. Without
 * RXE_MIGROS_RESUME_SGID the address is unchanged (an aborted checkpoint
 * resumes in place). */
struct rxe_migros_resume {
	__u32	size;		/* sizeof(struct rxe_migros_resume) */
	__u32	version;	/* RXE_MIGROS_CTL_VERSION */
	__s32	uverbs_fd;
	__u32	flags;		/* RXE_MIGROS_RESUME_* */
	__u8	sgid[16];	/* with RXE_MIGROS_RESUME_SGID: a GID of the device */
	__u32	qps;		/* out: QPs resumed */
	__u32	announced;	/* out: of them, those sending RESUME */
};

/* Writes the checkpoint image of the context (every PD, MR, CQ, QP and AH,
 * with its uverbs handle; the format is docs/image.md) to buf, and its
 * length to image_len; uverbs_fd may also be an event file of the context
 * (see IDENTIFY). Every QP must have been stopped (else EBUSY). If
 * buf_len is too small, ENOSPC, with image_len set: ask again with that
 * much room. */
struct rxe_migros_dump {
	__u32	size;		/* sizeof(struct rxe_migros_dump) */
	__u32	version;	/* RXE_MIGROS_CTL_VERSION */
	__s32	uverbs_fd;
	__u32	flags;		/* zero */
	__aligned_u64 buf;	/* user address of the image's room */
	__aligned_u64 buf_len;	/* its bytes */
	__aligned_u64 image_len; /* out: the image's bytes */
};

/* What IDENTIFY finds fd to be. */
#define RXE_MIGROS_FILE_UVERBS	1	/* a uverbs file (/dev/infiniband/uverbsN) */
#define RXE_MIGROS_FILE_EVENT	2	/* an event file of a context ([infinibandevent]) */

/* Tells whether fd is a uverbs file or an event file of a user context of
 * an rxe_migros device (else ENODEV), and names the context: the same
 * number for a context's files, unique in this boot. An event file is the
 * context's asynchronous event file or one of its completion channels:
 * channel is the channel's number (from 1, in the order of the first CQ
 * that reports to each), 0 for the asynchronous event file or a channel
 * no CQ reports to. DUMP also takes an event file: its image names its
 * context and channel. */
struct rxe_migros_identify {
	__u32	size;		/* sizeof(struct rxe_migros_identify) */
	__u32	version;	/* RXE_MIGROS_CTL_VERSION */
	__s32	fd;
	__u32	flags;		/* zero */
	__u32	kind;		/* out: RXE_MIGROS_FILE_* */
	__u32	channel;	/* out: for an event file, its channel number */
	__aligned_u64 context;	/* out: the context's cookie */
};

/* RESTORE_CHECK checks, without creating anything, whether the image could
 * be restored on the device of the context uverbs_fd is opened on (a fresh
 * one, on the destination host): the image whole and consistent, and its
 * identities free there (docs/image.md). EINVAL for a damaged or
 * inconsistent image, EPROTONOSUPPORT for another image version,
 * EADDRINUSE when a UD QP's number or an MR's key is taken on the device.
 *
 * RESTORE makes the same checks, then begins restoring the image on that
 * context, which must have no object yet (else EBUSY): the caller creates
 * the image's objects in order with the usual verbs, and each takes its
 * identity and state from the image (a create out of order fails with
 * EINVAL): PDs, MRs (with their keys; created over the same memory), CQs
 * (with the completions not yet polled), AHs (with their numbers) and QPs
 * (with their numbers, or new ones for RC and UC QPs whose numbers are
 * taken, their rings and transport state; Stopped until RESUME). The core
 * gives the lowest free handle: where the image's handles skip some
 * (objects the process had destroyed), the caller first creates a PD in
 * each free handle below the next object's (`placeholders` of them in
 * all; anything else there fails with EINVAL), destroys the one holding
 * a handle the process reused before the object that takes it, and the
 * rest once the image's objects are created. EADDRINUSE also for an AH
 * number taken on the device.
 *
 * With RXE_MIGROS_RESTORE_PIN_LATER (RESTORE only), MRs are created over
 * memory that need not be mapped yet, as under a checkpointer that brings
 * the process's memory back after its files: ADOPT pins them. */
#define RXE_MIGROS_RESTORE_PIN_LATER	(1U << 0)

struct rxe_migros_restore {
	__u32	size;		/* sizeof(struct rxe_migros_restore) */
	__u32	version;	/* RXE_MIGROS_CTL_VERSION */
	__s32	uverbs_fd;
	__u32	flags;		/* RXE_MIGROS_RESTORE_*, or zero */
	__aligned_u64 image;	/* user address of the image */
	__aligned_u64 image_len; /* its bytes */
	__u32	objects;	/* out: objects to create */
	__u32	placeholders;	/* out: handles to fill and free again */
	__u32	remapped_qpns;	/* out: RC/UC QPs that need a new number */
	__u32	reserved;	/* zero */
};

/* ADOPT hands a restored process its context: pid (in the caller's PID
 * namespace) is the process the context of uverbs_fd was restored for, now
 * in place, with its memory and credentials back (under CRIU, at
 * RESUME_DEVICES_LATE). The MRs RESTORE left unpinned are pinned in its
 * memory, and the uverbs file gets its credentials: the RDMA core lets
 * only a writer with the credentials the file was opened with use it
 * (ib_safe_file_access), and the process's own writes (librxe's send
 * doorbell) must pass. ESRCH for no such process, EBUSY while the restore
 * has objects left to create, EFAULT if an MR's memory is not mapped in
 * the process. */
struct rxe_migros_adopt {
	__u32	size;		/* sizeof(struct rxe_migros_adopt) */
	__u32	version;	/* RXE_MIGROS_CTL_VERSION */
	__s32	uverbs_fd;
	__u32	flags;		/* zero */
	__s32	pid;
	__u32	pinned;		/* out: MRs pinned (or, ODP ones, registered) */
};

#define RXE_MIGROS_IOC_TYPE	0xBB
#define RXE_MIGROS_IOC_STOP	_IOWR(RXE_MIGROS_IOC_TYPE, 1, struct rxe_migros_stop)
#define RXE_MIGROS_IOC_RESUME	_IOWR(RXE_MIGROS_IOC_TYPE, 2, struct rxe_migros_resume)
#define RXE_MIGROS_IOC_DUMP	_IOWR(RXE_MIGROS_IOC_TYPE, 3, struct rxe_migros_dump)
#define RXE_MIGROS_IOC_IDENTIFY	_IOWR(RXE_MIGROS_IOC_TYPE, 4, struct rxe_migros_identify)
#define RXE_MIGROS_IOC_RESTORE_CHECK _IOWR(RXE_MIGROS_IOC_TYPE, 5, struct rxe_migros_restore)
#define RXE_MIGROS_IOC_RESTORE	_IOWR(RXE_MIGROS_IOC_TYPE, 6, struct rxe_migros_restore)
#define RXE_MIGROS_IOC_ADOPT	_IOWR(RXE_MIGROS_IOC_TYPE, 7, struct rxe_migros_adopt)

#endif /* RXE_MIGROS_CTL_H */
