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

#endif
