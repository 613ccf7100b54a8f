/*
 * The scanner that guards cJSON: it follows one JSON value through a
 * stream, byte by byte, to find where the value ends, so that only a
 * bounded, complete value is ever handed to cJSON; and it refuses on the
 * way what cJSON would let by or read loosely: invalid UTF-8 (overlong
 * forms, surrogates, past U+10FFFF), control characters and \u0000 in
 * strings, unpaired surrogate escapes, numbers outside RFC 8259 (01, 1.,
 * -.5, which strtod takes), nesting past JSON_SCAN_MAX_DEPTH. How tokens
 * and punctuation are arranged is left to cJSON, which sees every value
 * the scanner passes.
 */
#ifndef XCHG_JSON_SCAN_H
#define XCHG_JSON_SCAN_H

#include <stddef.h>

/* How deep containers may nest, counted from the outermost. */
#define JSON_SCAN_MAX_DEPTH 32

/* Continuation bytes still due in a UTF-8 sequence, and the range the next must fall in. */
typedef struct json_utf8 {
	unsigned need;
	unsigned char lo, hi;
} json_utf8;

/* A value being scanned; json_scan_init makes one. */
typedef struct json_scan {
	unsigned depth;   /* containers open, counted from the outermost */
	unsigned base;    /* depth of the container the value sits in */
	int tok;          /* where a bare token (number, true, false, null) stands */
	int in_str;
	int esc;          /* 0; 1 after a backslash; 2..5 reading \u's hex digits */
	unsigned unit;    /* the \u code unit being read */
	int want_low;     /* a high surrogate was read; its low half must follow */
	json_utf8 u;
} json_scan;

/* json_scan_run's verdicts: need more, ends with the last byte used, ended before it, refused. */
enum { JSON_SCAN_MORE, JSON_SCAN_DONE, JSON_SCAN_STOP, JSON_SCAN_BAD };

/* A value that sits in a container at depth base (0 for a document of its own). */
void json_scan_init(json_scan *s, unsigned base);
/*
 * Feeds up to n bytes of the value; *used says how many were taken. On
 * JSON_SCAN_DONE the last one taken closed the value; on JSON_SCAN_STOP
 * the value (a bare token) ended just before the next byte, which was not
 * taken; on JSON_SCAN_BAD *why says what is wrong with the byte at *used.
 */
int json_scan_run(json_scan *s, const unsigned char *p, size_t n, size_t *used, const char **why);

/* Why text is not one JSON object, at depth base, the scanner would pass; NULL when it is. */
const char *json_object_fault(const char *text, unsigned base);

/* Whether s is valid UTF-8 (RFC 3629, as the scanner's strings must be). */
int json_utf8_valid(const char *s);

static inline int json_is_digit(int c)
{
	return c >= '0' && c <= '9';
}

static inline int json_is_ws(int c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

#endif
