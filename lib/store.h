/*
 * The database seam. Protocol code speaks portable SQL with '?' parameters
 * through these calls; everything that differs between database dialects
 * (schema of the sync tables, introspection, triggers, transactions) lives
 * behind the ops table in one driver file per database.
 */
#ifndef XCHG_STORE_H
#define XCHG_STORE_H

#include <stdint.h>
#include <string.h>

#include "common.h"
#include "forms.h"
#include "plan.h"

typedef enum xvtype { XV_NULL, XV_INT, XV_REAL, XV_TEXT, XV_BOOL } xvtype;

/* A value bound to or read from SQL. Text is not owned. */
typedef struct xvalue {
	xvtype type;
	int64_t i;    /* XV_INT, XV_BOOL (0 or 1) */
	double d;     /* XV_REAL */
	const char *s; /* XV_TEXT, NUL-terminated */
	size_t len;
} xvalue;

static inline xvalue xv_int(int64_t i)
{
	return (xvalue){.type = XV_INT, .i = i};
}

static inline xvalue xv_bool(int b)
{
	return (xvalue){.type = XV_BOOL, .i = b != 0};
}

/* Text, or NULL for SQL NULL. */
static inline xvalue xv_text(const char *s)
{
	if (!s)
		return (xvalue){.type = XV_NULL};
	return (xvalue){.type = XV_TEXT, .s = s, .len = strlen(s)};
}

typedef struct store_column {
	char *name;
	char *decl_type;
	int is_pk;
} store_column;

/*
 * What a failed statement ran into, as far as the row it wrote is
 * concerned: the importer keeps such a row aside instead of failing the
 * packet (formats/PACKET.md 6.7). Everything else (a lost connection, a
 * full disk, missing rights, a value the column's type cannot read) fails
 * the packet as before.
 */
typedef enum store_fault {
	STORE_FAULT_OTHER = 0,
	STORE_FAULT_UNIQUE,  /* a unique key (primary key included) another row holds */
	/* a row it references is not there (or, deleting it, a row references it) */
	STORE_FAULT_FOREIGN_KEY,
	STORE_FAULT_REFUSED  /* a CHECK, NOT NULL, length or range, a trigger's refusal */
} store_fault;

/* A unique key of a table: an index's or the primary key's columns, in order. */
typedef struct store_key {
	char *name;
	char **cols;
	size_t ncols;
} store_key;

/* The forms of a table's uuid and updated_at, for what xchg's own SQL writes into them. */
typedef struct sync_forms {
	col_form uuid;
	col_form updated_at;
} sync_forms;

typedef struct store store;

/*
 * The triggers capture a change only while some row of sync_nodes is this:
 * an active peer. A node with none keeps no log that nothing would ever
 * route; xchg_node_add holds the synchronized tables while it registers the
 * first, so that no writer decides without seeing it.
 */
#define CAPTURE_FOR "is_self = 0 AND revoked_at IS NULL"
/*
 * The peers a change applied from origin (an SQL expression, NULL for a
 * local write) may go to: every active one but the origin itself, unless
 * the origin is a desktop and the row has a subset (evictable, an SQL
 * condition): the center may owe that desktop an EVICT (routing). Nothing
 * else is routed back to the origin. So a desktop applying its center's
 * packet, its only peer, captures nothing, nor does a center with a single
 * desktop applying that desktop's rows of an entity without a subset: a
 * million rows of a first packet are not logged to be thrown away.
 */
#define CAPTURE_BESIDES(origin, evictable)                                                 \
	CAPTURE_FOR " AND (" origin " IS NULL OR id <> " origin " OR (role <> 'master' AND "   \
	evictable "))"
/*
 * Whether peer n (an expression of its id) receives a row whose subset
 * value is v (formats/PLAN.md, "Subsets"): a row with none goes to every
 * peer, and so does every row to a peer with no subset of its own.
 */
#define SUBSET_COVERS(n, v)                                                               \
	"(" v " IS NULL OR NOT EXISTS (SELECT 1 FROM sync_subsets s WHERE s.node_id = " n ")" \
	" OR EXISTS (SELECT 1 FROM sync_subsets s WHERE s.node_id = " n " AND s.value = " v "))"

/*
 * Routing (route.c), from the latest capture of each entity (the CTE
 * latest), all the entity's captures being in table `all`: every active
 * peer that receives the row gets the change, but the one whose packet made
 * it (no echo); every other active peer that may hold the row gets an EVICT,
 * which removes it there (PACKET.md 6.13): the peer the change came from,
 * one with the row queued, and one that received the subset value the row
 * was moved from. ROUTE_EVICTS follows latest in the statement's WITH;
 * ROUTE_SELECT is its query. Joins, not subqueries per row, so that the
 * cost stays that of the captures times the peers.
 */
#define ROUTE_PEER(n) n ".is_self = 0 AND " n ".revoked_at IS NULL"
#define ROUTE_EVICTS(all)                                                                   \
	", evicts AS (SELECT n.id, c.entity_type, c.entity_uuid, 'EVICT', c.changed_at"     \
	" FROM latest c JOIN sync_nodes n ON " ROUTE_PEER("n")                              \
	" WHERE c.subset IS NOT NULL AND NOT " SUBSET_COVERS("n.id", "c.subset")            \
	" AND (c.origin_id = n.id OR EXISTS (SELECT 1 FROM sync_changes r"                  \
	" WHERE r.node_id = n.id AND r.entity_type = c.entity_type"                         \
	" AND r.entity_uuid = c.entity_uuid))"                                              \
	" UNION SELECT n.id, c.entity_type, c.entity_uuid, 'EVICT', c.changed_at"           \
	" FROM latest c JOIN " all " m ON m.entity_type = c.entity_type"                    \
	" AND m.entity_uuid = c.entity_uuid JOIN sync_nodes n ON " ROUTE_PEER("n")          \
	" WHERE m.moved <> 0 AND c.subset IS NOT NULL AND NOT "                             \
	SUBSET_COVERS("n.id", "c.subset") " AND " SUBSET_COVERS("n.id", "m.moved_from") ")"
#define ROUTE_SELECT                                                                         \
	" SELECT n.id, c.entity_type, c.entity_uuid, c.operation, c.changed_at"              \
	" FROM latest c JOIN sync_nodes n ON " ROUTE_PEER("n")                               \
	" WHERE " SUBSET_COVERS("n.id", "c.subset")                                          \
	" AND (c.origin_id IS NULL OR n.id <> c.origin_id)"                                  \
	" UNION ALL SELECT * FROM evicts WHERE 1 = 1"

/*
 * What a table's capture triggers need to know (store_ops.triggers_sql):
 * an entity's own table registers the entity, a child table its parent.
 */
typedef struct store_capture {
	const char *table;
	const char *type;
	const char *parent_column; /* a child's: holds its parent's uuid; NULL for an entity's */
	/*
	 * Where the row's subset value is, or NULL: the entity's subset
	 * column; for a child, its parent's, read from parent_table.
	 */
	const char *subset_column;
	const char *parent_table;
	const sync_forms *forms;        /* the table's */
	const sync_forms *parent_forms; /* a child's parent table's */
	/*
	 * The table's integer references: an update that gives one an id
	 * forgets the reference it waited for (formats/PLAN.md, "Integer
	 * references"), so that a NULL written later is not sent as that row.
	 */
	const plan_refs *refs;
} store_capture;

/*
 * The sync tables both dialects spell alike but for the type of a node's
 * id: the subset values each peer receives, none for all (formats/PLAN.md,
 * "Subsets"), and the integer references whose row is not here yet
 * ("Integer references").
 */
#define SYNC_SUBSETS_REFS_DDL(id_type)                                                     \
	"CREATE TABLE IF NOT EXISTS sync_subsets ("                                       \
	" node_id " id_type " NOT NULL REFERENCES sync_nodes(id),"                        \
	" value TEXT NOT NULL,"                                                           \
	" PRIMARY KEY (node_id, value));"                                                 \
	"CREATE TABLE IF NOT EXISTS sync_refs ("                                          \
	" table_name TEXT NOT NULL,"                                                      \
	" row_uuid TEXT NOT NULL,"                                                        \
	" column_name TEXT NOT NULL,"                                                     \
	" target_type TEXT NOT NULL,"                                                     \
	" target_uuid TEXT NOT NULL,"                                                     \
	" PRIMARY KEY (table_name, row_uuid, column_name));"                              \
	"CREATE INDEX IF NOT EXISTS sync_refs_target ON sync_refs (target_type, target_uuid);"

/*
 * A link's packets in flight, for PACKET.md section 6.3: the time each
 * packet sent and not yet acknowledged was written, with the highest
 * number of the peer's packets it listed as received; and the packets
 * received from the peer that the peer has not yet seen so listed.
 */
#define SYNC_SENT_RECEIVED_DDL(id_type, int_type)                                          \
	"CREATE TABLE IF NOT EXISTS sync_sent ("                                          \
	" node_id " id_type " NOT NULL REFERENCES sync_nodes(id),"                        \
	" packet_no " int_type " NOT NULL,"                                               \
	" created_at TEXT NOT NULL,"                                                      \
	" listed_received " int_type ","                                                  \
	" PRIMARY KEY (node_id, packet_no));"                                             \
	"CREATE TABLE IF NOT EXISTS sync_received ("                                      \
	" node_id " id_type " NOT NULL REFERENCES sync_nodes(id),"                        \
	" packet_no " int_type " NOT NULL,"                                               \
	" created_at TEXT NOT NULL,"                                                      \
	" PRIMARY KEY (node_id, packet_no));"

/* Every driver's statement starts with this, so the seam can find its ops. */
typedef struct store_stmt {
	store *owner;
} store_stmt;

typedef struct store_ops {
	const char *dialect;
	/* Returns (name, declared type, is part of the primary key) of table ?. */
	const char *columns_sql;
	/* Returns 1 when table ? exists. */
	const char *table_exists_sql;
	/*
	 * Returns (key name, column name, position) of every column of every
	 * unique key of table ?, the primary key included, ordered by key and
	 * position. Partial keys and keys over expressions are left out: no
	 * row can be found by their columns' values alone.
	 */
	const char *unique_keys_sql;
	/* Creates the sync tables (and on PostgreSQL the triggers' functions). */
	const char *schema_sql;
	/*
	 * Routes the capture log (route.c): registers the latest capture of
	 * each entity for the peers ROUTE_SELECT names, and removes from
	 * the log exactly the captures it routed, whatever writers commit
	 * meanwhile.
	 */
	const char *route_sql;
	/*
	 * Where other writers run beside xchg (PostgreSQL): what makes a
	 * SELECT wait for and then hold the rows it reads, and the format of
	 * a statement that holds a whole table %s against writers. NULL where
	 * xchg's transaction already excludes every other writer (SQLite).
	 */
	const char *lock_rows_suffix;
	const char *lock_table_sql;
	/* Starts a transaction that writes. */
	const char *begin_sql;
	xchg_status (*exec)(store *s, const char *script, xchg_err *err);
	/* Rolls back the transaction in progress, if any. */
	void (*rollback)(store *s);
	xchg_status (*query)(store *s, const char *sql, const xvalue *params,
			     int nparams, store_stmt **out, xchg_err *err);
	xchg_status (*step)(store_stmt *st, int *has_row, xchg_err *err);
	int (*ncols)(store_stmt *st);
	void (*col)(store_stmt *st, int i, xvalue *out);
	const char *(*colname)(store_stmt *st, int i);
	void (*release)(store_stmt *st);
	int64_t (*changes)(store *s);
	/* What a column of this declared type holds in the database's own
	 * type, read back canonical (forms.h); FORM_TEXT for anything else. */
	form_kind (*native_kind)(const char *decl_type);
	/*
	 * Appends an SQL expression of the canonical form (forms.h) of the uuid
	 * or the time in expression x, whatever its spelling: what sync_changes
	 * holds. A uuid that is not one stays as it is.
	 */
	void (*canonical_sql)(xbuf *b, form_kind kind, const char *x);
	/* Appends the DDL that adds whichever of uuid, updated_at, is_deleted cols lacks. */
	void (*sync_columns_sql)(xbuf *b, const char *table, const store_column *cols, size_t n);
	/* Appends the SQL that fills uuid and updated_at where NULL, in forms
	 * f, and indexes uuid (and parent_column). */
	void (*fill_sql)(xbuf *b, const char *table, const char *parent_column,
			 const sync_forms *f);
	/* Appends the DDL of one table's capture triggers. They fill uuid
	 * and updated_at in the table's forms, capture uuids canonical,
	 * whatever the columns hold, and capture the row's subset value as
	 * text, and the one it had when an update moved it. */
	void (*triggers_sql)(xbuf *b, const store_capture *c);
	xchg_status (*set_origin)(store *s, const char *node_id, xchg_err *err);
	/* See store_try_run_lock; one at a time per store. */
	xchg_status (*try_run_lock)(store *s, const char *name, int *held, xchg_err *err);
	void (*run_unlock)(store *s, const char *name);
	xchg_status (*lock)(store *s, const char *name, xchg_err *err);
	/* Whether the last failure was a lock wait given up, a deadlock or a
	 * serialization failure: the transaction may simply be run again. */
	int (*retryable)(store *s);
	/* What the last failed statement ran into, and the database's own words
	 * for it (without the store's name); valid until the next statement. */
	store_fault (*fault)(store *s, const char **message);
	/* See store_revive; NULL where there is no connection to lose. */
	xchg_status (*revive)(store *s, xchg_err *err);
	/* See store_capture_hold; both NULL where the triggers capture cheaply. */
	xchg_status (*capture_hold)(store *s, xchg_err *err);
	xchg_status (*capture_inserted)(store *s, const char *type, const char *table,
					const char *subset_column, const col_form *form,
					const char *const *uuids, size_t n, xchg_err *err);
	/*
	 * Where this node's secret key lives unless named: beside a SQLite
	 * file (*path), or, for a database with no file of its own
	 * (PostgreSQL), a file name for a folder the caller names (*name).
	 * The one not set stays NULL; both NULL: out of memory.
	 */
	void (*default_key)(store *s, char **path, char **name);
	void (*close)(store *s);
} store_ops;

struct store {
	const store_ops *ops;
	char *name;     /* for messages: the file or the connection target */
	int max_params; /* the most parameters one statement may bind */
	/*
	 * Writers take turns (SQLite): what a transaction finds in a table that
	 * was empty when it first looked, it wrote itself.
	 */
	int serial;
};

/* url: "sqlite:PATH", a plain path, or "postgresql://..." */
xchg_status store_open(store **out, const char *url, int create, xchg_err *err);
void store_close(store *s);

xchg_status store_begin(store *s, xchg_err *err);
xchg_status store_commit(store *s, xchg_err *err);
void store_rollback(store *s);

/*
 * One savepoint inside the transaction (portable SQL): set, then either
 * released or undone. Undoing rolls back what was written since it was set
 * and leaves the transaction usable, even on PostgreSQL after a failed
 * statement; it then still has to be released.
 */
xchg_status store_savepoint(store *s, xchg_err *err);
xchg_status store_savepoint_release(store *s, xchg_err *err);
xchg_status store_savepoint_undo(store *s, xchg_err *err);
/* See store_ops.fault; message may be NULL. */
store_fault store_last_fault(store *s, const char **message);

/* Runs sql with params and leaves a statement to step through. */
xchg_status store_query(store *s, const char *sql, const xvalue *params,
			int nparams, store_stmt **out, xchg_err *err);
xchg_status store_step(store_stmt *st, int *has_row, xchg_err *err);
int store_ncols(store_stmt *st);
void store_col(store_stmt *st, int i, xvalue *out);
const char *store_colname(store_stmt *st, int i);
void store_release(store_stmt *st);

/* Runs a statement that returns no rows; *changed (may be NULL) gets the row count. */
xchg_status store_run(store *s, const char *sql, const xvalue *params,
		      int nparams, int64_t *changed, xchg_err *err);
/* Runs a query expected to return at most one row of one integer column. */
xchg_status store_int(store *s, const char *sql, const xvalue *params,
		      int nparams, int64_t *out, int *found, xchg_err *err);

xchg_status store_table_exists(store *s, const char *table, int *exists,
			       xchg_err *err);
xchg_status store_columns(store *s, const char *table, store_column **out,
			  size_t *n, xchg_err *err);
void store_columns_free(store_column *cols, size_t n);
int store_has_column(const store_column *cols, size_t n, const char *name);
/* The unique keys of table (see store_ops.unique_keys_sql). */
xchg_status store_unique_keys(store *s, const char *table, store_key **out, size_t *n,
			      xchg_err *err);
void store_keys_free(store_key *keys, size_t n);
xchg_status store_create_schema(store *s, xchg_err *err);
form_kind store_native_kind(store *s, const char *decl_type);
void store_canonical_sql(store *s, xbuf *b, form_kind kind, const char *x);
/* Adds uuid, updated_at and is_deleted where missing. */
xchg_status store_prepare_table(store *s, const char *table,
				const char *parent_column, xchg_err *err);
/* Fills in uuid and updated_at where missing, in forms f, and indexes them. */
xchg_status store_fill_table(store *s, const char *table, const char *parent_column,
			     const sync_forms *f, xchg_err *err);
/*
 * (Re)installs the capture triggers of every table in the plan; forms
 * holds one entry per table, in the plan's order: each entity's table,
 * then its children's.
 */
xchg_status store_install_triggers(store *s, const plan *p, const sync_forms *forms,
				   xchg_err *err);

/*
 * A uuid key: "column IN (?, ?, ?, ?)" and its parameters, every spelling
 * of uuid (forms_uuid_spellings), so that a lookup finds the row whichever
 * spelling wrote it. buf holds the spelled texts.
 */
#define STORE_UUID_IN "IN (?, ?, ?, ?)"
/*
 * The same key as "column = (SELECT column ... LIMIT 1)": the first of
 * uuid's spellings that table holds, with STORE_UUID_IN's parameters. SQLite
 * builds a temporary index for an IN list in every statement, a good part
 * of an import's time; this uses the column's index alone. Where a column
 * may hold several spellings of one uuid (a parent column), a statement
 * that must reach every row runs again until it changes none.
 */
void store_uuid_eq_sql(xbuf *b, const char *table, const char *column);
void store_uuid_params(const char *uuid, char buf[FORMS_SPELLINGS][37],
		       xvalue out[FORMS_SPELLINGS]);
/*
 * The keys that find n canonical uuids in a column: each in form alone (a
 * native uuid column, or rows xchg alone wrote), or with form NULL each in
 * every spelling (STORE_UUID_IN's). Returns the keys per uuid; spelled
 * holds their text.
 */
size_t store_uuid_keys(const col_form *form, const char *const *uuids, size_t n,
		       char (*spelled)[FORMS_SPELLINGS][37], xvalue *keys);
/*
 * Names the peer whose packet this transaction applies (NULL: none), which
 * the triggers capture as the changes' origin, so that routing does not
 * send them back to it. Visible to this transaction only: a concurrent
 * writer's changes have no origin.
 */
xchg_status store_set_origin(store *s, const char *node_id, xchg_err *err);
/*
 * Holds a lock named name until the transaction ends, so two xchg
 * processes never interleave an export or import for the same peer.
 */
xchg_status store_lock(store *s, const char *name, xchg_err *err);

/*
 * An index of n canonical uuids (no two alike) by value: sorted receives
 * pointers to the elements of uuids, in order. store_uuid_index_find gives
 * the index in uuids of the uuid that value spells, in any spelling, or -1.
 */
void store_uuid_index(const char *const *uuids, size_t n, const char *const **sorted);
long store_uuid_index_find(const char *value, const char *const *uuids,
			   const char *const *const *sorted, size_t n);

/* Appends n parameters to an IN list: "?, ?, ...". */
void store_params_sql(xbuf *b, size_t n);

/*
 * Rows inserted many at a time (bulk.c) are captured once an entity, not
 * once a row by the triggers, where a trigger's capture costs as much as
 * the row (PostgreSQL: two statements of PL/pgSQL). After
 * store_capture_hold, the triggers of this transaction capture nothing;
 * store_capture_inserted then captures each of the n entities of table
 * (canonical uuids, at most STORE_UUIDS_PER_QUERY, found by form as
 * store_uuid_keys finds them) as an INSERT from the
 * transaction's origin, with its subset_column's value (NULL: none), as
 * their triggers would have, child rows included, and lets the triggers
 * capture again. Where triggers are plain SQL (SQLite) both do nothing and
 * the triggers capture.
 */
xchg_status store_capture_hold(store *s, xchg_err *err);
xchg_status store_capture_inserted(store *s, const char *type, const char *table,
				   const char *subset_column, const col_form *form,
				   const char *const *uuids, size_t n, xchg_err *err);

/* Uuids store_uuids_held looks for in one statement: four spellings each. */
#define STORE_UUIDS_PER_QUERY 240
/*
 * Which of the n canonical uuids (no two alike) some row of table holds in
 * column: held[i] is set for each. The rows are held as store_lock_rows
 * holds them. One statement per STORE_UUIDS_PER_QUERY uuids. form: the one
 * spelling the column's rows are known to use (a native uuid column, or rows
 * xchg alone wrote); NULL looks for any spelling.
 */
xchg_status store_uuids_held(store *s, const char *table, const char *column,
			     const col_form *form, const char *const *uuids, size_t n,
			     unsigned char *held, xchg_err *err);

/* Whether table holds no row (*empty). */
xchg_status store_table_empty(store *s, const char *table, int *empty, xchg_err *err);

/*
 * Holds the rows of table whose column equals value until the transaction
 * ends, after any writer that holds them now has finished, so that what is
 * read next includes that writer's committed work.
 */
xchg_status store_lock_rows(store *s, const char *table, const char *column,
			    const char *value, xchg_err *err);
/*
 * Takes the lock named name, outside any transaction, until store_run_unlock
 * or the store is closed (a crashed process lets go of it), so that two
 * xchg runs of one node that must not overlap do not: *held is 0 when
 * another holds it.
 */
xchg_status store_try_run_lock(store *s, const char *name, int *held, xchg_err *err);
void store_run_unlock(store *s, const char *name);
/*
 * Connects again when the connection was lost (the server restarted): a
 * process that lives long, such as xchg watch, calls it before each round.
 * Nothing in flight survives, so it is only called between transactions.
 */
xchg_status store_revive(store *s, xchg_err *err);
/* Holds table against writers until the transaction ends. */
xchg_status store_lock_table(store *s, const char *table, xchg_err *err);

/*
 * Runs fn(ctx, err) — one whole transaction — again while it fails only
 * because of concurrent writers, a few times with growing pauses.
 */
xchg_status store_retry(store *s, xchg_status (*fn)(void *ctx, xchg_err *err),
			void *ctx, xchg_err *err);

xchg_status store_sqlite_open(store **out, const char *path, int create,
			      xchg_err *err);
xchg_status store_pg_open(store **out, const char *url, xchg_err *err);
/* See store_ops.default_key. */
void store_default_key(store *s, char **path, char **name);

#endif
