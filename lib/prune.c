#include "prune.h"

#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "row_json.h"

xchg_status prune_needed(xchg_db *db, int *needed, xchg_err *err)
{
	int64_t any = 0;
	size_t i;
	char *sql;
	xchg_status rc = XCHG_OK;

	*needed = 0;
	for (i = 0; i < db->plan->nentities && !rc && !*needed; i++) {
		if (!(sql = xstrdup_printf("SELECT count(*) FROM (SELECT 1 FROM \"%s\" LIMIT 1) t",
					   db->plan->entities[i].table)))
			return xerr(err, XCHG_ENOMEM, "out of memory");
		if (!(rc = store_int(db->st, sql, NULL, 0, &any, NULL, err)))
			*needed = any > 0;
		free(sql);
	}
	return rc;
}

/* A temporary table: a full state may carry millions of rows, and memory stays flat. */
xchg_status prune_begin(store *s, xchg_err *err)
{
	xchg_status rc;

	if ((rc = store_run(s, "CREATE TEMP TABLE IF NOT EXISTS xchg_full_seen (entity_type TEXT NOT NULL,"
			       " entity_uuid TEXT NOT NULL, PRIMARY KEY (entity_type, entity_uuid))",
			    NULL, 0, NULL, err)))
		return rc;
	return store_run(s, "DELETE FROM xchg_full_seen", NULL, 0, NULL, err);
}

xchg_status prune_seen(store *s, const char *type, const char *uuid, xchg_err *err)
{
	xvalue p[2] = {xv_text(type), xv_text(uuid)};

	return store_run(s, "INSERT INTO xchg_full_seen (entity_type, entity_uuid) VALUES (?, ?)"
			    " ON CONFLICT DO NOTHING", p, 2, NULL, err);
}

typedef struct sweep {
	xchg_db *db;
	const node_row *center;
	const plan_entity *e;
	char **gone;   /* uuids to delete once the reading is over */
	size_t n, cap;
} sweep;

/*
 * uuid (canonical) is not in the full state: it goes unless it is deleted
 * already or this node's own change on its way to the center.
 */
static xchg_status consider(sweep *w, const char *uuid, xchg_err *err)
{
	char changed_at[40], **grown;
	row_state state;
	int mine = 0;
	xchg_status rc;

	if ((rc = row_json_read(w->db, w->e, uuid, NULL, &state, err)) || !state.found ||
	    state.is_deleted ||
	    (rc = changes_find(w->db->st, w->center->id, w->e->type, uuid, &mine, changed_at, err)) ||
	    mine)
		return rc;
	if (w->n == w->cap) {
		w->cap = w->cap ? 2 * w->cap : 16;
		if (!(grown = realloc(w->gone, w->cap * sizeof(*grown))))
			return xerr(err, XCHG_ENOMEM, "out of memory");
		w->gone = grown;
	}
	if (!(w->gone[w->n] = strdup(uuid)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	w->n++;
	return XCHG_OK;
}

/*
 * The rows of e the full state did not carry, found by one statement:
 * after a full state that is most often none, and reading every row to
 * learn it would cost as much as the import.
 */
static xchg_status sweep_entity(sweep *w, xchg_err *err)
{
	xvalue p[1] = {xv_text(w->e->type)}, uuid;
	store_stmt *st = NULL;
	xbuf sql = {0}, canonical = {0};
	int has_row = 0;
	xchg_status rc;

	store_canonical_sql(w->db->st, &canonical, FORM_UUID, "t.uuid");
	xbuf_printf(&sql, "SELECT %s FROM \"%s\" t WHERE t.uuid IS NOT NULL AND NOT EXISTS"
		    " (SELECT 1 FROM xchg_full_seen s WHERE s.entity_type = ? AND s.entity_uuid = %s)",
		    canonical.data ? canonical.data : "", w->e->table,
		    canonical.data ? canonical.data : "");
	if (!sql.data || !canonical.data)
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	else
		rc = store_query(w->db->st, sql.data, p, 1, &st, err);
	while (!rc && !(rc = store_step(st, &has_row, err)) && has_row) {
		store_col(st, 0, &uuid);
		if (uuid.type == XV_TEXT)
			rc = consider(w, uuid.s, err);
	}
	store_release(st);
	xbuf_free(&sql);
	xbuf_free(&canonical);
	return rc;
}

xchg_status prune_rest(xchg_db *db, const node_row *center, int64_t *pruned, xchg_err *err)
{
	sweep w = {.db = db, .center = center};
	size_t i, k;
	xchg_status rc = XCHG_OK;

	*pruned = 0;
	for (i = 0; i < db->plan->nentities && !rc; i++) {
		w.e = &db->plan->entities[i];
		w.n = 0;
		rc = sweep_entity(&w, err);
		for (k = 0; k < w.n; k++) {
			if (!rc && !(rc = row_json_remove(db, w.e, w.gone[k], err)))
				(*pruned)++;
			free(w.gone[k]);
		}
	}
	free(w.gone);
	return rc;
}
