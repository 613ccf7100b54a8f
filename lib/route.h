/*
 * Routing: the capture log (sync_capture, one row per change, written by
 * the triggers in the application's transaction) into the peers' queues
 * (sync_changes), by xchg, outside the application's transactions
 * (formats/PACKET.md 6.2).
 */
#ifndef XCHG_ROUTE_H
#define XCHG_ROUTE_H

#include "common.h"
#include "store.h"

/*
 * Inside the caller's transaction, which holds it until it ends: takes the
 * routing lock, which every export and import takes first, so that no two
 * route at once, and routes every capture committed so far.
 */
xchg_status route_pending(store *s, xchg_err *err);

#endif
