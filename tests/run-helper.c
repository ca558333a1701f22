/* SPDX-License-Identifier: MIT */
/* What test-run runs as CMD under `fdbroker run`, built twice: linked
 * dynamically and, where the toolchain can, statically.  Each mode prints
 * what it found and exits 0 when it saw what the test expects, 1 when not,
 * 2 on a usage error.  It uses no test library: it must run as CMD does. */
#include <errno.h>
#include <fcntl.h>
#include <linux/io_uring.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#define FAIL(...)                                     \
        do {                                          \
                fprintf(stderr, "run-helper: " __VA_ARGS__); \
                fputc('\n', stderr);                  \
                exit(1);                              \
        } while (0)

/* Reads fd whole into buf (NUL-terminated); closes it. */
static int slurp(int fd, char *buf, size_t size) {
        size_t n = 0;
        ssize_t k;
        while (n < size - 1 && (k = read(fd, buf + n, size - 1 - n)) > 0)
                n += (size_t) k;
        buf[n] = 0;
        close(fd);
        return (int) n;
}

/* cat PATH: the file, or "ERRNO <name>" and exit 1. */
static int mode_cat(const char *path) {
        char buf[4096];
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0) {
                printf("ERRNO %s\n", strerrorname_np(errno));
                return 1;
        }
        slurp(fd, buf, sizeof buf);
        fputs(buf, stdout);
        return 0;
}

/* ---- 8 threads opening at once ------------------------------------------ */

struct threads_arg {
        const char *path, *want;
        int iterations;
        atomic_int *bad;
};

static void *threads_one(void *p) {
        struct threads_arg *a = p;
        char buf[256];

        for (int i = 0; i < a->iterations; i++) {
                int fd = open(a->path, O_RDONLY | O_CLOEXEC);
                if (fd < 0 || (slurp(fd, buf, sizeof buf), strcmp(buf, a->want) != 0))
                        atomic_fetch_add(a->bad, 1);
        }
        return NULL;
}

static int mode_threads(const char *path, const char *want, int iterations) {
        pthread_t t[8];
        atomic_int bad = 0;
        struct threads_arg a = { path, want, iterations, &bad };

        for (int i = 0; i < 8; i++)
                if (pthread_create(&t[i], NULL, threads_one, &a) != 0)
                        FAIL("pthread_create");
        for (int i = 0; i < 8; i++)
                pthread_join(t[i], NULL);
        printf("bad %d of %d\n", atomic_load(&bad), 8 * iterations);
        return atomic_load(&bad) == 0 ? 0 : 1;
}

/* ---- property 7: a path that changes while it is read ------------------- */

static char race_buf[4096];
static const char *race_a, *race_b;
static atomic_bool race_stop;

static void *race_flipper(void *p) {
        size_t la = strlen(race_a) + 1, lb = strlen(race_b) + 1;
        while (!atomic_load_explicit(&race_stop, memory_order_relaxed)) {
                /* Byte by byte, so that the supervisor may also see
                 * mixtures of both. */
                for (size_t i = 0; i < lb; i++)
                        ((volatile char *) race_buf)[i] = race_b[i];
                for (size_t i = 0; i < la; i++)
                        ((volatile char *) race_buf)[i] = race_a[i];
        }
        return NULL;
}

/* race ALLOWED WANT OTHER N: opens a buffer that flips between ALLOWED and
 * OTHER; every read must be WANT (the broker's answer for ALLOWED) or fail:
 * OTHER is a file neither CMD nor the policy may read. */
static int mode_race(const char *allowed, const char *want, const char *other, int n) {
        pthread_t t;
        char buf[256];
        int good = 0, failed = 0;

        race_a = allowed;
        race_b = other;
        memcpy(race_buf, allowed, strlen(allowed) + 1);
        if (pthread_create(&t, NULL, race_flipper, NULL) != 0)
                FAIL("pthread_create");
        for (int i = 0; i < n; i++) {
                int fd = open(race_buf, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        failed++;
                        continue;
                }
                slurp(fd, buf, sizeof buf);
                if (strcmp(buf, want) != 0) {
                        atomic_store(&race_stop, true);
                        pthread_join(t, NULL);
                        printf("LEAK '%s'\n", buf);
                        return 1;
                }
                good++;
        }
        atomic_store(&race_stop, true);
        pthread_join(t, NULL);
        printf("good %d failed %d\n", good, failed);
        return good > 0 ? 0 : 1;
}

/* ---- property 7: a dirfd number that changes under the call ------------- */

static atomic_int dfd_stop;
static int dfd_num, dfd_a, dfd_b;

static void *dfd_flipper(void *p) {
        while (!atomic_load_explicit(&dfd_stop, memory_order_relaxed)) {
                dup2(dfd_b, dfd_num);
                dup2(dfd_a, dfd_num);
                close(dfd_num);
                dup2(dfd_a, dfd_num);
        }
        return NULL;
}

/* dirfd DIR_A WANT_A DIR_B WANT_B NAME N: openat(fd, NAME) where fd flips
 * between DIR_A (from the broker) and DIR_B (CMD's own), or is closed; each
 * read is one of the two answers. */
static int mode_dirfd(const char *a, const char *want_a, const char *b, const char *want_b, const char *name,
                      int n) {
        pthread_t t;
        char buf[256];
        int seen_a = 0, seen_b = 0;

        dfd_a = open(a, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        dfd_b = open(b, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dfd_a < 0 || dfd_b < 0)
                FAIL("open dirs: %s", strerror(errno));
        dfd_num = 100;
        dup2(dfd_a, dfd_num);
        if (pthread_create(&t, NULL, dfd_flipper, NULL) != 0)
                FAIL("pthread_create");
        for (int i = 0; i < n; i++) {
                int fd = openat(dfd_num, name, O_RDONLY | O_CLOEXEC);
                if (fd < 0)
                        continue;
                slurp(fd, buf, sizeof buf);
                if (strcmp(buf, want_a) == 0)
                        seen_a++;
                else if (strcmp(buf, want_b) == 0)
                        seen_b++;
                else {
                        atomic_store(&dfd_stop, 1);
                        pthread_join(t, NULL);
                        printf("LEAK '%s'\n", buf);
                        return 1;
                }
        }
        atomic_store(&dfd_stop, 1);
        pthread_join(t, NULL);
        printf("a %d b %d\n", seen_a, seen_b);
        return 0;
}

/* ---- CMD's children killed in the middle of calls ----------------------- */

static int mode_forkkill(const char *path, const char *want, int rounds) {
        char buf[256];

        for (int i = 0; i < rounds; i++) {
                int p[2];
                if (pipe(p) < 0)
                        FAIL("pipe");
                pid_t pid = fork();
                if (pid < 0)
                        FAIL("fork");
                if (pid == 0) {
                        close(p[0]);
                        for (int k = 0;; k++) {
                                int fd = open(path, O_RDONLY);
                                if (fd >= 0)
                                        close(fd);
                                if (k == 3)
                                        (void) !write(p[1], "x", 1);
                        }
                }
                close(p[1]);
                /* Killed once it is known to be busy with its calls. */
                (void) !read(p[0], buf, 1);
                close(p[0]);
                kill(pid, SIGKILL);
                waitpid(pid, NULL, 0);
        }
        int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                FAIL("open after the kills: %s", strerror(errno));
        slurp(fd, buf, sizeof buf);
        if (strcmp(buf, want) != 0)
                FAIL("read '%s'", buf);
        printf("ok\n");
        return 0;
}

/* ---- relative paths, dirfds, /proc, io_uring, creation ------------------ */

static int expect(const char *what, int fd, const char *want) {
        char buf[256];
        if (fd < 0)
                FAIL("%s: %s", what, strerror(errno));
        slurp(fd, buf, sizeof buf);
        if (strcmp(buf, want) != 0)
                FAIL("%s: read '%s'", what, buf);
        return 0;
}

/* relative DIR NAME SUB WANT: opens DIR/NAME as NAME after chdir(DIR), as
 * SUB/../NAME and ./NAME, and with openat on a descriptor of DIR. */
static int mode_relative(const char *dir, const char *name, const char *sub, const char *want) {
        char p[512];

        if (chdir(dir) < 0)
                FAIL("chdir: %s", strerror(errno));
        expect("NAME", open(name, O_RDONLY), want);
        snprintf(p, sizeof p, "%s/../%s", sub, name);
        expect("SUB/../NAME", open(p, O_RDONLY), want);
        snprintf(p, sizeof p, "./%s", name);
        expect("./NAME", openat(AT_FDCWD, p, O_RDONLY), want);
        int d = open(dir, O_RDONLY | O_DIRECTORY);
        if (d < 0)
                FAIL("open DIR: %s", strerror(errno));
        expect("openat(DIR, NAME)", openat(d, name, O_RDONLY), want);
        snprintf(p, sizeof p, "%s/./../%s", sub, name);
        expect("openat(DIR, SUB/./../NAME)", openat(d, p, O_RDONLY), want);
        /* The descriptor the broker's file came in on is CMD's to use and
         * has O_CLOEXEC exactly when asked for. */
        int fd = openat(d, name, O_RDONLY | O_CLOEXEC), fd2 = openat(d, name, O_RDONLY);
        if (fd < 0 || fd2 < 0 || !(fcntl(fd, F_GETFD) & FD_CLOEXEC) || (fcntl(fd2, F_GETFD) & FD_CLOEXEC))
                FAIL("O_CLOEXEC not as asked");
        printf("ok\n");
        return 0;
}

static int mode_proc(void) {
        char buf[4096];
        int fd = open("/proc/self/status", O_RDONLY);
        if (fd < 0)
                FAIL("/proc/self/status: %s", strerror(errno));
        slurp(fd, buf, sizeof buf);
        if (!strstr(buf, "Seccomp:\t2"))
                FAIL("not under a filter");
        ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
        if (n <= 0)
                FAIL("/proc/self/exe: %s", strerror(errno));
        fd = open("/proc/self/fd/..", O_RDONLY | O_DIRECTORY);
        if (fd < 0)
                FAIL("/proc/self/fd/..: %s", strerror(errno));
        printf("ok\n");
        return 0;
}

static int mode_iouring(void) {
        struct io_uring_params params;
        memset(&params, 0, sizeof params);
        long r = syscall(SYS_io_uring_setup, 4, &params);
        if (r >= 0 || errno != ENOSYS)
                FAIL("io_uring_setup: %ld %s", r, strerror(errno));
        printf("ok\n");
        return 0;
}

/* create PATH: O_CREAT|O_EXCL and write, then read back. */
static int mode_create(const char *path) {
        int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0640);
        if (fd < 0) {
                printf("ERRNO %s\n", strerrorname_np(errno));
                return 1;
        }
        if (write(fd, "made\n", 5) != 5)
                FAIL("write");
        close(fd);
        expect("read back", open(path, O_RDONLY), "made\n");
        printf("ok\n");
        return 0;
}

/* chmod PATH MODE: chmod(), then the mode as stat() sees it. */
static int mode_chmod(const char *path, const char *mode) {
        struct stat st;
        if (chmod(path, (mode_t) strtoul(mode, NULL, 8)) < 0) {
                printf("ERRNO %s\n", strerrorname_np(errno));
                return 1;
        }
        if (stat(path, &st) < 0)
                FAIL("stat %s: %s", path, strerror(errno));
        printf("%04o\n", (unsigned) (st.st_mode & 07777));
        return 0;
}

int main(int argc, char **argv) {
        setvbuf(stdout, NULL, _IONBF, 0);
        if (argc < 2)
                return 2;
        const char *m = argv[1];
        if (strcmp(m, "cat") == 0 && argc == 3)
                return mode_cat(argv[2]);
        if (strcmp(m, "threads") == 0 && argc == 5)
                return mode_threads(argv[2], argv[3], atoi(argv[4]));
        if (strcmp(m, "race") == 0 && argc == 6)
                return mode_race(argv[2], argv[3], argv[4], atoi(argv[5]));
        if (strcmp(m, "dirfd") == 0 && argc == 8)
                return mode_dirfd(argv[2], argv[3], argv[4], argv[5], argv[6], atoi(argv[7]));
        if (strcmp(m, "forkkill") == 0 && argc == 5)
                return mode_forkkill(argv[2], argv[3], atoi(argv[4]));
        if (strcmp(m, "relative") == 0 && argc == 6)
                return mode_relative(argv[2], argv[3], argv[4], argv[5]);
        if (strcmp(m, "proc") == 0)
                return mode_proc();
        if (strcmp(m, "iouring") == 0)
                return mode_iouring();
        if (strcmp(m, "create") == 0 && argc == 3)
                return mode_create(argv[2]);
        if (strcmp(m, "chmod") == 0 && argc == 4)
                return mode_chmod(argv[2], argv[3]);
        return 2;
}
