/*
 * xchg: keeps databases in step across often-offline offices by exchanging
 * signed, numbered packet files (see formats/PACKET.md).
 *
 * This is the library's only public header. Every function that can fail
 * returns an xchg_status and fills the caller's xchg_err with a message that
 * names the object and the reason. Handles are opaque; each result type has
 * its own free function, and the caller owns whatever a function hands out.
 * The library never prints and never exits.
 */
#ifndef XCHG_H
#define XCHG_H

#include <signal.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version of this header; xchg_version() gives the library's. */
#define XCHG_VERSION_MAJOR 0
#define XCHG_VERSION_MINOR 1
#define XCHG_VERSION_PATCH 0
#define XCHG_VERSION "0.1.0"

/* The version of the library linked, "MAJOR.MINOR.PATCH": may be newer than XCHG_VERSION. */
const char *xchg_version(void);

/*
 * Every options struct starts with its version: declare one with its _INIT
 * macro (xchg_export_opts o = XCHG_EXPORT_OPTS_INIT;), then set what you
 * need. A library that meets a version it does not know (0: a struct not
 * made so) refuses it with XCHG_EUSAGE instead of reading fields that are
 * not there; new fields come with a new version, and older ones keep
 * working.
 */

/* Status codes. They double as the command-line tool's exit codes. */
typedef enum xchg_status {
	XCHG_OK = 0,
	XCHG_EFAIL = 1,     /* something asked for was not done (see the message) */
	XCHG_EUSAGE = 2,    /* bad arguments or options */
	XCHG_EDB = 3,       /* the database cannot be opened, is not set up, or failed */
	XCHG_EPACKET = 4,   /* a packet was refused: unreadable, tampered, misaddressed */
	XCHG_EIO = 5,       /* a file or folder could not be read or written */
	XCHG_ENOMEM = 6,    /* out of memory */
	XCHG_ENOTFOUND = 7  /* a named node, packet or entity does not exist */
} xchg_status;

#define XCHG_ERRMSG_MAX 1024

/* The caller's error record; lives on the caller's stack, needs no freeing. */
typedef struct xchg_err {
	xchg_status code;
	char msg[XCHG_ERRMSG_MAX];
} xchg_err;

/* A node database (a center or a desktop) and its exchange plan. */
typedef struct xchg_db xchg_db;

/* xchg_open flags */
#define XCHG_OPEN_CREATE 1u /* create the database if it does not exist (init) */

/*
 * Opens the database named by url: "sqlite:PATH", a plain PATH, or a
 * PostgreSQL connection URI ("postgresql://..." / "postgres://...").
 * XCHG_OPEN_CREATE creates a missing SQLite file, and xchg_close removes
 * that file again when nothing was stored in it (a first xchg_init that
 * failed); a file that existed before is never removed. A PostgreSQL
 * database must exist.
 */
xchg_status xchg_open(xchg_db **out, const char *url, unsigned flags,
		      xchg_err *err);
void xchg_close(xchg_db *db);

/*
 * Names this node's secret key file. By default it is PATH.key beside a
 * SQLite database; a PostgreSQL node has none until this call or
 * xchg_set_key_dir names one, and the calls that need the key fail.
 */
xchg_status xchg_set_key_file(xchg_db *db, const char *path, xchg_err *err);

/*
 * Puts a PostgreSQL node's key file into folder dir, named after the
 * database, its host and its port (DBNAME@HOST-PORT.xchg.key, any other
 * character than [A-Za-z0-9@._-] made '_'); xchg_init creates dir and its
 * missing parents with mode 0700. A SQLite node's key stays beside its
 * database. The later of this and xchg_set_key_file wins.
 */
xchg_status xchg_set_key_dir(xchg_db *db, const char *dir, xchg_err *err);

/* This node's secret key file, or NULL while a PostgreSQL node has none named. */
const char *xchg_key_file(const xchg_db *db);

/* True when code is a valid node code: 1 to 64 of [A-Za-z0-9._-]. */
int xchg_code_valid(const char *code);

/*
 * Makes s safe to show on a terminal or in a log line, in place, and
 * returns it: every byte a terminal would act on or that is no part of
 * valid UTF-8 (C0 controls, newlines included, DEL, C1 controls U+0080 to
 * U+009F, stray bytes) becomes one '?' each. A packet's strings may hold
 * escape sequences; every message libxchg records has passed through
 * this, and so should anything else a caller shows of a packet's or the
 * database's contents. NULL stays NULL.
 */
char *xchg_scrub(char *s);

#define XCHG_INIT_OPTS_VERSION 1
#define XCHG_INIT_OPTS_INIT {.version = XCHG_INIT_OPTS_VERSION}

typedef struct xchg_init_opts {
	unsigned version;      /* XCHG_INIT_OPTS_VERSION, as XCHG_INIT_OPTS_INIT sets it */
	const char *code;      /* this node's code */
	const char *name;      /* display name; NULL for the code */
	const char *plan_path; /* the exchange plan (formats/PLAN.md) */
	int master;            /* nonzero: this node is the center */
} xchg_init_opts;

/*
 * Prepares the database: sync tables, the plan, uuid/updated_at/is_deleted
 * columns, registration triggers, this node's key pair. Safe to run again:
 * *already is set to 1 when the node was initialized before. When it fails,
 * the database is as it was and a key file it created is removed.
 */
xchg_status xchg_init(xchg_db *db, const xchg_init_opts *opts, int *already,
		      xchg_err *err);

/*
 * This node's key line, "CODE ID KEY": its code, its id (a uuid made once by
 * xchg_init, the same in every database of the star) and its public key.
 * A peer registers the node with it (xchg_node_add). The caller frees it.
 */
xchg_status xchg_public_key(xchg_db *db, char **out, xchg_err *err);

/*
 * Replaces this node's key pair with a new one (when the secret key may
 * have been seen, or on a schedule). The old key signs the new public key;
 * every packet after this carries that signed chain, so peers move to the
 * new key with the first packet they verify. *new_public_key: the key line
 * with the new key, as xchg_public_key gives it; the caller frees it.
 */
xchg_status xchg_key_rotate(xchg_db *db, char **new_public_key, xchg_err *err);

/*
 * Registers a peer from its key line (xchg_public_key), under the id and
 * code the line carries. code may be NULL; given, it must be the line's.
 * name NULL: the code. A desktop accepts exactly one peer: the center.
 * Refused: a malformed line, this node's own key or id, a key or id
 * registered already, and a code equal to a registered one but for case
 * (packet names would collide on FAT and Windows shares).
 */
xchg_status xchg_node_add(xchg_db *db, const char *key_line, const char *code,
			  const char *name, xchg_err *err);
/*
 * Replaces a peer's registered key with the one in key_line, for a peer that
 * was given a new key out of band (it lost its key file, or missed too many
 * rotations). The line must carry the peer's code and id.
 */
xchg_status xchg_node_set_key(xchg_db *db, const char *code, const char *key_line,
			      xchg_err *err);
/* A link is late after a day without a packet from its peer, unless set otherwise. */
#define XCHG_LATE_AFTER_DEFAULT (24 * 60 * 60)

/* What xchg_node_set changes of a link; a NULL or 0 member is left as it is. */
#define XCHG_LINK_OPTS_VERSION 1
#define XCHG_LINK_OPTS_INIT {.version = XCHG_LINK_OPTS_VERSION}

typedef struct xchg_link_opts {
	unsigned version;      /* XCHG_LINK_OPTS_VERSION, as XCHG_LINK_OPTS_INIT sets it */
	const char *dir;      /* the folder its packets go to and come from; "" forgets it */
	int64_t late_after;   /* seconds without a packet from the peer before it is late */
	const char *applied;  /* what sync does with an applied packet: "archive" (into the
				 folder's archive/), "delete" or "keep" */
	int64_t max_queue;    /* changes its queue may hold while it is silent; past that
				 they collapse into its full state, owed (PACKET.md section 6.3);
				 XCHG_NO_MAX_QUEUE takes the cap away */
	const char *subset;   /* the subset values the peer receives, "A,B"; "" for every
				 row (formats/PLAN.md, "Subsets"); set at the center */
} xchg_link_opts;

#define XCHG_NO_MAX_QUEUE (-1)

/*
 * Sets how the link with peer code is run unattended (xchg sync, xchg
 * watch, xchg status); stored in this node's database.
 */
xchg_status xchg_node_set(xchg_db *db, const char *code, const xchg_link_opts *o,
			  xchg_err *err);
/*
 * Forgets a peer, with everything queued for it. Only a peer that never
 * exchanged a packet with this node, or one that is revoked: a live link
 * removed by mistake could not be set up again without losing changes.
 */
xchg_status xchg_node_remove(xchg_db *db, const char *code, xchg_err *err);
/*
 * Revokes a peer whose key is lost or stolen: its packets are refused from
 * now on, nothing more is exported to it, and its queue is dropped. It is
 * not undone; a replacement joins under a new code.
 */
xchg_status xchg_node_revoke(xchg_db *db, const char *code, xchg_err *err);

/*
 * How far a long export or import has come, for a progress display: done
 * entities of total (0 while the total is unknown; for an import it is an
 * estimate from the bytes read). Called every 1,024 entities, and once at
 * the end with done == total when it was called before; never for a packet
 * of fewer entities.
 */
typedef void (*xchg_progress_cb)(int64_t done, int64_t total, void *ctx);

typedef struct xchg_export_result {
	char *path;          /* the published packet file */
	int64_t packet_no;
	int64_t ack_packet_no;
	int64_t entities;    /* number of entities in the packet */
	int full_state;      /* it carries every row, read from the tables (the peer is new,
				or was silent too long): PACKET.md 6.2 */
} xchg_export_result;

/* Writes the next packet for peer into out_dir (NULL for "."). */
xchg_status xchg_export(xchg_db *db, const char *peer, const char *out_dir,
			xchg_export_result *res, xchg_err *err);

/* xchg_export_opts flags */
/*
 * Seals the packet to the peer's registered public key, for couriers others
 * can read (e-mail, USB sticks): only the peer can open it. It is named
 * pkt_SENDER_RECIPIENT_NUMBER.zip.sealed; formats/PACKET.md section 8 has
 * the format and what it protects against.
 */
#define XCHG_EXPORT_ENCRYPT 1u

#define XCHG_EXPORT_OPTS_VERSION 1
#define XCHG_EXPORT_OPTS_INIT {.version = XCHG_EXPORT_OPTS_VERSION}

typedef struct xchg_export_opts {
	unsigned version;      /* XCHG_EXPORT_OPTS_VERSION, as XCHG_EXPORT_OPTS_INIT sets it */
	const char *out_dir; /* the folder to write into; NULL for "." */
	unsigned flags;      /* XCHG_EXPORT_* */
	xchg_progress_cb progress; /* NULL: none */
	void *progress_ctx;
} xchg_export_opts;

/* xchg_export with options; opts NULL means the defaults (a plain packet in "."). */
xchg_status xchg_export_with(xchg_db *db, const char *peer, const xchg_export_opts *opts,
			     xchg_export_result *res, xchg_err *err);
void xchg_export_result_clear(xchg_export_result *res);

typedef enum xchg_outcome {
	XCHG_APPLIED = 0,
	XCHG_SKIPPED = 1,   /* a duplicate: already applied before */
	XCHG_REFUSED = 2,   /* not applied: the packet is bad, misaddressed or untrusted */
	XCHG_ACK_WRITTEN = 3, /* an acknowledgement packet was written */
	XCHG_FAILED = 4,    /* not applied for a local reason (database, files): nothing
			       changed, and the same packet may be imported again */
	XCHG_ACK_FAILED = 5, /* sender's packets are applied, but the acknowledgement to
			       it could not be written (path: the folder); nothing went
			       out, and the next export to sender carries the ack */
	/* xchg_sync's own */
	XCHG_EXPORTED = 6,  /* a packet written for the peer named as sender */
	XCHG_ARCHIVED = 7,  /* a packet applied or skipped, moved to message (archive/) */
	XCHG_DELETED = 8,   /* a packet applied or skipped, deleted */
	XCHG_REJECTED = 9,  /* a refused packet, moved to message (rejected/), the reason
			       beside it in message + ".why" */
	/* message says what */
	XCHG_NOTICE = 10,   /* what an import saw and did (an end of the link went back in
			       time: PACKET.md section 6.3); the watcher started, a folder came back */
	XCHG_WARNING = 11   /* a round failed, a folder is gone: the watcher carries on */
} xchg_outcome;

/* One line of an import's report. Strings belong to the library. */
typedef struct xchg_import_event {
	xchg_outcome outcome;
	const char *path;
	const char *sender;     /* as the header says; for a packet that could not be read,
				   as its name says (pkt_SENDER_THIS_N.zip), else NULL */
	int64_t packet_no;
	int64_t entities;       /* entities applied */
	int64_t conflicts;      /* conflicts and unique-key collisions decided while applying */
	const char *message;    /* when refused or failed: "PATH: reason"; else NULL */
	int64_t refused;        /* rows this node's schema refused: not applied, kept in the
				   conflict log (xchg_conflicts_list) for xchg_conflict_retry;
				   the packet is applied all the same */
} xchg_import_event;

typedef void (*xchg_import_cb)(const xchg_import_event *ev, void *ctx);

/*
 * Imports packet files and folders of packets. Packets in a folder that are
 * addressed to other nodes are left alone; a file named explicitly that is
 * addressed elsewhere is refused. Each sender's packets are applied in
 * ascending packet number; afterwards an acknowledgement packet (the next,
 * cumulative packet for that sender) is written to every sender whose applied
 * packets carried entities, into ack_dir (NULL: the folder the packet came
 * from). A packet without entities is an acknowledgement itself and gets no
 * answer, so two nodes never ping-pong. cb is called once per packet and per
 * acknowledgement written or not written.
 * One row does not stop its packet (formats/PACKET.md, rules 7 and 9): a row
 * this node's schema refuses is left out, counted (refused) and kept in the
 * conflict log, and a unique key another row holds here is decided like a
 * conflict; the rest of the packet applies and is acknowledged.
 * Returns XCHG_OK only when every packet was applied or skipped as a duplicate
 * and every acknowledgement written; XCHG_EPACKET when one was refused, else
 * the status of the first that failed, else that of the first acknowledgement
 * that could not be written.
 */
xchg_status xchg_import(xchg_db *db, const char *const *paths, size_t npaths,
			const char *ack_dir, xchg_import_cb cb, void *ctx,
			xchg_err *err);

/*
 * One unattended round for this node: imports every packet addressed to it
 * in each link's folder (xchg_node_set; dir for a link that has none),
 * each sender's in order, acknowledging as xchg_import does; files each
 * packet it read: applied or skipped ones as the link says (archived into
 * FOLDER/archive/, deleted, or kept), refused ones into FOLDER/rejected/
 * with the reason beside them in NAME.why; then exports to each peer that
 * has changes not yet sent, its full state owed, or an acknowledgement
 * that could not be written, and to no other. A refused packet does not
 * stop the round; the status is then xchg_import's.
 */
xchg_status xchg_sync(xchg_db *db, const char *dir, xchg_import_cb cb, void *ctx,
		      xchg_err *err);

/* xchg_import_opts flags */
/*
 * Files each packet read as xchg_sync does: applied or skipped ones as the
 * sender's link says (archive/, deleted or kept), refused ones into
 * rejected/ with their reason.
 */
#define XCHG_IMPORT_FILE 1u

#define XCHG_IMPORT_OPTS_VERSION 1
#define XCHG_IMPORT_OPTS_INIT {.version = XCHG_IMPORT_OPTS_VERSION}

typedef struct xchg_import_opts {
	unsigned version;      /* XCHG_IMPORT_OPTS_VERSION, as XCHG_IMPORT_OPTS_INIT sets it */
	const char *ack_dir; /* as xchg_import's */
	unsigned flags;      /* XCHG_IMPORT_* */
	xchg_progress_cb progress; /* NULL: none; reports each packet's entities */
	void *progress_ctx;
} xchg_import_opts;

/* xchg_import with options. */
xchg_status xchg_import_with(xchg_db *db, const char *const *paths, size_t npaths,
			     const xchg_import_opts *o, xchg_import_cb cb, void *ctx,
			     xchg_err *err);

/* How a link stands, as xchg status judges it (xchg_node_info.state). */
typedef enum xchg_link_state {
	XCHG_LINK_OK = 0,
	XCHG_LINK_LATE = 1,   /* nothing from the peer for longer than its late_after */
	XCHG_LINK_BROKEN = 2, /* a packet from it refused since the last one applied */
	XCHG_LINK_RECOVERING = 3 /* an end went back in time, or a resync was asked: full
				    state is on its way (state_reason says which) */
} xchg_link_state;

/*
 * Sends peer code the full current state of every synchronized row with
 * the next packet to it (for a database damaged or edited behind xchg's
 * back), under the receiver's usual rules; the link shows as recovering
 * until the peer acknowledges it. Running it again changes nothing more.
 */
xchg_status xchg_node_resync(xchg_db *db, const char *code, xchg_err *err);

/* xchg_watch_opts flags */
/* Looks at the folders every second instead of asking inotify: network shares. */
#define XCHG_WATCH_POLL 1u
/* Seconds between two rounds when no packet arrives, unless the options say. */
#define XCHG_WATCH_INTERVAL_DEFAULT 60

#define XCHG_WATCH_OPTS_VERSION 1
#define XCHG_WATCH_OPTS_INIT {.version = XCHG_WATCH_OPTS_VERSION}

typedef struct xchg_watch_opts {
	unsigned version;      /* XCHG_WATCH_OPTS_VERSION, as XCHG_WATCH_OPTS_INIT sets it */
	const char *dir;   /* as xchg_sync's */
	int64_t interval;  /* seconds between rounds when no packet arrives; 0: the default */
	unsigned flags;    /* XCHG_WATCH_* */
	volatile sig_atomic_t *stop; /* the watch ends within a second or so of it turning
					non-zero, after the round under way: set it from a
					signal handler */
} xchg_watch_opts;

/*
 * Runs xchg_sync rounds until *o->stop is set: at once, whenever a packet
 * file arrives in a link's folder (renamed into place or closed after
 * writing; hidden files and this node's own packets wake nothing), and
 * every interval, which sends what the node's users changed meanwhile. A
 * folder that disappears is waited for and used again when it is back. A
 * round that fails is reported once as XCHG_WARNING (its message) and the
 * watch carries on; XCHG_NOTICE says what the watch itself does. Returns
 * XCHG_OK once stopped, an error only when it cannot start (the node is
 * not set up, a link has no folder).
 */
xchg_status xchg_watch(xchg_db *db, const xchg_watch_opts *o, xchg_import_cb cb, void *ctx,
		       xchg_err *err);

/* A node's place in the star; sync_nodes.role spells them "master" and "subordinate". */
typedef enum xchg_role {
	XCHG_ROLE_CENTER = 1,
	XCHG_ROLE_DESKTOP = 2
} xchg_role;

typedef struct xchg_node_info {
	char *id;              /* the node's uuid, the same in every database */
	char *code;
	char *name;
	xchg_role role;
	char *public_key;
	char *fingerprint;     /* of public_key, for people to compare */
	char *revoked_at;      /* when this peer was revoked, or NULL */
	int is_self;
	int64_t sent_packet_no;     /* last packet generated for the peer */
	int64_t acked_packet_no;    /* last of ours the peer acknowledged */
	int64_t received_packet_no; /* last packet received from the peer */
	char *last_sync_out;
	char *last_sync_in;
	int64_t queued;        /* changes for the peer: unsent + unacked */
	int64_t unsent;        /* changes in no packet yet */
	int64_t unacked;       /* changes in a packet the peer has not acknowledged */
	int full_state;        /* owed the full state: its next packet carries every row */
	char *link_dir;        /* the link's folder (xchg_node_set), or NULL */
	int64_t late_after;    /* seconds without a packet from the peer before the link is late */
	char *applied;         /* what becomes of its applied packets: archive, delete or keep */
	int64_t conflicts;     /* open conflicts and unique-key collisions logged against the peer */
	int64_t refused;       /* open rows from the peer that this node's schema refused */
	char *added_at;        /* when the peer was added here, or NULL when not known */
	/* The last packet from the peer that was not applied, or all NULL. */
	char *problem_packet;  /* its file name */
	char *problem_kind;    /* "refused" (the packet is at fault) or "not applied"
				  (this node was: a database or file error) */
	char *problem_reason;
	char *problem_at;
	/* Seconds since the last packet in, out, and the problem; -1 for never. */
	int64_t in_age, out_age, problem_age;
	int wants_full_state;  /* this node asked the peer for its full state, not had yet */
	int64_t max_queue;     /* registrations its queue may hold before it collapses
				  into its full state owed; 0: no cap */
	xchg_link_state state;
	char *state_reason;    /* why the link is not ok, or NULL */
	char *subset;          /* the subset values it receives, "A,B"; NULL: every row */
} xchg_node_info;

typedef struct xchg_status_report {
	xchg_node_info self;
	xchg_node_info *peers;
	size_t npeers;
} xchg_status_report;

/* This node and its peers, each link judged as of now. */
xchg_status xchg_status_get(xchg_db *db, xchg_status_report **out, xchg_err *err);
void xchg_status_free(xchg_status_report *rep);

typedef struct xchg_entity_count {
	char *entity_type;
	char *operation;
	int64_t count;
} xchg_entity_count;

/* What a packet's signature says, as far as this node can tell. */
typedef enum xchg_verdict {
	XCHG_VERDICT_VERIFIED = 1,     /* by the key registered here for its sender */
	XCHG_VERDICT_BAD = 2,          /* does not verify: altered, or signed by another key */
	XCHG_VERDICT_UNKNOWN_SENDER = 3, /* this node has no key for the sender it names */
	XCHG_VERDICT_NOT_CHECKED = 4   /* no database was given to check it against */
} xchg_verdict;

typedef struct xchg_inspect_report {
	char *message_id;
	char *schema_version;
	char *sender;         /* node codes */
	char *recipient;
	char *sender_id;      /* node ids */
	char *recipient_id;
	char *created_at;
	int64_t packet_no;
	int64_t ack_packet_no;
	int64_t entities;
	xchg_verdict signature;
	xchg_entity_count *counts;
	size_t ncounts;
	int sealed;           /* it was sealed to this node, and opened with its key */
	char *sealed_to;      /* a sealed packet's recipient, in clear: its public key; else NULL */
	int full_state;       /* it carries every row its sender has (PACKET.md 6.2) */
} xchg_inspect_report;

/*
 * Reads a packet without changing anything; the report's strings are the
 * packet's, made safe to show (xchg_scrub). db may be NULL; then the
 * signature cannot be checked against a known key, and a sealed packet
 * cannot be opened (only its recipient's key opens it). A sealed packet
 * that cannot be opened here fails with XCHG_EPACKET, and *out still holds
 * what it shows in clear (sealed_to; every other field NULL or 0): free it
 * either way.
 */
xchg_status xchg_inspect(xchg_db *db, const char *path,
			 xchg_inspect_report **out, xchg_err *err);
void xchg_inspect_free(xchg_inspect_report *rep);

/*
 * One entry of the conflict log (sync_conflicts). Its kind says what
 * happened:
 * - "conflict": the entity was changed here and by the peer; the losing
 *   version is the one not kept.
 * - "unique-key": two entities (two uuids) claimed one unique key; the
 *   losing version is the entity that gave the key up: not stored, or
 *   removed from this node. entity_uuid is that entity's.
 * - "refused": this node's schema refused a row the peer sent (a CHECK,
 *   NOT NULL, a foreign key, a length or range); the losing version is the
 *   row as it came, reason the database's own message, and the local
 *   version (if any) stays. xchg_conflict_retry applies it again.
 */
typedef struct xchg_conflict {
	int64_t id;
	char *kind;              /* "conflict", "unique-key" or "refused" */
	char *entity_type;
	char *entity_uuid;
	char *peer;              /* the peer whose packet brought the conflict */
	char *policy;            /* the rule that decided: "master-wins", "last-writer-wins",
				    "delete-wins" or "edit-wins"; "schema" for a refused row */
	char *winner;            /* "local" or "remote": whose version was kept */
	char *losing_origin;     /* the node the losing version came from */
	char *local_updated_at;
	char *remote_updated_at;
	char *losing_operation;  /* "INSERT", "UPDATE" or "DELETE" */
	char *losing_version;    /* the losing data (JSON), NULL for a delete */
	char *winning_version;   /* the data that won, as it was then (JSON), NULL for a delete */
	char *current_version;   /* the data now in the database (show only) */
	char *decided_at;
	char *status;            /* "open", "restored", "dismissed"; for a refused row also
				    "resolved" (xchg_conflict_retry applied it) or "superseded"
				    (a newer version of the entity came from the peer since) */
	char *reason;            /* why, in words: the key and who holds it, or the database's
				    message; NULL for a plain conflict */
} xchg_conflict;

/*
 * Every logged conflict, newest first. The strings of these reports are
 * made safe to show (xchg_scrub): a losing version came in a packet.
 */
xchg_status xchg_conflicts_list(xchg_db *db, xchg_conflict **out, size_t *n,
				xchg_err *err);
/* One conflict with the current version of its entity. */
xchg_status xchg_conflict_get(xchg_db *db, int64_t id, xchg_conflict **out,
			      xchg_err *err);
/*
 * Makes the losing version the current one, as a local edit made now: it is
 * registered for every peer and travels like any edit.
 */
xchg_status xchg_conflict_restore(xchg_db *db, int64_t id, xchg_err *err);
/* Closes a conflict, keeping the version that won. */
xchg_status xchg_conflict_dismiss(xchg_db *db, int64_t id, xchg_err *err);
/*
 * Applies an open refused row again (once the schema or the data is
 * fixed), as if it came from its peer now: the conflict check and the
 * unique keys are weighed as an import would, it is not sent back to that
 * peer, and the center routes it to the others. On success the entry is
 * "resolved" and *applied says whether the row is stored (0: it lost to
 * the version here, or to a unique key's holder, which the log now says).
 * Refused again, nothing changes, the entry stays open and the message
 * gives the database's words (XCHG_EFAIL).
 */
xchg_status xchg_conflict_retry(xchg_db *db, int64_t id, int *applied, xchg_err *err);
void xchg_conflicts_free(xchg_conflict *v, size_t n);

#ifdef __cplusplus
}
#endif
#endif
