/* SPDX-License-Identifier: MIT */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <pthread.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "hash.h"
#include "log.h"
#include "macro.h"

/* A change of the table is not read at once: changes come in bursts (a
 * user churning mounts makes thousands a second) and one read after the
 * burst serves them all.  Reads are at least this far apart, and done by
 * a thread of their own: with thousands of mounts a read takes
 * milliseconds, which the loop must not spend. */
#define MOUNTS_SETTLE_NS (10 * 1000 * 1000LL)
#define MOUNTS_INTERVAL_NS (100 * 1000 * 1000LL)
/* Mount tables of container hosts run into thousands: past this many the
 * rest just counts as not local. */
#define MOUNTS_MAX 65536
/* Each local mount used for direct opens costs a descriptor. */
#define MOUNTS_FDS_MAX 256
#define MOUNTS_READER_STACK (256 * 1024)

struct mount_entry {
        uint64_t id;
        dev_t dev;
        bool local;
        bool devices;       /* devtmpfs: device nodes live here */
        bool point_ok;      /* the mount point still reaches this mount, as of checked_gen */
        char *point;        /* unescaped mount point */
        size_t point_len;
        uint32_t hash;
        int fd;             /* O_PATH of the mount point, or -1 */
        ssize_t from;       /* index in the previous table whose fd this one takes over, or -1 */
        unsigned checked_gen;
};

struct mount_table {
        struct mount_entry *v;     /* sorted by id */
        size_t n;
        uint32_t *slots;           /* hash of mount points → index + 1, topmost mount only */
        uint32_t mask;
};

/* Everything here is the loop's, but for the reader thread's own struct,
 * which the loop touches only before starting it and after joining it. */
static struct {
        struct mount_table t;
        /* The kernel's table changed since the one in t was read: t may
         * name mounts that are gone, whose ids the kernel hands out again,
         * and misses new ones. */
        bool stale;
        unsigned gen;              /* changes seen */
        unsigned read_gen;         /* gen when the running read started */
        bool reading;
        long long last_start_ns;
        uint64_t reloads;
        pthread_t thread;
        struct {
                struct mount_table old;    /* read-only while the thread runs */
                struct mount_table out;
        } reader;
        int done_fd;               /* eventfd: the reader finished */
        struct event *done_ev;
        struct event *timer;       /* the next read */
        int info_fd;               /* /proc/self/mountinfo, for change events */
        int check_fd;              /* ... and for asking on the spot */
        int epoll_fd;
        struct event *watch;
} M = { .last_start_ns = -MOUNTS_INTERVAL_NS, .done_fd = -1, .info_fd = -1, .check_fd = -1, .epoll_fd = -1 };

bool mounts_fstype_is_local(const char *fstype) {
        static const char *const local[] = {
                "ext2", "ext3", "ext4", "xfs", "btrfs", "f2fs", "tmpfs", "ramfs", "devtmpfs",
                "vfat", "exfat", "squashfs", "erofs", "iso9660", "jfs", "reiserfs", "nilfs2",
        };
        for (size_t i = 0; i < ELEMENTSOF(local); i++)
                if (strcmp(fstype, local[i]) == 0)
                        return true;
        return false;
}

static int cmp_entry(const void *a, const void *b) {
        const struct mount_entry *x = a, *y = b;
        return x->id < y->id ? -1 : x->id > y->id;
}

static long long now_ns(void) {
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (long long) ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

/* mountinfo escapes space, tab, newline and backslash as \ooo. */
static char *unescape(const char *s) {
        char *out = malloc(strlen(s) + 1), *o = out;
        if (!out)
                return NULL;
        while (*s) {
                if (s[0] == '\\' && s[1] >= '0' && s[1] <= '3' && s[2] >= '0' && s[2] <= '7' && s[3] >= '0' &&
                    s[3] <= '7') {
                        *o++ = (char) ((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
                        s += 4;
                } else
                        *o++ = *s++;
        }
        *o = 0;
        return out;
}

static void table_free(struct mount_table *t) {
        for (size_t i = 0; i < t->n; i++) {
                safe_close(t->v[i].fd);
                free(t->v[i].point);
        }
        free(t->v);
        free(t->slots);
        *t = (struct mount_table) {};
}

/* "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS" */
static int parse_line(const char *line, struct mount_entry *ret) {
        unsigned long long id;
        unsigned maj, min;
        char point[4096], fstype[64];

        if (sscanf(line, "%llu %*u %u:%u %*s %4095s", &id, &maj, &min, point) != 4)
                return -EINVAL;
        const char *sep = strstr(line, " - ");
        if (!sep || sscanf(sep + 3, "%63s", fstype) != 1)
                return -EINVAL;
        char *p = unescape(point);
        if (!p)
                return -ENOMEM;
        size_t len = strlen(p);
        *ret = (struct mount_entry) {
                .id = id, .dev = makedev(maj, min), .local = mounts_fstype_is_local(fstype),
                .devices = strcmp(fstype, "devtmpfs") == 0, .point = p, .point_len = len,
                .hash = hash_bytes(p, len), .fd = -1, .from = -1,
        };
        return 0;
}

static struct mount_entry *find_id(const struct mount_table *t, uint64_t id) {
        struct mount_entry key = { .id = id };
        return t->v ? bsearch(&key, t->v, t->n, sizeof key, cmp_entry) : NULL;
}

static struct mount_entry *find_point(const struct mount_table *t, const char *p, size_t len) {
        if (!t->slots)
                return NULL;
        uint32_t h = hash_bytes(p, len);
        for (uint32_t i = h & t->mask;; i = (i + 1) & t->mask) {
                uint32_t s = t->slots[i];
                if (s == 0)
                        return NULL;
                struct mount_entry *e = &t->v[s - 1];
                if (e->hash == h && e->point_len == len && memcmp(e->point, p, len) == 0)
                        return e;
        }
}

/* The mount id the mount point path reaches now, without blocking: a
 * mount point below a FUSE directory that needs a lookup is simply not
 * reached. */
static int point_open(const char *point, uint64_t *ret_id) {
        struct open_how how = {
                .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_CACHED,
        };
        _cleanup_close_ int fd = (int) syscall(SYS_openat2, AT_FDCWD, point, &how, sizeof how);
        if (fd < 0)
                return -errno;
        struct statx sx;
        if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) < 0)
                return -errno;
        if (!(sx.stx_mask & STATX_MNT_ID))
                return -EOPNOTSUPP;
        *ret_id = sx.stx_mnt_id;
        return TAKE_FD(fd);
}

/* Opens the mount points of local mounts for direct opens.  Which mount a
 * descriptor lands on is checked, not assumed: with several mounts on one
 * point only the topmost is reached.  A mount the previous table already
 * held open keeps that descriptor (handed over when the table is swapped
 * in): the same id is the same mount, since a descriptor of it keeps the
 * kernel from giving its id to another. */
static void open_points(struct mount_table *t, const struct mount_table *old) {
        unsigned n_fds = 0;

        for (uint32_t i = 0; i <= t->mask && t->slots; i++) {
                uint32_t s = t->slots[i];
                if (s == 0)
                        continue;
                struct mount_entry *e = &t->v[s - 1];
                if (!e->local || e->devices || n_fds >= MOUNTS_FDS_MAX)
                        continue;
                const struct mount_entry *o = find_id(old, e->id);
                if (o && o->fd >= 0 && o->point_len == e->point_len && memcmp(o->point, e->point, e->point_len) == 0) {
                        e->from = o - old->v;
                        n_fds++;
                        continue;
                }
                uint64_t id;
                int fd = point_open(e->point, &id);
                if (fd < 0)
                        continue;
                if (id != e->id) {
                        safe_close(fd);
                        continue;
                }
                e->fd = fd;
                n_fds++;
        }
}

/* Reads the kernel's table into *ret; old, the table in use, only lends
 * its descriptors.  Safe off the loop: it touches nothing but its
 * arguments, and old is not changed while it runs. */
static int table_read(const struct mount_table *old, struct mount_table *ret) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, n = 0, vcap = 0;
        struct mount_table t = {};

        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return -errno;
        while (getline(&line, &cap, f) > 0 && n < MOUNTS_MAX) {
                struct mount_entry e;
                if (parse_line(line, &e) < 0)
                        continue;
                if (n == vcap) {
                        size_t ncap = vcap ? vcap * 2 : 64;
                        struct mount_entry *nv = reallocarray(t.v, ncap, sizeof *nv);
                        if (!nv) {
                                free(e.point);
                                break;
                        }
                        t.v = nv;
                        vcap = ncap;
                }
                t.v[n++] = e;
                t.n = n;
        }
        fclose(f);
        if (n == 0) {
                table_free(&t);
                return -ENOENT;
        }

        /* Mount points by name, the later of two on one point winning (it
         * was mounted over the other); built before sorting by id. */
        uint32_t size = 16;
        while (size < 2 * n)
                size *= 2;
        t.slots = calloc(size, sizeof *t.slots);
        uint32_t *order = malloc(n * sizeof *order);
        if (!t.slots || !order) {
                free(order);
                table_free(&t);
                return -ENOMEM;
        }
        t.mask = size - 1;
        /* Sort by id first, remembering where each line went, so that the
         * hash can point into the sorted array. */
        for (size_t i = 0; i < n; i++)
                t.v[i].fd = (int) i; /* the line number, for a moment */
        qsort(t.v, n, sizeof *t.v, cmp_entry);
        for (size_t i = 0; i < n; i++)
                order[t.v[i].fd] = (uint32_t) i;
        for (size_t i = 0; i < n; i++)
                t.v[i].fd = -1;
        for (size_t line_no = 0; line_no < n; line_no++) {
                const struct mount_entry *e = &t.v[order[line_no]];
                for (uint32_t k = e->hash & t.mask;; k = (k + 1) & t.mask) {
                        const struct mount_entry *o = t.slots[k] ? &t.v[t.slots[k] - 1] : NULL;
                        if (!o || (o->point_len == e->point_len && memcmp(o->point, e->point, e->point_len) == 0)) {
                                t.slots[k] = order[line_no] + 1;
                                break;
                        }
                }
        }
        free(order);
        open_points(&t, old);
        *ret = t;
        return 0;
}

/* On the loop: the new table replaces the old, taking over the
 * descriptors it shares with it. */
static void table_swap(struct mount_table *t) {
        for (size_t i = 0; i < t->n; i++) {
                struct mount_entry *e = &t->v[i];
                if (e->from >= 0) {
                        e->fd = M.t.v[e->from].fd;
                        M.t.v[e->from].fd = -1;
                        e->from = -1;
                }
        }
        table_free(&M.t);
        M.t = *t;
        *t = (struct mount_table) {};
        M.reloads++;
}

/* Whether the kernel reported a change since last asked.  Every open
 * mountinfo has its own idea of what was reported, and any poll of it
 * (the loop's epoll polling the nested one included) takes the report:
 * this question has a descriptor of its own. */
static bool changes_pending(void) {
        struct pollfd pfd = { .fd = M.check_fd, .events = POLLPRI };

        return M.check_fd >= 0 && poll(&pfd, 1, 0) > 0 && (pfd.revents & (POLLPRI | POLLERR));
}

static void schedule_read(void) {
        /* A running read reschedules itself when done if it was not the
         * last word. */
        if (M.reading || !M.timer || evtimer_pending(M.timer, NULL))
                return;
        long long delay = MOUNTS_SETTLE_NS, since = now_ns() - M.last_start_ns;
        if (since < MOUNTS_INTERVAL_NS && MOUNTS_INTERVAL_NS - since > delay)
                delay = MOUNTS_INTERVAL_NS - since;
        struct timeval tv = { .tv_sec = delay / 1000000000LL, .tv_usec = delay % 1000000000LL / 1000 };
        evtimer_add(M.timer, &tv);
}

static void mark_stale(void) {
        M.stale = true;
        M.gen++;
        schedule_read();
}

static void *reader_main(void *arg) {
        if (table_read(&M.reader.old, &M.reader.out) < 0)
                M.reader.out = (struct mount_table) {};
        (void) !write(M.done_fd, &(uint64_t) { 1 }, sizeof(uint64_t));
        return NULL;
}

static void on_read_due(evutil_socket_t fd, short what, void *arg) {
        pthread_attr_t attr;
        sigset_t all, old;

        M.reader.old = M.t;
        M.reader.out = (struct mount_table) {};
        M.read_gen = M.gen;
        M.last_start_ns = now_ns();
        pthread_attr_init(&attr);
        pthread_attr_setstacksize(&attr, MOUNTS_READER_STACK);
        sigfillset(&all);
        sigdelset(&all, SIGSYS); /* a refused call must reach the handler, not kill */
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int r = pthread_create(&M.thread, &attr, reader_main, NULL);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        pthread_attr_destroy(&attr);
        if (r != 0) {
                /* Stale is safe, only slower: try again later. */
                log_msg(LOG_WARNING, "mount table: cannot start its reader: %s", strerror(r));
                schedule_read();
                return;
        }
        M.reading = true;
}

static void reader_join(void) {
        uint64_t n;

        (void) !read(M.done_fd, &n, sizeof n);
        pthread_join(M.thread, NULL);
        M.reading = false;
}

static void on_read_done(evutil_socket_t fd, short what, void *arg) {
        if (!M.reading)
                return;
        reader_join();
        if (!M.reader.out.v) {
                log_msg(LOG_WARNING, "mount table: cannot read /proc/self/mountinfo");
                schedule_read();
                return;
        }
        table_swap(&M.reader.out);
        /* A change that came while the thread read may or may not be in
         * what it read. */
        if (changes_pending())
                M.gen++;
        if (M.gen == M.read_gen)
                M.stale = false;
        else
                schedule_read();
}

bool mounts_is_local(uint64_t mnt_id, dev_t dev) {
        /* Asked now, not when the loop gets to the event: a mount id the
         * table names may have been freed and given to a FUSE mount a
         * moment ago. */
        if (changes_pending())
                mark_stale();
        const struct mount_entry *e = find_id(&M.t, mnt_id);

        /* Mount ids are reused after an unmount: the device must match too. */
        if (!e || e->dev != dev || !e->local)
                return false;
        /* Stale, only a mount we hold a descriptor of is known to still be
         * the one the table describes: that descriptor keeps its id from
         * being reused. */
        return !M.stale || e->fd >= 0;
}

int mounts_fast_dir(const char *path, size_t len, const char **ret_rel) {
        /* Longest prefix first: every '/' boundary, from the end. */
        for (size_t end = len;;) {
                struct mount_entry *e = find_point(&M.t, path, end == 0 ? 1 : end);
                if (e) {
                        if (e->fd < 0)
                                return -1;
                        /* Stale, the mount may have been unmounted or
                         * covered by another: the descriptor would then
                         * reach files the path no longer names.  Checked
                         * once per change. */
                        if (M.stale && e->checked_gen != M.gen) {
                                uint64_t id;
                                int fd = point_open(e->point, &id);
                                e->point_ok = fd >= 0 && id == e->id;
                                /* EAGAIN: the lookup met a mount change
                                 * under way; asked again next time. */
                                if (fd != -EAGAIN)
                                        e->checked_gen = M.gen;
                                safe_close(fd);
                        }
                        if (M.stale && !e->point_ok)
                                return -1;
                        *ret_rel = end == len ? "." : path + end + 1;
                        if (end == 0)
                                *ret_rel = len == 1 ? "." : path + 1;
                        return e->fd;
                }
                if (end == 0)
                        return -1;
                do
                        end--;
                while (end > 0 && path[end] != '/');
        }
}

uint64_t mounts_reloads(void) {
        return M.reloads;
}

bool mounts_stale(void) {
        return M.stale;
}

static void on_mounts_changed(evutil_socket_t fd, short what, void *arg) {
        struct epoll_event ev;

        /* Draining the epoll instance re-arms it.  Woken at all, the
         * table changed: the report itself may have been taken by the
         * poll that woke the loop. */
        while (epoll_wait(M.epoll_fd, &ev, 1, 0) > 0)
                ;
        mark_stale();
}

int mounts_init(struct event_base *base) {
        int r = table_read(&M.t, &M.reader.out);
        if (r == 0)
                table_swap(&M.reader.out);
        if (!base)
                return 0;

        /* mountinfo signals changes with POLLPRI, which libevent does not
         * watch for; an epoll instance that does is itself readable. */
        M.info_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        M.check_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        M.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        M.done_fd = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
        if (M.info_fd < 0 || M.check_fd < 0 || M.epoll_fd < 0 || M.done_fd < 0)
                return -errno;
        struct epoll_event ev = { .events = EPOLLPRI | EPOLLERR };
        if (epoll_ctl(M.epoll_fd, EPOLL_CTL_ADD, M.info_fd, &ev) < 0)
                return -errno;
        /* The first poll reports the state at open as a change: the table
         * was read before, so a change since is read again. */
        while (epoll_wait(M.epoll_fd, &ev, 1, 0) > 0)
                ;
        (void) changes_pending();
        M.watch = event_new(base, M.epoll_fd, EV_READ | EV_PERSIST, on_mounts_changed, NULL);
        M.done_ev = event_new(base, M.done_fd, EV_READ | EV_PERSIST, on_read_done, NULL);
        M.timer = evtimer_new(base, on_read_due, NULL);
        if (!M.watch || !M.done_ev || !M.timer || event_add(M.watch, NULL) < 0 || event_add(M.done_ev, NULL) < 0)
                return -ENOMEM;
        if (r < 0)
                mark_stale();
        return 0;
}

void mounts_done(void) {
        if (M.reading) {
                reader_join();
                table_free(&M.reader.out);
        }
        if (M.watch)
                event_free(M.watch);
        if (M.done_ev)
                event_free(M.done_ev);
        if (M.timer)
                event_free(M.timer);
        M.watch = M.done_ev = M.timer = NULL;
        M.epoll_fd = safe_close(M.epoll_fd);
        M.info_fd = safe_close(M.info_fd);
        M.check_fd = safe_close(M.check_fd);
        M.done_fd = safe_close(M.done_fd);
        table_free(&M.t);
        M.stale = false;
        M.last_start_ns = -MOUNTS_INTERVAL_NS;
}
