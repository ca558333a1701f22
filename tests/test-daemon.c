/* SPDX-License-Identifier: MIT */
/* Integration tests: a real fdbrokerd on a temporary socket with a
 * temporary policy, driven over the wire by clients that dropped to an
 * unprivileged uid.  The data tree is root-only, so every successful read
 * below is one the client could not have made by itself. */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "testutil.h"

static const char policy_text[] =
        "# test policy\n"
        "any @DIR@/data/** read\n"
        "uid=65534 @DIR@/data/out/** read,write,create\n"
        "uid=65534 @DIR@/data/dirs dir\n"
        "uid=65534 @DIR@/data/dirs/** read,dir\n"
        "any @DIR@/data/denied.txt deny\n"
        "uid=65534 @DIR@/data/rw.txt write\n";

struct env {
        struct tu_daemon d;
        char path[512];     /* scratch for building paths in children */
};

static struct env E;

static const char *P(const char *rel) {
        snprintf(E.path, sizeof E.path, "%s/%s", E.d.dir, rel);
        return E.path;
}

static void make_tree(void) {
        tu_mkdir(P("data"), 0700, 0, 0);
        tu_write_file(P("data/public.txt"), "public data\n", 0600, 0, 0);
        tu_write_file(P("data/denied.txt"), "nope\n", 0600, 0, 0);
        tu_write_file(P("data/rw.txt"), "0123456789", 0600, 0, 0);
        tu_mkdir(P("data/sub"), 0700, 0, 0);
        tu_write_file(P("data/sub/file.txt"), "sub file\n", 0600, 0, 0);
        tu_mkdir(P("data/out"), 0700, 0, 0);
        tu_mkdir(P("data/dirs"), 0700, 0, 0);
        tu_mkdir(P("data/dirs/inner"), 0700, 0, 0);
        tu_write_file(P("data/dirs/f"), "f", 0600, 0, 0);
        ck_assert_int_eq(mkfifo(P("data/fifo"), 0600), 0);
        tu_mkdir(P("secret"), 0700, 0, 0);
        tu_write_file(P("secret/key"), "SECRET\n", 0600, 0, 0);
        char target[512];
        snprintf(target, sizeof target, "%s/secret/key", E.d.dir);
        ck_assert_int_eq(symlink(target, P("data/link")), 0);
        snprintf(target, sizeof target, "%s/secret", E.d.dir);
        ck_assert_int_eq(symlink(target, P("data/linkdir")), 0);
}

static void setup(void) {
        tu_daemon_start(&E.d, policy_text, NULL);
        make_tree();
}

static void teardown(void) {
        tu_daemon_stop(&E.d);
}

static int connect_daemon(void) {
        int fd = tu_connect(E.d.socket);
        return fd;
}

/* ---- children --------------------------------------------------------- */


static int child_allowed_read(void *arg) {
        char buf[64];
        const char *path = arg;

        /* Without the broker the file is out of reach. */
        TU_REQUIRE(open(path, O_RDONLY) < 0 && errno == EACCES);

        int s = connect_daemon();
        TU_REQUIRE(s >= 0, "connect: %s", strerror(-s));
        int fd = -1;
        int st = tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, path, &fd);
        TU_REQUIRE(st == 0, "status %d", st);
        TU_REQUIRE(fd >= 0);
        tu_read_all(fd, buf, sizeof buf);
        TU_REQUIRE(strcmp(buf, "public data\n") == 0, "read '%s'", buf);

        /* Blocking mode and the access mode asked for, nothing more. */
        int fl = fcntl(fd, F_GETFL);
        TU_REQUIRE(!(fl & O_NONBLOCK));
        TU_REQUIRE((fl & O_ACCMODE) == O_RDONLY);
        TU_REQUIRE(write(fd, "x", 1) < 0 && errno == EBADF);
        close(fd);
        close(s);
        return 0;
}

START_TEST(allowed_read) {
        tu_run_as(TU_NOBODY, TU_NOBODY, child_allowed_read, (void *) P("data/public.txt"));
        ck_assert(!tu_log_has(&E.d, "public.txt", NULL)); /* allows not logged at notice */
}
END_TEST

struct status_case {
        uint16_t op;
        uint32_t flags;
        uint32_t mode;
        const char *rel;
        int status;
};

static int child_status_cases(void *arg) {
        const struct status_case *c = arg;
        int s = connect_daemon();
        TU_REQUIRE(s >= 0);
        for (; c->rel; c++) {
                char path[512];
                snprintf(path, sizeof path, "%s/%s", E.d.dir, c->rel);
                int fd = -1;
                int st = tu_request(s, c->op, c->flags, c->mode, path, &fd);
                TU_REQUIRE(st == c->status, "%s %s flags 0x%x: status %d, expected %d", wire_op_name(c->op),
                           c->rel, c->flags, st, c->status);
                TU_REQUIRE((fd >= 0) == (c->op == FDBR_OP_OPEN && c->status == 0));
                if (fd >= 0)
                        close(fd);
        }
        close(s);
        return 0;
}

START_TEST(denied) {
        static const struct status_case cases[] = {
                /* outside every rule: refused whether or not it exists */
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "secret/key", EACCES },
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "secret/missing", EACCES },
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "nowhere/at/all", EACCES },
                { FDBR_OP_CHECK, FDBR_F_READ, 0, "secret/key", EACCES },
                /* a deny rule beats the tree's read rule */
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/denied.txt", EACCES },
                /* access the rules do not grant */
                { FDBR_OP_OPEN, FDBR_F_WRITE, 0, "data/public.txt", EACCES },
                { FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_TRUNC, 0, "data/public.txt", EACCES },
                { FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_APPEND, 0, "data/public.txt", EACCES },
                { FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_CREATE, 0600, "data/new.txt", EACCES },
                /* ** does not match the directory itself */
                { FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data", EACCES },
                {},
        };
        tu_run_as(TU_NOBODY, TU_NOBODY, child_status_cases, (void *) cases);
        /* every denial is in the log, with the rule that decided */
        ck_assert(tu_log_has(&E.d, "deny", "uid=65534", "secret/key", "status=EACCES", "rule=-", NULL));
        char *rule = tu_strdupf("rule=%s:6", E.d.policy);
        ck_assert(tu_log_has(&E.d, "deny", "denied.txt", rule, "op=OPEN", "flags=READ", NULL));
        free(rule);
}
END_TEST

START_TEST(statuses_inside_tree) {
        static const struct status_case cases[] = {
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/missing.txt", ENOENT },
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/sub/missing/deeper", ENOENT },
                { FDBR_OP_CHECK, FDBR_F_READ, 0, "data/missing.txt", ENOENT },
                { FDBR_OP_CHECK, FDBR_F_READ, 0, "data/public.txt", 0 },
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/sub/file.txt", 0 },
                /* a directory needs dir */
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/sub", EACCES },
                { FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data/dirs", 0 },
                { FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data/dirs/inner", 0 },
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/dirs/inner", 0 },
                { FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data/dirs/f", ENOTDIR },
                { FDBR_OP_CHECK, FDBR_F_DIRECTORY, 0, "data/dirs/f", ENOTDIR },
                { FDBR_OP_OPEN, FDBR_F_WRITE, 0, "data/rw.txt", 0 },
                { FDBR_OP_CHECK, FDBR_F_WRITE | FDBR_F_TRUNC, 0, "data/rw.txt", 0 },
                {},
        };
        tu_run_as(TU_NOBODY, TU_NOBODY, child_status_cases, (void *) cases);
        /* CHECK with TRUNC did not truncate */
        struct stat st;
        ck_assert_int_eq(stat(P("data/rw.txt"), &st), 0);
        ck_assert_int_eq(st.st_size, 10);
}
END_TEST

static int child_create(void *arg) {
        int s = connect_daemon();
        TU_REQUIRE(s >= 0);
        char path[512];
        int fd = -1, st;

        /* CHECK of a create answers yes and creates nothing */
        snprintf(path, sizeof path, "%s/data/out/new.txt", E.d.dir);
        st = tu_request(s, FDBR_OP_CHECK, FDBR_F_WRITE | FDBR_F_CREATE, 0, path, NULL);
        TU_REQUIRE(st == 0, "check create: %d", st);
        TU_REQUIRE(access(path, F_OK) < 0);

        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0666, path, &fd);
        TU_REQUIRE(st == 0, "create: %d", st);
        TU_REQUIRE(write(fd, "hello", 5) == 5);
        close(fd);

        /* EXCL on an existing file */
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0600, path, NULL);
        TU_REQUIRE(st == EEXIST, "excl: %d", st);
        st = tu_request(s, FDBR_OP_CHECK, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0600, path, NULL);
        TU_REQUIRE(st == EEXIST, "check excl: %d", st);

        /* CREATE on an existing file opens it and changes nothing */
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_CREATE, 0600, path, &fd);
        TU_REQUIRE(st == 0);
        char buf[16];
        tu_read_all(fd, buf, sizeof buf);
        TU_REQUIRE(strcmp(buf, "hello") == 0);
        close(fd);

        /* CREATE with READ alone makes an empty file */
        snprintf(path, sizeof path, "%s/data/out/empty", E.d.dir);
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_CREATE | FDBR_F_EXCL, 0600, path, &fd);
        TU_REQUIRE(st == 0, "create read-only: %d", st);
        TU_REQUIRE((fcntl(fd, F_GETFL) & O_ACCMODE) == O_RDONLY);
        close(fd);

        /* TRUNC empties, APPEND appends */
        snprintf(path, sizeof path, "%s/data/out/new.txt", E.d.dir);
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_APPEND, 0, path, &fd);
        TU_REQUIRE(st == 0);
        TU_REQUIRE(write(fd, "++", 2) == 2);
        close(fd);

        /* create in a directory that does not exist */
        snprintf(path, sizeof path, "%s/data/out/nodir/x", E.d.dir);
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0600, path, NULL);
        TU_REQUIRE(st == ENOENT, "no parent: %d", st);
        close(s);
        return 0;
}

START_TEST(create_owner_mode) {
        struct stat st;

        tu_run_as(TU_NOBODY, TU_NOBODY, child_create, NULL);

        ck_assert_int_eq(stat(P("data/out/new.txt"), &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        ck_assert_uint_eq(st.st_gid, TU_NOBODY);
        ck_assert_uint_eq(st.st_mode & 07777, 0644); /* 0666 & ~022 */
        ck_assert_int_eq(st.st_size, 7);

        ck_assert_int_eq(stat(P("data/out/empty"), &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        ck_assert_uint_eq(st.st_mode & 07777, 0600);
        ck_assert_int_eq(st.st_size, 0);
        ck_assert_int_eq(access(P("data/out/nodir"), F_OK), -1);
}
END_TEST

static int child_trunc(void *arg) {
        char path[512];
        snprintf(path, sizeof path, "%s/data/out/t", E.d.dir);
        int s = connect_daemon(), fd;
        TU_REQUIRE(s >= 0);
        int st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_TRUNC, 0, path, &fd);
        TU_REQUIRE(st == 0, "%d", st);
        struct stat sb;
        TU_REQUIRE(fstat(fd, &sb) == 0 && sb.st_size == 0);
        close(fd);
        close(s);
        return 0;
}

START_TEST(truncate_existing) {
        tu_write_file(P("data/out/t"), "content", 0644, TU_NOBODY, TU_NOBODY);
        tu_run_as(TU_NOBODY, TU_NOBODY, child_trunc, NULL);
}
END_TEST

/* Another uid gets only the rules for any: the out/ tree is not its. */
START_TEST(other_uid) {
        static const struct status_case cases[] = {
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/public.txt", 0 },
                { FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "data/out/x", EACCES },
                { FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, "data/dirs", EACCES },
                {},
        };
        tu_run_as(1234, 1234, child_status_cases, (void *) cases);
}
END_TEST

START_TEST(fifo_refused) {
        static const struct status_case cases[] = {
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/fifo", EACCES },
                { FDBR_OP_CHECK, FDBR_F_READ, 0, "data/fifo", EACCES },
                {},
        };
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        tu_run_as(TU_NOBODY, TU_NOBODY, child_status_cases, (void *) cases);
        clock_gettime(CLOCK_MONOTONIC, &b);
        /* "without hanging": far below any blocking open */
        ck_assert_int_lt(b.tv_sec - a.tv_sec, 5);
        ck_assert(tu_log_has(&E.d, "deny", "fifo", NULL));
}
END_TEST

static int child_fifo_write(void *arg) {
        int s = connect_daemon();
        TU_REQUIRE(s >= 0);
        char path[512];
        snprintf(path, sizeof path, "%s/data/out/fifo", E.d.dir);
        /* no reader: a blocking open would hang, O_NONBLOCK gives ENXIO */
        int st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE, 0, path, NULL);
        TU_REQUIRE(st == EACCES, "%d", st);
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_WRITE, 0, path, NULL);
        TU_REQUIRE(st == EACCES, "%d", st);
        close(s);
        return 0;
}

START_TEST(fifo_write_refused) {
        ck_assert_int_eq(mkfifo(P("data/out/fifo"), 0666), 0);
        tu_run_as(TU_NOBODY, TU_NOBODY, child_fifo_write, NULL);
}
END_TEST

START_TEST(symlinks_not_followed) {
        static const struct status_case cases[] = {
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/link", EACCES },
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "data/linkdir/key", EACCES },
                { FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_NOFOLLOW, 0, "data/link", EACCES },
                { FDBR_OP_CHECK, FDBR_F_READ, 0, "data/link", EACCES },
                { FDBR_OP_CHECK, FDBR_F_READ, 0, "data/linkdir/key", EACCES },
                {},
        };
        tu_run_as(TU_NOBODY, TU_NOBODY, child_status_cases, (void *) cases);
        ck_assert(tu_log_has(&E.d, "deny", "data/linkdir/key", "symlink", NULL));
}
END_TEST

/* A symlink planted by the client itself in a tree it may write. */
static int child_plant_symlink(void *arg) {
        char path[512], target[512];
        snprintf(target, sizeof target, "%s/secret/key", E.d.dir);
        snprintf(path, sizeof path, "%s/data/out/evil", E.d.dir);
        int s = connect_daemon();
        TU_REQUIRE(s >= 0);
        /* create through a symlink the client planted: refused, nothing created */
        TU_REQUIRE(symlink(target, path) == 0);
        int st = tu_request(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, path, NULL);
        TU_REQUIRE(st == EACCES || st == ELOOP, "%d", st);
        st = tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, path, NULL);
        TU_REQUIRE(st == EACCES || st == ELOOP, "%d", st);
        close(s);
        return 0;
}

START_TEST(planted_symlink) {
        struct stat st;
        ck_assert_int_eq(chmod(P("data"), 0711), 0);
        ck_assert_int_eq(chown(P("data/out"), TU_NOBODY, TU_NOBODY), 0);
        tu_run_as(TU_NOBODY, TU_NOBODY, child_plant_symlink, NULL);
        ck_assert_int_eq(stat(P("secret/key"), &st), 0);
        ck_assert_int_eq(st.st_size, 7);
        ck_assert_uint_eq(st.st_uid, 0);
}
END_TEST

/* ---- malformed records ------------------------------------------------- */

static void send_raw(int fd, const void *buf, size_t len) {
        ck_assert_int_eq(send(fd, buf, len, MSG_NOSIGNAL), (ssize_t) len);
}

static size_t build(uint8_t *buf, uint16_t op, uint32_t id, uint32_t flags, uint32_t mode, const char *path) {
        int n = wire_request_encode(buf, FDBR_WIRE_REQUEST_MAX + 64, op, id, flags, mode, path,
                                    path ? strlen(path) : 0);
        ck_assert_int_gt(n, 0);
        return (size_t) n;
}

static void expect_reply(int fd, uint16_t op, uint32_t id, uint32_t status) {
        struct wire_reply r;
        int rfd = -1;
        int k = tu_recv(fd, &r, &rfd, 5000);
        ck_assert_msg(k == 0, "no reply: %s", strerror(-k));
        ck_assert_int_eq(rfd, -1);
        ck_assert_uint_eq(r.op, op);
        ck_assert_uint_eq(r.id, id);
        ck_assert_msg(r.status == status, "status %u (%s), expected %u (%s)", r.status, strerror((int) r.status),
                      status, strerror((int) status));
        ck_assert_uint_eq(r.nfds, 0);
}

/* The connection survives: a PING still answers. */
static void expect_alive(int fd) {
        ck_assert_int_eq(tu_send(fd, FDBR_OP_PING, 77, 0, 0, NULL), 0);
        expect_reply(fd, FDBR_OP_PING, 77, 0);
}

START_TEST(malformed_stay_open) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX + 64];
        int fd = connect_daemon();
        ck_assert_int_ge(fd, 0);
        const char *good = P("data/public.txt");
        size_t n;

        /* unsupported version */
        n = build(buf, FDBR_OP_OPEN, 1, FDBR_F_READ, 0, good);
        uint16_t v = 2;
        memcpy(buf + 4, &v, 2);
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_OPEN, 1, EPROTONOSUPPORT);
        expect_alive(fd);

        /* unknown op */
        n = build(buf, 9, 2, 0, 0, NULL);
        send_raw(fd, buf, n);
        expect_reply(fd, 9, 2, EINVAL);

        /* bad flags: none of READ/WRITE/DIRECTORY, unknown bit, EXCL alone, mode without CREATE, mode > 0777 */
        static const uint32_t bad[][2] = {
                { 0, 0 }, { FDBR_F_CREATE, 0 }, { FDBR_F_READ | 0x100, 0 }, { FDBR_F_READ | FDBR_F_EXCL, 0 },
                { FDBR_F_READ, 0644 }, { FDBR_F_READ | FDBR_F_CREATE, 01000 }, { FDBR_F_TRUNC, 0 },
        };
        for (unsigned i = 0; i < ELEMENTSOF(bad); i++) {
                n = build(buf, FDBR_OP_OPEN, 10 + i, bad[i][0], bad[i][1], good);
                send_raw(fd, buf, n);
                expect_reply(fd, FDBR_OP_OPEN, 10 + i, EINVAL);
        }

        /* PING with flags, mode or a path */
        n = build(buf, FDBR_OP_PING, 20, FDBR_F_READ, 0, NULL);
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_PING, 20, EINVAL);
        n = build(buf, FDBR_OP_PING, 21, 0, 0, "/x");
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_PING, 21, EINVAL);

        /* path_len says more, or less, than the record holds */
        n = build(buf, FDBR_OP_OPEN, 30, FDBR_F_READ, 0, good);
        send_raw(fd, buf, n - 1);
        expect_reply(fd, FDBR_OP_OPEN, 30, EINVAL);
        n = build(buf, FDBR_OP_OPEN, 31, FDBR_F_READ, 0, good);
        buf[n] = 'x';
        send_raw(fd, buf, n + 1);
        expect_reply(fd, FDBR_OP_OPEN, 31, EINVAL);

        /* NUL inside the path */
        n = build(buf, FDBR_OP_OPEN, 32, FDBR_F_READ, 0, good);
        buf[24 + 3] = 0;
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_OPEN, 32, EINVAL);

        /* empty path for OPEN and CHECK */
        n = build(buf, FDBR_OP_OPEN, 33, FDBR_F_READ, 0, "");
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_OPEN, 33, EINVAL);
        n = build(buf, FDBR_OP_CHECK, 34, FDBR_F_READ, 0, "");
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_CHECK, 34, EINVAL);

        /* not absolute, not canonical */
        static const char *const paths[] = {
                "relative/path", "/a//b", "/a/./b", "/a/../b", "/a/b/", "/..", "/.",
        };
        for (unsigned i = 0; i < ELEMENTSOF(paths); i++) {
                n = build(buf, FDBR_OP_OPEN, 40 + i, FDBR_F_READ, 0, paths[i]);
                send_raw(fd, buf, n);
                expect_reply(fd, FDBR_OP_OPEN, 40 + i, EINVAL);
        }
        /* ".." that would climb out of the allowed tree into the secret */
        char *climb = tu_strdupf("%s/data/../secret/key", E.d.dir);
        n = build(buf, FDBR_OP_OPEN, 50, FDBR_F_READ, 0, climb);
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_OPEN, 50, EINVAL);
        free(climb);

        /* path of 4095 bytes is legal (ENAMETOOLONG or EACCES, not EINVAL) */
        char longp[FDBR_WIRE_PATH_MAX + 2];
        memset(longp, 'a', sizeof longp);
        longp[0] = '/';
        for (size_t i = 200; i < sizeof longp; i += 200)
                longp[i] = '/';
        longp[FDBR_WIRE_PATH_MAX] = 0;
        n = build(buf, FDBR_OP_OPEN, 60, FDBR_F_READ, 0, longp);
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_OPEN, 60, EACCES);

        /* path_len 4096, consistent with the record: EINVAL */
        longp[FDBR_WIRE_PATH_MAX] = 'b';
        longp[FDBR_WIRE_PATH_MAX + 1] = 0;
        n = 24 + FDBR_WIRE_PATH_MAX + 1;
        build(buf, FDBR_OP_OPEN, 61, FDBR_F_READ, 0, "/x");
        uint32_t pl = FDBR_WIRE_PATH_MAX + 1;
        memcpy(buf + 20, &pl, 4);
        memcpy(buf + 24, longp, pl);
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_OPEN, 61, EINVAL);

        /* a record far longer than any request (MSG_TRUNC): EINVAL, and the
         * cut path, which would be allowed, is not evaluated */
        static uint8_t huge[3 * FDBR_WIRE_REQUEST_MAX];
        memset(huge, 'z', sizeof huge);
        n = build(huge, FDBR_OP_OPEN, 62, FDBR_F_READ, 0, good);
        pl = sizeof huge - 24;
        memcpy(huge + 20, &pl, 4);
        send_raw(fd, huge, sizeof huge);
        expect_reply(fd, FDBR_OP_OPEN, 62, EINVAL);

        expect_alive(fd);
        close(fd);
}
END_TEST

START_TEST(malformed_close) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        size_t n;
        int fd;

        /* shorter than 24 bytes, but holds the id: EPROTO, id echoed, closed */
        fd = connect_daemon();
        n = build(buf, FDBR_OP_PING, 0xabcdef01, 0, 0, NULL);
        send_raw(fd, buf, 12);
        expect_reply(fd, FDBR_OP_PING, 0xabcdef01, EPROTO);
        ck_assert(tu_closed(fd, 5000));
        close(fd);

        /* too short to hold the id: id 0 */
        fd = connect_daemon();
        send_raw(fd, buf, 11);
        struct wire_reply r;
        ck_assert_int_eq(tu_recv(fd, &r, NULL, 5000), 0);
        ck_assert_uint_eq(r.status, EPROTO);
        ck_assert_uint_eq(r.id, 0);
        ck_assert(tu_closed(fd, 5000));
        close(fd);

        fd = connect_daemon();
        send_raw(fd, "x", 1);
        ck_assert_int_eq(tu_recv(fd, &r, NULL, 5000), 0);
        ck_assert_uint_eq(r.status, EPROTO);
        ck_assert_uint_eq(r.id, 0);
        ck_assert(tu_closed(fd, 5000));
        close(fd);

        /* wrong magic on a full-size record */
        fd = connect_daemon();
        n = build(buf, FDBR_OP_OPEN, 5, FDBR_F_READ, 0, P("data/public.txt"));
        memcpy(buf, "FDB2", 4);
        send_raw(fd, buf, n);
        expect_reply(fd, FDBR_OP_OPEN, 5, EPROTO);
        ck_assert(tu_closed(fd, 5000));
        close(fd);

        /* a zero-length record: closed without a reply */
        fd = connect_daemon();
        ck_assert_int_eq(send(fd, buf, 0, MSG_NOSIGNAL), 0);
        ck_assert(tu_closed(fd, 5000));
        close(fd);

        /* the daemon is fine */
        fd = connect_daemon();
        expect_alive(fd);
        close(fd);
}
END_TEST

/* Sends a record with descriptors attached.  False when the kernel
 * refused it (EPERM: the broker turned SO_PASSRIGHTS off, so nothing
 * reached it); true when it went, and the broker is to refuse it. */
static bool send_with_fds(int sock, const void *data, size_t len, const int *fds, size_t nfds) {
        int k = tu_send_fds(sock, data, len, fds, nfds, 0);
        if (k == -EPERM)
                return false;
        ck_assert_msg(k == 0, "send: %s", strerror(-k));
        return true;
}

START_TEST(ancillary_refused) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        int fd = connect_daemon();
        ck_assert_int_ge(fd, 0);
        expect_alive(fd);
        int before = tu_count_fds(E.d.pid);

        int fds[253];
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        for (int i = 0; i < 253; i++)
                fds[i] = devnull;

        size_t n = build(buf, FDBR_OP_OPEN, 3, FDBR_F_READ, 0, P("data/public.txt"));
        for (int round = 0; round < 20; round++) {
                size_t k = round % 2 ? 1 : 253;
                if (send_with_fds(fd, buf, n, fds, k))
                        expect_reply(fd, FDBR_OP_OPEN, 3, EBADMSG);
        }
        /* even a valid PING is refused when it carries a descriptor */
        n = build(buf, FDBR_OP_PING, 4, 0, 0, NULL);
        if (send_with_fds(fd, buf, n, fds, 1))
                expect_reply(fd, FDBR_OP_PING, 4, EBADMSG);

        expect_alive(fd);
        /* Closed off the event loop, so soon rather than at once. */
        ck_assert_int_eq(tu_wait_fds(E.d.pid, before, 5000), before);
        close(devnull);
        close(fd);
}
END_TEST

/* Every descriptor a reply carried is the daemon's no longer; malformed
 * and refused requests leave nothing behind either. */
START_TEST(no_fd_growth) {
        int fd = connect_daemon();
        expect_alive(fd);
        int before = tu_count_fds(E.d.pid);

        for (int i = 0; i < 300; i++) {
                int rfd = -1;
                ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, P("data/public.txt"), &rfd), 0);
                close(rfd);
                ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, P("data/fifo"), NULL), EACCES);
                ck_assert_int_eq(tu_request(fd, FDBR_OP_CHECK, FDBR_F_READ, 0, P("data/sub"), NULL), EACCES);
                ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, P("data/link"), NULL), EACCES);
        }
        ck_assert_int_eq(tu_count_fds(E.d.pid), before);
        close(fd);
}
END_TEST

static int child_pipelined(void *arg) {
        enum { N = 200 };
        uint8_t seen[N] = { 0 };
        int s = connect_daemon();
        TU_REQUIRE(s >= 0);
        char ok[512], missing[512];
        snprintf(ok, sizeof ok, "%s/data/public.txt", E.d.dir);
        snprintf(missing, sizeof missing, "%s/data/missing", E.d.dir);

        for (uint32_t i = 0; i < N; i++) {
                int r = tu_send(s, FDBR_OP_OPEN, 5000 + i, FDBR_F_READ, 0, i % 3 ? ok : missing);
                TU_REQUIRE(r == 0, "send %u: %d", i, r);
        }
        for (unsigned i = 0; i < N; i++) {
                struct wire_reply r;
                int fd = -1;
                int k = tu_recv(s, &r, &fd, 5000);
                TU_REQUIRE(k == 0, "reply %u: %d", i, k);
                uint32_t j = r.id - 5000;
                TU_REQUIRE(j < N && !seen[j], "id %u", r.id);
                seen[j] = 1;
                if (j % 3) {
                        char buf[32];
                        TU_REQUIRE(r.status == 0 && fd >= 0);
                        tu_read_all(fd, buf, sizeof buf);
                        TU_REQUIRE(strcmp(buf, "public data\n") == 0);
                        close(fd);
                } else
                        TU_REQUIRE(r.status == ENOENT && fd < 0);
        }
        close(s);
        return 0;
}

START_TEST(pipelined_200) {
        tu_run_as(TU_NOBODY, TU_NOBODY, child_pipelined, NULL);
}
END_TEST

START_TEST(ping_and_dir_fd) {
        int fd = connect_daemon();
        ck_assert_int_eq(tu_request(fd, FDBR_OP_PING, 0, 0, NULL, NULL), 0);
        int dfd = -1;
        /* root is no special client: it gets what the rules give uid 0 */
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_DIRECTORY, 0, P("data/dirs"), &dfd), EACCES);
        close(fd);
}
END_TEST

START_TEST(allow_logged_at_info) {
        tu_daemon_stop(&E.d);
        static const char *const args[] = { "--log-level", "info", NULL };
        tu_daemon_start(&E.d, policy_text, args);
        make_tree();
        int fd = connect_daemon();
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, P("data/public.txt"), NULL), 0);
        close(fd);
        char *rule = tu_strdupf("rule=%s:2", E.d.policy);
        ck_assert(tu_log_has(&E.d, "allow", "uid=0", "op=OPEN", "public.txt", "flags=READ", rule, "status=0", NULL));
        free(rule);
}
END_TEST

START_TEST(limits_clients) {
        tu_daemon_stop(&E.d);
        static const char *const args[] = { "--max-clients", "3", "--max-clients-per-uid", "2", NULL };
        tu_daemon_start(&E.d, policy_text, args);

        int a = connect_daemon(), b = connect_daemon();
        expect_alive(a);
        expect_alive(b);
        /* a third connection of the same uid is closed at once */
        int c = connect_daemon();
        ck_assert_int_ge(c, 0);
        ck_assert(tu_closed(c, 5000));
        close(c);
        expect_alive(a);
        close(b);
        /* room again once the daemon saw one leave */
        bool served = false;
        for (int i = 0; i < 500 && !served; i++) {
                c = connect_daemon();
                ck_assert_int_ge(c, 0);
                served = tu_send(c, FDBR_OP_PING, 1, 0, 0, NULL) == 0 && !tu_closed(c, 10) &&
                         tu_recv(c, &(struct wire_reply) {}, NULL, 1000) == 0;
                close(c);
                if (!served)
                        usleep(10000);
        }
        ck_assert(served);
        close(a);
}
END_TEST

/* ---- the fdbroker command against the real daemon ---------------------- */

/* Runs fdbroker with args (after --socket) in this process's identity,
 * with stdin from in (or /dev/null). */
static int run_cli(const char *const *args, const char *in, struct tu_cli_run *r) {
        return tu_run_cli(E.d.socket, args, in, r);
}

static int child_cli(void *arg) {
        struct tu_cli_run r;
        char pub[512], sec[512], out[512], exec_cmd[] = "read line <&3; echo \"$FDBROKER_FDS:$line\"";
        snprintf(pub, sizeof pub, "%s/data/public.txt", E.d.dir);
        snprintf(sec, sizeof sec, "%s/secret/key", E.d.dir);
        snprintf(out, sizeof out, "%s/data/out/written", E.d.dir);

        TU_REQUIRE(run_cli((const char *[]) { "ping", NULL }, NULL, &r) == 0 && r.status == 0, "%s", r.err);
        TU_REQUIRE(run_cli((const char *[]) { "cat", pub, NULL }, NULL, &r) == 0);
        TU_REQUIRE(r.status == 0 && strcmp(r.out, "public data\n") == 0, "cat: %d %s", r.status, r.err);

        /* refused: exit 1 and "fdbroker: PATH: strerror" */
        TU_REQUIRE(run_cli((const char *[]) { "cat", sec, NULL }, NULL, &r) == 0);
        char msg[600];
        snprintf(msg, sizeof msg, "fdbroker: %s: Permission denied\n", sec);
        TU_REQUIRE(r.status == 1 && strcmp(r.err, msg) == 0, "%d '%s'", r.status, r.err);
        TU_REQUIRE(run_cli((const char *[]) { "check", sec, NULL }, NULL, &r) == 0 && r.status == 1);
        TU_REQUIRE(run_cli((const char *[]) { "check", pub, NULL }, NULL, &r) == 0 && r.status == 0);
        TU_REQUIRE(run_cli((const char *[]) { "check", "--write", pub, NULL }, NULL, &r) == 0 && r.status == 1);

        /* write through the broker, then read it back */
        TU_REQUIRE(run_cli((const char *[]) { "write", "--create", out, NULL }, "via broker\n", &r) == 0);
        TU_REQUIRE(r.status == 0, "write: %s", r.err);
        TU_REQUIRE(run_cli((const char *[]) { "write", "--append", out, NULL }, "more\n", &r) == 0 && r.status == 0);
        TU_REQUIRE(run_cli((const char *[]) { "cat", out, NULL }, NULL, &r) == 0);
        TU_REQUIRE(strcmp(r.out, "via broker\nmore\n") == 0, "'%s'", r.out);

        /* exec hands the file over as fd 3 */
        TU_REQUIRE(run_cli((const char *[]) { "exec", "--read", pub, "--", "/bin/sh", "-c", exec_cmd, NULL }, NULL,
                           &r) == 0);
        TU_REQUIRE(r.status == 0 && strcmp(r.out, "3:public data\n") == 0, "exec: %d '%s' %s", r.status, r.out,
                   r.err);
        TU_REQUIRE(run_cli((const char *[]) { "exec", "--read", sec, "--", "/bin/true", NULL }, NULL, &r) == 0);
        TU_REQUIRE(r.status == 1, "exec refused: %d", r.status);

        /* usage error, and no broker at all */
        TU_REQUIRE(run_cli((const char *[]) { "frobnicate", NULL }, NULL, &r) == 0 && r.status == 2);
        return 0;
}

START_TEST(cli_against_daemon) {
        (void) tu_cli_path(); /* copied here, as root: the child could not */
        tu_run_as(TU_NOBODY, TU_NOBODY, child_cli, NULL);
        struct stat st;
        ck_assert_int_eq(stat(P("data/out/written"), &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);

        /* the broker gone: exit 3 */
        char *sock = strdup(E.d.socket);
        tu_daemon_stop(&E.d);
        struct tu_cli_run r;
        const char *const args[] = { tu_cli_path(), "--socket", sock, "ping", NULL };
        pid_t pid = fork();
        if (pid == 0) {
                int devnull = open("/dev/null", O_WRONLY);
                dup2(devnull, 2);
                execv(args[0], (char **) args);
                _exit(127);
        }
        int status = tu_wait(pid, 10000);
        ck_assert(WIFEXITED(status));
        ck_assert_int_eq(WEXITSTATUS(status), 3);
        (void) r;
        free(sock);
        /* teardown stops again: start a fresh one */
        tu_daemon_start(&E.d, policy_text, NULL);
}
END_TEST

Suite *daemon_suite(void);
Suite *daemon_suite(void) {
        Suite *s = suite_create("daemon");
        TCase *tc = tcase_create("requests");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, allowed_read);
        tcase_add_test(tc, denied);
        tcase_add_test(tc, statuses_inside_tree);
        tcase_add_test(tc, create_owner_mode);
        tcase_add_test(tc, truncate_existing);
        tcase_add_test(tc, other_uid);
        tcase_add_test(tc, fifo_refused);
        tcase_add_test(tc, fifo_write_refused);
        tcase_add_test(tc, symlinks_not_followed);
        tcase_add_test(tc, planted_symlink);
        tcase_add_test(tc, malformed_stay_open);
        tcase_add_test(tc, malformed_close);
        tcase_add_test(tc, ancillary_refused);
        tcase_add_test(tc, no_fd_growth);
        tcase_add_test(tc, pipelined_200);
        tcase_add_test(tc, ping_and_dir_fd);
        tcase_add_test(tc, allow_logged_at_info);
        tcase_add_test(tc, limits_clients);
        tcase_add_test(tc, cli_against_daemon);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(daemon_suite());
}
