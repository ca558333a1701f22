/* SPDX-License-Identifier: MIT */
/* Times policy_match() against a policy of 10 rules and one of 10,000
 * rules of the same shape, and prints the ratio.  The decision must not
 * get slower as the policy grows; this shows whether it does.  Then the
 * same 10,000 rules with a "**" in the middle of each pattern, against the
 * same paths: a mid-pattern "**" should stay within 2x of the plain ones.
 *
 *   bench-policy [ITERATIONS]
 */

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy.h"

#define N_QUERIES 10
#define ROUNDS 7

enum shape {
        SHAPE_PREFIX,     /* one literal prefix per rule */
        SHAPE_SUBJECT,    /* one path, many subjects */
        SHAPE_STAR_LATE,  /* the prefix, then a "**" that eats "docs" */
        SHAPE_STAR_EARLY, /* one "**" shared by all, before the literal */
        N_SHAPES,
};

static int format_rule(char *buf, size_t size, enum shape shape, unsigned i) {
        switch (shape) {
        case SHAPE_PREFIX:
                return snprintf(buf, size, "uid=%u /srv/share/u%u/** read\n", i, i);
        case SHAPE_SUBJECT:
                return snprintf(buf, size, "uid=%u /srv/common/** read\n", i);
        case SHAPE_STAR_LATE:
                return snprintf(buf, size, "uid=%u /srv/share/u%u/**/report.txt read\n", i, i);
        default:
                return snprintf(buf, size, "uid=%u /srv/**/u%u/** read\n", i, i);
        }
}

static void diag(const char *file, unsigned line, const char *message, void *userdata) {
        (void) userdata;
        fprintf(stderr, "%s:%u: %s\n", file, line, message);
}

static struct policy *make_policy(enum shape shape, unsigned n) {
        size_t size = (size_t) n * 64 + 1, len = 0;
        char *text = malloc(size);
        struct policy *p = NULL;

        if (!text)
                abort();
        for (unsigned i = 0; i < n; i++)
                len += (size_t) format_rule(text + len, size - len, shape, i);
        struct timespec a, b;
        clock_gettime(CLOCK_MONOTONIC, &a);
        if (policy_load_string("bench", text, len, diag, NULL, &p) < 0)
                abort();
        clock_gettime(CLOCK_MONOTONIC, &b);
        printf("  load %5u rules: %8.3f ms\n", n,
               ((double) (b.tv_sec - a.tv_sec) * 1e9 + (double) (b.tv_nsec - a.tv_nsec)) / 1e6);
        free(text);
        return p;
}

/* Nanoseconds per decision, one run of iterations. */
static double time_decisions(const struct policy *p, enum shape shape, unsigned long iterations) {
        char paths[N_QUERIES][64];
        struct timespec a, b;
        unsigned long allowed = 0;

        for (unsigned q = 0; q < N_QUERIES; q++)
                snprintf(paths[q], sizeof paths[q],
                         shape == SHAPE_SUBJECT ? "/srv/common/docs/%u/report.txt"
                                                : "/srv/share/u%u/docs/report.txt",
                         q);

        clock_gettime(CLOCK_MONOTONIC, &a);
        for (unsigned long i = 0; i < iterations; i++) {
                unsigned q = (unsigned) (i % N_QUERIES);
                struct policy_subject s = {
                        .uid = q,
                        .gid = q,
                        .user_name = "bench",
                };
                struct policy_verdict v;

                policy_match(p, &s, paths[q], strlen(paths[q]), POLICY_READ, &v);
                allowed += policy_verdict_allows(&v, POLICY_READ);
        }
        clock_gettime(CLOCK_MONOTONIC, &b);
        if (allowed != iterations) {
                fprintf(stderr, "unexpected denial\n");
                exit(EXIT_FAILURE);
        }
        return ((double) (b.tv_sec - a.tv_sec) * 1e9 + (double) (b.tv_nsec - a.tv_nsec)) /
               (double) iterations;
}

int main(int argc, char **argv) {
        unsigned long iterations = argc > 1 ? strtoul(argv[1], NULL, 10) : 1000000;
        static const char *const names[] = {
                [SHAPE_PREFIX] = "uid=N /srv/share/uN/** read",
                [SHAPE_SUBJECT] = "uid=N /srv/common/** read",
                [SHAPE_STAR_LATE] = "uid=N /srv/share/uN/**/report.txt read",
                [SHAPE_STAR_EARLY] = "uid=N /srv/**/uN/** read",
        };
        double large_ns[N_SHAPES] = {};

        if (iterations == 0)
                iterations = 1;

        for (enum shape shape = SHAPE_PREFIX; shape < N_SHAPES; shape++) {
                printf("%s\n", names[shape]);
                struct policy *small = make_policy(shape, 10);
                struct policy *large = make_policy(shape, 10000);
                double t_small = 0, t_large = 0;

                /* Alternate the two and keep the best of each, so that a
                 * busy neighbour or a frequency change hits both alike. */
                for (unsigned round = 0; round < ROUNDS; round++) {
                        double ts = time_decisions(small, shape, iterations);
                        double tl = time_decisions(large, shape, iterations);
                        if (round == 0 || ts < t_small)
                                t_small = ts;
                        if (round == 0 || tl < t_large)
                                t_large = tl;
                }

                printf("  10 rules:     %7.1f ns/decision\n", t_small);
                printf("  10000 rules:  %7.1f ns/decision\n", t_large);
                printf("  ratio:        %7.3f\n", t_large / t_small);
                large_ns[shape] = t_large;
                policy_unref(small);
                policy_unref(large);
        }
        /* The same paths, the same 10,000 subjects: what the "**" costs. */
        printf("mid-pattern ** against uid=N /srv/share/uN/** read, 10000 rules each (target < 2):\n");
        printf("  %-40s %7.3f\n", names[SHAPE_STAR_LATE], large_ns[SHAPE_STAR_LATE] / large_ns[SHAPE_PREFIX]);
        printf("  %-40s %7.3f\n", names[SHAPE_STAR_EARLY], large_ns[SHAPE_STAR_EARLY] / large_ns[SHAPE_PREFIX]);
        return EXIT_SUCCESS;
}
