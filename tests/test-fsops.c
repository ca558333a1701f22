/* SPDX-License-Identifier: MIT */
/* STAT, READLINK, MKDIR, UNLINK, RMDIR, RENAME, STATUS and GRANTS against
 * a real daemon, by real unprivileged clients: each op on each file type
 * under each permission, the ownership of what is created, the kernel's
 * errors passed through, `delete` and `owner` (security property 4),
 * parents swapped for symlinks to a forbidden directory while the ops
 * run (properties 1 and 4), a FIFO's blocked writer never released by
 * STAT, and the fdbroker command end to end.
 *
 * The data tree is root-only (0700): whatever the client manages below
 * was done by the broker, as the policy allowed. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "testutil.h"

#define NOBODY TU_NOBODY
#define OTHER_GID 4321

static const char policy_text[] =
        "uid=65534 @DIR@/t/full/** read,write,create,delete,dir\n"
        "uid=65534 @DIR@/t/full dir\n"
        "any @DIR@/t/full/denied deny\n"
        "uid=65534 @DIR@/t/stat/** stat\n"
        "uid=65534 @DIR@/t/drop/** create,dir\n"
        "uid=65534 @DIR@/t/delete/** delete\n"
        "uid=65534 @DIR@/t/own/** delete,dir,owner\n"
        "uid=65534 @DIR@/t/dst/** create\n"
        "uid=65534 @DIR@/t/dstdel/** create,delete\n"
        "uid=65534 @DIR@/t/follow/** create,delete,dir,follow\n"
        "uid=65534 @DIR@/race/** create,delete,dir\n"
        "uid=65534 @DIR@/racef/** create,delete,dir,follow\n";

static struct tu_daemon D;

/* Paths under the scratch directory, in rotating buffers: a few may be
 * alive in one expression. */
static const char *P(const char *rel) {
        static char bufs[8][1024];
        static unsigned next;
        char *b = bufs[next++ % ELEMENTSOF(bufs)];
        snprintf(b, sizeof bufs[0], "%s/%s", D.dir, rel);
        return b;
}

/* Every file type, in dir: f regular, d empty directory, nd a directory
 * with a file in it, l a symlink to f, ld one to d, p a FIFO, c a
 * character device (/dev/null's numbers), s a socket. */
static void make_types(const char *dir) {
        char b[1024];
#define AT(name) (snprintf(b, sizeof b, "%s/%s", dir, name), b)
        tu_mkdir(dir, 0700, 0, 0);
        tu_write_file(AT("f"), "data", 0644, 0, 0);
        tu_mkdir(AT("d"), 0755, 0, 0);
        tu_mkdir(AT("nd"), 0755, 0, 0);
        tu_write_file(AT("nd/x"), "x", 0644, 0, 0);
        ck_assert_int_eq(symlink("f", AT("l")), 0);
        ck_assert_int_eq(symlink("d", AT("ld")), 0);
        ck_assert_int_eq(mkfifo(AT("p"), 0600), 0);
        ck_assert_int_eq(mknod(AT("c"), S_IFCHR | 0600, makedev(1, 3)), 0);
        ck_assert_int_eq(mknod(AT("s"), S_IFSOCK | 0600, 0), 0);
#undef AT
}

static void setup(void) {
        /* Mounts the tests make (EXDEV) are seen by the daemon only. */
        tu_private_mounts();
        tu_daemon_start(&D, policy_text, (const char *const[]) { "--log-level", "info", NULL });
        tu_mkdir(P("t"), 0755, 0, 0);
        static const char *const trees[] = { "full", "stat", "drop", "delete", "own", "dst", "dstdel", "follow",
                                             "none" };
        for (size_t i = 0; i < ELEMENTSOF(trees); i++) {
                char dir[64];
                snprintf(dir, sizeof dir, "t/%s", trees[i]);
                make_types(P(dir));
        }
}

static void teardown(void) {
        tu_daemon_stop(&D);
}

/* ---- the wire, with data and two paths ---------------------------------- */

/* One request whose path area is area (len bytes), one reply; its data
 * (at most *data_len bytes) into data.  Returns the status or -errno. */
static int req_area(int s, uint16_t op, uint32_t flags, uint32_t mode, const char *area, size_t len, void *data,
                    size_t *data_len) {
        static uint32_t id = 1;
        uint8_t buf[FDBR_WIRE_REQUEST_MAX], rbuf[FDBR_WIRE_REPLY_MAX];
        struct wire_reply rep;
        int n = wire_request_encode(buf, sizeof buf, op, ++id, flags, mode, area, len);
        if (n < 0)
                return n;
        if (send(s, buf, (size_t) n, MSG_NOSIGNAL) != n)
                return -errno;
        ssize_t k = recv(s, rbuf, sizeof rbuf, 0);
        if (k <= 0)
                return k == 0 ? -ECONNRESET : -errno;
        if (wire_reply_decode(rbuf, (size_t) k, &rep) < 0 || rep.id != id || rep.op != op || rep.nfds != 0)
                return -EBADMSG;
        if (data_len) {
                if (rep.data_len > *data_len)
                        return -E2BIG;
                memcpy(data, rep.data, rep.data_len);
                *data_len = rep.data_len;
        }
        return (int) rep.status;
}

static int req(int s, uint16_t op, uint32_t flags, uint32_t mode, const char *rel) {
        const char *p = P(rel);
        return req_area(s, op, flags, mode, p, strlen(p), NULL, NULL);
}

/* req for t/TREE/NAME. */
static int req_in(int s, uint16_t op, uint32_t mode, const char *tree, const char *name) {
        char rel[64];
        snprintf(rel, sizeof rel, "t/%s/%s", tree, name);
        return req(s, op, 0, mode, rel);
}

static int req_stat(int s, uint32_t flags, const char *rel, struct statx *ret) {
        const char *p = P(rel);
        size_t len = sizeof *ret;
        int st = req_area(s, FDBR_OP_STAT, flags, 0, p, strlen(p), ret, &len);
        if (st == 0 && len != sizeof *ret)
                return -EBADMSG;
        return st;
}

static int req_rename(int s, uint32_t flags, const char *src_rel, const char *dst_rel) {
        char area[2 * 1024 + 1];
        int n = snprintf(area, sizeof area, "%s", P(src_rel));
        int m = snprintf(area + n + 1, sizeof area - (size_t) n - 1, "%s", P(dst_rel));
        return req_area(s, FDBR_OP_RENAME, flags, 0, area, (size_t) n + 1 + (size_t) m, NULL, NULL);
}

static bool exists(const char *rel) {
        struct stat st;
        return lstat(P(rel), &st) == 0;
}

static mode_t ltype(const char *rel) {
        struct stat st;
        ck_assert_msg(lstat(P(rel), &st) == 0, "%s: %s", rel, strerror(errno));
        return st.st_mode & S_IFMT;
}

static int connect_ok(void) {
        int s = tu_connect(D.socket);
        return s;
}

#define REQUIRE_ST(expr, want)                                                              \
        do {                                                                                \
                int st_ = (expr);                                                           \
                TU_REQUIRE(st_ == (want), "%s: %d (%s), want %s", #expr, st_,               \
                           st_ > 0 ? strerror(st_) : "-", strerror(want));                  \
        } while (0)

/* ---- STAT ------------------------------------------------------------------ */

struct type_case {
        const char *name;
        mode_t type;
};

static const struct type_case types[] = {
        { "f", S_IFREG }, { "d", S_IFDIR }, { "nd", S_IFDIR }, { "p", S_IFIFO }, { "c", S_IFCHR }, { "s", S_IFSOCK },
};

static int child_stat(void *arg) {
        const struct statx *real = arg;
        int s = connect_ok();
        char rel[64];
        struct statx sx;
        TU_REQUIRE(s >= 0);

        static const char *const trees[] = { "full", "stat" };
        for (size_t t = 0; t < ELEMENTSOF(trees); t++) {
                for (size_t i = 0; i < ELEMENTSOF(types); i++) {
                        snprintf(rel, sizeof rel, "t/%s/%s", trees[t], types[i].name);
                        REQUIRE_ST(req_stat(s, 0, rel, &sx), 0);
                        TU_REQUIRE((sx.stx_mode & S_IFMT) == types[i].type, "%s: mode %o", rel, sx.stx_mode);
                        TU_REQUIRE(sx.stx_uid == 0 && (sx.stx_mask & STATX_INO), "%s", rel);
                        TU_REQUIRE(sx.stx_mask & STATX_MNT_ID, "%s: mask %x", rel, sx.stx_mask);
                        REQUIRE_ST(req_stat(s, FDBR_F_NOFOLLOW, rel, &sx), 0);
                        TU_REQUIRE((sx.stx_mode & S_IFMT) == types[i].type, "%s", rel);
                }
                /* a final symlink: itself with NOFOLLOW (no `follow` needed),
                 * else refused (no `follow`) */
                snprintf(rel, sizeof rel, "t/%s/l", trees[t]);
                REQUIRE_ST(req_stat(s, FDBR_F_NOFOLLOW, rel, &sx), 0);
                TU_REQUIRE(S_ISLNK(sx.stx_mode) && sx.stx_size == 1, "%s: mode %o", rel, sx.stx_mode);
                REQUIRE_ST(req_stat(s, 0, rel, &sx), EACCES);
                snprintf(rel, sizeof rel, "t/%s/missing", trees[t]);
                REQUIRE_ST(req_stat(s, 0, rel, &sx), ENOENT);
                snprintf(rel, sizeof rel, "t/%s/f/x", trees[t]);
                REQUIRE_ST(req_stat(s, 0, rel, &sx), ENOTDIR);
        }
        /* no rule, or a deny rule: EACCES whether the file exists or not */
        static const char *const refused[] = { "t/none/f", "t/none/d", "t/none/missing", "t/full/denied", "t" };
        for (size_t i = 0; i < ELEMENTSOF(refused); i++)
                REQUIRE_ST(req_stat(s, 0, refused[i], &sx), EACCES);
        /* under `follow`, a link to a file inside is served */
        REQUIRE_ST(req_stat(s, 0, "t/follow/l", &sx), 0);
        TU_REQUIRE(S_ISREG(sx.stx_mode));
        /* the statx the client gets is the file's */
        REQUIRE_ST(req_stat(s, 0, "t/full/nd", &sx), 0);
        TU_REQUIRE(sx.stx_ino == real->stx_ino && sx.stx_nlink == real->stx_nlink &&
                   sx.stx_mtime.tv_sec == real->stx_mtime.tv_sec && sx.stx_mtime.tv_nsec == real->stx_mtime.tv_nsec);
        close(s);
        return 0;
}

/* IN_OPEN events queued on an inotify descriptor: an open for I/O of a
 * device runs its driver, of a FIFO may release a writer.  O_PATH makes
 * none. */
static unsigned opens_seen(int ino) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        unsigned n_open = 0;
        ssize_t n;
        while ((n = read(ino, buf, sizeof buf)) > 0)
                for (char *e = buf; e < buf + n; e += sizeof(struct inotify_event) + ((struct inotify_event *) e)->len)
                        n_open += !!(((struct inotify_event *) e)->mask & IN_OPEN);
        return n_open;
}

START_TEST(stat_types) {
        struct statx real;
        ck_assert_int_eq(statx(AT_FDCWD, P("t/full/nd"), 0, STATX_BASIC_STATS, &real), 0);
        int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ino, 0);
        static const char *const nodes[] = { "t/full/c", "t/full/p", "t/full/f", "t/stat/c", "t/stat/p" };
        for (size_t i = 0; i < ELEMENTSOF(nodes); i++)
                ck_assert_int_ge(inotify_add_watch(ino, P(nodes[i]), IN_OPEN), 0);
        tu_run_as(NOBODY, NOBODY, child_stat, &real);
        ck_assert_uint_eq(opens_seen(ino), 0);
        /* the watch does see an open */
        close(open(P("t/full/c"), O_RDONLY | O_CLOEXEC));
        ck_assert_uint_eq(opens_seen(ino), 1);
        close(ino);
        /* root has no rule either */
        int s = tu_connect(D.socket);
        struct statx sx;
        ck_assert_int_eq(req_stat(s, 0, "t/full/nd", &sx), EACCES);
        close(s);
}
END_TEST

static int child_stat_follow_out(void *arg) {
        int s = connect_ok();
        struct statx sx;
        TU_REQUIRE(s >= 0);
        REQUIRE_ST(req_stat(s, 0, "t/follow/out", &sx), EACCES);
        REQUIRE_ST(req_stat(s, FDBR_F_NOFOLLOW, "t/follow/out", &sx), 0);
        TU_REQUIRE(S_ISLNK(sx.stx_mode));
        close(s);
        return 0;
}

START_TEST(stat_follow_real_path) {
        ck_assert_int_eq(symlink(P("t/none/f"), P("t/follow/out")), 0);
        tu_run_as(NOBODY, NOBODY, child_stat_follow_out, NULL);
}
END_TEST

/* A writer blocked opening a FIFO is released by any open for reading: a
 * STAT that opened the FIFO, however briefly, would let it go. */
static int child_stat_fifo(void *arg) {
        int s = connect_ok();
        struct statx sx;
        TU_REQUIRE(s >= 0);
        for (int i = 0; i < 20; i++) {
                REQUIRE_ST(req_stat(s, 0, "t/full/p", &sx), 0);
                TU_REQUIRE(S_ISFIFO(sx.stx_mode));
                REQUIRE_ST(req_stat(s, 0, "t/stat/p", &sx), 0);
        }
        close(s);
        return 0;
}

static char proc_state(pid_t pid) {
        char path[64], buf[512];
        snprintf(path, sizeof path, "/proc/%d/stat", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return 0;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        char *p = strrchr(buf, ')');
        return p && p[1] == ' ' ? p[2] : 0;
}

/* The kernel function a task sleeps in. */
static bool in_fifo_open(pid_t pid) {
        char path[64], buf[64] = "";
        snprintf(path, sizeof path, "/proc/%d/wchan", (int) pid);
        FILE *f = fopen(path, "re");
        if (!f)
                return false;
        size_t n = fread(buf, 1, sizeof buf - 1, f);
        fclose(f);
        buf[n] = 0;
        return strstr(buf, "fifo") || strstr(buf, "pipe") || (proc_state(pid) == 'S' && n > 0 && buf[0] != '0');
}

START_TEST(stat_fifo_blocked_writer) {
        pid_t writers[2];
        const char *fifos[2] = { P("t/full/p"), P("t/stat/p") };
        for (int i = 0; i < 2; i++) {
                writers[i] = fork();
                ck_assert_int_ge(writers[i], 0);
                if (writers[i] == 0) {
                        int fd = open(fifos[i], O_WRONLY);
                        _exit(fd >= 0 ? 0 : 1);
                }
        }
        long long until = tu_now_ms() + 10000;
        while ((!in_fifo_open(writers[0]) || !in_fifo_open(writers[1])) && tu_now_ms() < until)
                usleep(1000);
        ck_assert_msg(in_fifo_open(writers[0]) && in_fifo_open(writers[1]), "writers never blocked");

        tu_run_as(NOBODY, NOBODY, child_stat_fifo, NULL);

        for (int i = 0; i < 2; i++) {
                int status;
                ck_assert_msg(waitpid(writers[i], &status, WNOHANG) == 0, "a STAT released the writer of %s",
                              fifos[i]);
                /* release it ourselves */
                int fd = open(fifos[i], O_RDONLY);
                ck_assert_int_ge(fd, 0);
                ck_assert_int_eq(waitpid(writers[i], &status, 0), writers[i]);
                close(fd);
        }
}
END_TEST

/* ---- READLINK ---------------------------------------------------------------- */

static int child_readlink(void *arg) {
        int s = connect_ok();
        char buf[FDBR_WIRE_PATH_MAX];
        size_t len = sizeof buf;
        TU_REQUIRE(s >= 0);
        const char *p = P("t/stat/l");
        REQUIRE_ST(req_area(s, FDBR_OP_READLINK, 0, 0, p, strlen(p), buf, &len), 0);
        TU_REQUIRE(len == 1 && buf[0] == 'f', "%zu", len);
        len = sizeof buf;
        p = P("t/full/ld");
        REQUIRE_ST(req_area(s, FDBR_OP_READLINK, 0, 0, p, strlen(p), buf, &len), 0);
        TU_REQUIRE(len == 1 && buf[0] == 'd', "%zu", len);
        /* the long target, whole */
        len = sizeof buf;
        p = P("t/full/long");
        REQUIRE_ST(req_area(s, FDBR_OP_READLINK, 0, 0, p, strlen(p), buf, &len), 0);
        TU_REQUIRE(len == 4000 && buf[0] == '/' && buf[3999] == 'x', "%zu", len);
        for (size_t i = 0; i < ELEMENTSOF(types); i++)
                REQUIRE_ST(req_in(s, FDBR_OP_READLINK, 0, "full", types[i].name), EINVAL);
        REQUIRE_ST(req(s, FDBR_OP_READLINK, 0, 0, "t/full/missing"), ENOENT);
        REQUIRE_ST(req(s, FDBR_OP_READLINK, 0, 0, "t/none/l"), EACCES);
        REQUIRE_ST(req(s, FDBR_OP_READLINK, 0, 0, "t/none/missing"), EACCES);
        /* the link's own path is what is judged, not its target's */
        REQUIRE_ST(req(s, FDBR_OP_READLINK, 0, 0, "t/follow/out"), 0);
        close(s);
        return 0;
}

START_TEST(readlink_types) {
        char target[4001];
        memset(target, 'x', 4000);
        target[0] = '/';
        target[4000] = 0;
        ck_assert_int_eq(symlink(target, P("t/full/long")), 0);
        ck_assert_int_eq(symlink(P("t/none/f"), P("t/follow/out")), 0);
        tu_run_as(NOBODY, NOBODY, child_readlink, NULL);
}
END_TEST

/* ---- MKDIR -------------------------------------------------------------------- */

static int child_mkdir(void *arg) {
        int s = connect_ok();
        TU_REQUIRE(s >= 0);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/full/new"), 0);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0750, "t/full/new750"), 0);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/full/sg/new"), 0);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0700, "t/drop/new"), 0);
        /* EEXIST for a name in any form, a dangling symlink too */
        static const char *const taken[] = { "f", "d", "nd", "l", "ld", "p", "c", "s", "dangling" };
        for (size_t i = 0; i < ELEMENTSOF(taken); i++)
                REQUIRE_ST(req_in(s, FDBR_OP_MKDIR, 0777, "full", taken[i]), EEXIST);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/full/missing/x"), ENOENT);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/full/f/x"), ENOTDIR);
        /* a symlink as parent is not followed without `follow` */
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/full/ld/x"), EACCES);
        /* `create` and `dir` both needed */
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/stat/new"), EACCES);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/dst/new"), EACCES);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/none/new"), EACCES);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/full/denied"), EACCES);
        /* follow: the real parent is judged */
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/follow/ld/x"), 0);
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 0777, "t/follow/outdir/x"), EACCES);
        /* mode bits beyond 0777 are the protocol's EINVAL */
        REQUIRE_ST(req(s, FDBR_OP_MKDIR, 0, 01777, "t/full/sticky"), EINVAL);
        close(s);
        return 0;
}

static void expect_dir(const char *rel, uid_t uid, gid_t gid, mode_t mode) {
        struct stat st;
        ck_assert_msg(lstat(P(rel), &st) == 0, "%s: %s", rel, strerror(errno));
        ck_assert_msg(S_ISDIR(st.st_mode), "%s", rel);
        ck_assert_msg(st.st_uid == uid && st.st_gid == gid, "%s: %u:%u", rel, (unsigned) st.st_uid,
                      (unsigned) st.st_gid);
        ck_assert_msg((st.st_mode & 07777) == mode, "%s: mode %o, want %o", rel, st.st_mode & 07777, mode);
}

START_TEST(mkdir_owner_mode) {
        tu_mkdir(P("t/full/sg"), 02777, 0, OTHER_GID);
        ck_assert_int_eq(chmod(P("t/full/sg"), 02777), 0);
        ck_assert_int_eq(symlink("nowhere", P("t/full/dangling")), 0);
        ck_assert_int_eq(symlink(P("t/none"), P("t/follow/outdir")), 0);
        tu_run_as(NOBODY, NOBODY, child_mkdir, NULL);
        expect_dir("t/full/new", NOBODY, NOBODY, 0755);
        expect_dir("t/full/new750", NOBODY, NOBODY, 0750);
        /* a set-group-ID parent: its group, and the bit, as the kernel does */
        expect_dir("t/full/sg/new", NOBODY, OTHER_GID, 02755);
        expect_dir("t/drop/new", NOBODY, NOBODY, 0700);
        expect_dir("t/follow/d/x", NOBODY, NOBODY, 0755);
        ck_assert(!exists("t/none/x"));
        ck_assert(!exists("t/stat/new") && !exists("t/dst/new") && !exists("t/none/new"));
        ck_assert_int_eq(ltype("t/full/dangling"), S_IFLNK);
        ck_assert(!exists("t/full/nowhere"));
        ck_assert(tu_log_has(&D, "op=MKDIR", "t/full/new\"", "status=0", NULL));
}
END_TEST

/* ---- UNLINK and RMDIR ---------------------------------------------------------- */

static int child_unlink(void *arg) {
        int s = connect_ok();
        TU_REQUIRE(s >= 0);
        /* property 4: not without `delete`, whatever else is granted */
        static const char *const trees[] = { "stat", "drop", "dst", "none" };
        for (size_t t = 0; t < ELEMENTSOF(trees); t++) {
                static const char *const names[] = { "f", "l", "p", "c", "s", "d", "missing" };
                for (size_t i = 0; i < ELEMENTSOF(names); i++) {
                        REQUIRE_ST(req_in(s, FDBR_OP_UNLINK, 0, trees[t], names[i]), EACCES);
                        REQUIRE_ST(req_in(s, FDBR_OP_RMDIR, 0, trees[t], names[i]), EACCES);
                }
        }
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/full/denied"), EACCES);

        /* every type of non-directory; the symlink itself, not its target */
        static const char *const gone[] = { "l", "f", "p", "c", "s" };
        for (size_t i = 0; i < ELEMENTSOF(gone); i++)
                REQUIRE_ST(req_in(s, FDBR_OP_UNLINK, 0, "full", gone[i]), 0);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/full/ld"), 0);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/full/d"), EISDIR);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/full/missing"), ENOENT);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/full/nd/x/y"), ENOTDIR);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/full/d/../f"), EINVAL);
        /* `delete` alone: names, not directories */
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/delete/f"), 0);
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/delete/d"), EACCES);

        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/full/nd"), ENOTEMPTY);
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/full/nd/x"), ENOTDIR);
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/full/missing"), ENOENT);
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/full/d"), 0);
        /* a symlink to a directory is a name, never followed */
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/delete/ld"), EACCES);
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/follow/ld"), ENOTDIR);
        /* under follow, the parent's real path is judged */
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/follow/outdir/f"), EACCES);
        close(s);
        return 0;
}

START_TEST(unlink_rmdir_types) {
        ck_assert_int_eq(symlink(P("t/none"), P("t/follow/outdir")), 0);
        tu_run_as(NOBODY, NOBODY, child_unlink, NULL);
        static const char *const kept[] = { "t/stat/f", "t/drop/f", "t/dst/f", "t/none/f", "t/drop/d",
                                            "t/none/d", "t/delete/d", "t/full/nd", "t/follow/d", "t/none/l" };
        for (size_t i = 0; i < ELEMENTSOF(kept); i++)
                ck_assert_msg(exists(kept[i]), "%s removed", kept[i]);
        static const char *const gone[] = { "t/full/f", "t/full/l", "t/full/p", "t/full/c", "t/full/s",
                                            "t/full/ld", "t/full/d", "t/delete/f" };
        for (size_t i = 0; i < ELEMENTSOF(gone); i++)
                ck_assert_msg(!exists(gone[i]), "%s still there", gone[i]);
        ck_assert_int_eq(ltype("t/follow/ld"), S_IFLNK);
        ck_assert(tu_log_has(&D, "deny", "op=UNLINK", "t/drop/f\"", NULL));
}
END_TEST

/* ---- owner ---------------------------------------------------------------------- */

static int child_owner(void *arg) {
        int s = connect_ok();
        TU_REQUIRE(s >= 0);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/own/mine"), 0);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/own/f"), EACCES);
        REQUIRE_ST(req(s, FDBR_OP_UNLINK, 0, 0, "t/own/l"), EACCES);
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/own/minedir"), 0);
        REQUIRE_ST(req(s, FDBR_OP_RMDIR, 0, 0, "t/own/d"), EACCES);
        REQUIRE_ST(req_rename(s, 0, "t/own/f", "t/dst/stolen"), EACCES);
        REQUIRE_ST(req_rename(s, 0, "t/own/mine2", "t/dst/mine2"), 0);
        close(s);
        return 0;
}

START_TEST(owner_on_delete) {
        tu_write_file(P("t/own/mine"), "", 0644, NOBODY, NOBODY);
        tu_write_file(P("t/own/mine2"), "", 0644, NOBODY, NOBODY);
        tu_mkdir(P("t/own/minedir"), 0755, NOBODY, NOBODY);
        tu_run_as(NOBODY, NOBODY, child_owner, NULL);
        ck_assert(!exists("t/own/mine") && !exists("t/own/minedir") && exists("t/dst/mine2"));
        ck_assert(exists("t/own/f") && exists("t/own/l") && exists("t/own/d") && !exists("t/dst/stolen"));
        ck_assert(tu_log_has(&D, "op=UNLINK", "not owned by the client", NULL));
}
END_TEST

/* ---- RENAME ---------------------------------------------------------------------- */

static int child_rename(void *arg) {
        int s = connect_ok();
        TU_REQUIRE(s >= 0);
        REQUIRE_ST(req_rename(s, 0, "t/full/f", "t/full/g"), 0);
        REQUIRE_ST(req_rename(s, FDBR_F_EXCL, "t/full/g", "t/full/p"), EEXIST);
        REQUIRE_ST(req_rename(s, FDBR_F_EXCL, "t/full/g", "t/full/h"), 0);
        /* the symlink itself moves, at either end */
        REQUIRE_ST(req_rename(s, 0, "t/full/ld", "t/full/ld2"), 0);
        REQUIRE_ST(req_rename(s, 0, "t/full/s", "t/full/l"), 0);
        /* kernel errors */
        REQUIRE_ST(req_rename(s, 0, "t/full/d", "t/full/nd"), ENOTEMPTY);
        REQUIRE_ST(req_rename(s, 0, "t/full/d", "t/full/h"), ENOTDIR);
        REQUIRE_ST(req_rename(s, 0, "t/full/h", "t/full/d"), EISDIR);
        REQUIRE_ST(req_rename(s, 0, "t/full/missing", "t/full/x"), ENOENT);
        REQUIRE_ST(req_rename(s, 0, "t/full/mnt/file", "t/full/x"), EXDEV);
        REQUIRE_ST(req_rename(s, 0, "t/full/nd", "t/full/nd/x/y"), ENOTDIR);
        /* src needs `delete`: property 4 */
        REQUIRE_ST(req_rename(s, 0, "t/drop/f", "t/full/x"), EACCES);
        REQUIRE_ST(req_rename(s, 0, "t/stat/f", "t/full/x"), EACCES);
        REQUIRE_ST(req_rename(s, 0, "t/none/missing", "t/full/x"), EACCES);
        /* dst needs `create`, and `delete` where it replaces */
        REQUIRE_ST(req_rename(s, 0, "t/full/c", "t/none/x"), EACCES);
        REQUIRE_ST(req_rename(s, 0, "t/full/c", "t/stat/x"), EACCES);
        REQUIRE_ST(req_rename(s, 0, "t/full/c", "t/full/denied"), EACCES);
        REQUIRE_ST(req_rename(s, 0, "t/full/c", "t/dst/f"), EACCES);
        REQUIRE_ST(req_rename(s, FDBR_F_EXCL, "t/full/c", "t/dst/f"), EEXIST);
        REQUIRE_ST(req_rename(s, 0, "t/full/c", "t/dst/new"), 0);
        REQUIRE_ST(req_rename(s, 0, "t/full/p", "t/dstdel/f"), 0);
        close(s);
        return 0;
}

START_TEST(rename_cases) {
        tu_mkdir(P("t/full/mnt"), 0700, 0, 0);
        ck_assert_int_eq(mount("tmpfs", P("t/full/mnt"), "tmpfs", 0, "mode=0700"), 0);
        tu_write_file(P("t/full/mnt/file"), "m", 0644, 0, 0);
        ino_t p_ino;
        struct stat st;
        ck_assert_int_eq(lstat(P("t/full/p"), &st), 0);
        p_ino = st.st_ino;

        tu_run_as(NOBODY, NOBODY, child_rename, NULL);

        ck_assert(!exists("t/full/f") && !exists("t/full/g") && exists("t/full/h"));
        ck_assert_int_eq(ltype("t/full/ld2"), S_IFLNK);
        ck_assert_int_eq(ltype("t/full/d"), S_IFDIR);
        ck_assert_int_eq(ltype("t/full/l"), S_IFSOCK);
        ck_assert(exists("t/drop/f") && exists("t/stat/f") && exists("t/full/mnt/file"));
        ck_assert_int_eq(ltype("t/dst/f"), S_IFREG);
        ck_assert_int_eq(ltype("t/dst/new"), S_IFCHR);
        ck_assert_int_eq(lstat(P("t/dstdel/f"), &st), 0);
        ck_assert_uint_eq(st.st_ino, p_ino);
        ck_assert(!exists("t/none/x") && !exists("t/stat/x"));
        /* both paths in the record */
        char dst[600];
        snprintf(dst, sizeof dst, "dst=\"%s\"", P("t/none/x"));
        ck_assert(tu_log_has(&D, "deny", "op=RENAME", dst, NULL));
        /* no rule for the destination: none is cited, not the source's */
        ck_assert(tu_log_has(&D, "deny", "op=RENAME", dst, "rule=-", "destination: no rule", NULL));
        snprintf(dst, sizeof dst, "judged=\"%s\"", P("t/none/x"));
        ck_assert(tu_log_has(&D, "deny", "op=RENAME", dst, NULL));
        /* the broker's mount table holds the mount: detach it */
        ck_assert_int_eq(umount2(P("t/full/mnt"), MNT_DETACH), 0);
}
END_TEST

/* ---- races: a parent swapped for a symlink to a forbidden directory ------------- */

struct race {
        const char *tree;   /* "race" or "racef" */
};

/* Swaps tree/a between a real directory and a symlink to the forbidden
 * one, until killed. */
static void swapper(const char *tree) {
        char a[1024], real[1024], forbidden[1024];
        snprintf(a, sizeof a, "%s/%s/a", D.dir, tree);
        snprintf(real, sizeof real, "%s/%s/a.real", D.dir, tree);
        snprintf(forbidden, sizeof forbidden, "%s/forbidden", D.dir);
        for (;;) {
                (void) !rename(a, real);
                (void) !symlink(forbidden, a);
                (void) !unlink(a);
                (void) !rename(real, a);
        }
}

static int child_race(void *arg) {
        const struct race *r = arg;
        char rel[4][128], stable[128], p[1024];

        /* The real directories, held: what the loop puts there to be acted
         * on lands in them wherever the swapper has moved them. */
        snprintf(p, sizeof p, "%s/%s/a", D.dir, r->tree);
        int adir = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        snprintf(p, sizeof p, "%s/%s/b", D.dir, r->tree);
        int bdir = open(p, O_PATH | O_DIRECTORY | O_CLOEXEC);
        TU_REQUIRE(adir >= 0 && bdir >= 0);

        pid_t pid = fork();
        TU_REQUIRE(pid >= 0);
        if (pid == 0)
                swapper(r->tree);

        int s = connect_ok();
        TU_REQUIRE(s >= 0);
        snprintf(rel[0], sizeof rel[0], "%s/a/victim", r->tree);
        snprintf(rel[1], sizeof rel[1], "%s/a/vdir", r->tree);
        snprintf(rel[2], sizeof rel[2], "%s/a/new", r->tree);
        snprintf(rel[3], sizeof rel[3], "%s/a/moved", r->tree);
        snprintf(stable, sizeof stable, "%s/b/file", r->tree);
        unsigned done[4] = { 0 };
        long long until = tu_now_ms() + 1500;
        for (unsigned i = 0; tu_now_ms() < until || i < 200; i++) {
                done[0] += req(s, FDBR_OP_UNLINK, 0, 0, rel[0]) == 0;
                done[1] += req(s, FDBR_OP_RMDIR, 0, 0, rel[1]) == 0;
                done[2] += req(s, FDBR_OP_MKDIR, 0, 0777, rel[2]) == 0;
                done[3] += req_rename(s, 0, rel[0], rel[3]) == 0;
                done[3] += req_rename(s, 0, rel[2], rel[3]) == 0;
                /* from a stable directory into the swapped one */
                done[3] += req_rename(s, 0, stable, rel[3]) == 0;

                int fd = openat(adir, "victim", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd >= 0)
                        close(fd);
                (void) !mkdirat(adir, "vdir", 0755);
                fd = openat(bdir, "file", O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
                if (fd >= 0)
                        close(fd);
                (void) !unlinkat(adir, "moved", AT_REMOVEDIR);
                (void) !unlinkat(adir, "moved", 0);
        }
        kill(pid, SIGKILL);
        waitpid(pid, NULL, 0);
        close(s);
        close(adir);
        close(bdir);
        /* the ops did run, in the real directory, meanwhile */
        TU_REQUIRE(done[0] + done[1] + done[2] + done[3] > 0, "unlink %u rmdir %u mkdir %u rename %u", done[0],
                   done[1], done[2], done[3]);
        return 0;
}

static void race_run(const char *tree) {
        char rel[64];
        tu_mkdir(P("forbidden"), 0755, 0, 0);
        tu_write_file(P("forbidden/victim"), "keep", 0644, 0, 0);
        tu_mkdir(P("forbidden/vdir"), 0755, 0, 0);
        tu_mkdir(P(tree), 0755, NOBODY, NOBODY);
        snprintf(rel, sizeof rel, "%s/a", tree);
        tu_mkdir(P(rel), 0755, NOBODY, NOBODY);
        snprintf(rel, sizeof rel, "%s/b", tree);
        tu_mkdir(P(rel), 0755, NOBODY, NOBODY);
        struct race r = { .tree = tree };
        tu_run_as(NOBODY, NOBODY, child_race, &r);

        ck_assert_msg(exists("forbidden/victim") && exists("forbidden/vdir"), "removed through a swapped parent");
        ck_assert_msg(!exists("forbidden/new") && !exists("forbidden/moved"), "created through a swapped parent");
        struct stat st;
        ck_assert_int_eq(stat(P("forbidden"), &st), 0);
        ck_assert_uint_eq(st.st_nlink, 3); /* ., .., vdir: nothing else made there */
}

START_TEST(race_parent_swap) {
        race_run("race");
}
END_TEST

START_TEST(race_parent_swap_follow) {
        race_run("racef");
}
END_TEST

/* ---- STATUS and GRANTS ------------------------------------------------------------- */

static int status_of(int s, uint16_t op, char *buf, size_t size) {
        size_t len = size - 1;
        int st = req_area(s, op, 0, 0, "", 0, buf, &len);
        buf[st == 0 ? len : 0] = 0;
        return st;
}

static int child_status(void *arg) {
        char buf[FDBR_WIRE_TEXT_MAX + 1];
        int s = connect_ok();
        TU_REQUIRE(s >= 0);
        REQUIRE_ST(status_of(s, FDBR_OP_STATUS, buf, sizeof buf), EACCES);
        REQUIRE_ST(status_of(s, FDBR_OP_GRANTS, buf, sizeof buf), 0);
        char line[600];
        snprintf(line, sizeof line, "%s/t/full/** read,write,create,delete,", D.dir);
        TU_REQUIRE(strstr(buf, line), "GRANTS: %s", buf);
        snprintf(line, sizeof line, "%s/t/own/** delete,", D.dir);
        const char *own = strstr(buf, line);
        TU_REQUIRE(own && strstr(own, "owner") && strstr(own, "owner") < strchr(own, '\n'), "GRANTS: %s", buf);
        snprintf(line, sizeof line, "%s/t/full/denied", D.dir);
        TU_REQUIRE(!strstr(buf, line), "GRANTS lists a deny rule: %s", buf);
        close(s);
        return 0;
}

START_TEST(status_and_grants) {
        char buf[FDBR_WIRE_TEXT_MAX + 1];
        int s = tu_connect(D.socket);
        /* One refused OPEN (root has no rule), counted by op and verdict. */
        ck_assert_int_eq(tu_request(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "/etc/hostname", NULL), EACCES);
        ck_assert_int_eq(status_of(s, FDBR_OP_STATUS, buf, sizeof buf), 0);
        ck_assert_msg(strstr(buf, "clients=") && strstr(buf, "requests=") && strstr(buf, "uptime_s=") &&
                      strstr(buf, "\nrequests_open_denied=1\n"), "%s", buf);
        /* root has no rule: nothing granted, but an answer */
        ck_assert_int_eq(status_of(s, FDBR_OP_GRANTS, buf, sizeof buf), 0);
        ck_assert_str_eq(buf, "");
        close(s);
        tu_run_as(NOBODY, NOBODY, child_status, NULL);
}
END_TEST

/* ---- the fdbroker command ----------------------------------------------------------- */

static int run_cli(struct tu_cli_run *r, const char *const *args) {
        return tu_run_cli(D.socket, args, NULL, r);
}

#define CLI(r, ...) run_cli((r), (const char *const[]) { __VA_ARGS__, NULL })

static int child_cli(void *arg) {
        struct tu_cli_run r;
        char a[512], b[512], c[512];
        snprintf(a, sizeof a, "%s", P("t/full/newdir"));
        snprintf(b, sizeof b, "%s", P("t/full/newdir/sub"));
        snprintf(c, sizeof c, "%s", P("t/full/renamed"));

        TU_REQUIRE(CLI(&r, "mkdir", "--mode", "0750", a) == 0 && r.status == 0, "mkdir: %s", r.err);
        TU_REQUIRE(CLI(&r, "mkdir", b) == 0 && r.status == 0, "mkdir: %s", r.err);
        TU_REQUIRE(CLI(&r, "stat", a) == 0 && r.status == 0, "stat: %s", r.err);
        TU_REQUIRE(strncmp(r.out, "directory 0750 65534 65534 ", 27) == 0, "stat: '%s'", r.out);
        TU_REQUIRE(CLI(&r, "stat", "--no-follow", P("t/full/l")) == 0 && r.status == 0, "%s", r.err);
        TU_REQUIRE(strncmp(r.out, "symlink ", 8) == 0, "stat --no-follow: '%s'", r.out);
        TU_REQUIRE(CLI(&r, "readlink", P("t/full/l")) == 0 && r.status == 0 && strcmp(r.out, "f\n") == 0,
                   "readlink: '%s' %s", r.out, r.err);
        TU_REQUIRE(CLI(&r, "ls", P("t/full")) == 0 && r.status == 0, "ls: %s", r.err);
        TU_REQUIRE(strcmp(r.out, "c\nd\nf\nl\nld\nnd\nnewdir\np\ns\n") == 0, "ls: '%s'", r.out);
        TU_REQUIRE(CLI(&r, "ls", "-l", P("t/full")) == 0 && r.status == 0, "ls -l: %s", r.err);
        TU_REQUIRE(strstr(r.out, "fifo ") && strstr(r.out, "symlink ") && strstr(r.out, " newdir\n"), "ls -l: '%s'",
                   r.out);
        TU_REQUIRE(CLI(&r, "mv", "--no-clobber", P("t/full/f"), P("t/full/p")) == 0 && r.status == 1, "mv -n");
        TU_REQUIRE(strstr(r.err, "File exists"), "mv --no-clobber: '%s'", r.err);
        TU_REQUIRE(CLI(&r, "mv", P("t/full/f"), c) == 0 && r.status == 0, "mv: %s", r.err);
        TU_REQUIRE(CLI(&r, "rm", c, P("t/full/l")) == 0 && r.status == 0, "rm: %s", r.err);
        TU_REQUIRE(CLI(&r, "rmdir", a) == 0 && r.status == 1 && strstr(r.err, "not empty"), "rmdir: '%s'", r.err);
        /* one command each: the command sends its paths all at once, so
         * "rmdir a/b a" may find a not empty yet */
        TU_REQUIRE(CLI(&r, "rmdir", b) == 0 && r.status == 0, "rmdir: %s", r.err);
        TU_REQUIRE(CLI(&r, "rmdir", a) == 0 && r.status == 0, "rmdir: %s", r.err);
        TU_REQUIRE(CLI(&r, "rm", P("t/drop/f")) == 0 && r.status == 1 && strstr(r.err, "Permission denied"),
                   "rm refused: %d '%s'", r.status, r.err);
        TU_REQUIRE(CLI(&r, "status") == 0 && r.status == 1 && strstr(r.err, "Permission denied"), "status: %d '%s'",
                   r.status, r.err);
        return 0;
}

START_TEST(cli_end_to_end) {
        (void) tu_cli_path(); /* copied here, as root: the child could not */
        tu_run_as(NOBODY, NOBODY, child_cli, NULL);
        ck_assert(!exists("t/full/f") && !exists("t/full/renamed") && !exists("t/full/l") &&
                  !exists("t/full/newdir"));
        ck_assert(exists("t/drop/f"));
        struct tu_cli_run r;
        ck_assert_int_eq(CLI(&r, "status"), 0);
        ck_assert_msg(r.status == 0 && strstr(r.out, "requests="), "status as root: %d '%s' %s", r.status, r.out,
                      r.err);
}
END_TEST

Suite *fsops_suite(void);
Suite *fsops_suite(void) {
        Suite *s = suite_create("fsops");
        TCase *tc = tcase_create("ops");
        tcase_add_checked_fixture(tc, setup, teardown);
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, stat_types);
        tcase_add_test(tc, stat_follow_real_path);
        tcase_add_test(tc, stat_fifo_blocked_writer);
        tcase_add_test(tc, readlink_types);
        tcase_add_test(tc, mkdir_owner_mode);
        tcase_add_test(tc, unlink_rmdir_types);
        tcase_add_test(tc, owner_on_delete);
        tcase_add_test(tc, rename_cases);
        tcase_add_test(tc, race_parent_swap);
        tcase_add_test(tc, race_parent_swap_follow);
        tcase_add_test(tc, status_and_grants);
        tcase_add_test(tc, cli_end_to_end);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(fsops_suite());
}
