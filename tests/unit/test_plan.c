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
