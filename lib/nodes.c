#include "nodes.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "changes.h"
#include "conflict.h"
#include "db.h"
#include "keys.h"
#include "route.h"
#include "subsets.h"

#define NODE_COLUMNS                                                          \
	"id, code, name, role, public_key, is_self, sent_packet_no,"          \
	" acked_packet_no, received_packet_no, last_sync_in, last_sync_out," \
	" key_chain, revoked_at, full_state_no, link_dir, late_after, applied," \
	" added_at, problem_packet, problem_kind, problem_reason, problem_at," \
	" received_created_at, wants_full_state, recovering, max_queue"

static char *col_text(store_stmt *st, int i)
{
	xvalue v;

	store_col(st, i, &v);
	return v.type == XV_TEXT ? strdup(v.s) : NULL;
}

static int64_t col_int(store_stmt *st, int i)
{
	xvalue v;

	store_col(st, i, &v);
	return v.type == XV_INT || v.type == XV_BOOL ? v.i : 0;
}

static xchg_status read_row(store_stmt *st, node_row *n, xchg_err *err)
{
	xvalue full;

	memset(n, 0, sizeof(*n));
	n->id = col_text(st, 0);
	n->code = col_text(st, 1);
	n->name = col_text(st, 2);
	n->role = col_text(st, 3);
	n->public_key = col_text(st, 4);
	n->is_self = col_int(st, 5) != 0;
	n->sent_packet_no = col_int(st, 6);
	n->acked_packet_no = col_int(st, 7);
	n->received_packet_no = col_int(st, 8);
	n->last_sync_in = col_text(st, 9);
	n->last_sync_out = col_text(st, 10);
	n->key_chain = col_text(st, 11);
	n->revoked_at = col_text(st, 12);
	store_col(st, 13, &full);
	n->full_state = full.type == XV_INT ? full.i : NODE_FULL_NONE;
	n->link_dir = col_text(st, 14);
	n->late_after = col_int(st, 15);
	n->applied = col_text(st, 16);
	n->added_at = col_text(st, 17);
	n->problem.packet = col_text(st, 18);
	n->problem.kind = col_text(st, 19);
	n->problem.reason = col_text(st, 20);
	n->problem.at = col_text(st, 21);
	n->received_created_at = col_text(st, 22);
	n->wants_full_state = col_int(st, 23) != 0;
	n->recovering = col_text(st, 24);
	n->max_queue = col_int(st, 25);
	if (!n->id || !n->code || !n->role) {
		node_row_clear(n);
		return xerr(err, XCHG_ENOMEM, "sync_nodes: out of memory or a row without id, code or role");
	}
	return XCHG_OK;
}

static xchg_status select_rows(store *s, const char *where, const xvalue *params,
			       int nparams, node_row **out, size_t *n, xchg_err *err)
{
	store_stmt *st = NULL;
	node_row *rows = NULL, *grown;
	size_t count = 0;
	int has_row = 0;
	char *sql;
	xchg_status rc;

	*out = NULL;
	*n = 0;
	if (!(sql = xstrdup_printf("SELECT " NODE_COLUMNS " FROM sync_nodes WHERE %s ORDER BY code", where)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_query(s, sql, params, nparams, &st, err);
	free(sql);
	while (!rc && !(rc = store_step(st, &has_row, err)) && has_row) {
		if (!(grown = realloc(rows, (count + 1) * sizeof(*rows)))) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
		rows = grown;
		if (!(rc = read_row(st, &rows[count], err)))
			count++;
	}
	store_release(st);
	if (rc) {
		node_rows_free(rows, count);
		return rc;
	}
	*out = rows;
	*n = count;
	return XCHG_OK;
}

static xchg_status select_one(store *s, const char *where, const xvalue *params,
			      int nparams, node_row *out, int *found, xchg_err *err)
{
	node_row *rows = NULL;
	size_t n = 0;
	xchg_status rc;

	memset(out, 0, sizeof(*out));
	if ((rc = select_rows(s, where, params, nparams, &rows, &n, err)))
		return rc;
	*found = n > 0;
	if (n > 0) {
		*out = rows[0];
		memset(&rows[0], 0, sizeof(rows[0]));
	}
	node_rows_free(rows, n);
	return XCHG_OK;
}

xchg_status nodes_self(store *s, node_row *out, int *found, xchg_err *err)
{
	return select_one(s, "is_self = 1", NULL, 0, out, found, err);
}

xchg_status nodes_self_required(store *s, node_row *out, xchg_err *err)
{
	int found = 0;
	xchg_status rc;

	if ((rc = nodes_self(s, out, &found, err)))
		return rc;
	if (!found)
		return xerr(err, XCHG_EDB, "%s: this node is not set up; run xchg init", s->name);
	return XCHG_OK;
}

xchg_status nodes_by_code(store *s, const char *code, node_row *out, int *found,
			  xchg_err *err)
{
	xvalue p = xv_text(code);

	return select_one(s, "code = ?", &p, 1, out, found, err);
}

xchg_status nodes_by_id(store *s, const char *id, node_row *out, int *found, xchg_err *err)
{
	xvalue p = xv_text(id);

	return select_one(s, "id = ?", &p, 1, out, found, err);
}

xchg_status nodes_peers(store *s, node_row **out, size_t *n, xchg_err *err)
{
	return select_rows(s, "is_self = 0", NULL, 0, out, n, err);
}

xchg_status nodes_insert(store *s, const node_row *n, xchg_err *err)
{
	xvalue p[8];
	char now[32];

	xnow_iso(now);
	p[0] = xv_text(n->id);
	p[1] = xv_text(n->code);
	p[2] = xv_text(n->name);
	p[3] = xv_text(n->role);
	p[4] = xv_text(n->public_key);
	p[5] = xv_int(n->is_self);
	p[6] = n->full_state == NODE_FULL_NONE ? xv_text(NULL) : xv_int(n->full_state);
	p[7] = xv_text(now);
	return store_run(s, "INSERT INTO sync_nodes (id, code, name, role, public_key, is_self,"
			    " full_state_no, added_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)", p, 8, NULL, err);
}

xchg_status nodes_full_state_sent(store *s, const char *peer_id, int64_t packet_no,
				  xchg_err *err)
{
	xvalue p[2] = {xv_int(packet_no), xv_text(peer_id)};

	return store_run(s, "UPDATE sync_nodes SET full_state_no = ? WHERE id = ?"
			    " AND full_state_no IS NOT NULL", p, 2, NULL, err);
}

xchg_status nodes_record_sent(store *s, const char *peer_id, int64_t packet_no,
			      const char *created_at, int64_t listed_received, xchg_err *err)
{
	char now[32];
	xvalue p[3], q[4] = {xv_text(peer_id), xv_int(packet_no), xv_text(created_at),
			     listed_received ? xv_int(listed_received) : xv_text(NULL)};
	xchg_status rc;

	xnow_iso(now);
	p[0] = xv_int(packet_no);
	p[1] = xv_text(now);
	p[2] = xv_text(peer_id);
	if ((rc = store_run(s, "UPDATE sync_nodes SET sent_packet_no = ?, last_sync_out = ? WHERE id = ?",
			    p, 3, NULL, err)))
		return rc;
	/* A number written again (this node went back in time) is the newer packet's now. */
	if ((rc = store_run(s, "DELETE FROM sync_sent WHERE node_id = ? AND packet_no >= ?", q, 2, NULL,
			    err)))
		return rc;
	return store_run(s, "INSERT INTO sync_sent (node_id, packet_no, created_at, listed_received)"
			    " VALUES (?, ?, ?, ?)", q, 4, NULL, err);
}

xchg_status nodes_acked(store *s, const char *peer_id, int64_t ack, xchg_err *err)
{
	xvalue p[3] = {xv_text(peer_id), xv_text(peer_id), xv_int(ack)};
	xvalue q[2] = {xv_int(ack), xv_text(peer_id)};
	xchg_status rc;

	/* The peer has read, and checked, the packets of its own that those listed. */
	if ((rc = store_run(s, "DELETE FROM sync_received WHERE node_id = ? AND packet_no <= (SELECT"
			       " max(listed_received) FROM sync_sent WHERE node_id = ? AND packet_no <= ?)",
			    p, 3, NULL, err)) ||
	    (rc = store_run(s, "DELETE FROM sync_sent WHERE node_id = ? AND packet_no <= ?", &p[1], 2,
			    NULL, err)) ||
	    /* A full state carried up to it is delivered. */
	    (rc = store_run(s, "UPDATE sync_nodes SET full_state_no = NULL WHERE id = ?"
			       " AND full_state_no > 0 AND full_state_no <= ?", &p[1], 2, NULL, err)))
		return rc;
	return store_run(s, "UPDATE sync_nodes SET acked_packet_no = ? WHERE id = ?", q, 2, NULL, err);
}

xchg_status nodes_set_key(store *s, const char *id, const char *public_key, const char *key_chain,
			  xchg_err *err)
{
	xvalue p[3] = {xv_text(public_key), xv_text(key_chain), xv_text(id)};

	return store_run(s, "UPDATE sync_nodes SET public_key = ?, key_chain = ? WHERE id = ?", p, 3,
			 NULL, err);
}

xchg_status nodes_went_back(store *s, const char *peer_id, int64_t next, const char *why,
			    xchg_err *err)
{
	xvalue p[3] = {xv_int(next), xv_text(why), xv_text(peer_id)};
	xchg_status rc;

	if ((rc = store_run(s, "UPDATE sync_nodes SET sent_packet_no = ?, recovering = ? WHERE id = ?",
			    p, 3, NULL, err)))
		return rc;
	return store_run(s, "UPDATE sync_nodes SET wants_full_state = 1, full_state_no = 0, recovering ="
			    " coalesce(recovering, 'this node went back in time (as a restore from a"
			    " copy does); its peers are asked for their full state')"
			    " WHERE is_self = 0 AND revoked_at IS NULL", NULL, 0, NULL, err);
}

xchg_status nodes_owe_full_state(store *s, const char *peer_id, const char *why, xchg_err *err)
{
	xvalue p[2] = {xv_text(why), xv_text(peer_id)};

	return store_run(s, "UPDATE sync_nodes SET full_state_no = 0, recovering = ? WHERE id = ?", p, 2,
			 NULL, err);
}

xchg_status nodes_settle(store *s, const char *peer_id, int got_full_state, xchg_err *err)
{
	xvalue p = xv_text(peer_id);
	xchg_status rc;

	if (got_full_state &&
	    (rc = store_run(s, "UPDATE sync_nodes SET wants_full_state = 0 WHERE id = ?", &p, 1, NULL, err)))
		return rc;
	return store_run(s, "UPDATE sync_nodes SET recovering = NULL WHERE id = ? AND recovering IS NOT NULL"
			    " AND full_state_no IS NULL AND wants_full_state = 0", &p, 1, NULL, err);
}

xchg_status nodes_cap_queues(store *s, xchg_err *err)
{
	/* Deletions are not counted: they are what stays queued once the rest collapses. */
	return store_run(s, "UPDATE sync_nodes SET full_state_no = 0, recovering = 'its queue passed ' ||"
			    " max_queue || ' changes while it was silent (xchg node set --max-queue): it"
			    " gets the full state when it is back' WHERE max_queue > 0 AND revoked_at IS NULL"
			    " AND (full_state_no IS NULL OR full_state_no > 0) AND (SELECT count(*) FROM"
			    " sync_changes c WHERE c.node_id = sync_nodes.id AND c.operation <> 'DELETE') >"
			    " max_queue", NULL, 0, NULL, err);
}

xchg_status nodes_sent_created(store *s, const char *peer_id, int64_t packet_no, char **created_at,
			       xchg_err *err)
{
	xvalue p[2] = {xv_text(peer_id), xv_int(packet_no)};
	store_stmt *st = NULL;
	int has_row = 0;
	xchg_status rc;

	*created_at = NULL;
	if ((rc = store_query(s, "SELECT created_at FROM sync_sent WHERE node_id = ? AND packet_no = ?",
			      p, 2, &st, err)))
		return rc;
	if (!(rc = store_step(st, &has_row, err)) && has_row && !(*created_at = col_text(st, 0)))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	store_release(st);
	return rc;
}

xchg_status nodes_record_received(store *s, const char *peer_id, int64_t packet_no,
				  const char *created_at, int latest, xchg_err *err)
{
	char now[32];
	xvalue p[5], q[3] = {xv_text(peer_id), xv_int(packet_no), xv_text(created_at)};
	xchg_status rc;

	xnow_iso(now);
	p[0] = xv_int(packet_no);
	p[1] = xv_int(packet_no);
	p[2] = xv_text(now);
	p[3] = xv_text(latest ? created_at : NULL);
	p[4] = xv_text(peer_id);
	/* A peer that went back in time sends numbers received before (PACKET.md section 6.3). */
	if ((rc = store_run(s, "UPDATE sync_nodes SET received_packet_no = CASE WHEN received_packet_no > ?"
			       " THEN received_packet_no ELSE ? END, last_sync_in = ?,"
			       " received_created_at = coalesce(?, received_created_at) WHERE id = ?",
			    p, 5, NULL, err)))
		return rc;
	return store_run(s, "INSERT INTO sync_received (node_id, packet_no, created_at) VALUES (?, ?, ?)"
			    " ON CONFLICT (node_id, packet_no) DO UPDATE SET created_at = excluded.created_at",
			 q, 3, NULL, err);
}

xchg_status nodes_received_listed(store *s, const char *peer_id, env_received **out, size_t *n,
				  xchg_err *err)
{
	xvalue p[2] = {xv_text(peer_id), xv_int(ENV_MAX_RECEIVED)};
	store_stmt *st = NULL;
	env_received *list = NULL;
	int has_row = 0;
	xchg_status rc;

	*out = NULL;
	*n = 0;
	if (!(list = calloc(ENV_MAX_RECEIVED, sizeof(*list))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	/* The oldest first: a packet the peer no longer holds is among them, if any is. */
	if ((rc = store_query(s, "SELECT packet_no, created_at FROM sync_received WHERE node_id = ?"
				 " ORDER BY packet_no LIMIT ?", p, 2, &st, err)))
		goto done;
	while (!(rc = store_step(st, &has_row, err)) && has_row) {
		list[*n].packet_no = col_int(st, 0);
		if (!(list[(*n)++].created_at = col_text(st, 1))) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
	}
done:
	store_release(st);
	if (rc || !*n) {
		env_received_free(list, *n);
		*n = 0;
		return rc;
	}
	*out = list;
	return XCHG_OK;
}

xchg_status nodes_note_problem(store *s, const char *code, const char *packet,
			       const char *kind, const char *reason, xchg_err *err)
{
	char now[32];
	xvalue p[5];

	xnow_iso(now);
	p[0] = xv_text(packet);
	p[1] = xv_text(kind);
	p[2] = xv_text(reason);
	p[3] = xv_text(now);
	p[4] = xv_text(code);
	return store_run(s, "UPDATE sync_nodes SET problem_packet = ?, problem_kind = ?,"
			    " problem_reason = ?, problem_at = ? WHERE code = ? AND is_self = 0",
			 p, 5, NULL, err);
}

int nodes_is_master(const node_row *n)
{
	return strcmp(n->role, "master") == 0;
}

void node_row_clear(node_row *n)
{
	free(n->id);
	free(n->code);
	free(n->name);
	free(n->role);
	free(n->public_key);
	free(n->key_chain);
	free(n->revoked_at);
	free(n->last_sync_in);
	free(n->last_sync_out);
	free(n->link_dir);
	free(n->applied);
	free(n->added_at);
	free(n->problem.packet);
	free(n->problem.kind);
	free(n->problem.reason);
	free(n->problem.at);
	free(n->received_created_at);
	free(n->recovering);
	memset(n, 0, sizeof(*n));
}

void node_rows_free(node_row *rows, size_t n)
{
	size_t i;

	for (i = 0; rows && i < n; i++)
		node_row_clear(&rows[i]);
	free(rows);
}

/*
 * A new peer is owed everything this node holds, which its first packet
 * reads from the tables; a node that holds nothing yet owes nothing. A row
 * an application commits after this look is captured and routed to the
 * peer, registered by then, as usual.
 */
static xchg_status owed_to_new_peer(xchg_db *db, int64_t *full_state, xchg_err *err)
{
	size_t i;
	int found = 0;
	int64_t one;
	char *sql;
	xchg_status rc = XCHG_OK;

	*full_state = NODE_FULL_NONE;
	for (i = 0; i < db->plan->nentities && !rc && !found; i++) {
		if (!(sql = xstrdup_printf("SELECT 1 FROM \"%s\" LIMIT 1", db->plan->entities[i].table)))
			return xerr(err, XCHG_ENOMEM, "out of memory");
		rc = store_int(db->st, sql, NULL, 0, &one, &found, err);
		free(sql);
	}
	if (found)
		*full_state = NODE_FULL_OWED;
	return rc;
}

/*
 * A writer decides whether to capture by looking for an active peer
 * (CAPTURE_FOR), which matters when the first one is added: a writer that
 * looked before it is committed must have committed, and be read by the
 * peer's first packet, before any writer goes on without looking again.
 * Held until the peer is committed. A writer that holds one table and
 * wants another may wait for this: the lock gives up first (store_lock's
 * timeout) and xchg_node_add runs again, so the application's transaction
 * is never the one PostgreSQL breaks.
 */
static xchg_status hold_tables(xchg_db *db, xchg_err *err)
{
	size_t i, j;
	xchg_status rc = XCHG_OK;

	for (i = 0; i < db->plan->nentities && !rc; i++) {
		const plan_entity *e = &db->plan->entities[i];

		rc = store_lock_table(db->st, e->table, err);
		for (j = 0; j < e->nchildren && !rc; j++)
			rc = store_lock_table(db->st, e->children[j].table, err);
	}
	return rc;
}

/* Star topology: a desktop talks to the center only; the center to desktops only. */
static xchg_status check_star(store *s, const node_row *self, const char *code,
			      xchg_err *err)
{
	node_row *peers = NULL;
	size_t n = 0;
	xchg_status rc;

	if (nodes_is_master(self))
		return XCHG_OK;
	if ((rc = nodes_peers(s, &peers, &n, err)))
		return rc;
	if (n > 0)
		rc = xerr(err, XCHG_EFAIL,
			  "node %s: refused: desktop %s already has its center, %s; a desktop exchanges with the center only",
			  code, self->code, peers[0].code);
	node_rows_free(peers, n);
	return rc;
}

/*
 * Why key line k cannot be registered beside the nodes already here (but
 * for the peer except_id, whose key it replaces), or OK. Every database of
 * a star knows a node by one id and one key, so neither may come twice;
 * codes name packet files, which FAT, exFAT and Windows shares compare
 * without regard to case.
 */
static xchg_status check_unique(store *s, const node_row *self, const key_line *k,
				const char *except_id, xchg_err *err)
{
	node_row *peers = NULL;
	size_t n = 0, i;
	xchg_status rc = XCHG_OK;

	if (strcmp(self->id, k->id) == 0 || (self->public_key && strcmp(self->public_key, k->key) == 0))
		rc = xerr(err, XCHG_EUSAGE, "node %s: the key line is this node's own (%s); give it the"
			  " peer's, from xchg key on the peer", k->code, self->code);
	else if (!(rc = nodes_peers(s, &peers, &n, err)))
		for (i = 0; i < n && !rc; i++) {
			const node_row *p = &peers[i];

			if (except_id && strcmp(p->id, except_id) == 0)
				continue;
			if (strcmp(p->code, k->code) == 0)
				rc = xerr(err, XCHG_EFAIL, "node %s: already registered", k->code);
			else if (strcasecmp(p->code, k->code) == 0)
				rc = xerr(err, XCHG_EFAIL, "node %s: %s is registered already, and codes must"
					  " differ in more than case (packet names would collide on FAT,"
					  " exFAT and Windows shares)", k->code, p->code);
			else if (strcmp(p->id, k->id) == 0)
				rc = xerr(err, XCHG_EFAIL, "node %s: its id %s is registered already, as node %s",
					  k->code, k->id, p->code);
			else if (p->public_key && strcmp(p->public_key, k->key) == 0)
				rc = xerr(err, XCHG_EFAIL, "node %s: its key is registered already, for node %s",
					  k->code, p->code);
		}
	node_rows_free(peers, n);
	return rc;
}

typedef struct add_job {
	xchg_db *db;
	key_line *k;
	const char *name;
} add_job;

static xchg_status add_once(void *ctx, xchg_err *err)
{
	add_job *job = ctx;
	xchg_db *db = job->db;
	node_row self = {0}, peer = {0};
	int64_t active = 0;
	xchg_status rc;

	if ((rc = store_begin(db->st, err)))
		return rc;
	if ((rc = store_lock(db->st, job->k->code, err)) ||
	    (rc = nodes_self_required(db->st, &self, err)) ||
	    (rc = check_unique(db->st, &self, job->k, NULL, err)) ||
	    (rc = check_star(db->st, &self, job->k->code, err)) ||
	    (rc = store_int(db->st, "SELECT count(*) FROM sync_nodes WHERE " CAPTURE_FOR, NULL, 0,
			    &active, NULL, err)))
		goto done;
	peer.id = job->k->id;
	peer.code = job->k->code;
	peer.name = (char *)(job->name ? job->name : job->k->code);
	peer.role = nodes_is_master(&self) ? "subordinate" : "master";
	peer.public_key = job->k->key;
	if ((!active && (rc = hold_tables(db, err))) ||
	    (rc = owed_to_new_peer(db, &peer.full_state, err)) ||
	    (rc = nodes_insert(db->st, &peer, err)))
		goto done;
	rc = store_commit(db->st, err);
done:
	if (rc)
		store_rollback(db->st);
	node_row_clear(&self);
	return rc;
}

xchg_status xchg_node_add(xchg_db *db, const char *key_text, const char *code,
			  const char *name, xchg_err *err)
{
	key_line k;
	add_job job = {db, &k, name};
	xchg_status rc;

	if ((rc = keys_line_parse(key_text, &k, err)))
		return rc;
	if (code && strcmp(code, k.code) != 0)
		return xerr(err, XCHG_EUSAGE, "node %s: the key line is node %s's; --code only confirms"
			    " the code the line carries", code, k.code);
	if ((rc = db_ready(db, err)))
		return rc;
	return store_retry(db->st, add_once, &job, err);
}

/*
 * Opens a transaction holding peer code's lock (an export or import for it
 * may be running) and reads the peer. On success the caller commits or
 * rolls back; on failure nothing is left open.
 */
xchg_status nodes_begin_on_peer(xchg_db *db, const char *code, node_row *peer, xchg_err *err)
{
	int found = 0;
	xchg_status rc;

	if ((rc = xcheck_code(code, err)) || (rc = db_ready(db, err)) ||
	    (rc = store_begin(db->st, err)))
		return rc;
	/* Routing's lock before the peer's, as export and import take them. */
	if (!(rc = route_pending(db->st, err)) && !(rc = store_lock(db->st, code, err)) &&
	    !(rc = nodes_by_code(db->st, code, peer, &found, err)) && (!found || peer->is_self))
		rc = found ? xerr(err, XCHG_EUSAGE, "node %s: is this node itself, not a peer", code)
			   : xerr(err, XCHG_ENOTFOUND, "node %s: no such peer (see xchg node list)", code);
	if (rc) {
		store_rollback(db->st);
		node_row_clear(peer);
	}
	return rc;
}

xchg_status xchg_node_set(xchg_db *db, const char *code, const xchg_link_opts *o,
			  xchg_err *err)
{
	static const char *const sql[] = {
		"UPDATE sync_nodes SET link_dir = ? WHERE id = ?",
		"UPDATE sync_nodes SET late_after = ? WHERE id = ?",
		"UPDATE sync_nodes SET applied = ? WHERE id = ?",
		"UPDATE sync_nodes SET max_queue = ? WHERE id = ?",
	};
	const int given[] = {o->dir != NULL, o->late_after > 0, o->applied != NULL, o->max_queue != 0};
	const xvalue value[] = {o->dir && o->dir[0] ? xv_text(o->dir) : xv_text(NULL),
				xv_int(o->late_after), xv_text(o->applied),
				o->max_queue > 0 ? xv_int(o->max_queue) : xv_text(NULL)};
	node_row peer = {0};
	size_t i;
	xchg_status rc;

	if ((rc = xcheck_opts(o->version, XCHG_LINK_OPTS_VERSION, "xchg_link_opts",
			      "XCHG_LINK_OPTS_INIT", err)))
		return rc;
	if (o->applied && strcmp(o->applied, "archive") != 0 && strcmp(o->applied, "delete") != 0 &&
	    strcmp(o->applied, "keep") != 0)
		return xerr(err, XCHG_EUSAGE, "node %s: applied packets are archived, deleted or kept,"
			    " not \"%.40s\"", code, o->applied);
	if (o->late_after < 0)
		return xerr(err, XCHG_EUSAGE, "node %s: a link cannot be late after a negative time", code);
	if (o->max_queue < XCHG_NO_MAX_QUEUE)
		return xerr(err, XCHG_EUSAGE, "node %s: a queue cannot hold a negative number of changes", code);
	if ((rc = nodes_begin_on_peer(db, code, &peer, err)))
		return rc;
	for (i = 0; i < sizeof(sql) / sizeof(sql[0]) && !rc; i++) {
		xvalue p[2] = {value[i], xv_text(peer.id)};

		if (given[i])
			rc = store_run(db->st, sql[i], p, 2, NULL, err);
	}
	if (!rc && o->subset)
		rc = subsets_set(db, &peer, o->subset, err);
	if (!rc)
		rc = store_commit(db->st, err);
	if (rc)
		store_rollback(db->st);
	node_row_clear(&peer);
	return rc;
}

xchg_status xchg_node_revoke(xchg_db *db, const char *code, xchg_err *err)
{
	node_row peer = {0};
	char now[32];
	xchg_status rc;

	if ((rc = nodes_begin_on_peer(db, code, &peer, err)))
		return rc;
	if (peer.revoked_at) {
		rc = xerr(err, XCHG_EFAIL, "node %s: already revoked on %s", code, peer.revoked_at);
		goto done;
	}
	xnow_iso(now);
	{
		xvalue p[2] = {xv_text(now), xv_text(peer.id)};

		/* Its queue goes too: nothing will ever be sent to it again. */
		if ((rc = store_run(db->st, "UPDATE sync_nodes SET revoked_at = ? WHERE id = ?", p, 2,
				    NULL, err)) ||
		    (rc = changes_forget(db->st, peer.id, err)))
			goto done;
	}
	rc = store_commit(db->st, err);
done:
	if (rc)
		store_rollback(db->st);
	node_row_clear(&peer);
	return rc;
}

xchg_status xchg_node_set_key(xchg_db *db, const char *code, const char *key_text, xchg_err *err)
{
	node_row peer = {0}, self = {0};
	key_line k;
	xchg_status rc;

	if ((rc = keys_line_parse(key_text, &k, err)))
		return rc;
	if ((rc = nodes_begin_on_peer(db, code, &peer, err)))
		return rc;
	if ((rc = nodes_self_required(db->st, &self, err)))
		goto done;
	if (strcmp(k.code, peer.code) != 0 || strcmp(k.id, peer.id) != 0)
		rc = xerr(err, XCHG_EUSAGE, "node %s: the key line is for node %s with id %s, but %s has"
			  " id %s", code, k.code, k.id, peer.code, peer.id);
	else if (peer.revoked_at)
		rc = xerr(err, XCHG_EFAIL, "node %s: revoked on %s, and revocation is final; the"
			  " replacement joins under a new code", code, peer.revoked_at);
	else if (peer.public_key && strcmp(peer.public_key, k.key) == 0)
		rc = XCHG_OK; /* already so: setting it again changes nothing */
	else if (!(rc = check_unique(db->st, &self, &k, peer.id, err))) {
		/* The chain the peer sent led from its old key; the new one starts afresh. */
		rc = nodes_set_key(db->st, peer.id, k.key, NULL, err);
	}
	if (!rc)
		rc = store_commit(db->st, err);
done:
	if (rc)
		store_rollback(db->st);
	node_row_clear(&peer);
	node_row_clear(&self);
	return rc;
}

xchg_status xchg_node_remove(xchg_db *db, const char *code, xchg_err *err)
{
	node_row peer = {0};
	xvalue id;
	xchg_status rc;

	if ((rc = nodes_begin_on_peer(db, code, &peer, err)))
		return rc;
	id = xv_text(peer.id);
	if (!peer.revoked_at && (peer.sent_packet_no > 0 || peer.received_packet_no > 0))
		rc = xerr(err, XCHG_EFAIL, "node %s: has exchanged packets (%lld sent to it, %lld"
			  " received from it); only a peer that never exchanged, or a revoked one, is"
			  " removed (xchg node revoke %s first)", code, (long long)peer.sent_packet_no,
			  (long long)peer.received_packet_no, code);
	else if (!(rc = changes_forget(db->st, peer.id, err)) &&
		 !(rc = store_run(db->st, "DELETE FROM sync_sent WHERE node_id = ?", &id, 1, NULL, err)) &&
		 !(rc = store_run(db->st, "DELETE FROM sync_received WHERE node_id = ?", &id, 1, NULL, err)) &&
		 !(rc = conflict_log_forget(db, peer.id, err)) &&
		 !(rc = store_run(db->st, "DELETE FROM sync_nodes WHERE id = ?", &id, 1, NULL, err)))
		rc = store_commit(db->st, err);
	if (rc)
		store_rollback(db->st);
	node_row_clear(&peer);
	return rc;
}
