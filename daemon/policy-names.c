/* SPDX-License-Identifier: MIT */
/* user= and group= names to ids, at load time.
 *
 * One getpwnam_r() per name is right for a handful of rules.  With a rule
 * per user and a large /etc/passwd, each lookup scans the whole file again
 * and a load turns quadratic (seconds for 10,000 users).  Past a few
 * lookups, the database is therefore enumerated once into a hash table.
 * Enumeration walks the NSS sources in nsswitch.conf order, so the first
 * entry seen for a name is the one getpwnam_r() would return.  A name the
 * enumeration did not yield (a directory service that does not enumerate)
 * is still asked for directly: the table only ever saves lookups. */

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"
#include "policy-internal.h"

/* Lookups one by one before enumerating pays off. */
#define ENUMERATE_AFTER 32
/* NSS answers that do not fit in this are refused rather than chased. */
#define NSS_BUFFER_MAX (1u << 20)
/* The table never holds more than this, whatever the directory holds. */
#define NAME_CACHE_MAX (1u << 20)

static bool nss_not_found(int r) {
        /* getpwnam_r(3) lists these as "not found" answers. */
        return r == 0 || r == ENOENT || r == ESRCH || r == EBADF || r == EPERM;
}

/* getpwnam_r and getgrnam_r share a calling convention, not their types:
 * one adapter each, one loop growing the buffer. */
typedef int (*nss_get_t)(const char *name, char *buf, size_t size, uint32_t *ret_id, bool *ret_found);

static int get_user(const char *name, char *buf, size_t size, uint32_t *ret_id, bool *ret_found) {
        struct passwd pw, *res = NULL;
        int r = getpwnam_r(name, &pw, buf, size, &res);
        if (r == 0 && res) {
                *ret_id = (uint32_t) pw.pw_uid;
                *ret_found = true;
        }
        return r;
}

static int get_group(const char *name, char *buf, size_t size, uint32_t *ret_id, bool *ret_found) {
        struct group gr, *res = NULL;
        int r = getgrnam_r(name, &gr, buf, size, &res);
        if (r == 0 && res) {
                *ret_id = (uint32_t) gr.gr_gid;
                *ret_found = true;
        }
        return r;
}

static int nss_lookup(const char *name, nss_get_t get, uint32_t *ret) {
        for (size_t size = 1024;; size *= 2) {
                _cleanup_free_ char *buf = malloc(size);
                bool found = false;

                if (!buf)
                        return -ENOMEM;
                int r = get(name, buf, size, ret, &found);
                if (r == 0 && found)
                        return 0;
                if (nss_not_found(r))
                        return -ESRCH;
                if (r != ERANGE || size >= NSS_BUFFER_MAX)
                        return -r;
        }
}

static int lookup_user(const char *name, uint32_t *ret) {
        return nss_lookup(name, get_user, ret);
}

static int lookup_group(const char *name, uint32_t *ret) {
        return nss_lookup(name, get_group, ret);
}

static const struct name_entry *cache_find(const struct name_cache *c, const char *name, uint32_t hash) {
        if (c->index.mask == 0) {
                for (uint32_t i = 0; i < c->n; i++)
                        if (strcmp(c->v[i].name, name) == 0)
                                return &c->v[i];
                return NULL;
        }
        for (uint32_t i = hash & c->index.mask;; i = (i + 1) & c->index.mask) {
                uint32_t s = c->index.slots[i];

                if (s == 0)
                        return NULL;
                if (c->v[s - 1].hash == hash && strcmp(c->v[s - 1].name, name) == 0)
                        return &c->v[s - 1];
        }
}

static uint32_t entry_hash_at(const void *array, uint32_t pos) {
        return ((const struct name_entry *) array)[pos].hash;
}

static int cache_put(struct name_cache *c, const char *name, uint32_t id) {
        uint32_t hash = hash_bytes(name, strlen(name));
        int r;

        /* The first source that knows a name is the one that counts. */
        if (c->n >= NAME_CACHE_MAX || cache_find(c, name, hash))
                return 0;

        _cleanup_free_ char *copy = strdup(name);
        if (!copy)
                return -ENOMEM;
        r = GROW(c->v, c->cap, c->n);
        if (r < 0)
                return r;
        c->v[c->n++] = (struct name_entry) { .name = TAKE_PTR(copy), .hash = hash, .id = id };
        return policy_hindex_added(&c->index, c->n, entry_hash_at, c->v);
}

/* One entry of the user or the group database: 0 and the entry, ERANGE
 * when buf is too small, anything else at the end or on an error. */
typedef int (*next_entry_t)(char *buf, size_t size, const char **ret_name, uint32_t *ret_id);

static int next_user(char *buf, size_t size, const char **ret_name, uint32_t *ret_id) {
        struct passwd pw, *res = NULL;
        int k = getpwent_r(&pw, buf, size, &res);
        if (k == 0 && res) {
                *ret_name = pw.pw_name;
                *ret_id = (uint32_t) pw.pw_uid;
        }
        return k == 0 && !res ? ENOENT : k;
}

static int next_group(char *buf, size_t size, const char **ret_name, uint32_t *ret_id) {
        struct group gr, *res = NULL;
        int k = getgrent_r(&gr, buf, size, &res);
        if (k == 0 && res) {
                *ret_name = gr.gr_name;
                *ret_id = (uint32_t) gr.gr_gid;
        }
        return k == 0 && !res ? ENOENT : k;
}

/* setpwent() and friends keep one enumeration position per process: this
 * runs while a policy loads, never concurrently with another load. */
static int enumerate(struct name_cache *c, bool users) {
        next_entry_t next = users ? next_user : next_group;
        size_t size = 16384;
        _cleanup_free_ char *buf = malloc(size);
        int r = 0;

        if (!buf)
                return -ENOMEM;
        if (users)
                setpwent();
        else
                setgrent();
        for (;;) {
                const char *name;
                uint32_t id;
                int k = next(buf, size, &name, &id);

                if (k == ERANGE && size < NSS_BUFFER_MAX) {
                        char *nb = realloc(buf, size * 2);
                        if (!nb) {
                                r = -ENOMEM;
                                break;
                        }
                        buf = nb;
                        size *= 2;
                        continue;
                }
                /* An error ends the walk early; what is missing is looked
                 * up one by one. */
                if (k != 0)
                        break;
                r = cache_put(c, name, id);
                if (r < 0)
                        break;
        }
        if (users)
                endpwent();
        else
                endgrent();
        c->enumerated = true;
        return r;
}

static int resolve(struct name_cache *c, const char *name, bool user, uint32_t *ret) {
        int r;

        if (!c->enumerated && ++c->n_lookups > ENUMERATE_AFTER) {
                r = enumerate(c, user);
                if (r < 0)
                        return r;
        }
        if (c->enumerated) {
                const struct name_entry *e = cache_find(c, name, hash_bytes(name, strlen(name)));
                if (e) {
                        *ret = e->id;
                        return 0;
                }
        }
        return user ? lookup_user(name, ret) : lookup_group(name, ret);
}

int policy_names_user(struct policy_names *names, const char *name, uint32_t *ret_uid) {
        return resolve(&names->users, name, true, ret_uid);
}

int policy_names_group(struct policy_names *names, const char *name, uint32_t *ret_gid) {
        return resolve(&names->groups, name, false, ret_gid);
}

static void cache_done(struct name_cache *c) {
        for (uint32_t i = 0; i < c->n; i++)
                free(c->v[i].name);
        free(c->v);
        free(c->index.slots);
        *c = (struct name_cache) {};
}

void policy_names_done(struct policy_names *names) {
        cache_done(&names->users);
        cache_done(&names->groups);
}
