/* status: this node and each peer with its counters and queue. */
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "conflict.h"
#include "db.h"
#include "keys.h"
#include "nodes.h"

/* Moves a node_row into the public shape; the row is left empty. */
static xchg_status take_row(xchg_node_info *info, node_row *n, xchg_err *err)
{
	char fpr[KEY_FINGERPRINT_MAX];

	keys_fingerprint(n->public_key, fpr);
	if (!(info->fingerprint = strdup(fpr)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	info->id = n->id;
	info->revoked_at = n->revoked_at;
	info->code = n->code;
	info->name = n->name;
	info->role = n->role;
	info->public_key = n->public_key;
	info->is_self = n->is_self;
	info->sent_packet_no = n->sent_packet_no;
	info->acked_packet_no = n->acked_packet_no;
	info->received_packet_no = n->received_packet_no;
	info->last_sync_in = n->last_sync_in;
	info->last_sync_out = n->last_sync_out;
	info->full_state = n->full_state != NODE_FULL_NONE;
	info->link_dir = n->link_dir;
	info->late_after = n->late_after > 0 ? n->late_after : XCHG_LATE_AFTER_DEFAULT;
	info->applied = n->applied ? n->applied : strdup(NODE_APPLIED_DEFAULT);
	n->link_dir = n->applied = NULL;
	if (!info->applied)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	free(n->key_chain);
	memset(n, 0, sizeof(*n));
	return XCHG_OK;
}

static xchg_status peer_counts(store *s, const char *peer_id, xchg_node_info *info,
			       xchg_err *err)
{
	xvalue p[2] = {xv_text(peer_id), xv_text(CONFLICT_KIND_REFUSED)};
	xchg_status rc;

	if ((rc = changes_count(s, peer_id, &info->queued, err)) ||
	    (rc = store_int(s, "SELECT count(*) FROM sync_conflicts WHERE peer_id = ?"
			       " AND status = 'open' AND kind <> ?", p, 2, &info->conflicts, NULL, err)))
		return rc;
	return store_int(s, "SELECT count(*) FROM sync_conflicts WHERE peer_id = ?"
			    " AND status = 'open' AND kind = ?", p, 2, &info->refused, NULL, err);
}

xchg_status xchg_status_get(xchg_db *db, xchg_status_report **out, xchg_err *err)
{
	xchg_status_report *rep = NULL;
	node_row self = {0}, *peers = NULL;
	size_t n = 0, i;
	xchg_status rc;

	*out = NULL;
	if ((rc = db_ready(db, err)) || (rc = nodes_self_required(db->st, &self, err)))
		goto done;
	if ((rc = nodes_peers(db->st, &peers, &n, err)))
		goto done;
	if (!(rep = calloc(1, sizeof(*rep))) || (n && !(rep->peers = calloc(n, sizeof(*rep->peers))))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	rc = take_row(&rep->self, &self, err);
	for (i = 0; i < n && !rc; i++) {
		if (!(rc = peer_counts(db->st, peers[i].id, &rep->peers[i], err)))
			rc = take_row(&rep->peers[i], &peers[i], err);
		rep->npeers++;
	}
	if (rc)
		goto done;
	*out = rep;
	rep = NULL;
done:
	xchg_status_free(rep);
	node_row_clear(&self);
	node_rows_free(peers, n);
	return rc;
}

static void info_clear(xchg_node_info *info)
{
	free(info->id);
	free(info->fingerprint);
	free(info->revoked_at);
	free(info->code);
	free(info->name);
	free(info->role);
	free(info->public_key);
	free(info->last_sync_in);
	free(info->last_sync_out);
	free(info->link_dir);
	free(info->applied);
}

void xchg_status_free(xchg_status_report *rep)
{
	size_t i;

	if (!rep)
		return;
	info_clear(&rep->self);
	for (i = 0; i < rep->npeers; i++)
		info_clear(&rep->peers[i]);
	free(rep->peers);
	free(rep);
}
