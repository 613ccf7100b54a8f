#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"

/* ---- fixtures ---- */

/* A sink that keeps everything and remembers its largest call. */
typedef struct sink {
	xbuf out;
	size_t calls, max;
	xchg_status fail; /* when set, every call fails with it */
} sink;

static xchg_status sink_write(void *ctx, const void *data, size_t len, xchg_err *err)
{
	sink *s = ctx;

	s->calls++;
	if (len > s->max)
		s->max = len;
	if (s->fail)
		return xerr(err, s->fail, "out.tmp: disk full");
	cr_assert_eq(xbuf_add(&s->out, data, len), 0);
	return XCHG_OK;
}

/* A source over a buffer that hands out at most step bytes a call (0: as many as asked). */
typedef struct source {
	const char *data;
	size_t len, pos, step;
	size_t fail_at; /* when nonzero, reading at or past this offset fails */
} source;

static xchg_status source_read(void *ctx, void *buf, size_t cap, size_t *got, xchg_err *err)
{
	source *s = ctx;
	size_t n = s->len - s->pos;

	if (s->fail_at && s->pos >= s->fail_at)
		return xerr(err, XCHG_EIO, "t.zip: inflate failed");
	if (n > cap)
		n = cap;
	if (s->step && n > s->step)
		n = s->step;
	memcpy(buf, s->data + s->pos, n);
	s->pos += n;
	*got = n;
	return XCHG_OK;
}

/* One entity as given to the writer and expected back from the reader. */
typedef struct ent {
	const char *type, *uuid, *op, *updated_at, *data;
} ent;

static env_header sample_header(void)
{
	env_header h = {
		.sender_id = "c0000000-0000-4000-8000-000000000001",
		.recipient_id = "d0000000-0000-4000-8000-000000000001",
		.message_id = "m-1",
		.schema_version = "1.0.0",
		.sender = "CENTER",
		.recipient = "DESKTOP-1",
		.created_at = "2026-11-25T09:30:00.123Z",
		.packet_no = 7,
		.ack_packet_no = 3,
	};

	return h;
}

/* What the writer makes of sample_header() and valid_ents: the format, byte for byte. */
static const char VALID[] =
	"{\"header\":{\"sender_node_id\":\"c0000000-0000-4000-8000-000000000001\","
	"\"recipient_node_id\":\"d0000000-0000-4000-8000-000000000001\",\"packet_no\":7,\"ack_packet_no\":3,"
	"\"schema_version\":\"1.0.0\",\"packet_format\":2,\"message_id\":\"m-1\","
	"\"sender_code\":\"CENTER\",\"recipient_code\":\"DESKTOP-1\","
	"\"created_at\":\"2026-11-25T09:30:00.123Z\"},\n"
	"\"body\":{\"entities\":[\n"
	"{\"type\":\"Brigade\",\"uuid\":\"u-1\",\"operation\":\"UPDATE\","
	"\"updated_at\":\"2026-11-25T09:00:00.000Z\",\"data\":{\"name\":\"Nörth\",\"n\":[1,2]}},\n"
	"{\"type\":\"Brigade\",\"uuid\":\"u-2\",\"operation\":\"DELETE\","
	"\"updated_at\":null,\"data\":null}\n"
	"]}}\n";

static const ent valid_ents[] = {
	{"Brigade", "u-1", "UPDATE", "2026-11-25T09:00:00.000Z", "{\"name\":\"Nörth\",\"n\":[1,2]}"},
	{"Brigade", "u-2", "DELETE", NULL, NULL},
};

/* Entities that exercise the writer's escaping and the reader's decoding. */
static const ent rich_ents[] = {
	{"Brigade", "7c9e6679-7425-40de-944b-e07fc1f90ae7", "INSERT", "2026-11-25T09:00:00.000Z",
	 "{\"name\":\"North\",\"size\":12,\"chief\":null,\"active\":true,"
	 "\"members\":[{\"uuid\":\"a\",\"tags\":[1,[2,[3]]]},{\"uuid\":\"b\",\"tags\":[]}]}"},
	{"Brigade", "uuid-2", "UPDATE", "2026-11-25T09:00:01.000Z",
	 "{\"name\":\"Бригада №1 — ✓ 😀\",\"note\":\"say \\\"hi\\\" \\\\ \\n \\u00e9 \\ud83d\\ude00\"}"},
	{"Brigade", "uuid-3", "DELETE", NULL, NULL},
	{"Worker \"q\" \\ back\nslash\ttab\x01/é", "uuid-4 ünï", "UPDATE", "when\x1f",
	 "{\"big\":123456789012345678901234567890,\"i64\":-9223372036854775808}"},
	{"Move", "uuid-5", "DELETE", "2026-11-25T09:00:02.000Z", NULL},
	{"Move", "uuid-6", "INSERT", NULL, " { } "},
};

#define N(a) (sizeof(a) / sizeof((a)[0]))

static void write_ents(sink *s, const env_header *h, const ent *ents, size_t n)
{
	env_writer *w = NULL;
	xchg_err err = {0};
	size_t i;

	cr_assert_eq(env_writer_new(&w, h, sink_write, s, &err), XCHG_OK, "%s", err.msg);
	for (i = 0; i < n; i++)
		cr_assert_eq(env_writer_entity(w, ents[i].type, ents[i].uuid, ents[i].op,
					       ents[i].updated_at, ents[i].data, &err),
			     XCHG_OK, "entity %zu: %s", i, err.msg);
	cr_assert_eq(env_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	env_writer_free(w);
}

static void expect_str(const char *got, const char *want, const char *what)
{
	if (!want)
		cr_expect_null(got, "%s: got \"%s\", want NULL", what, got);
	else
		cr_expect(got && strcmp(got, want) == 0, "%s: got \"%s\", want \"%s\"",
			  what, got ? got : "(null)", want);
}

static void expect_data(const cJSON *got, const char *want, size_t i)
{
	cJSON *w;

	if (!want) {
		cr_expect_null(got, "entity %zu: data should be NULL", i);
		return;
	}
	cr_assert_not_null(w = cJSON_Parse(want));
	cr_expect(got && cJSON_Compare(w, got, 1), "entity %zu: data differs", i);
	cJSON_Delete(w);
}

/* Reads text step bytes at a time and checks it holds exactly h and ents. */
static void expect_reads(const char *text, size_t len, size_t step,
			 const env_header *want, const ent *ents, size_t n)
{
	source src = {text, len, 0, step, 0};
	const env_header *h = NULL;
	const env_entity *e = NULL;
	env_reader *r = NULL;
	xchg_err err = {0};
	size_t i;

	cr_assert_eq(env_reader_new(&r, source_read, &src, "t.zip", &err), XCHG_OK);
	cr_assert_eq(env_reader_header(r, &h, &err), XCHG_OK, "%s", err.msg);
	expect_str(h->message_id, want->message_id, "message_id");
	expect_str(h->schema_version, want->schema_version, "schema_version");
	expect_str(h->sender, want->sender, "sender");
	expect_str(h->recipient, want->recipient, "recipient");
	expect_str(h->created_at, want->created_at, "created_at");
	cr_expect_eq(h->packet_no, want->packet_no);
	cr_expect_eq(h->ack_packet_no, want->ack_packet_no);
	for (i = 0; i < n; i++) {
		cr_assert_eq(env_reader_next(r, &e, &err), XCHG_OK, "step %zu: %s", step, err.msg);
		cr_assert_not_null(e, "entity %zu missing", i);
		cr_expect_eq(e->index, i);
		expect_str(e->type, ents[i].type, "entity_type");
		expect_str(e->uuid, ents[i].uuid, "entity_uuid");
		expect_str(e->operation, ents[i].op, "operation");
		expect_str(e->updated_at, ents[i].updated_at, "updated_at");
		expect_data(e->data, ents[i].data, i);
	}
	cr_assert_eq(env_reader_next(r, &e, &err), XCHG_OK, "%s", err.msg);
	cr_expect_null(e, "more entities than written");
	cr_expect_eq(env_reader_next(r, &e, &err), XCHG_OK, "past the end: %s", err.msg);
	cr_expect_null(e);
	env_reader_free(r);
}

/* Reads len bytes of text to the end; the first failure, *count entities before it. */
static xchg_status read_all(const char *text, size_t len, size_t step, size_t *count,
			    xchg_err *err)
{
	source src = {text, len, 0, step, 0};
	const env_header *h;
	const env_entity *e;
	env_reader *r = NULL;
	xchg_status rc;

	*count = 0;
	if ((rc = env_reader_new(&r, source_read, &src, "t.zip", err)) == XCHG_OK &&
	    (rc = env_reader_header(r, &h, err)) == XCHG_OK)
		while ((rc = env_reader_next(r, &e, err)) == XCHG_OK && e)
			(*count)++;
	env_reader_free(r);
	return rc;
}

/*
 * text must be refused with a message naming the packet and holding reason,
 * and the same message whether the bytes come all at once or one by one.
 */
static void expect_refused_len(const char *text, size_t len, const char *reason)
{
	xchg_err whole = {0}, bytes = {0};
	size_t n;

	cr_expect_eq(read_all(text, len, 0, &n, &whole), XCHG_EPACKET, "accepted: %.*s",
		     (int)len, text);
	cr_expect(strncmp(whole.msg, "t.zip: message.json: ", 21) == 0, "prefix: %s", whole.msg);
	cr_expect(strstr(whole.msg, reason), "message \"%s\" lacks \"%s\"", whole.msg, reason);
	cr_expect_eq(read_all(text, len, 1, &n, &bytes), XCHG_EPACKET);
	cr_expect_str_eq(bytes.msg, whole.msg);
}

static void expect_refused(const char *text, const char *reason)
{
	expect_refused_len(text, strlen(text), reason);
}

/* VALID with the first `from` replaced by `to`; the caller frees it. */
static char *edit(const char *from, const char *to)
{
	const char *at = strstr(VALID, from);
	char *out;

	cr_assert_not_null(at, "\"%s\" not in VALID", from);
	out = xstrdup_printf("%.*s%s%s", (int)(at - VALID), VALID, to, at + strlen(from));
	cr_assert_not_null(out);
	return out;
}

static void expect_edit_refused(const char *from, const char *to, const char *reason)
{
	char *text = edit(from, to);

	expect_refused(text, reason);
	free(text);
}

static void expect_edit_accepted(const char *from, const char *to)
{
	char *text = edit(from, to);
	xchg_err err = {0};
	size_t n;

	cr_expect_eq(read_all(text, strlen(text), 0, &n, &err), XCHG_OK, "%s: %s", err.msg, text);
	cr_expect_eq(n, 2);
	free(text);
}

/* ---- the writer ---- */

Test(envelope, writer_output_is_the_documented_layout)
{
	env_header h = sample_header();
	sink s = {0};

	write_ents(&s, &h, valid_ents, N(valid_ents));
	cr_expect_str_eq(s.out.data, VALID);
	xbuf_free(&s.out);
}

Test(envelope, writer_empty_message)
{
	env_header h = sample_header();
	sink s = {0};
	size_t n;
	xchg_err err = {0};

	write_ents(&s, &h, NULL, 0);
	cr_expect(strstr(s.out.data, "},\n\"body\":{\"entities\":[\n]}}\n"), "%s", s.out.data);
	cr_expect_eq(read_all(s.out.data, s.out.len, 0, &n, &err), XCHG_OK, "%s", err.msg);
	cr_expect_eq(n, 0);
	xbuf_free(&s.out);
}

Test(envelope, writer_escapes_strings)
{
	env_header h = sample_header();
	sink s = {0};
	ent e = {"a\"b\\c\nd\x01" "e/é\x7f", "u", "DELETE", NULL, NULL};

	write_ents(&s, &h, &e, 1);
	cr_expect(strstr(s.out.data, "\"type\":\"a\\\"b\\\\c\\u000ad\\u0001e/é\x7f\""),
		  "%s", s.out.data);
	cr_expect(strstr(s.out.data, "\"updated_at\":null,\"data\":null}"), "%s", s.out.data);
	xbuf_free(&s.out);
}

Test(envelope, writer_copies_data_verbatim)
{
	env_header h = sample_header();
	sink s = {0};

	write_ents(&s, &h, rich_ents, N(rich_ents));
	cr_expect(strstr(s.out.data, "\"data\":{\"big\":123456789012345678901234567890,"
				     "\"i64\":-9223372036854775808}}"), "%s", s.out.data);
	cr_expect(strstr(s.out.data, "\"data\": { } }"), "%s", s.out.data);
	xbuf_free(&s.out);
}

Test(envelope, round_trip)
{
	env_header h = sample_header();
	sink s = {0};

	write_ents(&s, &h, rich_ents, N(rich_ents));
	expect_reads(s.out.data, s.out.len, 0, &h, rich_ents, N(rich_ents));
	xbuf_free(&s.out);
}

Test(envelope, round_trip_largest_header_numbers)
{
	env_header h = sample_header();
	sink s = {0};

	h.packet_no = INT64_C(9007199254740991);
	h.ack_packet_no = INT64_C(9007199254740990);
	write_ents(&s, &h, valid_ents, N(valid_ents));
	cr_expect(strstr(s.out.data, "\"packet_no\":9007199254740991,"
				     "\"ack_packet_no\":9007199254740990,"), "%s", s.out.data);
	expect_reads(s.out.data, s.out.len, 0, &h, valid_ents, N(valid_ents));
	xbuf_free(&s.out);
}

/* The packets a sender lists as received travel in order, and a header copy keeps them. */
Test(envelope, round_trip_of_the_packets_received)
{
	env_received got[] = {{4, "2026-11-25T09:00:00.001Z"}, {6, "2026-11-25T09:10:00Z"}};
	env_header h = sample_header(), copy;
	source src = {0};
	const env_header *read = NULL;
	env_reader *r = NULL;
	xchg_err err = {0};
	sink s = {0};
	size_t i;

	h.received = got;
	h.n_received = N(got);
	write_ents(&s, &h, valid_ents, N(valid_ents));
	cr_expect(strstr(s.out.data, ",\"received\":[{\"packet_no\":4,\"created_at\":"
				     "\"2026-11-25T09:00:00.001Z\"},{\"packet_no\":6,"), "%s", s.out.data);
	src = (source){s.out.data, s.out.len, 0, 0, 0};
	cr_assert_eq(env_reader_new(&r, source_read, &src, "t.zip", &err), XCHG_OK);
	cr_assert_eq(env_reader_header(r, &read, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(env_header_copy(&copy, read, &err), XCHG_OK, "%s", err.msg);
	env_reader_free(r);
	cr_assert_eq(copy.n_received, N(got));
	for (i = 0; i < N(got); i++) {
		cr_expect_eq(copy.received[i].packet_no, got[i].packet_no);
		cr_expect_str_eq(copy.received[i].created_at, got[i].created_at);
	}
	env_header_clear(&copy);
	xbuf_free(&s.out);
}

Test(envelope, reader_handles_every_chunk_boundary)
{
	env_header h = sample_header();
	size_t steps[] = {1, 2, 3, 7, 64, 4096};
	sink s = {0};
	size_t i;

	write_ents(&s, &h, rich_ents, N(rich_ents));
	for (i = 0; i < N(steps); i++)
		expect_reads(s.out.data, s.out.len, steps[i], &h, rich_ents, N(rich_ents));
	xbuf_free(&s.out);
}

Test(envelope, writer_hands_the_sink_bounded_chunks)
{
	env_header h = sample_header();
	const env_entity *e;
	env_reader *r = NULL;
	env_writer *w = NULL;
	xchg_err err = {0};
	char uuid[32], data[96];
	sink s = {0};
	source src = {0};
	size_t i;

	cr_assert_eq(env_writer_new(&w, &h, sink_write, &s, &err), XCHG_OK, "%s", err.msg);
	for (i = 0; i < 10000; i++) {
		snprintf(uuid, sizeof(uuid), "u-%zu", i);
		snprintf(data, sizeof(data), "{\"i\":%zu,\"pad\":\"%040zu\"}", i, i);
		cr_assert_eq(env_writer_entity(w, "Row", uuid, i % 3 ? "UPDATE" : "DELETE", NULL,
					       i % 3 ? data : NULL, &err), XCHG_OK, "%s", err.msg);
	}
	cr_expect(s.calls > 0, "the writer held the whole message");
	cr_assert_eq(env_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	env_writer_free(w);
	cr_expect(s.max <= 64 * 1024, "a sink call of %zu bytes", s.max);
	cr_expect(s.calls >= s.out.len / (64 * 1024));

	src.data = s.out.data;
	src.len = s.out.len;
	cr_assert_eq(env_reader_new(&r, source_read, &src, "t.zip", &err), XCHG_OK);
	for (i = 0; i < 10000; i++) {
		cr_assert_eq(env_reader_next(r, &e, &err), XCHG_OK, "%s", err.msg);
		cr_assert_not_null(e);
		cr_assert_eq(e->index, i);
		snprintf(uuid, sizeof(uuid), "u-%zu", i);
		cr_assert_str_eq(e->uuid, uuid);
		if (i % 3)
			cr_assert_eq(cJSON_GetObjectItem(e->data, "i")->valuedouble, (double)i);
		else
			cr_assert_null(e->data);
	}
	cr_assert_eq(env_reader_next(r, &e, &err), XCHG_OK, "%s", err.msg);
	cr_expect_null(e);
	env_reader_free(r);
	xbuf_free(&s.out);
}

Test(envelope, writer_splits_one_large_entity)
{
	env_header h = sample_header();
	size_t big = 1024 * 1024, n;
	xchg_err err = {0};
	sink s = {0};
	ent e = {"Doc", "u-1", "INSERT", NULL, NULL};
	char *data = malloc(big + 16);

	cr_assert_not_null(data);
	memcpy(data, "{\"s\":\"", 6);
	memset(data + 6, 'x', big);
	strcpy(data + 6 + big, "\"}");
	e.data = data;
	write_ents(&s, &h, &e, 1);
	cr_expect(s.max <= 64 * 1024, "a sink call of %zu bytes", s.max);
	cr_expect(s.calls > 16);
	cr_expect_eq(read_all(s.out.data, s.out.len, 0, &n, &err), XCHG_OK, "%s", err.msg);
	cr_expect_eq(n, 1);
	free(data);
	xbuf_free(&s.out);
}

Test(envelope, writer_refuses_what_the_reader_would)
{
	static const ent bad[] = {
		{"Brigade", "u", "MERGE", NULL, "{}"},
		{"Brigade", "u", NULL, NULL, "{}"},
		{"Brigade", "u", "DELETE", NULL, "{}"},
		{"Brigade", "u", "INSERT", NULL, NULL},
		{"", "u", "DELETE", NULL, NULL},
		{NULL, "u", "DELETE", NULL, NULL},
		{"Brigade", "", "DELETE", NULL, NULL},
		{"Brigade", NULL, "DELETE", NULL, NULL},
		{"Brigade", "0123456789012345678901234567890123456789012345678901234567890123X",
		 "DELETE", NULL, NULL},
		{"Bri\xC0\x80gade", "u", "DELETE", NULL, NULL},
		{"Brigade", "u\xE2\x82", "DELETE", NULL, NULL},
		{"Brigade", "u", "DELETE", "\xED\xA0\x80", NULL},
		{"Brigade", "u", "UPDATE", NULL, "[1]"},
		{"Brigade", "u", "UPDATE", NULL, "{\"a\":1} x"},
		{"Brigade", "u", "UPDATE", NULL, "{\"a\":1"},
		{"Brigade", "u", "UPDATE", NULL, "{\"a\":\"\xFF\"}"},
		{"Brigade", "u", "UPDATE", NULL, "{\"a\":\"\\u0000\"}"},
		{"Brigade", "u", "UPDATE", NULL, "{\"a\":01}"},
		{"Brigade", "u", "UPDATE", NULL, "{\"a\":1,\x01\"b\":2}"},
		{"Brigade", "u", "UPDATE", NULL,
		 "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]}"},
	};
	env_header h = sample_header();
	env_writer *w = NULL;
	xchg_err err = {0};
	sink s = {0};
	size_t i, n;

	cr_assert_eq(env_writer_new(&w, &h, sink_write, &s, &err), XCHG_OK, "%s", err.msg);
	for (i = 0; i < N(bad); i++) {
		cr_expect_eq(env_writer_entity(w, bad[i].type, bad[i].uuid, bad[i].op,
					       bad[i].updated_at, bad[i].data, &err),
			     XCHG_EFAIL, "case %zu accepted", i);
		cr_expect(strncmp(err.msg, "message.json: entity 1: ", 24) == 0, "%s", err.msg);
	}
	/* Nothing of a refused entity was written: the writer goes on cleanly. */
	cr_assert_eq(env_writer_entity(w, "Brigade", "u", "DELETE", NULL, NULL, &err), XCHG_OK);
	cr_assert_eq(env_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	env_writer_free(w);
	cr_expect_eq(read_all(s.out.data, s.out.len, 0, &n, &err), XCHG_OK, "%s", err.msg);
	cr_expect_eq(n, 1);
	xbuf_free(&s.out);
}

Test(envelope, writer_refuses_a_bad_header)
{
	env_header bad[12];
	env_writer *w = NULL;
	xchg_err err = {0};
	sink s = {0};
	size_t i;

	for (i = 0; i < N(bad); i++)
		bad[i] = sample_header();
	bad[0].sender = "CEN TER";
	bad[1].recipient = "";
	bad[2].schema_version = "1.0";
	bad[3].packet_no = 0;
	bad[4].ack_packet_no = -1;
	bad[5].message_id = NULL;
	bad[6].created_at = "2026\xFF";
	bad[7].packet_no = INT64_C(9007199254740992);
	bad[8].recipient = NULL;
	bad[9].sender_id = "C0000000-0000-4000-8000-000000000001";
	bad[10].recipient_id = NULL;
	bad[11].sender_id = "c0000000000040008000000000000001";
	for (i = 0; i < N(bad); i++) {
		cr_expect_eq(env_writer_new(&w, &bad[i], sink_write, &s, &err), XCHG_EFAIL,
			     "case %zu accepted", i);
		cr_expect_null(w);
		cr_expect(strncmp(err.msg, "message.json: header: ", 22) == 0, "%s", err.msg);
	}
	cr_expect_eq(s.calls, 0);
}

Test(envelope, writer_refuses_an_oversized_header)
{
	env_header h = sample_header();
	env_writer *w = NULL;
	xchg_err err = {0};
	sink s = {0};
	char *id = malloc(ENV_MAX_HEADER_BYTES + 1);

	cr_assert_not_null(id);
	memset(id, 'a', ENV_MAX_HEADER_BYTES);
	id[ENV_MAX_HEADER_BYTES] = '\0';
	h.message_id = id;
	cr_expect_eq(env_writer_new(&w, &h, sink_write, &s, &err), XCHG_EFAIL);
	cr_expect(strstr(err.msg, "header: larger than 65536 bytes"), "%s", err.msg);
	cr_expect_null(w);
	free(id);
	xbuf_free(&s.out);
}

Test(envelope, writer_passes_sink_errors_through_and_closes)
{
	env_header h = sample_header();
	env_writer *w = NULL;
	xchg_err err = {0};
	sink s = {.fail = XCHG_EIO};

	cr_assert_eq(env_writer_new(&w, &h, sink_write, &s, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(env_writer_entity(w, "Brigade", "u", "DELETE", NULL, NULL, &err), XCHG_OK);
	cr_expect_eq(env_writer_finish(w, &err), XCHG_EIO);
	cr_expect_str_eq(err.msg, "out.tmp: disk full");
	cr_expect_eq(env_writer_entity(w, "Brigade", "u", "DELETE", NULL, NULL, &err), XCHG_EFAIL);
	cr_expect_eq(env_writer_finish(w, &err), XCHG_EFAIL);
	env_writer_free(w);
}

/* ---- the reader: what it takes ---- */

Test(envelope, reader_takes_the_documented_layout)
{
	env_header h = sample_header();

	expect_reads(VALID, strlen(VALID), 0, &h, valid_ents, N(valid_ents));
}

Test(envelope, reader_takes_whitespace_unknown_keys_and_any_member_order)
{
	static const char text[] =
		" \r\n\t{ \"x-before\" : { \"a\" : [ 1 , 2.5e3 , \"\\u00e9\" ] } ,\n"
		"  \"\\u0068eader\" :\r\n { \"created_at\" : \"2026-11-25T09:30:00.123Z\" ,"
		" \"ack_packet_no\" : 3 , \"extra\" : { \"ignored\" : true } , \"packet_no\" : 7.0 ,"
		" \"recipient_code\" : \"DESKTOP-1\" , \"sender_code\" : \"CENTER\" ,"
		" \"packet_format\" : 2.0 , \"recipient_node_id\" : \"d0000000-0000-4000-8000-000000000001\" ,"
		" \"sender_node_id\" : \"c0000000-0000-4000-8000-000000000001\" ,"
		" \"schema_version\" : \"1.0.0\" , \"message_id\" : \"m-1\" } ,\n"
		"  \"note\" : \"between\" ,\n"
		"  \"body\" : { \"meta\" : 1 , \"entities\" : [\n"
		"    { \"data\" : { \"n\" : [ 1 , 2 ] , \"name\" : \"Nörth\" } , \"future\" : [ null ] ,"
		" \"operation\" : \"UPDATE\" , \"updated_at\" : \"2026-11-25T09:00:00.000Z\" ,"
		" \"uuid\" : \"u-1\" , \"type\" : \"Brigade\" } ,\n"
		"    { \"type\" : \"Brigade\" , \"uuid\" : \"u-2\" ,"
		" \"operation\" : \"DELETE\" , \"data\" : null }\n"
		"  ] , \"more\" : { } } ,\n"
		"  \"trailer\" : [ true , false , null ]\n"
		"} \n\t\r ";
	env_header h = sample_header();
	size_t step;

	for (step = 0; step < 4; step++)
		expect_reads(text, strlen(text), step, &h, valid_ents, N(valid_ents));
}

Test(envelope, reader_takes_an_empty_array)
{
	static const char text[] =
		"{\"header\":{\"message_id\":\"m\",\"schema_version\":\"10.20.30\",\"packet_format\":2,"
		"\"sender_node_id\":\"c0000000-0000-4000-8000-000000000001\",\"recipient_node_id\":\"d0000000-0000-4000-8000-000000000001\","
		"\"sender_code\":\"a.b_c-D\",\"recipient_code\":\"X\",\"packet_no\":1,"
		"\"ack_packet_no\":0,\"created_at\":\"t\"},\"body\":{\"entities\":[ ]}}";
	xchg_err err = {0};
	size_t n = 9;

	cr_expect_eq(read_all(text, strlen(text), 0, &n, &err), XCHG_OK, "%s", err.msg);
	cr_expect_eq(n, 0);
}

Test(envelope, reader_decodes_escapes_and_valid_utf8)
{
	static const char *const ok[] = {
		"\\u00e9", "\\ud83d\\ude00", "\\uD83D\\uDE00", "\\\"\\\\\\/\\b\\f\\n\\r\\t",
		"\xC2\x80", "\xED\x9F\xBF", "\xEE\x80\x80", "\xEF\xBF\xBF",
		"\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "\x7f",
	};
	size_t i;

	for (i = 0; i < N(ok); i++)
		expect_edit_accepted("Nörth", ok[i]);
	expect_edit_accepted("\"updated_at\":null,", "");
	expect_edit_accepted("\"ack_packet_no\":3", "\"ack_packet_no\":0");
}

Test(envelope, reader_next_reads_the_header_itself)
{
	source src = {VALID, sizeof(VALID) - 1, 0, 0, 0};
	const env_header *h = NULL;
	const env_entity *e = NULL;
	env_reader *r = NULL;
	xchg_err err = {0};

	cr_assert_eq(env_reader_new(&r, source_read, &src, "t.zip", &err), XCHG_OK);
	cr_assert_eq(env_reader_next(r, &e, &err), XCHG_OK, "%s", err.msg);
	cr_assert_not_null(e);
	cr_expect_str_eq(e->uuid, "u-1");
	cr_assert_eq(env_reader_header(r, &h, &err), XCHG_OK, "%s", err.msg);
	cr_expect_str_eq(h->sender, "CENTER");
	cr_expect_eq(h->packet_no, 7);
	env_reader_free(r);
}

Test(envelope, reader_refuses_a_bad_header_before_any_entity)
{
	char *text = edit("\"CENTER\"", "\"CEN TER\"");
	source src = {text, strlen(text), 0, 0, 0};
	const env_entity *e = NULL;
	env_reader *r = NULL;
	xchg_err err = {0};

	cr_assert_eq(env_reader_new(&r, source_read, &src, "t.zip", &err), XCHG_OK);
	cr_expect_eq(env_reader_next(r, &e, &err), XCHG_EPACKET);
	cr_expect_null(e);
	cr_expect_str_eq(err.msg, "t.zip: message.json: header: \"sender_code\" is not a valid node code");
	env_reader_free(r);
	free(text);
}

/* ---- the reader: what it refuses ---- */

Test(envelope, refuses_every_truncation)
{
	env_header h = sample_header();
	const char *texts[2] = {VALID, NULL};
	xchg_err err;
	sink s = {0};
	size_t t, len, full, n;

	write_ents(&s, &h, rich_ents, N(rich_ents));
	texts[1] = s.out.data;
	for (t = 0; t < N(texts); t++) {
		/* The final newline is optional, so the shortest whole message ends at the last '}'. */
		full = strrchr(texts[t], '}') + 1 - texts[t];
		for (len = 0; len < full; len++) {
			err.msg[0] = '\0';
			cr_assert_eq(read_all(texts[t], len, len % 2 ? 1 : 0, &n, &err), XCHG_EPACKET,
				     "prefix of %zu bytes accepted", len);
			cr_assert(strstr(err.msg, "unexpected end of message.json"),
				  "prefix of %zu: %s", len, err.msg);
		}
		cr_expect_eq(read_all(texts[t], full, 1, &n, &err), XCHG_OK, "%s", err.msg);
	}
	xbuf_free(&s.out);
}

Test(envelope, survives_any_single_byte_change)
{
	static const unsigned char bytes[] = {
		0x00, '"', '\\', '{', '}', '[', ']', ',', ':', ' ', 'x', '1', '-', 'u',
		0x01, 0x80, 0xC3, 0xED, 0xF4, 0xFF,
	};
	size_t len = sizeof(VALID) - 1, i, j, n;
	char text[sizeof(VALID)];
	xchg_err err;
	xchg_status rc;

	for (i = 0; i < len; i++) {
		for (j = 0; j <= N(bytes); j++) {
			memcpy(text, VALID, len);
			if (j < N(bytes))
				text[i] = (char)bytes[j];
			else
				memmove(text + i, text + i + 1, len - i - 1);
			rc = read_all(text, j < N(bytes) ? len : len - 1, i % 3, &n, &err);
			cr_assert(rc == XCHG_OK || rc == XCHG_EPACKET, "byte %zu -> %zu: rc %d", i, j, rc);
		}
	}
}

Test(envelope, refuses_structure_errors)
{
	expect_refused("", "unexpected end of message.json");
	expect_refused(" \n ", "unexpected end of message.json");
	expect_refused("[]", "expected '{' at offset 0, found '['");
	expect_refused("{}", "\"header\" is missing");
	expect_refused("{\"x\":1}", "\"header\" is missing");
	expect_refused("{header:{}}", "expected a member name at offset 1");
	expect_edit_refused("\"body\":{\"entities\":[\n{\"type\":\"Brigade\",\"uuid\":\"u-1\","
			    "\"operation\":\"UPDATE\",\"updated_at\":\"2026-11-25T09:00:00.000Z\","
			    "\"data\":{\"name\":\"Nörth\",\"n\":[1,2]}},\n{\"type\":\"Brigade\","
			    "\"uuid\":\"u-2\",\"operation\":\"DELETE\",\"updated_at\":null,"
			    "\"data\":null}\n]}", "\"x\":1", "\"body\" is missing");
	expect_edit_refused("\"entities\":", "\"items\":", "body: \"entities\" is missing");
	expect_edit_refused("\"body\":{", "\"body\":[", "body: expected '{'");
	expect_edit_refused("\"entities\":[", "\"entities\":{", "body: expected '['");
	expect_edit_refused("{\"header\":{", "{\"header\":[{", "header: not valid JSON");
	expect_edit_refused("\"header\":{", "\"header\":\"m-1\",\"x\":{", "header: must be an object");
	expect_edit_refused("},\n\"body\"", "}\n\"body\"", "expected ',' or '}'");
	expect_edit_refused("\"header\":", "\"header\" ", "expected ':'");
	expect_edit_refused("[\n{", "[\n,{", "entity 1: expected a value");
	expect_edit_refused("null}\n]", "null},\n]", "entity 3: expected a value");
	expect_edit_refused("}},\n{", "}}\n{", "entities: expected ',' or ']'");
	expect_edit_refused("[\n{", "[\n1,{", "entity 1: must be an object");
	expect_edit_refused("[\n{", "[\n\"x\",{", "entity 1: must be an object");
	expect_edit_refused("\"u-1\",", "\"u-1\" ", "entity 1: not valid JSON at offset");
	expect_edit_refused("[1,2]", "[1,2,]", "entity 1: not valid JSON at offset");
	expect_edit_refused("[1,2]", "[1,2}", "entity 1: not valid JSON");
	expect_edit_refused("\"n\":", "\"n\":tru", "entity 1: not valid JSON");
	expect_edit_refused("{\"header\"", "{\"x\":[1,],\"header\"", "member \"x\": not valid JSON");
	expect_edit_refused("{\"header\"", "{\"x\":01,\"header\"", "member \"x\": invalid number");
}

Test(envelope, refuses_header_after_body)
{
	expect_refused("{\"body\":{\"entities\":[]},\"header\":{}}", "\"body\" comes before \"header\"");
}

Test(envelope, refuses_duplicate_keys)
{
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":7,\"packet_no\":8",
			    "header: \"packet_no\" appears twice");
	expect_edit_refused("\"message_id\":\"m-1\"", "\"message_id\":\"m-1\",\"message_id\":\"m-1\"",
			    "header: \"message_id\" appears twice");
	expect_edit_refused("\"operation\":\"DELETE\"",
			    "\"operation\":\"DELETE\",\"operation\":\"DELETE\"",
			    "entity 2: \"operation\" appears twice");
	expect_edit_refused("\"data\":null}", "\"data\":null,\"data\":null}",
			    "entity 2: \"data\" appears twice");
	expect_edit_refused("},\n\"body\"", "},\"header\":{},\n\"body\"", "\"header\" appears twice");
	expect_edit_refused("\n]}}", "\n]}, \"header\":{}}", "\"header\" appears twice");
	expect_edit_refused("\n]}}", "\n]}, \"body\":{}}", "\"body\" appears twice");
	expect_edit_refused("\n]}}", "\n], \"entities\":[]}}", "body: \"entities\" appears twice");
}

Test(envelope, refuses_trailing_data)
{
	char text[sizeof(VALID) + 8];

	snprintf(text, sizeof(text), "%sx", VALID);
	expect_refused(text, "expected the end of message.json");
	snprintf(text, sizeof(text), "%s{}", VALID);
	expect_refused(text, "expected the end of message.json");
	snprintf(text, sizeof(text), "%s \t", VALID);
	memcpy(text + sizeof(VALID) + 1, "\0", 1);
	expect_refused_len(text, sizeof(VALID) + 2, "found byte 0x00");
}

Test(envelope, refuses_bad_operations_and_data)
{
	expect_edit_refused("\"DELETE\"", "\"MERGE\"",
			    "entity 2: \"operation\" must be INSERT, UPDATE, DELETE or EVICT");
	expect_edit_refused("\"UPDATE\"", "\"update\"", "\"operation\" must be INSERT, UPDATE, DELETE or EVICT");
	expect_edit_refused("\"UPDATE\"", "null", "\"operation\" must be INSERT, UPDATE, DELETE or EVICT");
	expect_edit_refused("\"operation\":\"UPDATE\",", "", "\"operation\" must be INSERT, UPDATE, DELETE or EVICT");
	expect_edit_refused("\"data\":null", "\"data\":{}", "entity 2: \"data\" must be null for DELETE and EVICT");
	expect_edit_refused("\"data\":null", "\"data\":[]", "\"data\" must be null for DELETE and EVICT");
	expect_edit_refused(",\"data\":null", "", "\"data\" must be null for DELETE and EVICT");
	expect_edit_refused("{\"name\":\"Nörth\",\"n\":[1,2]}", "null",
			    "entity 1: \"data\" must be an object for INSERT and UPDATE");
	expect_edit_refused("{\"name\":\"Nörth\",\"n\":[1,2]}", "[1,2]", "\"data\" must be an object");
	expect_edit_refused("{\"name\":\"Nörth\",\"n\":[1,2]}", "\"x\"", "\"data\" must be an object");
	expect_edit_refused("{\"name\":\"Nörth\",\"n\":[1,2]}", "42", "\"data\" must be an object");
	expect_edit_refused(",\"data\":{\"name\":\"Nörth\",\"n\":[1,2]}", "",
			    "entity 1: \"data\" must be an object");
	expect_edit_refused("\"updated_at\":null", "\"updated_at\":5",
			    "\"updated_at\" must be a string or null");
	expect_edit_refused("\"type\":\"Brigade\"", "\"type\":\"\"",
			    "\"type\" must be a non-empty string");
	expect_edit_refused("\"type\":\"Brigade\"", "\"type\":1",
			    "\"type\" must be a non-empty string");
	expect_edit_refused("\"u-1\"", "\"\"", "\"uuid\" must be a string of 1 to 64 bytes");
	expect_edit_refused("\"u-1\"", "\"0123456789012345678901234567890123456789012345678901234567890123X\"",
			    "\"uuid\" must be a string of 1 to 64 bytes");
	expect_edit_accepted("\"u-1\"", "\"0123456789012345678901234567890123456789012345678901234567890123\"");
}

Test(envelope, refuses_bad_header_numbers)
{
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":0",
			    "header: \"packet_no\" must be between 1 and 9007199254740991");
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":-1", "\"packet_no\" must be between 1");
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":1.5",
			    "t.zip: message.json: header: \"packet_no\" is not a whole number");
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":\"7\"",
			    "header: \"packet_no\" is missing or not a number");
	expect_edit_refused("\"packet_no\":7,", "", "header: \"packet_no\" is missing or not a number");
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":1e300", "\"packet_no\" must be between 1");
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":9007199254740992",
			    "\"packet_no\" must be between 1");
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":-1e300", "\"packet_no\" must be between 1");
	expect_edit_refused("\"ack_packet_no\":3", "\"ack_packet_no\":-1",
			    "\"ack_packet_no\" must be between 0 and 9007199254740991");
	expect_edit_refused("\"ack_packet_no\":3", "\"ack_packet_no\":0.5",
			    "\"ack_packet_no\" is not a whole number");
	expect_edit_refused("\"ack_packet_no\":3", "\"ack_packet_no\":null",
			    "\"ack_packet_no\" is missing or not a number");
	expect_edit_accepted("\"packet_no\":7", "\"packet_no\":9007199254740991");
}

Test(envelope, refuses_bad_header_strings)
{
	expect_edit_refused("\"CENTER\"", "\"CEN TER\"", "header: \"sender_code\" is not a valid node code");
	expect_edit_refused("\"CENTER\"", "\"\"", "\"sender_code\" is not a valid node code");
	expect_edit_refused("\"DESKTOP-1\"", "\"DESKTOP/1\"", "\"recipient_code\" is not a valid node code");
	expect_edit_refused("\"1.0.0\"", "\"1.0\"", "\"schema_version\" is not MAJOR.MINOR.PATCH");
	expect_edit_refused("\"1.0.0\"", "\"1.0.0.0\"", "\"schema_version\" is not MAJOR.MINOR.PATCH");
	expect_edit_refused("\"1.0.0\"", "\"v1.0.0\"", "\"schema_version\" is not MAJOR.MINOR.PATCH");
	expect_edit_refused("\"1.0.0\"", "\"1..0\"", "\"schema_version\" is not MAJOR.MINOR.PATCH");
	expect_edit_refused("\"1.0.0\"", "100", "\"schema_version\" is missing or not a string");
	expect_edit_refused("\"message_id\":\"m-1\",", "", "\"message_id\" is missing or not a string");
	expect_edit_refused("\"2026-11-25T09:30:00.123Z\"", "null",
			    "\"created_at\" is missing or not a string");
	expect_edit_refused("\"c0000000-", "\"C0000000-",
			    "\"sender_node_id\" is not a node id (a UUID in lowercase canonical form)");
	expect_edit_refused("\"d0000000-0000-4000-8000-000000000001\"", "\"D1\"",
			    "\"recipient_node_id\" is not a node id");
	expect_edit_refused("\"d0000000-0000-4000-8000-000000000001\"",
			    "\"d0000000-0000-4000-8000-0000000000012\"", "\"recipient_node_id\" is not a node id");
	expect_edit_refused("\"sender_node_id\":\"c0000000-0000-4000-8000-000000000001\",", "",
			    "\"sender_node_id\" is missing or not a string");
}

Test(envelope, refuses_a_bad_list_of_packets_received)
{
	const char *at = "\"ack_packet_no\":3,";

	expect_edit_refused(at, "\"ack_packet_no\":3,\"received\":{},", "\"received\" is not an array");
	expect_edit_refused(at, "\"ack_packet_no\":3,\"received\":[3],",
			    "header: received[0]: must be an object");
	expect_edit_refused(at, "\"ack_packet_no\":3,\"received\":[{\"packet_no\":0,\"created_at\":\"t\"}],",
			    "header: received[0]: \"packet_no\" must be between 1");
	expect_edit_refused(at, "\"ack_packet_no\":3,\"received\":[{\"packet_no\":2}],",
			    "header: received[0]: \"created_at\" is missing or not a string");
	expect_edit_refused(at, "\"ack_packet_no\":3,\"received\":[{\"packet_no\":2,\"created_at\":\"t\"},"
				"{\"packet_no\":2,\"created_at\":\"u\"}],",
			    "header: received[1]: \"packet_no\" 2 does not follow 2");
	expect_edit_accepted(at, "\"ack_packet_no\":3,\"received\":[],");
	expect_edit_accepted(at, "\"ack_packet_no\":3,\"received\":[{\"created_at\":\"t\",\"packet_no\":2,"
				 "\"later\":1}],");
}

/* More than ENV_MAX_RECEIVED packets received is refused, naming the limit. */
Test(envelope, refuses_more_packets_received_than_the_limit)
{
	xbuf list = {0};
	char *text;
	int i;

	xbuf_adds(&list, "\"ack_packet_no\":3,\"received\":[");
	for (i = 1; i <= ENV_MAX_RECEIVED + 1; i++)
		xbuf_printf(&list, "%s{\"packet_no\":%d,\"created_at\":\"t\"}", i > 1 ? "," : "", i);
	xbuf_adds(&list, "],");
	text = edit("\"ack_packet_no\":3,", list.data);
	expect_refused(text, "\"received\" lists 257 packets, more than 256");
	free(text);
	xbuf_free(&list);
}

/* A packet of another version of the format says so, rather than what it lacks. */
Test(envelope, refuses_other_packet_formats_by_name)
{
	expect_edit_refused("\"packet_format\":2,", "",
			    "header: no \"packet_format\": a packet of format 1, from an older xchg;"
			    " this one reads format 2");
	expect_edit_refused("\"packet_format\":2", "\"packet_format\":3",
			    "header: \"packet_format\" is not 2, the only version this xchg reads");
	expect_edit_refused("\"packet_format\":2", "\"packet_format\":\"2\"",
			    "header: \"packet_format\" is not 2");
	expect_edit_refused("\"packet_format\":2", "\"packet_format\":2,\"packet_format\":2",
			    "\"packet_format\" appears twice");
}

Test(envelope, refuses_invalid_utf8)
{
	static const char *const bad[] = {
		"\xC0\x80",         /* overlong NUL */
		"\xC1\xBF",         /* overlong */
		"\xE0\x80\xAF",     /* overlong '/' */
		"\xF0\x80\x80\xAF", /* overlong '/' */
		"\xED\xA0\x80",     /* a UTF-16 surrogate */
		"\xED\xBF\xBF",     /* a UTF-16 surrogate */
		"\xF4\x90\x80\x80", /* past U+10FFFF */
		"\xF5\x80\x80\x80", /* past U+10FFFF */
		"\xE2\x82",         /* cut short by the closing quote */
		"\xE2\x82x",        /* cut short by a letter */
		"\x80",             /* a lone continuation byte */
		"\xFF",
		"\xF8\x88\x80\x80\x80",
	};
	size_t i;

	for (i = 0; i < N(bad); i++) {
		expect_edit_refused("Nörth", bad[i], "entity 1: invalid UTF-8 in a string at offset");
		expect_edit_refused("m-1", bad[i], "header: invalid UTF-8 in a string");
	}
	expect_edit_refused("\"name\"", "\"n\xC3\"", "entity 1: invalid UTF-8 in a string");
	expect_edit_refused("{\"header\"", "{\"\xFF\":1,\"header\"", "key: invalid UTF-8 in a string");
	expect_edit_refused("{\"header\"", "{\"x\":\"\xED\xA0\x80\",\"header\"",
			    "member \"x\": invalid UTF-8 in a string");
}

Test(envelope, refuses_control_characters_and_bad_escapes)
{
	expect_edit_refused("Nörth", "N\x01rth", "entity 1: control character in a string at offset");
	expect_edit_refused("Nörth", "N\nrth", "control character in a string");
	expect_edit_refused("Nörth", "N\trth", "control character in a string");
	expect_edit_refused("\"m-1\"", "\"m\x1f\"", "header: control character in a string");
	expect_edit_refused("Nörth", "\\u0000", "\\u0000 in a string");
	expect_edit_refused("Nörth", "\\ud800", "unpaired surrogate in a \\u escape");
	expect_edit_refused("Nörth", "\\ud800x", "unpaired surrogate in a \\u escape");
	expect_edit_refused("Nörth", "\\ud800\\n", "unpaired surrogate in a \\u escape");
	expect_edit_refused("Nörth", "\\ud800\\ud800", "unpaired surrogate in a \\u escape");
	expect_edit_refused("Nörth", "\\udc00", "unpaired surrogate in a \\u escape");
	expect_edit_refused("Nörth", "\\ude00\\ud83d", "unpaired surrogate in a \\u escape");
	expect_edit_refused("Nörth", "\\u12G4", "invalid \\u escape");
	expect_edit_refused("Nörth", "\\u12", "invalid \\u escape");
	expect_edit_refused("Nörth", "\\x41", "invalid escape in a string");
	expect_edit_refused("Nörth", "\\\x01", "invalid escape in a string");
	expect_edit_refused("\"message_id\"", "\"message_\\u0000id\"", "\\u0000 in a string");
}

Test(envelope, refuses_numbers_json_does_not_allow)
{
	static const char *const bad[] = {"01", "-01", "1.", "-.5", ".5", "+1", "1e", "1e+", "-",
					  "0x10", "1.5.2", "--1", "1e5e5"};
	static const char *const ok[] = {"0", "-0", "1.5e-3", "1E+10", "-12.0", "0.0e0", "9e999"};
	size_t i;

	for (i = 0; i < N(bad); i++)
		expect_edit_refused("[1,2]", bad[i], "entity 1: invalid number at offset");
	for (i = 0; i < N(ok); i++)
		expect_edit_accepted("[1,2]", ok[i]);
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":07", "header: invalid number");
	expect_edit_refused("{\"header\"", "{\"x\":-,\"header\"", "member \"x\": invalid number");
}

Test(envelope, refuses_bytes_json_does_not_allow_between_tokens)
{
	expect_edit_refused("[1,2]", "[1,\x01 2]", "entity 1: unexpected character at offset");
	expect_edit_refused("[1,2]", "[1,\v2]", "entity 1: unexpected character");
	expect_edit_refused("[1,2]", "[1,\f2]", "entity 1: unexpected character");
	expect_edit_refused("[1,2]", "[1,#2]", "entity 1: unexpected character");
	expect_edit_refused("[1,2]", "[1,\xC2\xA0 2]", "entity 1: unexpected character");
	expect_edit_refused("\"packet_no\":7", "\"packet_no\":\x0c 7", "header: unexpected character");
	expect_edit_refused("{\"header\"", "\xEF\xBB\xBF{\"header\"", "expected '{' at offset 0");
	expect_edit_refused("},\n\"body\"", "},\v\"body\"", "expected a member name");
	expect_edit_refused("[\n{", "[\x01{", "entity 1: expected a value");
}

/* A data object of the given nesting: {"a":[[...]]} with arrays levels deep. */
static char *nested_data(size_t arrays)
{
	xbuf b = {0};
	size_t i;

	xbuf_adds(&b, "{\"a\":");
	for (i = 0; i < arrays; i++)
		xbuf_addc(&b, '[');
	for (i = 0; i < arrays; i++)
		xbuf_addc(&b, ']');
	xbuf_adds(&b, "}");
	return xbuf_detach(&b);
}

Test(envelope, refuses_nesting_deeper_than_the_limit)
{
	/* top, body, entities, entity, data: the data object sits at depth 5. */
	size_t room = ENV_MAX_DEPTH - 5;
	char *fits = nested_data(room), *deep = nested_data(room + 1), *bomb;
	xbuf b = {0};
	size_t i;

	expect_edit_accepted("{\"name\":\"Nörth\",\"n\":[1,2]}", fits);
	expect_edit_refused("{\"name\":\"Nörth\",\"n\":[1,2]}", deep,
			    "entity 1: nested deeper than 32 levels");
	xbuf_adds(&b, "{\"x\":");
	for (i = 0; i < 100000; i++)
		xbuf_addc(&b, '[');
	bomb = xbuf_detach(&b);
	expect_refused(bomb, "member \"x\": nested deeper than 32 levels");
	free(fits);
	free(deep);
	free(bomb);
}

/* A source of head, then fill copies of 'a', then tail, made up as it is read. */
typedef struct gen {
	const char *head, *tail;
	size_t fill, pos;
} gen;

static xchg_status gen_read(void *ctx, void *buf, size_t cap, size_t *got, xchg_err *err)
{
	gen *g = ctx;
	size_t hl = strlen(g->head), total = hl + g->fill + strlen(g->tail), n = 0, k;
	char *out = buf;

	XCHG_UNUSED(err);
	for (; n < cap && g->pos < total; n += k, g->pos += k) {
		if (g->pos < hl) {
			k = hl - g->pos < cap - n ? hl - g->pos : cap - n;
			memcpy(out + n, g->head + g->pos, k);
		} else if (g->pos < hl + g->fill) {
			k = hl + g->fill - g->pos < cap - n ? hl + g->fill - g->pos : cap - n;
			memset(out + n, 'a', k);
		} else {
			k = total - g->pos < cap - n ? total - g->pos : cap - n;
			memcpy(out + n, g->tail + (g->pos - hl - g->fill), k);
		}
	}
	*got = n;
	return XCHG_OK;
}

static void expect_gen_refused(gen *g, const char *reason)
{
	const env_entity *e;
	env_reader *r = NULL;
	xchg_err err = {0};

	cr_assert_eq(env_reader_new(&r, gen_read, g, "t.zip", &err), XCHG_OK);
	cr_expect_eq(env_reader_next(r, &e, &err), XCHG_EPACKET);
	cr_expect(strstr(err.msg, reason), "%s", err.msg);
	env_reader_free(r);
}

Test(envelope, refuses_values_past_their_size_limits)
{
	static const char header[] =
		"{\"header\":{\"message_id\":\"m-1\",\"schema_version\":\"1.0.0\",\"sender_code\":\"C\","
		"\"recipient_code\":\"D\",\"sender_node_id\":\"c0000000-0000-4000-8000-000000000001\","
		"\"recipient_node_id\":\"d0000000-0000-4000-8000-000000000001\",\"packet_format\":2,"
		"\"packet_no\":7,\"ack_packet_no\":3,\"created_at\":\"t\"},";
	gen g = {"{\"header\":{\"message_id\":\"", "\"}}", ENV_MAX_HEADER_BYTES, 0};
	char *entity = xstrdup_printf("%s\"body\":{\"entities\":[{\"type\":\"T\","
				      "\"uuid\":\"u\",\"operation\":\"INSERT\",\"data\":{\"s\":\"",
				      header);

	expect_gen_refused(&g, "t.zip: message.json: header: larger than 65536 bytes");
	/* Member names are limited to 256 bytes as written. */
	g = (gen){"{\"", "\":1}", 256, 0};
	expect_gen_refused(&g, "t.zip: message.json: key: larger than 256 bytes");
	g = (gen){"{\"x\":1,\"", "\":1}", 256, 0};
	expect_gen_refused(&g, "t.zip: message.json: key: larger than 256 bytes");
	g = (gen){entity, "\"}}]}}", ENV_MAX_ENTITY_BYTES, 0};
	expect_gen_refused(&g, "t.zip: message.json: entity 1: larger than 67108864 bytes");
	g = (gen){"{\"x\":\"", "\"}", ENV_MAX_ENTITY_BYTES, 0};
	expect_gen_refused(&g, "t.zip: message.json: member \"x\": larger than 67108864 bytes");
	free(entity);
}

Test(envelope, passes_source_errors_through_and_stops)
{
	source src = {VALID, sizeof(VALID) - 1, 0, 16, 400};
	const env_header *h = NULL;
	const env_entity *e = NULL;
	env_reader *r = NULL;
	xchg_err err = {0};

	cr_assert_eq(env_reader_new(&r, source_read, &src, "t.zip", &err), XCHG_OK);
	cr_assert_eq(env_reader_header(r, &h, &err), XCHG_OK, "%s", err.msg);
	cr_expect_eq(env_reader_next(r, &e, &err), XCHG_EIO);
	cr_expect_str_eq(err.msg, "t.zip: inflate failed");
	cr_expect_null(e);
	cr_expect_eq(env_reader_next(r, &e, &err), XCHG_EIO);
	cr_expect(strstr(err.msg, "reading stopped at an earlier error"), "%s", err.msg);
	/* The header was read and checked whole before the failure, so it stays. */
	cr_expect_eq(env_reader_header(r, &h, &err), XCHG_OK);
	cr_expect_str_eq(h->recipient, "DESKTOP-1");
	env_reader_free(r);
}

Test(envelope, stops_after_a_refusal)
{
	char *text = edit("\"DELETE\"", "\"MERGE\"");
	source src = {text, strlen(text), 0, 0, 0};
	const env_entity *e = NULL;
	env_reader *r = NULL;
	xchg_err err = {0};

	cr_assert_eq(env_reader_new(&r, source_read, &src, "t.zip", &err), XCHG_OK);
	cr_assert_eq(env_reader_next(r, &e, &err), XCHG_OK, "%s", err.msg);
	cr_assert_not_null(e);
	cr_expect_eq(env_reader_next(r, &e, &err), XCHG_EPACKET);
	cr_expect_str_eq(err.msg, "t.zip: message.json: entity 2: "
				  "\"operation\" must be INSERT, UPDATE, DELETE or EVICT");
	cr_expect_eq(env_reader_next(r, &e, &err), XCHG_EPACKET);
	cr_expect(strstr(err.msg, "reading stopped at an earlier error"), "%s", err.msg);
	env_reader_free(r);
	free(text);
}

Test(envelope, header_clear_frees_and_zeroes)
{
	env_header h = {
		.sender_id = xstrdup("i"), .recipient_id = xstrdup("j"),
		.message_id = xstrdup("m"), .schema_version = xstrdup("1.0.0"),
		.sender = xstrdup("A"), .recipient = xstrdup("B"), .created_at = xstrdup("t"),
		.packet_no = 4, .ack_packet_no = 2,
	};
	env_header zero = {0};

	env_header_clear(&h);
	cr_expect_eq(memcmp(&h, &zero, sizeof(h)), 0);
	env_header_clear(&h);
	env_header_clear(NULL);
}
