/* status: this node and each peer with its counters and queue, each link judged. */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "changes.h"
#include "conflict.h"
#include "db.h"
#include "keys.h"
#include "nodes.h"
#include "subsets.h"

/* The string, which the caller now owns; *s is left NULL. */
static char *take(char **s)
{
	char *t = *s;

	*s = NULL;
	return t;
}

/* Moves a node_row into the public shape; what it does not show is freed, and the row left empty. */
static xchg_status take_row(xchg_node_info *info, node_row *n, xchg_err *err)
{
	char fpr[KEY_FINGERPRINT_MAX];

	keys_fingerprint(n->public_key, fpr);
	if (!(info->fingerprint = strdup(fpr)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	info->id = take(&n->id);
	info->revoked_at = take(&n->revoked_at);
	info->code = take(&n->code);
	info->name = take(&n->name);
	info->role = nodes_is_master(n) ? XCHG_ROLE_CENTER : XCHG_ROLE_DESKTOP;
	info->public_key = take(&n->public_key);
	info->is_self = n->is_self;
	info->sent_packet_no = n->sent_packet_no;
	info->acked_packet_no = n->acked_packet_no;
	info->received_packet_no = n->received_packet_no;
	info->last_sync_in = take(&n->last_sync_in);
	info->last_sync_out = take(&n->last_sync_out);
	info->full_state = n->full_state != NODE_FULL_NONE;
	info->link_dir = take(&n->link_dir);
	info->late_after = n->late_after > 0 ? n->late_after : XCHG_LATE_AFTER_DEFAULT;
	info->applied = n->applied ? take(&n->applied) : strdup(NODE_APPLIED_DEFAULT);
	info->added_at = take(&n->added_at);
	info->problem_packet = take(&n->problem.packet);
	info->problem_kind = take(&n->problem.kind);
	info->problem_reason = take(&n->problem.reason);
	info->problem_at = take(&n->problem.at);
	info->wants_full_state = n->wants_full_state;
	info->max_queue = n->max_queue;
	/* judge() keeps it unless the link is broken too. */
	if ((info->state_reason = take(&n->recovering)))
		info->state = XCHG_LINK_RECOVERING;
	node_row_clear(n);
	return info->applied ? XCHG_OK : xerr(err, XCHG_ENOMEM, "out of memory");
}

static xchg_status peer_counts(xchg_db *db, const char *peer_id, xchg_node_info *info,
			       xchg_err *err)
{
	xchg_status rc;

	if ((rc = changes_count(db->st, peer_id, &info->unsent, &info->unacked, err)) ||
	    (rc = subsets_get(db->st, peer_id, &info->subset, err)))
		return rc;
	info->queued = info->unsent + info->unacked;
	return conflict_log_open(db, peer_id, &info->conflicts, &info->refused, err);
}

static int64_t age(const char *at, time_t now)
{
	time_t t = xiso_seconds(at);

	return t < 0 ? -1 : now > t ? (int64_t)(now - t) : 0;
}

/*
 * The verdict on a link. Broken: a packet from the peer was refused since
 * the last one applied (a revoked peer's packets are all refused); it
 * mends itself when a good packet follows. Recovering: an end went back
 * in time or a resync was asked, until the full state owed either way has
 * arrived (restore.c). Late: nothing came from a peer
 * that is not revoked for longer than its late_after, counted from when
 * the link was added while nothing has come yet. A packet that failed
 * here for a local reason is shown, but judged by lateness alone: the
 * next run tries it again.
 */
static xchg_status judge(xchg_node_info *p, time_t now, xchg_err *err)
{
	const char *since = p->last_sync_in ? p->last_sync_in : p->added_at;

	p->in_age = age(p->last_sync_in, now);
	p->out_age = age(p->last_sync_out, now);
	p->problem_age = age(p->problem_at, now);
	if (p->problem_kind && strcmp(p->problem_kind, NODE_PROBLEM_REFUSED) == 0 && p->problem_at &&
	    (!p->last_sync_in || strcmp(p->problem_at, p->last_sync_in) > 0)) {
		p->state = XCHG_LINK_BROKEN;
		free(p->state_reason);
		p->state_reason = p->revoked_at ?
			xstrdup_printf("revoked on %s, and still sending: %s was refused: %s",
				       p->revoked_at, p->problem_packet, p->problem_reason) :
			xstrdup_printf("%s was refused: %s", p->problem_packet, p->problem_reason);
	} else if (p->state == XCHG_LINK_RECOVERING) {
		return XCHG_OK;
	} else if (!p->revoked_at && since && age(since, now) > p->late_after) {
		p->state = XCHG_LINK_LATE;
		p->state_reason = xstrdup_printf(p->last_sync_in ? "nothing received since %s" :
					"nothing received since the link was added on %s", since);
	} else {
		return XCHG_OK;
	}
	return p->state_reason ? XCHG_OK : xerr(err, XCHG_ENOMEM, "out of memory");
}

xchg_status xchg_status_get(xchg_db *db, xchg_status_report **out, xchg_err *err)
{
	xchg_status_report *rep = NULL;
	node_row self = {0}, *peers = NULL;
	size_t n = 0, i;
	time_t now = time(NULL);
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
		if (!(rc = peer_counts(db, peers[i].id, &rep->peers[i], err)) &&
		    !(rc = take_row(&rep->peers[i], &peers[i], err)))
			rc = judge(&rep->peers[i], now, err);
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
	free(info->public_key);
	free(info->last_sync_in);
	free(info->last_sync_out);
	free(info->link_dir);
	free(info->applied);
	free(info->added_at);
	free(info->problem_packet);
	free(info->problem_kind);
	free(info->problem_reason);
	free(info->problem_at);
	free(info->state_reason);
	free(info->subset);
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
