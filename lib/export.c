/*
 * Export: the next packet for a peer, carrying every registration the peer
 * has not acknowledged yet (formats/PACKET.md 6.1, 6.2, 6.6).
 */
#include "exchange.h"

#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "envelope.h"
#include "keys.h"
#include "packet.h"
#include "row_json.h"

/*
 * The operation that travels follows the row's state now, not the
 * registration's. A row deleted outright has no updated_at left; the time
 * its deletion was registered stands in, the same time a conflict here
 * would weigh it by.
 */
static xchg_status write_registration(xchg_db *db, const plan_entity *e, const char *uuid,
				      const char *reg_op, const char *changed_at,
				      env_writer *w, xbuf *data, xchg_err *err)
{
	row_state state;
	const char *op = strcmp(reg_op, "INSERT") == 0 ? "INSERT" : "UPDATE";
	xchg_status rc;

	xbuf_reset(data);
	if ((rc = row_json_read(db, e, uuid, data, &state, err)))
		return rc;
	if (!state.found)
		return env_writer_entity(w, e->type, uuid, "DELETE", changed_at, NULL, err);
	if (state.is_deleted)
		return env_writer_entity(w, e->type, uuid, "DELETE", state.updated_at, NULL, err);
	return env_writer_entity(w, e->type, uuid, op, state.updated_at[0] ? state.updated_at : NULL,
				 data->data, err);
}

/* Entities go in plan order, so parents land before whatever refers to them. */
static xchg_status write_entities(xchg_db *db, const node_row *peer, int64_t packet_no,
				  env_writer *w, int64_t *count, xchg_err *err)
{
	store_stmt *st = NULL;
	xbuf data = {0};
	xvalue uuid, op, at;
	size_t i;
	int has_row = 0;
	xchg_status rc = XCHG_OK;

	for (i = 0; i < db->plan->nentities && !rc; i++) {
		const plan_entity *e = &db->plan->entities[i];

		if ((rc = changes_take(db->st, peer->id, e->type, packet_no, &st, err)))
			break;
		while (!(rc = store_step(st, &has_row, err)) && has_row) {
			store_col(st, 0, &uuid);
			store_col(st, 1, &op);
			store_col(st, 2, &at);
			if (uuid.type != XV_TEXT || op.type != XV_TEXT)
				continue;
			if ((rc = write_registration(db, e, uuid.s, op.s,
						      at.type == XV_TEXT ? at.s : NULL, w, &data, err))) {
				xerr_prefix(err, "entity %s %s (table %s)", e->type, uuid.s, e->table);
				break;
			}
			(*count)++;
		}
		store_release(st);
		st = NULL;
	}
	xbuf_free(&data);
	return rc;
}

typedef struct export_job {
	xchg_db *db;
	const node_row *self;
	const char *peer_code;
	const char *dir;
	xchg_export_result *res;
} export_job;

static xchg_status export_once(void *ctx, xchg_err *err)
{
	export_job *job = ctx;
	xchg_db *db = job->db;
	const node_row *self = job->self;
	const char *peer_code = job->peer_code, *dir = job->dir;
	xchg_export_result *res = job->res;
	node_row peer = {0};
	packet_writer *pw = NULL;
	env_writer *w = NULL;
	env_header h = {0};
	keypair kp;
	char msgid[37], now[32], *name = NULL;
	int found = 0, in_tx = 0;
	xchg_status rc;

	memset(res, 0, sizeof(*res));
	memset(&kp, 0, sizeof(kp));
	if ((rc = keys_load(db->key_path, 0, &kp, err)) || (rc = store_begin(db->st, err)))
		goto done;
	in_tx = 1;
	/* Counters are read under the lock: another xchg may have just moved them. */
	if ((rc = store_lock(db->st, peer_code, err)) ||
	    (rc = nodes_by_code(db->st, peer_code, &peer, &found, err)))
		goto done;
	if (!found || peer.is_self) {
		rc = xerr(err, XCHG_ENOTFOUND, "node %s: %s", peer_code,
			  found ? "is this node itself, not a peer" : "no such peer (see xchg status)");
		goto done;
	}
	res->packet_no = peer.sent_packet_no + 1;
	res->ack_packet_no = peer.received_packet_no;
	if ((rc = nodes_record_packet(db->st, peer.id, NODE_SENT, res->packet_no, err)))
		goto done;
	xuuid4(msgid);
	xnow_iso(now);
	h.message_id = msgid;
	h.schema_version = db->plan->schema_version;
	h.sender = self->code;
	h.recipient = peer.code;
	h.created_at = now;
	h.packet_no = res->packet_no;
	h.ack_packet_no = res->ack_packet_no;
	if (!(name = exchange_packet_name(self->code, peer.code, res->packet_no))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = packet_writer_open(&pw, dir, name, kp.sk, err)) ||
	    (rc = env_writer_new(&w, &h, packet_writer_write, pw, err)) ||
	    (rc = write_entities(db, &peer, res->packet_no, w, &res->entities, err)) ||
	    (rc = env_writer_finish(w, err)) ||
	    (rc = packet_writer_finish(pw, err)))
		goto done;
	/*
	 * Commit, then publish. The packet is complete and flushed under its
	 * hidden temporary name; only after the database has committed the new
	 * number does the rename make it visible. A crash before the commit
	 * leaves no packet (the temp file is never picked up) and the number
	 * unused; a crash between commit and rename leaves a number no packet
	 * carries, which the next, cumulative packet covers. Never is a packet
	 * published whose number the database could hand out again.
	 */
	if ((rc = store_commit(db->st, err)))
		goto done;
	in_tx = 0;
	if ((rc = packet_writer_publish(pw, err)))
		goto done;
	if (!(res->path = strdup(packet_writer_path(pw))))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
done:
	if (in_tx)
		store_rollback(db->st);
	env_writer_free(w);
	packet_writer_free(pw);
	keys_wipe(&kp);
	node_row_clear(&peer);
	free(name);
	return rc;
}

xchg_status exchange_export(xchg_db *db, const node_row *self, const char *peer_code,
			    const char *dir, xchg_export_result *res, xchg_err *err)
{
	export_job job = {db, self, peer_code, dir, res};

	return store_retry(db->st, export_once, &job, err);
}

char *exchange_packet_name(const char *sender, const char *recipient, int64_t packet_no)
{
	return xstrdup_printf("pkt_%s_%s_%lld.zip", sender, recipient, (long long)packet_no);
}

xchg_status xchg_export(xchg_db *db, const char *peer, const char *out_dir,
			xchg_export_result *res, xchg_err *err)
{
	node_row self = {0};
	xchg_status rc;

	memset(res, 0, sizeof(*res));
	if ((rc = xcheck_code(peer, err)) || (rc = db_ready(db, err)) ||
	    (rc = exchange_self(db, &self, err)))
		return rc;
	rc = exchange_export(db, &self, peer, out_dir, res, err);
	node_row_clear(&self);
	return rc;
}

void xchg_export_result_clear(xchg_export_result *res)
{
	if (res) {
		free(res->path);
		memset(res, 0, sizeof(*res));
	}
}

xchg_status exchange_self(xchg_db *db, node_row *self, xchg_err *err)
{
	int found = 0;
	xchg_status rc;

	if ((rc = nodes_self(db->st, self, &found, err)))
		return rc;
	if (!found)
		return xerr(err, XCHG_EDB, "%s: this node is not set up; run xchg init", db->st->name);
	return XCHG_OK;
}
