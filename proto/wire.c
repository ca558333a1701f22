/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include "macro.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* Field offsets, from the contract's tables. */
enum {
        OFF_MAGIC = 0,
        OFF_VERSION = 4,
        OFF_OP = 6,
        OFF_ID = 8,
        OFF_FLAGS = 12,
        OFF_STATUS = 12,
        OFF_MODE = 16,
        OFF_NFDS = 16,
        OFF_PATH_LEN = 20,
        OFF_RESERVED = 20,
};

/* memcpy keeps unaligned access defined; compilers turn it into plain loads. */
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, sizeof v); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, sizeof v); return v; }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }

static void put_header(uint8_t *p, uint16_t op, uint32_t id) {
        memcpy(p + OFF_MAGIC, FDBR_WIRE_MAGIC, 4);
        put16(p + OFF_VERSION, FDBR_WIRE_VERSION);
        put16(p + OFF_OP, op);
        put32(p + OFF_ID, id);
}

int wire_request_encode(void *buf, size_t size, uint16_t op, uint32_t id, uint32_t flags,
                        uint32_t mode, const char *path, size_t path_len) {
        uint8_t *p = buf;

        if (path_len > FDBR_WIRE_PATH_MAX)
                return -EINVAL;
        if (size < FDBR_WIRE_HEADER_SIZE + path_len)
                return -ENOBUFS;

        put_header(p, op, id);
        put32(p + OFF_FLAGS, flags);
        put32(p + OFF_MODE, mode);
        put32(p + OFF_PATH_LEN, (uint32_t) path_len);
        if (path_len > 0)
                memcpy(p + FDBR_WIRE_HEADER_SIZE, path, path_len);
        return (int) (FDBR_WIRE_HEADER_SIZE + path_len);
}

void wire_request_echo(const void *buf, size_t len, uint16_t *ret_op, uint32_t *ret_id) {
        const uint8_t *p = buf;

        *ret_op = len >= OFF_OP + 2 ? get16(p + OFF_OP) : 0;
        *ret_id = len >= OFF_ID + 4 ? get32(p + OFF_ID) : 0;
}

int wire_flags_check(uint32_t flags, uint32_t mode) {
        if (flags & ~(uint32_t) FDBR_F_ALL)
                return -EINVAL;
        if (!(flags & (FDBR_F_READ | FDBR_F_WRITE | FDBR_F_DIRECTORY)))
                return -EINVAL;
        if ((flags & FDBR_F_EXCL) && !(flags & FDBR_F_CREATE))
                return -EINVAL;
        if (mode & ~(uint32_t) 0777)
                return -EINVAL;
        if (mode != 0 && !(flags & FDBR_F_CREATE))
                return -EINVAL;
        return 0;
}

int wire_path_check(const char *path, size_t len) {
        if (len < 1 || len > FDBR_WIRE_PATH_MAX || path[0] != '/')
                return -EINVAL;
        if (memchr(path, 0, len))
                return -EINVAL;
        if (len == 1)
                return 0;
        if (path[len - 1] == '/')
                return -EINVAL;

        /* Every component lies between a '/' and the next '/' or the end. */
        for (size_t i = 0; i < len;) {
                size_t start = i + 1, end = start;

                while (end < len && path[end] != '/')
                        end++;
                size_t n = end - start;
                if (n == 0)
                        return -EINVAL; /* "//" */
                if (path[start] == '.' && (n == 1 || (n == 2 && path[start + 1] == '.')))
                        return -EINVAL;
                i = end;
        }
        return 0;
}

int wire_request_decode(const void *buf, size_t len, struct wire_request *ret) {
        const uint8_t *p = buf;
        int r;

        if (len < FDBR_WIRE_HEADER_SIZE || memcmp(p + OFF_MAGIC, FDBR_WIRE_MAGIC, 4) != 0)
                return -EPROTO;
        if (get16(p + OFF_VERSION) != FDBR_WIRE_VERSION)
                return -EPROTONOSUPPORT;

        struct wire_request req = {
                .op = get16(p + OFF_OP),
                .id = get32(p + OFF_ID),
                .flags = get32(p + OFF_FLAGS),
                .mode = get32(p + OFF_MODE),
                .path_len = get32(p + OFF_PATH_LEN),
                .path = (const char *) p + FDBR_WIRE_HEADER_SIZE,
        };

        if (req.path_len != len - FDBR_WIRE_HEADER_SIZE)
                return -EINVAL;

        switch (req.op) {
        case FDBR_OP_PING:
                if (req.flags != 0 || req.mode != 0 || req.path_len != 0)
                        return -EINVAL;
                break;
        case FDBR_OP_OPEN:
        case FDBR_OP_CHECK:
                r = wire_flags_check(req.flags, req.mode);
                if (r < 0)
                        return r;
                r = wire_path_check(req.path, req.path_len);
                if (r < 0)
                        return r;
                break;
        default:
                return -EINVAL;
        }

        *ret = req;
        return 0;
}

void wire_reply_encode(void *buf, const struct wire_reply *r) {
        uint8_t *p = buf;

        put_header(p, r->op, r->id);
        put32(p + OFF_STATUS, r->status);
        put32(p + OFF_NFDS, r->nfds);
        put32(p + OFF_RESERVED, 0);
}

int wire_reply_decode(const void *buf, size_t len, struct wire_reply *ret) {
        const uint8_t *p = buf;

        if (len != FDBR_WIRE_REPLY_SIZE || memcmp(p + OFF_MAGIC, FDBR_WIRE_MAGIC, 4) != 0 ||
            get16(p + OFF_VERSION) != FDBR_WIRE_VERSION || get32(p + OFF_RESERVED) != 0)
                return -EBADMSG;

        struct wire_reply r = {
                .op = get16(p + OFF_OP),
                .id = get32(p + OFF_ID),
                .status = get32(p + OFF_STATUS),
                .nfds = get32(p + OFF_NFDS),
        };
        /* A descriptor only ever comes with success. */
        if (r.nfds > 1 || (r.nfds == 1 && r.status != 0))
                return -EBADMSG;

        *ret = r;
        return 0;
}

const char *wire_op_name(uint16_t op) {
        switch (op) {
        case FDBR_OP_PING:
                return "PING";
        case FDBR_OP_OPEN:
                return "OPEN";
        case FDBR_OP_CHECK:
                return "CHECK";
        default:
                return "?";
        }
}

const char *wire_flags_format(uint32_t flags, char *buf, size_t size) {
        static const char *const names[] = {
                "READ", "WRITE", "CREATE", "EXCL", "TRUNC", "APPEND", "DIRECTORY", "NOFOLLOW",
        };
        size_t n = 0;

        if (size == 0)
                return buf;
        buf[0] = 0;
        for (unsigned i = 0; i < ELEMENTSOF(names); i++) {
                if (!(flags & (1u << i)))
                        continue;
                int k = snprintf(buf + n, size - n, "%s%s", n ? "|" : "", names[i]);
                if (k < 0 || (size_t) k >= size - n) {
                        buf[n] = 0; /* whole names only */
                        return buf;
                }
                n += (size_t) k;
        }
        if (flags & ~(uint32_t) FDBR_F_ALL)
                (void) snprintf(buf + n, size - n, "%s0x%x", n ? "|" : "", flags & ~(uint32_t) FDBR_F_ALL);
        else if (n == 0)
                (void) snprintf(buf, size, "-");
        return buf;
}
