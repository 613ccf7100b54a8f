/*
 * The generic serializer (lib/row_json.c): every kind of SQL value makes the
 * trip from one node's row to another's unchanged, as SQLite's typeof() and
 * quote() see it on both sides; the JSON in between has the forms
 * formats/PACKET.md 3.3 documents; and a receiver refuses data it cannot
 * store exactly where it belongs.
 *
 * The nodes carry a table of their own, samples, with a column of each
 * affinity (and one with none), and a child table, sample_parts.
 */
#include <criterion/criterion.h>

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "row_json.h"

TestSuite(row_json, .init = harness_setup, .fini = harness_teardown);

#define SAMPLE_SQL                                                                         \
	"CREATE TABLE samples (id INTEGER PRIMARY KEY, label TEXT NOT NULL, v_int INTEGER,"   \
	" v_real REAL, v_text TEXT, v_num NUMERIC, v_any);"                                   \
	"CREATE TABLE sample_parts (id INTEGER PRIMARY KEY, sample_uuid TEXT, label TEXT,"     \
	" v_int INTEGER, v_real REAL, v_text TEXT, v_num NUMERIC, v_any);"

#define SAMPLE_ENTITY                                                                      \
	"\"entities\": [\n    {\"type\": \"Sample\", \"table\": \"samples\", \"children\":"    \
	" [{\"name\": \"parts\", \"table\": \"sample_parts\", \"parent_column\": \"sample_uuid\"}]},"

static node *C, *D;

static void stage(void)
{
	const char *plan_path = plan_variant("\"entities\": [", SAMPLE_ENTITY);

	/* SAMPLE_SQL is SQLite's: an untyped column, SQLite's type names. */
	if (centers_are_pg())
		cr_skip_test("these tables are SQLite's; the center is PostgreSQL");
	C = node_create("CENTER", 1, plan_path, SAMPLE_SQL);
	D = node_create("DESKTOP-1", 0, plan_path, SAMPLE_SQL);
	link_nodes(C, D);
}

/* One value: the column it goes into, as an SQL literal, and its typeof() there. */
typedef struct sample {
	const char *label;
	const char *column;
	const char *literal;
	const char *type;
} sample;

static const sample typed[] = {
	{"int64 max", "v_int", "9223372036854775807", "integer"},
	{"int64 min", "v_int", "-9223372036854775808", "integer"},
	{"2^53 + 1", "v_int", "9007199254740993", "integer"},
	{"-(2^53 + 1)", "v_int", "-9007199254740993", "integer"},
	{"2^53", "v_int", "9007199254740992", "integer"},
	{"-2^53", "v_int", "-9007199254740992", "integer"},
	{"zero", "v_int", "0", "integer"},
	{"minus one", "v_int", "-1", "integer"},
	{"money", "v_text", "'12345678901234.56'", "text"},
	{"0.1", "v_real", "0.1", "real"},
	{"-2.5e-300", "v_real", "-2.5e-300", "real"},
	{"1e300", "v_real", "1e300", "real"},
	{"3.0", "v_real", "3.0", "real"},
	{"2^53 as real", "v_real", "9007199254740992.0", "real"},
	{"smallest subnormal", "v_real", "4.9406564584124654e-324", "real"},
	{"largest double", "v_real", "1.7976931348623157e308", "real"},
	{"quotes", "v_text", "'say \"hi\" and ''bye'''", "text"},
	{"backslash", "v_text", "'C:\\path\\to\\'", "text"},
	{"newline", "v_text", "'a' || char(10) || 'b' || char(13) || char(10)", "text"},
	{"tab", "v_text", "'a' || char(9) || 'b'", "text"},
	{"control characters", "v_text", "char(1, 2, 8, 12, 27, 31, 127)", "text"},
	{"cyrillic", "v_text", "'Бригада №1, прораб Иванов'", "text"},
	{"emoji", "v_text", "'🏗️ 👷‍♀️ 𝄞'", "text"},
	{"line separators", "v_text", "char(8232, 8233)", "text"},
	{"empty", "v_text", "''", "text"},
	{"null", "v_text", "NULL", "null"},
	{"number-like text", "v_text", "'007'", "text"},
	{"big-number-like text", "v_text", "'9223372036854775807'", "text"},
	{"null-like text", "v_text", "'null'", "text"},
	{"json-like text", "v_text", "'{\"a\":[1,2]}'", "text"},
	{"numeric 2.5", "v_num", "2.5", "real"},
	{"numeric 3", "v_num", "3", "integer"},
	{"numeric money", "v_num", "'12345678901234.56'", "real"},
};

#define NTYPED (sizeof(typed) / sizeof(typed[0]))

/* A column without a declared type keeps whatever type a value has. */
static const sample untyped[] = {
	{"any 0.1", "v_any", "0.1", "real"},
	{"any 1e300", "v_any", "1e300", "real"},
	{"any 42", "v_any", "42", "integer"},
	{"any text 42", "v_any", "'42'", "text"},
	{"any text 3.0", "v_any", "'3.0'", "text"},
	{"any null", "v_any", "NULL", "null"},
};

#define NUNTYPED (sizeof(untyped) / sizeof(untyped[0]))

/*
 * JSON readers (cJSON) do not tell 3.0 from 3, so in a column without a
 * declared type a whole-number real arrives as the integer of the same value
 * (PACKET.md 3.3); a typed column turns it back into a real.
 */
static const sample untyped_whole_reals[] = {
	{"any 3.0", "v_any", "3.0", "real"},
	{"any 2^53 as real", "v_any", "9007199254740992.0", "real"},
	{"any -1.0", "v_any", "-1.0", "real"},
};

#define NWHOLE (sizeof(untyped_whole_reals) / sizeof(untyped_whole_reals[0]))

/* typeof, quote and the bytes of a value, as one comparable string. */
static const char *seen(node *n, const char *table, const sample *s)
{
	return sql_text(n, "SELECT typeof(%s) || ':' || quote(%s) || ':' || hex(%s) FROM %s"
			   " WHERE label = '%s'", s->column, s->column, s->column, table, s->label);
}

static void insert_samples(const sample *v, size_t n, const char *table, const char *parent)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (parent)
			sql_exec(C, "INSERT INTO %s (sample_uuid, label, %s) VALUES ('%s', '%s', %s)",
				 table, v[i].column, parent, v[i].label, v[i].literal);
		else
			sql_exec(C, "INSERT INTO %s (label, %s) VALUES ('%s', %s)", table,
				 v[i].column, v[i].label, v[i].literal);
		cr_assert_str_eq(sql_text(C, "SELECT typeof(%s) FROM %s WHERE label = '%s'",
					  v[i].column, table, v[i].label),
				 v[i].type, "%s at the origin: SQLite stored a different type",
				 v[i].label);
	}
}

static void exchange(void)
{
	const char *share = make_folder("share");

	expect_applied(import_paths(D, share, export_packet(C, "DESKTOP-1", share).path, NULL),
		       "the samples");
}

static void expect_same(const sample *v, size_t n, const char *table)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *there = seen(C, table, &v[i]), *here = seen(D, table, &v[i]);

		cr_assert_not_null(here, "%s: row %s did not arrive", table, v[i].label);
		cr_expect_str_eq(here, there, "%s %s: %s at the origin, %s at the receiver", table,
				 v[i].label, there, here);
		cr_expect_eq(sql_int(D, "SELECT %s IS %s FROM %s WHERE label = '%s'", v[i].column,
				     v[i].literal, table, v[i].label), 1,
			     "%s %s: the receiver's value is not %s", table, v[i].label,
			     v[i].literal);
	}
}

/* Catches: lost digits, reals turned into integers, mangled or re-encoded text. */
Test(row_json, every_value_kind_survives_an_exchange)
{
	stage();
	insert_samples(typed, NTYPED, "samples", NULL);
	exchange();
	expect_same(typed, NTYPED, "samples");
}

/* The same values as child rows, inside their parent's data. */
Test(row_json, every_value_kind_survives_in_child_rows)
{
	const char *parent;

	stage();
	sql_exec(C, "INSERT INTO samples (label) VALUES ('parent')");
	parent = sql_text(C, "SELECT uuid FROM samples WHERE label = 'parent'");
	insert_samples(typed, NTYPED, "sample_parts", parent);
	exchange();
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM sample_parts WHERE sample_uuid = '%s'", parent),
		     (int64_t)NTYPED);
	expect_same(typed, NTYPED, "sample_parts");
	cr_assert_str_eq(sql_text(D, "SELECT group_concat(uuid || updated_at || is_deleted, ',')"
				     " FROM (SELECT * FROM sample_parts ORDER BY uuid)"),
			 sql_text(C, "SELECT group_concat(uuid || updated_at || is_deleted, ',')"
				     " FROM (SELECT * FROM sample_parts ORDER BY uuid)"),
			 "child rows keep their uuid, updated_at and is_deleted");
}

/*
 * PACKET.md 3.3: a real travels "with a . or an exponent" precisely so that
 * the receiver can tell 3.0 from 3. Where the column has no declared type,
 * nothing else on the receiving side can turn 3 back into 3.0.
 */
Test(row_json, untyped_column_keeps_every_value)
{
	size_t i;

	stage();
	insert_samples(untyped, NUNTYPED, "samples", NULL);
	insert_samples(untyped_whole_reals, NWHOLE, "samples", NULL);
	exchange();
	expect_same(untyped, NUNTYPED, "samples");
	for (i = 0; i < NWHOLE; i++) {
		const sample *w = &untyped_whole_reals[i];

		cr_expect_eq(sql_int(D, "SELECT %s = %s AND typeof(%s) = 'integer' FROM samples"
				     " WHERE label = '%s'", w->column, w->literal, w->column, w->label), 1,
			     "%s: not the integer equal to %s at the receiver", w->label, w->literal);
	}
}

/* ---- the wire form, straight from row_json_read -------------------------------- */

/* The data row_json_read gives sample `label` as entity e (Sample, or a variant of it). */
static const char *row_data_as(node *n, const plan_entity *e, const char *label)
{
	const char *uuid = sql_text(n, "SELECT uuid FROM samples WHERE label = '%s'", label);
	xbuf data = {0};
	row_state st;
	xchg_err err = {0};
	const char *out;

	cr_assert_not_null(e);
	cr_assert_not_null(uuid, "no sample %s", label);
	cr_assert_eq(row_json_read(n->db, e, uuid, &data, &st, &err), XCHG_OK, "%s", err.msg);
	cr_assert(st.found && !st.is_deleted);
	out = hstr("%s", data.data ? data.data : "");
	xbuf_free(&data);
	return out;
}

static const char *row_data(node *n, const char *label)
{
	return row_data_as(n, plan_find(n->db->plan, "Sample"), label);
}

static void expect_member(const char *json, const char *member)
{
	cr_expect_not_null(strstr(json, member), "%s lacks %s", json, member);
}

/* Catches: big integers as JSON numbers (cJSON would round them), reals without a point. */
Test(row_json, read_writes_the_documented_wire_forms)
{
	const char *j;

	stage();
	sql_exec(C, "INSERT INTO samples (label, v_int, v_real, v_text, v_any) VALUES"
		    " ('a', 9223372036854775807, 3.0, 'q\"b\\c' || char(10, 9, 1) || 'é', NULL),"
		    " ('b', 9007199254740992, 0.1, '', 1e300),"
		    " ('c', 9007199254740993, -2.5e-300, '12345678901234.56', -9007199254740993)");
	j = row_data(C, "a");
	expect_member(j, "\"v_int\":\"9223372036854775807\"");
	expect_member(j, "\"v_real\":3.0");
	expect_member(j, "\"v_text\":\"q\\\"b\\\\c\\n\\t\\u0001é\"");
	expect_member(j, "\"v_any\":null");
	expect_member(j, "\"parts\":[]");
	cr_expect_null(strstr(j, "\"id\""), "the local primary key travels: %s", j);
	cr_expect_null(strstr(j, "\"uuid\""), "the entity's uuid travels in data: %s", j);
	cr_expect_null(strstr(j, "\"updated_at\""), "updated_at travels in data: %s", j);
	cr_expect_null(strstr(j, "\"is_deleted\""), "is_deleted travels in data: %s", j);
	j = row_data(C, "b");
	expect_member(j, "\"v_int\":9007199254740992");
	expect_member(j, "\"v_real\":0.1,");
	expect_member(j, "\"v_text\":\"\"");
	expect_member(j, "\"v_any\":1e+300");
	j = row_data(C, "c");
	expect_member(j, "\"v_int\":\"9007199254740993\"");
	expect_member(j, "\"v_real\":-2.5e-300");
	expect_member(j, "\"v_text\":\"12345678901234.56\"");
	expect_member(j, "\"v_any\":\"-9007199254740993\"");
}

static const char *real_text(double d)
{
	xbuf b = {0};
	xvalue v = {.type = XV_REAL, .d = d};
	const char *out;

	cr_assert_eq(row_json_value(&b, &v), 0, "row_json_value(%.17g) failed", d);
	out = hstr("%s", b.data);
	xbuf_free(&b);
	return out;
}

/*
 * Catches: noise digits a person never wrote (0.10000000000000001), and a
 * shorter form that reads back as a neighbouring double.
 */
Test(row_json, reals_travel_in_the_shortest_form_that_reads_back)
{
	static const struct {
		double d;
		const char *text;
	} forms[] = {
		{0.1, "0.1"},
		{3.0, "3.0"},
		{-1.0, "-1.0"},
		{0.0, "0.0"},
		{-0.0, "-0.0"},
		{1e300, "1e+300"},
		{-2.5e-300, "-2.5e-300"},
		{40.25, "40.25"},
		{9007199254740992.0, "9007199254740992.0"},
		{0.1 + 0.7, "0.7999999999999999"},             /* 16 digits */
		{0.30000000000000004, "0.30000000000000004"},  /* 17 digits */
		{1.7976931348623157e308, "1.7976931348623157e+308"},
		{4.9406564584124654e-324, "4.94065645841247e-324"},
		{INFINITY, "null"},
		{NAN, "null"},
	};
	size_t i;

	for (i = 0; i < sizeof(forms) / sizeof(forms[0]); i++)
		cr_expect_str_eq(real_text(forms[i].d), forms[i].text, "%.17g", forms[i].d);
}

/*
 * Which of %.15g, %.16g and %.17g text is (with ".0" added where the rule
 * adds it), after checking that it reads back to the very bits of d; 0 for
 * none of them.
 */
static int precision_of(const char *text, double d)
{
	char form[40];
	double back = strtod(text, NULL);
	size_t len;
	int p;

	cr_assert(memcmp(&back, &d, sizeof(d)) == 0, "%s does not read back as %a", text, d);
	cr_assert(strpbrk(text, ".e"), "%s does not look like a real", text);
	for (p = 15; p <= 17; p++) {
		len = (size_t)snprintf(form, sizeof(form), "%.*g", p, d);
		if (strncmp(text, form, len) == 0 && (!text[len] || strcmp(text + len, ".0") == 0))
			return p;
	}
	return 0;
}

/*
 * The same over doubles of every magnitude: each text reads back to the very
 * bits it came from, and one digit fewer would not have; a value typed with
 * few digits comes out as typed.
 */
Test(row_json, every_real_reads_back_to_the_same_bits_in_the_fewest_digits)
{
	unsigned long long bits = 0x9e3779b97f4a7c15ULL;
	char shorter[40];
	int i, p, checked = 0;

	for (i = 0; i < 20000; i++) {
		const char *text;
		double d;

		bits ^= bits << 13;
		bits ^= bits >> 7;
		bits ^= bits << 17;
		memcpy(&d, &bits, sizeof(d));
		if (!isfinite(d))
			continue;
		text = real_text(d);
		cr_assert_neq(p = precision_of(text, d), 0, "%s is not the %%.15g..17g form of %a", text, d);
		if (p > 15) {
			snprintf(shorter, sizeof(shorter), "%.*g", p == 17 ? 16 : 15, d);
			cr_assert(strtod(shorter, NULL) != d, "%s: %s reads back too", text, shorter);
		}
		/* A decimal of at most 15 digits, as a person or a numeric column writes it. */
		d = (double)(long long)(bits % 1000000000000000ULL) / 1e4;
		text = real_text(d);
		cr_assert_eq(precision_of(text, d), 15, "%.4f travels as %s", d, text);
		checked++;
	}
	cr_assert_gt(checked, 19000);
}

/* A child row keeps uuid, updated_at and is_deleted, never its id or its parent link. */
Test(row_json, read_writes_children_without_id_or_parent_link)
{
	const char *j, *parent;

	stage();
	sql_exec(C, "INSERT INTO samples (label) VALUES ('p')");
	parent = sql_text(C, "SELECT uuid FROM samples");
	sql_exec(C, "INSERT INTO sample_parts (sample_uuid, label, v_int) VALUES ('%s', 'x', 1),"
		    " ('%s', 'y', 2)", parent, parent);
	j = row_data(C, "p");
	expect_member(j, "\"parts\":[{");
	expect_member(j, hstr("\"uuid\":\"%s\"",
			      sql_text(C, "SELECT uuid FROM sample_parts WHERE label = 'x'")));
	expect_member(j, "\"is_deleted\":0");
	expect_member(j, "\"updated_at\":\"");
	cr_expect_null(strstr(j, "sample_uuid"), "the parent link travels: %s", j);
	cr_expect_null(strstr(j, "\"id\""), "the local primary key travels: %s", j);
}

/*
 * Catches: a child table's reading statement cached by the table alone, so
 * that a member of a plan with another parent column (a plan renewed in
 * the same process) reads the rows of the first one's parent column.
 */
Test(row_json, a_child_tables_statement_reads_by_the_parent_column_it_was_built_for)
{
	const plan_entity *e;
	plan_entity other;
	plan_child by_other;
	const char *p, *q, *j;

	stage();
	e = plan_find(C->db->plan, "Sample");
	sql_exec(C, "ALTER TABLE sample_parts ADD COLUMN other_uuid TEXT");
	sql_exec(C, "INSERT INTO samples (label) VALUES ('p'), ('q')");
	p = sql_text(C, "SELECT uuid FROM samples WHERE label = 'p'");
	q = sql_text(C, "SELECT uuid FROM samples WHERE label = 'q'");
	sql_exec(C, "INSERT INTO sample_parts (sample_uuid, other_uuid, label) VALUES ('%s', '%s', 'x'),"
		    " ('%s', '%s', 'y')", p, q, q, p);
	other = *e;
	by_other = e->children[0];
	by_other.parent_column = "other_uuid";
	other.children = &by_other;
	other.nchildren = 1;
	j = row_data_as(C, e, "p");
	cr_expect(strstr(j, "\"label\":\"x\"") && !strstr(j, "\"label\":\"y\""), "by sample_uuid: %s", j);
	j = row_data_as(C, &other, "p");
	cr_expect(strstr(j, "\"label\":\"y\"") && !strstr(j, "\"label\":\"x\""), "by other_uuid: %s", j);
	j = row_data_as(C, e, "p");
	cr_expect(strstr(j, "\"label\":\"x\"") && !strstr(j, "\"label\":\"y\""), "by sample_uuid again: %s",
		  j);
}

typedef struct each_seen {
	node *n;
	const plan_entity *e;
	int rows, deleted;
} each_seen;

static xchg_status same_as_read(void *ctx, const char *uuid, const row_state *state,
				const char *data, xchg_err *err)
{
	each_seen *s = ctx;
	xbuf one = {0};
	row_state alone;

	cr_assert_eq(row_json_read(s->n->db, s->e, uuid, &one, &alone, err), XCHG_OK, "%s", err->msg);
	cr_assert_eq(state->is_deleted, alone.is_deleted, "row %s", uuid);
	cr_assert_str_eq(state->updated_at, alone.updated_at, "row %s", uuid);
	if (state->is_deleted)
		cr_assert_null(data, "deleted row %s has data", uuid);
	else
		cr_assert_str_eq(data, one.data, "row %s read page-wise and alone differ", uuid);
	xbuf_free(&one);
	s->rows++;
	s->deleted += state->is_deleted;
	return XCHG_OK;
}

/*
 * Catches: a page's children read together landing under the wrong parent,
 * in another order than alone, or missed when a child spells its parent's
 * uuid otherwise; across pages, with a deleted row among them.
 */
Test(row_json, each_gives_every_row_the_data_read_gives_it)
{
	each_seen seen = {0};
	const char *uuid;
	xchg_err err = {0};
	int i, k;

	stage();
	for (i = 0; i < 600; i++) {
		sql_exec(C, "INSERT INTO samples (label, v_int) VALUES ('p%d', %d)", i, i);
		uuid = sql_text(C, "SELECT uuid FROM samples WHERE label = 'p%d'", i);
		for (k = 0; k < i % 4; k++)
			sql_exec(C, "INSERT INTO sample_parts (sample_uuid, label, v_int) VALUES"
				    " ('%s', 'x%d-%d', %d)", uuid, i, k, k);
	}
	uuid = sql_text(C, "SELECT uuid FROM samples WHERE label = 'p11'");
	sql_exec(C, "UPDATE sample_parts SET sample_uuid = upper(sample_uuid) WHERE sample_uuid = '%s'",
		 uuid);
	sql_exec(C, "UPDATE samples SET is_deleted = 1 WHERE label = 'p13'");
	seen.n = C;
	seen.e = plan_find(C->db->plan, "Sample");
	cr_assert_eq(row_json_each(C->db, seen.e, NULL, same_as_read, &seen, &err), XCHG_OK, "%s",
		     err.msg);
	cr_assert_eq(seen.rows, 600);
	cr_assert_eq(seen.deleted, 1);
	cr_assert(strstr(row_data(C, "p11"), "\"label\":\"x11-2\""),
		  "a child spelling its parent's uuid in capitals is not read: %s", row_data(C, "p11"));
}

/* ---- what row_json_apply refuses ---------------------------------------------- */

static xchg_status apply(node *n, const char *uuid, const char *json, xchg_err *err)
{
	const plan_entity *e = plan_find(n->db->plan, "Sample");
	cJSON *data = cJSON_Parse(json);
	xchg_status rc;

	cr_assert_not_null(data, "bad JSON in the test: %s", json);
	memset(err, 0, sizeof(*err));
	rc = row_json_apply(n->db, e, uuid, "2026-11-25T09:30:00.000Z", data, 0, err);
	cJSON_Delete(data);
	return rc;
}

/*
 * Catches: a packet that sets a local id, the sync columns behind the
 * header's back, a parent link of its own choosing, or columns that do
 * not exist; and values that are not values.
 */
Test(row_json, apply_refuses_what_this_node_cannot_store)
{
	static const char *const bad[][2] = {
		{"{\"label\":\"x\",\"no_such\":1}", "no_such"},
		{"{\"label\":\"x\",\"id\":5}", "\"id\""},
		{"{\"label\":\"x\",\"uuid\":\"other\"}", "\"uuid\""},
		{"{\"label\":\"x\",\"updated_at\":\"1999-01-01T00:00:00.000Z\"}", "updated_at"},
		{"{\"label\":\"x\",\"is_deleted\":1}", "is_deleted"},
		{"{\"label\":\"x\",\"v_any\":{\"a\":1}}", "object or array"},
		{"{\"label\":\"x\",\"v_any\":[1]}", "object or array"},
		{"{\"label\":\"x\",\"parts\":{\"uuid\":\"p\"}}", "array"},
		{"{\"label\":\"x\",\"parts\":[{\"label\":\"no uuid\"}]}", "uuid"},
		{"{\"label\":\"x\",\"parts\":[{\"uuid\":\"p\",\"sample_uuid\":\"elsewhere\"}]}", "sample_uuid"},
		{"{\"label\":\"x\",\"parts\":[{\"uuid\":\"p\",\"id\":7}]}", "\"id\""},
		{"{\"label\":\"x\",\"parts\":[{\"uuid\":\"p\",\"label\":{\"deep\":1}}]}", "object or array"},
		{"\"just text\"", "object"},
	};
	const char *uuid = "0b3e7a3c-8a5b-4c1e-9f00-00000000000a";
	xchg_err err;
	size_t i;

	stage();
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		cr_expect_eq(apply(D, uuid, bad[i][0], &err), XCHG_EPACKET, "accepted %s", bad[i][0]);
		cr_expect_not_null(strstr(err.msg, bad[i][1]), "refusing %s: message \"%s\" does not"
				   " name %s", bad[i][0], err.msg, bad[i][1]);
	}
	cr_expect_eq(sql_int(D, "SELECT count(*) FROM sample_parts WHERE id = 7 OR sample_uuid ="
				" 'elsewhere'"), 0);
}

/*
 * Catches: an apply that only adds children, or revives the parent's old
 * state: after each apply the row and its children are exactly the data.
 */
Test(row_json, apply_makes_children_exactly_the_set_given)
{
	const char *uuid = "0b3e7a3c-8a5b-4c1e-9f00-00000000000b";
	xchg_err err;

	stage();
	cr_assert_eq(apply(D, uuid, "{\"label\":\"r\",\"v_int\":\"9223372036854775807\",\"parts\":["
				    "{\"uuid\":\"p1\",\"label\":\"one\"},{\"uuid\":\"p2\",\"label\":\"two\"}]}",
			   &err), XCHG_OK, "%s", err.msg);
	cr_assert_str_eq(sql_text(D, "SELECT typeof(v_int) || ' ' || v_int FROM samples WHERE uuid = '%s'",
				  uuid), "integer 9223372036854775807");
	cr_assert_str_eq(sql_text(D, "SELECT group_concat(uuid || '=' || label) FROM"
				     " (SELECT * FROM sample_parts WHERE sample_uuid = '%s' ORDER BY uuid)", uuid),
			 "p1=one,p2=two");
	cr_assert_eq(apply(D, uuid, "{\"label\":\"r2\",\"parts\":[{\"uuid\":\"p2\",\"label\":\"TWO\"},"
				    "{\"uuid\":\"p3\",\"label\":\"three\"}]}", &err), XCHG_OK, "%s", err.msg);
	cr_assert_str_eq(sql_text(D, "SELECT group_concat(uuid || '=' || label) FROM"
				     " (SELECT * FROM sample_parts WHERE sample_uuid = '%s' ORDER BY uuid)", uuid),
			 "p2=TWO,p3=three");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM samples"), 1);
	cr_assert_eq(apply(D, uuid, "{\"label\":\"r3\",\"parts\":[]}", &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM sample_parts"), 0);
	cr_assert_str_eq(sql_text(D, "SELECT label FROM samples WHERE uuid = '%s'", uuid), "r3");
}

/*
 * A value JSON cannot carry (text with a NUL byte or invalid UTF-8, binary
 * blobs) stops every export to the peer until someone fixes the row, so
 * the failure must leave no packet and no used number behind, and must say
 * which row it is: "entity 2" of a packet that was never written names
 * nothing the user can find.
 */
Test(row_json, unrepresentable_value_fails_export_naming_the_row)
{
	static const char *const values[] = {"CAST(x'610062' AS TEXT)", "CAST(x'61ff62' AS TEXT)",
					     "x'00ff10'"};
	const char *share;
	exported p;
	xchg_err err;
	size_t i;

	stage();
	share = make_folder("share");
	sql_exec(C, "INSERT INTO samples (label, v_int) VALUES ('fine', 1)");
	for (i = 0; i < sizeof(values) / sizeof(values[0]); i++) {
		const char *uuid;

		sql_exec(C, "DELETE FROM samples WHERE label = 'odd'");
		sql_exec(C, "INSERT INTO samples (label, v_any) VALUES ('odd', %s)", values[i]);
		uuid = sql_text(C, "SELECT uuid FROM samples WHERE label = 'odd'");
		cr_assert_neq(try_export(C, "DESKTOP-1", share, &p, &err), XCHG_OK,
			      "%s: exported a packet the receiver must refuse", values[i]);
		cr_assert_eq(sent_no(C, "DESKTOP-1"), 0, "%s: the failed export used a number",
			     values[i]);
		cr_assert_eq(count_files(share, ""), 0, "%s: a file was left behind", values[i]);
		cr_expect_not_null(strstr(err.msg, uuid),
				   "%s: the message does not name the row (Sample %s): \"%s\"",
				   values[i], uuid, err.msg);
	}
}
