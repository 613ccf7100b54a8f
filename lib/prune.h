/*
 * A desktop given the center's full state keeps no row the center does not
 * have (PACKET.md section 6.3): a row deleted outright at the center, whose
 * deletion this desktop acknowledged before it went back in time, or one
 * written behind xchg's back. Only a desktop prunes, and only against the
 * center: the center holds every desktop's rows, a desktop only its own.
 */
#ifndef XCHG_PRUNE_H
#define XCHG_PRUNE_H

#include "db.h"
#include "nodes.h"

/*
 * Whether a full state has anything here to prune: a row of an entity of
 * the plan (children go with them). A new desktop's first packet, the
 * largest, then keeps no list.
 */
xchg_status prune_needed(xchg_db *db, int *needed, xchg_err *err);
/* Before the full state's entities: an empty list of what it carries. */
xchg_status prune_begin(store *s, xchg_err *err);
/* One entity the full state carries (canonical uuid). */
xchg_status prune_seen(store *s, const char *type, const char *uuid, xchg_err *err);
/*
 * After them: every live row of the plan's tables that the full state did
 * not carry is removed outright, as the center has no trace of it, unless
 * it is this node's own change on its way to the center (registered for
 * it, or captured and not routed yet). *pruned counts them.
 */
xchg_status prune_rest(xchg_db *db, const node_row *center, int64_t *pruned, xchg_err *err);

#endif
