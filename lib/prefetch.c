#include "prefetch.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * The items are a ring: `queued` from `head` on wait for the taker, who
 * pops the one at head; the reader adds after them. `bytes` is their text.
 */
struct prefetch {
	prefetch_fn fn;
	void *ctx;
	pthread_mutex_t mu;
	pthread_cond_t changed;
	pthread_t thread;
	int started;   /* the reading thread runs, until prefetch_free joins it */
	prefetch_item ring[PREFETCH_SLOTS];
	size_t head, queued;
	uint64_t bytes;
	int ended;     /* the reader read the last item, or failed: rc, err */
	int stop;      /* the taker wants no more */
	/*
	 * Who waits for the other. A reader that found no room waits until
	 * half the ring is free, so that the two wake each other once per many
	 * items, not once per item.
	 */
	int reader_waits, taker_waits;
	xchg_status rc;
	xchg_err err;
};

/* Whether the reader must wait before it adds item: the ring is full, or its text is. */
static int no_room(const prefetch *p, const prefetch_item *item)
{
	return p->queued == PREFETCH_SLOTS ||
	       (p->queued && p->bytes + item->e.bytes > PREFETCH_BYTES);
}

static void *read_ahead(void *arg)
{
	prefetch *p = arg;
	prefetch_item item;
	xchg_err e = {0};
	xchg_status rc;
	int more;

	for (;;) {
		memset(&item, 0, sizeof(item));
		more = 0;
		rc = p->fn(p->ctx, &item, &more, &e);
		pthread_mutex_lock(&p->mu);
		if (!rc && more && !p->stop && no_room(p, &item)) {
			p->reader_waits = 1;
			while (!p->stop && (no_room(p, &item) || p->queued > PREFETCH_SLOTS / 2))
				pthread_cond_wait(&p->changed, &p->mu);
			p->reader_waits = 0;
		}
		if (p->stop || rc || !more) {
			if (!p->stop) {
				p->ended = 1;
				p->rc = rc;
				p->err = e;
			}
			pthread_cond_broadcast(&p->changed);
			pthread_mutex_unlock(&p->mu);
			cJSON_Delete(item.owner);
			return NULL;
		}
		p->ring[(p->head + p->queued) % PREFETCH_SLOTS] = item;
		p->queued++;
		p->bytes += item.e.bytes;
		if (p->taker_waits)
			pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->mu);
	}
}

xchg_status prefetch_new(prefetch **out, prefetch_fn fn, void *ctx, xchg_err *err)
{
	prefetch *p;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if (pthread_mutex_init(&p->mu, NULL) != 0) {
		free(p);
		return xerr(err, XCHG_EFAIL, "cannot make a lock");
	}
	if (pthread_cond_init(&p->changed, NULL) != 0) {
		pthread_mutex_destroy(&p->mu);
		free(p);
		return xerr(err, XCHG_EFAIL, "cannot make a condition variable");
	}
	p->fn = fn;
	p->ctx = ctx;
	/* Without a thread, prefetch_next reads each item itself. */
	p->started = pthread_create(&p->thread, NULL, read_ahead, p) == 0;
	*out = p;
	return XCHG_OK;
}

xchg_status prefetch_next(prefetch *p, prefetch_item *item, int *more, xchg_err *err)
{
	xchg_status rc = XCHG_OK;

	memset(item, 0, sizeof(*item));
	*more = 0;
	if (!p->started) {
		if (!p->ended && !(p->rc = p->fn(p->ctx, item, more, &p->err)) && *more)
			return XCHG_OK;
		p->ended = 1;
		if (p->rc)
			*err = p->err;
		return p->rc;
	}
	pthread_mutex_lock(&p->mu);
	p->taker_waits = 1;
	while (!p->queued && !p->ended)
		pthread_cond_wait(&p->changed, &p->mu);
	p->taker_waits = 0;
	if (p->queued) {
		*item = p->ring[p->head];
		p->head = (p->head + 1) % PREFETCH_SLOTS;
		p->queued--;
		p->bytes -= item->e.bytes;
		*more = 1;
		if (p->reader_waits && p->queued <= PREFETCH_SLOTS / 2)
			pthread_cond_broadcast(&p->changed);
	} else if ((rc = p->rc)) {
		*err = p->err;
	}
	pthread_mutex_unlock(&p->mu);
	return rc;
}

void prefetch_free(prefetch *p)
{
	if (!p)
		return;
	if (p->started) {
		pthread_mutex_lock(&p->mu);
		p->stop = 1;
		pthread_cond_broadcast(&p->changed);
		pthread_mutex_unlock(&p->mu);
		pthread_join(p->thread, NULL);
	}
	for (; p->queued; p->queued--, p->head = (p->head + 1) % PREFETCH_SLOTS)
		cJSON_Delete(p->ring[p->head].owner);
	pthread_cond_destroy(&p->changed);
	pthread_mutex_destroy(&p->mu);
	free(p);
}
