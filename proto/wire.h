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
#define FDBR_WIRE_REPLY_SIZE 24
#define FDBR_WIRE_PATH_MAX 4095
#define FDBR_WIRE_REQUEST_MAX (FDBR_WIRE_HEADER_SIZE + FDBR_WIRE_PATH_MAX)

enum {
        FDBR_OP_PING = 1,
        FDBR_OP_OPEN = 2,
        FDBR_OP_CHECK = 3,
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
};

/* Encodes a request into buf.  Returns the record length, or -EINVAL if the
 * path does not fit the protocol, -ENOBUFS if buf is too small.  Does not
 * validate flags: a client may deliberately send what the broker refuses. */
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

/* An absolute, canonical path: starts with '/', no empty, "." or ".."
 * component, no trailing '/' (except "/" itself), no NUL.  Returns 0 or
 * -EINVAL. */
int wire_path_check(const char *path, size_t len);

void wire_reply_encode(void *buf, const struct wire_reply *r);

/* Decodes a reply: exactly FDBR_WIRE_REPLY_SIZE bytes, right magic and
 * version, nfds 0 or 1, reserved 0.  Returns 0 or -EBADMSG. */
int wire_reply_decode(const void *buf, size_t len, struct wire_reply *ret);

/* Name of an op for logs, "?" if unknown. */
const char *wire_op_name(uint16_t op);

/* Writes the names of set flags ("READ|WRITE", or "-" for none) into buf. */
const char *wire_flags_format(uint32_t flags, char *buf, size_t size);
