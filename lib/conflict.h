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

/* How the local version of in's entity compares with in. */
typedef struct local_version {
	int found;  /* the row is here (deleted or not) */
	int same;   /* it is in itself: the same time, state and data */
} local_version;

xchg_status conflict_compare(xchg_db *db, const plan_entity *e, const env_entity *in,
			     local_version *out, xchg_err *err);

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

/*
 * in could not be stored: a unique key its data claims (other than the
 * uuid) is held here by another entity of the same table, as when two
 * desktops create account ACC-7 while offline. Decided like a conflict,
 * by the plan's policy, alike at both ends; a holder that is deleted gives
 * the key up. When in loses it is logged and must not be applied
 * (*incoming_wins 0), and the center registers in back for the sender;
 * when it wins, each live holder is logged, and every holder removed from
 * this node (and at the center registered for the sender as deleted), so
 * that in can be stored now. *found is 0 when no holder is found by the
 * keys' values (the key may be a child table's): nothing is done.
 * *logged counts the entries written.
 */
xchg_status conflict_collision(xchg_db *db, const node_row *self, const node_row *sender,
			       const plan_entity *e, const env_entity *in, int *found,
			       int *incoming_wins, int64_t *logged, xchg_err *err);

/* What an entry of sync_conflicts records (its kind column). */
#define CONFLICT_KIND_CONFLICT "conflict"     /* one entity changed on both sides */
#define CONFLICT_KIND_UNIQUE_KEY "unique-key" /* two entities claimed one unique key */
#define CONFLICT_KIND_REFUSED "refused"       /* this node's schema refused a row */

/* One entry of the conflict log. Strings are not owned. */
typedef struct conflict_entry {
	const char *kind;             /* CONFLICT_KIND_* */
	const char *entity_type;
	const char *entity_uuid;      /* the losing version's entity */
	const char *peer_id;          /* the peer whose packet brought it */
	const char *policy;           /* the rule that decided */
	int remote_won;               /* the peer's version was kept */
	const char *losing_origin;    /* the code of the node the losing version came from */
	const char *local_updated_at;
	const char *remote_updated_at;
	const char *losing_operation;
	const char *losing_version;   /* JSON; NULL for a delete */
	const char *winning_version;  /* JSON; NULL for a delete or nothing */
	const char *reason;           /* in words; NULL for a plain conflict */
} conflict_entry;

/*
 * Adds an open entry to sync_conflicts, decided now; unless the same
 * losing version of the entity is open there already.
 */
xchg_status conflict_log_add(xchg_db *db, const conflict_entry *c, xchg_err *err);

/*
 * The open entries of peer's: *refused, the rows this node's schema
 * refused; *conflicts (unless NULL), the rest.
 */
xchg_status conflict_log_open(xchg_db *db, const char *peer_id, int64_t *conflicts,
			      int64_t *refused, xchg_err *err);
/* Deletes every entry of peer's: it is removed. */
xchg_status conflict_log_forget(xchg_db *db, const char *peer_id, xchg_err *err);
/*
 * Closes peer's open refused rows of entity (type, uuid) as "superseded":
 * a newer version from the peer has come since, and a retry of the older
 * one would overwrite it. keep_version (may be NULL) is left open: the
 * version itself, refused again.
 */
xchg_status conflict_log_supersede(xchg_db *db, const char *peer_id, const char *type,
				   const char *uuid, const char *keep_version, xchg_err *err);

#endif
