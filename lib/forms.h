/*
 * Value forms: a uuid is one value whatever its spelling, and a time is an
 * instant, whatever text holds it. Packets, sync_changes and sync_conflicts
 * carry one canonical form of each (formats/PACKET.md 3.4); a column keeps
 * the form its application writes (formats/PLAN.md, "Value forms"). This
 * module reads any spelling, compares, and writes either form; what form a
 * column takes is decided in db.c.
 *
 * A text that is not a uuid or a time is no error here: it is not this
 * module's to judge, so every conversion hands it back unchanged.
 */
#ifndef XCHG_FORMS_H
#define XCHG_FORMS_H

#include <stddef.h>
#include <stdint.h>

/* Room for any form this module writes, with its NUL. */
#define FORMS_TEXT_MAX 40

typedef enum form_kind {
	FORM_TEXT = 0, /* neither: values are left as they are */
	FORM_UUID,
	FORM_TIME
} form_kind;

/* How one column holds its uuids or times. */
typedef struct col_form {
	form_kind kind;
	unsigned char native; /* a database's own type (PostgreSQL's uuid, timestamp): canonical in, out */
	unsigned char hex;    /* uuid: 32 digits, no dashes */
	unsigned char upper;  /* uuid: upper-case digits */
	unsigned char space;  /* time: a space between date and time, not 'T' */
	unsigned char digits; /* time: digits of the second's fraction, 0 to 6 */
	char zone;            /* time: 'Z', '+' (written +00:00), or 0 (naive: UTC is implied) */
} col_form;

/* xchg's own forms: what a column it adds holds, and what travels. */
extern const col_form FORMS_UUID_CANONICAL; /* 0f6a1c52-3b9e-4d0a-9c1e-5a7f2b8d4e61 */
extern const col_form FORMS_TIME_XCHG;      /* 2026-11-25T09:30:00.123Z */

/* An instant: microseconds are the finest any database of the star keeps. */
typedef struct xinstant {
	int64_t sec;  /* since 1970-01-01T00:00:00Z */
	int32_t usec; /* 0 to 999999 */
} xinstant;

/*
 * Whether s is a uuid: 36 characters with dashes (8-4-4-4-12) or 32 hex
 * digits, either case. On success out (may be NULL) gets the canonical form,
 * and shape (may be NULL) the spelling s used.
 */
int forms_uuid_parse(const char *s, char out[37], col_form *shape);
/* The canonical uuid canon in form f (native: canonical). */
void forms_uuid_render(const char *canon, const col_form *f, char out[37]);

/*
 * Whether s is a time: YYYY-MM-DD, 'T' or a space, HH:MM, optionally :SS
 * and a fraction (digits past the sixth are dropped), optionally a zone
 * (Z, or +HH, +HHMM, +HH:MM and their '-'). Without a zone the time is UTC.
 * On success *t gets the instant, and shape (may be NULL) the form s used.
 */
int forms_time_parse(const char *s, xinstant *t, col_form *shape);
/* t in form f: UTC, cut (not rounded) to f's digits. Native and canonical: forms_time_canonical. */
void forms_time_render(const xinstant *t, const col_form *f, char out[FORMS_TEXT_MAX]);
/* The canonical text: ISO-8601 in UTC, 'Z', 3 fraction digits (6 when microseconds say more). */
void forms_time_canonical(const xinstant *t, char out[FORMS_TEXT_MAX]);
int forms_instant_cmp(const xinstant *a, const xinstant *b);

/*
 * Orders two texts as times: as instants when both are times; otherwise as
 * text (a time that cannot be read is still ordered the same way on every
 * node). NULL sorts first.
 */
int forms_time_cmp(const char *a, const char *b);
/*
 * Whether two texts name the same time at the coarser of their two
 * precisions (a column that keeps milliseconds holds a microsecond time as
 * its millisecond): the same version of a row, stored in two forms.
 */
int forms_time_same(const char *a, const char *b);

/*
 * A column's value in canonical form (for the wire) or in f (for the
 * column): buf when it was a uuid or time of f's kind, s itself otherwise.
 */
const char *forms_canonical(const col_form *f, const char *s, char buf[FORMS_TEXT_MAX]);
const char *forms_for_column(const col_form *f, const char *s, char buf[FORMS_TEXT_MAX]);

/*
 * The spellings a column that is not of a native uuid type may hold uuid v
 * under (canonical, upper case, 32 digits, 32 upper-case digits), for a
 * lookup that finds the row however it was written; v four times when v is
 * no uuid. out[i] points into buf or is v.
 */
#define FORMS_SPELLINGS 4
void forms_uuid_spellings(const char *v, char buf[FORMS_SPELLINGS][37],
			  const char *out[FORMS_SPELLINGS]);

/*
 * A form by the name formats/PLAN.md gives it: "text", "uuid", "uuid-hex",
 * "UUID", "UUID-HEX", or a time pattern such as "YYYY-MM-DD HH:MM:SS.ffffff"
 * or "YYYY-MM-DDTHH:MM:SS.fffZ". forms_name writes it back ("native" for a
 * database's own type).
 */
int forms_parse_name(const char *name, col_form *out);
void forms_name(const col_form *f, char out[FORMS_TEXT_MAX]);

#endif
