/* SPDX-License-Identifier: MIT */
#include "account.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* /etc/subuid is the administrator's: still, a bound. */
#define ACCOUNT_RANGES_MAX 65536

struct range {
        uid_t first;
        uid_t count;
        uid_t owner;
};

struct account_table {
        size_t n;
        struct range r[];
};

static int range_cmp(const void *a, const void *b) {
        const struct range *x = a, *y = b;
        return x->first < y->first ? -1 : x->first > y->first;
}

static bool parse_uid(const char *s, uid_t *ret) {
        char *end;
        errno = 0;
        unsigned long v = strtoul(s, &end, 10);
        if (errno || end == s || *end || v >= (uid_t) -1)
                return false;
        *ret = (uid_t) v;
        return true;
}

static bool owner_uid(const char *name, uid_t *ret) {
        if (parse_uid(name, ret))
                return true;
        struct passwd pw, *res = NULL;
        char buf[4096];
        if (getpwnam_r(name, &pw, buf, sizeof buf, &res) != 0 || !res)
                return false;
        *ret = res->pw_uid;
        return true;
}

int account_table_load(const char *path, struct account_table **ret) {
        _cleanup_free_ struct account_table *t = calloc(1, sizeof *t);
        size_t cap = 0;
        if (!t)
                return -ENOMEM;

        FILE *f = fopen(path, "re");
        if (!f) {
                if (errno != ENOENT)
                        return -errno;
                *ret = TAKE_PTR(t);
                return 0;
        }
        char line[512];
        while (fgets(line, sizeof line, f) && t->n < ACCOUNT_RANGES_MAX) {
                char *name = strtok(line, ":\n"), *first = strtok(NULL, ":\n"), *count = strtok(NULL, ":\n");
                struct range r;
                if (!name || !first || !count || name[0] == '#' || !parse_uid(first, &r.first) ||
                    !parse_uid(count, &r.count) || r.count == 0 || !owner_uid(name, &r.owner))
                        continue;
                if (t->n == cap) {
                        cap = cap ? cap * 2 : 16;
                        struct account_table *n = realloc(t, sizeof *t + cap * sizeof(struct range));
                        if (!n) {
                                fclose(f);
                                return -ENOMEM;
                        }
                        t = n;
                }
                t->r[t->n++] = r;
        }
        fclose(f);
        qsort(t->r, t->n, sizeof t->r[0], range_cmp);
        *ret = TAKE_PTR(t);
        return 0;
}

void account_table_free(struct account_table *t) {
        free(t);
}

uid_t account_of(const struct account_table *t, uid_t uid) {
        if (!t)
                return uid;
        size_t lo = 0, hi = t->n;
        /* The last range that starts at or below uid. */
        while (lo < hi) {
                size_t mid = lo + (hi - lo) / 2;
                if (t->r[mid].first <= uid)
                        lo = mid + 1;
                else
                        hi = mid;
        }
        if (lo > 0 && uid - t->r[lo - 1].first < t->r[lo - 1].count)
                return t->r[lo - 1].owner;
        return uid;
}
