/* SPDX-License-Identifier: MIT */
/* libfdbroker and the fdbroker command against a fake broker: a forked
 * child that speaks the protocol as each test scripts it, in order or out
 * of order, with descriptors, with malformed replies, or not at all. */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <event2/event.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fdbroker.h"
#include "fdpass.h"
#include "flags.h"
#include "macro.h"
#include "pending.h"
#include "testutil.h"
#include "wire.h"

/* ---- the fake broker ----------------------------------------------------- */

/* One fake broker: a forked child running a script on its own socket,
 * and the test's side of it, all released by fake_stop() or fake_kill(). */
struct fake {
        char *dir;
        char *sock;              /* where it listens */
        char *log;               /* script_serve(): every request it read */
        pid_t pid;               /* 0 once reaped */
        struct event_base *base; /* the test's loop */
        fdbr_conn *conn;         /* fake_connect(), until fake_hang_up() */
};

typedef void (*fake_script_t)(int listen_fd);

/* The knobs of the scripts, set before the fork. */
static unsigned fake_n;
static unsigned fake_stride, fake_offset;
static int fake_variant;
/* When open, script_gather() reads nothing before a byte arrives here. */
static int fake_go[2] = { -1, -1 };
/* When open, script_gather() writes a byte here once every reply is sent. */
static int fake_sent[2] = { -1, -1 };
/* script_gather() checks the requests arrive in the order
 * test_many_in_flight() submits them. */
static bool fake_check_order;

/* The child cannot use ck_assert (it is not the test process); a failure
 * shows up as its exit status, which fake_stop() checks. */
#define FAKE_ASSERT(cond)                                                                  \
        do {                                                                               \
                if (!(cond)) {                                                             \
                        fprintf(stderr, "fake broker: %s:%d: %s\n", __FILE__, __LINE__, #cond); \
                        _exit(99);                                                         \
                }                                                                          \
        } while (0)

/* Where script_serve() logs every request it receives, as it arrived: a
 * 4-byte length, then the record. */
static const char *fake_log; /* the child's copy of fake.log */
/* script_serve() answers like a broker that predates ops 4-11. */
static bool fake_old;

struct fake_req {
        struct wire_request r;
        char path[FDBR_WIRE_PATHS_MAX + 1];
};

static int fake_accept(int listen_fd) {
        int fd = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
        FAKE_ASSERT(fd >= 0);
        return fd;
}

static void fake_recv(int fd, struct fake_req *q) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        struct fdpass_msg m;

        FAKE_ASSERT(fdpass_recv(fd, buf, sizeof buf, false, &m) == 0);
        FAKE_ASSERT(m.len > 0 && m.flags == 0);
        FAKE_ASSERT(wire_request_decode(buf, m.len, &q->r) == 0);
        memcpy(q->path, q->r.path, q->r.path_len);
        q->path[q->r.path_len] = 0;
        q->r.path = q->path;
}

/* Waits for the client to hang up. */
static void fake_expect_eof(int fd) {
        uint8_t buf[FDBR_WIRE_REQUEST_MAX];
        struct fdpass_msg m;

        for (;;) {
                int r = fdpass_recv(fd, buf, sizeof buf, false, &m);
                if (r == -ECONNRESET || (r == 0 && m.len == 0))
                        return;
                FAKE_ASSERT(r == 0);
        }
}

static void fake_reply(int fd, const struct wire_request *r, uint32_t status, int pass_fd) {
        uint8_t buf[FDBR_WIRE_REPLY_SIZE];
        struct wire_reply rep = { .op = r->op, .id = r->id, .status = status, .nfds = pass_fd >= 0 };

        wire_reply_encode(buf, &rep);
        FAKE_ASSERT(fdpass_send(fd, buf, sizeof buf, pass_fd) == 0);
}

static void fake_reply_data(int fd, const struct wire_request *r, const void *data, size_t len) {
        static uint8_t buf[FDBR_WIRE_REPLY_MAX];
        struct wire_reply rep = { .op = r->op, .id = r->id, .data_len = (uint32_t) len, .data = data };

        size_t n = wire_reply_encode(buf, &rep);
        FAKE_ASSERT(fdpass_send(fd, buf, n, -1) == 0);
}

static void fake_status_of(int fd, const struct wire_request *r, int k) {
        fake_reply(fd, r, k < 0 ? (uint32_t) errno : 0, -1);
}

/* The ops after OPEN and CHECK, done for real on the fake's own files. */
static void fake_answer_op(int fd, const struct fake_req *q) {
        const struct wire_request *r = &q->r;
        char target[FDBR_WIRE_PATH_MAX + 1];
        struct statx stx;
        ssize_t n;

        if (fake_old) {
                fake_reply(fd, r, EINVAL, -1);
                return;
        }
        switch (r->op) {
        case FDBR_OP_STAT:
                memset(&stx, 0, sizeof stx);
                if (statx(AT_FDCWD, q->path, r->flags & FDBR_F_NOFOLLOW ? AT_SYMLINK_NOFOLLOW : 0,
                          STATX_BASIC_STATS | STATX_BTIME, &stx) < 0)
                        fake_reply(fd, r, (uint32_t) errno, -1);
                else
                        fake_reply_data(fd, r, &stx, sizeof stx);
                break;
        case FDBR_OP_READLINK:
                n = readlink(q->path, target, sizeof target);
                if (n < 0)
                        fake_reply(fd, r, (uint32_t) errno, -1);
                else
                        fake_reply_data(fd, r, target, (size_t) n);
                break;
        case FDBR_OP_MKDIR:
                fake_status_of(fd, r, mkdir(q->path, r->mode));
                break;
        case FDBR_OP_UNLINK:
                fake_status_of(fd, r, unlink(q->path));
                break;
        case FDBR_OP_RMDIR:
                fake_status_of(fd, r, rmdir(q->path));
                break;
        case FDBR_OP_RENAME:
                fake_status_of(fd, r, renameat2(AT_FDCWD, q->path, AT_FDCWD, q->path + strlen(q->path) + 1,
                                                r->flags & FDBR_F_EXCL ? RENAME_NOREPLACE : 0));
                break;
        case FDBR_OP_STATUS:
                fake_reply_data(fd, r, "clients=1\nrequests=7", 20);
                break;
        case FDBR_OP_GRANTS:
                fake_reply_data(fd, r, "/srv/** read\n", 13);
                break;
        default:
                FAKE_ASSERT(!"an op the library should not send");
        }
}

/* Answers like a broker that allows everything, except that a path whose
 * last component is "status-N" gets status N. */
static void fake_answer(int fd, const struct fake_req *q) {
        const char *base = strrchr(q->path, '/');
        unsigned status;

        if (q->r.op == FDBR_OP_PING) {
                fake_reply(fd, &q->r, 0, -1);
                return;
        }
        if (base && sscanf(base, "/status-%u", &status) == 1) {
                fake_reply(fd, &q->r, status, -1);
                return;
        }
        if (q->r.op != FDBR_OP_OPEN && q->r.op != FDBR_OP_CHECK) {
                fake_answer_op(fd, q);
                return;
        }

        uint32_t f = q->r.flags;
        int oflags = (f & FDBR_F_WRITE) ? ((f & FDBR_F_READ) ? O_RDWR : O_WRONLY) : O_RDONLY;
        oflags |= (f & FDBR_F_CREATE ? O_CREAT : 0) | (f & FDBR_F_EXCL ? O_EXCL : 0) |
                  (f & FDBR_F_TRUNC ? O_TRUNC : 0) | (f & FDBR_F_APPEND ? O_APPEND : 0) |
                  (f & FDBR_F_DIRECTORY ? O_DIRECTORY : 0) | (f & FDBR_F_NOFOLLOW ? O_NOFOLLOW : 0);

        if (q->r.op == FDBR_OP_CHECK) {
                struct stat st;
                if (stat(q->path, &st) < 0)
                        fake_reply(fd, &q->r, (uint32_t) errno, -1);
                else if ((f & FDBR_F_DIRECTORY) && !S_ISDIR(st.st_mode))
                        fake_reply(fd, &q->r, ENOTDIR, -1);
                else
                        fake_reply(fd, &q->r, 0, -1);
                return;
        }

        int file = open(q->path, oflags | O_CLOEXEC, q->r.mode);
        if (file < 0) {
                fake_reply(fd, &q->r, (uint32_t) errno, -1);
                return;
        }
        fake_reply(fd, &q->r, 0, file);
        close(file);
}

/* Serves connections one after the other, each until it closes, until
 * killed. */
static void script_serve(int listen_fd) {
        for (;;) {
                int fd = fake_accept(listen_fd);
                uint8_t buf[FDBR_WIRE_REQUEST_MAX];
                struct fdpass_msg m;
                struct fake_req q;

                for (;;) {
                        int r = fdpass_recv(fd, buf, sizeof buf, false, &m);
                        if (r == -ECONNRESET || (r == 0 && m.len == 0))
                                break;
                        FAKE_ASSERT(r == 0 && m.flags == 0);
                        if (fake_log) {
                                FILE *l = fopen(fake_log, "ae");
                                uint32_t len = (uint32_t) m.len;
                                FAKE_ASSERT(l && fwrite(&len, 4, 1, l) == 1 && fwrite(buf, m.len, 1, l) == 1);
                                FAKE_ASSERT(fclose(l) == 0);
                        }
                        FAKE_ASSERT(wire_request_decode(buf, m.len, &q.r) == 0);
                        memcpy(q.path, q.r.path, q.r.path_len);
                        q.path[q.r.path_len] = 0;
                        q.r.path = q.path;
                        fake_answer(fd, &q);
                }
                close(fd);
        }
}

/* Reads fake_n requests, then answers them in the order
 * (fake_stride * j + fake_offset) % fake_n. */
static void script_gather(int listen_fd) {
        int fd = fake_accept(listen_fd);
        struct fake_req *q = calloc(fake_n, sizeof(*q));
        FAKE_ASSERT(q);

        if (fake_go[0] >= 0) {
                char c;
                FAKE_ASSERT(read(fake_go[0], &c, 1) == 1);
        }

        for (unsigned i = 0; i < fake_n; i++) {
                fake_recv(fd, &q[i]);
                if (!fake_check_order)
                        continue;

                const char *base = strrchr(q[i].path, '/');
                char expected[64];
                switch (i % 3) {
                case 0:
                        snprintf(expected, sizeof expected, "/file-%u", i);
                        FAKE_ASSERT(q[i].r.op == FDBR_OP_OPEN && strcmp(base, expected) == 0);
                        break;
                case 1:
                        snprintf(expected, sizeof expected, "/status-%u", 1 + i % 50);
                        FAKE_ASSERT(q[i].r.op == FDBR_OP_CHECK && strcmp(base, expected) == 0);
                        break;
                default:
                        FAKE_ASSERT(q[i].r.op == FDBR_OP_PING);
                }
        }
        for (unsigned j = 0; j < fake_n; j++)
                fake_answer(fd, &q[(fake_stride * j + fake_offset) % fake_n]);
        if (fake_sent[1] >= 0)
                FAKE_ASSERT(write(fake_sent[1], "s", 1) == 1);
        fake_expect_eof(fd);
        free(q);
}

/* Reads fake_n requests and never answers. */
static void script_silent(int listen_fd) {
        int fd = fake_accept(listen_fd);
        struct fake_req q;

        for (unsigned i = 0; i < fake_n; i++)
                fake_recv(fd, &q);
        fake_expect_eof(fd);
}

/* Reads fake_n requests, answers the second one, and hangs up. */
static void script_answer_one_and_close(int listen_fd) {
        int fd = fake_accept(listen_fd);
        struct fake_req q[16];

        FAKE_ASSERT(fake_n >= 2 && fake_n <= ELEMENTSOF(q));
        for (unsigned i = 0; i < fake_n; i++)
                fake_recv(fd, &q[i]);
        fake_answer(fd, &q[1]);
        close(fd);
}

/* Accepts and hangs up at once. */
static void script_hang_up(int listen_fd) {
        close(fake_accept(listen_fd));
}

static void fake_start(struct fake *f, fake_script_t script) {
        struct sockaddr_un sa = { .sun_family = AF_UNIX };

        f->dir = tu_mkdtemp();
        f->sock = tu_strdupf("%s/sock", f->dir);
        ck_assert_uint_lt(strlen(f->sock), sizeof(sa.sun_path));
        strcpy(sa.sun_path, f->sock);

        int l = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(l, 0);
        ck_assert_int_eq(bind(l, (struct sockaddr *) &sa, sizeof sa), 0);
        ck_assert_int_eq(listen(l, 64), 0);

        /* Beside the directory, not in it: tests list what is in it. */
        f->log = tu_strdupf("%s.log", f->dir);
        fake_log = f->log;
        fflush(NULL);
        f->pid = fork();
        ck_assert_int_ge(f->pid, 0);
        if (f->pid == 0) {
                /* The framework's handler would pass SIGTERM on to the
                 * whole process group, the test included. */
                signal(SIGTERM, SIG_DFL);
                /* Never outlive a test that died. */
                alarm(60);
                script(l);
                _exit(0);
        }
        close(l);
        if (fake_go[0] >= 0)
                fake_go[0] = safe_close(fake_go[0]);
        f->base = event_base_new();
        ck_assert_ptr_nonnull(f->base);
        f->conn = NULL;
}

/* Connects f->conn to the fake, on f->base. */
static void fake_connect(struct fake *f) {
        ck_assert_int_eq(fdbr_conn_new(f->base, f->sock, &f->conn), 0);
        ck_assert_ptr_nonnull(f->conn);
}

static void fake_start_connected(struct fake *f, fake_script_t script) {
        fake_start(f, script);
        fake_connect(f);
}

/* Frees the connection (its pending callbacks run): the fake sees EOF. */
static void fake_hang_up(struct fake *f) {
        fdbr_conn_free(f->conn);
        f->conn = NULL;
}

/* The test's side first, so that a script waiting for EOF gets it. */
static void fake_release(struct fake *f) {
        fake_hang_up(f);
        event_base_free(f->base);
        f->base = NULL;
}

static void fake_free(struct fake *f) {
        (void) unlink(f->log);
        tu_rm_rf(f->dir);
        free(f->dir);
        free(f->sock);
        free(f->log);
}

/* Waits for the script to end on its own; it must have succeeded. */
static void fake_stop(struct fake *f) {
        int status;

        fake_release(f);
        if (f->pid > 0) {
                ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
                ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0, "fake broker failed: status 0x%x",
                              status);
        }
        fake_free(f);
}

/* For scripts that serve until told to stop. */
static void fake_kill(struct fake *f) {
        int status;

        fake_release(f);
        ck_assert_int_eq(kill(f->pid, SIGTERM), 0);
        ck_assert_int_eq(waitpid(f->pid, &status, 0), f->pid);
        ck_assert_msg(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM, "fake broker failed: status 0x%x",
                      status);
        fake_free(f);
}

static char *fake_file(const struct fake *f, const char *name, const char *content) {
        char *p = tu_strdupf("%s/%s", f->dir, name);
        tu_write_file(p, content, 0644, 0, 0);
        return p;
}

/* ---- the client side ----------------------------------------------------- */

struct rec {
        int calls;
        int result;
        /* Done from inside the callback, when set: */
        fdbr_conn **free_conn;  /* free *free_conn */
        struct rec *follow;     /* submit an OPEN of follow_path (PING if NULL) for it */
        const char *follow_path;
        int follow_ret;
};

static int total_calls;

static void rec_cb(fdbr_conn *conn, int result, void *userdata) {
        struct rec *r = userdata;

        r->calls++;
        r->result = result;
        total_calls++;

        if (r->follow)
                r->follow_ret = r->follow_path ? fdbr_conn_open(conn, r->follow_path, O_RDONLY | O_CLOEXEC, 0, rec_cb, r->follow)
                                               : fdbr_conn_ping(conn, rec_cb, r->follow);
        if (r->free_conn) {
                ck_assert_ptr_eq(*r->free_conn, conn);
                fdbr_conn_free(*r->free_conn);
                *r->free_conn = NULL;
        }
}

static void tick(evutil_socket_t fd, short what, void *userdata) {
}

/* Runs the loop until target callbacks ran in all; a callback that never
 * comes fails the test instead of hanging it. */
static void run_until(struct event_base *base, int target) {
        struct event *t = event_new(base, -1, EV_PERSIST, tick, NULL);
        struct timeval tv = { .tv_usec = 100 * 1000 };
        time_t deadline = time(NULL) + 20;

        ck_assert_ptr_nonnull(t);
        ck_assert_int_eq(event_add(t, &tv), 0);
        while (total_calls < target) {
                ck_assert_msg(time(NULL) < deadline, "waited in vain: %d of %d callbacks", total_calls, target);
                ck_assert_int_eq(event_base_loop(base, EVLOOP_ONCE), 0);
        }
        event_free(t);
}

static void assert_content(int fd, const char *expected) {
        char buf[256];
        ssize_t n = pread(fd, buf, sizeof buf - 1, 0);

        ck_assert_int_ge(n, 0);
        buf[n] = 0;
        ck_assert_str_eq(buf, expected);
}

START_TEST(test_open_success) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *path = fake_file(&f, "a.txt", "hello broker");
        fake_connect(&f);
        struct rec r = {};

        ck_assert_int_eq(fdbr_conn_open(f.conn, path, O_RDONLY | O_CLOEXEC, 0, rec_cb, &r), 0);
        /* Never from inside the submission. */
        ck_assert_int_eq(r.calls, 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 1);

        run_until(f.base, 1);
        ck_assert_int_eq(r.calls, 1);
        ck_assert_int_ge(r.result, 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);
        assert_content(r.result, "hello broker");
        close(r.result);

        fake_kill(&f);
}
END_TEST

START_TEST(test_status_errors) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *file = fake_file(&f, "a.txt", "x");
        _cleanup_free_ char *eacces = tu_strdupf("%s/status-%d", f.dir, EACCES);
        _cleanup_free_ char *enoent = tu_strdupf("%s/status-%d", f.dir, ENOENT);
        _cleanup_free_ char *enotdir = tu_strdupf("%s/status-%d", f.dir, ENOTDIR);
        _cleanup_free_ char *missing = tu_strdupf("%s/missing", f.dir);
        fake_connect(&f);
        struct rec r[7] = {};

        ck_assert_int_eq(fdbr_conn_open(f.conn, eacces, O_RDONLY, 0, rec_cb, &r[0]), 0);
        ck_assert_int_eq(fdbr_conn_open(f.conn, enoent, O_RDONLY, 0, rec_cb, &r[1]), 0);
        ck_assert_int_eq(fdbr_conn_check(f.conn, enotdir, O_RDONLY | O_DIRECTORY, rec_cb, &r[2]), 0);
        ck_assert_int_eq(fdbr_conn_check(f.conn, file, O_RDONLY, rec_cb, &r[3]), 0);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[4]), 0);
        ck_assert_int_eq(fdbr_conn_open(f.conn, missing, O_RDONLY, 0, rec_cb, &r[5]), 0);
        ck_assert_int_eq(fdbr_conn_check(f.conn, file, O_RDONLY | O_DIRECTORY, rec_cb, &r[6]), 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 7);
        run_until(f.base, 7);

        static const int expected[] = { -EACCES, -ENOENT, -ENOTDIR, 0, 0, -ENOENT, -ENOTDIR };
        for (size_t i = 0; i < ELEMENTSOF(r); i++) {
                ck_assert_int_eq(r[i].calls, 1);
                ck_assert_int_eq(r[i].result, expected[i]);
        }

        fake_kill(&f);
}
END_TEST

START_TEST(test_out_of_order) {
        struct fake f;
        enum { N = 8 };
        fake_n = N;
        fake_stride = N - 1; /* reverse order */
        fake_offset = N - 1;
        fake_start(&f, script_gather);
        int n0 = tu_count_fds(getpid());
        fake_connect(&f);
        char *paths[N];
        struct rec r[N] = {};

        for (int i = 0; i < N; i++) {
                _cleanup_free_ char *name = tu_strdupf("file-%d", i);
                _cleanup_free_ char *content = tu_strdupf("content of %d", i);
                /* Every third one is refused, each with its own status. */
                paths[i] = i % 3 == 2 ? tu_strdupf("%s/status-%d", f.dir, 100 + i) : fake_file(&f, name, content);
                ck_assert_int_eq(fdbr_conn_open(f.conn, paths[i], O_RDONLY | O_CLOEXEC, 0, rec_cb, &r[i]), 0);
        }
        run_until(f.base, N);

        for (int i = 0; i < N; i++) {
                ck_assert_int_eq(r[i].calls, 1);
                if (i % 3 == 2) {
                        ck_assert_int_eq(r[i].result, -(100 + i));
                } else {
                        _cleanup_free_ char *content = tu_strdupf("content of %d", i);
                        ck_assert_int_ge(r[i].result, 0);
                        assert_content(r[i].result, content);
                        close(r[i].result);
                }
                free(paths[i]);
        }

        fake_hang_up(&f);
        ck_assert_int_eq(tu_count_fds(getpid()), n0);
        fake_stop(&f);
}
END_TEST

START_TEST(test_many_in_flight) {
        struct fake f;
        enum { N = 200 };
        fake_n = N;
        fake_stride = 7; /* coprime with N: a permutation */
        fake_offset = 3;
        /* The broker reads only once most of everything was submitted, so
         * that the socket fills up and the send queue has to keep the
         * order. */
        ck_assert_int_eq(pipe2(fake_go, O_CLOEXEC), 0);
        fake_check_order = true;
        fake_start(&f, script_gather);
        /* Less the end of the pipe that is closed on the way. */
        int n0 = tu_count_fds(getpid()) - 1;
        fake_connect(&f);
        struct rec r[N] = {};

        /* Long paths: far more than the socket buffer holds, so most
         * records wait in the send queue. */
        char *filler = malloc(4001);
        ck_assert_ptr_nonnull(filler);
        memset(filler, 'x', 4000);
        filler[4000] = 0;

        for (int i = 0; i < N; i++) {
                if (i == 2 * N / 3) {
                        /* Many of them wait in the queue.  Let the broker
                         * empty the socket meanwhile: the rest must queue up
                         * behind them all the same, not overtake them. */
                        ck_assert_int_eq(write(fake_go[1], "", 1), 1);
                        fake_go[1] = safe_close(fake_go[1]);
                        ck_assert_int_eq(usleep(100 * 1000), 0);
                }
                switch (i % 3) {
                case 0: {
                        _cleanup_free_ char *name = tu_strdupf("file-%d", i);
                        _cleanup_free_ char *content = tu_strdupf("%d", i);
                        _cleanup_free_ char *path = fake_file(&f, name, content);
                        ck_assert_int_eq(fdbr_conn_open(f.conn, path, O_RDONLY | O_CLOEXEC, 0, rec_cb, &r[i]), 0);
                        break;
                }
                case 1: {
                        _cleanup_free_ char *path = tu_strdupf("%s/%s/status-%d", f.dir, filler, 1 + i % 50);
                        ck_assert_int_eq(fdbr_conn_check(f.conn, path, O_RDONLY, rec_cb, &r[i]), 0);
                        break;
                }
                default:
                        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[i]), 0);
                }
        }
        free(filler);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), N);
        ck_assert_int_eq(total_calls, 0);

        run_until(f.base, N);
        ck_assert_int_eq(total_calls, N);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);
        for (int i = 0; i < N; i++) {
                ck_assert_int_eq(r[i].calls, 1);
                switch (i % 3) {
                case 0: {
                        _cleanup_free_ char *content = tu_strdupf("%d", i);
                        ck_assert_int_ge(r[i].result, 0);
                        assert_content(r[i].result, content);
                        close(r[i].result);
                        break;
                }
                case 1:
                        ck_assert_int_eq(r[i].result, -(1 + i % 50));
                        break;
                default:
                        ck_assert_int_eq(r[i].result, 0);
                }
        }

        fake_hang_up(&f);
        ck_assert_int_eq(tu_count_fds(getpid()), n0);
        fake_stop(&f);
}
END_TEST

/* The OPEN times out; the broker answers it (with a descriptor) only once
 * the PING sent after the timeout has arrived, then answers the PING. */
static void script_late(int listen_fd) {
        int fd = fake_accept(listen_fd);
        struct fake_req open_req, ping_req;

        fake_recv(fd, &open_req);
        FAKE_ASSERT(open_req.r.op == FDBR_OP_OPEN);
        fake_recv(fd, &ping_req);
        FAKE_ASSERT(ping_req.r.op == FDBR_OP_PING);
        fake_answer(fd, &open_req);
        fake_answer(fd, &ping_req);
        fake_expect_eof(fd);
}

START_TEST(test_timeout_late_reply) {
        struct fake f;
        fake_start(&f, script_late);
        _cleanup_free_ char *path = fake_file(&f, "a.txt", "late");
        fake_connect(&f);
        int n0 = tu_count_fds(getpid());
        struct rec r_open = {}, r_ping = {};

        fdbr_conn_set_timeout(f.conn, 50);
        ck_assert_int_eq(fdbr_conn_open(f.conn, path, O_RDONLY, 0, rec_cb, &r_open), 0);
        fdbr_conn_set_timeout(f.conn, 0);
        run_until(f.base, 1);
        ck_assert_int_eq(r_open.calls, 1);
        ck_assert_int_eq(r_open.result, -ETIMEDOUT);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);

        /* The late reply must not count as a protocol violation: the PING
         * behind it still succeeds, and its descriptor is gone. */
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r_ping), 0);
        run_until(f.base, 2);
        ck_assert_int_eq(r_ping.calls, 1);
        ck_assert_int_eq(r_ping.result, 0);
        ck_assert_int_eq(r_open.calls, 1);
        ck_assert_int_eq(tu_count_fds(getpid()), n0);

        fake_hang_up(&f);
        ck_assert_int_eq(r_open.calls, 1);
        fake_stop(&f);
}
END_TEST

START_TEST(test_timeout_no_reply) {
        struct fake f;
        fake_n = 3;
        fake_start_connected(&f, script_silent);
        struct rec r[3] = {};

        fdbr_conn_set_timeout(f.conn, 20);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[0]), 0);
        /* Far enough apart that a loaded machine does not fire both at once. */
        fdbr_conn_set_timeout(f.conn, 1000);
        ck_assert_int_eq(fdbr_conn_check(f.conn, "/x", O_RDONLY, rec_cb, &r[1]), 0);
        fdbr_conn_set_timeout(f.conn, 0);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[2]), 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 3);

        run_until(f.base, 1);
        ck_assert_int_eq(r[0].calls, 1);
        ck_assert_int_eq(r[0].result, -ETIMEDOUT);
        ck_assert_int_eq(r[1].calls, 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 2);

        run_until(f.base, 2);
        ck_assert_int_eq(r[1].calls, 1);
        ck_assert_int_eq(r[1].result, -ETIMEDOUT);
        ck_assert_int_eq(r[2].calls, 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 1);

        /* Timed-out requests are not cancelled twice. */
        fake_hang_up(&f);
        ck_assert_int_eq(r[0].calls, 1);
        ck_assert_int_eq(r[1].calls, 1);
        ck_assert_int_eq(r[2].calls, 1);
        ck_assert_int_eq(r[2].result, -ECANCELED);
        fake_stop(&f);
}
END_TEST

START_TEST(test_broker_gone) {
        struct fake f;
        enum { N = 5 };
        fake_n = N;
        fake_start(&f, script_answer_one_and_close);
        int n0 = tu_count_fds(getpid());
        fake_connect(&f);
        struct rec r[N] = {}, follow = {};

        for (int i = 0; i < N; i++) {
                _cleanup_free_ char *path = tu_strdupf("%s/status-%d", f.dir, 40 + i);
                ck_assert_int_eq(fdbr_conn_check(f.conn, path, O_RDONLY, rec_cb, &r[i]), 0);
        }
        /* A callback that submits while the connection is failing. */
        r[3].follow = &follow;
        r[3].follow_ret = 1;

        run_until(f.base, N);
        for (int i = 0; i < N; i++) {
                ck_assert_int_eq(r[i].calls, 1);
                ck_assert_int_eq(r[i].result, i == 1 ? -41 : -ECONNRESET);
        }
        ck_assert_int_eq(r[3].follow_ret, -ENOTCONN);
        ck_assert_int_eq(follow.calls, 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);

        /* The socket is closed at once, and the connection refuses more. */
        ck_assert_int_eq(tu_count_fds(getpid()), n0);
        struct rec late = {};
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &late), -ENOTCONN);
        ck_assert_int_eq(event_base_loop(f.base, EVLOOP_NONBLOCK), 1);
        ck_assert_int_eq(late.calls, 0);
        ck_assert_int_eq(total_calls, N);

        fake_stop(&f);
}
END_TEST

START_TEST(test_send_after_hang_up) {
        struct fake f;
        fake_start_connected(&f, script_hang_up);
        struct rec r = {};
        int status;

        /* Make sure the other end is gone before submitting. */
        ck_assert_int_eq(waitpid(f.pid, &status, 0), f.pid);
        ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);

        int k = fdbr_conn_ping(f.conn, rec_cb, &r);
        ck_assert_msg(k == 0 || k == -ENOTCONN, "%d", k);
        ck_assert_int_eq(r.calls, 0);
        if (k == 0) {
                run_until(f.base, 1);
                ck_assert_int_eq(r.calls, 1);
                ck_assert_int_eq(r.result, -ECONNRESET);
        }
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r), -ENOTCONN);

        f.pid = 0; /* reaped above */
        fake_stop(&f);
}
END_TEST

/* ---- malformed replies --------------------------------------------------- */

enum {
        BAD_MAGIC,
        BAD_VERSION,
        BAD_SHORT,
        BAD_LONG,
        BAD_UNKNOWN_ID,
        BAD_ID_ZERO,
        BAD_OP_MISMATCH,
        BAD_FD_WITHOUT_NFDS_CHECK,
        BAD_FD_WITHOUT_NFDS_OPEN,
        BAD_NFDS_WITHOUT_FD,
        BAD_NFDS_ON_CHECK,
        BAD_FD_ON_PING,
        BAD_TWO_FDS,
        BAD_NFDS_WITH_STATUS,
        BAD_NFDS_TWO,
        BAD_RESERVED,
        BAD_STATUS_RANGE,
        BAD_OPEN_SUCCESS_NO_FD,
        BAD_EMPTY_WITH_FD,
        _BAD_MAX,
};

static void put32(uint8_t *p, uint32_t v) {
        memcpy(p, &v, sizeof v);
}

static void send_two_fds(int fd, const void *buf, size_t len, int a, int b) {
        union {
                struct cmsghdr align;
                char buf[CMSG_SPACE(2 * sizeof(int))];
        } control = {};
        struct iovec iov = { .iov_base = (void *) buf, .iov_len = len };
        struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
        int fds[2] = { a, b };

        FAKE_ASSERT(fdpass_cmsg_rights(&mh, control.buf, sizeof control.buf, fds, 2) == 0);
        FAKE_ASSERT(sendmsg(fd, &mh, MSG_NOSIGNAL) == (ssize_t) len);
}

/* Requests arrive as OPEN, CHECK, PING; one malformed reply follows. */
static void script_malformed(int listen_fd) {
        int fd = fake_accept(listen_fd);
        struct fake_req q[3];
        uint8_t buf[64];

        for (int i = 0; i < 3; i++)
                fake_recv(fd, &q[i]);
        FAKE_ASSERT(q[0].r.op == FDBR_OP_OPEN && q[1].r.op == FDBR_OP_CHECK && q[2].r.op == FDBR_OP_PING);

        int file = open(q[0].path, O_RDONLY | O_CLOEXEC);
        FAKE_ASSERT(file >= 0);

        /* Start from a valid reply to the OPEN and break one thing. */
        struct wire_reply rep = { .op = FDBR_OP_OPEN, .id = q[0].r.id, .status = 0, .nfds = 1 };
        size_t len = FDBR_WIRE_REPLY_SIZE;
        int pass = file;

        switch (fake_variant) {
        case BAD_MAGIC:
        case BAD_VERSION:
        case BAD_SHORT:
        case BAD_LONG:
        case BAD_RESERVED:
        case BAD_NFDS_TWO:
                break;
        case BAD_UNKNOWN_ID:
                rep.id = q[0].r.id + 1000;
                break;
        case BAD_ID_ZERO:
                rep.id = 0;
                break;
        case BAD_OP_MISMATCH:
                rep.op = FDBR_OP_CHECK;
                rep.nfds = 0;
                pass = -1;
                break;
        case BAD_FD_WITHOUT_NFDS_CHECK:
                rep = (struct wire_reply) { .op = FDBR_OP_CHECK, .id = q[1].r.id };
                break;
        case BAD_FD_WITHOUT_NFDS_OPEN:
                rep.nfds = 0;
                break;
        case BAD_NFDS_WITHOUT_FD:
                pass = -1;
                break;
        case BAD_NFDS_ON_CHECK:
                rep = (struct wire_reply) { .op = FDBR_OP_CHECK, .id = q[1].r.id, .nfds = 1 };
                break;
        case BAD_FD_ON_PING:
                rep = (struct wire_reply) { .op = FDBR_OP_PING, .id = q[2].r.id };
                break;
        case BAD_TWO_FDS:
                break;
        case BAD_NFDS_WITH_STATUS:
                rep.status = EACCES;
                break;
        case BAD_STATUS_RANGE:
                rep = (struct wire_reply) { .op = FDBR_OP_CHECK, .id = q[1].r.id, .status = 70000 };
                pass = -1;
                break;
        case BAD_OPEN_SUCCESS_NO_FD:
                rep.nfds = 0;
                pass = -1;
                break;
        case BAD_EMPTY_WITH_FD:
                len = 0;
                break;
        default:
                FAKE_ASSERT(false);
        }

        memset(buf, 0, sizeof buf);
        wire_reply_encode(buf, &rep);
        switch (fake_variant) {
        case BAD_MAGIC:
                buf[3] = '2';
                break;
        case BAD_VERSION:
                buf[4] = 2;
                break;
        case BAD_SHORT:
                len = 20;
                break;
        case BAD_LONG:
                len = 30;
                break;
        case BAD_RESERVED:
                put32(buf + 20, 1);
                break;
        case BAD_NFDS_TWO:
                put32(buf + 16, 2);
                break;
        }

        if (fake_variant == BAD_TWO_FDS)
                send_two_fds(fd, buf, len, file, file);
        else if (len == 0) {
                /* fdpass_send() refuses an empty record; a raw sendmsg does not. */
                union {
                        struct cmsghdr align;
                        char buf[CMSG_SPACE(sizeof(int))];
                } control = {};
                struct iovec iov = { .iov_base = buf, .iov_len = 0 };
                struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
                FAKE_ASSERT(fdpass_cmsg_rights(&mh, control.buf, sizeof control.buf, &file, 1) == 0);
                FAKE_ASSERT(sendmsg(fd, &mh, MSG_NOSIGNAL) == 0);
        } else
                FAKE_ASSERT(fdpass_send(fd, buf, len, pass) == 0);
        close(file);
        fake_expect_eof(fd);
}

START_TEST(test_malformed_reply) {
        struct fake f;
        fake_variant = _i;
        fake_start(&f, script_malformed);
        _cleanup_free_ char *path = fake_file(&f, "a.txt", "x");
        int n0 = tu_count_fds(getpid());
        fake_connect(&f);
        struct rec r[3] = {};

        ck_assert_int_eq(fdbr_conn_open(f.conn, path, O_RDONLY, 0, rec_cb, &r[0]), 0);
        ck_assert_int_eq(fdbr_conn_check(f.conn, path, O_RDONLY, rec_cb, &r[1]), 0);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[2]), 0);
        run_until(f.base, 3);

        for (int i = 0; i < 3; i++) {
                ck_assert_int_eq(r[i].calls, 1);
                ck_assert_int_eq(r[i].result, -EBADMSG);
        }
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);
        /* Neither the socket nor any descriptor that came along is left. */
        ck_assert_int_eq(tu_count_fds(getpid()), n0);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[0]), -ENOTCONN);

        fake_hang_up(&f);
        ck_assert_int_eq(total_calls, 3);
        fake_stop(&f);
}
END_TEST

/* ---- freeing and re-entrancy --------------------------------------------- */

START_TEST(test_free_with_pending) {
        struct fake f;
        fake_n = 4;
        fake_start(&f, script_silent);
        int n0 = tu_count_fds(getpid());
        fake_connect(&f);
        struct rec r[4] = {};

        fdbr_conn_set_timeout(f.conn, 60000);
        ck_assert_int_eq(fdbr_conn_open(f.conn, "/a", O_RDONLY, 0, rec_cb, &r[0]), 0);
        ck_assert_int_eq(fdbr_conn_check(f.conn, "/b", O_WRONLY, rec_cb, &r[1]), 0);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[2]), 0);
        ck_assert_int_eq(fdbr_conn_open(f.conn, "/c", O_RDWR | O_CREAT, 0600, rec_cb, &r[3]), 0);
        /* Let them reach the broker. */
        ck_assert_int_eq(event_base_loop(f.base, EVLOOP_NONBLOCK), 0);
        ck_assert_int_eq(total_calls, 0);

        fake_hang_up(&f);
        for (int i = 0; i < 4; i++) {
                ck_assert_int_eq(r[i].calls, 1);
                ck_assert_int_eq(r[i].result, -ECANCELED);
        }
        ck_assert_int_eq(tu_count_fds(getpid()), n0);

        /* Nothing of the connection is left in the loop (the timers
         * included): it has nothing to wait for. */
        ck_assert_int_eq(event_base_loop(f.base, EVLOOP_NONBLOCK), 1);
        ck_assert_int_eq(total_calls, 4);
        fake_stop(&f);
}
END_TEST

START_TEST(test_callback_frees_conn) {
        struct fake f;
        fake_n = 3;
        fake_stride = 1;
        fake_offset = 0;
        ck_assert_int_eq(pipe2(fake_sent, O_CLOEXEC), 0);
        fake_start(&f, script_gather);
        close(fake_sent[1]);
        fake_sent[1] = -1;
        int n0 = tu_count_fds(getpid());
        fake_connect(&f);
        struct rec r[3] = {};

        /* All three replies arrive in one batch (the loop runs only once
         * the fake has sent them all); the first callback frees the
         * connection under the reader's feet. */
        r[0].free_conn = &f.conn;
        for (int i = 0; i < 3; i++)
                ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[i]), 0);
        char c;
        ck_assert_int_eq(read(fake_sent[0], &c, 1), 1);
        run_until(f.base, 1);

        ck_assert_ptr_null(f.conn);
        ck_assert_int_eq(r[0].calls, 1);
        ck_assert_int_eq(r[0].result, 0);
        for (int i = 1; i < 3; i++) {
                ck_assert_int_eq(r[i].calls, 1);
                ck_assert_int_eq(r[i].result, -ECANCELED);
        }
        ck_assert_int_eq(tu_count_fds(getpid()), n0);
        fake_sent[0] = safe_close(fake_sent[0]);
        ck_assert_int_eq(event_base_loop(f.base, EVLOOP_NONBLOCK), 1);
        ck_assert_int_eq(total_calls, 3);
        fake_stop(&f);
}
END_TEST

START_TEST(test_callback_frees_conn_while_failing) {
        struct fake f;
        fake_n = 4;
        fake_start_connected(&f, script_answer_one_and_close);
        struct rec r[4] = {};

        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[i]), 0);
        /* r[1] is answered; r[0] is the first to hear of the reset. */
        r[0].free_conn = &f.conn;
        run_until(f.base, 4);

        ck_assert_ptr_null(f.conn);
        ck_assert_int_eq(r[1].result, 0);
        ck_assert_int_eq(r[0].result, -ECONNRESET);
        for (int i = 0; i < 4; i++)
                ck_assert_int_eq(r[i].calls, 1);
        for (int i = 2; i < 4; i++)
                ck_assert_msg(r[i].result == -ECANCELED || r[i].result == -ECONNRESET, "%d", r[i].result);
        ck_assert_int_eq(total_calls, 4);
        fake_stop(&f);
}
END_TEST

START_TEST(test_callback_frees_conn_on_timeout) {
        struct fake f;
        fake_n = 2;
        fake_start_connected(&f, script_silent);
        struct rec r[2] = {};

        fdbr_conn_set_timeout(f.conn, 10);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[0]), 0);
        fdbr_conn_set_timeout(f.conn, 0);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, rec_cb, &r[1]), 0);
        r[0].free_conn = &f.conn;
        run_until(f.base, 2);

        ck_assert_ptr_null(f.conn);
        ck_assert_int_eq(r[0].calls, 1);
        ck_assert_int_eq(r[0].result, -ETIMEDOUT);
        ck_assert_int_eq(r[1].calls, 1);
        ck_assert_int_eq(r[1].result, -ECANCELED);
        fake_stop(&f);
}
END_TEST

START_TEST(test_callback_submits) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *path = fake_file(&f, "a.txt", "second");
        fake_connect(&f);
        struct rec first = {}, second = {}, third = {};

        first.follow = &second;
        first.follow_path = path;
        first.follow_ret = 1;
        second.follow = &third;
        second.follow_ret = 1;
        ck_assert_int_eq(fdbr_conn_check(f.conn, path, O_RDONLY, rec_cb, &first), 0);
        run_until(f.base, 3);

        ck_assert_int_eq(first.calls, 1);
        ck_assert_int_eq(first.result, 0);
        ck_assert_int_eq(first.follow_ret, 0);
        ck_assert_int_eq(second.calls, 1);
        ck_assert_int_ge(second.result, 0);
        assert_content(second.result, "second");
        close(second.result);
        ck_assert_int_eq(second.follow_ret, 0);
        ck_assert_int_eq(third.calls, 1);
        ck_assert_int_eq(third.result, 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);

        fake_kill(&f);
}
END_TEST

/* ---- flags --------------------------------------------------------------- */

static const struct flags_case {
        int oflags;
        mode_t mode;
        int ret;
        uint32_t flags;
        uint32_t wire_mode;
        bool cloexec, nonblock;
} flags_cases[] = {
        { O_RDONLY, 0, 0, FDBR_F_READ, 0, false, false },
        { O_WRONLY, 0, 0, FDBR_F_WRITE, 0, false, false },
        { O_RDWR, 0, 0, FDBR_F_READ | FDBR_F_WRITE, 0, false, false },
        { O_RDONLY | O_DIRECTORY, 0, 0, FDBR_F_DIRECTORY, 0, false, false },
        { O_WRONLY | O_DIRECTORY, 0, 0, FDBR_F_WRITE | FDBR_F_DIRECTORY, 0, false, false },
        { O_RDWR | O_DIRECTORY, 0, 0, FDBR_F_READ | FDBR_F_WRITE | FDBR_F_DIRECTORY, 0, false, false },
        { O_RDONLY | O_DIRECTORY | O_NOFOLLOW, 0, 0, FDBR_F_DIRECTORY | FDBR_F_NOFOLLOW, 0, false, false },
        { O_WRONLY | O_CREAT, 0644, 0, FDBR_F_WRITE | FDBR_F_CREATE, 0644, false, false },
        { O_WRONLY | O_CREAT | O_EXCL, 0600, 0, FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL, 0600, false, false },
        { O_RDONLY | O_CREAT, 0640, 0, FDBR_F_READ | FDBR_F_CREATE, 0640, false, false },
        { O_WRONLY | O_CREAT, 04755, 0, FDBR_F_WRITE | FDBR_F_CREATE, 0755, false, false },
        { O_WRONLY | O_CREAT, 07777, 0, FDBR_F_WRITE | FDBR_F_CREATE, 0777, false, false },
        { O_WRONLY | O_CREAT, S_IFREG | 0644, 0, FDBR_F_WRITE | FDBR_F_CREATE, 0644, false, false },
        { O_WRONLY, 0644, 0, FDBR_F_WRITE, 0, false, false },
        { O_WRONLY | O_TRUNC, 0, 0, FDBR_F_WRITE | FDBR_F_TRUNC, 0, false, false },
        { O_RDONLY | O_TRUNC, 0, 0, FDBR_F_READ | FDBR_F_TRUNC, 0, false, false },
        { O_WRONLY | O_APPEND, 0, 0, FDBR_F_WRITE | FDBR_F_APPEND, 0, false, false },
        { O_RDONLY | O_NOFOLLOW, 0, 0, FDBR_F_READ | FDBR_F_NOFOLLOW, 0, false, false },
        { O_RDONLY | O_CLOEXEC, 0, 0, FDBR_F_READ, 0, true, false },
        { O_RDONLY | O_NONBLOCK, 0, 0, FDBR_F_READ, 0, false, true },
        { O_RDONLY | O_NDELAY, 0, 0, FDBR_F_READ, 0, false, true },
        { O_RDONLY | O_NOCTTY, 0, 0, FDBR_F_READ, 0, false, false },
        { O_RDONLY | O_LARGEFILE, 0, 0, FDBR_F_READ, 0, false, false },
        { O_RDWR | O_CREAT | O_EXCL | O_TRUNC | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK | O_NOCTTY, 0666, 0,
          FDBR_F_READ | FDBR_F_WRITE | FDBR_F_CREATE | FDBR_F_EXCL | FDBR_F_TRUNC | FDBR_F_APPEND | FDBR_F_NOFOLLOW,
          0666, true, true },
        { O_WRONLY | O_EXCL, 0, -EINVAL, 0, 0, false, false },
        { O_ACCMODE, 0, -EINVAL, 0, 0, false, false },
        { O_PATH, 0, -EINVAL, 0, 0, false, false },
        { O_PATH | O_DIRECTORY, 0, -EINVAL, 0, 0, false, false },
        { O_TMPFILE | O_RDWR, 0600, -EINVAL, 0, 0, false, false },
        { O_RDONLY | O_SYNC, 0, -EINVAL, 0, 0, false, false },
        { O_WRONLY | O_DSYNC, 0, -EINVAL, 0, 0, false, false },
        { O_RDONLY | O_DIRECT, 0, -EINVAL, 0, 0, false, false },
        { O_RDONLY | O_NOATIME, 0, -EINVAL, 0, 0, false, false },
        { O_RDONLY | O_ASYNC, 0, -EINVAL, 0, 0, false, false },
        { O_RDONLY | 0x40000000, 0, -EINVAL, 0, 0, false, false },
        { INT_MIN, 0, -EINVAL, 0, 0, false, false },
        { -1, 0, -EINVAL, 0, 0, false, false },
};

START_TEST(test_flags_table) {
        for (size_t i = 0; i < ELEMENTSOF(flags_cases); i++) {
                const struct flags_case *c = &flags_cases[i];
                struct flags_wire w = { .flags = 0xdead, .mode = 0xbeef };

                int r = flags_from_open(c->oflags, c->mode, &w);
                ck_assert_msg(r == c->ret, "case %zu (0%o): %d", i, (unsigned) c->oflags, r);
                if (r < 0) {
                        /* Untouched on failure. */
                        ck_assert_uint_eq(w.flags, 0xdead);
                        ck_assert_uint_eq(w.mode, 0xbeef);
                        continue;
                }
                ck_assert_msg(w.flags == c->flags, "case %zu: flags 0x%x, want 0x%x", i, w.flags, c->flags);
                ck_assert_msg(w.mode == c->wire_mode, "case %zu: mode 0%o, want 0%o", i, w.mode, c->wire_mode);
                ck_assert_msg(w.cloexec == c->cloexec, "case %zu: cloexec", i);
                ck_assert_msg(w.nonblock == c->nonblock, "case %zu: nonblock", i);
                /* Whatever is accepted locally, the broker accepts too. */
                ck_assert_int_eq(wire_flags_check(w.flags, w.mode), 0);
        }
}
END_TEST

/* Checks that every valid case of flags_cases arrives as the table says,
 * and answers EACCES. */
static void script_flags(int listen_fd) {
        int fd = fake_accept(listen_fd);
        struct fake_req q;

        for (size_t i = 0; i < ELEMENTSOF(flags_cases); i++) {
                if (flags_cases[i].ret < 0)
                        continue;
                fake_recv(fd, &q);
                if (q.r.op != FDBR_OP_OPEN || q.r.flags != flags_cases[i].flags ||
                    q.r.mode != flags_cases[i].wire_mode) {
                        fprintf(stderr, "fake broker: case %zu: op %u flags 0x%x mode 0%o\n", i, q.r.op, q.r.flags,
                                q.r.mode);
                        _exit(98);
                }
                fake_reply(fd, &q.r, EACCES, -1);
        }
        fake_expect_eof(fd);
}

START_TEST(test_flags_on_the_wire) {
        struct fake f;
        fake_start_connected(&f, script_flags);
        struct rec r[ELEMENTSOF(flags_cases)] = {};
        int n = 0;

        for (size_t i = 0; i < ELEMENTSOF(flags_cases); i++) {
                const struct flags_case *c = &flags_cases[i];
                int k = fdbr_conn_open(f.conn, "/srv/file", c->oflags, c->mode, rec_cb, &r[i]);
                ck_assert_msg(k == (c->ret < 0 ? c->ret : 0), "case %zu: %d", i, k);
                n += k == 0;
        }
        run_until(f.base, n);
        for (size_t i = 0; i < ELEMENTSOF(flags_cases); i++) {
                ck_assert_int_eq(r[i].calls, flags_cases[i].ret < 0 ? 0 : 1);
                if (r[i].calls)
                        ck_assert_int_eq(r[i].result, -EACCES);
        }

        fake_stop(&f);
}
END_TEST

START_TEST(test_local_fd_flags) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *path = fake_file(&f, "a.txt", "x");
        fake_connect(&f);
        static const int oflags[] = { O_RDONLY, O_RDONLY | O_CLOEXEC, O_RDONLY | O_NONBLOCK,
                                      O_RDONLY | O_CLOEXEC | O_NONBLOCK };
        struct rec r[ELEMENTSOF(oflags)] = {};

        for (size_t i = 0; i < ELEMENTSOF(oflags); i++)
                ck_assert_int_eq(fdbr_conn_open(f.conn, path, oflags[i], 0, rec_cb, &r[i]), 0);
        run_until(f.base, ELEMENTSOF(oflags));

        for (size_t i = 0; i < ELEMENTSOF(oflags); i++) {
                ck_assert_int_ge(r[i].result, 0);
                int fdfl = fcntl(r[i].result, F_GETFD), fl = fcntl(r[i].result, F_GETFL);
                ck_assert_int_ge(fdfl, 0);
                ck_assert_int_ge(fl, 0);
                ck_assert_msg(!!(fdfl & FD_CLOEXEC) == !!(oflags[i] & O_CLOEXEC), "case %zu: FD_CLOEXEC", i);
                ck_assert_msg(!!(fl & O_NONBLOCK) == !!(oflags[i] & O_NONBLOCK), "case %zu: O_NONBLOCK", i);
                close(r[i].result);
        }

        fake_kill(&f);
}
END_TEST

/* ---- arguments refused at once ------------------------------------------- */

START_TEST(test_bad_arguments) {
        struct fake f;
        fake_start_connected(&f, script_serve);
        struct rec r = {};
        char *longpath = malloc(5001);

        ck_assert_ptr_nonnull(longpath);
        longpath[0] = '/';
        memset(longpath + 1, 'a', 4999);
        longpath[5000] = 0;

        static const char *const bad_paths[] = {
                "", "relative", "./x", "/a/../b", "/a/./b", "/a//b", "/a/", "//", "/.", "/..",
        };
        for (size_t i = 0; i < ELEMENTSOF(bad_paths); i++) {
                ck_assert_int_eq(fdbr_conn_open(f.conn, bad_paths[i], O_RDONLY, 0, rec_cb, &r), -EINVAL);
                ck_assert_int_eq(fdbr_conn_check(f.conn, bad_paths[i], O_RDONLY, rec_cb, &r), -EINVAL);
        }
        ck_assert_int_eq(fdbr_conn_open(f.conn, NULL, O_RDONLY, 0, rec_cb, &r), -EINVAL);
        ck_assert_int_eq(fdbr_conn_open(f.conn, longpath, O_RDONLY, 0, rec_cb, &r), -ENAMETOOLONG);
        ck_assert_int_eq(fdbr_conn_open(f.conn, "/x", O_RDONLY | O_PATH, 0, rec_cb, &r), -EINVAL);
        ck_assert_int_eq(fdbr_conn_check(f.conn, "/x", O_RDONLY | O_EXCL, rec_cb, &r), -EINVAL);
        ck_assert_int_eq(fdbr_conn_open(f.conn, "/x", O_RDONLY, 0, NULL, &r), -EINVAL);
        ck_assert_int_eq(fdbr_conn_ping(f.conn, NULL, &r), -EINVAL);
        ck_assert_int_eq(fdbr_conn_ping(NULL, rec_cb, &r), -EINVAL);
        ck_assert_int_eq(fdbr_conn_open(NULL, "/x", O_RDONLY, 0, rec_cb, &r), -EINVAL);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);
        ck_assert_uint_eq(fdbr_conn_pending(NULL), 0);

        /* The canonical edge cases pass: "/" itself, and a maximal path. */
        longpath[FDBR_WIRE_PATH_MAX] = 0;
        struct rec ok[3] = {};
        ck_assert_int_eq(fdbr_conn_check(f.conn, "/", O_RDONLY | O_DIRECTORY, rec_cb, &ok[0]), 0);
        ck_assert_int_eq(fdbr_conn_check(f.conn, longpath, O_RDONLY, rec_cb, &ok[1]), 0);
        ck_assert_int_eq(fdbr_conn_check(f.conn, "/...", O_RDONLY, rec_cb, &ok[2]), 0);
        run_until(f.base, 3);
        ck_assert_int_eq(ok[0].result, 0);
        ck_assert_int_eq(ok[1].result, -ENAMETOOLONG); /* from the fake's stat() */
        ck_assert_int_eq(ok[2].result, -ENOENT);
        ck_assert_int_eq(r.calls, 0);
        free(longpath);

        fake_hang_up(&f);
        fdbr_conn_free(NULL);
        fake_kill(&f);
}
END_TEST

/* ---- connecting and the blocking calls ----------------------------------- */

START_TEST(test_connect_errors) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *missing = tu_strdupf("%s/missing", dir);
        _cleanup_free_ char *stale = tu_strdupf("%s/stale", dir);
        struct event_base *base = event_base_new();
        fdbr_conn *conn = (fdbr_conn *) 0x1;
        int n0 = tu_count_fds(getpid());

        /* No socket there: unreachable, never the ENOENT a caller would take
         * for the file it asked about. */
        ck_assert_int_eq(fdbr_conn_new(base, missing, &conn), -ECONNREFUSED);
        ck_assert_ptr_eq(conn, (fdbr_conn *) 0x1);
        /* A path through a regular file (ENOTDIR), and a regular file
         * (ECONNREFUSED from the kernel already). */
        _cleanup_free_ char *notdir = tu_strdupf("%s/file/sock", dir);
        _cleanup_free_ char *file = tu_strdupf("%s/file", dir);
        tu_write_file(file, "", 0644, 0, 0);
        ck_assert_int_eq(fdbr_conn_new(base, notdir, &conn), -ECONNREFUSED);
        ck_assert_int_eq(fdbr_conn_new(base, file, &conn), -ECONNREFUSED);

        /* A socket file nobody listens on any more. */
        struct sockaddr_un sa = { .sun_family = AF_UNIX };
        strcpy(sa.sun_path, stale);
        int s = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
        ck_assert_int_ge(s, 0);
        ck_assert_int_eq(bind(s, (struct sockaddr *) &sa, sizeof sa), 0);
        close(s);
        ck_assert_int_eq(fdbr_conn_new(base, stale, &conn), -ECONNREFUSED);

        char toolong[200];
        memset(toolong, 'a', sizeof toolong - 1);
        toolong[0] = '/';
        toolong[sizeof toolong - 1] = 0;
        ck_assert_int_eq(fdbr_conn_new(base, toolong, &conn), -ENAMETOOLONG);
        ck_assert_int_eq(fdbr_conn_new(NULL, missing, &conn), -EINVAL);
        ck_assert_int_eq(fdbr_conn_new(base, missing, NULL), -EINVAL);
        ck_assert_ptr_eq(conn, (fdbr_conn *) 0x1);

        /* NULL means the environment. */
        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, missing, 1), 0);
        ck_assert_int_eq(fdbr_conn_new(base, NULL, &conn), -ECONNREFUSED);

        FAILS_WITH(fdbr_open("/etc/passwd", O_RDONLY, 0), ECONNREFUSED);
        struct stat st;
        FAILS_WITH(fdbr_stat("/etc/passwd", &st), ECONNREFUSED);
        FAILS_WITH(fdbr_unlink("/etc/passwd"), ECONNREFUSED);
        errno = 0;
        ck_assert_ptr_null(fdbr_status());
        ck_assert_int_eq(errno, ECONNREFUSED);
        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, stale, 1), 0);
        FAILS_WITH(fdbr_check("/etc/passwd", O_RDONLY), ECONNREFUSED);

        ck_assert_int_eq(tu_count_fds(getpid()), n0);
        event_base_free(base);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(test_socket_path) {
        ck_assert_int_eq(unsetenv(FDBR_SOCKET_ENV), 0);
        ck_assert_str_eq(fdbr_socket_path(), FDBR_DEFAULT_SOCKET);
        ck_assert_str_eq(FDBR_DEFAULT_SOCKET, "/run/fdbroker/fdbroker.sock");
        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, "", 1), 0);
        ck_assert_str_eq(fdbr_socket_path(), FDBR_DEFAULT_SOCKET);
        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, "/tmp/elsewhere.sock", 1), 0);
        ck_assert_str_eq(fdbr_socket_path(), "/tmp/elsewhere.sock");
}
END_TEST

START_TEST(test_blocking) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *path = fake_file(&f, "a.txt", "blocking");
        _cleanup_free_ char *eacces = tu_strdupf("%s/status-%d", f.dir, EACCES);
        _cleanup_free_ char *enoent = tu_strdupf("%s/status-%d", f.dir, ENOENT);
        _cleanup_free_ char *created = tu_strdupf("%s/created", f.dir);
        int n0 = tu_count_fds(getpid());

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, f.sock, 1), 0);

        int fd = fdbr_open(path, O_RDONLY, 0);
        ck_assert_int_ge(fd, 0);
        assert_content(fd, "blocking");
        ck_assert_int_eq(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        close(fd);

        fd = fdbr_open(path, O_RDONLY | O_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_ne(fcntl(fd, F_GETFD) & FD_CLOEXEC, 0);
        close(fd);

        fd = fdbr_open(created, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(write(fd, "new", 3), 3);
        close(fd);
        struct stat st;
        ck_assert_int_eq(stat(created, &st), 0);
        ck_assert_int_eq(st.st_size, 3);

        FAILS_WITH(fdbr_open(eacces, O_RDONLY, 0), EACCES);
        ck_assert_int_eq(fdbr_check(path, O_RDONLY), 0);
        FAILS_WITH(fdbr_check(enoent, O_WRONLY), ENOENT);
        FAILS_WITH(fdbr_open("relative/path", O_RDONLY, 0), EINVAL);
        FAILS_WITH(fdbr_check(path, O_RDONLY | O_SYNC), EINVAL);

        ck_assert_int_eq(tu_count_fds(getpid()), n0);
        fake_kill(&f);
}
END_TEST

/* ---- the symbol table ---------------------------------------------------- */

static const struct {
        const char *name;
        const char *version;
} exported[] = {
        { "fdbr_socket_path", "LIBFDBROKER_0" },
        { "fdbr_open", "LIBFDBROKER_0" },
        { "fdbr_check", "LIBFDBROKER_0" },
        { "fdbr_conn_new", "LIBFDBROKER_0" },
        { "fdbr_conn_free", "LIBFDBROKER_0" },
        { "fdbr_conn_set_timeout", "LIBFDBROKER_0" },
        { "fdbr_conn_pending", "LIBFDBROKER_0" },
        { "fdbr_conn_open", "LIBFDBROKER_0" },
        { "fdbr_conn_check", "LIBFDBROKER_0" },
        { "fdbr_conn_ping", "LIBFDBROKER_0" },
        { "fdbr_stat", "FDBROKER_0.2" },
        { "fdbr_lstat", "FDBROKER_0.2" },
        { "fdbr_statx", "FDBROKER_0.2" },
        { "fdbr_readlink", "FDBROKER_0.2" },
        { "fdbr_mkdir", "FDBROKER_0.2" },
        { "fdbr_unlink", "FDBROKER_0.2" },
        { "fdbr_rmdir", "FDBROKER_0.2" },
        { "fdbr_rename", "FDBROKER_0.2" },
        { "fdbr_status", "FDBROKER_0.2" },
        { "fdbr_grants", "FDBROKER_0.2" },
        { "fdbr_conn_stat", "FDBROKER_0.2" },
        { "fdbr_conn_readlink", "FDBROKER_0.2" },
        { "fdbr_conn_mkdir", "FDBROKER_0.2" },
        { "fdbr_conn_unlink", "FDBROKER_0.2" },
        { "fdbr_conn_rmdir", "FDBROKER_0.2" },
        { "fdbr_conn_rename", "FDBROKER_0.2" },
        { "fdbr_conn_status", "FDBROKER_0.2" },
        { "fdbr_conn_grants", "FDBROKER_0.2" },
};

START_TEST(test_exports) {
        _cleanup_free_ char *cmd = tu_strdupf("nm -D --defined-only '%s'", FDBR_TEST_LIBRARY);
        FILE *p = popen(cmd, "r");
        bool seen[ELEMENTSOF(exported)] = {};
        char line[512];
        int n = 0;

        ck_assert_ptr_nonnull(p);
        while (fgets(line, sizeof line, p)) {
                char addr[64], type[8], name[256];
                ck_assert_msg(sscanf(line, "%63s %7s %255s", addr, type, name) == 3, "unexpected: %s", line);
                if (strcmp(type, "A") == 0) {
                        /* The version nodes themselves. */
                        ck_assert_msg(strcmp(name, "LIBFDBROKER_0") == 0 || strcmp(name, "FDBROKER_0.2") == 0,
                                      "version node %s", name);
                        continue;
                }
                char *at = strstr(name, "@@");
                ck_assert_msg(at, "unversioned symbol: %s", name);
                *at = 0;
                const char *version = at + 2;
                ck_assert_msg(strncmp(name, "fdbr_", 5) == 0, "foreign symbol exported: %s", name);
                ck_assert_str_eq(type, "T");
                size_t i;
                for (i = 0; i < ELEMENTSOF(exported); i++)
                        if (strcmp(name, exported[i].name) == 0)
                                break;
                ck_assert_msg(i < ELEMENTSOF(exported), "not in fdbroker.h: %s", name);
                ck_assert_msg(strcmp(version, exported[i].version) == 0, "%s@@%s", name, version);
                ck_assert(!seen[i]);
                seen[i] = true;
                n++;
        }
        ck_assert_int_eq(pclose(p), 0);
        ck_assert_int_eq(n, ELEMENTSOF(exported));

        /* And as the dynamic linker sees it. */
        void *h = dlopen(FDBR_TEST_LIBRARY, RTLD_NOW | RTLD_LOCAL);
        ck_assert_msg(h, "%s", dlerror());
        for (size_t i = 0; i < ELEMENTSOF(exported); i++)
                ck_assert_msg(dlvsym(h, exported[i].name, exported[i].version), "%s", exported[i].name);
        static const char *const internal[] = {
                "conn_op_prepare", "flags_from_open", "pending_put", "sendq_push",
                "socket_connect", "wire_reply_decode", "fdpass_recv",
        };
        for (size_t i = 0; i < ELEMENTSOF(internal); i++)
                ck_assert_msg(!dlsym(h, internal[i]), "%s is visible", internal[i]);
        dlclose(h);
}
END_TEST

/* ---- the pending table --------------------------------------------------- */

/* Odd keys are small sequential ids, even keys spread over the whole 32-bit
 * space (an odd multiplier is a bijection), so that home slots both cluster
 * and wrap. */
static uint32_t key_id(unsigned k) {
        return (k & 1) ? k : k * 2654435761u;
}

START_TEST(test_pending_table) {
        enum { RANGE = 4096 };
        struct pending_table t = PENDING_TABLE_INIT;
        static char values[RANGE];
        static bool present[RANGE];
        size_t n = 0;
        unsigned seed = 12345;

        ck_assert_ptr_null(pending_get(&t, 1));
        ck_assert_ptr_null(pending_remove(&t, 1));
        ck_assert_int_eq(pending_put(&t, 1, NULL), -EINVAL);

        /* Random puts and removes against a plain array. */
        for (int round = 0; round < 200000; round++) {
                seed = seed * 1103515245 + 12345;
                unsigned k = (seed >> 8) % RANGE;
                uint32_t id = key_id(k);
                /* Grow to thousands, then drain to nothing, twice. */
                bool adding = (round / 50000) % 2 == 0 ? (seed >> 4) % 4 != 0 : (seed >> 4) % 4 == 0;

                if (adding) {
                        int r = pending_put(&t, id, &values[k]);
                        ck_assert_int_eq(r, present[k] ? -EEXIST : 0);
                        if (!present[k]) {
                                present[k] = true;
                                n++;
                        }
                } else {
                        void *v = pending_remove(&t, id);
                        ck_assert_ptr_eq(v, present[k] ? &values[k] : NULL);
                        if (present[k]) {
                                present[k] = false;
                                n--;
                        }
                }
                ck_assert_uint_eq(pending_size(&t), n);

                if (round % 1000 == 0)
                        for (unsigned j = 0; j < RANGE; j++)
                                ck_assert_ptr_eq(pending_get(&t, key_id(j)), present[j] ? &values[j] : NULL);
        }

        for (unsigned j = 0; j < RANGE; j++)
                if (present[j])
                        ck_assert_ptr_eq(pending_remove(&t, key_id(j)), &values[j]);
        ck_assert_uint_eq(pending_size(&t), 0);
        pending_done(&t);
}
END_TEST

/* ---- the command --------------------------------------------------------- */

struct run {
        int status; /* exit status, or 128 + signal */
        char *out;
        char *err;
};

static char *slurp(const char *path) {
        FILE *f = fopen(path, "re");
        ck_assert_ptr_nonnull(f);
        char *s = NULL;
        size_t size = 0;
        FILE *m = open_memstream(&s, &size);
        ck_assert_ptr_nonnull(m);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, f)) > 0)
                fwrite(buf, 1, n, m);
        fclose(f);
        fclose(m);
        return s;
}

static void run_free(struct run *r) {
        free(r->out);
        free(r->err);
}

/* Runs the command with argv (without argv[0]), stdin from in, stdout and
 * stderr captured. */
static struct run run_cli(const char *dir, const char *in, const char *const *args) {
        _cleanup_free_ char *in_path = tu_strdupf("%s/.stdin", dir);
        _cleanup_free_ char *out_path = tu_strdupf("%s/.stdout", dir);
        _cleanup_free_ char *err_path = tu_strdupf("%s/.stderr", dir);
        const char *argv[32] = { FDBR_TEST_CLI };
        size_t n = 1;

        for (; args[n - 1]; n++) {
                ck_assert_uint_lt(n, ELEMENTSOF(argv) - 1);
                argv[n] = args[n - 1];
        }
        argv[n] = NULL;
        tu_write_file(in_path, in ?: "", 0600, 0, 0);

        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int i = open(in_path, O_RDONLY), o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
                    e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
                if (i < 0 || o < 0 || e < 0 || dup2(i, 0) < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
                        _exit(200);
                /* Only what the command is meant to see: no descriptor of
                 * the test framework leaks into the exec test's listing. */
                if (close_range(3, ~0u, 0) < 0)
                        _exit(202);
                execv(argv[0], (char **) argv);
                _exit(201);
        }

        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        struct run r = {
                .status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status),
                .out = slurp(out_path),
                .err = slurp(err_path),
        };
        return r;
}

#define RUN(dir, in, ...) run_cli(dir, in, (const char *const[]) { __VA_ARGS__, NULL })

START_TEST(test_cli_usage) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        struct run r;

        r = RUN(dir, NULL, "--help");
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "Usage: fdbroker"));
        ck_assert_ptr_nonnull(strstr(r.out, "absolute"));
        ck_assert_str_eq(r.err, "");
        run_free(&r);

        r = RUN(dir, NULL, "--version");
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.out, "fdbroker " FDBR_TEST_VERSION "\n");
        run_free(&r);

        r = RUN(dir, NULL, "cat", "--help");
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "Usage: fdbroker"));
        run_free(&r);

        static const char *const bad[][6] = {
                { "--bogus" },
                { "bogus" },
                { "--socket" },
                { "--socket", "" , "ping" },
                { "ping", "extra" },
                { "cat" },
                { "cat", "--bogus", "/x" },
                { "check" },
                { "check", "/a", "/b" },
                { "check", "--read", "/a" },
                { "write" },
                { "write", "/a", "/b" },
                { "exec" },
                { "exec", "--read", "/a" },
                { "exec", "--read", "/a", "--" },
                { "exec", "--read" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *args[8] = {};
                for (size_t j = 0; j < ELEMENTSOF(bad[i]) && bad[i][j]; j++)
                        args[j] = bad[i][j];
                r = run_cli(dir, NULL, args);
                ck_assert_msg(r.status == 2, "case %zu: status %d", i, r.status);
                ck_assert_msg(strstr(r.err, "fdbroker: ") == r.err, "case %zu: %s", i, r.err);
                ck_assert_str_eq(r.out, "");
                run_free(&r);
        }

        r = run_cli(dir, NULL, (const char *const[]) { NULL });
        ck_assert_int_eq(r.status, 2);
        run_free(&r);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(test_cli_unreachable) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *missing = tu_strdupf("%s/missing.sock", dir);
        _cleanup_free_ char *expected = tu_strdupf("fdbroker: cannot reach broker at %s: %s\n", missing, strerror(ECONNREFUSED));
        struct run r;

        r = RUN(dir, NULL, "--socket", missing, "ping");
        ck_assert_int_eq(r.status, 3);
        ck_assert_str_eq(r.err, expected);
        run_free(&r);

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, missing, 1), 0);
        r = RUN(dir, NULL, "cat", "/etc/passwd");
        ck_assert_int_eq(r.status, 3);
        ck_assert_str_eq(r.err, expected);
        ck_assert_str_eq(r.out, "");
        run_free(&r);

        r = RUN(dir, NULL, "exec", "--read", "/etc/passwd", "--", "true");
        ck_assert_int_eq(r.status, 3);
        run_free(&r);

        /* --socket wins over the environment. */
        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, "/nonexistent/other.sock", 1), 0);
        r = RUN(dir, NULL, "--socket", missing, "check", "/etc/passwd");
        ck_assert_int_eq(r.status, 3);
        ck_assert_str_eq(r.err, expected);
        run_free(&r);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(test_cli_commands) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *a = fake_file(&f, "a.txt", "alpha\n");
        _cleanup_free_ char *b = fake_file(&f, "b.txt", "beta\n");
        _cleanup_free_ char *out = fake_file(&f, "out.txt", "old content\n");
        _cleanup_free_ char *created = tu_strdupf("%s/created.txt", f.dir);
        _cleanup_free_ char *denied = tu_strdupf("%s/status-%d", f.dir, EACCES);
        _cleanup_free_ char *denied_msg = tu_strdupf("fdbroker: %s: %s\n", denied, strerror(EACCES));
        struct run r;

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, f.sock, 1), 0);

        r = RUN(f.dir, NULL, "ping");
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.out, "");
        ck_assert_str_eq(r.err, "");
        run_free(&r);

        r = RUN(f.dir, NULL, "--socket", f.sock, "cat", a, b);
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.out, "alpha\nbeta\n");
        ck_assert_str_eq(r.err, "");
        run_free(&r);

        /* A refused path is reported, the others still copied. */
        r = RUN(f.dir, NULL, "cat", a, denied, "relative", b);
        ck_assert_int_eq(r.status, 1);
        ck_assert_str_eq(r.out, "alpha\nbeta\n");
        _cleanup_free_ char *cat_err = tu_strdupf("%sfdbroker: relative: %s\n", denied_msg, strerror(EINVAL));
        ck_assert_str_eq(r.err, cat_err);
        run_free(&r);

        r = RUN(f.dir, NULL, "check", a);
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.err, "");
        run_free(&r);

        r = RUN(f.dir, NULL, "check", "--write", "--create", denied);
        ck_assert_int_eq(r.status, 1);
        ck_assert_str_eq(r.err, denied_msg);
        run_free(&r);

        r = RUN(f.dir, NULL, "check", "--dir", a);
        ck_assert_int_eq(r.status, 1);
        run_free(&r);

        r = RUN(f.dir, NULL, "check", "--dir", f.dir);
        ck_assert_int_eq(r.status, 0);
        run_free(&r);

        r = RUN(f.dir, "new content\n", "write", out);
        ck_assert_int_eq(r.status, 0);
        run_free(&r);
        _cleanup_free_ char *content = slurp(out);
        ck_assert_str_eq(content, "new content\n");

        r = RUN(f.dir, "more\n", "write", "--append", out);
        ck_assert_int_eq(r.status, 0);
        run_free(&r);
        _cleanup_free_ char *content2 = slurp(out);
        ck_assert_str_eq(content2, "new content\nmore\n");

        r = RUN(f.dir, "x", "write", created);
        ck_assert_int_eq(r.status, 1);
        run_free(&r);
        r = RUN(f.dir, "created\n", "write", "--create", created);
        ck_assert_int_eq(r.status, 0);
        run_free(&r);
        _cleanup_free_ char *content3 = slurp(created);
        ck_assert_str_eq(content3, "created\n");

        /* A reader that went away ends cat quietly, without SIGPIPE. */
        int p[2];
        ck_assert_int_eq(pipe2(p, O_CLOEXEC), 0);
        close(p[0]);
        fflush(NULL);
        pid_t pid = fork();
        ck_assert_int_ge(pid, 0);
        if (pid == 0) {
                int e = open("/dev/null", O_WRONLY);
                if (e < 0 || dup2(p[1], 1) < 0 || dup2(e, 2) < 0 || close_range(3, ~0u, 0) < 0)
                        _exit(200);
                execl(FDBR_TEST_CLI, FDBR_TEST_CLI, "cat", a, (char *) NULL);
                _exit(201);
        }
        close(p[1]);
        int status;
        ck_assert_int_eq(waitpid(pid, &status, 0), pid);
        ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 1, "status 0x%x", status);

        r = RUN(f.dir, "x", "write", "relative");
        ck_assert_int_eq(r.status, 1);
        _cleanup_free_ char *rel_msg = tu_strdupf("fdbroker: relative: %s\n", strerror(EINVAL));
        ck_assert_str_eq(r.err, rel_msg);
        run_free(&r);

        fake_kill(&f);
}
END_TEST

START_TEST(test_cli_exec) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *a = fake_file(&f, "a.txt", "alpha\n");
        _cleanup_free_ char *b = fake_file(&f, "b.txt", "beta\n");
        _cleanup_free_ char *w = fake_file(&f, "w.txt", "");
        _cleanup_free_ char *denied = tu_strdupf("%s/status-%d", f.dir, EACCES);
        _cleanup_free_ char *marker = tu_strdupf("%s/ran", f.dir);
        _cleanup_free_ char *touch = tu_strdupf("touch %s", marker);
        struct run r;

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, f.sock, 1), 0);

        /* Descriptors in command-line order, reads and writes mixed, and
         * nothing else of ours open beyond them. */
        r = RUN(f.dir, NULL, "exec", "--read", b, "--write", w, "--read", a, "--", "sh", "-c",
                "echo \"[$FDBROKER_FDS]\"; cat <&3; echo written >&4; cat <&5; "
                "ls /proc/self/fd | sort -n | tr '\\n' ' '; exit 7");
        ck_assert_int_eq(r.status, 7);
        ck_assert_str_eq(r.err, "");
        /* 0-2, 3-5, and the one ls reads its directory with. */
        ck_assert_str_eq(r.out, "[3 4 5]\nbeta\nalpha\n0 1 2 3 4 5 6 ");
        run_free(&r);
        _cleanup_free_ char *written = slurp(w);
        ck_assert_str_eq(written, "written\n");

        r = RUN(f.dir, NULL, "exec", "--", "sh", "-c", "echo \"[$FDBROKER_FDS]\"");
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.out, "[]\n");
        run_free(&r);

        /* One refused: nothing runs, the first failure is named. */
        r = RUN(f.dir, NULL, "exec", "--read", a, "--read", denied, "--write", "rel", "--", "sh", "-c", touch);
        ck_assert_int_eq(r.status, 1);
        _cleanup_free_ char *msg = tu_strdupf("fdbroker: %s: %s\n", denied, strerror(EACCES));
        ck_assert_str_eq(r.err, msg);
        run_free(&r);
        ck_assert_int_eq(access(marker, F_OK), -1);

        r = RUN(f.dir, NULL, "exec", "--read", a, "--", "/nonexistent/command");
        ck_assert_int_eq(r.status, 127);
        run_free(&r);
        r = RUN(f.dir, NULL, "exec", "--read", a, "--", a);
        ck_assert_int_eq(r.status, 126);
        run_free(&r);

        fake_kill(&f);
}
END_TEST

/* ---- the ops after OPEN and CHECK ---------------------------------------- */

/* The log, read after the requests were answered: every logged record is
 * written before its reply is sent. */
struct wire_log {
        uint8_t *data;
        size_t len, pos;
};

static void wire_log_read(const struct fake *f, struct wire_log *l) {
        FILE *fp = fopen(f->log, "re");
        ck_assert_ptr_nonnull(fp);
        FILE *m = open_memstream((char **) &l->data, &l->len);
        char buf[4096];
        size_t n;
        while ((n = fread(buf, 1, sizeof buf, fp)) > 0)
                fwrite(buf, 1, n, m);
        fclose(fp);
        fclose(m);
        l->pos = 0;
}

/* The next logged record must be exactly this, byte by byte at the
 * contract's offsets (written out here, not taken from wire.h). */
static void wire_log_expect(struct wire_log *l, uint16_t op, uint32_t flags, uint32_t mode, const char *path,
                            size_t path_len) {
        uint32_t len, v32;
        uint16_t v16;

        ck_assert_uint_ge(l->len - l->pos, 4);
        memcpy(&len, l->data + l->pos, 4);
        l->pos += 4;
        ck_assert_uint_ge(l->len - l->pos, len);
        const uint8_t *rec = l->data + l->pos;
        l->pos += len;

        ck_assert_uint_eq(len, 24 + path_len);
        ck_assert_mem_eq(rec, "FDB1", 4);
        memcpy(&v16, rec + 4, 2);
        ck_assert_uint_eq(v16, 1);
        memcpy(&v16, rec + 6, 2);
        ck_assert_msg(v16 == op, "op %u, expected %u", v16, op);
        memcpy(&v32, rec + 8, 4);
        ck_assert_uint_ne(v32, 0);
        memcpy(&v32, rec + 12, 4);
        ck_assert_uint_eq(v32, flags);
        memcpy(&v32, rec + 16, 4);
        ck_assert_uint_eq(v32, mode);
        memcpy(&v32, rec + 20, 4);
        ck_assert_uint_eq(v32, path_len);
        if (path_len > 0)
                ck_assert_mem_eq(rec + 24, path, path_len);
}

/* One request the fake broker logged: its op, flags, mode and path
 * (NULL: none), and for RENAME the second path, after a NUL. */
struct sent {
        uint16_t op;
        uint32_t flags, mode;
        const char *path, *path2;
};

/* f logged these requests first, in this order; with only, nothing else. */
static void expect_sent(const struct fake *f, bool only, const struct sent *want, size_t n) {
        struct wire_log l;
        char paths[2 * FDBR_WIRE_PATH_MAX + 2];

        wire_log_read(f, &l);
        for (size_t i = 0; i < n; i++) {
                const struct sent *w = &want[i];
                if (w->path2) {
                        int k = snprintf(paths, sizeof paths, "%s%c%s", w->path, 0, w->path2);
                        wire_log_expect(&l, w->op, w->flags, w->mode, paths, (size_t) k);
                } else
                        wire_log_expect(&l, w->op, w->flags, w->mode, w->path, w->path ? strlen(w->path) : 0);
        }
        if (only)
                ck_assert_uint_eq(l.pos, l.len);
        free(l.data);
}

#define EXPECT_SENT_AS(f, only, ...)                                           \
        do {                                                                   \
                const struct sent want_[] = { __VA_ARGS__ };                   \
                expect_sent((f), (only), want_, ELEMENTSOF(want_));            \
        } while (0)
#define EXPECT_SENT(f, ...) EXPECT_SENT_AS(f, true, __VA_ARGS__)
#define EXPECT_SENT_FIRST(f, ...) EXPECT_SENT_AS(f, false, __VA_ARGS__)

struct got {
        int calls;
        int result;
        struct statx stx;
        char data[FDBR_WIRE_TEXT_MAX + 1];
        size_t len;
        bool data_null;
};

static void got_plain(fdbr_conn *conn, int result, void *userdata) {
        struct got *g = userdata;

        g->calls++;
        g->result = result;
        total_calls++;
}

static void got_stat(fdbr_conn *conn, int result, const struct statx *stx, void *userdata) {
        struct got *g = userdata;

        ck_assert((result == 0) == (stx != NULL));
        if (stx)
                g->stx = *stx;
        got_plain(conn, result, userdata);
}

static void got_data(fdbr_conn *conn, int result, const char *data, size_t len, void *userdata) {
        struct got *g = userdata;

        g->data_null = !data;
        if (data) {
                ck_assert_uint_le(len, FDBR_WIRE_TEXT_MAX);
                /* NUL-terminated, and no NUL inside. */
                ck_assert_int_eq(data[len], 0);
                ck_assert_uint_eq(strlen(data), len);
                memcpy(g->data, data, len + 1);
        } else
                ck_assert_uint_eq(len, 0);
        g->len = len;
        got_plain(conn, result, userdata);
}

/* Every new op through the asynchronous API, pipelined on one connection,
 * against a fake broker that performs them: the results, the data, and
 * the bytes of each request. */
START_TEST(test_ops_async) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *a = fake_file(&f, "a.txt", "0123456789");
        _cleanup_free_ char *link = tu_strdupf("%s/link", f.dir);
        _cleanup_free_ char *d = tu_strdupf("%s/d", f.dir);
        _cleanup_free_ char *gone = tu_strdupf("%s/gone", f.dir);
        _cleanup_free_ char *b = tu_strdupf("%s/b.txt", f.dir);
        _cleanup_free_ char *old_d = tu_strdupf("%s/old-d", f.dir);
        _cleanup_free_ char *denied = tu_strdupf("%s/status-%d", f.dir, EACCES);
        ck_assert_int_eq(symlink(a, link), 0);
        ck_assert_int_eq(mkdir(old_d, 0700), 0);
        tu_write_file(gone, "x", 0600, 0, 0);
        fake_connect(&f);
        struct got g[12] = {};
        struct stat st_a, st_link;

        ck_assert_int_eq(stat(a, &st_a), 0);
        ck_assert_int_eq(lstat(link, &st_link), 0);
        total_calls = 0;

        ck_assert_int_eq(fdbr_conn_stat(f.conn, link, 0, got_stat, &g[0]), 0);
        ck_assert_int_eq(fdbr_conn_stat(f.conn, link, AT_SYMLINK_NOFOLLOW, got_stat, &g[1]), 0);
        ck_assert_int_eq(fdbr_conn_readlink(f.conn, link, got_data, &g[2]), 0);
        ck_assert_int_eq(fdbr_conn_mkdir(f.conn, d, 0750 | S_ISVTX, got_plain, &g[3]), 0);
        ck_assert_int_eq(fdbr_conn_unlink(f.conn, gone, got_plain, &g[4]), 0);
        ck_assert_int_eq(fdbr_conn_rmdir(f.conn, old_d, got_plain, &g[5]), 0);
        ck_assert_int_eq(fdbr_conn_rename(f.conn, a, b, 0, got_plain, &g[6]), 0);
        ck_assert_int_eq(fdbr_conn_rename(f.conn, b, link, FDBR_RENAME_NOREPLACE, got_plain, &g[7]), 0);
        ck_assert_int_eq(fdbr_conn_status(f.conn, got_data, &g[8]), 0);
        ck_assert_int_eq(fdbr_conn_grants(f.conn, got_data, &g[9]), 0);
        ck_assert_int_eq(fdbr_conn_stat(f.conn, denied, 0, got_stat, &g[10]), 0);
        ck_assert_int_eq(fdbr_conn_readlink(f.conn, denied, got_data, &g[11]), 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 12);
        run_until(f.base, 12);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);

        for (size_t i = 0; i < ELEMENTSOF(g); i++)
                ck_assert_msg(g[i].calls == 1, "request %zu: %d calls", i, g[i].calls);

        /* STAT follows the link unless told not to; the kernel's statx. */
        ck_assert_int_eq(g[0].result, 0);
        ck_assert_uint_eq(g[0].stx.stx_ino, st_a.st_ino);
        ck_assert_uint_eq(g[0].stx.stx_size, 10);
        ck_assert(S_ISREG(g[0].stx.stx_mode));
        ck_assert_uint_eq(g[0].stx.stx_mode & 07777, st_a.st_mode & 07777);
        ck_assert_int_eq(g[0].stx.stx_mtime.tv_sec, st_a.st_mtim.tv_sec);
        ck_assert_uint_ne(g[0].stx.stx_mask & STATX_BASIC_STATS, 0);
        ck_assert_int_eq(g[1].result, 0);
        ck_assert(S_ISLNK(g[1].stx.stx_mode));
        ck_assert_uint_eq(g[1].stx.stx_ino, st_link.st_ino);
        ck_assert_int_eq(g[2].result, 0);
        ck_assert_str_eq(g[2].data, a);
        ck_assert_uint_eq(g[2].len, strlen(a));

        /* MKDIR sends only the permission bits. */
        ck_assert_int_eq(g[3].result, 0);
        struct stat st;
        ck_assert_int_eq(stat(d, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(g[4].result, 0);
        ck_assert_int_eq(access(gone, F_OK), -1);
        ck_assert_int_eq(g[5].result, 0);
        ck_assert_int_eq(access(old_d, F_OK), -1);
        ck_assert_int_eq(g[6].result, 0);
        ck_assert_int_eq(access(a, F_OK), -1);
        ck_assert_int_eq(access(b, F_OK), 0);
        ck_assert_int_eq(g[7].result, -EEXIST);
        ck_assert_int_eq(g[8].result, 0);
        ck_assert_str_eq(g[8].data, "clients=1\nrequests=7");
        ck_assert_int_eq(g[9].result, 0);
        ck_assert_str_eq(g[9].data, "/srv/** read\n");
        ck_assert_int_eq(g[10].result, -EACCES);
        ck_assert_int_eq(g[11].result, -EACCES);
        ck_assert(g[11].data_null);

        fake_hang_up(&f);

        /* In the order sent: STAT following the link and not, READLINK,
         * MKDIR, UNLINK, RMDIR, two RENAMEs, STATUS, GRANTS, and the
         * denied STAT and READLINK. */
        EXPECT_SENT(&f,
                { FDBR_OP_STAT, 0, 0, link, NULL }, { FDBR_OP_STAT, FDBR_F_NOFOLLOW, 0, link, NULL },
                { FDBR_OP_READLINK, 0, 0, link, NULL },
                { FDBR_OP_MKDIR, 0, 0750, d, NULL },
                { FDBR_OP_UNLINK, 0, 0, gone, NULL }, { FDBR_OP_RMDIR, 0, 0, old_d, NULL },
                { FDBR_OP_RENAME, 0, 0, a, b }, { FDBR_OP_RENAME, FDBR_F_EXCL, 0, b, link },
                { FDBR_OP_STATUS, 0, 0, NULL, NULL }, { FDBR_OP_GRANTS, 0, 0, NULL, NULL },
                { FDBR_OP_STAT, 0, 0, denied, NULL }, { FDBR_OP_READLINK, 0, 0, denied, NULL });
        fake_kill(&f);
}
END_TEST

/* The blocking forms behave like their libc namesakes. */
START_TEST(test_ops_blocking) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *a = fake_file(&f, "a.txt", "abc");
        _cleanup_free_ char *link = tu_strdupf("%s/link", f.dir);
        _cleanup_free_ char *d = tu_strdupf("%s/d", f.dir);
        _cleanup_free_ char *b = tu_strdupf("%s/b.txt", f.dir);
        _cleanup_free_ char *missing = tu_strdupf("%s/missing", f.dir);
        ck_assert_int_eq(symlink(a, link), 0);
        int n0 = tu_count_fds(getpid());
        struct stat st, mine;
        struct statx stx;
        char buf[8];

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, f.sock, 1), 0);

        ck_assert_int_eq(fdbr_stat(link, &st), 0);
        ck_assert_int_eq(stat(a, &mine), 0);
        ck_assert_uint_eq(st.st_ino, mine.st_ino);
        ck_assert_uint_eq(st.st_dev, mine.st_dev);
        ck_assert_uint_eq(st.st_mode, mine.st_mode);
        ck_assert_uint_eq(st.st_nlink, mine.st_nlink);
        ck_assert_int_eq(st.st_size, 3);
        ck_assert_int_eq(st.st_mtim.tv_sec, mine.st_mtim.tv_sec);
        ck_assert_int_eq(st.st_mtim.tv_nsec, mine.st_mtim.tv_nsec);
        ck_assert_int_eq(fdbr_lstat(link, &st), 0);
        ck_assert(S_ISLNK(st.st_mode));
        ck_assert_int_eq(fdbr_statx(link, AT_SYMLINK_NOFOLLOW, &stx), 0);
        ck_assert(S_ISLNK(stx.stx_mode));
        FAILS_WITH(fdbr_stat(missing, &st), ENOENT);

        /* readlink(2): truncated silently, no NUL added. */
        memset(buf, '#', sizeof buf);
        ck_assert_int_eq(fdbr_readlink(link, buf, 4), 4);
        ck_assert_mem_eq(buf, a, 4);
        ck_assert_int_eq(buf[4], '#');
        char full[FDBR_WIRE_PATH_MAX + 1];
        ck_assert_int_eq(fdbr_readlink(link, full, sizeof full), (ssize_t) strlen(a));
        ck_assert_mem_eq(full, a, strlen(a));
        /* Not a link: EINVAL from a broker that knows READLINK. */
        FAILS_WITH(fdbr_readlink(a, full, sizeof full), EINVAL);

        ck_assert_int_eq(fdbr_mkdir(d, 0700), 0);
        FAILS_WITH(fdbr_mkdir(d, 0700), EEXIST);
        ck_assert_int_eq(fdbr_rename(a, b, FDBR_RENAME_NOREPLACE), 0);
        ck_assert_int_eq(access(b, F_OK), 0);
        FAILS_WITH(fdbr_rename(b, link, FDBR_RENAME_NOREPLACE), EEXIST);
        ck_assert_int_eq(fdbr_rename(b, a, 0), 0);
        ck_assert_int_eq(fdbr_unlink(link), 0);
        ck_assert_int_eq(access(a, F_OK), 0);
        ck_assert_int_eq(fdbr_rmdir(d), 0);
        FAILS_WITH(fdbr_rmdir(d), ENOENT);

        char *text = fdbr_status();
        ck_assert_str_eq(text, "clients=1\nrequests=7");
        free(text);
        text = fdbr_grants();
        ck_assert_str_eq(text, "/srv/** read\n");
        free(text);

        /* Bad arguments are EINVAL (ENAMETOOLONG) before anything is sent:
         * the log has nothing for them. */
        char toolong[FDBR_WIRE_PATH_MAX + 2];
        memset(toolong, 'a', sizeof toolong - 1);
        toolong[0] = '/';
        toolong[sizeof toolong - 1] = 0;
        static const char *const bad_paths[] = { "relative", "/a/../b", "/a/", "//a", "", NULL };
        for (size_t i = 0; i < ELEMENTSOF(bad_paths); i++) {
                const char *p = bad_paths[i];
                FAILS_WITH(fdbr_stat(p, &st), EINVAL);
                FAILS_WITH(fdbr_unlink(p), EINVAL);
                FAILS_WITH(fdbr_rename(a, p, 0), EINVAL);
                FAILS_WITH(fdbr_rename(p, a, 0), EINVAL);
        }
        FAILS_WITH(fdbr_mkdir(toolong, 0700), ENAMETOOLONG);
        FAILS_WITH(fdbr_rename(a, toolong, 0), ENAMETOOLONG);
        FAILS_WITH(fdbr_statx(a, AT_EMPTY_PATH, &stx), EINVAL);
        FAILS_WITH(fdbr_rename(a, b, 2), EINVAL);
        FAILS_WITH(fdbr_readlink(link, buf, 0), EINVAL);

        fake_connect(&f);
        struct got g = {};
        ck_assert_int_eq(fdbr_conn_stat(f.conn, "rel", 0, got_stat, &g), -EINVAL);
        ck_assert_int_eq(fdbr_conn_stat(f.conn, a, 0, NULL, &g), -EINVAL);
        ck_assert_int_eq(fdbr_conn_rename(f.conn, a, "/x", 0x80000000u, got_plain, &g), -EINVAL);
        ck_assert_int_eq(fdbr_conn_status(NULL, got_data, &g), -EINVAL);
        ck_assert_int_eq(g.calls, 0);
        fake_hang_up(&f);
        ck_assert_int_eq(tu_count_fds(getpid()), n0);

        /* What went out: the valid calls only, READLINK of a non-link
         * followed by the GRANTS that tells a current broker. */
        EXPECT_SENT(&f,
                /* stat, lstat, statx without following; stat of a missing file */
                { FDBR_OP_STAT, 0, 0, link, NULL }, { FDBR_OP_STAT, FDBR_F_NOFOLLOW, 0, link, NULL },
                { FDBR_OP_STAT, FDBR_F_NOFOLLOW, 0, link, NULL }, { FDBR_OP_STAT, 0, 0, missing, NULL },
                /* two readlinks of the link, one of a file and the GRANTS after it */
                { FDBR_OP_READLINK, 0, 0, link, NULL }, { FDBR_OP_READLINK, 0, 0, link, NULL },
                { FDBR_OP_READLINK, 0, 0, a, NULL }, { FDBR_OP_GRANTS, 0, 0, NULL, NULL },
                { FDBR_OP_MKDIR, 0, 0700, d, NULL }, { FDBR_OP_MKDIR, 0, 0700, d, NULL },
                { FDBR_OP_RENAME, FDBR_F_EXCL, 0, a, b },
                { FDBR_OP_RENAME, FDBR_F_EXCL, 0, b, link }, { FDBR_OP_RENAME, 0, 0, b, a },
                { FDBR_OP_UNLINK, 0, 0, link, NULL },
                { FDBR_OP_RMDIR, 0, 0, d, NULL }, { FDBR_OP_RMDIR, 0, 0, d, NULL },
                { FDBR_OP_STATUS, 0, 0, NULL, NULL }, { FDBR_OP_GRANTS, 0, 0, NULL, NULL });
        fake_kill(&f);
}
END_TEST

/* A broker that predates the ops answers EINVAL to each; the library
 * checked its requests, so that is ENOSYS.  READLINK and RENAME, which a
 * current broker may answer EINVAL too, are told by one GRANTS. */
START_TEST(test_ops_old_broker) {
        struct fake f;
        fake_old = true;
        fake_start(&f, script_serve);
        fake_old = false;
        _cleanup_free_ char *a = fake_file(&f, "a.txt", "abc");
        _cleanup_free_ char *b = tu_strdupf("%s/b", f.dir);
        struct stat st;
        char buf[64];

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, f.sock, 1), 0);
        FAILS_WITH(fdbr_stat(a, &st), ENOSYS);
        FAILS_WITH(fdbr_readlink(a, buf, sizeof buf), ENOSYS);
        FAILS_WITH(fdbr_mkdir(b, 0700), ENOSYS);
        FAILS_WITH(fdbr_unlink(a), ENOSYS);
        FAILS_WITH(fdbr_rmdir(b), ENOSYS);
        FAILS_WITH(fdbr_rename(a, b, 0), ENOSYS);
        errno = 0;
        ck_assert_ptr_null(fdbr_status());
        ck_assert_int_eq(errno, ENOSYS);
        errno = 0;
        ck_assert_ptr_null(fdbr_grants());
        ck_assert_int_eq(errno, ENOSYS);
        /* OPEN is what an old broker serves. */
        int fd = fdbr_open(a, O_RDONLY | O_CLOEXEC, 0);
        ck_assert_int_ge(fd, 0);
        close(fd);

        /* Asynchronously, several on one connection: one probe is enough
         * for all. */
        fake_connect(&f);
        struct got g[3] = {};
        total_calls = 0;
        ck_assert_int_eq(fdbr_conn_readlink(f.conn, a, got_data, &g[0]), 0);
        ck_assert_int_eq(fdbr_conn_rename(f.conn, a, b, 0, got_plain, &g[1]), 0);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 2);
        run_until(f.base, 2);
        ck_assert_int_eq(fdbr_conn_stat(f.conn, a, 0, got_stat, &g[2]), 0);
        run_until(f.base, 3);
        ck_assert_int_eq(g[0].result, -ENOSYS);
        ck_assert_int_eq(g[1].result, -ENOSYS);
        ck_assert_int_eq(g[2].result, -ENOSYS);
        ck_assert_uint_eq(fdbr_conn_pending(f.conn), 0);
        fake_hang_up(&f);

        /* The command says so, as a refusal. */
        struct run r = run_cli(f.dir, NULL, (const char *const[]) { "stat", a, NULL });
        ck_assert_int_eq(r.status, 1);
        _cleanup_free_ char *msg = tu_strdupf("fdbroker: %s: %s\n", a, strerror(ENOSYS));
        ck_assert_str_eq(r.err, msg);
        run_free(&r);

        EXPECT_SENT_FIRST(&f,
                { FDBR_OP_STAT, 0, 0, a, NULL },
                { FDBR_OP_READLINK, 0, 0, a, NULL },
                { FDBR_OP_GRANTS, 0, 0, NULL, NULL });
        fake_kill(&f);
}
END_TEST

/* Replies with data the library must refuse; each ends the connection
 * with -EBADMSG, like any malformed reply. */
enum {
        BADDATA_STAT_SHORT,       /* a successful STAT with 255 bytes */
        BADDATA_STAT_NONE,        /* a successful STAT with none */
        BADDATA_LEN_MISMATCH,     /* data_len says 8, 7 bytes follow */
        BADDATA_LEN_BEYOND,       /* data_len 16, record of 24 bytes */
        BADDATA_READLINK_NUL,     /* a target with a NUL inside */
        BADDATA_READLINK_LONG,    /* a target of 4096 bytes */
        BADDATA_WITH_ERROR,       /* data with a non-zero status */
        BADDATA_UNLINK_DATA,      /* data for an op that has none */
        BADDATA_STATUS_LONG,      /* 65537 bytes of text */
        BADDATA_OTHER_OP,         /* a STAT reply to a READLINK */
        _BADDATA_MAX,
};

static void put_reply(uint8_t *buf, uint16_t op, uint32_t id, uint32_t status, uint32_t data_len) {
        uint16_t v = 1;

        memcpy(buf, "FDB1", 4);
        memcpy(buf + 4, &v, 2);
        memcpy(buf + 6, &op, 2);
        put32(buf + 8, id);
        put32(buf + 12, status);
        put32(buf + 16, 0);
        put32(buf + 20, data_len);
}

static void script_bad_data(int listen_fd) {
        static uint8_t buf[FDBR_WIRE_REPLY_MAX + 16];
        int fd = fake_accept(listen_fd);
        struct fake_req q;
        size_t len;

        fake_recv(fd, &q);
        uint32_t id = q.r.id;
        uint16_t op = q.r.op;
        memset(buf + 24, 'x', sizeof buf - 24);
        switch (fake_variant) {
        case BADDATA_STAT_SHORT:
                put_reply(buf, op, id, 0, 255);
                len = 24 + 255;
                break;
        case BADDATA_STAT_NONE:
                put_reply(buf, op, id, 0, 0);
                len = 24;
                break;
        case BADDATA_LEN_MISMATCH:
                put_reply(buf, op, id, 0, 8);
                len = 24 + 7;
                break;
        case BADDATA_LEN_BEYOND:
                put_reply(buf, op, id, 0, 16);
                len = 24;
                break;
        case BADDATA_READLINK_NUL:
                put_reply(buf, op, id, 0, 4);
                memcpy(buf + 24, "/a\0b", 4);
                len = 28;
                break;
        case BADDATA_READLINK_LONG:
                put_reply(buf, op, id, 0, 4096);
                len = 24 + 4096;
                break;
        case BADDATA_WITH_ERROR:
                put_reply(buf, op, id, ENOENT, 2);
                len = 26;
                break;
        case BADDATA_UNLINK_DATA:
                put_reply(buf, op, id, 0, 1);
                len = 25;
                break;
        case BADDATA_STATUS_LONG:
                put_reply(buf, op, id, 0, FDBR_WIRE_TEXT_MAX + 1);
                len = 24 + FDBR_WIRE_TEXT_MAX + 1;
                break;
        default:
                put_reply(buf, FDBR_OP_STAT, id, 0, 256);
                len = 24 + 256;
                break;
        }
        FAKE_ASSERT(fdpass_send(fd, buf, len, -1) == 0);
        fake_expect_eof(fd);
}

START_TEST(test_ops_bad_data) {
        struct fake f;
        fake_variant = _i;
        fake_start_connected(&f, script_bad_data);
        struct got g = {}, after = {};
        int r;

        total_calls = 0;
        switch (_i) {
        case BADDATA_STAT_SHORT:
        case BADDATA_STAT_NONE:
        case BADDATA_LEN_MISMATCH:
                r = fdbr_conn_stat(f.conn, "/x", 0, got_stat, &g);
                break;
        case BADDATA_UNLINK_DATA:
                r = fdbr_conn_unlink(f.conn, "/x", got_plain, &g);
                break;
        case BADDATA_STATUS_LONG:
                r = fdbr_conn_status(f.conn, got_data, &g);
                break;
        default:
                r = fdbr_conn_readlink(f.conn, "/x", got_data, &g);
                break;
        }
        ck_assert_int_eq(r, 0);
        run_until(f.base, 1);
        ck_assert_int_eq(g.calls, 1);
        ck_assert_int_eq(g.result, -EBADMSG);
        /* A broker that said something wrong is not asked again. */
        ck_assert_int_eq(fdbr_conn_grants(f.conn, got_data, &after), -ENOTCONN);
        fake_stop(&f);
}
END_TEST

START_TEST(test_cli_fsops) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *a = fake_file(&f, "a.txt", "0123456789");
        _cleanup_free_ char *link = tu_strdupf("%s/link", f.dir);
        _cleanup_free_ char *sub = tu_strdupf("%s/sub", f.dir);
        _cleanup_free_ char *sub2 = tu_strdupf("%s/sub2", f.dir);
        _cleanup_free_ char *b = tu_strdupf("%s/b.txt", f.dir);
        _cleanup_free_ char *denied = tu_strdupf("%s/status-%d", f.dir, EACCES);
        _cleanup_free_ char *denied_msg = tu_strdupf("fdbroker: %s: %s\n", denied, strerror(EACCES));
        ck_assert_int_eq(symlink("a.txt", link), 0);
        ck_assert_int_eq(chmod(a, 0640), 0);
        ck_assert_int_eq(chown(a, 1234, 5678), 0);
        struct timespec times[2] = { { .tv_sec = 1700000000 }, { .tv_sec = 1700000000 } };
        ck_assert_int_eq(utimensat(AT_FDCWD, a, times, 0), 0);
        struct run r;

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, f.sock, 1), 0);

        /* stat: one line a path, the failures named on stderr. */
        r = RUN(f.dir, NULL, "stat", a, denied, link);
        ck_assert_int_eq(r.status, 1);
        _cleanup_free_ char *stat_out = tu_strdupf("regular 0640 1234 5678 10 2023-11-14T22:13:20Z %s\n"
                                                   "regular 0640 1234 5678 10 2023-11-14T22:13:20Z %s\n",
                                                   a, link);
        ck_assert_str_eq(r.out, stat_out);
        ck_assert_str_eq(r.err, denied_msg);
        run_free(&r);

        r = RUN(f.dir, NULL, "stat", "--no-follow", link);
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "symlink 0777 0 0 5 "));
        run_free(&r);

        r = RUN(f.dir, NULL, "readlink", link);
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.out, "a.txt\n");
        run_free(&r);
        r = RUN(f.dir, NULL, "readlink", a);
        ck_assert_int_eq(r.status, 1);
        _cleanup_free_ char *einval_msg = tu_strdupf("fdbroker: %s: %s\n", a, strerror(EINVAL));
        ck_assert_str_eq(r.err, einval_msg);
        run_free(&r);

        r = RUN(f.dir, NULL, "mkdir", "--mode", "700", sub, sub2);
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.err, "");
        run_free(&r);
        struct stat st;
        ck_assert_int_eq(stat(sub, &st), 0);
        ck_assert(S_ISDIR(st.st_mode));
        ck_assert_int_eq(st.st_mode & 0777, 0700);
        r = RUN(f.dir, NULL, "mkdir", sub);
        ck_assert_int_eq(r.status, 1);
        run_free(&r);

        /* ls: sorted names; -l: a stat line each, links as themselves. */
        r = RUN(f.dir, NULL, "ls", f.dir);
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.out, ".stderr\n.stdin\n.stdout\na.txt\nlink\nsock\nsub\nsub2\n");
        run_free(&r);
        r = RUN(f.dir, NULL, "ls", "-l", f.dir);
        ck_assert_int_eq(r.status, 0);
        ck_assert_ptr_nonnull(strstr(r.out, "\nregular 0640 1234 5678 10 2023-11-14T22:13:20Z a.txt\nsymlink 0777 0 0 5 "));
        ck_assert_ptr_nonnull(strstr(r.out, " link\nsocket "));
        ck_assert_ptr_nonnull(strstr(r.out, "\ndirectory 0700 0 0 "));
        ck_assert_str_eq(r.err, "");
        run_free(&r);
        r = RUN(f.dir, NULL, "ls", a);
        ck_assert_int_eq(r.status, 1);
        _cleanup_free_ char *notdir_msg = tu_strdupf("fdbroker: %s: %s\n", a, strerror(ENOTDIR));
        ck_assert_str_eq(r.err, notdir_msg);
        run_free(&r);

        r = RUN(f.dir, NULL, "mv", a, b);
        ck_assert_int_eq(r.status, 0);
        run_free(&r);
        ck_assert_int_eq(access(b, F_OK), 0);
        r = RUN(f.dir, NULL, "mv", "--no-clobber", b, link);
        ck_assert_int_eq(r.status, 1);
        _cleanup_free_ char *eexist_msg = tu_strdupf("fdbroker: %s: %s\n", b, strerror(EEXIST));
        ck_assert_str_eq(r.err, eexist_msg);
        run_free(&r);
        ck_assert_int_eq(access(b, F_OK), 0);

        r = RUN(f.dir, NULL, "rm", link, b, denied);
        ck_assert_int_eq(r.status, 1);
        ck_assert_str_eq(r.err, denied_msg);
        run_free(&r);
        ck_assert_int_eq(access(b, F_OK), -1);
        r = RUN(f.dir, NULL, "rmdir", sub, sub2);
        ck_assert_int_eq(r.status, 0);
        run_free(&r);
        ck_assert_int_eq(access(sub, F_OK), -1);

        r = RUN(f.dir, NULL, "status");
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.out, "clients=1\nrequests=7\n");
        run_free(&r);

        static const char *const bad[][9] = {
                { "stat" },
                { "stat", "--bogus", "/a" },
                { "ls" },
                { "ls", "/a", "/b" },
                { "readlink" },
                { "readlink", "/a", "/b" },
                { "mkdir" },
                { "mkdir", "--mode", "1777", "/a" },
                { "mkdir", "--mode", "rwx", "/a" },
                { "mkdir", "--mode", "-1", "/a" },
                { "rm" },
                { "rmdir" },
                { "mv", "/a" },
                { "mv", "/a", "/b", "/c" },
                { "status", "/a" },
                { "exec", "--mode", "600", "--write", "/a", "--", "true" },
                { "exec", "--create", "--mode", "999", "--write", "/a", "--", "true" },
        };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                const char *args[10] = {};
                for (size_t j = 0; j < ELEMENTSOF(bad[i]) && bad[i][j]; j++)
                        args[j] = bad[i][j];
                r = run_cli(f.dir, NULL, args);
                ck_assert_msg(r.status == 2, "case %zu: status %d", i, r.status);
                ck_assert_msg(strstr(r.err, "fdbroker: ") == r.err, "case %zu: %s", i, r.err);
                run_free(&r);
        }

        /* --help names every command. */
        r = RUN(f.dir, NULL, "--help");
        static const char *const names[] = { "stat [--no-follow]", "ls [-l]", "readlink", "mkdir [--mode",
                                             "rm PATH", "rmdir", "mv [--no-clobber]", "status", "--append",
                                             "--rw", "--create" };
        for (size_t i = 0; i < ELEMENTSOF(names); i++)
                ck_assert_msg(strstr(r.out, names[i]), "%s", names[i]);
        run_free(&r);
        fake_kill(&f);
}
END_TEST

/* exec opens as the shell redirects: > truncates, >> appends, <> reads and
 * writes, --create with the mode asked. */
START_TEST(test_cli_exec_modes) {
        struct fake f;
        fake_start(&f, script_serve);
        _cleanup_free_ char *in = fake_file(&f, "in.txt", "b\na\n");
        _cleanup_free_ char *out = fake_file(&f, "out.txt", "stale stale stale\n");
        _cleanup_free_ char *log = fake_file(&f, "log.txt", "one\n");
        _cleanup_free_ char *rw = fake_file(&f, "rw.txt", "abcdef");
        _cleanup_free_ char *made = tu_strdupf("%s/made.txt", f.dir);
        struct run r;

        ck_assert_int_eq(setenv(FDBR_SOCKET_ENV, f.sock, 1), 0);

        /* The fdbroker(1) example: no stale bytes after a shorter output. */
        r = RUN(f.dir, NULL, "exec", "--read", in, "--write", out, "--append", log, "--rw", rw, "--",
                "sh", "-c", "sort <&3 >&4; echo two >&5; printf XY >&6");
        ck_assert_int_eq(r.status, 0);
        ck_assert_str_eq(r.err, "");
        run_free(&r);
        _cleanup_free_ char *c_out = slurp(out);
        ck_assert_str_eq(c_out, "a\nb\n");
        _cleanup_free_ char *c_log = slurp(log);
        ck_assert_str_eq(c_log, "one\ntwo\n");
        _cleanup_free_ char *c_rw = slurp(rw);
        ck_assert_str_eq(c_rw, "XYcdef");

        /* Without --create a missing file is refused; with it, made with
         * the mode asked. */
        r = RUN(f.dir, NULL, "exec", "--write", made, "--", "true");
        ck_assert_int_eq(r.status, 1);
        run_free(&r);
        r = RUN(f.dir, NULL, "exec", "--create", "--mode", "600", "--write", made, "--", "sh", "-c", "echo m >&3");
        ck_assert_int_eq(r.status, 0);
        run_free(&r);
        struct stat st;
        ck_assert_int_eq(stat(made, &st), 0);
        ck_assert_int_eq(st.st_mode & 0777, 0600);

        /* The flags on the wire: READ, WRITE|TRUNC, WRITE|APPEND,
         * READ|WRITE; CREATE and the mode only with --create. */
        EXPECT_SENT(&f,
                { FDBR_OP_OPEN, 0x01, 0, in, NULL },
                { FDBR_OP_OPEN, 0x12, 0, out, NULL },
                { FDBR_OP_OPEN, 0x22, 0, log, NULL },
                { FDBR_OP_OPEN, 0x03, 0, rw, NULL },
                { FDBR_OP_OPEN, 0x12, 0, made, NULL },
                { FDBR_OP_OPEN, 0x16, 0600, made, NULL });
        fake_kill(&f);
}
END_TEST

static Suite *client_suite(void) {
        Suite *s = suite_create("client");
        TCase *tc;

        tc = tcase_create("conn");
        tcase_add_test(tc, test_open_success);
        tcase_add_test(tc, test_status_errors);
        tcase_add_test(tc, test_out_of_order);
        tcase_add_test(tc, test_many_in_flight);
        tcase_add_test(tc, test_timeout_late_reply);
        tcase_add_test(tc, test_timeout_no_reply);
        tcase_add_test(tc, test_broker_gone);
        tcase_add_test(tc, test_send_after_hang_up);
        tcase_add_loop_test(tc, test_malformed_reply, 0, _BAD_MAX);
        tcase_add_test(tc, test_free_with_pending);
        tcase_add_test(tc, test_callback_frees_conn);
        tcase_add_test(tc, test_callback_frees_conn_while_failing);
        tcase_add_test(tc, test_callback_frees_conn_on_timeout);
        tcase_add_test(tc, test_callback_submits);
        tcase_add_test(tc, test_bad_arguments);
        suite_add_tcase(s, tc);

        tc = tcase_create("ops");
        tcase_add_test(tc, test_ops_async);
        tcase_add_test(tc, test_ops_blocking);
        tcase_add_test(tc, test_ops_old_broker);
        tcase_add_loop_test(tc, test_ops_bad_data, 0, _BADDATA_MAX);
        suite_add_tcase(s, tc);

        tc = tcase_create("flags");
        tcase_add_test(tc, test_flags_table);
        tcase_add_test(tc, test_flags_on_the_wire);
        tcase_add_test(tc, test_local_fd_flags);
        suite_add_tcase(s, tc);

        tc = tcase_create("blocking");
        tcase_add_test(tc, test_connect_errors);
        tcase_add_test(tc, test_socket_path);
        tcase_add_test(tc, test_blocking);
        suite_add_tcase(s, tc);

        tc = tcase_create("library");
        tcase_add_test(tc, test_exports);
        tcase_add_test(tc, test_pending_table);
        suite_add_tcase(s, tc);

        tc = tcase_create("cli");
        tcase_add_test(tc, test_cli_usage);
        tcase_add_test(tc, test_cli_unreachable);
        tcase_add_test(tc, test_cli_commands);
        tcase_add_test(tc, test_cli_exec);
        tcase_add_test(tc, test_cli_fsops);
        tcase_add_test(tc, test_cli_exec_modes);
        suite_add_tcase(s, tc);

        return s;
}

int main(void) {
        return tu_run_suite(client_suite());
}
