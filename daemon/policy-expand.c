/* SPDX-License-Identifier: MIT */
#include <stdio.h>
#include <string.h>

#include "policy-internal.h"

/* Appends value, backslash-escaping what fnmatch would read as a
 * wildcard when escape is set.  False when it does not fit, or when it
 * holds a '/': a component never does, and such a value must match
 * nothing rather than let one name reach into another tree. */
static bool put_value(char *buf, size_t size, size_t *o, const char *value, bool escape) {
        for (const char *v = value; *v; v++) {
                if (*v == '/')
                        return false;
                if (escape && strchr("*?[]\\", *v)) {
                        if (*o + 1 >= size)
                                return false;
                        buf[(*o)++] = '\\';
                }
                if (*o + 1 >= size)
                        return false;
                buf[(*o)++] = *v;
        }
        return true;
}

bool policy_expand(const char *key, size_t n, const struct policy_subject *s, bool escape, char *buf, size_t size,
                   size_t *o) {
        for (size_t i = 0; i < n; i++) {
                char num[16];
                const char *value;

                if (key[i] == '\\' && i + 1 < n) {
                        /* An escape is fnmatch's business: passed on whole. */
                        if (*o + 2 >= size)
                                return false;
                        buf[(*o)++] = key[i++];
                        buf[(*o)++] = key[i];
                        continue;
                }
                if (key[i] != '%' || i + 1 >= n) {
                        if (*o + 1 >= size)
                                return false;
                        buf[(*o)++] = key[i];
                        continue;
                }
                switch (key[++i]) {
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
                if (!put_value(buf, size, o, value, escape))
                        return false;
        }
        buf[*o] = 0;
        return true;
}
