/*
 * What the envelope's writer (env_writer.c) and reader (env_reader.c) both
 * hold to, kept once (envelope.c): the header's members in their order,
 * and what makes a header or an entity break the format.
 */
#ifndef XCHG_ENVELOPE_RULES_H
#define XCHG_ENVELOPE_RULES_H

#include "envelope.h"

/* Bytes handed to the sink, or asked of the source, at a time. */
#define ENV_CHUNK (64u * 1024u)
/* A member name as written; every name the format knows is far shorter. */
#define ENV_MAX_KEY_BYTES 256u
/* An entity's uuid: 36 bytes as text, with room left for other identifier schemes. */
#define ENV_MAX_UUID_BYTES 64
/* The largest integer cJSON's double holds exactly (2^53 - 1). */
#define ENV_MAX_INT INT64_C(9007199254740991)

/* How deep each level of the envelope sits: the top-level object is 1. */
#define DEPTH_TOP 1u
#define DEPTH_BODY 2u
#define DEPTH_ARRAY 3u
#define DEPTH_ENTITY 4u

#define STR_(x) #x
#define STR(x) STR_(x)

/* The header's members in the order the writer puts them. */
typedef struct hfield {
	const char *key;
	size_t off;
	int is_int;
} hfield;

extern const hfield env_header_fields[];
extern const size_t env_nheader_fields;
#define HEADER_END (env_header_fields + env_nheader_fields)

/* A char * or an int64_t member of h, as f says; the caller knows whether it may write. */
void *env_field_at(const env_header *h, const hfield *f);
/* Why a header's values break the format, or NULL; strings are known present. */
const char *env_header_fault(const env_header *h);

typedef enum data_kind { DATA_NULL, DATA_OBJECT, DATA_OTHER } data_kind;

/* Why an entity's values break the format, or NULL; NULL strings were absent or not strings. */
const char *env_entity_fault(const char *type, const char *uuid, const char *op, data_kind data);

#endif
