/* SPDX-License-Identifier: MIT */
/* Patterns against paths, judged twice: by the policy engine (its parser,
 * its trie and its indexes) and by a plain model of the rules written from
 * docs/policy.md, one rule at a time, with fnmatch(3) on each component.
 * Any disagreement, on validity or on a decision, stops the run.
 *
 * The input is text, one item a line:
 *
 *     PATH
 *     USER NAME          (empty: "unknown" for the subjects that allow it)
 *     [SUBJECT...]PATTERN
 *     ...                (up to RULES_MAX rules)
 *
 * SUBJECT is any of the letters of subject_kinds[] ('-' makes the rule a
 * deny rule); rule i grants perm_names[i % 6]. */

#include <fnmatch.h>
#include <stdbool.h>
#include <string.h>

#include "fuzz-common.h"
#include "fuzz.h"
#include "wire.h"

#define FILE_NAME "match.conf"
#define RULES_MAX 24
/* Keeps each rule line well inside the parser's line limit. */
#define PATTERN_MAX 2048
/* LOGIN_NAME_MAX: no user database hands out longer names. */
#define USER_NAME_MAX 256
/* The longest expansion of a template component the matcher works with
 * (policy-match.c): what would be longer matches nothing. */
#define EXPAND_LIMIT (2 * (FDBR_WIRE_PATH_MAX + 1) - 1)
/* Ancestors of the path decided as well, nearest first. */
#define ANCESTORS_MAX 3

static const struct {
        char letter;
        const char *text;
} subject_kinds[] = {
        { 'a', "any" },     { 'u', "uid=1000" }, { '0', "uid=0" },
        { 'g', "gid=100" }, { 'x', "gid=27" },   { 'n', "unit=app@*.service" },
};

static const char *const perm_names[] = { "read", "write", "create", "dir", "device", "follow" };

struct rule {
        char subject;
        bool deny;
        const char *pattern;
        size_t len;
};

struct input {
        const char *path;
        size_t path_len;
        char user[USER_NAME_MAX + 1];
        struct rule rules[RULES_MAX];
        size_t n_rules;
};

static const char *subject_text(char letter) {
        for (size_t i = 0; i < sizeof subject_kinds / sizeof subject_kinds[0]; i++)
                if (subject_kinds[i].letter == letter)
                        return subject_kinds[i].text;
        return NULL;
}

static bool has_group(const struct policy_subject *s, gid_t g) {
        if (s->gid == g)
                return true;
        for (size_t i = 0; i < s->n_groups; i++)
                if (s->groups[i] == g)
                        return true;
        return false;
}

static bool subject_matches(char letter, const struct policy_subject *s) {
        switch (letter) {
        case 'a':
                return true;
        case 'u':
                return s->uid == 1000;
        case '0':
                return s->uid == 0;
        case 'g':
                return has_group(s, 100);
        case 'x':
                return has_group(s, 27);
        case 'n':
                return s->unit && fnmatch("app@*.service", s->unit, 0) == 0;
        }
        abort();
}

/* Splits the input into its lines; false when it does not have the shape
 * described at the top. */
static bool parse_input(const char *text, size_t len, struct input *in) {
        const char *lines[RULES_MAX + 2];
        size_t lens[RULES_MAX + 2], n = 0;

        for (size_t i = 0; i < len;) {
                const char *nl = memchr(text + i, '\n', len - i);
                size_t end = nl ? (size_t) (nl - text) : len;

                if (n == RULES_MAX + 2)
                        return false;
                lines[n] = text + i;
                lens[n++] = end - i;
                i = end + 1;
        }
        if (n < 3 || lens[1] > USER_NAME_MAX || memchr(lines[1], 0, lens[1]))
                return false;

        in->path = lines[0];
        in->path_len = lens[0];
        memcpy(in->user, lines[1], lens[1]);
        in->user[lens[1]] = 0;
        in->n_rules = 0;
        for (size_t i = 2; i < n; i++) {
                struct rule *r = &in->rules[in->n_rules++];
                const char *s = lines[i];
                size_t l = lens[i];

                *r = (struct rule) { .subject = 'a' };
                for (; l > 0 && (*s == '-' || subject_text(*s)); s++, l--) {
                        if (*s == '-')
                                r->deny = true;
                        else
                                r->subject = *s;
                }
                /* Blanks would split the pattern into fields of the line:
                 * how lines are cut is fuzz-policy's business. */
                if (l > PATTERN_MAX || memchr(s, ' ', l) || memchr(s, '\t', l))
                        return false;
                r->pattern = s;
                r->len = l;
        }
        return true;
}

static char *policy_text(const struct input *in, size_t *ret_len) {
        size_t size = 0, o = 0;

        for (size_t i = 0; i < in->n_rules; i++)
                size += 32 + in->rules[i].len;
        char *text = malloc(size + 1);
        FUZZ_CHECK(text);
        for (size_t i = 0; i < in->n_rules; i++) {
                const struct rule *r = &in->rules[i];

                o += (size_t) snprintf(text + o, size + 1 - o, "%s ", subject_text(r->subject));
                memcpy(text + o, r->pattern, r->len);
                o += r->len;
                o += (size_t) snprintf(text + o, size + 1 - o, " %s\n",
                                       r->deny ? "deny" : perm_names[i % 6]);
        }
        *ret_len = o;
        return text;
}

/* The first component can be nothing but "proc": no wildcard, no
 * template, escapes aside. */
static bool model_is_proc(const char *c, size_t n) {
        static const char want[] = "proc";
        size_t k = 0;

        /* Compared as it is read, one unescaped character at a time. */
        for (size_t i = 0; i < n; i++, k++) {
                if (c[i] == '\\' && i + 1 < n)
                        i++;
                else if (strchr("*?[%", c[i]))
                        return false;
                if (k == sizeof want - 1 || c[i] != want[k])
                        return false;
        }
        return k == sizeof want - 1;
}

/* The pattern rules of docs/policy.md, checked directly on the text. */
static bool model_valid(const char *p, size_t len) {
        if (memchr(p, 0, len))
                return false; /* the whole line is refused */
        /* "%h", then an ordinary pattern or nothing */
        if (len >= 2 && p[0] == '%' && p[1] == 'h') {
                if (len == 2)
                        return true;
                p += 2;
                len -= 2;
        } else if (len >= 2) {
                const char *slash = memchr(p + 1, '/', len - 1);
                if (model_is_proc(p + 1, slash ? (size_t) (slash - p - 1) : len - 1))
                        return false;
        }
        if (len < 1 || p[0] != '/')
                return false;
        if (len == 1)
                return true;

        for (size_t start = 1;;) {
                const char *slash = memchr(p + start, '/', len - start);
                size_t end = slash ? (size_t) (slash - p) : len, n = end - start;
                const char *c = p + start;

                if (n == 0 || (c[0] == '.' && (n == 1 || (n == 2 && c[1] == '.'))))
                        return false;
                for (size_t i = 0; i < n; i++) {
                        if (c[i] == '\\') {
                                /* escapes the next character, '%' included */
                                if (i + 1 == n)
                                        return false;
                                i++;
                        } else if (c[i] == '[') {
                                /* a closed set may not hold a '%' */
                                size_t j = i + 1;
                                if (j < n && (c[j] == '!' || c[j] == '^'))
                                        j++;
                                if (j < n && c[j] == ']')
                                        j++;
                                while (j < n && c[j] != ']')
                                        j += c[j] == '\\' && j + 1 < n ? 2 : 1;
                                if (j < n) {
                                        if (memchr(c + i, '%', j - i))
                                                return false;
                                        i = j;
                                }
                        } else if (c[i] == '%') {
                                if (i + 1 == n || !strchr("UuG%", c[i + 1]))
                                        return false;
                                i++;
                        }
                }
                if (end == len)
                        return true;
                start = end + 1;
        }
}

/* Appends a template's value, taken literally: every character fnmatch
 * would read as special is escaped.  False when the value can match
 * nothing. */
static bool model_value(char *buf, size_t *o, size_t *raw, const char *v) {
        if (strchr(v, '/'))
                return false;
        for (; *v; v++) {
                if (strchr("*?[]\\", *v))
                        buf[(*o)++] = '\\';
                buf[(*o)++] = *v;
                (*raw)++;
        }
        return true;
}

static bool model_component(const char *pc, size_t pn, const char *c,
                            const struct policy_subject *s) {
        /* Worst case: every byte of the pattern a %u, every byte of the
         * name escaped. */
        size_t size = pn / 2 * 2 * USER_NAME_MAX + pn + 1, o = 0, raw = 0;
        bool glob = false, template = false, ok = true;
        char *buf = malloc(size);

        FUZZ_CHECK(buf);
        for (size_t i = 0; i < pn && ok; i++) {
                char num[16];

                if (pc[i] == '\\') {
                        /* an escape goes to fnmatch as written */
                        glob = true;
                        buf[o++] = pc[i++];
                        buf[o++] = pc[i];
                        raw++;
                        continue;
                }
                if (pc[i] != '%') {
                        if (strchr("*?[", pc[i]))
                                glob = true;
                        buf[o++] = pc[i];
                        raw++;
                        continue;
                }
                switch (pc[++i]) {
                case 'U':
                case 'G':
                        template = true;
                        snprintf(num, sizeof num, "%u", (unsigned) (pc[i] == 'U' ? s->uid : s->gid));
                        ok = model_value(buf, &o, &raw, num);
                        break;
                case 'u':
                        template = true;
                        ok = s->user_name && model_value(buf, &o, &raw, s->user_name);
                        break;
                default:
                        buf[o++] = '%';
                        raw++;
                        break;
                }
        }
        buf[o] = 0;
        FUZZ_CHECK(o < size);

        /* The engine escapes values only where the component has wildcards
         * of its own, and bounds what it expands. */
        if (ok && template && (glob ? o : raw) > EXPAND_LIMIT)
                ok = false;
        ok = ok && fnmatch(buf, c, 0) == 0;
        free(buf);
        return ok;
}

/* Pattern components pc[i..] against path components from k on, the
 * plain recursive way, with a table of what was already tried (-1 not
 * yet) so that stacked stars do not make the model itself exponential. */
static bool model_from(const char *const *pc, const size_t *pn, size_t n_pc, size_t i, char *const *comps,
                       size_t n_comps, size_t k, const struct policy_subject *s, signed char *memo) {
        signed char *m = &memo[i * (n_comps + 1) + k];
        bool r;

        if (*m >= 0)
                return *m;
        if (i == n_pc)
                r = k == n_comps;
        else if (pn[i] == 2 && pc[i][0] == '*' && pc[i][1] == '*' && i + 1 == n_pc)
                r = n_comps > k; /* strictly beneath */
        else if (pn[i] == 2 && pc[i][0] == '*' && pc[i][1] == '*') {
                /* zero or more components */
                r = false;
                for (size_t j = k; j <= n_comps && !r; j++)
                        r = model_from(pc, pn, n_pc, i + 1, comps, n_comps, j, s, memo);
        } else
                r = k < n_comps && model_component(pc[i], pn[i], comps[k], s) &&
                    model_from(pc, pn, n_pc, i + 1, comps, n_comps, k + 1, s, memo);
        *m = r;
        return r;
}

/* comps: the path's components, NUL-terminated one after the other. */
static bool model_match(const struct rule *r, char *const *comps, size_t n_comps,
                        const struct policy_subject *s) {
        const char *pat = r->pattern;
        size_t len = r->len;

        /* Nothing under /proc, whatever the pattern. */
        if (n_comps > 0 && strcmp(comps[0], "proc") == 0)
                return false;
        /* The subjects here have no home: %h matches nothing. */
        if (len >= 2 && pat[0] == '%' && pat[1] == 'h')
                return false;
        if (len == 1)
                return n_comps == 0; /* "/" */

        const char *pc[PATTERN_MAX];
        size_t pn[PATTERN_MAX], n_pc = 0;
        for (size_t start = 1;;) {
                const char *slash = memchr(pat + start, '/', len - start);
                size_t end = slash ? (size_t) (slash - pat) : len;

                pc[n_pc] = pat + start;
                pn[n_pc++] = end - start;
                if (end == len)
                        break;
                start = end + 1;
        }
        signed char *memo = malloc((n_pc + 1) * (n_comps + 1));
        FUZZ_CHECK(memo);
        memset(memo, -1, (n_pc + 1) * (n_comps + 1));
        bool ok = model_from(pc, pn, n_pc, 0, comps, n_comps, 0, s, memo);
        free(memo);
        return ok;
}

static void check_decisions(const struct policy *p, const struct input *in, const char *path,
                            size_t path_len, const struct policy_subject *s) {
        char buf[FDBR_WIRE_PATH_MAX + 1];
        char *comps[FDBR_WIRE_PATH_MAX];
        size_t n_comps = 0;
        struct fuzz_matches m = {};

        memcpy(buf, path, path_len);
        buf[path_len] = 0;
        for (size_t i = 0; i < path_len; i++)
                if (buf[i] == '/') {
                        buf[i] = 0;
                        if (i + 1 < path_len)
                                comps[n_comps++] = buf + i + 1;
                }

        fuzz_decide(p, s, path, path_len, FILE_NAME, &m);
        struct policy_verdict v;
        policy_match(p, s, path, path_len, POLICY_READ, &v);
        if (m.n == 0 && v.denied && !v.rule) {
                /* more mid-pattern stars met than a walk follows: refused
                 * as a whole, checked by fuzz_decide() */
                fuzz_matches_done(&m);
                return;
        }

        size_t j = 0;
        for (size_t i = 0; i < in->n_rules; i++) {
                const struct rule *r = &in->rules[i];

                if (!subject_matches(r->subject, s) || !model_match(r, comps, n_comps, s))
                        continue;
                if (j >= m.n || policy_rule_line(m.v[j]) != i + 1) {
                        fprintf(stderr, "rule on line %zu matches %.*s, the engine says %s\n",
                                i + 1, (int) path_len, path, j < m.n ? "another one first" : "no");
                        fuzz_fail(__FILE__, __LINE__, "the model and the engine disagree");
                }
                j++;
        }
        if (j != m.n) {
                fprintf(stderr, "the engine matches rule on line %u with %.*s, the model not\n",
                        policy_rule_line(m.v[j]), (int) path_len, path);
                fuzz_fail(__FILE__, __LINE__, "the model and the engine disagree");
        }
        fuzz_matches_done(&m);
}

/* The path, its nearest ancestors and a child of it: where a pattern ends
 * (a directory, "**" beneath it) is decided one component away. */
static void check_around(const struct policy *p, const struct input *in,
                         const struct policy_subject *s) {
        char child[FDBR_WIRE_PATH_MAX + 1];
        size_t len = in->path_len;

        check_decisions(p, in, in->path, len, s);
        for (unsigned k = 0; k < ANCESTORS_MAX && len > 1; k++) {
                while (in->path[--len] != '/')
                        ;
                check_decisions(p, in, in->path, len > 0 ? len : 1, s);
        }
        if (in->path_len + 2 <= FDBR_WIRE_PATH_MAX) {
                size_t n = in->path_len > 1 ? in->path_len : 0;

                memcpy(child, in->path, n);
                memcpy(child + n, "/x", 2);
                check_decisions(p, in, child, n + 2, s);
        }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
        static const gid_t groups_a[] = { 100, 27 };
        static const gid_t groups_c[] = { 1000, 27, 27 };
        struct input in;
        struct fuzz_diags d;
        size_t len;

        if (!parse_input((const char *) data, size, &in))
                return -1;

        char *text = policy_text(&in, &len);
        struct policy *p = fuzz_load(FILE_NAME, text, len, &d);
        free(text);

        size_t n_invalid = 0;
        for (size_t i = 0; i < in.n_rules; i++)
                if (!model_valid(in.rules[i].pattern, in.rules[i].len))
                        n_invalid++;
        if ((p != NULL) != (n_invalid == 0)) {
                fprintf(stderr, "the engine %s the policy, the model %s it\n",
                        p ? "accepts" : "refuses", n_invalid ? "refuses" : "accepts");
                fuzz_fail(__FILE__, __LINE__, "the model and the engine disagree");
        }
        FUZZ_CHECK(d.n >= n_invalid);
        if (!p)
                return 0;

        if (wire_path_check(in.path, in.path_len) == 0) {
                const char *name = in.user[0] ? in.user : NULL;
                const struct policy_subject subjects[] = {
                        {
                                .uid = 1000,
                                .gid = 100,
                                .groups = groups_a,
                                .n_groups = 2,
                                .unit = "app@1.service",
                                .user_name = name,
                        },
                        { .uid = 0, .gid = 0, .user_name = in.user },
                        {
                                .uid = 27,
                                .gid = 1000,
                                .groups = groups_c,
                                .n_groups = 3,
                                .unit = "app@.service",
                        },
                        { .uid = 4294967294u, .gid = 4294967294u, .unit = "x.service", .user_name = name },
                };

                for (size_t i = 0; i < sizeof subjects / sizeof subjects[0]; i++)
                        check_around(p, &in, &subjects[i]);
        }
        policy_unref(p);
        return 0;
}
