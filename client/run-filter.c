/* SPDX-License-Identifier: MIT */
/* The seccomp filter of fdbroker run: which calls are trapped, which are
 * refused, and where each trapped call keeps its arguments. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <stddef.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "macro.h"

#if defined(__x86_64__)
#define RUN_AUDIT_ARCH AUDIT_ARCH_X86_64
/* The other ABI a process of this architecture can enter the kernel with
 * (int 0x80): its calls are not trapped, which gives CMD nothing it does
 * not have, but io_uring is refused there too. */
#define RUN_AUDIT_ARCH_COMPAT AUDIT_ARCH_I386
#define RUN_COMPAT_IO_URING_SETUP 425
#elif defined(__aarch64__)
#define RUN_AUDIT_ARCH AUDIT_ARCH_AARCH64
#define RUN_AUDIT_ARCH_COMPAT AUDIT_ARCH_ARM
#define RUN_COMPAT_IO_URING_SETUP 425
#else
#error "fdbroker run knows the system calls of x86_64 and aarch64 only"
#endif

/* Linux 6.6; the same number on both architectures. */
#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

#ifndef SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV
#define SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV (1UL << 5)
#endif

#define NA (-1)
#define SC(nr_, kind_, dirfd_, path_, dirfd2_, path2_, flags_, flags2_, mode_, buf_, size_, fixed_, how_) \
        { .nr = (nr_), .name = #nr_, .kind = (kind_), .dirfd = (dirfd_), .path = (path_),             \
          .dirfd2 = (dirfd2_), .path2 = (path2_), .flags = (flags_), .flags2 = (flags2_),             \
          .mode = (mode_), .buf = (buf_), .size = (size_), .fixed_flags = (fixed_), .openat2 = (how_) }

static const struct run_syscall run_syscalls[] = {
#ifdef SYS_open
        SC(SYS_open, RUN_OPEN, NA, 0, NA, NA, 1, NA, 2, NA, NA, 0, false),
#endif
#ifdef SYS_creat
        SC(SYS_creat, RUN_OPEN, NA, 0, NA, NA, NA, NA, 1, NA, NA, O_CREAT | O_WRONLY | O_TRUNC, false),
#endif
        SC(SYS_openat, RUN_OPEN, 0, 1, NA, NA, 2, NA, 3, NA, NA, 0, false),
        /* flags, mode and resolve are in the struct open_how at args[2],
         * args[3] bytes long. */
        SC(SYS_openat2, RUN_OPEN, 0, 1, NA, NA, NA, NA, NA, 2, 3, 0, true),
#ifdef SYS_stat
        SC(SYS_stat, RUN_STAT, NA, 0, NA, NA, NA, NA, NA, 1, NA, 0, false),
#endif
#ifdef SYS_lstat
        SC(SYS_lstat, RUN_STAT, NA, 0, NA, NA, NA, NA, NA, 1, NA, AT_SYMLINK_NOFOLLOW, false),
#endif
#ifdef SYS_newfstatat
        SC(SYS_newfstatat, RUN_STAT, 0, 1, NA, NA, 3, NA, NA, 2, NA, 0, false),
#endif
        SC(SYS_statx, RUN_STATX, 0, 1, NA, NA, 2, NA, NA, 4, NA, 0, false),
#ifdef SYS_access
        SC(SYS_access, RUN_ACCESS, NA, 0, NA, NA, 1, NA, NA, NA, NA, 0, false),
#endif
        SC(SYS_faccessat, RUN_ACCESS, 0, 1, NA, NA, 2, NA, NA, NA, NA, 0, false),
        SC(SYS_faccessat2, RUN_ACCESS, 0, 1, NA, NA, 2, 3, NA, NA, NA, 0, false),
#ifdef SYS_readlink
        SC(SYS_readlink, RUN_READLINK, NA, 0, NA, NA, NA, NA, NA, 1, 2, 0, false),
#endif
        SC(SYS_readlinkat, RUN_READLINK, 0, 1, NA, NA, NA, NA, NA, 2, 3, 0, false),
#ifdef SYS_mkdir
        SC(SYS_mkdir, RUN_MKDIR, NA, 0, NA, NA, NA, NA, 1, NA, NA, 0, false),
#endif
        SC(SYS_mkdirat, RUN_MKDIR, 0, 1, NA, NA, NA, NA, 2, NA, NA, 0, false),
#ifdef SYS_unlink
        SC(SYS_unlink, RUN_UNLINK, NA, 0, NA, NA, NA, NA, NA, NA, NA, 0, false),
#endif
        /* AT_REMOVEDIR in args[2] makes it an rmdir. */
        SC(SYS_unlinkat, RUN_UNLINK, 0, 1, NA, NA, NA, 2, NA, NA, NA, 0, false),
#ifdef SYS_rmdir
        SC(SYS_rmdir, RUN_RMDIR, NA, 0, NA, NA, NA, NA, NA, NA, NA, 0, false),
#endif
#ifdef SYS_rename
        SC(SYS_rename, RUN_RENAME, NA, 0, NA, 1, NA, NA, NA, NA, NA, 0, false),
#endif
#ifdef SYS_renameat
        SC(SYS_renameat, RUN_RENAME, 0, 1, 2, 3, NA, NA, NA, NA, NA, 0, false),
#endif
        SC(SYS_renameat2, RUN_RENAME, 0, 1, 2, 3, NA, 4, NA, NA, NA, 0, false),
#ifdef SYS_chmod
        SC(SYS_chmod, RUN_CHMOD, NA, 0, NA, NA, NA, NA, 1, NA, NA, 0, false),
#endif
        SC(SYS_fchmodat, RUN_CHMOD, 0, 1, NA, NA, NA, NA, 2, NA, NA, 0, false),
        SC(SYS_fchmodat2, RUN_CHMOD, 0, 1, NA, NA, NA, 3, 2, NA, NA, 0, false),
};

const struct run_syscall *run_syscall_find(int nr) {
        for (size_t i = 0; i < ELEMENTSOF(run_syscalls); i++)
                if (run_syscalls[i].nr == nr)
                        return &run_syscalls[i];
        return NULL;
}

/* The program:
 *   native arch:  x32 calls (x86_64 only) -> ENOSYS
 *                 io_uring_setup          -> ENOSYS
 *                 newfstatat, statx with AT_EMPTY_PATH -> ALLOW
 *                 each trapped call       -> USER_NOTIF
 *                 anything else           -> ALLOW
 *   compat arch:  io_uring_setup -> ENOSYS, anything else -> ALLOW
 *   unknown arch: KILL_PROCESS
 * fstat() is newfstatat(fd, "", AT_EMPTY_PATH): a descriptor CMD holds,
 * which run would only continue after a round trip through it; the
 * kernel answers it at once.  A path beside AT_EMPTY_PATH is resolved as
 * usual, with CMD's own rights, as a continued call would be. */
#define RUN_FILTER_MAX (ELEMENTSOF(run_syscalls) + 24)

/* Jumps to one of the returns at the end, patched once they are placed. */
enum { TO_ALLOW, TO_NOTIF, TO_ENOSYS, _TO_MAX };

struct run_prog {
        struct sock_filter insn[RUN_FILTER_MAX];
        size_t n;
        struct { size_t at; int target; bool jt; } fix[RUN_FILTER_MAX];
        size_t nfix;
};

static void emit(struct run_prog *p, struct sock_filter f) {
        p->insn[p->n++] = f;
}

/* A conditional jump whose true branch goes to target, false falls on. */
static void emit_jump(struct run_prog *p, uint16_t code, uint32_t k, int target) {
        p->fix[p->nfix++] = (typeof(p->fix[0])) { .at = p->n, .target = target, .jt = true };
        emit(p, (struct sock_filter) BPF_JUMP(BPF_JMP | code | BPF_K, k, 0, 0));
}

static void emit_empty_path(struct run_prog *p, int nr, int arg) {
        /* Not nr: past the next two. */
        emit(p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t) nr, 0, 2));
        /* The flags are an int: the low word, little-endian on both arches. */
        emit(p, (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS,
                                              offsetof(struct seccomp_data, args) + (uint32_t) arg * 8));
        emit_jump(p, BPF_JSET, AT_EMPTY_PATH, TO_ALLOW);
        p->fix[p->nfix++] = (typeof(p->fix[0])) { .at = p->n - 1, .target = TO_NOTIF, .jt = false };
}

int run_filter_install(void) {
        struct run_prog p = {};
        size_t ret[_TO_MAX];

        emit(&p, (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)));
        emit(&p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RUN_AUDIT_ARCH, 1, 0));
        size_t to_compat = p.n;
        emit(&p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0));
        emit(&p, (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
#if defined(__x86_64__)
        emit_jump(&p, BPF_JGE, 0x40000000u /* __X32_SYSCALL_BIT */, TO_ENOSYS);
#endif
        emit_jump(&p, BPF_JEQ, SYS_io_uring_setup, TO_ENOSYS);
#ifdef SYS_newfstatat
        emit_empty_path(&p, SYS_newfstatat, 3);
#endif
        emit_empty_path(&p, SYS_statx, 2);
        for (size_t i = 0; i < ELEMENTSOF(run_syscalls); i++)
                emit_jump(&p, BPF_JEQ, (uint32_t) run_syscalls[i].nr, TO_NOTIF);
        ret[TO_ALLOW] = p.n;
        emit(&p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
        ret[TO_NOTIF] = p.n;
        emit(&p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_USER_NOTIF));
        ret[TO_ENOSYS] = p.n;
        emit(&p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));

        /* Not the native arch. */
        p.insn[to_compat].k = (uint32_t) (p.n - to_compat - 1);
        emit(&p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RUN_AUDIT_ARCH_COMPAT, 0, 3));
        emit(&p, (struct sock_filter) BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)));
        emit(&p, (struct sock_filter) BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, RUN_COMPAT_IO_URING_SETUP, 2, 0));
        emit(&p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW));
        emit(&p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_KILL_PROCESS));
        emit(&p, (struct sock_filter) BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS));

        for (size_t i = 0; i < p.nfix; i++) {
                size_t off = ret[p.fix[i].target] - p.fix[i].at - 1;
                if (off > UINT8_MAX)
                        return -E2BIG;
                if (p.fix[i].jt)
                        p.insn[p.fix[i].at].jt = (uint8_t) off;
                else
                        p.insn[p.fix[i].at].jf = (uint8_t) off;
        }

        struct sock_fprog fprog = { .len = (unsigned short) p.n, .filter = p.insn };

        if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
                return -errno;

        /* Killable waits once the supervisor holds a call: a signal then
         * no longer aborts a call the broker is answering, only to have it
         * restarted and asked again. */
        int fd = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                               SECCOMP_FILTER_FLAG_NEW_LISTENER | SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV, &fprog);
        if (fd < 0 && errno == EINVAL)
                fd = (int) syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER, SECCOMP_FILTER_FLAG_NEW_LISTENER, &fprog);
        if (fd < 0)
                return -errno;
        return fd;
}
