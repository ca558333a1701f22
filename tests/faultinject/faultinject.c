/* SPDX-License-Identifier: MIT */
/* An LD_PRELOAD shim that makes chosen calls of the daemon fail on demand
 * (see faultinject.h for how it is driven).  It is loaded into the daemon
 * only, and built without sanitizers: it sits in front of their runtime
 * and forwards every call it lets through to the next definition, the
 * sanitizer's interceptor or libc. */

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <grp.h>
#include <pwd.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "faultinject.h"

struct spec {
        bool set;
        int error;
        uint64_t every;
        uint64_t prob;      /* percent */
        uint64_t after;
        uint64_t limit;     /* 0: no limit */
        bool main_only;     /* only calls made by the main thread */
        int opt;            /* socket option (or uid) the entry is about, -1: any */
        uint64_t sleep_ms;  /* delay instead of failing */
};

static struct spec specs[FAULT_CALL_MAX] = {
        [0 ... FAULT_CALL_MAX - 1] = { .opt = -1 },
};
static struct fault_ctl local_ctl = { .magic = FAULT_CTL_MAGIC, .armed = 1 };
static struct fault_ctl *ctl = &local_ctl;
static uint64_t seed = 1;
static pthread_t main_thread;

/* ---- the real functions ------------------------------------------------ */

static void *(*real_malloc)(size_t);
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void (*real_free)(void *);
static long (*real_syscall)(long, ...);
static ssize_t (*real_sendmsg)(int, const struct msghdr *, int);
static ssize_t (*real_recvmsg)(int, struct msghdr *, int);
static int (*real_sendmmsg)(int, struct mmsghdr *, unsigned, int);
static int (*real_recvmmsg)(int, struct mmsghdr *, unsigned, int, struct timespec *);
static int (*real_accept4)(int, __SOCKADDR_ARG, socklen_t *restrict, int);
static int (*real_getsockopt)(int, int, int, void *restrict, socklen_t *restrict);
static int (*real_setsockopt)(int, int, int, const void *, socklen_t);
static int (*real_getpwuid_r)(uid_t, struct passwd *, char *, size_t, struct passwd **);
static int (*real_getpwnam_r)(const char *, struct passwd *, char *, size_t, struct passwd **);
static int (*real_getgrnam_r)(const char *, struct group *, char *, size_t, struct group **);

/* dlsym may allocate before the allocator is known: a little static memory
 * serves it, and is never given back. */
static _Alignas(16) char boot[16384];
static size_t boot_used;
static bool resolving;

static void *boot_alloc(size_t n) {
        n = (n + 15) & ~(size_t) 15;
        if (n > sizeof boot - boot_used)
                return NULL;
        void *p = boot + boot_used;
        boot_used += n;
        return p;
}

static bool in_boot(const void *p) {
        return (const char *) p >= boot && (const char *) p < boot + sizeof boot;
}

static void resolve(void) {
        if (real_malloc || resolving)
                return;
        resolving = true;
        real_malloc = (void *(*)(size_t)) dlsym(RTLD_NEXT, "malloc");
        real_calloc = (void *(*)(size_t, size_t)) dlsym(RTLD_NEXT, "calloc");
        real_realloc = (void *(*)(void *, size_t)) dlsym(RTLD_NEXT, "realloc");
        real_free = (void (*)(void *)) dlsym(RTLD_NEXT, "free");
        real_syscall = (long (*)(long, ...)) dlsym(RTLD_NEXT, "syscall");
        real_sendmsg = (ssize_t (*)(int, const struct msghdr *, int)) dlsym(RTLD_NEXT, "sendmsg");
        real_recvmsg = (ssize_t (*)(int, struct msghdr *, int)) dlsym(RTLD_NEXT, "recvmsg");
        real_sendmmsg = (int (*)(int, struct mmsghdr *, unsigned, int)) dlsym(RTLD_NEXT, "sendmmsg");
        real_recvmmsg = (int (*)(int, struct mmsghdr *, unsigned, int, struct timespec *)) dlsym(RTLD_NEXT,
                                                                                               "recvmmsg");
        real_accept4 = (int (*)(int, __SOCKADDR_ARG, socklen_t *restrict, int)) dlsym(RTLD_NEXT, "accept4");
        real_getsockopt = (int (*)(int, int, int, void *restrict, socklen_t *restrict)) dlsym(RTLD_NEXT,
                                                                                              "getsockopt");
        real_setsockopt = (int (*)(int, int, int, const void *, socklen_t)) dlsym(RTLD_NEXT, "setsockopt");
        real_getpwuid_r = (int (*)(uid_t, struct passwd *, char *, size_t, struct passwd **)) dlsym(RTLD_NEXT,
                                                                                                   "getpwuid_r");
        real_getpwnam_r = (int (*)(const char *, struct passwd *, char *, size_t, struct passwd **)) dlsym(
                RTLD_NEXT, "getpwnam_r");
        real_getgrnam_r = (int (*)(const char *, struct group *, char *, size_t, struct group **)) dlsym(
                RTLD_NEXT, "getgrnam_r");
        resolving = false;
}

/* ---- deciding ----------------------------------------------------------- */

static uint64_t mix(uint64_t x) {
        x += 0x9e3779b97f4a7c15ull;
        x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
        x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
        return x ^ (x >> 31);
}

/* Counts the call; true when it is to fail (errno is then set). */
static bool inject(enum fault_call c) {
        const struct spec *s = &specs[c];

        if (!__atomic_load_n(&ctl->armed, __ATOMIC_RELAXED))
                return false;
        if (s->main_only && !pthread_equal(pthread_self(), main_thread))
                return false;
        uint64_t n = __atomic_add_fetch(&ctl->calls[c], 1, __ATOMIC_RELAXED);
        if (!s->set || n <= s->after)
                return false;
        n -= s->after;
        if (s->every && n % s->every != 0)
                return false;
        if (s->prob && mix(seed ^ (n << 4) ^ (uint64_t) c) % 100 >= s->prob)
                return false;
        uint64_t k = __atomic_add_fetch(&ctl->injected[c], 1, __ATOMIC_RELAXED);
        if (s->limit && k > s->limit) {
                __atomic_sub_fetch(&ctl->injected[c], 1, __ATOMIC_RELAXED);
                return false;
        }
        if (s->sleep_ms) {
                struct timespec ts = { .tv_sec = (time_t) (s->sleep_ms / 1000),
                                       .tv_nsec = (long) (s->sleep_ms % 1000) * 1000000L };
                while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                        ;
                return false;
        }
        errno = s->error;
        return true;
}

/* ---- the interposed calls ----------------------------------------------- */

void *malloc(size_t n) {
        if (!real_malloc) {
                resolve();
                if (!real_malloc)
                        return boot_alloc(n);
        }
        if (inject(FAULT_MALLOC))
                return NULL;
        return real_malloc(n);
}

void *calloc(size_t n, size_t size) {
        if (!real_calloc) {
                resolve();
                if (!real_calloc) {
                        if (size && n > SIZE_MAX / size)
                                return NULL;
                        return boot_alloc(n * size); /* static memory is zeroed */
                }
        }
        if (inject(FAULT_CALLOC))
                return NULL;
        return real_calloc(n, size);
}

void *realloc(void *p, size_t n) {
        if (!real_realloc)
                resolve();
        if (in_boot(p)) {
                void *q = malloc(n);
                size_t room = (size_t) (boot + sizeof boot - (char *) p);
                if (q)
                        memcpy(q, p, n < room ? n : room);
                return q;
        }
        if (!real_realloc)
                return NULL;
        if (inject(FAULT_REALLOC))
                return NULL;
        return real_realloc(p, n);
}

void free(void *p) {
        if (!p || in_boot(p))
                return;
        if (!real_free)
                resolve();
        if (real_free)
                real_free(p);
}

long syscall(long number, ...) {
        va_list ap;
        long a[6];

        va_start(ap, number);
        for (int i = 0; i < 6; i++)
                a[i] = va_arg(ap, long);
        va_end(ap);
        if (!real_syscall)
                resolve();

        if (number == SYS_openat2) {
                const struct open_how *how = (const struct open_how *) a[2];
                if (how && (how->flags & O_CREAT) && specs[FAULT_CREAT].set) {
                        if (inject(FAULT_CREAT))
                                return -1;
                } else if (inject(FAULT_OPENAT2))
                        return -1;
        }
        return real_syscall(number, a[0], a[1], a[2], a[3], a[4], a[5]);
}

ssize_t sendmsg(int fd, const struct msghdr *msg, int flags) {
        if (!real_sendmsg)
                resolve();
        if (inject(FAULT_SENDMSG))
                return -1;
        return real_sendmsg(fd, msg, flags);
}

ssize_t recvmsg(int fd, struct msghdr *msg, int flags) {
        if (!real_recvmsg)
                resolve();
        if (inject(FAULT_RECVMSG))
                return -1;
        return real_recvmsg(fd, msg, flags);
}

/* The batched calls fail as a whole, as when the first record fails. */
int sendmmsg(int fd, struct mmsghdr *v, unsigned n, int flags) {
        if (!real_sendmmsg)
                resolve();
        if (inject(FAULT_SENDMSG))
                return -1;
        return real_sendmmsg(fd, v, n, flags);
}

int recvmmsg(int fd, struct mmsghdr *v, unsigned n, int flags, struct timespec *timeout) {
        if (!real_recvmmsg)
                resolve();
        if (inject(FAULT_RECVMSG))
                return -1;
        return real_recvmmsg(fd, v, n, flags, timeout);
}

int accept4(int fd, __SOCKADDR_ARG addr, socklen_t *restrict len, int flags) {
        if (!real_accept4)
                resolve();
        if (inject(FAULT_ACCEPT4))
                return -1;
        return real_accept4(fd, addr, len, flags);
}

/* Socket options: only the option an entry names is counted and failed. */
int getsockopt(int fd, int level, int opt, void *restrict val, socklen_t *restrict len) {
        if (!real_getsockopt)
                resolve();
        if ((specs[FAULT_GETSOCKOPT].opt < 0 || specs[FAULT_GETSOCKOPT].opt == opt) && inject(FAULT_GETSOCKOPT))
                return -1;
        return real_getsockopt(fd, level, opt, val, len);
}

int setsockopt(int fd, int level, int opt, const void *val, socklen_t len) {
        if (!real_setsockopt)
                resolve();
        if ((specs[FAULT_SETSOCKOPT].opt < 0 || specs[FAULT_SETSOCKOPT].opt == opt) && inject(FAULT_SETSOCKOPT))
                return -1;
        return real_setsockopt(fd, level, opt, val, len);
}

/* A user database that is slow (sleep=) or fails, for one uid (opt=). */
int getpwuid_r(uid_t uid, struct passwd *pw, char *buf, size_t size, struct passwd **res) {
        if (!real_getpwuid_r)
                resolve();
        if ((specs[FAULT_GETPWUID].opt < 0 || (uid_t) specs[FAULT_GETPWUID].opt == uid) && inject(FAULT_GETPWUID)) {
                *res = NULL;
                return errno;
        }
        return real_getpwuid_r(uid, pw, buf, size, res);
}

/* The same for names: what a policy's user= and group= and the owners in
 * /etc/subuid are resolved with. */
int getpwnam_r(const char *name, struct passwd *pw, char *buf, size_t size, struct passwd **res) {
        if (!real_getpwnam_r)
                resolve();
        if (inject(FAULT_GETPWNAM)) {
                *res = NULL;
                return errno;
        }
        return real_getpwnam_r(name, pw, buf, size, res);
}

int getgrnam_r(const char *name, struct group *gr, char *buf, size_t size, struct group **res) {
        if (!real_getgrnam_r)
                resolve();
        if (inject(FAULT_GETGRNAM)) {
                *res = NULL;
                return errno;
        }
        return real_getgrnam_r(name, gr, buf, size, res);
}

/* ---- set-up ------------------------------------------------------------- */

static const struct {
        const char *name;
        int value;
} errno_names[] = {
        { "EPERM", EPERM },   { "ENOENT", ENOENT },     { "EINTR", EINTR },         { "EIO", EIO },
        { "EBADF", EBADF },   { "EAGAIN", EAGAIN },     { "ENOMEM", ENOMEM },       { "EACCES", EACCES },
        { "ENFILE", ENFILE }, { "EMFILE", EMFILE },     { "ENOSPC", ENOSPC },       { "EPIPE", EPIPE },
        { "EDQUOT", EDQUOT }, { "ENOBUFS", ENOBUFS },   { "ECONNRESET", ECONNRESET }, { "ETIMEDOUT", ETIMEDOUT },
        { "EROFS", EROFS },   { "ECONNABORTED", ECONNABORTED }, { "EPROTO", EPROTO }, { "ENOTCONN", ENOTCONN },
        { "EINVAL", EINVAL }, { "ESRCH", ESRCH },       { "ENOPROTOOPT", ENOPROTOOPT },
};

static bool parse_u64(const char *s, size_t len, uint64_t *ret) {
        uint64_t v = 0;
        if (len == 0)
                return false;
        for (size_t i = 0; i < len; i++) {
                if (s[i] < '0' || s[i] > '9')
                        return false;
                v = v * 10 + (uint64_t) (s[i] - '0');
        }
        *ret = v;
        return true;
}

static bool parse_errno(const char *s, size_t len, int *ret) {
        uint64_t v;
        if (parse_u64(s, len, &v) && v < 4096) {
                *ret = (int) v;
                return true;
        }
        for (size_t i = 0; i < sizeof errno_names / sizeof errno_names[0]; i++)
                if (strlen(errno_names[i].name) == len && memcmp(errno_names[i].name, s, len) == 0) {
                        *ret = errno_names[i].value;
                        return true;
                }
        return false;
}

static void complain(const char *what, const char *s, size_t len) {
        static const char prefix[] = "faultinject: cannot parse FDBR_FAULT ";
        (void) !write(STDERR_FILENO, prefix, sizeof prefix - 1);
        (void) !write(STDERR_FILENO, what, strlen(what));
        (void) !write(STDERR_FILENO, ": '", 3);
        (void) !write(STDERR_FILENO, s, len);
        (void) !write(STDERR_FILENO, "'\n", 2);
        /* A shim that silently injects nothing would make tests pass for
         * nothing. */
        _exit(125);
}

/* One "CALL:ERRNO[:OPTION]..." of len bytes. */
static void parse_entry(const char *e, size_t len) {
        static const char *const names[] = FAULT_CALL_NAMES;
        const char *end = e + len, *field = e;
        int index = 0, call = -1;
        struct spec s = { .set = true, .opt = -1 };

        while (field <= end) {
                const char *colon = memchr(field, ':', (size_t) (end - field));
                const char *fend = colon ? colon : end;
                size_t flen = (size_t) (fend - field);
                if (index == 0) {
                        for (int i = 0; i < FAULT_CALL_MAX; i++)
                                if (strlen(names[i]) == flen && memcmp(names[i], field, flen) == 0)
                                        call = i;
                        if (call < 0)
                                complain("call", field, flen);
                } else if (index == 1) {
                        if (!parse_errno(field, flen, &s.error))
                                complain("errno", field, flen);
                } else {
                        const char *eq = memchr(field, '=', flen);
                        uint64_t v;
                        if (!eq || !parse_u64(eq + 1, (size_t) (fend - eq - 1), &v))
                                complain("option", field, flen);
                        size_t klen = (size_t) (eq - field);
                        if (klen == 5 && memcmp(field, "every", 5) == 0 && v > 0)
                                s.every = v;
                        else if (klen == 4 && memcmp(field, "prob", 4) == 0 && v <= 100)
                                s.prob = v;
                        else if (klen == 5 && memcmp(field, "after", 5) == 0)
                                s.after = v;
                        else if (klen == 5 && memcmp(field, "limit", 5) == 0)
                                s.limit = v;
                        else if (klen == 5 && memcmp(field, "sleep", 5) == 0 && v > 0)
                                s.sleep_ms = v;
                        else if (klen == 3 && memcmp(field, "opt", 3) == 0 && v < 2147483647u)
                                s.opt = (int) v;
                        else if (klen == 4 && memcmp(field, "main", 4) == 0 && v <= 1)
                                s.main_only = v;
                        else
                                complain("option", field, flen);
                }
                index++;
                if (!colon)
                        break;
                field = colon + 1;
        }
        if (index < 2 || (s.error == 0 && !s.sleep_ms))
                complain("entry", e, len);
        specs[call] = s;
}

__attribute__((constructor)) static void faultinject_init(void) {
        const char *spec = getenv("FDBR_FAULT");
        const char *seed_s = getenv("FDBR_FAULT_SEED");
        const char *ctl_path = getenv("FDBR_FAULT_CTL");

        resolve();
        main_thread = pthread_self();
        if (seed_s && !parse_u64(seed_s, strlen(seed_s), &seed))
                complain("seed", seed_s, strlen(seed_s));
        for (const char *p = spec; p && *p;) {
                const char *semi = strchr(p, ';');
                size_t len = semi ? (size_t) (semi - p) : strlen(p);
                if (len > 0)
                        parse_entry(p, len);
                p = semi ? semi + 1 : p + len;
        }
        if (ctl_path && *ctl_path) {
                int fd = open(ctl_path, O_RDWR | O_CLOEXEC);
                if (fd < 0)
                        complain("control file", ctl_path, strlen(ctl_path));
                void *m = mmap(NULL, sizeof(struct fault_ctl), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
                close(fd);
                if (m == MAP_FAILED)
                        complain("control file", ctl_path, strlen(ctl_path));
                ctl = m;
                __atomic_store_n(&ctl->magic, FAULT_CTL_MAGIC, __ATOMIC_RELEASE);
        }
}
