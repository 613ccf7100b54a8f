/*
 * Entities read on one thread and applied, in order, on another: an
 * import inflates, hashes and parses what comes next while it writes what
 * came before (reading is a quarter of an import's time). The reading
 * counterpart of handoff.h.
 *
 * At most PREFETCH_SLOTS entities, and PREFETCH_BYTES of their JSON text,
 * wait ahead (one always may, however large), so memory stays bounded.
 * Where no thread can be started, each is read when it is asked for.
 */
#ifndef XCHG_PREFETCH_H
#define XCHG_PREFETCH_H

#include <stdint.h>

#include "common.h"
#include "envelope.h"

#define PREFETCH_SLOTS 256
#define PREFETCH_BYTES (8u * 1024u * 1024u)

typedef struct prefetch_item {
	env_entity e;         /* points into owner */
	cJSON *owner;         /* what e points into: the taker's to free (cJSON_Delete) */
	uint64_t read, size;  /* how far into its packet the reading was after it */
} prefetch_item;

/*
 * Reads the next entity into *item, or sets *more to 0 at the end. Runs on
 * the reading thread, which alone touches what it reads from until
 * prefetch_free.
 */
typedef xchg_status (*prefetch_fn)(void *ctx, prefetch_item *item, int *more, xchg_err *err);

typedef struct prefetch prefetch;

xchg_status prefetch_new(prefetch **out, prefetch_fn fn, void *ctx, xchg_err *err);
/*
 * The next entity (the caller takes item->owner), or *more 0 at the end;
 * a failure of the reading comes in its place, after the entities before it.
 */
xchg_status prefetch_next(prefetch *p, prefetch_item *item, int *more, xchg_err *err);
/*
 * Stops the reading (what waits is freed), then frees p. After it, what
 * fn reads from is the caller's again.
 */
void prefetch_free(prefetch *p);

#endif
