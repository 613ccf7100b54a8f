#include "nodes.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "keys.h"

#define NODE_COLUMNS                                                          \
	"id, code, name, role, public_key, is_self, sent_packet_no,"          \
	" acked_packet_no, received_packet_no, last_sync_in, last_sync_out," \
	" key_chain, revoked_at"

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
	xvalue p[6] = {xv_text(n->id), xv_text(n->code), xv_text(n->name), xv_text(n->role),
		       xv_text(n->public_key), xv_int(n->is_self)};

	return store_run(s, "INSERT INTO sync_nodes (id, code, name, role, public_key, is_self)"
			    " VALUES (?, ?, ?, ?, ?, ?)", p, 6, NULL, err);
}

xchg_status nodes_record_packet(store *s, const char *peer_id, node_counter which,
				int64_t n, xchg_err *err)
{
	static const char *const sql[] = {
		[NODE_SENT] = "UPDATE sync_nodes SET sent_packet_no = ?, last_sync_out = ? WHERE id = ?",
		[NODE_RECEIVED] = "UPDATE sync_nodes SET received_packet_no = ?, last_sync_in = ? WHERE id = ?",
	};
	char now[32];
	xvalue p[3];

	xnow_iso(now);
	p[0] = xv_int(n);
	p[1] = xv_text(now);
	p[2] = xv_text(peer_id);
	return store_run(s, sql[which], p, 3, NULL, err);
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
 * A new peer receives everything: its first packet carries the whole
 * database. A row an application is inserting right now is in neither this
 * statement's view nor, since the new node is not committed yet, in its
 * trigger's; holding the table until the node is committed closes that gap.
 */
static xchg_status register_everything(xchg_db *db, const char *peer_id, xchg_err *err)
{
	size_t i;
	xbuf sql = {0};
	xchg_status rc = XCHG_OK;

	for (i = 0; i < db->plan->nentities && !rc; i++) {
		const plan_entity *e = &db->plan->entities[i];
		xvalue p[2] = {xv_text(peer_id), xv_text(e->type)};

		if ((rc = store_lock_table(db->st, e->table, err)))
			break;
		/* Registrations hold the canonical forms, whatever the table's columns hold. */
		xbuf_reset(&sql);
		xbuf_adds(&sql, "INSERT INTO sync_changes (node_id, entity_type, entity_uuid, operation,"
				" changed_at) SELECT ?, ?, ");
		store_canonical_sql(db->st, &sql, FORM_UUID, "uuid");
		xbuf_adds(&sql, ", 'INSERT', ");
		store_canonical_sql(db->st, &sql, FORM_TIME, "updated_at");
		xbuf_printf(&sql, " FROM \"%s\" WHERE uuid IS NOT NULL"
			    " ON CONFLICT (node_id, entity_type, entity_uuid) DO NOTHING", e->table);
		if (!sql.data) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			break;
		}
		rc = store_run(db->st, sql.data, p, 2, NULL, err);
	}
	xbuf_free(&sql);
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

xchg_status xchg_node_add(xchg_db *db, const char *key_text, const char *code,
			  const char *name, xchg_err *err)
{
	node_row self = {0}, peer = {0};
	key_line k;
	int in_tx = 0;
	xchg_status rc;

	if ((rc = keys_line_parse(key_text, &k, err)))
		return rc;
	if (code && strcmp(code, k.code) != 0)
		return xerr(err, XCHG_EUSAGE, "node %s: the key line is node %s's; --code only confirms"
			    " the code the line carries", code, k.code);
	if ((rc = db_ready(db, err)) || (rc = store_begin(db->st, err)))
		return rc;
	in_tx = 1;
	if ((rc = nodes_self_required(db->st, &self, err)) ||
	    (rc = check_unique(db->st, &self, &k, NULL, err)) ||
	    (rc = check_star(db->st, &self, k.code, err)))
		goto done;
	peer.id = k.id;
	peer.code = k.code;
	peer.name = (char *)(name ? name : k.code);
	peer.role = nodes_is_master(&self) ? "subordinate" : "master";
	peer.public_key = k.key;
	if ((rc = nodes_insert(db->st, &peer, err)) ||
	    (rc = register_everything(db, k.id, err)) ||
	    (rc = store_commit(db->st, err)))
		goto done;
	in_tx = 0;
done:
	if (in_tx)
		store_rollback(db->st);
	node_row_clear(&self);
	return rc;
}

/*
 * Opens a transaction holding peer code's lock (an export or import for it
 * may be running) and reads the peer. On success the caller commits or
 * rolls back; on failure nothing is left open.
 */
static xchg_status begin_on_peer(xchg_db *db, const char *code, node_row *peer, xchg_err *err)
{
	int found = 0;
	xchg_status rc;

	if ((rc = xcheck_code(code, err)) || (rc = db_ready(db, err)) ||
	    (rc = store_begin(db->st, err)))
		return rc;
	if (!(rc = store_lock(db->st, code, err)) &&
	    !(rc = nodes_by_code(db->st, code, peer, &found, err)) && (!found || peer->is_self))
		rc = found ? xerr(err, XCHG_EUSAGE, "node %s: is this node itself, not a peer", code)
			   : xerr(err, XCHG_ENOTFOUND, "node %s: no such peer (see xchg node list)", code);
	if (rc) {
		store_rollback(db->st);
		node_row_clear(peer);
	}
	return rc;
}

xchg_status xchg_node_revoke(xchg_db *db, const char *code, xchg_err *err)
{
	node_row peer = {0};
	char now[32];
	xchg_status rc;

	if ((rc = begin_on_peer(db, code, &peer, err)))
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
		    (rc = store_run(db->st, "DELETE FROM sync_changes WHERE node_id = ?", &p[1], 1,
				    NULL, err)))
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
	if ((rc = begin_on_peer(db, code, &peer, err)))
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
		xvalue p[2] = {xv_text(k.key), xv_text(peer.id)};

		rc = store_run(db->st, "UPDATE sync_nodes SET public_key = ?, key_chain = NULL WHERE id = ?",
			       p, 2, NULL, err);
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

	if ((rc = begin_on_peer(db, code, &peer, err)))
		return rc;
	id = xv_text(peer.id);
	if (!peer.revoked_at && (peer.sent_packet_no > 0 || peer.received_packet_no > 0))
		rc = xerr(err, XCHG_EFAIL, "node %s: has exchanged packets (%lld sent to it, %lld"
			  " received from it); only a peer that never exchanged, or a revoked one, is"
			  " removed (xchg node revoke %s first)", code, (long long)peer.sent_packet_no,
			  (long long)peer.received_packet_no, code);
	else if (!(rc = store_run(db->st, "DELETE FROM sync_changes WHERE node_id = ?", &id, 1, NULL, err)) &&
		 !(rc = store_run(db->st, "DELETE FROM sync_conflicts WHERE peer_id = ?", &id, 1, NULL, err)) &&
		 !(rc = store_run(db->st, "DELETE FROM sync_nodes WHERE id = ?", &id, 1, NULL, err)))
		rc = store_commit(db->st, err);
	if (rc)
		store_rollback(db->st);
	node_row_clear(&peer);
	return rc;
}
