/*
 * One entity from a peer, applied as import applies it: its rows held, the
 * conflict check (conflict.h), then the write (row_json.h). Guarded, the
 * entity runs inside a savepoint, so that a row this node cannot store as
 * it came fails alone while the packet's transaction goes on
 * (formats/PACKET.md 6.7): a unique key another entity holds is decided
 * like a conflict, a row the schema refuses is handed back with the
 * database's own words.
 */
#ifndef XCHG_APPLY_H
#define XCHG_APPLY_H

#include "db.h"
#include "envelope.h"
#include "nodes.h"

/* apply_entity flags */
#define APPLY_GUARDED 1u /* in a savepoint: a fault of the row itself is caught */
/* guarded: a unique key another entity holds, or a row it references that is not here, is only reported */
#define APPLY_DEFER 2u
/* in comes with the sender's full state: a copy of the local version is left alone */
#define APPLY_FULL_STATE 4u
/*
 * The sender went back in time (PACKET.md section 6.3): what it sends may
 * be a version that lost before it went back, so every version that
 * differs from the local one is weighed as a conflict.
 */
#define APPLY_SUSPECT 8u

typedef struct apply_result {
	int applied;        /* the incoming version is stored */
	int64_t conflicts;  /* conflicts and unique-key collisions decided, each logged */
	int collided;       /* APPLY_DEFER: a unique key another entity holds, or a foreign key
			       finds no row; nothing changed, and it is tried again after the
			       rest of the packet, which may bring what it needs */
	int refused;        /* the schema refused the row; nothing changed; reason says why */
	char reason[XCHG_ERRMSG_MAX];
} apply_result;

/*
 * Applies in, which came from sender. Unguarded, any failure is returned
 * and the caller's transaction is spoilt; store_last_fault tells whether
 * the row itself was at fault. Guarded, such a failure is undone and
 * reported in *r instead; any other failure is returned as unguarded.
 */
xchg_status apply_entity(xchg_db *db, const node_row *self, const node_row *sender,
			 const env_entity *in, unsigned flags, apply_result *r, xchg_err *err);

/*
 * Logs in as refused by this node's schema for reason, beside the local
 * version, which stays; xchg_conflict_retry applies it later.
 */
xchg_status apply_log_refused(xchg_db *db, const node_row *sender, const env_entity *in,
			      const char *reason, xchg_err *err);

#endif
