/* SPDX-License-Identifier: MIT */
/* Abuse tests (security properties 2 and 5): a real fdbrokerd attacked by
 * clients that hold thousands of idle connections, flood requests without
 * reading the replies, go past the connection limits, storm it with
 * connects and closes, attach the most descriptors a message can carry,
 * and send randomly mutated records.  After each attack the daemon must
 * still answer others promptly, and its descriptor count must come back to
 * what it was before: nothing a client does may leak a descriptor in the
 * broker.  Every test starts its own daemon (they need different limits). */

#include <errno.h>
#include <sched.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "testutil.h"

/* Requests for these stay on the event loop (a cached lookup on the local
 * filesystem of the test directory) or, for CREATE and TRUNC, go to a
 * worker: both kinds are in the mix. */
static const char policy_text[] =
        "any @DIR@/data/** read\n"
        "any @DIR@/data/out/** read,write,create\n"
        "any @DIR@/data/dirs dir\n"
        "any @DIR@/data/dirs/** read,dir\n";

#define PUBLIC_CONTENT "public data\n"

static struct tu_daemon D;

#define path_of(rel) tu_daemon_path(&D, rel)

static void make_tree(void) {
        static const char *const dirs[] = { "data", "data/out", "data/dirs", "data/dirs/inner" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char *p = path_of(dirs[i]);
                tu_mkdir(p, 0700, 0, 0);
                free(p);
        }
        char *p = path_of("data/public.txt");
        tu_write_file(p, PUBLIC_CONTENT, 0600, 0, 0);
        free(p);
        p = path_of("data/out/t");
        tu_write_file(p, "truncate me", 0600, 0, 0);
        free(p);
}

/* What the daemon holds with no client, for the checks that every attack
 * leaves it with exactly that. */
static void rebaseline(void) {
        char *p = path_of("data/public.txt");
        tu_daemon_baseline(&D, p);
        free(p);
}

/* In a mount namespace of its own, the daemon does not see mounts made
 * elsewhere meanwhile (it keeps descriptors for local mounts). */
static void start(const char *const *args) {
        tu_private_mounts();
        tu_daemon_start_opts(&D, policy_text, args, NULL);
        make_tree();
        rebaseline();
}

static void stop(void) {
        tu_daemon_stop(&D);
}

/* A PING on fd answered within limit_ms; returns the time it took. */
static long long ping_ms(int fd, uint32_t id, long long limit_ms) {
        struct wire_reply r;
        long long t0 = tu_now_ms();
        ck_assert_int_eq(tu_send(fd, FDBR_OP_PING, id, 0, 0, NULL), 0);
        int k = tu_recv(fd, &r, NULL, (int) limit_ms + 5000);
        long long dt = tu_now_ms() - t0;
        ck_assert_msg(k == 0, "no answer to PING: %s", strerror(-k));
        ck_assert_uint_eq(r.id, id);
        ck_assert_uint_eq(r.status, 0);
        ck_assert_msg(dt < limit_ms, "PING took %lld ms (limit %lld ms)", dt, limit_ms);
        return dt;
}

/* A new client, connected and answered now, within limit_ms. */
static void fresh_client_served(long long limit_ms) {
        long long t0 = tu_now_ms();
        int fd = tu_connect_ok(D.socket);
        ping_ms(fd, 1, limit_ms);
        char *p = path_of("data/public.txt");
        int rfd = -1;
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, p, &rfd), 0);
        ck_assert_int_ge(rfd, 0);
        close(rfd);
        free(p);
        close(fd);
        long long dt = tu_now_ms() - t0;
        ck_assert_msg(dt < limit_ms, "a new client took %lld ms to be served (limit %lld ms)", dt, limit_ms);
}

static size_t encode(uint8_t *buf, size_t size, uint16_t op, uint32_t id, uint32_t flags, uint32_t mode,
                     const char *path) {
        int n = wire_request_encode(buf, size, op, id, flags, mode, path, path ? strlen(path) : 0);
        ck_assert_int_gt(n, 0);
        return (size_t) n;
}

/* How many records of len bytes (with an fd each, or not) a socket with
 * this send buffer takes before EAGAIN when nobody reads: the capacity of
 * one direction of a connection, as the kernel accounts it. */
static unsigned socket_capacity(size_t len, bool with_fd, int sndbuf) {
        int sv[2];
        uint8_t buf[FDBR_WIRE_REQUEST_MAX] = { 0 };
        unsigned n = 0;

        ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0, sv), 0);
        if (sndbuf > 0)
                ck_assert_int_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf), 0);
        int fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        while (tu_send_fds(sv[0], buf, len, &fd, with_fd ? 1 : 0, MSG_DONTWAIT) == 0)
                n++;
        close(fd);
        close(sv[0]);
        close(sv[1]);
        return n;
}

/* For this process and the daemon it starts (which raises its soft limit
 * to the hard one).  Root may raise the hard limit too. */
static void raise_nofile(rlim_t want) {
        struct rlimit rl;
        ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
        if (rl.rlim_max < want)
                rl.rlim_max = want;
        if (rl.rlim_cur < want)
                rl.rlim_cur = want;
        ck_assert_msg(setrlimit(RLIMIT_NOFILE, &rl) == 0, "cannot raise RLIMIT_NOFILE to %lu: %s",
                      (unsigned long) want, strerror(errno));
}

/* ---- 1,500 idle connections ------------------------------------------- */

START_TEST(idle_connections) {
        enum { N = 1500 };
        static const char *const args[] = { "--max-clients", "4000", "--max-clients-per-uid", "4000",
                                            "--idle-timeout", "600", NULL };
        raise_nofile(N + 256);
        start(args);

        int *fds = calloc(N, sizeof *fds);
        ck_assert_ptr_nonnull(fds);
        for (int i = 0; i < N; i++)
                fds[i] = tu_connect_ok(D.socket);
        /* Every one of them accepted and held by the daemon, none refused. */
        int n = tu_wait_fds(D.pid, D.baseline + N, 30000);
        ck_assert_msg(n == D.baseline + N, "daemon holds %d descriptors with %d idle clients (baseline %d)", n, N,
                      D.baseline);
        for (int i = 0; i < N; i += 97)
                ck_assert_msg(!tu_closed(fds[i], 0), "idle connection %d was closed", i);

        for (int i = 0; i < 3; i++)
                fresh_client_served(1000);
        /* The idle ones are clients like any other once they speak. */
        ping_ms(fds[0], 2, 1000);
        ping_ms(fds[N - 1], 3, 1000);

        for (int i = 0; i < N; i++)
                close(fds[i]);
        free(fds);
        tu_daemon_expect_baseline(&D, "closing 1500 idle connections");
        fresh_client_served(1000);
        stop();
}
END_TEST

/* ---- a client that floods and never reads ----------------------------- */

struct flood {
        int fd;
        uint32_t sent;
        uint32_t replied;
        uint8_t *seen;       /* by id */
        uint8_t rec[FDBR_WIRE_REQUEST_MAX];
        size_t len;
};

/* Sends the next request; false when the socket is full. */
static bool flood_send(struct flood *f) {
        uint32_t id = f->sent;
        memcpy(f->rec + 8, &id, sizeof id);
        int k = tu_send_fds(f->fd, f->rec, f->len, NULL, 0, MSG_DONTWAIT);
        if (k == -EAGAIN)
                return false;
        ck_assert_msg(k == 0, "flooder's send: %s", strerror(-k));
        f->sent++;
        return true;
}

/* Takes one reply if there is one: well-formed, for a request sent and not
 * answered before, carrying a descriptor of the file that was asked for. */
static bool flood_take(struct flood *f, int timeout_ms) {
        struct wire_reply r;
        int rfd = -1;
        int k = tu_recv(f->fd, &r, &rfd, timeout_ms);
        if (k == -ETIMEDOUT)
                return false;
        ck_assert_msg(k == 0, "flooder's reply %u: %s", f->replied, strerror(-k));
        ck_assert_uint_eq(r.op, FDBR_OP_OPEN);
        ck_assert_msg(r.id < f->sent && !f->seen[r.id], "reply for id %u: not sent, or answered twice", r.id);
        f->seen[r.id] = 1;
        ck_assert_msg(r.status == 0, "request %u: status %u (%s)", r.id, r.status, strerror((int) r.status));
        ck_assert_int_ge(rfd, 0);
        struct stat st;
        ck_assert_int_eq(fstat(rfd, &st), 0);
        ck_assert(S_ISREG(st.st_mode));
        ck_assert_int_eq(st.st_size, (off_t) strlen(PUBLIC_CONTENT));
        if (r.id % 500 == 0) {
                char buf[32] = "";
                ck_assert_int_eq(pread(rfd, buf, sizeof buf - 1, 0), (ssize_t) strlen(PUBLIC_CONTENT));
                ck_assert_str_eq(buf, PUBLIC_CONTENT);
        }
        close(rfd);
        f->replied++;
        return true;
}

START_TEST(flood_without_reading) {
        enum { N = 20000, INFLIGHT = 64 };
        start(NULL);
        char *pub = path_of("data/public.txt");
        struct flood f = { .fd = tu_connect_ok(D.socket), .seen = calloc(N, 1) };
        ck_assert_ptr_nonnull(f.seen);
        f.len = encode(f.rec, sizeof f.rec, FDBR_OP_OPEN, 0, FDBR_F_READ, 0, pub);
        tu_set_nonblock(f.fd);
        int other = tu_connect_ok(D.socket);
        /* Two clients; past that, only the replies queued for the flooder
         * may hold descriptors, and at most --max-inflight of them. */
        int bound = D.baseline + 2 + INFLIGHT + 2;
        int max_seen = 0, pings = 0;

        /* Send until the daemon stops reading: EAGAIN that lasts. */
        long long last_ok = tu_now_ms(), next_check = 0;
        while (f.sent < N && tu_now_ms() - last_ok < 1500) {
                if (flood_send(&f)) {
                        last_ok = tu_now_ms();
                        continue;
                }
                if (tu_now_ms() >= next_check) {
                        int n = tu_count_fds(D.pid);
                        max_seen = n > max_seen ? n : max_seen;
                        ping_ms(other, 100 + (uint32_t) pings++, 1000);
                        next_check = tu_now_ms() + 100;
                }
                usleep(1000);
        }
        ck_assert_msg(f.sent < N, "all %u requests went in without a single reply read: no back-pressure", f.sent);
        unsigned cap = socket_capacity(f.len, false, 0) + socket_capacity(FDBR_WIRE_REPLY_SIZE, true, 0);
        ck_assert_msg(f.sent <= cap + INFLIGHT + 2,
                      "the daemon took %u requests from a client that reads nothing; the sockets hold %u, "
                      "--max-inflight %d", f.sent, cap, INFLIGHT);
        ck_assert_int_ge(pings, 5);
        ck_assert_msg(max_seen <= bound, "daemon held %d descriptors (bound %d)", max_seen, bound);

        /* Now the flooder reads, and goes on until all were answered. */
        for (unsigned round = 0; f.replied < N; round++) {
                while (f.sent < N && flood_send(&f))
                        ;
                bool any = false;
                while (flood_take(&f, any ? 0 : 5000))
                        any = true;
                ck_assert_msg(any, "no reply for 5 s with %u of %u answered", f.replied, f.sent);
                if (round % 16 == 0) {
                        int n = tu_count_fds(D.pid);
                        ck_assert_msg(n <= bound, "daemon held %d descriptors (bound %d)", n, bound);
                        ping_ms(other, 100 + (uint32_t) pings++, 1000);
                }
        }
        ping_ms(other, 1, 1000);
        close(f.fd);
        close(other);
        free(f.seen);
        free(pub);
        tu_daemon_expect_baseline(&D, "the flood");
        stop();
}
END_TEST

/* ---- connection limits -------------------------------------------------- */

/* A connection made as euid/egid uid: the daemon takes the identity from
 * SO_PEERCRED, the credentials of connect(). */
static int connect_as(uid_t uid) {
        ck_assert_int_eq(setegid(uid), 0);
        ck_assert_int_eq(seteuid(uid), 0);
        int fd = tu_connect(D.socket);
        ck_assert_int_eq(seteuid(0), 0);
        ck_assert_int_eq(setegid(0), 0);
        ck_assert_msg(fd >= 0, "connect as %u: %s", (unsigned) uid, strerror(-fd));
        return fd;
}

static void expect_refused(int fd, const char *why) {
        /* Closed without a word from the client, and a request goes
         * unanswered. */
        ck_assert_msg(tu_closed(fd, 5000), "%s: the connection was not closed", why);
        (void) tu_send(fd, FDBR_OP_PING, 9, 0, 0, NULL);
        struct wire_reply r;
        ck_assert_int_ne(tu_recv(fd, &r, NULL, 200), 0);
        close(fd);
}


/* ---- subordinate uids ------------------------------------------------------ */

/* In the user namespace: connects as inside uids 1..5 (kernel uids
 * 200001..200005, all in one user's subordinate range) and reports how
 * many the broker kept. */
static int userns_connections(const char *socket_path) {
        int fds[5];
        for (int i = 0; i < 5; i++) {
                if (setegid((gid_t) i + 1) < 0 || seteuid((uid_t) i + 1) < 0)
                        return 100;
                fds[i] = tu_connect(socket_path);
                if (seteuid(0) < 0 || setegid(0) < 0 || fds[i] < 0)
                        return 101;
        }
        int served = 0;
        for (int i = 0; i < 5; i++)
                served += tu_request(fds[i], FDBR_OP_PING, 0, 0, NULL, NULL) == 0;
        return served;
}

START_TEST(subuids_count_against_owner) {
        char *dir = tu_mkdtemp();
        char *subuid = tu_strdupf("%s/subuid", dir);
        tu_write_file(subuid, "4242:200000:65536\n", 0644, 0, 0);
        const char *args[] = { "--max-clients-per-uid", "3", "--subuid", subuid, NULL };
        start(args);

        int go[2], ready[2];
        ck_assert_int_eq(pipe2(go, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(ready, O_CLOEXEC), 0);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                char c;
                if (unshare(CLONE_NEWUSER) < 0 || write(ready[1], "x", 1) != 1 || read(go[0], &c, 1) != 1)
                        _exit(102);
                /* Root of the namespace: kernel uid 200000. */
                if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
                        _exit(103);
                _exit(userns_connections(D.socket));
        }
        char c;
        ck_assert_int_eq(read(ready[0], &c, 1), 1);
        static const char *const maps[] = { "uid_map", "gid_map" };
        for (size_t i = 0; i < ELEMENTSOF(maps); i++) {
                char *p = tu_strdupf("/proc/%d/%s", (int) pid, maps[i]);
                int fd = open(p, O_WRONLY | O_CLOEXEC);
                ck_assert_msg(fd >= 0, "%s: %s", p, strerror(errno));
                ck_assert_int_eq(write(fd, "0 200000 65536\n", 15), 15);
                close(fd);
                free(p);
        }
        ck_assert_int_eq(write(go[1], "x", 1), 1);
        int status = tu_wait(pid, 20000);
        ck_assert_msg(WIFEXITED(status), "child: status 0x%x", status);
        ck_assert_msg(WEXITSTATUS(status) == 3,
                      "%d of 5 connections from five subordinate uids of one user were served; "
                      "--max-clients-per-uid 3 allows 3", WEXITSTATUS(status));
        close(go[0]);
        close(go[1]);
        close(ready[0]);
        close(ready[1]);
        tu_daemon_expect_baseline(&D, "the namespace's connections");
        stop();
        tu_rm_rf(dir);
        free(dir);
        free(subuid);
}
END_TEST


START_TEST(client_limits) {
        static const char *const args[] = { "--max-clients", "6", "--max-clients-per-uid", "3", NULL };
        start(args);
        int root[3], nobody[3];

        for (int i = 0; i < 3; i++) {
                root[i] = connect_as(0);
                ping_ms(root[i], 1, 1000);
        }
        expect_refused(connect_as(0), "4th connection of uid 0 (--max-clients-per-uid 3)");
        for (int i = 0; i < 3; i++)
                ping_ms(root[i], 2, 1000);

        /* Another uid has its own count... */
        for (int i = 0; i < 3; i++) {
                nobody[i] = connect_as(TU_NOBODY);
                ping_ms(nobody[i], 3, 1000);
        }
        expect_refused(connect_as(TU_NOBODY), "4th connection of uid 65534");
        /* ...but all share the total: a third uid, with none yet, is refused. */
        expect_refused(connect_as(1234), "7th connection (--max-clients 6)");
        for (int i = 0; i < 3; i++) {
                ping_ms(root[i], 4, 1000);
                ping_ms(nobody[i], 5, 1000);
        }

        /* A place freed is taken again, by whoever comes. */
        close(nobody[2]);
        bool served = false;
        for (int i = 0; i < 500 && !served; i++) {
                int fd = connect_as(1234);
                struct wire_reply r;
                served = tu_send(fd, FDBR_OP_PING, 6, 0, 0, NULL) == 0 && tu_recv(fd, &r, NULL, 1000) == 0;
                close(fd);
                if (!served)
                        usleep(10000);
        }
        ck_assert_msg(served, "no connection accepted after one left");
        for (int i = 0; i < 3; i++)
                close(root[i]);
        close(nobody[0]);
        close(nobody[1]);
        tu_daemon_expect_baseline(&D, "the limits test");
        stop();
}
END_TEST

/* ---- --max-inflight back-pressure --------------------------------------- */

START_TEST(inflight_backpressure) {
        enum { INFLIGHT = 4 };
        static const char *const args[] = { "--max-inflight", "4", NULL };
        start(args);
        int fd = tu_connect_ok(D.socket);
        /* A small send buffer: the part of the bound that is the client's
         * own socket is then a handful of records. */
        int small = 1;
        ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof small), 0);
        tu_set_nonblock(fd);
        unsigned requests_buffered = socket_capacity(FDBR_WIRE_HEADER_SIZE, false, small);
        unsigned replies_buffered = socket_capacity(FDBR_WIRE_REPLY_SIZE, false, 0);
        unsigned bound = requests_buffered + replies_buffered + INFLIGHT;
        unsigned total = bound + 100;
        uint8_t *seen = calloc(total, 1);
        ck_assert_ptr_nonnull(seen);
        uint8_t rec[FDBR_WIRE_HEADER_SIZE];
        encode(rec, sizeof rec, FDBR_OP_PING, 0, 0, 0, NULL);

        unsigned sent = 0;
        long long last_ok = tu_now_ms();
        while (sent < total && tu_now_ms() - last_ok < 1000) {
                uint32_t id = sent;
                memcpy(rec + 8, &id, sizeof id);
                int k = tu_send_fds(fd, rec, sizeof rec, NULL, 0, MSG_DONTWAIT);
                if (k == 0) {
                        sent++;
                        last_ok = tu_now_ms();
                } else {
                        ck_assert_msg(k == -EAGAIN, "send: %s", strerror(-k));
                        usleep(2000);
                }
        }
        ck_assert_msg(sent < total, "%u requests sent without EAGAIN: the daemon never stopped reading", sent);
        ck_assert_msg(sent <= bound + 2,
                      "EAGAIN only after %u requests; the sockets hold %u requests and %u replies, "
                      "--max-inflight %d", sent, requests_buffered, replies_buffered, INFLIGHT);
        ck_assert_msg(sent + 2 >= bound, "EAGAIN after %u requests already, expected about %u", sent, bound);

        /* Nothing was dropped: every request is answered once reading
         * starts, and the rest go through as well. */
        unsigned replied = 0;
        while (replied < total) {
                while (sent < total) {
                        uint32_t id = sent;
                        memcpy(rec + 8, &id, sizeof id);
                        if (tu_send_fds(fd, rec, sizeof rec, NULL, 0, MSG_DONTWAIT) < 0)
                                break;
                        sent++;
                }
                struct wire_reply r;
                int k = tu_recv(fd, &r, NULL, 5000);
                ck_assert_msg(k == 0, "reply %u of %u: %s", replied, sent, strerror(-k));
                ck_assert_uint_eq(r.op, FDBR_OP_PING);
                ck_assert_uint_eq(r.status, 0);
                ck_assert_msg(r.id < sent && !seen[r.id], "reply with id %u: not sent or answered twice", r.id);
                seen[r.id] = 1;
                replied++;
        }
        free(seen);
        close(fd);
        tu_daemon_expect_baseline(&D, "the back-pressure test");
        stop();
}
END_TEST

/* ---- idle timeout -------------------------------------------------------- */

START_TEST(idle_timeout) {
        static const char *const args[] = { "--idle-timeout", "1", NULL };
        start(args);
        long long t0 = tu_now_ms();
        int silent = tu_connect_ok(D.socket);
        int spoke = tu_connect_ok(D.socket);
        ping_ms(spoke, 1, 1000);
        uint8_t rec[FDBR_WIRE_REQUEST_MAX];
        /* A refused request is a whole request too. */
        int refused = tu_connect_ok(D.socket);
        size_t n = encode(rec, sizeof rec, FDBR_OP_OPEN, 2, 0, 0, "/x");
        ck_assert_int_eq(tu_send_fds(refused, rec, n, NULL, 0, 0), 0);
        struct wire_reply r;
        ck_assert_int_eq(tu_recv(refused, &r, NULL, 5000), 0);
        ck_assert_uint_eq(r.status, EINVAL);

        ck_assert_msg(tu_closed(silent, 10000), "a connection that never sent anything was not closed");
        long long dt = tu_now_ms() - t0;
        ck_assert_msg(dt >= 900 && dt < 8000, "closed after %lld ms with --idle-timeout 1", dt);
        close(silent);

        /* Well past the timeout, the others are still there. */
        while (tu_now_ms() - t0 < 3000)
                usleep(50000);
        ck_assert(!tu_closed(spoke, 0));
        ck_assert(!tu_closed(refused, 0));
        ping_ms(spoke, 3, 1000);
        ping_ms(refused, 4, 1000);
        close(spoke);
        close(refused);
        tu_daemon_expect_baseline(&D, "the idle timeout");
        stop();
}
END_TEST

/* ---- connect/close storms ----------------------------------------------- */

static uint64_t rng_next(uint64_t *s) {
        *s ^= *s << 13;
        *s ^= *s >> 7;
        *s ^= *s << 17;
        return *s;
}

/* One storming process: thousands of connections, each abandoned in its
 * own way.  Runs in a forked child, which _exits. */
static int storm(unsigned seed, unsigned rounds, const char *pub, const char *create_dir) {
        uint64_t s = 0x9e3779b97f4a7c15ull ^ seed;
        uint8_t rec[FDBR_WIRE_REQUEST_MAX];
        char path[512];
        int devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);

        for (unsigned i = 0; i < rounds; i++) {
                int fd = tu_connect(D.socket);
                if (fd < 0)
                        return 1;
                int n;
                switch (rng_next(&s) % 8) {
                case 0: /* connect and go */
                        break;
                case 1: /* less than a header: EPROTO, and the close races the answer */
                        n = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, i, FDBR_F_READ, 0, pub, strlen(pub));
                        (void) send(fd, rec, 1 + rng_next(&s) % 23, MSG_NOSIGNAL);
                        break;
                case 2: /* a request whose descriptor has nowhere to go */
                        n = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, i, FDBR_F_READ, 0, pub, strlen(pub));
                        (void) send(fd, rec, (size_t) n, MSG_NOSIGNAL);
                        break;
                case 3: /* a burst of them, then half a close */
                        n = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, i, FDBR_F_READ, 0, pub, strlen(pub));
                        for (int k = 0; k < 20; k++)
                                (void) send(fd, rec, (size_t) n, MSG_NOSIGNAL | MSG_DONTWAIT);
                        shutdown(fd, SHUT_WR);
                        break;
                case 4: /* path_len claims more than the record holds */
                        n = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, i, FDBR_F_READ, 0, pub, strlen(pub));
                        (void) send(fd, rec, (size_t) n - 3, MSG_NOSIGNAL);
                        break;
                case 5: /* descriptors attached */
                        n = wire_request_encode(rec, sizeof rec, FDBR_OP_PING, i, 0, 0, NULL, 0);
                        (void) tu_send_fds(fd, rec, (size_t) n, (int[]) { devnull, devnull, devnull }, 3, 0);
                        break;
                case 6: /* a create, which a worker runs while the client leaves */
                        snprintf(path, sizeof path, "%s/storm-%u-%u", create_dir, seed, i % 50);
                        n = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, i, FDBR_F_WRITE | FDBR_F_CREATE, 0600,
                                                path, strlen(path));
                        (void) send(fd, rec, (size_t) n, MSG_NOSIGNAL);
                        break;
                case 7: /* a zero-length record */
                        (void) send(fd, rec, 0, MSG_NOSIGNAL);
                        break;
                }
                close(fd);
        }
        close(devnull);
        return 0;
}

START_TEST(connect_close_storm) {
        enum { CHILDREN = 4, ROUNDS = 1500 };
        start(NULL);
        char *pub = path_of("data/public.txt");
        char *out = path_of("data/out");
        pid_t pids[CHILDREN];
        int other = tu_connect_ok(D.socket);

        for (unsigned i = 0; i < CHILDREN; i++) {
                pids[i] = fork();
                ck_assert_int_ge(pids[i], 0);
                if (pids[i] == 0)
                        _exit(storm(i + 1, ROUNDS, pub, out));
        }
        /* Served all through the storm: the first PING goes out as the
         * children start, the others while any of them still runs (on a
         * fast machine the storm may be over within the first). */
        unsigned pings = 0;
        for (unsigned done = 0; done < CHILDREN;) {
                ping_ms(other, pings++, 1000);
                for (unsigned i = 0; i < CHILDREN; i++) {
                        int status;
                        if (pids[i] > 0 && waitpid(pids[i], &status, WNOHANG) == pids[i]) {
                                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "storm %u failed", i);
                                pids[i] = -1;
                                done++;
                        }
                }
                usleep(20000);
        }
        fresh_client_served(1000);
        close(other);
        free(pub);
        free(out);
        tu_daemon_expect_baseline(&D, "the storm");
        stop();
}
END_TEST

/* ---- the most descriptors one message can carry ------------------------- */

START_TEST(fds_253) {
        start(NULL);
        int fd = tu_connect_ok(D.socket);
        ping_ms(fd, 1, 1000);
        int with_conn = tu_count_fds(D.pid);
        uint8_t rec[FDBR_WIRE_REQUEST_MAX];
        char *pub = path_of("data/public.txt");
        size_t n = encode(rec, sizeof rec, FDBR_OP_OPEN, 7, FDBR_F_READ, 0, pub);

        for (int round = 0; round < 10; round++) {
                /* 253 copies of a pipe's write end: the read end sees EOF
                 * only once every copy the daemon got is closed again. */
                int p[2], fds[253];
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                for (int i = 0; i < 253; i++)
                        fds[i] = p[1];
                int k = tu_send_fds(fd, rec, n, fds, 253, 0);
                close(p[1]);
                if (k == -EPERM) {
                        /* The broker turned SO_PASSRIGHTS off: the kernel
                         * refused the record, nothing reached the broker. */
                        ck_assert_msg(tu_closed(fd, 0) == false, "refused record closed the connection");
                } else {
                        ck_assert_int_eq(k, 0);
                        struct wire_reply r;
                        int rfd = -1;
                        ck_assert_int_eq(tu_recv(fd, &r, &rfd, 5000), 0);
                        ck_assert_uint_eq(r.id, 7);
                        ck_assert_msg(r.status == EBADMSG, "status %u (%s)", r.status, strerror((int) r.status));
                        ck_assert_int_eq(rfd, -1);
                }
                /* Closed soon, off the event loop. */
                ck_assert_int_eq(tu_wait_fds(D.pid, with_conn, 5000), with_conn);
                struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                ck_assert_msg(poll(&pfd, 1, 5000) == 1 && (pfd.revents & POLLHUP),
                              "a descriptor sent along with the request is still open somewhere");
                close(p[0]);
                ping_ms(fd, 8, 1000);
        }
        /* And the connection serves files as before. */
        int rfd = -1;
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, pub, &rfd), 0);
        close(rfd);
        free(pub);
        close(fd);
        tu_daemon_expect_baseline(&D, "253 descriptors a request");
        stop();
}
END_TEST

/* ---- random mutations over live connections ----------------------------- */

#define FUZZ_CONNS 4

struct fuzz {
        uint64_t rng;
        unsigned seed;
        int conns[FUZZ_CONNS];
        int devnull;
        char *paths[8];
        unsigned n_paths;
        unsigned records, eproto, closed, with_fds, ok_fds, refused;
};

static uint32_t fz_rand(struct fuzz *z, uint32_t n) {
        return (uint32_t) (rng_next(&z->rng) % n);
}

/* A valid request to start from. */
static size_t fz_base(struct fuzz *z, uint8_t *buf, uint32_t id) {
        static const uint32_t flags[] = {
                FDBR_F_READ, FDBR_F_READ | FDBR_F_NOFOLLOW, FDBR_F_WRITE | FDBR_F_CREATE,
                FDBR_F_WRITE | FDBR_F_TRUNC, FDBR_F_DIRECTORY, FDBR_F_READ | FDBR_F_WRITE | FDBR_F_APPEND,
                FDBR_F_READ | FDBR_F_CREATE | FDBR_F_EXCL,
        };
        uint16_t op = (uint16_t) (1 + fz_rand(z, 3));
        if (op == FDBR_OP_PING)
                return encode(buf, FDBR_WIRE_REQUEST_MAX + 64, op, id, 0, 0, NULL);
        uint32_t f = flags[fz_rand(z, ELEMENTSOF(flags))];
        const char *p = z->paths[fz_rand(z, z->n_paths)];
        return encode(buf, FDBR_WIRE_REQUEST_MAX + 64, op, id, f, f & FDBR_F_CREATE ? 0640 : 0, p);
}

/* Mutates the record in place (buf holds room for more); returns its new
 * length. */
static size_t fz_mutate(struct fuzz *z, uint8_t *buf, size_t len) {
        static const uint8_t interesting[] = { 0, '/', '.', 0xff, 0x7f, 0x80, 1, '*' };
        unsigned rounds = 1 + fz_rand(z, 4);
        for (unsigned i = 0; i < rounds; i++) {
                uint32_t v;
                switch (fz_rand(z, 12)) {
                case 0: /* flip a bit */
                        buf[fz_rand(z, (uint32_t) len)] ^= (uint8_t) (1u << fz_rand(z, 8));
                        break;
                case 1: /* a random byte */
                        buf[fz_rand(z, (uint32_t) len)] = (uint8_t) fz_rand(z, 256);
                        break;
                case 2: /* an interesting byte, mostly in the path */
                        buf[len > 24 ? 24 + fz_rand(z, (uint32_t) len - 24) : fz_rand(z, (uint32_t) len)] =
                                interesting[fz_rand(z, ELEMENTSOF(interesting))];
                        break;
                case 3: /* op */
                        v = fz_rand(z, 4) ? fz_rand(z, 6) : fz_rand(z, 65536);
                        memcpy(buf + 6, &(uint16_t) { (uint16_t) v }, 2);
                        break;
                case 4: /* flags */
                        v = fz_rand(z, 4) ? fz_rand(z, 256) : (uint32_t) rng_next(&z->rng);
                        memcpy(buf + 12, &v, 4);
                        break;
                case 5: /* mode */
                        v = fz_rand(z, 2) ? fz_rand(z, 01000) : (uint32_t) rng_next(&z->rng);
                        memcpy(buf + 16, &v, 4);
                        break;
                case 6: /* path_len */
                        memcpy(&v, buf + 20, 4);
                        v = fz_rand(z, 2) ? v + fz_rand(z, 9) - 4 : (uint32_t) rng_next(&z->rng);
                        memcpy(buf + 20, &v, 4);
                        break;
                case 7: /* cut */
                        len = fz_rand(z, 8) ? (len > 1 ? len - 1 - fz_rand(z, (uint32_t) len - 1) : len)
                                            : fz_rand(z, 25);
                        if (len == 0)
                                len = fz_rand(z, 4) ? 1 : 0;
                        break;
                case 8: /* grow, now and then past the longest request */
                        v = fz_rand(z, 8) ? fz_rand(z, 16) : FDBR_WIRE_REQUEST_MAX + fz_rand(z, 64) - (uint32_t) len;
                        for (uint32_t k = 0; k < v && len < FDBR_WIRE_REQUEST_MAX + 64; k++)
                                buf[len++] = (uint8_t) (fz_rand(z, 2) ? 'a' + fz_rand(z, 26) : '/');
                        break;
                case 9: /* magic or version */
                        buf[fz_rand(z, 6)] ^= (uint8_t) (1u + fz_rand(z, 255));
                        break;
                case 10: /* path_len that matches, after a change of length */
                        if (len >= 24) {
                                v = (uint32_t) len - 24;
                                memcpy(buf + 20, &v, 4);
                        }
                        break;
                case 11: /* a "/.." or "//" in the path */
                        if (len > 27) {
                                uint32_t at = 24 + fz_rand(z, (uint32_t) len - 27);
                                memcpy(buf + at, fz_rand(z, 2) ? "/.." : "//x", 3);
                        }
                        break;
                }
                if (len == 0)
                        break;
        }
        return len;
}

/* What the daemon must answer for this record, as far as it is decided by
 * the record alone: a status, or -1 when it depends on the policy and the
 * filesystem. */
static int fz_expect(const uint8_t *buf, size_t len, bool fds) {
        struct wire_request req;
        size_t got = len > FDBR_WIRE_REQUEST_MAX ? FDBR_WIRE_REQUEST_MAX : len;
        int k = wire_request_decode(buf, got, &req);
        if (k == -EPROTO)
                return EPROTO;
        if (fds)
                return EBADMSG;
        if (len > FDBR_WIRE_REQUEST_MAX && k != -EPROTONOSUPPORT)
                return EINVAL;
        if (k < 0)
                return -k;
        if (req.op == FDBR_OP_PING)
                return 0;
        return -1;
}

static void fz_reconnect(struct fuzz *z, unsigned c) {
        close(z->conns[c]);
        z->conns[c] = tu_connect_ok(D.socket);
}

/* Sends one mutated record on connection c and checks the answer. */
static void fz_one(struct fuzz *z, unsigned c, uint32_t id) {
        static uint8_t buf[FDBR_WIRE_REQUEST_MAX + 64];
        size_t len = fz_base(z, buf, id);
        len = fz_mutate(z, buf, len);

        unsigned nfds = 0;
        int fds[253];
        uint32_t pick = fz_rand(z, 100);
        if (pick < 5)
                nfds = 1 + fz_rand(z, 4);
        else if (pick == 5)
                nfds = 253;
        for (unsigned i = 0; i < nfds; i++)
                fds[i] = z->devnull;

        z->records++;
        if (len == 0) {
                /* Indistinguishable from EOF: the daemon closes. */
                ck_assert_int_eq(send(z->conns[c], buf, 0, MSG_NOSIGNAL), 0);
                ck_assert_msg(tu_closed(z->conns[c], 5000), "seed %u record %u: zero-length record, not closed",
                              z->seed, z->records);
                z->closed++;
                fz_reconnect(z, c);
                return;
        }
        int k = tu_send_fds(z->conns[c], buf, len, fds, nfds, 0);
        if (k == -EPERM && nfds > 0) {
                /* SO_PASSRIGHTS is off: the kernel refused the record. */
                z->refused++;
                return;
        }
        ck_assert_msg(k == 0, "seed %u record %u: send: %s", z->seed, z->records, strerror(-k));
        z->with_fds += nfds > 0;

        uint16_t op = 0;
        uint32_t echo_id = 0;
        wire_request_echo(buf, len > FDBR_WIRE_REQUEST_MAX ? FDBR_WIRE_REQUEST_MAX : len, &op, &echo_id);
        int expected = fz_expect(buf, len, nfds > 0);

        struct wire_reply r;
        int rfd = -1;
        k = tu_recv(z->conns[c], &r, &rfd, 10000);
        ck_assert_msg(k == 0, "seed %u record %u (%zu bytes): no well-formed reply: %s", z->seed, z->records, len,
                      strerror(-k));
        ck_assert_msg(r.op == op && r.id == (len >= 12 ? echo_id : 0),
                      "seed %u record %u: reply echoes op %u id %u, expected op %u id %u", z->seed, z->records,
                      r.op, r.id, op, len >= 12 ? echo_id : 0);
        if (expected >= 0)
                ck_assert_msg(r.status == (uint32_t) expected, "seed %u record %u: status %u (%s), expected %d (%s)",
                              z->seed, z->records, r.status, strerror((int) r.status), expected, strerror(expected));
        /* A descriptor comes exactly with a successful OPEN. */
        ck_assert_msg((rfd >= 0) == (r.status == 0 && op == FDBR_OP_OPEN),
                      "seed %u record %u: op %u status %u with%s a descriptor", z->seed, z->records, op, r.status,
                      rfd >= 0 ? "" : "out");
        if (rfd >= 0) {
                struct stat st;
                ck_assert_int_eq(fstat(rfd, &st), 0);
                z->ok_fds++;
                close(rfd);
        }
        if (r.status == EPROTO) {
                ck_assert_msg(tu_closed(z->conns[c], 5000), "seed %u record %u: still open after EPROTO", z->seed,
                              z->records);
                z->eproto++;
                fz_reconnect(z, c);
        }
}

START_TEST(mutation_fuzz) {
        enum { RECORDS = 4000 };
        start(NULL);
        struct fuzz z = { .seed = 0x5eed };
        const char *env = getenv("FDBR_FUZZ_SEED");
        if (env)
                z.seed = (unsigned) strtoul(env, NULL, 0);
        z.rng = 0x2545f4914f6cdd1dull ^ z.seed;
        static const char *const rel[] = {
                "data/public.txt", "data/missing", "data/out/new", "data/out/t", "data/dirs", "data/dirs/inner",
                "data", "elsewhere",
        };
        for (size_t i = 0; i < ELEMENTSOF(rel); i++)
                z.paths[z.n_paths++] = path_of(rel[i]);
        z.devnull = open("/dev/null", O_RDONLY | O_CLOEXEC);
        ck_assert_int_ge(z.devnull, 0);
        for (unsigned c = 0; c < FUZZ_CONNS; c++)
                z.conns[c] = tu_connect_ok(D.socket);
        int other = tu_connect_ok(D.socket);

        for (uint32_t i = 0; i < RECORDS; i++) {
                fz_one(&z, fz_rand(&z, FUZZ_CONNS), i);
                if (i % 250 == 0)
                        ping_ms(other, i, 1000);
        }
        /* The mix did reach every kind of answer. */
        ck_assert_msg(z.eproto > 10 && z.with_fds + z.refused > 10 && z.ok_fds > 10 && z.closed > 0,
                      "seed %u: %u EPROTO, %u with descriptors (%u refused by the kernel), %u opened, %u zero-length",
                      z.seed, z.eproto, z.with_fds, z.refused, z.ok_fds, z.closed);
        for (unsigned c = 0; c < FUZZ_CONNS; c++)
                ping_ms(z.conns[c], 1, 1000);

        for (unsigned c = 0; c < FUZZ_CONNS; c++)
                close(z.conns[c]);
        close(other);
        close(z.devnull);
        for (unsigned i = 0; i < z.n_paths; i++)
                free(z.paths[i]);
        tu_daemon_expect_baseline(&D, "the mutated records");
        stop();
}
END_TEST

static Suite *abuse_suite(void) {
        Suite *s = suite_create("abuse");
        TCase *tc = tcase_create("abuse");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, idle_connections);
        tcase_add_test(tc, flood_without_reading);
        tcase_add_test(tc, client_limits);
        tcase_add_test(tc, subuids_count_against_owner);
        tcase_add_test(tc, inflight_backpressure);
        tcase_add_test(tc, idle_timeout);
        tcase_add_test(tc, connect_close_storm);
        tcase_add_test(tc, fds_253);
        tcase_add_test(tc, mutation_fuzz);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        /* Clients that leave before their answer must not kill the tests. */
        signal(SIGPIPE, SIG_IGN);
        return tu_run_suite(abuse_suite());
}
