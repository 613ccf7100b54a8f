/*
 * sync_changes: one registration per (peer, entity). The triggers add them;
 * export stamps them with the packet number that carries them; an
 * acknowledgement purges those the peer has confirmed.
 */
#ifndef XCHG_CHANGES_H
#define XCHG_CHANGES_H

#include "common.h"
#include "store.h"

/* Stamps every registration for peer with packet_no: packets are cumulative. */
xchg_status changes_mark(store *s, const char *peer_id, int64_t packet_no, xchg_err *err);
/* Deletes peer's registrations carried by packets up to ack. */
xchg_status changes_purge(store *s, const char *peer_id, int64_t ack, xchg_err *err);
/* Whether (type, uuid) is registered for peer, and when it last changed. */
xchg_status changes_find(store *s, const char *peer_id, const char *type,
			 const char *uuid, int *found, char changed_at[40], xchg_err *err);
xchg_status changes_drop(store *s, const char *peer_id, const char *type,
			 const char *uuid, xchg_err *err);
xchg_status changes_count(store *s, const char *peer_id, int64_t *n, xchg_err *err);
/* Steps through peer's registrations of one entity type: uuid, operation, changed_at. */
xchg_status changes_select(store *s, const char *peer_id, const char *type,
			   store_stmt **out, xchg_err *err);

#endif
