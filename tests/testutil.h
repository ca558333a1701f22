/* SPDX-License-Identifier: MIT */
#pragma once

/* Helpers shared by the test suites.  Tests abort (ck_assert) on any
 * failure of these helpers: a broken fixture is a failed test. */

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include <check.h>

#define TU_NOBODY 65534

/* A call of the libc kind that must fail, returning -1 with errno e. */
#define FAILS_WITH(call, e)                                \
        do {                                               \
                errno = 0;                                 \
                ck_assert_int_eq((call), -1);              \
                ck_assert_int_eq(errno, (e));              \
        } while (0)

/* Makes a fresh directory /tmp/fdbr-test-XXXXXX (mode 0755) and returns its
 * path (malloc'ed). */
char *tu_mkdtemp(void);

/* Removes path and everything beneath it; missing is fine. */
void tu_rm_rf(const char *path);

/* Writes content to path (created or truncated) with mode and owner. */
void tu_write_file(const char *path, const char *content, mode_t mode, uid_t uid, gid_t gid);

/* Makes a directory with mode and owner. */
void tu_mkdir(const char *path, mode_t mode, uid_t uid, gid_t gid);

/* Drops this process to uid/gid with no supplementary groups but those
 * given, for real (setgroups, setresgid, setresuid); aborts if anything
 * is left. */
void tu_drop_privileges(uid_t uid, gid_t gid, const gid_t *groups, size_t n_groups);

/* Number of open descriptors of pid (entries in /proc/PID/fd). */
int tu_count_fds(pid_t pid);

/* Joins printf-style into a malloc'ed string. */
char *tu_strdupf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Runs a Suite with CK_FORK (each test in its own process) and returns the
 * process exit status for main(). */
int tu_run_suite(Suite *s);

/* Exit status of a suite that cannot run here (CTest's SKIP_RETURN_CODE). */
#define TU_SKIP 77
/* Exits TU_SKIP, saying why, unless running as root / FUSE is usable. */
void tu_require_root(void);
void tu_require_fuse(void);
