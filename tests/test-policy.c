/* SPDX-License-Identifier: MIT */
/* Unit tests of the policy engine: the language, its diagnostics, includes
 * and decisions. */

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "macro.h"
#include "policy-internal.h" /* policy_match_steps() */
#include "policy.h"
#include "testutil.h"

#define DIAGS_MAX 64

struct diags {
        char *v[DIAGS_MAX];
        size_t n;
};

static void diags_done(struct diags *d) {
        for (size_t i = 0; i < d->n; i++)
                free(d->v[i]);
        d->n = 0;
}

static void collect_diag(const char *file, unsigned line, const char *message, void *userdata) {
        struct diags *d = userdata;

        ck_assert_uint_lt(d->n, DIAGS_MAX);
        d->v[d->n++] = tu_strdupf("%s:%u: %s", file, line, message);
}

static void diags_expect(const struct diags *d, const char *const *expected) {
        size_t n = 0;

        while (expected[n])
                n++;
        for (size_t i = 0; i < d->n || i < n; i++) {
                ck_assert_msg(i < d->n, "missing diagnostic: %s", expected[i]);
                ck_assert_msg(i < n, "unexpected diagnostic: %s", d->v[i]);
                ck_assert_str_eq(d->v[i], expected[i]);
        }
}

/* Loads text as "test.conf"; any diagnostic fails the test. */
static struct policy *load(const char *text) {
        struct diags d = {};
        struct policy *p = NULL;
        int r = policy_load_string("test.conf", text, strlen(text), collect_diag, &d, &p);

        ck_assert_msg(d.n == 0, "unexpected diagnostic: %s", d.n ? d.v[0] : "");
        ck_assert_int_eq(r, 0);
        ck_assert_ptr_nonnull(p);
        return p;
}

/* Loads text that must be refused, with exactly the expected diagnostics. */
static void load_fails(const char *text, size_t len, const char *const *expected) {
        struct diags d = {};
        struct policy *sentinel = (struct policy *) 0x1, *p = sentinel;

        ck_assert_int_eq(policy_load_string("test.conf", text, len, collect_diag, &d, &p), -EINVAL);
        ck_assert_ptr_eq(p, sentinel);
        diags_expect(&d, expected);
        diags_done(&d);
}

#define LOAD_FAILS(text, ...) load_fails(text, strlen(text), (const char *const[]) { __VA_ARGS__, NULL })

static struct policy_subject subject(uid_t uid, gid_t gid) {
        return (struct policy_subject) { .uid = uid, .gid = gid, .user_name = "someone" };
}

static struct policy_verdict decide(const struct policy *p, const struct policy_subject *s,
                                    const char *path, unsigned need) {
        struct policy_verdict v;

        memset(&v, 0xaa, sizeof v); /* every field must be written */
        policy_match(p, s, path, strlen(path), need, &v);
        return v;
}

static unsigned granted(const struct policy *p, const struct policy_subject *s, const char *path) {
        struct policy_verdict v = decide(p, s, path, POLICY_READ);
        /* stat comes with nearly every permission: tests of it look at
         * the verdict itself */
        return v.denied ? 0 : v.granted & ~(unsigned) POLICY_STAT;
}

static bool reads(const struct policy *p, const struct policy_subject *s, const char *path) {
        struct policy_verdict v = decide(p, s, path, POLICY_READ);
        return policy_verdict_allows(&v, POLICY_READ);
}

static unsigned cited_line(const struct policy *p, const struct policy_subject *s, const char *path,
                           unsigned need) {
        struct policy_verdict v = decide(p, s, path, need);
        return v.rule ? policy_rule_line(v.rule) : 0;
}

struct seen {
        char *v[512];
        size_t n;
};

static void collect_rule(const struct policy_rule *r, void *userdata) {
        struct seen *s = userdata;

        ck_assert_uint_lt(s->n, ELEMENTSOF(s->v));
        s->v[s->n++] = tu_strdupf("%s:%u", policy_rule_file(r), policy_rule_line(r));
}

static void seen_done(struct seen *s) {
        for (size_t i = 0; i < s->n; i++)
                free(s->v[i]);
        s->n = 0;
}

static void matches(const struct policy *p, const struct policy_subject *s, const char *path,
                    struct seen *ret) {
        ret->n = 0;
        policy_match_each(p, s, path, strlen(path), collect_rule, ret);
}

static char *write_in(const char *dir, const char *name, const char *content) {
        char *path = tu_strdupf("%s/%s", dir, name);
        tu_write_file(path, content, 0644, 0, 0);
        return path;
}

static void mkdir_in(const char *dir, const char *name) {
        _cleanup_free_ char *path = tu_strdupf("%s/%s", dir, name);
        tu_mkdir(path, 0755, 0, 0);
}

static int load_path(const char *path, struct diags *d, struct policy **ret) {
        return policy_load(path, collect_diag, d, ret);
}

/* ---- subjects ---- */

START_TEST(subject_any_uid_gid) {
        struct policy *p = load("any /a read\n"
                                "uid=1000 /b read\n"
                                "gid=2000 /c read\n"
                                "uid=0 /d read\n"
                                "uid=4294967294 /e read\n");
        struct policy_subject u1000 = subject(1000, 100), g2000 = subject(5, 2000), root = subject(0, 0);
        struct policy_subject big = subject(4294967294u, 0);

        ck_assert_uint_eq(policy_rule_count(p), 5);
        ck_assert(reads(p, &u1000, "/a"));
        ck_assert(reads(p, &root, "/a"));
        ck_assert(reads(p, &u1000, "/b"));
        ck_assert(!reads(p, &g2000, "/b"));
        ck_assert(reads(p, &g2000, "/c"));
        ck_assert(!reads(p, &u1000, "/c"));
        ck_assert(reads(p, &root, "/d"));
        ck_assert(!reads(p, &u1000, "/d"));
        ck_assert(reads(p, &big, "/e"));
        ck_assert(!policy_has_unit_rules(p));
        ck_assert(!policy_uses_user_name(p));
        policy_unref(p);
}
END_TEST

START_TEST(subject_user_group_names) {
        struct policy *p = load("user=root /r read\n"
                                "user=nobody /n read\n"
                                "group=nogroup /g read\n"
                                "group=daemon /d read\n");
        struct policy_subject root = subject(0, 0), nobody = subject(TU_NOBODY, 1000);
        struct policy_subject ng = subject(1000, 65534), daemon_g = subject(1000, 1);

        ck_assert(reads(p, &root, "/r"));
        ck_assert(!reads(p, &nobody, "/r"));
        ck_assert(reads(p, &nobody, "/n"));
        ck_assert(!reads(p, &root, "/n"));
        ck_assert(reads(p, &ng, "/g"));
        ck_assert(!reads(p, &daemon_g, "/g"));
        ck_assert(reads(p, &daemon_g, "/d"));
        ck_assert(!reads(p, &root, "/d"));
        /* the text is kept as written, not as resolved */
        struct policy_verdict v = decide(p, &nobody, "/n", POLICY_READ);
        ck_assert_str_eq(policy_rule_text(v.rule), "user=nobody /n read");
        policy_unref(p);
}
END_TEST

/* A deleted account must not keep the broker from starting: a warning,
 * and the rule matches no one (not even an id that happens to be 0). */
START_TEST(subject_unknown_names) {
        static const char text[] = "user=fdbr-no-such-user /a read\n"
                                   "group=fdbr-no-such-group /a write\n"
                                   "user= /a create\n"
                                   "any /b read\n";
        struct diags d = {};
        struct policy *p = NULL;

        ck_assert_int_eq(policy_load_string("test.conf", text, strlen(text), collect_diag, &d, &p), 0);
        diags_expect(&d, (const char *const[]) {
                "test.conf:1: warning: unknown user 'fdbr-no-such-user': the rule matches no one",
                "test.conf:2: warning: unknown group 'fdbr-no-such-group': the rule matches no one",
                "test.conf:3: warning: unknown user '': the rule matches no one", NULL });
        diags_done(&d);
        ck_assert_uint_eq(policy_rule_count(p), 4);
        struct policy_subject root = subject(0, 0), other = subject(4242, 4242);
        ck_assert_uint_eq(granted(p, &root, "/a"), 0);
        ck_assert_uint_eq(granted(p, &other, "/a"), 0);
        ck_assert_ptr_null(decide(p, &root, "/a", POLICY_READ).rule);
        ck_assert(reads(p, &root, "/b"));
        policy_unref(p);
}
END_TEST

START_TEST(subject_supplementary_groups) {
        struct policy *p = load("gid=2000 /s read\n"
                                "group=daemon /d write\n");
        gid_t with[] = { 5, 2000, 1 }, without[] = { 5, 6 };
        struct policy_subject a = subject(1000, 100), b = subject(1000, 100);

        a.groups = with;
        a.n_groups = ELEMENTSOF(with);
        b.groups = without;
        b.n_groups = ELEMENTSOF(without);
        ck_assert(reads(p, &a, "/s"));
        ck_assert_uint_eq(granted(p, &a, "/d"), POLICY_WRITE);
        ck_assert(!reads(p, &b, "/s"));
        ck_assert_uint_eq(granted(p, &b, "/d"), 0);
        policy_unref(p);
}
END_TEST

START_TEST(subject_unit) {
        struct policy *p = load("unit=app@*.service /u read\n"
                                "unit=* /all write\n"
                                "unit=exact.service /e read\n");
        struct policy_subject s = subject(1000, 1000);

        ck_assert(policy_has_unit_rules(p));
        s.unit = "app@1.service";
        ck_assert(reads(p, &s, "/u"));
        ck_assert_uint_eq(granted(p, &s, "/all"), POLICY_WRITE);
        ck_assert(!reads(p, &s, "/e"));
        s.unit = "app.service";
        ck_assert(!reads(p, &s, "/u"));
        s.unit = "exact.service";
        ck_assert(reads(p, &s, "/e"));
        s.unit = NULL;
        ck_assert(!reads(p, &s, "/u"));
        ck_assert_uint_eq(granted(p, &s, "/all"), 0);
        ck_assert(!reads(p, &s, "/e"));
        policy_unref(p);
}
END_TEST

/* Past a few names the databases are enumerated once instead of asked
 * name by name: the answers must be the same, unknown names still
 * refused. */
START_TEST(subject_many_names) {
        static const char *const users[] = { "root", "nobody", "daemon" };
        static const char *const groups[] = { "root", "nogroup", "daemon" };
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ck_assert_ptr_nonnull(f);
        for (unsigned i = 0; i < 60; i++)
                fprintf(f, "user=%s /u/%s/%u read\ngroup=%s /g/%s/%u read\n", users[i % 3], users[i % 3],
                        i, groups[i % 3], groups[i % 3], i);
        ck_assert_int_eq(fclose(f), 0);

        struct policy *p = load(text);
        struct policy_subject root = subject(0, 0), nobody = subject(TU_NOBODY, 65534),
                              daemon_s = subject(1, 1);
        ck_assert(reads(p, &root, "/u/root/57"));
        ck_assert(!reads(p, &nobody, "/u/root/57"));
        ck_assert(reads(p, &nobody, "/u/nobody/58"));
        ck_assert(reads(p, &daemon_s, "/u/daemon/59"));
        ck_assert(!reads(p, &daemon_s, "/u/nobody/58"));
        ck_assert(reads(p, &root, "/g/root/57"));
        ck_assert(reads(p, &nobody, "/g/nogroup/58"));
        ck_assert(reads(p, &daemon_s, "/g/daemon/59"));
        ck_assert(!reads(p, &root, "/g/daemon/59"));
        policy_unref(p);

        _cleanup_free_ char *bad =
                tu_strdupf("%suser=fdbr-no-such-user /x read\ngroup=fdbr-no-such-group /x read\n", text);
        struct diags d = {};
        p = NULL;
        ck_assert_int_eq(policy_load_string("test.conf", bad, strlen(bad), collect_diag, &d, &p), 0);
        diags_expect(&d, (const char *const[]) {
                "test.conf:121: warning: unknown user 'fdbr-no-such-user': the rule matches no one",
                "test.conf:122: warning: unknown group 'fdbr-no-such-group': the rule matches no one",
                NULL });
        diags_done(&d);
        policy_unref(p);
}
END_TEST

/* Enough distinct globs on one path that they are found through a hash,
 * and enough uids and gids for theirs. */
START_TEST(subject_many_keys_one_path) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ck_assert_ptr_nonnull(f);
        for (unsigned i = 0; i < 40; i++)
                fprintf(f, "unit=svc%u@*.service /p read\nuid=%u /p write\ngid=%u /p create\n", i,
                        i + 100, i + 200);
        ck_assert_int_eq(fclose(f), 0);

        struct policy *p = load(text);
        struct policy_subject s = subject(100 + 17, 5);
        ck_assert_uint_eq(granted(p, &s, "/p"), POLICY_WRITE);
        s.unit = "svc33@x.service";
        ck_assert_uint_eq(granted(p, &s, "/p"), POLICY_WRITE | POLICY_READ);
        s.unit = "svc40@x.service";
        s.gid = 239;
        ck_assert_uint_eq(granted(p, &s, "/p"), POLICY_WRITE | POLICY_CREATE);
        s.gid = 240;
        s.uid = 140;
        ck_assert_uint_eq(granted(p, &s, "/p"), 0);
        policy_unref(p);
}
END_TEST

/* ---- patterns ---- */

START_TEST(pattern_wildcards_stay_in_component) {
        struct policy *p = load("any /srv/*/data read\n"
                                "any /f/file?.txt read\n"
                                "any /b/[ab]c read\n"
                                "any /e/\\* read\n"
                                "any /a#b read\n"
                                "any /w/x read\n"
                                "any /w/* write\n");
        struct policy_subject s = subject(1000, 1000);

        ck_assert(reads(p, &s, "/srv/a/data"));
        ck_assert(reads(p, &s, "/srv/.hidden/data")); /* a leading dot is not special */
        ck_assert(!reads(p, &s, "/srv/a/b/data"));    /* '*' never crosses '/' */
        ck_assert(!reads(p, &s, "/srv/data"));
        ck_assert(!reads(p, &s, "/srv/a/data/x"));
        ck_assert(reads(p, &s, "/f/file1.txt"));
        ck_assert(!reads(p, &s, "/f/file12.txt"));
        ck_assert(!reads(p, &s, "/f/file/.txt"));
        ck_assert(reads(p, &s, "/b/ac"));
        ck_assert(reads(p, &s, "/b/bc"));
        ck_assert(!reads(p, &s, "/b/cc"));
        ck_assert(reads(p, &s, "/e/*"));
        ck_assert(!reads(p, &s, "/e/x"));
        ck_assert(reads(p, &s, "/a#b"));
        ck_assert(!reads(p, &s, "/a"));
        ck_assert_uint_eq(granted(p, &s, "/w/x"), POLICY_READ | POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, "/w/y"), POLICY_WRITE);
        policy_unref(p);
}
END_TEST

START_TEST(pattern_double_star) {
        struct policy *p = load("any /srv/** read\n"
                                "any /x/*/** write\n");
        struct policy_subject s = subject(1000, 1000);

        ck_assert(!reads(p, &s, "/srv"));
        ck_assert(reads(p, &s, "/srv/a"));
        ck_assert(reads(p, &s, "/srv/a/b/c"));
        ck_assert(reads(p, &s, "/srv/.x"));
        ck_assert(!reads(p, &s, "/srvx/a"));
        ck_assert(!reads(p, &s, "/"));
        ck_assert_uint_eq(granted(p, &s, "/x/a"), 0);
        ck_assert_uint_eq(granted(p, &s, "/x/a/b"), POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, "/x/a/b/c"), POLICY_WRITE);
        policy_unref(p);

        p = load("any /** read\n");
        ck_assert(!reads(p, &s, "/"));
        ck_assert(reads(p, &s, "/a"));
        ck_assert(reads(p, &s, "/a/b"));
        policy_unref(p);

        p = load("any / read\n");
        ck_assert(reads(p, &s, "/"));
        ck_assert(!reads(p, &s, "/a"));
        policy_unref(p);
}
END_TEST

START_TEST(pattern_path_not_canonical) {
        struct policy *p = load("any /** read\n");
        struct policy_subject s = subject(1000, 1000);

        ck_assert(reads(p, &s, "/a/b"));
        ck_assert(!reads(p, &s, "/a//b"));
        ck_assert(!reads(p, &s, "/a/b/"));
        ck_assert(!reads(p, &s, "/a/../b"));
        ck_assert(!reads(p, &s, "/a/./b"));
        ck_assert(!reads(p, &s, "a/b"));
        ck_assert(!reads(p, &s, ""));
        /* a path with a NUL inside, as the length says */
        struct policy_verdict v;
        policy_match(p, &s, "/a\0b", 4, POLICY_READ, &v);
        ck_assert(!policy_verdict_allows(&v, POLICY_READ));
        policy_unref(p);
}
END_TEST

START_TEST(pattern_templates) {
        struct policy *p = load("any /home/%U/** read\n"
                                "any /g/%G write\n"
                                "any /n/%u/** create\n"
                                "any /p/100%% read\n"
                                "any /q/%u-* read\n"
                                "any /m/%U.%G read\n"
                                "any /r/a%%* read\n");
        struct policy_subject s = subject(1000, 50);

        ck_assert(policy_uses_user_name(p));
        ck_assert(reads(p, &s, "/home/1000/x"));
        ck_assert(!reads(p, &s, "/home/1000"));
        ck_assert(!reads(p, &s, "/home/1001/x"));
        ck_assert(!reads(p, &s, "/home/%U/x"));
        ck_assert_uint_eq(granted(p, &s, "/g/50"), POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, "/g/1000"), 0);
        ck_assert(reads(p, &s, "/p/100%"));
        ck_assert(!reads(p, &s, "/p/100%%"));
        ck_assert(reads(p, &s, "/m/1000.50"));
        ck_assert(!reads(p, &s, "/m/1000x50"));
        ck_assert(reads(p, &s, "/r/a%"));
        ck_assert(reads(p, &s, "/r/a%x"));
        ck_assert(!reads(p, &s, "/r/ax"));

        s.user_name = "alice";
        ck_assert_uint_eq(granted(p, &s, "/n/alice/f"), POLICY_CREATE);
        ck_assert_uint_eq(granted(p, &s, "/n/bob/f"), 0);
        ck_assert(reads(p, &s, "/q/alice-1"));
        ck_assert(!reads(p, &s, "/q/bob-1"));

        /* an expanded value is literal, never a wildcard */
        s.user_name = "a*";
        ck_assert_uint_eq(granted(p, &s, "/n/a*/f"), POLICY_CREATE);
        ck_assert_uint_eq(granted(p, &s, "/n/ab/f"), 0);
        ck_assert(reads(p, &s, "/q/a*-1"));
        ck_assert(!reads(p, &s, "/q/ab-1"));
        s.user_name = "a?[b]\\";
        ck_assert(reads(p, &s, "/q/a?[b]\\-x"));
        ck_assert(!reads(p, &s, "/q/ax[b]\\-x"));
        ck_assert(!reads(p, &s, "/q/a?b\\-x"));

        /* a value with '/' matches nothing, not a deeper tree */
        s.user_name = "a/b";
        ck_assert_uint_eq(granted(p, &s, "/n/a/b/f"), 0);

        s.user_name = NULL;
        ck_assert_uint_eq(granted(p, &s, "/n/alice/f"), 0);
        ck_assert_uint_eq(granted(p, &s, "/n/(null)/f"), 0);
        ck_assert(!reads(p, &s, "/q/-1"));
        ck_assert(reads(p, &s, "/home/1000/x")); /* %U still works */
        policy_unref(p);
}
END_TEST

/* A literal '%' ("%%", "\\%") and a template never mean the same, however
 * alike the components look, in whichever order the rules come. */
START_TEST(pattern_percent_vs_template) {
        static const char *const orders[] = {
                "any /srv/%u* read\nany /srv/%%u* write\nany /e/\\%u read\n",
                "any /e/\\%u read\nany /srv/%%u* write\nany /srv/%u* read\n",
        };
        for (size_t i = 0; i < ELEMENTSOF(orders); i++) {
                struct policy *p = load(orders[i]);
                struct policy_subject s = subject(1000, 50);
                s.user_name = "alice";
                ck_assert_uint_eq(granted(p, &s, "/srv/alice-1"), POLICY_READ);
                ck_assert_uint_eq(granted(p, &s, "/srv/%u-1"), POLICY_WRITE);
                /* an escaped '%' starts no template */
                ck_assert(reads(p, &s, "/e/%u"));
                ck_assert(!reads(p, &s, "/e/alice"));
                s.user_name = "*";
                ck_assert(!reads(p, &s, "/e/xyz"));
                policy_unref(p);
        }
}
END_TEST

START_TEST(pattern_escapes_and_sets) {
        struct policy *p = load("any /a/\\* read\n"
                                "any /c/[]a]%U create\n");
        struct policy_subject s = subject(7, 7);
        ck_assert(reads(p, &s, "/a/*"));
        ck_assert(!reads(p, &s, "/a/x"));
        ck_assert_uint_eq(granted(p, &s, "/c/]7"), POLICY_CREATE);
        ck_assert_uint_eq(granted(p, &s, "/c/a7"), POLICY_CREATE);
        ck_assert_uint_eq(granted(p, &s, "/c/b7"), 0);
        policy_unref(p);

        /* a name inside a set would be a set of characters; a trailing
         * backslash would never match anything: both refused */
        LOAD_FAILS("any /b/[%u] read\n", "test.conf:1: '%' inside a bracket expression in '/b/[%u]'");
        LOAD_FAILS("any /b/x[!%%]y read\n", "test.conf:1: '%' inside a bracket expression in '/b/x[!%%]y'");
        LOAD_FAILS("any /x/a\\ read\n", "test.conf:1: a trailing backslash escapes nothing in '/x/a\\'");
}
END_TEST

/* As deep as a line allows: the walk recurses once per component. */
START_TEST(pattern_deep) {
        char pat[POLICY_LINE_MAX];
        size_t n = 0;

        while (n + 2 < POLICY_LINE_MAX - strlen("any /** read") - 8) {
                memcpy(pat + n, "/a", 2);
                n += 2;
        }
        pat[n] = 0;
        _cleanup_free_ char *text =
                tu_strdupf("any %s/** read\nany %s/* write\nany %s/%%U read\n", pat, pat, pat);
        struct policy *p = load(text);
        struct policy_subject s = subject(7, 7);
        _cleanup_free_ char *below = tu_strdupf("%s/b", pat);
        _cleanup_free_ char *uid = tu_strdupf("%s/7", pat);
        _cleanup_free_ char *deeper = tu_strdupf("%s/b/c", pat);

        ck_assert(!reads(p, &s, pat));
        ck_assert_uint_eq(granted(p, &s, below), POLICY_READ | POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, deeper), POLICY_READ);
        ck_assert_uint_eq(granted(p, &s, uid), POLICY_READ | POLICY_WRITE);
        struct seen seen = {};
        matches(p, &s, uid, &seen);
        ck_assert_uint_eq(seen.n, 3);
        seen_done(&seen);
        policy_unref(p);
}
END_TEST

/* ---- permissions and verdicts ---- */

START_TEST(verdict_deny_wins) {
        struct policy *p = load("any /d/** read,write\n"
                                "uid=5 /d/secret deny\n"
                                "any /d/secret read\n");
        struct policy_subject five = subject(5, 5), six = subject(6, 6);
        struct policy_verdict v = decide(p, &five, "/d/secret", POLICY_READ);

        ck_assert(v.denied);
        ck_assert_uint_eq(v.granted, POLICY_READ | POLICY_WRITE | POLICY_STAT);
        ck_assert(!policy_verdict_allows(&v, POLICY_READ));
        ck_assert_ptr_nonnull(v.rule);
        ck_assert_uint_eq(policy_rule_line(v.rule), 2);
        ck_assert_uint_eq(policy_rule_perms(v.rule), POLICY_DENY);

        v = decide(p, &six, "/d/secret", POLICY_READ);
        ck_assert(!v.denied);
        ck_assert(policy_verdict_allows(&v, POLICY_READ | POLICY_WRITE));
        ck_assert(reads(p, &five, "/d/other"));
        policy_unref(p);
}
END_TEST

START_TEST(verdict_union) {
        struct policy *p = load("any /u/* read\n"
                                "uid=1 /u/f write\n"
                                "gid=2 /u/** create\n"
                                "any /u/f dir,device,follow\n");
        struct policy_subject s = subject(1, 2);
        struct policy_verdict v = decide(p, &s, "/u/f", POLICY_READ | POLICY_WRITE | POLICY_CREATE);

        ck_assert_uint_eq(v.granted, POLICY_READ | POLICY_WRITE | POLICY_CREATE | POLICY_DIR |
                                             POLICY_DEVICE | POLICY_FOLLOW | POLICY_STAT);
        ck_assert_uint_eq(v.owner_only, 0);
        ck_assert(policy_verdict_allows(&v, POLICY_READ | POLICY_WRITE | POLICY_CREATE));
        s.uid = 3;
        v = decide(p, &s, "/u/f", POLICY_READ | POLICY_WRITE);
        ck_assert(!policy_verdict_allows(&v, POLICY_READ | POLICY_WRITE));
        ck_assert(policy_verdict_allows(&v, POLICY_READ | POLICY_CREATE));
        policy_unref(p);
}
END_TEST

START_TEST(verdict_cited_rule) {
        struct policy *p = load("any /c/** write\n"
                                "any /c/f read\n"
                                "any /c/* read,write\n"
                                "any /x/** read\n"
                                "any /x/a deny\n"
                                "any /x/* deny\n");
        struct policy_subject s = subject(1, 1);

        ck_assert_uint_eq(cited_line(p, &s, "/c/f", POLICY_READ), 2);
        ck_assert_uint_eq(cited_line(p, &s, "/c/f", POLICY_WRITE), 1);
        ck_assert_uint_eq(cited_line(p, &s, "/c/f", POLICY_READ | POLICY_WRITE), 1);
        ck_assert_uint_eq(cited_line(p, &s, "/c/f", POLICY_DIR), 1);
        ck_assert_uint_eq(cited_line(p, &s, "/c/f", 0), 1);
        ck_assert_uint_eq(cited_line(p, &s, "/c/g", POLICY_READ), 3);
        ck_assert_uint_eq(cited_line(p, &s, "/nothing", POLICY_READ), 0);
        /* the first deny, not the first rule */
        ck_assert_uint_eq(cited_line(p, &s, "/x/a", POLICY_READ), 5);
        ck_assert_uint_eq(cited_line(p, &s, "/x/b", POLICY_READ), 6);
        ck_assert_uint_eq(cited_line(p, &s, "/x/a/b", POLICY_READ), 4);
        struct policy_verdict v = decide(p, &s, "/nothing", POLICY_READ);
        ck_assert_ptr_null(v.rule);
        ck_assert(!v.denied);
        ck_assert_uint_eq(v.granted, 0);
        policy_unref(p);
}
END_TEST

START_TEST(verdict_empty_policy) {
        struct policy *p = load("");
        struct policy_subject s = subject(0, 0);

        ck_assert_uint_eq(policy_rule_count(p), 0);
        ck_assert(!reads(p, &s, "/"));
        ck_assert(!reads(p, &s, "/etc/passwd"));
        policy_unref(p);

        p = load("# only comments\n\n   \n\t# indented\n");
        ck_assert_uint_eq(policy_rule_count(p), 0);
        ck_assert(!reads(p, &s, "/etc/passwd"));
        policy_unref(p);
}
END_TEST

START_TEST(match_each_file_order) {
        struct policy *p = load("any /m/** read\n"           /* 1 */
                                "gid=7 /m/a write\n"         /* 2 */
                                "uid=3 /m/b read\n"          /* 3 */
                                "gid=8 /m/a read\n"          /* 4 */
                                "any /m/* create\n"          /* 5 */
                                "uid=3 /m/a deny\n"          /* 6 */
                                "unit=u.service /m/a read\n" /* 7 */
                                "any /m/a dir\n");           /* 8 */
        /* gid 7 twice among the groups: its rule is still reported once */
        gid_t groups[] = { 7, 8, 7 };
        struct policy_subject s = subject(3, 100);
        struct seen seen = {};

        s.groups = groups;
        s.n_groups = ELEMENTSOF(groups);
        s.unit = "u.service";
        matches(p, &s, "/m/a", &seen);
        ck_assert_uint_eq(seen.n, 7);
        const char *want[] = { "test.conf:1", "test.conf:2", "test.conf:4", "test.conf:5",
                               "test.conf:6", "test.conf:7", "test.conf:8" };
        for (size_t i = 0; i < seen.n; i++)
                ck_assert_str_eq(seen.v[i], want[i]);
        seen_done(&seen);

        matches(p, &s, "/nothing", &seen);
        ck_assert_uint_eq(seen.n, 0);
        policy_unref(p);
}
END_TEST

/* More matches than one batch of policy_match_each. */
START_TEST(match_each_many) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ck_assert_ptr_nonnull(f);
        for (unsigned i = 0; i < 400; i++)
                fprintf(f, "%s\n",
                        i % 3 == 0   ? "any /m read"
                        : i % 3 == 1 ? "uid=9 /m write"
                                     : "any /o read");
        ck_assert_int_eq(fclose(f), 0);

        struct policy *p = load(text);
        struct policy_subject s = subject(9, 9);
        struct seen seen = {};
        matches(p, &s, "/m", &seen);
        ck_assert_uint_eq(seen.n, 267);
        for (size_t i = 0, line = 1; i < seen.n; i++, line++) {
                if (line % 3 == 0)
                        line++;
                _cleanup_free_ char *want = tu_strdupf("test.conf:%zu", line);
                ck_assert_str_eq(seen.v[i], want);
        }
        seen_done(&seen);
        policy_unref(p);
}
END_TEST

START_TEST(perms_parse_format) {
        unsigned perms = 12345;
        char buf[128];

        ck_assert_int_eq(policy_perms_parse("read", &perms), 0);
        ck_assert_uint_eq(perms, POLICY_READ);
        ck_assert_int_eq(policy_perms_parse("follow,read,write,create,dir,device", &perms), 0);
        ck_assert_uint_eq(perms, POLICY_READ | POLICY_WRITE | POLICY_CREATE | POLICY_DIR |
                                         POLICY_DEVICE | POLICY_FOLLOW);
        ck_assert_int_eq(policy_perms_parse("deny", &perms), 0);
        ck_assert_uint_eq(perms, POLICY_DENY);

        perms = 12345;
        ck_assert_int_eq(policy_perms_parse("wirte", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse("", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse("read,", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse(",read", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse("read,,write", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse("read, write", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse("deny,read", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse("READ", &perms), -EINVAL);
        ck_assert_uint_eq(perms, 12345);

        ck_assert_str_eq(policy_perms_format(0, buf, sizeof buf), "-");
        ck_assert_str_eq(policy_perms_format(POLICY_WRITE | POLICY_READ, buf, sizeof buf), "read,write");
        ck_assert_str_eq(policy_perms_format(0x7f, buf, sizeof buf),
                         "read,write,create,dir,device,follow,deny");
        ck_assert_str_eq(policy_perms_format(POLICY_DENY, buf, sizeof buf), "deny");
        /* too small: cut, still a string */
        ck_assert_str_eq(policy_perms_format(POLICY_READ | POLICY_WRITE, buf, 8), "read");
}
END_TEST

START_TEST(rule_text_normalized) {
        struct policy *p = load("  uid=5\t/a   read,write  \n"
                                "\tany\t\t/b\tdeny");
        struct policy_subject s = subject(5, 5);
        struct policy_verdict v = decide(p, &s, "/a", POLICY_READ);

        ck_assert_str_eq(policy_rule_text(v.rule), "uid=5 /a read,write");
        ck_assert_str_eq(policy_rule_file(v.rule), "test.conf");
        ck_assert_uint_eq(policy_rule_line(v.rule), 1);
        ck_assert_uint_eq(policy_rule_perms(v.rule), POLICY_READ | POLICY_WRITE);
        v = decide(p, &s, "/b", POLICY_READ);
        ck_assert_str_eq(policy_rule_text(v.rule), "any /b deny");
        ck_assert_uint_eq(policy_rule_line(v.rule), 2);
        policy_unref(p);
}
END_TEST

START_TEST(refcount) {
        struct policy *p = load("any /a read\n");
        struct policy_subject s = subject(1, 1);

        ck_assert_ptr_eq(policy_ref(p), p);
        policy_unref(p);
        ck_assert(reads(p, &s, "/a")); /* still alive: one reference left */
        policy_unref(p);
        ck_assert_ptr_null(policy_ref(NULL));
        policy_unref(NULL);
}
END_TEST

/* ---- diagnostics ---- */

START_TEST(errors_every_kind) {
        LOAD_FAILS("any /ok read\n"                /* 1 */
                   "bogus /a read\n"               /* 2 */
                   "uid=abc /a read\n"             /* 3 */
                   "uid=4294967295 /a read\n"      /* 4 */
                   "uid=-1 /a read\n"              /* 5 */
                   "gid=99999999999 /a read\n"     /* 6 */
                   "any srv/** read\n"             /* 7 */
                   "any /srv/%h read\n"            /* 8 */
                   "any /srv/../x read\n"          /* 9 */
                   "any /srv/ read\n"              /* 10 */
                   "any /srv//x read\n"            /* 11 */
                   "any /srv/./x read\n"           /* 12 */
                   "any /srv/%x read\n"            /* 13 */
                   "any /srv/a% read\n"            /* 14 */
                   "any /a wirte\n"                /* 15 */
                   "any /a read,,write\n"          /* 16 */
                   "any /a read,deny\n"            /* 17 */
                   "any /a\n"                      /* 18 */
                   "any /a read extra\n"           /* 19 */
                   "include\n"                     /* 20 */
                   "include a b\n"                 /* 21 */
                   "bogus srv wirte\n"             /* 22 */
                   "unit= /a read\n"               /* 23 */
                   "any /a read,\n"                /* 24 */
                   "uid= /a read\n"                /* 25 */
                   "uid=+5 /a read\n"              /* 26 */
                   "any /a read\x1b[31m\n"         /* 27 */
                   "any\n"                         /* 28 */
                   "  # fine\n"                    /* 29 */
                   "any /ok2 read",                /* 30 */
                   "test.conf:2: unknown subject 'bogus'",
                   "test.conf:3: invalid uid 'abc'",
                   "test.conf:4: invalid uid '4294967295'",
                   "test.conf:5: invalid uid '-1'",
                   "test.conf:6: invalid gid '99999999999'",
                   "test.conf:7: pattern must be absolute: 'srv/**'",
                   "test.conf:8: '%h' is only allowed at the start of a pattern in '/srv/%h'",
                   "test.conf:9: pattern is not canonical: '/srv/../x'",
                   "test.conf:10: pattern is not canonical: '/srv/'",
                   "test.conf:11: pattern is not canonical: '/srv//x'",
                   "test.conf:12: pattern is not canonical: '/srv/./x'",
                   "test.conf:13: unknown template '%x' in '/srv/%x'",
                   "test.conf:14: unknown template '%' in '/srv/a%'",
                   "test.conf:15: unknown permission 'wirte'",
                   "test.conf:16: empty permission in 'read,,write'",
                   "test.conf:17: 'deny' cannot be combined with other permissions",
                   "test.conf:18: too few fields: expected 'SUBJECT PATTERN PERMISSIONS'",
                   "test.conf:19: too many fields: unexpected 'extra'",
                   "test.conf:20: 'include' takes exactly one pattern",
                   "test.conf:21: 'include' takes exactly one pattern",
                   "test.conf:22: unknown subject 'bogus'",
                   "test.conf:22: pattern must be absolute: 'srv'",
                   "test.conf:22: unknown permission 'wirte'",
                   "test.conf:23: missing unit name in 'unit='",
                   "test.conf:24: empty permission in 'read,'",
                   "test.conf:25: invalid uid ''",
                   "test.conf:26: invalid uid '+5'",
                   "test.conf:27: unknown permission 'read\\x1b[31m'",
                   "test.conf:28: too few fields: expected 'SUBJECT PATTERN PERMISSIONS'");
}
END_TEST

START_TEST(errors_long_line) {
        /* exactly POLICY_LINE_MAX bytes is fine */
        char *pat = malloc(POLICY_LINE_MAX + 2);
        ck_assert_ptr_nonnull(pat);
        size_t plen = POLICY_LINE_MAX - strlen("any  read");
        pat[0] = '/';
        memset(pat + 1, 'a', plen - 1);
        pat[plen] = 0;
        _cleanup_free_ char *ok = tu_strdupf("any %s read\n", pat);
        ck_assert_uint_eq(strlen(ok), POLICY_LINE_MAX + 1);
        struct policy *p = load(ok);
        struct policy_subject s = subject(1, 1);
        ck_assert(reads(p, &s, pat));
        policy_unref(p);

        /* one more byte is not; its tail is not read as a line of its own,
         * and the lines after it are still checked */
        _cleanup_free_ char *bad =
                tu_strdupf("any /a read\nany %sa\tread\nbogus /b read\nany /c read\n", pat);
        LOAD_FAILS(bad, "test.conf:2: line too long (max 4096 bytes)",
                   "test.conf:3: unknown subject 'bogus'");
        free(pat);
}
END_TEST

START_TEST(errors_nul_byte) {
        static const char text[] = "any /a read\nany /b\0x read\nbogus /c read\n";

        load_fails(text, sizeof text - 1,
                   (const char *const[]) { "test.conf:2: line contains a NUL byte",
                                           "test.conf:3: unknown subject 'bogus'", NULL });
}
END_TEST

START_TEST(errors_long_token_quoted_short) {
        char tok[600];
        memset(tok, 'x', sizeof tok - 1);
        tok[sizeof tok - 1] = 0;
        _cleanup_free_ char *text = tu_strdupf("%s /a read\n", tok);
        struct diags d = {};
        struct policy *p = NULL;

        ck_assert_int_eq(policy_load_string("t", text, strlen(text), collect_diag, &d, &p), -EINVAL);
        ck_assert_uint_eq(d.n, 1);
        ck_assert_uint_lt(strlen(d.v[0]), 200);
        ck_assert_ptr_nonnull(strstr(d.v[0], "xxx...'"));
        diags_done(&d);
}
END_TEST

START_TEST(errors_without_diag_callback) {
        struct policy *p = NULL;

        ck_assert_int_eq(policy_load_string("t", "bogus / read", 12, NULL, NULL, &p), -EINVAL);
        ck_assert_ptr_null(p);
        ck_assert_int_eq(policy_load_string("t", "any / read", 10, NULL, NULL, &p), 0);
        ck_assert_ptr_nonnull(p);
        policy_unref(p);
}
END_TEST

/* ---- includes ---- */

START_TEST(include_sorted_glob) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        mkdir_in(dir, "policy.d");
        _cleanup_free_ char *main_path = write_in(dir, "policy.conf",
                                                  "any /x follow\n"
                                                  "include policy.d/*.conf\n"
                                                  "any /x write\n");
        free(write_in(dir, "policy.d/b.conf", "# b\nany /x read\n"));
        free(write_in(dir, "policy.d/B.conf", "any /x device\n"));
        free(write_in(dir, "policy.d/a.conf", "any /x create\n"));
        free(write_in(dir, "policy.d/10.conf", "\n\nany /x dir\n"));
        free(write_in(dir, "policy.d/a.conf.off", "bogus\n"));

        struct diags d = {};
        struct policy *p = NULL;
        ck_assert_int_eq(load_path(main_path, &d, &p), 0);
        /* the file the glob leaves out is named, once */
        _cleanup_free_ char *skipped = tu_strdupf(
                "%s:2: warning: %s/policy.d/a.conf.off not included (does not match *.conf)", main_path, dir);
        diags_expect(&d, (const char *const[]) { skipped, NULL });
        diags_done(&d);
        ck_assert_uint_eq(policy_rule_count(p), 6);

        struct policy_subject s = subject(1, 1);
        struct seen seen = {};
        matches(p, &s, "/x", &seen);
        ck_assert_uint_eq(seen.n, 6);
        _cleanup_free_ char *w0 = tu_strdupf("%s:1", main_path);
        _cleanup_free_ char *w1 = tu_strdupf("%s/policy.d/10.conf:3", dir);
        _cleanup_free_ char *w2 = tu_strdupf("%s/policy.d/B.conf:1", dir);
        _cleanup_free_ char *w3 = tu_strdupf("%s/policy.d/a.conf:1", dir);
        _cleanup_free_ char *w4 = tu_strdupf("%s/policy.d/b.conf:2", dir);
        _cleanup_free_ char *w5 = tu_strdupf("%s:3", main_path);
        const char *want[] = { w0, w1, w2, w3, w4, w5 };
        for (size_t i = 0; i < seen.n; i++)
                ck_assert_str_eq(seen.v[i], want[i]);
        seen_done(&seen);
        /* the rule to cite follows the same order */
        ck_assert_uint_eq(cited_line(p, &s, "/x", POLICY_READ | POLICY_DIR), 3);
        _cleanup_free_ char *f1 = tu_strdupf("%s/policy.d/10.conf", dir);
        ck_assert_str_eq(policy_rule_file(decide(p, &s, "/x", POLICY_DIR).rule), f1);
        policy_unref(p);
        tu_rm_rf(dir);
}
END_TEST

/* Where an include's path is taken from: a tree of files (a NULL content
 * makes a directory; the first file is the policy loaded), the paths its
 * rules must grant and those of the files it must not reach. */
static const struct include_case {
        const char *tree[16];
        const char *granted[4];
        const char *not_granted[2];
} include_cases[] = {
        /* relative to the including file, not to the policy or the cwd */
        { { "sub", NULL, "other", NULL,
            "policy.conf", "include sub/x.conf\n",
            "sub/x.conf", "any /x read\ninclude y.conf\ninclude ../other/*.conf\n",
            "sub/y.conf", "any /y read\n",
            "other/z.conf", "any /z read\n",
            "y.conf", "any /wrong read\n" },
          { "/x", "/y", "/z" }, { "/wrong" } },
        /* a directory with glob characters in its name is not a pattern */
        { { "[a]", NULL, "[a]/d", NULL, "a", NULL, "a/d", NULL,
            "[a]/policy.conf", "include d/*.conf\ninclude d/plain\n",
            "[a]/d/1.conf", "any /right read\n",
            "[a]/d/plain", "any /plain read\n",
            "a/d/1.conf", "any /wrong read\n" },
          { "/right", "/plain" }, { "/wrong" } },
};

START_TEST(include_paths) {
        const struct include_case *c = &include_cases[_i];
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *main_path = NULL;

        for (size_t k = 0; k + 1 < ELEMENTSOF(c->tree) && c->tree[k]; k += 2) {
                if (!c->tree[k + 1])
                        mkdir_in(dir, c->tree[k]);
                else if (!main_path)
                        main_path = write_in(dir, c->tree[k], c->tree[k + 1]);
                else
                        free(write_in(dir, c->tree[k], c->tree[k + 1]));
        }

        struct diags d = {};
        struct policy *p = NULL;
        ck_assert_int_eq(load_path(main_path, &d, &p), 0);
        struct policy_subject s = subject(1, 1);
        for (size_t k = 0; k < ELEMENTSOF(c->granted) && c->granted[k]; k++)
                ck_assert_msg(reads(p, &s, c->granted[k]), "%s not granted", c->granted[k]);
        for (size_t k = 0; k < ELEMENTSOF(c->not_granted) && c->not_granted[k]; k++)
                ck_assert_msg(!reads(p, &s, c->not_granted[k]), "%s granted", c->not_granted[k]);
        policy_unref(p);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(include_from_string_relative_to_cwd) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        free(write_in(dir, "inc.conf", "any /inc read\n"));
        ck_assert_int_eq(chdir(dir), 0);

        struct policy *p = load("include inc.conf\ninclude none-*.conf\n");
        struct policy_subject s = subject(1, 1);
        ck_assert(reads(p, &s, "/inc"));
        struct policy_verdict v = decide(p, &s, "/inc", POLICY_READ);
        ck_assert_str_eq(policy_rule_file(v.rule), "inc.conf");
        policy_unref(p);
        ck_assert_int_eq(chdir("/"), 0);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(include_empty_glob_ok) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *main_path = write_in(dir, "policy.conf",
                                                  "include policy.d/*.conf\n"
                                                  "include *.nothing\n"
                                                  "any /a read\n");
        struct diags d = {};
        struct policy *p = NULL;

        ck_assert_int_eq(load_path(main_path, &d, &p), 0);
        ck_assert_uint_eq(d.n, 0);
        ck_assert_uint_eq(policy_rule_count(p), 1);
        policy_unref(p);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(include_errors) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        mkdir_in(dir, "adir");
        _cleanup_free_ char *main_path = write_in(dir, "policy.conf",
                                                  "include missing.conf\n"
                                                  "include adir\n"
                                                  "include bad.conf\n"
                                                  "include /dev/null\n"
                                                  "any /a wirte\n");
        free(write_in(dir, "bad.conf", "any /ok read\n\nuid=x /a read\n"));

        struct diags d = {};
        struct policy *sentinel = (struct policy *) 0x1, *p = sentinel;
        ck_assert_int_eq(load_path(main_path, &d, &p), -EINVAL);
        ck_assert_ptr_eq(p, sentinel);
        _cleanup_free_ char *e0 = tu_strdupf(
                "%s:1: cannot open %s/missing.conf: No such file or directory", main_path, dir);
        _cleanup_free_ char *e1 =
                tu_strdupf("%s:2: cannot open %s/adir: Is a directory", main_path, dir);
        _cleanup_free_ char *e2 = tu_strdupf("%s/bad.conf:3: invalid uid 'x'", dir);
        _cleanup_free_ char *e3 =
                tu_strdupf("%s:4: cannot open /dev/null: not a regular file", main_path);
        _cleanup_free_ char *e4 = tu_strdupf("%s:5: unknown permission 'wirte'", main_path);
        diags_expect(&d, (const char *const[]) { e0, e1, e2, e3, e4, NULL });
        diags_done(&d);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(include_missing_main_file) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *path = tu_strdupf("%s/none.conf", dir);
        struct diags d = {};
        struct policy *p = NULL;

        ck_assert_int_eq(load_path(path, &d, &p), -EINVAL);
        ck_assert_ptr_null(p);
        _cleanup_free_ char *e0 = tu_strdupf("%s:0: cannot open: No such file or directory", path);
        diags_expect(&d, (const char *const[]) { e0, NULL });
        diags_done(&d);

        ck_assert_int_eq(load_path(dir, &d, &p), -EINVAL);
        _cleanup_free_ char *e1 = tu_strdupf("%s:0: cannot open: Is a directory", dir);
        diags_expect(&d, (const char *const[]) { e1, NULL });
        diags_done(&d);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(include_loop) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *a = write_in(dir, "a.conf", "any /a read\ninclude b.conf\n");
        _cleanup_free_ char *b = write_in(dir, "b.conf", "include a.conf\nany /b read\n");
        _cleanup_free_ char *self = write_in(dir, "self.conf", "include *.conf\n");
        struct diags d = {};
        struct policy *p = NULL;

        ck_assert_int_eq(load_path(a, &d, &p), -EINVAL);
        ck_assert_ptr_null(p);
        _cleanup_free_ char *e0 = tu_strdupf("%s:1: include loop: %s", b, a);
        diags_expect(&d, (const char *const[]) { e0, NULL });
        diags_done(&d);

        /* self.conf's glob finds a.conf (whose b.conf loops back to a.conf),
         * b.conf (which includes a.conf, which includes b.conf) and itself */
        ck_assert_int_eq(load_path(self, &d, &p), -EINVAL);
        _cleanup_free_ char *f0 = tu_strdupf("%s:1: include loop: %s/a.conf", b, dir);
        _cleanup_free_ char *f1 = tu_strdupf("%s:2: include loop: %s/b.conf", a, dir);
        _cleanup_free_ char *f2 = tu_strdupf("%s:1: include loop: %s/self.conf", self, dir);
        diags_expect(&d, (const char *const[]) { f0, f1, f2, NULL });
        diags_done(&d);

        /* the same file twice, one after the other, is no loop */
        _cleanup_free_ char *twice = write_in(dir, "twice.conf", "include b2.conf\ninclude b2.conf\n");
        free(write_in(dir, "b2.conf", "any /b2 read\n"));
        ck_assert_int_eq(load_path(twice, &d, &p), 0);
        ck_assert_uint_eq(policy_rule_count(p), 2);
        policy_unref(p);
        tu_rm_rf(dir);
}
END_TEST

static void write_chain(const char *dir, unsigned n) {
        for (unsigned i = 0; i <= n; i++) {
                _cleanup_free_ char *name = tu_strdupf("f%u.conf", i);
                _cleanup_free_ char *body =
                        i < n ? tu_strdupf("any /l%u read\ninclude f%u.conf\n", i, i + 1)
                              : tu_strdupf("any /l%u read\n", i);
                free(write_in(dir, name, body));
        }
}

START_TEST(include_depth) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *f0 = tu_strdupf("%s/f0.conf", dir);
        struct diags d = {};
        struct policy *p = NULL;

        /* f0 is the main file, f16 is 16 includes deep: allowed */
        write_chain(dir, POLICY_INCLUDE_DEPTH_MAX);
        ck_assert_int_eq(load_path(f0, &d, &p), 0);
        ck_assert_uint_eq(policy_rule_count(p), POLICY_INCLUDE_DEPTH_MAX + 1);
        struct policy_subject s = subject(1, 1);
        ck_assert(reads(p, &s, "/l16"));
        policy_unref(p);

        write_chain(dir, POLICY_INCLUDE_DEPTH_MAX + 1);
        ck_assert_int_eq(load_path(f0, &d, &p), -EINVAL);
        _cleanup_free_ char *e0 = tu_strdupf("%s/f16.conf:2: includes nested too deeply (max 16)", dir);
        diags_expect(&d, (const char *const[]) { e0, NULL });
        diags_done(&d);
        tu_rm_rf(dir);
}
END_TEST

/* ---- size ---- */

static double elapsed_ms(const struct timespec *a) {
        struct timespec b;
        clock_gettime(CLOCK_MONOTONIC, &b);
        return (double) (b.tv_sec - a->tv_sec) * 1e3 + (double) (b.tv_nsec - a->tv_nsec) / 1e6;
}

START_TEST(large_policy) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ck_assert_ptr_nonnull(f);
        for (unsigned i = 0; i < 10000; i++)
                fprintf(f, "uid=%u /srv/share/u%u/** read,write\nuid=%u /srv/common/** read\n",
                        10000 + i, 10000 + i, 10000 + i);
        fprintf(f, "user=nobody /srv/common/secret deny\n");
        ck_assert_int_eq(fclose(f), 0);
        _cleanup_free_ char *path = write_in(dir, "big.conf", text);

        struct diags d = {};
        struct policy *p = NULL;
        struct timespec t0;
        clock_gettime(CLOCK_MONOTONIC, &t0);
        ck_assert_int_eq(load_path(path, &d, &p), 0);
        double ms = elapsed_ms(&t0);
        ck_assert_msg(ms < 1000, "loading 20,001 rules took %.0f ms", ms);
        ck_assert_uint_eq(policy_rule_count(p), 20001);

        struct policy_subject a = subject(10000, 100), b = subject(19999, 100),
                              nobody = subject(TU_NOBODY, 1);
        ck_assert_uint_eq(granted(p, &a, "/srv/share/u10000/x"), POLICY_READ | POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &a, "/srv/share/u10001/x"), 0);
        ck_assert_uint_eq(granted(p, &b, "/srv/share/u19999/x/y"), POLICY_READ | POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &b, "/srv/share/u19999"), 0);
        ck_assert_uint_eq(granted(p, &b, "/srv/common/f"), POLICY_READ);
        ck_assert_uint_eq(cited_line(p, &b, "/srv/common/f", POLICY_READ), 20000);
        ck_assert_uint_eq(granted(p, &nobody, "/srv/common/f"), 0);
        struct policy_verdict v = decide(p, &nobody, "/srv/common/secret", POLICY_READ);
        ck_assert(v.denied);
        ck_assert_uint_eq(policy_rule_line(v.rule), 20001);
        v = decide(p, &b, "/srv/common/secret", POLICY_READ);
        ck_assert(policy_verdict_allows(&v, POLICY_READ));
        policy_unref(p);
        tu_rm_rf(dir);
}
END_TEST

START_TEST(too_many_rules) {
        size_t n = POLICY_RULES_MAX + 2;
        size_t len = n * strlen("any /a read\n");
        char *text = malloc(len + 1);

        ck_assert_ptr_nonnull(text);
        for (size_t i = 0; i < n; i++)
                memcpy(text + i * 12, "any /a read\n", 12);
        text[len] = 0;
        _cleanup_free_ char *e = tu_strdupf("test.conf:%d: too many rules (max %d)",
                                            POLICY_RULES_MAX + 1, POLICY_RULES_MAX);
        load_fails(text, len, (const char *const[]) { e, NULL });
        free(text);
}
END_TEST


/* ---- the permissions and forms the contract added ---- */

START_TEST(perms_new) {
        unsigned perms;
        char buf[256];

        ck_assert_int_eq(policy_perms_parse("stat,append,delete", &perms), 0);
        ck_assert_uint_eq(perms, POLICY_STAT | POLICY_APPEND | POLICY_DELETE);
        ck_assert_int_eq(policy_perms_parse("read,owner", &perms), 0);
        ck_assert_uint_eq(perms, POLICY_READ | POLICY_OWNER);
        ck_assert_str_eq(policy_perms_format(POLICY_READ | POLICY_WRITE | POLICY_APPEND | POLICY_CREATE |
                                                     POLICY_DELETE | POLICY_STAT | POLICY_DIR | POLICY_OWNER,
                                             buf, sizeof buf),
                         "read,write,append,create,delete,stat,dir,owner");
        ck_assert_int_eq(policy_perms_parse("owner", &perms), -EINVAL);
        ck_assert_int_eq(policy_perms_parse("deny,owner", &perms), -EINVAL);

        LOAD_FAILS("any /a owner\n"
                   "any /a owner,deny\n"
                   "any /a stat,delete,append\n",
                   "test.conf:1: 'owner' alone grants nothing: it modifies the rule's other permissions",
                   "test.conf:2: 'owner' cannot modify 'deny': a deny rule holds whoever owns the file");
}
END_TEST

/* stat comes with every permission that touches the file, not with
 * follow alone; a rule of stat gives nothing else. */
START_TEST(stat_implied) {
        static const char *const perms[] = { "read", "write", "append", "create", "delete", "dir", "device" };
        struct policy_subject s = subject(1, 1);

        for (size_t i = 0; i < ELEMENTSOF(perms); i++) {
                _cleanup_free_ char *text = tu_strdupf("any /f %s\nany /g follow\nany /h stat\n", perms[i]);
                struct policy *p = load(text);
                struct policy_verdict v = decide(p, &s, "/f", POLICY_STAT);

                ck_assert_msg(policy_verdict_allows(&v, POLICY_STAT), "%s does not imply stat", perms[i]);
                ck_assert_uint_eq(policy_rule_line(v.rule), 1);
                v = decide(p, &s, "/g", POLICY_STAT);
                ck_assert(!policy_verdict_allows(&v, POLICY_STAT));
                v = decide(p, &s, "/h", POLICY_STAT);
                ck_assert_uint_eq(v.granted, POLICY_STAT);
                /* on the same path only */
                v = decide(p, &s, "/f/x", POLICY_STAT);
                ck_assert_uint_eq(v.granted, 0);
                policy_unref(p);
        }
}
END_TEST

/* owner_only: what only `owner` rules give.  A bit that a rule without
 * owner gives too holds for any file. */
START_TEST(owner_only_computed) {
        struct policy *p = load("uid=7 /t/** read,write,delete,owner\n"
                                "any /t/** read\n"
                                "uid=7 /t/pub/** write\n"
                                "uid=7 /t/x/secret deny\n");
        struct policy_subject s = subject(7, 7), other = subject(8, 8);

        struct policy_verdict v = decide(p, &s, "/t/a", POLICY_WRITE);
        ck_assert_uint_eq(v.granted, POLICY_READ | POLICY_WRITE | POLICY_DELETE | POLICY_STAT);
        ck_assert_uint_eq(v.owner_only, POLICY_WRITE | POLICY_DELETE);
        ck_assert(!(v.granted & POLICY_OWNER));
        ck_assert(policy_verdict_allows(&v, POLICY_WRITE));
        ck_assert_uint_eq(policy_rule_line(v.rule), 1);

        v = decide(p, &s, "/t/pub/a", POLICY_WRITE);
        ck_assert_uint_eq(v.owner_only, POLICY_DELETE);

        v = decide(p, &other, "/t/a", POLICY_READ);
        ck_assert_uint_eq(v.granted, POLICY_READ | POLICY_STAT);
        ck_assert_uint_eq(v.owner_only, 0);

        /* owner never softens a deny */
        v = decide(p, &s, "/t/x/secret", POLICY_READ);
        ck_assert(v.denied);

        /* alone, owner keeps stat to owned files too */
        policy_unref(p);
        p = load("any /o/** read,owner\n");
        v = decide(p, &s, "/o/f", POLICY_READ);
        ck_assert_uint_eq(v.granted, POLICY_READ | POLICY_STAT);
        ck_assert_uint_eq(v.owner_only, POLICY_READ | POLICY_STAT);
        policy_unref(p);
}
END_TEST

START_TEST(double_star_middle) {
        struct policy *p = load("any /home/*/**/.ssh/** deny\n"
                                "any /home/** read\n"
                                "any /a/**/b write\n"
                                "any /**/core create\n"
                                "any /m/**/**/n/** dir\n");
        struct policy_subject s = subject(1, 1);

        ck_assert(reads(p, &s, "/home/al/notes"));
        ck_assert(!reads(p, &s, "/home/al/.ssh/id"));
        ck_assert(!reads(p, &s, "/home/al/x/y/.ssh/id"));
        ck_assert(reads(p, &s, "/home/al/.ssh")); /* the final ** is beneath, not the dir itself */
        ck_assert(reads(p, &s, "/home/.ssh/id"));  /* '*' needs one component first */

        ck_assert_uint_eq(granted(p, &s, "/a/b"), POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, "/a/x/b"), POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, "/a/x/y/z/b"), POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, "/a/b/c"), 0);
        ck_assert_uint_eq(granted(p, &s, "/a/xb"), 0);
        ck_assert_uint_eq(granted(p, &s, "/a"), 0);

        ck_assert_uint_eq(granted(p, &s, "/core"), POLICY_CREATE);
        ck_assert_uint_eq(granted(p, &s, "/var/tmp/core"), POLICY_CREATE);

        ck_assert_uint_eq(granted(p, &s, "/m/n/x"), POLICY_DIR);
        ck_assert_uint_eq(granted(p, &s, "/m/1/2/3/n/x/y"), POLICY_DIR);
        ck_assert_uint_eq(granted(p, &s, "/m/n"), 0);

        struct seen seen = {};
        matches(p, &s, "/home/al/q/.ssh/k", &seen);
        ck_assert_uint_eq(seen.n, 2);
        ck_assert_str_eq(seen.v[0], "test.conf:1");
        ck_assert_str_eq(seen.v[1], "test.conf:2");
        seen_done(&seen);
        policy_unref(p);
}
END_TEST

/* Stacked stars against a deep path: each (star, position) is worked
 * once, so the walk is polynomial, never exponential. */
START_TEST(double_star_adversarial) {
        struct policy *p = load("any /a/**/**/**/**/**/**/**/**/**/**/b read\n"
                                "any /a/**/x/**/x/**/x/**/x/**/c read\n");
        struct policy_subject s = subject(1, 1);
        size_t depth = 2000;
        char *path = malloc(depth * 2 + 4);
        size_t o = 0;

        ck_assert_ptr_nonnull(path);
        o += (size_t) sprintf(path, "/a");
        for (size_t i = 1; i < depth; i++)
                o += (size_t) sprintf(path + o, "/x");
        strcpy(path + o, "/z");
        o += 2;

        unsigned long steps = policy_match_steps(p, &s, path, o);
        /* ~15 nodes, ~2000 positions: a few tens of thousands at most; an
         * exponential walk would not finish */
        ck_assert_msg(steps < 20UL * 16 * depth, "%lu steps", steps);
        ck_assert(!reads(p, &s, path));
        path[o - 1] = 'b';
        ck_assert(reads(p, &s, path));
        path[o - 1] = 'c';
        ck_assert(reads(p, &s, path));
        free(path);
        policy_unref(p);
}
END_TEST

/* More star nodes met by one walk than it remembers: it denies, citing
 * nothing, rather than run unbounded or miss a deny rule. */
START_TEST(double_star_memo_full) {
        _cleanup_free_ char *text = NULL;
        size_t size = 0;
        FILE *f = open_memstream(&text, &size);

        ck_assert_ptr_nonnull(f);
        fprintf(f, "any /w/** read\nany /v/** read\n");
        for (unsigned i = 0; i < 300; i++) {
                fputs("any /w/*", f);
                for (unsigned k = 0; k < i + 2; k++)
                        fputc('*', f);
                fputs("/**/z read\n", f);
        }
        ck_assert_int_eq(fclose(f), 0);

        struct policy *p = load(text);
        struct policy_subject s = subject(1, 1);
        struct policy_verdict v = decide(p, &s, "/w/x/y/z", POLICY_READ);
        ck_assert(v.denied);
        ck_assert_ptr_null(v.rule);
        ck_assert(!policy_verdict_allows(&v, POLICY_READ));
        /* a path that meets no star is decided as ever */
        ck_assert(reads(p, &s, "/v/x"));
        policy_unref(p);
}
END_TEST

START_TEST(home_template) {
        struct policy *p = load("any %h/** read\n"
                                "any %h dir\n"
                                "any /srv/** write\n");
        struct policy_subject s = subject(1, 1);

        ck_assert(policy_uses_home(p));
        s.home = "/home/alice";
        ck_assert_uint_eq(granted(p, &s, "/home/alice/x"), POLICY_READ);
        ck_assert_uint_eq(granted(p, &s, "/home/alice/x/y"), POLICY_READ);
        ck_assert_uint_eq(granted(p, &s, "/home/alice"), POLICY_DIR);
        ck_assert_uint_eq(granted(p, &s, "/home/alicex/y"), 0);
        ck_assert_uint_eq(granted(p, &s, "/home/bob/x"), 0);
        ck_assert_uint_eq(granted(p, &s, "/srv/x"), POLICY_WRITE);

        /* no home, or one that is not absolute and canonical: no %h rule */
        static const char *const bad[] = { NULL, "", "home/alice", "/home/alice/", "/home/../alice",
                                           "/home//alice" };
        for (size_t i = 0; i < ELEMENTSOF(bad); i++) {
                s.home = bad[i];
                ck_assert_uint_eq(granted(p, &s, "/home/alice/x"), 0);
                ck_assert_uint_eq(granted(p, &s, "/srv/x"), POLICY_WRITE);
        }
        s.home = "/";
        ck_assert_uint_eq(granted(p, &s, "/etc/x"), POLICY_READ);
        ck_assert_uint_eq(granted(p, &s, "/"), POLICY_DIR);
        policy_unref(p);

        p = load("any /x read\n");
        ck_assert(!policy_uses_home(p));
        policy_unref(p);

        LOAD_FAILS("any /home/%h read\n"
                   "any %hx read\n",
                   "test.conf:1: '%h' is only allowed at the start of a pattern in '/home/%h'",
                   "test.conf:2: pattern must be absolute: '%hx'");
}
END_TEST

/* A rule naming /proc is refused; one whose wildcard could reach it is
 * allowed, but no path under /proc ever matches. */
START_TEST(proc_refused) {
        LOAD_FAILS("uid=65534 /proc/** read\n"
                   "any /proc read,dir\n"
                   "any /pr\\oc/self/mem read\n"
                   "any /procx/a read\n",
                   "test.conf:1: pattern under /proc: '/proc/**' (it would expose the broker's own memory)",
                   "test.conf:2: pattern under /proc: '/proc' (it would expose the broker's own memory)",
                   "test.conf:3: pattern under /proc: '/pr\\oc/self/mem' (it would expose the broker's own "
                   "memory)");

        struct policy *p = load("any /** read\n"
                                "any /*/self/mem read\n"
                                "any /**/mem write\n"
                                "any %h/** read\n"
                                "any /p[r]oc dir\n");
        struct policy_subject s = subject(1, 1);
        s.home = "/proc/1";
        ck_assert_uint_eq(granted(p, &s, "/proc/self/mem"), 0);
        ck_assert_uint_eq(granted(p, &s, "/proc/1/mem"), 0);
        ck_assert_uint_eq(granted(p, &s, "/proc"), 0);
        ck_assert_ptr_null(decide(p, &s, "/proc/1/mem", POLICY_READ).rule);
        ck_assert_uint_eq(granted(p, &s, "/procx/self/mem"), POLICY_READ | POLICY_WRITE);
        ck_assert_uint_eq(granted(p, &s, "/etc/x"), POLICY_READ);
        struct seen seen = {};
        matches(p, &s, "/proc/self/mem", &seen);
        ck_assert_uint_eq(seen.n, 0);
        policy_unref(p);
}
END_TEST

static void expect_file_refused(const char *path, const char *reason) {
        struct diags d = {};
        struct policy *p = NULL;
        _cleanup_free_ char *e = tu_strdupf("%s:0: %s", path, reason);

        ck_assert_int_eq(load_path(path, &d, &p), -EINVAL);
        ck_assert_ptr_null(p);
        diags_expect(&d, (const char *const[]) { e, NULL });
        diags_done(&d);
}

/* Whoever can write the policy can grant themselves anything. */
START_TEST(file_ownership) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *main_path = tu_strdupf("%s/policy.conf", dir);
        _cleanup_free_ char *inc = tu_strdupf("%s/inc.conf", dir);
        struct diags d = {};
        struct policy *p = NULL;

        tu_write_file(main_path, "any /a read\n", 0644, TU_NOBODY, 0);
        expect_file_refused(main_path, "not owned by root (owner uid 65534): anyone it belongs to could "
                                       "grant themselves anything");
        tu_write_file(main_path, "any /a read\n", 0646, 0, 0);
        expect_file_refused(main_path, "writable by others (mode 0646): only root may be able to change a "
                                       "policy");
        tu_write_file(main_path, "any /a read\n", 0664, 0, 4242);
        expect_file_refused(main_path, "writable by its group (mode 0664): only root may be able to change "
                                       "a policy");
        /* group root may write, as sudo allows */
        tu_write_file(main_path, "any /a read\ninclude inc.conf\n", 0664, 0, 0);
        tu_write_file(inc, "any /b read\n", 0600, 0, 0);
        ck_assert_int_eq(load_path(main_path, &d, &p), 0);
        ck_assert_uint_eq(d.n, 0);
        ck_assert_uint_eq(policy_file_count(p), 2);
        policy_unref(p);

        /* an included file is held to the same rule */
        tu_write_file(inc, "any /b read\n", 0600, TU_NOBODY, 0);
        expect_file_refused(inc, "not owned by root (owner uid 65534): anyone it belongs to could grant "
                                 "themselves anything");
        /* the mode of the file read, not of one swapped in by name: the
         * check is on the descriptor, so a symlink to a bad file is bad */
        _cleanup_free_ char *link = tu_strdupf("%s/link.conf", dir);
        ck_assert_int_eq(symlink(inc, link), 0);
        tu_write_file(main_path, "include link.conf\n", 0644, 0, 0);
        ck_assert_int_eq(load_path(main_path, &d, &p), -EINVAL);
        diags_done(&d);
        tu_rm_rf(dir);
}
END_TEST

static void collect_warning(const char *file, unsigned line, const char *message, void *userdata) {
        struct diags *d = userdata;

        ck_assert_uint_lt(d->n, DIAGS_MAX);
        d->v[d->n++] = tu_strdupf("W %s:%u: %s", file, line, message);
}

START_TEST(strict_warnings) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        _cleanup_free_ char *main_path = write_in(dir, "policy.conf", "user=fdbr-no-such-user /a read\n");
        _cleanup_free_ char *e = tu_strdupf("W %s:1: unknown user 'fdbr-no-such-user': the rule matches no one",
                                            main_path);
        struct diags d = {};
        struct policy *p = NULL;
        struct policy_load_options o = { .diag = collect_diag, .warn = collect_warning, .userdata = &d };

        ck_assert_int_eq(policy_load_with(main_path, &o, &p), 0);
        diags_expect(&d, (const char *const[]) { e, NULL });
        diags_done(&d);
        policy_unref(p);

        p = NULL;
        o.strict = true;
        ck_assert_int_eq(policy_load_with(main_path, &o, &p), -EINVAL);
        ck_assert_ptr_null(p);
        diags_expect(&d, (const char *const[]) { e, NULL });
        diags_done(&d);
        tu_rm_rf(dir);
}
END_TEST

/* A drop-in directory: the file the glob skips is named, a glob in the
 * including file's own directory (beside other configuration) is not. */
START_TEST(include_skipped_warning) {
        _cleanup_free_ char *dir = tu_mkdtemp();
        mkdir_in(dir, "policy.d");
        _cleanup_free_ char *main_path = write_in(dir, "policy.conf",
                                                  "include policy.d/*.conf\ninclude *.rules\n");
        free(write_in(dir, "policy.d/10-a.conf", "any /a read\n"));
        free(write_in(dir, "policy.d/70-www.cfg", "any /www read\n"));
        free(write_in(dir, "policy.d/20-b.conf.dpkg-old", "any /old read\n"));
        mkdir_in(dir, "policy.d/sub");
        free(write_in(dir, "other.txt", "x\n"));

        struct diags d = {};
        struct policy *p = NULL;
        ck_assert_int_eq(load_path(main_path, &d, &p), 0);
        _cleanup_free_ char *e0 = tu_strdupf("%s:1: warning: %s/policy.d/20-b.conf.dpkg-old not included "
                                             "(does not match *.conf)", main_path, dir);
        _cleanup_free_ char *e1 = tu_strdupf("%s:1: warning: %s/policy.d/70-www.cfg not included "
                                             "(does not match *.conf)", main_path, dir);
        /* readdir order is the file system's */
        ck_assert_uint_eq(d.n, 2);
        ck_assert((strcmp(d.v[0], e0) == 0 && strcmp(d.v[1], e1) == 0) ||
                  (strcmp(d.v[0], e1) == 0 && strcmp(d.v[1], e0) == 0));
        diags_done(&d);
        ck_assert_uint_eq(policy_rule_count(p), 1);
        policy_unref(p);
        tu_rm_rf(dir);
}
END_TEST

static struct policy *load_grants_policy(void) {
        return load("any /pub/** read\n"
                    "uid=7 /u/%U/** read,write,owner\n"
                    "user=root /r/%u/* create\n"
                    "gid=9 /g/%G deny\n"
                    "gid=9 /g/%G/x stat\n"
                    "unit=app@*.service /svc/%u read\n"
                    "any %h/** read,delete,owner\n"
                    "uid=8 /other read\n");
}

START_TEST(grants_listing) {
        struct policy *p = load_grants_policy();
        gid_t groups[] = { 9 };
        struct policy_subject s = { .uid = 7, .gid = 5, .groups = groups, .n_groups = 1,
                                    .user_name = "a*b", .home = "/home/a", .unit = "app@1.service" };
        char buf[512];
        size_t len = 0;

        ck_assert_int_eq(policy_grants(p, &s, buf, sizeof buf, &len), 0);
        static const char want[] = "/pub/** read\n"
                                   "/u/7/** read,write,owner\n"
                                   "/g/5/x stat\n"
                                   "/svc/a\\*b read\n"
                                   "/home/a/** read,delete,owner\n";
        ck_assert_uint_eq(len, strlen(want));
        ck_assert_int_eq(memcmp(buf, want, len), 0);

        /* gid=9 holds via the supplementary group, but %G is the primary */
        /* too small: E2BIG, and the length is left alone */
        size_t untouched = 12345;
        ck_assert_int_eq(policy_grants(p, &s, buf, strlen(want) - 1, &untouched), -E2BIG);
        ck_assert_uint_eq(untouched, 12345);
        ck_assert_int_eq(policy_grants(p, &s, buf, strlen(want), &len), 0);

        /* no name, no home: those rules match nothing, so are not listed */
        struct policy_subject bare = { .uid = 100, .gid = 100, .unit = "app@2.service" };
        ck_assert_int_eq(policy_grants(p, &bare, buf, sizeof buf, &len), 0);
        ck_assert_uint_eq(len, strlen("/pub/** read\n"));
        ck_assert_int_eq(memcmp(buf, "/pub/** read\n", len), 0);
        policy_unref(p);
}
END_TEST

static void count_rule(const struct policy_rule *r, void *userdata) {
        struct seen *s = userdata;

        ck_assert_uint_lt(s->n, ELEMENTSOF(s->v));
        s->v[s->n++] = tu_strdupf("%u", policy_rule_line(r));
}

START_TEST(subject_rules_listing) {
        struct policy *p = load_grants_policy();
        struct policy_subject root = subject(0, 0), any = subject((uid_t) -1, (gid_t) -1);
        struct seen seen = {};

        root.user_name = "root";
        policy_subject_each(p, &root, count_rule, &seen);
        ck_assert_uint_eq(seen.n, 3);
        ck_assert_str_eq(seen.v[0], "1");
        ck_assert_str_eq(seen.v[1], "3");
        ck_assert_str_eq(seen.v[2], "7");
        seen_done(&seen);
        policy_subject_each(p, &any, count_rule, &seen);
        ck_assert_uint_eq(seen.n, 2);
        seen_done(&seen);
        policy_unref(p);
}
END_TEST

static Suite *policy_suite(void) {
        Suite *s = suite_create("policy");
        TCase *tc = tcase_create("subjects");
        tcase_add_test(tc, subject_any_uid_gid);
        tcase_add_test(tc, subject_user_group_names);
        tcase_add_test(tc, subject_unknown_names);
        tcase_add_test(tc, subject_supplementary_groups);
        tcase_add_test(tc, subject_unit);
        tcase_add_test(tc, subject_many_names);
        tcase_add_test(tc, subject_many_keys_one_path);
        suite_add_tcase(s, tc);

        tc = tcase_create("patterns");
        tcase_add_test(tc, pattern_wildcards_stay_in_component);
        tcase_add_test(tc, pattern_double_star);
        tcase_add_test(tc, pattern_path_not_canonical);
        tcase_add_test(tc, pattern_percent_vs_template);
        tcase_add_test(tc, pattern_escapes_and_sets);
        tcase_add_test(tc, pattern_templates);
        tcase_add_test(tc, pattern_deep);
        suite_add_tcase(s, tc);

        tc = tcase_create("verdicts");
        tcase_add_test(tc, verdict_deny_wins);
        tcase_add_test(tc, verdict_union);
        tcase_add_test(tc, verdict_cited_rule);
        tcase_add_test(tc, verdict_empty_policy);
        tcase_add_test(tc, match_each_file_order);
        tcase_add_test(tc, match_each_many);
        tcase_add_test(tc, perms_parse_format);
        tcase_add_test(tc, rule_text_normalized);
        tcase_add_test(tc, refcount);
        suite_add_tcase(s, tc);

        tc = tcase_create("diagnostics");
        tcase_add_test(tc, errors_every_kind);
        tcase_add_test(tc, errors_long_line);
        tcase_add_test(tc, errors_nul_byte);
        tcase_add_test(tc, errors_long_token_quoted_short);
        tcase_add_test(tc, errors_without_diag_callback);
        suite_add_tcase(s, tc);

        tc = tcase_create("includes");
        tcase_add_test(tc, include_sorted_glob);
        tcase_add_loop_test(tc, include_paths, 0, ELEMENTSOF(include_cases));
        tcase_add_test(tc, include_from_string_relative_to_cwd);
        tcase_add_test(tc, include_empty_glob_ok);
        tcase_add_test(tc, include_errors);
        tcase_add_test(tc, include_missing_main_file);
        tcase_add_test(tc, include_loop);
        tcase_add_test(tc, include_depth);
        suite_add_tcase(s, tc);

        tc = tcase_create("added");
        tcase_add_test(tc, perms_new);
        tcase_add_test(tc, stat_implied);
        tcase_add_test(tc, owner_only_computed);
        tcase_add_test(tc, double_star_middle);
        tcase_add_test(tc, double_star_adversarial);
        tcase_add_test(tc, double_star_memo_full);
        tcase_add_test(tc, home_template);
        tcase_add_test(tc, proc_refused);
        tcase_add_test(tc, file_ownership);
        tcase_add_test(tc, strict_warnings);
        tcase_add_test(tc, include_skipped_warning);
        tcase_add_test(tc, grants_listing);
        tcase_add_test(tc, subject_rules_listing);
        suite_add_tcase(s, tc);

        tc = tcase_create("size");
        tcase_add_test(tc, large_policy);
        tcase_add_test(tc, too_many_rules);
        tcase_set_timeout(tc, 120);
        suite_add_tcase(s, tc);
        return s;
}

int main(void) {
        return tu_run_suite(policy_suite());
}
