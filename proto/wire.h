/* SPDX-License-Identifier: MIT */
#pragma once

/* Protocol version 1: the request and reply records, encoded and decoded by
 * pure functions.  Nothing here does I/O. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define FDBR_WIRE_MAGIC "FDB1"
#define FDBR_WIRE_VERSION 1
#define FDBR_WIRE_HEADER_SIZE 24
/* A reply without data: every reply but those of STAT, READLINK, STATUS and
 * GRANTS that succeeded. */
#define FDBR_WIRE_REPLY_SIZE 24
#define FDBR_WIRE_PATH_MAX 4095
/* RENAME's path area: two paths and the NUL between them. */
#define FDBR_WIRE_PATHS_MAX (2 * FDBR_WIRE_PATH_MAX + 1)
#define FDBR_WIRE_REQUEST_MAX (FDBR_WIRE_HEADER_SIZE + FDBR_WIRE_PATHS_MAX)
/* Data a reply may carry, per op. */
#define FDBR_WIRE_STATX_SIZE 256
#define FDBR_WIRE_TEXT_MAX 65536
#define FDBR_WIRE_REPLY_MAX (FDBR_WIRE_HEADER_SIZE + FDBR_WIRE_TEXT_MAX)

/* Field offsets, from the contract's tables.  Requests and replies share
 * the first 12 bytes. */
enum {
        FDBR_WIRE_OFF_MAGIC = 0,
        FDBR_WIRE_OFF_VERSION = 4,
        FDBR_WIRE_OFF_OP = 6,
        FDBR_WIRE_OFF_ID = 8,
        FDBR_WIRE_OFF_FLAGS = 12,    /* request */
        FDBR_WIRE_OFF_MODE = 16,     /* request */
        FDBR_WIRE_OFF_PATH_LEN = 20, /* request */
        FDBR_WIRE_OFF_PATH = 24,     /* request */
        FDBR_WIRE_OFF_STATUS = 12,   /* reply */
        FDBR_WIRE_OFF_NFDS = 16,     /* reply */
        FDBR_WIRE_OFF_DATA_LEN = 20, /* reply */
        FDBR_WIRE_OFF_DATA = 24,     /* reply */
};

enum {
        FDBR_OP_PING = 1,
        FDBR_OP_OPEN = 2,
        FDBR_OP_CHECK = 3,
        /* Added after the first release, still version 1: a broker that
         * predates them answers EINVAL. */
        FDBR_OP_STAT = 4,
        FDBR_OP_READLINK = 5,
        FDBR_OP_MKDIR = 6,
        FDBR_OP_UNLINK = 7,
        FDBR_OP_RMDIR = 8,
        FDBR_OP_RENAME = 9,
        FDBR_OP_STATUS = 10,
        FDBR_OP_GRANTS = 11,
        FDBR_OP_MAX = FDBR_OP_GRANTS,
};

enum {
        FDBR_F_READ = 0x01,
        FDBR_F_WRITE = 0x02,
        FDBR_F_CREATE = 0x04,
        FDBR_F_EXCL = 0x08,
        FDBR_F_TRUNC = 0x10,
        FDBR_F_APPEND = 0x20,
        FDBR_F_DIRECTORY = 0x40,
        FDBR_F_NOFOLLOW = 0x80,
        FDBR_F_ALL = 0xff,
};

struct wire_request {
        uint16_t op;
        uint32_t id;
        uint32_t flags;
        uint32_t mode;
        uint32_t path_len;
        const char *path; /* points into the decoded buffer, not terminated */
};

struct wire_reply {
        uint16_t op;
        uint32_t id;
        uint32_t status; /* 0 or a positive errno value */
        uint32_t nfds;
        uint32_t data_len;
        const void *data; /* data_len bytes; decoded: points into the record */
};

/* Encodes a request into buf.  Returns the record length, or -EINVAL if the
 * path area is longer than the op can carry (FDBR_WIRE_PATHS_MAX for
 * RENAME, else FDBR_WIRE_PATH_MAX), -ENOBUFS if buf is too small.  Does not
 * validate anything else: a client may deliberately send what the broker
 * refuses. */
int wire_request_encode(void *buf, size_t size, uint16_t op, uint32_t id, uint32_t flags,
                        uint32_t mode, const char *path, size_t path_len);

/* Decodes and validates one received record of len bytes.  On success fills
 * *ret and returns 0.  Otherwise returns the negative status the broker must
 * answer: -EPROTO (short record, wrong magic), -EPROTONOSUPPORT, -EINVAL; the
 * id and op to echo are then available from wire_request_echo(). */
int wire_request_decode(const void *buf, size_t len, struct wire_request *ret);

/* The op and id a reply to a (possibly malformed) record must echo: whatever
 * the record holds at their offsets, 0 where it is too short. */
void wire_request_echo(const void *buf, size_t len, uint16_t *ret_op, uint32_t *ret_id);

/* The contract's rules for flags and mode of an OPEN/CHECK.  Returns 0 or
 * -EINVAL. */
int wire_flags_check(uint32_t flags, uint32_t mode);

/* Everything the contract's table of ops demands of a request's flags, mode
 * and path area for op, as the broker judges it (and as a client checks
 * before sending).  Returns 0 or -EINVAL (unknown op included). */
int wire_request_check(uint16_t op, uint32_t flags, uint32_t mode, const char *path, size_t path_len);

/* Splits RENAME's path area, src NUL dst, each an absolute canonical path.
 * Returns 0 and the length of src (dst starts at src_len + 1), or -EINVAL. */
int wire_rename_split(const char *paths, size_t len, size_t *ret_src_len);

/* An absolute, canonical path: starts with '/', no empty, "." or ".."
 * component, no trailing '/' (except "/" itself), no NUL.  Returns 0 or
 * -EINVAL. */
int wire_path_check(const char *path, size_t len);

/* The most data a reply to op may carry when status is 0 (STAT: exactly
 * this much). */
size_t wire_reply_data_max(uint16_t op);

/* Encodes a reply, header and r->data_len bytes of r->data, into buf, which
 * must hold FDBR_WIRE_HEADER_SIZE + r->data_len bytes.  Returns the record
 * length. */
size_t wire_reply_encode(void *buf, const struct wire_reply *r);

/* Decodes a reply: exactly FDBR_WIRE_HEADER_SIZE + data_len bytes, right
 * magic and version, nfds 0 or 1 (1 only with status 0), data only with
 * status 0 and within wire_reply_data_max() of the op (a successful STAT:
 * exactly FDBR_WIRE_STATX_SIZE).  Returns 0 or -EBADMSG. */
int wire_reply_decode(const void *buf, size_t len, struct wire_reply *ret);

/* Name of an op for logs, "?" if unknown. */
const char *wire_op_name(uint16_t op);

/* Writes the names of set flags ("READ|WRITE", or "-" for none) into buf. */
const char *wire_flags_format(uint32_t flags, char *buf, size_t size);
