/* SPDX-License-Identifier: MIT */
#include "hist.h"

#include <math.h>
#include <string.h>

void hist_reset(struct hist *h) {
        memset(h, 0, sizeof *h);
}

void hist_merge(struct hist *dst, const struct hist *src) {
        for (unsigned i = 0; i < HIST_BUCKETS; i++)
                dst->bucket[i] += src->bucket[i];
        dst->count += src->count;
        if (src->max > dst->max)
                dst->max = src->max;
}

static uint64_t bucket_low(unsigned i) {
        if (i < 2u * HIST_HALF)
                return i;
        unsigned shift = i / HIST_HALF - 1;
        return (uint64_t) (i - shift * HIST_HALF) << shift;
}

static uint64_t bucket_width(unsigned i) {
        return i < 2u * HIST_HALF ? 1 : (uint64_t) 1 << (i / HIST_HALF - 1);
}

uint64_t hist_quantile(const struct hist *h, double q) {
        if (h->count == 0)
                return 0;

        uint64_t rank = (uint64_t) ceil(q * (double) h->count), seen = 0;
        if (rank < 1)
                rank = 1;
        for (unsigned i = 0; i < HIST_BUCKETS; i++) {
                seen += h->bucket[i];
                if (seen >= rank) {
                        uint64_t mid = bucket_low(i) + bucket_width(i) / 2;
                        /* The middle of the top bucket may lie above anything seen. */
                        return mid < h->max ? mid : h->max;
                }
        }
        return h->max;
}
