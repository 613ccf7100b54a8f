/*
 * lib/handoff.c: what is written on one thread is consumed in order on
 * another, whole; the consumer's failure reaches the writer; a short
 * message never starts a thread; a writer dropped midway stops it.
 */
#include <criterion/criterion.h>

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "handoff.h"

/* What the consumer took, and where. */
typedef struct sink {
	unsigned char *got;
	size_t len, cap;
	size_t calls;
	size_t fail_at;    /* the call that fails (1-based); 0: none */
	int on_writer;     /* some call ran on the writer's thread */
	int overflow;      /* more bytes came than were written */
	pthread_t writer;
} sink;

static xchg_status take(void *ctx, const void *data, size_t len, xchg_err *err)
{
	sink *s = ctx;

	s->calls++;
	s->on_writer |= pthread_equal(pthread_self(), s->writer);
	if (s->calls == s->fail_at)
		return xerr(err, XCHG_EIO, "disk full at chunk %zu", s->calls);
	/* No assertion here: it may run on the consumer's thread. */
	if (s->len + len > s->cap) {
		s->overflow = 1;
		return XCHG_OK;
	}
	memcpy(s->got + s->len, data, len);
	s->len += len;
	return XCHG_OK;
}

static unsigned char *pattern(size_t n)
{
	unsigned char *p = malloc(n);
	size_t i;

	cr_assert_not_null(p);
	for (i = 0; i < n; i++)
		p[i] = (unsigned char)(i * 7 + i / 251);
	return p;
}

/* Catches: bytes lost, doubled or reordered at chunk edges, or a slot reused while queued. */
Test(handoff, many_chunks_arrive_whole_and_in_order)
{
	size_t n = 11 * HANDOFF_CHUNK + 12345, at = 0, step = 1;
	unsigned char *in = pattern(n);
	sink s = {.got = malloc(n), .cap = n, .writer = pthread_self()};
	handoff *h = NULL;
	xchg_err err = {0};

	cr_assert_eq(handoff_new(&h, take, &s, &err), XCHG_OK, "%s", err.msg);
	while (at < n) {
		size_t len = at + step > n ? n - at : step;

		cr_assert_eq(handoff_write(h, in + at, len, &err), XCHG_OK, "%s", err.msg);
		at += len;
		step = step * 3 % 200003 + 1; /* odd sizes, some past a whole chunk */
	}
	cr_assert_eq(handoff_finish(h, &err), XCHG_OK, "%s", err.msg);
	cr_assert_not(s.overflow, "more bytes came out than went in");
	cr_assert_eq(s.len, n);
	cr_assert(memcmp(s.got, in, n) == 0, "the bytes came out changed or out of order");
	cr_assert_not(s.on_writer, "a chunk was consumed on the writer's thread");
	handoff_free(h);
	free(s.got);
	free(in);
}

/* Catches: a consumer's failure lost, or more consumed after it. */
Test(handoff, the_consumers_failure_reaches_the_writer)
{
	size_t n = 10 * HANDOFF_CHUNK, at;
	unsigned char *in = pattern(n);
	sink s = {.got = malloc(n), .cap = n, .fail_at = 2, .writer = pthread_self()};
	handoff *h = NULL;
	xchg_err err = {0};
	xchg_status rc = XCHG_OK;

	cr_assert_eq(handoff_new(&h, take, &s, &err), XCHG_OK, "%s", err.msg);
	for (at = 0; at < n && !rc; at += HANDOFF_CHUNK / 2)
		rc = handoff_write(h, in + at, HANDOFF_CHUNK / 2, &err);
	if (!rc)
		rc = handoff_finish(h, &err);
	cr_assert_eq(rc, XCHG_EIO);
	cr_assert_str_eq(err.msg, "disk full at chunk 2");
	cr_assert_eq(s.calls, 2, "the consumer went on after failing: %zu calls", s.calls);
	cr_assert_eq(s.len, HANDOFF_CHUNK);
	cr_assert_eq(handoff_finish(h, &err), XCHG_EIO, "a failed handoff finished");
	handoff_free(h);
	free(s.got);
	free(in);
}

/* Catches: a thread started for a message shorter than one chunk (every ack packet). */
Test(handoff, a_short_message_is_consumed_on_the_writers_thread)
{
	unsigned char *in = pattern(1000);
	sink s = {.got = malloc(1000), .cap = 1000, .writer = pthread_self()};
	handoff *h = NULL;
	xchg_err err = {0};

	cr_assert_eq(handoff_new(&h, take, &s, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(handoff_write(h, in, 1000, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(s.calls, 0);
	cr_assert_eq(handoff_finish(h, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(s.calls, 1);
	cr_assert(s.on_writer);
	cr_assert(memcmp(s.got, in, 1000) == 0);
	handoff_free(h);
	free(s.got);
	free(in);
}

/* Catches: a writer dropped midway leaving its thread running, or waiting forever. */
Test(handoff, a_writer_dropped_midway_stops_its_thread)
{
	size_t n = 6 * HANDOFF_CHUNK;
	unsigned char *in = pattern(n);
	sink s = {.got = malloc(n), .cap = n, .writer = pthread_self()};
	handoff *h = NULL;
	xchg_err err = {0};

	cr_assert_eq(handoff_new(&h, take, &s, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(handoff_write(h, in, n, &err), XCHG_OK, "%s", err.msg);
	handoff_free(h);
	cr_assert_leq(s.len, n);
	cr_assert(memcmp(s.got, in, s.len) == 0, "what was consumed before the drop is changed");
	free(s.got);
	free(in);
}
