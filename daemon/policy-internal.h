/* SPDX-License-Identifier: MIT */
#pragma once

/* What the parser, the index and the matcher share.  Nothing outside
 * daemon/policy-*.c includes this. */

#include <stdint.h>
#include <string.h>

#include "hash.h"
#include "policy.h"

#define POLICY_ALLOW_MASK                                                                               \
        (POLICY_READ | POLICY_WRITE | POLICY_CREATE | POLICY_DIR | POLICY_DEVICE | POLICY_FOLLOW |     \
         POLICY_STAT | POLICY_APPEND | POLICY_DELETE)
/* Bits a rule list keeps a "first rule granting it" for: every POLICY_*
 * below POLICY_OWNER (POLICY_DENY's slot is simply never filled). */
#define POLICY_N_BITS 10

/* A `**` that is not the last component matches zero or more components;
 * one walk remembers at most this many of them (see policy-match.c). */
#define STAR_MEMO_MAX 256

/* Sorts after every real rule index, so that min() needs no special case. */
#define RULE_NONE UINT32_MAX

/* Below this many entries a linear scan beats hashing, and saves memory in
 * the common node with one or two children. */
#define HINDEX_LINEAR_MAX 8

struct policy_rule {
        const char *file; /* owned by policy->files */
        unsigned line;
        unsigned perms;
        uint32_t index; /* position in file order */
        uint8_t subject_kind; /* enum subject_kind */
        uint32_t subject_id;  /* SUBJECT_UID, SUBJECT_GID */
        uint32_t pattern_off, pattern_len; /* the pattern within text */
        const char *unit_glob; /* SUBJECT_UNIT: NUL-terminated, after text */
        char text[];    /* "SUBJECT PATTERN PERMS" */
};

/* Open addressing over a dense array owned by someone else: a slot holds
 * the array position + 1, 0 is empty.  mask == 0 means "not built yet, scan
 * the array". */
struct hindex {
        uint32_t *slots;
        uint32_t mask;
};

/* Rules of one subject key at one trie node, ascending index.  The
 * aggregates let a verdict use the list in constant time whatever its
 * length. */
struct rule_list {
        uint32_t *idx;
        uint32_t n, cap;
        unsigned granted;       /* by rules without `owner` */
        unsigned owner_granted; /* by rules with `owner` */
        uint32_t first_deny;
        uint32_t first_any;
        uint32_t first_perm[POLICY_N_BITS];
};

struct id_group {
        uint32_t id;
        struct rule_list list;
};

struct id_map {
        struct id_group *v;
        uint32_t n, cap;
        struct hindex index;
};

struct unit_group {
        char *glob;
        uint32_t hash;
        struct rule_list list;
};

struct unit_map {
        struct unit_group *v;
        uint32_t n, cap;
        struct hindex index;
};

/* The rules that end at one place of the trie, split by subject so that a
 * lookup touches only the lists the client can match. */
struct rule_set {
        struct rule_list any;
        struct id_map uids;
        struct id_map gids;
        struct unit_map units;
};

enum {
        NODE_LITERAL,
        NODE_WILD,
        /* Apart from NODE_WILD so that "%%u*" (a literal '%') and "%u*" (the
         * user's name) never share a node, though their keys are equal. */
        NODE_TEMPLATE,
        /* "**" not last: zero or more components.  Kept with the wild
         * children but never matched against one component. */
        NODE_STAR,
};

enum {
        COMP_GLOB = 1u << 0,      /* holds * ? [ or \ : needs fnmatch */
        COMP_TEMPLATE = 1u << 1,  /* holds %U %u %G: expanded per lookup */
        COMP_USER_NAME = 1u << 2, /* holds %u */
        COMP_HOME = 1u << 3,      /* the pattern begins with %h */
        COMP_STAR = 1u << 4,      /* a "**" before the last component */
};

struct pnode {
        char *key; /* literal: the bytes to compare; wild: the component as written */
        uint32_t key_len;
        uint32_t hash; /* of key */
        uint8_t kind;
        uint8_t flags; /* COMP_* */

        struct pnode **children; /* literal and wild, in insertion order */
        uint32_t n_children, cap_children;
        struct hindex child_index;

        struct pnode **wild; /* the wild ones again, the only ones tried one by one */
        uint32_t n_wild, cap_wild;

        struct rule_set *exact;   /* rules whose pattern ends here */
        struct rule_set *beneath; /* rules whose pattern ends here in a final "**" */
};

struct policy {
        unsigned n_ref;
        struct policy_rule **rules;
        uint32_t n_rules, cap_rules;
        char **files;
        size_t n_files, cap_files;
        struct pnode root;
        struct pnode home_root; /* patterns "%h/...", below the subject's home */
        bool has_unit_rules;
        bool uses_user_name;
        bool uses_home;
};

enum subject_kind {
        SUBJECT_ANY,
        SUBJECT_UID,
        SUBJECT_GID,
        SUBJECT_UNIT,
        /* user= or group= with a name nobody has: the rule matches no one. */
        SUBJECT_NONE,
};

struct subject_spec {
        enum subject_kind kind;
        uint32_t id;
        const char *unit_glob; /* SUBJECT_UNIT only; borrowed */
};


struct name_entry {
        char *name;
        uint32_t hash;
        uint32_t id;
};

struct name_cache {
        struct name_entry *v;
        uint32_t n, cap;
        struct hindex index;
        unsigned n_lookups;
        bool enumerated;
};

/* Lives as long as one load. */
struct policy_names {
        struct name_cache users;
        struct name_cache groups;
};

/* policy-names.c: returns 0, -ESRCH for an unknown name, or -errno. */
int policy_names_user(struct policy_names *names, const char *name, uint32_t *ret_uid);
int policy_names_group(struct policy_names *names, const char *name, uint32_t *ret_gid);
void policy_names_done(struct policy_names *names);

/* policy-syntax.c: checks of single tokens.  On failure each fills msg
 * with the diagnostic and returns -EINVAL (or -ENOMEM).  policy_syntax_subject
 * returns 1 with a warning in msg and SUBJECT_NONE for an unknown name. */
int policy_syntax_subject(const char *tok, struct policy_names *names, struct subject_spec *ret,
                          char *msg, size_t size);
int policy_syntax_pattern(const char *tok, unsigned *ret_flags, char *msg, size_t size);
int policy_syntax_perms(const char *tok, unsigned *ret_perms, char *msg, size_t size);
/* Classifies one pattern component; returns 0 or -EINVAL with *ret_bad
 * pointing at the offending character and *ret_why saying what is wrong
 * (NULL: an unknown template, at its '%'). */
int policy_syntax_component(const char *c, size_t n, unsigned *ret_flags, const char **ret_bad,
                            const char **ret_why);
/* Writes at most max bytes of s into buf for a message, non-printable
 * bytes escaped, "..." when cut, in single quotes if quote. */
const char *policy_escape(char *buf, size_t size, const char *s, size_t max, bool quote);
/* Writes s as a quoted token for a message: non-printable bytes escaped,
 * long tokens shortened. */
const char *policy_syntax_quote(char *buf, size_t size, const char *s);

/* policy-index.c */
int policy_grow_array(void **v, uint32_t *cap, uint32_t n, size_t elem);
/* Makes room for element n of the array v: doubles its capacity when full. */
#define GROW(v, cap, n) policy_grow_array((void **) &(v), &(cap), (n), sizeof *(v))

typedef uint32_t (*policy_hash_at_t)(const void *array, uint32_t pos);
/* To be called once entry n - 1 has been appended to array: indexes it,
 * building or growing the table as the array grows past a few entries. */
int policy_hindex_added(struct hindex *h, uint32_t n, policy_hash_at_t hash_at, const void *array);

/* pattern is the whole pattern; one beginning with "%h" hangs off
 * p->home_root. */
int policy_index_add(struct policy *p, const char *pattern, const struct subject_spec *subject,
                     const struct policy_rule *rule);
void policy_index_free(struct pnode *root);

/* policy-match.c, for tests: how many trie nodes one decision visits. */
unsigned long policy_match_steps(const struct policy *p, const struct policy_subject *s, const char *path,
                                 size_t path_len);
/* Whether rule r's subject is s (the path aside). */
bool policy_rule_subject_matches(const struct policy_rule *r, const struct policy_subject *s);

/* Lookups shared by the index (while building) and the matcher. */

static inline const struct id_group *id_map_find(const struct id_map *m, uint32_t id) {
        if (m->index.mask == 0) {
                for (uint32_t i = 0; i < m->n; i++)
                        if (m->v[i].id == id)
                                return &m->v[i];
                return NULL;
        }
        for (uint32_t i = hash_id(id) & m->index.mask;; i = (i + 1) & m->index.mask) {
                uint32_t s = m->index.slots[i];

                if (s == 0)
                        return NULL;
                if (m->v[s - 1].id == id)
                        return &m->v[s - 1];
        }
}

static inline bool pnode_key_eq(const struct pnode *n, unsigned kind, const char *key, size_t len) {
        return n->kind == kind && n->key_len == len && memcmp(n->key, key, len) == 0;
}

/* hash must be hash_bytes(key, len) when the node has a hash index; it is
 * not looked at otherwise. */
static inline const struct pnode *pnode_find_child(const struct pnode *n, unsigned kind, const char *key,
                                                   size_t len, uint32_t hash) {
        if (n->child_index.mask == 0) {
                for (uint32_t i = 0; i < n->n_children; i++)
                        if (pnode_key_eq(n->children[i], kind, key, len))
                                return n->children[i];
                return NULL;
        }
        for (uint32_t i = hash & n->child_index.mask;; i = (i + 1) & n->child_index.mask) {
                uint32_t s = n->child_index.slots[i];

                if (s == 0)
                        return NULL;
                const struct pnode *c = n->children[s - 1];
                if (c->hash == hash && pnode_key_eq(c, kind, key, len))
                        return c;
        }
}

/* Expands the templates %U, %G, %u (and %%) of key[0..n) for s into buf
 * at *o, NUL-terminated; with escape, what a value holds that fnmatch
 * would read as a wildcard is escaped.  False when a value is unknown or
 * holds a '/', or the result does not fit size bytes. */
bool policy_expand(const char *key, size_t n, const struct policy_subject *s, bool escape, char *buf, size_t size,
                   size_t *o);
