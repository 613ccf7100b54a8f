/*
 * A database restored from a copy has its counters where the copy left
 * them, while its peers remember more. Each packet tells its receiver
 * whether either end went back (PACKET.md section 6.3): this node, when
 * the peer acknowledges or lists as received a packet it never wrote (a
 * number beyond its last, or one written before this node's packet under
 * that number); the peer, when a number received before comes in a packet
 * written after the last one received, or when the peer acknowledges less
 * than it did before.
 * Whichever went back is given the full state of the other, so nothing
 * either had is lost.
 */
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "db.h"
#include "forms.h"
#include "restore.h"

void restore_seen_clear(restore_seen *seen)
{
	free(seen->message);
	memset(seen, 0, sizeof(*seen));
}

/* Adds one finding to what the import will say; "; " between two. */
static xchg_status say(restore_seen *seen, char *line, xchg_err *err)
{
	char *all;

	if (!line)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	all = seen->message ? xstrdup_printf("%s; %s", seen->message, line) : line;
	if (all != line)
		free(line);
	if (!all)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	free(seen->message);
	seen->message = all;
	return XCHG_OK;
}

/*
 * This node went back: its numbering jumps past what the peer has seen,
 * and everything queued for the peer travels again. The acknowledgement
 * is of packets this node no longer has: what it sent since it went back
 * carried numbers the peer had had already, and may have been skipped.
 * What the peer has is safe: these packets ask for its full state, so it
 * weighs every version that differs as a conflict (APPLY_SUSPECT).
 */
static xchg_status went_back_here(store *s, node_row *peer, const env_header *h, char *why,
				  restore_seen *seen, xchg_err *err)
{
	int64_t next = h->ack_packet_no > peer->sent_packet_no ? h->ack_packet_no : peer->sent_packet_no;
	xchg_status rc;

	if (!why)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	/*
	 * The whole database went back, so every link did: each peer is asked
	 * for its full state, and weighs what comes from here meanwhile as a
	 * sender that went back (APPLY_SUSPECT), even one whose counters show
	 * nothing, since this node may send it versions it has replaced. Each
	 * also gets this node's full state: what came back with the copy (a
	 * row deleted since, an older version) is in no registration any more.
	 */
	if ((rc = nodes_went_back(s, peer->id, next, why, err)) ||
	    (rc = changes_unsend(s, peer->id, err))) {
		free(why);
		return rc;
	}
	peer->sent_packet_no = next;
	peer->wants_full_state = 1;
	peer->full_state = NODE_FULL_OWED;
	return say(seen, why, err);
}

/* The peer went back, or asked: it is owed this node's full state. */
static xchg_status owe_full_state(store *s, node_row *peer, char *why, restore_seen *seen,
				  xchg_err *err)
{
	xchg_status rc;

	if (!why)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if ((rc = nodes_owe_full_state(s, peer->id, why, err))) {
		free(why);
		return rc;
	}
	peer->full_state = NODE_FULL_OWED;
	return say(seen, why, err);
}

/*
 * The peer acknowledges, or lists as received, packet n of this node's,
 * written at created, but this node wrote the packet it has under that
 * number later: the peer had that number from this node before it went
 * back, and the packet since is not the same. An acknowledgement can skip
 * a number (two packets applied in one import), so the peer lists every
 * packet it received until this node has read the list (PACKET.md 6.3).
 */
static xchg_status names_another(store *s, node_row *peer, const env_header *h, int64_t n,
				 const char *created, int listed, int *back, restore_seen *seen,
				 xchg_err *err)
{
	char *mine = NULL;
	xchg_status rc;

	if (*back || !created || n <= peer->acked_packet_no || n > peer->sent_packet_no)
		return XCHG_OK;
	if ((rc = nodes_sent_created(s, peer->id, n, &mine, err)) || !mine ||
	    forms_time_cmp(created, mine) >= 0) {
		free(mine);
		return rc;
	}
	*back = 1;
	rc = went_back_here(s, peer, h, xstrdup_printf(
		"this node went back in time: %s %s a packet %lld written at %s, but this node's"
		" packet %lld was written at %s (as a restore from a copy does); its changes for %s travel"
		" again, and every peer is asked for its full state", peer->code,
		listed ? "lists as received" : "acknowledges", (long long)n, created, (long long)n, mine,
		peer->code), seen, err);
	free(mine);
	return rc;
}

int restore_written_later(const node_row *sender, const env_header *h)
{
	return !sender->received_created_at ||
	       forms_time_cmp(h->created_at, sender->received_created_at) > 0;
}

xchg_status restore_check(store *s, node_row *sender, const env_header *h, restore_seen *seen,
			  xchg_err *err)
{
	/* A copy of any packet received before was written no later than the latest of them. */
	int written_later = sender->received_created_at && restore_written_later(sender, h);
	int back = h->ack_packet_no > sender->sent_packet_no;
	size_t i;
	xchg_status rc;

	memset(seen, 0, sizeof(*seen));
	if (back && (rc = went_back_here(s, sender, h, xstrdup_printf(
			"this node went back in time: %s acknowledges packet %lld, but this node wrote"
			" only %lld (as a restore from a copy does); its numbering jumps to %lld, its changes for"
			" %s travel again, and every peer is asked for its full state", sender->code,
			(long long)h->ack_packet_no, (long long)sender->sent_packet_no,
			(long long)h->ack_packet_no, sender->code), seen, err)))
		return rc;
	if ((rc = names_another(s, sender, h, h->ack_packet_no, h->ack_created_at, 0, &back, seen, err)))
		return rc;
	for (i = 0; i < h->n_received; i++)
		if ((rc = names_another(s, sender, h, h->received[i].packet_no,
					h->received[i].created_at, 1, &back, seen, err)))
			return rc;
	seen->suspect = h->resync;
	if (h->packet_no <= sender->received_packet_no && written_later) {
		seen->reused = seen->suspect = 1;
		return owe_full_state(s, sender, xstrdup_printf(
			"%s went back in time: its packet %lld reuses a number received before, and"
			" was written after the last one received (as a restore from a copy does); it is"
			" applied, and %s gets this node's full state", sender->code,
			(long long)h->packet_no, sender->code), seen, err);
	}
	if (h->packet_no > sender->received_packet_no && h->ack_packet_no < sender->acked_packet_no) {
		seen->suspect = 1;
		return owe_full_state(s, sender, xstrdup_printf(
			"%s went back in time: it acknowledges packet %lld, after acknowledging %lld"
			" before (as a restore from a copy does); it gets this node's full state",
			sender->code, (long long)h->ack_packet_no,
			(long long)sender->acked_packet_no), seen, err);
	}
	/*
	 * While the link recovers, a number not received yet in a packet
	 * written before the last one received: the sender wrote it, went back
	 * to a copy from before it, and has written since (a courier brought
	 * this one late). What it carries is real, but the sender may no
	 * longer hold it, and this node's full state, sent meanwhile, did not
	 * carry it either. So it is applied as no one's, and every change goes
	 * back to the sender too. (Outside a recovery such a packet only tells
	 * of a clock set back.)
	 */
	if (sender->recovering && h->packet_no > sender->received_packet_no &&
	    !restore_written_later(sender, h)) {
		seen->stale = seen->suspect = 1;
		return say(seen, xstrdup_printf(
			"%s went back in time after writing packet %lld (written before the last one"
			" received); it is applied, and what it changes goes back to %s too",
			sender->code, (long long)h->packet_no, sender->code), err);
	}
	/* Asked again while one is on its way: that one answers. */
	if (h->resync && h->packet_no > sender->received_packet_no &&
	    sender->full_state == NODE_FULL_NONE)
		return owe_full_state(s, sender, xstrdup_printf(
			"%s asks for this node's full state (it went back in time, or its operator"
			" asked); it gets it with the next packet", sender->code), seen, err);
	return XCHG_OK;
}

xchg_status xchg_node_resync(xchg_db *db, const char *code, xchg_err *err)
{
	node_row peer = {0};
	restore_seen seen = {0};
	xchg_status rc;

	if ((rc = nodes_begin_on_peer(db, code, &peer, err)))
		return rc;
	if (peer.revoked_at)
		rc = xerr(err, XCHG_EFAIL, "node %s: revoked on %s; nothing is sent to it", code,
			  peer.revoked_at);
	else if (!(rc = owe_full_state(db->st, &peer, xstrdup_printf("an operator asked for a resync:"
								     " %s gets this node's full state",
								     code), &seen, err)))
		rc = store_commit(db->st, err);
	if (rc)
		store_rollback(db->st);
	restore_seen_clear(&seen);
	node_row_clear(&peer);
	return rc;
}
