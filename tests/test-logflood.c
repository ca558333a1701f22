/* SPDX-License-Identifier: MIT */
/* Log forging and log flooding against a real fdbrokerd: an unprivileged
 * client that is refused in a loop with the longest paths the protocol
 * allows must not be able to fill the disk through the broker's log (a
 * budget of lines per account, what was held back summed up, the counters
 * in STATUS= still exact), and a path with a newline in it must never
 * start a line of its own in the log, neither in a denial nor in the
 * warning about a request still blocked in a filesystem that does not
 * answer (a FUSE filesystem of the tests' own, tests/fuse/hangfs.c). */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "macro.h"
#include "testutil.h"

static const char policy_text[] =
        "any @DIR@/data/** read\n"
        "any @DIR@/fuse/** read\n";

/* A line the attacker would like the log to hold. */
#define FORGED "fdbrokerd: allow uid=0 gid=0 pid=1 unit=- op=OPEN path=\"/etc/shadow\" flags=READ rule=- status=0"

/* Many thousands of denials; on a log without budget, each writes its
 * path escaped to 16 KiB. */
#define FLOOD 5000
#define LOG_BOUND (1024 * 1024)

static struct tu_daemon D;

static bool line_starts_with(const char *log, const char *prefix) {
        size_t plen = strlen(prefix);
        for (const char *l = log; l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : NULL)
                if (strncmp(l, prefix, plen) == 0)
                        return true;
        return false;
}

static off_t log_size(void) {
        struct stat st;
        ck_assert_int_eq(stat(D.log, &st), 0);
        return st.st_size;
}

/* A path no rule allows, of exactly len bytes, ending in bytes that each
 * escape to four. */
static char *denied_path(const char *head, size_t len) {
        char *p = malloc(len + 1);
        ck_assert_ptr_nonnull(p);
        int n = snprintf(p, len + 1, "%s/denied/%s/", D.dir, head);
        ck_assert_int_lt(n, (int) len);
        memset(p + n, 0x01, len - (size_t) n);
        p[len] = 0;
        return p;
}

/* The daemon's count of denials as STATUS= reports it; asked for with a
 * reload, which sends it at once. */
static unsigned long long status_denied(void) {
        char buf[4096];
        ck_assert_int_eq(kill(D.pid, SIGHUP), 0);
        long long end = tu_now_ms() + 10000;
        for (;;) {
                ck_assert_msg(tu_now_ms() < end, "no STATUS= after SIGHUP");
                int n = tu_daemon_notify(&D, buf, sizeof buf - 1, 1000);
                if (n < 0)
                        continue;
                buf[n] = 0;
                const char *s = strstr(buf, "STATUS=");
                const char *d = s ? strstr(s, " denied") : NULL;
                if (!strstr(buf, "READY=1") || !d)
                        continue;
                while (d > s && d[-1] >= '0' && d[-1] <= '9')
                        d--;
                return strtoull(d, NULL, 10);
        }
}

struct flood {
        const char *socket;
        const char *path;     /* denied, FDBR_WIRE_PATH_MAX bytes */
        const char *forged;   /* denied, with a forged line in it */
        unsigned count;
};

static int flood_client(void *arg) {
        const struct flood *f = arg;
        int fd = tu_connect(f->socket);
        TU_REQUIRE(fd >= 0, "connect: %s", strerror(-fd));
        int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, f->forged, NULL);
        TU_REQUIRE(st == EACCES, "forged path: status %d", st);
        for (unsigned i = 0; i < f->count; i++) {
                st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, f->path, NULL);
                TU_REQUIRE(st == EACCES, "request %u: status %d", i, st);
        }
        close(fd);
        return 0;
}

START_TEST(denial_flood) {
        tu_daemon_start(&D, policy_text, NULL);
        unsigned long long denied0 = status_denied();

        char *path = denied_path("flood", FDBR_WIRE_PATH_MAX);
        char *forged = tu_strdupf("%s/denied/x\n" FORGED, D.dir);
        struct flood f = { .socket = D.socket, .path = path, .forged = forged, .count = FLOOD };
        tu_run_as(TU_NOBODY, TU_NOBODY, flood_client, &f);
        unsigned long long sent = FLOOD + 1;

        off_t size = log_size();
        if (size >= LOG_BOUND) {
                /* stopped first: the scratch directory and its log go */
                tu_daemon_stop(&D);
                ck_abort_msg("%llu denials wrote %lld bytes of log", sent, (long long) size);
        }

        /* What was held back is told once the account may log again: a
         * tenth of a second per line at most. */
        long long end = tu_now_ms() + 10000;
        f.count = 0;
        while (!tu_log_has(&D, "uid 65534: ", " similar denials suppressed", NULL)) {
                ck_assert_msg(tu_now_ms() < end, "no summary of the denials held back");
                usleep(50 * 1000);
                tu_run_as(TU_NOBODY, TU_NOBODY, flood_client, &f);
                sent++;
        }

        size = log_size();
        char *log = tu_daemon_log(&D);
        ck_assert_msg(size < LOG_BOUND, "%llu denials wrote %lld bytes of log", sent, (long long) size);
        ck_assert_msg(!line_starts_with(log, FORGED), "a path forged a log line");
        /* the long path is in it, capped, with its length */
        ck_assert_ptr_nonnull(strstr(log, "\\x01\\x01\"...(4095 bytes)"));
        /* only lines are held back, not counts */
        ck_assert_uint_eq(status_denied() - denied0, sent);
        free(log);
        free(path);
        free(forged);
        tu_daemon_stop(&D);
}
END_TEST

/* ---- the journal --------------------------------------------------------- */

/* The value of a text field in a journal datagram, or NULL if the datagram
 * has none (a binary field does not count). */
static char *journal_field(const char *buf, size_t len, const char *name) {
        char *key = tu_strdupf("\n%s=", name);
        const char *k = memmem(buf, len, key, strlen(key));
        size_t klen = strlen(key);
        free(key);
        if (!k)
                return NULL;
        const char *v = k + klen, *e = memchr(v, '\n', len - (size_t) (v - buf));
        ck_assert_ptr_nonnull(e);
        return strndup(v, (size_t) (e - v));
}

/* Takes the records as they come: the daemon's sends block once a few
 * are queued. */
struct journal {
        int fd;
        atomic_bool stop;
        unsigned n;
        char *rec[256];
        size_t len[256];
};

static void *journal_reader(void *arg) {
        struct journal *j = arg;
        static char buf[1 << 17];
        for (;;) {
                struct pollfd p = { .fd = j->fd, .events = POLLIN };
                bool stop = atomic_load(&j->stop);
                if (poll(&p, 1, stop ? 0 : 50) == 0) {
                        if (stop)
                                return NULL;
                        continue;
                }
                ssize_t len = recv(j->fd, buf, sizeof buf, MSG_DONTWAIT);
                if (len <= 0 || !memmem(buf, (size_t) len, "FDBROKER_VERDICT=deny\n", 22))
                        continue;
                if (j->n < ELEMENTSOF(j->rec)) {
                        j->rec[j->n] = malloc((size_t) len);
                        memcpy(j->rec[j->n], buf, (size_t) len);
                        j->len[j->n] = (size_t) len;
                }
                j->n++;
        }
}

/* Plays journald in a private mount namespace (as test-daemon-policy
 * does): the records arrive on a socket of the test's own.  A flood of
 * denials with a long path full of newlines: the journal gets the budget
 * only, each with the path escaped and capped, whole escapes only, and the
 * real length. */
START_TEST(journal_capped_and_budgeted) {
        int j = tu_daemon_start_journal(&D, "any /nothing/** read\n", 4 << 20);
        int s = tu_connect(D.socket);
        ck_assert_int_ge(s, 0);
        close(s);

        /* 4,095 bytes, nearly all newlines: 8 KiB escaped */
        char *path = malloc(FDBR_WIRE_PATH_MAX + 1);
        ck_assert_ptr_nonnull(path);
        int n = snprintf(path, FDBR_WIRE_PATH_MAX + 1, "/elsewhere/x/");
        memset(path + n, '\n', FDBR_WIRE_PATH_MAX - (size_t) n);
        path[FDBR_WIRE_PATH_MAX] = 0;
        char *forged = strdup("/elsewhere/y\n" FORGED);
        enum { COUNT = 100 };
        struct flood f = { .socket = D.socket, .path = path, .forged = forged, .count = COUNT };
        struct journal jr = { .fd = j };
        pthread_t t;
        ck_assert_int_eq(pthread_create(&t, NULL, journal_reader, &jr), 0);
        tu_run_as(TU_NOBODY, TU_NOBODY, flood_client, &f);
        /* Each record is sent before its reply: all are queued by now. */
        atomic_store(&jr.stop, true);
        ck_assert_int_eq(pthread_join(t, NULL), 0);

        unsigned denials = jr.n, long_ones = 0;
        for (unsigned i = 0; i < denials && i < ELEMENTSOF(jr.rec); i++) {
                const char *buf = jr.rec[i];
                size_t len = jr.len[i];
                char *p = journal_field(buf, len, "FDBROKER_PATH");
                char *bytes = journal_field(buf, len, "FDBROKER_PATH_BYTES");
                char *msg = journal_field(buf, len, "MESSAGE");
                ck_assert_msg(p && bytes && msg, "a record without a text path, its length or message");
                ck_assert_msg(strncmp(msg, FORGED, strlen(FORGED)) != 0, "a forged message");
                if (strcmp(bytes, "4095") == 0) {
                        long_ones++;
                        ck_assert_uint_le(strlen(p), 512);
                        ck_assert_uint_ge(strlen(p), 500);
                        ck_assert_str_eq(p + strlen(p) - 4, "\\n\\n");
                        ck_assert_ptr_nonnull(strstr(msg, "\\n\\n\"...(4095 bytes) flags=READ"));
                } else
                        ck_assert_str_eq(p, "/elsewhere/y\\n" "fdbrokerd: allow uid=0 gid=0 pid=1 unit=- op=OPEN "
                                            "path=\\\"/etc/shadow\\\" flags=READ rule=- status=0");
                free(p);
                free(bytes);
                free(msg);
                free(jr.rec[i]);
        }
        ck_assert_msg(denials == 20, "%u of %u denials reached the journal", denials, COUNT + 1);
        ck_assert_uint_eq(long_ones, denials - 1);
        close(j);
        free(path);
        free(forged);
        tu_daemon_stop(&D);
}
END_TEST

/* ---- a request still blocked in a filesystem ---------------------------- */

static pid_t fuse_pid = -1;
static char *fuse_release_file;

/* hangfs on mnt, which must exist; returns once it is mounted. */
static void fuse_mount(const char *mnt) {
        struct stat a, b;
        char *events = tu_strdupf("--log=%s/fuse-events", D.dir);
        char *err = tu_strdupf("%s/fuse-stderr", D.dir);
        fuse_release_file = tu_strdupf("%s/fuse-release", D.dir);
        char *release = tu_strdupf("--release=%s", fuse_release_file);
        pid_t parent = getpid();

        fuse_pid = fork();
        ck_assert_int_ge(fuse_pid, 0);
        if (fuse_pid == 0) {
                if (prctl(PR_SET_PDEATHSIG, SIGTERM) < 0 || getppid() != parent)
                        _exit(122);
                int fd = open(err, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
                if (fd < 0 || dup2(fd, STDERR_FILENO) < 0 || dup2(fd, STDOUT_FILENO) < 0)
                        _exit(120);
                execl(FDBR_HANGFS_PATH, "hangfs", events, release, mnt, "-f", "-o",
                      "fsname=fdbr-hangfs,subtype=hangfs", (char *) NULL);
                _exit(121);
        }
        free(events);
        free(err);
        free(release);

        ck_assert_int_eq(stat(D.dir, &a), 0);
        long long end = tu_now_ms() + 10000;
        for (;;) {
                if (stat(mnt, &b) == 0 && b.st_dev != a.st_dev)
                        break;
                int status = 0;
                ck_assert_msg(waitpid(fuse_pid, &status, WNOHANG) == 0, "hangfs exited (status 0x%x)", status);
                ck_assert_msg(tu_now_ms() < end, "hangfs did not mount within 10 s");
                usleep(10000);
        }
}

static void fuse_unmount(const char *mnt) {
        tu_write_file(fuse_release_file, "", 0644, 0, 0);
        kill(fuse_pid, SIGTERM);
        ck_assert(WIFSIGNALED(tu_wait(fuse_pid, 10000)) || true);
        (void) umount2(mnt, MNT_DETACH);
        free(fuse_release_file);
        fuse_pid = -1;
}

struct blocked {
        const char *socket;
        const char *path;
};

static int blocked_client(void *arg) {
        const struct blocked *b = arg;
        int fd = tu_connect(b->socket);
        TU_REQUIRE(fd >= 0, "connect: %s", strerror(-fd));
        int st = tu_request(fd, FDBR_OP_OPEN, FDBR_F_READ, 0, b->path, NULL);
        TU_REQUIRE(st == ETIMEDOUT, "status %d (%s)", st, strerror(st));
        close(fd);
        return 0;
}

/* The directory the filesystem is mounted on has a newline and a whole
 * forged line in its name; the open of a file on it never answers, so the
 * daemon warns that the request is still blocked, naming the path. */
START_TEST(blocked_path_cannot_forge) {
        static const char *const args[] = { "--open-timeout", "300", NULL };
        tu_private_mounts();
        tu_daemon_start(&D, policy_text, args);

        /* mkdir -p, the forged text's slashes making directories */
        char *mnt = tu_strdupf("%s/fuse/x\n" FORGED, D.dir);
        for (char *s = strchr(mnt + strlen(D.dir) + 1, '/'); s; s = strchr(s + 1, '/')) {
                *s = 0;
                tu_mkdir(mnt, 0755, 0, 0);
                *s = '/';
        }
        tu_mkdir(mnt, 0755, 0, 0);
        fuse_mount(mnt);

        struct blocked b = { .socket = D.socket, .path = tu_strdupf("%s/hang-open", mnt) };
        tu_run_as(TU_NOBODY, TU_NOBODY, blocked_client, &b);

        long long end = tu_now_ms() + 10000;
        while (!tu_log_has(&D, "still blocked after the open timeout", NULL)) {
                ck_assert_msg(tu_now_ms() < end, "no warning about the blocked request");
                usleep(10000);
        }
        char *log = tu_daemon_log(&D);
        ck_assert_msg(!line_starts_with(log, FORGED), "a path forged a log line:\n%s", log);
        ck_assert_msg(tu_log_has(&D, "still blocked", "/fuse/x\\n" "fdbrokerd: allow uid=0", NULL),
                      "the warning does not name the path escaped:\n%s", log);
        free(log);

        fuse_unmount(mnt);
        free((char *) b.path);
        free(mnt);
        tu_daemon_stop(&D);
}
END_TEST

int main(void) {
        tu_require_fuse();
        Suite *s = suite_create("logflood");
        TCase *tc = tcase_create("log");
        tcase_set_timeout(tc, 120);
        tcase_add_test(tc, denial_flood);
        tcase_add_test(tc, journal_capped_and_budgeted);
        tcase_add_test(tc, blocked_path_cannot_forge);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
