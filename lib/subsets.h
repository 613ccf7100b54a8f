/*
 * sync_subsets: the subset values each peer receives (formats/PLAN.md,
 * "Subsets"). A peer with none receives every row.
 */
#ifndef XCHG_SUBSETS_H
#define XCHG_SUBSETS_H

#include "db.h"
#include "nodes.h"

/* A subset value at most this long; a list of at most this many. */
#define SUBSET_VALUE_MAX 200
#define SUBSETS_MAX 256

/* peer's values joined by commas, in order, into *joined (the caller frees it); NULL: every row. */
xchg_status subsets_get(store *s, const char *peer_id, char **joined, xchg_err *err);

/*
 * Inside the caller's transaction, after routing: gives peer the values in
 * list ("A,B"; "" for every row). Every row the change concerns is
 * registered for the peer: as an EVICT where the peer no longer receives
 * it, as a change where it now does, so that its next packet makes its
 * copy exactly its subset.
 */
xchg_status subsets_set(xchg_db *db, const node_row *peer, const char *list, xchg_err *err);

/*
 * *outside: the row of e with this uuid is here, and its subset value is
 * not one the peer receives.
 */
xchg_status subsets_outside(xchg_db *db, const plan_entity *e, const char *peer_id,
			    const char *uuid, int *outside, xchg_err *err);

/*
 * Appends to sql the condition that a row of e's table (its columns
 * unqualified) goes to the peer whose id is the next parameter: nothing
 * when e has no subset column.
 */
void subsets_filter_sql(xbuf *sql, const plan_entity *e);

#endif
