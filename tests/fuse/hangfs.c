/* SPDX-License-Identifier: MIT */
/* hangfs: a FUSE filesystem for the tests of slow filesystems.  It serves
 *
 *   /file.txt      "fuse data\n", answered at once;
 *   /hang-open     "late open\n": its open handler blocks;
 *   /hang-lookup   "late lookup\n": its lookup (getattr) blocks;
 *   /hang-flush    "late flush\n": opens at once, but every close() of a
 *                  descriptor of it (FLUSH) blocks;
 *
 * and a blocked handler waits until the release file exists (created by
 * the test), or 60 s at most, so that nothing hangs for ever.  Every open,
 * lookup of a hanging file and release is written as one line to the event
 * log, so that a test knows when a request reached the filesystem and when
 * the descriptor the daemon got was closed again (release).
 *
 *   hangfs --log=FILE --release=FILE MOUNTPOINT [FUSE options]
 *
 * It runs in the foreground, multi-threaded: a blocked handler holds one
 * thread, the others keep answering. */

#define FUSE_USE_VERSION 35

#include <errno.h>
#include <fcntl.h>
#include <fuse.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define BLOCK_MAX_MS 60000

struct options {
        const char *log;
        const char *release;
};

static struct options opts;
static int log_fd = -1;

static const struct file {
        const char *path;
        const char *content;
        bool hang_open;
        bool hang_lookup;
        bool hang_flush;
} files[] = {
        { "/file.txt", "fuse data\n", false, false, false },
        { "/hang-open", "late open\n", true, false, false },
        { "/hang-lookup", "late lookup\n", false, true, false },
        { "/hang-flush", "late flush\n", false, false, true },
};

static const struct file *find(const char *path) {
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
                if (strcmp(path, files[i].path) == 0)
                        return &files[i];
        return NULL;
}

static void event(const char *what, const char *path) {
        char line[256];
        int n = snprintf(line, sizeof line, "%s %s\n", what, path);
        if (log_fd >= 0 && n > 0)
                (void) !write(log_fd, line, (size_t) n);
}

/* Blocks the calling handler until the test releases it. */
static void block(const char *what, const char *path) {
        char enter[64];
        snprintf(enter, sizeof enter, "%s-blocked", what);
        event(enter, path);
        for (int waited = 0; waited < BLOCK_MAX_MS && access(opts.release, F_OK) < 0; waited += 5)
                usleep(5000);
        snprintf(enter, sizeof enter, "%s-released", what);
        event(enter, path);
}

static void *hang_init(struct fuse_conn_info *conn, struct fuse_config *cfg) {
        (void) conn;
        /* The kernel keeps lookups for a second: every test mounts afresh. */
        cfg->entry_timeout = 1.0;
        cfg->attr_timeout = 1.0;
        cfg->negative_timeout = 0;
        return NULL;
}

static int hang_getattr(const char *path, struct stat *st, struct fuse_file_info *fi) {
        memset(st, 0, sizeof *st);
        if (strcmp(path, "/") == 0) {
                st->st_mode = S_IFDIR | 0755;
                st->st_nlink = 2;
                return 0;
        }
        const struct file *f = find(path);
        if (!f)
                return -ENOENT;
        /* fi is set when the kernel asks about an open file, not a name. */
        if (f->hang_lookup && !fi)
                block("lookup", path);
        st->st_mode = S_IFREG | 0644;
        st->st_nlink = 1;
        st->st_size = (off_t) strlen(f->content);
        return 0;
}

static int hang_readdir(const char *path, void *buf, fuse_fill_dir_t fill, off_t off, struct fuse_file_info *fi,
                        enum fuse_readdir_flags flags) {
        (void) off;
        (void) fi;
        (void) flags;
        if (strcmp(path, "/") != 0)
                return -ENOTDIR;
        fill(buf, ".", NULL, 0, 0);
        fill(buf, "..", NULL, 0, 0);
        for (size_t i = 0; i < sizeof files / sizeof files[0]; i++)
                fill(buf, files[i].path + 1, NULL, 0, 0);
        return 0;
}

static int hang_open(const char *path, struct fuse_file_info *fi) {
        const struct file *f = find(path);
        if (!f)
                return -ENOENT;
        if ((fi->flags & O_ACCMODE) != O_RDONLY)
                return -EACCES;
        event("open", path);
        if (f->hang_open)
                block("open", path);
        return 0;
}

static int hang_read(const char *path, char *buf, size_t size, off_t off, struct fuse_file_info *fi) {
        (void) fi;
        const struct file *f = find(path);
        if (!f)
                return -ENOENT;
        size_t len = strlen(f->content);
        if ((size_t) off >= len)
                return 0;
        if (size > len - (size_t) off)
                size = len - (size_t) off;
        memcpy(buf, f->content + off, size);
        return (int) size;
}

static int hang_flush(const char *path, struct fuse_file_info *fi) {
        (void) fi;
        const struct file *f = find(path);
        if (f && f->hang_flush)
                block("flush", path);
        return 0;
}

static int hang_release(const char *path, struct fuse_file_info *fi) {
        (void) fi;
        event("release", path);
        return 0;
}

static const struct fuse_operations ops = {
        .init = hang_init,
        .getattr = hang_getattr,
        .readdir = hang_readdir,
        .open = hang_open,
        .read = hang_read,
        .flush = hang_flush,
        .release = hang_release,
};

static const struct fuse_opt option_spec[] = {
        { "--log=%s", offsetof(struct options, log), 1 },
        { "--release=%s", offsetof(struct options, release), 1 },
        FUSE_OPT_END,
};

int main(int argc, char **argv) {
        struct fuse_args args = FUSE_ARGS_INIT(argc, argv);

        if (fuse_opt_parse(&args, &opts, option_spec, NULL) < 0)
                return 2;
        if (!opts.log || !opts.release) {
                fprintf(stderr, "usage: hangfs --log=FILE --release=FILE MOUNTPOINT [FUSE options]\n");
                return 2;
        }
        log_fd = open(opts.log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
        if (log_fd < 0) {
                perror(opts.log);
                return 1;
        }
        int r = fuse_main(args.argc, args.argv, &ops, NULL);
        fuse_opt_free_args(&args);
        close(log_fd);
        free((char *) opts.log);
        free((char *) opts.release);
        return r;
}
