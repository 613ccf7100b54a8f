/*
 * The plan's order and its references (lib/plan.c): an entity travels after
 * the entities its references name, whatever order the plan lists them in,
 * so that a receiver finds a referenced row before the rows that point at it;
 * elsewhere the plan's own order stands.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "plan.h"

static plan *parsed(const char *text)
{
	plan *p = NULL;
	xchg_err err = {0};

	cr_assert_eq(plan_parse(&p, text, strlen(text), "plan.json", &err), XCHG_OK, "%s", err.msg);
	return p;
}

/* The entity types in the order packets carry them, joined by spaces. */
static void order_of(const plan *p, char *out, size_t size)
{
	size_t i;

	out[0] = '\0';
	for (i = 0; i < p->nentities; i++)
		snprintf(out + strlen(out), size - strlen(out), "%s%s", i ? " " : "", p->entities[i].type);
}

Test(plan, referenced_entities_travel_first)
{
	plan *p = parsed("{\"schema_version\": \"1.0.0\", \"entities\": ["
			 "{\"type\": \"Line\", \"table\": \"lines\", \"references\": {\"work_id\": \"Work\"}},"
			 "{\"type\": \"Note\", \"table\": \"notes\"},"
			 "{\"type\": \"Work\", \"table\": \"works\","
			 " \"references\": {\"estimate_id\": \"Estimate\", \"self_id\": \"Work\"}},"
			 "{\"type\": \"Estimate\", \"table\": \"estimates\"},"
			 "{\"type\": \"Report\", \"table\": \"reports\", \"children\": [{\"name\": \"l\","
			 " \"table\": \"report_lines\", \"parent_column\": \"report_uuid\","
			 " \"references\": {\"note_id\": \"Note\"}}]}]}");
	char order[256];

	order_of(p, order, sizeof(order));
	cr_assert_str_eq(order, "Note Estimate Work Line Report");
	cr_assert_str_eq(plan_ref_type(plan_table_refs(p, "works"), "estimate_id"), "Estimate");
	cr_assert_str_eq(plan_ref_type(plan_table_refs(p, "report_lines"), "note_id"), "Note");
	cr_assert_null(plan_table_refs(p, "notes"));
	plan_free(p);
}

Test(plan, a_ring_of_references_keeps_the_plans_order)
{
	plan *p = parsed("{\"schema_version\": \"1.0.0\", \"entities\": ["
			 "{\"type\": \"Z\", \"table\": \"z\"},"
			 "{\"type\": \"A\", \"table\": \"a\", \"references\": {\"b_id\": \"B\"}},"
			 "{\"type\": \"B\", \"table\": \"b\", \"references\": {\"a_id\": \"A\"}}]}");
	char order[64];

	order_of(p, order, sizeof(order));
	cr_assert_str_eq(order, "Z A B");
	plan_free(p);
}

Test(plan, subset_columns_and_references_are_checked)
{
	static const struct {
		const char *entity;
		const char *why;
	} bad[] = {
		{"{\"type\": \"W\", \"table\": \"w\", \"subset_column\": \"uuid\"}", "does not travel"},
		{"{\"type\": \"W\", \"table\": \"w\", \"subset_column\": 7}", "\"subset_column\""},
		{"{\"type\": \"W\", \"table\": \"w\", \"references\": {\"e_id\": \"Nope\"}}",
		 "which is no entity type of the plan"},
		{"{\"type\": \"W\", \"table\": \"w\", \"references\": {\"id\": \"W\"}}", "does not travel"},
		{"{\"type\": \"W\", \"table\": \"w\", \"references\": {\"e_id\": \"W\", \"e_id\": \"W\"}}",
		 "given twice"},
		{"{\"type\": \"W\", \"table\": \"w\", \"references\": [\"e_id\"]}", "must be an object"},
		{"{\"type\": \"W\", \"table\": \"w\", \"children\": [{\"name\": \"c\", \"table\": \"c\","
		 " \"parent_column\": \"w_uuid\", \"references\": {\"w_uuid\": \"W\"}}]}", "does not travel"},
	};
	char text[512];
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		plan *p = NULL;
		xchg_err err = {0};

		snprintf(text, sizeof(text), "{\"schema_version\": \"1.0.0\", \"entities\": [%s]}",
			 bad[i].entity);
		cr_assert_eq(plan_parse(&p, text, strlen(text), "plan.json", &err), XCHG_EUSAGE,
			     "%s was taken", bad[i].entity);
		cr_assert(strstr(err.msg, bad[i].why), "%s: \"%s\" lacks \"%s\"", bad[i].entity, err.msg,
			  bad[i].why);
		cr_assert_null(p);
	}
}

/*
 * Catches: a table given twice in a plan, where the second place's
 * triggers replace the first's and its edits go unregistered (a child
 * table under two entities was taken); a child name given twice, which
 * would put two lists under one key of the parent's data.
 */
Test(plan, a_table_appears_once_and_a_child_name_once_under_its_entity)
{
#define CHILD(name, table) "{\"name\": \"" name "\", \"table\": \"" table "\", \"parent_column\": \"p_uuid\"}"
	static const struct {
		const char *entities;
		const char *why;
	} bad[] = {
		{"{\"type\": \"A\", \"table\": \"a\", \"children\": [" CHILD("l", "lines") "]},"
		 "{\"type\": \"B\", \"table\": \"b\", \"children\": [" CHILD("l", "lines") "]}",
		 "entity \"B\": child table \"lines\" is already a child table"},
		{"{\"type\": \"A\", \"table\": \"a\", \"children\": [" CHILD("l", "lines") ", "
		 CHILD("m", "lines") "]}",
		 "entity \"A\": child table \"lines\" is already a child table"},
		{"{\"type\": \"A\", \"table\": \"a\", \"children\": [" CHILD("l", "lines") ", "
		 CHILD("l", "others") "]}",
		 "entity \"A\": child \"l\" is listed twice"},
		{"{\"type\": \"A\", \"table\": \"a\"}, {\"type\": \"B\", \"table\": \"b\", \"children\": ["
		 CHILD("l", "a") "]}",
		 "entity \"B\": child table \"a\" is also an entity table"},
		{"{\"type\": \"A\", \"table\": \"a\", \"children\": [" CHILD("l", "b") "]},"
		 "{\"type\": \"B\", \"table\": \"b\"}",
		 "table \"b\" is both an entity's and a child's"},
		{"{\"type\": \"A\", \"table\": \"a\", \"children\": [" CHILD("l", "a") "]}",
		 "table \"a\" is both an entity's and a child's"},
		{"{\"type\": \"A\", \"table\": \"a\"}, {\"type\": \"B\", \"table\": \"a\"}",
		 "table \"a\" belongs to two entities"},
		{"{\"type\": \"A\", \"table\": \"a\"}, {\"type\": \"A\", \"table\": \"b\"}",
		 "entity type \"A\" is listed twice"},
	};
	char text[1024];
	size_t i;
	plan *p;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		xchg_err err = {0};

		p = NULL;
		snprintf(text, sizeof(text), "{\"schema_version\": \"1.0.0\", \"entities\": [%s]}",
			 bad[i].entities);
		cr_assert_eq(plan_parse(&p, text, strlen(text), "plan.json", &err), XCHG_EUSAGE,
			     "%s was taken", bad[i].entities);
		cr_assert(strstr(err.msg, bad[i].why), "%s: \"%s\" lacks \"%s\"", bad[i].entities,
			  err.msg, bad[i].why);
		cr_assert_null(p);
	}
	/* The same names in other places are no duplicates: each entity's child "l" has a table of its own. */
	p = parsed("{\"schema_version\": \"1.0.0\", \"entities\": ["
		   "{\"type\": \"A\", \"table\": \"a\", \"children\": [" CHILD("l", "a_lines") "]},"
		   "{\"type\": \"B\", \"table\": \"b\", \"children\": [" CHILD("l", "b_lines") ", "
		   CHILD("m", "b_more") "]}]}");
	cr_assert_eq(p->nentities, 2);
	plan_free(p);
#undef CHILD
}

/*
 * Catches: a misspelt key taken in silence ("conflict_polcy" left the
 * default policy in force), a key given twice (the first one won), and a
 * syntax error that does not say where.
 */
Test(plan, every_key_is_known_and_given_once_and_a_syntax_error_says_where)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
		{"{\"schema_version\": \"1.0.0\", \"conflict_polcy\": \"last-writer-wins\","
		 " \"entities\": [{\"type\": \"A\", \"table\": \"a\"}]}",
		 "plan.json: unknown key \"conflict_polcy\" (the keys here: schema_version, conflict_policy"},
		{"{\"schema_version\": \"1.0.0\", \"entities\": [{\"type\": \"A\", \"table\": \"a\","
		 " \"subset\": \"site\"}]}",
		 "plan.json: entity 1: unknown key \"subset\""},
		{"{\"schema_version\": \"1.0.0\", \"entities\": [{\"type\": \"A\", \"table\": \"a\", \"children\":"
		 " [{\"name\": \"l\", \"table\": \"l\", \"parent_colum\": \"a_uuid\"}]}]}",
		 "entity \"A\": child 1: unknown key \"parent_colum\""},
		{"{\"schema_version\": \"1.0.0\", \"entities\": [{\"type\": \"A\", \"table\": \"a\","
		 " \"table\": \"b\"}]}",
		 "plan.json: entity 1: \"table\" is given twice"},
		{"{\"schema_version\": \"1.0.0\",\n \"entities\": [\n  {\"type\": \"A\", \"table\": \"a\",}]}",
		 "plan.json: not valid JSON near line 3, column "},
		{"", "plan.json: not valid JSON"},
	};
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		plan *p = NULL;
		xchg_err err = {0};

		cr_assert_eq(plan_parse(&p, bad[i].text, strlen(bad[i].text), "plan.json", &err),
			     XCHG_EUSAGE, "%s was taken", bad[i].text);
		cr_assert(strstr(err.msg, bad[i].why), "%s: \"%s\" lacks \"%s\"", bad[i].text, err.msg,
			  bad[i].why);
		cr_assert_null(p);
	}
}
