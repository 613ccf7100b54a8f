/*
 * Progress of a long export or import, for xchg_progress_cb: the caller of
 * xchg_export_with or xchg_import_with hears every PROGRESS_EVERY entities
 * how many are done and, when known or estimated, how many in all.
 */
#ifndef XCHG_PROGRESS_H
#define XCHG_PROGRESS_H

#include <stdint.h>

#include "xchg.h"

#define PROGRESS_EVERY 1024

typedef struct progress {
	xchg_progress_cb cb; /* NULL: nobody listens */
	void *ctx;
	int64_t done;
	int64_t total;       /* 0 while unknown */
} progress;

/* Counting starts again at 0 toward total (0 when unknown). */
void progress_start(progress *p, int64_t total);
/* One entity more. */
void progress_step(progress *p);
/*
 * The total estimated from a share of the input: `read` of `size` bytes
 * have given p->done entities. Nothing when size is unknown (0).
 */
void progress_estimate(progress *p, uint64_t read, uint64_t size);
/* The last report: done and total are then equal. */
void progress_end(progress *p);

#endif
