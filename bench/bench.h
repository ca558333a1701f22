/* SPDX-License-Identifier: MIT */
#pragma once

/* fdbroker-bench: what the modules of the benchmark share.  Every function
 * returns 0 (or a count) on success and a negative errno value on
 * failure, and says on stderr what went wrong. */

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "hist.h"

/* ---- time and processes ------------------------------------------------ */

uint64_t now_ns(void);
void sleep_ns(uint64_t ns);

/* CPU time (user + system, every thread) a process has used so far. */
int proc_cpu_ns(pid_t pid, uint64_t *ret);
/* Context switches of a process's main thread so far: voluntary (it
 * waited) and involuntary (it was preempted). */
int proc_ctxt_switches(pid_t pid, uint64_t *ret_voluntary, uint64_t *ret_involuntary);
/* VmRSS of a process, in KiB. */
int proc_rss_kib(pid_t pid, long *ret);

/* Makes at least want descriptors available to this process (and to the
 * servers it starts, which inherit the limit), raising the hard limit too
 * when allowed.  Returns the soft limit now in force, or -errno. */
long nofile_raise(long want);

/* ---- cleanup ------------------------------------------------------------ */

/* Kills registered children and removes registered files and the scratch
 * directory on exit, also when interrupted by SIGINT, SIGTERM or SIGHUP.
 * Everything it does from a signal handler is async-signal-safe, which is
 * why files are registered one by one instead of removing a tree. */
int cleanup_init(void);
int cleanup_set_dir(const char *dir);
/* A file, or an empty directory. */
int cleanup_add_file(const char *path);
/* Unmounted (MNT_DETACH) before the files are removed. */
int cleanup_add_mount(const char *path);
void cleanup_add_pid(pid_t pid);
void cleanup_del_pid(pid_t pid);
/* Runs the cleanup now (idempotent). */
void cleanup_run(void);

/* Called in a forked child before it does anything else: the child must
 * not run the parent's cleanup, and dies with the parent. */
void child_setup(int death_signal);

/* ---- servers ------------------------------------------------------------ */

/* The bare broker: a forked child serving sock_path (created here, before
 * this returns) with no policy at all: decode, open, reply. */
int bare_start(const char *sock_path, pid_t *ret_pid);

/* The peers' broker (Chromium, Firefox): a thread per connection reading
 * it with blocking calls, each request answered on the socket that came
 * with it. */
int peer_start(const char *sock_path, pid_t *ret_pid);

/* A listening AF_UNIX SOCK_SEQPACKET socket on path. */
int listen_seqpacket(const char *path, bool nonblock);

/* Starts a server of the benchmark's own in a child: listens on sock_path
 * (before the fork, so that a client may connect as soon as this returns)
 * and runs run(lfd), which must never return.  name is for messages. */
int server_fork(const char *name, const char *sock_path, bool nonblock, void (*run)(int lfd),
                pid_t *ret_pid);

struct brokerd {
        pid_t pid;
        char socket[108];
        char log[4096];
};

/* Starts fdbrokerd on dir/NAME.sock with policy, --log-level notice and
 * limits high enough for max_clients connections from one uid; returns
 * once it said READY=1. */
int brokerd_start(struct brokerd *d, const char *dir, const char *name, const char *policy,
                  unsigned max_clients);

/* Stops a child started by bare_start() or brokerd_start(): SIGTERM, then
 * SIGKILL if it does not exit in time.  Returns 0 if it exited with status
 * 0, -ECHILD otherwise. */
int server_stop(pid_t pid);

/* ---- the load generator ------------------------------------------------- */

struct load_cfg {
        const char *socket;
        const char *path;      /* OPENed for reading; NULL sends PING instead */
        bool stat;             /* STAT path instead of OPEN */
        unsigned conns;        /* connections */
        unsigned depth;        /* requests in flight on each */
        pid_t server;          /* whose CPU time to sample, or 0 */
};

/* Accumulates over the measured slices of one server. */
struct load_result {
        uint64_t ops;          /* completions inside measured windows */
        uint64_t errors;
        int first_error;       /* negative errno of the first failed request */
        uint64_t window_ns;    /* measured time */
        uint64_t cpu_wall_ns;  /* wall time over which CPU was sampled */
        uint64_t server_cpu_ns;
        uint64_t client_cpu_ns;
        uint64_t server_vcs;   /* the server's voluntary context switches */
        uint64_t server_ivcs;  /* ... and involuntary ones */
        struct hist lat;       /* submit -> callback, ns */
        /* Filled by load_result_finish(). */
        double ops_per_s;
        double server_cpu;     /* CPU time / wall time: 1.0 is one core busy */
        double client_cpu;
        double server_vcs_per_op;
        double server_ivcs_per_op;
};

void load_result_init(struct load_result *r);
void load_result_finish(struct load_result *r);

struct load;

/* Connects cfg->conns connections; nothing is sent yet. */
int load_open(const struct load_cfg *cfg, struct load **ret);
void load_close(struct load *l);

/* One slice, closed loop: every connection keeps depth requests in flight,
 * each completion submits the next.  After lead_s (not measured), the
 * completions of the next seconds are counted and their latency recorded
 * into *acc; then the requests still in flight drain. */
int load_slice(struct load *l, double lead_s, double seconds, struct load_result *acc);

/* load_open + one slice + load_close; the result finished. */
int load_run(const struct load_cfg *cfg, double warmup_s, double seconds, struct load_result *ret);

/* Measures two servers under the same conditions: a warm-up on each, then
 * slices of 0.25 s alternated a, b, b, a, a, b, ... until each had
 * seconds of measurement.  Noise that comes and goes (a neighbour, the
 * scheduler moving a process) then hits both alike. */
int load_compare(const struct load_cfg *a, const struct load_cfg *b, double warmup_s, double seconds,
                 struct load_result *ret_a, struct load_result *ret_b);

/* One server under load, whichever way the client drives it: a slice as
 * load_slice() does it, results added to acc. */
struct runner {
        int (*slice)(void *ctx, double lead_s, double seconds, struct load_result *acc);
        void *ctx;
};

/* load_slice() for a struct runner; ctx is a struct load. */
int load_slice_fn(void *ctx, double lead_s, double seconds, struct load_result *acc);

/* Measures n servers as load_compare() does two: a warm-up on each, then
 * rounds of one 0.25 s slice each, every other round in reverse order. */
int load_compare_n(const struct runner *rn, size_t n, double warmup_s, double seconds,
                   struct load_result *const *ret);

/* The peers' pattern, from the client's side: one blocking thread per
 * request in flight, a socketpair per request, its end sent along with it
 * (see peer.c).  Same configuration and results as the libfdbroker load. */
struct peer_load;
int peer_open(const struct load_cfg *cfg, struct peer_load **ret);
void peer_close(struct peer_load *l);
/* A slice; ctx is a struct peer_load. */
int peer_slice(void *ctx, double lead_s, double seconds, struct load_result *acc);

/* CPU time of this process, every thread. */
uint64_t cpu_self_ns(void);

/* The floor: open() + close() of path in this process, no broker. */
int floor_run(const char *path, double warmup_s, double seconds, struct load_result *ret);

/* ---- the parts of a run -------------------------------------------------- */

struct shape {
        unsigned conns, depth;
};

struct options {
        double seconds;
        double warmup;
        struct shape shapes[16];
        size_t n_shapes;
        bool skip_rss;
        bool skip_policy;
        bool skip_run;
        bool churn;            /* the mount-table churn scenario (root, /dev/fuse) */
        bool json;
        unsigned idle_conns;
        unsigned policy_rules;
        const char *dir;       /* scratch directory */
        const char *file;      /* the benchmark file */
        const char *policy;    /* policy with the one rule for the file */
};

int run_shapes(const struct options *o);
int run_policy(const struct options *o);
int run_idle(const struct options *o);
int run_runcmd(const struct options *o);
/* The floor under a continued call: argv (the --loop CMD) run under a
 * filter trapping openat, served by a supervisor that only answers
 * CONTINUE: blocking in NOTIF_RECV, the same with
 * SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP, or waiting in epoll first (as an
 * event loop does) with it.  *ret is the number the loop printed. */
enum trapfloor_mode {
        TRAPFLOOR_BLOCKING,
        TRAPFLOOR_BLOCKING_SYNC,
        TRAPFLOOR_EPOLL_SYNC,
        _TRAPFLOOR_MAX,
};
int trapfloor_run(const char *const *argv, enum trapfloor_mode mode, double *ret);
/* Last: it moves the benchmark into a mount namespace of its own. */
int run_churn(const struct options *o);
/* fdbroker-bench --loop open|fdbr PATH N: the CMD of run_runcmd(). */
int runcmd_loop(int argc, char **argv);

/* ---- output ------------------------------------------------------------- */

/* The performance targets (docs/performance.md); PASS or MISS is printed
 * against them. */
#define TARGET_THROUGHPUT_VS_BARE 0.9   /* fdbrokerd ops/s / bare ops/s, every shape */
#define TARGET_P50_VS_BARE_1X1 1.1      /* fdbrokerd p50 / bare p50, 1x1 only */
#define TARGET_KIB_PER_IDLE_CONN 2.0
#define TARGET_LARGE_POLICY 0.9         /* 10,000-rule ops/s / 10-rule ops/s at 16x8 */
#define TARGET_CHURN_VS_QUIET 0.5       /* bystander ops/s under mount churn / without, 1x32 */

/* The human table or JSON lines (--json), one call per result. */
void report_init(bool json);
void report_meta(const struct options *o);
void report_floor(const struct load_result *r);
/* One row of the shape table.  With bare, the ratios to it follow, the
 * p50 one checked against p50_target when that is not 0. */
void report_shape(const struct shape *s, const char *server, const struct load_result *r,
                  const struct load_result *bare, double p50_target);
/* A row (with row_too) and its ratios to base, which has no target: JSON
 * "ratio" records named "throughput SHAPE SERVER vs BASE_NAME" and "p50 ...". */
void report_shape_vs(const struct shape *s, const char *server, const struct load_result *r, const char *base_name,
                     const struct load_result *base, bool row_too);
/* Each server's throughput at a shape as a share of the direct open()'s. */
void report_floor_share(const struct shape *s, const struct load_result *bare, const struct load_result *brokerd,
                        const struct load_result *peer, double floor_ops);
void report_end(void);
/* Starts a section: key names it in JSON, title for people; ratios: its
 * table has the columns of the ratios to the bare broker. */
void report_section(const char *key, const char *title, bool ratios);
void report_value(const char *name, double value, const char *unit);
void report_latency(const char *name, const struct load_result *r);
/* A checked number: value compared with target (">=" or "<="), printed
 * with PASS or MISS. */
void report_check(const char *name, double value, const char *cmp, double target);
/* A ratio without a target. */
void report_ratio(const char *name, double value);
/* The section cannot run here, and why. */
void report_skip(const char *why);
