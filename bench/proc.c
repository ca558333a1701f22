/* SPDX-License-Identifier: MIT */
/* Clocks, and what /proc says about the servers. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "bench.h"

uint64_t now_ns(void) {
        struct timespec ts;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        return (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
}

void sleep_ns(uint64_t ns) {
        struct timespec ts = { .tv_sec = (time_t) (ns / 1000000000u), .tv_nsec = (long) (ns % 1000000000u) };

        while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
                ;
}

static int read_proc(pid_t pid, const char *what, char *buf, size_t size) {
        char path[64];

        snprintf(path, sizeof path, "/proc/%d/%s", (int) pid, what);
        FILE *f = fopen(path, "re");
        if (!f)
                return -errno;
        size_t n = fread(buf, 1, size - 1, f);
        int r = ferror(f) ? -EIO : 0;
        fclose(f);
        buf[n] = 0;
        return r;
}

int proc_cpu_ns(pid_t pid, uint64_t *ret) {
        char buf[1024];
        unsigned long long utime, stime;
        int r;

        /* The process's CPU clock, in nanoseconds, every thread: /proc's
         * process-wide times are clock ticks scaled to the runtime, and
         * with hundreds of threads (the socketpair broker) they were seen
         * standing still over a whole slice. */
        clockid_t clk;
        struct timespec ts;
        if (clock_getcpuclockid(pid, &clk) == 0 && clock_gettime(clk, &ts) == 0) {
                *ret = (uint64_t) ts.tv_sec * 1000000000u + (uint64_t) ts.tv_nsec;
                return 0;
        }

        /* The process-wide line: it sums every thread, so a server that
         * spreads its work over threads is charged for all of it. */
        r = read_proc(pid, "stat", buf, sizeof buf);
        if (r < 0)
                return r;
        /* comm may hold spaces and parentheses: fields count from the last ')'. */
        const char *p = strrchr(buf, ')');
        if (!p || sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
                return -EBADMSG;

        long hz = sysconf(_SC_CLK_TCK);
        if (hz <= 0)
                return -EINVAL;
        *ret = (utime + stime) * (1000000000ull / (unsigned long long) hz);
        return 0;
}

int proc_ctxt_switches(pid_t pid, uint64_t *ret_voluntary, uint64_t *ret_involuntary) {
        char buf[4096];
        unsigned long long v, iv;
        int r;

        r = read_proc(pid, "status", buf, sizeof buf);
        if (r < 0)
                return r;
        const char *p = strstr(buf, "\nvoluntary_ctxt_switches:");
        const char *q = strstr(buf, "\nnonvoluntary_ctxt_switches:");
        if (!p || !q || sscanf(p, "\nvoluntary_ctxt_switches: %llu", &v) != 1 ||
            sscanf(q, "\nnonvoluntary_ctxt_switches: %llu", &iv) != 1)
                return -EBADMSG;
        *ret_voluntary = v;
        *ret_involuntary = iv;
        return 0;
}

int proc_rss_kib(pid_t pid, long *ret) {
        char buf[4096];
        int r;

        r = read_proc(pid, "status", buf, sizeof buf);
        if (r < 0)
                return r;
        const char *p = strstr(buf, "\nVmRSS:");
        if (!p || sscanf(p + 7, "%ld", ret) != 1)
                return -EBADMSG;
        return 0;
}

long nofile_raise(long want) {
        struct rlimit rl;

        if (getrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur >= (rlim_t) want)
                return (long) rl.rlim_cur;

        /* Beyond the hard limit only with CAP_SYS_RESOURCE; fall back to the
         * hard limit itself. */
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < (rlim_t) want) {
                struct rlimit up = { .rlim_cur = (rlim_t) want, .rlim_max = (rlim_t) want };
                if (setrlimit(RLIMIT_NOFILE, &up) == 0)
                        return want;
        }
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) < 0)
                return -errno;
        return rl.rlim_cur == RLIM_INFINITY ? want : (long) rl.rlim_cur;
}
