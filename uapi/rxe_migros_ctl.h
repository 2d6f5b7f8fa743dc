/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rxe_migros: the control device /dev/rxe_migros, which a checkpointer
 * uses to stop a process's QPs before a checkpoint and to resume them
 * after (docs/migration.md).
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
 * GID the device does not have).
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

/* Resumes every Stopped QP of the context. RC QPs with a partner (RTR or
 * RTS) announce themselves with RESUME, carrying their source GID, until
 * acknowledged; a partner in the same context needs none. Without
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

#define RXE_MIGROS_IOC_TYPE	0xBB
#define RXE_MIGROS_IOC_STOP	_IOWR(RXE_MIGROS_IOC_TYPE, 1, struct rxe_migros_stop)
#define RXE_MIGROS_IOC_RESUME	_IOWR(RXE_MIGROS_IOC_TYPE, 2, struct rxe_migros_resume)

#endif /* RXE_MIGROS_CTL_H */
