/*
 * sync_nodes: this node and its peers, their keys and packet counters.
 * Every statement that writes sync_nodes is here; other modules only read
 * it, in a join or a subquery.
 */
#ifndef XCHG_NODES_H
#define XCHG_NODES_H

#include "common.h"
#include "envelope.h"
#include "store.h"

/* The last packet from a peer that was not applied, and why (sync_nodes.problem_*). */
typedef struct node_problem {
	char *packet; /* the file's name */
	char *kind;   /* NODE_PROBLEM_REFUSED or NODE_PROBLEM_FAILED */
	char *reason;
	char *at;     /* when, as last_sync_in is written */
} node_problem;

#define NODE_PROBLEM_REFUSED "refused"
#define NODE_PROBLEM_FAILED "not applied"

typedef struct node_row {
	char *id;
	char *code;
	char *name;
	char *role;
	char *public_key;
	int is_self;
	int64_t sent_packet_no;
	int64_t acked_packet_no;
	int64_t received_packet_no;
	char *last_sync_in;
	char *last_sync_out;
	char *key_chain;  /* this node: the signed history of its keys (JSON), or NULL */
	char *revoked_at; /* a peer: when it was revoked, or NULL */
	int64_t full_state; /* what the peer is owed of the full state: NODE_FULL_* or n */
	char *link_dir;     /* the link's folder (xchg_node_set), or NULL */
	int64_t late_after; /* seconds of silence before the link is late; 0: the default */
	char *applied;      /* what becomes of applied packets: "archive", "delete", "keep"; NULL: the default */
	char *added_at;     /* when the peer was added; NULL for a node added before xchg kept it */
	node_problem problem; /* all NULL when every packet from the peer applied */
	char *received_created_at; /* the latest created_at of the packets received from the peer */
	int wants_full_state; /* this node asked the peer for its full state, and has not had it */
	char *recovering;   /* why the link is recovering (PACKET.md section 6.3), or NULL */
	int64_t max_queue;  /* registrations the peer's queue may hold before it collapses; 0: no cap */
} node_row;

/* What becomes of a link's applied packets unless xchg_node_set says otherwise. */
#define NODE_APPLIED_DEFAULT "archive"

/*
 * sync_nodes.full_state_no (PACKET.md 6.2): NULL, nothing; 0, the full
 * state, not sent yet; n, the full state, last carried by packet n and
 * owed until n is acknowledged.
 */
#define NODE_FULL_NONE (-1)
#define NODE_FULL_OWED 0

/* *found is 0 when there is no such node; err is then untouched. */
xchg_status nodes_self(store *s, node_row *out, int *found, xchg_err *err);
/* The same, and a node that was never set up is an error that says to run xchg init. */
xchg_status nodes_self_required(store *s, node_row *out, xchg_err *err);
xchg_status nodes_by_code(store *s, const char *code, node_row *out, int *found,
			  xchg_err *err);
xchg_status nodes_by_id(store *s, const char *id, node_row *out, int *found, xchg_err *err);
xchg_status nodes_peers(store *s, node_row **out, size_t *n, xchg_err *err);
/* Inserts n, owed n->full_state (NODE_FULL_NONE for this node itself). */
xchg_status nodes_insert(store *s, const node_row *n, xchg_err *err);
/*
 * Records packet n as the last generated for the peer, now, when it was
 * written (created_at), and the highest number of the peer's packets it
 * lists as received (0: none).
 */
xchg_status nodes_record_sent(store *s, const char *peer_id, int64_t packet_no,
			      const char *created_at, int64_t listed_received, xchg_err *err);
/*
 * The peer acknowledged packet ack (a later one than it had): recorded;
 * when packets up to it were written is no longer kept, nor the peer's
 * packets they listed as received; a full state carried up to it is
 * delivered.
 */
xchg_status nodes_acked(store *s, const char *peer_id, int64_t ack, xchg_err *err);
/* The node's public key (text) and the chain of signed rotations that leads to it. */
xchg_status nodes_set_key(store *s, const char *id, const char *public_key, const char *key_chain,
			  xchg_err *err);
/* When packet n to the peer was written, if it is not acknowledged yet; *created_at NULL if unknown. */
xchg_status nodes_sent_created(store *s, const char *peer_id, int64_t packet_no, char **created_at,
			       xchg_err *err);
/*
 * Records packet n as received from the peer now, written at created_at,
 * and that time as the latest a packet from it was written when latest is
 * set. The number does not go back: a peer that went back in time sends
 * numbers received before (PACKET.md section 6.3).
 */
xchg_status nodes_record_received(store *s, const char *peer_id, int64_t packet_no,
				  const char *created_at, int latest, xchg_err *err);
/*
 * The packets received from the peer that it has not yet seen listed, the
 * oldest first, at most ENV_MAX_RECEIVED; *out (NULL when there are none)
 * is freed with env_received_free.
 */
xchg_status nodes_received_listed(store *s, const char *peer_id, env_received **out, size_t *n,
				  xchg_err *err);
/* Packet packet_no carries the full state the peer is owed. */
xchg_status nodes_full_state_sent(store *s, const char *peer_id, int64_t packet_no,
				  xchg_err *err);
/*
 * This node went back in time (restore.c): its numbering towards the peer
 * resumes past next, the peer's link recovers for why, and every live peer
 * is owed this node's full state and asked for its own.
 */
xchg_status nodes_went_back(store *s, const char *peer_id, int64_t next, const char *why,
			    xchg_err *err);
/* The peer is owed this node's full state; its link recovers for why. */
xchg_status nodes_owe_full_state(store *s, const char *peer_id, const char *why, xchg_err *err);
/*
 * After a packet from the peer is applied: a full state from it ends this
 * node's asking, and a link with nothing owed either way is back in step.
 */
xchg_status nodes_settle(store *s, const char *peer_id, int got_full_state, xchg_err *err);
/*
 * A silent peer whose queue passed its cap is owed its full state instead
 * (PACKET.md section 6.3); changes_collapse_capped then drops what the
 * full state carries.
 */
xchg_status nodes_cap_queues(store *s, xchg_err *err);
/*
 * Records that packet (a file name) from the peer with code was not
 * applied: kind NODE_PROBLEM_*, and why. In a transaction of its own, since
 * the import's was rolled back; a code that is no peer records nothing.
 */
xchg_status nodes_note_problem(store *s, const char *code, const char *packet,
			       const char *kind, const char *reason, xchg_err *err);
/*
 * Begins a transaction on the existing peer code, locked against imports
 * of its packets; XCHG_ENOTFOUND when there is none. On success the
 * caller commits or rolls back, and clears peer.
 */
xchg_status nodes_begin_on_peer(xchg_db *db, const char *code, node_row *peer, xchg_err *err);
int nodes_is_master(const node_row *n);
void node_row_clear(node_row *n);
void node_rows_free(node_row *rows, size_t n);

#endif
