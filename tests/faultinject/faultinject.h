/* SPDX-License-Identifier: MIT */
#pragma once

/* The control block shared by the fault-injection shim (loaded into the
 * daemon with LD_PRELOAD) and the tests driving it.
 *
 * The shim reads, from its environment:
 *   FDBR_FAULT        what to break: entries separated by ';', each
 *                     CALL:ERRNO[:OPTION]...  with CALL one of the names
 *                     below, ERRNO a name (EMFILE) or a number, and
 *                     OPTIONs
 *                       every=N   fail every Nth call (counted while armed)
 *                       prob=P    fail a call with probability P percent
 *                       after=N   let the first N calls (while armed) pass
 *                       limit=N   inject at most N failures
 *                       sleep=MS  do not fail: the call waits MS
 *                                 milliseconds, then runs (ERRNO is 0) —
 *                                 a slow disk or filesystem
 *                       opt=N     getsockopt/setsockopt: only calls for
 *                                 option N (e.g. 77, SO_PEERPIDFD)
 *                       main=1    only in the main thread (the daemon's
 *                                 event loop): other threads include the
 *                                 start of each worker, where a sanitizer
 *                                 runtime allocates through glibc and
 *                                 aborts if that fails
 *                     no option: fail every call while armed.
 *   FDBR_FAULT_SEED   seed of prob= (default 1)
 *   FDBR_FAULT_CTL    a file of sizeof(struct fault_ctl) bytes that the
 *                     shim maps shared: its armed word switches injection
 *                     on and off while the daemon runs (a daemon would not
 *                     get far enough to serve if its allocations failed
 *                     from the start), and it counts calls and failures so
 *                     that a test can tell that its faults really happened.
 *                     Without it, injection is armed from the start.
 *
 * Only the calls made while armed are counted (by the threads the entry
 * applies to). */

#include <stdint.h>

enum fault_call {
        FAULT_MALLOC,
        FAULT_CALLOC,
        FAULT_REALLOC,
        FAULT_OPENAT2,      /* syscall(SYS_openat2, ...) */
        FAULT_CREAT,        /* the same, only when the flags hold O_CREAT */
        FAULT_SENDMSG,      /* sendmsg and sendmmsg */
        FAULT_RECVMSG,      /* recvmsg and recvmmsg */
        FAULT_ACCEPT4,
        FAULT_GETSOCKOPT,
        FAULT_SETSOCKOPT,
        FAULT_GETPWUID,     /* getpwuid_r; opt=N: only for uid N */
        FAULT_GETPWNAM,     /* getpwnam_r (user= names, /etc/subuid owners) */
        FAULT_GETGRNAM,     /* getgrnam_r (group= names) */
        FAULT_CALL_MAX,
};

#define FAULT_CALL_NAMES { "malloc", "calloc", "realloc", "openat2", "creat", "sendmsg", "recvmsg", "accept4", "getsockopt", "setsockopt", "getpwuid_r", "getpwnam_r", "getgrnam_r" }

#define FAULT_CTL_MAGIC 0x46445246u /* "FRDF" */

struct fault_ctl {
        uint32_t magic;                     /* written by the shim once mapped */
        uint32_t armed;                     /* written by the test */
        uint64_t calls[FAULT_CALL_MAX];     /* while armed */
        uint64_t injected[FAULT_CALL_MAX];
};
