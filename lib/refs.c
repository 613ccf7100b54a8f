#include "refs.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "forms.h"

/*
 * The entity of type and the column holding its rows' local ids (*pk, kept
 * in the handle: it is looked up once per row that references it).
 */
static xchg_status target_of(xchg_db *db, const char *type, const plan_entity **t,
			     const char **pk, xchg_err *err)
{
	store_column *cols = NULL;
	const char *name = NULL;
	size_t n = 0, k;
	xchg_status rc;

	if (!(*t = plan_find(db->plan, type)))
		return xerr(err, XCHG_EDB, "the plan references entity %s, which it lacks", type);
	k = (size_t)(*t - db->plan->entities);
	if (!db->local_ids) {
		if (!(db->local_ids = calloc(db->plan->nentities, sizeof(*db->local_ids))))
			return xerr(err, XCHG_ENOMEM, "out of memory");
		db->nlocal_ids = db->plan->nentities;
	}
	if ((*pk = db->local_ids[k]))
		return XCHG_OK;
	/* The catalogue, not db_meta: that may move the tables' metas the caller holds. */
	if ((rc = store_columns(db->st, (*t)->table, &cols, &n, err)))
		return rc;
	name = db_local_id(cols, n);
	if (name && !(db->local_ids[k] = strdup(name)))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	else if (!name)
		rc = xerr(err, XCHG_EDB, "table \"%s\" has no primary key of one column for the ids"
			  " that reference its rows", (*t)->table);
	store_columns_free(cols, n);
	*pk = db->local_ids[k];
	return rc;
}

xchg_status refs_read_sql(xchg_db *db, xbuf *sql, const char *table, const char *column,
			  const char *type, xchg_err *err)
{
	const plan_entity *t;
	const char *pk;
	char own[160];
	xchg_status rc;

	if ((rc = target_of(db, type, &t, &pk, err)))
		return rc;
	snprintf(own, sizeof(own), "\"%s\".uuid", table);
	xbuf_printf(sql, "CASE WHEN \"%s\".\"%s\" IS NULL THEN (SELECT p.target_uuid FROM sync_refs p"
		    " WHERE p.table_name = '%s' AND p.column_name = '%s' AND p.row_uuid = ",
		    table, column, table, column);
	store_canonical_sql(db->st, sql, FORM_UUID, own);
	xbuf_adds(sql, ") ELSE (SELECT ");
	store_canonical_sql(db->st, sql, FORM_UUID, "r.uuid");
	xbuf_printf(sql, " FROM \"%s\" r WHERE r.\"%s\" = \"%s\".\"%s\") END", t->table, pk, table,
		    column);
	return XCHG_OK;
}

/* *id: the local id of the row of t (its id column pk) with this uuid; *found 0 when absent. */
static xchg_status local_id_of(xchg_db *db, const plan_entity *t, const char *pk,
			       const char *uuid, int64_t *id, int *found, xchg_err *err)
{
	char spelled[FORMS_SPELLINGS][37];
	xvalue keys[FORMS_SPELLINGS];
	xbuf sql = {0};
	xchg_status rc;

	xbuf_printf(&sql, "SELECT \"%s\" FROM \"%s\" WHERE ", pk, t->table);
	store_uuid_eq_sql(&sql, t->table, "uuid");
	store_uuid_params(uuid, spelled, keys);
	rc = sql.data ? store_int(db->st, sql.data, keys, FORMS_SPELLINGS, id, found, err)
		      : xerr(err, XCHG_ENOMEM, "out of memory");
	xbuf_free(&sql);
	return rc;
}

/* Forgets the pending reference of column in row row_uuid of table. */
static xchg_status forget(store *s, const char *table, const char *column, const char *row_uuid,
			  xchg_err *err)
{
	xvalue p[3] = {xv_text(table), xv_text(row_uuid), xv_text(column)};

	return store_run(s, "DELETE FROM sync_refs WHERE table_name = ? AND row_uuid = ?"
			    " AND column_name = ?", p, 3, NULL, err);
}

xchg_status refs_to_local(xchg_db *db, const char *table, const char *column, const char *type,
			  const char *row_uuid, xvalue *v, xchg_err *err)
{
	const plan_entity *t;
	const char *pk;
	char target[37], row[37];
	xvalue pending[5];
	int64_t id = 0;
	int found = 0;
	xchg_status rc;

	if (!forms_uuid_parse(row_uuid, row, NULL))
		snprintf(row, sizeof(row), "%.36s", row_uuid);
	if ((rc = forget(db->st, table, column, row, err)) || v->type == XV_NULL)
		return rc;
	if (v->type != XV_TEXT || !forms_uuid_parse(v->s, target, NULL))
		return xerr(err, XCHG_EPACKET, "table \"%s\": column \"%s\" references %s rows: it"
			    " travels as a uuid or null", table, column, type);
	if ((rc = target_of(db, type, &t, &pk, err)) ||
	    (rc = local_id_of(db, t, pk, target, &id, &found, err)))
		return rc;
	if (found) {
		*v = xv_int(id);
		return XCHG_OK;
	}
	*v = (xvalue){.type = XV_NULL};
	pending[0] = xv_text(table);
	pending[1] = xv_text(row);
	pending[2] = xv_text(column);
	pending[3] = xv_text(type);
	pending[4] = xv_text(target);
	return store_run(db->st, "INSERT INTO sync_refs (table_name, row_uuid, column_name,"
				 " target_type, target_uuid) VALUES (?, ?, ?, ?, ?)", pending, 5, NULL, err);
}

/* Calls fn for every table and column of the plan that references entity type. */
typedef xchg_status (*ref_fn)(xchg_db *db, const char *table, const char *column, void *ctx,
			      xchg_err *err);

static xchg_status each_ref_to(xchg_db *db, const char *type, ref_fn fn, void *ctx, xchg_err *err)
{
	size_t i, j, k;
	xchg_status rc = XCHG_OK;

	for (i = 0; i < db->plan->nentities && !rc; i++) {
		const plan_entity *e = &db->plan->entities[i];

		for (j = 0; j <= e->nchildren && !rc; j++) {
			const plan_refs *r = j < e->nchildren ? &e->children[j].refs : &e->refs;
			const char *table = j < e->nchildren ? e->children[j].table : e->table;

			for (k = 0; k < r->n && !rc; k++)
				if (strcmp(r->types[k], type) == 0)
					rc = fn(db, table, r->columns[k], ctx, err);
		}
	}
	return rc;
}

static xchg_status count_ref(xchg_db *db, const char *table, const char *column, void *ctx,
			     xchg_err *err)
{
	(void)db;
	(void)table;
	(void)column;
	(void)err;
	(*(int *)ctx)++;
	return XCHG_OK;
}

typedef struct arrival {
	const char *type;
	const char *uuid; /* canonical */
	int64_t id;
} arrival;

static xchg_status resolve(xchg_db *db, const char *table, const char *column, void *ctx,
			   xchg_err *err)
{
	arrival *a = ctx;
	xvalue p[5] = {xv_int(a->id), xv_text(table), xv_text(column), xv_text(a->type),
		       xv_text(a->uuid)};
	xbuf sql = {0};
	xchg_status rc;

	xbuf_printf(&sql, "UPDATE \"%s\" SET \"%s\" = ? WHERE ", table, column);
	store_canonical_sql(db->st, &sql, FORM_UUID, "uuid");
	xbuf_adds(&sql, " IN (SELECT row_uuid FROM sync_refs WHERE table_name = ? AND"
		       " column_name = ? AND target_type = ? AND target_uuid = ?)");
	if (!sql.data)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if (!(rc = store_run(db->st, sql.data, p, 5, NULL, err)))
		rc = store_run(db->st, "DELETE FROM sync_refs WHERE table_name = ? AND column_name = ?"
				       " AND target_type = ? AND target_uuid = ?", &p[1], 4, NULL, err);
	xbuf_free(&sql);
	return rc;
}

xchg_status refs_arrived(xchg_db *db, const plan_entity *e, const char *uuid, xchg_err *err)
{
	xvalue p[2] = {xv_text(e->type), xv_text(uuid)};
	arrival a = {e->type, uuid, 0};
	const plan_entity *t;
	const char *pk;
	int64_t pending = 0;
	int found = 0, referenced = 0;
	xchg_status rc;

	if ((rc = each_ref_to(db, e->type, count_ref, &referenced, err)) || !referenced ||
	    (rc = store_int(db->st, "SELECT count(*) FROM sync_refs WHERE target_type = ?"
				    " AND target_uuid = ?", p, 2, &pending, NULL, err)) || !pending)
		return rc;
	if (!(rc = target_of(db, e->type, &t, &pk, err)) &&
	    !(rc = local_id_of(db, t, pk, uuid, &a.id, &found, err)) && found)
		rc = each_ref_to(db, e->type, resolve, &a, err);
	return rc;
}

typedef struct departure {
	const char *type;
	const char *uuid; /* canonical */
	const char *pk;
	const char *table; /* the leaving row's */
} departure;

static xchg_status unlink_refs(xchg_db *db, const char *table, const char *column, void *ctx,
			       xchg_err *err)
{
	departure *d = ctx;
	char spelled[FORMS_SPELLINGS][37];
	xvalue p[2 + FORMS_SPELLINGS];
	xbuf id = {0}, sql = {0};
	xchg_status rc;

	xbuf_printf(&id, "(SELECT \"%s\" FROM \"%s\" WHERE ", d->pk, d->table);
	store_uuid_eq_sql(&id, d->table, "uuid");
	xbuf_addc(&id, ')');
	xbuf_printf(&sql, "INSERT INTO sync_refs (table_name, row_uuid, column_name, target_type,"
		    " target_uuid) SELECT '%s', ", table);
	store_canonical_sql(db->st, &sql, FORM_UUID, "uuid");
	xbuf_printf(&sql, ", '%s', ?, ? FROM \"%s\" WHERE uuid IS NOT NULL AND \"%s\" = %s"
		    " ON CONFLICT (table_name, row_uuid, column_name) DO UPDATE SET"
		    " target_type = excluded.target_type, target_uuid = excluded.target_uuid",
		    column, table, column, id.data ? id.data : "");
	p[0] = xv_text(d->type);
	p[1] = xv_text(d->uuid);
	store_uuid_params(d->uuid, spelled, &p[2]);
	if (!sql.data || !id.data) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = store_run(db->st, sql.data, p, 2 + FORMS_SPELLINGS, NULL, err)))
		goto done;
	xbuf_reset(&sql);
	xbuf_printf(&sql, "UPDATE \"%s\" SET \"%s\" = NULL WHERE \"%s\" = %s", table, column, column,
		    id.data);
	rc = sql.data ? store_run(db->st, sql.data, &p[2], FORMS_SPELLINGS, NULL, err)
		      : xerr(err, XCHG_ENOMEM, "out of memory");
done:
	xbuf_free(&id);
	xbuf_free(&sql);
	return rc;
}

/* What the row of e with this uuid, and its children, waited for: they go. */
static xchg_status forget_rows(xchg_db *db, const plan_entity *e, const char *uuid, xchg_err *err)
{
	char spelled[FORMS_SPELLINGS][37];
	xvalue p[1 + FORMS_SPELLINGS];
	xbuf sql = {0};
	size_t j;
	xchg_status rc = XCHG_OK;

	p[0] = xv_text(e->table);
	p[1] = xv_text(uuid);
	if (e->refs.n)
		rc = store_run(db->st, "DELETE FROM sync_refs WHERE table_name = ? AND row_uuid = ?", p, 2,
			       NULL, err);
	store_uuid_params(uuid, spelled, &p[1]);
	for (j = 0; j < e->nchildren && !rc; j++) {
		const plan_child *c = &e->children[j];

		if (!c->refs.n)
			continue;
		p[0] = xv_text(c->table);
		xbuf_reset(&sql);
		xbuf_adds(&sql, "DELETE FROM sync_refs WHERE table_name = ? AND row_uuid IN (SELECT ");
		store_canonical_sql(db->st, &sql, FORM_UUID, "uuid");
		xbuf_printf(&sql, " FROM \"%s\" WHERE \"%s\" " STORE_UUID_IN ")", c->table,
			    c->parent_column);
		rc = sql.data ? store_run(db->st, sql.data, p, 1 + FORMS_SPELLINGS, NULL, err)
			      : xerr(err, XCHG_ENOMEM, "out of memory");
	}
	xbuf_free(&sql);
	return rc;
}

xchg_status refs_leaving(xchg_db *db, const plan_entity *e, const char *uuid, xchg_err *err)
{
	departure d = {e->type, uuid, NULL, e->table};
	const plan_entity *t;
	const char *pk;
	char canonical[37];
	int referenced = 0;
	xchg_status rc;

	if (forms_uuid_parse(uuid, canonical, NULL))
		d.uuid = canonical;
	if ((rc = forget_rows(db, e, d.uuid, err)) ||
	    (rc = each_ref_to(db, e->type, count_ref, &referenced, err)) || !referenced)
		return rc;
	if ((rc = target_of(db, e->type, &t, &pk, err)))
		return rc;
	d.pk = pk;
	return each_ref_to(db, e->type, unlink_refs, &d, err);
}
