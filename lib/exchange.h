/* Export and import: the protocol of formats/PACKET.md 6, over the modules below it. */
#ifndef XCHG_EXCHANGE_H
#define XCHG_EXCHANGE_H

#include "db.h"
#include "nodes.h"

/* pkt_<sender>_<recipient>_<packet_no>.zip, + ".sealed" if sealed; the caller frees it. */
char *exchange_packet_name(const char *sender, const char *recipient, int64_t packet_no,
			   int sealed);
/* flags: XCHG_EXPORT_*; XCHG_EXPORT_ENCRYPT seals the packet to the peer's key. */
xchg_status exchange_export(xchg_db *db, const node_row *self, const char *peer_code,
			    const char *dir, unsigned flags, xchg_export_result *res,
			    xchg_err *err);

/*
 * Removes dir/name when it is the hidden temporary of a packet to peer that
 * this node never committed (a crashed export's); *removed says whether it
 * did. A temporary that an export is writing or publishing stays.
 */
xchg_status exchange_remove_abandoned(xchg_db *db, const node_row *self, const char *peer_code,
				      const char *dir, const char *name, int *removed,
				      xchg_err *err);

#endif
