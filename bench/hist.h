/* SPDX-License-Identifier: MIT */
#pragma once

/* A log-linear latency histogram (HDR-like): 128 linear sub-buckets per
 * power of two, so any recorded value is known within 1/128 of itself.
 * Fixed size, no allocation: recording is one index computation and one
 * increment, cheap enough to sit in the measured path. */

#include <stdint.h>

#define HIST_SUB_BITS 8u
#define HIST_HALF (1u << (HIST_SUB_BITS - 1))
/* The largest shift is 64 - HIST_SUB_BITS; one row of HIST_HALF per shift
 * above the linear part. */
#define HIST_BUCKETS ((64u - HIST_SUB_BITS + 2u) * HIST_HALF)

struct hist {
        uint64_t count;
        uint64_t max;
        uint64_t bucket[HIST_BUCKETS];
};

void hist_reset(struct hist *h);

static inline unsigned hist_index(uint64_t v) {
        if (v < 2u * HIST_HALF)
                return (unsigned) v;
        unsigned shift = (unsigned) (63 - __builtin_clzll(v)) - (HIST_SUB_BITS - 1);
        return shift * HIST_HALF + (unsigned) (v >> shift);
}

static inline void hist_record(struct hist *h, uint64_t v) {
        h->bucket[hist_index(v)]++;
        h->count++;
        if (v > h->max)
                h->max = v;
}

/* The value below which a fraction q (0..1) of the records lie: the middle
 * of the bucket that holds it.  0 when empty. */
/* Adds the samples of src to dst. */
void hist_merge(struct hist *dst, const struct hist *src);

uint64_t hist_quantile(const struct hist *h, double q);
