/* SPDX-License-Identifier: MIT */
#pragma once

/* The policy engine: parses the policy language into an immutable,
 * indexed rule set and decides requests against it.  It knows nothing of
 * sockets or files being opened; the daemon asks it "which permissions do
 * the rules give this subject on this path" and enforces the answer. */

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

enum {
        POLICY_READ = 1u << 0,
        POLICY_WRITE = 1u << 1,
        POLICY_CREATE = 1u << 2,
        POLICY_DIR = 1u << 3,
        POLICY_DEVICE = 1u << 4,
        POLICY_FOLLOW = 1u << 5,
        POLICY_DENY = 1u << 6,
        POLICY_STAT = 1u << 7,
        POLICY_APPEND = 1u << 8,
        POLICY_DELETE = 1u << 9,
        /* A modifier, not a permission: see policy_verdict.owner_only. */
        POLICY_OWNER = 1u << 10,
};

/* Limits on what a policy file may make the parser allocate. */
#define POLICY_LINE_MAX 4096
#define POLICY_INCLUDE_DEPTH_MAX 16
#define POLICY_RULES_MAX 1000000

struct policy;
struct policy_rule;

/* Who asks.  Filled by the daemon from kernel-provided identity. */
struct policy_subject {
        uid_t uid;
        gid_t gid;               /* primary */
        const gid_t *groups;     /* supplementary, may include gid */
        size_t n_groups;
        const char *unit;        /* systemd unit, NULL if unknown: matches no unit= rule */
        const char *user_name;   /* NULL if unknown: patterns with %u match nothing */
        const char *home;        /* NULL if unknown: patterns with %h match nothing */
};

struct policy_verdict {
        unsigned granted;                /* union of the permissions of matching allow rules */
        /* The part of granted that only `owner` rules give: it holds only
         * for an existing file owned by the client's uid, which the caller
         * checks on the file it reached (creating is not affected). */
        unsigned owner_only;
        bool denied;                     /* a matching deny rule exists */
        const struct policy_rule *rule;  /* the rule to cite: see policy_match() */
};

/* Called once per problem while loading; line is 0 for a problem with the
 * file as a whole (cannot open it, ...). */
typedef void (*policy_diag_t)(const char *file, unsigned line, const char *message, void *userdata);

/* Parses path and everything it includes.  Returns 0 and a policy with one
 * reference, or a negative errno (-EINVAL when any problem was reported
 * through diag; every problem is reported, not only the first). */
int policy_load(const char *path, policy_diag_t diag, void *userdata, struct policy **ret_policy);

/* Same, from a string (for tests and fuzzing); includes are resolved
 * relative to the current directory, name is used in diagnostics. */
int policy_load_string(const char *name, const char *text, size_t len, policy_diag_t diag,
                       void *userdata, struct policy **ret_policy);

struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);

/* Decides: which rules match subject and path.  need is the set of
 * POLICY_* permissions the request asks for; it only selects the rule to
 * cite in ret->rule: the first matching deny rule if any, else the first
 * matching rule (in file order) that grants part of need, else the first
 * matching rule at all, else NULL.  path must be absolute and canonical (the
 * caller checked). */
void policy_match(const struct policy *p, const struct policy_subject *s, const char *path,
                  size_t path_len, unsigned need, struct policy_verdict *ret);

/* True when the verdict allows everything in need. */
static inline bool policy_verdict_allows(const struct policy_verdict *v, unsigned need) {
        return !v->denied && (need & ~v->granted) == 0;
}

/* Calls fn for every rule that matches subject and path, in file order. */
void policy_match_each(const struct policy *p, const struct policy_subject *s, const char *path,
                       size_t path_len, void (*fn)(const struct policy_rule *r, void *userdata),
                       void *userdata);

size_t policy_rule_count(const struct policy *p);
bool policy_has_unit_rules(const struct policy *p);
bool policy_uses_user_name(const struct policy *p);   /* some pattern holds %u */

const char *policy_rule_file(const struct policy_rule *r);
unsigned policy_rule_line(const struct policy_rule *r);
unsigned policy_rule_perms(const struct policy_rule *r);
/* The rule as written: "SUBJECT PATTERN PERMS", normalized whitespace. */
const char *policy_rule_text(const struct policy_rule *r);

/* Parses "read,write,..." into POLICY_* bits.  Returns 0 or -EINVAL. */
int policy_perms_parse(const char *s, unsigned *ret_perms);
/* Formats POLICY_* bits as "read,write" into buf ("-" for none). */
const char *policy_perms_format(unsigned perms, char *buf, size_t size);
