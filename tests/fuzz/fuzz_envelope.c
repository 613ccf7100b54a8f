/*
 * Fuzz target: the envelope pull reader (lib/envelope.c). The input is a
 * message.json; the reader pulls it through its source callback in small,
 * uneven pieces, so every token and every multi-byte character gets split
 * across a refill somewhere, and reads the header, then every entity.
 *
 * When the whole message was read without a refusal, the target also checks
 * a round trip: the writer must take every header and entity the reader
 * took, and reading the writer's output must give them back. A reader that
 * accepts what the writer would refuse (or the reverse) aborts the run.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* The source hands out at most this many bytes per call, in turn. */
static const size_t pieces[] = {1, 7, 64, 2, 4096, 3, 13, 1, 511, 5};

typedef struct source {
	const uint8_t *data;
	size_t size, pos, turn;
} source;

static xchg_status source_read(void *ctx, void *buf, size_t cap, size_t *got,
			       xchg_err *err)
{
	source *s = ctx;
	size_t n = pieces[s->turn++ % (sizeof(pieces) / sizeof(pieces[0]))];

	(void)err;
	if (n > cap)
		n = cap;
	if (n > s->size - s->pos)
		n = s->size - s->pos;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	*got = n;
	return XCHG_OK;
}

static xchg_status sink_write(void *ctx, const void *data, size_t len, xchg_err *err)
{
	(void)err;
	return xbuf_add(ctx, data, len) < 0 ? XCHG_ENOMEM : XCHG_OK;
}

static void check(int ok)
{
	if (!ok)
		abort();
}

static int same_string(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void same_header(const env_header *a, const env_header *b)
{
	check(same_string(a->message_id, b->message_id) &&
	      same_string(a->schema_version, b->schema_version) &&
	      same_string(a->sender, b->sender) &&
	      same_string(a->recipient, b->recipient) &&
	      same_string(a->sender_id, b->sender_id) &&
	      same_string(a->recipient_id, b->recipient_id) &&
	      same_string(a->created_at, b->created_at) &&
	      a->packet_format == b->packet_format &&
	      same_string(a->key_chain, b->key_chain) &&
	      a->packet_no == b->packet_no && a->ack_packet_no == b->ack_packet_no);
}

static void same_entity(const env_entity *a, const env_entity *b)
{
	char *da = a->data ? cJSON_PrintUnformatted(a->data) : NULL;
	char *db = b->data ? cJSON_PrintUnformatted(b->data) : NULL;

	check(same_string(a->type, b->type) && same_string(a->uuid, b->uuid) &&
	      same_string(a->operation, b->operation) &&
	      same_string(a->updated_at, b->updated_at) && same_string(da, db) &&
	      a->index == b->index);
	free(da);
	free(db);
}

/* Reads the whole message: XCHG_OK when it was taken. Writes it to w if given. */
static xchg_status read_all(const uint8_t *data, size_t size, xbuf *out)
{
	source src = {data, size, 0, 0};
	env_reader *r = NULL;
	env_writer *w = NULL;
	const env_header *h;
	const env_entity *e;
	char *json;
	xchg_err err;
	xchg_status rc;

	if ((rc = env_reader_new(&r, source_read, &src, "fuzz.json", &err)) ||
	    (rc = env_reader_header(r, &h, &err)))
		goto done;
	if (out)
		check(env_writer_new(&w, h, sink_write, out, &err) == XCHG_OK);
	while (!(rc = env_reader_next(r, &e, &err)) && e) {
		check(e->type && e->uuid && e->operation);
		if (!w)
			continue;
		json = e->data ? cJSON_PrintUnformatted(e->data) : NULL;
		check(!e->data || json);
		check(env_writer_entity(w, e->type, e->uuid, e->operation, e->updated_at,
					json, &err) == XCHG_OK);
		free(json);
	}
	if (!rc && w)
		check(env_writer_finish(w, &err) == XCHG_OK);
done:
	env_writer_free(w);
	env_reader_free(r);
	return rc;
}

/* Reads the input and the writer's copy of it side by side. */
static void compare(const uint8_t *data, size_t size, const xbuf *copy)
{
	source s1 = {data, size, 0, 0}, s2 = {(const uint8_t *)copy->data, copy->len, 0, 3};
	env_reader *r1 = NULL, *r2 = NULL;
	const env_header *h1, *h2;
	const env_entity *e1, *e2;
	xchg_err err;

	check(env_reader_new(&r1, source_read, &s1, "fuzz.json", &err) == XCHG_OK &&
	      env_reader_new(&r2, source_read, &s2, "copy.json", &err) == XCHG_OK &&
	      env_reader_header(r1, &h1, &err) == XCHG_OK &&
	      env_reader_header(r2, &h2, &err) == XCHG_OK);
	same_header(h1, h2);
	do {
		check(env_reader_next(r1, &e1, &err) == XCHG_OK &&
		      env_reader_next(r2, &e2, &err) == XCHG_OK);
		check(!e1 == !e2);
		if (e1)
			same_entity(e1, e2);
	} while (e1);
	env_reader_free(r1);
	env_reader_free(r2);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	xbuf copy = {0};

	if (read_all(data, size, &copy) == XCHG_OK)
		compare(data, size, &copy);
	xbuf_free(&copy);
	return 0;
}
