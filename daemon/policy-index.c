/* SPDX-License-Identifier: MIT */
/* The index: a trie over path components, built once at load time, so
 * that a decision costs what the path is long, not what the policy is.
 * Every place a pattern can end keeps its rules split by subject. */

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy-internal.h"

int policy_grow_array(void **v, uint32_t *cap, uint32_t n, size_t elem) {
        if (n < *cap)
                return 0;
        if (*cap > UINT32_MAX / 4)
                return -ENOMEM;

        /* Most lists hold one rule: start small, double after. */
        uint32_t c = *cap ? *cap * 2 : 1;
        void *nv = reallocarray(*v, c, elem);
        if (!nv)
                return -ENOMEM;
        *v = nv;
        *cap = c;
        return 0;
}

static int hindex_rebuild(struct hindex *h, uint32_t n, policy_hash_at_t hash_at, const void *array) {
        uint32_t cap = 32;

        /* At most half full: probe sequences stay short. */
        while (cap < n * 2)
                cap *= 2;
        uint32_t *slots = calloc(cap, sizeof *slots);
        if (!slots)
                return -ENOMEM;
        for (uint32_t pos = 0; pos < n; pos++) {
                uint32_t i = hash_at(array, pos) & (cap - 1);

                while (slots[i])
                        i = (i + 1) & (cap - 1);
                slots[i] = pos + 1;
        }
        free(h->slots);
        h->slots = slots;
        h->mask = cap - 1;
        return 0;
}

int policy_hindex_added(struct hindex *h, uint32_t n, policy_hash_at_t hash_at, const void *array) {
        if (n <= HINDEX_LINEAR_MAX)
                return 0;
        if (h->mask == 0 || n * 2 > h->mask + 1)
                return hindex_rebuild(h, n, hash_at, array);

        uint32_t i = hash_at(array, n - 1) & h->mask;
        while (h->slots[i])
                i = (i + 1) & h->mask;
        h->slots[i] = n;
        return 0;
}

static uint32_t id_hash_at(const void *array, uint32_t pos) {
        return hash_id(((const struct id_group *) array)[pos].id);
}

static uint32_t unit_hash_at(const void *array, uint32_t pos) {
        return ((const struct unit_group *) array)[pos].hash;
}

static uint32_t child_hash_at(const void *array, uint32_t pos) {
        return ((struct pnode *const *) array)[pos]->hash;
}

static void rule_list_init(struct rule_list *l) {
        *l = (struct rule_list) {
                .first_deny = RULE_NONE,
                .first_any = RULE_NONE,
        };
        for (size_t b = 0; b < POLICY_N_BITS; b++)
                l->first_perm[b] = RULE_NONE;
}

static void rule_list_done(struct rule_list *l) {
        free(l->idx);
}

/* Rules arrive in file order, so "first" is simply "first added". */
static int rule_list_add(struct rule_list *l, const struct policy_rule *r) {
        int k = GROW(l->idx, l->cap, l->n);
        if (k < 0)
                return k;
        l->idx[l->n++] = r->index;

        if (l->first_any == RULE_NONE)
                l->first_any = r->index;
        if (r->perms & POLICY_DENY) {
                if (l->first_deny == RULE_NONE)
                        l->first_deny = r->index;
                return 0;
        }
        unsigned eff = policy_perms_effective(r->perms);
        if (r->perms & POLICY_OWNER)
                l->owner_granted |= eff;
        else
                l->granted |= eff;
        for (size_t b = 0; b < POLICY_N_BITS; b++)
                if ((eff & (1u << b)) && l->first_perm[b] == RULE_NONE)
                        l->first_perm[b] = r->index;
        return 0;
}

static int id_map_add(struct id_map *m, uint32_t id, const struct policy_rule *r) {
        struct id_group *g = (struct id_group *) id_map_find(m, id);
        int k;

        if (!g) {
                k = GROW(m->v, m->cap, m->n);
                if (k < 0)
                        return k;
                g = &m->v[m->n++];
                g->id = id;
                rule_list_init(&g->list);
                k = policy_hindex_added(&m->index, m->n, id_hash_at, m->v);
                if (k < 0)
                        return k;
        }
        return rule_list_add(&g->list, r);
}

static struct unit_group *unit_map_find(struct unit_map *m, const char *glob, uint32_t hash) {
        if (m->index.mask == 0) {
                for (uint32_t i = 0; i < m->n; i++)
                        if (strcmp(m->v[i].glob, glob) == 0)
                                return &m->v[i];
                return NULL;
        }
        for (uint32_t i = hash & m->index.mask;; i = (i + 1) & m->index.mask) {
                uint32_t s = m->index.slots[i];

                if (s == 0)
                        return NULL;
                if (m->v[s - 1].hash == hash && strcmp(m->v[s - 1].glob, glob) == 0)
                        return &m->v[s - 1];
        }
}

/* Rules with the same unit glob share a list, so the glob is matched once
 * per decision however many rules use it. */
static int unit_map_add(struct unit_map *m, const char *glob, const struct policy_rule *r) {
        uint32_t hash = hash_bytes(glob, strlen(glob));
        struct unit_group *g = unit_map_find(m, glob, hash);
        int k;

        if (!g) {
                _cleanup_free_ char *copy = strdup(glob);
                if (!copy)
                        return -ENOMEM;
                k = GROW(m->v, m->cap, m->n);
                if (k < 0)
                        return k;
                g = &m->v[m->n++];
                g->glob = TAKE_PTR(copy);
                g->hash = hash;
                rule_list_init(&g->list);
                k = policy_hindex_added(&m->index, m->n, unit_hash_at, m->v);
                if (k < 0)
                        return k;
        }
        return rule_list_add(&g->list, r);
}

static struct rule_set *rule_set_new(void) {
        struct rule_set *rs = calloc(1, sizeof *rs);

        if (rs)
                rule_list_init(&rs->any);
        return rs;
}

static void rule_set_free(struct rule_set *rs) {
        if (!rs)
                return;
        rule_list_done(&rs->any);
        for (uint32_t i = 0; i < rs->uids.n; i++)
                rule_list_done(&rs->uids.v[i].list);
        free(rs->uids.v);
        free(rs->uids.index.slots);
        for (uint32_t i = 0; i < rs->gids.n; i++)
                rule_list_done(&rs->gids.v[i].list);
        free(rs->gids.v);
        free(rs->gids.index.slots);
        for (uint32_t i = 0; i < rs->units.n; i++) {
                free(rs->units.v[i].glob);
                rule_list_done(&rs->units.v[i].list);
        }
        free(rs->units.v);
        free(rs->units.index.slots);
        free(rs);
}

static int rule_set_add(struct rule_set *rs, const struct subject_spec *s, const struct policy_rule *r) {
        switch (s->kind) {
        case SUBJECT_ANY:
                return rule_list_add(&rs->any, r);
        case SUBJECT_UID:
                return id_map_add(&rs->uids, s->id, r);
        case SUBJECT_GID:
                return id_map_add(&rs->gids, s->id, r);
        case SUBJECT_UNIT:
                return unit_map_add(&rs->units, s->unit_glob, r);
        case SUBJECT_NONE:
                break;
        }
        return -EINVAL;
}

static void pnode_done(struct pnode *n) {
        for (uint32_t i = 0; i < n->n_children; i++) {
                pnode_done(n->children[i]);
                free(n->children[i]);
        }
        free(n->children);
        free(n->child_index.slots);
        free(n->wild);
        free(n->key);
        rule_set_free(n->exact);
        rule_set_free(n->beneath);
}

void policy_index_free(struct pnode *root) {
        pnode_done(root);
        *root = (struct pnode) {};
}

/* Finds or makes the child of parent for one (valid) pattern component. */
static int pnode_child(struct pnode *parent, const char *c, size_t n, struct pnode **ret) {
        const char *bad, *why;
        unsigned flags;
        int k;

        k = policy_syntax_component(c, n, &flags, &bad, &why);
        if (k < 0)
                return k;

        _cleanup_free_ char *key = strndup(c, n);
        if (!key)
                return -ENOMEM;
        size_t len = n;
        unsigned kind = n == 2 && c[0] == '*' && c[1] == '*' ? NODE_STAR
                        : flags & COMP_TEMPLATE                  ? NODE_TEMPLATE
                        : flags & COMP_GLOB                      ? NODE_WILD
                                                                 : NODE_LITERAL;
        if (!(flags & COMP_TEMPLATE)) {
                /* Nothing to expand per lookup: turn "%%" into the '%' it
                 * stands for now ('%' means nothing to fnmatch either).  An
                 * escaped character is copied with its backslash, untouched. */
                size_t o = 0;
                for (size_t i = 0; i < n; i++) {
                        key[o++] = key[i];
                        if (key[i] == '\\' && i + 1 < n)
                                key[o++] = key[++i];
                        else if (key[i] == '%')
                                i++;
                }
                key[o] = 0;
                len = o;
        }
        uint32_t hash = hash_bytes(key, len);

        struct pnode *child = (struct pnode *) pnode_find_child(parent, kind, key, len, hash);
        if (child) {
                *ret = child;
                return 0;
        }

        k = GROW(parent->children, parent->cap_children, parent->n_children);
        if (k < 0)
                return k;
        if (kind != NODE_LITERAL) {
                k = GROW(parent->wild, parent->cap_wild, parent->n_wild);
                if (k < 0)
                        return k;
        }
        child = calloc(1, sizeof *child);
        if (!child)
                return -ENOMEM;
        child->key = TAKE_PTR(key);
        child->key_len = (uint32_t) len;
        child->hash = hash;
        child->kind = (uint8_t) kind;
        child->flags = (uint8_t) flags;

        parent->children[parent->n_children++] = child;
        if (kind != NODE_LITERAL)
                parent->wild[parent->n_wild++] = child;
        k = policy_hindex_added(&parent->child_index, parent->n_children, child_hash_at,
                                parent->children);
        if (k < 0)
                return k;
        *ret = child;
        return 0;
}

int policy_index_add(struct policy *p, const char *pattern, const struct subject_spec *subject,
                     const struct policy_rule *rule) {
        struct pnode *n = &p->root;
        int k;

        if (pattern[0] == '%' && pattern[1] == 'h') {
                /* Everything after the home hangs off a trie of its own,
                 * walked from wherever the subject's home ends. */
                n = &p->home_root;
                pattern += 2;
                if (!*pattern)
                        pattern = "/";
        }
        if (pattern[0] != '/')
                return -EINVAL;

        struct rule_set **slot = &n->exact;

        if (pattern[1] != 0)
                for (const char *c = pattern + 1;;) {
                        const char *end = strchrnul(c, '/');
                        size_t len = (size_t) (end - c);

                        bool star = len == 2 && c[0] == '*' && c[1] == '*';

                        if (star && !*end) {
                                slot = &n->beneath;
                                break;
                        }
                        /* "**" then "**" again is "**" once: one star node
                         * fewer for every walk to keep track of. */
                        if (star && n->kind == NODE_STAR && n != &p->root && n != &p->home_root) {
                                c = end + 1;
                                continue;
                        }
                        k = pnode_child(n, c, len, &n);
                        if (k < 0)
                                return k;
                        slot = &n->exact;
                        if (!*end)
                                break;
                        c = end + 1;
                }

        if (!*slot) {
                *slot = rule_set_new();
                if (!*slot)
                        return -ENOMEM;
        }
        return rule_set_add(*slot, subject, rule);
}
