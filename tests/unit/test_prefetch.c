/*
 * lib/prefetch.c: what is read on one thread is taken in order on another,
 * each item once; a failure of the reading comes after the items before
 * it; the reading never runs further ahead than its bounds; a taker that
 * stops midway frees what waits.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <unistd.h>

#include "prefetch.h"

/* The reading side: n items, the k-th (0-based) carrying k; read[] counts calls. */
typedef struct source {
	size_t n;
	size_t fail_at;   /* the item whose reading fails (1-based); 0: none */
	size_t bytes;     /* each item's text */
	size_t calls;     /* written on the reading thread, read after prefetch_free */
	size_t taken;     /* written by the taker, read by the reader: atomics */
	size_t most_ahead; /* the most items read and not yet taken, seen when reading one */
} source;

static xchg_status read_one(void *ctx, prefetch_item *item, int *more, xchg_err *err)
{
	source *s = ctx;
	size_t k = s->calls++, ahead = k - __atomic_load_n(&s->taken, __ATOMIC_SEQ_CST);

	if (ahead > s->most_ahead)
		s->most_ahead = ahead;
	if (s->fail_at && k + 1 == s->fail_at)
		return xerr(err, XCHG_EPACKET, "t.zip: message.json: entity %zu: truncated", k + 1);
	if (k == s->n)
		return XCHG_OK;
	*more = 1;
	item->owner = cJSON_CreateNumber((double)k);
	item->e.index = k;
	item->e.bytes = s->bytes;
	item->read = k + 1;
	item->size = s->n;
	return XCHG_OK;
}

/* Takes up to want more items, checking each is the next; returns how many came. */
static size_t take(prefetch *p, source *s, size_t want, xchg_status *rc, xchg_err *err)
{
	prefetch_item item;
	size_t got = s->taken, first = got;
	int more = 1;

	*rc = XCHG_OK;
	while (got - first < want && !(*rc = prefetch_next(p, &item, &more, err)) && more) {
		cr_assert_eq(item.e.index, got, "item %zu came in place of %zu", item.e.index, got);
		cr_assert(cJSON_IsNumber(item.owner) && item.owner->valuedouble == (double)got);
		cr_assert_eq(item.read, got + 1, "the progress is not the item's own");
		cJSON_Delete(item.owner);
		__atomic_store_n(&s->taken, ++got, __ATOMIC_SEQ_CST);
	}
	return got - first;
}

/* Catches: items lost, doubled or reordered through the ring, or the end not said. */
Test(prefetch, every_item_arrives_once_and_in_order)
{
	source s = {.n = 5 * PREFETCH_SLOTS + 17, .bytes = 100};
	prefetch *p = NULL;
	xchg_err err = {0};
	xchg_status rc;
	prefetch_item item;
	int more = 1;

	cr_assert_eq(prefetch_new(&p, read_one, &s, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(take(p, &s, SIZE_MAX, &rc, &err), s.n, "%s", err.msg);
	cr_assert_eq(rc, XCHG_OK, "%s", err.msg);
	cr_assert_eq(prefetch_next(p, &item, &more, &err), XCHG_OK, "past the end: %s", err.msg);
	cr_assert_eq(more, 0);
	prefetch_free(p);
	cr_assert_eq(s.calls, s.n + 1, "the reading went on past its end");
}

/* Catches: a reading failure that overtakes the items before it, or is lost. */
Test(prefetch, a_failure_comes_after_the_items_before_it)
{
	source s = {.n = 1000, .fail_at = 301, .bytes = 10};
	prefetch *p = NULL;
	xchg_err err = {0};
	xchg_status rc;

	cr_assert_eq(prefetch_new(&p, read_one, &s, &err), XCHG_OK, "%s", err.msg);
	usleep(20 * 1000);
	cr_assert_eq(take(p, &s, SIZE_MAX, &rc, &err), 300);
	cr_assert_eq(rc, XCHG_EPACKET);
	cr_assert_str_eq(err.msg, "t.zip: message.json: entity 301: truncated");
	prefetch_free(p);
}

/* Catches: the reading running ahead past the ring, or past the text bound. */
Test(prefetch, reading_waits_for_room)
{
	source few = {.n = 4 * PREFETCH_SLOTS, .bytes = 10};
	source big = {.n = 40, .bytes = PREFETCH_BYTES / 3 + 1};
	prefetch *p = NULL;
	xchg_err err = {0};
	xchg_status rc;
	size_t i;

	cr_assert_eq(prefetch_new(&p, read_one, &few, &err), XCHG_OK);
	for (i = 0; i < 4; i++) {
		usleep(20 * 1000); /* the reader fills what room it has meanwhile */
		take(p, &few, PREFETCH_SLOTS / 2, &rc, &err);
	}
	prefetch_free(p);
	cr_assert_leq(few.most_ahead, PREFETCH_SLOTS + 1, "%zu items read ahead", few.most_ahead);
	cr_assert_geq(few.most_ahead, PREFETCH_SLOTS, "the reading did not run ahead at all");

	cr_assert_eq(prefetch_new(&p, read_one, &big, &err), XCHG_OK);
	for (i = 0; i < 10; i++) {
		usleep(20 * 1000);
		take(p, &big, 1, &rc, &err);
	}
	prefetch_free(p);
	/* Two wait (the third would pass the bound), one is being read. */
	cr_assert_leq(big.most_ahead, 3, "%zu items of a third of the bound read ahead", big.most_ahead);
}

/* Catches: what waits leaked, or the reader left running, when the taker stops early. */
Test(prefetch, a_taker_that_stops_midway_frees_what_waits)
{
	source s = {.n = 100000, .bytes = 10};
	prefetch *p = NULL;
	xchg_err err = {0};
	xchg_status rc;

	cr_assert_eq(prefetch_new(&p, read_one, &s, &err), XCHG_OK);
	cr_assert_eq(take(p, &s, 10, &rc, &err), 10);
	usleep(20 * 1000);
	prefetch_free(p);
	cr_assert_lt(s.calls, 10 + PREFETCH_SLOTS + 2, "the reading did not stop (%zu calls)", s.calls);
}
