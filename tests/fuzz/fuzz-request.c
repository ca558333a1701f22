/* SPDX-License-Identifier: MIT */
/* Arbitrary records against the wire decoders.  Every answer is compared
 * with the contract's tables written out a second time here, independently
 * of wire.c: a record the broker misjudges is as much a bug as a crash. */

#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz.h"
#include "wire.h"

static uint16_t get16(const uint8_t *p) {
        uint16_t v;

        memcpy(&v, p, sizeof v);
        return v;
}

static uint32_t get32(const uint8_t *p) {
        uint32_t v;

        memcpy(&v, p, sizeof v);
        return v;
}

/* Absolute and canonical, component by component. */
static bool ref_path_ok(const uint8_t *p, size_t len) {
        if (len < 1 || len > 4095 || p[0] != '/' || memchr(p, 0, len))
                return false;
        if (len == 1)
                return true;
        for (size_t start = 1;;) {
                const uint8_t *slash = memchr(p + start, '/', len - start);
                size_t end = slash ? (size_t) (slash - p) : len;
                size_t n = end - start;

                if (n == 0)
                        return false; /* "//" or a trailing '/' */
                if (p[start] == '.' && (n == 1 || (n == 2 && p[start + 1] == '.')))
                        return false;
                if (end == len)
                        return true;
                start = end + 1;
        }
}

static bool ref_flags_ok(uint32_t flags, uint32_t mode) {
        return (flags & ~0xffu) == 0 && (flags & (0x01 | 0x02 | 0x40)) != 0 &&
               (!(flags & 0x08) || (flags & 0x04)) && (mode & ~0777u) == 0 &&
               (mode == 0 || (flags & 0x04));
}

/* RENAME's path area: two good paths and exactly one NUL between them. */
static bool ref_rename_ok(const uint8_t *p, size_t len) {
        const uint8_t *nul = len > 0 ? memchr(p, 0, len) : NULL;
        if (!nul || len > 8191)
                return false;
        size_t src = (size_t) (nul - p);
        return ref_path_ok(p, src) && ref_path_ok(nul + 1, len - src - 1);
}

static int ref_request(const uint8_t *p, size_t len) {
        if (len < 24 || memcmp(p, "FDB1", 4) != 0)
                return -EPROTO;
        if (get16(p + 4) != 1)
                return -EPROTONOSUPPORT;

        uint16_t op = get16(p + 6);
        uint32_t flags = get32(p + 12), mode = get32(p + 16), path_len = get32(p + 20);
        const uint8_t *path = p + 24;
        bool ok;

        if (path_len != len - 24)
                return -EINVAL;
        switch (op) {
        case 1:  /* PING */
        case 10: /* STATUS */
        case 11: /* GRANTS */
                ok = flags == 0 && mode == 0 && path_len == 0;
                break;
        case 2: /* OPEN */
        case 3: /* CHECK */
                ok = ref_flags_ok(flags, mode) && ref_path_ok(path, path_len);
                break;
        case 4: /* STAT */
                ok = (flags & ~0x80u) == 0 && mode == 0 && ref_path_ok(path, path_len);
                break;
        case 5: /* READLINK */
        case 7: /* UNLINK */
        case 8: /* RMDIR */
                ok = flags == 0 && mode == 0 && ref_path_ok(path, path_len);
                break;
        case 6: /* MKDIR */
                ok = flags == 0 && (mode & ~0777u) == 0 && ref_path_ok(path, path_len);
                break;
        case 9: /* RENAME */
                ok = (flags & ~0x08u) == 0 && mode == 0 && ref_rename_ok(path, path_len);
                break;
        default:
                ok = false;
        }
        return ok ? 0 : -EINVAL;
}

static uint32_t ref_data_max(uint16_t op) {
        switch (op) {
        case 4:
                return 256;
        case 5:
                return 4095;
        case 10:
        case 11:
                return 65536;
        default:
                return 0;
        }
}

static int ref_reply(const uint8_t *p, size_t len) {
        if (len < 24 || memcmp(p, "FDB1", 4) != 0 || get16(p + 4) != 1)
                return -EBADMSG;
        uint16_t op = get16(p + 6);
        uint32_t status = get32(p + 12), nfds = get32(p + 16), data_len = get32(p + 20);
        if (data_len != len - 24)
                return -EBADMSG;
        if (nfds > 1 || (nfds == 1 && status != 0))
                return -EBADMSG;
        if (data_len > 0 && (status != 0 || data_len > ref_data_max(op)))
                return -EBADMSG;
        if (op == 4 && status == 0 && data_len != 256)
                return -EBADMSG;
        return 0;
}

static void check_request(const uint8_t *data, size_t size) {
        struct wire_request req;
        uint16_t op;
        uint32_t id;

        /* Poisoned, so that a field a successful decode forgets to set is
         * noticed below. */
        memset(&req, 0xa5, sizeof req);
        int r = wire_request_decode(data, size, &req);
        FUZZ_CHECK(r == ref_request(data, size));

        wire_request_echo(data, size, &op, &id);
        FUZZ_CHECK(op == (size >= 8 ? get16(data + FDBR_WIRE_OFF_OP) : 0));
        FUZZ_CHECK(id == (size >= 12 ? get32(data + FDBR_WIRE_OFF_ID) : 0));

        if (r < 0)
                return;

        FUZZ_CHECK(req.op >= FDBR_OP_PING && req.op <= FDBR_OP_MAX);
        FUZZ_CHECK(req.op == op && req.id == id);
        FUZZ_CHECK(req.path_len == size - FDBR_WIRE_HEADER_SIZE);
        FUZZ_CHECK(req.path == (const char *) data + FDBR_WIRE_OFF_PATH);
        FUZZ_CHECK(wire_request_check(req.op, req.flags, req.mode, req.path, req.path_len) == 0);
        if (req.op == FDBR_OP_PING || req.op == FDBR_OP_STATUS || req.op == FDBR_OP_GRANTS) {
                FUZZ_CHECK(req.flags == 0 && req.mode == 0 && req.path_len == 0);
        } else if (req.op == FDBR_OP_RENAME) {
                size_t src_len;
                FUZZ_CHECK(wire_rename_split(req.path, req.path_len, &src_len) == 0);
                FUZZ_CHECK(src_len < req.path_len && req.path[src_len] == 0);
        } else {
                FUZZ_CHECK(wire_path_check(req.path, req.path_len) == 0);
                if (req.op == FDBR_OP_OPEN || req.op == FDBR_OP_CHECK)
                        FUZZ_CHECK(wire_flags_check(req.flags, req.mode) == 0);
        }

        /* Exactly the record's size: ASan sees any write past it. */
        uint8_t *buf = malloc(size);
        FUZZ_CHECK(buf);
        int n = wire_request_encode(buf, size, req.op, req.id, req.flags, req.mode, req.path,
                                    req.path_len);
        FUZZ_CHECK(n >= 0 && (size_t) n == size);
        FUZZ_CHECK(memcmp(buf, data, size) == 0);
        n = wire_request_encode(buf, size - 1, req.op, req.id, req.flags, req.mode, req.path,
                                req.path_len);
        FUZZ_CHECK(n == -ENOBUFS);
        free(buf);
}

static void check_reply(const uint8_t *data, size_t size) {
        struct wire_reply rep;

        memset(&rep, 0xa5, sizeof rep);
        int r = wire_reply_decode(data, size, &rep);
        FUZZ_CHECK(r == ref_reply(data, size));
        if (r < 0)
                return;

        FUZZ_CHECK(rep.op == get16(data + FDBR_WIRE_OFF_OP) && rep.id == get32(data + FDBR_WIRE_OFF_ID));
        FUZZ_CHECK(rep.status == get32(data + FDBR_WIRE_OFF_STATUS) &&
                   rep.nfds == get32(data + FDBR_WIRE_OFF_NFDS));
        FUZZ_CHECK(rep.data_len == size - FDBR_WIRE_HEADER_SIZE &&
                   rep.data == data + FDBR_WIRE_OFF_DATA);
        FUZZ_CHECK(rep.data_len <= wire_reply_data_max(rep.op));

        /* Exactly the record's size: ASan sees any write past it. */
        uint8_t *buf = malloc(size);
        FUZZ_CHECK(buf);
        FUZZ_CHECK(wire_reply_encode(buf, &rep) == size);
        FUZZ_CHECK(memcmp(buf, data, size) == 0);
        free(buf);
}

/* The whole input as a bare path and as flags: wire_path_check() and
 * wire_flags_check() are also called on their own by the client and the
 * daemon, not only through a decode. */
static void check_parts(const uint8_t *data, size_t size) {
        FUZZ_CHECK((wire_path_check((const char *) data, size) == 0) == ref_path_ok(data, size));

        if (size < 8)
                return;
        uint32_t flags = get32(data), mode = get32(data + 4);
        FUZZ_CHECK((wire_flags_check(flags, mode) == 0) == ref_flags_ok(flags, mode));
}

static void ref_flags_format(uint32_t flags, char *buf, size_t size) {
        static const char *const names[] = {
                "READ", "WRITE", "CREATE", "EXCL", "TRUNC", "APPEND", "DIRECTORY", "NOFOLLOW",
        };
        size_t n = 0;

        buf[0] = 0;
        for (unsigned i = 0; i < 8; i++)
                if (flags & (1u << i))
                        n += (size_t) snprintf(buf + n, size - n, "%s%s", n ? "|" : "", names[i]);
        if (flags & ~0xffu)
                n += (size_t) snprintf(buf + n, size - n, "%s0x%x", n ? "|" : "", flags & ~0xffu);
        if (n == 0)
                snprintf(buf, size, "-");
}

/* Formatting into every small size: the output must stay inside the
 * buffer (ASan watches the exact allocation) and be a prefix of the full
 * text. */
static void check_format(const uint8_t *data, size_t size) {
        uint32_t flags = size >= 16 ? get32(data + 12) : size >= 4 ? get32(data) : 0;
        char full[128], ref[128];

        FUZZ_CHECK(wire_flags_format(flags, full, sizeof full) == full);
        ref_flags_format(flags, ref, sizeof ref);
        FUZZ_CHECK(strcmp(full, ref) == 0);

        for (size_t n = 0; n <= strlen(full) + 1; n++) {
                char *buf = malloc(n ? n : 1);

                FUZZ_CHECK(buf);
                FUZZ_CHECK(wire_flags_format(flags, buf, n) == buf);
                if (n > 0) {
                        FUZZ_CHECK(memchr(buf, 0, n));
                        FUZZ_CHECK(strncmp(full, buf, strlen(buf)) == 0);
                }
                free(buf);
        }

        uint16_t op = size >= 8 ? get16(data + 6) : 0;
        static const char *const names[] = { "?", "PING", "OPEN", "CHECK", "STAT", "READLINK",
                                             "MKDIR", "UNLINK", "RMDIR", "RENAME", "STATUS", "GRANTS" };
        FUZZ_CHECK(strcmp(wire_op_name(op), op < 12 ? names[op] : "?") == 0);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        /* The daemon receives at most the longest request, the client the
         * longest reply; a little more covers every length check. */
        if (size > FDBR_WIRE_REPLY_MAX + 64)
                return -1;

        check_request(data, size);
        check_reply(data, size);
        check_parts(data, size);
        check_format(data, size);
        return 0;
}
