#include "row_json.h"

#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "refs.h"
#include "subsets.h"

/*
 * Whether column i of m travels in data. Local columns never do ("id", the
 * design's surrogate key, and what the plan names); every other column does,
 * a primary key of business data included, so that the receiver stores the
 * same key. An entity's own uuid, updated_at and is_deleted travel in the
 * entity header; a child row keeps them in its object, but not the link to
 * its parent.
 */
static int travels(const table_meta *m, size_t i, const char *parent_column)
{
	const char *name = m->cols[i].name;

	if (m->local[i])
		return 0;
	if (parent_column)
		return strcmp(name, parent_column) != 0;
	return !plan_is_sync_column(name); /* they travel in the entity's header */
}

int row_json_value(xbuf *b, const xvalue *v)
{
	switch (v->type) {
	case XV_NULL:
		return xbuf_adds(b, "null");
	case XV_BOOL:
		return xbuf_adds(b, v->i ? "true" : "false");
	case XV_INT:
		if (v->i > ROW_JSON_MAX_SAFE_INT || v->i < -ROW_JSON_MAX_SAFE_INT)
			return xbuf_printf(b, "\"%" PRId64 "\"", v->i);
		return xbuf_printf(b, "%" PRId64, v->i);
	case XV_REAL: {
		char num[XDOUBLE_TEXT_MAX + 2];

		if (!isfinite(v->d))
			return xbuf_adds(b, "null");
		xdouble_text(num, v->d);
		/* Keep a real recognisable as one, so 3.0 does not read back as 3. */
		if (!strpbrk(num, ".eE"))
			strcat(num, ".0");
		return xbuf_adds(b, num);
	}
	case XV_TEXT:
		return xbuf_json_string(b, v->s, v->len);
	}
	return -1;
}

/*
 * "SELECT <lead>, <travelling columns> FROM t", and m->select_cols, which
 * says which column each one after the lead is.
 */
static xchg_status select_from(xchg_db *db, table_meta *m, const char *lead,
			       const char *parent_column, xbuf *sql, xchg_err *err)
{
	const plan_refs *refs = plan_table_refs(db->plan, m->table);
	const char *type;
	size_t i, n = 0;
	int first = 1;
	xchg_status rc;

	if (!m->select_cols && !(m->select_cols = calloc(m->ncols, sizeof(*m->select_cols))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	xbuf_adds(sql, "SELECT ");
	if (lead) {
		xbuf_adds(sql, lead);
		first = 0;
	}
	for (i = 0; i < m->ncols; i++)
		if (travels(m, i, parent_column)) {
			xbuf_adds(sql, first ? "" : ", ");
			if ((type = plan_ref_type(refs, m->cols[i].name))) {
				if ((rc = refs_read_sql(db, sql, m->table, m->cols[i].name, type, err)))
					return rc;
				xbuf_adds(sql, " AS ");
			}
			xbuf_printf(sql, "\"%s\"", m->cols[i].name);
			m->select_cols[n++] = i;
			first = 0;
		}
	xbuf_printf(sql, " FROM \"%s\"", m->table);
	if (!sql->data || first)
		return xerr(err, first ? XCHG_EDB : XCHG_ENOMEM, "table \"%s\": %s", m->table,
			    first ? "has no column that travels" : "out of memory");
	return XCHG_OK;
}

/* Keeps the statement sql builds in *slot, once, and points *out at it. */
static xchg_status keep_sql(char **slot, xbuf *sql, const char **out, xchg_err *err)
{
	if (!sql->data || !(*slot = xbuf_detach(sql))) {
		xbuf_free(sql);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	*out = *slot;
	return XCHG_OK;
}

/*
 * The statement that reads an entity's row by its uuid (in any of its
 * spellings), its state first; built once per table, since an import
 * reads the row of nearly every entity it weighs.
 */
static xchg_status row_sql(xchg_db *db, table_meta *m, const char **out, xchg_err *err)
{
	xbuf sql = {0};
	xchg_status rc;

	if (m->select_sql) {
		*out = m->select_sql;
		return XCHG_OK;
	}
	if ((rc = select_from(db, m, "updated_at, is_deleted", NULL, &sql, err))) {
		xbuf_free(&sql);
		return rc;
	}
	xbuf_adds(&sql, " WHERE ");
	store_uuid_eq_sql(&sql, m->table, "uuid");
	return keep_sql(&m->select_sql, &sql, out, err);
}

/*
 * The statement that reads the rows of child c (table m) of n parents,
 * each parent's uuid in any of its spellings (FORMS_SPELLINGS parameters
 * a parent), in uuid order, each row's parent column first.
 */
static xchg_status children_sql(xchg_db *db, const plan_child *c, table_meta *m, size_t n,
				xbuf *sql, xchg_err *err)
{
	xbuf lead = {0};
	xchg_status rc;

	if (xbuf_printf(&lead, "\"%s\"", c->parent_column))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = select_from(db, m, lead.data, c->parent_column, sql, err);
	xbuf_free(&lead);
	if (rc)
		return rc;
	xbuf_printf(sql, " WHERE \"%s\" IN (", c->parent_column);
	store_params_sql(sql, n * FORMS_SPELLINGS);
	xbuf_adds(sql, ") ORDER BY uuid");
	return sql->data ? XCHG_OK : xerr(err, XCHG_ENOMEM, "out of memory");
}

/* v as it travels: a uuid or time of column form f in the canonical form. */
static void to_wire(const col_form *f, xvalue *v, char buf[FORMS_TEXT_MAX])
{
	if (v->type != XV_TEXT || f->kind == FORM_TEXT)
		return;
	v->s = forms_canonical(f, v->s, buf);
	v->len = strlen(v->s);
}

/* v as column form f holds it. */
static void to_column(const col_form *f, xvalue *v, char buf[FORMS_TEXT_MAX])
{
	if (v->type != XV_TEXT || f->kind == FORM_TEXT)
		return;
	v->s = forms_for_column(f, v->s, buf);
	v->len = strlen(v->s);
}

/*
 * Appends the current row of st (from column `from` on, the columns of
 * m->select_cols) as a JSON object's members, uuids and times canonical.
 */
static int row_members(xbuf *b, store_stmt *st, int from, const table_meta *m)
{
	int i, n = store_ncols(st), rc = 0;
	char buf[FORMS_TEXT_MAX];
	xvalue v;

	for (i = from; i < n && rc == 0; i++) {
		const char *name = store_colname(st, i);

		if (i > from)
			rc = xbuf_addc(b, ',');
		store_col(st, i, &v);
		to_wire(&m->forms[m->select_cols[i - from]], &v, buf);
		if (rc == 0)
			rc = xbuf_json_string(b, name, strlen(name));
		if (rc == 0)
			rc = xbuf_addc(b, ':');
		if (rc == 0)
			rc = row_json_value(b, &v);
	}
	return rc;
}

/*
 * Makes m's child statements those of c: they read and delete by c's parent
 * column, so statements built for another member of a plan do not serve.
 */
static void child_statements_for(table_meta *m, const plan_child *c)
{
	if (m->child_for == c)
		return;
	free(m->children_sql);
	free(m->delete_sql);
	m->children_sql = m->delete_sql = NULL;
	m->child_for = c;
}

static xchg_status read_children(xchg_db *db, const plan_child *c, const char *uuid,
				 xbuf *data, xchg_err *err)
{
	table_meta *m;
	store_stmt *st = NULL;
	xbuf built = {0};
	const char *sql = NULL;
	char spelled[FORMS_SPELLINGS][37];
	xvalue key[FORMS_SPELLINGS];
	int has_row = 0, n = 0;
	xchg_status rc;

	/* Built once per table: an import reads the children of nearly every entity it weighs. */
	if ((rc = db_meta(db, c->table, &m, err)))
		return rc;
	child_statements_for(m, c);
	if (!(sql = m->children_sql) &&
	    ((rc = children_sql(db, c, m, 1, &built, err)) ||
	     (rc = keep_sql(&m->children_sql, &built, &sql, err))))
		goto done;
	store_uuid_params(uuid, spelled, key);
	if ((rc = store_query(db->st, sql, key, FORMS_SPELLINGS, &st, err)))
		goto done;
	xbuf_printf(data, ",\"%s\":[", c->name);
	while (!(rc = store_step(st, &has_row, err)) && has_row) {
		if ((n++ && xbuf_addc(data, ',')) || xbuf_addc(data, '{') ||
		    row_members(data, st, 1, m) || xbuf_addc(data, '}')) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
	}
	if (!rc && xbuf_addc(data, ']'))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
done:
	store_release(st);
	xbuf_free(&built);
	return rc;
}

/* The row's updated_at (canonical) and is_deleted, columns at and at + 1 of st. */
static void read_state(const table_meta *m, store_stmt *st, int at, row_state *state)
{
	char buf[FORMS_TEXT_MAX];
	xvalue v;

	state->found = 1;
	state->updated_at[0] = '\0';
	store_col(st, at, &v);
	to_wire(db_column_form(m, "updated_at"), &v, buf);
	if (v.type == XV_TEXT)
		snprintf(state->updated_at, sizeof(state->updated_at), "%s", v.s);
	store_col(st, at + 1, &v);
	state->is_deleted = (v.type == XV_INT || v.type == XV_BOOL) ? v.i != 0
			    : v.type == XV_TEXT && strcmp(v.s, "0") != 0;
}

/* The row's data object, children included, from its travelling columns (from `from` on in st). */
static xchg_status read_data(xchg_db *db, const plan_entity *e, const table_meta *m,
			     store_stmt *st, int from, const char *uuid, xbuf *data, xchg_err *err)
{
	size_t i;
	xchg_status rc = XCHG_OK;

	if (xbuf_addc(data, '{') || row_members(data, st, from, m))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	for (i = 0; i < e->nchildren && !rc; i++)
		rc = read_children(db, &e->children[i], uuid, data, err);
	if (!rc && xbuf_addc(data, '}'))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	return rc;
}

xchg_status row_json_read(xchg_db *db, const plan_entity *e, const char *uuid,
			  xbuf *data, row_state *state, xchg_err *err)
{
	table_meta *m;
	store_stmt *st = NULL;
	const char *sql = NULL;
	char spelled[FORMS_SPELLINGS][37];
	xvalue key[FORMS_SPELLINGS];
	xchg_status rc;

	memset(state, 0, sizeof(*state));
	if ((rc = db_meta(db, e->table, &m, err)) ||
	    (rc = row_sql(db, m, &sql, err)))
		return rc;
	store_uuid_params(uuid, spelled, key);
	if ((rc = store_query(db->st, sql, key, FORMS_SPELLINGS, &st, err)) ||
	    (rc = store_step(st, &state->found, err)) || !state->found)
		goto done;
	read_state(m, st, 0, state);
	if (data && !state->is_deleted)
		rc = read_data(db, e, m, st, 2, uuid, data, err);
done:
	store_release(st);
	return rc;
}

/*
 * Rows a page of row_json_each reads: few enough that a page's result is
 * small on any driver, and that one statement per child table reads the
 * children of the whole page.
 */
#define SCAN_PAGE STORE_UUIDS_PER_QUERY

/*
 * The page statements of row_json_each: the first, and the one after the
 * uuid ? (as the column holds it, so the table's uuid index orders them);
 * of every row, or of the rows a peer receives (subset: its id twice).
 */
static xchg_status scan_sql(xchg_db *db, table_meta *m, const plan_entity *e, int next, int subset,
			    const char **out, xchg_err *err)
{
	char **slot = &m->scan_sql[next + 2 * subset];
	xbuf sql = {0};
	xchg_status rc;

	if (*slot) {
		*out = *slot;
		return XCHG_OK;
	}
	if ((rc = select_from(db, m, "uuid, updated_at, is_deleted", NULL, &sql, err))) {
		xbuf_free(&sql);
		return rc;
	}
	xbuf_adds(&sql, " WHERE uuid IS NOT NULL");
	if (subset)
		subsets_filter_sql(&sql, e);
	xbuf_printf(&sql, "%s ORDER BY uuid LIMIT %d", next ? " AND uuid > ?" : "", SCAN_PAGE);
	return keep_sql(slot, &sql, out, err);
}

/* A page of row_json_each: each row's state and own members, and its children apart. */
typedef struct page {
	char uuid[SCAN_PAGE][37]; /* canonical */
	const char *uuids[SCAN_PAGE];
	const char *const *sorted[SCAN_PAGE];
	row_state state[SCAN_PAGE];
	size_t at[SCAN_PAGE], len[SCAN_PAGE]; /* the row's own members, in text */
	size_t n;
	xbuf text;
	/* per row, per child table of the entity: its child rows' objects, comma-separated */
	xbuf *kids;
	size_t nkids;
} page;

/*
 * The rows of child c (the entity's k-th) of every row of page p, with one
 * statement, each to its parent, in uuid order as read_children reads them.
 */
static xchg_status page_children(xchg_db *db, const plan_child *c, size_t k, page *p,
				 xchg_err *err)
{
	char (*spelled)[FORMS_SPELLINGS][37] = NULL;
	xvalue *keys = NULL, v;
	store_stmt *st = NULL;
	table_meta *m;
	xbuf sql = {0}, *kid;
	size_t i, n = 0;
	long row;
	int has_row = 0;
	xchg_status rc = XCHG_OK;

	if (!p->n || (rc = db_meta(db, c->table, &m, err)))
		return rc;
	if (!(spelled = calloc(p->n, sizeof(*spelled))) ||
	    !(keys = calloc(p->n * FORMS_SPELLINGS, sizeof(*keys)))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < p->n; i++)
		if (!p->state[i].is_deleted) {
			store_uuid_params(p->uuid[i], spelled[n], &keys[FORMS_SPELLINGS * n]);
			n++;
		}
	if (!n || (rc = children_sql(db, c, m, n, &sql, err)) ||
	    (rc = store_query(db->st, sql.data, keys, (int)(n * FORMS_SPELLINGS), &st, err)))
		goto done;
	while (!(rc = store_step(st, &has_row, err)) && has_row) {
		store_col(st, 0, &v);
		if (v.type != XV_TEXT ||
		    (row = store_uuid_index_find(v.s, p->uuids, p->sorted, p->n)) < 0)
			continue;
		kid = &p->kids[(size_t)row * p->nkids + k];
		if ((kid->len && xbuf_addc(kid, ',')) || xbuf_addc(kid, '{') ||
		    row_members(kid, st, 1, m) || xbuf_addc(kid, '}')) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
	}
done:
	store_release(st);
	xbuf_free(&sql);
	free(keys);
	free(spelled);
	return rc;
}

/* Hands every row of page p, its children read, to fn. */
static xchg_status page_write(xchg_db *db, const plan_entity *e, page *p, row_json_fn fn,
			      void *ctx, xbuf *data, xchg_err *err)
{
	size_t i, k;
	int bad;
	xchg_status rc = XCHG_OK;

	for (i = 0; i < p->n * p->nkids; i++)
		xbuf_reset(&p->kids[i]);
	for (i = 0; i < p->n; i++)
		p->uuids[i] = p->uuid[i];
	store_uuid_index(p->uuids, p->n, p->sorted);
	for (k = 0; k < e->nchildren && !rc; k++)
		rc = page_children(db, &e->children[k], k, p, err);
	for (i = 0; i < p->n && !rc; i++) {
		if (p->state[i].is_deleted) {
			rc = fn(ctx, p->uuid[i], &p->state[i], NULL, err);
			continue;
		}
		xbuf_reset(data);
		bad = xbuf_addc(data, '{') || xbuf_add(data, p->text.data + p->at[i], p->len[i]);

		for (k = 0; k < e->nchildren && !bad; k++) {
			const xbuf *kid = &p->kids[i * p->nkids + k];

			bad = xbuf_printf(data, ",\"%s\":[", e->children[k].name) ||
			      xbuf_add(data, kid->data ? kid->data : "", kid->len) ||
			      xbuf_addc(data, ']');
		}
		if (bad || xbuf_addc(data, '}'))
			return xerr(err, XCHG_ENOMEM, "out of memory");
		rc = fn(ctx, p->uuid[i], &p->state[i], data->data, err);
	}
	return rc;
}

xchg_status row_json_each(xchg_db *db, const plan_entity *e, const char *peer_id,
			  row_json_fn fn, void *ctx, xchg_err *err)
{
	table_meta *m;
	store_stmt *st = NULL;
	const char *sql = NULL;
	char last[FORMS_TEXT_MAX] = "";
	xbuf data = {0};
	xvalue params[3], v;
	page *p;
	size_t i;
	int has_row = 0, rows, subset = peer_id && e->subset_column, n;
	xchg_status rc = XCHG_OK;

	/* The children's first: db_meta may move every table's, and m is held throughout. */
	for (i = 0; i < e->nchildren && !rc; i++)
		rc = db_meta(db, e->children[i].table, &m, err);
	if (rc || (rc = db_meta(db, e->table, &m, err)))
		return rc;
	if (!(p = calloc(1, sizeof(*p))) ||
	    (e->nchildren && !(p->kids = calloc(SCAN_PAGE * e->nchildren, sizeof(*p->kids))))) {
		free(p);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	p->nkids = e->nchildren;
	/*
	 * A page at a time, each after the last uuid of the one before: no
	 * driver holds more than a page, and a row written meanwhile is either
	 * read or, changed after the packet's registrations were taken, routed
	 * to the peer for its next packet.
	 */
	do {
		rows = n = 0;
		p->n = 0;
		xbuf_reset(&p->text);
		if (subset) {
			params[n++] = xv_text(peer_id);
			params[n++] = xv_text(peer_id);
		}
		if (last[0])
			params[n++] = xv_text(last);
		if ((rc = scan_sql(db, m, e, last[0] != '\0', subset, &sql, err)) ||
		    (rc = store_query(db->st, sql, params, n, &st, err)))
			break;
		while (!(rc = store_step(st, &has_row, err)) && has_row) {
			rows++;
			store_col(st, 0, &v);
			if (v.type != XV_TEXT || v.len >= sizeof(last)) {
				rc = xerr(err, XCHG_EDB, "table \"%s\": a uuid that is no text of at most"
					  " %zu characters", m->table, sizeof(last) - 1);
				break;
			}
			memcpy(last, v.s, v.len + 1);
			if (!forms_uuid_parse(v.s, p->uuid[p->n], NULL))
				continue; /* not a uuid: no peer could name this row */
			read_state(m, st, 1, &p->state[p->n]);
			p->at[p->n] = p->text.len;
			if (!p->state[p->n].is_deleted && row_members(&p->text, st, 3, m)) {
				rc = xerr(err, XCHG_ENOMEM, "out of memory");
				break;
			}
			p->len[p->n] = p->text.len - p->at[p->n];
			p->n++;
		}
		store_release(st);
		st = NULL;
		if (!rc)
			rc = page_write(db, e, p, fn, ctx, &data, err);
	} while (!rc && rows == SCAN_PAGE);
	for (i = 0; i < SCAN_PAGE * p->nkids; i++)
		xbuf_free(&p->kids[i]);
	free(p->kids);
	xbuf_free(&p->text);
	free(p);
	xbuf_free(&data);
	return rc;
}

static const plan_child *child_named(const plan_entity *e, const char *name)
{
	size_t i;

	for (i = 0; i < e->nchildren; i++)
		if (strcmp(e->children[i].name, name) == 0)
			return &e->children[i];
	return NULL;
}

/*
 * The index of m's column name, or -1. guess is tried first: a writer
 * gives a row's members in the table's order, so the column after the
 * last one found is nearly always the next.
 */
static long column_named(const table_meta *m, const char *name, size_t guess)
{
	size_t i;

	if (guess < m->ncols && strcmp(m->cols[guess].name, name) == 0)
		return (long)guess;
	for (i = 0; i < m->ncols; i++)
		if (strcmp(m->cols[i].name, name) == 0)
			return (long)i;
	return -1;
}

/* A JSON value as an SQL value; text points into the cJSON item. */
static xchg_status json_to_value(const cJSON *item, xvalue *out, const char *table,
				 const char *column, xchg_err *err)
{
	memset(out, 0, sizeof(*out));
	if (cJSON_IsNull(item)) {
		out->type = XV_NULL;
	} else if (cJSON_IsBool(item)) {
		out->type = XV_BOOL;
		out->i = cJSON_IsTrue(item);
	} else if (cJSON_IsNumber(item)) {
		double d = item->valuedouble;

		/* cJSON reads 1e400 as infinity: a value no column may receive as such. */
		if (!isfinite(d))
			return xerr(err, XCHG_EPACKET, "table \"%s\": column \"%s\": number out of range",
				    table, column);
		if (d == floor(d) && fabs(d) <= (double)ROW_JSON_MAX_SAFE_INT) {
			out->type = XV_INT;
			out->i = (int64_t)d;
		} else {
			out->type = XV_REAL;
			out->d = d;
		}
	} else if (cJSON_IsString(item)) {
		out->type = XV_TEXT;
		out->s = item->valuestring;
		out->len = strlen(item->valuestring);
	} else {
		return xerr(err, XCHG_EPACKET, "table \"%s\": column \"%s\": an object or array is not a column value",
			    table, column);
	}
	return XCHG_OK;
}

/*
 * m's UPDATE (by uuid) and INSERT of the columns cols, in that order. Built
 * again only when they change: the rows of a packet give their members in
 * one order, and formatting two statements per row cost an import a tenth
 * of its time.
 */
static xchg_status write_sql(table_meta *m, const size_t *cols, size_t n, xchg_err *err)
{
	xbuf sets = {0}, names = {0}, update = {0}, insert = {0};
	size_t *copy = NULL, i;

	if (m->update_sql && m->nwrite_cols == n &&
	    memcmp(m->write_cols, cols, n * sizeof(*cols)) == 0)
		return XCHG_OK;
	for (i = 0; i < n; i++) {
		xbuf_printf(&names, "%s\"%s\"", i ? ", " : "", m->cols[cols[i]].name);
		xbuf_printf(&sets, "%s\"%s\" = ?", i ? ", " : "", m->cols[cols[i]].name);
	}
	xbuf_printf(&update, "UPDATE \"%s\" SET %s WHERE ", m->table, sets.data ? sets.data : "");
	store_uuid_eq_sql(&update, m->table, "uuid");
	xbuf_printf(&insert, "INSERT INTO \"%s\" (%s) VALUES (?", m->table,
		    names.data ? names.data : "");
	for (i = 1; i < n; i++)
		xbuf_adds(&insert, ", ?");
	xbuf_addc(&insert, ')');
	xbuf_free(&sets);
	xbuf_free(&names);
	if (!update.data || !insert.data || !(copy = malloc(n * sizeof(*copy)))) {
		xbuf_free(&update);
		xbuf_free(&insert);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	memcpy(copy, cols, n * sizeof(*copy));
	free(m->write_cols);
	free(m->update_sql);
	free(m->insert_sql);
	m->write_cols = copy;
	m->nwrite_cols = n;
	m->update_sql = xbuf_detach(&update);
	m->insert_sql = xbuf_detach(&insert);
	return XCHG_OK;
}

/*
 * A row's values as its statements bind them: vals[i] goes to column
 * cols[i] of the table; bufs[i] holds the text of vals[i] when it had to be
 * put in its column's form. Room for cap values.
 */
typedef struct row_values {
	xvalue *vals;
	size_t *cols;
	char (*bufs)[FORMS_TEXT_MAX];
	size_t n, cap;
} row_values;

/* Room for cap values; the caller frees with row_values_free. */
static int row_values_alloc(row_values *rv, size_t cap)
{
	memset(rv, 0, sizeof(*rv));
	rv->cap = cap;
	return (rv->vals = calloc(cap, sizeof(*rv->vals))) &&
	       (rv->cols = calloc(cap, sizeof(*rv->cols))) &&
	       (rv->bufs = calloc(cap, sizeof(*rv->bufs)));
}

static void row_values_free(row_values *rv)
{
	free(rv->vals);
	free(rv->cols);
	free(rv->bufs);
}

/* The most values a row gives: its fixed columns and its members. */
static size_t row_values_bound(size_t nfixed, const cJSON *obj)
{
	return nfixed + (size_t)cJSON_GetArraySize(obj);
}

/*
 * Appends the values of one row to rv: the fixed columns first, then every
 * member of obj that names a travelling column, each uuid and time in its
 * column's form, each integer reference as the local id (key: the row's
 * uuid, which a reference still waiting is kept for). Members naming a
 * child of skip are left to the caller; any other member is refused,
 * because a packet must not carry data this node cannot store. rv has room
 * for row_values_bound more.
 */
static xchg_status row_values_add(xchg_db *db, table_meta *m, const char *const *fixed,
				  const xvalue *fixed_vals, size_t nfixed, const char *key,
				  const char *parent_column, const cJSON *obj,
				  const plan_entity *skip, row_values *rv, xchg_err *err)
{
	const plan_refs *refs = plan_table_refs(db->plan, m->table);
	const cJSON *item;
	const char *type;
	/* Per column of m, then per child of skip: given already. */
	unsigned char *seen;
	size_t i, n = rv->n, guess = 0;
	xchg_status rc = XCHG_OK;

	if (!(seen = calloc(m->ncols + (skip ? skip->nchildren : 0) + 1, 1)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	for (i = 0; i < nfixed; i++) {
		long c = column_named(m, fixed[i], m->ncols);

		if (c < 0) {
			rc = xerr(err, XCHG_EDB, "table \"%s\" has no column \"%s\"", m->table, fixed[i]);
			goto done;
		}
		rv->cols[n] = (size_t)c;
		rv->vals[n] = fixed_vals[i];
		to_column(&m->forms[c], &rv->vals[n], rv->bufs[n]);
		n++;
	}
	cJSON_ArrayForEach(item, obj) {
		const plan_child *child = skip ? child_named(skip, item->string) : NULL;
		long c = child ? -1 : column_named(m, item->string, guess);

		if (!child && (c < 0 || !travels(m, (size_t)c, parent_column))) {
			rc = xerr(err, XCHG_EPACKET, "table \"%s\" has no column \"%.64s\" that takes synchronized data",
				  m->table, item->string);
			goto done;
		}
		/* SQLite would keep one of the two values, PostgreSQL refuse the statement. */
		if (seen[child ? m->ncols + (size_t)(child - skip->children) : (size_t)c]++) {
			rc = xerr(err, XCHG_EPACKET, "table \"%s\": \"%.64s\" is given twice",
				  m->table, item->string);
			goto done;
		}
		if (child)
			continue;
		guess = (size_t)c + 1;
		if ((rc = json_to_value(item, &rv->vals[n], m->table, m->cols[c].name, err)))
			goto done;
		if ((type = plan_ref_type(refs, m->cols[c].name))) {
			if ((rc = refs_to_local(db, m->table, m->cols[c].name, type, key, &rv->vals[n], err)))
				goto done;
		} else {
			to_column(&m->forms[c], &rv->vals[n], rv->bufs[n]);
		}
		rv->cols[n++] = (size_t)c;
	}
	rv->n = n;
done:
	free(seen);
	return rc;
}

/*
 * Writes one row (row_values_add says which values). An existing row (by
 * uuid, key, however it is spelled there) is updated with exactly those
 * columns; only a row that is not there is inserted. An INSERT ... ON
 * CONFLICT would not do: both databases check NOT NULL before they look for
 * the conflict, so an update of a row whose NOT NULL column is local (or
 * not in the packet) would fail.
 */
static xchg_status write_row(xchg_db *db, table_meta *m, const char *const *fixed,
			     const xvalue *fixed_vals, size_t nfixed, const char *key,
			     const char *parent_column, const cJSON *obj, const plan_entity *skip,
			     int absent, xchg_err *err)
{
	char spelled[FORMS_SPELLINGS][37];
	row_values rv;
	int64_t changed = 0;
	xchg_status rc;

	if (!row_values_alloc(&rv, row_values_bound(nfixed, obj) + FORMS_SPELLINGS)) {
		row_values_free(&rv);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	if ((rc = row_values_add(db, m, fixed, fixed_vals, nfixed, key, parent_column, obj, skip,
				 &rv, err)))
		goto done;
	store_uuid_params(key, spelled, &rv.vals[rv.n]);
	if ((rc = write_sql(m, rv.cols, rv.n, err)) ||
	    (!absent && (rc = store_run(db->st, m->update_sql, rv.vals,
				       (int)(rv.n + FORMS_SPELLINGS), &changed, err))) ||
	    changed > 0)
		goto done;
	rc = store_run(db->st, m->insert_sql, rv.vals, (int)rv.n, NULL, err);
done:
	row_values_free(&rv);
	return rc;
}

/* After import the parent's children are exactly the set in the packet. */
static xchg_status replace_children(xchg_db *db, const plan_child *c, const char *uuid,
				    const cJSON *rows, xchg_err *err)
{
	table_meta *m;
	const cJSON *row;
	const char *fixed[1] = {c->parent_column}, *del;
	char spelled[FORMS_SPELLINGS][37];
	xvalue keys[FORMS_SPELLINGS], parent = xv_text(uuid);
	xbuf sql = {0};
	int64_t gone = 1;
	xchg_status rc;

	if (rows && !cJSON_IsArray(rows))
		return xerr(err, XCHG_EPACKET, "child \"%s\" must be an array of rows", c->name);
	if ((rc = db_meta(db, c->table, &m, err)))
		return rc;
	child_statements_for(m, c);
	if (!(del = m->delete_sql)) {
		xbuf_printf(&sql, "DELETE FROM \"%s\" WHERE ", c->table);
		store_uuid_eq_sql(&sql, c->table, c->parent_column);
		if ((rc = keep_sql(&m->delete_sql, &sql, &del, err)))
			return rc;
	}
	store_uuid_params(uuid, spelled, keys);
	/* Once per spelling of the parent's uuid that its children hold: most often one, or none. */
	while (!rc && gone > 0)
		rc = store_run(db->st, del, keys, FORMS_SPELLINGS, &gone, err);
	cJSON_ArrayForEach(row, rows) {
		if (rc)
			break;
		const cJSON *row_uuid = cJSON_GetObjectItemCaseSensitive(row, "uuid");

		if (!cJSON_IsObject(row) || !cJSON_IsString(row_uuid))
			return xerr(err, XCHG_EPACKET, "child \"%s\": each row must be an object with a \"uuid\"",
				    c->name);
		/* Never absent: a child row may move here from another parent. */
		rc = write_row(db, m, fixed, &parent, 1, row_uuid->valuestring, c->parent_column, row,
			       NULL, 0, err);
	}
	return rc;
}

xchg_status row_json_apply(xchg_db *db, const plan_entity *e, const char *uuid,
			   const char *updated_at, const cJSON *data, int absent, xchg_err *err)
{
	static const char *const fixed[3] = {"uuid", "updated_at", "is_deleted"};
	table_meta *m;
	xvalue vals[3] = {xv_text(uuid), xv_text(updated_at), xv_bool(0)};
	size_t i;
	xchg_status rc;

	if (!cJSON_IsObject(data))
		return xerr(err, XCHG_EPACKET, "data must be an object");
	if ((rc = db_meta(db, e->table, &m, err)) ||
	    (rc = write_row(db, m, fixed, vals, 3, uuid, NULL, data, e, absent, err)))
		return rc;
	for (i = 0; i < e->nchildren && !rc; i++)
		rc = replace_children(db, &e->children[i], uuid,
				      cJSON_GetObjectItemCaseSensitive(data, e->children[i].name), err);
	return rc ? rc : refs_arrived(db, e, uuid, err);
}

/*
 * Rows of one table gathered into multi-row INSERTs, as many at a time as
 * a statement's parameters allow, each statement of rows that give the
 * same columns in the same order.
 */
typedef struct inserter {
	xchg_db *db;
	table_meta *m;
	const char *parent_column;
	row_values rv;
	size_t *seq, nseq; /* the columns of the rows gathered, in order */
	size_t rows;
	int row_fault; /* the last inserter_add failed on its row's data, not a statement */
} inserter;

static xchg_status inserter_run(inserter *ins, xchg_err *err)
{
	xbuf sql = {0};
	size_t r, i;
	xchg_status rc;

	if (!ins->rows)
		return XCHG_OK;
	xbuf_printf(&sql, "INSERT INTO \"%s\" (", ins->m->table);
	for (i = 0; i < ins->nseq; i++)
		xbuf_printf(&sql, "%s\"%s\"", i ? ", " : "", ins->m->cols[ins->seq[i]].name);
	xbuf_adds(&sql, ") VALUES ");
	for (r = 0; r < ins->rows; r++)
		for (i = 0; i < ins->nseq; i++)
			xbuf_adds(&sql, i ? ", ?" : r ? "), (?" : "(?");
	xbuf_addc(&sql, ')');
	rc = sql.data ? store_run(ins->db->st, sql.data, ins->rv.vals, (int)ins->rv.n, NULL, err)
		      : xerr(err, XCHG_ENOMEM, "out of memory");
	xbuf_free(&sql);
	ins->rv.n = ins->rows = 0;
	return rc;
}

/* Gathers one row (row_values_add's arguments), running what was gathered first when it must. */
static xchg_status inserter_add(inserter *ins, const char *const *fixed, const xvalue *fixed_vals,
				size_t nfixed, const char *key, const cJSON *obj,
				const plan_entity *skip, xchg_err *err)
{
	size_t bound = row_values_bound(nfixed, obj), from = ins->rv.n, n;
	xchg_status rc;

	ins->row_fault = 0;
	if (from + bound > ins->rv.cap) {
		if ((rc = inserter_run(ins, err)))
			return rc;
		if (bound > ins->rv.cap) {
			row_values_free(&ins->rv);
			if (!row_values_alloc(&ins->rv, bound))
				return xerr(err, XCHG_ENOMEM, "out of memory");
		}
		from = 0;
	}
	if ((rc = row_values_add(ins->db, ins->m, fixed, fixed_vals, nfixed, key,
				 ins->parent_column, obj, skip, &ins->rv, err))) {
		ins->row_fault = 1;
		return rc;
	}
	n = ins->rv.n - from;
	if (ins->rows && (n != ins->nseq || memcmp(ins->seq, &ins->rv.cols[from], n * sizeof(size_t)))) {
		/* Another sequence of columns: what came before goes first, then this row again. */
		ins->rv.n = from;
		if ((rc = inserter_run(ins, err)) ||
		    (rc = row_values_add(ins->db, ins->m, fixed, fixed_vals, nfixed, key,
					 ins->parent_column, obj, skip, &ins->rv, err)))
			return rc; /* the row's data was read once already */
		from = 0;
	}
	if (!ins->rows) {
		free(ins->seq);
		if (!(ins->seq = malloc((n ? n : 1) * sizeof(size_t))))
			return xerr(err, XCHG_ENOMEM, "out of memory");
		memcpy(ins->seq, &ins->rv.cols[from], n * sizeof(size_t));
		ins->nseq = n;
	}
	ins->rows++;
	return XCHG_OK;
}

/*
 * Readies ins for rows of m; room: how many values they give in all (the
 * sum of their row_values_bound), of which a statement takes what the
 * database lets it bind.
 */
static int inserter_open(inserter *ins, xchg_db *db, table_meta *m, const char *parent_column,
			 size_t room)
{
	size_t most = db->st->max_params > 0 ? (size_t)db->st->max_params : 999;

	memset(ins, 0, sizeof(*ins));
	ins->db = db;
	ins->m = m;
	ins->parent_column = parent_column;
	return row_values_alloc(&ins->rv, room < most ? (room ? room : 1) : most);
}

static void inserter_free(inserter *ins)
{
	row_values_free(&ins->rv);
	free(ins->seq);
}

static xchg_status insert_children(xchg_db *db, const plan_child *c, const row_json_new *rows,
				   size_t n, size_t *at, xchg_err *err)
{
	const char *fixed[1] = {c->parent_column};
	inserter ins;
	table_meta *m;
	const cJSON *list, *row, *row_uuid;
	xvalue parent;
	size_t i, room = 0;
	xchg_status rc;

	if ((rc = db_meta(db, c->table, &m, err)))
		return rc;
	for (i = 0; i < n; i++)
		cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(rows[i].data, c->name))
			room += row_values_bound(1, row);
	if (!inserter_open(&ins, db, m, c->parent_column, room)) {
		inserter_free(&ins);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	for (i = 0; i < n && !rc; i++) {
		list = cJSON_GetObjectItemCaseSensitive(rows[i].data, c->name);
		parent = xv_text(rows[i].uuid);
		ins.row_fault = 1;
		if (list && !cJSON_IsArray(list))
			rc = xerr(err, XCHG_EPACKET, "child \"%s\" must be an array of rows", c->name);
		cJSON_ArrayForEach(row, list) {
			if (rc)
				break;
			row_uuid = cJSON_GetObjectItemCaseSensitive(row, "uuid");
			if (!cJSON_IsObject(row) || !cJSON_IsString(row_uuid))
				rc = xerr(err, XCHG_EPACKET, "child \"%s\": each row must be an object"
					  " with a \"uuid\"", c->name);
			else
				rc = inserter_add(&ins, fixed, &parent, 1, row_uuid->valuestring, row,
						  NULL, err);
		}
		*at = rc && ins.row_fault ? i : n;
	}
	if (!rc)
		rc = inserter_run(&ins, err);
	inserter_free(&ins);
	return rc;
}

xchg_status row_json_insert(xchg_db *db, const plan_entity *e, const row_json_new *rows,
			    size_t n, size_t *at, xchg_err *err)
{
	static const char *const fixed[3] = {"uuid", "updated_at", "is_deleted"};
	inserter ins;
	table_meta *m;
	xvalue vals[3];
	size_t i, room = 0;
	xchg_status rc = XCHG_OK;

	*at = n;
	/* The children's first: db_meta may move every table's, and m is held throughout. */
	for (i = 0; i < e->nchildren && !rc; i++)
		rc = db_meta(db, e->children[i].table, &m, err);
	if (rc || (rc = db_meta(db, e->table, &m, err)))
		return rc;
	for (i = 0; i < n; i++)
		room += row_values_bound(3, rows[i].data);
	if (!inserter_open(&ins, db, m, NULL, room)) {
		inserter_free(&ins);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	for (i = 0; i < n && !rc; i++) {
		vals[0] = xv_text(rows[i].uuid);
		vals[1] = xv_text(rows[i].updated_at);
		vals[2] = xv_bool(0);
		ins.row_fault = 1;
		if (!cJSON_IsObject(rows[i].data))
			rc = xerr(err, XCHG_EPACKET, "data must be an object");
		else
			rc = inserter_add(&ins, fixed, vals, 3, rows[i].uuid, rows[i].data, e, err);
		if (rc && ins.row_fault)
			*at = i;
	}
	if (!rc)
		rc = inserter_run(&ins, err);
	inserter_free(&ins);
	/* Parents first: a child's foreign key may name its parent. */
	for (i = 0; i < e->nchildren && !rc; i++)
		rc = insert_children(db, &e->children[i], rows, n, at, err);
	return rc;
}

xchg_status row_json_delete(xchg_db *db, const plan_entity *e, const char *uuid,
			    const char *updated_at, xchg_err *err)
{
	table_meta *m;
	char at[FORMS_TEXT_MAX];
	xvalue p[2 + FORMS_SPELLINGS] = {xv_bool(1), xv_text(updated_at)};
	char spelled[FORMS_SPELLINGS][37];
	xbuf sql = {0};
	xchg_status rc;

	if ((rc = db_meta(db, e->table, &m, err)))
		return rc;
	to_column(db_column_form(m, "updated_at"), &p[1], at);
	store_uuid_params(uuid, spelled, &p[2]);
	xbuf_printf(&sql, "UPDATE \"%s\" SET is_deleted = ?, updated_at = coalesce(?, updated_at)"
		    " WHERE ", e->table);
	store_uuid_eq_sql(&sql, e->table, "uuid");
	rc = sql.data ? store_run(db->st, sql.data, p, 2 + FORMS_SPELLINGS, NULL, err)
		      : xerr(err, XCHG_ENOMEM, "out of memory");
	xbuf_free(&sql);
	return rc;
}

xchg_status row_json_key_holder(xchg_db *db, const plan_entity *e, const char *uuid,
				const char *const *cols, size_t ncols, const cJSON *data,
				char **holder, xchg_err *err)
{
	table_meta *m;
	store_stmt *st = NULL;
	xvalue *vals = NULL, v;
	xbuf sql = {0};
	size_t i;
	int has_row = 0;
	xchg_status rc;

	*holder = NULL;
	if ((rc = db_meta(db, e->table, &m, err)))
		return rc;
	if (!(vals = calloc(ncols + 1, sizeof(*vals))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	xbuf_printf(&sql, "SELECT uuid FROM \"%s\" WHERE uuid <> ?", m->table);
	vals[0] = xv_text(uuid);
	for (i = 0; i < ncols; i++) {
		const cJSON *item = cJSON_GetObjectItemCaseSensitive(data, cols[i]);
		long c = column_named(m, cols[i], m->ncols);

		/* A key the row does not give in full (or gives as NULL) holds nothing. */
		if (c < 0 || !item || cJSON_IsNull(item))
			goto done;
		if ((rc = json_to_value(item, &vals[i + 1], m->table, cols[i], err)))
			goto done;
		xbuf_printf(&sql, " AND \"%s\" = ?", m->cols[c].name);
	}
	if (!sql.data) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = store_query(db->st, sql.data, vals, (int)ncols + 1, &st, err)) ||
	    (rc = store_step(st, &has_row, err)) || !has_row)
		goto done;
	store_col(st, 0, &v);
	if (v.type == XV_TEXT && !(*holder = strdup(v.s)))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
done:
	store_release(st);
	xbuf_free(&sql);
	free(vals);
	return rc;
}

xchg_status row_json_remove(xchg_db *db, const plan_entity *e, const char *uuid, xchg_err *err)
{
	char spelled[FORMS_SPELLINGS][37];
	xvalue keys[FORMS_SPELLINGS];
	char *sql;
	size_t i;
	xchg_status rc = XCHG_OK;

	if ((rc = refs_leaving(db, e, uuid, err)))
		return rc;
	store_uuid_params(uuid, spelled, keys);
	/* Children first: none may be left pointing at a row that is gone. */
	for (i = 0; i <= e->nchildren && !rc; i++) {
		sql = i < e->nchildren
			      ? xstrdup_printf("DELETE FROM \"%s\" WHERE \"%s\" " STORE_UUID_IN,
					       e->children[i].table, e->children[i].parent_column)
			      : xstrdup_printf("DELETE FROM \"%s\" WHERE uuid " STORE_UUID_IN, e->table);
		if (!sql)
			return xerr(err, XCHG_ENOMEM, "out of memory");
		rc = store_run(db->st, sql, keys, FORMS_SPELLINGS, NULL, err);
		free(sql);
	}
	return rc;
}
