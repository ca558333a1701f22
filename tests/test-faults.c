/* SPDX-License-Identifier: MIT */
/* Faults (security properties 2 and 5): clients killed with requests in
 * flight, a full filesystem and an exhausted quota, calls of the daemon
 * made to fail by a preloaded shim (tests/faultinject: malloc, openat2,
 * sendmsg, recvmsg, accept4), and a daemon run out of descriptors.
 *
 * Whatever fails, the daemon must not crash, must not leak a descriptor,
 * and must never send a successful OPEN reply without its descriptor (nor
 * a descriptor with anything else); once the faults stop it serves as
 * before.  Every reply of every workload is checked for that.
 *
 * The shim also works in front of AddressSanitizer's runtime (it forwards
 * to whatever comes next: the sanitizer's interceptors, then libc), so
 * these tests run in the sanitizer build as well, with ASan told not to
 * insist on being first in the library list. */

#include <errno.h>
#include <grp.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "fdpass.h"
#include "harness.h"
#include "macro.h"
#include "shim.h"
#include "testutil.h"

static const char policy_text[] =
        "any @DIR@/data/** read\n"
        "any @DIR@/data/out/** read,write,create\n"
        "any @DIR@/data/dirs dir\n"
        "any @DIR@/data/small/** read,write,create\n";

#define PUBLIC_CONTENT "public data\n"

static struct tu_daemon D;

static struct tu_shim S;

#define path_of(rel) tu_daemon_path(&D, rel)

static void make_tree(void) {
        static const char *const dirs[] = { "data", "data/out", "data/dirs", "data/small" };
        for (size_t i = 0; i < ELEMENTSOF(dirs); i++) {
                char *p = path_of(dirs[i]);
                tu_mkdir(p, 0755, 0, 0);
                free(p);
        }
        char *p = path_of("data/public.txt");
        tu_write_file(p, PUBLIC_CONTENT, 0600, 0, 0);
        free(p);
        p = path_of("data/out/t");
        tu_write_file(p, "to be truncated", 0600, 0, 0);
        free(p);
}

/* What the daemon holds with no client, for the checks that every attack
 * leaves it with exactly that. */
static void rebaseline(void) {
        char *p = path_of("data/public.txt");
        tu_daemon_baseline(&D, p);
        free(p);
}

/* In a mount namespace of its own: mounts made elsewhere meanwhile do not
 * change what the daemon holds (it keeps descriptors for local mounts),
 * and the test's own go away with it. */
static void start_opts(const char *const *args, const struct tu_spawn_opts *o) {
        tu_private_mounts();
        tu_daemon_start_opts(&D, policy_text, args, o);
        make_tree();
        rebaseline();
}

static void start(const char *const *args) {
        start_opts(args, NULL);
}

/* The daemon with the shim preloaded, injecting spec once armed. */
static void start_shim(const char *spec, const char *const *args) {
        tu_shim_setup(&S, spec);
        start_opts(args, &S.opts);
        tu_shim_check_loaded(&S);
}

static void arm(bool on) {
        tu_shim_arm(&S, on);
}

static void stop(void) {
        tu_daemon_stop(&D);
        tu_shim_done(&S);
}

static void ping_ok(int fd, long long limit_ms) {
        long long t0 = tu_now_ms();
        int st = tu_request(fd, FDBR_OP_PING, 0, 0, NULL, NULL);
        ck_assert_msg(st == 0, "PING: %d", st);
        ck_assert_msg(tu_now_ms() - t0 < limit_ms, "PING took %lld ms", tu_now_ms() - t0);
}

/* ---- a workload whose every reply is checked ----------------------------- */

enum kind { K_PING, K_OPEN, K_MISSING, K_CREATE, K_TRUNC, K_CHECK, K_DIR, K_MAX };

struct pending {
        uint32_t id;
        enum kind kind;
};

#define WL_CLIENTS 4
#define WL_BURST 8

struct workload {
        uint64_t rng;
        int fds[WL_CLIENTS];
        char *paths[K_MAX];
        uint32_t next_id;
        bool may_close;          /* the fault may cost a connection */
        bool exact;              /* every status as without faults */
        unsigned replies, closed, with_fd;
        unsigned statuses[256];  /* by errno */
};

static const uint16_t kind_op[K_MAX] = {
        [K_PING] = FDBR_OP_PING, [K_OPEN] = FDBR_OP_OPEN, [K_MISSING] = FDBR_OP_OPEN, [K_CREATE] = FDBR_OP_OPEN,
        [K_TRUNC] = FDBR_OP_OPEN, [K_CHECK] = FDBR_OP_CHECK, [K_DIR] = FDBR_OP_OPEN,
};
static const uint32_t kind_flags[K_MAX] = {
        [K_OPEN] = FDBR_F_READ, [K_MISSING] = FDBR_F_READ, [K_CREATE] = FDBR_F_WRITE | FDBR_F_CREATE,
        [K_TRUNC] = FDBR_F_WRITE | FDBR_F_TRUNC, [K_CHECK] = FDBR_F_READ, [K_DIR] = FDBR_F_DIRECTORY,
};
static const uint32_t kind_status[K_MAX] = { [K_MISSING] = ENOENT };

static uint32_t wl_rand(struct workload *w, uint32_t n) {
        w->rng ^= w->rng << 13;
        w->rng ^= w->rng >> 7;
        w->rng ^= w->rng << 17;
        return (uint32_t) (w->rng % n);
}

static void wl_init(struct workload *w, bool may_close, bool exact) {
        *w = (struct workload) { .rng = 0x853c49e6748fea9bull, .may_close = may_close, .exact = exact };
        for (int i = 0; i < WL_CLIENTS; i++)
                w->fds[i] = -1;
        w->paths[K_OPEN] = path_of("data/public.txt");
        w->paths[K_MISSING] = path_of("data/missing");
        w->paths[K_CREATE] = path_of("data/out/created");
        w->paths[K_TRUNC] = path_of("data/out/t");
        w->paths[K_CHECK] = path_of("data/public.txt");
        w->paths[K_DIR] = path_of("data/dirs");
}

static void wl_done(struct workload *w) {
        for (int i = 0; i < WL_CLIENTS; i++)
                if (w->fds[i] >= 0)
                        close(w->fds[i]);
        for (int i = 0; i < K_MAX; i++)
                free(w->paths[i]);
        memset(w->fds, -1, sizeof w->fds);
}

static void wl_check_fd(enum kind k, int fd) {
        struct stat st;
        ck_assert_int_eq(fstat(fd, &st), 0);
        int acc = fcntl(fd, F_GETFL) & O_ACCMODE;
        switch (k) {
        case K_OPEN: {
                char buf[32] = "";
                ck_assert(S_ISREG(st.st_mode) && acc == O_RDONLY);
                ck_assert_int_eq(pread(fd, buf, sizeof buf - 1, 0), (ssize_t) strlen(PUBLIC_CONTENT));
                ck_assert_str_eq(buf, PUBLIC_CONTENT);
                break;
        }
        case K_CREATE:
        case K_TRUNC:
                ck_assert(S_ISREG(st.st_mode) && acc == O_WRONLY);
                break;
        case K_DIR:
                ck_assert(S_ISDIR(st.st_mode));
                break;
        default:
                ck_abort_msg("a descriptor for a request of kind %d", k);
        }
}

/* One burst on client c: up to WL_BURST requests, then every answer. */
static void wl_burst(struct workload *w, unsigned c) {
        struct pending p[WL_BURST];
        unsigned n = 1 + wl_rand(w, WL_BURST);

        if (w->fds[c] >= 0 && wl_rand(w, 10) == 0) {
                /* Now and then a new connection: accepting is exercised too. */
                close(w->fds[c]);
                w->fds[c] = -1;
        }
        if (w->fds[c] < 0)
                w->fds[c] = tu_connect_ok(D.socket);
        for (unsigned i = 0; i < n; i++) {
                p[i] = (struct pending) { .id = ++w->next_id, .kind = (enum kind) wl_rand(w, K_MAX) };
                uint32_t flags = kind_flags[p[i].kind];
                int k = tu_send(w->fds[c], kind_op[p[i].kind], p[i].id, flags, flags & FDBR_F_CREATE ? 0600 : 0,
                                w->paths[p[i].kind]);
                if (k < 0) {
                        /* The daemon closed the connection under us. */
                        ck_assert_msg(w->may_close, "send: %s", strerror(-k));
                        n = i;
                        break;
                }
        }
        for (unsigned left = n; left > 0; left--) {
                struct wire_reply r;
                int rfd = -1;
                int k = tu_recv(w->fds[c], &r, &rfd, 10000);
                ck_assert_msg(k != -ETIMEDOUT, "no reply within 10 s (%u of %u outstanding)", left, n);
                ck_assert_msg(k != -EBADMSG, "a reply that breaks the protocol");
                if (k < 0) {
                        ck_assert_msg(w->may_close, "connection lost: %s", strerror(-k));
                        w->closed++;
                        close(w->fds[c]);
                        w->fds[c] = -1;
                        return;
                }
                unsigned i = 0;
                while (i < n && p[i].id != r.id)
                        i++;
                ck_assert_msg(i < n, "reply for id %u, which is not outstanding", r.id);
                enum kind kind = p[i].kind;
                p[i].id = 0;
                ck_assert_uint_eq(r.op, kind_op[kind]);
                /* The property: a descriptor exactly with a successful OPEN. */
                ck_assert_msg((rfd >= 0) == (r.status == 0 && r.op == FDBR_OP_OPEN),
                              "op %u (kind %d) status %u (%s) came with%s a descriptor", r.op, kind, r.status,
                              strerror((int) r.status), rfd >= 0 ? "" : "out");
                if (w->exact)
                        ck_assert_msg(r.status == kind_status[kind], "kind %d: status %u (%s), expected %u", kind,
                                      r.status, strerror((int) r.status), kind_status[kind]);
                if (rfd >= 0) {
                        wl_check_fd(kind, rfd);
                        close(rfd);
                        w->with_fd++;
                }
                w->statuses[r.status < 256 ? r.status : 255]++;
                w->replies++;
        }
}

static void wl_run(struct workload *w, unsigned bursts) {
        for (unsigned i = 0; i < bursts; i++)
                wl_burst(w, wl_rand(w, WL_CLIENTS));
}

/* Without faults: everything exactly as it should be. */
static void wl_clean(unsigned bursts) {
        struct workload w;
        wl_init(&w, false, true);
        wl_run(&w, bursts);
        ck_assert_uint_gt(w.with_fd, 0);
        wl_done(&w);
}

/* ---- injected failures --------------------------------------------------- */

struct fault_case {
        const char *spec;
        enum fault_call call;
        int status;       /* that clients must have seen, or 0 */
        bool may_close;
        bool exact;
};

static const struct fault_case fault_cases[] = {
        /* Allocation failures on the event loop, where the daemon
         * allocates for connections, requests and queued replies: a
         * connection may go, or a request be answered ENOMEM, but
         * nothing else. */
        { "malloc:ENOMEM:prob=10:main=1;calloc:ENOMEM:prob=10:main=1;realloc:ENOMEM:prob=10:main=1", FAULT_MALLOC,
          0, true, false },
        { "malloc:ENOMEM:every=2:main=1;calloc:ENOMEM:every=2:main=1;realloc:ENOMEM:every=2:main=1", FAULT_MALLOC,
          0, true, false },
        /* Opens that fail: the client hears why, the connection stays. */
        { "openat2:EMFILE:every=3", FAULT_OPENAT2, EMFILE, false, false },
        { "openat2:ENFILE:prob=30", FAULT_OPENAT2, ENFILE, false, false },
        { "openat2:EIO:prob=30", FAULT_OPENAT2, EIO, false, false },
        { "openat2:EAGAIN:every=2", FAULT_OPENAT2, 0, false, false },
        { "openat2:EINTR:every=2", FAULT_OPENAT2, 0, false, false },
        /* A full socket: the reply waits, with its descriptor, and goes. */
        { "sendmsg:EAGAIN:every=2", FAULT_SENDMSG, 0, false, true },
        /* A broken one: the connection goes, its descriptors are closed. */
        { "sendmsg:ENOBUFS:prob=5", FAULT_SENDMSG, 0, true, false },
        { "sendmsg:EPIPE:every=9", FAULT_SENDMSG, 0, true, false },
        { "recvmsg:EAGAIN:every=2", FAULT_RECVMSG, 0, false, true },
        { "recvmsg:EINTR:every=2", FAULT_RECVMSG, 0, false, true },
        { "recvmsg:ENOMEM:every=5", FAULT_RECVMSG, 0, true, false },
        /* Accepting fails: new clients wait in the backlog and are taken
         * on the next try. */
        { "accept4:EMFILE:every=2", FAULT_ACCEPT4, 0, false, true },
        { "accept4:ENOBUFS:every=2", FAULT_ACCEPT4, 0, false, true },
        { "accept4:ECONNABORTED:every=2", FAULT_ACCEPT4, 0, false, true },
        { "accept4:EPERM:every=3", FAULT_ACCEPT4, 0, false, true },
};

START_TEST(injected_faults) {
        static const char *const names[] = FAULT_CALL_NAMES;
        const struct fault_case *fc = &fault_cases[_i];
        start_shim(fc->spec, NULL);
        wl_clean(20);

        struct workload w;
        wl_init(&w, fc->may_close, fc->exact);
        arm(true);
        wl_run(&w, 400);
        arm(false);
        wl_done(&w);

        uint64_t injected = S.ctl->injected[fc->call];
        ck_assert_msg(injected > 0, "%s: no %s failed (%llu calls)", fc->spec, names[fc->call],
                      (unsigned long long) S.ctl->calls[fc->call]);
        if (fc->status)
                ck_assert_msg(w.statuses[fc->status] > 0, "%s: no client was told %s", fc->spec,
                              strerror(fc->status));
        ck_assert_msg(w.replies > 100, "%s: only %u replies (%u connections lost)", fc->spec, w.replies, w.closed);
        fprintf(stderr, "%s: %llu of %llu calls failed; %u replies, %u with a descriptor, %u connections lost\n",
                fc->spec, (unsigned long long) injected, (unsigned long long) S.ctl->calls[fc->call], w.replies,
                w.with_fd, w.closed);

        /* Faults over: served as before, nothing left behind. */
        wl_clean(100);
        tu_daemon_expect_baseline(&D, fc->spec);
        stop();
}
END_TEST

/* While every accept fails, the listener pauses instead of spinning, and
 * a client waiting meanwhile is served once accepting works again. */
START_TEST(accept_fails_no_spin) {
        start_shim("accept4:EMFILE", NULL);
        int old = tu_connect_ok(D.socket);
        ping_ok(old, 1000); /* accepted */
        arm(true);
        int fd = tu_connect_ok(D.socket); /* into the backlog */
        ck_assert_int_eq(tu_send(fd, FDBR_OP_PING, 1, 0, 0, NULL), 0);
        /* No spin: accept is tried again on a timer (every 100 ms), not
         * at every turn of the loop (which would be hundreds of thousands
         * of calls a second): the shim counts the calls. */
        long long t0 = tu_now_ms();
        while (__atomic_load_n(&S.ctl->injected[FAULT_ACCEPT4], __ATOMIC_RELAXED) < 3) {
                ck_assert_msg(tu_now_ms() - t0 < 5000, "accept was not tried again");
                usleep(1000);
        }
        uint64_t calls0 = S.ctl->calls[FAULT_ACCEPT4];
        t0 = tu_now_ms();
        while (tu_now_ms() - t0 < 1000)
                ping_ok(old, 1000);
        uint64_t calls = S.ctl->calls[FAULT_ACCEPT4] - calls0;
        ck_assert_msg(calls < 100, "accept was called %llu times in 1 s while it failed",
                      (unsigned long long) calls);
        ping_ok(old, 1000);
        struct wire_reply r;
        ck_assert_int_eq(tu_recv(fd, &r, NULL, 100), -ETIMEDOUT);

        arm(false);
        ck_assert_int_eq(tu_recv(fd, &r, NULL, 5000), 0);
        ck_assert_uint_eq(r.id, 1);
        close(fd);
        close(old);
        tu_daemon_expect_baseline(&D, "failed accepts");
        stop();
}
END_TEST

/* ---- clients killed with requests in flight ------------------------------ */

enum doom {
        DOOM_KILLED_FULL,    /* killed by another, both directions full */
        DOOM_KILL_SELF,      /* dies right after sending */
        DOOM_DRAINED,        /* dies the moment it has read all there was */
        DOOM_MAX,
};

/* Sends until the daemon stops reading (or n requests), then dies as doom
 * says; for DOOM_KILLED_FULL it says so on ready and waits to be killed.
 * In a forked child. */
static int doomed_client(const char *pub, const char *trunc, int ready, enum doom doom) {
        uint8_t rec[FDBR_WIRE_REQUEST_MAX];
        int fd = tu_connect(D.socket);
        if (fd < 0)
                return 1;
        int fl = fcntl(fd, F_GETFL);
        (void) fcntl(fd, F_SETFL, fl | O_NONBLOCK);
        unsigned n = doom == DOOM_KILL_SELF ? 100 : 100000;
        long long last = tu_now_ms();
        for (unsigned i = 0; i < n && tu_now_ms() - last < 500;) {
                /* Mostly opens answered on the loop, some that go to a
                 * worker and complete after the client is gone. */
                const char *p = i % 8 ? pub : trunc;
                uint32_t flags = i % 8 ? FDBR_F_READ : FDBR_F_WRITE | FDBR_F_TRUNC;
                int len = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, i, flags, 0, p, strlen(p));
                if (send(fd, rec, (size_t) len, MSG_NOSIGNAL) == len) {
                        i++;
                        last = tu_now_ms();
                } else
                        usleep(1000);
        }
        switch (doom) {
        case DOOM_KILL_SELF:
                break;
        case DOOM_DRAINED:
                /* With nothing unread at its death, the daemon's next
                 * send fails with EPIPE (unread replies would make it
                 * ECONNRESET first). */
                for (;;) {
                        struct fdpass_msg m;
                        uint8_t buf[64];
                        if (fdpass_recv(fd, buf, sizeof buf, true, &m) < 0)
                                break;
                        if (m.fd >= 0)
                                close(m.fd);
                }
                break;
        default:
                (void) !write(ready, "x", 1);
                for (;;)
                        pause();
        }
        raise(SIGKILL);
        return 1;
}

START_TEST(client_killed) {
        start(NULL);
        char *pub = path_of("data/public.txt");
        char *trunc = path_of("data/out/t");
        int other = tu_connect_ok(D.socket);

        for (int round = 0; round < 12; round++) {
                enum doom doom = (enum doom) (round % DOOM_MAX);
                int p[2];
                ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
                pid_t pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        close(p[0]);
                        _exit(doomed_client(pub, trunc, p[1], doom));
                }
                close(p[1]);
                if (doom == DOOM_KILLED_FULL) {
                        char c;
                        struct pollfd pfd = { .fd = p[0], .events = POLLIN };
                        ck_assert_int_eq(poll(&pfd, 1, 20000), 1);
                        ck_assert_int_eq(read(p[0], &c, 1), 1);
                        ck_assert_int_eq(kill(pid, SIGKILL), 0);
                }
                int status = tu_wait(pid, 20000);
                ck_assert(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
                close(p[0]);
                ck_assert_msg(kill(D.pid, 0) == 0, "the daemon died");
                ping_ok(other, 1000);
        }
        /* The replies hit dead sockets (EPIPE, ECONNRESET): each such
         * connection is dropped with the descriptors queued for it, and the
         * daemon lives on.  (Linux raises no SIGPIPE for SOCK_SEQPACKET, so
         * what is tested is the handling of the error, not the signal.) */
        int n = tu_wait_fds(D.pid, D.baseline + 1, 15000);
        ck_assert_msg(n == D.baseline + 1, "%d descriptors with one client (baseline %d)", n, D.baseline);
        close(other);
        free(pub);
        free(trunc);
        tu_daemon_expect_baseline(&D, "killed clients");
        stop(); /* exit status 0 */
}
END_TEST

/* ---- ENOSPC and EDQUOT on create ----------------------------------------- */

START_TEST(enospc_on_create) {
        start(NULL);
        char *small = path_of("data/small");
        /* Room for the root directory and 4 files. */
        ck_assert_msg(mount("fdbr-small", small, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,nr_inodes=5,mode=0755") == 0,
                      "mount tmpfs: %s", strerror(errno));
        /* The daemon may keep something for a new local mount. */
        rebaseline();
        int fd = tu_connect_ok(D.socket);
        unsigned created = 0, full = 0;
        for (int i = 0; i < 8; i++) {
                char *p = tu_strdupf("%s/f%d", small, i);
                int rfd = -1;
                int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0644, p, &rfd);
                if (st == 0) {
                        ck_assert_msg(full == 0, "created a file after ENOSPC");
                        ck_assert_int_ge(rfd, 0);
                        created++;
                        if (created == 1) {
                                /* The data blocks run out as well: that is
                                 * the client's write to see. */
                                static const char block[4096];
                                ssize_t k;
                                while ((k = write(rfd, block, sizeof block)) > 0)
                                        ;
                                ck_assert_int_eq(errno, ENOSPC);
                        }
                        close(rfd);
                } else {
                        ck_assert_msg(st == ENOSPC, "create %d: status %d (%s)", i, st, strerror(st));
                        ck_assert_int_eq(rfd, -1);
                        ck_assert_int_eq(access(p, F_OK), -1);
                        full++;
                }
                free(p);
        }
        ck_assert_uint_eq(created, 4);
        ck_assert_uint_eq(full, 4);
        /* A file that exists is opened, full or not. */
        char *p = tu_strdupf("%s/f0", small);
        int rfd = -1;
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_CREATE, 0644, p, &rfd), 0);
        close(rfd);
        /* Room again once the broker's copy is closed too (off its
         * loop, so soon rather than at once): created again. */
        ck_assert_int_eq(unlink(p), 0);
        for (long long end = tu_now_ms() + 5000;;) {
                char *held = tu_fd_list(D.pid);
                bool still = strstr(held, p) != NULL;
                free(held);
                if (!still)
                        break;
                ck_assert_msg(tu_now_ms() < end, "the broker still holds %s", p);
                usleep(5000);
        }
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, p, &rfd), 0);
        close(rfd);
        free(p);
        ping_ok(fd, 1000);
        close(fd);
        tu_daemon_expect_baseline(&D, "ENOSPC");
        ck_assert_int_eq(umount2(small, MNT_DETACH), 0);
        free(small);
        stop();
}
END_TEST

START_TEST(edquot_on_create) {
        start_shim("creat:EDQUOT", NULL);
        int fd = tu_connect_ok(D.socket);
        char *q = path_of("data/out/q");
        char *t = path_of("data/out/t");
        int rfd = -1;

        arm(true);
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, q, &rfd), EDQUOT);
        ck_assert_int_eq(rfd, -1);
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ | FDBR_F_CREATE | FDBR_F_EXCL, 0600, q, &rfd),
                         EDQUOT);
        ck_assert_int_eq(rfd, -1);
        ck_assert_int_eq(access(q, F_OK), -1);
        /* Opening what exists needs no new inode. */
        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, t, &rfd), 0);
        ck_assert_int_ge(rfd, 0);
        close(rfd);
        ck_assert_uint_eq(S.ctl->injected[FAULT_CREAT], 2);
        arm(false);

        ck_assert_int_eq(tu_request(fd, FDBR_OP_OPEN, FDBR_F_WRITE | FDBR_F_CREATE, 0644, q, &rfd), 0);
        close(rfd);
        ck_assert_int_eq(access(q, F_OK), 0);
        close(fd);
        free(q);
        free(t);
        tu_daemon_expect_baseline(&D, "EDQUOT");
        stop();
}
END_TEST

/* ---- out of descriptors -------------------------------------------------- */

START_TEST(out_of_descriptors) {
        enum { NOFILE = 64 };
        struct tu_spawn_opts o = { .nofile = NOFILE };
        start_opts(NULL, &o);
        char *pub = path_of("data/public.txt");

        /* Connections until one is refused: the reserve is kept from them. */
        int conns[NOFILE];
        unsigned n = 0;
        int refused = -1;
        while (refused < 0) {
                ck_assert_uint_lt(n, NOFILE);
                int fd = tu_connect_ok(D.socket);
                struct wire_reply r;
                /* Refused at once: the send may already find it closed. */
                int k = tu_send(fd, FDBR_OP_PING, n, 0, 0, NULL);
                if (k == 0)
                        k = tu_recv(fd, &r, NULL, 3000);
                if (k == 0)
                        conns[n++] = fd;
                else
                        refused = fd;
        }
        ck_assert_msg(n > 16, "only %u connections before the first refusal", n);
        ck_assert_msg(tu_count_fds(D.pid) <= NOFILE - 16, "connections took the reserve: %d descriptors",
                      tu_count_fds(D.pid));
        /* Saturated, with clients waiting: each is refused in turn, one
         * pause of accepting each, and no accepting in between (a loop
         * on a listening socket that stays readable would count here). */
        long long pauses = tu_status_on(conns[0], "accept_pauses");
        ck_assert_int_ge(pauses, 1);
        int waiting[4];
        for (int i = 0; i < 4; i++)
                waiting[i] = tu_connect_ok(D.socket);
        for (int i = 0; i < 4; i++)
                ck_assert_msg(tu_closed(waiting[i], 10000), "waiting client %d not refused", i);
        ck_assert_int_eq(tu_status_on(conns[0], "accept_pauses"), pauses + 4);
        /* The reserve serves the clients it has: a file for one of them. */
        int rfd = -1;
        ck_assert_int_eq(tu_request(conns[0], FDBR_OP_OPEN, FDBR_F_READ, 0, pub, &rfd), 0);
        close(rfd);
        close(refused);
        for (int i = 0; i < 4; i++)
                close(waiting[i]);
        for (unsigned i = 0; i < n; i++)
                close(conns[i]);
        tu_daemon_expect_baseline(&D, "the connections");

        /* Now a client floods opens and takes no reply.  TRUNC opens run
         * in a worker and hold one descriptor each until taken. */
        int asker = tu_connect_ok(D.socket);
        int flood = tu_connect_ok(D.socket);
        tu_set_nonblock(flood);
        char *trunc = path_of("data/out/t");
        uint8_t rec[FDBR_WIRE_REQUEST_MAX];
        int len = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, 0, FDBR_F_WRITE | FDBR_F_TRUNC, 0, trunc,
                                      strlen(trunc));
        unsigned sent = 0;
        long long last = tu_now_ms();
        while (tu_now_ms() - last < 1000) {
                uint32_t id = sent;
                memcpy(rec + 8, &id, 4);
                if (send(flood, rec, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT) == len) {
                        sent++;
                        last = tu_now_ms();
                } else {
                        ck_assert_int_eq(errno, EAGAIN);
                        usleep(2000);
                }
        }
        /* The flooder is not read past its share of the descriptor budget
         * for untaken replies: the daemon keeps descriptors to spare. */
        int used = tu_count_fds(D.pid);
        ck_assert_msg(used < NOFILE - 8, "%d of %d descriptors in use after the flood:%s", used, NOFILE,
                      tu_fd_list(D.pid));

        /* So a file asked for now is served, and so is a new client. */
        int st = tu_request(asker, FDBR_OP_OPEN, FDBR_F_READ, 0, pub, &rfd);
        ck_assert_msg(st == 0 && rfd >= 0, "status %d (%s), descriptor %d", st, strerror(st), rfd);
        close(rfd);
        ping_ok(asker, 1000);
        int late = tu_connect_ok(D.socket);
        ping_ok(late, 1000);

        /* The flooder takes its replies: every one a success with its
         * descriptor, none lost, none EMFILE. */
        struct wire_reply r;
        unsigned got = 0;
        for (;;) {
                int k = tu_recv(flood, &r, &rfd, 2000);
                if (k == -ETIMEDOUT)
                        break;
                ck_assert_msg(k == 0, "flooder: %s", strerror(-k));
                ck_assert_msg(r.status == 0 && rfd >= 0, "reply %u: status %u (%s), descriptor %d", r.id, r.status,
                              strerror((int) r.status), rfd);
                close(rfd);
                got++;
        }
        ck_assert_uint_eq(got, sent);
        close(flood);
        free(trunc);

        ck_assert_int_eq(tu_request(asker, FDBR_OP_OPEN, FDBR_F_READ, 0, pub, &rfd), 0);
        close(rfd);
        close(late);
        close(asker);
        int fresh = tu_connect_ok(D.socket);
        ping_ok(fresh, 1000);
        close(fresh);
        free(pub);
        tu_daemon_expect_baseline(&D, "descriptor exhaustion");
        stop();
}
END_TEST

/* Another uid, while one uid's clients hold back their replies. */
static int served_as_nobody(void *arg) {
        const char *pub = arg;
        int fd = tu_connect(D.socket), rfd = -1;
        TU_REQUIRE(fd >= 0);
        int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, pub, &rfd);
        TU_REQUIRE(st == 0 && rfd >= 0, "status %d (%s)", st, strerror(st));
        close(rfd);
        close(fd);
        return 0;
}

/* Many connections of one uid, each filling its socket with replies it
 * never reads: what the daemon holds for them is bounded by a budget well
 * inside its descriptor limit, so another uid is still served. */
START_TEST(one_uid_cannot_exhaust_descriptors) {
        enum { NOFILE = 1024, CONNS = 40 };
        struct tu_spawn_opts o = { .nofile = NOFILE };
        start_opts(NULL, &o);
        char *pub = path_of("data/public.txt");
        uint8_t rec[FDBR_WIRE_REQUEST_MAX];
        int len = wire_request_encode(rec, sizeof rec, FDBR_OP_OPEN, 0, FDBR_F_READ, 0, pub, strlen(pub));
        int c[CONNS];

        for (int i = 0; i < CONNS; i++) {
                c[i] = tu_connect_ok(D.socket);
                tu_set_nonblock(c[i]);
        }
        /* Each sends until the daemon stops reading it. */
        long long last = tu_now_ms();
        while (tu_now_ms() - last < 1000) {
                bool progress = false;
                for (int i = 0; i < CONNS; i++)
                        if (send(c[i], rec, (size_t) len, MSG_NOSIGNAL | MSG_DONTWAIT) == len)
                                progress = true;
                if (progress)
                        last = tu_now_ms();
                else
                        usleep(5000);
        }
        int used = tu_count_fds(D.pid);
        ck_assert_msg(used < NOFILE / 2, "%d of %d descriptors in use:%s", used, NOFILE, tu_fd_list(D.pid));
        tu_run_as(TU_NOBODY, TU_NOBODY, served_as_nobody, pub);

        for (int i = 0; i < CONNS; i++)
                close(c[i]);
        free(pub);
        tu_daemon_expect_baseline(&D, "a uid holding its replies back");
        stop();
}
END_TEST

/* ---- connections the broker closed with descriptors still unread --------- */

/* Waits until STATUS says key=want; fails naming what it says instead. */
static void status_wait(int ctl, const char *key, long want, const char *when) {
        long long v = -1;
        for (long long t0 = tu_now_ms(); tu_now_ms() - t0 < 10000; usleep(20000)) {
                v = tu_status_on(ctl, key);
                if (v == want)
                        return;
        }
        ck_abort_msg("%s: %s=%lld, expected %ld", when, key, v, want);
}

enum { Z_CONNS = 3, Z_FDS = 20, Z_EXTRA = 8 };

struct zombie {
        const char *socket;
        const char *pub;
        int cmd;    /* read end: the test says go on */
        int ack;    /* write end: the client says where it is */
};

static int z_step(const struct zombie *z, char say) {
        char go;
        if (write(z->ack, &say, 1) != 1 || read(z->cmd, &go, 1) != 1)
                return -1;
        return 0;
}

/* The attacker: on each of Z_CONNS connections it is sent Z_FDS
 * descriptors it does not read, then it gets the broker to close the
 * connection (a record that is not ours) and keeps its end. */
static int zombie_client(void *arg) {
        const struct zombie *z = arg;
        int fd[Z_CONNS + 3];

        for (int i = 0; i < Z_CONNS; i++) {
                fd[i] = tu_connect(z->socket);
                TU_REQUIRE(fd[i] >= 0);
                for (int j = 0; j < Z_FDS; j++)
                        TU_REQUIRE(tu_send(fd[i], FDBR_OP_OPEN, (uint32_t) j, FDBR_F_READ, 0, z->pub) == 0);
                TU_REQUIRE(z_step(z, 'S') == 0);
                TU_REQUIRE(send(fd[i], "xyz", 3, MSG_NOSIGNAL) == 3);
                /* The broker hung up: as after a close, nothing more can be
                 * sent, and the socket says so. */
                struct pollfd p = { .fd = fd[i], .events = POLLRDHUP };
                TU_REQUIRE(poll(&p, 1, 5000) == 1 && (p.revents & POLLHUP), "revents 0x%x", p.revents);
                TU_REQUIRE(tu_send(fd[i], FDBR_OP_PING, 1, 0, 0, NULL) == -EPIPE);
                TU_REQUIRE(z_step(z, 'C') == 0);
        }
        /* A new connection of the same user, taking nothing. */
        fd[Z_CONNS] = tu_connect(z->socket);
        TU_REQUIRE(fd[Z_CONNS] >= 0);
        for (int j = 0; j < Z_EXTRA; j++)
                TU_REQUIRE(tu_send(fd[Z_CONNS], FDBR_OP_OPEN, (uint32_t) j, FDBR_F_READ, 0, z->pub) == 0);
        TU_REQUIRE(z_step(z, 'S') == 0);
        /* The closed ones still count against --max-clients-per-uid 5. */
        fd[Z_CONNS + 1] = tu_connect(z->socket);
        TU_REQUIRE(fd[Z_CONNS + 1] >= 0);
        TU_REQUIRE(tu_request(fd[Z_CONNS + 1], FDBR_OP_PING, 0, 0, NULL, NULL) == 0);
        fd[Z_CONNS + 2] = tu_connect(z->socket);
        TU_REQUIRE(fd[Z_CONNS + 2] >= 0);
        TU_REQUIRE(tu_closed(fd[Z_CONNS + 2], 5000), "a sixth connection was accepted");
        close(fd[Z_CONNS + 2]);
        TU_REQUIRE(z_step(z, 'L') == 0);

        /* The first connection read now: every reply with its descriptor,
         * the EPROTO answer, then EOF. */
        for (int j = 0; j < Z_FDS; j++) {
                struct wire_reply r;
                int rfd = -1;
                TU_REQUIRE(tu_recv(fd[0], &r, &rfd, 5000) == 0);
                TU_REQUIRE(r.status == 0 && rfd >= 0 && r.id == (uint32_t) j, "reply %u: status %u, fd %d", r.id,
                           r.status, rfd);
                close(rfd);
        }
        struct wire_reply r;
        TU_REQUIRE(tu_recv(fd[0], &r, NULL, 5000) == 0 && r.status == EPROTO, "status %u", r.status);
        TU_REQUIRE(tu_recv(fd[0], &r, NULL, 5000) == -ECONNRESET);
        TU_REQUIRE(z_step(z, 'R') == 0);

        for (int i = 0; i < Z_CONNS + 2; i++)
                close(fd[i]);
        char done = 'X';
        TU_REQUIRE(write(z->ack, &done, 1) == 1);
        return 0;
}

static void z_expect(int ack, char want) {
        struct pollfd p = { .fd = ack, .events = POLLIN };
        char got = 0;
        ck_assert_msg(poll(&p, 1, 15000) == 1 && read(ack, &got, 1) == 1 && got == want,
                      "the client did not reach step %c (got %c)", want, got ? got : '-');
}

static void z_go(int cmd) {
        ck_assert_int_eq(write(cmd, "G", 1), 1);
}

/* Descriptors the broker sent stay in flight, counted by the kernel
 * against uid 0, for as long as the client keeps its end, even after the
 * broker closed the connection.  Such a connection drains: its
 * descriptors stay counted against its user (who is then refused more
 * beyond the budget, while another user is served) and it stays one of
 * its user's connections, until the client reads them or closes. */
START_TEST(closed_connection_keeps_unread_counted) {
        enum { NOFILE = 1024 };
        struct tu_spawn_opts o = { .nofile = NOFILE };
        static const char *const args[] = { "--max-clients-per-uid", "5", NULL };
        start_opts(args, &o);
        char *pub = path_of("data/public.txt");
        int ctl = tu_connect_ok(D.socket);
        long opens = tu_status_on(ctl, "requests_open_allowed");
        int to_child[2], to_test[2];
        ck_assert_int_eq(pipe2(to_child, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(to_test, O_CLOEXEC), 0);
        struct zombie z = { .socket = D.socket, .pub = pub, .cmd = to_child[0], .ack = to_test[1] };
        struct tu_child child = tu_start_as(TU_NOBODY, TU_NOBODY, zombie_client, &z);
        close(to_child[0]);
        close(to_test[1]);
        int cmd = to_child[1], ack = to_test[0];

        for (int i = 1; i <= Z_CONNS; i++) {
                z_expect(ack, 'S');
                status_wait(ctl, "descriptors_unread", Z_FDS * i, "sent, not read");
                z_go(cmd);
                z_expect(ack, 'C');
                /* Closed by the broker, the client's end open: still counted. */
                ck_assert_int_eq(tu_status_on(ctl, "descriptors_unread"), Z_FDS * i);
                ck_assert_int_eq(tu_status_on(ctl, "clients_draining"), i);
                ck_assert_int_eq(tu_status_on(ctl, "descriptors_draining"), Z_FDS * i);
                z_go(cmd);
        }

        /* The user's budget (a quarter of a quarter of 960) is spent: a new
         * connection of it gets the few every connection may leave unread,
         * the rest waits. */
        z_expect(ack, 'S');
        status_wait(ctl, "requests_open_allowed", opens + Z_CONNS * Z_FDS + Z_EXTRA, "the extra requests answered");
        for (int k = 0; k < 2; k++) {
                ck_assert_int_eq(tu_status_on(ctl, "descriptors_unread"), Z_CONNS * Z_FDS + 4);
                ck_assert_int_eq(tu_status_on(ctl, "descriptors_held"), Z_EXTRA - 4);
                if (k == 0)
                        usleep(300000); /* and no more after a while: nothing to wait for */
        }
        /* Another user is served meanwhile. */
        tu_run_as(TU_NOBODY - 1, TU_NOBODY - 1, served_as_nobody, pub);
        z_go(cmd);
        z_expect(ack, 'L');
        ck_assert_int_eq(tu_status_on(ctl, "clients_draining"), Z_CONNS);
        z_go(cmd);

        /* The client read its first connection: that one is gone, its
         * user's budget back, so the waiting replies went out. */
        z_expect(ack, 'R');
        status_wait(ctl, "clients_draining", Z_CONNS - 1, "one drained");
        status_wait(ctl, "descriptors_unread", (Z_CONNS - 1) * Z_FDS + Z_EXTRA, "one drained");
        ck_assert_int_eq(tu_status_on(ctl, "descriptors_draining"), (Z_CONNS - 1) * Z_FDS);
        z_go(cmd);

        /* It closes everything: the kernel purged the queues, nothing is
         * left draining, the daemon holds what it held before. */
        z_expect(ack, 'X');
        tu_join_as(&child);
        status_wait(ctl, "clients_draining", 0, "the client closed");
        status_wait(ctl, "descriptors_unread", 0, "the client closed");
        ck_assert_int_eq(tu_status_on(ctl, "descriptors_draining"), 0);
        ck_assert_int_eq(tu_status_on(ctl, "descriptors_held"), 0);
        status_wait(ctl, "clients", 1, "the client closed");
        close(ctl);
        close(cmd);
        close(ack);
        free(pub);
        tu_daemon_expect_baseline(&D, "connections closed with descriptors unread");
        stop();
}
END_TEST

enum { M_CONNS = 40, M_FDS = 4 };

/* Many connections, each leaving the few replies unread that every
 * connection may leave; it holds them until the test says go on. */
static int many_conns_client(void *arg) {
        const struct zombie *z = arg;
        int fd[M_CONNS];

        for (int i = 0; i < M_CONNS; i++) {
                fd[i] = tu_connect(z->socket);
                TU_REQUIRE(fd[i] >= 0);
                for (int j = 0; j < M_FDS; j++)
                        TU_REQUIRE(tu_send(fd[i], FDBR_OP_OPEN, (uint32_t) j, FDBR_F_READ, 0, z->pub) == 0);
        }
        TU_REQUIRE(z_step(z, 'S') == 0);
        for (int i = 0; i < M_CONNS; i++)
                close(fd[i]);
        return 0;
}

/* The few unread replies every connection may have do not add up past
 * twice the user's budget (60 at 1,024 descriptors): 40 connections of one
 * user get 120 descriptors out, not 160; the rest wait, another user is
 * served. */
START_TEST(many_connections_bounded_per_user) {
        enum { NOFILE = 1024, BUDGET = 60 };
        struct tu_spawn_opts o = { .nofile = NOFILE };
        static const char *const args[] = { "--max-clients-per-uid", "64", NULL };
        start_opts(args, &o);
        char *pub = path_of("data/public.txt");
        int ctl = tu_connect_ok(D.socket);
        long long opens = tu_status_on(ctl, "requests_open_allowed");
        int to_child[2], to_test[2];
        ck_assert_int_eq(pipe2(to_child, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(to_test, O_CLOEXEC), 0);
        struct zombie z = { .socket = D.socket, .pub = pub, .cmd = to_child[0], .ack = to_test[1] };
        struct tu_child child = tu_start_as(TU_NOBODY, TU_NOBODY, many_conns_client, &z);
        close(to_child[0]);
        close(to_test[1]);

        z_expect(to_test[0], 'S');
        status_wait(ctl, "requests_open_allowed", opens + M_CONNS * M_FDS, "every request answered");
        ck_assert_int_eq(tu_status_on(ctl, "descriptors_unread"), 2 * BUDGET);
        ck_assert_int_eq(tu_status_on(ctl, "descriptors_held"), M_CONNS * M_FDS - 2 * BUDGET);
        tu_run_as(TU_NOBODY - 1, TU_NOBODY - 1, served_as_nobody, pub);
        z_go(to_child[1]);
        tu_join_as(&child);
        status_wait(ctl, "descriptors_unread", 0, "the client closed");
        ck_assert_int_eq(tu_status_on(ctl, "descriptors_held"), 0);
        close(ctl);
        close(to_child[1]);
        close(to_test[0]);
        free(pub);
        tu_daemon_expect_baseline(&D, "many connections leaving replies unread");
        stop();
}
END_TEST

/* Sent descriptors it does not read, gets the connection closed, keeps
 * its end until the test is done. */
static int draining_client(void *arg) {
        const struct zombie *z = arg;
        int fd = tu_connect(z->socket);
        TU_REQUIRE(fd >= 0);
        for (int j = 0; j < 4; j++)
                TU_REQUIRE(tu_send(fd, FDBR_OP_OPEN, (uint32_t) j, FDBR_F_READ, 0, z->pub) == 0);
        TU_REQUIRE(send(fd, "xyz", 3, MSG_NOSIGNAL) == 3);
        TU_REQUIRE(z_step(z, 'C') == 0);
        close(fd);
        return 0;
}

/* Stopping does not wait for draining connections: their descriptors
 * are the client's to read or drop, nothing the broker owes an answer. */
START_TEST(stop_closes_draining_at_once) {
        start(NULL);
        char *pub = path_of("data/public.txt");
        int ctl = tu_connect_ok(D.socket);
        int to_child[2], to_test[2];
        ck_assert_int_eq(pipe2(to_child, O_CLOEXEC), 0);
        ck_assert_int_eq(pipe2(to_test, O_CLOEXEC), 0);
        struct zombie z = { .socket = D.socket, .pub = pub, .cmd = to_child[0], .ack = to_test[1] };
        struct tu_child child = tu_start_as(TU_NOBODY, TU_NOBODY, draining_client, &z);
        close(to_child[0]);
        close(to_test[1]);
        z_expect(to_test[0], 'C');
        status_wait(ctl, "clients_draining", 1, "closed with 4 unread");
        close(ctl);
        long long t0 = tu_now_ms();
        stop();
        long long took = tu_now_ms() - t0;
        ck_assert_msg(took < 1500, "stopping took %lld ms with a connection draining", took);
        z_go(to_child[1]);
        tu_join_as(&child);
        close(to_child[1]);
        close(to_test[0]);
        free(pub);
}
END_TEST


/* ---- a slow disk: fair shares of the local workers, and no work after a
 * timeout ------------------------------------------------------------------ */

struct creator {
        const char *socket;
        const char *dir;
        const char *prefix;
        unsigned n;
        unsigned delay_ms;
        int status[8];
};

/* Sends n CREATEs at once on one connection, then collects the answers. */
static int create_many(void *arg) {
        struct creator *c = arg;
        usleep(c->delay_ms * 1000);
        int fd = tu_connect(c->socket);
        TU_REQUIRE(fd >= 0, "connect");
        for (unsigned i = 0; i < c->n; i++) {
                char *p = tu_strdupf("%s/%s%u", c->dir, c->prefix, i);
                TU_REQUIRE(tu_send(fd, FDBR_OP_OPEN, i, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0644, p) == 0,
                           "send");
                free(p);
        }
        for (unsigned i = 0; i < c->n; i++) {
                struct wire_reply r;
                int rfd = -1;
                TU_REQUIRE(tu_recv(fd, &r, &rfd, 10000) == 0, "reply %u", i);
                TU_REQUIRE(r.id < c->n, "id %u", r.id);
                if (rfd >= 0)
                        close(rfd);
                c->status[r.id] = (int) r.status;
        }
        /* The parent reads the statuses from the exit code: ETIMEDOUT is
         * expected exactly where the test says. */
        for (unsigned i = 0; i < c->n; i++)
                if (c->status[i] != 0 && c->status[i] != ETIMEDOUT)
                        TU_REQUIRE(false, "%s%u: status %d", c->prefix, i, c->status[i]);
        return 0;
}

static bool exists(const char *dir, const char *prefix, unsigned i) {
        char *p = tu_strdupf("%s/%s%u", dir, prefix, i);
        bool e = access(p, F_OK) == 0;
        free(p);
        return e;
}

START_TEST(slow_disk_shares_and_timeouts) {
        /* Every create takes a second; answers are due within 1.5 s. */
        static const char *const args[] = { "--open-timeout", "1500", "--log-level", "info", NULL };
        tu_shim_setup(&S, "creat:0:sleep=1000");
        tu_shim_arm(&S, true);
        start_opts(args, &S.opts);
        tu_shim_check_loaded(&S);
        char *out = path_of("data/out");

        /* One user asks for eight at once; another, a moment later, for
         * one.  The second user has local workers of its own share. */
        pid_t a = fork();
        ck_assert_int_ge(a, 0);
        if (a == 0) {
                struct creator c = { .socket = D.socket, .dir = out, .prefix = "a", .n = 8 };
                tu_run_as(TU_NOBODY, TU_NOBODY, create_many, &c);
                _exit(0);
        }
        struct creator b = { .socket = D.socket, .dir = out, .prefix = "b", .n = 1, .delay_ms = 100 };
        long long t0 = tu_now_ms();
        tu_run_as(TU_NOBODY - 1, TU_NOBODY - 1, create_many, &b);
        ck_assert_msg(exists(out, "b", 0), "the other user's file was not created");
        ck_assert_msg(tu_now_ms() - t0 < 1500, "the other user waited %lld ms for a local worker",
                      tu_now_ms() - t0);
        int status = tu_wait(a, 20000);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "first user: status 0x%x", status);

        /* Its first two ran at once, the next two when those were done
         * (answered ETIMEDOUT, finished anyway, their results discarded);
         * the last four were still waiting at the timeout and never ran. */
        usleep(1500000);
        for (unsigned i = 0; i < 4; i++)
                ck_assert_msg(exists(out, "a", i), "a%u missing", i);
        for (unsigned i = 4; i < 8; i++)
                ck_assert_msg(!exists(out, "a", i), "a%u was created after its request timed out", i);
        ck_assert(tu_log_has(&D, "timed out waiting for a worker; cancelled", NULL));
        ck_assert(tu_log_has(&D, "completed after the timeout; result discarded", NULL));
        free(out);
        stop();
}
END_TEST


/* Sends one CREATE that will fail in a worker, and goes away before the
 * answer. */
static int create_and_leave(void *arg) {
        const struct creator *c = arg;
        int fd = tu_connect(c->socket);
        TU_REQUIRE(fd >= 0, "connect");
        char *p = tu_strdupf("%s/%s0", c->dir, c->prefix);
        TU_REQUIRE(tu_send(fd, FDBR_OP_OPEN, 1, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0644, p) == 0, "send");
        free(p);
        close(fd);
        return 0;
}

/* A user's only connection is gone while its last request is in a
 * worker, and the request fails (no descriptor to hand on): the answer
 * cannot be sent, so finishing the request frees the connection, the
 * last thing holding the user's entry.  The
 * lane must not touch that entry afterwards (it did: a use after free on
 * the loop, which the sanitizer build reports and aborts on). */
START_TEST(last_request_of_gone_user) {
        /* One request in flight: the broker stops reading the connection
         * and learns that it is gone only when the answer cannot be sent. */
        static const char *const args[] = { "--max-inflight", "1", NULL };
        tu_shim_setup(&S, "creat:0:sleep=300");
        start_opts(args, &S.opts);
        tu_shim_check_loaded(&S);
        char *out = path_of("data/out");
        char *taken = tu_strdupf("%s/x0", out);
        tu_write_file(taken, "taken", 0644, 0, 0);
        arm(true);
        for (unsigned round = 0; round < 3; round++) {
                struct creator c = { .socket = D.socket, .dir = out, .prefix = "x", .n = 1 };
                uint64_t before = S.ctl->calls[FAULT_CREAT];
                tu_run_as(TU_NOBODY, TU_NOBODY, create_and_leave, &c);
                /* Its create reached the worker and came back. */
                long long end = tu_now_ms() + 5000;
                while (S.ctl->calls[FAULT_CREAT] == before) {
                        ck_assert_msg(tu_now_ms() < end, "the create never reached a worker");
                        usleep(10000);
                }
                int by = tu_connect_ok(D.socket);
                usleep(400000); /* the 300 ms the create takes: nothing to wait on from outside */
                ping_ok(by, 1000);
                close(by);
        }
        arm(false);
        ck_assert_msg(!tu_log_has(&D, "AddressSanitizer", NULL), "%s", tu_daemon_log(&D));
        wl_clean(20);
        tu_daemon_expect_baseline(&D, "connections gone during their last request");
        free(out);
        free(taken);
        stop();
}
END_TEST

/* ---- a slow user database ---------------------------------------------------- */

struct user_probe {
        const char *socket;
        const char *path;
        int expect;
};

static int open_as_user(void *arg) {
        const struct user_probe *u = arg;
        int fd = tu_connect(u->socket), rfd = -1;
        TU_REQUIRE(fd >= 0);
        int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, u->path, &rfd);
        if (u->expect < 0)
                return st == 0 ? 0 : 2; /* tell, do not judge */
        TU_REQUIRE(st == u->expect, "%s: status %d, expected %d", u->path, st, u->expect);
        if (rfd >= 0)
                close(rfd);
        close(fd);
        return 0;
}

/* The user database answers for uid 65534 only after 4 s (an LDAP server
 * that went away): that client waits at most the deadline and is then
 * served as a user without a name (no %u rule matches), everyone else is
 * served at once throughout, and once the answer comes it is used. */
START_TEST(slow_user_database) {
        static const char policy[] = "any @DIR@/data/%u/** read\n";
        tu_shim_setup(&S, "getpwuid_r:0:sleep=4000:opt=65534");
        tu_shim_arm(&S, true);
        tu_private_mounts();
        tu_daemon_start_opts(&D, policy, NULL, &S.opts);
        tu_shim_check_loaded(&S);
        char *data = path_of("data"), *dir = path_of("data/nobody");
        tu_mkdir(data, 0755, 0, 0);
        tu_mkdir(dir, 0755, 0, 0);
        free(data);
        char *file = tu_strdupf("%s/f", dir);
        tu_write_file(file, "x", 0644, 0, 0);

        /* Another uid (root), connected before: its name is known. */
        int by = tu_connect_ok(D.socket);
        ping_ok(by, 1000);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                struct user_probe u = { .socket = D.socket, .path = file, .expect = EACCES };
                tu_run_as(TU_NOBODY, TU_NOBODY, open_as_user, &u);
                _exit(0);
        }
        /* While that lookup hangs, the loop does not wait for it. */
        long long t0 = tu_now_ms();
        while (tu_now_ms() - t0 < 1500) {
                ping_ok(by, 100);
                usleep(20000);
        }
        int status = tu_wait(pid, 10000);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "uid 65534 with a slow lookup: 0x%x", status);
        long long waited = tu_now_ms() - t0;
        ck_assert_msg(waited < 3500, "the client waited %lld ms for its name: longer than the deadline", waited);

        /* The answer comes later and is kept: then %u matches. */
        bool matched = false;
        for (long long end = tu_now_ms() + 10000; !matched && tu_now_ms() < end;) {
                pid = fork();
                ck_assert_int_ge(pid, 0);
                if (pid == 0) {
                        struct user_probe u = { .socket = D.socket, .path = file, .expect = -1 };
                        if (setgroups(0, NULL) < 0 || setresgid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0 ||
                            setresuid(TU_NOBODY, TU_NOBODY, TU_NOBODY) < 0)
                                _exit(1);
                        _exit(open_as_user(&u));
                }
                status = tu_wait(pid, 10000);
                matched = WIFEXITED(status) && WEXITSTATUS(status) == 0;
        }
        ck_assert_msg(matched, "the user database's late answer was never used");
        ck_assert_uint_gt(S.ctl->injected[FAULT_GETPWUID], 0);
        close(by);
        free(file);
        free(dir);
        stop();
}
END_TEST

static bool notify_until(const char *what, char *buf, size_t size, int timeout_ms) {
        for (long long end = tu_now_ms() + timeout_ms; tu_now_ms() < end;) {
                int n = tu_daemon_notify(&D, buf, size - 1, (int) (end - tu_now_ms()));
                if (n < 0)
                        return false;
                buf[n] = 0;
                if (strstr(buf, what))
                        return true;
        }
        return false;
}

/* The user database takes 2 s for every name (a directory service that
 * went away), and a reload resolves two: the policy's user= and the
 * owner named in the subuid file — 4 s.  Meanwhile a client connected
 * before is answered at once, PING and OPEN alike: the names are resolved
 * off the loop.  Two more SIGHUPs during the reload make one more reload
 * after it, not two.  Then the new policy is in force, and no call of the
 * reload thread was refused by the system-call filter. */
START_TEST(slow_reload) {
        static const char before[] = "any @DIR@/data/old read\n";
        static const char after[] = "user=nobody @DIR@/data/mine read\n"
                                    "group=nogroup @DIR@/data/ours read\n"
                                    "any @DIR@/data/* read\n";
        char buf[1024];

        tu_shim_setup(&S, "getpwnam_r:0:sleep=2000");
        tu_private_mounts();
        char *subuid_dir = tu_mkdtemp(), *subuid = tu_strdupf("%s/subuid", subuid_dir);
        tu_write_file(subuid, "nobody:200000:65536\n", 0644, 0, 0);
        const char *const args[] = { "--subuid", subuid, NULL };
        tu_daemon_start_opts(&D, before, args, &S.opts);
        tu_shim_check_loaded(&S);
        char *data = path_of("data"), *old = path_of("data/old"), *new = path_of("data/new");
        tu_mkdir(data, 0755, 0, 0);
        tu_write_file(old, "old", 0644, 0, 0);
        tu_write_file(new, "new", 0644, 0, 0);

        int by = tu_connect_ok(D.socket);
        ping_ok(by, 1000);
        ck_assert_int_eq(tu_request(by, FDBR_OP_OPEN, FDBR_F_READ, 0, new, NULL), EACCES);

        char *text = tu_subst_dir(after, D.dir);
        tu_write_file(D.policy, text, 0644, 0, 0);
        free(text);
        tu_shim_arm(&S, true);
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
        ck_assert(notify_until("RELOADING=1", buf, sizeof buf, 5000));
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);

        /* The reload is in the user database for 4 s: the loop is not. */
        long long t0 = tu_now_ms();
        while (tu_now_ms() - t0 < 3000) {
                ping_ok(by, 100);
                long long t1 = tu_now_ms();
                int fd = -1;
                int st = tu_request(by, FDBR_OP_OPEN, FDBR_F_READ, 0, old, &fd);
                ck_assert_msg(st == 0, "OPEN during the reload: %d", st);
                ck_assert_msg(tu_now_ms() - t1 < 100, "OPEN took %lld ms during the reload", tu_now_ms() - t1);
                close(fd);
                usleep(20000);
        }
        ck_assert_msg(__atomic_load_n(&S.ctl->injected[FAULT_GETPWNAM], __ATOMIC_RELAXED) > 0,
                      "the reload never asked the user database");

        /* READY=1 once, when the reload asked for during the first is in. */
        ck_assert_msg(notify_until("READY=1", buf, sizeof buf, 20000), "no READY=1 after the reloads");
        ck_assert_msg(strstr(buf, "policy generation 3"), "two SIGHUPs during a reload made: %s", buf);
        ck_assert_uint_eq(__atomic_load_n(&S.ctl->injected[FAULT_GETPWNAM], __ATOMIC_RELAXED), 4);
        int fd = -1;
        ck_assert_int_eq(tu_request(by, FDBR_OP_OPEN, FDBR_F_READ, 0, new, &fd), 0);
        close(fd);
        ck_assert(tu_log_has(&D, "policy reloaded", "generation 3", NULL));
        ck_assert_msg(!tu_log_has(&D, "generation 4", NULL), "%s", tu_daemon_log(&D));
        ck_assert_msg(!tu_log_has(&D, "seccomp", NULL), "a system call was refused:\n%s", tu_daemon_log(&D));

        close(by);
        free(data), free(old), free(new);
        stop();
        tu_rm_rf(subuid_dir);
        free(subuid_dir), free(subuid);
}
END_TEST

static Suite *faults_suite(void) {
        Suite *s = suite_create("faults");
        TCase *tc = tcase_create("faults");
        tcase_set_timeout(tc, 90);
        tcase_add_test(tc, client_killed);
        tcase_add_test(tc, enospc_on_create);
        tcase_add_test(tc, edquot_on_create);
        tcase_add_loop_test(tc, injected_faults, 0, (int) ELEMENTSOF(fault_cases));
        tcase_add_test(tc, accept_fails_no_spin);
        tcase_add_test(tc, out_of_descriptors);
        tcase_add_test(tc, one_uid_cannot_exhaust_descriptors);
        tcase_add_test(tc, closed_connection_keeps_unread_counted);
        tcase_add_test(tc, many_connections_bounded_per_user);
        tcase_add_test(tc, stop_closes_draining_at_once);
        tcase_add_test(tc, slow_disk_shares_and_timeouts);
        tcase_add_test(tc, last_request_of_gone_user);
        tcase_add_test(tc, slow_user_database);
        tcase_add_test(tc, slow_reload);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        signal(SIGPIPE, SIG_IGN);
        return tu_run_suite(faults_suite());
}
