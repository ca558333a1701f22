/* SPDX-License-Identifier: MIT */
/* Arbitrary text as a policy.  Whatever loads is then asked about a few
 * fixed paths and about paths made from the text's own patterns, for a few
 * kinds of client, and policy_match() must agree with policy_match_each(). */

#include <stdbool.h>
#include <string.h>

#include "fuzz-common.h"
#include "fuzz.h"
#include "wire.h"

#define FILE_NAME "fuzz.conf"
#define INPUT_MAX (64 * 1024)
/* Paths made from the input, each asked for every subject: bounded so that
 * one input stays quick whatever it holds. */
#define DERIVED_MAX 8

static const gid_t alice_groups[] = { 1000, 27, 100, 27 };
static const gid_t odd_groups[] = { 33, 4294967294u };

static const struct policy_subject subjects[] = {
        { .uid = 0, .gid = 0, .user_name = "root" },
        {
                .uid = 1000,
                .gid = 1000,
                .groups = alice_groups,
                .n_groups = 4,
                .user_name = "alice",
                .unit = "app@1.service",
        },
        { .uid = 65534, .gid = 65534, .unit = "backup.service" },
        {
                .uid = 4294967294u,
                .gid = 33,
                .groups = odd_groups,
                .n_groups = 2,
                .user_name = "a*b[c]\\",
                .unit = "x",
        },
};

static const char *const fixed_paths[] = {
        "/",
        "/etc",
        "/etc/passwd",
        "/home/alice",
        "/home/alice/.ssh/id_ed25519",
        "/srv/share/1000/a/b/c",
        "/srv/data/x/public/f",
        "/srv/reports/100%",
        "/dev/ttyUSB0",
        "/run/user/1000/bus",
        "/a*b[c]\\/x",
};

int LLVMFuzzerInitialize(int *argc, char ***argv) {
        /* Includes are resolved against the working directory: make it one
         * where nothing can be found. */
        fuzz_enter_empty_dir();
        return 0;
}

/* True when some include line names a path with a '/': that could reach
 * out of the empty directory ("../" does too), and an absolute glob could
 * read the whole file system. */
static bool include_escapes(const char *text, size_t len) {
        for (size_t i = 0; i < len;) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t end = nl ? (size_t) (nl - text) : len;
                size_t j = i;

                while (j < end && (text[j] == ' ' || text[j] == '\t'))
                        j++;
                if (end - j >= 7 && memcmp(text + j, "include", 7) == 0 &&
                    (end - j == 7 || text[j + 7] == ' ' || text[j + 7] == '\t') &&
                    memchr(text + j, '/', end - j))
                        return true;
                i = end + 1;
        }
        return false;
}

static void append(char *buf, size_t size, size_t *o, const char *s, size_t n) {
        if (*o + n >= size)
                n = size - 1 - *o;
        memcpy(buf + *o, s, n);
        *o += n;
}

/* Turns a pattern into a path it probably matches for s: templates
 * expanded, wildcards replaced by something they accept. */
static size_t instantiate(const char *pat, size_t len, const struct policy_subject *s, char *buf,
                          size_t size) {
        size_t o = 0;
        char num[16];

        for (size_t i = 0; i < len; i++) {
                char c = pat[i];

                if (c == '%' && i + 1 < len) {
                        c = pat[++i];
                        if (c == 'U' || c == 'G') {
                                int n = snprintf(num, sizeof num, "%u",
                                                 (unsigned) (c == 'U' ? s->uid : s->gid));
                                append(buf, size, &o, num, (size_t) n);
                        } else if (c == 'u' && s->user_name)
                                append(buf, size, &o, s->user_name, strlen(s->user_name));
                        else
                                append(buf, size, &o, &c, 1);
                } else if (c == '*') {
                        if (i + 1 < len && pat[i + 1] == '*')
                                append(buf, size, &o, "x/y", 3);
                } else if (c == '?')
                        append(buf, size, &o, "q", 1);
                else if (c == '\\' && i + 1 < len)
                        append(buf, size, &o, &pat[++i], 1);
                else if (c == '[') {
                        const char *close = memchr(pat + i + 1, ']', len - i - 1);
                        if (!close) {
                                append(buf, size, &o, &c, 1);
                                continue;
                        }
                        char first = pat[i + 1] == '!' || pat[i + 1] == '^' ? 'z' : pat[i + 1];
                        append(buf, size, &o, &first, 1);
                        i = (size_t) (close - pat);
                } else
                        append(buf, size, &o, &c, 1);
        }
        buf[o] = 0;
        return o;
}

static void decide_all(const struct policy *p, const char *path, size_t len,
                       struct fuzz_matches *m) {
        if (wire_path_check(path, len) < 0)
                return;
        for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
                fuzz_decide(p, &subjects[i], path, len, FILE_NAME, m);
}

static bool is_blank(char c) {
        return c == ' ' || c == '\t' || c == '\n';
}

static void decide_derived(const struct policy *p, const char *text, size_t len,
                           struct fuzz_matches *m) {
        char buf[FDBR_WIRE_PATH_MAX + 2];
        unsigned n = 0;

        for (size_t i = 0; i < len && n < DERIVED_MAX;) {
                size_t tl = 0;
                while (i + tl < len && !is_blank(text[i + tl]))
                        tl++;
                if (tl > 0 && text[i] == '/') {
                        n++;
                        decide_all(p, text + i, tl, m);
                        size_t bl = instantiate(text + i, tl, &subjects[1], buf, sizeof buf);
                        decide_all(p, buf, bl, m);
                }
                i += tl + 1;
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        const char *text = (const char *) data;
        struct fuzz_matches m = {};
        struct fuzz_diags d;

        if (size > INPUT_MAX || include_escapes(text, size))
                return -1;

        struct policy *p = fuzz_load(FILE_NAME, text, size, &d);
        if (!p)
                return 0;

        FUZZ_CHECK(policy_ref(p) == p);
        policy_unref(p);

        for (size_t i = 0; i < sizeof fixed_paths / sizeof fixed_paths[0]; i++)
                decide_all(p, fixed_paths[i], strlen(fixed_paths[i]), &m);
        decide_derived(p, text, size, &m);

        fuzz_matches_done(&m);
        policy_unref(p);
        return 0;
}
