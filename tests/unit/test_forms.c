/*
 * Value forms (lib/forms.c): every spelling of a uuid is one value, every
 * text of a time is one instant, and each form writes back exactly as the
 * application that chose it wrote. Anything that is not a uuid or a time
 * is handed back unchanged, never guessed at.
 */
#include <criterion/criterion.h>

#include <string.h>

#include "forms.h"

#define N(a) (sizeof(a) / sizeof((a)[0]))

#define CANON "0f6a1c52-3b9e-4d0a-9c1e-5a7f2b8d4e61"

Test(forms, every_spelling_of_a_uuid_is_one_value)
{
	static const struct {
		const char *in;
		int hex, upper;
	} spelled[] = {
		{CANON, 0, 0},
		{"0F6A1C52-3B9E-4D0A-9C1E-5A7F2B8D4E61", 0, 1},
		{"0f6a1c523b9e4d0a9c1e5a7f2b8d4e61", 1, 0},
		{"0F6A1C523B9E4D0A9C1E5A7F2B8D4E61", 1, 1},
		{"0f6A1c52-3B9e-4d0a-9c1e-5a7f2b8d4e61", 0, 0}, /* mixed case reads as lower */
	};
	char out[37];
	col_form shape;
	size_t i;

	for (i = 0; i < N(spelled); i++) {
		cr_assert(forms_uuid_parse(spelled[i].in, out, &shape), "%s", spelled[i].in);
		cr_assert_str_eq(out, CANON, "%s", spelled[i].in);
		cr_assert_eq(shape.kind, FORM_UUID);
		cr_assert_eq(shape.hex, spelled[i].hex, "%s: hex", spelled[i].in);
		cr_assert_eq(shape.upper, spelled[i].upper, "%s: upper", spelled[i].in);
	}
	/* Digits alone have no case: lower. */
	cr_assert(forms_uuid_parse("00000000000040008000000000000001", out, &shape));
	cr_assert_str_eq(out, "00000000-0000-4000-8000-000000000001");
	cr_assert(!shape.upper && shape.hex);
}

Test(forms, what_is_not_a_uuid_is_refused)
{
	static const char *const bad[] = {
		"", "u-1", "uuid-2",
		"0f6a1c52-3b9e-4d0a-9c1e-5a7f2b8d4e6",    /* 35 */
		"0f6a1c52-3b9e-4d0a-9c1e-5a7f2b8d4e612",  /* 37 */
		"0f6a1c523b9e4d0a9c1e5a7f2b8d4e6",        /* 31 */
		"0f6a1c523b9e4d0a9c1e5a7f2b8d4e612",      /* 33 */
		"0f6a1c52-3b9e-4d0a-9c1e-5a7f2b8d4e6g",   /* not hex */
		"0f6a1c5-23b9e-4d0a-9c1e-5a7f2b8d4e61",   /* a dash out of place */
		"0f6a1c52_3b9e_4d0a_9c1e_5a7f2b8d4e61",   /* not dashes */
		"{0f6a1c52-3b9e-4d0a-9c1e-5a7f2b8d4e61}", /* braces: not a form any column here holds */
		"0f6a1c52-3b9e4d0a9c1e5a7f2b8d4e61----",  /* dashes at the end, 36 long */
		" 0f6a1c523b9e4d0a9c1e5a7f2b8d4e61",
		"0f6a1c523b9e4d0a9c1e5a7f2b8d4e6 ",
	};
	char out[37] = "untouched";
	size_t i;

	for (i = 0; i < N(bad); i++)
		cr_assert(!forms_uuid_parse(bad[i], out, NULL), "\"%s\" taken for a uuid", bad[i]);
	cr_assert(!forms_uuid_parse(NULL, out, NULL));
	cr_assert_str_eq(out, "untouched");
}

Test(forms, a_uuid_is_written_in_the_columns_form)
{
	static const struct {
		const char *name, *written;
	} forms[] = {
		{"uuid", CANON},
		{"UUID", "0F6A1C52-3B9E-4D0A-9C1E-5A7F2B8D4E61"},
		{"uuid-hex", "0f6a1c523b9e4d0a9c1e5a7f2b8d4e61"},
		{"UUID-HEX", "0F6A1C523B9E4D0A9C1E5A7F2B8D4E61"},
	};
	col_form f, native = {.kind = FORM_UUID, .native = 1, .hex = 1, .upper = 1};
	char buf[FORMS_TEXT_MAX], name[FORMS_TEXT_MAX];
	size_t i, j;

	for (i = 0; i < N(forms); i++) {
		cr_assert(forms_parse_name(forms[i].name, &f), "%s", forms[i].name);
		forms_name(&f, name);
		cr_assert_str_eq(name, forms[i].name);
		/* From any spelling, to the column's. */
		for (j = 0; j < N(forms); j++)
			cr_assert_str_eq(forms_for_column(&f, forms[j].written, buf), forms[i].written,
					 "%s into a %s column", forms[j].written, forms[i].name);
		cr_assert_str_eq(forms_canonical(&f, forms[i].written, buf), CANON);
	}
	/* A database's own uuid type takes and gives the canonical form. */
	cr_assert_str_eq(forms_for_column(&native, "0F6A1C523B9E4D0A9C1E5A7F2B8D4E61", buf), CANON);
	forms_name(&native, name);
	cr_assert_str_eq(name, "native");
}

Test(forms, what_is_no_uuid_or_time_passes_unchanged)
{
	static const char *const values[] = {"", "u-1", "Roofers", "'); DROP TABLE x; --",
					      "2026-11-25", "12345678901234.56", "2026-13-01 00:00:00"};
	col_form uuid = FORMS_UUID_CANONICAL, time = FORMS_TIME_XCHG, text = {0};
	char buf[FORMS_TEXT_MAX];
	size_t i;

	for (i = 0; i < N(values); i++) {
		cr_assert_eq(forms_for_column(&uuid, values[i], buf), values[i], "%s", values[i]);
		cr_assert_eq(forms_canonical(&uuid, values[i], buf), values[i], "%s", values[i]);
		cr_assert_eq(forms_for_column(&time, values[i], buf), values[i], "%s", values[i]);
		cr_assert_eq(forms_canonical(&time, values[i], buf), values[i], "%s", values[i]);
	}
	/* A text column leaves even a uuid or a time alone. */
	cr_assert_eq(forms_for_column(&text, "0F6A1C523B9E4D0A9C1E5A7F2B8D4E61", buf),
		     (const char *)"0F6A1C523B9E4D0A9C1E5A7F2B8D4E61");
	cr_assert_null(forms_canonical(&time, NULL, buf));
}

Test(forms, uuid_spellings_for_a_lookup)
{
	char buf[FORMS_SPELLINGS][37];
	const char *out[FORMS_SPELLINGS];
	size_t i;

	forms_uuid_spellings("0F6A1C523B9E4D0A9C1E5A7F2B8D4E61", buf, out);
	cr_assert_str_eq(out[0], CANON);
	cr_assert_str_eq(out[1], "0F6A1C52-3B9E-4D0A-9C1E-5A7F2B8D4E61");
	cr_assert_str_eq(out[2], "0f6a1c523b9e4d0a9c1e5a7f2b8d4e61");
	cr_assert_str_eq(out[3], "0F6A1C523B9E4D0A9C1E5A7F2B8D4E61");
	forms_uuid_spellings("ACC-1", buf, out);
	for (i = 0; i < FORMS_SPELLINGS; i++)
		cr_assert_str_eq(out[i], "ACC-1");
}

/* Parses s, failing the test if it is not a time. */
static xinstant at(const char *s, col_form *shape)
{
	xinstant t;

	cr_assert(forms_time_parse(s, &t, shape), "\"%s\" is a time", s);
	return t;
}

static const char *canonical(const char *s)
{
	static char out[FORMS_TEXT_MAX];
	xinstant t = at(s, NULL);

	forms_time_canonical(&t, out);
	return out;
}

Test(forms, a_time_is_an_instant_whatever_its_text)
{
	static const struct {
		const char *in, *canonical;
	} times[] = {
		{"2026-12-02T07:14:05.123Z", "2026-12-02T07:14:05.123Z"},
		{"2026-12-02 07:14:05.123", "2026-12-02T07:14:05.123Z"},     /* naive is UTC */
		{"2026-12-02 07:14:05.123000", "2026-12-02T07:14:05.123Z"},
		{"2026-12-02 07:14:05.123456", "2026-12-02T07:14:05.123456Z"}, /* microseconds survive */
		{"2026-12-02 07:14:05.1234567891", "2026-12-02T07:14:05.123456Z"}, /* past them: cut */
		{"2026-12-02 07:14:05", "2026-12-02T07:14:05.000Z"},
		{"2026-12-02 07:14", "2026-12-02T07:14:00.000Z"},
		{"2026-12-02t07:14:05.5z", "2026-12-02T07:14:05.500Z"},
		{"2026-12-02T10:14:05.123+03:00", "2026-12-02T07:14:05.123Z"}, /* an offset is honoured */
		{"2026-12-02T10:14:05.123+0300", "2026-12-02T07:14:05.123Z"},
		{"2026-12-02T10:14:05.123+03", "2026-12-02T07:14:05.123Z"},
		{"2026-12-01T22:44:05-08:30", "2026-12-02T07:14:05.000Z"},
		{"2026-12-02 07:14:05.123456+00", "2026-12-02T07:14:05.123456Z"}, /* PostgreSQL's text */
		{"2027-01-01T01:00:00+02:00", "2026-12-31T23:00:00.000Z"},       /* across a year */
		{"2028-02-29T12:00:00Z", "2028-02-29T12:00:00.000Z"},            /* a leap day */
		{"2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"},
		{"1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"},
		{"1969-12-31T23:59:59.999999Z", "1969-12-31T23:59:59.999999Z"},  /* before the epoch */
		{"0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"},
		{"9999-12-31T23:59:59.999999Z", "9999-12-31T23:59:59.999999Z"},
	};
	size_t i;

	for (i = 0; i < N(times); i++)
		cr_assert_str_eq(canonical(times[i].in), times[i].canonical, "%s", times[i].in);
	cr_assert_eq(at("1970-01-01T00:00:01.5Z", NULL).sec, 1);
	cr_assert_eq(at("1970-01-01T00:00:01.5Z", NULL).usec, 500000);
	cr_assert_eq(at("1969-12-31T23:59:59Z", NULL).sec, -1);
}

Test(forms, what_is_not_a_time_is_refused)
{
	static const char *const bad[] = {
		"", "2026", "2026-12-02", "2026-12-02T", "2026-12-02T07", "2026-12-02T07:14:",
		"2026-12-02T07:14:05.", "2026-12-02T07:14:05.x", "2026-12-02X07:14:05",
		"2026-12-02  07:14:05", "26-12-02 07:14:05", "2026-1-02 07:14:05",
		"2026-13-02 07:14:05", "2026-00-02 07:14:05", "2026-12-32 07:14:05",
		"2026-02-29 07:14:05", "1900-02-29 07:14:05", "2026-04-31 07:14:05",
		"2026-12-02 24:00:00", "2026-12-02 07:60:00", "2026-12-02 07:14:60",
		"2026-12-02 07:14:05Z ", "2026-12-02 07:14:05 Z", "2026-12-02 07:14:05+",
		"2026-12-02 07:14:05+3", "2026-12-02 07:14:05+03:", "2026-12-02 07:14:05+03:0",
		"2026-12-02 07:14:05+24:00", "2026-12-02 07:14:05+03:60", "2026-12-02 07:14:05+03:0012",
		"2026-12-02 07:14:05+030", "2026-12-02 07:14:05UTC", "2026-12-02 07:14:05.123ZZ",
		"infinity", "-infinity", "10000-01-01 00:00:00", "0000-01-01 00:30:00+01:00",
		"9999-12-31 23:30:00-01:00", "2026-12-02 07:14:05\n", "2026-12-02T07:14:05.123Z\x01",
	};
	xinstant t = {42, 7};
	size_t i;

	for (i = 0; i < N(bad); i++)
		cr_assert(!forms_time_parse(bad[i], &t, NULL), "\"%s\" taken for a time", bad[i]);
	cr_assert(!forms_time_parse(NULL, &t, NULL));
	cr_assert(t.sec == 42 && t.usec == 7, "a refused time leaves the instant alone");
}

Test(forms, a_time_is_written_in_the_columns_form)
{
	static const struct {
		const char *name, *written;
	} forms[] = {
		{"YYYY-MM-DDTHH:MM:SS.fffZ", "2026-12-02T07:14:05.123Z"},
		{"YYYY-MM-DD HH:MM:SS.ffffff", "2026-12-02 07:14:05.123456"},
		{"YYYY-MM-DD HH:MM:SS", "2026-12-02 07:14:05"},
		{"YYYY-MM-DDTHH:MM:SS+00:00", "2026-12-02T07:14:05+00:00"},
		{"YYYY-MM-DD HH:MM:SS.f", "2026-12-02 07:14:05.1"},
		{"YYYY-MM-DDTHH:MM:SS.ffffffZ", "2026-12-02T07:14:05.123456Z"},
		{"YYYY-MM-DD HH:MM:SS.fff+00:00", "2026-12-02 07:14:05.123+00:00"},
	};
	/* 07:14:05.123456 UTC, in another zone: the column gets UTC. */
	const char *in = "2026-12-02T10:44:05.123456789+03:30";
	col_form f, shape;
	char buf[FORMS_TEXT_MAX], name[FORMS_TEXT_MAX];
	size_t i;

	for (i = 0; i < N(forms); i++) {
		cr_assert(forms_parse_name(forms[i].name, &f), "%s", forms[i].name);
		forms_name(&f, name);
		cr_assert_str_eq(name, forms[i].name);
		cr_assert_str_eq(forms_for_column(&f, in, buf), forms[i].written, "%s", forms[i].name);
		/* What a column holds tells its form. */
		at(forms[i].written, &shape);
		forms_name(&shape, name);
		cr_assert_str_eq(name, forms[i].name);
	}
	/* Digits are cut, never rounded up into the next second. */
	cr_assert(forms_parse_name("YYYY-MM-DD HH:MM:SS", &f));
	cr_assert_str_eq(forms_for_column(&f, "2026-12-31 23:59:59.999999", buf), "2026-12-31 23:59:59");
	/* A database's own time type takes and gives the canonical text. */
	f = (col_form){.kind = FORM_TIME, .native = 1, .space = 1};
	cr_assert_str_eq(forms_for_column(&f, "2026-12-02 07:14:05.123456", buf),
			 "2026-12-02T07:14:05.123456Z");
}

Test(forms, a_form_name_that_is_not_one_is_refused)
{
	static const char *const bad[] = {
		"", "Uuid", "uuid-HEX", "hex32", "dashed", "native", "TEXT",
		"YYYY-MM-DD", "YYYY-MM-DDXHH:MM:SS", "YYYY-MM-DD HH:MM", "YYYY-MM-DD HH:MM:SS.",
		"YYYY-MM-DD HH:MM:SS.fffffff", "YYYY-MM-DD HH:MM:SS.fffz", "YYYY-MM-DD HH:MM:SS+03:00",
		"YYYY-MM-DD HH:MM:SS.FFF", "YYYY-MM-DD HH:MM:SSZZ", "yyyy-mm-dd hh:mm:ss",
	};
	col_form f;
	size_t i;

	for (i = 0; i < N(bad); i++)
		cr_assert(!forms_parse_name(bad[i], &f), "\"%s\" taken for a form", bad[i]);
	cr_assert(forms_parse_name("text", &f) && f.kind == FORM_TEXT);
}

Test(forms, times_compare_as_instants_never_as_text)
{
	/* The case: as text the later edit sorts first. */
	cr_assert_gt(forms_time_cmp("2026-12-02 07:14:05", "2026-12-02T07:14:03.202Z"), 0);
	cr_assert_lt(forms_time_cmp("2026-12-02T07:14:03.202Z", "2026-12-02 07:14:05"), 0);
	cr_assert_eq(forms_time_cmp("2026-12-02 07:14:05.000000", "2026-12-02T07:14:05Z"), 0);
	cr_assert_eq(forms_time_cmp("2026-12-02T10:14:05+03:00", "2026-12-02 07:14:05"), 0);
	cr_assert_lt(forms_time_cmp("2026-12-02T07:14:05.123456Z", "2026-12-02T07:14:05.123457Z"), 0);
	/* NULL first; what is not a time as text, the same on every node. */
	cr_assert_lt(forms_time_cmp(NULL, "2026-12-02T07:14:05Z"), 0);
	cr_assert_gt(forms_time_cmp("2026-12-02T07:14:05Z", NULL), 0);
	cr_assert_eq(forms_time_cmp(NULL, NULL), 0);
	cr_assert_lt(forms_time_cmp("2026-12-02T07:14:05Z", "garbage"), 0);
	cr_assert_gt(forms_time_cmp("garbage", "2026-12-02T07:14:05Z"), 0);
}

Test(forms, the_same_time_at_the_coarser_precision)
{
	cr_assert(forms_time_same("2026-12-02T07:14:05.123Z", "2026-12-02 07:14:05.123456"));
	cr_assert(forms_time_same("2026-12-02 07:14:05.123456", "2026-12-02T07:14:05.123Z"));
	cr_assert(forms_time_same("2026-12-02 07:14:05", "2026-12-02T07:14:05.999Z"));
	cr_assert(forms_time_same("2026-12-02T10:14:05.5+03:00", "2026-12-02 07:14:05.500001"));
	cr_assert(!forms_time_same("2026-12-02T07:14:05.123Z", "2026-12-02 07:14:05.124"));
	cr_assert(!forms_time_same("2026-12-02 07:14:05.123456", "2026-12-02 07:14:05.123457"));
	cr_assert(!forms_time_same("2026-12-02T07:14:05Z", "2026-12-02T07:14:06Z"));
	cr_assert(forms_time_same(NULL, NULL));
	cr_assert(!forms_time_same(NULL, "2026-12-02T07:14:05Z"));
	cr_assert(forms_time_same("garbage", "garbage"));
	cr_assert(!forms_time_same("garbage", "Garbage"));
}
