/* The scanner that guards cJSON (json_scan.h). */
#include "json_scan.h"

#include <string.h>

#define STR_(x) #x
#define STR(x) STR_(x)

/*
 * The ranges follow RFC 3629's table, so overlong forms, UTF-16 surrogates
 * and code points past U+10FFFF fail on the byte that makes them so.
 */
static int utf8_step(json_utf8 *u, unsigned char c)
{
	if (u->need) {
		if (c < u->lo || c > u->hi)
			return -1;
		u->need--;
		u->lo = 0x80;
		u->hi = 0xBF;
		return 0;
	}
	if (c < 0x80)
		return 0;
	if (c < 0xC2 || c > 0xF4)
		return -1;
	u->need = c < 0xE0 ? 1 : c < 0xF0 ? 2 : 3;
	u->lo = c == 0xE0 ? 0xA0 : c == 0xF0 ? 0x90 : 0x80;
	u->hi = c == 0xED ? 0x9F : c == 0xF4 ? 0x8F : 0xBF;
	return 0;
}

int json_utf8_valid(const char *s)
{
	json_utf8 u = {0, 0x80, 0xBF};

	for (; *s; s++)
		if (utf8_step(&u, (unsigned char)*s))
			return 0;
	return u.need == 0;
}

/*
 * A bare token's states: a word (left to cJSON, which takes only true, false
 * and null) or an RFC 8259 number. cJSON hands numbers to strtod, which also
 * takes 01, 1. and -.5; a second reader must not be made to guess at those.
 */
enum { TOK_NONE, TOK_WORD, TOK_MINUS, TOK_ZERO, TOK_INT, TOK_DOT, TOK_FRAC,
       TOK_E, TOK_ESIGN, TOK_EXP, TOK_BAD };

void json_scan_init(json_scan *s, unsigned base)
{
	memset(s, 0, sizeof(*s));
	s->depth = s->base = base;
}

static int refuse(const char **why, const char *reason)
{
	*why = reason;
	return JSON_SCAN_BAD;
}

static int is_letter(unsigned char c)
{
	c |= 0x20;
	return c >= 'a' && c <= 'z';
}

static int hex_value(unsigned char c)
{
	if (json_is_digit(c))
		return c - '0';
	c |= 0x20;
	return c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
}

static int token_char(unsigned char c)
{
	return json_is_digit(c) || is_letter(c) || c == '+' || c == '-' || c == '.';
}

static int token_step(int tok, unsigned char c)
{
	int digit = json_is_digit(c), e = (c | 0x20) == 'e';

	switch (tok) {
	case TOK_NONE:
		return c == '-' ? TOK_MINUS : c == '0' ? TOK_ZERO : digit ? TOK_INT :
		       is_letter(c) ? TOK_WORD : TOK_BAD;
	case TOK_WORD:
		return TOK_WORD;
	case TOK_MINUS:
		return c == '0' ? TOK_ZERO : digit ? TOK_INT : TOK_BAD;
	case TOK_ZERO:
		return c == '.' ? TOK_DOT : e ? TOK_E : TOK_BAD;
	case TOK_INT:
		return digit ? TOK_INT : c == '.' ? TOK_DOT : e ? TOK_E : TOK_BAD;
	case TOK_DOT:
		return digit ? TOK_FRAC : TOK_BAD;
	case TOK_FRAC:
		return digit ? TOK_FRAC : e ? TOK_E : TOK_BAD;
	case TOK_E:
		return c == '+' || c == '-' ? TOK_ESIGN : digit ? TOK_EXP : TOK_BAD;
	default: /* TOK_ESIGN, TOK_EXP */
		return digit ? TOK_EXP : TOK_BAD;
	}
}

static int token_complete(int tok)
{
	return tok == TOK_WORD || tok == TOK_ZERO || tok == TOK_INT || tok == TOK_FRAC ||
	       tok == TOK_EXP;
}

static int scan_token(json_scan *s, unsigned char c, const char **why)
{
	s->tok = token_step(s->tok, c);
	return s->tok == TOK_BAD ? refuse(why, "invalid number") : JSON_SCAN_MORE;
}

/*
 * A \u escape is complete. cJSON fails on unpaired surrogates without saying
 * why, and would cut a string short at U+0000, hiding the rest from every
 * check made on the C string; both are refused here.
 */
static int scan_unit(json_scan *s, const char **why)
{
	int low = s->unit >= 0xDC00 && s->unit <= 0xDFFF;

	if (low != s->want_low)
		return refuse(why, "unpaired surrogate in a \\u escape");
	s->want_low = s->unit >= 0xD800 && s->unit <= 0xDBFF;
	if (s->unit == 0)
		return refuse(why, "\\u0000 in a string");
	return JSON_SCAN_MORE;
}

/* One byte after a string's opening quote; JSON_SCAN_DONE at the closing one. */
static int scan_string_byte(json_scan *s, unsigned char c, const char **why)
{
	int v;

	if (s->esc > 1) {
		if ((v = hex_value(c)) < 0)
			return refuse(why, "invalid \\u escape");
		s->unit = s->unit * 16 + (unsigned)v;
		if (++s->esc < 6)
			return JSON_SCAN_MORE;
		s->esc = 0;
		return scan_unit(s, why);
	}
	if (s->want_low && c != (s->esc ? 'u' : '\\'))
		return refuse(why, "unpaired surrogate in a \\u escape");
	if (s->esc) {
		s->esc = c == 'u' ? 2 : 0;
		s->unit = 0;
		return c && strchr("\"\\/bfnrtu", c) ? JSON_SCAN_MORE : refuse(why, "invalid escape in a string");
	}
	if (s->u.need || c >= 0x80)
		return utf8_step(&s->u, c) ? refuse(why, "invalid UTF-8 in a string") : JSON_SCAN_MORE;
	if (c < 0x20)
		return refuse(why, "control character in a string");
	if (c == '\\')
		s->esc = 1;
	if (c != '"')
		return JSON_SCAN_MORE;
	s->in_str = 0;
	return JSON_SCAN_DONE;
}

/*
 * Feeds one byte of a value. The scanner follows strings, tokens and
 * brackets and refuses any byte JSON does not allow where it stands; how
 * tokens and punctuation are arranged is left to cJSON, which sees every
 * captured value.
 */
static int scan_byte(json_scan *s, unsigned char c, const char **why)
{
	int st;

	if (s->in_str) {
		st = scan_string_byte(s, c, why);
		return st == JSON_SCAN_DONE && s->depth > s->base ? JSON_SCAN_MORE : st;
	}
	if (s->tok) {
		if (token_char(c))
			return scan_token(s, c, why);
		if (!token_complete(s->tok))
			return refuse(why, "invalid number");
		s->tok = TOK_NONE;
		if (s->depth == s->base)
			return JSON_SCAN_STOP;
	}
	if (c == '{' || c == '[')
		return ++s->depth > JSON_SCAN_MAX_DEPTH ?
			refuse(why, "nested deeper than " STR(JSON_SCAN_MAX_DEPTH) " levels") : JSON_SCAN_MORE;
	if (c == '"') {
		s->in_str = 1;
		return JSON_SCAN_MORE;
	}
	if (token_char(c))
		return scan_token(s, c, why);
	if (s->depth == s->base)
		return refuse(why, "expected a value");
	if (c == '}' || c == ']')
		return --s->depth == s->base ? JSON_SCAN_DONE : JSON_SCAN_MORE;
	return json_is_ws(c) || c == ',' || c == ':' ? JSON_SCAN_MORE : refuse(why, "unexpected character");
}

int json_scan_run(json_scan *s, const unsigned char *p, size_t n, size_t *used, const char **why)
{
	size_t i;
	int st = JSON_SCAN_MORE;

	for (i = 0; i < n && (st = scan_byte(s, p[i], why)) == JSON_SCAN_MORE; i++)
		;
	*used = i + (st == JSON_SCAN_DONE);
	return st;
}

const char *json_object_fault(const char *text, unsigned base)
{
	const char *why = NULL;
	int st = JSON_SCAN_MORE;
	json_scan s;

	json_scan_init(&s, base);
	while (json_is_ws(*text))
		text++;
	if (*text != '{')
		return "not a JSON object";
	while (*text && st == JSON_SCAN_MORE)
		st = scan_byte(&s, (unsigned char)*text++, &why);
	if (st == JSON_SCAN_BAD)
		return why;
	while (json_is_ws(*text))
		text++;
	return st != JSON_SCAN_DONE || *text ? "not one complete JSON object" : NULL;
}
