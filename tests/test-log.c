/* SPDX-License-Identifier: MIT */
/* The daemon's log and audit trail, linked as the daemon links them: what
 * a client chooses (a path, a unit name) is escaped so that it can neither
 * forge a line nor a field, is capped with its real length and never cut
 * inside an escape; and denials are written within a budget per account,
 * what was held back summed up, the table of accounts bounded whatever the
 * number of uids. */

#include <check.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "audit.h"
#include "log.h"
#include "macro.h"
#include "testutil.h"
#include "wire.h"

/* ---- helpers -------------------------------------------------------------- */

static char *quote(const char *s, size_t len) {
        static char buf[LOG_QUOTE_SIZE];
        log_quote(buf, sizeof buf, s, len);
        return buf;
}

/* Decodes escaped text (as log_escape writes it) into out; returns its
 * length, or -1 if it is not something log_escape writes. */
static long unescape(const char *e, size_t elen, char *out) {
        size_t n = 0;
        for (size_t i = 0; i < elen;) {
                unsigned char c = (unsigned char) e[i];
                if (c < 0x20 || c == 0x7f || c == '"')
                        return -1;
                if (c != '\\') {
                        out[n++] = (char) c;
                        i++;
                        continue;
                }
                if (i + 1 >= elen)
                        return -1;
                switch (e[i + 1]) {
                case 'n': out[n++] = '\n'; i += 2; break;
                case 'r': out[n++] = '\r'; i += 2; break;
                case 't': out[n++] = '\t'; i += 2; break;
                case '\\': out[n++] = '\\'; i += 2; break;
                case '"': out[n++] = '"'; i += 2; break;
                case 'x': {
                        unsigned v;
                        if (i + 4 > elen || sscanf(e + i + 2, "%2x", &v) != 1)
                                return -1;
                        out[n++] = (char) v;
                        i += 4;
                        break;
                }
                default:
                        return -1;
                }
        }
        return (long) n;
}

/* Checks that q (from log_quote of s, len) is "ESCAPED" or
 * "ESCAPED"...(LEN bytes), that ESCAPED is whole and decodes to a prefix of
 * s (all of it without the suffix), and returns the length of ESCAPED. */
static size_t check_quoted(const char *q, const char *s, size_t len) {
        static char out[FDBR_WIRE_PATH_MAX * 4 + 16];
        size_t qlen = strlen(q);

        /* Plain conditions: every ck_assert is a write to the runner, too
         * slow for the loops over every byte value. */
        if (qlen < 2 || q[0] != '"')
                ck_abort_msg("not quoted: %s", q);
        const char *end = strrchr(q, '"');
        if (end == q)
                ck_abort_msg("not closed: %s", q);
        size_t elen = (size_t) (end - q - 1);
        long n = unescape(q + 1, elen, out);
        if (n < 0)
                ck_abort_msg("not a whole escaped text: %s", q);
        if (memcmp(out, s, (size_t) n) != 0)
                ck_abort_msg("does not decode to a prefix: %s", q);
        if (end[1] == 0) {
                if ((size_t) n != len)
                        ck_abort_msg("cut without saying so: %s", q);
        } else {
                char want[48];
                snprintf(want, sizeof want, "...(%zu bytes)", len);
                if (strcmp(end + 1, want) != 0)
                        ck_abort_msg("suffix of %s is not %s", q, want);
                if ((size_t) n >= len)
                        ck_abort_msg("said cut, but whole: %s", q);
        }
        for (size_t i = 0; i < qlen; i++)
                if ((unsigned char) q[i] < 0x20 || q[i] == 0x7f)
                        ck_abort_msg("control byte %#x in %s", (unsigned char) q[i], q);
        return elen;
}

/* Sends stderr (where the daemon logs) to a memory file. */
static int capture(void) {
        int fd = memfd_create("log", MFD_CLOEXEC);
        ck_assert_int_ge(fd, 0);
        ck_assert_int_eq(dup2(fd, STDERR_FILENO), STDERR_FILENO);
        return fd;
}

static char *captured(int fd) {
        off_t size = lseek(fd, 0, SEEK_END);
        ck_assert_int_ge(size, 0);
        char *buf = malloc((size_t) size + 1);
        ck_assert_ptr_nonnull(buf);
        ck_assert_int_eq(pread(fd, buf, (size_t) size, 0), size);
        buf[size] = 0;
        return buf;
}

static unsigned count_prefix(const char *log, const char *prefix) {
        unsigned n = 0;
        size_t plen = strlen(prefix);
        for (const char *l = log; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l))
                n += strncmp(l, prefix, plen) == 0;
        return n;
}

/* The sum of N over "uid U: N similar denials suppressed" lines (any uid
 * when uid is -1) and "N similar denials of other uids suppressed". */
static unsigned long long suppressed_sum(const char *log, long uid) {
        unsigned long long sum = 0;
        for (const char *l = log; *l; l = strchr(l, '\n') ? strchr(l, '\n') + 1 : l + strlen(l)) {
                unsigned u;
                unsigned long long n;
                if (sscanf(l, "fdbrokerd: uid %u: %llu similar denials suppressed", &u, &n) == 2 &&
                    (uid < 0 || u == (unsigned) uid))
                        sum += n;
                else if (uid < 0 && sscanf(l, "fdbrokerd: %llu similar denials of other uids suppressed", &n) == 1)
                        sum += n;
        }
        return sum;
}

static struct identity test_id = { .uid = 1000, .gid = 1000, .pid = 42 };

static void deny(uid_t account, const char *path, long long now) {
        struct identity id = test_id;
        id.uid = account;
        struct audit_record rec = {
                .id = &id, .account = account, .op = FDBR_OP_OPEN, .path = path, .path_len = strlen(path),
                .flags = FDBR_F_READ, .denied = true, .status = EACCES, .reason = "no rule",
        };
        audit_log_at(&rec, now);
}

/* ---- escaping ------------------------------------------------------------- */

START_TEST(escape_controls) {
        ck_assert_str_eq(quote("/a\nb", 4), "\"/a\\nb\"");
        ck_assert_str_eq(quote("/a\rb", 4), "\"/a\\rb\"");
        ck_assert_str_eq(quote("/a\tb", 4), "\"/a\\tb\"");
        ck_assert_str_eq(quote("/a\033[2Jb", 7), "\"/a\\x1b[2Jb\"");
        ck_assert_str_eq(quote("/a\\b", 4), "\"/a\\\\b\"");
        ck_assert_str_eq(quote("/a\"b", 4), "\"/a\\\"b\"");
        ck_assert_str_eq(quote("/a\x7f" "b", 4), "\"/a\\x7fb\"");
        ck_assert_str_eq(quote("/a\x01" "b", 4), "\"/a\\x01b\"");
        ck_assert_str_eq(quote("", 0), "\"\"");
}
END_TEST

START_TEST(escape_utf8) {
        /* valid text stays readable */
        ck_assert_str_eq(quote("/h\xc3\xa9llo/\xe6\x97\xa5/\xf0\x9f\x98\x80", 16),
                         "\"/h\xc3\xa9llo/\xe6\x97\xa5/\xf0\x9f\x98\x80\"");
        /* invalid bytes, a cut sequence, overlong forms, surrogates, beyond
         * U+10FFFF: byte by byte */
        ck_assert_str_eq(quote("/\xff\xfe", 3), "\"/\\xff\\xfe\"");
        ck_assert_str_eq(quote("/\xc3", 2), "\"/\\xc3\"");
        ck_assert_str_eq(quote("/\xe6\x97", 3), "\"/\\xe6\\x97\"");
        ck_assert_str_eq(quote("/\xc0\xaf", 3), "\"/\\xc0\\xaf\"");
        ck_assert_str_eq(quote("/\xe0\x80\xaf", 4), "\"/\\xe0\\x80\\xaf\"");
        ck_assert_str_eq(quote("/\xed\xa0\x80", 4), "\"/\\xed\\xa0\\x80\"");
        ck_assert_str_eq(quote("/\xf4\x90\x80\x80", 5), "\"/\\xf4\\x90\\x80\\x80\"");
        /* valid but deceptive: C1 NEL, line separator, right-to-left override */
        ck_assert_str_eq(quote("/\xc2\x85", 3), "\"/\\xc2\\x85\"");
        ck_assert_str_eq(quote("/\xe2\x80\xa8", 4), "\"/\\xe2\\x80\\xa8\"");
        ck_assert_str_eq(quote("/\xe2\x80\xae" "fdp.exe", 11), "\"/\\xe2\\x80\\xaefdp.exe\"");
}
END_TEST

/* Every byte value, alone and in pairs: nothing escapes the quotes, no
 * control byte reaches the line, and the text decodes back. */
START_TEST(escape_every_byte) {
        char s[3] = "/";
        for (unsigned a = 1; a < 256; a++) {
                s[1] = (char) a;
                check_quoted(quote(s, 2), s, 2);
                for (unsigned b = 1; b < 256; b++) {
                        s[2] = (char) b;
                        check_quoted(quote(s, 3), s, 3);
                }
        }
}
END_TEST

START_TEST(cap_long_path) {
        char path[FDBR_WIRE_PATH_MAX + 1];

        path[0] = '/';
        memset(path + 1, 'a', FDBR_WIRE_PATH_MAX - 1);
        const char *q = quote(path, FDBR_WIRE_PATH_MAX);
        ck_assert_uint_eq(check_quoted(q, path, FDBR_WIRE_PATH_MAX), LOG_QUOTE_CAP);
        ck_assert_ptr_nonnull(strstr(q, "\"...(4095 bytes)"));
        ck_assert_uint_le(strlen(q) + 1, LOG_QUOTE_SIZE);

        /* 2, 4 and 12 bytes per escaped byte or character */
        static const char *fill[] = { "\n", "\xff", "\xe2\x80\xae", "\xc3\xa9", "\xf0\x9f\x98\x80" };
        for (size_t f = 0; f < ELEMENTSOF(fill); f++) {
                size_t fl = strlen(fill[f]);
                size_t len = 1;
                while (len + fl <= FDBR_WIRE_PATH_MAX) {
                        memcpy(path + len, fill[f], fl);
                        len += fl;
                }
                q = quote(path, len);
                size_t elen = check_quoted(q, path, len);
                ck_assert_uint_le(elen, LOG_QUOTE_CAP);
                ck_assert_uint_gt(elen, LOG_QUOTE_CAP - 16);
                ck_assert_uint_le(strlen(q) + 1, LOG_QUOTE_SIZE);
        }
}
END_TEST

/* At the cap: an escape that would end past it is left out whole, and one
 * that ends exactly at it is kept. */
START_TEST(cap_boundaries) {
        static const struct {
                const char *tail;
                size_t escaped;
        } tails[] = {
                { "\xff", 4 }, { "\n", 2 }, { "\xe2\x80\xae", 12 }, { "\xf0\x9f\x98\x80", 4 }, { "\xc3", 4 },
        };
        char path[LOG_QUOTE_CAP + 16];

        for (size_t t = 0; t < ELEMENTSOF(tails); t++) {
                size_t tl = strlen(tails[t].tail);
                for (size_t before = LOG_QUOTE_CAP - tails[t].escaped - 2; before <= LOG_QUOTE_CAP; before++) {
                        memset(path, 'a', before);
                        path[0] = '/';
                        memcpy(path + before, tails[t].tail, tl);
                        size_t len = before + tl;
                        const char *q = quote(path, len);
                        size_t elen = check_quoted(q, path, len);
                        if (before + tails[t].escaped <= LOG_QUOTE_CAP) {
                                ck_assert_msg(elen == before + tails[t].escaped, "tail %zu after %zu: %s", t,
                                              before, q);
                                ck_assert_ptr_null(strstr(q, "..."));
                        } else {
                                ck_assert_msg(elen == (before < LOG_QUOTE_CAP ? before : LOG_QUOTE_CAP),
                                              "tail %zu after %zu: %s", t, before, q);
                                ck_assert_ptr_nonnull(strstr(q, "bytes)"));
                        }
                }
        }
}
END_TEST

/* A buffer too small for the cap: the same rules, within it. */
START_TEST(small_buffers) {
        char path[64], buf[80];
        for (size_t i = 0; i < sizeof path; i++)
                path[i] = "/a\n\xff\xe2\x80\xae\"\\\xc3\xa9"[i % 11];
        for (size_t size = 0; size <= sizeof buf; size++) {
                memset(buf, 'X', sizeof buf);
                size_t n = log_quote(buf, size, path, sizeof path);
                if (size == 0) {
                        ck_assert_uint_eq(n, 0);
                        continue;
                }
                ck_assert_uint_lt(n, size);
                ck_assert_uint_eq(strlen(buf), n);
                if (n > 0)
                        check_quoted(buf, path, sizeof path);
        }
        /* log_escape alone */
        size_t consumed = 99;
        ck_assert_uint_eq(log_escape(buf, 4, "\n\n", 2, &consumed), 2);
        ck_assert_str_eq(buf, "\\n");
        ck_assert_uint_eq(consumed, 1);
        ck_assert_uint_eq(log_escape(buf, 4, "\xff", 1, &consumed), 0);
        ck_assert_uint_eq(consumed, 0);
        ck_assert_str_eq(buf, "");
}
END_TEST

/* ---- the audit record ----------------------------------------------------- */

START_TEST(record_cannot_forge) {
        static const char forged[] = "fdbrokerd: allow uid=0 gid=0 pid=1 unit=- op=OPEN path=\"/etc/shadow\"";
        char path[FDBR_WIRE_PATH_MAX + 1];
        struct identity id = { .uid = 1000, .gid = 1000, .pid = 7, .unit = (char *) "evil\n<3>fdbrokerd: x.service" };
        static struct audit_text t;

        int n = snprintf(path, sizeof path, "/tmp/x\n%s\r\n", forged);
        memset(path + n, 'b', sizeof path - 1 - (size_t) n);
        path[FDBR_WIRE_PATH_MAX] = 0;
        struct audit_record rec = {
                .id = &id, .account = 1000, .op = FDBR_OP_OPEN, .path = path, .path_len = FDBR_WIRE_PATH_MAX,
                .flags = FDBR_F_READ, .denied = true, .status = EACCES, .reason = "no\nrule",
        };
        audit_format(&rec, &t);
        ck_assert_ptr_null(strpbrk(t.line, "\n\r"));
        ck_assert_ptr_nonnull(strstr(t.line, "path=\"/tmp/x\\nfdbrokerd: allow"));
        ck_assert_ptr_nonnull(strstr(t.line, "\"...(4095 bytes) flags="));
        ck_assert_ptr_nonnull(strstr(t.line, " unit=\"evil\\n<3>fdbrokerd: x.service\" "));
        ck_assert_ptr_nonnull(strstr(t.line, " reason=\"no\\nrule\""));
        ck_assert_uint_lt(strlen(t.line), 2 * LOG_QUOTE_SIZE + 512);

        /* the journal's fields: escaped, whole escapes, within the cap */
        ck_assert_ptr_null(strpbrk(t.path_field, "\n\r"));
        ck_assert_uint_le(strlen(t.path_field), LOG_QUOTE_CAP);
        char quoted[LOG_QUOTE_SIZE];
        snprintf(quoted, sizeof quoted, "\"%s\"...(4095 bytes)", t.path_field);
        check_quoted(quoted, path, FDBR_WIRE_PATH_MAX);
        ck_assert_str_eq(t.unit_field, "evil\\n<3>fdbrokerd: x.service");

        /* and as written */
        int fd = capture();
        deny(1000, path, 0);
        char *log = captured(fd);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: deny "), 1);
        ck_assert_uint_eq(count_prefix(log, forged), 0);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: "), 1);
        free(log);
        close(fd);
}
END_TEST

/* ---- the budget ------------------------------------------------------------ */

/* Captures the log from now on, with every account's budget full. */
static int budget_capture(void) {
        int fd = capture();
        audit_budget_reset();
        return fd;
}

/* The log so far has n lines starting with prefix. */
static void expect_count(int fd, const char *prefix, unsigned n) {
        char *log = captured(fd);
        ck_assert_msg(count_prefix(log, prefix) == n, "%u lines '%s', not %u:\n%s", count_prefix(log, prefix),
                      prefix, n, log);
        free(log);
}

/* n denials for uid at time t. */
static void deny_times(uid_t uid, int n, long long t) {
        for (int i = 0; i < n; i++)
                deny(uid, "/x", t);
}

START_TEST(budget_burst_and_summary) {
        int fd = budget_capture();

        deny_times(1000, 50, 0);
        char *log = captured(fd);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: deny uid=1000 "), AUDIT_BURST);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: uid "), 0);
        free(log);

        /* another account has its own budget */
        deny_times(1001, 5, 1);
        expect_count(fd, "fdbrokerd: deny uid=1001 ", 5);

        /* a tenth of a second later one line is due again, after the sum of
         * what was held back */
        deny(1000, "/x", 99);
        expect_count(fd, "fdbrokerd: deny uid=1000 ", AUDIT_BURST);
        deny(1000, "/x", 100);
        log = captured(fd);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: deny uid=1000 "), AUDIT_BURST + 1);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: uid 1000: 31 similar denials suppressed"), 1);
        const char *sum = strstr(log, "fdbrokerd: uid 1000: 31");
        ck_assert_ptr_nonnull(strstr(sum, "\nfdbrokerd: deny uid=1000 "));
        free(log);
        close(fd);
}
END_TEST

/* A steady flood: every denial is either written or counted in a summary,
 * and the lines written follow the rate. */
START_TEST(budget_exact_counts) {
        int fd = budget_capture();

        unsigned long long total = 0;
        for (long long t = 0; t < 10000; t++)
                for (int i = 0; i < 10; i++, total++)
                        deny(2000, "/x", t);
        /* quiet for a while, then one more: the rest is told */
        deny(2000, "/x", 20000);
        total++;
        char *log = captured(fd);
        unsigned lines = count_prefix(log, "fdbrokerd: deny uid=2000 ");
        ck_assert_uint_le(lines, AUDIT_BURST + AUDIT_RATE * 10 + 1);
        ck_assert_uint_ge(lines, AUDIT_RATE * 10);
        ck_assert_uint_eq(lines + suppressed_sum(log, 2000), total);
        free(log);
        close(fd);
}
END_TEST

/* Many accounts at once are bounded together; a quiet account is summed
 * up when others are denied. */
START_TEST(budget_all_accounts) {
        int fd = budget_capture();

        for (uid_t u = 3000; u < 3100; u++)
                deny_times(u, 10, 0);
        expect_count(fd, "fdbrokerd: deny ", AUDIT_ALL_BURST);

        /* uid 3099 was held back entirely; it is quiet now, but others go
         * on: the sweep tells its sum within one round of the table */
        for (long long t = 0; t < 2 * AUDIT_SETS; t++)
                deny(4000, "/x", 60000 + t * 100);
        char *log = captured(fd);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: uid 3099: 10 similar denials suppressed"), 1);
        ck_assert_uint_eq(suppressed_sum(log, -1) + count_prefix(log, "fdbrokerd: deny "), 1000 + 2 * AUDIT_SETS);
        free(log);
        close(fd);
}
END_TEST

/* 100,000 uids: the table stays within its bound, a flooding account is
 * never forgotten (and so never gets a fresh budget) however many others
 * come by, and every denial is still accounted for. */
START_TEST(budget_bounded_table) {
        int fd = budget_capture();

        unsigned long long total = 0;
        for (uid_t u = 0; u < 100000; u++) {
                deny(100000 + u, "/x", 0);
                deny(5, "/x", 0);
                total += 2;
                ck_assert_uint_le(audit_budget_tracked(), AUDIT_ACCOUNTS_MAX);
        }
        ck_assert_uint_eq(audit_budget_tracked(), AUDIT_ACCOUNTS_MAX);
        char *log = captured(fd);
        ck_assert_uint_le(count_prefix(log, "fdbrokerd: deny uid=5 "), AUDIT_BURST);
        ck_assert_uint_le(count_prefix(log, "fdbrokerd: "), AUDIT_ALL_BURST);
        free(log);

        /* later, the rest is told: uid 5 itself, forgotten ones in general,
         * and the ones still in the table by the sweep */
        for (long long t = 0; t < AUDIT_SETS + 1; t++) {
                deny(5, "/x", 100000 + t * 1000);
                total++;
        }
        log = captured(fd);
        ck_assert_uint_eq(count_prefix(log, "fdbrokerd: deny ") + suppressed_sum(log, -1), total);
        ck_assert_uint_ge(count_prefix(log, "fdbrokerd: uid 5: "), 1);
        /* and nothing else was written */
        unsigned others = count_prefix(log, "fdbrokerd: ") - count_prefix(log, "fdbrokerd: deny ") -
                          count_prefix(log, "fdbrokerd: uid ");
        ck_assert_uint_le(others, count_prefix(log, "fdbrokerd: deny "));
        ck_assert_uint_eq(others, count_prefix(log, "fdbrokerd: ") - count_prefix(log, "fdbrokerd: deny ") -
                                          count_prefix(log, "fdbrokerd: uid "));
        free(log);
        close(fd);
}
END_TEST

int main(void) {
        Suite *s = suite_create("log");
        TCase *tc = tcase_create("escape");
        tcase_add_test(tc, escape_controls);
        tcase_add_test(tc, escape_utf8);
        tcase_add_test(tc, escape_every_byte);
        tcase_add_test(tc, cap_long_path);
        tcase_add_test(tc, cap_boundaries);
        tcase_add_test(tc, small_buffers);
        tcase_add_test(tc, record_cannot_forge);
        suite_add_tcase(s, tc);

        tc = tcase_create("budget");
        tcase_add_test(tc, budget_burst_and_summary);
        tcase_add_test(tc, budget_exact_counts);
        tcase_add_test(tc, budget_all_accounts);
        tcase_add_test(tc, budget_bounded_table);
        suite_add_tcase(s, tc);
        return tu_run_suite(s);
}
