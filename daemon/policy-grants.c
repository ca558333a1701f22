/* SPDX-License-Identifier: MIT */
/* The rules of one subject, whatever the path: what --explain lists and
 * what GRANTS tells a client it may ask for. */

#include <errno.h>
#include <fnmatch.h>
#include <stdio.h>
#include <string.h>

#include "policy-internal.h"
#include "wire.h"

bool policy_rule_subject_matches(const struct policy_rule *r, const struct policy_subject *s) {
        switch (r->subject_kind) {
        case SUBJECT_ANY:
                return true;
        case SUBJECT_UID:
                return (uint32_t) s->uid == r->subject_id;
        case SUBJECT_GID:
                if ((uint32_t) s->gid == r->subject_id)
                        return true;
                for (size_t i = 0; i < s->n_groups; i++)
                        if ((uint32_t) s->groups[i] == r->subject_id)
                                return true;
                return false;
        case SUBJECT_UNIT:
                return s->unit && fnmatch(r->unit_glob, s->unit, 0) == 0;
        default:
                return false;
        }
}

void policy_subject_each(const struct policy *p, const struct policy_subject *s,
                         void (*fn)(const struct policy_rule *r, void *userdata), void *userdata) {
        if (!p)
                return;
        for (uint32_t i = 0; i < p->n_rules; i++)
                if (policy_rule_subject_matches(p->rules[i], s))
                        fn(p->rules[i], userdata);
}

const char *policy_rule_pattern_for(const struct policy_rule *r, const struct policy_subject *s, char *buf,
                                    size_t size) {
        const char *pat = r->text + r->pattern_off;
        size_t n = r->pattern_len, o = 0, i = 0;

        if (size == 0)
                return NULL;
        if (n >= 2 && pat[0] == '%' && pat[1] == 'h') {
                if (!s->home || wire_path_check(s->home, strlen(s->home)) < 0)
                        return NULL;
                size_t hl = strlen(s->home);
                /* "%h/x" for home "/" is "/x", not "//x". */
                if (hl == 1 && n > 2)
                        hl = 0;
                for (size_t k = 0; k < hl; k++) {
                        if (o + 2 >= size)
                                return NULL;
                        if (strchr("*?[]\\", s->home[k]))
                                buf[o++] = '\\';
                        buf[o++] = s->home[k];
                }
                i = 2;
        }
        /* Values escaped: the result still reads as the pattern the rule
         * means. */
        if (!policy_expand(pat + i, n - i, s, true, buf, size, &o))
                return NULL;
        return buf;
}

int policy_grants(const struct policy *p, const struct policy_subject *s, char *buf, size_t size,
                  size_t *ret_len) {
        char pattern[2 * (FDBR_WIRE_PATH_MAX + 1)], perms[128];
        size_t o = 0;

        if (!p || !s || (!buf && size > 0))
                return -EINVAL;
        for (uint32_t i = 0; i < p->n_rules; i++) {
                const struct policy_rule *r = p->rules[i];

                if ((r->perms & POLICY_DENY) || !policy_rule_subject_matches(r, s))
                        continue;
                if (!policy_rule_pattern_for(r, s, pattern, sizeof pattern))
                        continue;
                policy_perms_format(r->perms, perms, sizeof perms);
                size_t lp = strlen(pattern), lr = strlen(perms);
                if (lp + 1 + lr + 1 > size - o)
                        return -E2BIG;
                memcpy(buf + o, pattern, lp);
                buf[o + lp] = ' ';
                memcpy(buf + o + lp + 1, perms, lr);
                buf[o + lp + 1 + lr] = '\n';
                o += lp + lr + 2;
        }
        *ret_len = o;
        return 0;
}
