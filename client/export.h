/* SPDX-License-Identifier: MIT */
#pragma once

/* The library is built with hidden visibility; only what is marked here
 * reaches the dynamic symbol table, and the version script keeps even that
 * to fdbr_*. */
#define FDBR_EXPORT __attribute__((visibility("default")))
