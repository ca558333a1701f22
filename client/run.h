/* SPDX-License-Identifier: MIT */
#pragma once

/* fdbroker run: CMD's file system calls trapped by seccomp user
 * notification and answered through the broker.  Modules:
 *   run.c         the command: option parsing, CMD's start, the loop, exit
 *   run-filter.c  the seccomp filter and the table of trapped calls
 *   run-path.c    lexical canonicalisation against CMD's cwd or dirfd
 *   run-mem.c     reading and writing CMD's memory, its umask
 *   run-call.c    one trapped call: decode, ask the broker, answer
 *   run-grants.c  the client-side pre-check from GRANTS */

#include <limits.h>
#include <linux/seccomp.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "fdbroker.h"

struct event;
struct event_base;

/* ---- run-filter.c ----------------------------------------------------- */

/* What a trapped system call is, whatever its name. */
enum run_kind {
        RUN_OPEN,
        RUN_STAT,     /* stat, lstat, newfstatat: a struct stat */
        RUN_STATX,    /* a struct statx */
        RUN_ACCESS,
        RUN_READLINK,
        RUN_MKDIR,
        RUN_UNLINK,
        RUN_RMDIR,
        RUN_RENAME,
        RUN_CHMOD,    /* asked as OPEN, then fchmod() by the supervisor */
        _RUN_KIND_MAX,
};

/* Where a call's arguments are: index into seccomp_data.args, or -1. */
struct run_syscall {
        int nr;
        const char *name;
        enum run_kind kind;
        int dirfd, path, dirfd2, path2; /* -1: AT_FDCWD / none */
        int flags;                      /* open flags, AT_* flags, access mode */
        int flags2;                     /* AT_* flags beside an access mode, rename flags */
        int mode;                       /* creation mode */
        int buf, size;                  /* stat or readlink output */
        int fixed_flags;                /* creat: O_CREAT|O_WRONLY|O_TRUNC; lstat: AT_SYMLINK_NOFOLLOW */
        bool openat2;                   /* flags/mode/resolve in a struct open_how */
};

/* The entry for a native system call number, or NULL. */
const struct run_syscall *run_syscall_find(int nr);

/* Sets no_new_privs and installs the filter on the calling thread; returns
 * the listener (close-on-exec) or -errno. */
int run_filter_install(void);

/* ---- run-path.c ------------------------------------------------------- */

/* Joins path to base (absolute; NULL when path is absolute) and removes
 * ".", ".." and empty components lexically, into out (PATH_MAX bytes).
 * *ret_dir tells whether path named a directory by its spelling (a trailing
 * "/", "." or ".."), which the kernel would insist on.  Returns 0,
 * -ENOENT for an empty path, -EINVAL for a relative path without base,
 * -ENAMETOOLONG if the result does not fit the protocol (4095 bytes). */
int run_path_join(const char *base, const char *path, char *out, bool *ret_dir);

/* True for /proc and everything under it: never sent to the broker. */
bool run_path_is_proc(const char *path);

/* The directory a dirfd of pid stands for (AT_FDCWD: its cwd), as an
 * absolute path into out (PATH_MAX bytes).  -ENOTDIR when it is not a
 * directory of this mount namespace with a path (a pipe, a deleted
 * directory, ...), -EBADF when no such descriptor. */
int run_path_dirfd(pid_t pid, int dirfd, char *out);

/* ---- run-mem.c -------------------------------------------------------- */

/* Copies the NUL-terminated string at addr in pid into buf (size bytes,
 * NUL included).  Returns its length, -ENAMETOOLONG if no NUL in size
 * bytes, -EFAULT, -EPERM, -ESRCH. */
ssize_t run_mem_read_string(pid_t pid, uint64_t addr, char *buf, size_t size);

/* Copies exactly size bytes from pid's memory.  Returns 0 or -errno. */
int run_mem_read(pid_t pid, uint64_t addr, void *buf, size_t size);

/* Opens pid's memory for writing (/proc/PID/mem): the descriptor pins that
 * process's address space, so that a write made after the notification was
 * checked valid cannot land in a process that reused the pid. */
int run_mem_open(pid_t pid);

/* The umask of pid, or -errno. */
int run_mem_umask(pid_t pid);

/* 1 when pid has this process's user and group ids (all four of each) and
 * supplementary groups, and every capability this process has: what this
 * process may do to a file it holds, pid could do to it too.  0 when not,
 * -errno when it cannot be told. */
int run_mem_same_creds(pid_t pid);

/* ---- run-grants.c ----------------------------------------------------- */

struct run_grants;

/* Parses GRANTS text ("PATTERN PERMISSIONS" lines).  Returns 0 and a new
 * set, or -ENOMEM. */
int run_grants_parse(const char *text, size_t len, struct run_grants **ret);
void run_grants_free(struct run_grants *g);

/* False only when no pattern can match path or anything beneath it: then
 * asking the broker can only be refused.  A NULL set (the broker does not
 * say) matches everything. */
bool run_grants_may_match(const struct run_grants *g, const char *path);

/* ---- run.c / run-call.c ----------------------------------------------- */

struct run_call;

struct run {
        struct event_base *base;
        fdbr_conn *conn;
        const char *socket;
        int listener;
        struct event *listener_ev;
        size_t notif_size, resp_size; /* the kernel's, from SECCOMP_GET_NOTIF_SIZES */
        void *notif_buf, *resp_buf;   /* that large */
        bool no_fallback;
        bool lost;                    /* the broker is gone: calls continue */
        bool unsupported[_RUN_KIND_MAX]; /* the broker predates the op */
        struct run_grants *grants;
        unsigned inflight;            /* calls waiting for the broker */
        bool listener_done;           /* no process uses the filter any more */
        struct run_call *spare;       /* where the next call is decoded */
        bool recv_returns_on_hup;     /* NOTIF_RECV does not block once nobody is left */
};

/* Handles the notifications waiting on the listener.  Returns 0, or -errno
 * when the listener itself failed. */
int run_call_receive(struct run *r);

/* Frees the spare call, at the end. */
void run_call_free_spare(struct run *r);

/* Answers notification id by letting the call run as CMD's own. */
void run_call_continue(struct run *r, uint64_t id);
