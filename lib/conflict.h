/*
 * Conflicts (formats/PACKET.md 6.9): an incoming change to an entity that is still
 * registered here for its sender, i.e. changed on both sides since they last
 * agreed. Both sides of the link decide the same way without talking, and
 * the losing version goes into sync_conflicts, never silently away.
 */
#ifndef XCHG_CONFLICT_H
#define XCHG_CONFLICT_H

#include "db.h"
#include "envelope.h"
#include "nodes.h"

/*
 * Decides between the local version of in's entity and in. changed_at is
 * when the local registration for sender last changed: the only time a row
 * deleted outright still has. Logs the loser; when the incoming version
 * wins, drops the local registration for sender so the losing local version
 * is not sent back (the center sends the winner back instead, see
 * conflict.c). *conflict is 0 when in is the local version itself: nothing
 * to decide, log or apply (*incoming_wins 0 too).
 */
xchg_status conflict_resolve(xchg_db *db, const node_row *self, const node_row *sender,
			     const plan_entity *e, const env_entity *in, const char *changed_at,
			     int *conflict, int *incoming_wins, xchg_err *err);

#endif
