/*
 * The envelope's rules, which its writer (env_writer.c) and reader
 * (env_reader.c) share, and the header's copy and release.
 */
#include "envelope_rules.h"

#include <stdlib.h>
#include <string.h>

const hfield env_header_fields[] = {
	{"sender_node_id", offsetof(env_header, sender_id), 0},
	{"recipient_node_id", offsetof(env_header, recipient_id), 0},
	{"packet_no", offsetof(env_header, packet_no), 1},
	{"ack_packet_no", offsetof(env_header, ack_packet_no), 1},
	{"schema_version", offsetof(env_header, schema_version), 0},
	{"packet_format", offsetof(env_header, packet_format), 1},
	{"message_id", offsetof(env_header, message_id), 0},
	{"sender_code", offsetof(env_header, sender), 0},
	{"recipient_code", offsetof(env_header, recipient), 0},
	{"created_at", offsetof(env_header, created_at), 0},
};
const size_t env_nheader_fields = sizeof(env_header_fields) / sizeof(env_header_fields[0]);

void *env_field_at(const env_header *h, const hfield *f)
{
	return (char *)h + f->off;
}

/* MAJOR.MINOR.PATCH, each one or more digits. */
static int semver_valid(const char *s)
{
	int part;

	for (part = 0; part < 3; part++) {
		if (part && *s++ != '.')
			return 0;
		if (!json_is_digit(*s))
			return 0;
		while (json_is_digit(*s))
			s++;
	}
	return *s == '\0';
}

const char *env_header_fault(const env_header *h)
{
	if (!xuuid_valid(h->sender_id))
		return "\"sender_node_id\" is not a node id (a UUID in lowercase canonical form)";
	if (!xuuid_valid(h->recipient_id))
		return "\"recipient_node_id\" is not a node id (a UUID in lowercase canonical form)";
	if (!xchg_code_valid(h->sender))
		return "\"sender_code\" is not a valid node code";
	if (!xchg_code_valid(h->recipient))
		return "\"recipient_code\" is not a valid node code";
	if (!semver_valid(h->schema_version))
		return "\"schema_version\" is not MAJOR.MINOR.PATCH";
	if (h->packet_no < 1 || h->packet_no > ENV_MAX_INT)
		return "\"packet_no\" must be between 1 and 9007199254740991";
	if (h->ack_packet_no < 0 || h->ack_packet_no > ENV_MAX_INT)
		return "\"ack_packet_no\" must be between 0 and 9007199254740991";
	return NULL;
}

const char *env_entity_fault(const char *type, const char *uuid, const char *op, data_kind data)
{
	int del = op && (strcmp(op, "DELETE") == 0 || strcmp(op, "EVICT") == 0);
	int upsert = op && (strcmp(op, "INSERT") == 0 || strcmp(op, "UPDATE") == 0);

	if (!type || !type[0])
		return "\"type\" must be a non-empty string";
	if (!uuid || !uuid[0] || strlen(uuid) > ENV_MAX_UUID_BYTES)
		return "\"uuid\" must be a string of 1 to " STR(ENV_MAX_UUID_BYTES) " bytes";
	if (!del && !upsert)
		return "\"operation\" must be INSERT, UPDATE, DELETE or EVICT";
	if (del && data != DATA_NULL)
		return "\"data\" must be null for DELETE and EVICT";
	if (upsert && data != DATA_OBJECT)
		return "\"data\" must be an object for INSERT and UPDATE";
	return NULL;
}

xchg_status env_header_copy(env_header *dst, const env_header *src, xchg_err *err)
{
	const hfield *f;

	memset(dst, 0, sizeof(*dst));
	for (f = env_header_fields; f < HEADER_END; f++) {
		if (f->is_int) {
			*(int64_t *)env_field_at(dst, f) = *(const int64_t *)env_field_at(src, f);
		} else if (*(char **)env_field_at(src, f) &&
			   !(*(char **)env_field_at(dst, f) = strdup(*(char **)env_field_at(src, f)))) {
			goto nomem;
		}
	}
	if (src->key_chain && !(dst->key_chain = strdup(src->key_chain)))
		goto nomem;
	dst->full_state = src->full_state;
	dst->resync = src->resync;
	if (src->ack_created_at && !(dst->ack_created_at = strdup(src->ack_created_at)))
		goto nomem;
	if (src->n_received && !(dst->received = calloc(src->n_received, sizeof(*dst->received))))
		goto nomem;
	for (; dst->n_received < src->n_received; dst->n_received++) {
		const env_received *from = &src->received[dst->n_received];
		env_received *to = &dst->received[dst->n_received];

		to->packet_no = from->packet_no;
		if (!(to->created_at = strdup(from->created_at)))
			goto nomem;
	}
	return XCHG_OK;
nomem:
	env_header_clear(dst);
	return xerr(err, XCHG_ENOMEM, "out of memory");
}

void env_received_free(env_received *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i].created_at);
	free(list);
}

void env_header_clear(env_header *h)
{
	const hfield *f;

	if (!h)
		return;
	for (f = env_header_fields; f < HEADER_END; f++)
		if (!f->is_int)
			free(*(char **)env_field_at(h, f));
	free(h->key_chain);
	free(h->ack_created_at);
	env_received_free(h->received, h->n_received);
	memset(h, 0, sizeof(*h));
}
