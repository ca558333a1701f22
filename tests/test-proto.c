/* SPDX-License-Identifier: MIT */
/* Unit tests of the wire format and of descriptor passing. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "macro.h"
#include "testutil.h"
#include "wire.h"

static size_t make_request(uint8_t *buf, uint16_t op, uint32_t id, uint32_t flags, uint32_t mode,
                           const char *path) {
        int n = wire_request_encode(buf, FDBR_WIRE_REQUEST_MAX, op, id, flags, mode, path,
                                    path ? strlen(path) : 0);
        ck_assert_int_gt(n, 0);
        return (size_t) n;
}

static int decode(const uint8_t *buf, size_t len) {
        struct wire_request req;
        return wire_request_decode(buf, len, &req);
}

START_TEST(request_roundtrip) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        size_t n = make_request(buf, FDBR_OP_OPEN, 0xdeadbeef, FDBR_F_READ | FDBR_F_CREATE, 0640,
                                "/srv/data/a.txt");
        struct wire_request req;

        ck_assert_uint_eq(n, 24 + 15);
        ck_assert_mem_eq(buf, "FDB1", 4);
        ck_assert_int_eq(wire_request_decode(buf, n, &req), 0);
        ck_assert_uint_eq(req.op, FDBR_OP_OPEN);
        ck_assert_uint_eq(req.id, 0xdeadbeef);
        ck_assert_uint_eq(req.flags, FDBR_F_READ | FDBR_F_CREATE);
        ck_assert_uint_eq(req.mode, 0640);
        ck_assert_uint_eq(req.path_len, 15);
        ck_assert_mem_eq(req.path, "/srv/data/a.txt", 15);
}
END_TEST

/* The byte layout is the contract: check it field by field, not only by
 * round trip, so that a symmetric encoder/decoder bug cannot hide. */
START_TEST(request_layout) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        make_request(buf, FDBR_OP_CHECK, 7, FDBR_F_WRITE, 0, "/x");
        uint16_t v16;
        uint32_t v32;

        memcpy(&v16, buf + 4, 2);
        ck_assert_uint_eq(v16, 1);
        memcpy(&v16, buf + 6, 2);
        ck_assert_uint_eq(v16, 3);
        memcpy(&v32, buf + 8, 4);
        ck_assert_uint_eq(v32, 7);
        memcpy(&v32, buf + 12, 4);
        ck_assert_uint_eq(v32, 2);
        memcpy(&v32, buf + 16, 4);
        ck_assert_uint_eq(v32, 0);
        memcpy(&v32, buf + 20, 4);
        ck_assert_uint_eq(v32, 2);
        ck_assert_mem_eq(buf + 24, "/x", 2);
}
END_TEST

START_TEST(request_malformed) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX + 16];
        size_t n;

        /* short record and bad magic: EPROTO */
        n = make_request(buf, FDBR_OP_PING, 1, 0, 0, NULL);
        ck_assert_int_eq(decode(buf, 23), -EPROTO);
        ck_assert_int_eq(decode(buf, 0), -EPROTO);
        buf[3] = '2';
        ck_assert_int_eq(decode(buf, n), -EPROTO);

        n = make_request(buf, FDBR_OP_PING, 1, 0, 0, NULL);
        ck_assert_int_eq(decode(buf, n), 0);
        uint16_t v = 2;
        memcpy(buf + 4, &v, 2);
        ck_assert_int_eq(decode(buf, n), -EPROTONOSUPPORT);

        /* unknown op */
        n = make_request(buf, FDBR_OP_MAX + 1, 1, 0, 0, NULL);
        ck_assert_int_eq(decode(buf, n), -EINVAL);
        n = make_request(buf, 0, 1, 0, 0, NULL);
        ck_assert_int_eq(decode(buf, n), -EINVAL);

        /* PING with anything set */
        n = make_request(buf, FDBR_OP_PING, 1, FDBR_F_READ, 0, NULL);
        ck_assert_int_eq(decode(buf, n), -EINVAL);
        n = make_request(buf, FDBR_OP_PING, 1, 0, 0644, NULL);
        ck_assert_int_eq(decode(buf, n), -EINVAL);
        n = make_request(buf, FDBR_OP_PING, 1, 0, 0, "/a");
        ck_assert_int_eq(decode(buf, n), -EINVAL);

        /* path_len not equal to the record's remainder, both ways */
        n = make_request(buf, FDBR_OP_OPEN, 1, FDBR_F_READ, 0, "/etc/hosts");
        ck_assert_int_eq(decode(buf, n - 1), -EINVAL);
        buf[n] = 'x';
        ck_assert_int_eq(decode(buf, n + 1), -EINVAL);
        ck_assert_int_eq(decode(buf, n), 0);

        /* OPEN with empty path */
        n = make_request(buf, FDBR_OP_OPEN, 1, FDBR_F_READ, 0, "");
        ck_assert_int_eq(decode(buf, n), -EINVAL);
}
END_TEST

START_TEST(flags_rules) {
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ, 0), 0);
        ck_assert_int_eq(wire_flags_check(FDBR_F_WRITE, 0), 0);
        ck_assert_int_eq(wire_flags_check(FDBR_F_DIRECTORY, 0), 0);
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ | FDBR_F_CREATE, 0600), 0);
        ck_assert_int_eq(wire_flags_check(FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0777), 0);
        ck_assert_int_eq(wire_flags_check(FDBR_F_ALL, 0), 0);

        ck_assert_int_eq(wire_flags_check(0, 0), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_CREATE, 0), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_TRUNC | FDBR_F_APPEND | FDBR_F_NOFOLLOW, 0), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ | 0x100, 0), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ | 0x80000000u, 0), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ | FDBR_F_EXCL, 0), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ, 0644), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ | FDBR_F_CREATE, 01644), -EINVAL);
        ck_assert_int_eq(wire_flags_check(FDBR_F_READ | FDBR_F_CREATE, 04755), -EINVAL);
}
END_TEST

START_TEST(path_rules) {
        static const char *const good[] = {
                "/", "/a", "/etc/hosts", "/a/b/c", "/...", "/a/.b", "/a/..b", "/a/b.", "/ x/y ",
        };
        static const char *const bad[] = {
                "", "a", "./a", "//", "/a/", "/a//b", "//a", "/.", "/..", "/a/.", "/a/..",
                "/a/./b", "/a/../b", "/a/b/",
        };

        for (size_t i = 0; i < ELEMENTSOF(good); i++)
                ck_assert_msg(wire_path_check(good[i], strlen(good[i])) == 0, "%s", good[i]);
        for (size_t i = 0; i < ELEMENTSOF(bad); i++)
                ck_assert_msg(wire_path_check(bad[i], strlen(bad[i])) == -EINVAL, "%s", bad[i]);

        ck_assert_int_eq(wire_path_check("/a\0b", 4), -EINVAL);

        char longp[FDBR_WIRE_PATH_MAX + 2];
        memset(longp, 'a', sizeof longp);
        longp[0] = '/';
        for (size_t i = 200; i < sizeof longp; i += 200)
                longp[i] = '/';
        ck_assert_int_eq(wire_path_check(longp, FDBR_WIRE_PATH_MAX), 0);
        ck_assert_int_eq(wire_path_check(longp, FDBR_WIRE_PATH_MAX + 1), -EINVAL);
}
END_TEST

START_TEST(echo_fields) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        uint16_t op;
        uint32_t id;

        make_request(buf, FDBR_OP_OPEN, 0x01020304, 0, 0, NULL);
        wire_request_echo(buf, 24, &op, &id);
        ck_assert_uint_eq(op, FDBR_OP_OPEN);
        ck_assert_uint_eq(id, 0x01020304);
        wire_request_echo(buf, 12, &op, &id);
        ck_assert_uint_eq(id, 0x01020304);
        wire_request_echo(buf, 11, &op, &id);
        ck_assert_uint_eq(id, 0);
        ck_assert_uint_eq(op, FDBR_OP_OPEN);
        wire_request_echo(buf, 7, &op, &id);
        ck_assert_uint_eq(op, 0);
}
END_TEST

START_TEST(reply_roundtrip) {
        uint8_t buf[FDBR_WIRE_REPLY_SIZE + 1];
        struct wire_reply r = { .op = FDBR_OP_OPEN, .id = 42, .status = 0, .nfds = 1 }, out;
        uint32_t v32;

        wire_reply_encode(buf, &r);
        ck_assert_mem_eq(buf, "FDB1", 4);
        memcpy(&v32, buf + 16, 4);
        ck_assert_uint_eq(v32, 1);
        memcpy(&v32, buf + 20, 4);
        ck_assert_uint_eq(v32, 0);
        ck_assert_int_eq(wire_reply_decode(buf, 24, &out), 0);
        ck_assert_uint_eq(out.id, 42);
        ck_assert_uint_eq(out.nfds, 1);
        ck_assert_int_eq(wire_reply_decode(buf, 23, &out), -EBADMSG);
        ck_assert_int_eq(wire_reply_decode(buf, 25, &out), -EBADMSG);

        /* a descriptor announced with an error status is a broken reply */
        r.status = EACCES;
        wire_reply_encode(buf, &r);
        ck_assert_int_eq(wire_reply_decode(buf, 24, &out), -EBADMSG);
        r.nfds = 2, r.status = 0;
        wire_reply_encode(buf, &r);
        ck_assert_int_eq(wire_reply_decode(buf, 24, &out), -EBADMSG);
        r.nfds = 0;
        wire_reply_encode(buf, &r);
        buf[20] = 1;
        ck_assert_int_eq(wire_reply_decode(buf, 24, &out), -EBADMSG);
}
END_TEST

/* The offsets every encoder, decoder and test uses are the contract's. */
START_TEST(field_offsets) {
        ck_assert_int_eq(FDBR_WIRE_OFF_MAGIC, 0);
        ck_assert_int_eq(FDBR_WIRE_OFF_VERSION, 4);
        ck_assert_int_eq(FDBR_WIRE_OFF_OP, 6);
        ck_assert_int_eq(FDBR_WIRE_OFF_ID, 8);
        ck_assert_int_eq(FDBR_WIRE_OFF_FLAGS, 12);
        ck_assert_int_eq(FDBR_WIRE_OFF_MODE, 16);
        ck_assert_int_eq(FDBR_WIRE_OFF_PATH_LEN, 20);
        ck_assert_int_eq(FDBR_WIRE_OFF_PATH, 24);
        ck_assert_int_eq(FDBR_WIRE_OFF_STATUS, 12);
        ck_assert_int_eq(FDBR_WIRE_OFF_NFDS, 16);
        ck_assert_int_eq(FDBR_WIRE_OFF_DATA_LEN, 20);
        ck_assert_int_eq(FDBR_WIRE_OFF_DATA, 24);
        ck_assert_int_eq(FDBR_WIRE_REQUEST_MAX, 24 + 8191);
        ck_assert_int_eq(FDBR_OP_STAT, 4);
        ck_assert_int_eq(FDBR_OP_READLINK, 5);
        ck_assert_int_eq(FDBR_OP_MKDIR, 6);
        ck_assert_int_eq(FDBR_OP_UNLINK, 7);
        ck_assert_int_eq(FDBR_OP_RMDIR, 8);
        ck_assert_int_eq(FDBR_OP_RENAME, 9);
        ck_assert_int_eq(FDBR_OP_STATUS, 10);
        ck_assert_int_eq(FDBR_OP_GRANTS, 11);
}
END_TEST

/* The contract's table of ops: which flags and mode each takes, and what
 * its path area must be. */
static const struct op_case {
        uint16_t op;
        uint32_t flags, mode;
        const char *path; /* NULL: none; RENAME: '|' stands for the NUL */
        int expect;
} op_cases[] = {
        { FDBR_OP_STAT, 0, 0, "/a", 0 },
        { FDBR_OP_STAT, FDBR_F_NOFOLLOW, 0, "/a", 0 },
        { FDBR_OP_STAT, FDBR_F_READ, 0, "/a", -EINVAL },
        { FDBR_OP_STAT, FDBR_F_DIRECTORY, 0, "/a", -EINVAL },
        { FDBR_OP_STAT, 0, 0644, "/a", -EINVAL },
        { FDBR_OP_STAT, 0, 0, NULL, -EINVAL },
        { FDBR_OP_STAT, 0, 0, "a", -EINVAL },
        { FDBR_OP_STAT, 0, 0, "/a/", -EINVAL },
        { FDBR_OP_READLINK, 0, 0, "/l", 0 },
        { FDBR_OP_READLINK, FDBR_F_NOFOLLOW, 0, "/l", -EINVAL },
        { FDBR_OP_READLINK, 0, 0, "/l/..", -EINVAL },
        { FDBR_OP_MKDIR, 0, 0, "/d", 0 },
        { FDBR_OP_MKDIR, 0, 0777, "/d", 0 },
        { FDBR_OP_MKDIR, 0, 01777, "/d", -EINVAL },
        { FDBR_OP_MKDIR, FDBR_F_CREATE, 0755, "/d", -EINVAL },
        { FDBR_OP_MKDIR, FDBR_F_DIRECTORY, 0, "/d", -EINVAL },
        { FDBR_OP_UNLINK, 0, 0, "/f", 0 },
        { FDBR_OP_UNLINK, 0, 0600, "/f", -EINVAL },
        { FDBR_OP_UNLINK, FDBR_F_WRITE, 0, "/f", -EINVAL },
        { FDBR_OP_RMDIR, 0, 0, "/d", 0 },
        { FDBR_OP_RMDIR, FDBR_F_DIRECTORY, 0, "/d", -EINVAL },
        { FDBR_OP_RMDIR, 0, 0, "//d", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "/a|/b", 0 },
        { FDBR_OP_RENAME, FDBR_F_EXCL, 0, "/a|/b", 0 },
        { FDBR_OP_RENAME, FDBR_F_CREATE | FDBR_F_EXCL, 0, "/a|/b", -EINVAL },
        { FDBR_OP_RENAME, FDBR_F_NOFOLLOW, 0, "/a|/b", -EINVAL },
        { FDBR_OP_RENAME, 0, 0644, "/a|/b", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "/a", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "/a|", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "|/b", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "/a|/b|", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "/a|/b|/c", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "/a|b", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, "/a/.|/b", -EINVAL },
        { FDBR_OP_RENAME, 0, 0, NULL, -EINVAL },
        { FDBR_OP_STATUS, 0, 0, NULL, 0 },
        { FDBR_OP_STATUS, 0, 0, "/", -EINVAL },
        { FDBR_OP_STATUS, FDBR_F_READ, 0, NULL, -EINVAL },
        { FDBR_OP_GRANTS, 0, 0, NULL, 0 },
        { FDBR_OP_GRANTS, 0, 1, NULL, -EINVAL },
        { FDBR_OP_GRANTS, 0, 0, "/", -EINVAL },
        { FDBR_OP_MAX + 1, 0, 0, "/a", -EINVAL },
        { 0xffff, 0, 0, NULL, -EINVAL },
};

START_TEST(new_ops) {
        const struct op_case *c = &op_cases[_i];
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        char path[64] = "";
        size_t len = 0;

        if (c->path) {
                len = strlen(c->path);
                memcpy(path, c->path, len);
                for (size_t k = 0; k < len; k++)
                        if (path[k] == '|')
                                path[k] = 0;
        }
        int n = wire_request_encode(buf, sizeof buf, c->op, 5, c->flags, c->mode, path, len);
        ck_assert_int_eq(n, 24 + (int) len);

        struct wire_request req;
        ck_assert_msg(wire_request_decode(buf, (size_t) n, &req) == c->expect, "case %d", _i);
        ck_assert_int_eq(wire_request_check(c->op, c->flags, c->mode, path, len), c->expect);
        if (c->expect == 0) {
                ck_assert_uint_eq(req.op, c->op);
                ck_assert_uint_eq(req.path_len, len);
        }
}
END_TEST

START_TEST(rename_lengths) {
        static char buf[FDBR_WIRE_REQUEST_MAX + 2];
        static char paths[FDBR_WIRE_PATHS_MAX + 2];
        size_t src_len;

        /* Two paths of 4095 bytes each: the longest RENAME. */
        memset(paths, 'a', sizeof paths);
        paths[0] = '/';
        paths[FDBR_WIRE_PATH_MAX] = 0;
        paths[FDBR_WIRE_PATH_MAX + 1] = '/';
        ck_assert_int_eq(wire_rename_split(paths, FDBR_WIRE_PATHS_MAX, &src_len), 0);
        ck_assert_uint_eq(src_len, FDBR_WIRE_PATH_MAX);
        int n = wire_request_encode(buf, sizeof buf, FDBR_OP_RENAME, 1, 0, 0, paths, FDBR_WIRE_PATHS_MAX);
        ck_assert_int_eq(n, FDBR_WIRE_REQUEST_MAX);
        ck_assert_int_eq(decode((uint8_t *) buf, (size_t) n), 0);

        /* One byte more is too much, as a whole and for dst. */
        ck_assert_int_eq(wire_request_encode(buf, sizeof buf, FDBR_OP_RENAME, 1, 0, 0, paths,
                                             FDBR_WIRE_PATHS_MAX + 1),
                         -EINVAL);
        ck_assert_int_eq(wire_rename_split(paths, FDBR_WIRE_PATHS_MAX + 1, &src_len), -EINVAL);
        /* src too long by one, dst short */
        paths[FDBR_WIRE_PATH_MAX] = 'a';
        paths[FDBR_WIRE_PATH_MAX + 1] = 0;
        paths[FDBR_WIRE_PATH_MAX + 2] = '/';
        ck_assert_int_eq(wire_rename_split(paths, FDBR_WIRE_PATH_MAX + 4, &src_len), -EINVAL);

        /* The other ops keep to 4095 bytes. */
        ck_assert_int_eq(wire_request_encode(buf, sizeof buf, FDBR_OP_STAT, 1, 0, 0, paths,
                                             FDBR_WIRE_PATH_MAX + 1),
                         -EINVAL);
}
END_TEST

static int reply_with(uint8_t *buf, uint16_t op, uint32_t status, const void *data, uint32_t data_len,
                      struct wire_reply *out) {
        struct wire_reply r = { .op = op, .id = 3, .status = status, .data_len = data_len, .data = data };
        size_t n = wire_reply_encode(buf, &r);

        ck_assert_uint_eq(n, 24 + (size_t) data_len);
        return wire_reply_decode(buf, n, out);
}

START_TEST(reply_data) {
        static uint8_t buf[FDBR_WIRE_REPLY_MAX + 16];
        static uint8_t data[FDBR_WIRE_TEXT_MAX + 1];
        struct wire_reply out;
        uint32_t v32;

        memset(data, 'x', sizeof data);

        /* STAT: exactly one statx, only on success */
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STAT, 0, data, 256, &out), 0);
        memcpy(&v32, buf + 20, 4);
        ck_assert_uint_eq(v32, 256);
        ck_assert_ptr_eq(out.data, buf + 24);
        ck_assert_uint_eq(out.data_len, 256);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STAT, 0, data, 255, &out), -EBADMSG);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STAT, 0, data, 257, &out), -EBADMSG);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STAT, 0, NULL, 0, &out), -EBADMSG);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STAT, ENOENT, NULL, 0, &out), 0);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STAT, ENOENT, data, 256, &out), -EBADMSG);

        /* READLINK: a target of at most 4095 bytes */
        ck_assert_int_eq(reply_with(buf, FDBR_OP_READLINK, 0, data, 4095, &out), 0);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_READLINK, 0, data, 4096, &out), -EBADMSG);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_READLINK, EINVAL, data, 1, &out), -EBADMSG);

        /* STATUS and GRANTS: text up to 64 KiB */
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STATUS, 0, data, FDBR_WIRE_TEXT_MAX, &out), 0);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STATUS, 0, data, FDBR_WIRE_TEXT_MAX + 1, &out), -EBADMSG);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_GRANTS, 0, data, FDBR_WIRE_TEXT_MAX, &out), 0);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_GRANTS, 0, data, FDBR_WIRE_TEXT_MAX + 1, &out), -EBADMSG);
        ck_assert_int_eq(reply_with(buf, FDBR_OP_STATUS, 0, NULL, 0, &out), 0);

        /* every other op: none */
        static const uint16_t none[] = { FDBR_OP_PING, FDBR_OP_OPEN, FDBR_OP_CHECK, FDBR_OP_MKDIR,
                                         FDBR_OP_UNLINK, FDBR_OP_RMDIR, FDBR_OP_RENAME, 0, 99 };
        for (size_t i = 0; i < ELEMENTSOF(none); i++) {
                ck_assert_int_eq(reply_with(buf, none[i], 0, NULL, 0, &out), 0);
                ck_assert_int_eq(reply_with(buf, none[i], 0, data, 1, &out), -EBADMSG);
        }

        /* data_len must be the record's remainder, exactly */
        size_t n = wire_reply_encode(buf, &(struct wire_reply) { .op = FDBR_OP_READLINK, .data_len = 3, .data = "/ab" });
        ck_assert_int_eq(wire_reply_decode(buf, n, &out), 0);
        ck_assert_int_eq(wire_reply_decode(buf, n - 1, &out), -EBADMSG);
        ck_assert_int_eq(wire_reply_decode(buf, n + 1, &out), -EBADMSG);
        v32 = 0xffffffffu;
        memcpy(buf + 20, &v32, 4);
        ck_assert_int_eq(wire_reply_decode(buf, n, &out), -EBADMSG);
}
END_TEST

START_TEST(op_names) {
        static const char *const names[] = { "?", "PING", "OPEN", "CHECK", "STAT", "READLINK", "MKDIR",
                                             "UNLINK", "RMDIR", "RENAME", "STATUS", "GRANTS", "?" };
        for (unsigned i = 0; i < ELEMENTSOF(names); i++)
                ck_assert_str_eq(wire_op_name((uint16_t) i), names[i]);
}
END_TEST

START_TEST(flags_format) {
        char buf[128];
        ck_assert_str_eq(wire_flags_format(FDBR_F_READ | FDBR_F_NOFOLLOW, buf, sizeof buf), "READ|NOFOLLOW");
        ck_assert_str_eq(wire_flags_format(0, buf, sizeof buf), "-");
        ck_assert_str_eq(wire_flags_format(FDBR_F_WRITE | 0x100, buf, sizeof buf), "WRITE|0x100");
        ck_assert_str_eq(wire_flags_format(FDBR_F_ALL, buf, 8), "READ");
}
END_TEST

/* ---- descriptor passing ------------------------------------------------ */

static void make_pair(int sv[2]) {
        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv), 0);
}

/* The next record on sock has its control data refused, and whatever
 * descriptors it carried are closed: the count is back to before. */
static void expect_refused(int sock, bool want_fd, int before) {
        char buf[64];
        struct fdpass_msg m;

        ck_assert_int_eq(fdpass_recv(sock, buf, sizeof buf, want_fd, &m), 0);
        ck_assert_uint_eq(m.len, 1);
        ck_assert(m.flags & FDPASS_BAD_CONTROL);
        ck_assert_int_eq(m.fd, -1);
        ck_assert_int_eq(tu_count_fds(getpid()), before);
}

/* The next record on sock, received into size bytes, is want (as much
 * of it as fits) with flags and no descriptor. */
static void expect_plain(int sock, size_t size, bool want_fd, const char *want, unsigned flags) {
        char buf[64];
        struct fdpass_msg m;

        ck_assert_uint_le(size, sizeof buf);
        ck_assert_int_eq(fdpass_recv(sock, buf, size, want_fd, &m), 0);
        ck_assert_uint_eq(m.len, strlen(want));
        ck_assert_mem_eq(buf, want, m.len);
        ck_assert_uint_eq(m.flags, flags);
        ck_assert_int_eq(m.fd, -1);
}

/* Sends an arbitrary control message, bypassing fdpass_send, as a hostile
 * peer would. */
static void send_raw(int sock, const void *data, size_t len, int level, int type, const int *fds,
                     size_t nfds) {
        char control[CMSG_SPACE(sizeof(int) * 16)] __attribute__((aligned(8))) = { 0 };
        struct iovec iov = { .iov_base = (void *) data, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };

        if (nfds > 0) {
                mh.msg_control = control;
                mh.msg_controllen = CMSG_SPACE(sizeof(int) * nfds);
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                c->cmsg_level = level;
                c->cmsg_type = type;
                c->cmsg_len = CMSG_LEN(sizeof(int) * nfds);
                memcpy(CMSG_DATA(c), fds, sizeof(int) * nfds);
        }
        ck_assert_int_eq(sendmsg(sock, &mh, MSG_NOSIGNAL), (ssize_t) len);
}

START_TEST(pass_one_fd) {
        int sv[2], p[2];
        char buf[64];
        struct fdpass_msg m;

        make_pair(sv);
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        ck_assert_int_eq(fdpass_send(sv[0], "hello", 5, p[0]), 0);
        close(p[0]);

        ck_assert_int_eq(fdpass_recv(sv[1], buf, sizeof buf, true, &m), 0);
        ck_assert_uint_eq(m.len, 5);
        ck_assert_uint_eq(m.flags, 0);
        ck_assert_int_ge(m.fd, 0);
        ck_assert_int_eq(fcntl(m.fd, F_GETFD) & FD_CLOEXEC, FD_CLOEXEC);

        /* it is really the pipe's read end */
        ck_assert_int_eq(write(p[1], "x", 1), 1);
        ck_assert_int_eq(read(m.fd, buf, 1), 1);
        ck_assert_int_eq(buf[0], 'x');
        close(m.fd);
        close(p[1]);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(refuse_unwanted_fd) {
        int sv[2];

        make_pair(sv);
        int before = tu_count_fds(getpid());
        int fds[3] = { 0, 1, 2 };

        /* one fd where none is wanted */
        send_raw(sv[0], "a", 1, SOL_SOCKET, SCM_RIGHTS, fds, 1);
        expect_refused(sv[1], false, before);

        /* three fds in one message where one is wanted */
        send_raw(sv[0], "b", 1, SOL_SOCKET, SCM_RIGHTS, fds, 3);
        expect_refused(sv[1], true, before);

        /* sixteen: more than the control buffer holds, MSG_CTRUNC */
        int many[16];
        for (int i = 0; i < 16; i++)
                many[i] = i % 3;
        send_raw(sv[0], "c", 1, SOL_SOCKET, SCM_RIGHTS, many, 16);
        expect_refused(sv[1], true, before);

        /* two separate messages each carrying one fd */
        {
                char control[2 * CMSG_SPACE(sizeof(int))] __attribute__((aligned(8))) = { 0 };
                struct iovec iov = { .iov_base = "d", .iov_len = 1 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1,
                                     .msg_control = control, .msg_controllen = sizeof control };
                struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
                for (int i = 0; i < 2; i++, c = CMSG_NXTHDR(&mh, c)) {
                        c->cmsg_level = SOL_SOCKET;
                        c->cmsg_type = SCM_RIGHTS;
                        c->cmsg_len = CMSG_LEN(sizeof(int));
                        memcpy(CMSG_DATA(c), &fds[i], sizeof(int));
                }
                ck_assert_int_eq(sendmsg(sv[0], &mh, 0), 1);
        }
        expect_refused(sv[1], true, before);

        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(no_fd_when_wanted) {
        int sv[2];

        make_pair(sv);
        ck_assert_int_eq(fdpass_send(sv[0], "plain", 5, -1), 0);
        expect_plain(sv[1], 8, true, "plain", 0);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(truncated_record) {
        int sv[2];

        make_pair(sv);
        ck_assert_int_eq(fdpass_send(sv[0], "0123456789", 10, -1), 0);
        expect_plain(sv[1], 4, false, "0123", FDPASS_TRUNCATED);
        /* the tail is gone: the next record starts clean */
        ck_assert_int_eq(fdpass_send(sv[0], "ab", 2, -1), 0);
        expect_plain(sv[1], 4, false, "ab", 0);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

START_TEST(eof_and_errors) {
        int sv[2];
        char buf[8];
        struct fdpass_msg m = { .len = 99, .flags = 0, .fd = -1 };

        make_pair(sv);
        ck_assert_int_eq(fcntl(sv[1], F_SETFL, O_NONBLOCK), 0);
        ck_assert_int_eq(fdpass_recv(sv[1], buf, sizeof buf, false, &m), -EAGAIN);
        ck_assert_uint_eq(m.len, 99); /* untouched on failure */
        close(sv[0]);
        ck_assert_int_eq(fdpass_recv(sv[1], buf, sizeof buf, false, &m), 0);
        ck_assert_uint_eq(m.len, 0);

        /* sending to a closed peer: EPIPE, and no SIGPIPE kills us */
        make_pair(sv);
        close(sv[1]);
        ck_assert_int_eq(fdpass_send(sv[0], "x", 1, -1), -EPIPE);
        ck_assert_int_eq(fdpass_send(sv[0], "x", 0, -1), -EINVAL);
        close(sv[0]);
}
END_TEST

START_TEST(foreign_cmsg_type) {
        int sv[2];

        make_pair(sv);
        int before = tu_count_fds(getpid());
        /* SCM_CREDENTIALS shape with an fd-like payload: refused, nothing leaks */
        ck_assert_int_eq(setsockopt(sv[1], SOL_SOCKET, SO_PASSCRED, &(int){ 1 }, sizeof(int)), 0);
        ck_assert_int_eq(fdpass_send(sv[0], "x", 1, -1), 0);
        expect_refused(sv[1], true, before);
        close(sv[0]);
        close(sv[1]);
}
END_TEST

/* The classic scenario: the parent opens a file, reads 32 bytes, passes
 * the descriptor to a child, and the child continues at offset 32 because
 * both share one open file description. */
START_TEST(shared_offset) {
        char *dir = tu_mkdtemp();
        char *path = tu_strdupf("%s/data", dir);
        char content[65];
        for (int i = 0; i < 64; i++)
                content[i] = (char) ('A' + i % 26);
        content[64] = 0;
        tu_write_file(path, content, 0600, 0, 0);

        int sv[2];
        make_pair(sv);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char buf[64];
                struct fdpass_msg m;
                /* The child needs none of the parent's allocations; freeing
                 * them keeps leak checkers quiet about the fork. */
                free(path);
                free(dir);
                close(sv[0]);
                if (fdpass_recv(sv[1], buf, sizeof buf, true, &m) < 0 || m.fd < 0 || m.len != 1)
                        _exit(10);
                if (read(m.fd, buf, 32) != 32 || memcmp(buf, content + 32, 32) != 0)
                        _exit(11);
                if (read(m.fd, buf, 1) != 0)
                        _exit(12);
                _exit(0);
        }
        close(sv[1]);

        int fd = open(path, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        char head[32];
        ck_assert_int_eq(read(fd, head, 32), 32);
        ck_assert_mem_eq(head, content, 32);
        ck_assert_int_eq(fdpass_send(sv[0], "", 1, fd), 0);
        close(fd);

        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 0);
        close(sv[0]);
        tu_rm_rf(dir);
        free(path);
        free(dir);
}
END_TEST

int main(void) {
        Suite *s = suite_create("proto");
        TCase *tc = tcase_create("wire");
        tcase_add_test(tc, request_roundtrip);
        tcase_add_test(tc, request_layout);
        tcase_add_test(tc, request_malformed);
        tcase_add_test(tc, flags_rules);
        tcase_add_test(tc, path_rules);
        tcase_add_test(tc, echo_fields);
        tcase_add_test(tc, reply_roundtrip);
        tcase_add_test(tc, field_offsets);
        tcase_add_loop_test(tc, new_ops, 0, (int) ELEMENTSOF(op_cases));
        tcase_add_test(tc, rename_lengths);
        tcase_add_test(tc, reply_data);
        tcase_add_test(tc, op_names);
        tcase_add_test(tc, flags_format);
        suite_add_tcase(s, tc);

        tc = tcase_create("fdpass");
        tcase_add_test(tc, pass_one_fd);
        tcase_add_test(tc, refuse_unwanted_fd);
        tcase_add_test(tc, no_fd_when_wanted);
        tcase_add_test(tc, truncated_record);
        tcase_add_test(tc, eof_and_errors);
        tcase_add_test(tc, foreign_cmsg_type);
        tcase_add_test(tc, shared_offset);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
