/*
 * Fuzz target: the exchange plan parser (plan_parse in lib/plan.c). The
 * input is a plan.json. A plan that parses must be one the rest of the
 * library can rely on: every entity found by its type, names that are plain
 * SQL identifiers, rules within their enums, and the text kept as given.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "plan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check(int ok)
{
	if (!ok)
		abort();
}

/* Named forms are of plain column names, each a form the library can write. */
static void check_forms(const plan_forms *f)
{
	size_t i;

	check(f->n <= PLAN_MAX_COLUMN_FORMS);
	for (i = 0; i < f->n; i++)
		check(xident_valid(f->columns[i]) && f->forms[i].kind <= FORM_TIME &&
		      f->forms[i].digits <= 6 && !f->forms[i].native);
}

static void check_entity(const plan *p, const plan_entity *e)
{
	size_t i;

	check_forms(&e->forms);

	check(plan_find(p, e->type) == e);
	check(xident_valid(e->type) && xident_valid(e->table));
	check(plan_policy_name(e->policy) && plan_delete_rule_name(e->delete_rule));
	check(e->nchildren <= PLAN_MAX_CHILDREN);
	for (i = 0; i < e->nchildren; i++) {
		check(xident_valid(e->children[i].name) && xident_valid(e->children[i].table) &&
		      xident_valid(e->children[i].parent_column));
		check_forms(&e->children[i].forms);
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	plan *p = NULL;
	xchg_err err;
	size_t i;

	if (plan_parse(&p, (const char *)data, size, "plan.json", &err) != XCHG_OK) {
		check(!p && err.msg[0]);
		return 0;
	}
	check(p->nentities >= 1 && p->nentities <= PLAN_MAX_ENTITIES);
	check(plan_version_major(p->schema_version) >= 0);
	check(plan_policy_name(p->policy) && plan_delete_rule_name(p->delete_rule));
	check(strncmp(p->text, (const char *)data, size) == 0);
	for (i = 0; i < p->nentities; i++)
		check_entity(p, &p->entities[i]);
	plan_free(p);
	return 0;
}
