/*
 * The exchange plan: which tables synchronize, under which entity names,
 * with which child tables, and how conflicts are decided (formats/PLAN.md).
 */
#ifndef XCHG_PLAN_H
#define XCHG_PLAN_H

#include <stddef.h>

#include "common.h"
#include "forms.h"

#define PLAN_MAX_ENTITIES 256
#define PLAN_MAX_CHILDREN 16
#define PLAN_MAX_LOCAL_COLUMNS 64
#define PLAN_MAX_COLUMN_FORMS 64

typedef enum plan_policy {
	POLICY_MASTER_WINS = 0,
	POLICY_LAST_WRITER_WINS = 1
} plan_policy;

/* Who wins when one side deleted the entity and the other edited it. */
typedef enum plan_delete_rule {
	DELETE_BY_POLICY = 0, /* the conflict policy decides, the delete's time as its updated_at */
	DELETE_WINS = 1,
	EDIT_WINS = 2
} plan_delete_rule;

/*
 * The columns of a table that stay on each node and never travel: "id" (the
 * design's local surrogate key) unless shared_id says the schema's ids are
 * global, and whatever local_columns names (formats/PLAN.md).
 */
typedef struct plan_locals {
	char **columns;
	size_t ncolumns;
	int shared_id;
} plan_locals;

/*
 * The forms the plan names for columns of a table ("column_forms"), where
 * what the column holds cannot tell (formats/PLAN.md, "Value forms").
 */
typedef struct plan_forms {
	char **columns;
	col_form *forms;
	size_t n;
} plan_forms;

/*
 * "references": columns holding the local integer id of a row of another
 * entity (formats/PLAN.md, "Integer references"). They travel as that row's
 * uuid and are mapped back to the receiver's own id.
 */
typedef struct plan_refs {
	char **columns;
	char **types; /* the entity each column's id names a row of */
	size_t n;
} plan_refs;

typedef struct plan_child {
	char *name;          /* the key under the parent's data */
	char *table;
	char *parent_column; /* holds the parent's uuid */
	plan_locals locals;
	plan_forms forms;
	plan_refs refs;
} plan_child;

typedef struct plan_entity {
	char *type;
	char *table;
	plan_policy policy;
	plan_delete_rule delete_rule;
	plan_locals locals;
	plan_forms forms;
	plan_refs refs;
	/* Which desktops receive a row: those whose subset holds its value (NULL: all). */
	char *subset_column;
	plan_child *children;
	size_t nchildren;
} plan_entity;

typedef struct plan {
	char *schema_version;
	plan_policy policy;
	plan_delete_rule delete_rule;
	/*
	 * In the order packets carry them: an entity after those its
	 * references name, otherwise as the plan lists them.
	 */
	plan_entity *entities;
	size_t nentities;
	char *text; /* the plan as given, kept in the database */
} plan;

/* name is used in messages ("plan.json: ..."). */
xchg_status plan_parse(plan **out, const char *text, size_t len,
		       const char *name, xchg_err *err);
xchg_status plan_load_file(plan **out, const char *path, xchg_err *err);
const plan_entity *plan_find(const plan *p, const char *type);
/*
 * The column rules of table, an entity's or a child's: its local columns,
 * the forms the plan names, and (a child's; NULL for an entity) the column
 * holding its parent's uuid. Returns 0 and leaves them NULL when the plan
 * lacks the table.
 */
int plan_table_rules(const plan *p, const char *table, const plan_locals **locals,
		     const plan_forms **forms, const char **parent_column);
/* The entity whose own table is table (not a child's), or NULL. */
const plan_entity *plan_entity_of(const plan *p, const char *table);
/* The references of table, an entity's or a child's; NULL when it has none. */
const plan_refs *plan_table_refs(const plan *p, const char *table);
/* The entity whose column references names, or NULL. */
const char *plan_ref_type(const plan_refs *r, const char *column);
/* Whether name is uuid, updated_at or is_deleted: what identifies and versions every row. */
int plan_is_sync_column(const char *name);
/* Whether any entity has a subset column. */
int plan_has_subsets(const plan *p);
/* The form the plan names for column, or NULL. */
const col_form *plan_column_form(const plan_forms *f, const char *column);
/* Whether column stays local under rules l (NULL: the defaults). */
int plan_column_is_local(const plan_locals *l, const char *column);
const char *plan_policy_name(plan_policy policy);
const char *plan_delete_rule_name(plan_delete_rule rule);
/* The major part of a MAJOR.MINOR.PATCH version, or -1 when malformed. */
long plan_version_major(const char *version);
void plan_free(plan *p);

#endif
