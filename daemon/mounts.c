/* SPDX-License-Identifier: MIT */
#include "mounts.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/sysmacros.h>
#include <time.h>

#include "macro.h"

/* Re-reading the table costs a few hundred microseconds; a client naming
 * files on many fresh FUSE mounts must not make the loop do it all day. */
#define MOUNTS_REREAD_NS (100 * 1000 * 1000LL)
/* Mount tables of container hosts run into thousands; past this the rest
 * just counts as not local. */
#define MOUNTS_MAX 65536

struct mount_entry {
        uint64_t id;
        dev_t dev;
        bool local;
};

static struct mount_entry *table;
static size_t n_table;
static long long last_read_ns = -MOUNTS_REREAD_NS;

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

/* /proc/self/mountinfo: "ID PARENT MAJ:MIN ROOT POINT OPTS [TAGS...] - FSTYPE SOURCE SUPEROPTS" */
static void mounts_read(void) {
        _cleanup_free_ char *line = NULL;
        size_t cap = 0;
        struct mount_entry *v = NULL;
        size_t n = 0, vcap = 0;

        FILE *f = fopen("/proc/self/mountinfo", "re");
        if (!f)
                return;
        while (getline(&line, &cap, f) > 0 && n < MOUNTS_MAX) {
                unsigned long long id;
                unsigned maj, min;
                if (sscanf(line, "%llu %*u %u:%u", &id, &maj, &min) != 3)
                        continue;
                char *sep = strstr(line, " - ");
                if (!sep)
                        continue;
                char fstype[64];
                if (sscanf(sep + 3, "%63s", fstype) != 1)
                        continue;
                if (n == vcap) {
                        size_t ncap = vcap ? vcap * 2 : 64;
                        struct mount_entry *nv = reallocarray(v, ncap, sizeof *nv);
                        if (!nv)
                                break;
                        v = nv;
                        vcap = ncap;
                }
                v[n++] = (struct mount_entry) {
                        .id = id, .dev = makedev(maj, min), .local = mounts_fstype_is_local(fstype),
                };
        }
        fclose(f);
        if (!v && n == 0)
                return;
        qsort(v, n, sizeof *v, cmp_entry);
        free(table);
        table = v;
        n_table = n;
}

static const struct mount_entry *mounts_find(uint64_t id) {
        struct mount_entry key = { .id = id };
        return table ? bsearch(&key, table, n_table, sizeof key, cmp_entry) : NULL;
}

bool mounts_is_local(uint64_t mnt_id, dev_t dev) {
        const struct mount_entry *e = mounts_find(mnt_id);

        /* Mount ids are reused after an unmount: the device must match too. */
        if (!e || e->dev != dev) {
                long long t = now_ns();
                if (t - last_read_ns < MOUNTS_REREAD_NS)
                        return false;
                last_read_ns = t;
                mounts_read();
                e = mounts_find(mnt_id);
                if (!e || e->dev != dev)
                        return false;
        }
        return e->local;
}

void mounts_done(void) {
        free(table);
        table = NULL;
        n_table = 0;
}
