/* SPDX-License-Identifier: MIT */
#include "wire.h"

#include "macro.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>

/* memcpy keeps unaligned access defined; compilers turn it into plain loads. */
static uint16_t get16(const uint8_t *p) { uint16_t v; memcpy(&v, p, sizeof v); return v; }
static uint32_t get32(const uint8_t *p) { uint32_t v; memcpy(&v, p, sizeof v); return v; }
static void put16(uint8_t *p, uint16_t v) { memcpy(p, &v, sizeof v); }
static void put32(uint8_t *p, uint32_t v) { memcpy(p, &v, sizeof v); }

static void put_header(uint8_t *p, uint16_t op, uint32_t id) {
        memcpy(p + FDBR_WIRE_OFF_MAGIC, FDBR_WIRE_MAGIC, 4);
        put16(p + FDBR_WIRE_OFF_VERSION, FDBR_WIRE_VERSION);
        put16(p + FDBR_WIRE_OFF_OP, op);
        put32(p + FDBR_WIRE_OFF_ID, id);
}

int wire_request_encode(void *buf, size_t size, uint16_t op, uint32_t id, uint32_t flags,
                        uint32_t mode, const char *path, size_t path_len) {
        uint8_t *p = buf;

        if (path_len > (op == FDBR_OP_RENAME ? FDBR_WIRE_PATHS_MAX : FDBR_WIRE_PATH_MAX))
                return -EINVAL;
        if (size < FDBR_WIRE_HEADER_SIZE + path_len)
                return -ENOBUFS;

        put_header(p, op, id);
        put32(p + FDBR_WIRE_OFF_FLAGS, flags);
        put32(p + FDBR_WIRE_OFF_MODE, mode);
        put32(p + FDBR_WIRE_OFF_PATH_LEN, (uint32_t) path_len);
        if (path_len > 0)
                memcpy(p + FDBR_WIRE_OFF_PATH, path, path_len);
        return (int) (FDBR_WIRE_HEADER_SIZE + path_len);
}

void wire_request_echo(const void *buf, size_t len, uint16_t *ret_op, uint32_t *ret_id) {
        const uint8_t *p = buf;

        *ret_op = len >= FDBR_WIRE_OFF_OP + 2 ? get16(p + FDBR_WIRE_OFF_OP) : 0;
        *ret_id = len >= FDBR_WIRE_OFF_ID + 4 ? get32(p + FDBR_WIRE_OFF_ID) : 0;
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

int wire_rename_split(const char *paths, size_t len, size_t *ret_src_len) {
        const char *nul = len > 0 ? memchr(paths, 0, len) : NULL;
        if (!nul)
                return -EINVAL;

        size_t src_len = (size_t) (nul - paths);
        /* wire_path_check() refuses a second NUL in dst. */
        if (wire_path_check(paths, src_len) < 0 ||
            wire_path_check(nul + 1, len - src_len - 1) < 0)
                return -EINVAL;
        *ret_src_len = src_len;
        return 0;
}

int wire_request_check(uint16_t op, uint32_t flags, uint32_t mode, const char *path, size_t path_len) {
        size_t src_len;

        switch (op) {
        case FDBR_OP_PING:
        case FDBR_OP_STATUS:
        case FDBR_OP_GRANTS:
                return flags == 0 && mode == 0 && path_len == 0 ? 0 : -EINVAL;
        case FDBR_OP_OPEN:
        case FDBR_OP_CHECK:
                if (wire_flags_check(flags, mode) < 0)
                        return -EINVAL;
                return wire_path_check(path, path_len);
        case FDBR_OP_STAT:
                if ((flags & ~(uint32_t) FDBR_F_NOFOLLOW) || mode != 0)
                        return -EINVAL;
                return wire_path_check(path, path_len);
        case FDBR_OP_READLINK:
        case FDBR_OP_UNLINK:
        case FDBR_OP_RMDIR:
                if (flags != 0 || mode != 0)
                        return -EINVAL;
                return wire_path_check(path, path_len);
        case FDBR_OP_MKDIR:
                if (flags != 0 || (mode & ~(uint32_t) 0777))
                        return -EINVAL;
                return wire_path_check(path, path_len);
        case FDBR_OP_RENAME:
                if ((flags & ~(uint32_t) FDBR_F_EXCL) || mode != 0 || path_len > FDBR_WIRE_PATHS_MAX)
                        return -EINVAL;
                return wire_rename_split(path, path_len, &src_len);
        default:
                return -EINVAL;
        }
}

/* What every record starts with: the magic (else -EPROTO: not ours),
 * this version (-EPROTONOSUPPORT), op and id, and the length of what
 * follows the header, which must be the rest of the record (-EINVAL). */
static int get_record(const uint8_t *p, size_t len, uint16_t *ret_op, uint32_t *ret_id, uint32_t *ret_tail_len) {
        _Static_assert(FDBR_WIRE_OFF_PATH_LEN == FDBR_WIRE_OFF_DATA_LEN, "one length word for both directions");

        if (len < FDBR_WIRE_HEADER_SIZE || memcmp(p + FDBR_WIRE_OFF_MAGIC, FDBR_WIRE_MAGIC, 4) != 0)
                return -EPROTO;
        if (get16(p + FDBR_WIRE_OFF_VERSION) != FDBR_WIRE_VERSION)
                return -EPROTONOSUPPORT;
        uint32_t tail = get32(p + FDBR_WIRE_OFF_DATA_LEN);
        if (tail != len - FDBR_WIRE_HEADER_SIZE)
                return -EINVAL;
        *ret_op = get16(p + FDBR_WIRE_OFF_OP);
        *ret_id = get32(p + FDBR_WIRE_OFF_ID);
        *ret_tail_len = tail;
        return 0;
}

int wire_request_decode(const void *buf, size_t len, struct wire_request *ret) {
        const uint8_t *p = buf;
        struct wire_request req = { .path = (const char *) p + FDBR_WIRE_OFF_PATH };

        int r = get_record(p, len, &req.op, &req.id, &req.path_len);
        if (r < 0)
                return r;
        req.flags = get32(p + FDBR_WIRE_OFF_FLAGS);
        req.mode = get32(p + FDBR_WIRE_OFF_MODE);

        r = wire_request_check(req.op, req.flags, req.mode, req.path, req.path_len);
        if (r < 0)
                return r;

        *ret = req;
        return 0;
}

size_t wire_reply_data_max(uint16_t op) {
        switch (op) {
        case FDBR_OP_STAT:
                return FDBR_WIRE_STATX_SIZE;
        case FDBR_OP_READLINK:
                return FDBR_WIRE_PATH_MAX;
        case FDBR_OP_STATUS:
        case FDBR_OP_GRANTS:
                return FDBR_WIRE_TEXT_MAX;
        default:
                return 0;
        }
}

size_t wire_reply_encode(void *buf, const struct wire_reply *r) {
        uint8_t *p = buf;

        put_header(p, r->op, r->id);
        put32(p + FDBR_WIRE_OFF_STATUS, r->status);
        put32(p + FDBR_WIRE_OFF_NFDS, r->nfds);
        put32(p + FDBR_WIRE_OFF_DATA_LEN, r->data_len);
        if (r->data_len > 0)
                memcpy(p + FDBR_WIRE_OFF_DATA, r->data, r->data_len);
        return FDBR_WIRE_HEADER_SIZE + (size_t) r->data_len;
}

int wire_reply_decode(const void *buf, size_t len, struct wire_reply *ret) {
        const uint8_t *p = buf;
        struct wire_reply r = { .data = p + FDBR_WIRE_OFF_DATA };

        if (get_record(p, len, &r.op, &r.id, &r.data_len) < 0)
                return -EBADMSG;
        r.status = get32(p + FDBR_WIRE_OFF_STATUS);
        r.nfds = get32(p + FDBR_WIRE_OFF_NFDS);
        /* A descriptor only ever comes with success. */
        if (r.nfds > 1 || (r.nfds == 1 && r.status != 0))
                return -EBADMSG;
        /* So does data, and never more than the op has to say. */
        if (r.data_len > 0 && (r.status != 0 || r.data_len > wire_reply_data_max(r.op)))
                return -EBADMSG;
        /* A statx is all there or not at all. */
        if (r.op == FDBR_OP_STAT && r.status == 0 && r.data_len != FDBR_WIRE_STATX_SIZE)
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
        case FDBR_OP_STAT:
                return "STAT";
        case FDBR_OP_READLINK:
                return "READLINK";
        case FDBR_OP_MKDIR:
                return "MKDIR";
        case FDBR_OP_UNLINK:
                return "UNLINK";
        case FDBR_OP_RMDIR:
                return "RMDIR";
        case FDBR_OP_RENAME:
                return "RENAME";
        case FDBR_OP_STATUS:
                return "STATUS";
        case FDBR_OP_GRANTS:
                return "GRANTS";
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
