/*
 * Bytes written on one thread and consumed, in order, on another: an
 * export builds a packet's JSON while its own thread deflates, signs and
 * writes what came before (deflate alone is a third of an export).
 *
 * The writer copies into chunks; a full chunk goes to the consumer's thread,
 * started with the first one, and at most HANDOFF_SLOTS chunks are held at
 * once, so memory stays flat. A message shorter than one chunk is consumed
 * on the writer's thread at handoff_finish, and so is everything when no
 * thread can be started.
 */
#ifndef XCHG_HANDOFF_H
#define XCHG_HANDOFF_H

#include <stddef.h>

#include "common.h"

#define HANDOFF_CHUNK (256u * 1024u)
#define HANDOFF_SLOTS 4

/* Takes the next len bytes; a failure is final (nothing more is consumed). */
typedef xchg_status (*handoff_fn)(void *ctx, const void *data, size_t len, xchg_err *err);

typedef struct handoff handoff;

xchg_status handoff_new(handoff **out, handoff_fn fn, void *ctx, xchg_err *err);
/* Copies data in. Fails with the consumer's failure once it has failed. */
xchg_status handoff_write(handoff *h, const void *data, size_t len, xchg_err *err);
/*
 * Hands the rest over and waits until all is consumed: the consumer's
 * failure, if any. After it, the consumer's state is the caller's again.
 */
xchg_status handoff_finish(handoff *h, xchg_err *err);
/* Stops the consumer (what it has not taken yet is dropped), then frees h. */
void handoff_free(handoff *h);

#endif
