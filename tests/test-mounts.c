/* SPDX-License-Identifier: MIT */
/* The mount table under churn: a user mounting and unmounting in a loop
 * must cost the event loop a bounded number of table reads, and a table
 * that has not caught up yet must never call a mount local that is not
 * (mount ids are reused by the kernel).  Unit tests of daemon/mounts.c on
 * an event loop of their own, and one of a real daemon whose bystanders
 * are served throughout.  Needs root (mounts, in a private namespace). */

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <event2/event.h>

#include "harness.h"
#include "macro.h"
#include "mounts.h"
#include "testutil.h"

/* What the daemon promises: at most this many reads a second under churn
 * (its interval is 100 ms), plus the first and the one after the end. */
#define READS_PER_SECOND 10
#define CHURN_PAIRS 1000
#define CHURN_SECONDS 2

static char *dir;

static char *path_of(const char *rel) {
        return tu_strdupf("%s/%s", dir, rel);
}

static void need_root(void) {
        if (geteuid() != 0) {
                fprintf(stderr, "needs root\n");
                exit(77);
        }
}

static void setup(void) {
        need_root();
        tu_private_mounts();
        dir = tu_mkdtemp();
}

/* Unmounts what the test left mounted and removes its directory. */
static void teardown(const char *const *mounted) {
        for (; mounted && *mounted; mounted++) {
                char *p = path_of(*mounted);
                (void) umount2(p, MNT_DETACH);
                free(p);
        }
        tu_rm_rf(dir);
        free(dir);
        dir = NULL;
}

static void mount_tmpfs(const char *rel) {
        char *p = path_of(rel);
        (void) mkdir(p, 0755);
        ck_assert_msg(mount("fdbr-test", p, "tmpfs", 0, "size=64k") == 0, "mount %s: %s", p, strerror(errno));
        free(p);
}

static void stat_mount(const char *rel, uint64_t *ret_id, dev_t *ret_dev) {
        char *p = path_of(rel);
        struct statx sx;
        ck_assert_int_eq(statx(AT_FDCWD, p, AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx), 0);
        ck_assert(sx.stx_mask & STATX_MNT_ID);
        *ret_id = sx.stx_mnt_id;
        *ret_dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
        free(p);
}

/* ---- churn -------------------------------------------------------------- */

struct churn {
        const char *point;
        unsigned pairs;
        long long spread_ms;   /* the pairs are spread over this long */
        atomic_bool done;
        int error;
};

/* The churn a user makes: mount, unmount, as fast as it likes.  MNT_DETACH
 * because the table may hold the mount point open for a moment. */
static void *churn_main(void *arg) {
        struct churn *c = arg;
        long long start = tu_now_ms();

        for (unsigned i = 0; i < c->pairs && !c->error; i++) {
                if (mount("fdbr-churn", c->point, "tmpfs", 0, "size=16k") < 0 ||
                    umount2(c->point, MNT_DETACH) < 0)
                        c->error = errno;
                /* Keep to the pace asked for: this is the load's shape, not
                 * a wait for anything. */
                long long due = start + (long long) (i + 1) * c->spread_ms / c->pairs;
                long long now = tu_now_ms();
                if (due > now)
                        usleep((useconds_t) (due - now) * 1000);
        }
        atomic_store(&c->done, true);
        return NULL;
}

/* ---- unit tests on a loop of the test's own ----------------------------- */

struct loop_probe {
        struct event_base *base;
        struct event *tick;
        struct churn *churn;
        const char *local_file;    /* on a local mount known from the start */
        uint64_t local_id;
        dev_t local_dev;
        unsigned probes, fast, local;
};

/* A bystander on the loop: its file, on a local mount that never changes,
 * must keep the direct open the whole time. */
static void on_tick(evutil_socket_t fd, short what, void *arg) {
        struct loop_probe *p = arg;
        const char *rel;

        p->probes++;
        if (mounts_fast_dir(p->local_file, strlen(p->local_file), &rel) >= 0)
                p->fast++;
        if (mounts_is_local(p->local_id, p->local_dev))
                p->local++;
        if (atomic_load(&p->churn->done))
                event_base_loopbreak(p->base);
}

/* Runs the loop until cond holds or timeout_ms passed. */
static bool loop_until(struct event_base *base, bool (*cond)(void *), void *arg, int timeout_ms) {
        long long end = tu_now_ms() + timeout_ms;
        while (!cond(arg)) {
                if (tu_now_ms() > end)
                        return false;
                struct timeval tv = { .tv_usec = 5000 };
                event_base_loopexit(base, &tv);
                event_base_dispatch(base);
        }
        return true;
}

static bool table_fresh(void *arg) {
        return !mounts_stale();
}

static bool table_knows(void *arg) {
        const char *path = arg, *rel;
        return !mounts_stale() && mounts_fast_dir(path, strlen(path), &rel) >= 0;
}

START_TEST(churn_reads_coalesced) {
        setup();
        mount_tmpfs("local");
        char *file = path_of("local/file");
        tu_write_file(file, "x", 0644, 0, 0);
        char *point = path_of("churn");
        ck_assert_int_eq(mkdir(point, 0755), 0);

        struct event_base *base = event_base_new();
        ck_assert_ptr_nonnull(base);
        ck_assert_int_eq(mounts_init(base), 0);

        struct churn c = { .point = point, .pairs = CHURN_PAIRS, .spread_ms = CHURN_SECONDS * 1000 };
        struct loop_probe p = { .base = base, .churn = &c, .local_file = file };
        stat_mount("local", &p.local_id, &p.local_dev);
        p.tick = event_new(base, -1, EV_PERSIST, on_tick, &p);
        ck_assert_int_eq(event_add(p.tick, &(struct timeval) { .tv_usec = 1000 }), 0);

        uint64_t before = mounts_reloads();
        long long start = tu_now_ms();
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, churn_main, &c), 0);
        event_base_dispatch(base);
        pthread_join(t, NULL);
        double seconds = (double) (tu_now_ms() - start) / 1000;
        uint64_t during = mounts_reloads() - before;
        ck_assert_msg(c.error == 0, "churn: %s", strerror(c.error));

        /* The table catches up with the end of the churn. */
        ck_assert_msg(loop_until(base, table_fresh, NULL, 5000), "table still stale 5 s after the churn");
        uint64_t reads = mounts_reloads() - before;
        fprintf(stderr, "churn: %u pairs in %.2f s, %llu table reads (%llu during), bystander %u/%u direct\n",
                CHURN_PAIRS, seconds, (unsigned long long) reads, (unsigned long long) during, p.fast, p.probes);
        ck_assert_msg(during <= (uint64_t) (READS_PER_SECOND * seconds) + 2,
                      "%llu table reads during %.2f s of churn", (unsigned long long) during, seconds);
        /* The bystander's mount never changed: it stayed local, and
         * direct but for a lookup now and then that met a mount change
         * under way (the kernel's cached lookup then gives up). */
        ck_assert_uint_gt(p.probes, 0);
        ck_assert_uint_ge(p.fast * 10, p.probes * 9);
        ck_assert_uint_eq(p.local, p.probes);

        /* And a mount made now is known soon, not left out. */
        mount_tmpfs("late");
        char *late = path_of("late/file");
        ck_assert_msg(loop_until(base, table_knows, late, 5000), "a new mount not read within 5 s");

        event_free(p.tick);
        mounts_done();
        event_base_free(base);
        teardown((const char *[]) { "local", "late", NULL });
        free(late);
        free(point);
        free(file);
}
END_TEST

/* ---- a stale entry, its id given to a FUSE mount ------------------------ */

static pid_t hangfs_pid = -1;

static void hangfs_mount(const char *rel) {
        char *mnt = path_of(rel);
        char *log_opt = tu_strdupf("--log=%s/hangfs-events", dir);
        char *release_opt = tu_strdupf("--release=%s/hangfs-release", dir);
        struct stat a, b;
        pid_t parent = getpid();

        (void) mkdir(mnt, 0755);
        ck_assert_int_eq(stat(dir, &a), 0);
        hangfs_pid = fork();
        ck_assert_int_ge(hangfs_pid, 0);
        if (hangfs_pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(122);
                int null = open("/dev/null", O_WRONLY | O_CLOEXEC);
                if (null < 0 || dup2(null, STDOUT_FILENO) < 0)
                        _exit(120);
                execl(FDBR_HANGFS_PATH, "hangfs", log_opt, release_opt, mnt, "-f", "-o",
                      "fsname=fdbr-hangfs,subtype=hangfs", (char *) NULL);
                _exit(121);
        }
        long long end = tu_now_ms() + 10000;
        while (!(stat(mnt, &b) == 0 && b.st_dev != a.st_dev)) {
                int status = 0;
                ck_assert_msg(waitpid(hangfs_pid, &status, WNOHANG) == 0, "hangfs exited (status 0x%x)", status);
                ck_assert_msg(tu_now_ms() < end, "hangfs did not mount within 10 s");
                usleep(10000);
        }
        free(mnt);
        free(log_opt);
        free(release_opt);
}

static void hangfs_stop(const char *rel) {
        char *p = tu_strdupf("%s/hangfs-release", dir);
        tu_write_file(p, "", 0644, 0, 0);
        free(p);
        if (hangfs_pid > 0) {
                kill(hangfs_pid, SIGTERM);
                ck_assert_int_ge(tu_wait(hangfs_pid, 10000), 0);
                hangfs_pid = -1;
        }
        p = path_of(rel);
        (void) umount2(p, MNT_DETACH);
        free(p);
}

/* The loop's direct open of path, as the daemon does it: from the
 * descriptor of the mount mounts_fast_dir names, never leaving it.  It
 * must not reach the file: no descriptor, or EXDEV at the FUSE mount's
 * edge (before the FUSE server is asked anything). */
static void expect_no_direct_open(const char *path) {
        const char *rel;
        int mfd = mounts_fast_dir(path, strlen(path), &rel);
        if (mfd < 0)
                return;
        struct open_how how = { .flags = O_RDONLY | O_CLOEXEC | O_NOFOLLOW, .resolve = RESOLVE_NO_XDEV };
        int fd = (int) syscall(SYS_openat2, mfd, rel, &how, sizeof how);
        int err = fd < 0 ? errno : 0;
        if (fd >= 0)
                close(fd);
        ck_assert_msg(err == EXDEV, "direct open of %s: %s", path, err ? strerror(err) : "opened");
}

/* The table knows a local mount it holds no descriptor of (it is covered
 * by another on the same point).  It is unmounted, and a FUSE mount made
 * at once, which the kernel is free to give the same mount id and device
 * number: before the loop has even seen the change, neither the old id
 * nor the new mount may count as local. */
START_TEST(stale_entry_never_local) {
        setup();
        mount_tmpfs("a");
        uint64_t id;
        dev_t dev;
        stat_mount("a", &id, &dev);
        mount_tmpfs("a"); /* on top: the one below is never opened */

        struct event_base *base = event_base_new();
        ck_assert_ptr_nonnull(base);
        ck_assert_int_eq(mounts_init(base), 0);
        ck_assert(!mounts_stale());
        ck_assert_msg(mounts_is_local(id, dev), "the covered tmpfs is local");

        char *p = path_of("a");
        ck_assert_int_eq(umount2(p, MNT_DETACH), 0);
        ck_assert_int_eq(umount2(p, MNT_DETACH), 0);
        hangfs_mount("f");
        uint64_t fid;
        dev_t fdev;
        stat_mount("f", &fid, &fdev);
        fprintf(stderr, "tmpfs was mount %llu dev %u:%u, FUSE is %llu dev %u:%u%s\n", (unsigned long long) id,
                major(dev), minor(dev), (unsigned long long) fid, major(fdev), minor(fdev),
                fid == id && fdev == dev ? " (reused)" : "");

        ck_assert_msg(!mounts_is_local(id, dev), "an unmounted mount's id still counts as local");
        ck_assert_msg(!mounts_is_local(fid, fdev), "the FUSE mount counts as local");
        char *hang = path_of("f/hang-open");
        expect_no_direct_open(hang);

        /* Caught up: still right. */
        ck_assert(loop_until(base, table_fresh, NULL, 5000));
        ck_assert(!mounts_is_local(fid, fdev));
        ck_assert(!mounts_is_local(id, dev));
        const char *r;
        ck_assert_int_lt(mounts_fast_dir(hang, strlen(hang), &r), 0);

        hangfs_stop("f");
        mounts_done();
        event_base_free(base);
        free(hang);
        free(p);
        teardown(NULL);
}
END_TEST

/* ---- a real daemon ------------------------------------------------------ */

static const char policy_text[] =
        "any @DIR@/data/** read\n"
        "any @DIR@/f/** read\n";

/* A bystander under the same churn, with a hanging FUSE mount made in the
 * middle of it: its opens of a local file are served, quickly, and its
 * PING is answered within 100 ms even while another client's open is
 * stuck on the FUSE mount. */
START_TEST(daemon_bystander_under_churn) {
        need_root();
        tu_private_mounts();
        struct tu_daemon d;
        tu_daemon_start_opts(&d, policy_text, NULL, NULL);
        dir = d.dir;
        char *data = path_of("data");
        tu_mkdir(data, 0755, 0, 0);
        char *file = path_of("data/file");
        tu_write_file(file, "local\n", 0644, 0, 0);
        char *point = path_of("churn");
        ck_assert_int_eq(mkdir(point, 0755), 0);

        int by = tu_connect_ok(d.socket);
        int victim = tu_connect_ok(d.socket);
        struct churn c = { .point = point, .pairs = CHURN_PAIRS, .spread_ms = CHURN_SECONDS * 1000 };
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, churn_main, &c), 0);

        bool fuse_up = false;
        long long worst = 0, start = tu_now_ms();
        unsigned opens = 0;
        char *hang = path_of("f/hang-open");
        while (!atomic_load(&c.done)) {
                long long t0 = tu_now_ms();
                ck_assert_int_eq(tu_request(by, FDBR_OP_PING, 0, 0, NULL, NULL), 0);
                long long dt = tu_now_ms() - t0;
                worst = dt > worst ? dt : worst;
                int fd = -1;
                ck_assert_int_eq(tu_request(by, FDBR_OP_OPEN, FDBR_F_READ, 0, file, &fd), 0);
                close(fd);
                opens++;
                if (!fuse_up && tu_now_ms() - start > c.spread_ms / 2) {
                        hangfs_mount("f");
                        fuse_up = true;
                        ck_assert_int_eq(tu_send(victim, FDBR_OP_OPEN, 1, FDBR_F_READ, 0, hang), 0);
                }
        }
        pthread_join(t, NULL);
        ck_assert_msg(c.error == 0, "churn: %s", strerror(c.error));
        ck_assert(fuse_up);
        fprintf(stderr, "bystander: %u opens, worst PING %lld ms\n", opens, worst);
        ck_assert_msg(worst < 100, "a PING took %lld ms under churn", worst);

        /* The hanging open was in a worker all along; released, it is
         * answered. */
        hangfs_stop("f");
        struct wire_reply r;
        int fd = -1;
        ck_assert_int_eq(tu_recv(victim, &r, &fd, 15000), 0);
        if (fd >= 0)
                close(fd);
        close(victim);
        close(by);
        tu_daemon_stop(&d);
        dir = NULL;
        free(hang);
        free(point);
        free(file);
        free(data);
}
END_TEST

static Suite *mounts_suite(void) {
        Suite *s = suite_create("mounts");
        TCase *tc = tcase_create("mounts");
        tcase_set_timeout(tc, 60);
        tcase_add_test(tc, churn_reads_coalesced);
        tcase_add_test(tc, stale_entry_never_local);
        tcase_add_test(tc, daemon_bystander_under_churn);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        tu_require_fuse();
        signal(SIGPIPE, SIG_IGN);
        return tu_run_suite(mounts_suite());
}
