/* SPDX-License-Identifier: MIT */
/* Slow filesystems (security property 3): a real fdbrokerd serving files
 * from a real FUSE filesystem of the tests' own (tests/fuse/hangfs.c) whose
 * open or lookup handler blocks until the test releases it.  A request that
 * hangs in the filesystem must delay only itself: other clients, and the
 * same client on its other connection and on the same one, keep their
 * normal throughput meanwhile; the hung request is answered ETIMEDOUT at
 * --open-timeout, and the descriptor that the open yields when it finally
 * completes is closed (the filesystem sees the release).
 *
 * Each test runs in a mount namespace of its own, so that the FUSE mount
 * goes away with the test's processes even when it fails half-way; the
 * FUSE server and the daemon die with the test process too. */

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "shim.h"
#include "testutil.h"

static const char policy_text[] =
        "any @DIR@/data/** read\n"
        "any @DIR@/fuse/** read\n"
        "uid=65534 @DIR@/data/out/** write,create\n";

#define LOCAL_CONTENT "local data\n"

static struct tu_daemon D;

static struct {
        pid_t pid;
        char *mnt;
        char *events;    /* hangfs's event log */
        char *release;   /* created to release blocked handlers */
        char *err;       /* its stderr */
} F = { .pid = -1 };

#define path_of(rel) tu_daemon_path(&D, rel)

/* How many lines of hangfs's event log are exactly event. */
static unsigned fuse_events(const char *event) {
        char buf[16384];
        unsigned n = 0;
        int fd = open(F.events, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return 0;
        ssize_t len = read(fd, buf, sizeof buf - 1);
        close(fd);
        if (len <= 0)
                return 0;
        buf[len] = 0;
        for (char *line = strtok(buf, "\n"); line; line = strtok(NULL, "\n"))
                n += strcmp(line, event) == 0;
        return n;
}

static bool fuse_has_event(const char *event) {
        return fuse_events(event) > 0;
}

static void fuse_wait_events(const char *event, unsigned count, int timeout_ms) {
        long long end = tu_now_ms() + timeout_ms;
        unsigned n;
        while ((n = fuse_events(event)) < count) {
                ck_assert_msg(tu_now_ms() < end, "hangfs logged '%s' %u times, expected %u", event, n, count);
                usleep(5000);
        }
}

static void fuse_wait_event(const char *event, int timeout_ms) {
        fuse_wait_events(event, 1, timeout_ms);
}

static void fuse_mount(void) {
        struct stat a, b;

        F.mnt = path_of("fuse");
        F.events = path_of("fuse-events");
        F.release = path_of("fuse-release");
        F.err = path_of("fuse-stderr");
        tu_mkdir(F.mnt, 0755, 0, 0);
        char *log_opt = tu_strdupf("--log=%s", F.events);
        char *release_opt = tu_strdupf("--release=%s", F.release);
        pid_t parent = getpid();

        F.pid = fork();
        ck_assert_int_ge(F.pid, 0);
        if (F.pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(122);
                int err = open(F.err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (err < 0 || dup2(err, STDERR_FILENO) < 0 || dup2(err, STDOUT_FILENO) < 0)
                        _exit(120);
                execl(FDBR_HANGFS_PATH, "hangfs", log_opt, release_opt, F.mnt, "-f", "-o",
                      "fsname=fdbr-hangfs,subtype=hangfs,allow_other", (char *) NULL);
                _exit(121);
        }
        free(log_opt);
        free(release_opt);

        ck_assert_int_eq(stat(D.dir, &a), 0);
        long long end = tu_now_ms() + 10000;
        for (;;) {
                if (stat(F.mnt, &b) == 0 && b.st_dev != a.st_dev)
                        break;
                int status = 0;
                ck_assert_msg(waitpid(F.pid, &status, WNOHANG) == 0, "hangfs exited (status 0x%x)", status);
                ck_assert_msg(tu_now_ms() < end, "hangfs did not mount within 10 s");
                usleep(10000);
        }
}

static void fuse_release(void) {
        int fd = open(F.release, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
        ck_assert_int_ge(fd, 0);
        close(fd);
}

static void fuse_unmount(void) {
        if (F.pid > 0) {
                fuse_release();
                kill(F.pid, SIGTERM);
                long long end = tu_now_ms() + 10000;
                int status;
                while (waitpid(F.pid, &status, WNOHANG) == 0) {
                        if (tu_now_ms() > end) {
                                kill(F.pid, SIGKILL);
                                waitpid(F.pid, &status, 0);
                                break;
                        }
                        usleep(10000);
                }
                F.pid = -1;
        }
        /* Gone already when hangfs unmounted on its way out. */
        (void) umount2(F.mnt, MNT_DETACH);
        free(F.mnt);
        free(F.events);
        free(F.release);
        free(F.err);
        F.mnt = F.events = F.release = F.err = NULL;
}

/* What the daemon holds with no client, for the checks that every attack
 * leaves it with exactly that. */
static void rebaseline(void) {
        char *p = path_of("data/local.txt");
        tu_daemon_baseline(&D, p);
        free(p);
}

static void start_opts(const char *const *args, const struct tu_spawn_opts *o) {
        tu_private_mounts();
        tu_daemon_start_opts(&D, policy_text, args, o);
        char *p = path_of("data");
        tu_mkdir(p, 0700, 0, 0);
        free(p);
        p = path_of("data/local.txt");
        tu_write_file(p, LOCAL_CONTENT, 0600, 0, 0);
        free(p);
        fuse_mount();
        rebaseline();
}

static void start(const char *const *args) {
        start_opts(args, NULL);
}

static void stop(void) {
        fuse_unmount();
        tu_daemon_stop(&D);
}

static void read_back(int fd, const char *content) {
        char buf[64] = "";
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);
        ck_assert_int_ge(n, 0);
        ck_assert_str_eq(buf, content);
}

/* Opens rel on fd and checks the content. */
static void open_and_read(int fd, const char *rel, const char *content) {
        char *p = path_of(rel);
        int rfd = -1;
        int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, p, &rfd);
        ck_assert_msg(st == 0, "%s: status %d", rel, st);
        read_back(rfd, content);
        close(rfd);
        free(p);
}

/* Server status as the daemon reports it: how many requests went to a
 * worker so far.  Asked for with a reload, which sends STATUS= at once. */
static unsigned long long requests_in_workers(void) {
        char buf[4096];
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
        long long end = tu_now_ms() + 10000;
        for (;;) {
                int n = tu_daemon_notify(&D, buf, sizeof buf - 1, 1000);
                ck_assert_msg(tu_now_ms() < end, "no STATUS= after SIGHUP");
                if (n < 0)
                        continue;
                buf[n] = 0;
                const char *s = strstr(buf, "STATUS=");
                const char *w = s ? strstr(s, " in workers)") : NULL;
                if (!strstr(buf, "READY=1") || !w)
                        continue;
                while (w > s && w[-1] >= '0' && w[-1] <= '9')
                        w--;
                return strtoull(w, NULL, 10);
        }
}

/* ---- a client that keeps asking, in a process of its own ---------------- */

struct counter {
        pid_t pid;
        int stop;     /* closed to stop it */
        int result;   /* it writes its count here */
};

static void counter_start(struct counter *c, const char *path) {
        int stop[2], result[2];
        ck_assert_int_eq(pipe2(stop, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(result, O_CLOEXEC), 0);
        c->pid = fork();
        ck_assert_int_ge(c->pid, 0);
        if (c->pid == 0) {
                close(stop[1]);
                close(result[0]);
                /* An unprivileged client, unrelated to the one that hangs. */
                if (setgroups(0, NULL) < 0 || setresgid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 ||
                    setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0)
                        _exit(1);
                int fd = tu_connect(D.socket);
                long count = -1;
                if (fd >= 0) {
                        count = 0;
                        struct pollfd p = { .fd = stop[0], .events = POLLIN };
                        while (poll(&p, 1, 0) == 0) {
                                int rfd = -1;
                                if (tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, path, &rfd) != 0) {
                                        count = -2;
                                        break;
                                }
                                close(rfd);
                                count++;
                        }
                }
                (void) !write(result[1], &count, sizeof count);
                _exit(0);
        }
        close(stop[0]);
        close(result[1]);
        c->stop = stop[1];
        c->result = result[0];
}

static long counter_stop(struct counter *c) {
        long count = -3;
        close(c->stop);
        ck_assert_int_eq(read(c->result, &count, sizeof count), (ssize_t) sizeof count);
        close(c->result);
        int status = tu_wait(c->pid, 10000);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
        return count;
}

/* ---- a request that hangs in the filesystem ----------------------------- */

#define HANG_ID 1

/* One request on fd, answered; a reply to the hung request (HANG_ID) that
 * comes in between is kept in *hang.  Returns the request's status. */
static int request_past_hang(int fd, uint32_t id, const char *path, struct wire_reply *hang, int *hang_fd,
                             long long *hang_at) {
        ck_assert_int_eq(tu_send(fd, FDBR_OP_OPEN, id, FDBR_F_READ, 0, path), 0);
        for (;;) {
                struct wire_reply r;
                int rfd = -1;
                int k = tu_recv(fd, &r, &rfd, 5000);
                ck_assert_msg(k == 0, "request %u: %s", id, strerror(-k));
                if (r.id == HANG_ID) {
                        ck_assert_msg(*hang_at < 0, "two replies to the hung request");
                        *hang_at = tu_now_ms();
                        *hang = r;
                        *hang_fd = rfd;
                        continue;
                }
                ck_assert_uint_eq(r.id, id);
                if (rfd >= 0) {
                        read_back(rfd, LOCAL_CONTENT);
                        close(rfd);
                }
                return (int) r.status;
        }
}

/* rel on the FUSE mount hangs (its handler logs blocked_event): while it
 * does, everyone else is served as usual, and it gets ETIMEDOUT at the
 * open timeout; once the filesystem answers, the descriptor is closed. */
static void hang_test(const char *rel, const char *blocked_event, const char *release_event, const char *content) {
        static const char *const args[] = { "--open-timeout", "1500", NULL };
        enum { MIN_REQUESTS = 200 };
        start(args);
        char *hang = path_of(rel);
        char *local = path_of("data/local.txt");
        int a1 = tu_connect_ok(D.socket), a2 = tu_connect_ok(D.socket);
        /* Warm: the local file's lookup is cached, as on a busy host. */
        open_and_read(a1, "data/local.txt", LOCAL_CONTENT);

        /* A name the kernel has cached (when looking it up does not hang)
         * must not tempt the daemon into opening it on its loop. */
        struct stat st;
        if (strstr(rel, "hang-open"))
                ck_assert_int_eq(stat(hang, &st), 0);

        struct counter other;
        counter_start(&other, local);
        long long t0 = tu_now_ms(), hang_at = -1;
        ck_assert_int_eq(tu_send(a1, FDBR_OP_OPEN, HANG_ID, FDBR_F_READ, 0, hang), 0);

        /* Until the hung request is answered: the same client on its other
         * connection, and on this very one, keeps going. */
        struct wire_reply hr = {};
        int hfd = -1;
        unsigned n1 = 0, n2 = 0;
        for (uint32_t id = 100; hang_at < 0; id++) {
                ck_assert_msg(tu_now_ms() - t0 < 20000, "the hung request was never answered");
                ck_assert_int_eq(request_past_hang(a2, id, local, &hr, &hfd, &hang_at), 0);
                n2++;
                ck_assert_int_eq(request_past_hang(a1, id, local, &hr, &hfd, &hang_at), 0);
                n1++;
        }
        long other_n = counter_stop(&other);
        long long dt = hang_at - t0;

        ck_assert_msg(fuse_has_event(blocked_event), "the request never reached the filesystem's handler");
        ck_assert_msg(hr.status == ETIMEDOUT, "hung request: status %u (%s)", hr.status, strerror((int) hr.status));
        ck_assert_int_eq(hfd, -1);
        ck_assert_uint_eq(hr.op, FDBR_OP_OPEN);
        ck_assert_msg(dt >= 1400 && dt < 10000, "ETIMEDOUT after %lld ms with --open-timeout 1500", dt);
        ck_assert_msg(n1 >= MIN_REQUESTS && n2 >= MIN_REQUESTS && other_n >= MIN_REQUESTS,
                      "during a %lld ms hang: %u requests on the hung connection, %u on the client's other one, "
                      "%ld by another client (at least %d each expected)", dt, n1, n2, other_n, MIN_REQUESTS);

        /* The late open completes into a request already answered: the
         * descriptor goes back at once, the filesystem sees the release. */
        fuse_release();
        fuse_wait_event(release_event, 10000);
        ck_assert_msg(!tu_closed(a1, 0), "the hung request's connection was closed");

        /* Once the filesystem answers, the same file is served. */
        open_and_read(a1, rel, content);
        close(a1);
        close(a2);
        free(hang);
        free(local);
        tu_daemon_expect_baseline(&D, "the hung request");
        stop();
}

START_TEST(hang_in_open) {
        hang_test("fuse/hang-open", "open-blocked /hang-open", "release /hang-open", "late open\n");
}
END_TEST

START_TEST(hang_in_lookup) {
        hang_test("fuse/hang-lookup", "lookup-blocked /hang-lookup", "release /hang-lookup", "late lookup\n");
}
END_TEST

/* A client that leaves while its open is still in a worker: the completion
 * finds no connection, and its descriptor is closed. */
START_TEST(close_while_in_worker) {
        start(NULL); /* the default open timeout: the open outlives the client */
        char *hang = path_of("fuse/hang-open");
        int a = tu_connect_ok(D.socket), b = tu_connect_ok(D.socket);
        ck_assert_int_eq(tu_send(a, FDBR_OP_OPEN, HANG_ID, FDBR_F_READ, 0, hang), 0);
        /* Several of them, for a worker each. */
        for (uint32_t id = 2; id < 6; id++)
                ck_assert_int_eq(tu_send(a, FDBR_OP_OPEN, id, FDBR_F_READ, 0, hang), 0);
        fuse_wait_events("open-blocked /hang-open", 5, 10000);
        close(a);
        /* The daemon noticed and is fine. */
        open_and_read(b, "data/local.txt", LOCAL_CONTENT);
        /* One for b, and one for each worker still in the open: the O_PATH
         * descriptor the file was reached and judged by. */
        int n = tu_wait_fds(D.pid, D.baseline + 1 + 5, 10000);
        ck_assert_msg(n == D.baseline + 1 + 5, "%d descriptors with one client left (baseline %d)", n, D.baseline);

        /* Each late descriptor closed: the filesystem sees every release. */
        fuse_release();
        fuse_wait_events("release /hang-open", 5, 10000);
        open_and_read(b, "data/local.txt", LOCAL_CONTENT);
        close(b);
        free(hang);
        tu_daemon_expect_baseline(&D, "a client left during its open");
        stop();
}
END_TEST

/* A FUSE file that answers is served as any other, from a worker (a FUSE
 * open may call out to user space: never on the loop), while local files
 * with a cached lookup stay on the loop. */
START_TEST(served_through_worker) {
        start(NULL);
        int fd = tu_connect_ok(D.socket);
        open_and_read(fd, "data/local.txt", LOCAL_CONTENT);

        unsigned long long w0 = requests_in_workers();
        for (int i = 0; i < 20; i++)
                open_and_read(fd, "data/local.txt", LOCAL_CONTENT);
        unsigned long long w1 = requests_in_workers();
        ck_assert_msg(w1 == w0, "%llu opens of a cached local file went to a worker", w1 - w0);

        for (int i = 0; i < 10; i++)
                open_and_read(fd, "fuse/file.txt", "fuse data\n");
        char *p = path_of("fuse/file.txt");
        ck_assert_int_eq(tu_request(fd, FDBR_OP_CHECK, FDBR_F_READ, 0, p, NULL), 0);
        free(p);
        p = path_of("fuse/missing");
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, p, NULL), ENOENT);
        free(p);
        unsigned long long w2 = requests_in_workers();
        ck_assert_msg(w2 - w1 >= 12, "only %llu of 12 requests on FUSE went to a worker", w2 - w1);

        /* Pipelined: all answered, each with its own descriptor. */
        p = path_of("fuse/file.txt");
        for (uint32_t id = 1; id <= 20; id++)
                ck_assert_int_eq(tu_send(fd, FDBR_OP_OPEN, id, FDBR_F_READ, 0, p), 0);
        unsigned seen = 0;
        for (int i = 0; i < 20; i++) {
                struct wire_reply r;
                int rfd = -1;
                ck_assert_int_eq(tu_recv(fd, &r, &rfd, 10000), 0);
                ck_assert_msg(r.id >= 1 && r.id <= 20 && !(seen & (1u << r.id)), "reply id %u", r.id);
                seen |= 1u << r.id;
                ck_assert_uint_eq(r.status, 0);
                read_back(rfd, "fuse data\n");
                close(rfd);
        }
        free(p);
        /* A hung open does not hold up one that answers. */
        p = path_of("fuse/hang-open");
        ck_assert_int_eq(tu_send(fd, FDBR_OP_OPEN, HANG_ID, FDBR_F_READ, 0, p), 0);
        fuse_wait_event("open-blocked /hang-open", 10000);
        int b = tu_connect_ok(D.socket);
        open_and_read(b, "fuse/file.txt", "fuse data\n");
        fuse_release();
        struct wire_reply r;
        int rfd = -1;
        ck_assert_int_eq(tu_recv(fd, &r, &rfd, 10000), 0);
        ck_assert_uint_eq(r.id, HANG_ID);
        ck_assert_uint_eq(r.status, 0);
        read_back(rfd, "late open\n");
        close(rfd);
        free(p);
        close(b);
        close(fd);
        tu_daemon_expect_baseline(&D, "FUSE requests");
        stop();
}
END_TEST

/* One client naming files on a hung filesystem gets at most 8 requests
 * into the workers; past that its connection is not read (back-pressure),
 * and the other workers stay for everyone else. */
static int other_uid_served(void *arg) {
        int fd = tu_connect(D.socket);
        TU_REQUIRE(fd >= 0);
        for (int i = 0; i < 2; i++) {
                char *p = path_of(i ? "data/local.txt" : "fuse/file.txt");
                int rfd = -1;
                int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, p, &rfd);
                TU_REQUIRE(st == 0 && rfd >= 0, "%s: status %d", p, st);
                char buf[64] = "";
                TU_REQUIRE(read(rfd, buf, sizeof buf - 1) > 0);
                TU_REQUIRE(strcmp(buf, i ? LOCAL_CONTENT : "fuse data\n") == 0, "%s: read '%s'", p, buf);
                close(rfd);
                free(p);
        }
        close(fd);
        return 0;
}

START_TEST(hung_client_bounded) {
        enum { JOBS_MAX = 8, N = 12 };
        start(NULL);
        char *hang = path_of("fuse/hang-open");
        int a = tu_connect_ok(D.socket), b = tu_connect_ok(D.socket);
        for (uint32_t id = 1; id <= N; id++)
                ck_assert_int_eq(tu_send(a, FDBR_OP_OPEN, id, FDBR_F_READ, 0, hang), 0);
        ck_assert_int_eq(tu_send(a, FDBR_OP_PING, 100, 0, 0, NULL), 0);
        fuse_wait_events("open-blocked /hang-open", JOBS_MAX, 10000);
        /* Another uid, on the same filesystem, is served meanwhile: the hung
         * requests hold only their own uid's share of the workers. */
        tu_run_as(TU_NOBODY, TU_NOBODY, other_uid_served, NULL);
        /* The same uid's local work does not wait for its hung share. */
        open_and_read(b, "data/local.txt", LOCAL_CONTENT);
        /* Those answers, and this STATUS, took turns of the loop with a's
         * socket readable all along: had a been read past its 8, the rest
         * would be in the lane now, running or waiting for the share. */
        ck_assert_int_eq(tu_status(D.socket, "lane_general_running"), JOBS_MAX);
        ck_assert_int_eq(tu_status(D.socket, "lane_general_waiting"), 0);
        ck_assert_uint_eq(fuse_events("open-blocked /hang-open"), JOBS_MAX);
        struct wire_reply r;
        ck_assert_int_eq(tu_recv(a, &r, NULL, 0), -ETIMEDOUT);

        /* Released: every request of a is answered, the PING too. */
        fuse_release();
        unsigned seen = 0;
        for (int i = 0; i <= N; i++) {
                int rfd = -1;
                ck_assert_int_eq(tu_recv(a, &r, &rfd, 10000), 0);
                if (r.id == 100) {
                        ck_assert(!(seen & 1));
                        seen |= 1;
                        continue;
                }
                ck_assert_msg(r.id >= 1 && r.id <= N && !(seen & (1u << r.id)), "reply id %u", r.id);
                seen |= 1u << r.id;
                ck_assert_uint_eq(r.status, 0);
                read_back(rfd, "late open\n");
                close(rfd);
        }
        ck_assert_uint_eq(seen, (1u << (N + 1)) - 1);
        fuse_wait_events("release /hang-open", N, 10000);
        close(a);
        close(b);
        free(hang);
        tu_daemon_expect_baseline(&D, "a client with its requests hung");
        stop();
}
END_TEST

/* Another uid creates in a local directory and opens on FUSE. */
static int other_uid_not_starved(void *arg) {
        int fd = tu_connect(D.socket);
        TU_REQUIRE(fd >= 0);
        char *out = path_of("data/out/new");
        char *fuse = path_of("fuse/file.txt");
        int rfd = -1;
        int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, out, &rfd);
        TU_REQUIRE(st == 0 && rfd >= 0, "create: status %d", st);
        close(rfd);
        st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, fuse, &rfd);
        TU_REQUIRE(st == 0 && rfd >= 0, "fuse: status %d", st);
        close(rfd);
        free(out);
        free(fuse);
        close(fd);
        return 0;
}

/* One uid cannot starve the others by opening many connections, each with
 * its share of requests hung in the filesystem: the uid's requests beyond
 * a quarter of the general workers wait their turn, and work that stays on
 * local mounts has workers of its own. */
START_TEST(one_uid_cannot_starve_others) {
        enum { CONNS = 5, PER_CONN = 8 };
        static const char *const args[] = { "--max-workers", "16", "--open-timeout", "30000", NULL };
        start(args);
        char *out = path_of("data/out");
        tu_mkdir(out, 0755, TU_NOBODY, TU_NOBODY);
        char *hang = path_of("fuse/hang-open");
        int a[CONNS];
        for (int i = 0; i < CONNS; i++) {
                a[i] = tu_connect_ok(D.socket);
                for (uint32_t id = 1; id <= PER_CONN; id++)
                        ck_assert_int_eq(tu_send(a[i], FDBR_OP_OPEN, id, FDBR_F_READ, 0, hang), 0);
        }
        /* A quarter of 16 workers for the uid: 4 hang, the rest wait, each
         * held where the filesystem cannot see it. */
        fuse_wait_events("open-blocked /hang-open", 4, 10000);
        tu_status_wait(D.socket, "lane_general_waiting", CONNS * PER_CONN - 4, 10000);
        ck_assert_int_eq(tu_status(D.socket, "lane_general_running"), 4);
        ck_assert_uint_eq(fuse_events("open-blocked /hang-open"), 4);

        tu_run_as(TU_NOBODY, TU_NOBODY, other_uid_not_starved, NULL);

        fuse_release();
        for (int i = 0; i < CONNS; i++) {
                for (int k = 0; k < PER_CONN; k++) {
                        struct wire_reply r;
                        int rfd = -1;
                        ck_assert_int_eq(tu_recv(a[i], &r, &rfd, 20000), 0);
                        ck_assert_uint_eq(r.status, 0);
                        close(rfd);
                }
                close(a[i]);
        }
        free(hang);
        free(out);
        tu_daemon_expect_baseline(&D, "one uid's hung requests");
        stop();
}
END_TEST

/* Requests waiting for their uid's share of the workers keep their
 * deadline, and leave with a client that goes away. */
START_TEST(held_requests_time_out_and_leave) {
        static const char *const args[] = { "--max-workers", "4", "--open-timeout", "1500", NULL };
        start(args);
        char *hang = path_of("fuse/hang-open");
        /* The uid's share of 4 workers is 1: it hangs. */
        int a = tu_connect_ok(D.socket);
        ck_assert_int_eq(tu_send(a, FDBR_OP_OPEN, 1, FDBR_F_READ, 0, hang), 0);
        fuse_wait_events("open-blocked /hang-open", 1, 10000);

        /* These wait for it, and time out waiting. */
        int b = tu_connect_ok(D.socket);
        for (uint32_t id = 10; id < 13; id++)
                ck_assert_int_eq(tu_send(b, FDBR_OP_OPEN, id, FDBR_F_READ, 0, hang), 0);
        long long t0 = tu_now_ms();
        for (int i = 0; i < 3; i++) {
                struct wire_reply r;
                int rfd = -1;
                ck_assert_int_eq(tu_recv(b, &r, &rfd, 10000), 0);
                ck_assert_uint_eq(r.status, ETIMEDOUT);
                ck_assert_int_eq(rfd, -1);
        }
        ck_assert_int_ge(tu_now_ms() - t0, 1000);
        ck_assert_int_eq(tu_status(D.socket, "withdrawn"), 3);
        ck_assert_uint_eq(fuse_events("open-blocked /hang-open"), 1);

        /* A client leaving with requests still waiting takes them along:
         * they never reach the filesystem. */
        int c = tu_connect_ok(D.socket);
        for (uint32_t id = 20; id < 23; id++)
                ck_assert_int_eq(tu_send(c, FDBR_OP_OPEN, id, FDBR_F_READ, 0, hang), 0);
        ck_assert_int_eq(tu_send(c, FDBR_OP_PING, 30, 0, 0, NULL), 0);
        struct wire_reply r;
        ck_assert_int_eq(tu_recv(c, &r, NULL, 5000), 0);
        ck_assert_uint_eq(r.id, 30);
        ck_assert_int_eq(tu_status(D.socket, "lane_general_waiting"), 3);
        close(c);
        close(b);
        tu_status_wait(D.socket, "withdrawn", 6, 10000);
        ck_assert_int_eq(tu_status(D.socket, "lane_general_waiting"), 0);

        fuse_release();
        ck_assert_int_eq(tu_recv(a, &r, NULL, 10000), 0);
        ck_assert_uint_eq(r.id, 1);
        ck_assert_uint_eq(r.status, ETIMEDOUT);
        /* Its late result thrown away, the lane is empty: nothing else
         * was started when its thread came free. */
        tu_status_wait(D.socket, "discarded", 1, 10000);
        ck_assert_int_eq(tu_status(D.socket, "lane_general_running"), 0);
        ck_assert_int_eq(tu_status(D.socket, "lane_general_waiting"), 0);
        fuse_wait_events("release /hang-open", 1, 10000);
        ck_assert_uint_eq(fuse_events("open-blocked /hang-open"), 1);
        close(a);
        free(hang);
        tu_daemon_expect_baseline(&D, "requests waiting for their uid's workers");
        stop();
}
END_TEST

/* Stopping is not held up by a filesystem that never answers: the client
 * waiting on it is let go and the socket removed within the grace period
 * and the pool's drain; the process itself ends once the kernel lets the
 * thread stuck in the filesystem go, with status 0. */
START_TEST(stop_while_hung) {
        start(NULL);
        char *hang = path_of("fuse/hang-open");
        int a = tu_connect_ok(D.socket);
        ck_assert_int_eq(tu_send(a, FDBR_OP_OPEN, HANG_ID, FDBR_F_READ, 0, hang), 0);
        fuse_wait_event("open-blocked /hang-open", 10000);

        long long t0 = tu_now_ms();
        ck_assert_int_eq(kill(D.pid, SIGTERM), 0);
        struct stat st;
        while (lstat(D.socket, &st) == 0) {
                ck_assert_msg(tu_now_ms() - t0 < 20000, "still serving 20 s after SIGTERM, an open hanging");
                usleep(10000);
        }
        ck_assert_msg(tu_closed(a, 1000), "the waiting client was not let go");
        ck_assert_int_lt(tu_connect(D.socket), 0);

        fuse_release();
        int status = tu_wait(D.pid, 10000);
        D.pid = -1;
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "exit status 0x%x", status);
        close(a);
        free(hang);
        stop();
}
END_TEST


/* ---- closes that block ---------------------------------------------------- */

/* The daemon as it runs on this kernel, and as on one without
 * SO_PASSRIGHTS (Linux < 6.16), where descriptors sent by clients do
 * arrive: the shim makes turning it off fail as an old kernel does. */
static struct tu_shim shim;

static void start_variant(int old_kernel) {
        if (old_kernel) {
                tu_shim_setup(&shim, "setsockopt:ENOPROTOOPT:opt=83");
                tu_shim_arm(&shim, true); /* from the start: it is set up before serving */
                start_opts(NULL, &shim.opts);
                tu_shim_check_loaded(&shim);
        } else
                start(NULL);
}

static void stop_variant(void) {
        stop();
        tu_shim_done(&shim);
}

/* A bystander's PINGs stay fast for a while: the loop is not blocked. */
static void bystander_fast(int fd, int duration_ms) {
        long long end = tu_now_ms() + duration_ms, worst = 0;
        uint32_t id = 1000;
        while (tu_now_ms() < end) {
                long long t0 = tu_now_ms();
                ck_assert_int_eq(tu_send(fd, FDBR_OP_PING, id, 0, 0, NULL), 0);
                struct wire_reply r;
                int k = tu_recv(fd, &r, NULL, 5000);
                ck_assert_msg(k == 0, "bystander PING: %s", strerror(-k));
                ck_assert_uint_eq(r.id, id);
                long long dt = tu_now_ms() - t0;
                if (dt > worst)
                        worst = dt;
                id++;
                usleep(20000);
        }
        ck_assert_msg(worst < 100, "a bystander's PING took %lld ms while a close was blocked", worst);
}

/* Sends one PING with fd attached on sock and says what became of it:
 * -EPERM when the kernel refused (SO_PASSRIGHTS off), else the status of
 * the broker's answer. */
static int ping_with_fd(int sock, int fd) {
        uint8_t rec[FDBR_WIRE_HEADER_SIZE];
        int n = wire_request_encode(rec, sizeof rec, FDBR_OP_PING, 5, 0, 0, NULL, 0);
        if (n < 0)
                return n;
        int k = tu_send_fds(sock, rec, (size_t) n, &fd, 1, 0);
        if (k < 0)
                return k;
        struct wire_reply r;
        int rfd = -1;
        k = tu_recv(sock, &r, &rfd, 5000);
        if (k < 0)
                return k;
        if (rfd >= 0)
                close(rfd);
        return (int) r.status;
}

struct attacker {
        const char *socket;
        const char *file;
        int old_kernel;
};

/* Sends the broker a descriptor of a file whose every close blocks in
 * FLUSH, and leaves (its own close blocks too, in its own process). */
static int send_flush_fd(void *arg) {
        const struct attacker *a = arg;
        int sock = tu_connect(a->socket);
        TU_REQUIRE(sock >= 0, "connect");
        int fd = open(a->file, O_RDONLY | O_CLOEXEC);
        TU_REQUIRE(fd >= 0, "open %s: %s", a->file, strerror(errno));
        int st = ping_with_fd(sock, fd);
        if (a->old_kernel)
                TU_REQUIRE(st == EBADMSG, "PING with a descriptor: %d, expected EBADMSG", st);
        else
                TU_REQUIRE(st == -EPERM, "PING with a descriptor: %d, expected the kernel's EPERM", st);
        close(sock);
        close(fd);
        return 0;
}

START_TEST(client_fd_flush_hangs) {
        int old_kernel = _i;
        start_variant(old_kernel);
        int by = tu_connect_ok(D.socket);
        char *file = tu_strdupf("%s/hang-flush", F.mnt);
        struct attacker a = { .socket = D.socket, .file = file, .old_kernel = old_kernel };

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                if (setgroups(0, NULL) < 0 || setresgid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 ||
                    setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0)
                        _exit(1);
                _exit(send_flush_fd(&a));
        }
        /* The attacker's own close, and with an old kernel the broker's. */
        fuse_wait_events("flush-blocked /hang-flush", old_kernel ? 2 : 1, 10000);
        bystander_fast(by, 1500);
        fuse_release();
        int status = tu_wait(pid, 10000);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "attacker: status 0x%x", status);
        close(by);
        free(file);
        tu_daemon_expect_baseline(&D, "a descriptor whose close blocks");
        stop_variant();
}
END_TEST

/* The broker's own copy of a file it opened on FUSE: closed after the
 * reply is sent, and that close blocks in FLUSH. */
static int open_flush_file(void *arg) {
        const struct attacker *a = arg;
        int sock = tu_connect(a->socket);
        TU_REQUIRE(sock >= 0, "connect");
        int fd = -1;
        int st = tu_request(sock, FDBR_OP_OPEN, FDBR_F_READ, 0, a->file, &fd);
        TU_REQUIRE(st == 0 && fd >= 0, "OPEN %s: %d", a->file, st);
        /* Keeps its copy until told to go: only the broker's close runs. */
        char c;
        (void) !read(STDIN_FILENO, &c, 1);
        close(fd);
        close(sock);
        return 0;
}

START_TEST(broker_fd_flush_hangs) {
        start(NULL);
        int by = tu_connect_ok(D.socket);
        char *file = tu_strdupf("%s/hang-flush", F.mnt);
        struct attacker a = { .socket = D.socket, .file = file };
        int go[2];
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);

        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                close(go[1]);
                if (dup2(go[0], STDIN_FILENO) < 0 || setgroups(0, NULL) < 0 ||
                    setresgid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 || setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0)
                        _exit(1);
                _exit(open_flush_file(&a));
        }
        close(go[0]);
        fuse_wait_events("flush-blocked /hang-flush", 1, 10000);
        bystander_fast(by, 1500);
        fuse_release();
        close(go[1]);
        int status = tu_wait(pid, 10000);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "client: status 0x%x", status);
        close(by);
        free(file);
        tu_daemon_expect_baseline(&D, "a file whose close blocks");
        stop();
}
END_TEST

/* A loopback TCP socket whose close lingers for 30 s (SO_LINGER, a full
 * send queue the peer never reads), sent to the broker; the sender's own
 * copy is closed at once, so the broker's close would be the last. */
START_TEST(client_fd_tcp_linger) {
        int old_kernel = _i;
        start_variant(old_kernel);
        int by = tu_connect_ok(D.socket);

        int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        socklen_t salen = sizeof sa;
        ck_assert_int_eq(bind(l, (struct sockaddr *) &sa, sizeof sa), 0);
        ck_assert_int_eq(listen(l, 1), 0);
        ck_assert_int_eq(getsockname(l, (struct sockaddr *) &sa, &salen), 0);
        int c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        int small = 4096;
        ck_assert_int_eq(setsockopt(c, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
        ck_assert_int_eq(connect(c, (struct sockaddr *) &sa, sizeof sa), 0);
        int peer = accept4(l, NULL, NULL, SOCK_CLOEXEC);
        ck_assert_int_ge(peer, 0);
        ck_assert_int_eq(setsockopt(peer, SOL_SOCKET, SO_RCVBUF, &small, sizeof small), 0);
        struct linger lg = { .l_onoff = 1, .l_linger = 30 };
        ck_assert_int_eq(setsockopt(c, SOL_SOCKET, SO_LINGER, &lg, sizeof lg), 0);
        tu_set_nonblock(c);
        static char junk[65536];
        while (send(c, junk, sizeof junk, MSG_NOSIGNAL) > 0)
                ;

        int sock = tu_connect_ok(D.socket);
        int st = ping_with_fd(sock, c);
        if (old_kernel)
                ck_assert_msg(st == EBADMSG, "PING with a socket: %d, expected EBADMSG", st);
        else
                ck_assert_msg(st == -EPERM, "PING with a socket: %d, expected the kernel's EPERM", st);
        close(c);
        bystander_fast(by, 1500);
        bystander_fast(sock, 200);

        /* The peer goes: the lingering close ends. */
        close(peer);
        close(l);
        close(sock);
        close(by);
        tu_daemon_expect_baseline(&D, "a socket whose close lingers");
        stop_variant();
}
END_TEST

static Suite *fuse_suite(void) {
        Suite *s = suite_create("fuse");
        TCase *tc = tcase_create("fuse");
        tcase_set_timeout(tc, 90);
        tcase_add_test(tc, hang_in_open);
        tcase_add_test(tc, hang_in_lookup);
        tcase_add_test(tc, close_while_in_worker);
        tcase_add_test(tc, hung_client_bounded);
        tcase_add_test(tc, one_uid_cannot_starve_others);
        tcase_add_test(tc, held_requests_time_out_and_leave);
        tcase_add_test(tc, served_through_worker);
        tcase_add_test(tc, stop_while_hung);
        tcase_add_loop_test(tc, client_fd_flush_hangs, 0, 2);
        tcase_add_test(tc, broker_fd_flush_hangs);
        tcase_add_loop_test(tc, client_fd_tcp_linger, 0, 2);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        tu_require_fuse();
        signal(SIGPIPE, SIG_IGN);
        return tu_run_suite(fuse_suite());
}
