#include "forms.h"

#include <stdio.h>
#include <string.h>

const col_form FORMS_UUID_CANONICAL = {.kind = FORM_UUID};
const col_form FORMS_TIME_XCHG = {.kind = FORM_TIME, .digits = 3, .zone = 'Z'};

/* Each byte's value as a hex digit, or -1; bit 4 marks an upper-case letter, bit 5 a lower. */
static const signed char hex_value[256] = {
	['0'] = 0, ['1'] = 1, ['2'] = 2, ['3'] = 3, ['4'] = 4, ['5'] = 5, ['6'] = 6, ['7'] = 7,
	['8'] = 8, ['9'] = 9, ['a'] = 32 + 10, ['b'] = 32 + 11, ['c'] = 32 + 12, ['d'] = 32 + 13,
	['e'] = 32 + 14, ['f'] = 32 + 15, ['A'] = 16 + 10, ['B'] = 16 + 11, ['C'] = 16 + 12,
	['D'] = 16 + 13, ['E'] = 16 + 14, ['F'] = 16 + 15,
};
/* Which bytes hex_value knows: its zero is also '0''s. */
static const unsigned char is_hex[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1,
	['8'] = 1, ['9'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
	['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1,
};

/*
 * Every uuid of a packet passes here, several times on its way into a
 * row: one table lookup a character, and the dashes checked where the
 * canonical form has them.
 */
int forms_uuid_parse(const char *s, char out[37], col_form *shape)
{
	static const char digits[] = "0123456789abcdef";
	char canon[37];
	size_t len, i, k = 0;
	int cases = 0, v;

	if (!s)
		return 0;
	len = strnlen(s, 37);
	if (len != 36 && len != 32)
		return 0;
	if (len == 36 && (s[8] != '-' || s[13] != '-' || s[18] != '-' || s[23] != '-'))
		return 0;
	for (i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];

		if (len == 36 && (i == 8 || i == 13 || i == 18 || i == 23))
			continue;
		if (!is_hex[c])
			return 0;
		v = hex_value[c];
		cases |= v;
		/* Dashes go where the canonical form has them, whatever s had. */
		if (k == 8 || k == 13 || k == 18 || k == 23)
			canon[k++] = '-';
		canon[k++] = digits[v & 15];
	}
	canon[36] = '\0';
	if (out)
		memcpy(out, canon, sizeof(canon));
	if (shape) {
		memset(shape, 0, sizeof(*shape));
		shape->kind = FORM_UUID;
		shape->hex = len == 32;
		/* A uuid of digits alone has no case; one of mixed case is read as lower. */
		shape->upper = (cases & 16) && !(cases & 32);
	}
	return 1;
}

void forms_uuid_render(const char *canon, const col_form *f, char out[37])
{
	size_t i, k = 0;

	for (i = 0; canon[i] && k < 36; i++) {
		if (canon[i] == '-' && f->hex && !f->native)
			continue;
		out[k++] = f->upper && !f->native && canon[i] >= 'a' && canon[i] <= 'f'
				   ? (char)(canon[i] - 'a' + 'A') : canon[i];
	}
	out[k] = '\0';
}

/* Exactly n decimal digits at *p, moving past them. */
static int take_digits(const char **p, int n, int *out)
{
	int v = 0, i;

	for (i = 0; i < n; i++) {
		if ((*p)[i] < '0' || (*p)[i] > '9')
			return 0;
		v = v * 10 + ((*p)[i] - '0');
	}
	*p += n;
	*out = v;
	return 1;
}

static int leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int month_days(int y, int m)
{
	static const int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	return m == 2 && leap(y) ? 29 : days[m - 1];
}

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm). */
static int64_t days_from_civil(int64_t y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

static void civil_from_days(int64_t z, int *y, int *m, int *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* What four-digit years can write: 0000-01-01T00:00:00Z to 9999-12-31T23:59:59.999999Z. */
#define FORMS_FIRST_SECOND (-62167219200LL)
#define FORMS_LAST_SECOND 253402300799LL

int forms_time_parse(const char *s, xinstant *t, col_form *shape)
{
	const char *p = s;
	int y, mo, d, h, mi, sec = 0, usec = 0, digits = 0, oh = 0, om = 0, sign = 0, i;
	char sep, zone = 0;
	int64_t at;

	if (!s || !take_digits(&p, 4, &y) || *p++ != '-' || !take_digits(&p, 2, &mo) ||
	    *p++ != '-' || !take_digits(&p, 2, &d))
		return 0;
	sep = *p++;
	if ((sep != 'T' && sep != 't' && sep != ' ') || !take_digits(&p, 2, &h) || *p++ != ':' ||
	    !take_digits(&p, 2, &mi))
		return 0;
	if (*p == ':' && (p++, !take_digits(&p, 2, &sec)))
		return 0;
	if (*p == '.') {
		if (*++p < '0' || *p > '9')
			return 0;
		for (; *p >= '0' && *p <= '9'; p++)
			if (digits < 6) {
				usec = usec * 10 + (*p - '0');
				digits++;
			}
		for (i = digits; i < 6; i++)
			usec *= 10;
	}
	if (*p == 'Z' || *p == 'z') {
		zone = 'Z';
		p++;
	} else if (*p == '+' || *p == '-') {
		sign = *p++ == '-' ? -1 : 1;
		zone = '+';
		if (!take_digits(&p, 2, &oh))
			return 0;
		/* +HH, +HHMM or +HH:MM */
		if (*p == ':' ? (p++, !take_digits(&p, 2, &om))
			      : *p && !take_digits(&p, 2, &om))
			return 0;
	}
	if (*p || mo < 1 || mo > 12 || d < 1 || d > month_days(y, mo) || h > 23 || mi > 59 ||
	    sec > 59 || oh > 23 || om > 59)
		return 0;
	at = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + sec -
	     (int64_t)sign * (oh * 3600 + om * 60);
	if (at < FORMS_FIRST_SECOND || at > FORMS_LAST_SECOND)
		return 0;
	t->sec = at;
	t->usec = usec;
	if (shape) {
		memset(shape, 0, sizeof(*shape));
		shape->kind = FORM_TIME;
		shape->space = sep == ' ';
		shape->digits = (unsigned char)digits;
		shape->zone = zone;
	}
	return 1;
}

/* Writes v in exactly width digits at p (v < 10^width); returns the end. */
static char *put_digits(char *p, unsigned v, int width)
{
	int i;

	for (i = width - 1; i >= 0; i--, v /= 10)
		p[i] = (char)('0' + v % 10);
	return p + width;
}

/* Every time an import or export writes goes through here: digits by hand, not snprintf. */
void forms_time_render(const xinstant *t, const col_form *f, char out[FORMS_TEXT_MAX])
{
	static const int scale[] = {1000000, 100000, 10000, 1000, 100, 10, 1};
	int64_t days = t->sec / 86400, rest = t->sec % 86400;
	int y, m, d, digits;
	char *p = out;

	if (f->native) {
		forms_time_canonical(t, out);
		return;
	}
	if (rest < 0) {
		rest += 86400;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		p += snprintf(out, FORMS_TEXT_MAX, "%04d", y);
	else
		p = put_digits(p, (unsigned)y, 4);
	*p++ = '-';
	p = put_digits(p, (unsigned)m, 2);
	*p++ = '-';
	p = put_digits(p, (unsigned)d, 2);
	*p++ = f->space ? ' ' : 'T';
	p = put_digits(p, (unsigned)(rest / 3600), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rest / 60 % 60), 2);
	*p++ = ':';
	p = put_digits(p, (unsigned)(rest % 60), 2);
	digits = f->digits > 6 ? 6 : f->digits;
	if (digits) {
		*p++ = '.';
		p = put_digits(p, (unsigned)(t->usec / scale[digits]), digits);
	}
	strcpy(p, f->zone == 'Z' ? "Z" : f->zone == '+' ? "+00:00" : "");
}

void forms_time_canonical(const xinstant *t, char out[FORMS_TEXT_MAX])
{
	col_form f = FORMS_TIME_XCHG;

	/* Milliseconds as xchg has always written them; an ORM's microseconds survive. */
	if (t->usec % 1000)
		f.digits = 6;
	forms_time_render(t, &f, out);
}

int forms_instant_cmp(const xinstant *a, const xinstant *b)
{
	if (a->sec != b->sec)
		return a->sec < b->sec ? -1 : 1;
	return (a->usec > b->usec) - (a->usec < b->usec);
}

int forms_time_cmp(const char *a, const char *b)
{
	xinstant x, y;

	if (!a || !b)
		return (a != NULL) - (b != NULL);
	if (forms_time_parse(a, &x, NULL) && forms_time_parse(b, &y, NULL))
		return forms_instant_cmp(&x, &y);
	return strcmp(a, b);
}

int forms_time_same(const char *a, const char *b)
{
	static const int32_t scale[] = {1000000, 100000, 10000, 1000, 100, 10, 1};
	xinstant x, y;
	col_form fx, fy;
	int32_t unit;

	if (!a || !b)
		return a == b;
	if (!forms_time_parse(a, &x, &fx) || !forms_time_parse(b, &y, &fy))
		return strcmp(a, b) == 0;
	unit = scale[fx.digits < fy.digits ? fx.digits : fy.digits];
	return x.sec == y.sec && x.usec / unit == y.usec / unit;
}

const char *forms_canonical(const col_form *f, const char *s, char buf[FORMS_TEXT_MAX])
{
	xinstant t;

	if (f->kind == FORM_UUID && forms_uuid_parse(s, buf, NULL))
		return buf;
	if (f->kind == FORM_TIME && forms_time_parse(s, &t, NULL)) {
		forms_time_canonical(&t, buf);
		return buf;
	}
	return s;
}

const char *forms_for_column(const col_form *f, const char *s, char buf[FORMS_TEXT_MAX])
{
	char canon[37];
	xinstant t;

	if (f->kind == FORM_UUID && forms_uuid_parse(s, canon, NULL)) {
		forms_uuid_render(canon, f, buf);
		return buf;
	}
	if (f->kind == FORM_TIME && forms_time_parse(s, &t, NULL)) {
		forms_time_render(&t, f, buf);
		return buf;
	}
	return s;
}

void forms_uuid_spellings(const char *v, char buf[FORMS_SPELLINGS][37],
			  const char *out[FORMS_SPELLINGS])
{
	static const col_form spelled[FORMS_SPELLINGS] = {
		{.kind = FORM_UUID},
		{.kind = FORM_UUID, .upper = 1},
		{.kind = FORM_UUID, .hex = 1},
		{.kind = FORM_UUID, .hex = 1, .upper = 1},
	};
	char canon[37];
	size_t i;
	int is_uuid = forms_uuid_parse(v, canon, NULL);

	for (i = 0; i < FORMS_SPELLINGS; i++) {
		out[i] = v;
		if (is_uuid) {
			forms_uuid_render(canon, &spelled[i], buf[i]);
			out[i] = buf[i];
		}
	}
}

/* The time pattern "YYYY-MM-DD" 'T'|' ' "HH:MM:SS" ["." 1 to 6 'f'] ["Z" | "+00:00"]. */
static int parse_pattern(const char *name, col_form *out)
{
	const char *p = name + 10;

	if (strncmp(name, "YYYY-MM-DD", 10) != 0 || (*p != 'T' && *p != ' ') ||
	    strncmp(p + 1, "HH:MM:SS", 8) != 0)
		return 0;
	memset(out, 0, sizeof(*out));
	out->kind = FORM_TIME;
	out->space = *p == ' ';
	p += 9;
	if (*p == '.') {
		while (*++p == 'f')
			out->digits++;
		if (out->digits < 1 || out->digits > 6)
			return 0;
	}
	if (strcmp(p, "Z") == 0)
		out->zone = 'Z';
	else if (strcmp(p, "+00:00") == 0)
		out->zone = '+';
	else if (*p)
		return 0;
	return 1;
}

int forms_parse_name(const char *name, col_form *out)
{
	static const struct {
		const char *name;
		col_form form;
	} named[] = {
		{"text", {.kind = FORM_TEXT}},
		{"uuid", {.kind = FORM_UUID}},
		{"uuid-hex", {.kind = FORM_UUID, .hex = 1}},
		{"UUID", {.kind = FORM_UUID, .upper = 1}},
		{"UUID-HEX", {.kind = FORM_UUID, .hex = 1, .upper = 1}},
	};
	size_t i;

	for (i = 0; i < sizeof(named) / sizeof(named[0]); i++)
		if (strcmp(name, named[i].name) == 0) {
			*out = named[i].form;
			return 1;
		}
	return parse_pattern(name, out);
}

void forms_name(const col_form *f, char out[FORMS_TEXT_MAX])
{
	if (f->native) {
		snprintf(out, FORMS_TEXT_MAX, "native");
	} else if (f->kind == FORM_UUID) {
		snprintf(out, FORMS_TEXT_MAX, "%s%s", f->upper ? "UUID" : "uuid",
			 !f->hex ? "" : f->upper ? "-HEX" : "-hex");
	} else if (f->kind == FORM_TIME) {
		snprintf(out, FORMS_TEXT_MAX, "YYYY-MM-DD%cHH:MM:SS%s%.*s%s", f->space ? ' ' : 'T',
			 f->digits ? "." : "", f->digits > 6 ? 6 : f->digits, "ffffff",
			 f->zone == 'Z' ? "Z" : f->zone == '+' ? "+00:00" : "");
	} else {
		snprintf(out, FORMS_TEXT_MAX, "text");
	}
}
