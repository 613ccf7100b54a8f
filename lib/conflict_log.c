/* The conflict log an operator reads: list, show, restore, dismiss. */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "db.h"
#include "row_json.h"

#define CONFLICT_COLUMNS                                                              \
	"c.id, c.entity_type, c.entity_uuid, n.code, c.policy, c.winner, c.losing_origin," \
	" c.local_updated_at, c.remote_updated_at, c.losing_operation, c.losing_version,"  \
	" c.winning_version, c.decided_at, c.status"                                       \
	" FROM sync_conflicts c JOIN sync_nodes n ON n.id = c.peer_id"

static char *text_at(store_stmt *st, int i)
{
	xvalue v;

	store_col(st, i, &v);
	return v.type == XV_TEXT ? strdup(v.s) : NULL;
}

static void read_conflict(store_stmt *st, xchg_conflict *c)
{
	xvalue v;

	memset(c, 0, sizeof(*c));
	store_col(st, 0, &v);
	c->id = v.i;
	c->entity_type = text_at(st, 1);
	c->entity_uuid = text_at(st, 2);
	c->peer = text_at(st, 3);
	c->policy = text_at(st, 4);
	c->winner = text_at(st, 5);
	c->losing_origin = text_at(st, 6);
	c->local_updated_at = text_at(st, 7);
	c->remote_updated_at = text_at(st, 8);
	c->losing_operation = text_at(st, 9);
	c->losing_version = text_at(st, 10);
	c->winning_version = text_at(st, 11);
	c->decided_at = text_at(st, 12);
	c->status = text_at(st, 13);
}

static xchg_status select_conflicts(xchg_db *db, const char *where, const xvalue *params,
				    int nparams, xchg_conflict **out, size_t *n, xchg_err *err)
{
	store_stmt *st = NULL;
	xchg_conflict *v = NULL, *grown;
	size_t count = 0;
	int has_row = 0;
	char *sql;
	xchg_status rc;

	*out = NULL;
	*n = 0;
	if ((rc = db_ready(db, err)))
		return rc;
	if (!(sql = xstrdup_printf("SELECT " CONFLICT_COLUMNS " %s ORDER BY c.id DESC", where)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_query(db->st, sql, params, nparams, &st, err);
	free(sql);
	while (!rc && !(rc = store_step(st, &has_row, err)) && has_row) {
		if (!(grown = realloc(v, (count + 1) * sizeof(*v)))) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
		v = grown;
		read_conflict(st, &v[count++]);
		if (!v[count - 1].entity_type || !v[count - 1].status) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
	}
	store_release(st);
	if (rc) {
		xchg_conflicts_free(v, count);
		return rc;
	}
	*out = v;
	*n = count;
	return XCHG_OK;
}

xchg_status xchg_conflicts_list(xchg_db *db, xchg_conflict **out, size_t *n, xchg_err *err)
{
	return select_conflicts(db, "", NULL, 0, out, n, err);
}

static xchg_status one_conflict(xchg_db *db, int64_t id, xchg_conflict **out, xchg_err *err)
{
	xvalue p = xv_int(id);
	size_t n = 0;
	xchg_status rc;

	if ((rc = select_conflicts(db, "WHERE c.id = ?", &p, 1, out, &n, err)))
		return rc;
	if (n == 0)
		return xerr(err, XCHG_ENOTFOUND, "conflict %lld: no such conflict (see xchg conflicts)",
			    (long long)id);
	return XCHG_OK;
}

xchg_status xchg_conflict_get(xchg_db *db, int64_t id, xchg_conflict **out, xchg_err *err)
{
	const plan_entity *e;
	xbuf data = {0};
	row_state state;
	xchg_status rc;

	if ((rc = one_conflict(db, id, out, err)))
		return rc;
	if (!(e = plan_find(db->plan, (*out)->entity_type)))
		return XCHG_OK; /* the plan no longer has it: nothing current to show */
	if ((rc = row_json_read(db, e, (*out)->entity_uuid, &data, &state, err))) {
		xchg_conflicts_free(*out, 1);
		*out = NULL;
		return rc;
	}
	(*out)->current_version = data.len ? xbuf_detach(&data) : NULL;
	xbuf_free(&data);
	return XCHG_OK;
}

static xchg_status set_status(xchg_db *db, int64_t id, const char *status, xchg_err *err)
{
	xvalue p[2] = {xv_text(status), xv_int(id)};

	return store_run(db->st, "UPDATE sync_conflicts SET status = ? WHERE id = ?", p, 2, NULL, err);
}

/* Only an open conflict changes: restoring twice would write the old version twice. */
static xchg_status open_conflict(xchg_db *db, int64_t id, xchg_conflict **c, xchg_err *err)
{
	xchg_status rc;

	if ((rc = one_conflict(db, id, c, err)))
		return rc;
	if (strcmp((*c)->status, "open") != 0)
		return xerr(err, XCHG_EFAIL, "conflict %lld: already %s", (long long)id, (*c)->status);
	return XCHG_OK;
}

xchg_status xchg_conflict_restore(xchg_db *db, int64_t id, xchg_err *err)
{
	xchg_conflict *c = NULL;
	const plan_entity *e;
	cJSON *data = NULL;
	char now[32];
	int in_tx = 0;
	xchg_status rc;

	if ((rc = open_conflict(db, id, &c, err)))
		goto done;
	if (!(e = plan_find(db->plan, c->entity_type))) {
		rc = xerr(err, XCHG_EFAIL, "conflict %lld: entity type %s is no longer in the plan",
			  (long long)id, c->entity_type);
		goto done;
	}
	if (c->losing_version && !(data = cJSON_Parse(c->losing_version))) {
		rc = xerr(err, XCHG_EDB, "conflict %lld: the logged version is not valid JSON", (long long)id);
		goto done;
	}
	if ((rc = store_begin(db->st, err)))
		goto done;
	in_tx = 1;
	/* Stamped now, so that last-writer-wins sees the restore as the newest edit. */
	xnow_iso(now);
	rc = data ? row_json_apply(db, e, c->entity_uuid, now, data, err)
		  : row_json_delete(db, e, c->entity_uuid, now, err);
	if (rc || (rc = set_status(db, id, "restored", err)) || (rc = store_commit(db->st, err)))
		goto done;
	in_tx = 0;
done:
	if (in_tx)
		store_rollback(db->st);
	cJSON_Delete(data);
	xchg_conflicts_free(c, c ? 1 : 0);
	return rc;
}

xchg_status xchg_conflict_dismiss(xchg_db *db, int64_t id, xchg_err *err)
{
	xchg_conflict *c = NULL;
	xchg_status rc;

	if (!(rc = open_conflict(db, id, &c, err)))
		rc = set_status(db, id, "dismissed", err);
	xchg_conflicts_free(c, c ? 1 : 0);
	return rc;
}

void xchg_conflicts_free(xchg_conflict *v, size_t n)
{
	size_t i;

	for (i = 0; v && i < n; i++) {
		free(v[i].entity_type);
		free(v[i].entity_uuid);
		free(v[i].peer);
		free(v[i].policy);
		free(v[i].winner);
		free(v[i].losing_origin);
		free(v[i].local_updated_at);
		free(v[i].remote_updated_at);
		free(v[i].losing_operation);
		free(v[i].losing_version);
		free(v[i].winning_version);
		free(v[i].current_version);
		free(v[i].decided_at);
		free(v[i].status);
	}
	free(v);
}
