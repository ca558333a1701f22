/* SPDX-License-Identifier: MIT */
/* The three fields of a rule, one token at a time.  Pure checks, except
 * that user= and group= are resolved here, at load time, so that a
 * decision never has to ask NSS. */

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "macro.h"
#include "policy-internal.h"

/* A message quotes at most this much of a token: enough to recognise it,
 * not enough to flood a log with a 4 KiB line. */
#define QUOTE_MAX 128

static const struct {
        const char *name;
        unsigned bit;
} perm_table[] = {
        /* Formatting follows this order. */
        { "read", POLICY_READ },     { "write", POLICY_WRITE },   { "append", POLICY_APPEND },
        { "create", POLICY_CREATE }, { "delete", POLICY_DELETE }, { "stat", POLICY_STAT },
        { "dir", POLICY_DIR },       { "device", POLICY_DEVICE }, { "follow", POLICY_FOLLOW },
        { "owner", POLICY_OWNER },   { "deny", POLICY_DENY },
};

unsigned policy_perms_effective(unsigned perms) {
        if (perms & (POLICY_READ | POLICY_WRITE | POLICY_APPEND | POLICY_CREATE | POLICY_DELETE |
                     POLICY_DIR | POLICY_DEVICE))
                perms |= POLICY_STAT;
        return perms & ~(unsigned) (POLICY_OWNER | POLICY_DENY);
}

const char *policy_escape(char *buf, size_t size, const char *s, size_t max, bool quote) {
        size_t o = 0, i;

        if (size < 16) {
                if (size > 0)
                        buf[0] = 0;
                return buf;
        }

        if (quote)
                buf[o++] = '\'';
        /* Worst case per byte is 4 ("\xNN"); keep room for "...'" and NUL. */
        for (i = 0; s[i] && i < max && o + 4 + 5 < size; i++) {
                unsigned char c = (unsigned char) s[i];

                /* What is quoted ends up on terminals and in the journal:
                 * never pass control sequences through. */
                if (c < 0x20 || c >= 0x7f)
                        o += (size_t) snprintf(buf + o, size - o, "\\x%02x", c);
                else
                        buf[o++] = (char) c;
        }
        if (s[i]) {
                memcpy(buf + o, "...", 3);
                o += 3;
        }
        if (quote)
                buf[o++] = '\'';
        buf[o] = 0;
        return buf;
}

const char *policy_syntax_quote(char *buf, size_t size, const char *s) {
        return policy_escape(buf, size, s, QUOTE_MAX, true);
}

static const char *after_prefix(const char *s, const char *prefix) {
        size_t n = strlen(prefix);

        return strncmp(s, prefix, n) == 0 ? s + n : NULL;
}

static int parse_id(const char *s, uint32_t *ret) {
        uint64_t v = 0;

        if (!*s)
                return -EINVAL;
        for (; *s; s++) {
                if (*s < '0' || *s > '9')
                        return -EINVAL;
                v = v * 10 + (uint64_t) (*s - '0');
                if (v > UINT32_MAX)
                        return -ERANGE;
        }
        /* (uid_t) -1 means "no change" to the set*id() family: never a
         * real identity. */
        if (v == UINT32_MAX)
                return -ERANGE;
        *ret = (uint32_t) v;
        return 0;
}

static int name_subject(struct policy_names *names, bool user, const char *name, uint32_t *ret,
                        char *msg, size_t size) {
        const char *what = user ? "user" : "group";
        char q[QUOTE_MAX * 4 + 16];
        int r;

        r = user ? policy_names_user(names, name, ret) : policy_names_group(names, name, ret);
        if (r == -ENOMEM)
                return r;
        if (r == -ESRCH) {
                /* An account deleted while a rule names it must not keep
                 * the broker from starting: the rule matches no one. */
                snprintf(msg, size, "unknown %s %s: the rule matches no one", what,
                         policy_syntax_quote(q, sizeof q, name));
                return 1;
        }
        if (r < 0) {
                snprintf(msg, size, "cannot look up %s %s: %s", what,
                         policy_syntax_quote(q, sizeof q, name), strerror(-r));
                return -EINVAL;
        }
        return 0;
}

int policy_syntax_subject(const char *tok, struct policy_names *names, struct subject_spec *ret,
                          char *msg, size_t size) {
        char q[QUOTE_MAX * 4 + 16];
        struct subject_spec s = {};
        const char *v;
        int r;

        if (strcmp(tok, "any") == 0)
                s.kind = SUBJECT_ANY;
        else if ((v = after_prefix(tok, "uid=")) || (v = after_prefix(tok, "gid="))) {
                s.kind = tok[0] == 'u' ? SUBJECT_UID : SUBJECT_GID;
                if (parse_id(v, &s.id) < 0) {
                        snprintf(msg, size, "invalid %s %s", tok[0] == 'u' ? "uid" : "gid",
                                 policy_syntax_quote(q, sizeof q, v));
                        return -EINVAL;
                }
        } else if ((v = after_prefix(tok, "user=")) || (v = after_prefix(tok, "group="))) {
                s.kind = tok[0] == 'u' ? SUBJECT_UID : SUBJECT_GID;
                r = name_subject(names, tok[0] == 'u', v, &s.id, msg, size);
                if (r < 0)
                        return r;
                if (r > 0) {
                        *ret = (struct subject_spec) { .kind = SUBJECT_NONE };
                        return 1;
                }
        } else if ((v = after_prefix(tok, "unit="))) {
                if (!*v) {
                        snprintf(msg, size, "missing unit name in 'unit='");
                        return -EINVAL;
                }
                s.kind = SUBJECT_UNIT;
                s.unit_glob = v;
        } else {
                snprintf(msg, size, "unknown subject %s", policy_syntax_quote(q, sizeof q, tok));
                return -EINVAL;
        }

        *ret = s;
        return 0;
}

/* The end of a bracket expression starting at c[i] == '[', as fnmatch
 * reads it, or 0 if it is not closed (then '[' is an ordinary character). */
static size_t bracket_end(const char *c, size_t n, size_t i) {
        size_t j = i + 1;
        if (j < n && (c[j] == '!' || c[j] == '^'))
                j++;
        if (j < n && c[j] == ']')
                j++; /* a ']' first is a member */
        for (; j < n; j++) {
                if (c[j] == '\\' && j + 1 < n)
                        j++;
                else if (c[j] == ']')
                        return j;
        }
        return 0;
}

int policy_syntax_component(const char *c, size_t n, unsigned *ret_flags, const char **ret_bad,
                            const char **ret_why) {
        unsigned flags = 0;

        for (size_t i = 0; i < n; i++) {
                if (c[i] == '\\') {
                        /* "\%u" is the three characters "%u", never a template. */
                        if (i + 1 == n) {
                                *ret_bad = c + i;
                                *ret_why = "a trailing backslash escapes nothing";
                                return -EINVAL;
                        }
                        flags |= COMP_GLOB;
                        i++;
                } else if (c[i] == '[') {
                        size_t end = bracket_end(c, n, i);
                        flags |= COMP_GLOB;
                        if (end == 0)
                                continue;
                        /* A name expanded inside a set would become a set of
                         * characters: never what the rule means. */
                        if (memchr(c + i, '%', end - i)) {
                                *ret_bad = c + i;
                                *ret_why = "'%' inside a bracket expression";
                                return -EINVAL;
                        }
                        i = end;
                } else if (c[i] == '%') {
                        char t = i + 1 < n ? c[i + 1] : 0;

                        if (t == 'U' || t == 'G')
                                flags |= COMP_TEMPLATE;
                        else if (t == 'u')
                                flags |= COMP_TEMPLATE | COMP_USER_NAME;
                        else if (t == 'h') {
                                *ret_bad = c + i;
                                *ret_why = "'%h' is only allowed at the start of a pattern";
                                return -EINVAL;
                        } else if (t != '%') {
                                *ret_bad = c + i;
                                *ret_why = NULL;
                                return -EINVAL;
                        }
                        i++;
                } else if (c[i] == '*' || c[i] == '?')
                        flags |= COMP_GLOB;
        }
        *ret_flags = flags;
        return 0;
}

/* True when component c (n bytes) can only ever match the name "proc":
 * no wildcard, no template, escapes aside. */
static bool component_is_proc(const char *c, size_t n) {
        char lit[5];
        size_t o = 0;

        for (size_t i = 0; i < n; i++) {
                char ch = c[i];

                if (ch == '\\' && i + 1 < n)
                        ch = c[++i];
                else if (strchr("*?[%", ch))
                        return false;
                if (o == sizeof lit - 1)
                        return false;
                lit[o++] = ch;
        }
        lit[o] = 0;
        return strcmp(lit, "proc") == 0;
}

int policy_syntax_pattern(const char *tok, unsigned *ret_flags, char *msg, size_t size) {
        char q[QUOTE_MAX * 4 + 16];
        unsigned flags = 0;
        const char *rest = tok;

        /* %h is a whole path, so it can only stand where one begins. */
        if (tok[0] == '%' && tok[1] == 'h' && (tok[2] == 0 || tok[2] == '/')) {
                flags |= COMP_HOME;
                rest = tok + 2;
                if (!*rest) {
                        *ret_flags = flags;
                        return 0;
                }
        } else if (tok[0] != '/') {
                snprintf(msg, size, "pattern must be absolute: %s",
                         policy_syntax_quote(q, sizeof q, tok));
                return -EINVAL;
        }

        if (!(flags & COMP_HOME)) {
                const char *end = strchrnul(tok + 1, '/');

                /* The broker's own /proc/self/mem, its fds, its environment:
                 * no rule may reach there by name.  Wildcards that could
                 * are harmless because the matcher refuses those paths. */
                if (component_is_proc(tok + 1, (size_t) (end - tok - 1))) {
                        snprintf(msg, size, "pattern under /proc: %s (it would expose the broker's own memory)",
                                 policy_syntax_quote(q, sizeof q, tok));
                        return -EINVAL;
                }
        }

        if (rest[1] != 0)
                for (const char *c = rest + 1;;) {
                        const char *end = strchrnul(c, '/'), *bad, *why;
                        size_t n = (size_t) (end - c);
                        unsigned cf;

                        if (n == 0 || (c[0] == '.' && (n == 1 || (n == 2 && c[1] == '.')))) {
                                snprintf(msg, size, "pattern is not canonical: %s",
                                         policy_syntax_quote(q, sizeof q, tok));
                                return -EINVAL;
                        }
                        if (n == 2 && c[0] == '*' && c[1] == '*' && *end)
                                flags |= COMP_STAR;
                        if (policy_syntax_component(c, n, &cf, &bad, &why) < 0) {
                                char t[3] = { '%', bad + 1 < end ? bad[1] : 0, 0 };
                                char qt[16];

                                if (why)
                                        snprintf(msg, size, "%s in %s", why, policy_syntax_quote(q, sizeof q, tok));
                                else
                                        snprintf(msg, size, "unknown template %s in %s",
                                                 policy_syntax_quote(qt, sizeof qt, t),
                                                 policy_syntax_quote(q, sizeof q, tok));
                                return -EINVAL;
                        }
                        flags |= cf;
                        if (!*end)
                                break;
                        c = end + 1;
                }

        *ret_flags = flags;
        return 0;
}

int policy_syntax_perms(const char *tok, unsigned *ret_perms, char *msg, size_t size) {
        char q[QUOTE_MAX * 4 + 16];
        unsigned perms = 0;

        for (const char *p = tok;;) {
                const char *end = strchrnul(p, ',');
                size_t n = (size_t) (end - p);
                unsigned bit = 0;

                if (n == 0) {
                        snprintf(msg, size, "empty permission in %s",
                                 policy_syntax_quote(q, sizeof q, tok));
                        return -EINVAL;
                }
                for (size_t i = 0; i < ELEMENTSOF(perm_table); i++)
                        if (strlen(perm_table[i].name) == n && memcmp(perm_table[i].name, p, n) == 0)
                                bit = perm_table[i].bit;
                if (bit == 0) {
                        /* One byte more than a quote shows, so it says "..." */
                        char item[QUOTE_MAX + 2];

                        snprintf(item, sizeof item, "%.*s", (int) (n <= QUOTE_MAX ? n : QUOTE_MAX + 1),
                                 p);
                        snprintf(msg, size, "unknown permission %s",
                                 policy_syntax_quote(q, sizeof q, item));
                        return -EINVAL;
                }
                perms |= bit;
                if (!*end)
                        break;
                p = end + 1;
        }

        if ((perms & POLICY_DENY) && (perms & POLICY_OWNER)) {
                snprintf(msg, size, "'owner' cannot modify 'deny': a deny rule holds whoever owns the file");
                return -EINVAL;
        }
        if (perms == POLICY_OWNER) {
                snprintf(msg, size, "'owner' alone grants nothing: it modifies the rule's other permissions");
                return -EINVAL;
        }
        /* A deny rule that also grants would read as both; refuse it
         * rather than guess which the operator meant. */
        if ((perms & POLICY_DENY) && perms != POLICY_DENY) {
                snprintf(msg, size, "'deny' cannot be combined with other permissions");
                return -EINVAL;
        }
        *ret_perms = perms;
        return 0;
}

int policy_perms_parse(const char *s, unsigned *ret_perms) {
        char msg[16];
        unsigned perms;

        if (!s || policy_syntax_perms(s, &perms, msg, sizeof msg) < 0)
                return -EINVAL;
        *ret_perms = perms;
        return 0;
}

const char *policy_perms_format(unsigned perms, char *buf, size_t size) {
        size_t o = 0;

        if (size == 0)
                return buf;
        buf[0] = 0;
        for (size_t i = 0; i < ELEMENTSOF(perm_table); i++) {
                if (!(perms & perm_table[i].bit))
                        continue;
                int n = snprintf(buf + o, size - o, "%s%s", o > 0 ? "," : "", perm_table[i].name);
                if (n < 0 || (size_t) n >= size - o) {
                        buf[o] = 0; /* whole names only */
                        return buf;
                }
                o += (size_t) n;
        }
        if (o == 0)
                snprintf(buf, size, "-");
        return buf;
}
