/* SPDX-License-Identifier: MIT */
/* Loading: files, includes, lines and diagnostics; and the policy object
 * itself.  A load either yields a complete policy or reports every problem
 * it found and yields nothing: a half-read policy is never served. */

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fnmatch.h>
#include <glob.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "macro.h"
#include "policy-internal.h"

#define MSG_MAX 1024
/* How much of a path a message shows. */
#define MSG_PATH_MAX 1024

struct reader {
        FILE *f; /* or: */
        const char *text;
        size_t len, pos;
};

struct loader {
        struct policy *p;
        policy_diag_t diag;
        policy_diag_t warn;
        void *userdata;
        bool strict;
        unsigned n_problems;
        bool rules_max_reported;
        unsigned level; /* include nesting of the file being read, 0 for the main one */
        struct {
                dev_t dev;
                ino_t ino;
        } reading[POLICY_INCLUDE_DEPTH_MAX + 1]; /* the files being read, for loops */
        unsigned n_reading;
        struct policy_names names;
        char line[POLICY_LINE_MAX + 1];
};

static void fclosep(FILE **f) {
        if (*f)
                fclose(*f);
}

__attribute__((format(printf, 4, 5))) static void report(struct loader *ld, const char *file,
                                                         unsigned line, const char *fmt, ...) {
        char msg[MSG_MAX];
        va_list ap;

        ld->n_problems++;
        if (!ld->diag)
                return;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        ld->diag(file, line, msg, ld->userdata);
}

__attribute__((format(printf, 4, 5))) static void warn(struct loader *ld, const char *file,
                                                       unsigned line, const char *fmt, ...) {
        char msg[MSG_MAX];
        va_list ap;

        if (ld->strict)
                ld->n_problems++;
        va_start(ap, fmt);
        vsnprintf(msg, sizeof msg, fmt, ap);
        va_end(ap);
        if (ld->warn)
                ld->warn(file, line, msg, ld->userdata);
        else if (ld->diag) {
                char full[MSG_MAX + 16];
                snprintf(full, sizeof full, "warning: %s", msg);
                ld->diag(file, line, full, ld->userdata);
        }
}

/* Out of line so that its buffer is not part of every include level. */
__attribute__((noinline)) static void report_path(struct loader *ld, const char *file, unsigned line,
                                                  const char *before, const char *path,
                                                  const char *after) {
        char buf[MSG_PATH_MAX * 4 + 16];

        report(ld, file, line, "%s%s%s", before,
               policy_escape(buf, sizeof buf, path, MSG_PATH_MAX, false), after);
}

static const char *intern_file(struct policy *p, const char *name) {
        if (p->n_files == p->cap_files) {
                size_t cap = p->cap_files ? p->cap_files * 2 : 4;
                char **v = reallocarray(p->files, cap, sizeof *v);
                if (!v)
                        return NULL;
                p->files = v;
                p->cap_files = cap;
        }
        char *copy = strdup(name);
        if (!copy)
                return NULL;
        p->files[p->n_files++] = copy;
        return copy;
}

static int reader_getc(struct reader *rd) {
        if (rd->f)
                return getc_unlocked(rd->f);
        if (rd->pos >= rd->len)
                return EOF;
        return (unsigned char) rd->text[rd->pos++];
}

/* Reads one line into buf (POLICY_LINE_MAX + 1 bytes), without its '\n'.
 * Returns 1 with a line, 0 at the end, -EIO on a read error.  A line too
 * long is consumed whole and flagged, so that its tail is not read as the
 * next line. */
static int reader_line(struct reader *rd, char *buf, size_t *ret_len, bool *ret_too_long) {
        bool any = false, too_long = false;
        size_t n = 0;

        for (;;) {
                int c = reader_getc(rd);

                if (c == EOF) {
                        if (rd->f && ferror(rd->f))
                                return -EIO;
                        if (!any)
                                return 0;
                        break;
                }
                any = true;
                if (c == '\n')
                        break;
                if (n < POLICY_LINE_MAX)
                        buf[n++] = (char) c;
                else
                        too_long = true;
        }
        buf[n] = 0;
        *ret_len = n;
        *ret_too_long = too_long;
        return 1;
}

/* Returns the directory part of path ("" for "/x"), or NULL in *ret when
 * path has none: then includes are relative to the current directory. */
static int dir_of(const char *path, char **ret) {
        const char *slash = strrchr(path, '/');

        if (!slash) {
                *ret = NULL;
                return 0;
        }
        char *d = strndup(path, (size_t) (slash - path));
        if (!d)
                return -ENOMEM;
        *ret = d;
        return 0;
}

/* dir/pattern; with escape, dir's own glob characters are escaped so that a
 * directory named "[x]" is not read as a pattern. */
static char *join_include(const char *dir, const char *pattern, bool escape) {
        if (!dir || pattern[0] == '/')
                return strdup(pattern);

        size_t dl = strlen(dir), pl = strlen(pattern);
        char *s = malloc(dl * 2 + 1 + pl + 1), *o = s;
        if (!s)
                return NULL;
        for (size_t i = 0; i < dl; i++) {
                if (escape && strchr("*?[\\", dir[i]))
                        *o++ = '\\';
                *o++ = dir[i];
        }
        *o++ = '/';
        memcpy(o, pattern, pl + 1);
        return s;
}

static int parse_stream(struct loader *ld, const char *file, const char *dir, struct reader *rd);

/* Reads one file, the main one (from_file NULL) or an included one.
 * Returns 0 when the problems, if any, were reported, -ENOMEM otherwise. */
static int load_file(struct loader *ld, const char *from_file, unsigned from_line, const char *path) {
        struct stat st;
        int r;

        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
        if (fd < 0 || fstat(fd, &st) < 0)
                r = errno;
        else if (S_ISDIR(st.st_mode))
                r = EISDIR;
        else if (!S_ISREG(st.st_mode))
                r = -1; /* a FIFO or a device would block or never end */
        else
                r = 0;
        /* Whoever may write the policy may grant themselves anything the
         * broker can open.  Checked on the descriptor read from, so that
         * the file cannot be swapped in between. */
        if (r == 0 && st.st_uid != 0) {
                report(ld, path, 0, "not owned by root (owner uid %u): anyone it belongs to could grant "
                       "themselves anything", (unsigned) st.st_uid);
                return 0;
        }
        if (r == 0 && ((st.st_mode & S_IWOTH) || ((st.st_mode & S_IWGRP) && st.st_gid != 0))) {
                report(ld, path, 0, "writable by %s (mode %04o): only root may be able to change a policy",
                       st.st_mode & S_IWOTH ? "others" : "its group", (unsigned) (st.st_mode & 07777));
                return 0;
        }
        if (r != 0) {
                const char *why = r > 0 ? strerror(r) : "not a regular file";
                if (!from_file)
                        report(ld, path, 0, "cannot open: %s", why);
                else {
                        char after[128];
                        snprintf(after, sizeof after, ": %s", why);
                        report_path(ld, from_file, from_line, "cannot open ", path, after);
                }
                return 0;
        }

        for (unsigned i = 0; i < ld->n_reading; i++)
                if (ld->reading[i].dev == st.st_dev && ld->reading[i].ino == st.st_ino) {
                        report_path(ld, from_file, from_line, "include loop: ", path, "");
                        return 0;
                }
        if (from_file && ld->level >= POLICY_INCLUDE_DEPTH_MAX) {
                report(ld, from_file, from_line, "includes nested too deeply (max %d)",
                       POLICY_INCLUDE_DEPTH_MAX);
                return 0;
        }

        _cleanup_(fclosep) FILE *f = fdopen(fd, "re");
        if (!f)
                return negative_errno();
        fd = -1; /* f owns it */

        const char *name = intern_file(ld->p, path);
        if (!name)
                return -ENOMEM;
        _cleanup_free_ char *dir = NULL;
        r = dir_of(path, &dir);
        if (r < 0)
                return r;

        unsigned saved_level = ld->level;
        if (from_file)
                ld->level++;
        ld->reading[ld->n_reading].dev = st.st_dev;
        ld->reading[ld->n_reading].ino = st.st_ino;
        ld->n_reading++;

        struct reader rd = { .f = f };
        r = parse_stream(ld, name, dir, &rd);

        ld->n_reading--;
        ld->level = saved_level;
        return r;
}

static int cmp_path(const void *a, const void *b) {
        /* Byte order, whatever the locale: the order rules apply in must
         * not depend on the environment the daemon was started in. */
        return strcmp(*(char *const *) a, *(char *const *) b);
}

/* An operator who drops "70-www.cfg" next to "*.conf" files expects it
 * read: say which files of the included directory the glob leaves out.
 * Only for a directory of drop-ins: one other than the including file's
 * own (whose neighbours are other configuration), named without wildcards. */
static int warn_skipped(struct loader *ld, const char *file, unsigned line, const char *pattern,
                        const char *pat) {
        const char *slash = strrchr(pat, '/');
        const char *base = slash ? slash + 1 : pat;

        if (!strchr(pattern, '/') || !slash)
                return 0;
        _cleanup_free_ char *dir = slash == pat ? strdup("/") : strndup(pat, (size_t) (slash - pat));
        if (!dir)
                return -ENOMEM;
        if (strpbrk(dir, "*?[\\"))
                return 0;

        DIR *d = opendir(dir);
        if (!d)
                return 0; /* nothing to list: nothing skipped */
        unsigned n = 0;
        for (struct dirent *de; (de = readdir(d));) {
                if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                        continue;
                if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN && de->d_type != DT_LNK)
                        continue;
                if (fnmatch(base, de->d_name, FNM_PERIOD) == 0)
                        continue;
                /* A directory of thousands of unrelated files: a few lines
                 * say enough. */
                if (++n > 16) {
                        warn(ld, file, line, "more files in %s not included", dir);
                        break;
                }
                char q[MSG_PATH_MAX * 4 + 16];
                warn(ld, file, line, "%s%s%s not included (does not match %s)", dir,
                     slash == pat ? "" : "/", policy_escape(q, sizeof q, de->d_name, MSG_PATH_MAX, false),
                     base);
        }
        closedir(d);
        return 0;
}

static int do_include(struct loader *ld, const char *file, unsigned line, const char *dir,
                      const char *pattern) {
        int r = 0;

        /* A plain path names one file that must exist; only a pattern may
         * match nothing. */
        if (!strpbrk(pattern, "*?[")) {
                _cleanup_free_ char *path = join_include(dir, pattern, false);
                if (!path)
                        return -ENOMEM;
                return load_file(ld, file, line, path);
        }

        _cleanup_free_ char *pat = join_include(dir, pattern, true);
        if (!pat)
                return -ENOMEM;
        r = warn_skipped(ld, file, line, pattern, pat);
        if (r < 0)
                return r;

        glob_t g = {};
        int k = glob(pat, GLOB_NOSORT, NULL, &g);
        if (k == GLOB_NOSPACE) {
                globfree(&g);
                return -ENOMEM;
        }
        if (k == 0) {
                qsort(g.gl_pathv, g.gl_pathc, sizeof g.gl_pathv[0], cmp_path);
                for (size_t i = 0; i < g.gl_pathc && r >= 0; i++)
                        r = load_file(ld, file, line, g.gl_pathv[i]);
        } else if (k != GLOB_NOMATCH)
                report_path(ld, file, line, "cannot expand ", pat, "");
        globfree(&g);
        return r;
}

static int add_rule(struct loader *ld, const char *file, unsigned line, const char *subject,
                    const char *pattern, const char *perms_tok) {
        struct policy *p = ld->p;
        struct subject_spec subj;
        unsigned pattern_flags, perms;
        char msg[MSG_MAX];
        bool bad = false;
        int r;

        /* Check all three fields, to report every problem of the line. */
        r = policy_syntax_subject(subject, &ld->names, &subj, msg, sizeof msg);
        if (r == -ENOMEM)
                return r;
        if (r < 0) {
                report(ld, file, line, "%s", msg);
                bad = true;
        } else if (r > 0)
                warn(ld, file, line, "%s", msg);
        if (policy_syntax_pattern(pattern, &pattern_flags, msg, sizeof msg) < 0) {
                report(ld, file, line, "%s", msg);
                bad = true;
        }
        if (policy_syntax_perms(perms_tok, &perms, msg, sizeof msg) < 0) {
                report(ld, file, line, "%s", msg);
                bad = true;
        }
        if (bad)
                return 0;

        if (p->n_rules >= POLICY_RULES_MAX) {
                if (ld->rules_max_reported)
                        ld->n_problems++;
                else
                        report(ld, file, line, "too many rules (max %d)", POLICY_RULES_MAX);
                ld->rules_max_reported = true;
                return 0;
        }

        if (p->n_rules == p->cap_rules) {
                uint32_t cap = p->cap_rules ? p->cap_rules * 2 : 16;
                struct policy_rule **v = reallocarray(p->rules, cap, sizeof *v);
                if (!v)
                        return -ENOMEM;
                p->rules = v;
                p->cap_rules = cap;
        }

        size_t ls = strlen(subject), lp = strlen(pattern), lr = strlen(perms_tok);
        struct policy_rule *rule = malloc(sizeof *rule + ls + lp + lr + 3 + ls + 1);
        if (!rule)
                return -ENOMEM;
        rule->file = file;
        rule->line = line;
        rule->perms = perms;
        rule->index = p->n_rules;
        rule->subject_kind = (uint8_t) subj.kind;
        rule->subject_id = subj.id;
        rule->pattern_off = (uint32_t) ls + 1;
        rule->pattern_len = (uint32_t) lp;
        sprintf(rule->text, "%s %s %s", subject, pattern, perms_tok);
        /* The unit glob again, NUL-terminated, for matching the subject
         * without the index. */
        char *copy = rule->text + ls + lp + lr + 3;
        memcpy(copy, subject, ls + 1);
        rule->unit_glob = subj.kind == SUBJECT_UNIT ? copy + strlen("unit=") : NULL;
        p->rules[p->n_rules++] = rule;

        if (subj.kind == SUBJECT_UNIT)
                p->has_unit_rules = true;
        if (pattern_flags & COMP_USER_NAME)
                p->uses_user_name = true;
        if (pattern_flags & COMP_HOME)
                p->uses_home = true;

        /* Kept, so that it is counted and listed, but matches no one. */
        if (subj.kind == SUBJECT_NONE)
                return 0;
        return policy_index_add(p, pattern, &subj, rule);
}

static int parse_line(struct loader *ld, const char *file, unsigned line, const char *dir, char *s) {
        char q[600];
        char *f[4];
        unsigned n = 0;

        for (;;) {
                s += strspn(s, " \t");
                if (!*s)
                        break;
                char *e = s + strcspn(s, " \t");
                if (n < ELEMENTSOF(f))
                        f[n] = s;
                n++;
                if (!*e)
                        break;
                *e = 0;
                s = e + 1;
        }

        if (n == 0 || f[0][0] == '#')
                return 0;

        if (strcmp(f[0], "include") == 0) {
                if (n != 2) {
                        report(ld, file, line, "'include' takes exactly one pattern");
                        return 0;
                }
                return do_include(ld, file, line, dir, f[1]);
        }

        if (n < 3) {
                report(ld, file, line, "too few fields: expected 'SUBJECT PATTERN PERMISSIONS'");
                return 0;
        }
        if (n > 3) {
                report(ld, file, line, "too many fields: unexpected %s",
                       policy_syntax_quote(q, sizeof q, f[3]));
                return 0;
        }
        return add_rule(ld, file, line, f[0], f[1], f[2]);
}

static int parse_stream(struct loader *ld, const char *file, const char *dir, struct reader *rd) {
        for (unsigned line = 1;; line++) {
                size_t len;
                bool too_long;
                int r;

                r = reader_line(rd, ld->line, &len, &too_long);
                if (r < 0) {
                        report(ld, file, line, "read error: %s", strerror(-r));
                        return 0;
                }
                if (r == 0)
                        return 0;
                if (too_long) {
                        report(ld, file, line, "line too long (max %d bytes)", POLICY_LINE_MAX);
                        continue;
                }
                if (memchr(ld->line, 0, len)) {
                        report(ld, file, line, "line contains a NUL byte");
                        continue;
                }
                /* The line buffer is shared by every include level: nothing
                 * of it is used once an include has been read. */
                r = parse_line(ld, file, line, dir, ld->line);
                if (r < 0)
                        return r;
        }
}

static struct policy *policy_new(void) {
        struct policy *p = calloc(1, sizeof *p);

        if (p)
                p->n_ref = 1;
        return p;
}

static int loader_new(const struct policy_load_options *o, struct loader **ret) {
        struct loader *ld = calloc(1, sizeof *ld);

        if (!ld)
                return -ENOMEM;
        ld->p = policy_new();
        if (!ld->p) {
                free(ld);
                return -ENOMEM;
        }
        ld->diag = o->diag;
        ld->warn = o->warn;
        ld->userdata = o->userdata;
        ld->strict = o->strict;
        *ret = ld;
        return 0;
}

static void loader_freep(struct loader **ld) {
        if (*ld) {
                policy_unref((*ld)->p);
                policy_names_done(&(*ld)->names);
                free(*ld);
        }
}

static int loader_finish(struct loader *ld, int r, struct policy **ret_policy) {
        if (r < 0)
                return r;
        if (ld->n_problems > 0)
                return -EINVAL;
        *ret_policy = TAKE_PTR(ld->p);
        return 0;
}

int policy_load_with(const char *path, const struct policy_load_options *o, struct policy **ret_policy) {
        _cleanup_(loader_freep) struct loader *ld = NULL;
        int r;

        if (!path || !o || !ret_policy)
                return -EINVAL;
        r = loader_new(o, &ld);
        if (r < 0)
                return r;
        r = load_file(ld, NULL, 0, path);
        return loader_finish(ld, r, ret_policy);
}

int policy_load(const char *path, policy_diag_t diag, void *userdata, struct policy **ret_policy) {
        struct policy_load_options o = { .diag = diag, .userdata = userdata };

        return policy_load_with(path, &o, ret_policy);
}

int policy_load_string(const char *name, const char *text, size_t len, policy_diag_t diag,
                       void *userdata, struct policy **ret_policy) {
        _cleanup_(loader_freep) struct loader *ld = NULL;
        int r;

        if (!name || (!text && len > 0) || !ret_policy)
                return -EINVAL;
        r = loader_new(&(struct policy_load_options) { .diag = diag, .userdata = userdata }, &ld);
        if (r < 0)
                return r;
        const char *file = intern_file(ld->p, name);
        if (!file)
                return -ENOMEM;
        struct reader rd = { .text = text, .len = len };
        r = parse_stream(ld, file, NULL, &rd);
        return loader_finish(ld, r, ret_policy);
}

static void policy_free(struct policy *p) {
        policy_index_free(&p->root);
        policy_index_free(&p->home_root);
        for (uint32_t i = 0; i < p->n_rules; i++)
                free(p->rules[i]);
        free(p->rules);
        for (size_t i = 0; i < p->n_files; i++)
                free(p->files[i]);
        free(p->files);
        free(p);
}

/* Atomic: the daemon may hand a policy to threads that outlive a reload. */
struct policy *policy_ref(struct policy *p) {
        if (p)
                __atomic_add_fetch(&p->n_ref, 1, __ATOMIC_RELAXED);
        return p;
}

void policy_unref(struct policy *p) {
        if (p && __atomic_sub_fetch(&p->n_ref, 1, __ATOMIC_ACQ_REL) == 0)
                policy_free(p);
}

size_t policy_rule_count(const struct policy *p) {
        return p ? p->n_rules : 0;
}

bool policy_has_unit_rules(const struct policy *p) {
        return p && p->has_unit_rules;
}

bool policy_uses_user_name(const struct policy *p) {
        return p && p->uses_user_name;
}

bool policy_uses_home(const struct policy *p) {
        return p && p->uses_home;
}

size_t policy_file_count(const struct policy *p) {
        return p ? p->n_files : 0;
}

const char *policy_rule_file(const struct policy_rule *r) {
        return r->file;
}

unsigned policy_rule_line(const struct policy_rule *r) {
        return r->line;
}

unsigned policy_rule_perms(const struct policy_rule *r) {
        return r->perms;
}

const char *policy_rule_text(const struct policy_rule *r) {
        return r->text;
}
