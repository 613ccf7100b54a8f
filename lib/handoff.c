#include "handoff.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

/*
 * The chunks are a ring: `queued` full ones from `head` on wait for the
 * consumer (the one at head is being consumed until it is popped); the
 * writer fills the slot after them, which is free.
 */
struct handoff {
	handoff_fn fn;
	void *ctx;
	pthread_mutex_t mu;
	pthread_cond_t changed;
	pthread_t thread;
	int started;   /* the consumer's thread runs, until handoff_finish joins it */
	int alone;     /* no thread could be started: the writer consumes */
	unsigned char *buf[HANDOFF_SLOTS];
	size_t len[HANDOFF_SLOTS];
	size_t head, queued;
	size_t filling, filled; /* the writer's slot, and how much it holds */
	int stop;      /* nothing more comes: the consumer ends once the ring is empty */
	int drop;      /* what is queued is not consumed */
	xchg_status rc; /* the consumer's first failure (under mu while the thread runs) */
	xchg_err err;
	xchg_status seen; /* the failure as the writer has seen it: the writer's alone */
};

static void *consume(void *arg)
{
	handoff *h = arg;
	xchg_err e;
	xchg_status rc;

	pthread_mutex_lock(&h->mu);
	for (;;) {
		while (!h->queued && !h->stop)
			pthread_cond_wait(&h->changed, &h->mu);
		if (!h->queued)
			break;
		if (!h->rc && !h->drop) {
			size_t slot = h->head;

			pthread_mutex_unlock(&h->mu);
			rc = h->fn(h->ctx, h->buf[slot], h->len[slot], &e);
			pthread_mutex_lock(&h->mu);
			if (rc && !h->rc) {
				h->rc = rc;
				h->err = e;
			}
		}
		h->head = (h->head + 1) % HANDOFF_SLOTS;
		h->queued--;
		pthread_cond_broadcast(&h->changed);
	}
	pthread_mutex_unlock(&h->mu);
	return NULL;
}

xchg_status handoff_new(handoff **out, handoff_fn fn, void *ctx, xchg_err *err)
{
	handoff *h;

	*out = NULL;
	if (!(h = calloc(1, sizeof(*h))) || !(h->buf[0] = malloc(HANDOFF_CHUNK))) {
		free(h);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	if (pthread_mutex_init(&h->mu, NULL) != 0) {
		free(h->buf[0]);
		free(h);
		return xerr(err, XCHG_EFAIL, "cannot make a lock");
	}
	if (pthread_cond_init(&h->changed, NULL) != 0) {
		pthread_mutex_destroy(&h->mu);
		free(h->buf[0]);
		free(h);
		return xerr(err, XCHG_EFAIL, "cannot make a condition variable");
	}
	h->fn = fn;
	h->ctx = ctx;
	*out = h;
	return XCHG_OK;
}

/* The consumer's failure, now seen by the writer (h->rc is read under mu, or with no thread). */
static xchg_status failed(handoff *h, xchg_err *err)
{
	h->seen = h->rc;
	*err = h->err;
	return h->rc;
}

/* The writer's slot consumed on the writer's thread. */
static xchg_status consume_here(handoff *h, xchg_err *err)
{
	if ((h->rc = h->fn(h->ctx, h->buf[h->filling], h->filled, &h->err)))
		return failed(h, err);
	h->filled = 0;
	return XCHG_OK;
}

/* Passes the writer's slot on (to the thread, started now if need be) and takes a free one. */
static xchg_status pass_on(handoff *h, xchg_err *err)
{
	xchg_status rc = XCHG_OK;
	size_t next;

	if (!h->started && !h->alone)
		h->alone = pthread_create(&h->thread, NULL, consume, h) != 0;
	if (h->alone)
		return consume_here(h, err);
	h->started = 1;
	pthread_mutex_lock(&h->mu);
	h->len[h->filling] = h->filled;
	h->queued++;
	pthread_cond_broadcast(&h->changed);
	while (h->queued == HANDOFF_SLOTS && !h->rc)
		pthread_cond_wait(&h->changed, &h->mu);
	next = (h->head + h->queued) % HANDOFF_SLOTS;
	if (h->rc)
		rc = failed(h, err);
	pthread_mutex_unlock(&h->mu);
	if (rc)
		return rc;
	if (!h->buf[next] && !(h->buf[next] = malloc(HANDOFF_CHUNK)))
		return h->seen = xerr(err, XCHG_ENOMEM, "out of memory");
	h->filling = next;
	h->filled = 0;
	return XCHG_OK;
}

xchg_status handoff_write(handoff *h, const void *data, size_t len, xchg_err *err)
{
	const unsigned char *p = data;
	xchg_status rc;

	if (h->seen)
		return xerr(err, h->seen, "an earlier write failed");
	while (len) {
		size_t n = HANDOFF_CHUNK - h->filled;

		if (n > len)
			n = len;
		memcpy(h->buf[h->filling] + h->filled, p, n);
		h->filled += n;
		p += n;
		len -= n;
		if (h->filled == HANDOFF_CHUNK && (rc = pass_on(h, err)))
			return rc;
	}
	return XCHG_OK;
}

/* Ends the consumer's thread once it has taken everything queued (or drops it). */
static void join(handoff *h, int drop)
{
	if (!h->started)
		return;
	pthread_mutex_lock(&h->mu);
	h->stop = 1;
	h->drop |= drop;
	pthread_cond_broadcast(&h->changed);
	pthread_mutex_unlock(&h->mu);
	pthread_join(h->thread, NULL);
	h->started = 0;
}

xchg_status handoff_finish(handoff *h, xchg_err *err)
{
	xchg_status rc = XCHG_OK;

	if (h->seen)
		return xerr(err, h->seen, "an earlier write failed");
	if (h->filled)
		rc = h->started ? pass_on(h, err) : consume_here(h, err);
	join(h, 0);
	/* Joined: h->rc is the writer's to read. */
	if (!rc && h->rc)
		rc = failed(h, err);
	return rc;
}

void handoff_free(handoff *h)
{
	size_t i;

	if (!h)
		return;
	join(h, 1);
	for (i = 0; i < HANDOFF_SLOTS; i++)
		free(h->buf[i]);
	pthread_cond_destroy(&h->changed);
	pthread_mutex_destroy(&h->mu);
	free(h);
}
