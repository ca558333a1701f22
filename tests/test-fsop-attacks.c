/* SPDX-License-Identifier: MIT */
/* Attacks on the filesystem half of a request, by real unprivileged
 * clients against a real daemon: a planted symlink as an existence oracle
 * under follow, FIFOs and device nodes opened without being granted (or on
 * the event loop), the group of a file created in a set-group-ID
 * directory, and the `owner` modifier on the file actually reached.
 *
 * Built twice: as test-fsop-attacks, and with FSOP_OWNER_DAEMON as
 * test-fsop-owner, the daemon-level `owner` tests, which skip (77) while the
 * policy parser does not know `owner` yet. */

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include "closer.h"
#include "fsop.h"
#include "harness.h"
#include "macro.h"
#include "policy.h"
#include "request.h"
#include "testutil.h"

static struct tu_daemon D;

#define path_in(rel) tu_daemon_path(&D, rel)
#define request_path(s, ...) tu_request_in(&D, s, __VA_ARGS__)

#ifndef FSOP_OWNER_DAEMON

static const char *const log_info[] = { "--log-level", "info", NULL };

/* ---- follow as an existence oracle ------------------------------------- */

/* The client plants links in its own tree, to names under a 0700
 * directory it may not search, some of which exist.  Every answer about
 * them must be the same EACCES, whatever is there. */
static int child_oracle(void *arg) {
        const char *dir = arg;
        static const char *const links[][2] = {
                { "tree/exists", "private/file" },           /* exists: refused on its real path */
                { "tree/missing", "private/none" },          /* ENOENT behind the link */
                { "tree/deeper", "private/none/x" },         /* ENOENT half-way */
                { "tree/notdir", "private/file/x" },         /* ENOTDIR */
                { "tree/pdir", "private" },                  /* a directory link */
                { "tree/loop", "tree/loop" },                /* ELOOP */
                { "tree/inside", "tree/nothing" },           /* dangling, but inside the tree */
        };
        char lp[1024], tp[1024];
        int s = tu_connect(D.socket), fd = -1, st;
        TU_REQUIRE(s >= 0);

        for (size_t i = 0; i < ELEMENTSOF(links); i++) {
                snprintf(lp, sizeof lp, "%s/%s", dir, links[i][0]);
                snprintf(tp, sizeof tp, "%s/%s", dir, links[i][1]);
                TU_REQUIRE(symlink(tp, lp) == 0, "symlink %s", lp);
        }

        static const char *const secret[] = {
                "tree/exists", "tree/missing", "tree/deeper", "tree/notdir",
                "tree/pdir/file", "tree/pdir/none", "tree/pdir/none/x", "tree/pdir/file/x",
        };
        static const uint16_t ops[] = { FDBR_OP_OPEN, FDBR_OP_CHECK };
        for (size_t i = 0; i < ELEMENTSOF(secret); i++)
                for (size_t k = 0; k < ELEMENTSOF(ops); k++) {
                        st = request_path(s, ops[k], FDBR_F_READ, 0, secret[i], NULL);
                        TU_REQUIRE(st == EACCES, "%s op %u: status %d, want EACCES", secret[i], ops[k], st);
                }
        /* creating behind a link: the parent is missing or not allowed */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "tree/pdir/none/new", NULL);
        TU_REQUIRE(st == EACCES, "create under a missing target dir: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "tree/pdir/new", NULL);
        TU_REQUIRE(st == EACCES, "create in a target dir: %d", st);
        /* a loop says nothing about anything outside the tree */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "tree/loop", NULL);
        TU_REQUIRE(st == EACCES || st == ELOOP, "loop: %d", st);

        /* Errors about what the client may see still pass through: on the
         * named path, and behind a link to an allowed place. */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "tree/nothing", NULL);
        TU_REQUIRE(st == ENOENT, "missing, no link: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "tree/inside", NULL);
        TU_REQUIRE(st == ENOENT, "dangling link inside the tree: %d", st);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_DIRECTORY, 0, "tree/inside", NULL);
        TU_REQUIRE(st == EACCES || st == ENOENT, "dangling link, DIRECTORY: %d", st);
        /* and following still works */
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "tree/inside", &fd);
        TU_REQUIRE(st == EACCES, "create through a dangling link: %d", st);
        snprintf(tp, sizeof tp, "%s/tree/real", dir);
        close(open(tp, O_WRONLY | O_CREAT | O_CLOEXEC, 0644));
        snprintf(lp, sizeof lp, "%s/tree/good", dir);
        TU_REQUIRE(symlink(tp, lp) == 0);
        st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, "tree/good", &fd);
        TU_REQUIRE(st == 0, "good link: %d", st);
        TU_REQUIRE((fcntl(fd, F_GETFL) & (O_NONBLOCK | O_ACCMODE)) == O_RDONLY);
        close(fd);
        close(s);
        return 0;
}

START_TEST(follow_oracle) {
        char *p;
        tu_daemon_start(&D, "uid=65534 @DIR@/tree/** read,write,create,follow\n", log_info);
        tu_mkdir(p = path_in("tree"), 0755, TU_NOBODY, TU_NOBODY); free(p);
        tu_mkdir(p = path_in("private"), 0700, 0, 0); free(p);
        tu_write_file(p = path_in("private/file"), "secret\n", 0600, 0, 0); free(p);

        tu_run_as(TU_NOBODY, TU_NOBODY, child_oracle, D.dir);

        /* audited as denials, with the path that was judged; never an
         * allowed request that failed with the target's own error */
        ck_assert(tu_log_has(&D, "deny", "tree/missing", "status=EACCES", "judged=", "private/none", NULL));
        ck_assert(tu_log_has(&D, "deny", "tree/pdir/none/x", "judged=", "private/none/x", NULL));
        ck_assert(tu_log_has(&D, "deny", "tree/exists", "judged=", "private/file", NULL));
        ck_assert(tu_log_has(&D, "allow uid=", "tree/nothing", "status=ENOENT", NULL));
        ck_assert(!tu_log_has(&D, "allow uid=", "tree/missing", NULL));
        ck_assert(!tu_log_has(&D, "allow uid=", "tree/notdir", NULL));
        ck_assert_int_eq(access(p = path_in("private/new"), F_OK), -1); free(p);
        tu_daemon_stop(&D);
}
END_TEST

/* ---- FIFOs and devices ------------------------------------------------ */

/* True while pid sleeps in open(2)/openat(2). */
static bool blocked_in_open(pid_t pid) {
        char path[64], buf[128] = "";
        snprintf(path, sizeof path, "/proc/%d/syscall", (int) pid);
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return false;
        ssize_t n = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (n <= 0)
                return false;
        long nr = strtol(buf, NULL, 10);
        return nr == SYS_openat || nr == SYS_open;
}

static int child_open_read(void *arg) {
        const char *rel = arg;
        int s = tu_connect(D.socket);
        TU_REQUIRE(s >= 0);
        int st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ, 0, rel, NULL);
        TU_REQUIRE(st == EACCES, "OPEN READ of %s: %d", rel, st);
        st = request_path(s, FDBR_OP_CHECK, FDBR_F_READ, 0, rel, NULL);
        TU_REQUIRE(st == EACCES, "CHECK READ of %s: %d", rel, st);
        close(s);
        return 0;
}

/* A daemon granting nobody everything beneath data directly and beneath
 * links through symlinks, with both directories made. */
static void start_data_and_links(void) {
        char *p;
        tu_daemon_start(&D,
                        "uid=65534 @DIR@/data/** read,write\n"
                        "uid=65534 @DIR@/links/** read,follow\n", NULL);
        tu_mkdir(p = path_in("data"), 0755, 0, 0); free(p);
        tu_mkdir(p = path_in("links"), 0755, 0, 0); free(p);
}

/* A writer blocked in open(O_WRONLY) of a FIFO is released by the first
 * reader to open it: the broker must not be that reader. */
START_TEST(fifo_not_opened) {
        char *p;
        start_data_and_links();
        char *fifo = path_in("data/fifo");
        ck_assert_int_eq(mkfifo(fifo, 0666), 0);
        ck_assert_int_eq(symlink(fifo, p = path_in("links/fifo")), 0); free(p);

        pid_t writer = fork();
        ck_assert_int_ge(writer, 0);
        if (writer == 0) {
                int fd = open(fifo, O_WRONLY | O_CLOEXEC);
                _exit(fd >= 0 ? 0 : 1);
        }
        long long end = tu_now_ms() + 10000;
        while (!blocked_in_open(writer)) {
                ck_assert_msg(tu_now_ms() < end, "the writer never blocked in open");
                usleep(1000);
        }

        tu_run_as(TU_NOBODY, TU_NOBODY, child_open_read, "data/fifo");
        tu_run_as(TU_NOBODY, TU_NOBODY, child_open_read, "links/fifo");

        /* The writer stays blocked: had the broker opened the FIFO, its
         * open would have returned and it would have exited. */
        end = tu_now_ms() + 300;
        while (tu_now_ms() < end) {
                int status;
                ck_assert_msg(waitpid(writer, &status, WNOHANG) == 0, "the writer was released");
                usleep(5000);
        }
        ck_assert(blocked_in_open(writer));

        /* Releases it, as a reader of our own. */
        int fd = open(fifo, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        int status = tu_wait(writer, 10000);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        close(fd);
        ck_assert(tu_log_has(&D, "deny", "data/fifo", "not a regular file", NULL));
        free(fifo);
        tu_daemon_stop(&D);
}
END_TEST

/* Counts IN_OPEN events queued on an inotify descriptor: one per open
 * that reached the file's open routine (an O_PATH open makes none). */
static int open_events(int ino) {
        char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
        int count = 0;
        for (;;) {
                ssize_t n = read(ino, buf, sizeof buf);
                if (n <= 0)
                        return count;
                for (char *e = buf; e < buf + n; e += sizeof(struct inotify_event) + ((struct inotify_event *) e)->len)
                        if (((struct inotify_event *) e)->mask & IN_OPEN)
                                count++;
        }
}

/* A device node on an ordinary local filesystem (not devtmpfs), under a
 * rule without `device`: the node is never opened, so its driver never
 * runs.  The kernel reports every open that reached the driver as IN_OPEN
 * on the node. */
START_TEST(device_not_opened) {
        char *p;
        start_data_and_links();
        char *node = path_in("data/null");
        ck_assert_int_eq(mknod(node, S_IFCHR | 0666, makedev(1, 3)), 0);
        ck_assert_int_eq(symlink(node, p = path_in("links/null")), 0); free(p);

        int ino = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        ck_assert_int_ge(ino, 0);
        ck_assert_int_ge(inotify_add_watch(ino, node, IN_OPEN), 0);

        tu_run_as(TU_NOBODY, TU_NOBODY, child_open_read, "data/null");
        tu_run_as(TU_NOBODY, TU_NOBODY, child_open_read, "links/null");
        /* the replies came after the opens: any event is queued already */
        ck_assert_int_eq(open_events(ino), 0);

        /* the probe sees an open that happens */
        int fd = open(node, O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(open_events(ino), 1);
        close(ino);
        free(node);
        tu_daemon_stop(&D);
}
END_TEST

static int child_device(void *arg) {
        (void) arg;
        int s = tu_connect(D.socket), fd = -1;
        TU_REQUIRE(s >= 0);
        int st = request_path(s, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_WRITE, 0, "data/null", &fd);
        TU_REQUIRE(st == 0, "device with device: %d", st);
        struct stat sb;
        TU_REQUIRE(fstat(fd, &sb) == 0 && S_ISCHR(sb.st_mode));
        /* opened non-blocking, handed out blocking */
        TU_REQUIRE((fcntl(fd, F_GETFL) & O_NONBLOCK) == 0);
        TU_REQUIRE(write(fd, "x", 1) == 1);
        close(fd);
        close(s);
        return 0;
}

/* With `device`, a device on a local mount is opened, but in a worker: its
 * driver may wait, and the loop never does.  The daemon's STATUS= line
 * counts the requests that went to a worker. */
START_TEST(device_off_loop) {
        char *p, buf[512];
        tu_daemon_start(&D, "uid=65534 @DIR@/data/** read,write,device\n", NULL);
        tu_mkdir(p = path_in("data"), 0755, 0, 0); free(p);
        ck_assert_int_eq(mknod(p = path_in("data/null"), S_IFCHR | 0666, makedev(1, 3)), 0); free(p);

        tu_run_as(TU_NOBODY, TU_NOBODY, child_device, NULL);

        /* STATUS= is refreshed every 5 s once something changed. */
        unsigned long long requests = 0, workers = 0;
        long long end = tu_now_ms() + 15000;
        while (requests == 0) {
                ck_assert_msg(tu_now_ms() < end, "no STATUS= with the request counted");
                int n = tu_daemon_notify(&D, buf, sizeof buf - 1, 1000);
                if (n <= 0)
                        continue;
                buf[n] = 0;
                const char *st = strstr(buf, "STATUS=");
                const char *c = st ? strstr(st, "clients, ") : NULL;
                if (c)
                        (void) sscanf(c, "clients, %llu requests (%llu in workers)", &requests, &workers);
        }
        ck_assert_msg(workers >= 1, "the device was opened on the loop: %s", buf);
        tu_daemon_stop(&D);
}
END_TEST

/* ---- set-group-ID directories ---------------------------------------- */

#define SHARED_GID 4242

static int child_setgid(void *arg) {
        static const struct tu_want want[] = {
                { FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, "shared/log", 0, "create in shared" },
                { FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0644, "plain/log", 0, "create in plain" },
        };
        return tu_child_expect(&D, want, ELEMENTSOF(want));
}

START_TEST(setgid_parent) {
        char *p;
        struct stat st;
        tu_daemon_start(&D, "uid=65534 @DIR@/shared/** write,create\n"
                            "uid=65534 @DIR@/plain/** write,create\n", NULL);
        tu_mkdir(p = path_in("shared"), 0775, 0, SHARED_GID); free(p);
        ck_assert_int_eq(chmod(p = path_in("shared"), 02775), 0); free(p);
        tu_mkdir(p = path_in("plain"), 0777, 0, SHARED_GID); free(p);

        tu_run_as(TU_NOBODY, TU_NOBODY, child_setgid, NULL);

        ck_assert_int_eq(stat(p = path_in("shared/log"), &st), 0); free(p);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        ck_assert_uint_eq(st.st_gid, SHARED_GID);
        ck_assert_int_eq(st.st_mode & 07777, 0644);
        ck_assert_int_eq(stat(p = path_in("plain/log"), &st), 0); free(p);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        ck_assert_uint_eq(st.st_gid, TU_NOBODY);
        tu_daemon_stop(&D);
}
END_TEST

/* ---- owner, the daemon's half ----------------------------------------- */

/* fsop as the daemon runs it, with a verdict whose read and write hold only
 * for the client's own files: the check is on the file reached. */
static int owner_run(const char *path, uint32_t flags, unsigned owner_only, struct fsop *op) {
        static const struct policy_subject subject = { .uid = TU_NOBODY, .gid = TU_NOBODY };
        *op = (struct fsop) {
                .path = path, .path_len = strlen(path), .flags = flags, .mode = 0644,
                .need = request_need(flags), .granted = POLICY_READ | POLICY_WRITE | POLICY_CREATE,
                .owner_only = owner_only, .subject = &subject,
        };
        return fsop_run(op);
}

START_TEST(owner_file_reached) {
        char *dir = tu_mkdtemp();
        char *mine = tu_strdupf("%s/mine", dir), *theirs = tu_strdupf("%s/theirs", dir);
        char *fresh = tu_strdupf("%s/fresh", dir);
        const unsigned rw = POLICY_READ | POLICY_WRITE | POLICY_CREATE;
        struct fsop op;
        int fd;

        ck_assert_int_eq(fsop_probe(), 0);
        tu_write_file(mine, "mine", 0644, TU_NOBODY, TU_NOBODY);
        tu_write_file(theirs, "theirs", 0644, 0, 0);

        fd = owner_run(mine, FDBR_F_READ, rw, &op);
        ck_assert_int_ge(fd, 0);
        close(fd);
        ck_assert_int_eq(owner_run(theirs, FDBR_F_READ, rw, &op), -EACCES);
        ck_assert(op.denied);
        ck_assert_str_eq(op.reason, "not owned by the client");
        ck_assert_int_eq(owner_run(theirs, FDBR_F_WRITE | FDBR_F_CREATE, rw, &op), -EACCES);
        /* a permission not limited to the owner is not affected */
        fd = owner_run(theirs, FDBR_F_READ, POLICY_WRITE, &op);
        ck_assert_int_ge(fd, 0);
        close(fd);
        /* creating is: the new file is the client's */
        fd = owner_run(fresh, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, rw, &op);
        ck_assert_int_ge(fd, 0);
        close(fd);
        struct stat st;
        ck_assert_int_eq(stat(fresh, &st), 0);
        ck_assert_uint_eq(st.st_uid, TU_NOBODY);
        fd = owner_run(fresh, FDBR_F_READ, rw, &op);
        ck_assert_int_ge(fd, 0);
        close(fd);

        fsop_done();
        tu_rm_rf(dir);
        free(dir);
        free(mine);
        free(theirs);
        free(fresh);
}
END_TEST

/* ---- closing what the loop opened, after the reply ----------------------- */

static bool fd_open(int fd) {
        return fcntl(fd, F_GETFD) >= 0;
}

/* The descriptors of a batch are closed in runs of consecutive numbers
 * with close_range: a number between two of them that is not in the list
 * (another request's, a worker's) must stay open. */
START_TEST(local_close_runs) {
        int fds[7], list[5];

        /* Consecutive numbers, free in this process, so that a run over
         * the gaps would close them. */
        int null = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(null, 0);
        for (size_t i = 0; i < ELEMENTSOF(fds); i++) {
                fds[i] = 900 + (int) i;
                ck_assert(!fd_open(fds[i]));
                ck_assert_int_eq(dup3(null, fds[i], O_CLOEXEC), fds[i]);
        }
        close(null);
        /* unordered, with gaps at fds[2] and fds[5] */
        list[0] = fds[4];
        list[1] = fds[0];
        list[2] = fds[6];
        list[3] = fds[1];
        list[4] = fds[3];
        closer_close_local(list, ELEMENTSOF(list));
        ck_assert(!fd_open(fds[0]) && !fd_open(fds[1]) && !fd_open(fds[3]) && !fd_open(fds[4]) &&
                  !fd_open(fds[6]));
        ck_assert(fd_open(fds[2]));
        ck_assert(fd_open(fds[5]));
        close(fds[2]);
        close(fds[5]);
        closer_close_local(list, 0);
}
END_TEST

int main(void) {
        Suite *s = suite_create("fsop-attacks");
        TCase *tc = tcase_create("fsop");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, follow_oracle);
        tcase_add_test(tc, fifo_not_opened);
        tcase_add_test(tc, device_not_opened);
        tcase_add_test(tc, device_off_loop);
        tcase_add_test(tc, setgid_parent);
        tcase_add_test(tc, owner_file_reached);
        tcase_add_test(tc, local_close_runs);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}

#else /* FSOP_OWNER_DAEMON */

/* ---- owner through a real daemon, once the parser knows it ------------- */

static int child_owner(void *arg) {
        static const struct tu_want want[] = {
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "home/mine", 0, "own file" },
                /* another user's file renamed into the tree */
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "home/theirs", EACCES, "someone else's file" },
                /* the same, reached through a link: judged on the real path */
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "links/theirs", EACCES, "someone else's file via a link" },
                { FDBR_OP_OPEN, FDBR_F_READ, 0, "links/mine", 0, "own file via a link" },
                { FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0600, "home/new", 0, "create" },
        };
        return tu_child_expect(&D, want, ELEMENTSOF(want));
}

START_TEST(owner_daemon) {
        char *p, *t;
        tu_daemon_start(&D, "uid=65534 @DIR@/home/** read,write,create,owner\n"
                            "uid=65534 @DIR@/links/** read,follow\n", NULL);
        tu_mkdir(p = path_in("home"), 0755, TU_NOBODY, TU_NOBODY); free(p);
        tu_mkdir(p = path_in("links"), 0755, 0, 0); free(p);
        tu_write_file(p = path_in("home/mine"), "mine", 0644, TU_NOBODY, TU_NOBODY); free(p);
        tu_write_file(p = path_in("home/theirs"), "theirs", 0644, 0, 0); free(p);
        ck_assert_int_eq(symlink(t = path_in("home/mine"), p = path_in("links/mine")), 0); free(p); free(t);
        ck_assert_int_eq(symlink(t = path_in("home/theirs"), p = path_in("links/theirs")), 0); free(p); free(t);
        tu_run_as(TU_NOBODY, TU_NOBODY, child_owner, NULL);
        ck_assert(tu_log_has(&D, "deny", "home/theirs", "not owned by the client", NULL));
        ck_assert(tu_log_has(&D, "deny", "links/theirs", "judged=", "home/theirs", NULL));
        tu_daemon_stop(&D);
}
END_TEST

int main(void) {
        unsigned perms;
        if (policy_perms_parse("read,owner", &perms) < 0) {
                fprintf(stderr, "the policy parser does not know `owner` yet: skipped\n");
                return 77;
        }
        Suite *s = suite_create("fsop-owner");
        TCase *tc = tcase_create("owner");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, owner_daemon);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}

#endif
