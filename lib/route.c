#include "route.h"

#include "changes.h"
#include "nodes.h"

/* Not a node code (codes have no spaces): the lock of no peer. */
#define ROUTE_LOCK "xchg routing"

xchg_status route_pending(store *s, xchg_err *err)
{
	xchg_status rc;

	if ((rc = store_lock(s, ROUTE_LOCK, err)))
		return rc;
	if ((rc = s->ops->exec(s, s->ops->route_sql, err)))
		return xerr_prefix(err, "routing the captured changes");
	if ((rc = nodes_cap_queues(s, err)) || (rc = changes_collapse_capped(s, err)))
		return xerr_prefix(err, "capping the queues of silent peers");
	return XCHG_OK;
}
