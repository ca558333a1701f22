/* SPDX-License-Identifier: MIT */
#include "fuzz-common.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fuzz.h"

void fuzz_diag(const char *file, unsigned line, const char *message, void *userdata) {
        struct fuzz_diags *d = userdata;

        FUZZ_CHECK(file && message);
        FUZZ_CHECK(strcmp(file, d->file) == 0);
        FUZZ_CHECK(line >= 1 && line <= d->max_line);

        size_t n = strlen(message);
        FUZZ_CHECK(n > 0 && n < 1024);
        for (size_t i = 0; i < n; i++)
                FUZZ_CHECK(message[i] >= 0x20 && message[i] < 0x7f);
        if (strncmp(message, "warning: ", 9) == 0)
                d->n_warnings++;
        else
                d->n++;
}

unsigned fuzz_count_lines(const char *text, size_t len) {
        unsigned n = 0;

        for (size_t i = 0; i < len; i++)
                if (text[i] == '\n')
                        n++;
        /* A last line without its line feed still counts. */
        if (len > 0 && text[len - 1] != '\n')
                n++;
        return n;
}

struct policy *fuzz_load(const char *file, const char *text, size_t len, struct fuzz_diags *d) {
        struct policy *p = NULL;

        *d = (struct fuzz_diags) { .file = file, .max_line = fuzz_count_lines(text, len) };
        int r = policy_load_string(file, text, len, fuzz_diag, d, &p);
        if (r == 0) {
                FUZZ_CHECK(p && d->n == 0);
                FUZZ_CHECK(policy_rule_count(p) <= d->max_line);
                return p;
        }
        FUZZ_CHECK(r == -EINVAL && d->n > 0 && !p);
        return NULL;
}

void fuzz_enter_empty_dir(void) {
        const char *tmp = getenv("TMPDIR");
        char dir[4096];

        snprintf(dir, sizeof dir, "%s/fdbr-fuzz-XXXXXX", tmp && *tmp ? tmp : "/tmp");
        if (!mkdtemp(dir) || chdir(dir) < 0 || rmdir(dir) < 0) {
                perror("fuzz: empty working directory");
                abort();
        }
}

void fuzz_matches_done(struct fuzz_matches *m) {
        free(m->v);
        *m = (struct fuzz_matches) {};
}

static void collect_rule(const struct policy_rule *r, void *userdata) {
        struct fuzz_matches *m = userdata;

        if (m->n == m->cap) {
                m->cap = m->cap ? m->cap * 2 : 16;
                m->v = reallocarray(m->v, m->cap, sizeof *m->v);
                FUZZ_CHECK(m->v);
        }
        m->v[m->n++] = r;
}

/* "SUBJECT PATTERN PERMS", one space apart: the fields never hold blanks. */
static void check_rule(const struct policy_rule *r) {
        const char *text = policy_rule_text(r);
        unsigned perms = policy_rule_perms(r), parsed;
        char buf[128];

        FUZZ_CHECK(!strchr(text, '\t'));
        const char *a = strchr(text, ' ');
        FUZZ_CHECK(a && a > text);
        const char *b = strchr(a + 1, ' ');
        FUZZ_CHECK(b && b > a + 1 && b[1] && !strchr(b + 1, ' '));
        FUZZ_CHECK(a[1] == '/' || (a[1] == '%' && a[2] == 'h' && (a[3] == '/' || a[3] == ' ')));
        /* nothing under /proc gets in */
        FUZZ_CHECK(strncmp(a + 1, "/proc/", 6) != 0 && strncmp(a + 1, "/proc ", 6) != 0);

        FUZZ_CHECK(policy_perms_parse(b + 1, &parsed) == 0 && parsed == perms);
        FUZZ_CHECK(perms != 0 && (perms == POLICY_DENY || !(perms & POLICY_DENY)));
        FUZZ_CHECK(perms != POLICY_OWNER && !((perms & POLICY_OWNER) && (perms & POLICY_DENY)));
        FUZZ_CHECK(policy_perms_parse(policy_perms_format(perms, buf, sizeof buf), &parsed) == 0);
        FUZZ_CHECK(parsed == perms);
}

void fuzz_decide(const struct policy *p, const struct policy_subject *s, const char *path,
                 size_t path_len, const char *file, struct fuzz_matches *m) {
        /* Needs of one permission and of several: which rule is cited
         * depends on both. */
        static const unsigned needs[] = {
                0,
                POLICY_READ,
                POLICY_WRITE | POLICY_CREATE,
                POLICY_DIR,
                POLICY_DEVICE | POLICY_FOLLOW,
                POLICY_CREATE,
                POLICY_READ | POLICY_WRITE | POLICY_CREATE | POLICY_DIR | POLICY_DEVICE | POLICY_FOLLOW,
                /* deny is no permission one can need: ignored */
                POLICY_DENY | POLICY_FOLLOW,
        };
        unsigned granted = 0, owner_granted = 0;
        const struct policy_rule *first_deny = NULL;

        m->n = 0;
        policy_match_each(p, s, path, path_len, collect_rule, m);
        if (path_len >= 5 && memcmp(path, "/proc", 5) == 0 && (path_len == 5 || path[5] == '/'))
                FUZZ_CHECK(m->n == 0);
        for (size_t i = 0; i < m->n; i++) {
                const struct policy_rule *r = m->v[i];

                FUZZ_CHECK(strcmp(policy_rule_file(r), file) == 0);
                FUZZ_CHECK(i == 0 || policy_rule_line(r) > policy_rule_line(m->v[i - 1]));
                check_rule(r);
                if (policy_rule_perms(r) & POLICY_DENY) {
                        if (!first_deny)
                                first_deny = r;
                } else if (policy_rule_perms(r) & POLICY_OWNER)
                        owner_granted |= policy_perms_effective(policy_rule_perms(r));
                else
                        granted |= policy_perms_effective(policy_rule_perms(r));
        }

        /* Two needs per decision, chosen by the path and the subject: all of
         * them every time would triple what a decision costs, and an input
         * must always meet the same ones to be replayed. */
        const size_t n_needs = sizeof needs / sizeof needs[0];
        size_t turn = path_len + (path_len ? (unsigned char) path[path_len - 1] : 0) + s->uid;
        for (size_t t = 0; t < 2; t++) {
                size_t k = (turn + t * (n_needs / 2)) % n_needs;
                unsigned need = needs[k] & ~(unsigned) POLICY_DENY;
                const struct policy_rule *cite = first_deny;
                struct policy_verdict v;

                for (size_t i = 0; !cite && i < m->n; i++)
                        if (policy_perms_effective(policy_rule_perms(m->v[i])) & need)
                                cite = m->v[i];
                if (!cite && m->n > 0)
                        cite = m->v[0];

                memset(&v, 0xa5, sizeof v);
                policy_match(p, s, path, path_len, needs[k], &v);
                if (m->n == 0 && v.denied) {
                        /* More mid-pattern stars than a walk follows: it
                         * denies, citing nothing, and lists nothing. */
                        FUZZ_CHECK(v.granted == 0 && v.owner_only == 0 && !v.rule);
                        continue;
                }
                FUZZ_CHECK(v.granted == (granted | owner_granted));
                FUZZ_CHECK(v.owner_only == (owner_granted & ~granted));
                FUZZ_CHECK(v.denied == (first_deny != NULL));
                FUZZ_CHECK(v.rule == cite);
                FUZZ_CHECK(policy_verdict_allows(&v, needs[k]) ==
                           (!first_deny && (needs[k] & ~(granted | owner_granted)) == 0));
        }
}
