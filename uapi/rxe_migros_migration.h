/* SPDX-License-Identifier: GPL-2.0 WITH Linux-syscall-note */
/*
 * rxe_migros: the wire items of the migration protocol (docs/migration.md).
 *
 * These travel between RoCEv2 peers, not between user space and the
 * kernel; they are here so that tools (packet dissectors, test injectors)
 * can build and read them. All multi-byte fields are big-endian.
 */
#ifndef RXE_MIGROS_MIGRATION_H
#define RXE_MIGROS_MIGRATION_H

#include <linux/types.h>

/* The paused NAK: an RC ACKNOWLEDGE (opcode 0x11) whose AETH syndrome is
 * this value (NAK class, code 5, IBTA-reserved), PSN = the stopped
 * responder's expected PSN. */
#define RXE_MIGROS_AETH_PAUSED_NAK	0x65

/* RESUME: an RC request with this (IBTA-reserved) opcode, AckReq set, PSN =
 * the sender's oldest unacknowledged PSN; it consumes no PSN. Its payload
 * is empty (the address is then the packet's IP source) or one
 * struct rxe_migros_resume_payload. */
#define RXE_MIGROS_OPCODE_RESUME	0x19

#define RXE_MIGROS_RESUME_VERSION	1

struct rxe_migros_resume_payload {
	__u8	version;	/* RXE_MIGROS_RESUME_VERSION */
	__u8	reserved[3];	/* zero */
	__be32	qpn;		/* the sender's QPN, low 24 bits */
	__u8	gid[16];	/* the sender's new GID (IPv6 or IPv4-mapped) */
};

#endif /* RXE_MIGROS_MIGRATION_H */
