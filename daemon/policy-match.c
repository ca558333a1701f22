/* SPDX-License-Identifier: MIT */
/* Decisions: one walk down the trie, following the path's components.
 * Literal children are one hash probe away; only wildcard and template
 * children are tried one by one.  Nothing here allocates, so a decision
 * cannot fail. */

#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "policy-internal.h"
#include "wire.h"

/* Room for a template component once expanded and escaped.  Names that do
 * not fit (far beyond LOGIN_NAME_MAX) match nothing. */
#define EXPAND_MAX (2 * (FDBR_WIRE_PATH_MAX + 1))

/* match_each reports rules in batches of this many, smallest index first:
 * a bounded buffer instead of a heap-allocated list of every match. */
#define COLLECT_MAX 128

enum walk_mode {
        WALK_VERDICT,
        WALK_COLLECT,
};

struct walk {
        const struct policy_subject *s;
        const char *end; /* one past the terminating NUL of the last component */
        enum walk_mode mode;

        /* WALK_VERDICT */
        unsigned need;
        unsigned granted;
        uint32_t first_deny, first_need, first_any;

        /* WALK_COLLECT: the smallest indexes >= lo, ascending */
        uint32_t lo;
        uint32_t buf[COLLECT_MAX];
        uint32_t n;
};

static uint32_t min_u32(uint32_t a, uint32_t b) {
        return a < b ? a : b;
}

static void collect(struct walk *w, uint32_t v) {
        uint32_t a = 0, b = w->n;

        while (a < b) {
                uint32_t m = a + (b - a) / 2;
                if (w->buf[m] < v)
                        a = m + 1;
                else
                        b = m;
        }
        /* The same list can be reached twice (a gid listed twice among the
         * groups): report each rule once. */
        if (a < w->n && w->buf[a] == v)
                return;
        if (a == COLLECT_MAX)
                return;
        if (w->n == COLLECT_MAX)
                w->n--;
        memmove(w->buf + a + 1, w->buf + a, (w->n - a) * sizeof w->buf[0]);
        w->buf[a] = v;
        w->n++;
}

static void visit_list(struct walk *w, const struct rule_list *l) {
        if (l->n == 0)
                return;

        if (w->mode == WALK_VERDICT) {
                w->granted |= l->granted;
                w->first_deny = min_u32(w->first_deny, l->first_deny);
                w->first_any = min_u32(w->first_any, l->first_any);
                for (unsigned b = 0; b < POLICY_N_ALLOW; b++)
                        if (w->need & (1u << b))
                                w->first_need = min_u32(w->first_need, l->first_perm[b]);
                return;
        }

        uint32_t a = 0, b = l->n;
        while (a < b) {
                uint32_t m = a + (b - a) / 2;
                if (l->idx[m] < w->lo)
                        a = m + 1;
                else
                        b = m;
        }
        for (; a < l->n; a++) {
                /* Ascending: once the batch is full and this one would not
                 * make it in, neither would the rest. */
                if (w->n == COLLECT_MAX && l->idx[a] > w->buf[COLLECT_MAX - 1])
                        break;
                collect(w, l->idx[a]);
        }
}

static void visit_id(struct walk *w, const struct id_map *m, uint32_t id) {
        const struct id_group *g = id_map_find(m, id);

        if (g)
                visit_list(w, &g->list);
}

static void visit_set(struct walk *w, const struct rule_set *rs) {
        const struct policy_subject *s = w->s;

        visit_list(w, &rs->any);
        if (rs->uids.n > 0)
                visit_id(w, &rs->uids, (uint32_t) s->uid);
        if (rs->gids.n > 0) {
                visit_id(w, &rs->gids, (uint32_t) s->gid);
                for (size_t i = 0; i < s->n_groups; i++)
                        if (s->groups[i] != s->gid)
                                visit_id(w, &rs->gids, (uint32_t) s->groups[i]);
        }
        if (rs->units.n > 0 && s->unit)
                for (uint32_t i = 0; i < rs->units.n; i++)
                        if (fnmatch(rs->units.v[i].glob, s->unit, 0) == 0)
                                visit_list(w, &rs->units.v[i].list);
}

/* Appends value to buf at *o, backslash-escaping what fnmatch would read
 * as a wildcard.  False when it does not fit or could never match. */
static bool expand_value(char *buf, size_t *o, const char *value, bool escape) {
        for (const char *v = value; *v; v++) {
                /* A component never holds '/': such a value matches nothing,
                 * rather than letting one name reach into another tree. */
                if (*v == '/')
                        return false;
                if (escape && strchr("*?[]\\", *v)) {
                        if (*o + 1 >= EXPAND_MAX)
                                return false;
                        buf[(*o)++] = '\\';
                }
                if (*o + 1 >= EXPAND_MAX)
                        return false;
                buf[(*o)++] = *v;
        }
        return true;
}

/* Kept out of walk_node(): its buffer must not sit in every frame of the
 * recursion. */
__attribute__((noinline)) static bool template_match(const struct pnode *n,
                                                     const struct policy_subject *s, const char *c,
                                                     size_t len) {
        bool glob = n->flags & COMP_GLOB;
        char buf[EXPAND_MAX];
        size_t o = 0;

        for (uint32_t i = 0; i < n->key_len; i++) {
                char num[16];
                const char *value = NULL;

                if (n->key[i] == '\\' && i + 1 < n->key_len) {
                        /* An escape is fnmatch's business: pass it on whole. */
                        if (o + 2 >= EXPAND_MAX)
                                return false;
                        buf[o++] = n->key[i++];
                        buf[o++] = n->key[i];
                        continue;
                }
                if (n->key[i] != '%') {
                        if (o + 1 >= EXPAND_MAX)
                                return false;
                        buf[o++] = n->key[i];
                        continue;
                }
                switch (n->key[++i]) {
                case 'U':
                        snprintf(num, sizeof num, "%u", (unsigned) s->uid);
                        value = num;
                        break;
                case 'G':
                        snprintf(num, sizeof num, "%u", (unsigned) s->gid);
                        value = num;
                        break;
                case 'u':
                        if (!s->user_name)
                                return false;
                        value = s->user_name;
                        break;
                default: /* "%%": a '%' is no wildcard, no escape needed */
                        value = "%";
                        break;
                }
                if (!expand_value(buf, &o, value, glob))
                        return false;
        }
        buf[o] = 0;

        if (!glob)
                return o == len && memcmp(buf, c, len) == 0;
        return fnmatch(buf, c, 0) == 0;
}

static bool wild_match(const struct pnode *n, const struct policy_subject *s, const char *c,
                       size_t len) {
        if (n->flags & COMP_TEMPLATE)
                return template_match(n, s, c, len);
        return fnmatch(n->key, c, 0) == 0;
}

/* c is the current component, NUL-terminated in the walk's copy of the
 * path, or NULL once the path is used up.  The trie is a tree and each node
 * sits at one depth, so every node is visited at most once. */
static void walk_node(struct walk *w, const struct pnode *n, const char *c) {
        if (!c) {
                if (n->exact)
                        visit_set(w, n->exact);
                return;
        }
        if (n->beneath)
                visit_set(w, n->beneath);
        if (n->n_children == 0)
                return;

        size_t len = strlen(c);
        const char *next = c + len + 1 < w->end ? c + len + 1 : NULL;

        if (n->n_children > n->n_wild) {
                uint32_t hash = n->child_index.mask ? hash_bytes(c, len) : 0;
                const struct pnode *child = pnode_find_child(n, NODE_LITERAL, c, len, hash);

                if (child)
                        walk_node(w, child, next);
        }
        for (uint32_t i = 0; i < n->n_wild; i++)
                if (wild_match(n->wild[i], w->s, c, len))
                        walk_node(w, n->wild[i], next);
}

/* Splits path into NUL-terminated components in buf and walks.  A path that
 * is not absolute and canonical matches nothing. */
static void walk(const struct policy *p, struct walk *w, const char *path, size_t path_len) {
        char buf[FDBR_WIRE_PATH_MAX + 1];

        if (!p || !path || wire_path_check(path, path_len) < 0)
                return;

        size_t n = path_len - 1;
        memcpy(buf, path + 1, n);
        buf[n] = 0;
        for (size_t i = 0; i < n; i++)
                if (buf[i] == '/')
                        buf[i] = 0;
        w->end = buf + n + 1;
        walk_node(w, &p->root, n > 0 ? buf : NULL);
}

void policy_match(const struct policy *p, const struct policy_subject *s, const char *path,
                  size_t path_len, unsigned need, struct policy_verdict *ret) {
        struct walk w = {
                .s = s,
                .mode = WALK_VERDICT,
                .need = need & POLICY_ALLOW_MASK,
                .first_deny = RULE_NONE,
                .first_need = RULE_NONE,
                .first_any = RULE_NONE,
        };

        walk(p, &w, path, path_len);

        uint32_t cite = w.first_deny != RULE_NONE   ? w.first_deny
                        : w.first_need != RULE_NONE ? w.first_need
                                                    : w.first_any;
        *ret = (struct policy_verdict) {
                .granted = w.granted,
                .denied = w.first_deny != RULE_NONE,
                .rule = cite != RULE_NONE ? p->rules[cite] : NULL,
        };
}

void policy_match_each(const struct policy *p, const struct policy_subject *s, const char *path,
                       size_t path_len, void (*fn)(const struct policy_rule *r, void *userdata),
                       void *userdata) {
        struct walk w = {
                .s = s,
                .mode = WALK_COLLECT,
        };

        for (;;) {
                w.n = 0;
                walk(p, &w, path, path_len);
                for (uint32_t i = 0; i < w.n; i++)
                        fn(p->rules[w.buf[i]], userdata);
                if (w.n < COLLECT_MAX)
                        return;
                w.lo = w.buf[COLLECT_MAX - 1] + 1;
        }
}
