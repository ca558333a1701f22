/* SPDX-License-Identifier: MIT */
/* Mount-table churn: a bystander's OPEN throughput against fdbrokerd while
 * another process keeps changing the daemon's mount table, compared with
 * the same bystander on the same daemon while nobody does.
 *
 * The daemon watches its own /proc/self/mountinfo, so the mounts must be
 * in its mount namespace.  The benchmark moves itself into a private one
 * first (nothing it mounts reaches the host, and everything goes away
 * with it) and starts fdbrokerd from there: the daemon sees every mount
 * the churner makes.  The mounts are FUSE filesystems whose connection is
 * aborted at once (the /dev/fuse descriptor is closed right after
 * mount()): the kernel keeps them in the table, as type fuse, and any
 * access fails with ENOTCONN, so nothing can hang and no server process
 * is needed for each of hundreds of them. */

#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bench.h"

/* The attack's scale: a user holding 900 FUSE mounts, churning more. */
#define CHURN_MOUNTS 900
#define CHURN_POINTS 16
/* Not measured after switching the churn on or off: the daemon's table
 * reader is at most 100 ms behind (daemon/mounts.c), and a quiet slice
 * must not pay for the churn slice before it. */
#define CHURN_SETTLE_S 0.2
/* The paced churn, checked against the target: a mount and an unmount
 * every millisecond.  Unpaced, the churner keeps a CPU busy in the kernel
 * by itself, which on a small machine is a share of the CPU the bystander
 * loses to any busy neighbour; that one is reported without a target. */
#define CHURN_RATE 1000

enum { CHURN_OFF, CHURN_PACED, CHURN_FULL };

static const struct shape churn_shape = { 1, 32 };

struct churn_ctl {
        atomic_int on;
        atomic_int stop;
        atomic_ullong pairs;
        atomic_int error;
};

/* A FUSE mount with no server: the connection is aborted when the device
 * descriptor is closed, the mount stays. */
static int fuse_mount(const char *point) {
        char opts[128];
        int fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        snprintf(opts, sizeof opts, "fd=%d,rootmode=40000,user_id=0,group_id=0", fd);
        int r = mount("fdbr-bench-churn", point, "fuse", MS_NOSUID | MS_NODEV, opts) < 0 ? -errno : 0;
        close(fd);
        return r;
}

/* The churner: mount, unmount, at CHURN_RATE or as fast as it can. */
static _Noreturn void churn_main(struct churn_ctl *c, const char *base) {
        char point[4300];
        unsigned i = 0;
        int mode = CHURN_OFF;
        uint64_t since = 0, done = 0;

        child_setup(SIGKILL);
        while (!atomic_load(&c->stop)) {
                int now_mode = atomic_load(&c->on);
                if (now_mode != mode) {
                        mode = now_mode;
                        since = now_ns();
                        done = 0;
                }
                if (mode == CHURN_OFF) {
                        usleep(1000);
                        continue;
                }
                if (mode == CHURN_PACED) {
                        /* Keep to the pace: the load's shape, not a wait for anything. */
                        uint64_t due = since + done * 1000000000ull / CHURN_RATE, t = now_ns();
                        if (due > t)
                                sleep_ns(due - t);
                }
                done++;
                snprintf(point, sizeof point, "%s/c%u", base, i++ % CHURN_POINTS);
                int r = fuse_mount(point);
                if (r < 0 || umount2(point, MNT_DETACH) < 0) {
                        atomic_store(&c->error, r < 0 ? -r : errno);
                        break;
                }
                atomic_fetch_add(&c->pairs, 1);
        }
        _exit(0);
}

struct churn_side {
        struct load *load;
        struct churn_ctl *ctl;
        int mode;
        uint64_t churn_ns;     /* time the churn was on, for its rate */
        unsigned long long churn_pairs;
};

static int churn_slice(void *ctx, double lead_s, double seconds, struct load_result *acc) {
        struct churn_side *s = ctx;

        atomic_store(&s->ctl->on, s->mode);
        unsigned long long p0 = atomic_load(&s->ctl->pairs);
        uint64_t t0 = now_ns();
        int r = load_slice(s->load, lead_s + CHURN_SETTLE_S, seconds, acc);
        if (s->mode != CHURN_OFF) {
                s->churn_ns += now_ns() - t0;
                s->churn_pairs += atomic_load(&s->ctl->pairs) - p0;
        }
        if (atomic_load(&s->ctl->error)) {
                fprintf(stderr, "fdbroker-bench: churn: %s\n", strerror(atomic_load(&s->ctl->error)));
                return -atomic_load(&s->ctl->error);
        }
        return r;
}

static unsigned mountinfo_lines(void) {
        FILE *f = fopen("/proc/self/mountinfo", "re");
        unsigned n = 0;
        int c;
        if (!f)
                return 0;
        while ((c = getc(f)) != EOF)
                n += c == '\n';
        fclose(f);
        return n;
}

static int skip(const char *why) {
        report_skip(why);
        return 0;
}

int run_churn(const struct options *o) {
        char base[4200], point[4300], title[200], why[300];
        struct brokerd d = { 0 };
        struct load *load = NULL;
        struct load_result *res = NULL;
        struct churn_ctl *ctl = MAP_FAILED;
        pid_t churner = -1;
        bool base_mounted = false;
        int r, fd;

        snprintf(title, sizeof title, "mount-table churn: a bystander's OPEN at %ux%u, quiet and while another "
                                      "process mounts and unmounts FUSE filesystems (%u held)",
                 churn_shape.conns, churn_shape.depth, CHURN_MOUNTS);
        report_section("churn", title, false);
        if (geteuid() != 0)
                return skip("needs root (mounts in a mount namespace of its own)");
        fd = open("/dev/fuse", O_RDWR | O_CLOEXEC);
        if (fd < 0) {
                snprintf(why, sizeof why, "/dev/fuse: %s", strerror(errno));
                return skip(why);
        }
        close(fd);

        snprintf(base, sizeof base, "%s/mnt", o->dir);
        if (mkdir(base, 0755) < 0 || (r = cleanup_add_file(base)) < 0) {
                r = -errno;
                fprintf(stderr, "fdbroker-bench: %s: %s\n", base, strerror(-r));
                return r;
        }
        /* From here on this process and what it starts see mounts the host
         * does not. */
        if (unshare(CLONE_NEWNS) < 0 || mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) {
                snprintf(why, sizeof why, "no mount namespace of its own: %s", strerror(errno));
                return skip(why);
        }
        if (mount("fdbr-bench-churn", base, "tmpfs", MS_NOSUID | MS_NODEV, "size=1m,nr_inodes=4096") < 0) {
                r = -errno;
                fprintf(stderr, "fdbroker-bench: tmpfs on %s: %s\n", base, strerror(-r));
                return r;
        }
        base_mounted = true;
        cleanup_add_mount(base);
        for (unsigned i = 0; i < CHURN_POINTS; i++) {
                snprintf(point, sizeof point, "%s/c%u", base, i);
                if (mkdir(point, 0755) < 0) {
                        r = -errno;
                        goto out;
                }
        }
        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < CHURN_MOUNTS; i++) {
                snprintf(point, sizeof point, "%s/s%u", base, i);
                if (mkdir(point, 0755) < 0) {
                        r = -errno;
                        goto out;
                }
                r = fuse_mount(point);
                if (r < 0) {
                        if (i == 0) {
                                snprintf(why, sizeof why, "cannot mount FUSE: %s", strerror(-r));
                                r = skip(why);
                        } else
                                fprintf(stderr, "fdbroker-bench: FUSE mount %u: %s\n", i, strerror(-r));
                        goto out;
                }
        }
        double mount_s = (double) (now_ns() - t0) / 1e9;

        ctl = mmap(NULL, sizeof *ctl, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        res = malloc(3 * sizeof *res);
        if (ctl == MAP_FAILED || !res) {
                r = -ENOMEM;
                goto out;
        }
        memset(ctl, 0, sizeof *ctl);
        churner = fork();
        if (churner < 0) {
                r = -errno;
                goto out;
        }
        if (churner == 0)
                churn_main(ctl, base);
        cleanup_add_pid(churner);

        /* The daemon starts with the 900 mounts in its table. */
        if ((r = brokerd_start(&d, o->dir, "fdbrokerd-churn", o->policy, 64)) < 0)
                goto out;
        struct load_cfg cfg = {
                .socket = d.socket,
                .path = o->file,
                .conns = churn_shape.conns,
                .depth = churn_shape.depth,
                .server = d.pid,
        };
        if ((r = load_open(&cfg, &load)) < 0)
                goto out;
        struct churn_side quiet = { .load = load, .ctl = ctl, .mode = CHURN_OFF };
        struct churn_side paced = { .load = load, .ctl = ctl, .mode = CHURN_PACED };
        struct churn_side full = { .load = load, .ctl = ctl, .mode = CHURN_FULL };
        struct runner rn[] = { { churn_slice, &quiet }, { churn_slice, &paced }, { churn_slice, &full } };
        struct load_result *out[] = { &res[0], &res[1], &res[2] };
        r = load_compare_n(rn, 3, o->warmup, o->seconds, out);
        atomic_store(&ctl->on, 0);
        if (r < 0)
                goto out;

        report_shape(&churn_shape, "quiet", &res[0], NULL, 0);
        report_shape(&churn_shape, "churn", &res[1], NULL, 0);
        report_shape(&churn_shape, "churn max", &res[2], NULL, 0);
        report_value("FUSE mounts held", CHURN_MOUNTS, "mounts");
        report_value("time to mount them", mount_s, "s");
        report_value("mount table entries", mountinfo_lines(), "lines");
        report_value("churn", paced.churn_ns ? (double) paced.churn_pairs * 1e9 / (double) paced.churn_ns : 0,
                     "mount+umount/s");
        report_value("churn max", full.churn_ns ? (double) full.churn_pairs * 1e9 / (double) full.churn_ns : 0,
                     "mount+umount/s");
        report_check("bystander throughput, churn/quiet", res[1].ops_per_s / res[0].ops_per_s, ">=",
                     TARGET_CHURN_VS_QUIET);
        report_ratio("bystander throughput, churn max/quiet", res[2].ops_per_s / res[0].ops_per_s);
out:
        load_close(load);
        if (churner > 0) {
                atomic_store(&ctl->stop, 1);
                int status;
                if (waitpid(churner, &status, 0) == churner)
                        cleanup_del_pid(churner);
        }
        if (d.pid > 0 && server_stop(d.pid) < 0) {
                fprintf(stderr, "fdbroker-bench: fdbrokerd did not exit cleanly\n");
                if (r == 0)
                        r = -ECHILD;
        }
        if (base_mounted)
                (void) umount2(base, MNT_DETACH);
        if (ctl != MAP_FAILED)
                munmap(ctl, sizeof *ctl);
        free(res);
        if (r < 0)
                fprintf(stderr, "fdbroker-bench: churn: %s\n", strerror(-r));
        return r;
}
