/* SPDX-License-Identifier: MIT */
/* Decision cost: the same daemon with a small and a large policy, and the
 * same two policies timed in-process with the daemon's own matcher. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"
#include "policy.h"

#define SMALL_RULES 10
/* policy_match() in-process: alternating rounds, best of each, so that a
 * busy neighbour or a frequency change hits both policies alike. */
#define MATCH_ROUNDS 5
#define MATCH_ITERATIONS 200000

static const struct shape decision_shape = { 16, 8 };

/* n rules, each giving uid N `read` on everything beneath /srv/share/uN,
 * then the rule that allows the benchmark file. */
static int write_policy(const char *path, unsigned n, const char *file) {
        int r = cleanup_add_file(path);
        if (r < 0)
                return r;

        FILE *f = fopen(path, "we");
        if (!f)
                return -errno;
        for (unsigned i = 0; i < n; i++)
                fprintf(f, "uid=%u /srv/share/u%u/** read\n", i, i);
        fprintf(f, "any %s read\n", file);
        r = ferror(f) ? -EIO : 0;
        if (fclose(f) != 0 && r == 0)
                r = -errno;
        return r;
}

static void diag(const char *file, unsigned line, const char *message, void *userdata) {
        fprintf(stderr, "%s:%u: %s\n", file, line, message);
}

/* Nanoseconds per policy_match() of the benchmark file for this process's
 * identity, as the daemon decides it. */
static double time_match(const struct policy *p, const char *path) {
        struct policy_subject s = { .uid = getuid(), .gid = getgid() };
        struct policy_verdict v;
        size_t len = strlen(path);
        unsigned allowed = 0;

        uint64_t t0 = now_ns();
        for (unsigned i = 0; i < MATCH_ITERATIONS; i++) {
                policy_match(p, &s, path, len, POLICY_READ, &v);
                allowed += policy_verdict_allows(&v, POLICY_READ);
        }
        uint64_t t1 = now_ns();
        if (allowed != MATCH_ITERATIONS)
                return -1;
        return (double) (t1 - t0) / MATCH_ITERATIONS;
}

static int run_match(const struct options *o, const char *small_path, const char *large_path) {
        struct policy *small = NULL, *large = NULL;
        double best_small = 0, best_large = 0;
        int r;

        r = policy_load(small_path, diag, NULL, &small);
        if (r >= 0)
                r = policy_load(large_path, diag, NULL, &large);
        if (r < 0)
                goto out;

        for (unsigned round = 0; round < MATCH_ROUNDS; round++) {
                double ts = time_match(small, o->file), tl = time_match(large, o->file);
                if (ts < 0 || tl < 0) {
                        fprintf(stderr, "fdbroker-bench: policy_match() denied the benchmark file\n");
                        r = -EACCES;
                        goto out;
                }
                if (round == 0 || ts < best_small)
                        best_small = ts;
                if (round == 0 || tl < best_large)
                        best_large = tl;
        }

        char name[64];
        report_value("policy_match(), 10 rules", best_small, "ns");
        snprintf(name, sizeof name, "policy_match(), %u rules", o->policy_rules);
        report_value(name, best_large, "ns");
        report_ratio("policy_match() time, large/small", best_large / best_small);
out:
        policy_unref(small);
        policy_unref(large);
        return r;
}

int run_policy(const struct options *o) {
        char small_path[4096], large_path[4096], name[128];
        struct brokerd small = { 0 }, large = { 0 };
        struct load_result *res = NULL;
        int r, k1, k2;

        snprintf(small_path, sizeof small_path, "%s/policy-small.conf", o->dir);
        snprintf(large_path, sizeof large_path, "%s/policy-large.conf", o->dir);
        if ((r = write_policy(small_path, SMALL_RULES, o->file)) < 0 ||
            (r = write_policy(large_path, o->policy_rules, o->file)) < 0) {
                fprintf(stderr, "fdbroker-bench: cannot write the policies: %s\n", strerror(-r));
                return r;
        }

        snprintf(name, sizeof name, "decision cost: fdbrokerd at %ux%u with %u and %u rules (+1 for the file)",
                 decision_shape.conns, decision_shape.depth, SMALL_RULES, o->policy_rules);
        report_section("policy", name, false);

        res = malloc(2 * sizeof *res);
        if (!res)
                return -ENOMEM;
        if ((r = brokerd_start(&small, o->dir, "fdbrokerd-small", small_path, 64)) < 0 ||
            (r = brokerd_start(&large, o->dir, "fdbrokerd-large", large_path, 64)) < 0)
                goto out;

        struct load_cfg a = {
                .socket = small.socket,
                .path = o->file,
                .conns = decision_shape.conns,
                .depth = decision_shape.depth,
                .server = small.pid,
        };
        struct load_cfg b = a;
        b.socket = large.socket;
        b.server = large.pid;
        r = load_compare(&a, &b, o->warmup, o->seconds, &res[0], &res[1]);
        if (r < 0)
                goto out;

        report_shape(&decision_shape, "10 rules", &res[0], NULL, 0);
        snprintf(name, sizeof name, "%u rules", o->policy_rules);
        report_shape(&decision_shape, name, &res[1], NULL, 0);
        report_check("throughput, large/small policy", res[1].ops_per_s / res[0].ops_per_s, ">=",
                     TARGET_LARGE_POLICY);

        r = run_match(o, small_path, large_path);
out:
        k1 = server_stop(small.pid);
        k2 = server_stop(large.pid);
        if (k1 < 0 || k2 < 0) {
                fprintf(stderr, "fdbroker-bench: fdbrokerd did not exit cleanly\n");
                if (r == 0)
                        r = -ECHILD;
        }
        free(res);
        return r;
}
