/* The envelope's reader: message.json, pulled from a source an entity at a time (envelope.h). */
#include "envelope_rules.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum phase { PH_START, PH_HEADER, PH_ENTITIES, PH_DONE } phase;

static const char *const top_keys[] = {"header", "body", NULL};
static const char *const body_keys[] = {"entities", NULL};
enum { KEY_HEADER, KEY_BODY };

struct env_reader {
	env_source_fn src;
	void *ctx;
	char *name;
	unsigned char *in;     /* the current chunk of message.json */
	size_t pos, len;
	uint64_t off;          /* offset of in[0] in message.json */
	int eof;
	xchg_status failed;    /* an earlier call failed; the position in the input is lost */
	phase phase;
	int top_first, body_first, array_first; /* no member or element read yet */
	char where[96];        /* what is being read, for messages */
	char key[ENV_MAX_KEY_BYTES + 1];
	xbuf cap;              /* the value being captured */
	uint64_t cap_off;      /* its offset in message.json */
	env_header header;
	cJSON *tree;           /* the current entity */
	env_entity entity;
	size_t count;
};

static xchg_status bad(env_reader *r, xchg_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Every refusal reads "NAME: message.json: WHERE: REASON". */
static xchg_status bad(env_reader *r, xchg_err *err, const char *fmt, ...)
{
	char msg[XCHG_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return xerr(err, XCHG_EPACKET, "%s: message.json: %s%s%s", r->name, r->where,
		    r->where[0] ? ": " : "", msg);
}

static xchg_status reader_nomem(env_reader *r, xchg_err *err)
{
	return xerr(err, XCHG_ENOMEM, "%s: message.json: out of memory", r->name);
}

static void set_where(env_reader *r, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

static void set_where(env_reader *r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(r->where, sizeof(r->where), fmt, ap);
	va_end(ap);
}

static uint64_t offset(const env_reader *r)
{
	return r->off + r->pos;
}

static xchg_status truncated(env_reader *r, xchg_err *err)
{
	return bad(r, err, "unexpected end of message.json");
}

/* Makes sure a byte is at in[pos] unless the input has ended. */
static xchg_status fill(env_reader *r, xchg_err *err)
{
	size_t got = 0;
	xchg_status rc;

	if (r->pos < r->len || r->eof)
		return XCHG_OK;
	r->off += r->len;
	r->pos = r->len = 0;
	if ((rc = r->src(r->ctx, r->in, ENV_CHUNK, &got, err)))
		return rc;
	if (got > ENV_CHUNK)
		return bad(r, err, "the source returned more bytes than asked for");
	r->len = got;
	r->eof = got == 0;
	return XCHG_OK;
}

/* Skips whitespace; *c is the next byte, left unread, or -1 at the end. */
static xchg_status skip_ws(env_reader *r, int *c, xchg_err *err)
{
	xchg_status rc;

	for (;;) {
		if ((rc = fill(r, err)))
			return rc;
		*c = r->pos < r->len ? r->in[r->pos] : -1;
		if (!json_is_ws(*c))
			return XCHG_OK;
		r->pos++;
	}
}

static xchg_status next_char(env_reader *r, int *c, xchg_err *err)
{
	xchg_status rc = skip_ws(r, c, err);

	return rc || *c >= 0 ? rc : truncated(r, err);
}

static xchg_status unexpected(env_reader *r, const char *what, int c, xchg_err *err)
{
	if (c > 0x20 && c < 0x7f)
		return bad(r, err, "expected %s at offset %" PRIu64 ", found '%c'", what, offset(r), c);
	return bad(r, err, "expected %s at offset %" PRIu64 ", found byte 0x%02x", what, offset(r), c);
}

static xchg_status expect(env_reader *r, int want, const char *what, xchg_err *err)
{
	xchg_status rc;
	int c;

	if ((rc = next_char(r, &c, err)))
		return rc;
	if (c != want)
		return unexpected(r, what, c, err);
	r->pos++;
	return XCHG_OK;
}

/* Appends in[start..pos) to the capture, refusing a value past limit. */
static xchg_status keep(env_reader *r, size_t start, size_t limit, xchg_err *err)
{
	size_t n = r->pos - start;

	if (n > limit - r->cap.len)
		return bad(r, err, "larger than %zu bytes", limit);
	if (xbuf_add(&r->cap, r->in + start, n) < 0)
		return reader_nomem(r, err);
	return XCHG_OK;
}

/*
 * Copies the bytes of the next value (sitting at depth base) into r->cap,
 * a chunk at a time, checking them on the way so that neither an oversized
 * nor an overdeep value ever reaches cJSON.
 */
static xchg_status capture(env_reader *r, unsigned base, size_t limit, xchg_err *err)
{
	const char *why = NULL;
	int st = JSON_SCAN_MORE, c;
	size_t start, used;
	xchg_status rc;
	json_scan s;

	if ((rc = next_char(r, &c, err)))
		return rc;
	json_scan_init(&s, base);
	xbuf_reset(&r->cap);
	r->cap_off = offset(r);
	while (st == JSON_SCAN_MORE) {
		if ((rc = fill(r, err)))
			return rc;
		if (r->pos == r->len)
			return truncated(r, err);
		start = r->pos;
		st = json_scan_run(&s, (const unsigned char *)r->in + start, r->len - start, &used, &why);
		r->pos += used;
		if (st == JSON_SCAN_BAD)
			return bad(r, err, "%s at offset %" PRIu64, why, offset(r));
		if ((rc = keep(r, start, limit, err)))
			return rc;
	}
	return XCHG_OK;
}

/* Captures the next value and parses just that value. */
static xchg_status read_value(env_reader *r, unsigned base, size_t limit,
			      cJSON **out, xchg_err *err)
{
	const char *end = NULL;
	xchg_status rc;

	*out = NULL;
	if ((rc = capture(r, base, limit, err)))
		return rc;
	/* The length counts the NUL: cJSON checks for it to refuse trailing bytes. */
	if (!(*out = cJSON_ParseWithLengthOpts(r->cap.data, r->cap.len + 1, &end, 1)))
		return bad(r, err, "not valid JSON at offset %" PRIu64,
			   r->cap_off + (uint64_t)(end ? end - r->cap.data : 0));
	return XCHG_OK;
}

/* Reads a member name (the scanner stands on its quote) into r->key. */
static xchg_status read_key(env_reader *r, const char *container, unsigned depth,
			    xchg_err *err)
{
	cJSON *key = NULL;
	xchg_status rc;

	set_where(r, "%s%skey", container, container[0] ? " " : "");
	if ((rc = read_value(r, depth, ENV_MAX_KEY_BYTES, &key, err)) == XCHG_OK)
		snprintf(r->key, sizeof(r->key), "%s", cJSON_GetStringValue(key));
	cJSON_Delete(key);
	set_where(r, "%s", container);
	return rc;
}

/*
 * Walks the members of the object the reader is in, parsing and dropping
 * unknown ones (kept for forward compatibility), up to the next member named
 * in known[] (*which is its index, the reader stands on its value) or the
 * closing brace (*which is -1). *first says no member was read yet.
 */
static xchg_status next_known(env_reader *r, const char *container, unsigned depth,
			      int *first, const char *const known[], int *which,
			      xchg_err *err)
{
	cJSON *skipped;
	xchg_status rc;
	int c;

	for (;;) {
		set_where(r, "%s", container);
		if ((rc = next_char(r, &c, err)))
			return rc;
		if (c == '}') {
			r->pos++;
			*which = -1;
			return XCHG_OK;
		}
		if (!*first) {
			if (c != ',')
				return unexpected(r, "',' or '}'", c, err);
			r->pos++;
			if ((rc = next_char(r, &c, err)))
				return rc;
		}
		*first = 0;
		if (c != '"')
			return unexpected(r, "a member name", c, err);
		if ((rc = read_key(r, container, depth, err)) ||
		    (rc = expect(r, ':', "':'", err)))
			return rc;
		for (*which = 0; known[*which]; ++*which)
			if (strcmp(r->key, known[*which]) == 0)
				return XCHG_OK;
		set_where(r, "member \"%.40s\"", r->key);
		if ((rc = read_value(r, depth, ENV_MAX_ENTITY_BYTES, &skipped, err)))
			return rc;
		cJSON_Delete(skipped);
	}
}

/* Finds key in obj; a key given twice is refused, as which one counts would be the parser's whim. */
static xchg_status member(env_reader *r, const cJSON *obj, const char *key,
			  const cJSON **out, xchg_err *err)
{
	const cJSON *it;

	*out = NULL;
	cJSON_ArrayForEach(it, obj) {
		if (!it->string || strcmp(it->string, key) != 0)
			continue;
		if (*out)
			return bad(r, err, "\"%s\" appears twice", key);
		*out = it;
	}
	return XCHG_OK;
}

static xchg_status take_string(env_reader *r, const cJSON *obj, const char *key,
			       char **out, xchg_err *err)
{
	const cJSON *it;
	xchg_status rc;

	if ((rc = member(r, obj, key, &it, err)))
		return rc;
	if (!cJSON_IsString(it))
		return bad(r, err, "\"%s\" is missing or not a string", key);
	if (!(*out = strdup(it->valuestring)))
		return reader_nomem(r, err);
	return XCHG_OK;
}

/*
 * cJSON keeps numbers as doubles, so only whole numbers within 2^53 are
 * exact. Beyond that the value is set just past the limit, for
 * env_header_fault to refuse with the range in its message.
 */
static xchg_status take_int(env_reader *r, const cJSON *obj, const char *key,
			    int64_t *out, xchg_err *err)
{
	const cJSON *it;
	xchg_status rc;
	double d;

	if ((rc = member(r, obj, key, &it, err)))
		return rc;
	if (!cJSON_IsNumber(it))
		return bad(r, err, "\"%s\" is missing or not a number", key);
	d = it->valuedouble;
	if (d > (double)ENV_MAX_INT)
		*out = ENV_MAX_INT + 1;
	else if (d < -(double)ENV_MAX_INT)
		*out = -ENV_MAX_INT - 1;
	else if ((double)(*out = (int64_t)d) != d)
		return bad(r, err, "\"%s\" is not a whole number", key);
	return XCHG_OK;
}

/*
 * "received": up to ENV_MAX_RECEIVED packets, ascending by number, each a
 * number and the time it was written; what they mean is restore.c's.
 */
static xchg_status parse_received(env_reader *r, const cJSON *list, xchg_err *err)
{
	env_header *h = &r->header;
	const cJSON *it;
	int n;
	xchg_status rc;

	if (!cJSON_IsArray(list))
		return bad(r, err, "\"received\" is not an array");
	if ((n = cJSON_GetArraySize(list)) > ENV_MAX_RECEIVED)
		return bad(r, err, "\"received\" lists %d packets, more than %d", n, ENV_MAX_RECEIVED);
	if (n && !(h->received = calloc((size_t)n, sizeof(*h->received))))
		return reader_nomem(r, err);
	cJSON_ArrayForEach(it, list) {
		env_received *e = &h->received[h->n_received];

		set_where(r, "header: received[%zu]", h->n_received);
		if (!cJSON_IsObject(it))
			return bad(r, err, "must be an object");
		if ((rc = take_int(r, it, "packet_no", &e->packet_no, err)) ||
		    (rc = take_string(r, it, "created_at", &e->created_at, err)))
			return rc;
		h->n_received++;
		if (e->packet_no < 1 || e->packet_no > ENV_MAX_INT)
			return bad(r, err, "\"packet_no\" must be between 1 and 9007199254740991");
		if (h->n_received > 1 && e->packet_no <= e[-1].packet_no)
			return bad(r, err, "\"packet_no\" %" PRId64 " does not follow %" PRId64,
				   e->packet_no, e[-1].packet_no);
	}
	set_where(r, "header");
	return XCHG_OK;
}

static xchg_status parse_header(env_reader *r, const cJSON *obj, xchg_err *err)
{
	const cJSON *chain, *format, *full, *resync, *acked, *received;
	const char *why;
	const hfield *f;
	xchg_status rc;

	if (!cJSON_IsObject(obj))
		return bad(r, err, "must be an object");
	/* First, so that a packet of another version says so rather than what it lacks. */
	if ((rc = member(r, obj, "packet_format", &format, err)))
		return rc;
	if (!format)
		return bad(r, err, "no \"packet_format\": a packet of format 1, from an older xchg;"
			   " this one reads format " STR(ENV_PACKET_FORMAT));
	if (!cJSON_IsNumber(format) || format->valuedouble != ENV_PACKET_FORMAT)
		return bad(r, err, "\"packet_format\" is not " STR(ENV_PACKET_FORMAT)
			   ", the only version this xchg reads");
	for (f = env_header_fields; f < HEADER_END; f++)
		if ((rc = f->is_int ? take_int(r, obj, f->key, env_field_at(&r->header, f), err) :
				      take_string(r, obj, f->key, env_field_at(&r->header, f), err)))
			return rc;
	if ((why = env_header_fault(&r->header)))
		return bad(r, err, "%s", why);
	/* Optional; its links are checked by the importer, which knows the keys. */
	if ((rc = member(r, obj, "key_chain", &chain, err)))
		return rc;
	if (chain && !cJSON_IsArray(chain))
		return bad(r, err, "\"key_chain\" is not an array");
	if (chain && !(r->header.key_chain = cJSON_PrintUnformatted(chain)))
		return reader_nomem(r, err);
	if ((rc = member(r, obj, "full_state", &full, err)))
		return rc;
	if (full && !cJSON_IsBool(full))
		return bad(r, err, "\"full_state\" is not true or false");
	r->header.full_state = cJSON_IsTrue(full);
	if ((rc = member(r, obj, "resync", &resync, err)))
		return rc;
	if (resync && !cJSON_IsBool(resync))
		return bad(r, err, "\"resync\" is not true or false");
	r->header.resync = cJSON_IsTrue(resync);
	if ((rc = member(r, obj, "ack_created_at", &acked, err)))
		return rc;
	if (acked && !cJSON_IsString(acked))
		return bad(r, err, "\"ack_created_at\" is not a string");
	if (acked && !(r->header.ack_created_at = strdup(acked->valuestring)))
		return reader_nomem(r, err);
	if ((rc = member(r, obj, "received", &received, err)))
		return rc;
	return received ? parse_received(r, received, err) : XCHG_OK;
}

/* "header" must come before "body": that is what lets a reader stream the entities. */
static xchg_status read_header(env_reader *r, xchg_err *err)
{
	cJSON *tree = NULL;
	xchg_status rc;
	int which;

	set_where(r, "%s", "");
	if ((rc = expect(r, '{', "'{'", err)) ||
	    (rc = next_known(r, "", DEPTH_TOP, &r->top_first, top_keys, &which, err)))
		return rc;
	if (which != KEY_HEADER)
		return bad(r, err, "%s", which < 0 ? "\"header\" is missing" :
						   "\"body\" comes before \"header\"");
	set_where(r, "header");
	if ((rc = read_value(r, DEPTH_TOP, ENV_MAX_HEADER_BYTES, &tree, err)) == XCHG_OK &&
	    (rc = parse_header(r, tree, err)) == XCHG_OK)
		r->phase = PH_HEADER;
	cJSON_Delete(tree);
	return rc;
}

/* From after the header to just inside the "entities" array. */
static xchg_status open_entities(env_reader *r, xchg_err *err)
{
	xchg_status rc;
	int which;

	if ((rc = next_known(r, "", DEPTH_TOP, &r->top_first, top_keys, &which, err)))
		return rc;
	if (which != KEY_BODY)
		return bad(r, err, "%s", which < 0 ? "\"body\" is missing" :
						   "\"header\" appears twice");
	set_where(r, "body");
	if ((rc = expect(r, '{', "'{'", err)) ||
	    (rc = next_known(r, "body", DEPTH_BODY, &r->body_first, body_keys, &which, err)))
		return rc;
	if (which < 0)
		return bad(r, err, "\"entities\" is missing");
	if ((rc = expect(r, '[', "'['", err)))
		return rc;
	r->phase = PH_ENTITIES;
	r->array_first = 1;
	return XCHG_OK;
}

/* Steps over the comma before the next entity; *more is 0 past the closing bracket. */
static xchg_status next_element(env_reader *r, int *more, xchg_err *err)
{
	xchg_status rc;
	int c;

	set_where(r, "entities");
	if ((rc = next_char(r, &c, err)))
		return rc;
	if (!(*more = c != ']')) {
		r->pos++;
		return XCHG_OK;
	}
	if (!r->array_first) {
		if (c != ',')
			return unexpected(r, "',' or ']'", c, err);
		r->pos++;
	}
	r->array_first = 0;
	return XCHG_OK;
}

static data_kind kind_of(const cJSON *data)
{
	return cJSON_IsNull(data) ? DATA_NULL : cJSON_IsObject(data) ? DATA_OBJECT : DATA_OTHER;
}

static xchg_status parse_entity(env_reader *r, xchg_err *err)
{
	const cJSON *type, *uuid, *op, *updated, *data;
	env_entity *e = &r->entity;
	const char *why;
	xchg_status rc;

	if (!cJSON_IsObject(r->tree))
		return bad(r, err, "must be an object");
	if ((rc = member(r, r->tree, "type", &type, err)) ||
	    (rc = member(r, r->tree, "uuid", &uuid, err)) ||
	    (rc = member(r, r->tree, "operation", &op, err)) ||
	    (rc = member(r, r->tree, "updated_at", &updated, err)) ||
	    (rc = member(r, r->tree, "data", &data, err)))
		return rc;
	if (updated && !cJSON_IsNull(updated) && !cJSON_IsString(updated))
		return bad(r, err, "\"updated_at\" must be a string or null");
	if ((why = env_entity_fault(cJSON_GetStringValue(type), cJSON_GetStringValue(uuid),
				cJSON_GetStringValue(op), data ? kind_of(data) : DATA_OTHER)))
		return bad(r, err, "%s", why);
	e->type = type->valuestring;
	e->uuid = uuid->valuestring;
	e->operation = op->valuestring;
	e->updated_at = cJSON_GetStringValue(updated);
	e->data = cJSON_IsObject(data) ? data : NULL;
	e->index = r->count++;
	e->bytes = r->cap.len;
	return XCHG_OK;
}

static xchg_status read_entity(env_reader *r, const env_entity **e, xchg_err *err)
{
	xchg_status rc;

	set_where(r, "entity %zu", r->count + 1);
	if ((rc = read_value(r, DEPTH_ARRAY, ENV_MAX_ENTITY_BYTES, &r->tree, err)) ||
	    (rc = parse_entity(r, err)))
		return rc;
	*e = &r->entity;
	return XCHG_OK;
}

/* After the array: the rest of "body" and of the top level, then only whitespace. */
static xchg_status finish(env_reader *r, xchg_err *err)
{
	xchg_status rc;
	int which, c;

	if ((rc = next_known(r, "body", DEPTH_BODY, &r->body_first, body_keys, &which, err)))
		return rc;
	if (which >= 0)
		return bad(r, err, "\"%s\" appears twice", body_keys[which]);
	if ((rc = next_known(r, "", DEPTH_TOP, &r->top_first, top_keys, &which, err)))
		return rc;
	if (which >= 0)
		return bad(r, err, "\"%s\" appears twice", top_keys[which]);
	if ((rc = skip_ws(r, &c, err)))
		return rc;
	if (c >= 0)
		return unexpected(r, "the end of message.json", c, err);
	r->phase = PH_DONE;
	return XCHG_OK;
}

static xchg_status next_entity(env_reader *r, const env_entity **e, xchg_err *err)
{
	xchg_status rc;
	int more;

	if (r->phase == PH_START && (rc = read_header(r, err)))
		return rc;
	if (r->phase == PH_HEADER && (rc = open_entities(r, err)))
		return rc;
	if (r->phase == PH_DONE)
		return XCHG_OK;
	if ((rc = next_element(r, &more, err)))
		return rc;
	return more ? read_entity(r, e, err) : finish(r, err);
}

xchg_status env_reader_new(env_reader **out, env_source_fn src, void *ctx,
			   const char *name, xchg_err *err)
{
	env_reader *r;

	*out = NULL;
	if (!(r = calloc(1, sizeof(*r))) || !(r->name = strdup(name)) ||
	    !(r->in = malloc(ENV_CHUNK))) {
		env_reader_free(r);
		return xerr(err, XCHG_ENOMEM, "%s: message.json: out of memory", name);
	}
	r->src = src;
	r->ctx = ctx;
	r->top_first = r->body_first = 1;
	*out = r;
	return XCHG_OK;
}

/* Once a call failed the reader's place in the input is lost; later calls say so. */
static xchg_status reader_stopped(env_reader *r, xchg_err *err)
{
	return xerr(err, r->failed, "%s: message.json: reading stopped at an earlier error",
		    r->name);
}

/* The header stays readable after a later failure: it was read and checked whole. */
xchg_status env_reader_header(env_reader *r, const env_header **h, xchg_err *err)
{
	xchg_status rc;

	*h = NULL;
	if (r->phase == PH_START) {
		if (r->failed)
			return reader_stopped(r, err);
		if ((rc = read_header(r, err))) {
			r->failed = rc;
			return rc;
		}
	}
	*h = &r->header;
	return XCHG_OK;
}

/*
 * Reads the header first when env_reader_header was not called, so a caller
 * that only wants the entities may skip it; the header is checked either way.
 * Past the end it keeps answering *e = NULL.
 */
xchg_status env_reader_next(env_reader *r, const env_entity **e, xchg_err *err)
{
	xchg_status rc;

	*e = NULL;
	cJSON_Delete(r->tree);
	r->tree = NULL;
	if (r->failed)
		return reader_stopped(r, err);
	if ((rc = next_entity(r, e, err))) {
		*e = NULL;
		r->failed = rc;
	}
	return rc;
}

cJSON *env_reader_take(env_reader *r)
{
	cJSON *tree = r->tree;

	r->tree = NULL;
	return tree;
}

void env_reader_free(env_reader *r)
{
	if (!r)
		return;
	env_header_clear(&r->header);
	cJSON_Delete(r->tree);
	xbuf_free(&r->cap);
	free(r->in);
	free(r->name);
	free(r);
}
