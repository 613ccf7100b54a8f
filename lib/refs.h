/*
 * Integer references (formats/PLAN.md, "Integer references"): a column
 * holding the local id of another entity's row travels as that row's uuid
 * and is mapped back to the receiver's own id. A reference whose row is not
 * here (not arrived yet, or outside this node's subset) is stored NULL and
 * kept in sync_refs, pending, until the row arrives; meanwhile it still
 * travels as the uuid it names.
 */
#ifndef XCHG_REFS_H
#define XCHG_REFS_H

#include "db.h"

/*
 * Appends the SQL expression that reads column of table (unqualified
 * names; the row's own uuid in column uuid) as it travels: the uuid of
 * the row of type its id names, canonical, or the pending one when NULL.
 */
xchg_status refs_read_sql(xchg_db *db, xbuf *sql, const char *table, const char *column,
			  const char *type, xchg_err *err);

/*
 * *v, a reference from a packet (a uuid, or NULL) for column of table in
 * the row row_uuid, becomes the local id to store (or NULL), and the
 * reference is recorded pending when its row is not here.
 */
xchg_status refs_to_local(xchg_db *db, const char *table, const char *column, const char *type,
			  const char *row_uuid, xvalue *v, xchg_err *err);

/* A row of type with this uuid just arrived: the references pending on it now hold its id. */
xchg_status refs_arrived(xchg_db *db, const plan_entity *e, const char *uuid, xchg_err *err);

/*
 * A row of e with this uuid is about to be removed from this node: what
 * references it becomes pending on it, NULL here, so that no foreign key
 * stops the removal and the references survive its return; what it and
 * its children waited for is forgotten.
 */
xchg_status refs_leaving(xchg_db *db, const plan_entity *e, const char *uuid, xchg_err *err);

#endif
