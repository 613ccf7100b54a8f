/*
 * sync_changes: one registration per (peer, entity). Routing adds them
 * (route.c); export stamps them with the packet number that carries them;
 * an acknowledgement purges those the peer has confirmed.
 */
#ifndef XCHG_CHANGES_H
#define XCHG_CHANGES_H

#include "common.h"
#include "store.h"


/* Deletes peer's registrations carried by packets up to ack. */
xchg_status changes_purge(store *s, const char *peer_id, int64_t ack, xchg_err *err);
/* Deletes every registration for peer: it is revoked or removed. */
xchg_status changes_forget(store *s, const char *peer_id, xchg_err *err);
/* Every registration for peer is unsent again: this node went back in time. */
xchg_status changes_unsend(store *s, const char *peer_id, xchg_err *err);
/*
 * A peer owed its full state for a capped queue (nodes_cap_queues) keeps
 * no registration but its deletions: the full state reads the rows
 * themselves from the tables, and only a row that is gone needs telling.
 */
xchg_status changes_collapse_capped(store *s, xchg_err *err);
/*
 * Whether (type, uuid) is registered for peer, or captured and bound to be
 * routed to it, and when it last changed.
 */
xchg_status changes_find(store *s, const char *peer_id, const char *type,
			 const char *uuid, int *found, char changed_at[40], xchg_err *err);
/*
 * changes_find's answer for n canonical uuids of one type at once, a
 * statement per STORE_UUIDS_PER_QUERY of them: found[i] is set for each
 * that is registered or captured so.
 */
xchg_status changes_find_many(store *s, const char *peer_id, const char *type,
			      const char *const *uuids, size_t n, unsigned char *found,
			      xchg_err *err);
xchg_status changes_drop(store *s, const char *peer_id, const char *type,
			 const char *uuid, xchg_err *err);
/* Registers (type, uuid) for peer anew, as not yet sent, whatever was there. */
xchg_status changes_requeue(store *s, const char *peer_id, const char *type,
			    const char *uuid, const char *operation, xchg_err *err);
/*
 * The changes for peer: *unsent, in no packet yet (what routing would add
 * counted too); *unacked, in a packet the peer has not acknowledged.
 */
xchg_status changes_count(store *s, const char *peer_id, int64_t *unsent, int64_t *unacked,
			  xchg_err *err);
/*
 * Stamps every registration of one entity type for peer with packet_no
 * (packets are cumulative) and steps through them: uuid, operation,
 * changed_at. One statement marks and returns, so what a packet carries is
 * exactly what it marked, however the application writes meanwhile.
 */
xchg_status changes_take(store *s, const char *peer_id, const char *type,
			 int64_t packet_no, store_stmt **out, xchg_err *err);

/*
 * A full-state packet (PACKET.md 6.2): stamps every registration for peer
 * with packet_no, as the rows it reads carry them all, and then steps
 * through the deletions and EVICTs of one type it stamped (uuid,
 * changed_at, operation): a row deleted outright is in no table the packet
 * reads, and one that left the peer's subset in none it reads for the peer.
 */
xchg_status changes_take_all(store *s, const char *peer_id, int64_t packet_no, xchg_err *err);
xchg_status changes_deletions(store *s, const char *peer_id, const char *type,
			      int64_t packet_no, store_stmt **out, xchg_err *err);

#endif
