/* SPDX-License-Identifier: MIT */
/* Output: a table for people, or JSON lines (one object per line, so that
 * a script can aggregate several runs with line tools). */

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

static bool json;
/* The short name of the section, for JSON. */
static char section[32];
static bool table_header_done;
static bool ratio_columns;

void report_init(bool as_json) {
        json = as_json;
        /* Results come out as they are measured, also through a pipe. */
        setvbuf(stdout, NULL, _IOLBF, 0);
}

static double us(uint64_t ns) {
        return (double) ns / 1000.0;
}

static bool passes(double value, const char *cmp, double target) {
        return strcmp(cmp, ">=") == 0 ? value >= target : value <= target;
}

/* A JSON string: the file's path comes from $TMPDIR, which may hold
 * anything. */
static void json_string(const char *s) {
        putchar('"');
        for (; *s; s++) {
                unsigned char c = (unsigned char) *s;
                if (c == '"' || c == '\\')
                        printf("\\%c", c);
                else if (c < 0x20)
                        printf("\\u%04x", c);
                else
                        putchar(c);
        }
        putchar('"');
}

/* The 1-minute load average: how busy the machine already was. */
static double loadavg(void) {
        double v = -1;
        FILE *f = fopen("/proc/loadavg", "re");

        if (f) {
                if (fscanf(f, "%lf", &v) != 1)
                        v = -1;
                fclose(f);
        }
        return v;
}

void report_meta(const struct options *o) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        double load = loadavg();

        if (json) {
                printf("{\"type\":\"meta\",\"seconds\":%g,\"warmup\":%g,\"cpus\":%ld,\"loadavg\":%.2f,\"file\":",
                       o->seconds, o->warmup, cpus, load);
                json_string(o->file);
                printf("}\n");
                return;
        }
        printf("fdbroker-bench: %g s per measurement after %g s of warm-up, %ld CPUs online, load average %.2f\n",
               o->seconds, o->warmup, cpus, load);
        printf("file %s; latency is per request, submit -> callback\n", o->file);
}

static void table_header(void) {
        if (json || table_header_done)
                return;
        table_header_done = true;
        printf("\n%-7s %-11s %9s %8s %8s %7s %7s %9s %9s", "shape", "server", "ops/s", "p50 us", "p99 us",
               "cli CPU", "srv CPU", "srv us/op", "srv cs/op");
        if (ratio_columns)
                printf("   %-12s %-12s", "ops/s:bare", "p50:bare");
        printf("\n");
}

static void row(const char *shape, const char *server, const struct load_result *r) {
        double p50 = us(hist_quantile(&r->lat, 0.50)), p99 = us(hist_quantile(&r->lat, 0.99));
        double srv_us = r->ops ? (double) r->server_cpu_ns / 1000.0 / (double) r->ops : 0;

        if (json) {
                printf("{\"type\":\"shape\",\"section\":\"%s\",\"shape\":\"%s\",\"server\":\"%s\",\"ops_per_s\":%.1f,"
                       "\"p50_us\":%.2f,\"p99_us\":%.2f,\"srv_cpu\":%.3f,\"srv_us_per_op\":%.3f,"
                       "\"cli_cpu\":%.3f,\"srv_vcs_per_op\":%.3f,\"srv_ivcs_per_op\":%.3f,\"errors\":%llu}\n",
                       section, shape, server, r->ops_per_s, p50, p99, r->server_cpu, srv_us, r->client_cpu,
                       r->server_vcs_per_op, r->server_ivcs_per_op, (unsigned long long) r->errors);
                return;
        }
        table_header();
        printf("%-7s %-11s %9.0f %8.1f %8.1f %6.0f%%", shape, server, r->ops_per_s, p50, p99,
               r->client_cpu * 100);
        if (r->server_cpu > 0)
                printf(" %6.0f%% %9.2f %9.2f", r->server_cpu * 100, srv_us,
                       r->server_vcs_per_op + r->server_ivcs_per_op);
        else
                printf(" %7s %9s %9s", "-", "-", "-");
}

void report_floor(const struct load_result *r) {
        row("floor", "open+close", r);
        if (!json)
                printf("\n");
}

static void json_check(const char *name, double value, const char *cmp, double target) {
        if (cmp)
                printf("{\"type\":\"check\",\"section\":\"%s\",\"name\":\"%s\",\"value\":%.4f,\"cmp\":\"%s\","
                       "\"target\":%g,\"pass\":%s}\n",
                       section, name, value, cmp, target, passes(value, cmp, target) ? "true" : "false");
        else
                printf("{\"type\":\"ratio\",\"section\":\"%s\",\"name\":\"%s\",\"value\":%.4f}\n", section, name,
                       value);
}

void report_shape(const struct shape *s, const char *server, const struct load_result *r,
                  const struct load_result *bare, double p50_target) {
        char shape[32], name[64];

        snprintf(shape, sizeof shape, "%ux%u", s->conns, s->depth);
        row(shape, server, r);
        if (!bare) {
                if (!json)
                        printf("\n");
                return;
        }

        double thr = bare->ops_per_s > 0 ? r->ops_per_s / bare->ops_per_s : 0;
        uint64_t bare_p50 = hist_quantile(&bare->lat, 0.50);
        double p50 = bare_p50 ? (double) hist_quantile(&r->lat, 0.50) / (double) bare_p50 : 0;

        if (json) {
                snprintf(name, sizeof name, "throughput %s vs bare", shape);
                json_check(name, thr, ">=", TARGET_THROUGHPUT_VS_BARE);
                snprintf(name, sizeof name, "p50 %s vs bare", shape);
                json_check(name, p50, p50_target > 0 ? "<=" : NULL, p50_target);
                return;
        }
        printf("   %5.2f %-6s %5.2f %s\n", thr, passes(thr, ">=", TARGET_THROUGHPUT_VS_BARE) ? "PASS" : "MISS", p50,
               p50_target > 0 ? (passes(p50, "<=", p50_target) ? "PASS" : "MISS") : "");
}

void report_shape_vs(const struct shape *s, const char *server, const struct load_result *r, const char *base_name,
                     const struct load_result *base, bool row_too) {
        char shape[32], name[96];

        snprintf(shape, sizeof shape, "%ux%u", s->conns, s->depth);
        if (row_too)
                row(shape, server, r);
        double thr = base->ops_per_s > 0 ? r->ops_per_s / base->ops_per_s : 0;
        uint64_t base_p50 = hist_quantile(&base->lat, 0.50);
        double p50 = base_p50 ? (double) hist_quantile(&r->lat, 0.50) / (double) base_p50 : 0;

        if (json) {
                snprintf(name, sizeof name, "throughput %s %s vs %s", shape, server, base_name);
                json_check(name, thr, NULL, 0);
                snprintf(name, sizeof name, "p50 %s %s vs %s", shape, server, base_name);
                json_check(name, p50, NULL, 0);
                return;
        }
        if (row_too)
                printf("   %5.2f        %5.2f\n", thr, p50);
        else
                printf("%-7s %-11s ops/s %.2fx, p50 %.2fx %s's\n", shape, server, thr, p50, base_name);
}

void report_floor_share(const struct shape *s, const struct load_result *bare, const struct load_result *brokerd,
                        const struct load_result *peer, double floor_ops) {
        const struct {
                const char *name;
                const struct load_result *r;
        } sv[] = { { "bare", bare }, { "fdbrokerd", brokerd }, { "socketpair", peer } };
        char name[96];

        if (floor_ops <= 0)
                return;
        if (!json)
                printf("%-7s %-11s", "", "of floor");
        for (size_t i = 0; i < sizeof sv / sizeof sv[0]; i++) {
                double v = sv[i].r->ops_per_s / floor_ops;
                if (json) {
                        snprintf(name, sizeof name, "throughput %ux%u %s vs floor", s->conns, s->depth, sv[i].name);
                        json_check(name, v, NULL, 0);
                } else
                        printf(" %s %.3f", sv[i].name, v);
        }
        if (!json)
                printf("\n");
}

void report_section(const char *key, const char *title, bool ratios) {
        snprintf(section, sizeof section, "%s", key);
        table_header_done = false;
        ratio_columns = ratios;
        if (!json)
                printf("\n%s\n", title);
}

void report_value(const char *name, double value, const char *unit) {
        if (json)
                printf("{\"type\":\"value\",\"section\":\"%s\",\"name\":\"%s\",\"value\":%.4f,\"unit\":\"%s\"}\n",
                       section, name, value, unit);
        else
                printf("  %-36s %12.2f %s\n", name, value, unit);
}

void report_latency(const char *name, const struct load_result *r) {
        double p50 = us(hist_quantile(&r->lat, 0.50)), p99 = us(hist_quantile(&r->lat, 0.99));

        if (json)
                printf("{\"type\":\"latency\",\"section\":\"%s\",\"name\":\"%s\",\"ops_per_s\":%.1f,"
                       "\"p50_us\":%.2f,\"p99_us\":%.2f}\n",
                       section, name, r->ops_per_s, p50, p99);
        else
                printf("  %-36s p50 %8.1f us   p99 %8.1f us   (%.0f ops/s)\n", name, p50, p99, r->ops_per_s);
}

void report_check(const char *name, double value, const char *cmp, double target) {
        if (json)
                json_check(name, value, cmp, target);
        else
                printf("  %-36s %12.2f   target %s %g   %s\n", name, value, cmp, target,
                       passes(value, cmp, target) ? "PASS" : "MISS");
}

void report_ratio(const char *name, double value) {
        if (json)
                json_check(name, value, NULL, 0);
        else
                printf("  %-36s %12.2f\n", name, value);
}

void report_skip(const char *why) {
        if (json) {
                printf("{\"type\":\"skip\",\"section\":\"%s\",\"name\":", section);
                json_string(why);
                printf("}\n");
        } else
                printf("  skipped: %s\n", why);
}

void report_end(void) {
        fflush(stdout);
}
