#include "store.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

/* Whether url names a PostgreSQL database rather than a SQLite file. */
static int url_is_pg(const char *url)
{
	return strncmp(url, "postgresql:", 11) == 0 || strncmp(url, "postgres:", 9) == 0;
}

/* A PostgreSQL database must exist already: it is the web application's. */
xchg_status store_open(store **out, const char *url, int create, xchg_err *err)
{
	*out = NULL;
	if (url_is_pg(url))
		return store_pg_open(out, url, err);
	if (strncmp(url, "sqlite:", 7) == 0)
		url += 7;
	if (!url[0])
		return xerr(err, XCHG_EUSAGE, "database URL names no file");
	return store_sqlite_open(out, url, create, err);
}

void store_default_key(store *s, char **path, char **name)
{
	*path = *name = NULL;
	s->ops->default_key(s, path, name);
}

void store_close(store *s)
{
	if (s)
		s->ops->close(s);
}

xchg_status store_begin(store *s, xchg_err *err) { return s->ops->exec(s, s->ops->begin_sql, err); }
xchg_status store_commit(store *s, xchg_err *err) { return s->ops->exec(s, "COMMIT", err); }
void store_rollback(store *s) { s->ops->rollback(s); }

xchg_status store_savepoint(store *s, xchg_err *err)
{
	return s->ops->exec(s, "SAVEPOINT xchg_row", err);
}

xchg_status store_savepoint_release(store *s, xchg_err *err)
{
	return s->ops->exec(s, "RELEASE SAVEPOINT xchg_row", err);
}

xchg_status store_savepoint_undo(store *s, xchg_err *err)
{
	return s->ops->exec(s, "ROLLBACK TO SAVEPOINT xchg_row", err);
}

store_fault store_last_fault(store *s, const char **message)
{
	const char *ignored;

	return s->ops->fault(s, message ? message : &ignored);
}

xchg_status store_query(store *s, const char *sql, const xvalue *params,
			int nparams, store_stmt **out, xchg_err *err)
{
	return s->ops->query(s, sql, params, nparams, out, err);
}

xchg_status store_step(store_stmt *st, int *has_row, xchg_err *err)
{
	return st->owner->ops->step(st, has_row, err);
}

int store_ncols(store_stmt *st) { return st->owner->ops->ncols(st); }
void store_col(store_stmt *st, int i, xvalue *out) { st->owner->ops->col(st, i, out); }
const char *store_colname(store_stmt *st, int i) { return st->owner->ops->colname(st, i); }

void store_release(store_stmt *st)
{
	if (st)
		st->owner->ops->release(st);
}

xchg_status store_run(store *s, const char *sql, const xvalue *params,
		      int nparams, int64_t *changed, xchg_err *err)
{
	store_stmt *st = NULL;
	int has_row = 1;
	xchg_status rc;

	if ((rc = store_query(s, sql, params, nparams, &st, err)))
		return rc;
	while (has_row && !(rc = store_step(st, &has_row, err)))
		;
	store_release(st);
	if (!rc && changed)
		*changed = s->ops->changes(s);
	return rc;
}

xchg_status store_int(store *s, const char *sql, const xvalue *params,
		      int nparams, int64_t *out, int *found, xchg_err *err)
{
	store_stmt *st = NULL;
	int has_row = 0;
	xvalue v;
	xchg_status rc;

	if ((rc = store_query(s, sql, params, nparams, &st, err)))
		return rc;
	if (!(rc = store_step(st, &has_row, err)) && has_row) {
		store_col(st, 0, &v);
		*out = v.type == XV_INT || v.type == XV_BOOL ? v.i : 0;
	}
	if (found)
		*found = has_row;
	store_release(st);
	return rc;
}

xchg_status store_table_exists(store *s, const char *table, int *exists, xchg_err *err)
{
	xvalue p = xv_text(table);
	int64_t one = 0;

	return store_int(s, s->ops->table_exists_sql, &p, 1, &one, exists, err);
}

xchg_status store_columns(store *s, const char *table, store_column **out,
			  size_t *n, xchg_err *err)
{
	store_stmt *st = NULL;
	store_column *cols = NULL, *grown;
	size_t count = 0;
	int has_row = 0;
	xvalue p = xv_text(table), v;
	xchg_status rc;

	*out = NULL;
	*n = 0;
	if ((rc = store_query(s, s->ops->columns_sql, &p, 1, &st, err)))
		return rc;
	while (!(rc = store_step(st, &has_row, err)) && has_row) {
		if (!(grown = realloc(cols, (count + 1) * sizeof(*cols)))) {
			rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", s->name);
			break;
		}
		cols = grown;
		memset(&cols[count], 0, sizeof(*cols));
		store_col(st, 0, &v);
		cols[count].name = xstrdup(v.s);
		store_col(st, 1, &v);
		cols[count].decl_type = xstrdup(v.type == XV_TEXT ? v.s : "");
		store_col(st, 2, &v);
		cols[count].is_pk = v.i != 0;
		count++;
		if (!cols[count - 1].name || !cols[count - 1].decl_type) {
			rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", s->name);
			break;
		}
	}
	store_release(st);
	if (rc) {
		store_columns_free(cols, count);
		return rc;
	}
	*out = cols;
	*n = count;
	return XCHG_OK;
}

void store_columns_free(store_column *cols, size_t n)
{
	size_t i;

	for (i = 0; cols && i < n; i++) {
		free(cols[i].name);
		free(cols[i].decl_type);
	}
	free(cols);
}

int store_has_column(const store_column *cols, size_t n, const char *name)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (strcmp(cols[i].name, name) == 0)
			return 1;
	return 0;
}

/* Appends a copy of text to a growing array of strings. */
static int push_text(char ***v, size_t *n, const char *text)
{
	char **grown = realloc(*v, (*n + 1) * sizeof(**v));

	if (!grown)
		return -1;
	*v = grown;
	if (!(grown[*n] = strdup(text)))
		return -1;
	(*n)++;
	return 0;
}

xchg_status store_unique_keys(store *s, const char *table, store_key **out, size_t *n,
			      xchg_err *err)
{
	store_stmt *st = NULL;
	store_key *keys = NULL, *grown;
	size_t count = 0;
	int has_row = 0;
	xvalue p = xv_text(table), name, col;
	xchg_status rc;

	*out = NULL;
	*n = 0;
	if ((rc = store_query(s, s->ops->unique_keys_sql, &p, 1, &st, err)))
		return rc;
	while (!(rc = store_step(st, &has_row, err)) && has_row) {
		store_col(st, 0, &name);
		store_col(st, 1, &col);
		if (name.type != XV_TEXT || col.type != XV_TEXT)
			continue;
		/* Rows come ordered by key: a new name starts the next key. */
		if (!count || strcmp(keys[count - 1].name, name.s) != 0) {
			if (!(grown = realloc(keys, (count + 1) * sizeof(*keys)))) {
				rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", s->name);
				break;
			}
			keys = grown;
			memset(&keys[count], 0, sizeof(*keys));
			if (!(keys[count++].name = strdup(name.s))) {
				rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", s->name);
				break;
			}
		}
		if (push_text(&keys[count - 1].cols, &keys[count - 1].ncols, col.s)) {
			rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", s->name);
			break;
		}
	}
	store_release(st);
	if (rc) {
		store_keys_free(keys, count);
		return rc;
	}
	*out = keys;
	*n = count;
	return XCHG_OK;
}

void store_keys_free(store_key *keys, size_t n)
{
	size_t i, j;

	for (i = 0; keys && i < n; i++) {
		for (j = 0; j < keys[i].ncols; j++)
			free(keys[i].cols[j]);
		free(keys[i].cols);
		free(keys[i].name);
	}
	free(keys);
}

xchg_status store_create_schema(store *s, xchg_err *err)
{
	return s->ops->exec(s, s->ops->schema_sql, err);
}

static xchg_status run_script(store *s, xbuf *script, xchg_err *err)
{
	xchg_status rc;

	if (!script->data)
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", s->name);
	rc = s->ops->exec(s, script->data, err);
	xbuf_free(script);
	return rc;
}

form_kind store_native_kind(store *s, const char *decl_type)
{
	return s->ops->native_kind(decl_type);
}

void store_canonical_sql(store *s, xbuf *b, form_kind kind, const char *x)
{
	s->ops->canonical_sql(b, kind, x);
}

xchg_status store_prepare_table(store *s, const char *table,
				const char *parent_column, xchg_err *err)
{
	store_column *cols = NULL;
	size_t n = 0;
	xbuf sql = {0};
	xchg_status rc;

	if ((rc = store_columns(s, table, &cols, &n, err)))
		return rc;
	if (n == 0)
		rc = xerr(err, XCHG_EDB, "%s: table \"%s\" named in the plan does not exist",
			  s->name, table);
	else if (parent_column && !store_has_column(cols, n, parent_column))
		rc = xerr(err, XCHG_EDB, "%s: table \"%s\" has no column \"%s\" (its parent_column)",
			  s->name, table, parent_column);
	if (!rc && (!store_has_column(cols, n, "uuid") || !store_has_column(cols, n, "updated_at") ||
		    !store_has_column(cols, n, "is_deleted"))) {
		s->ops->sync_columns_sql(&sql, table, cols, n);
		rc = run_script(s, &sql, err);
	}
	store_columns_free(cols, n);
	return rc;
}

xchg_status store_fill_table(store *s, const char *table, const char *parent_column,
			     const sync_forms *f, xchg_err *err)
{
	xbuf sql = {0};

	s->ops->fill_sql(&sql, table, parent_column, f);
	return run_script(s, &sql, err);
}

xchg_status store_install_triggers(store *s, const plan *p, const sync_forms *forms,
				   xchg_err *err)
{
	xbuf sql = {0};
	size_t i, j, k = 0;

	for (i = 0; i < p->nentities; i++) {
		const plan_entity *e = &p->entities[i];
		const sync_forms *own = &forms[k++];
		store_capture c = {e->table, e->type, NULL, e->subset_column, NULL, own, NULL, &e->refs};

		s->ops->triggers_sql(&sql, &c);
		for (j = 0; j < e->nchildren; j++) {
			store_capture child = {e->children[j].table, e->type, e->children[j].parent_column,
					       e->subset_column, e->table, &forms[k++], own,
					       &e->children[j].refs};

			s->ops->triggers_sql(&sql, &child);
		}
	}
	return run_script(s, &sql, err);
}

void store_uuid_eq_sql(xbuf *b, const char *table, const char *column)
{
	size_t i;

	xbuf_printf(b, "\"%s\" = (", column);
	for (i = 0; i < FORMS_SPELLINGS; i++)
		xbuf_printf(b, "%sSELECT \"%s\" FROM \"%s\" WHERE \"%s\" = ?", i ? " UNION ALL " : "",
			    column, table, column);
	xbuf_adds(b, " LIMIT 1)");
}

void store_uuid_params(const char *uuid, char buf[FORMS_SPELLINGS][37],
		       xvalue out[FORMS_SPELLINGS])
{
	const char *spelled[FORMS_SPELLINGS];
	size_t i;

	forms_uuid_spellings(uuid, buf, spelled);
	for (i = 0; i < FORMS_SPELLINGS; i++)
		out[i] = xv_text(spelled[i]);
}

size_t store_uuid_keys(const col_form *form, const char *const *uuids, size_t n,
		       char (*spelled)[FORMS_SPELLINGS][37], xvalue *keys)
{
	size_t i;

	for (i = 0; i < n; i++) {
		if (form)
			keys[i] = xv_text(forms_for_column(form, uuids[i], spelled[i][0]));
		else
			store_uuid_params(uuids[i], spelled[i], &keys[i * FORMS_SPELLINGS]);
	}
	return form ? 1 : FORMS_SPELLINGS;
}

xchg_status store_set_origin(store *s, const char *node_id, xchg_err *err)
{
	return s->ops->set_origin(s, node_id, err);
}

xchg_status store_lock(store *s, const char *name, xchg_err *err)
{
	return s->ops->lock(s, name, err);
}

xchg_status store_lock_rows(store *s, const char *table, const char *column,
			    const char *value, xchg_err *err)
{
	char spelled[FORMS_SPELLINGS][37], *sql;
	xvalue keys[FORMS_SPELLINGS];
	xchg_status rc;

	if (!s->ops->lock_rows_suffix)
		return XCHG_OK;
	store_uuid_params(value, spelled, keys);
	if (!(sql = xstrdup_printf("SELECT 1 FROM \"%s\" WHERE \"%s\" " STORE_UUID_IN "%s", table,
				   column, s->ops->lock_rows_suffix)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_run(s, sql, keys, FORMS_SPELLINGS, NULL, err);
	free(sql);
	return rc;
}

static int uuid_order(const void *a, const void *b)
{
	return strcmp(**(const char *const *const *)a, **(const char *const *const *)b);
}

void store_uuid_index(const char *const *uuids, size_t n, const char *const **sorted)
{
	size_t i;

	for (i = 0; i < n; i++)
		sorted[i] = &uuids[i];
	qsort(sorted, n, sizeof(*sorted), uuid_order);
}

long store_uuid_index_find(const char *value, const char *const *uuids,
			   const char *const *const *sorted, size_t n)
{
	char canonical[37];
	const char *key = canonical, *const *hit = &key;
	const char *const *const *found;

	if (!forms_uuid_parse(value, canonical, NULL) ||
	    !(found = bsearch(&hit, sorted, n, sizeof(*sorted), uuid_order)))
		return -1;
	return (long)(*found - uuids);
}

void store_params_sql(xbuf *b, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		xbuf_adds(b, i ? ", ?" : "?");
}

xchg_status store_table_empty(store *s, const char *table, int *empty, xchg_err *err)
{
	char *sql = xstrdup_printf("SELECT count(*) FROM (SELECT 1 FROM \"%s\" LIMIT 1) t", table);
	int64_t rows = 0;
	xchg_status rc;

	if (!sql)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_int(s, sql, NULL, 0, &rows, NULL, err);
	free(sql);
	*empty = rows == 0;
	return rc;
}

xchg_status store_uuids_held(store *s, const char *table, const char *column,
			     const col_form *form, const char *const *uuids, size_t n,
			     unsigned char *held, xchg_err *err)
{
	char (*spelled)[FORMS_SPELLINGS][37] = NULL;
	const char *const **sorted = NULL;
	xvalue *keys = NULL, v;
	store_stmt *st = NULL;
	xbuf sql = {0};
	size_t i, m, per;
	long at;
	int has_row = 0;
	xchg_status rc = XCHG_OK;

	memset(held, 0, n);
	if (!(spelled = calloc(STORE_UUIDS_PER_QUERY, sizeof(*spelled))) ||
	    !(keys = calloc(STORE_UUIDS_PER_QUERY * FORMS_SPELLINGS, sizeof(*keys))) ||
	    !(sorted = calloc(STORE_UUIDS_PER_QUERY, sizeof(*sorted)))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n && !rc; i += m) {
		m = n - i < STORE_UUIDS_PER_QUERY ? n - i : STORE_UUIDS_PER_QUERY;
		per = store_uuid_keys(form, &uuids[i], m, spelled, keys);
		xbuf_reset(&sql);
		xbuf_printf(&sql, "SELECT \"%s\" FROM \"%s\" WHERE \"%s\" IN (", column, table, column);
		store_params_sql(&sql, m * per);
		xbuf_printf(&sql, ")%s", s->ops->lock_rows_suffix ? s->ops->lock_rows_suffix : "");
		if (!sql.data) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
		store_uuid_index(&uuids[i], m, sorted);
		if ((rc = store_query(s, sql.data, keys, (int)(m * per), &st, err)))
			break;
		while (!(rc = store_step(st, &has_row, err)) && has_row) {
			store_col(st, 0, &v);
			if (v.type == XV_TEXT && (at = store_uuid_index_find(v.s, &uuids[i], sorted, m)) >= 0)
				held[i + (size_t)at] = 1;
		}
		store_release(st);
		st = NULL;
	}
done:
	xbuf_free(&sql);
	free(sorted);
	free(keys);
	free(spelled);
	return rc;
}

xchg_status store_lock_table(store *s, const char *table, xchg_err *err)
{
	char *sql;
	xchg_status rc;

	if (!s->ops->lock_table_sql)
		return XCHG_OK;
	if (!(sql = xstrdup_printf(s->ops->lock_table_sql, table)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_run(s, sql, NULL, 0, NULL, err);
	free(sql);
	return rc;
}

#define STORE_RETRIES 6

xchg_status store_retry(store *s, xchg_status (*fn)(void *ctx, xchg_err *err),
			void *ctx, xchg_err *err)
{
	struct timespec pause = {0, 50 * 1000 * 1000};
	xchg_status rc;
	int attempt;

	for (attempt = 1;; attempt++) {
		rc = fn(ctx, err);
		if (rc != XCHG_EDB || !s->ops->retryable(s) || attempt == STORE_RETRIES)
			return rc;
		nanosleep(&pause, NULL);
		pause.tv_nsec *= 2;
	}
}

xchg_status store_try_run_lock(store *s, const char *name, int *held, xchg_err *err)
{
	return s->ops->try_run_lock(s, name, held, err);
}

void store_run_unlock(store *s, const char *name)
{
	s->ops->run_unlock(s, name);
}

xchg_status store_revive(store *s, xchg_err *err)
{
	return s->ops->revive ? s->ops->revive(s, err) : XCHG_OK;
}

xchg_status store_capture_hold(store *s, xchg_err *err)
{
	return s->ops->capture_hold ? s->ops->capture_hold(s, err) : XCHG_OK;
}

xchg_status store_capture_inserted(store *s, const char *type, const char *table,
				   const char *subset_column, const col_form *form,
				   const char *const *uuids, size_t n, xchg_err *err)
{
	if (!s->ops->capture_inserted || !n)
		return XCHG_OK;
	return s->ops->capture_inserted(s, type, table, subset_column, form, uuids, n, err);
}
