/* SPDX-License-Identifier: MIT */
/* The client-side pre-check: a path no allow rule of this client can
 * match is not worth a round trip, the broker could only refuse it.  Each
 * pattern is reduced to its literal leading directories (up to the first
 * component with a wildcard or an escape): a path outside all of them
 * cannot match any pattern.  The check only ever errs towards asking. */
#include "run.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "macro.h"

/* GRANTS is at most 64 KiB, so this many lines at most. */
#define RUN_GRANTS_MAX 32768

struct run_grants {
        size_t n;
        char **prefix;
};

void run_grants_free(struct run_grants *g) {
        if (!g)
                return;
        for (size_t i = 0; i < g->n; i++)
                free(g->prefix[i]);
        free(g->prefix);
        free(g);
}

/* The literal leading part of pattern (length n), "/" at least. */
static char *run_grants_prefix(const char *pattern, size_t n) {
        size_t keep = 0, i = 0;

        while (i < n) {
                size_t start = i;
                /* pattern[start] is the '/' before a component. */
                i++;
                while (i < n && pattern[i] != '/')
                        i++;
                if (memchr(pattern + start, '*', i - start) || memchr(pattern + start, '?', i - start) ||
                    memchr(pattern + start, '[', i - start) || memchr(pattern + start, '\\', i - start))
                        break;
                keep = i;
        }
        if (keep == 0)
                return strdup("/");
        return strndup(pattern, keep);
}

int run_grants_parse(const char *text, size_t len, struct run_grants **ret) {
        struct run_grants *g = calloc(1, sizeof *g);
        if (!g)
                return -ENOMEM;

        const char *p = text, *end = text + len;
        while (p < end && g->n < RUN_GRANTS_MAX) {
                const char *nl = memchr(p, '\n', (size_t) (end - p));
                const char *eol = nl ? nl : end;
                /* "PATTERN PERMISSIONS": the permissions have no blank. */
                const char *sp = eol;
                while (sp > p && sp[-1] != ' ')
                        sp--;
                if (sp > p + 1 && p[0] == '/') {
                        char **np = realloc(g->prefix, (g->n + 1) * sizeof *np);
                        if (!np)
                                goto oom;
                        g->prefix = np;
                        g->prefix[g->n] = run_grants_prefix(p, (size_t) (sp - 1 - p));
                        if (!g->prefix[g->n])
                                goto oom;
                        g->n++;
                }
                p = nl ? nl + 1 : end;
        }
        *ret = g;
        return 0;
oom:
        run_grants_free(g);
        return -ENOMEM;
}

bool run_grants_may_match(const struct run_grants *g, const char *path) {
        if (!g)
                return true;
        for (size_t i = 0; i < g->n; i++) {
                const char *pre = g->prefix[i];
                size_t n = strlen(pre);
                if (n == 1) /* "/" */
                        return true;
                if (strncmp(path, pre, n) == 0 && (path[n] == 0 || path[n] == '/'))
                        return true;
        }
        return false;
}
