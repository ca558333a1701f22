/* SPDX-License-Identifier: MIT */
/* CMD's memory and process state, read once per call.  Nothing read here
 * is trusted before the caller checked that the notification is still
 * valid (the process that wrote it is still the one waiting), and nothing
 * is read twice. */
#include "run.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "macro.h"

int run_mem_read(pid_t pid, uint64_t addr, void *buf, size_t size) {
        struct iovec local = { .iov_base = buf, .iov_len = size };
        struct iovec remote = { .iov_base = (void *) (uintptr_t) addr, .iov_len = size };

        ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
        if (n < 0)
                return -errno;
        if ((size_t) n != size)
                return -EFAULT;
        return 0;
}

ssize_t run_mem_read_string(pid_t pid, uint64_t addr, char *buf, size_t size) {
        long page = sysconf(_SC_PAGESIZE);
        size_t got = 0;

        if (page <= 0)
                page = 4096;
        /* A page at a time: the string may end just before an unmapped
         * page, and a read across it would fail as a whole. */
        while (got < size) {
                uint64_t at = addr + got;
                size_t chunk = (size_t) page - (size_t) (at % (uint64_t) page);
                if (chunk > size - got)
                        chunk = size - got;

                struct iovec local = { .iov_base = buf + got, .iov_len = chunk };
                struct iovec remote = { .iov_base = (void *) (uintptr_t) at, .iov_len = chunk };
                ssize_t n = process_vm_readv(pid, &local, 1, &remote, 1, 0);
                if (n < 0)
                        return -errno;
                if (n == 0)
                        return -EFAULT;

                char *nul = memchr(buf + got, 0, (size_t) n);
                if (nul)
                        return nul - buf;
                got += (size_t) n;
        }
        return -ENAMETOOLONG;
}

int run_mem_open(pid_t pid) {
        char p[64];

        snprintf(p, sizeof p, "/proc/%d/mem", (int) pid);
        int fd = open(p, O_RDWR | O_CLOEXEC);
        return fd < 0 ? -errno : fd;
}

/* The start of a /proc/PID/status, NUL-terminated, in buf: what
 * run_mem_umask and run_mem_same_creds look for is in its first read. */
static int run_status_read(const char *path, char *buf, size_t size) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        ssize_t n = read(fd, buf, size - 1);
        if (n < 0)
                return -errno;
        buf[n] = 0;
        return 0;
}

int run_mem_umask(pid_t pid) {
        char p[64], buf[2048];

        snprintf(p, sizeof p, "/proc/%d/status", (int) pid);
        int r = run_status_read(p, buf, sizeof buf);
        if (r < 0)
                return r;

        /* "Umask:\t0022" comes early, well within the first read. */
        const char *u = strstr(buf, "\nUmask:");
        if (!u)
                return -ENODATA;
        char *end;
        long m = strtol(u + 7, &end, 8);
        if (end == u + 7 || m < 0 || m > 0777)
                return -ENODATA;
        return (int) m;
}

/* The lines of a /proc/PID/status that decide what chmod may do. */
struct run_creds {
        char uid[96], gid[96], groups[1024];
        uint64_t cap_eff;
};

/* Copies the rest of the line after "\nNAME" into out; false if absent,
 * unterminated in what was read, or too long. */
static bool run_status_line(const char *status, const char *name, char *out, size_t size) {
        const char *l = strstr(status, name);
        if (!l)
                return false;
        l += strlen(name);
        const char *nl = strchr(l, '\n');
        if (!nl || (size_t) (nl - l) >= size)
                return false;
        memcpy(out, l, (size_t) (nl - l));
        out[nl - l] = 0;
        return true;
}

static int run_creds_read(const char *path, struct run_creds *ret) {
        char buf[4096], cap[32];

        int r = run_status_read(path, buf, sizeof buf);
        if (r < 0)
                return r;
        if (!run_status_line(buf, "\nUid:", ret->uid, sizeof ret->uid) ||
            !run_status_line(buf, "\nGid:", ret->gid, sizeof ret->gid) ||
            !run_status_line(buf, "\nGroups:", ret->groups, sizeof ret->groups) ||
            !run_status_line(buf, "\nCapEff:", cap, sizeof cap))
                return -ENODATA;
        char *end;
        errno = 0;
        ret->cap_eff = strtoull(cap, &end, 16);
        if (errno != 0 || end == cap)
                return -ENODATA;
        return 0;
}

int run_mem_same_creds(pid_t pid) {
        static struct run_creds self;
        static int self_read;
        struct run_creds other;
        char p[64];

        /* This process's never change. */
        if (self_read == 0)
                self_read = run_creds_read("/proc/self/status", &self) < 0 ? -1 : 1;
        if (self_read < 0)
                return -ENODATA;
        snprintf(p, sizeof p, "/proc/%d/status", (int) pid);
        int r = run_creds_read(p, &other);
        if (r < 0)
                return r;
        return strcmp(self.uid, other.uid) == 0 && strcmp(self.gid, other.gid) == 0 &&
               strcmp(self.groups, other.groups) == 0 && (self.cap_eff & ~other.cap_eff) == 0;
}
