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
 * file as a whole (cannot open it, not owned by root, ...). */
typedef void (*policy_diag_t)(const char *file, unsigned line, const char *message, void *userdata);

/* Parses path and everything it includes.  Returns 0 and a policy with one
 * reference, or a negative errno (-EINVAL when any error was reported
 * through diag; every problem is reported, not only the first).  Warnings
 * (an unknown user= or group= name, a file an include glob skips) do not
 * fail the load; they reach diag as "warning: reason".
 *
 * Every file read must be a regular file owned by root and writable by no
 * one else (group-writable only for group 0), checked on the open file. */
int policy_load(const char *path, policy_diag_t diag, void *userdata, struct policy **ret_policy);

struct policy_load_options {
        policy_diag_t diag; /* errors */
        policy_diag_t warn; /* warnings; NULL: to diag as "warning: reason" */
        void *userdata;     /* for both */
        bool strict;        /* a warning fails the load as an error does */
};

int policy_load_with(const char *path, const struct policy_load_options *o, struct policy **ret_policy);

/* Same, from a string (for tests and fuzzing); includes are resolved
 * relative to the current directory, name is used in diagnostics.  The
 * string itself is not a file: no ownership check (included files get it). */
int policy_load_string(const char *name, const char *text, size_t len, policy_diag_t diag,
                       void *userdata, struct policy **ret_policy);

struct policy *policy_ref(struct policy *p);
void policy_unref(struct policy *p);

/* Decides: which rules match subject and path.  A path under /proc (or
 * /proc itself) matches no rule whatever the patterns say: only a wildcard
 * could reach there, since a pattern under /proc is refused at load.  need is the set of
 * POLICY_* permissions the request asks for; it only selects the rule to
 * cite in ret->rule: the first matching deny rule if any, else the first
 * matching rule (in file order) that grants part of need, else the first
 * matching rule at all, else NULL.  path must be absolute and canonical (the
 * caller checked). */
void policy_match(const struct policy *p, const struct policy_subject *s, const char *path,
                  size_t path_len, unsigned need, struct policy_verdict *ret);

/* What the permissions of one allow rule give on their path: `stat` comes
 * with every permission that touches the file, and `owner` is dropped. */
unsigned policy_perms_effective(unsigned perms);

/* True when the verdict allows everything in need. */
static inline bool policy_verdict_allows(const struct policy_verdict *v, unsigned need) {
        return !v->denied && (need & ~v->granted) == 0;
}

/* Calls fn for every rule that matches subject and path, in file order. */
void policy_match_each(const struct policy *p, const struct policy_subject *s, const char *path,
                       size_t path_len, void (*fn)(const struct policy_rule *r, void *userdata),
                       void *userdata);

/* Calls fn, in file order, for every rule whose subject is s, whatever its
 * path: the rules that apply to a client. */
void policy_subject_each(const struct policy *p, const struct policy_subject *s,
                         void (*fn)(const struct policy_rule *r, void *userdata), void *userdata);

/* Writes the allow rules whose subject is s as "PATTERN PERMISSIONS\n"
 * lines, in file order, each pattern expanded for s (%u %U %G %h; an
 * expanded value that a wildcard could misread is backslash-escaped).  A
 * rule whose pattern cannot be expanded for s (no user name, no usable
 * home) is left out: it matches nothing for s.  Returns 0 and the length
 * in *ret_len, or -E2BIG when it does not fit size bytes. */
int policy_grants(const struct policy *p, const struct policy_subject *s, char *buf, size_t size,
                  size_t *ret_len);
/* The pattern of r expanded for s into buf, NUL-terminated; NULL when it
 * cannot be expanded for s or does not fit. */
const char *policy_rule_pattern_for(const struct policy_rule *r, const struct policy_subject *s, char *buf,
                                    size_t size);

size_t policy_rule_count(const struct policy *p);
size_t policy_file_count(const struct policy *p); /* files read, includes too */
bool policy_has_unit_rules(const struct policy *p);
bool policy_uses_user_name(const struct policy *p);   /* some pattern holds %u */
bool policy_uses_home(const struct policy *p);        /* some pattern begins with %h */

const char *policy_rule_file(const struct policy_rule *r);
unsigned policy_rule_line(const struct policy_rule *r);
unsigned policy_rule_perms(const struct policy_rule *r);
/* The rule as written: "SUBJECT PATTERN PERMS", normalized whitespace. */
const char *policy_rule_text(const struct policy_rule *r);

/* Parses "read,write,..." into POLICY_* bits.  Returns 0 or -EINVAL. */
int policy_perms_parse(const char *s, unsigned *ret_perms);
/* Formats POLICY_* bits as "read,write" into buf ("-" for none). */
const char *policy_perms_format(unsigned perms, char *buf, size_t size);
