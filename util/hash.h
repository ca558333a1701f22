/* SPDX-License-Identifier: MIT */
#pragma once

/* The hash functions of every table in fdbroker: one for byte strings,
 * one for small integer keys (uids, mount ids).  None of the keys hashed
 * is secret, and every table bounds its probe lengths by its load. */

#include <stddef.h>
#include <stdint.h>

/* FNV-1a: short keys (path components, mount points), good spread. */
static inline uint32_t hash_bytes(const char *s, size_t n) {
        uint32_t h = 2166136261u;

        for (size_t i = 0; i < n; i++) {
                h ^= (unsigned char) s[i];
                h *= 16777619u;
        }
        return h;
}

/* Consecutive ids are the common case: mix them so that they do not fill
 * neighbouring slots. */
static inline uint32_t hash_id(uint32_t x) {
        x ^= x >> 16;
        x *= 0x7feb352du;
        x ^= x >> 15;
        x *= 0x846ca68bu;
        x ^= x >> 16;
        return x;
}
