/* The envelope's writer: message.json, a chunk at a time to a sink (envelope.h). */
#include "envelope_rules.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct env_writer {
	env_sink_fn sink;
	void *ctx;
	xbuf buf;          /* bytes not yet handed to the sink; always < ENV_CHUNK */
	uint64_t written;  /* bytes put so far, to measure the header and each entity */
	size_t count;
	int open;          /* 0 once finished or once a write failed midway */
};

static xchg_status writer_nomem(xchg_err *err)
{
	return xerr(err, XCHG_ENOMEM, "message.json: out of memory");
}

static xchg_status flush(env_writer *w, xchg_err *err)
{
	xchg_status rc = XCHG_OK;

	if (w->buf.len)
		rc = w->sink(w->ctx, w->buf.data, w->buf.len, err);
	xbuf_reset(&w->buf);
	return rc;
}

/* Queues bytes; the sink gets whole chunks, so no call sees more than ENV_CHUNK. */
static xchg_status put(env_writer *w, const char *p, size_t len, xchg_err *err)
{
	xchg_status rc;
	size_t n;

	w->written += len;
	while (len) {
		n = ENV_CHUNK - w->buf.len;
		if (n > len)
			n = len;
		if (xbuf_add(&w->buf, p, n) < 0)
			return writer_nomem(err);
		p += n;
		len -= n;
		if (w->buf.len == ENV_CHUNK && (rc = flush(w, err)))
			return rc;
	}
	return XCHG_OK;
}

static xchg_status put_text(env_writer *w, const char *s, xchg_err *err)
{
	return put(w, s, strlen(s), err);
}

/* s as a JSON string, or null for NULL. UTF-8 goes through as it is. */
static xchg_status put_string(env_writer *w, const char *s, xchg_err *err)
{
	const char *run;
	char esc[8];
	xchg_status rc;

	if (!s)
		return put_text(w, "null", err);
	if ((rc = put_text(w, "\"", err)))
		return rc;
	for (run = s; *s; s++) {
		unsigned char c = (unsigned char)*s;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		snprintf(esc, sizeof(esc), c < 0x20 ? "\\u%04x" : "\\%c", c);
		if ((rc = put(w, run, (size_t)(s - run), err)) || (rc = put_text(w, esc, err)))
			return rc;
		run = s + 1;
	}
	if ((rc = put(w, run, (size_t)(s - run), err)))
		return rc;
	return put_text(w, "\"", err);
}

/* The reader checks encoding while it scans; the writer checks its C strings here. */
static xchg_status check_utf8(const char *s, const char *where, const char *key,
			      xchg_err *err)
{
	if (s && !json_utf8_valid(s))
		return xerr(err, XCHG_EFAIL, "message.json: %s: \"%s\" is not valid UTF-8", where, key);
	return XCHG_OK;
}

/* Refuses a header the reader would refuse, before a byte of it is written. */
static xchg_status check_header(const env_header *h, xchg_err *err)
{
	const char *why;
	const hfield *f;
	xchg_status rc;

	for (f = env_header_fields; f < HEADER_END; f++) {
		const char *s = f->is_int ? "" : *(char **)env_field_at(h, f);

		if (!s)
			return xerr(err, XCHG_EFAIL, "message.json: header: \"%s\" is missing", f->key);
		if ((rc = check_utf8(s, "header", f->key, err)))
			return rc;
	}
	if ((why = env_header_fault(h)))
		return xerr(err, XCHG_EFAIL, "message.json: header: %s", why);
	return XCHG_OK;
}

static xchg_status put_received(env_writer *w, const env_header *h, xchg_err *err)
{
	char num[24];
	size_t i;
	xchg_status rc;

	if ((rc = put_text(w, ",\"received\":[", err)))
		return rc;
	for (i = 0; i < h->n_received; i++) {
		snprintf(num, sizeof(num), "%" PRId64, h->received[i].packet_no);
		if ((rc = put_text(w, i ? ",{\"packet_no\":" : "{\"packet_no\":", err)) ||
		    (rc = put_text(w, num, err)) || (rc = put_text(w, ",\"created_at\":", err)) ||
		    (rc = put_string(w, h->received[i].created_at, err)) || (rc = put_text(w, "}", err)))
			return rc;
	}
	return put_text(w, "]", err);
}

static xchg_status put_header(env_writer *w, const env_header *h, xchg_err *err)
{
	const hfield *f;
	uint64_t start;
	char num[24];
	xchg_status rc;

	if ((rc = put_text(w, "{\"header\":", err)))
		return rc;
	start = w->written;
	for (f = env_header_fields; f < HEADER_END; f++) {
		if (f->is_int)
			snprintf(num, sizeof(num), "%" PRId64, *(int64_t *)env_field_at(h, f));
		if ((rc = put_text(w, f == env_header_fields ? "{" : ",", err)) ||
		    (rc = put_string(w, f->key, err)) ||
		    (rc = put_text(w, ":", err)) ||
		    (rc = f->is_int ? put_text(w, num, err) :
				      put_string(w, *(char **)env_field_at(h, f), err)))
			return rc;
	}
	if (h->key_chain && ((rc = put_text(w, ",\"key_chain\":", err)) ||
			     (rc = put_text(w, h->key_chain, err))))
		return rc;
	if (h->full_state && (rc = put_text(w, ",\"full_state\":true", err)))
		return rc;
	if (h->resync && (rc = put_text(w, ",\"resync\":true", err)))
		return rc;
	if (h->ack_created_at && ((rc = put_text(w, ",\"ack_created_at\":", err)) ||
				  (rc = put_string(w, h->ack_created_at, err))))
		return rc;
	if (h->n_received && (rc = put_received(w, h, err)))
		return rc;
	if ((rc = put_text(w, "}", err)))
		return rc;
	if (w->written - start > ENV_MAX_HEADER_BYTES)
		return xerr(err, XCHG_EFAIL, "message.json: header: larger than %u bytes",
			    ENV_MAX_HEADER_BYTES);
	return put_text(w, ",\n\"body\":{\"entities\":[\n", err);
}

xchg_status env_writer_new(env_writer **out, const env_header *header,
			   env_sink_fn sink, void *ctx, xchg_err *err)
{
	env_header stamped = *header, *h = &stamped;
	env_writer *w = NULL;
	xchg_status rc;

	*out = NULL;
	stamped.packet_format = ENV_PACKET_FORMAT;
	if ((rc = check_header(h, err)))
		goto done;
	if (!(w = calloc(1, sizeof(*w))) || xbuf_reserve(&w->buf, ENV_CHUNK) < 0) {
		rc = writer_nomem(err);
		goto done;
	}
	w->sink = sink;
	w->ctx = ctx;
	w->open = 1;
	if ((rc = put_header(w, h, err)))
		goto done;
	*out = w;
	w = NULL;
done:
	env_writer_free(w);
	return rc;
}

static xchg_status writer_closed(xchg_err *err)
{
	return xerr(err, XCHG_EFAIL, "message.json: the writer was finished or failed earlier");
}

/* Refuses an entity the reader would refuse, before a byte of it is written. */
static xchg_status check_entity(size_t n, const char *type, const char *uuid,
				const char *op, const char *updated_at,
				const char *data_json, xchg_err *err)
{
	const char *why;
	char where[40];
	xchg_status rc;

	snprintf(where, sizeof(where), "entity %zu", n);
	if ((why = env_entity_fault(type, uuid, op, data_json ? DATA_OBJECT : DATA_NULL)))
		return xerr(err, XCHG_EFAIL, "message.json: %s: %s", where, why);
	if ((rc = check_utf8(type, where, "type", err)) ||
	    (rc = check_utf8(uuid, where, "uuid", err)) ||
	    (rc = check_utf8(updated_at, where, "updated_at", err)))
		return rc;
	if (data_json && (why = json_object_fault(data_json, DEPTH_ENTITY)))
		return xerr(err, XCHG_EFAIL, "message.json: %s: \"data\": %s", where, why);
	return XCHG_OK;
}

static xchg_status put_entity(env_writer *w, const char *type, const char *uuid,
			      const char *op, const char *updated_at,
			      const char *data_json, xchg_err *err)
{
	uint64_t start;
	xchg_status rc;

	if ((rc = put_text(w, w->count ? ",\n" : "", err)))
		return rc;
	start = w->written;
	if ((rc = put_text(w, "{\"type\":", err)) ||
	    (rc = put_string(w, type, err)) ||
	    (rc = put_text(w, ",\"uuid\":", err)) ||
	    (rc = put_string(w, uuid, err)) ||
	    (rc = put_text(w, ",\"operation\":", err)) ||
	    (rc = put_string(w, op, err)) ||
	    (rc = put_text(w, ",\"updated_at\":", err)) ||
	    (rc = put_string(w, updated_at, err)) ||
	    (rc = put_text(w, ",\"data\":", err)) ||
	    (rc = put_text(w, data_json ? data_json : "null", err)) ||
	    (rc = put_text(w, "}", err)))
		return rc;
	if (w->written - start > ENV_MAX_ENTITY_BYTES)
		return xerr(err, XCHG_EFAIL, "message.json: entity %zu: larger than %u bytes",
			    w->count + 1, ENV_MAX_ENTITY_BYTES);
	return XCHG_OK;
}

/*
 * A refused entity leaves the writer as it was (nothing of it was written);
 * a failure while writing leaves the output cut short, so the writer closes.
 */
xchg_status env_writer_entity(env_writer *w, const char *type, const char *uuid,
			      const char *operation, const char *updated_at,
			      const char *data_json, xchg_err *err)
{
	xchg_status rc;

	if (!w->open)
		return writer_closed(err);
	if ((rc = check_entity(w->count + 1, type, uuid, operation, updated_at, data_json, err)))
		return rc;
	if ((rc = put_entity(w, type, uuid, operation, updated_at, data_json, err))) {
		w->open = 0;
		return rc;
	}
	w->count++;
	return XCHG_OK;
}

xchg_status env_writer_finish(env_writer *w, xchg_err *err)
{
	xchg_status rc;

	if (!w->open)
		return writer_closed(err);
	w->open = 0;
	if ((rc = put_text(w, w->count ? "\n]}}\n" : "]}}\n", err)))
		return rc;
	return flush(w, err);
}

void env_writer_free(env_writer *w)
{
	if (!w)
		return;
	xbuf_free(&w->buf);
	free(w);
}
