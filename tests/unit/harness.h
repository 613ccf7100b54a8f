/*
 * A small stage for tests that play out exchanges between real nodes: each
 * test gets its own temporary folder, nodes are databases made from the
 * construction example, and the helpers below read like the steps of a
 * story ("the center exports, the desktop imports, the row is there").
 *
 * Desktops are SQLite databases. The center is one too, unless the
 * environment says XCHG_TEST_CENTER=pg: then every center (every node made
 * with master = 1) is a fresh PostgreSQL database on the test server whose
 * socket folder XCHG_PG_HOST names (tests/run starts one; by hand:
 * tests/pg-server start DIR). Without XCHG_PG_HOST such a run fails, it does
 * not fall back to SQLite. The application-side helpers (sql_exec, sql_int,
 * sql_text, sql_rows) speak to either kind of node, so a test that keeps its
 * SQL portable runs unchanged on both; values come back in one text form
 * whatever the backend (see sql_text).
 *
 * Everything a helper hands out (strings, logs, views) lives until the
 * test's teardown, which closes every node, drops its PostgreSQL database
 * and removes the folder. Helpers fail the test with a message instead of
 * returning errors, except where a test wants to see the failure
 * (try_export, import_paths).
 */
#ifndef XCHG_TEST_HARNESS_H
#define XCHG_TEST_HARNESS_H

#include <stddef.h>
#include <stdint.h>

#include <libpq-fe.h>
#include <sqlite3.h>

#include "files.h"
#include "xchg.h"

#define EXAMPLE_PLAN "examples/construction/plan.json"
#define EXAMPLE_SCHEMA "examples/construction/schema.sql"
#define EXAMPLE_SCHEMA_PG "examples/construction/schema.pg.sql"

/* Use as .init and .fini of a TestSuite. */
void harness_setup(void);
void harness_teardown(void);

/* Memory from malloc that lives until teardown (NULL fails the test). */
void *hkeep(void *p);
/* A string that lives until teardown. */
const char *hstr(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The test's own folder, and a path inside it. */
const char *test_root(void);
const char *tmp_path(const char *name);
/* Creates (if needed) and returns the folder tmp_path(name). */
const char *make_folder(const char *name);

typedef struct node {
	char code[65];
	int pg;               /* a PostgreSQL node (else SQLite) */
	const char *db_path;  /* what xchg_open is given: the SQLite file or the PostgreSQL URL */
	const char *key_path; /* the node's secret key file, in its folder */
	const char *pg_name;  /* the PostgreSQL database's name on the test server */
	xchg_db *db;          /* the library's handle */
	/* The application's own connection, for its reads and writes: one of the two. */
	sqlite3 *app;
	PGconn *pg_app;
} node;

/*
 * A node database made from the construction schema (plus extra_sql, may be
 * NULL; it runs on the node's backend, so keep it portable) and initialized
 * with plan_path. Each node lives in a folder (and, on PostgreSQL, a
 * database) of its own, so two nodes may share a code (an impostor).
 */
node *node_create(const char *code, int master, const char *plan_path, const char *extra_sql);
/* Whether node_create makes centers on PostgreSQL (XCHG_TEST_CENTER=pg). */
int centers_are_pg(void);
node *center_new(const char *code);
node *desktop_new(const char *code);
/* Each side registers the other with its public key. */
void link_nodes(node *center, node *desktop);
/*
 * A copy of n's database as it is now, as a backup would take it (a SQLite
 * file beside it, or a PostgreSQL database copied from it); node_restore
 * puts n back to it, as a restore from that backup would: n goes back in
 * time. The key file is not part of it.
 */
const char *node_backup(node *n);
void node_restore(node *n, const char *backup);
/* Closes and reopens the library's handle (after the schema changed). */
void node_reopen(node *n);
/* n's key line ("CODE ID KEY"), as xchg key prints it. */
const char *public_key(node *n);
/* n's node id. */
const char *node_id(node *n);
/* Gives n another id (a fixed one, for packets written by hand); only before n has peers. */
void set_node_id(node *n, const char *id);
/* Gives n the id of other, as an impostor claiming to be other would. */
void take_id_of(node *n, node *other);

/*
 * SQL on the application's connection (SQLite, or libpq for a PostgreSQL
 * node); the test fails on an SQL error. sql_exec may run several
 * statements; the readers look at the result of the (last) statement.
 */
void sql_exec(node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The first column of the first row as an integer (0 when there is no row or
 * it is NULL; a boolean is 1 or 0). */
int64_t sql_int(node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * The first column of the first row as text; NULL for SQL NULL or no row.
 * The text is the same for the same value on either backend, so that tests
 * may compare nodes: a boolean is "1" or "0" (as SQLite keeps it), a
 * floating-point number the shortest text that reads back as the same
 * double ("2", "2.5"), a timestamp the library's ISO-8601 form
 * "2026-11-25T09:30:00.123Z". Everything else is as the database prints it
 * (numeric keeps its exact digits, uuid is lower case).
 */
const char *sql_text(node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/*
 * Every row of the result in that same form: columns joined by '|', rows by
 * ';', SQL NULL as "NULL"; "" for no rows. Give an ORDER BY for a stable text.
 */
const char *sql_rows(node *n, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/*
 * Schema checks that SQLite and PostgreSQL keep in different catalogs. On
 * SQLite: the triggers in sqlite_master. On PostgreSQL: the user-level
 * triggers of pg_trigger (its internal ones, for foreign keys, left out).
 */
int64_t trigger_count(node *n);
/*
 * Empties table the way an application on the node's backend does, the one
 * write that differs between them: DELETE without WHERE on SQLite (which has
 * no TRUNCATE; its row triggers fire), TRUNCATE on PostgreSQL (which fires
 * no row trigger). NULL when done; the database's message when it refused.
 */
const char *empty_table(node *n, const char *table);

/* sync_nodes counters of n for its peer `peer`. */
int64_t sent_no(node *n, const char *peer);
int64_t received_no(node *n, const char *peer);
int64_t acked_no(node *n, const char *peer);
/* Registrations n holds for peer (all, or only for one entity uuid), once what
 * the triggers captured is routed, as an export routes it first. */
int64_t queued(node *n, const char *peer);
/* Routes what n's triggers captured into its peers' queues, as every export and import does first. */
void route(node *n);
int64_t queued_uuid(node *n, const char *peer, const char *uuid);

typedef struct exported {
	const char *path;
	int64_t packet_no;
	int64_t ack_packet_no;
	int64_t entities;
} exported;

/* Exports the next packet for peer into dir; the test fails if it fails. */
exported export_packet(node *from, const char *peer, const char *dir);
/* The same, returning the status and message for tests that expect failure. */
xchg_status try_export(node *from, const char *peer, const char *dir, exported *out,
		       xchg_err *err);

typedef struct import_event {
	xchg_outcome outcome;
	const char *path;
	const char *sender;
	int64_t packet_no;
	int64_t entities;
	int64_t conflicts;
	int64_t refused;
	const char *message;
} import_event;

#define IMPORT_LOG_MAX 64

typedef struct import_log {
	xchg_status rc;
	xchg_err err;
	size_t n;
	import_event ev[IMPORT_LOG_MAX];
} import_log;

/* Imports the NULL-terminated list of paths, collecting every event. */
const import_log *import_paths(node *to, const char *ack_dir, ...);
const import_log *import_list(node *to, const char *ack_dir, const char *const *paths,
			      size_t n);
size_t count_outcome(const import_log *log, xchg_outcome outcome);
/* The event of the packet with this number and outcome, or NULL. */
const import_event *find_event(const import_log *log, xchg_outcome outcome, int64_t packet_no);
/* Fails the test unless the log holds exactly one event: an APPLIED one. */
void expect_applied(const import_log *log, const char *what);

/* Export from `from` for `to`, import it at `to` (acks into dir). */
const import_log *deliver(node *from, node *to, const char *dir);

/* Files in dir whose names start with prefix. */
size_t count_files(const char *dir, const char *prefix);

/* One entity as it travels. data is JSON text, NULL for "data": null. */
typedef struct pkt_entity {
	const char *type;
	const char *uuid;
	const char *operation;
	const char *updated_at;
	const char *data;
} pkt_entity;

typedef struct pkt_view {
	const char *sender;
	const char *recipient;
	int64_t packet_no;
	int64_t ack_packet_no;
	int resync;       /* the header asks for the recipient's full state */
	int full_state;   /* it carries every row its sender has */
	const char *message_id;
	size_t n;
	pkt_entity *e;
} pkt_view;

/* Reads a packet with the library's own readers (the signature is not checked). */
const pkt_view *read_packet(const char *path);
/* The first entity with this uuid, or NULL. */
const pkt_entity *packet_entity(const pkt_view *v, const char *uuid);

/*
 * A packet made by hand with the library's writers, signed with signer's
 * secret key and naming signer as sender: dir/pkt_<signer>_<recipient>_<no>.zip.
 * The recipient's id is the one signer has registered for that code, or one
 * no node has.
 */
const char *write_packet(node *signer, const char *dir, const char *recipient,
			 int64_t packet_no, int64_t ack_packet_no, const pkt_entity *ents,
			 size_t n);

/*
 * Copies packet src to dst with the first `find` in message.json replaced
 * by `repl`, keeping the original signature: a packet tampered on the way.
 */
const char *tamper_packet(const char *src, const char *dst, const char *find, const char *repl);

/* A copy of the example plan with the first `find` replaced by `repl`. */
const char *plan_variant(const char *find, const char *repl);

/* No byte that a terminal would act on: C0, DEL, C1 in UTF-8. NULL is printable. */
int printable_text(const char *s);

#endif
