/* SPDX-License-Identifier: MIT */
#pragma once

/* Checks shared by the policy harnesses. */

#include <stdbool.h>
#include <stddef.h>

#include "policy.h"

/* Counts problems and checks each is well formed: reported against file,
 * on a real line, as one line of printable ASCII (messages end up on
 * terminals and in the journal). */
struct fuzz_diags {
        const char *file;
        unsigned n;          /* errors */
        unsigned n_warnings; /* "warning: ...": the policy loads all the same */
        unsigned max_line; /* no problem may be reported past this line */
};

void fuzz_diag(const char *file, unsigned line, const char *message, void *userdata);

/* Loads text as file and checks the result agrees with the problems
 * reported: a policy and none, or -EINVAL and at least one.  Returns the
 * policy or NULL. */
struct policy *fuzz_load(const char *file, const char *text, size_t len, struct fuzz_diags *d);

/* Number of lines of text as the parser counts them. */
unsigned fuzz_count_lines(const char *text, size_t len);

/* Moves into a directory of its own and removes it at once, so that no
 * relative name resolves to anything, and nothing can be created there. */
void fuzz_enter_empty_dir(void);

struct fuzz_matches {
        const struct policy_rule **v;
        size_t n, cap;
};

/* Decides path for s with policy_match_each() and with policy_match() for a
 * range of needs, and checks they agree with each other: the union of
 * permissions, the deny, the rule cited.  Every rule must come from file
 * (one policy file, no includes), in strictly ascending lines.  Leaves the
 * matching rules in m, in file order. */
void fuzz_decide(const struct policy *p, const struct policy_subject *s, const char *path,
                 size_t path_len, const char *file, struct fuzz_matches *m);

void fuzz_matches_done(struct fuzz_matches *m);
