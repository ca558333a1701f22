/* SPDX-License-Identifier: MIT */
/* fdbroker run: what trapping an unmodified program's calls costs.  The
 * benchmark itself is CMD (--loop): the same open+close loop under
 * `fdbroker run`, plainly, and calling blocking fdbr_open(); the same loop
 * under a supervisor that only continues (the floor, trapfloor.c); then
 * the startup of `fdbroker run -- /bin/true` against `/bin/true`. */

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"
#include "fdbroker.h"

#ifndef FDBR_CLI_PATH
#error "FDBR_CLI_PATH must name the fdbroker binary"
#endif

#define BROKERED_CALLS 2000
#define CONTINUED_CALLS 20000
#define STARTUPS 30
/* Each number is the median of this many runs, taken in turn. */
#define ROUNDS 3

/* ---- CMD: fdbroker-bench --loop open|fdbr PATH N ------------------------ */

int runcmd_loop(int argc, char **argv) {
        char *end;

        if (argc != 5)
                return 2;
        bool fdbr = strcmp(argv[2], "fdbr") == 0;
        const char *path = argv[3];
        unsigned long n = strtoul(argv[4], &end, 10);
        if ((!fdbr && strcmp(argv[2], "open") != 0) || *end || n == 0)
                return 2;

        /* One call before the clock starts: the connection, the first trap. */
        for (unsigned long i = 0; i <= n; i++) {
                static uint64_t t0;
                if (i == 1)
                        t0 = now_ns();
                int fd = fdbr ? fdbr_open(path, O_RDONLY, 0) : open(path, O_RDONLY | O_CLOEXEC);
                if (fd < 0) {
                        fprintf(stderr, "fdbroker-bench: --loop %s %s: %s\n", argv[2], path,
                                strerror(fdbr ? -fd : errno));
                        return 1;
                }
                close(fd);
                if (i == n)
                        printf("%.1f\n", (double) (now_ns() - t0) / (double) n);
        }
        return 0;
}

/* ---- the scenario ------------------------------------------------------- */

/* Runs argv to its end; with out, parses the number it prints. */
static int spawn(const char *const *argv, const char *socket, double *out) {
        int p[2] = { -1, -1 };

        if (out && pipe2(p, O_CLOEXEC) < 0)
                return -errno;
        pid_t pid = fork();
        if (pid < 0) {
                int r = -errno;
                if (out) {
                        close(p[0]);
                        close(p[1]);
                }
                return r;
        }
        if (pid == 0) {
                child_setup(SIGKILL);
                if (out)
                        dup2(p[1], 1);
                if (socket)
                        setenv("FDBROKER_SOCKET", socket, 1);
                execv(argv[0], (char **) argv);
                _exit(127);
        }
        cleanup_add_pid(pid);
        char buf[64] = "";
        if (out) {
                close(p[1]);
                ssize_t n = read(p[0], buf, sizeof buf - 1);
                buf[n > 0 ? n : 0] = 0;
                close(p[0]);
        }
        int status;
        while (waitpid(pid, &status, 0) < 0)
                if (errno != EINTR)
                        return -errno;
        cleanup_del_pid(pid);
        if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
                fprintf(stderr, "fdbroker-bench: %s %s failed\n", argv[0], argv[1] ? argv[1] : "");
                return -ECHILD;
        }
        if (out && sscanf(buf, "%lf", out) != 1)
                return -EPROTO;
        return 0;
}

static double median3(double v[ROUNDS]) {
        for (int i = 0; i < ROUNDS; i++)
                for (int j = i + 1; j < ROUNDS; j++)
                        if (v[j] < v[i]) {
                                double t = v[i];
                                v[i] = v[j];
                                v[j] = t;
                        }
        return v[ROUNDS / 2];
}

/* Mean wall time of one start of argv, in ns. */
static int time_startup(const char *const *argv, double *ret) {
        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < STARTUPS; i++) {
                int r = spawn(argv, NULL, NULL);
                if (r < 0)
                        return r;
        }
        *ret = (double) (now_ns() - t0) / STARTUPS;
        return 0;
}

int run_runcmd(const struct options *o) {
        char other[4200], self[4096], brokered_n[16], continued_n[16];
        struct brokerd d = { 0 };
        double run_open[ROUNDS], fdbr_open_[ROUNDS], run_cont[ROUNDS], plain[ROUNDS], st_run[ROUNDS],
                st_true[ROUNDS], floor_[_TRAPFLOOR_MAX][ROUNDS];
        int r, k;

        ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
        if (n < 0)
                return -errno;
        self[n] = 0;
        /* No rule can match it: run continues the call without asking. */
        snprintf(other, sizeof other, "%s/other", o->dir);
        r = cleanup_add_file(other);
        int fd = r < 0 ? -1 : open(other, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return r < 0 ? r : -errno;
        close(fd);
        snprintf(brokered_n, sizeof brokered_n, "%u", BROKERED_CALLS);
        snprintf(continued_n, sizeof continued_n, "%u", CONTINUED_CALLS);

        report_section("run", "fdbroker run: open+close of one file in a loop, CMD as this user", false);
        if ((r = brokerd_start(&d, o->dir, "fdbrokerd-run", o->policy, 64)) < 0)
                return r;

        const char *a_run[] = { FDBR_CLI_PATH, "--socket", d.socket, "run", "--", self, "--loop", "open", o->file,
                                brokered_n, NULL };
        const char *a_fdbr[] = { self, "--loop", "fdbr", o->file, brokered_n, NULL };
        const char *a_cont[] = { FDBR_CLI_PATH, "--socket", d.socket, "run", "--", self, "--loop", "open", other,
                                 continued_n, NULL };
        const char *a_plain[] = { self, "--loop", "open", other, continued_n, NULL };
        const char *a_st_run[] = { FDBR_CLI_PATH, "--socket", d.socket, "run", "--", "/bin/true", NULL };
        const char *a_st_true[] = { "/bin/true", NULL };

        for (int i = 0; i < ROUNDS && r >= 0; i++)
                if ((r = spawn(a_run, NULL, &run_open[i])) < 0 || (r = spawn(a_fdbr, d.socket, &fdbr_open_[i])) < 0 ||
                    (r = spawn(a_cont, NULL, &run_cont[i])) < 0 || (r = spawn(a_plain, NULL, &plain[i])) < 0 ||
                    (r = time_startup(a_st_run, &st_run[i])) < 0 || (r = time_startup(a_st_true, &st_true[i])) < 0)
                        break;
                else
                        for (int m = 0; m < _TRAPFLOOR_MAX && r >= 0; m++)
                                r = trapfloor_run(a_plain, (enum trapfloor_mode) m, &floor_[m][i]);
        if (r >= 0) {
                double ro = median3(run_open), fo = median3(fdbr_open_), rc = median3(run_cont),
                       pl = median3(plain), sr = median3(st_run), st = median3(st_true);
                report_value("open() under run, brokered", ro / 1000, "us/call");
                report_value("fdbr_open(), blocking", fo / 1000, "us/call");
                report_check("throughput, run/fdbr_open()", fo / ro, ">=", 0.5);
                report_value("open() under run, continued", rc / 1000, "us/call");
                report_value("open(), plain", pl / 1000, "us/call");
                report_check("continued call over plain (us)", (rc - pl) / 1000, "<=", 10);
                report_ratio("continued/plain", rc / pl);
                /* The least any supervisor pays: what run adds above it is
                 * run's own. */
                static const char *const floor_name[_TRAPFLOOR_MAX] = {
                        [TRAPFLOOR_BLOCKING] = "floor: blocking RECV, continued",
                        [TRAPFLOOR_BLOCKING_SYNC] = "floor: blocking RECV+SYNC_WAKE_UP",
                        [TRAPFLOOR_EPOLL_SYNC] = "floor: epoll+RECV+SYNC_WAKE_UP",
                };
                double fl_best = 0;
                for (int m = 0; m < _TRAPFLOOR_MAX; m++) {
                        double f = median3(floor_[m]);
                        report_value(floor_name[m], f / 1000, "us/call");
                        if (m == 0 || f < fl_best)
                                fl_best = f;
                }
                report_value("floor (best) over plain", (fl_best - pl) / 1000, "us");
                report_value("continued over floor (best)", (rc - fl_best) / 1000, "us");
                report_ratio("continued/floor (best)", rc / fl_best);
                report_value("run -- /bin/true", sr / 1e6, "ms");
                report_value("/bin/true", st / 1e6, "ms");
                report_check("startup over /bin/true (ms)", (sr - st) / 1e6, "<=", 5);
                report_ratio("startup, run/plain", sr / st);
        }
        k = server_stop(d.pid);
        if (k < 0 && r >= 0)
                r = k;
        return r;
}
