/* SPDX-License-Identifier: MIT */
/* Decisions: one walk down the trie, following the path's components.
 * Literal children are one hash probe away; only wildcard and template
 * children are tried one by one.  Nothing here allocates.
 *
 * A "**" that is not last matches zero or more components.  Tried naively,
 * a pattern "a, **, **, **, b" against a deep path is exponential in the
 * number of such stars.  Instead each star node remembers the lowest
 * path position it was entered at during this walk: entered again at or
 * after it, it has nothing new to do.  So each (star node, position) pair
 * is worked once, and everything beneath a star (a tree again) once per
 * position: a decision costs at most nodes x components.  A walk that would
 * meet more than STAR_MEMO_MAX distinct star nodes stops and denies (the
 * verdict says denied and cites no rule): the safe answer to a policy that
 * no sane operator writes. */

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

struct star_memo {
        const struct pnode *node;
        uint32_t pos; /* the lowest position it was entered at */
};

struct walk {
        const struct policy_subject *s;
        const char *start; /* the first component: positions count from here */
        const char *end; /* one past the terminating NUL of the last component */
        enum walk_mode mode;
        unsigned long steps;
        bool overflow; /* too many star nodes: the walk denies */
        struct star_memo *memo; /* STAR_MEMO_MAX, on walk()'s stack: not zeroed per decision */
        uint32_t n_memo;

        /* WALK_VERDICT */
        unsigned need;
        unsigned granted, owner_granted;
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
                w->owner_granted |= l->owner_granted;
                w->first_deny = min_u32(w->first_deny, l->first_deny);
                w->first_any = min_u32(w->first_any, l->first_any);
                for (unsigned b = 0; b < POLICY_N_BITS; b++)
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

/* Kept out of walk_node(): its buffer must not sit in every frame of the
 * recursion. */
__attribute__((noinline)) static bool template_match(const struct pnode *n,
                                                     const struct policy_subject *s, const char *c,
                                                     size_t len) {
        bool glob = n->flags & COMP_GLOB;
        char buf[EXPAND_MAX];
        size_t o = 0;

        if (!policy_expand(n->key, n->key_len, s, glob, buf, sizeof buf, &o))
                return false;

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

static const char *next_component(const struct walk *w, const char *c) {
        size_t len = strlen(c);

        return c + len + 1 < w->end ? c + len + 1 : NULL;
}

static uint32_t position(const struct walk *w, const char *c) {
        return (uint32_t) ((c ? c : w->end) - w->start);
}

static void walk_node(struct walk *w, const struct pnode *n, const char *c);

/* Star node g, reached with c still to match: g may eat zero or more
 * components, so its children are tried at c and at every later one. */
static void enter_star(struct walk *w, const struct pnode *g, const char *c) {
        uint32_t pos = position(w, c), stop = UINT32_MAX;
        struct star_memo *m = NULL;

        for (uint32_t i = 0; i < w->n_memo; i++)
                if (w->memo[i].node == g) {
                        m = &w->memo[i];
                        break;
                }
        if (m) {
                if (m->pos <= pos)
                        return;
                /* Positions from m->pos on were worked already. */
                stop = m->pos;
                m->pos = pos;
        } else {
                if (w->n_memo == STAR_MEMO_MAX) {
                        w->overflow = true;
                        return;
                }
                w->memo[w->n_memo++] = (struct star_memo) { .node = g, .pos = pos };
        }

        for (;;) {
                walk_node(w, g, c);
                if (!c)
                        return;
                c = next_component(w, c);
                if (position(w, c) >= stop)
                        return;
        }
}

/* c is the current component, NUL-terminated in the walk's copy of the
 * path, or NULL once the path is used up. */
static void walk_node(struct walk *w, const struct pnode *n, const char *c) {
        w->steps++;
        if (w->overflow)
                return;
        if (!c) {
                if (n->exact)
                        visit_set(w, n->exact);
                /* A star may match no component at all. */
                for (uint32_t i = 0; i < n->n_wild; i++)
                        if (n->wild[i]->kind == NODE_STAR)
                                enter_star(w, n->wild[i], NULL);
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
        for (uint32_t i = 0; i < n->n_wild; i++) {
                const struct pnode *child = n->wild[i];

                if (child->kind == NODE_STAR)
                        enter_star(w, child, c);
                else if (wild_match(child, w->s, c, len))
                        walk_node(w, child, next);
        }
}

static bool under_proc(const char *path, size_t path_len) {
        return path_len >= 5 && memcmp(path, "/proc", 5) == 0 && (path_len == 5 || path[5] == '/');
}

/* The number of components of home when path lies at or beneath it, else
 * -1.  A home that is not absolute and canonical is nobody's. */
static ssize_t home_depth(const char *home, const char *path, size_t path_len) {
        size_t hl;

        if (!home)
                return -1;
        hl = strlen(home);
        if (wire_path_check(home, hl) < 0)
                return -1;
        if (hl == 1)
                return 0; /* "/" */
        if (path_len < hl || memcmp(path, home, hl) != 0 || (path_len > hl && path[hl] != '/'))
                return -1;
        ssize_t k = 0;
        for (size_t i = 0; i < hl; i++)
                if (home[i] == '/')
                        k++;
        return k;
}

/* Splits path into NUL-terminated components in buf and walks.  A path that
 * is not absolute and canonical matches nothing, nor does one under /proc. */
static void walk(const struct policy *p, struct walk *w, const char *path, size_t path_len) {
        char buf[FDBR_WIRE_PATH_MAX + 1];
        struct star_memo memo[STAR_MEMO_MAX];

        if (!p || !path || wire_path_check(path, path_len) < 0 || under_proc(path, path_len))
                return;

        size_t n = path_len - 1;
        memcpy(buf, path + 1, n);
        buf[n] = 0;
        for (size_t i = 0; i < n; i++)
                if (buf[i] == '/')
                        buf[i] = 0;
        w->start = buf;
        w->end = buf + n + 1;
        w->memo = memo;
        w->n_memo = 0;
        walk_node(w, &p->root, n > 0 ? buf : NULL);

        if (p->uses_home) {
                ssize_t k = home_depth(w->s->home, path, path_len);

                if (k >= 0) {
                        const char *c = n > 0 ? buf : NULL;

                        for (ssize_t i = 0; i < k && c; i++)
                                c = next_component(w, c);
                        /* Another trie: its star nodes are its own. */
                        walk_node(w, &p->home_root, c);
                }
        }
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

        if (w.overflow) {
                *ret = (struct policy_verdict) { .denied = true };
                return;
        }
        uint32_t cite = w.first_deny != RULE_NONE   ? w.first_deny
                        : w.first_need != RULE_NONE ? w.first_need
                                                    : w.first_any;
        *ret = (struct policy_verdict) {
                .granted = w.granted | w.owner_granted,
                /* What a rule without `owner` gives holds for any file. */
                .owner_only = w.owner_granted & ~w.granted,
                .denied = w.first_deny != RULE_NONE,
                .rule = cite != RULE_NONE ? p->rules[cite] : NULL,
        };
}

unsigned long policy_match_steps(const struct policy *p, const struct policy_subject *s, const char *path,
                                 size_t path_len) {
        struct walk w = {
                .s = s,
                .mode = WALK_VERDICT,
                .first_deny = RULE_NONE,
                .first_need = RULE_NONE,
                .first_any = RULE_NONE,
        };

        walk(p, &w, path, path_len);
        return w.steps;
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
                w.overflow = false;
                walk(p, &w, path, path_len);
                if (w.overflow)
                        return;
                for (uint32_t i = 0; i < w.n; i++)
                        fn(p->rules[w.buf[i]], userdata);
                if (w.n < COLLECT_MAX)
                        return;
                w.lo = w.buf[COLLECT_MAX - 1] + 1;
        }
}
