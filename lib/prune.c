#include "prune.h"

#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "row_json.h"

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

static xchg_status consider(void *ctx, const char *uuid, const row_state *state, const char *data,
			    xchg_err *err)
{
	sweep *w = ctx;
	xvalue p[2] = {xv_text(w->e->type), xv_text(uuid)};
	char changed_at[40], **grown;
	int64_t seen = 0;
	int mine = 0;
	xchg_status rc;

	(void)data;
	if (state->is_deleted)
		return XCHG_OK;
	if ((rc = store_int(w->db->st, "SELECT count(*) FROM xchg_full_seen WHERE entity_type = ?"
				       " AND entity_uuid = ?", p, 2, &seen, NULL, err)) || seen ||
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

xchg_status prune_rest(xchg_db *db, const node_row *center, int64_t *pruned, xchg_err *err)
{
	sweep w = {.db = db, .center = center};
	size_t i, k;
	xchg_status rc = XCHG_OK;

	*pruned = 0;
	for (i = 0; i < db->plan->nentities && !rc; i++) {
		w.e = &db->plan->entities[i];
		w.n = 0;
		rc = row_json_each(db, w.e, NULL, consider, &w, err);
		for (k = 0; k < w.n; k++) {
			if (!rc && !(rc = row_json_remove(db, w.e, w.gone[k], err)))
				(*pruned)++;
			free(w.gone[k]);
		}
	}
	free(w.gone);
	return rc;
}
