/* SPDX-License-Identifier: MIT */
#include "testutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <grp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

char *tu_mkdtemp(void) {
        char *t = strdup("/tmp/fdbr-test-XXXXXX");
        ck_assert_ptr_nonnull(t);
        ck_assert_ptr_nonnull(mkdtemp(t));
        ck_assert_int_eq(chmod(t, 0755), 0);
        return t;
}

static int rm_one(const char *path, const struct stat *st, int type, struct FTW *ftw) {
        (void) st;
        (void) ftw;
        if (type == FTW_DP)
                return rmdir(path) < 0 && errno != ENOENT ? -1 : 0;
        return unlink(path) < 0 && errno != ENOENT ? -1 : 0;
}

void tu_rm_rf(const char *path) {
        if (!path)
                return;
        (void) nftw(path, rm_one, 16, FTW_DEPTH | FTW_PHYS);
}

void tu_write_file(const char *path, const char *content, mode_t mode, uid_t uid, gid_t gid) {
        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, mode);
        ck_assert_msg(fd >= 0, "open %s: %s", path, strerror(errno));
        size_t len = strlen(content);
        ck_assert_int_eq(write(fd, content, len), (ssize_t) len);
        ck_assert_int_eq(fchmod(fd, mode), 0);
        ck_assert_int_eq(fchown(fd, uid, gid), 0);
        close(fd);
}

void tu_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid) {
        ck_assert_msg(mkdir(path, mode) == 0, "mkdir %s: %s", path, strerror(errno));
        ck_assert_int_eq(chmod(path, mode), 0);
        ck_assert_int_eq(chown(path, uid, gid), 0);
}

void tu_drop_privileges(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups) {
        ck_assert_int_eq(setgroups(n_groups, groups), 0);
        ck_assert_int_eq(setresgid(gid, gid, gid), 0);
        ck_assert_int_eq(setresuid(uid, uid, uid), 0);

        uid_t r, e, s;
        ck_assert_int_eq(getresuid(&r, &e, &s), 0);
        ck_assert(r == uid && e == uid && s == uid);
        if (uid != 0)
                ck_assert_int_ne(setresuid(0, 0, 0), 0);
}

int tu_count_fds(pid_t pid) {
        char path[64];
        snprintf(path, sizeof path, "/proc/%d/fd", (int) pid);
        DIR *d = opendir(path);
        ck_assert_msg(d, "opendir %s: %s", path, strerror(errno));
        int n = 0;
        for (struct dirent *de; (de = readdir(d));)
                if (de->d_name[0] != '.')
                        n++;
        closedir(d);
        return n;
}

char *tu_strdupf(const char *fmt, ...) {
        va_list ap;
        char *s = NULL;
        va_start(ap, fmt);
        int r = vasprintf(&s, fmt, ap);
        va_end(ap);
        ck_assert_int_ge(r, 0);
        return s;
}

void tu_require_root(void) {
        if (geteuid() == 0)
                return;
        fprintf(stderr, "skipped: the suite runs daemons as root and clients as other users\n");
        exit(TU_SKIP);
}

void tu_require_fuse(void) {
        tu_require_root();
        if (access("/dev/fuse", R_OK | W_OK) == 0)
                return;
        fprintf(stderr, "skipped: /dev/fuse is not usable here\n");
        exit(TU_SKIP);
}

int tu_run_suite(Suite *s) {
        SRunner *sr = srunner_create(s);
        srunner_set_fork_status(sr, CK_FORK);
        srunner_run_all(sr, CK_NORMAL);
        int failed = srunner_ntests_failed(sr);
        srunner_free(sr);
        return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
