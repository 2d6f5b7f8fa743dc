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

#define RXE_MIGROS_RESUME_VERSION	2

struct rxe_migros_resume_payload {
	__u8	version;	/* RXE_MIGROS_RESUME_VERSION */
	__u8	reserved[3];	/* zero */
	__be32	qpn;		/* the sender's QPN, low 24 bits */
	__u8	gid[16];	/* the sender's new GID (IPv6 or IPv4-mapped) */
	__be64	token;		/* the token its partner granted it; 0: none */
};

/* Every packet rxe_migros sends sets this bit of the BTH's fifth byte (the
 * byte of FECN and BECN; the ICRC masks it and the C rxe ignores it): the
 * sender speaks the migration protocol. RESUME and TOKEN go only to a peer
 * that set it. */
#define RXE_MIGROS_BTH_PROTO_BIT	0x01

/* TOKEN: an RC request with this (IBTA-reserved) opcode; it consumes no
 * PSN and is never executed. A stopping QP asks its partner for a token
 * (kind REQUEST, with a nonce); the partner answers along its own path
 * (kind GRANT, the nonce echoed, the token). A RESUME that changes the
 * partner's path must carry that token. */
#define RXE_MIGROS_OPCODE_TOKEN		0x1a
#define RXE_MIGROS_TOKEN_VERSION	1
#define RXE_MIGROS_TOKEN_REQUEST	1
#define RXE_MIGROS_TOKEN_GRANT		2
#define RXE_MIGROS_TOKEN_HEARD		3

struct rxe_migros_token {
	__u8	version;	/* RXE_MIGROS_TOKEN_VERSION */
	__u8	kind;		/* RXE_MIGROS_TOKEN_REQUEST, _GRANT or _HEARD */
	__u8	reserved[2];	/* zero */
	__be32	qpn;		/* the sender's QPN, low 24 bits */
	__be64	nonce;		/* drawn by the asker, echoed by the grant;
				 * in HEARD, the token of the RESUME heard */
	__be64	token;		/* zero in a request and in HEARD */
};

/* UC QPs: RESUME and TOKEN with the UC transport bits. UC has no ACK, so
 * a QP that took its partner's UC RESUME says so with a TOKEN of kind
 * HEARD, sent to the RESUME's new address. */
#define RXE_MIGROS_OPCODE_UC_RESUME	0x39
#define RXE_MIGROS_OPCODE_UC_TOKEN	0x3a

/* The UD announcement: a UD request with this opcode (RESUME with the UD
 * transport bits) to QPN 1, with a DETH (Q_Key 0x80010000, the migrated
 * QP's number), telling the receiving device that the UD QP moved. Its
 * payload is one struct rxe_migros_ud_move. */
#define RXE_MIGROS_OPCODE_UD_MOVE	0x79
#define RXE_MIGROS_UD_MOVE_QPN		1
#define RXE_MIGROS_UD_MOVE_QKEY		0x80010000
#define RXE_MIGROS_UD_MOVE_VERSION	1

struct rxe_migros_ud_move {
	__u8	version;	/* RXE_MIGROS_UD_MOVE_VERSION */
	__u8	reserved[3];	/* zero */
	__be32	qpn;		/* the migrated QP's number, low 24 bits */
	__u8	old_gid[16];	/* where its peers know it */
	__u8	new_gid[16];	/* where it is now */
};

#endif /* RXE_MIGROS_MIGRATION_H */
