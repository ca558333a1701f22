/* SPDX-License-Identifier: MIT */
/* Paths as the broker wants them: absolute and canonical, made from what
 * CMD wrote and the directory it is relative to. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The protocol's longest path. */
#define RUN_PATH_MAX 4095

/* Appends the components of p to out (length *len), lexically. */
static int run_path_walk(const char *p, char *out, size_t *len, bool *ret_dir) {
        bool dir = false;

        while (*p) {
                const char *c = p;
                while (*p && *p != '/')
                        p++;
                size_t n = (size_t) (p - c);
                while (*p == '/')
                        p++;

                if (n == 0 || (n == 1 && c[0] == '.')) {
                        dir = true;
                        continue;
                }
                if (n == 2 && c[0] == '.' && c[1] == '.') {
                        /* At the root, ".." is the root, as for the kernel. */
                        while (*len > 0 && out[*len - 1] != '/')
                                (*len)--;
                        if (*len > 0)
                                (*len)--;
                        dir = true;
                        continue;
                }
                if (*len + 1 + n > RUN_PATH_MAX)
                        return -ENAMETOOLONG;
                out[(*len)++] = '/';
                memcpy(out + *len, c, n);
                *len += n;
                /* A name followed by a slash must be a directory. */
                dir = p[-1] == '/';
        }
        if (ret_dir)
                *ret_dir = dir;
        return 0;
}

int run_path_join(const char *base, const char *path, char *out, bool *ret_dir) {
        size_t len = 0;
        bool dir = false;
        int r;

        if (!*path)
                return -ENOENT;
        if (path[0] != '/') {
                if (!base || base[0] != '/')
                        return -EINVAL;
                r = run_path_walk(base, out, &len, NULL);
                if (r < 0)
                        return r;
        }
        r = run_path_walk(path, out, &len, &dir);
        if (r < 0)
                return r;
        if (len == 0)
                out[len++] = '/';
        out[len] = 0;
        if (ret_dir)
                *ret_dir = dir;
        return 0;
}

bool run_path_is_proc(const char *path) {
        return strncmp(path, "/proc", 5) == 0 && (path[5] == 0 || path[5] == '/');
}

int run_path_dirfd(pid_t pid, int dirfd, char *out) {
        char link[64];
        struct stat st;

        if (dirfd == AT_FDCWD)
                snprintf(link, sizeof link, "/proc/%d/cwd", (int) pid);
        else if (dirfd >= 0)
                snprintf(link, sizeof link, "/proc/%d/fd/%d", (int) pid, dirfd);
        else
                return -EBADF;

        ssize_t n = readlink(link, out, PATH_MAX);
        if (n < 0)
                return errno == ENOENT ? -EBADF : -errno;
        if (n >= PATH_MAX)
                return -ENAMETOOLONG;
        out[n] = 0;

        /* "pipe:[42]", "anon_inode:...", and a directory outside our root
         * or mount namespace have no path we could ask about; a deleted
         * one has a " (deleted)" its name may also really end with. */
        if (out[0] != '/')
                return -ENOTDIR;
        static const char deleted[] = " (deleted)";
        if ((size_t) n >= sizeof deleted - 1 && strcmp(out + n - (sizeof deleted - 1), deleted) == 0)
                return -ENOTDIR;
        if (dirfd != AT_FDCWD && (stat(link, &st) < 0 || !S_ISDIR(st.st_mode)))
                return -ENOTDIR;
        return 0;
}
