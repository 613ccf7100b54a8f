#include "route.h"

/* Not a node code (codes have no spaces): the lock of no peer. */
#define ROUTE_LOCK "xchg routing"

/*
 * A silent peer's queue past its cap collapses into its full state owed
 * (PACKET.md section 6.3): the rows themselves go then, read from the tables, so
 * only the deletions of rows that are gone need keeping. A peer owed its
 * full state keeps no other registration from then on.
 */
static const char cap_sql[] =
	"UPDATE sync_nodes SET full_state_no = 0, recovering = 'its queue passed ' || max_queue ||"
	" ' changes while it was silent (xchg node set --max-queue): it gets the full state"
	" when it is back' WHERE max_queue > 0 AND revoked_at IS NULL"
	" AND (full_state_no IS NULL OR full_state_no > 0) AND (SELECT count(*) FROM sync_changes c"
	" WHERE c.node_id = sync_nodes.id AND c.operation <> 'DELETE') > max_queue;"
	"DELETE FROM sync_changes WHERE operation <> 'DELETE' AND node_id IN"
	" (SELECT id FROM sync_nodes WHERE max_queue > 0 AND full_state_no = 0)";

xchg_status route_pending(store *s, xchg_err *err)
{
	xchg_status rc;

	if ((rc = store_lock(s, ROUTE_LOCK, err)))
		return rc;
	if ((rc = s->ops->exec(s, s->ops->route_sql, err)))
		return xerr_prefix(err, "routing the captured changes");
	if ((rc = s->ops->exec(s, cap_sql, err)))
		return xerr_prefix(err, "capping the queues of silent peers");
	return XCHG_OK;
}
