/* xchg sync's pieces that xchg watch shares. */
#ifndef XCHG_SYNC_H
#define XCHG_SYNC_H

#include "nodes.h"

/*
 * The folders the links in peers are run through, each once: a link's
 * own (xchg node set --dir), else dir; revoked peers have none. *out
 * points into peers and dir; the caller frees the array only. A link with
 * no folder, and no dir, is XCHG_EUSAGE naming it.
 */
xchg_status sync_folders(const node_row *peers, size_t n, const char *dir, const char ***out,
			 size_t *nout, xchg_err *err);

#endif
