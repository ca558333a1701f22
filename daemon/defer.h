/* SPDX-License-Identifier: MIT */
#pragma once

/* Requests that may block, in the lanes of threads (lane.h): which lane,
 * the deadline after which the client hears ETIMEDOUT, and what becomes
 * of work that was cancelled or finished too late. */

struct conn;
struct request;

/* Hands the rest of stack (a request started on the loop) to a worker;
 * the answer comes later through conn_answer.  On failure, answers at
 * once. */
void defer_request(struct conn *c, const struct request *stack);

/* The connection is going: its requests still waiting for a thread are
 * withdrawn and never run. */
void defer_drop(struct conn *c);
