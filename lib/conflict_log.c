/*
 * sync_conflicts, the conflict log: what import writes into it, and what an
 * operator does with it: list, show, restore, dismiss, retry.
 */
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "apply.h"
#include "conflict.h"
#include "db.h"
#include "nodes.h"
#include "row_json.h"

#define CONFLICT_COLUMNS                                                              \
	"c.id, c.entity_type, c.entity_uuid, n.code, c.policy, c.winner, c.losing_origin," \
	" c.local_updated_at, c.remote_updated_at, c.losing_operation, c.losing_version,"  \
	" c.winning_version, c.decided_at, c.status, c.kind, c.reason"                     \
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
	c->kind = text_at(st, 14);
	c->reason = text_at(st, 15);
}

xchg_status conflict_log_add(xchg_db *db, const conflict_entry *c, xchg_err *err)
{
	char now[32];
	xvalue p[14];
	int64_t one = 0;
	int found = 0;
	xchg_status rc;

	/*
	 * A packet repeats what its sender has not seen acknowledged, so a
	 * version may lose again (here, or against another peer's) before its
	 * sender learns that it lost: it stays one open entry.
	 */
	if (c->losing_version) {
		xvalue q[3] = {xv_text(c->entity_type), xv_text(c->entity_uuid),
			       xv_text(c->losing_version)};

		if ((rc = store_int(db->st, "SELECT 1 FROM sync_conflicts WHERE entity_type = ?"
					    " AND entity_uuid = ? AND losing_version = ? AND status = 'open'",
				    q, 3, &one, &found, err)) || found)
			return rc;
	}
	xnow_iso(now);
	p[0] = xv_text(c->entity_type);
	p[1] = xv_text(c->entity_uuid);
	p[2] = xv_text(c->peer_id);
	p[3] = xv_text(c->policy);
	p[4] = xv_text(c->remote_won ? "remote" : "local");
	p[5] = xv_text(c->losing_origin);
	p[6] = xv_text(c->local_updated_at);
	p[7] = xv_text(c->remote_updated_at);
	p[8] = xv_text(c->losing_operation);
	p[9] = xv_text(c->losing_version);
	p[10] = xv_text(c->winning_version);
	p[11] = xv_text(now);
	p[12] = xv_text(c->kind);
	p[13] = xv_text(c->reason);
	return store_run(db->st,
			 "INSERT INTO sync_conflicts (entity_type, entity_uuid, peer_id, policy, winner,"
			 " losing_origin, local_updated_at, remote_updated_at, losing_operation,"
			 " losing_version, winning_version, decided_at, kind, reason)"
			 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 p, 14, NULL, err);
}

xchg_status conflict_log_open(xchg_db *db, const char *peer_id, int64_t *conflicts,
			      int64_t *refused, xchg_err *err)
{
	xvalue p[2] = {xv_text(peer_id), xv_text(CONFLICT_KIND_REFUSED)};
	xchg_status rc;

	*refused = 0;
	if (conflicts && (rc = store_int(db->st, "SELECT count(*) FROM sync_conflicts WHERE peer_id = ?"
						 " AND kind <> ? AND status = 'open'", p, 2, conflicts,
					 NULL, err)))
		return rc;
	return store_int(db->st, "SELECT count(*) FROM sync_conflicts WHERE peer_id = ? AND kind = ?"
				 " AND status = 'open'", p, 2, refused, NULL, err);
}

xchg_status conflict_log_forget(xchg_db *db, const char *peer_id, xchg_err *err)
{
	xvalue p = xv_text(peer_id);

	return store_run(db->st, "DELETE FROM sync_conflicts WHERE peer_id = ?", &p, 1, NULL, err);
}

xchg_status conflict_log_supersede(xchg_db *db, const char *peer_id, const char *type,
				   const char *uuid, const char *keep_version, xchg_err *err)
{
	xvalue p[5] = {xv_text(peer_id), xv_text(type), xv_text(uuid), xv_text(CONFLICT_KIND_REFUSED),
		       xv_text(keep_version)};
	const char *sql = "UPDATE sync_conflicts SET status = 'superseded' WHERE peer_id = ?"
			  " AND entity_type = ? AND entity_uuid = ? AND kind = ? AND status = 'open'";
	char *keeping;
	xchg_status rc;

	if (!keep_version)
		return store_run(db->st, sql, p, 4, NULL, err);
	if (!(keeping = xstrdup_printf("%s AND coalesce(losing_version, '') <> ?", sql)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_run(db->st, keeping, p, 5, NULL, err);
	free(keeping);
	return rc;
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
		if (!v[count - 1].entity_type || !v[count - 1].status || !v[count - 1].kind) {
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

/*
 * What the log shows is safe to show: a losing version and an entity type
 * came in a packet. Only the reports are scrubbed; a restore reads the
 * log itself.
 */
static void shown(xchg_conflict *c)
{
	char *const fields[] = {
		c->kind, c->entity_type, c->entity_uuid, c->peer, c->policy, c->winner,
		c->losing_origin, c->local_updated_at, c->remote_updated_at, c->losing_operation,
		c->losing_version, c->winning_version, c->current_version, c->decided_at,
		c->status, c->reason,
	};
	size_t i;

	for (i = 0; i < sizeof(fields) / sizeof(fields[0]); i++)
		xchg_scrub(fields[i]);
}

xchg_status xchg_conflicts_list(xchg_db *db, xchg_conflict **out, size_t *n, xchg_err *err)
{
	size_t i;
	xchg_status rc = select_conflicts(db, "", NULL, 0, out, n, err);

	for (i = 0; !rc && i < *n; i++)
		shown(&(*out)[i]);
	return rc;
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
	if (!(e = plan_find(db->plan, (*out)->entity_type))) {
		shown(*out); /* the plan no longer has it: nothing current to show */
		return XCHG_OK;
	}
	if ((rc = row_json_read(db, e, (*out)->entity_uuid, &data, &state, err))) {
		xchg_conflicts_free(*out, 1);
		*out = NULL;
		return rc;
	}
	(*out)->current_version = data.len ? xbuf_detach(&data) : NULL;
	xbuf_free(&data);
	shown(*out);
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

/* The entity of c in this node's plan (e may be NULL) and its losing version, NULL for a delete. */
static xchg_status logged_version(xchg_db *db, const xchg_conflict *c, const plan_entity **e,
				  cJSON **data, xchg_err *err)
{
	const plan_entity *found = plan_find(db->plan, c->entity_type);

	if (!found)
		return xerr(err, XCHG_EFAIL, "conflict %lld: entity type %s is no longer in the plan",
			    (long long)c->id, c->entity_type);
	if (e)
		*e = found;
	if (c->losing_version && !(*data = cJSON_Parse(c->losing_version)))
		return xerr(err, XCHG_EDB, "conflict %lld: the logged version is not valid JSON",
			    (long long)c->id);
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

	if ((rc = open_conflict(db, id, &c, err)) || (rc = logged_version(db, c, &e, &data, err)))
		goto done;
	if ((rc = store_begin(db->st, err)))
		goto done;
	in_tx = 1;
	/* Stamped now, so that last-writer-wins sees the restore as the newest edit. */
	xnow_iso(now);
	rc = data ? row_json_apply(db, e, c->entity_uuid, now, data, 0, err)
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

typedef struct retry_job {
	xchg_db *db;
	const xchg_conflict *c;
	const cJSON *data;
	int *applied;
} retry_job;

/* As import applies a row from the peer: no echo to it, routed to the others. */
static xchg_status retry_once(void *ctx, xchg_err *err)
{
	retry_job *job = ctx;
	xchg_db *db = job->db;
	const xchg_conflict *c = job->c;
	env_entity in = {c->entity_type, c->entity_uuid, c->losing_operation, c->remote_updated_at,
			 job->data, 0, 0};
	node_row self = {0}, peer = {0};
	apply_result r;
	int found = 0, in_tx = 0;
	xchg_status rc;

	if ((rc = store_begin(db->st, err)))
		return rc;
	in_tx = 1;
	/* The peer's lock, as an import from it takes: the two never interleave. */
	if ((rc = store_lock(db->st, c->peer, err)) ||
	    (rc = nodes_self_required(db->st, &self, err)) ||
	    (rc = nodes_by_code(db->st, c->peer, &peer, &found, err)))
		goto done;
	if (!found) {
		rc = xerr(err, XCHG_ENOTFOUND, "conflict %lld: peer %s is no longer registered",
			  (long long)c->id, c->peer);
		goto done;
	}
	if ((rc = store_set_origin(db->st, peer.id, err)) ||
	    (rc = apply_entity(db, &self, &peer, &in, APPLY_GUARDED, &r, err)))
		goto done;
	if (r.refused) {
		rc = xerr(err, XCHG_EFAIL, "conflict %lld: %s %s is still refused: %s", (long long)c->id,
			  c->entity_type, c->entity_uuid, r.reason);
		goto done;
	}
	if ((rc = set_status(db, c->id, "resolved", err)) ||
	    (rc = store_set_origin(db->st, NULL, err)) || (rc = store_commit(db->st, err)))
		goto done;
	in_tx = 0;
	*job->applied = r.applied;
done:
	if (in_tx)
		store_rollback(db->st);
	node_row_clear(&self);
	node_row_clear(&peer);
	return rc;
}

xchg_status xchg_conflict_retry(xchg_db *db, int64_t id, int *applied, xchg_err *err)
{
	xchg_conflict *c = NULL;
	cJSON *data = NULL;
	retry_job job = {db, NULL, NULL, applied};
	xchg_status rc;

	*applied = 0;
	if ((rc = open_conflict(db, id, &c, err)))
		goto done;
	if (strcmp(c->kind, CONFLICT_KIND_REFUSED) != 0) {
		rc = xerr(err, XCHG_EFAIL, "conflict %lld: a %s, not a refused row; restore or dismiss it",
			  (long long)id, c->kind);
		goto done;
	}
	if ((rc = logged_version(db, c, NULL, &data, err)))
		goto done;
	job.c = c;
	job.data = data;
	rc = store_retry(db->st, retry_once, &job, err);
done:
	cJSON_Delete(data);
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
		free(v[i].kind);
		free(v[i].reason);
	}
	free(v);
}
