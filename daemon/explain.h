/* SPDX-License-Identifier: MIT */
#pragma once

/* fdbrokerd --explain: the operator's answer to "why was this denied?".
 * Decides one hypothetical request against a policy and prints the verdict
 * and every rule that matched, without serving anything. */

#include "policy.h"

/* Exit statuses of --explain. */
enum {
        EXPLAIN_ALLOWED = 0,
        EXPLAIN_DENIED = 1,
        EXPLAIN_ERROR = 2,
};

/* subject: "any", or comma-separated uid=N, user=NAME, gid=N, group=NAME,
 * unit=NAME (e.g. "user=alice,unit=app@1.service").  access:
 * comma-separated read, write, append, create, delete, stat, dir, device.
 * With path NULL (access ignored), lists the rules that apply to subject
 * instead, and returns EXPLAIN_ALLOWED.  Returns one of EXPLAIN_*. */
int explain_run(const struct policy *p, const char *subject, const char *path, const char *access);
