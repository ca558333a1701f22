/* SPDX-License-Identifier: MIT */
#pragma once

/* What every harness shares: the libFuzzer entry points (declared here so
 * that the regression build, with its -Wmissing-prototypes, sees them) and
 * a check that stops the process the moment an invariant breaks, so that
 * libFuzzer keeps the input and the regression test fails. */

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

__attribute__((noreturn, cold)) static inline void fuzz_fail(const char *file, int line,
                                                             const char *what) {
        fprintf(stderr, "%s:%d: invariant broken: %s\n", file, line, what);
        abort();
}

#define FUZZ_CHECK(cond)                                                                           \
        do {                                                                                       \
                if (!(cond))                                                                       \
                        fuzz_fail(__FILE__, __LINE__, #cond);                                      \
        } while (0)
