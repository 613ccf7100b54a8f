#include "changes.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

xchg_status changes_purge(store *s, const char *peer_id, int64_t ack, xchg_err *err)
{
	xvalue p[2] = {xv_text(peer_id), xv_int(ack)};

	/* A registration changed again after it was sent has packet_no NULL
	 * (the triggers clear it) and survives: the newer version is unsent. */
	return store_run(s, "DELETE FROM sync_changes WHERE node_id = ? AND packet_no <= ?",
			 p, 2, NULL, err);
}

xchg_status changes_forget(store *s, const char *peer_id, xchg_err *err)
{
	xvalue p = xv_text(peer_id);

	return store_run(s, "DELETE FROM sync_changes WHERE node_id = ?", &p, 1, NULL, err);
}

xchg_status changes_unsend(store *s, const char *peer_id, xchg_err *err)
{
	xvalue p = xv_text(peer_id);

	return store_run(s, "UPDATE sync_changes SET packet_no = NULL WHERE node_id = ?", &p, 1, NULL, err);
}

xchg_status changes_collapse_capped(store *s, xchg_err *err)
{
	return store_run(s, "DELETE FROM sync_changes WHERE operation <> 'DELETE' AND node_id IN"
			    " (SELECT id FROM sync_nodes WHERE max_queue > 0 AND full_state_no = 0)",
			 NULL, 0, NULL, err);
}

/*
 * The registrations of an entity (or entities) for a peer, in column col:
 * parameters the peer, the type, the uuid(s) (uuid_pred's), the type, the
 * uuid(s), the peer. A change an application committed after the last
 * routing is in the capture log still: it counts as registered for every
 * peer but the one it came from, as routing will make it.
 */
#define REGISTERED_SQL(col, uuid_pred)                                                  \
	"SELECT " col " FROM sync_changes WHERE node_id = ? AND entity_type = ?"         \
	" AND entity_uuid " uuid_pred " UNION ALL SELECT " col " FROM sync_capture"       \
	" WHERE entity_type = ? AND entity_uuid " uuid_pred                              \
	" AND (origin_id IS NULL OR origin_id <> ?)"

xchg_status changes_find(store *s, const char *peer_id, const char *type,
			 const char *uuid, int *found, char changed_at[40], xchg_err *err)
{
	xvalue p[6] = {xv_text(peer_id), xv_text(type), xv_text(uuid),
		       xv_text(type), xv_text(uuid), xv_text(peer_id)}, v;
	store_stmt *st = NULL;
	int has_row = 0;
	xchg_status rc;

	changed_at[0] = '\0';
	*found = 0;
	/* An aggregate, not ORDER BY: SQLite would sort in a temporary table for every entity. */
	if ((rc = store_query(s, "SELECT count(*), max(changed_at) FROM ("
				 REGISTERED_SQL("changed_at", "= ?") ") f", p, 6, &st, err)))
		return rc;
	if (!(rc = store_step(st, &has_row, err)) && has_row) {
		store_col(st, 0, &v);
		*found = v.type == XV_INT && v.i > 0;
		store_col(st, 1, &v);
		if (v.type == XV_TEXT)
			snprintf(changed_at, 40, "%s", v.s);
	}
	store_release(st);
	return rc;
}

xchg_status changes_find_many(store *s, const char *peer_id, const char *type,
			      const char *const *uuids, size_t n, unsigned char *found,
			      xchg_err *err)
{
	xvalue *p = NULL, v;
	store_stmt *st = NULL;
	xbuf in = {0}, sql = {0};
	size_t i, k, m;
	int has_row = 0;
	xchg_status rc = XCHG_OK;

	memset(found, 0, n);
	if (!(p = calloc(2 * STORE_UUIDS_PER_QUERY + 4, sizeof(*p))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	for (i = 0; i < n && !rc; i += m) {
		m = n - i < STORE_UUIDS_PER_QUERY ? n - i : STORE_UUIDS_PER_QUERY;
		xbuf_reset(&in);
		xbuf_reset(&sql);
		store_params_sql(&in, m);
		if (!in.data)
			break;
		/* Few rows come back, if any: a packet's new rows have no registrations. */
		xbuf_printf(&sql, REGISTERED_SQL("entity_uuid", "IN (%s)"), in.data, in.data);
		p[0] = p[2 * m + 3] = xv_text(peer_id);
		p[1] = p[m + 2] = xv_text(type);
		for (k = 0; k < m; k++)
			p[2 + k] = p[m + 3 + k] = xv_text(uuids[i + k]);
		if (!sql.data || (rc = store_query(s, sql.data, p, (int)(2 * m + 4), &st, err)))
			break;
		while (!(rc = store_step(st, &has_row, err)) && has_row) {
			store_col(st, 0, &v);
			for (k = 0; v.type == XV_TEXT && k < m; k++)
				if (strcmp(v.s, uuids[i + k]) == 0)
					found[i + k] = 1;
		}
		store_release(st);
		st = NULL;
	}
	if (!rc && i < n)
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	xbuf_free(&in);
	xbuf_free(&sql);
	free(p);
	return rc;
}

xchg_status changes_drop(store *s, const char *peer_id, const char *type,
			 const char *uuid, xchg_err *err)
{
	xvalue p[3] = {xv_text(peer_id), xv_text(type), xv_text(uuid)};

	return store_run(s, "DELETE FROM sync_changes WHERE node_id = ? AND entity_type = ?"
			    " AND entity_uuid = ?", p, 3, NULL, err);
}

xchg_status changes_requeue(store *s, const char *peer_id, const char *type,
			    const char *uuid, const char *operation, xchg_err *err)
{
	char now[32];
	xvalue p[5];

	xnow_iso(now);
	p[0] = xv_text(peer_id);
	p[1] = xv_text(type);
	p[2] = xv_text(uuid);
	p[3] = xv_text(operation);
	p[4] = xv_text(now);
	return store_run(s, "INSERT INTO sync_changes (node_id, entity_type, entity_uuid, operation,"
			    " changed_at) VALUES (?, ?, ?, ?, ?)"
			    " ON CONFLICT (node_id, entity_type, entity_uuid) DO UPDATE SET"
			    " operation = excluded.operation, packet_no = NULL,"
			    " changed_at = excluded.changed_at",
			 p, 5, NULL, err);
}

xchg_status changes_count(store *s, const char *peer_id, int64_t *unsent, int64_t *unacked,
			  xchg_err *err)
{
	xvalue p[5] = {xv_text(peer_id), xv_text(peer_id), xv_text(peer_id), xv_text(peer_id),
		       xv_text(peer_id)};
	xchg_status rc;

	/*
	 * What routing would add counts too, as far as the captures tell: nothing
	 * that reads it need route first.
	 */
	*unsent = *unacked = 0;
	if ((rc = store_int(s, "SELECT (SELECT count(*) FROM sync_changes WHERE node_id = ?"
			       " AND packet_no IS NULL)"
			       " + (SELECT count(*) FROM (SELECT DISTINCT entity_type, entity_uuid"
			       " FROM sync_capture c WHERE (c.origin_id IS NULL OR c.origin_id <> ?)"
			       " AND " SUBSET_COVERS("?", "c.subset")
			       " AND NOT EXISTS (SELECT 1 FROM sync_changes r WHERE r.node_id = ?"
			       " AND r.entity_type = c.entity_type AND r.entity_uuid = c.entity_uuid"
			       " AND r.packet_no IS NULL)) u)", p, 5, unsent, NULL, err)))
		return rc;
	return store_int(s, "SELECT count(*) FROM sync_changes WHERE node_id = ? AND packet_no IS NOT NULL",
			 p, 1, unacked, NULL, err);
}

xchg_status changes_take(store *s, const char *peer_id, const char *type,
			 int64_t packet_no, store_stmt **out, xchg_err *err)
{
	xvalue p[3] = {xv_int(packet_no), xv_text(peer_id), xv_text(type)};

	return store_query(s, "UPDATE sync_changes SET packet_no = ? WHERE node_id = ? AND entity_type = ?"
			      " RETURNING entity_uuid, operation, changed_at", p, 3, out, err);
}

xchg_status changes_take_all(store *s, const char *peer_id, int64_t packet_no, xchg_err *err)
{
	xvalue p[2] = {xv_int(packet_no), xv_text(peer_id)};

	return store_run(s, "UPDATE sync_changes SET packet_no = ? WHERE node_id = ?", p, 2, NULL, err);
}

xchg_status changes_deletions(store *s, const char *peer_id, const char *type,
			      int64_t packet_no, store_stmt **out, xchg_err *err)
{
	xvalue p[3] = {xv_text(peer_id), xv_text(type), xv_int(packet_no)};

	return store_query(s, "SELECT entity_uuid, changed_at, operation FROM sync_changes"
			      " WHERE node_id = ? AND entity_type = ? AND packet_no = ?"
			      " AND operation IN ('DELETE', 'EVICT')", p, 3, out, err);
}
