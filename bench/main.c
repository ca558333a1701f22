/* SPDX-License-Identifier: MIT */
/* fdbroker-bench: what fdbrokerd costs compared with opening the file
 * directly, with the least a broker can do and with the peers'
 * socketpair-per-request pattern, at several load shapes;
 * memory per idle connection; the cost of a large policy. */

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bench.h"

#define DEFAULT_SHAPES "1x1,1x32,16x8,256x1"
#define DEFAULT_IDLE_CONNS 10000
#define DEFAULT_POLICY_RULES 10000
#define MAX_CONNS 4096
#define MAX_DEPTH 4096

static void usage(FILE *f) {
        fprintf(f,
                "Usage: fdbroker-bench [OPTION]...\n"
                "Measures fdbrokerd against a direct open(), a bare broker with no policy\n"
                "and a broker answering on a socketpair sent with each request (the\n"
                "pattern of the Chromium and Firefox sandboxes), on one small file.\n"
                "\n"
                "  --seconds N        measured time per load shape (default 2)\n"
                "  --warmup N         unmeasured time before each (default 0.5)\n"
                "  --shapes LIST      connections x requests in flight, comma-separated\n"
                "                     (default %s)\n"
                "  --idle-conns N     idle connections for the memory test (default %u)\n"
                "  --policy-rules N   rules of the large policy (default %u)\n"
                "  --skip-rss         no idle-connection test (it needs N+256 descriptors)\n"
                "  --skip-policy      no decision-cost test\n"
                "  --skip-run         no fdbroker run test\n"
                "  --churn            also the mount-table churn test (root and /dev/fuse:\n"
                "                     900 FUSE mounts in a mount namespace of its own)\n"
                "  --json             JSON lines on stdout instead of tables\n"
                "  --help             print this help and exit\n"
                "\n"
                "Targets, marked PASS or MISS: fdbrokerd throughput >= %.1fx bare at every\n"
                "shape; p50 <= %.1fx bare at 1x1; <= %.0f KiB RSS per idle connection;\n"
                "large-policy throughput >= %.1fx the 10-rule one; under fdbroker run,\n"
                "brokered open >= 0.5x blocking fdbr_open(), a continued call <= 10 us over\n"
                "the plain one, startup <= 5 ms over /bin/true; with --churn, a bystander's\n"
                "throughput under mount churn >= %.1fx without.\n",
                DEFAULT_SHAPES, DEFAULT_IDLE_CONNS, DEFAULT_POLICY_RULES, TARGET_THROUGHPUT_VS_BARE,
                TARGET_P50_VS_BARE_1X1, TARGET_KIB_PER_IDLE_CONN, TARGET_LARGE_POLICY, TARGET_CHURN_VS_QUIET);
}

static int parse_seconds(const char *name, const char *s, double min, double *ret) {
        char *end;

        errno = 0;
        double v = strtod(s, &end);
        if (errno || end == s || *end || !isfinite(v) || v < min || v > 3600) {
                fprintf(stderr, "fdbroker-bench: %s: invalid value '%s'\n", name, s);
                return -EINVAL;
        }
        *ret = v;
        return 0;
}

static int parse_count(const char *name, const char *s, unsigned max, unsigned *ret) {
        char *end;

        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v == 0 || v > max) {
                fprintf(stderr, "fdbroker-bench: %s: invalid value '%s' (1 to %u)\n", name, s, max);
                return -EINVAL;
        }
        *ret = (unsigned) v;
        return 0;
}

static int parse_shapes(const char *s, struct options *o) {
        o->n_shapes = 0;
        for (const char *p = s; *p;) {
                unsigned c, d;
                int n = 0;

                if (o->n_shapes == sizeof o->shapes / sizeof o->shapes[0] ||
                    sscanf(p, "%u%*[xX]%u%n", &c, &d, &n) != 2 || n == 0 || (p[n] != ',' && p[n] != 0) ||
                    c == 0 || d == 0 || c > MAX_CONNS || d > MAX_DEPTH) {
                        fprintf(stderr, "fdbroker-bench: --shapes: invalid list '%s' (e.g. %s; at most %zu "
                                        "shapes, %u connections, %u in flight)\n",
                                s, DEFAULT_SHAPES, sizeof o->shapes / sizeof o->shapes[0], MAX_CONNS, MAX_DEPTH);
                        return -EINVAL;
                }
                o->shapes[o->n_shapes++] = (struct shape) { c, d };
                p += n + (p[n] == ',');
        }
        if (o->n_shapes == 0) {
                fprintf(stderr, "fdbroker-bench: --shapes: empty list\n");
                return -EINVAL;
        }
        return 0;
}

/* Returns 0 to run, 1 to exit successfully, -1 on a usage error. */
static int parse_args(int argc, char **argv, struct options *o) {
        enum { OPT_SECONDS = 0x100, OPT_WARMUP, OPT_SHAPES, OPT_IDLE, OPT_RULES, OPT_SKIP_RSS, OPT_SKIP_POLICY,
               OPT_SKIP_RUN, OPT_CHURN, OPT_JSON, OPT_HELP };
        static const struct option longopts[] = {
                { "seconds", required_argument, NULL, OPT_SECONDS },
                { "warmup", required_argument, NULL, OPT_WARMUP },
                { "shapes", required_argument, NULL, OPT_SHAPES },
                { "idle-conns", required_argument, NULL, OPT_IDLE },
                { "policy-rules", required_argument, NULL, OPT_RULES },
                { "skip-rss", no_argument, NULL, OPT_SKIP_RSS },
                { "skip-policy", no_argument, NULL, OPT_SKIP_POLICY },
                { "skip-run", no_argument, NULL, OPT_SKIP_RUN },
                { "churn", no_argument, NULL, OPT_CHURN },
                { "json", no_argument, NULL, OPT_JSON },
                { "help", no_argument, NULL, OPT_HELP },
                {},
        };
        int c, r = 0;

        while ((c = getopt_long(argc, argv, "", longopts, NULL)) >= 0) {
                switch (c) {
                case OPT_SECONDS:
                        r = parse_seconds("--seconds", optarg, 0.01, &o->seconds);
                        break;
                case OPT_WARMUP:
                        r = parse_seconds("--warmup", optarg, 0, &o->warmup);
                        break;
                case OPT_SHAPES:
                        r = parse_shapes(optarg, o);
                        break;
                case OPT_IDLE:
                        r = parse_count("--idle-conns", optarg, 1000000, &o->idle_conns);
                        break;
                case OPT_RULES:
                        r = parse_count("--policy-rules", optarg, 1000000, &o->policy_rules);
                        break;
                case OPT_SKIP_RSS:
                        o->skip_rss = true;
                        break;
                case OPT_SKIP_POLICY:
                        o->skip_policy = true;
                        break;
                case OPT_SKIP_RUN:
                        o->skip_run = true;
                        break;
                case OPT_CHURN:
                        o->churn = true;
                        break;
                case OPT_JSON:
                        o->json = true;
                        break;
                case OPT_HELP:
                        usage(stdout);
                        return 1;
                default:
                        r = -EINVAL;
                }
                if (r < 0)
                        break;
        }
        if (r == 0 && optind < argc) {
                fprintf(stderr, "fdbroker-bench: unexpected argument '%s'\n", argv[optind]);
                r = -EINVAL;
        }
        if (r < 0) {
                fprintf(stderr, "Try 'fdbroker-bench --help' for more information.\n");
                return -1;
        }
        return 0;
}

static int write_file(const char *path, const char *content) {
        int r = cleanup_add_file(path);
        if (r < 0)
                return r;

        int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
        if (fd < 0)
                return -errno;
        size_t len = strlen(content);
        ssize_t n = write(fd, content, len);
        r = n < 0 ? -errno : (size_t) n != len ? -EIO : 0;
        if (close(fd) < 0 && r == 0)
                r = -errno;
        return r;
}

/* The scratch directory: the file, the policies, the sockets.  World
 * readable so that the path resolves for the daemon whatever it runs as. */
static int setup_dir(char *dir, size_t size, char *file, char *policy) {
        const char *tmp = getenv("TMPDIR");
        char text[4200];
        int r;

        if (!tmp || tmp[0] != '/')
                tmp = "/tmp";
        /* Room for "/fdbrokerd-large.sock" within sockaddr_un. */
        if ((size_t) snprintf(dir, size, "%s/fdbroker-bench.XXXXXX", tmp) >= size || strlen(dir) > 80) {
                fprintf(stderr, "fdbroker-bench: TMPDIR is too long for socket paths\n");
                return -ENAMETOOLONG;
        }
        if (!mkdtemp(dir)) {
                r = -errno;
                fprintf(stderr, "fdbroker-bench: cannot create %s: %m\n", dir);
                return r;
        }
        if ((r = cleanup_set_dir(dir)) < 0 || chmod(dir, 0755) < 0)
                return r < 0 ? r : -errno;

        snprintf(file, 4096, "%s/file", dir);
        snprintf(policy, 4096, "%s/policy.conf", dir);
        snprintf(text, sizeof text, "any %s read\n", file);
        if ((r = write_file(file, "fdbroker-bench: a small regular file\n")) < 0 ||
            (r = write_file(policy, text)) < 0) {
                fprintf(stderr, "fdbroker-bench: cannot write in %s: %s\n", dir, strerror(-r));
                return r;
        }
        return 0;
}

int main(int argc, char **argv) {
        static char dir[4096], file[4096], policy[4096];
        struct options o = {
                .seconds = 2,
                .warmup = 0.5,
                .idle_conns = DEFAULT_IDLE_CONNS,
                .policy_rules = DEFAULT_POLICY_RULES,
                .dir = dir,
                .file = file,
                .policy = policy,
        };
        int r;

        /* CMD of the fdbroker run scenario, not a benchmark run. */
        if (argc >= 2 && strcmp(argv[1], "--loop") == 0)
                return runcmd_loop(argc, argv);

        if (parse_shapes(DEFAULT_SHAPES, &o) < 0)
                return EXIT_FAILURE;
        r = parse_args(argc, argv, &o);
        if (r != 0)
                return r > 0 ? EXIT_SUCCESS : 2;

        r = cleanup_init();
        if (r < 0) {
                fprintf(stderr, "fdbroker-bench: cannot set up cleanup: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        /* 256 connections plus their replies in flight, with room to spare. */
        (void) nofile_raise(MAX_CONNS * 2 + 256);
        if (setup_dir(dir, sizeof dir, file, policy) < 0)
                return EXIT_FAILURE;

        report_init(o.json);
        report_meta(&o);

        r = run_shapes(&o);
        if (r >= 0 && !o.skip_policy)
                r = run_policy(&o);
        if (r >= 0 && !o.skip_run)
                r = run_runcmd(&o);
        if (r >= 0 && !o.skip_rss)
                r = run_idle(&o);
        if (r >= 0 && o.churn)
                r = run_churn(&o);
        report_end();

        cleanup_run();
        if (r < 0) {
                fprintf(stderr, "fdbroker-bench: failed: %s\n", strerror(-r));
                return EXIT_FAILURE;
        }
        return EXIT_SUCCESS;
}
