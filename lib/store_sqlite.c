/*
 * The SQLite driver: a desktop's database, or any node's in the embedded
 * default. Statements are prepared once and cached, because an import runs
 * the same few statements for every entity of a packet.
 */
#include "store.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <unistd.h>

#include <sqlite3.h>

/* Writers (the desktop application, a watcher) may hold the lock a while. */
#define SQ_BUSY_TIMEOUT_MS 30000
#define SQ_CACHE_MAX 64

typedef struct sq_stmt {
	store_stmt base;
	sqlite3_stmt *st;
	char *sql;
	int busy;
	int cached;
	struct sq_stmt *next;
} sq_stmt;

typedef struct sq_store {
	store base;
	sqlite3 *db;
	sq_stmt *cache;
	size_t ncached;
	int created; /* the file did not exist before this handle opened it */
	int run_lock;                /* store_try_run_lock's file, or -1 */
	store_fault fault;           /* of the last failed statement */
	char fault_msg[XCHG_ERRMSG_MAX];
} sq_store;

/* xchg's own time inside SQL: sync_changes.changed_at. */
#define SQ_NOW_EXPR "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')"

/*
 * A STRICT table's "cannot store TEXT value in INTEGER column" stays a
 * failure of the packet, as PostgreSQL's invalid input does (store_pg.c).
 */
static store_fault sq_classify(int code)
{
	switch (code) {
	case SQLITE_CONSTRAINT_UNIQUE:
	case SQLITE_CONSTRAINT_PRIMARYKEY:
		return STORE_FAULT_UNIQUE;
	case SQLITE_CONSTRAINT_FOREIGNKEY:
		return STORE_FAULT_FOREIGN_KEY;
	case SQLITE_CONSTRAINT_CHECK:
	case SQLITE_CONSTRAINT_NOTNULL:
	case SQLITE_CONSTRAINT_TRIGGER:
		return STORE_FAULT_REFUSED;
	default:
		return STORE_FAULT_OTHER;
	}
}

/* Notes what the statement that just failed ran into. */
static void sq_note_fault(sq_store *s, const char *msg)
{
	s->fault = sq_classify(sqlite3_extended_errcode(s->db));
	snprintf(s->fault_msg, sizeof(s->fault_msg), "%s", msg);
}

/* An RFC 4122 version 4 uuid inside SQL, in form f, for rows written without one. */
static void sq_new_uuid(char *out, size_t size, const col_form *f)
{
	const char *dash = f->hex ? "" : "-";

	snprintf(out, size,
		 "%s(hex(randomblob(4)) || '%s' || hex(randomblob(2)) || '%s4' || "
		 "substr(hex(randomblob(2)), 2) || '%s' || "
		 "substr('89ab', 1 + (abs(random()) %% 4), 1) || "
		 "substr(hex(randomblob(2)), 2) || '%s' || hex(randomblob(6)))",
		 f->upper ? "upper" : "lower", dash, dash, dash, dash);
}

/*
 * The time now inside SQL, in form f. SQLite's clock gives milliseconds:
 * a form with more digits gets zeros.
 */
static void sq_now(char *out, size_t size, const col_form *f)
{
	int digits = f->digits > 6 ? 6 : f->digits;

	snprintf(out, size, "substr(strftime('%%Y-%%m-%%d%c%%H:%%M:%%f', 'now') || '000', 1, %d) || '%s'",
		 f->space ? ' ' : 'T', 19 + (digits ? digits + 1 : 0),
		 f->zone == 'Z' ? "Z" : f->zone == '+' ? "+00:00" : "");
}

/* Appends a GLOB pattern of a uuid's 32 hex digits, with the canonical dashes or without. */
static void sq_uuid_glob(xbuf *b, int dashed)
{
	int i;

	xbuf_addc(b, '\'');
	for (i = 0; i < 36; i++)
		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (dashed)
				xbuf_addc(b, '-');
		} else {
			xbuf_adds(b, "[0-9A-Fa-f]");
		}
	xbuf_addc(b, '\'');
}

/*
 * The uuid in x in its canonical form, whatever its spelling (what
 * forms_uuid_parse reads); x itself when it is no uuid. Registrations hold
 * this form, so that a row is one entity however its application spells
 * it. A time as SQLite's own date functions read it (they take the forms
 * forms_time_parse does), with milliseconds.
 */
static void sq_canonical_sql(xbuf *b, form_kind kind, const char *x)
{
	if (kind != FORM_UUID) {
		xbuf_printf(b, "CASE WHEN typeof(%s) = 'text' THEN"
			       " coalesce(strftime('%%Y-%%m-%%dT%%H:%%M:%%fZ', %s), %s) ELSE %s END",
			    x, x, x, x);
		return;
	}
	xbuf_printf(b, "CASE WHEN %s GLOB ", x);
	sq_uuid_glob(b, 0);
	xbuf_printf(b, " THEN lower(substr(%s, 1, 8) || '-' || substr(%s, 9, 4) || '-' ||"
		       " substr(%s, 13, 4) || '-' || substr(%s, 17, 4) || '-' || substr(%s, 21))"
		       " WHEN %s GLOB ", x, x, x, x, x, x);
	sq_uuid_glob(b, 1);
	xbuf_printf(b, " THEN lower(%s) ELSE %s END", x, x);
}

static xchg_status sq_fail(sq_store *s, xchg_err *err, const char *what)
{
	sq_note_fault(s, sqlite3_errmsg(s->db));
	return xerr(err, XCHG_EDB, "%s: %s: %s", s->base.name, what, s->fault_msg);
}

static xchg_status sq_exec(store *base, const char *sql, xchg_err *err)
{
	sq_store *s = (sq_store *)base;
	char *msg = NULL;
	xchg_status rc = XCHG_OK;

	s->fault = STORE_FAULT_OTHER;
	if (sqlite3_exec(s->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
		sq_note_fault(s, msg ? msg : "SQL failed");
		rc = xerr(err, XCHG_EDB, "%s: %s", s->base.name, s->fault_msg);
		sqlite3_free(msg);
	}
	return rc;
}

static void sq_rollback(store *base)
{
	sq_store *s = (sq_store *)base;

	if (!sqlite3_get_autocommit(s->db))
		sqlite3_exec(s->db, "ROLLBACK", NULL, NULL, NULL);
}

static sq_stmt *sq_cached(sq_store *s, const char *sql)
{
	sq_stmt *c;

	for (c = s->cache; c; c = c->next)
		if (!c->busy && strcmp(c->sql, sql) == 0)
			return c;
	return NULL;
}

static xchg_status sq_bind(sq_store *s, sq_stmt *c, const xvalue *params,
			   int nparams, xchg_err *err)
{
	int i, r = SQLITE_OK;

	if (sqlite3_bind_parameter_count(c->st) != nparams)
		return xerr(err, XCHG_EDB, "%s: statement takes %d parameters, given %d: %s",
			    s->base.name, sqlite3_bind_parameter_count(c->st), nparams, c->sql);
	for (i = 0; i < nparams && r == SQLITE_OK; i++) {
		const xvalue *v = &params[i];

		switch (v->type) {
		case XV_NULL: r = sqlite3_bind_null(c->st, i + 1); break;
		case XV_INT:
		case XV_BOOL: r = sqlite3_bind_int64(c->st, i + 1, v->i); break;
		case XV_REAL: r = sqlite3_bind_double(c->st, i + 1, v->d); break;
		case XV_TEXT:
			r = sqlite3_bind_text64(c->st, i + 1, v->s, v->len, SQLITE_STATIC, SQLITE_UTF8);
			break;
		}
	}
	return r == SQLITE_OK ? XCHG_OK : sq_fail(s, err, "binding a value");
}

static void sq_release(store_stmt *base)
{
	sq_stmt *c = (sq_stmt *)base;

	sqlite3_reset(c->st);
	sqlite3_clear_bindings(c->st);
	c->busy = 0;
	if (!c->cached) {
		sqlite3_finalize(c->st);
		free(c->sql);
		free(c);
	}
}

static xchg_status sq_query(store *base, const char *sql, const xvalue *params,
			    int nparams, store_stmt **out, xchg_err *err)
{
	sq_store *s = (sq_store *)base;
	sq_stmt *c;
	xchg_status rc;

	*out = NULL;
	s->fault = STORE_FAULT_OTHER;
	if (!(c = sq_cached(s, sql))) {
		if (!(c = calloc(1, sizeof(*c))) || !(c->sql = strdup(sql))) {
			free(c);
			return xerr(err, XCHG_ENOMEM, "%s: out of memory", s->base.name);
		}
		c->base.owner = base;
		if (sqlite3_prepare_v3(s->db, sql, -1, SQLITE_PREPARE_PERSISTENT, &c->st, NULL) != SQLITE_OK) {
			rc = sq_fail(s, err, "preparing a statement");
			free(c->sql);
			free(c);
			return rc;
		}
		/* A statement in use is never handed out twice (nested queries). */
		if (s->ncached < SQ_CACHE_MAX) {
			c->cached = 1;
			c->next = s->cache;
			s->cache = c;
			s->ncached++;
		}
	}
	c->busy = 1;
	if ((rc = sq_bind(s, c, params, nparams, err))) {
		sq_release(&c->base);
		return rc;
	}
	*out = &c->base;
	return XCHG_OK;
}

static xchg_status sq_step(store_stmt *base, int *has_row, xchg_err *err)
{
	sq_stmt *c = (sq_stmt *)base;
	sq_store *s = (sq_store *)base->owner;
	int r = sqlite3_step(c->st);

	*has_row = r == SQLITE_ROW;
	if (r == SQLITE_ROW || r == SQLITE_DONE)
		return XCHG_OK;
	return sq_fail(s, err, "running a statement");
}

static int sq_ncols(store_stmt *base)
{
	return sqlite3_column_count(((sq_stmt *)base)->st);
}

static void sq_col(store_stmt *base, int i, xvalue *out)
{
	sqlite3_stmt *st = ((sq_stmt *)base)->st;

	memset(out, 0, sizeof(*out));
	switch (sqlite3_column_type(st, i)) {
	case SQLITE_INTEGER:
		out->type = XV_INT;
		out->i = sqlite3_column_int64(st, i);
		break;
	case SQLITE_FLOAT:
		out->type = XV_REAL;
		out->d = sqlite3_column_double(st, i);
		break;
	case SQLITE_NULL:
		out->type = XV_NULL;
		break;
	default: /* text; a blob is handed over as its bytes */
		out->type = XV_TEXT;
		out->s = (const char *)sqlite3_column_text(st, i);
		out->len = (size_t)sqlite3_column_bytes(st, i);
		if (!out->s) {
			out->type = XV_NULL;
		}
		break;
	}
}

static const char *sq_colname(store_stmt *base, int i)
{
	return sqlite3_column_name(((sq_stmt *)base)->st, i);
}

static int64_t sq_changes(store *base)
{
	return sqlite3_changes64(((sq_store *)base)->db);
}

static const char sq_schema[] =
	"CREATE TABLE IF NOT EXISTS sync_nodes ("
	" id TEXT PRIMARY KEY,"
	" code TEXT NOT NULL UNIQUE,"
	" name TEXT,"
	" role TEXT NOT NULL CHECK (role IN ('master', 'subordinate')),"
	" is_self INTEGER NOT NULL DEFAULT 0,"
	" public_key TEXT,"
	" key_chain TEXT,"
	" revoked_at TEXT,"
	" last_sync_in TEXT,"
	" last_sync_out TEXT,"
	" received_packet_no INTEGER NOT NULL DEFAULT 0,"
	" sent_packet_no INTEGER NOT NULL DEFAULT 0,"
	" acked_packet_no INTEGER NOT NULL DEFAULT 0,"
	" full_state_no INTEGER,"
	" link_dir TEXT,"
	" late_after INTEGER,"
	" applied TEXT,"
	" added_at TEXT,"
	" problem_packet TEXT,"
	" problem_kind TEXT,"
	" problem_reason TEXT,"
	" problem_at TEXT,"
	" received_created_at TEXT,"
	" wants_full_state INTEGER NOT NULL DEFAULT 0,"
	" recovering TEXT,"
	" max_queue INTEGER);"
	"CREATE TABLE IF NOT EXISTS sync_capture ("
	" id INTEGER PRIMARY KEY,"
	" entity_type TEXT NOT NULL,"
	" entity_uuid TEXT NOT NULL,"
	" operation TEXT NOT NULL,"
	" origin_id TEXT,"
	" changed_at TEXT NOT NULL,"
	" subset TEXT,"
	" moved INTEGER NOT NULL DEFAULT 0,"
	" moved_from TEXT);"
	/* An import looks up each entity's unrouted changes (changes_find): no scan per row. */
	"CREATE INDEX IF NOT EXISTS sync_capture_entity ON sync_capture (entity_uuid);"
	SYNC_SUBSETS_REFS_DDL("TEXT")
	SYNC_SENT_RECEIVED_DDL("TEXT", "INTEGER")
	"CREATE TABLE IF NOT EXISTS sync_changes ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" node_id TEXT NOT NULL REFERENCES sync_nodes(id),"
	" entity_type TEXT NOT NULL,"
	" entity_uuid TEXT NOT NULL,"
	" operation TEXT NOT NULL,"
	" packet_no INTEGER,"
	" changed_at TEXT,"
	" UNIQUE (node_id, entity_type, entity_uuid));"
	/* Holds the sender while a packet is applied, inside that transaction
	 * only: the triggers read it to keep changes from echoing back. */
	"CREATE TABLE IF NOT EXISTS sync_apply (node_id TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sync_plan ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" plan TEXT NOT NULL,"
	" installed_at TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sync_conflicts ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" entity_type TEXT NOT NULL,"
	" entity_uuid TEXT NOT NULL,"
	" peer_id TEXT NOT NULL REFERENCES sync_nodes(id),"
	" policy TEXT NOT NULL,"
	" winner TEXT NOT NULL CHECK (winner IN ('local', 'remote')),"
	" losing_origin TEXT NOT NULL,"
	" local_updated_at TEXT,"
	" remote_updated_at TEXT,"
	" losing_operation TEXT NOT NULL,"
	" losing_version TEXT,"
	" winning_version TEXT,"
	" decided_at TEXT NOT NULL,"
	" status TEXT NOT NULL DEFAULT 'open',"
	" kind TEXT NOT NULL DEFAULT 'conflict',"
	" reason TEXT);";

/*
 * Routing (route.c): the latest capture of each entity becomes a
 * registration (ROUTE_SELECT). A second change before the packet is
 * acknowledged updates the registration and clears packet_no, so that the
 * acknowledgement of the packet that carried the older version cannot
 * purge the newer one. The transaction excludes every other writer, so
 * emptying the log after reading it drops nothing unrouted.
 */
static const char sq_route[] =
	"INSERT INTO sync_changes (node_id, entity_type, entity_uuid, operation, changed_at)"
	" WITH latest AS (SELECT * FROM sync_capture WHERE id IN"
	" (SELECT max(id) FROM sync_capture GROUP BY entity_type, entity_uuid))"
	ROUTE_EVICTS("sync_capture") ROUTE_SELECT
	" ON CONFLICT (node_id, entity_type, entity_uuid) DO UPDATE SET"
	" operation = excluded.operation, packet_no = NULL, changed_at = excluded.changed_at;"
	"DELETE FROM sync_capture;";

static void sq_sync_columns_sql(xbuf *b, const char *table, const store_column *cols, size_t n)
{
	if (!store_has_column(cols, n, "uuid"))
		xbuf_printf(b, "ALTER TABLE \"%s\" ADD COLUMN uuid TEXT;", table);
	if (!store_has_column(cols, n, "updated_at"))
		xbuf_printf(b, "ALTER TABLE \"%s\" ADD COLUMN updated_at TEXT;", table);
	if (!store_has_column(cols, n, "is_deleted"))
		xbuf_printf(b, "ALTER TABLE \"%s\" ADD COLUMN is_deleted INTEGER NOT NULL DEFAULT 0;", table);
}

static void sq_fill_sql(xbuf *b, const char *table, const char *parent_column, const sync_forms *f)
{
	char uuid[512], now[160];

	sq_new_uuid(uuid, sizeof(uuid), &f->uuid);
	sq_now(now, sizeof(now), &f->updated_at);
	xbuf_printf(b,
		    "UPDATE \"%s\" SET uuid = %s WHERE uuid IS NULL;"
		    "UPDATE \"%s\" SET updated_at = %s WHERE updated_at IS NULL;"
		    "CREATE UNIQUE INDEX IF NOT EXISTS \"xchg_%s_uuid\" ON \"%s\" (uuid);",
		    table, uuid, table, now, table, table);
	if (parent_column)
		xbuf_printf(b, "CREATE INDEX IF NOT EXISTS \"xchg_%s_parent\" ON \"%s\" (\"%s\");",
			    table, table, parent_column);
}

/*
 * Captures one change of (type, uuid_expr), the uuid canonical (uuid_expr
 * is evaluated once, as r.u), with the peer whose packet is being applied
 * as its origin: one row, however many peers there are (none while no
 * peer may receive it: CAPTURE_BESIDES). Routing (route.c)
 * turns it into the peers' registrations later, outside the writer's
 * transaction. changed_at is the only trace of when a row was deleted
 * outright. The rowid needs no counter row: SQLite's writers take turns.
 * sub says where the row's subset value is (NULL: it has none).
 */
typedef struct sq_subset {
	const char *now;  /* the value after the change */
	const char *was;  /* an update's value before it, or NULL */
} sq_subset;

static void sq_register(xbuf *b, const char *type, const char *uuid_expr,
			const char *op_expr, const char *cond, const sq_subset *sub)
{
	xbuf_printf(b,
		    "INSERT INTO sync_capture (entity_type, entity_uuid, operation, origin_id, changed_at,"
		    " subset, moved, moved_from) SELECT '%s', ", type);
	sq_canonical_sql(b, FORM_UUID, "r.u");
	xbuf_printf(b, ", %s, (SELECT node_id FROM sync_apply LIMIT 1), %s, ", op_expr, SQ_NOW_EXPR);
	if (sub && sub->was)
		xbuf_printf(b, "%s, %s IS NOT %s, %s", sub->now, sub->now, sub->was, sub->was);
	else
		xbuf_printf(b, "%s, 0, NULL", sub ? sub->now : "NULL");
	xbuf_printf(b,
		    " FROM (SELECT %s AS u) r"
		    " WHERE r.u IS NOT NULL AND (%s)"
		    " AND EXISTS (SELECT 1 FROM sync_nodes WHERE "
		    CAPTURE_BESIDES("(SELECT node_id FROM sync_apply LIMIT 1)", "%s") ");",
		    uuid_expr, cond, sub ? "1 = 1" : "1 = 0");
}

/*
 * Rows written by programs that know nothing of xchg get a uuid and an
 * updated_at, in the forms the columns hold; a local update that leaves
 * updated_at alone gets the time of the change, so that updated_at always
 * tells when a row last changed. Applying a packet writes updated_at as it
 * travelled, untouched. These statements run first in the triggers'
 * bodies: SQLite does not order separate triggers, and registration needs
 * the uuid filled in.
 */
static void sq_fill(xbuf *b, const char *table, const sync_forms *f)
{
	char uuid[512], now[160];

	sq_new_uuid(uuid, sizeof(uuid), &f->uuid);
	sq_now(now, sizeof(now), &f->updated_at);
	xbuf_printf(b,
		    "UPDATE \"%s\" SET uuid = coalesce(NEW.uuid, %s),"
		    " updated_at = coalesce(NEW.updated_at, %s),"
		    " is_deleted = coalesce(NEW.is_deleted, 0) WHERE rowid = NEW.rowid"
		    " AND (NEW.uuid IS NULL OR NEW.updated_at IS NULL OR NEW.is_deleted IS NULL);",
		    table, uuid, now);
}

/*
 * The update sq_fill makes, inside the insert's trigger, completes a row
 * the insert captured already: a row is incomplete only then, as an update
 * that empties updated_at is stamped again (sq_touch).
 */
#define SQ_NOT_FILL "OLD.uuid IS NOT NULL AND OLD.updated_at IS NOT NULL AND OLD.is_deleted IS NOT NULL"

static void sq_touch(xbuf *b, const char *table, const sync_forms *f)
{
	char now[160];

	sq_now(now, sizeof(now), &f->updated_at);
	xbuf_printf(b,
		    "UPDATE \"%s\" SET updated_at = %s WHERE rowid = NEW.rowid AND OLD.uuid IS NOT NULL"
		    " AND (NEW.updated_at IS OLD.updated_at OR NEW.updated_at IS NULL)"
		    " AND NOT EXISTS (SELECT 1 FROM sync_apply);",
		    table, now);
}

/* Opens CREATE TRIGGER xchg_<table>_<what>, dropping an older version first. */
static void sq_trigger(xbuf *b, const char *table, const char *what, const char *event)
{
	xbuf_printf(b, "DROP TRIGGER IF EXISTS \"xchg_%s_%s\";"
		       "CREATE TRIGGER \"xchg_%s_%s\" AFTER %s ON \"%s\" BEGIN ",
		    table, what, table, what, event, table);
}

/* The subset value of the row r ("NEW" or "OLD") of an entity's own table, as text. */
static void sq_own_subset(char *out, size_t size, const store_capture *c, const char *r)
{
	snprintf(out, size, "CAST(%s.\"%s\" AS TEXT)", r, c->subset_column);
}

/* A child row's subset value: its parent's, the parent named by parent_expr. */
static void sq_parent_subset(char *out, size_t size, const store_capture *c,
			     const char *parent_expr)
{
	snprintf(out, size, "(SELECT CAST(\"%s\" AS TEXT) FROM \"%s\" WHERE uuid = %s)",
		 c->subset_column, c->parent_table, parent_expr);
}

/* See store_capture.refs: inside the update's trigger. */
static void sq_forget_refs(xbuf *b, const store_capture *c)
{
	size_t i;

	if (!c->refs->n)
		return;
	xbuf_printf(b, "DELETE FROM sync_refs WHERE table_name = '%s' AND row_uuid = ", c->table);
	sq_canonical_sql(b, FORM_UUID, "NEW.uuid");
	xbuf_adds(b, " AND (");
	for (i = 0; i < c->refs->n; i++)
		xbuf_printf(b, "%s(column_name = '%s' AND NEW.\"%s\" IS NOT NULL)", i ? " OR " : "",
			    c->refs->columns[i], c->refs->columns[i]);
	xbuf_adds(b, ");");
}

/* An entity's own table registers the entity; a child table its parent. */
static void sq_triggers_sql(xbuf *b, const store_capture *c)
{
	const char *table = c->table, *type = c->type, *parent = c->parent_column;
	const sync_forms *f = c->forms;
	char uuid_expr[200], newp[160], oldp[160], cond[768], now[400], was[400];
	sq_subset sub = {now, NULL}, *subp = c->subset_column ? &sub : NULL;

	if (!parent) {
		snprintf(uuid_expr, sizeof(uuid_expr), "(SELECT uuid FROM \"%s\" WHERE rowid = NEW.rowid)", table);
		if (subp)
			sq_own_subset(now, sizeof(now), c, "NEW");
		sq_trigger(b, table, "ins", "INSERT");
		sq_fill(b, table, f);
		sq_register(b, type, uuid_expr, "'INSERT'", "1", subp);
		xbuf_adds(b, " END;");
		sq_trigger(b, table, "upd", "UPDATE");
		sq_touch(b, table, f);
		if (subp) {
			sq_own_subset(was, sizeof(was), c, "OLD");
			sub.was = was;
		}
		sq_register(b, type, "coalesce(NEW.uuid, OLD.uuid)",
			    "CASE WHEN NEW.is_deleted THEN 'DELETE' ELSE 'UPDATE' END",
			    SQ_NOT_FILL, subp);
		sq_forget_refs(b, c);
		xbuf_adds(b, " END;");
		sub.was = NULL;
		if (subp)
			sq_own_subset(now, sizeof(now), c, "OLD");
		sq_trigger(b, table, "del", "DELETE");
		sq_register(b, type, "OLD.uuid", "'DELETE'", "OLD.uuid IS NOT NULL", subp);
		xbuf_adds(b, " END;");
		return;
	}
	snprintf(newp, sizeof(newp), "NEW.\"%s\"", parent);
	snprintf(oldp, sizeof(oldp), "OLD.\"%s\"", parent);
	snprintf(cond, sizeof(cond), "%s IS NOT NULL", newp);
	if (subp)
		sq_parent_subset(now, sizeof(now), c, newp);
	sq_trigger(b, table, "ins", "INSERT");
	sq_fill(b, table, f);
	sq_register(b, type, newp, "'UPDATE'", cond, subp);
	xbuf_adds(b, " END;");
	sq_trigger(b, table, "upd", "UPDATE");
	sq_touch(b, table, f);
	snprintf(cond, sizeof(cond), "%s IS NOT NULL AND " SQ_NOT_FILL, newp);
	sq_register(b, type, newp, "'UPDATE'", cond, subp);
	snprintf(cond, sizeof(cond), "%s IS NOT NULL AND %s IS NOT %s AND " SQ_NOT_FILL, oldp, oldp,
		 newp);
	if (subp)
		sq_parent_subset(now, sizeof(now), c, oldp);
	sq_register(b, type, oldp, "'UPDATE'", cond, subp);
	sq_forget_refs(b, c);
	xbuf_adds(b, " END;");
	snprintf(cond, sizeof(cond), "%s IS NOT NULL", oldp);
	sq_trigger(b, table, "del", "DELETE");
	sq_register(b, type, oldp, "'UPDATE'", cond, subp);
	xbuf_adds(b, " END;");
}

static xchg_status sq_set_origin(store *base, const char *node_id, xchg_err *err)
{
	xvalue id = xv_text(node_id);

	/* The row lives inside the applying transaction: no other connection sees it. */
	if (!node_id)
		return store_run(base, "DELETE FROM sync_apply", NULL, 0, NULL, err);
	return store_run(base, "INSERT INTO sync_apply (node_id) VALUES (?)", &id, 1, NULL, err);
}

/* BEGIN IMMEDIATE already holds the database's one write lock for the transaction. */
static xchg_status sq_lock(store *base, const char *name, xchg_err *err)
{
	XCHG_UNUSED(base);
	XCHG_UNUSED(name);
	XCHG_UNUSED(err);
	return XCHG_OK;
}

/* SQLite has no uuid or time type: every form is text it keeps as written. */
static form_kind sq_native_kind(const char *decl_type)
{
	XCHG_UNUSED(decl_type);
	return FORM_TEXT;
}

/* busy_timeout already waits for other writers; what is left is final. */
static int sq_retryable(store *base)
{
	XCHG_UNUSED(base);
	return 0;
}

/* Whether the database holds no table and no transaction is open in it. */
static int sq_holds_nothing(sq_store *s)
{
	sqlite3_stmt *st = NULL;
	int empty;

	empty = sqlite3_get_autocommit(s->db) &&
		sqlite3_prepare_v2(s->db, "SELECT 1 FROM sqlite_master LIMIT 1", -1, &st, NULL) == SQLITE_OK &&
		sqlite3_step(st) == SQLITE_DONE;
	sqlite3_finalize(st);
	return empty;
}

static store_fault sq_fault(store *base, const char **message)
{
	sq_store *s = (sq_store *)base;

	*message = s->fault_msg;
	return s->fault;
}

/* A file beside the database, DB.NAME.lock, held with flock: no other process can hold it too. */
static xchg_status sq_try_run_lock(store *base, const char *name, int *held, xchg_err *err)
{
	sq_store *s = (sq_store *)base;
	char *path = xstrdup_printf("%s.%s.lock", base->name, name);
	int fd, why;

	*held = 0;
	if (!path)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0) {
		xerr(err, XCHG_EIO, "%s: %s", path, strerror(errno));
		free(path);
		return XCHG_EIO;
	}
	free(path);
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		why = errno;
		close(fd);
		return why == EWOULDBLOCK ? XCHG_OK
					  : xerr(err, XCHG_EIO, "%s: cannot lock: %s", base->name, strerror(why));
	}
	s->run_lock = fd;
	*held = 1;
	return XCHG_OK;
}

static void sq_run_unlock(store *base, const char *name)
{
	sq_store *s = (sq_store *)base;

	XCHG_UNUSED(name);
	if (s->run_lock >= 0)
		close(s->run_lock);
	s->run_lock = -1;
}

static void sq_close(store *base)
{
	sq_store *s = (sq_store *)base;
	sq_stmt *c, *next;
	/*
	 * A file this handle created and nothing was stored in: a first init
	 * that failed (a bad plan, a missing table). Leave no empty database
	 * behind to be mistaken for one; a file that existed before is never
	 * touched.
	 */
	int drop_file = s->created && s->db && sq_holds_nothing(s);

	for (c = s->cache; c; c = next) {
		next = c->next;
		sqlite3_finalize(c->st);
		free(c->sql);
		free(c);
	}
	sqlite3_close(s->db);
	sq_run_unlock(base, NULL);
	if (drop_file)
		unlink(s->base.name);
	free(s->base.name);
	free(s);
}

/* A SQLite node's key: FILE.key beside its database. */
static void sq_default_key(store *s, char **path, char **name)
{
	(void)name;
	*path = xstrdup_printf("%s.key", s->name);
}

static const store_ops sq_ops = {
	.dialect = "sqlite",
	.columns_sql = "SELECT name, type, pk FROM pragma_table_info(?) ORDER BY cid",
	.table_exists_sql = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?",
	/* An INTEGER PRIMARY KEY is the rowid, which has no index of its own. */
	.unique_keys_sql =
		"WITH t(name) AS (SELECT ?)"
		" SELECT il.name, ii.name, ii.seqno FROM t, pragma_index_list(t.name) il,"
		" pragma_index_info(il.name) ii WHERE il.\"unique\" AND NOT il.partial"
		" AND NOT EXISTS (SELECT 1 FROM pragma_index_info(il.name) x WHERE x.name IS NULL)"
		" UNION ALL SELECT 'primary key', p.name, p.pk FROM t, pragma_table_info(t.name) p"
		" WHERE p.pk > 0 AND NOT EXISTS"
		" (SELECT 1 FROM pragma_index_list(t.name) WHERE origin = 'pk')"
		" ORDER BY 1, 3",
	.schema_sql = sq_schema,
	.route_sql = sq_route,
	/* IMMEDIATE takes the write lock now, so two xchg processes queue up
	 * instead of failing halfway through with SQLITE_BUSY. */
	.begin_sql = "BEGIN IMMEDIATE",
	.exec = sq_exec,
	.rollback = sq_rollback,
	.query = sq_query,
	.step = sq_step,
	.ncols = sq_ncols,
	.col = sq_col,
	.colname = sq_colname,
	.release = sq_release,
	.changes = sq_changes,
	.native_kind = sq_native_kind,
	.canonical_sql = sq_canonical_sql,
	.sync_columns_sql = sq_sync_columns_sql,
	.fill_sql = sq_fill_sql,
	.triggers_sql = sq_triggers_sql,
	.set_origin = sq_set_origin,
	.try_run_lock = sq_try_run_lock,
	.run_unlock = sq_run_unlock,
	.lock = sq_lock,
	.retryable = sq_retryable,
	.fault = sq_fault,
	.default_key = sq_default_key,
	.close = sq_close,
};

xchg_status store_sqlite_open(store **out, const char *path, int create,
			      xchg_err *err)
{
	sq_store *s = NULL;
	int flags = SQLITE_OPEN_READWRITE | (create ? SQLITE_OPEN_CREATE : 0);
	xchg_status rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))) || !(s->base.name = strdup(path))) {
		free(s);
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", path);
	}
	s->base.ops = &sq_ops;
	s->run_lock = -1;
	/* SQLite's own words for a missing file are "unable to open database file". */
	s->created = access(path, F_OK) != 0;
	if (!create && s->created) {
		rc = xerr(err, XCHG_EDB, "%s: no such database (name one with --db or XCHG_DB)", path);
		sq_close(&s->base);
		return rc;
	}
	if (sqlite3_open_v2(path, &s->db, flags, NULL) != SQLITE_OK) {
		rc = s->db ? sq_fail(s, err, "cannot open")
			   : xerr(err, XCHG_ENOMEM, "%s: out of memory", path);
		sq_close(&s->base);
		return rc;
	}
	sqlite3_busy_timeout(s->db, SQ_BUSY_TIMEOUT_MS);
	s->base.max_params = sqlite3_limit(s->db, SQLITE_LIMIT_VARIABLE_NUMBER, -1);
	s->base.serial = 1;
	/* Reading the schema tells a database from any other file right away. */
	if ((rc = sq_exec(&s->base, "SELECT count(*) FROM sqlite_master", err))) {
		sq_close(&s->base);
		return rc;
	}
	/*
	 * The application's foreign keys hold in what xchg writes too: a packet
	 * carries referenced rows first, and a reference whose row is not here
	 * is stored NULL until it is (formats/PLAN.md, "Integer references").
	 */
	if ((rc = sq_exec(&s->base, "PRAGMA foreign_keys = ON", err))) {
		sq_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return XCHG_OK;
}
