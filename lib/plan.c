#include "plan.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cjson/cJSON.h>

/* A plan is a small hand-written file; anything larger is a mistake. */
#define PLAN_MAX_BYTES (1024 * 1024)

static const char *const policy_names[] = {"master-wins", "last-writer-wins"};
static const char *const delete_rule_names[] = {"by-policy", "delete-wins", "edit-wins"};

const char *plan_policy_name(plan_policy policy)
{
	return policy_names[policy];
}

const char *plan_delete_rule_name(plan_delete_rule rule)
{
	return delete_rule_names[rule];
}

/* Sets *out to the index of obj[key] in names; leaves it alone when key is absent. */
static xchg_status parse_choice(const cJSON *obj, const char *key, const char *const *names,
				size_t nnames, int *out, const char *where, xchg_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);
	char list[128] = "";
	size_t i;

	if (!item)
		return XCHG_OK;
	for (i = 0; cJSON_IsString(item) && i < nnames; i++)
		if (strcmp(item->valuestring, names[i]) == 0) {
			*out = (int)i;
			return XCHG_OK;
		}
	for (i = 0; i < nnames; i++)
		snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
			 i == 0 ? "" : i + 1 == nnames ? " or " : ", ", names[i]);
	return xerr(err, XCHG_EUSAGE, "%s: \"%s\" must be %s", where, key, list);
}

/* The conflict rules of the plan (defaults) or of one entity (overrides). */
static xchg_status parse_rules(const cJSON *obj, plan_policy *policy, plan_delete_rule *rule,
			       const char *where, xchg_err *err)
{
	int pol = (int)*policy, del = (int)*rule;
	xchg_status rc;

	if ((rc = parse_choice(obj, "conflict_policy", policy_names,
			       sizeof(policy_names) / sizeof(policy_names[0]), &pol, where, err)) ||
	    (rc = parse_choice(obj, "delete_conflict", delete_rule_names,
			       sizeof(delete_rule_names) / sizeof(delete_rule_names[0]), &del, where,
			       err)))
		return rc;
	*policy = (plan_policy)pol;
	*rule = (plan_delete_rule)del;
	return XCHG_OK;
}

long plan_version_major(const char *version)
{
	char *end;
	long major, part;
	int dots = 0;

	if (!version || version[0] < '0' || version[0] > '9')
		return -1;
	errno = 0;
	major = strtol(version, &end, 10);
	if (errno)
		return -1;
	while (*end == '.' && dots < 2) {
		if (end[1] < '0' || end[1] > '9')
			return -1;
		part = strtol(end + 1, &end, 10);
		(void)part;
		dots++;
	}
	return (*end || dots != 2) ? -1 : major;
}

/*
 * Every member of obj is one of known (NULL-terminated), each given once:
 * a misspelt key ("conflict_polcy") would otherwise leave its default in
 * force without a word.
 */
static xchg_status check_keys(const cJSON *obj, const char *const *known, const char *where,
			      xchg_err *err)
{
	const cJSON *item, *before;
	char list[256] = "";
	size_t i;

	cJSON_ArrayForEach(item, obj) {
		for (i = 0; known[i] && strcmp(known[i], item->string) != 0; i++)
			;
		if (!known[i]) {
			for (i = 0; known[i]; i++)
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 i ? ", " : "", known[i]);
			return xerr(err, XCHG_EUSAGE, "%s: unknown key \"%s\" (the keys here: %s)", where,
				    item->string, list);
		}
		for (before = obj->child; before != item; before = before->next)
			if (strcmp(before->string, item->string) == 0)
				return xerr(err, XCHG_EUSAGE, "%s: \"%s\" is given twice", where,
					    item->string);
	}
	return XCHG_OK;
}

/* Copies a required identifier-valued string member. */
static xchg_status take_ident(const cJSON *obj, const char *key, char **out,
			      const char *where, xchg_err *err)
{
	const cJSON *item = cJSON_GetObjectItemCaseSensitive(obj, key);

	if (!cJSON_IsString(item))
		return xerr(err, XCHG_EUSAGE, "%s: \"%s\" is missing or not a string", where, key);
	if (!xident_valid(item->valuestring))
		return xerr(err, XCHG_EUSAGE,
			    "%s: \"%s\" value \"%s\" is not a plain SQL name (letters, digits, _)",
			    where, key, item->valuestring);
	if (!(*out = strdup(item->valuestring)))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
	return XCHG_OK;
}

/* "local_columns" and "shared_id" of an entity or a child. */
static xchg_status parse_locals(const cJSON *obj, plan_locals *l, const char *where, xchg_err *err)
{
	const cJSON *cols = cJSON_GetObjectItemCaseSensitive(obj, "local_columns");
	const cJSON *shared = cJSON_GetObjectItemCaseSensitive(obj, "shared_id");
	const cJSON *c;
	size_t n;

	if (shared && !cJSON_IsBool(shared))
		return xerr(err, XCHG_EUSAGE, "%s: \"shared_id\" must be true or false", where);
	l->shared_id = cJSON_IsTrue(shared);
	if (!cols)
		return XCHG_OK;
	n = cJSON_IsArray(cols) ? (size_t)cJSON_GetArraySize(cols) : 0;
	if (!cJSON_IsArray(cols) || n > PLAN_MAX_LOCAL_COLUMNS)
		return xerr(err, XCHG_EUSAGE, "%s: \"local_columns\" must be an array of at most %d"
			    " column names", where, PLAN_MAX_LOCAL_COLUMNS);
	if (n && !(l->columns = calloc(n, sizeof(*l->columns))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
	cJSON_ArrayForEach(c, cols) {
		if (!cJSON_IsString(c) || !xident_valid(c->valuestring))
			return xerr(err, XCHG_EUSAGE, "%s: \"local_columns\": each must be a plain SQL name",
				    where);
		if (strcmp(c->valuestring, "id") == 0 && l->shared_id)
			return xerr(err, XCHG_EUSAGE, "%s: \"shared_id\" makes \"id\" travel, and"
				    " \"local_columns\" keeps it local: choose one", where);
		if (!(l->columns[l->ncolumns] = strdup(c->valuestring)))
			return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
		l->ncolumns++;
	}
	for (n = 0; n < l->ncolumns; n++)
		if (plan_is_sync_column(l->columns[n]))
			return xerr(err, XCHG_EUSAGE, "%s: \"local_columns\": \"%s\" is one of the columns"
				    " that identify and version a row; it always travels", where,
				    l->columns[n]);
	return XCHG_OK;
}

int plan_column_is_local(const plan_locals *l, const char *column)
{
	size_t i;

	for (i = 0; l && i < l->ncolumns; i++)
		if (strcmp(l->columns[i], column) == 0)
			return 1;
	return strcmp(column, "id") == 0 && !(l && l->shared_id);
}

int plan_table_rules(const plan *p, const char *table, const plan_locals **locals,
		     const plan_forms **forms, const char **parent_column)
{
	size_t i, j;

	*locals = NULL;
	*forms = NULL;
	*parent_column = NULL;
	for (i = 0; p && i < p->nentities; i++) {
		const plan_entity *e = &p->entities[i];

		if (strcmp(e->table, table) == 0) {
			*locals = &e->locals;
			*forms = &e->forms;
			return 1;
		}
		for (j = 0; j < e->nchildren; j++)
			if (strcmp(e->children[j].table, table) == 0) {
				*locals = &e->children[j].locals;
				*forms = &e->children[j].forms;
				*parent_column = e->children[j].parent_column;
				return 1;
			}
	}
	return 0;
}

const plan_entity *plan_entity_of(const plan *p, const char *table)
{
	size_t i;

	for (i = 0; p && i < p->nentities; i++)
		if (strcmp(p->entities[i].table, table) == 0)
			return &p->entities[i];
	return NULL;
}

const plan_refs *plan_table_refs(const plan *p, const char *table)
{
	size_t i, j;

	for (i = 0; p && i < p->nentities; i++) {
		const plan_entity *e = &p->entities[i];

		if (strcmp(e->table, table) == 0)
			return e->refs.n ? &e->refs : NULL;
		for (j = 0; j < e->nchildren; j++)
			if (strcmp(e->children[j].table, table) == 0)
				return e->children[j].refs.n ? &e->children[j].refs : NULL;
	}
	return NULL;
}

int plan_has_subsets(const plan *p)
{
	size_t i;

	for (i = 0; p && i < p->nentities; i++)
		if (p->entities[i].subset_column)
			return 1;
	return 0;
}

const col_form *plan_column_form(const plan_forms *f, const char *column)
{
	size_t i;

	for (i = 0; f && i < f->n; i++)
		if (strcmp(f->columns[i], column) == 0)
			return &f->forms[i];
	return NULL;
}

/*
 * obj[key], an object whose members are column names ("column_forms",
 * "references"): at most PLAN_MAX_COLUMN_FORMS of them, each a plain SQL
 * name given once. *named is NULL when obj has no such member.
 */
static xchg_status column_object(const cJSON *obj, const char *key, const char *values,
				 const char *where, const cJSON **named, size_t *n, xchg_err *err)
{
	const cJSON *c, *d;

	*n = 0;
	if (!(*named = cJSON_GetObjectItemCaseSensitive(obj, key)))
		return XCHG_OK;
	*n = cJSON_IsObject(*named) ? (size_t)cJSON_GetArraySize(*named) : 0;
	if (!cJSON_IsObject(*named) || *n > PLAN_MAX_COLUMN_FORMS)
		return xerr(err, XCHG_EUSAGE, "%s: \"%s\" must be an object of at most %d"
			    " column names and %s", where, key, PLAN_MAX_COLUMN_FORMS, values);
	cJSON_ArrayForEach(c, *named) {
		if (!xident_valid(c->string))
			return xerr(err, XCHG_EUSAGE, "%s: \"%s\": \"%.64s\" is not a plain SQL"
				    " name", where, key, c->string);
		for (d = (*named)->child; d != c; d = d->next)
			if (strcmp(d->string, c->string) == 0)
				return xerr(err, XCHG_EUSAGE, "%s: \"%s\": \"%s\" is given twice",
					    where, key, c->string);
	}
	return XCHG_OK;
}

/* "column_forms" of an entity or a child: {"column": "form name", ...}. */
static xchg_status parse_forms(const cJSON *obj, plan_forms *f, const char *where, xchg_err *err)
{
	const cJSON *named, *c;
	size_t n;
	xchg_status rc;

	if ((rc = column_object(obj, "column_forms", "their forms", where, &named, &n, err)) ||
	    !n)
		return rc;
	if (!(f->columns = calloc(n, sizeof(*f->columns))) ||
	    !(f->forms = calloc(n, sizeof(*f->forms))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
	cJSON_ArrayForEach(c, named) {
		if (!cJSON_IsString(c) || !forms_parse_name(c->valuestring, &f->forms[f->n]))
			return xerr(err, XCHG_EUSAGE, "%s: \"column_forms\": \"%s\" must be text, uuid,"
				    " uuid-hex, UUID, UUID-HEX or a time pattern such as"
				    " \"YYYY-MM-DD HH:MM:SS.ffffff\"", where, c->string);
		if (!(f->columns[f->n] = strdup(c->string)))
			return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
		f->n++;
	}
	return XCHG_OK;
}

int plan_is_sync_column(const char *name)
{
	return strcmp(name, "uuid") == 0 || strcmp(name, "updated_at") == 0 ||
	       strcmp(name, "is_deleted") == 0;
}

/*
 * "references" of an entity or a child: {"column": "EntityType", ...}. The
 * types are checked once every entity is known (check_refs).
 */
static xchg_status parse_refs(const cJSON *obj, plan_refs *r, const plan_locals *l,
			      const char *parent_column, const char *where, xchg_err *err)
{
	const cJSON *named, *c;
	size_t n;
	xchg_status rc;

	if ((rc = column_object(obj, "references", "the entity types they refer to", where, &named,
				&n, err)) || !n)
		return rc;
	if (!(r->columns = calloc(n, sizeof(*r->columns))) ||
	    !(r->types = calloc(n, sizeof(*r->types))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
	cJSON_ArrayForEach(c, named) {
		if (plan_is_sync_column(c->string) || plan_column_is_local(l, c->string) ||
		    (parent_column && strcmp(c->string, parent_column) == 0))
			return xerr(err, XCHG_EUSAGE, "%s: \"references\": \"%s\" does not travel as"
				    " data, so it cannot carry a reference", where, c->string);
		if (!cJSON_IsString(c) || !xident_valid(c->valuestring))
			return xerr(err, XCHG_EUSAGE, "%s: \"references\": \"%s\" must name an entity"
				    " type", where, c->string);
		if (!(r->columns[r->n] = strdup(c->string)) ||
		    !(r->types[r->n] = strdup(c->valuestring))) {
			free(r->columns[r->n]);
			return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
		}
		r->n++;
	}
	return XCHG_OK;
}

const char *plan_ref_type(const plan_refs *r, const char *column)
{
	size_t i;

	for (i = 0; r && i < r->n; i++)
		if (strcmp(r->columns[i], column) == 0)
			return r->types[i];
	return NULL;
}

static void refs_free(plan_refs *r)
{
	size_t i;

	for (i = 0; i < r->n; i++) {
		free(r->columns[i]);
		free(r->types[i]);
	}
	free(r->columns);
	free(r->types);
}

static void column_forms_free(plan_forms *f)
{
	size_t i;

	for (i = 0; i < f->n; i++)
		free(f->columns[i]);
	free(f->columns);
	free(f->forms);
}

static void locals_free(plan_locals *l)
{
	size_t i;

	for (i = 0; i < l->ncolumns; i++)
		free(l->columns[i]);
	free(l->columns);
}

static xchg_status parse_children(plan_entity *e, const cJSON *arr,
				  const char *where, xchg_err *err)
{
	static const char *const keys[] = {
		"name", "table", "parent_column", "local_columns", "shared_id", "column_forms",
		"references", NULL,
	};
	const cJSON *c;
	char cwhere[320];
	size_t i = 0, n;
	xchg_status rc;

	if (!arr)
		return XCHG_OK;
	if (!cJSON_IsArray(arr))
		return xerr(err, XCHG_EUSAGE, "%s: \"children\" must be an array", where);
	n = (size_t)cJSON_GetArraySize(arr);
	if (n > PLAN_MAX_CHILDREN)
		return xerr(err, XCHG_EUSAGE, "%s: more than %d children", where, PLAN_MAX_CHILDREN);
	if (n && !(e->children = calloc(n, sizeof(*e->children))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
	cJSON_ArrayForEach(c, arr) {
		plan_child *ch = &e->children[i];

		snprintf(cwhere, sizeof(cwhere), "%s: child %zu", where, i + 1);
		e->nchildren = ++i;
		if (!cJSON_IsObject(c))
			return xerr(err, XCHG_EUSAGE, "%s: must be an object", cwhere);
		if ((rc = check_keys(c, keys, cwhere, err)))
			return rc;
		if ((rc = take_ident(c, "name", &ch->name, cwhere, err)) ||
		    (rc = take_ident(c, "table", &ch->table, cwhere, err)) ||
		    (rc = take_ident(c, "parent_column", &ch->parent_column, cwhere, err)) ||
		    (rc = parse_locals(c, &ch->locals, cwhere, err)) ||
		    (rc = parse_forms(c, &ch->forms, cwhere, err)) ||
		    (rc = parse_refs(c, &ch->refs, &ch->locals, ch->parent_column, cwhere, err)))
			return rc;
	}
	return XCHG_OK;
}

/*
 * Whether a table is used before entity i's child k (k == nchildren: the
 * entity's own table): a table's triggers speak for one place in the plan,
 * so a table given twice would leave the first place's edits unregistered.
 * Sets *child when the earlier use is a child's.
 */
static int table_used_before(const plan *p, size_t i, size_t k, const char *table, int *child)
{
	size_t j, m;

	for (j = 0; j <= i; j++) {
		const plan_entity *e = &p->entities[j];
		size_t upto = j < i ? e->nchildren : k;

		if (j < i && strcmp(e->table, table) == 0) {
			*child = 0;
			return 1;
		}
		for (m = 0; m < upto; m++)
			if (strcmp(e->children[m].table, table) == 0) {
				*child = 1;
				return 1;
			}
	}
	return 0;
}

/* One type, one table, one child name under an entity: anything else makes routing ambiguous. */
static xchg_status check_unique(const plan *p, const char *name, xchg_err *err)
{
	size_t i, j, k;
	int child;

	for (i = 0; i < p->nentities; i++) {
		const plan_entity *a = &p->entities[i];

		for (j = 0; j < i; j++)
			if (strcmp(a->type, p->entities[j].type) == 0)
				return xerr(err, XCHG_EUSAGE, "%s: entity type \"%s\" is listed twice", name, a->type);
		if (table_used_before(p, i, a->nchildren, a->table, &child))
			return xerr(err, XCHG_EUSAGE, child ? "%s: table \"%s\" is both an entity's and a child's"
					    : "%s: table \"%s\" belongs to two entities", name, a->table);
		for (k = 0; k < a->nchildren; k++) {
			const plan_child *c = &a->children[k];

			for (j = 0; j < k; j++)
				if (strcmp(c->name, a->children[j].name) == 0)
					return xerr(err, XCHG_EUSAGE, "%s: entity \"%s\": child \"%s\" is listed twice",
						    name, a->type, c->name);
			if (table_used_before(p, i, k, c->table, &child))
				return xerr(err, XCHG_EUSAGE, child ? "%s: entity \"%s\": child table \"%s\" is"
						    " already a child table; a table may appear once in a plan"
						    : "%s: entity \"%s\": child table \"%s\" is also an entity table",
					    name, a->type, c->table);
		}
	}
	return XCHG_OK;
}

/* Every type a reference names is an entity of the plan. */
static xchg_status check_refs(const plan *p, const plan_refs *r, const char *name,
			      const char *owner, xchg_err *err)
{
	size_t i;

	for (i = 0; i < r->n; i++)
		if (!plan_find(p, r->types[i]))
			return xerr(err, XCHG_EUSAGE, "%s: %s: \"references\": \"%s\" names \"%s\","
				    " which is no entity type of the plan", name, owner, r->columns[i],
				    r->types[i]);
	return XCHG_OK;
}

/* Whether e (or one of its children) references an entity that placed says is not placed yet. */
static int waits_for(const plan *p, const plan_entity *e, const unsigned char *placed)
{
	size_t i, j;

	for (j = 0; j <= e->nchildren; j++) {
		const plan_refs *r = j < e->nchildren ? &e->children[j].refs : &e->refs;

		for (i = 0; i < r->n; i++) {
			const plan_entity *t = plan_find(p, r->types[i]);

			if (t != e && !placed[t - p->entities])
				return 1;
		}
	}
	return 0;
}

/*
 * Puts every entity after the entities its references name, so that a
 * packet carries a referenced row before the rows that point at it and the
 * receiver finds it (formats/PLAN.md, "Integer references"). The plan's own
 * order stays wherever references do not decide; entities that reference
 * each other in a ring keep it too.
 */
static xchg_status order_by_refs(plan *p, const char *name, xchg_err *err)
{
	unsigned char placed[PLAN_MAX_ENTITIES] = {0};
	plan_entity *sorted;
	size_t i, j, n = 0;
	xchg_status rc;

	for (i = 0; i < p->nentities; i++) {
		const plan_entity *e = &p->entities[i];
		char owner[160];

		snprintf(owner, sizeof(owner), "entity \"%s\"", e->type);
		if ((rc = check_refs(p, &e->refs, name, owner, err)))
			return rc;
		for (j = 0; j < e->nchildren; j++) {
			snprintf(owner, sizeof(owner), "entity \"%s\": child \"%s\"", e->type,
				 e->children[j].name);
			if ((rc = check_refs(p, &e->children[j].refs, name, owner, err)))
				return rc;
		}
	}
	if (!(sorted = calloc(p->nentities, sizeof(*sorted))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", name);
	while (n < p->nentities) {
		for (i = 0; i < p->nentities; i++)
			if (!placed[i] && !waits_for(p, &p->entities[i], placed))
				break;
		for (j = 0; i == p->nentities && j < p->nentities; j++)
			if (!placed[j])
				i = j; /* a ring: the first of it in the plan goes first */
		placed[i] = 1;
		sorted[n++] = p->entities[i];
	}
	free(p->entities);
	p->entities = sorted;
	return XCHG_OK;
}

static xchg_status parse_entity(plan *p, plan_entity *e, const cJSON *obj,
				size_t index, const char *name, xchg_err *err)
{
	const cJSON *type;
	char where[256];
	xchg_status rc;

	static const char *const keys[] = {
		"type", "table", "conflict_policy", "delete_conflict", "children", "local_columns",
		"shared_id", "column_forms", "subset_column", "references", NULL,
	};

	snprintf(where, sizeof(where), "%s: entity %zu", name, index + 1);
	if (!cJSON_IsObject(obj))
		return xerr(err, XCHG_EUSAGE, "%s: must be an object", where);
	if ((rc = check_keys(obj, keys, where, err)))
		return rc;
	type = cJSON_GetObjectItemCaseSensitive(obj, "type");
	if (!cJSON_IsString(type) || !xident_valid(type->valuestring))
		return xerr(err, XCHG_EUSAGE, "%s: \"type\" must be a name of letters, digits and _", where);
	if (!(e->type = strdup(type->valuestring)))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", where);
	snprintf(where, sizeof(where), "%s: entity \"%s\"", name, e->type);
	if ((rc = take_ident(obj, "table", &e->table, where, err)))
		return rc;
	e->policy = p->policy;
	e->delete_rule = p->delete_rule;
	if ((rc = parse_rules(obj, &e->policy, &e->delete_rule, where, err)) ||
	    (rc = parse_locals(obj, &e->locals, where, err)) ||
	    (rc = parse_forms(obj, &e->forms, where, err)) ||
	    (rc = parse_refs(obj, &e->refs, &e->locals, NULL, where, err)))
		return rc;
	if (cJSON_GetObjectItemCaseSensitive(obj, "subset_column")) {
		if ((rc = take_ident(obj, "subset_column", &e->subset_column, where, err)))
			return rc;
		if (plan_is_sync_column(e->subset_column) || plan_column_is_local(&e->locals, e->subset_column))
			return xerr(err, XCHG_EUSAGE, "%s: \"subset_column\": \"%s\" does not travel as"
				    " data, so no desktop could be told by it", where, e->subset_column);
	}
	return parse_children(e, cJSON_GetObjectItemCaseSensitive(obj, "children"), where, err);
}

/*
 * Where in text the parser stopped (end), as a line and column people can
 * find: at the fault or just past it (cJSON reports a bad member of an
 * array's object one character on).
 */
static xchg_status syntax_error(const char *text, const char *end, const char *name, xchg_err *err)
{
	size_t line = 1, column = 1;
	const char *p;

	if (!end)
		return xerr(err, XCHG_EUSAGE, "%s: not valid JSON", name);
	for (p = text; p < end; p++) {
		if (*p == '\n') {
			line++;
			column = 1;
		} else if (((unsigned char)*p & 0xC0) != 0x80) {
			column++; /* a character, not each byte of one */
		}
	}
	return xerr(err, XCHG_EUSAGE, "%s: not valid JSON near line %zu, column %zu", name, line, column);
}

xchg_status plan_parse(plan **out, const char *text, size_t len,
		       const char *name, xchg_err *err)
{
	static const char *const root_keys[] = {
		"schema_version", "conflict_policy", "delete_conflict", "entities", NULL,
	};
	cJSON *root = NULL;
	const cJSON *ver, *ents, *e;
	const char *end = NULL;
	plan *p = NULL;
	size_t i = 0, n;
	xchg_status rc = XCHG_ENOMEM;

	*out = NULL;
	if (!(p = calloc(1, sizeof(*p))) || !(p->text = strndup(text, len))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", name);
		goto done;
	}
	if (!(root = cJSON_ParseWithLengthOpts(text, len, &end, 0))) {
		rc = syntax_error(text, end, name, err);
		goto done;
	}
	if (!cJSON_IsObject(root)) {
		rc = xerr(err, XCHG_EUSAGE, "%s: not a JSON object", name);
		goto done;
	}
	if ((rc = check_keys(root, root_keys, name, err)))
		goto done;
	ver = cJSON_GetObjectItemCaseSensitive(root, "schema_version");
	if (!cJSON_IsString(ver) || plan_version_major(ver->valuestring) < 0) {
		rc = xerr(err, XCHG_EUSAGE, "%s: \"schema_version\" must be a string like \"1.0.0\"", name);
		goto done;
	}
	if (!(p->schema_version = strdup(ver->valuestring))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", name);
		goto done;
	}
	p->policy = POLICY_MASTER_WINS;
	p->delete_rule = DELETE_BY_POLICY;
	if ((rc = parse_rules(root, &p->policy, &p->delete_rule, name, err)))
		goto done;
	ents = cJSON_GetObjectItemCaseSensitive(root, "entities");
	n = cJSON_IsArray(ents) ? (size_t)cJSON_GetArraySize(ents) : 0;
	if (n == 0 || n > PLAN_MAX_ENTITIES) {
		rc = xerr(err, XCHG_EUSAGE, "%s: \"entities\" must be an array of 1 to %d entities",
			  name, PLAN_MAX_ENTITIES);
		goto done;
	}
	if (!(p->entities = calloc(n, sizeof(*p->entities)))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", name);
		goto done;
	}
	cJSON_ArrayForEach(e, ents) {
		p->nentities = i + 1;
		if ((rc = parse_entity(p, &p->entities[i], e, i, name, err)))
			goto done;
		i++;
	}
	if ((rc = check_unique(p, name, err)) || (rc = order_by_refs(p, name, err)))
		goto done;
	*out = p;
	p = NULL;
	rc = XCHG_OK;
done:
	cJSON_Delete(root);
	plan_free(p);
	return rc;
}

xchg_status plan_load_file(plan **out, const char *path, xchg_err *err)
{
	struct stat sb;
	FILE *f = NULL;
	char *text = NULL;
	size_t len;
	xchg_status rc;

	*out = NULL;
	if (!(f = fopen(path, "rb"))) {
		rc = xerr(err, XCHG_EIO, "%s: %s", path, strerror(errno));
		goto done;
	}
	if (fstat(fileno(f), &sb) == 0 && S_ISDIR(sb.st_mode)) {
		rc = xerr(err, XCHG_EUSAGE, "%s: a folder, not a plan file (name the plan's .json file)",
			  path);
		goto done;
	}
	if (!(text = malloc(PLAN_MAX_BYTES + 1))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", path);
		goto done;
	}
	len = fread(text, 1, PLAN_MAX_BYTES + 1, f);
	if (ferror(f)) {
		rc = xerr(err, XCHG_EIO, "%s: read failed", path);
		goto done;
	}
	if (len > PLAN_MAX_BYTES) {
		rc = xerr(err, XCHG_EUSAGE, "%s: larger than %d bytes", path, PLAN_MAX_BYTES);
		goto done;
	}
	rc = plan_parse(out, text, len, path, err);
done:
	if (f)
		fclose(f);
	free(text);
	return rc;
}

const plan_entity *plan_find(const plan *p, const char *type)
{
	size_t i;

	for (i = 0; i < p->nentities; i++)
		if (strcmp(p->entities[i].type, type) == 0)
			return &p->entities[i];
	return NULL;
}

void plan_free(plan *p)
{
	size_t i, j;

	if (!p)
		return;
	for (i = 0; i < p->nentities; i++) {
		plan_entity *e = &p->entities[i];

		for (j = 0; j < e->nchildren; j++) {
			free(e->children[j].name);
			free(e->children[j].table);
			free(e->children[j].parent_column);
			locals_free(&e->children[j].locals);
			column_forms_free(&e->children[j].forms);
			refs_free(&e->children[j].refs);
		}
		locals_free(&e->locals);
		column_forms_free(&e->forms);
		refs_free(&e->refs);
		free(e->subset_column);
		free(e->children);
		free(e->type);
		free(e->table);
	}
	free(p->entities);
	free(p->schema_version);
	free(p->text);
	free(p);
}
