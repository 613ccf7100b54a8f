/*
 * A link's end that went back in time (a database restored from a copy),
 * told by a packet, and the recovery it sets in motion: PACKET.md section 6.3.
 */
#ifndef XCHG_RESTORE_H
#define XCHG_RESTORE_H

#include "envelope.h"
#include "nodes.h"

typedef struct restore_seen {
	int reused;    /* the sender went back, and this packet's number was received before:
			  it is new all the same, and is applied */
	int suspect;   /* the sender went back, or asks for the full state as one that did:
			  its entities may be older than what they would replace */
	int stale;     /* the sender went back after writing this packet: what it carries
			  may be gone there, so it is applied as no one's (goes back to it) */
	char *message; /* what was seen and what is done about it; NULL when nothing */
} restore_seen;

/* h was written after every packet received from sender before it, or is the first. */
int restore_written_later(const node_row *sender, const env_header *h);

/*
 * Looks at the header of a packet from sender, before its acknowledgement
 * is taken, for the signs that either end went back in time, and starts
 * the recovery in the database (this node's numbering and queue, the full
 * state owed either way, the link marked recovering). sender's counters
 * are updated to match. Runs in the import's transaction: a packet that is
 * refused in the end leaves nothing of it.
 */
xchg_status restore_check(store *s, node_row *sender, const env_header *h, restore_seen *seen,
			  xchg_err *err);
void restore_seen_clear(restore_seen *seen);


#endif
