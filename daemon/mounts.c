/* SPDX-License-Identifier: MIT */
#include "mounts.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

/* Re-reading the table costs a few hundred microseconds; a client naming
 * files on many fresh FUSE mounts must not make the loop do it all day. */
#define MOUNTS_REREAD_NS (100 * 1000 * 1000LL)
/* Mount tables of container hosts run into thousands: past this many the
 * rest just counts as not local. */
#define MOUNTS_MAX 65536
/* Each local mount used for direct opens costs a descriptor. */
#define MOUNTS_FDS_MAX 256

struct mount_entry {
        uint64_t id;
        dev_t dev;
        bool local;
        bool devices;       /* devtmpfs: device nodes live here */
        char *point;        /* unescaped mount point */
        size_t point_len;
        uint32_t hash;
        int fd;             /* O_PATH of the mount point, or -1 */
};

static struct {
        struct mount_entry *v;     /* sorted by id */
        size_t n;
        uint32_t *slots;           /* hash of mount points → index + 1, topmost mount only */
        uint32_t mask;
        long long last_read_ns;
        int info_fd;               /* /proc/self/mountinfo, for change events */
        int epoll_fd;
        struct event *watch;
} M = { .last_read_ns = -MOUNTS_REREAD_NS, .info_fd = -1, .epoll_fd = -1 };

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

static uint32_t hash_bytes(const char *s, size_t n) {
        uint32_t h = 2166136261u;
        for (size_t i = 0; i < n; i++)
                h = (h ^ (uint8_t) s[i]) * 16777619u;
        return h;
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

static void table_free(struct mount_entry *v, size_t n, uint32_t *slots) {
        for (size_t i = 0; i < n; i++) {
                safe_close(v[i].fd);
                free(v[i].point);
        }
        free(v);
        free(slots);
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
                .hash = hash_bytes(p, len), .fd = -1,
        };
        return 0;
}

static const struct mount_entry *find_id(uint64_t id) {
        struct mount_entry key = { .id = id };
        return M.v ? bsearch(&key, M.v, M.n, sizeof key, cmp_entry) : NULL;
}

static const struct mount_entry *find_point(const char *p, size_t len) {
        if (!M.slots)
                return NULL;
        uint32_t h = hash_bytes(p, len);
        for (uint32_t i = h & M.mask;; i = (i + 1) & M.mask) {
                uint32_t s = M.slots[i];
                if (s == 0)
                        return NULL;
                const struct mount_entry *e = &M.v[s - 1];
                if (e->hash == h && e->point_len == len && memcmp(e->point, p, len) == 0)
                        return e;
        }
}

/* Opens the mount points of local mounts for direct opens.  Which mount a
 * descriptor lands on is checked, not assumed: with several mounts on one
 * point only the topmost is reached. */
static void open_points(void) {
        unsigned n_fds = 0;

        for (uint32_t i = 0; i <= M.mask && M.slots; i++) {
                uint32_t s = M.slots[i];
                if (s == 0)
                        continue;
                struct mount_entry *e = &M.v[s - 1];
                if (!e->local || e->devices || n_fds >= MOUNTS_FDS_MAX)
                        continue;
                /* Never block here: a mount point below a FUSE directory
                 * that needs a lookup is simply not used directly. */
                struct open_how how = {
                        .flags = O_PATH | O_DIRECTORY | O_CLOEXEC,
                        .resolve = RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS | RESOLVE_CACHED,
                };
                int fd = (int) syscall(SYS_openat2, AT_FDCWD, e->point, &how, sizeof how);
                if (fd < 0)
                        continue;
                struct statx sx;
                if (statx(fd, "", AT_EMPTY_PATH | AT_STATX_DONT_SYNC, STATX_MNT_ID, &sx) < 0 ||
                    !(sx.stx_mask & STATX_MNT_ID) || sx.stx_mnt_id != e->id) {
                        safe_close(fd);
                        continue;
                }
                e->fd = fd;
                n_fds++;
        }
}

static void mounts_read(void) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0, n = 0, vcap = 0;
        struct mount_entry *v = NULL;

        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return;
        while (getline(&line, &cap, f) > 0 && n < MOUNTS_MAX) {
                struct mount_entry e;
                if (parse_line(line, &e) < 0)
                        continue;
                if (n == vcap) {
                        size_t ncap = vcap ? vcap * 2 : 64;
                        struct mount_entry *nv = reallocarray(v, ncap, sizeof *nv);
                        if (!nv) {
                                free(e.point);
                                break;
                        }
                        v = nv;
                        vcap = ncap;
                }
                v[n++] = e;
        }
        fclose(f);
        if (n == 0) {
                free(v);
                return;
        }

        /* Mount points by name, the later of two on one point winning (it
         * was mounted over the other); built before sorting by id. */
        uint32_t size = 16;
        while (size < 2 * n)
                size *= 2;
        uint32_t *slots = calloc(size, sizeof *slots);
        uint32_t *order = malloc(n * sizeof *order);
        if (!slots || !order) {
                free(slots);
                free(order);
                table_free(v, n, NULL);
                return;
        }
        /* Sort by id first, remembering where each line went, so that the
         * hash can point into the sorted array. */
        for (size_t i = 0; i < n; i++)
                v[i].fd = (int) i; /* the line number, for a moment */
        qsort(v, n, sizeof *v, cmp_entry);
        for (size_t i = 0; i < n; i++)
                order[v[i].fd] = (uint32_t) i;
        for (size_t i = 0; i < n; i++)
                v[i].fd = -1;
        for (size_t line_no = 0; line_no < n; line_no++) {
                const struct mount_entry *e = &v[order[line_no]];
                for (uint32_t k = e->hash & (size - 1);; k = (k + 1) & (size - 1)) {
                        const struct mount_entry *o = slots[k] ? &v[slots[k] - 1] : NULL;
                        if (!o || (o->point_len == e->point_len && memcmp(o->point, e->point, e->point_len) == 0)) {
                                slots[k] = order[line_no] + 1;
                                break;
                        }
                }
        }
        free(order);

        table_free(M.v, M.n, M.slots);
        M.v = v;
        M.n = n;
        M.slots = slots;
        M.mask = size - 1;
        open_points();
}

bool mounts_is_local(uint64_t mnt_id, dev_t dev) {
        const struct mount_entry *e = find_id(mnt_id);

        /* Mount ids are reused after an unmount: the device must match too. */
        if (!e || e->dev != dev) {
                long long t = now_ns();
                if (t - M.last_read_ns < MOUNTS_REREAD_NS)
                        return false;
                M.last_read_ns = t;
                mounts_read();
                e = find_id(mnt_id);
                if (!e || e->dev != dev)
                        return false;
        }
        return e->local;
}

int mounts_fast_dir(const char *path, size_t len, const char **ret_rel) {
        /* Longest prefix first: every '/' boundary, from the end. */
        for (size_t end = len;;) {
                const struct mount_entry *e = find_point(path, end == 0 ? 1 : end);
                if (e) {
                        if (e->fd < 0)
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

static void on_mounts_changed(evutil_socket_t fd, short what, void *arg) {
        struct epoll_event ev;

        /* Draining the epoll instance re-arms it. */
        while (epoll_wait(M.epoll_fd, &ev, 1, 0) > 0)
                ;
        log_msg(LOG_DEBUG, "mount table changed, re-reading it");
        M.last_read_ns = now_ns();
        mounts_read();
}

int mounts_init(struct event_base *base) {
        mounts_read();
        M.last_read_ns = now_ns();
        if (!base)
                return 0;

        /* mountinfo signals changes with POLLPRI, which libevent does not
         * watch for; an epoll instance that does is itself readable. */
        M.info_fd = open("/proc/self/mountinfo", O_RDONLY | O_CLOEXEC);
        M.epoll_fd = epoll_create1(EPOLL_CLOEXEC);
        if (M.info_fd < 0 || M.epoll_fd < 0)
                return -errno;
        struct epoll_event ev = { .events = EPOLLPRI | EPOLLERR };
        if (epoll_ctl(M.epoll_fd, EPOLL_CTL_ADD, M.info_fd, &ev) < 0)
                return -errno;
        /* The first poll reports the state at open as a change. */
        while (epoll_wait(M.epoll_fd, &ev, 1, 0) > 0)
                ;
        M.watch = event_new(base, M.epoll_fd, EV_READ | EV_PERSIST, on_mounts_changed, NULL);
        if (!M.watch || event_add(M.watch, NULL) < 0)
                return -ENOMEM;
        return 0;
}

void mounts_done(void) {
        if (M.watch)
                event_free(M.watch);
        M.watch = NULL;
        M.epoll_fd = safe_close(M.epoll_fd);
        M.info_fd = safe_close(M.info_fd);
        table_free(M.v, M.n, M.slots);
        M.v = NULL;
        M.slots = NULL;
        M.n = 0;
        M.mask = 0;
        M.last_read_ns = -MOUNTS_REREAD_NS;
}
