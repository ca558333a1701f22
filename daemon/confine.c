/* SPDX-License-Identifier: MIT */
#include "confine.h"

#include <errno.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <sched.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <ucontext.h>
#include <unistd.h>

#include "log.h"
#include "macro.h"

#if !defined(__x86_64__)
#error "the system-call allow-list is written for x86-64"
#endif

#ifndef __X32_SYSCALL_BIT
#define __X32_SYSCALL_BIT 0x40000000
#endif

/* ---- capabilities ------------------------------------------------------ */

/* Returns the union of the effective, permitted and inheritable sets in
 * *ret_any, the permitted set in *ret_permitted. */
static int caps_get(uint64_t *ret_permitted, uint64_t *ret_any) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        if (syscall(SYS_capget, &h, d) < 0)
                return -errno;
        *ret_permitted = (uint64_t) d[0].permitted | (uint64_t) d[1].permitted << 32;
        *ret_any = *ret_permitted | d[0].effective | (uint64_t) d[1].effective << 32 | d[0].inheritable |
                   (uint64_t) d[1].inheritable << 32;
        return 0;
}

static int caps_set(uint64_t set) {
        struct __user_cap_header_struct h = { .version = _LINUX_CAPABILITY_VERSION_3 };
        struct __user_cap_data_struct d[_LINUX_CAPABILITY_U32S_3] = {};

        for (size_t i = 0; i < ELEMENTSOF(d); i++)
                d[i].effective = d[i].permitted = d[i].inheritable = (uint32_t) (set >> (32 * i));
        if (syscall(SYS_capset, &h, d) < 0)
                return -errno;
        return 0;
}

/* The bounding set limits what an exec could ever give back: emptied of
 * everything else while CAP_SETPCAP is still held. */
static int caps_bound(uint64_t keep) {
        for (unsigned long cap = 0;; cap++) {
                int r = prctl(PR_CAPBSET_READ, cap, 0, 0, 0);
                if (r < 0) {
                        if (errno == EINVAL)
                                return 0; /* past the last capability the kernel knows */
                        return -errno;
                }
                if (r == 0 || (cap < 64 && (keep & (1ULL << cap))))
                        continue;
                if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
                        log_always(LOG_ERR, "cannot drop capability %lu from the bounding set: %s", cap,
                                   strerror(errno));
                        return -errno;
                }
        }
}

static int caps_confine(void) {
        uint64_t permitted = 0, any = 0;
        int r;

        r = caps_get(&permitted, &any);
        if (r < 0)
                return r;
        r = caps_bound(CONFINE_CAPS);
        if (r < 0)
                return r;
        /* A kernel without ambient capabilities has none to clear. */
        if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
                return -errno;
        /* Started with fewer (a unit's CapabilityBoundingSet=), keep fewer. */
        uint64_t keep = CONFINE_CAPS & permitted;
        if (keep != CONFINE_CAPS)
                log_always(LOG_WARNING, "started without some of CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, "
                           "CAP_CHOWN, CAP_FOWNER: some requests the policy allows will fail");
        r = caps_set(keep);
        /* A service manager may forbid capset() itself (systemd's
         * ~@privileged) after bounding the sets: then nothing is left to
         * drop, as a second look confirms. */
        if (r == -EPERM && caps_get(&permitted, &any) == 0 && (any & ~CONFINE_CAPS) == 0)
                return 0;
        return r;
}

/* ---- system calls ------------------------------------------------------ */

/* What fdbrokerd calls once serving: the event loop, the workers, the
 * user-database thread, sd_notify and the journal, glibc and, in the
 * sanitizer build, its runtime.  Anything else is refused. */
static const int allowed[] = {
        /* memory */
        SYS_brk, SYS_mmap, SYS_munmap, SYS_mremap, SYS_mprotect, SYS_madvise,
        /* threads and time */
        SYS_clone, SYS_futex, SYS_set_robust_list, SYS_rseq, SYS_sched_yield, SYS_sched_getaffinity,
        SYS_exit, SYS_exit_group, SYS_gettid, SYS_getpid, SYS_tgkill, SYS_clock_gettime,
        SYS_clock_nanosleep, SYS_nanosleep, SYS_gettimeofday, SYS_getrandom,
        /* signals */
        SYS_rt_sigaction, SYS_rt_sigprocmask, SYS_rt_sigreturn, SYS_sigaltstack,
        /* event loop */
        SYS_epoll_wait, SYS_epoll_pwait, SYS_epoll_ctl, SYS_epoll_create1, SYS_eventfd2, SYS_pipe2,
        SYS_timerfd_create, SYS_timerfd_settime, SYS_poll, SYS_ppoll,
        /* sockets */
        SYS_socket, SYS_connect, SYS_accept4, SYS_sendmsg, SYS_recvmsg, SYS_sendmmsg, SYS_recvmmsg, SYS_sendto, SYS_recvfrom,
        SYS_getsockopt, SYS_setsockopt, SYS_getsockname, SYS_getpeername, SYS_shutdown,
        /* files */
        SYS_openat, SYS_openat2, SYS_close, SYS_memfd_create, SYS_read, SYS_write, SYS_pread64, SYS_writev,
        SYS_readv, SYS_lseek, SYS_fstat, SYS_newfstatat, SYS_statx, SYS_fstatfs, SYS_statfs,
        SYS_readlinkat, SYS_fcntl, SYS_dup, SYS_dup3, SYS_ioctl, SYS_ftruncate, SYS_fchown,
        SYS_fchownat, SYS_fchmod, SYS_mkdirat, SYS_unlinkat, SYS_unlink, SYS_renameat, SYS_renameat2,
        SYS_getdents64,
        SYS_faccessat, SYS_faccessat2, SYS_flock, SYS_fsync, SYS_fdatasync, SYS_close_range,
        /* pidfds */
        SYS_pidfd_open, SYS_pidfd_send_signal, SYS_pidfd_getfd,
        /* identity */
        SYS_getuid, SYS_geteuid, SYS_getgid, SYS_getegid, SYS_getresuid, SYS_getresgid,
        SYS_getgroups, SYS_capget, SYS_prctl, SYS_uname, SYS_getrlimit, SYS_prlimit64,
#if defined(__SANITIZE_ADDRESS__)
        /* LeakSanitizer stops the world at exit with a traced helper. */
        SYS_ptrace, SYS_wait4, SYS_getppid, SYS_sched_getparam, SYS_readlink, SYS_stat, SYS_lstat,
        SYS_pipe, SYS_kill, SYS_open, SYS_getdents,
#endif
};

#define LOAD(field) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, field))
#define RET(v) BPF_STMT(BPF_RET | BPF_K, (v))

/* Appends: if the call is nr, return ret. */
static size_t emit(struct sock_filter *f, size_t n, long nr, uint32_t ret) {
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) nr, 0, 1);
        f[n++] = (struct sock_filter) RET(ret);
        return n;
}

/* Classic BPF, by hand: right architecture, no x32 numbers, then one
 * comparison per allowed call. */
static int seccomp_install(void) {
        struct sock_filter f[16 + 2 * ELEMENTSOF(allowed)];
        size_t n = 0;

        f[n++] = (struct sock_filter) LOAD(arch);
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, AUDIT_ARCH_X86_64, 1, 0);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_TRAP);
        f[n++] = (struct sock_filter) LOAD(nr);
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JGE | BPF_K, __X32_SYSCALL_BIT, 0, 1);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_TRAP);

        /* clone only makes threads (CLONE_THREAD in its flags, the first
         * argument): no new processes, so nothing to exec in.  clone3 hides
         * its flags behind a pointer: ENOSYS makes glibc fall back to clone. */
#if !defined(__SANITIZE_ADDRESS__)
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, SYS_clone, 0, 4);
        f[n++] = (struct sock_filter) LOAD(args[0]);
        f[n++] = (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, CLONE_THREAD, 0, 1);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_ALLOW);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_TRAP);
#endif
        n = emit(f, n, SYS_clone3, SECCOMP_RET_ERRNO | ENOSYS);

        for (size_t i = 0; i < ELEMENTSOF(allowed); i++)
                n = emit(f, n, allowed[i], SECCOMP_RET_ALLOW);
        f[n++] = (struct sock_filter) RET(SECCOMP_RET_TRAP);

        struct sock_fprog prog = { .len = (unsigned short) n, .filter = f };
        if (syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_TSYNC, &prog) != 0)
                return errno > 0 ? -errno : -ESRCH; /* >0: a thread could not be synchronised */
        return 0;
}

/* Async-signal-safe: formats into a fixed buffer and write()s it. */
static void on_sigsys(int sig, siginfo_t *si, void *ctx) {
        static const char head[] = "fdbrokerd: seccomp: refused system call ";
        char buf[sizeof head + 32];
        char num[16];
        size_t n = sizeof head - 1, k = 0;
        unsigned v = (unsigned) si->si_syscall;
        int saved = errno;

        memcpy(buf, head, n);
        do
                num[k++] = (char) ('0' + v % 10);
        while ((v /= 10) && k < sizeof num);
        while (k > 0)
                buf[n++] = num[--k];
        memcpy(buf + n, " (EPERM)\n", 9);
        n += 9;
        (void) !write(STDERR_FILENO, buf, n);

        ucontext_t *uc = ctx;
        uc->uc_mcontext.gregs[REG_RAX] = -EPERM;
        errno = saved;
}

int confine_self(void) {
        struct sigaction sa = { .sa_sigaction = on_sigsys, .sa_flags = SA_SIGINFO | SA_RESTART };
        int r;

        if (geteuid() == 0) {
                r = caps_confine();
                if (r < 0) {
                        log_always(LOG_ERR, "cannot drop capabilities: %s", strerror(-r));
                        return r;
                }
        } else
                log_always(LOG_WARNING, "not running as root (uid %u): the broker can grant nothing beyond "
                           "the starting user's own access", (unsigned) geteuid());

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0) {
                r = -errno;
                log_always(LOG_ERR, "cannot set no_new_privs: %s", strerror(-r));
                return r;
        }

        sigemptyset(&sa.sa_mask);
        if (sigaction(SIGSYS, &sa, NULL) < 0)
                return -errno;
        r = seccomp_install();
        if (r < 0) {
                log_always(LOG_ERR, "cannot install the system-call filter: %s", strerror(-r));
                return r;
        }
        return 0;
}
