/*
 * The envelope: message.json, written and read one entity at a time.
 *
 *   {"header": {...}, "body": {"entities": [ {entity}, {entity}, ... ]}}
 *
 * The writer emits bytes to a sink as entities arrive; the reader pulls bytes
 * from a source and hands back one parsed entity per call, so memory stays
 * flat whatever the packet's size. formats/PACKET.md is the specification.
 */
#ifndef XCHG_ENVELOPE_H
#define XCHG_ENVELOPE_H

#include <stddef.h>
#include <stdint.h>

#include <cjson/cJSON.h>

#include "common.h"
#include "json_scan.h"

/* Limits on what a reader accepts; each one is named in the spec. */
#define ENV_MAX_HEADER_BYTES (64u * 1024u)
#define ENV_MAX_ENTITY_BYTES (64u * 1024u * 1024u)
#define ENV_MAX_DEPTH JSON_SCAN_MAX_DEPTH
#define ENV_MAX_RECEIVED 256 /* entries of a header's "received" */

/* The version of formats/PACKET.md this code reads and writes. */
#define ENV_PACKET_FORMAT 2

/* One packet the sender received from the recipient: PACKET.md section 6.3. */
typedef struct env_received {
	int64_t packet_no;
	char *created_at; /* as that packet gave it */
} env_received;

typedef struct env_header {
	char *sender_id;    /* node ids: one uuid per node, the same in every database */
	char *recipient_id;
	int64_t packet_no;
	int64_t ack_packet_no;
	char *schema_version;
	int64_t packet_format; /* the writer always writes ENV_PACKET_FORMAT */
	char *message_id;
	char *sender;       /* node codes, for people and file names */
	char *recipient;
	char *created_at;
	char *key_chain; /* optional: the sender's key chain, as JSON array text (keys.h) */
	int full_state;  /* optional: the packet carries every row the sender has (PACKET.md 6.2) */
	int resync;      /* optional: the sender asks for the recipient's full state (PACKET.md
			    section 6.3) */
	char *ack_created_at; /* optional: when the packet ack_packet_no names was written (6.3) */
	env_received *received; /* optional: packets received from the recipient that it has
				   not yet seen listed, by number (6.3) */
	size_t n_received;
} env_header;

void env_header_clear(env_header *h);
void env_received_free(env_received *list, size_t n);
/* A deep copy; dst needs env_header_clear afterwards. */
xchg_status env_header_copy(env_header *dst, const env_header *src, xchg_err *err);

/* Receives the writer's bytes, e.g. packet_writer_write. */
typedef xchg_status (*env_sink_fn)(void *ctx, const void *data, size_t len,
				   xchg_err *err);
/* Fills buf with up to cap bytes; *got = 0 means end of input. */
typedef xchg_status (*env_source_fn)(void *ctx, void *buf, size_t cap,
				     size_t *got, xchg_err *err);

typedef struct env_writer env_writer;

/* Starts a message: writes the header and opens the entity array. */
xchg_status env_writer_new(env_writer **out, const env_header *h,
			   env_sink_fn sink, void *ctx, xchg_err *err);
/*
 * Appends one entity. data_json is the entity's data as JSON object text
 * (from row_json), or NULL for a DELETE, which travels with "data": null.
 */
xchg_status env_writer_entity(env_writer *w, const char *type, const char *uuid,
			      const char *operation, const char *updated_at,
			      const char *data_json, xchg_err *err);
/* Closes the array and the message and flushes everything to the sink. */
xchg_status env_writer_finish(env_writer *w, xchg_err *err);
void env_writer_free(env_writer *w);

/* One entity as read; valid until the next env_reader_next or free. */
typedef struct env_entity {
	const char *type;
	const char *uuid;
	const char *operation;   /* "INSERT", "UPDATE" or "DELETE" */
	const char *updated_at;  /* may be NULL */
	const cJSON *data;       /* an object, or NULL for "data": null */
	size_t index;            /* 0-based position in the packet */
	size_t bytes;            /* the length of its JSON text */
} env_entity;

typedef struct env_reader env_reader;

/* name is used in messages ("pkt_C_D1_7.zip: ..."). */
xchg_status env_reader_new(env_reader **out, env_source_fn src, void *ctx,
			   const char *name, xchg_err *err);
/* Reads up to and including the header; call before env_reader_next. */
xchg_status env_reader_header(env_reader *r, const env_header **h, xchg_err *err);
/*
 * Reads the next entity into *e. At the end of the array *e is NULL, and the
 * rest of the message has been read and checked to be well formed.
 */
xchg_status env_reader_next(env_reader *r, const env_entity **e, xchg_err *err);
/*
 * Hands the caller what the entity env_reader_next read last points into
 * (the caller frees it with cJSON_Delete): the entity's strings and data
 * stay valid until then, past the next env_reader_next.
 */
cJSON *env_reader_take(env_reader *r);
void env_reader_free(env_reader *r);

#endif
