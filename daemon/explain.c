/* SPDX-License-Identifier: MIT */
#include "explain.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "wire.h"

#define EXPLAIN_GROUPS_MAX 256

struct hypothetical {
        uid_t uid;
        gid_t gid;
        bool have_uid, have_gid;
        gid_t groups[EXPLAIN_GROUPS_MAX];
        int n_groups;
        char user_name[256];
        char home[4096];
        char unit[256];
};

static int parse_id(const char *s, uint32_t *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || s[0] == '-' || v >= UINT32_MAX)
                return -EINVAL;
        *ret = (uint32_t) v;
        return 0;
}

static int add_group(struct hypothetical *h, gid_t g) {
        if (h->n_groups >= EXPLAIN_GROUPS_MAX)
                return -E2BIG;
        h->groups[h->n_groups++] = g;
        return 0;
}

/* A user brings what login would give it: primary group, supplementary
 * groups from the group database, and its name for %u. */
static int set_user(struct hypothetical *h, const struct passwd *pw) {
        int n = EXPLAIN_GROUPS_MAX - h->n_groups;

        h->uid = pw->pw_uid;
        h->have_uid = true;
        if (!h->have_gid) {
                h->gid = pw->pw_gid;
                h->have_gid = true;
        }
        snprintf(h->user_name, sizeof h->user_name, "%s", pw->pw_name);
        if (pw->pw_dir && strlen(pw->pw_dir) < sizeof h->home)
                strcpy(h->home, pw->pw_dir);
        if (getgrouplist(pw->pw_name, pw->pw_gid, h->groups + h->n_groups, &n) < 0)
                return -E2BIG;
        h->n_groups += n;
        return 0;
}

static int parse_subject(const char *subject, struct hypothetical *h) {
        _cleanup_free_ char *copy = strdup(subject);
        char *save = NULL;
        uint32_t id;

        if (!copy)
                return -ENOMEM;
        *h = (struct hypothetical) {};
        /* "any": no one in particular, so only `any` rules apply. */
        if (strcmp(subject, "any") == 0) {
                h->uid = (uid_t) -1;
                h->gid = (gid_t) -1;
                return 0;
        }
        for (char *t = strtok_r(copy, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
                char *v = strchr(t, '=');
                if (!v) {
                        fprintf(stderr, "fdbrokerd: --explain: subject term '%s' is not KEY=VALUE\n", t);
                        return -EINVAL;
                }
                *v++ = 0;
                if (strcmp(t, "user") == 0 || strcmp(t, "uid") == 0) {
                        struct passwd *pw = strcmp(t, "user") == 0 ? getpwnam(v) :
                                            parse_id(v, &id) == 0 ? getpwuid(id) : NULL;
                        if (pw) {
                                if (set_user(h, pw) < 0)
                                        return -E2BIG;
                        } else if (strcmp(t, "uid") == 0 && parse_id(v, &id) == 0) {
                                h->uid = id; /* a uid without a passwd entry is a valid client */
                                h->have_uid = true;
                        } else {
                                fprintf(stderr, "fdbrokerd: --explain: unknown %s '%s'\n", t, v);
                                return -EINVAL;
                        }
                } else if (strcmp(t, "group") == 0 || strcmp(t, "gid") == 0) {
                        struct group *gr = strcmp(t, "group") == 0 ? getgrnam(v) : NULL;
                        if (gr)
                                id = gr->gr_gid;
                        else if (strcmp(t, "gid") != 0 || parse_id(v, &id) < 0) {
                                fprintf(stderr, "fdbrokerd: --explain: unknown %s '%s'\n", t, v);
                                return -EINVAL;
                        }
                        if (!h->have_gid) {
                                h->gid = id;
                                h->have_gid = true;
                        }
                        if (add_group(h, id) < 0)
                                return -E2BIG;
                } else if (strcmp(t, "unit") == 0) {
                        if (!*v || strlen(v) >= sizeof h->unit) {
                                fprintf(stderr, "fdbrokerd: --explain: invalid unit name '%s'\n", v);
                                return -EINVAL;
                        }
                        strcpy(h->unit, v);
                } else {
                        fprintf(stderr, "fdbrokerd: --explain: unknown subject '%s' "
                                        "(uid=, user=, gid=, group=, unit=)\n", t);
                        return -EINVAL;
                }
        }
        if (!h->have_uid && !h->have_gid && !h->unit[0]) {
                fprintf(stderr, "fdbrokerd: --explain: empty subject\n");
                return -EINVAL;
        }
        /* Who was not named is nobody in particular: no uid rule, no gid
         * rule can match an id that no rule may name. */
        if (!h->have_uid)
                h->uid = (uid_t) -1;
        if (!h->have_gid)
                h->gid = (gid_t) -1;
        return 0;
}

static void print_rule(const struct policy_rule *r, void *userdata) {
        unsigned need = *(const unsigned *) userdata;
        unsigned perms = policy_rule_perms(r), eff = policy_perms_effective(perms);
        char buf[128];

        printf("  %s:%u: %s", policy_rule_file(r), policy_rule_line(r), policy_rule_text(r));
        if (perms & POLICY_DENY)
                printf("    [denies]\n");
        else if (eff & need)
                printf("    [grants %s%s]\n", policy_perms_format(eff & need, buf, sizeof buf),
                       perms & POLICY_OWNER ? " on files the client owns" : "");
        else
                printf("    [grants nothing asked for]\n");
}

struct listing {
        const struct policy_subject *s;
        unsigned n;
};

static void list_rule(const struct policy_rule *r, void *userdata) {
        struct listing *l = userdata;
        char pattern[2 * 4096 + 2];

        l->n++;
        printf("  %s:%u: %s\n", policy_rule_file(r), policy_rule_line(r), policy_rule_text(r));
        const char *x = policy_rule_pattern_for(r, l->s, pattern, sizeof pattern);
        if (!x)
                printf("      (matches nothing for this subject: no user name or home to expand)\n");
        else if (strcmp(x, policy_rule_text(r)) != 0 && !strstr(policy_rule_text(r), x))
                printf("      for this subject: %s\n", x);
}

static void print_subject(const struct hypothetical *h, const struct policy_subject *s) {
        printf("subject: ");
        if (!h->have_uid && !h->have_gid && !s->unit) {
                printf("any (only rules for any client)\n");
                return;
        }
        if (h->have_uid)
                printf("uid=%u%s%s%s ", (unsigned) h->uid, s->user_name ? " (" : "",
                       s->user_name ? s->user_name : "", s->user_name ? ")" : "");
        if (h->have_gid)
                printf("gid=%u ", (unsigned) h->gid);
        if (h->n_groups > 0) {
                printf("groups=");
                for (int i = 0; i < h->n_groups; i++)
                        printf("%s%u", i ? "," : "", (unsigned) h->groups[i]);
                printf(" ");
        }
        printf("unit=%s\n", s->unit ? s->unit : "-");
}

/* The policy engine's view of a hypothetical client (borrows h). */
static void subject_of(const struct hypothetical *h, struct policy_subject *ret) {
        *ret = (struct policy_subject) {
                .uid = h->uid,
                .gid = h->gid,
                .groups = h->groups,
                .n_groups = (size_t) h->n_groups,
                .unit = h->unit[0] ? h->unit : NULL,
                .user_name = h->user_name[0] ? h->user_name : NULL,
                .home = h->home[0] ? h->home : NULL,
        };
}

int explain_run(const struct policy *p, const char *subject, const char *path, const char *access) {
        struct hypothetical h;
        unsigned need;
        char buf[128];

        if (parse_subject(subject, &h) < 0)
                return EXPLAIN_ERROR;
        if (!path) {
                struct policy_subject s;
                subject_of(&h, &s);
                struct listing l = { .s = &s };

                print_subject(&h, &s);
                printf("rules that apply, in file order:\n");
                policy_subject_each(p, &s, list_rule, &l);
                if (l.n == 0)
                        printf("  (none: every request is denied)\n");
                return EXPLAIN_ALLOWED;
        }
        if (!access || policy_perms_parse(access, &need) < 0 ||
            (need & (POLICY_DENY | POLICY_FOLLOW | POLICY_OWNER)) || !need) {
                fprintf(stderr, "fdbrokerd: --explain: invalid access '%s' (comma-separated read, write, "
                                "append, create, delete, stat, dir, device)\n", access ? access : "");
                return EXPLAIN_ERROR;
        }
        if (wire_path_check(path, strlen(path)) < 0) {
                fprintf(stderr, "fdbrokerd: --explain: '%s' is not an absolute canonical path; "
                                "the broker would answer EINVAL\n", path);
                return EXPLAIN_ERROR;
        }

        struct policy_subject s;
        subject_of(&h, &s);
        print_subject(&h, &s);
        printf("path:    %s\naccess:  %s\n", path, policy_perms_format(need, buf, sizeof buf));

        printf("matching rules:\n");
        struct policy_verdict v;
        policy_match(p, &s, path, strlen(path), need, &v);
        if (v.rule)
                policy_match_each(p, &s, path, strlen(path), print_rule, &need);
        else
                printf("  (none)\n");

        bool allowed = policy_verdict_allows(&v, need);
        if (allowed && (need & v.owner_only))
                printf("verdict: allow, for %s only on a file the client owns ('owner')\n",
                       policy_perms_format(need & v.owner_only, buf, sizeof buf));
        else if (allowed)
                printf("verdict: allow\n");
        else if (v.denied && !v.rule)
                printf("verdict: deny (the path meets more mid-pattern '**' than one decision follows)\n");
        else if (v.denied)
                printf("verdict: deny (deny rule at %s:%u)\n", policy_rule_file(v.rule), policy_rule_line(v.rule));
        else if (v.rule)
                printf("verdict: deny (not granted: %s)\n", policy_perms_format(need & ~v.granted, buf, sizeof buf));
        else
                printf("verdict: deny (no rule matches; the default is deny)\n");
        printf("note:    decided on the path alone; when opening, a directory also needs 'dir', a device\n"
               "         'device', and a symlink on the way 'follow' (then the target's path is decided too)\n");
        return allowed ? EXPLAIN_ALLOWED : EXPLAIN_DENIED;
}
