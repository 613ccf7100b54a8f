/*
 * The PostgreSQL driver: the center, inside the web application's database.
 * The application keeps writing while xchg works, so everything here holds
 * under concurrency: echo suppression is a transaction-local setting, and
 * export and import take a transaction-scoped advisory lock per peer.
 */
#include "store.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <libpq-fe.h>

#define PG_CACHE_MAX 128

/* Type oids from pg_type.h, which client programs are not meant to include. */
enum {
	PG_BOOL = 16, PG_INT8 = 20, PG_INT2 = 21, PG_INT4 = 23, PG_OID = 26,
	PG_FLOAT4 = 700, PG_FLOAT8 = 701, PG_TIMESTAMP = 1114, PG_TIMESTAMPTZ = 1184
};

typedef struct pg_prepared {
	char *sql;
	char name[16];
	struct pg_prepared *next;
} pg_prepared;

typedef struct pg_store {
	store base;
	PGconn *conn;
	pg_prepared *cache;
	int ncached;
	int64_t changes;
	int retryable; /* the last failure may pass if the transaction runs again */
	store_fault fault; /* of the last failed statement */
	char fault_msg[XCHG_ERRMSG_MAX];
} pg_store;

typedef struct pg_stmt {
	store_stmt base;
	PGresult *res;
	int row;       /* the current row; -1 before the first step */
	char (*ts)[FORMS_TEXT_MAX]; /* per column: a timestamp in canonical form */
} pg_stmt;

/*
 * By SQLSTATE. Class 23 is integrity (23505 the unique key, 23503 a foreign key); 22001 and
 * 22003 a value too long or out of range; P0001 a trigger's RAISE. Other
 * data errors stay the packet's failure: 22P02 and 22007 (a value the
 * column's type cannot read at all, such as a malformed uuid or time) mean
 * a packet no xchg of this star writes, not a row to keep for later.
 */
static store_fault pg_classify(const char *state)
{
	if (!state)
		return STORE_FAULT_OTHER;
	if (strcmp(state, "23505") == 0)
		return STORE_FAULT_UNIQUE;
	if (strcmp(state, "23503") == 0)
		return STORE_FAULT_FOREIGN_KEY;
	if (strncmp(state, "23", 2) == 0 || strcmp(state, "22001") == 0 ||
	    strcmp(state, "22003") == 0 || strcmp(state, "P0001") == 0)
		return STORE_FAULT_REFUSED;
	return STORE_FAULT_OTHER;
}

/* One line: the server's own words without "ERROR:  ", or libpq's, folded. */
static xchg_status pg_fail(pg_store *s, xchg_err *err, const char *what, const PGresult *res)
{
	const char *primary = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
	const char *msg = primary ? primary : res ? PQresultErrorMessage(res) : PQerrorMessage(s->conn);
	const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
	char line[XCHG_ERRMSG_MAX];
	size_t len = 0;

	/* serialization_failure, deadlock_detected, lock_not_available */
	s->retryable = state && (strcmp(state, "40001") == 0 || strcmp(state, "40P01") == 0 ||
				 strcmp(state, "55P03") == 0);
	for (; *msg && len < sizeof(line) - 1; msg++) {
		int blank = *msg == '\n' || *msg == '\t' || *msg == ' ';

		if (!blank)
			line[len++] = *msg;
		else if (len && line[len - 1] != ' ')
			line[len++] = ' ';
	}
	while (len && line[len - 1] == ' ')
		len--;
	line[len] = '\0';
	s->fault = pg_classify(state);
	memcpy(s->fault_msg, line, len + 1);
	return xerr(err, XCHG_EDB, "%s: %s: %s", s->base.name, what, line);
}

/* Runs a script of statements without parameters. */
static xchg_status pg_exec(store *base, const char *sql, xchg_err *err)
{
	pg_store *s = (pg_store *)base;
	PGresult *res;

	s->retryable = 0;
	s->fault = STORE_FAULT_OTHER;
	res = PQexec(s->conn, sql);
	xchg_status rc = XCHG_OK;
	ExecStatusType st = PQresultStatus(res);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = pg_fail(s, err, "SQL failed", res);
	PQclear(res);
	return rc;
}

static void pg_rollback(store *base)
{
	pg_store *s = (pg_store *)base;

	if (PQtransactionStatus(s->conn) != PQTRANS_IDLE)
		PQclear(PQexec(s->conn, "ROLLBACK"));
}

/* The seam speaks '?'; PostgreSQL wants $1, $2, ... (never inside quotes or names). */
static char *numbered(const char *sql)
{
	xbuf out = {0};
	int n = 0;
	char quote = 0;
	const char *p;

	for (p = sql; *p; p++) {
		if (!quote && (*p == '\'' || *p == '"'))
			quote = *p;
		else if (quote && *p == quote)
			quote = 0;
		if (*p == '?' && !quote)
			xbuf_printf(&out, "$%d", ++n);
		else
			xbuf_addc(&out, *p);
	}
	return xbuf_detach(&out);
}

/* The name of a prepared statement for sql, preparing it the first time. */
static xchg_status pg_prepare(pg_store *s, const char *sql, const char **name, xchg_err *err)
{
	pg_prepared *c;
	PGresult *res;
	char *text;
	xchg_status rc = XCHG_OK;

	for (c = s->cache; c; c = c->next)
		if (strcmp(c->sql, sql) == 0) {
			*name = c->name;
			return XCHG_OK;
		}
	if (s->ncached >= PG_CACHE_MAX) {
		*name = NULL; /* rare statements run unprepared */
		return XCHG_OK;
	}
	if (!(c = calloc(1, sizeof(*c))) || !(c->sql = strdup(sql)) || !(text = numbered(sql))) {
		if (c)
			free(c->sql);
		free(c);
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", s->base.name);
	}
	snprintf(c->name, sizeof(c->name), "xchg%d", s->ncached);
	res = PQprepare(s->conn, c->name, text, 0, NULL);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		rc = pg_fail(s, err, "preparing a statement", res);
		free(c->sql);
		free(c);
	} else {
		c->next = s->cache;
		s->cache = c;
		s->ncached++;
		*name = c->name;
	}
	PQclear(res);
	free(text);
	return rc;
}

/* Every parameter goes as text; the server types it from where it is used. */
static char *param_text(const xvalue *v)
{
	switch (v->type) {
	case XV_NULL:
		return NULL;
	case XV_INT:
		return xstrdup_printf("%lld", (long long)v->i);
	case XV_BOOL:
		/* '1' and '0' read as boolean and as integer alike. */
		return strdup(v->i ? "1" : "0");
	case XV_REAL: {
		/* The shortest form, so a numeric or text column stores 0.1, not 0.10000000000000001. */
		char num[XDOUBLE_TEXT_MAX];

		xdouble_text(num, v->d);
		return strdup(num);
	}
	case XV_TEXT:
		return strndup(v->s, v->len);
	}
	return NULL;
}

static void pg_release(store_stmt *base)
{
	pg_stmt *st = (pg_stmt *)base;

	if (!st)
		return;
	PQclear(st->res);
	free(st->ts);
	free(st);
}

static xchg_status pg_query(store *base, const char *sql, const xvalue *params,
			    int nparams, store_stmt **out, xchg_err *err)
{
	pg_store *s = (pg_store *)base;
	pg_stmt *st = NULL;
	char **values = NULL, *text = NULL;
	const char *name = NULL;
	ExecStatusType status;
	int i;
	xchg_status rc;

	*out = NULL;
	s->retryable = 0;
	s->fault = STORE_FAULT_OTHER;
	if (!(st = calloc(1, sizeof(*st))) ||
	    (nparams && !(values = calloc((size_t)nparams, sizeof(*values))))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", base->name);
		goto done;
	}
	st->base.owner = base;
	st->row = -1;
	for (i = 0; i < nparams; i++)
		if (params[i].type != XV_NULL && !(values[i] = param_text(&params[i]))) {
			rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", base->name);
			goto done;
		}
	if ((rc = pg_prepare(s, sql, &name, err)))
		goto done;
	if (name) {
		st->res = PQexecPrepared(s->conn, name, nparams, (const char *const *)values, NULL, NULL, 0);
	} else if ((text = numbered(sql))) {
		st->res = PQexecParams(s->conn, text, nparams, NULL, (const char *const *)values,
				       NULL, NULL, 0);
	}
	status = PQresultStatus(st->res);
	if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
		rc = pg_fail(s, err, "running a statement", st->res);
		goto done;
	}
	s->changes = strtoll(PQcmdTuples(st->res), NULL, 10);
	if (PQnfields(st->res) && !(st->ts = calloc((size_t)PQnfields(st->res), sizeof(*st->ts)))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", base->name);
		goto done;
	}
	*out = &st->base;
	st = NULL;
done:
	for (i = 0; values && i < nparams; i++)
		free(values[i]);
	free(values);
	free(text);
	pg_release(st ? &st->base : NULL);
	return rc;
}

static xchg_status pg_step(store_stmt *base, int *has_row, xchg_err *err)
{
	pg_stmt *st = (pg_stmt *)base;

	XCHG_UNUSED(err);
	st->row++;
	*has_row = st->row < PQntuples(st->res);
	return XCHG_OK;
}

static int pg_ncols(store_stmt *base)
{
	return PQnfields(((pg_stmt *)base)->res);
}

static const char *pg_colname(store_stmt *base, int i)
{
	return PQfname(((pg_stmt *)base)->res, i);
}

static void pg_col(store_stmt *base, int i, xvalue *out)
{
	pg_stmt *st = (pg_stmt *)base;
	const char *text;

	memset(out, 0, sizeof(*out));
	if (PQgetisnull(st->res, st->row, i)) {
		out->type = XV_NULL;
		return;
	}
	text = PQgetvalue(st->res, st->row, i);
	switch (PQftype(st->res, i)) {
	case PG_BOOL:
		out->type = XV_BOOL;
		out->i = text[0] == 't';
		return;
	case PG_INT2:
	case PG_INT4:
	case PG_INT8:
	case PG_OID:
		out->type = XV_INT;
		out->i = strtoll(text, NULL, 10);
		return;
	case PG_FLOAT4:
	case PG_FLOAT8:
		out->type = XV_REAL;
		out->d = strtod(text, NULL);
		return;
	case PG_TIMESTAMP:
	case PG_TIMESTAMPTZ:
		/* The session runs in UTC, so a timestamp without zone reads as UTC too. */
		text = forms_canonical(&FORMS_TIME_XCHG, text, st->ts[i]);
		break;
	default: /* numeric stays exact text; so do uuid, date, jsonb and the rest */
		break;
	}
	out->type = XV_TEXT;
	out->s = text;
	out->len = strlen(text);
}

static int64_t pg_changes(store *base)
{
	return ((pg_store *)base)->changes;
}

static const char pg_schema[] =
	"CREATE TABLE IF NOT EXISTS sync_nodes ("
	" id UUID PRIMARY KEY,"
	" code TEXT NOT NULL UNIQUE,"
	" name TEXT,"
	" role TEXT NOT NULL CHECK (role IN ('master', 'subordinate')),"
	" is_self INTEGER NOT NULL DEFAULT 0,"
	" public_key TEXT,"
	" key_chain TEXT,"
	" revoked_at TEXT,"
	" last_sync_in TEXT,"
	" last_sync_out TEXT,"
	" received_packet_no BIGINT NOT NULL DEFAULT 0,"
	" sent_packet_no BIGINT NOT NULL DEFAULT 0,"
	" acked_packet_no BIGINT NOT NULL DEFAULT 0,"
	" full_state_no BIGINT,"
	" link_dir TEXT,"
	" late_after BIGINT,"
	" applied TEXT,"
	" added_at TEXT,"
	" problem_packet TEXT,"
	" problem_kind TEXT,"
	" problem_reason TEXT,"
	" problem_at TEXT,"
	" received_created_at TEXT,"
	" wants_full_state INTEGER NOT NULL DEFAULT 0,"
	" recovering TEXT,"
	" max_queue BIGINT);"
	/* An identity column: a sequence, which concurrent writers never wait on. */
	"CREATE TABLE IF NOT EXISTS sync_capture ("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" entity_type TEXT NOT NULL,"
	" entity_uuid TEXT NOT NULL,"
	" operation TEXT NOT NULL,"
	" origin_id UUID,"
	" changed_at TIMESTAMPTZ NOT NULL,"
	" subset TEXT,"
	" moved INTEGER NOT NULL DEFAULT 0,"
	" moved_from TEXT);"
	SYNC_SUBSETS_REFS_DDL("UUID")
	/* An import finds a change an application committed since the last routing by it. */
	"CREATE INDEX IF NOT EXISTS sync_capture_entity ON sync_capture (entity_uuid);"
	SYNC_SENT_RECEIVED_DDL("UUID", "BIGINT")
	"CREATE TABLE IF NOT EXISTS sync_changes ("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" node_id UUID NOT NULL REFERENCES sync_nodes(id),"
	" entity_type TEXT NOT NULL,"
	" entity_uuid TEXT NOT NULL,"
	" operation TEXT NOT NULL,"
	" packet_no BIGINT,"
	" changed_at TIMESTAMPTZ,"
	" UNIQUE (node_id, entity_type, entity_uuid));"
	"CREATE TABLE IF NOT EXISTS sync_plan ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" plan TEXT NOT NULL,"
	" installed_at TEXT NOT NULL);"
	"CREATE TABLE IF NOT EXISTS sync_conflicts ("
	" id BIGINT GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,"
	" entity_type TEXT NOT NULL,"
	" entity_uuid TEXT NOT NULL,"
	" peer_id UUID NOT NULL REFERENCES sync_nodes(id),"
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
	" reason TEXT);"
	/* The trigger's helpers. The time now in a to_char() pattern; '' (or NULL) for xchg's own form. */
	"CREATE OR REPLACE FUNCTION xchg_now(pattern text) RETURNS text LANGUAGE sql AS $$"
	" SELECT to_char(clock_timestamp() AT TIME ZONE 'UTC',"
	" coalesce(nullif(pattern, ''), 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) $$;"
	/* A new uuid in the named form (forms.h: uuid, uuid-hex, UUID, UUID-HEX). */
	"CREATE OR REPLACE FUNCTION xchg_new_uuid(form text) RETURNS text LANGUAGE sql AS $$"
	" SELECT CASE form WHEN 'uuid-hex' THEN replace(u, '-', '') WHEN 'UUID' THEN upper(u)"
	" WHEN 'UUID-HEX' THEN upper(replace(u, '-', '')) ELSE u END"
	" FROM (SELECT gen_random_uuid()::text AS u) g $$;"
	/* Any spelling of a uuid as the canonical text (forms_uuid_parse); anything else as it is. */
	"CREATE OR REPLACE FUNCTION xchg_uuid_text(p text) RETURNS text LANGUAGE sql IMMUTABLE AS $$"
	" SELECT CASE WHEN p ~ '^([0-9A-Fa-f]{32}|[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}"
	"-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12})$' THEN p::uuid::text ELSE p END $$;"
	/* A time in any text PostgreSQL reads, as the instant; NULL when it reads none. */
	"CREATE OR REPLACE FUNCTION xchg_instant(p text) RETURNS timestamptz LANGUAGE plpgsql AS $$"
	" BEGIN RETURN p::timestamptz; EXCEPTION WHEN others THEN RETURN NULL; END $$;"
	/*
	 * The one trigger on a synchronized table: BEFORE each row's insert,
	 * update or delete, so that a writer pays for one PL/pgSQL call a row,
	 * with nothing in it but what the row needs.
	 *  - A row written without uuid, updated_at or is_deleted gets them, in
	 *    the columns' forms; a local update that leaves updated_at alone
	 *    gets the time of the change (not a packet's: xchg.origin names its
	 *    sender, with set_config(..., true), for the applying transaction
	 *    only).
	 *  - The change is captured, once, however many peers there are (none
	 *    while there are none): routing (route.c) registers it for them
	 *    later, outside the writer's transaction. The uuid is canonical, so
	 *    a row is one entity however it is spelled. A row that a constraint
	 *    refuses next fails its statement, capture and all. Rows an import
	 *    inserts many at a time are captured once an entity by the importer
	 *    instead (xchg.capture held: pg_capture_inserted).
	 * TG_ARGV: the forms of uuid and updated_at ('' for the native types:
	 * pg_triggers_sql), the entity type, and for a child table the column
	 * holding its parent's uuid: a change to a child row is a change of its
	 * parent (of both, when it moves). An entity's row is read by its fixed
	 * column names; only a child's, whose parent column varies, goes
	 * through jsonb. TG_ARGV[4], where the plan gives the entity a subset
	 * column: an entity's names it; a child's is the statement that reads
	 * its parent's (pg_triggers_sql). TG_ARGV[5]: the table's integer
	 * references, by commas (store_capture.refs). Triggers an older xchg
	 * installed have neither and capture no subset value.
	 */
	"CREATE OR REPLACE FUNCTION xchg_row() RETURNS trigger LANGUAGE plpgsql AS $$"
	" DECLARE origin uuid := nullif(current_setting('xchg.origin', true), '')::uuid;"
	" etype text := TG_ARGV[2]; parent text := TG_ARGV[3]; op text := 'UPDATE';"
	" u text; was text; stamp boolean := false;"
	" sub text; sub_was text; moved boolean := false;"
	" BEGIN"
	/* An importer's batch gives each row all this reads and captures the rows itself. */
	" IF TG_OP = 'INSERT' AND NEW.uuid IS NOT NULL AND NEW.updated_at IS NOT NULL"
	"  AND NEW.is_deleted IS NOT NULL AND current_setting('xchg.capture', true) = 'held' THEN"
	"  RETURN NEW; END IF;"
	" IF TG_OP = 'INSERT' THEN"
	"  stamp := NEW.updated_at IS NULL;"
	"  IF NEW.is_deleted IS NULL THEN NEW.is_deleted := '0'; END IF;"
	" ELSIF TG_OP = 'UPDATE' THEN"
	"  stamp := origin IS NULL AND NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at;"
	" END IF;"
	" IF stamp AND TG_ARGV[1] = '' THEN NEW.updated_at := date_trunc('milliseconds', clock_timestamp());"
	" ELSIF stamp THEN NEW.updated_at := xchg_now(TG_ARGV[1]); END IF;"
	" IF TG_OP <> 'DELETE' AND NEW.uuid IS NULL THEN"
	"  IF TG_ARGV[0] = '' THEN NEW.uuid := gen_random_uuid();"
	"  ELSE NEW.uuid := xchg_new_uuid(TG_ARGV[0]); END IF;"
	" END IF;"
	" IF parent = '' AND TG_OP = 'DELETE' THEN u := OLD.uuid::text; op := 'DELETE';"
	" ELSIF parent = '' THEN u := NEW.uuid::text;"
	"  IF TG_OP = 'INSERT' THEN op := 'INSERT';"
	"  ELSIF NEW.is_deleted::text IN ('true', '1') THEN op := 'DELETE'; END IF;"
	" ELSE"
	"  IF TG_OP <> 'DELETE' THEN u := to_jsonb(NEW)->>parent; END IF;"
	"  IF TG_OP <> 'INSERT' THEN was := to_jsonb(OLD)->>parent; END IF;"
	"  IF was IS NOT DISTINCT FROM u THEN was := NULL; END IF;"
	" END IF;"
	" IF parent <> '' OR TG_ARGV[0] <> '' THEN u := xchg_uuid_text(u); was := xchg_uuid_text(was); END IF;"
	" IF (u IS NOT NULL OR was IS NOT NULL)"
	"  AND coalesce(current_setting('xchg.capture', true), '') <> 'held'"
	"  AND EXISTS (SELECT 1 FROM sync_nodes WHERE "
	CAPTURE_BESIDES("origin", "coalesce(TG_ARGV[4], '') <> ''") ") THEN"
	"  IF parent = '' AND coalesce(TG_ARGV[4], '') <> '' THEN"
	"   IF TG_OP <> 'INSERT' THEN sub_was := to_jsonb(OLD)->>TG_ARGV[4]; END IF;"
	"   IF TG_OP = 'DELETE' THEN sub := sub_was;"
	"   ELSE sub := to_jsonb(NEW)->>TG_ARGV[4];"
	"    moved := TG_OP = 'UPDATE' AND sub IS DISTINCT FROM sub_was; END IF;"
	"  END IF;"
	"  FOREACH u IN ARRAY ARRAY[u, was] LOOP"
	"   CONTINUE WHEN u IS NULL;"
	"   IF parent <> '' AND coalesce(TG_ARGV[4], '') <> '' THEN EXECUTE TG_ARGV[4] INTO sub USING u; END IF;"
	"   INSERT INTO sync_capture (entity_type, entity_uuid, operation, origin_id, changed_at,"
	"    subset, moved, moved_from)"
	"   VALUES (etype, u, op, origin, date_trunc('milliseconds', clock_timestamp()),"
	"    sub, moved::int, CASE WHEN moved THEN sub_was END);"
	"  END LOOP;"
	" END IF;"
	" IF TG_OP = 'UPDATE' AND coalesce(TG_ARGV[5], '') <> '' THEN"
	"  DELETE FROM sync_refs r WHERE r.table_name = TG_TABLE_NAME"
	"   AND r.row_uuid = xchg_uuid_text(NEW.uuid::text)"
	"   AND r.column_name = ANY (string_to_array(TG_ARGV[5], ','))"
	"   AND to_jsonb(NEW)->>r.column_name IS NOT NULL;"
	" END IF;"
	" IF TG_OP = 'DELETE' THEN RETURN OLD; END IF;"
	" RETURN NEW; END $$;"
	/* TRUNCATE fires no row triggers: its deletes could never be registered. */
	"CREATE OR REPLACE FUNCTION xchg_no_truncate() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
	" RAISE EXCEPTION 'xchg: TRUNCATE of synchronized table % would not reach the peers; use DELETE',"
	" TG_TABLE_NAME; END $$;";

/*
 * Routing (route.c), in one statement so that it removes from the log
 * exactly the captures it read: a writer committing meanwhile leaves its
 * capture for the next routing. What sq_route says of registrations holds
 * here too.
 */
static const char pg_route[] =
	"WITH moved AS (DELETE FROM sync_capture"
	" RETURNING id, entity_type, entity_uuid, operation, origin_id, changed_at, subset, moved,"
	" moved_from),"
	" latest AS (SELECT DISTINCT ON (entity_type, entity_uuid) * FROM moved"
	" ORDER BY entity_type, entity_uuid, id DESC)"
	ROUTE_EVICTS("moved")
	" INSERT INTO sync_changes (node_id, entity_type, entity_uuid, operation, changed_at)"
	ROUTE_SELECT
	" ON CONFLICT (node_id, entity_type, entity_uuid) DO UPDATE SET"
	" operation = excluded.operation, packet_no = NULL, changed_at = excluded.changed_at";

static void pg_sync_columns_sql(xbuf *b, const char *table, const store_column *cols, size_t n)
{
	XCHG_UNUSED(cols);
	XCHG_UNUSED(n);
	xbuf_printf(b,
		    "ALTER TABLE \"%s\" ADD COLUMN IF NOT EXISTS uuid UUID;"
		    "ALTER TABLE \"%s\" ADD COLUMN IF NOT EXISTS updated_at TIMESTAMPTZ;"
		    "ALTER TABLE \"%s\" ADD COLUMN IF NOT EXISTS is_deleted BOOLEAN NOT NULL DEFAULT false;",
		    table, table, table);
}

/* Form f of a time as a to_char() pattern; "" for a native column, which takes xchg's own. */
static void pg_time_pattern(char *out, size_t size, const col_form *f)
{
	char fraction[8] = "";

	if (f->native || f->kind != FORM_TIME) {
		out[0] = '\0';
		return;
	}
	if (f->digits)
		snprintf(fraction, sizeof(fraction), ".FF%d", f->digits > 6 ? 6 : f->digits);
	snprintf(out, size, "YYYY-MM-DD%sHH24:MI:SS%s%s", f->space ? " " : "\"T\"", fraction,
		 f->zone == 'Z' ? "\"Z\"" : f->zone == '+' ? "\"+00:00\"" : "");
}

static void pg_fill_sql(xbuf *b, const char *table, const char *parent_column, const sync_forms *f)
{
	char uuid[FORMS_TEXT_MAX], pattern[80];

	forms_name(&f->uuid, uuid);
	pg_time_pattern(pattern, sizeof(pattern), &f->updated_at);
	/* An expression of type text does not go into a uuid or timestamptz column by itself. */
	if (f->uuid.native)
		xbuf_printf(b, "UPDATE \"%s\" SET uuid = gen_random_uuid() WHERE uuid IS NULL;", table);
	else
		xbuf_printf(b, "UPDATE \"%s\" SET uuid = xchg_new_uuid('%s') WHERE uuid IS NULL;", table,
			    uuid);
	if (f->updated_at.native)
		xbuf_printf(b, "UPDATE \"%s\" SET updated_at = date_trunc('milliseconds', clock_timestamp())"
			       " WHERE updated_at IS NULL;", table);
	else
		xbuf_printf(b, "UPDATE \"%s\" SET updated_at = xchg_now('%s') WHERE updated_at IS NULL;",
			    table, pattern);
	xbuf_printf(b, "CREATE UNIQUE INDEX IF NOT EXISTS \"xchg_%s_uuid\" ON \"%s\" (uuid);",
		    table, table);
	if (parent_column)
		xbuf_printf(b, "CREATE INDEX IF NOT EXISTS \"xchg_%s_parent\" ON \"%s\" (\"%s\");",
			    table, table, parent_column);
}

/*
 * xchg_row's TG_ARGV[4] (see there): an entity's subset column, or the
 * statement that reads a child's parent's subset value by the parent's
 * canonical uuid, $1, in whatever spelling the parent's table holds it.
 * Quotes are doubled: it goes inside a literal.
 */
static void pg_subset_arg(xbuf *b, const store_capture *c)
{
	if (!c->subset_column)
		return;
	if (!c->parent_column)
		xbuf_adds(b, c->subset_column);
	else if (c->parent_forms->uuid.native)
		xbuf_printf(b, "SELECT \"%s\"::text FROM \"%s\" WHERE uuid = $1::uuid",
			    c->subset_column, c->parent_table);
	else
		xbuf_printf(b, "SELECT \"%s\"::text FROM \"%s\" WHERE uuid IN ($1,"
			       " replace($1, ''-'', ), upper($1), upper(replace($1, -, )))",
			    c->subset_column, c->parent_table);
}

static void pg_triggers_sql(xbuf *b, const store_capture *c)
{
	size_t i;
	const char *table = c->table;
	const sync_forms *f = c->forms;
	char uuid[FORMS_TEXT_MAX], pattern[80];

	/* xchg_row's forms: '' for PostgreSQL's own uuid and timestamptz. */
	if (f->uuid.native)
		uuid[0] = '\0';
	else
		forms_name(&f->uuid, uuid);
	pg_time_pattern(pattern, sizeof(pattern), &f->updated_at);
	/* xchg_fill and xchg_changed: the two an older xchg installed. */
	xbuf_printf(b,
		    "DROP TRIGGER IF EXISTS xchg_fill ON \"%s\";"
		    "DROP TRIGGER IF EXISTS xchg_changed ON \"%s\";"
		    "DROP TRIGGER IF EXISTS xchg_row ON \"%s\";"
		    "CREATE TRIGGER xchg_row BEFORE INSERT OR UPDATE OR DELETE ON \"%s\""
		    " FOR EACH ROW EXECUTE FUNCTION xchg_row('%s', '%s', '%s', '%s', '",
		    table, table, table, table, uuid, pattern, c->type,
		    c->parent_column ? c->parent_column : "");
	pg_subset_arg(b, c);
	xbuf_adds(b, "', '");
	for (i = 0; i < c->refs->n; i++)
		xbuf_printf(b, "%s%s", i ? "," : "", c->refs->columns[i]);
	xbuf_printf(b,
		    "');"
		    "DROP TRIGGER IF EXISTS xchg_truncate ON \"%s\";"
		    "CREATE TRIGGER xchg_truncate BEFORE TRUNCATE ON \"%s\""
		    " FOR EACH STATEMENT EXECUTE FUNCTION xchg_no_truncate();",
		    table, table);
}

static xchg_status pg_set_origin(store *base, const char *node_id, xchg_err *err)
{
	xvalue id = xv_text(node_id ? node_id : "");

	return store_run(base, "SELECT set_config('xchg.origin', ?, true)", &id, 1, NULL, err);
}

static xchg_status pg_capture_hold(store *base, xchg_err *err)
{
	return pg_exec(base, "SELECT set_config('xchg.capture', 'held', true)", err);
}

/*
 * The capture xchg_row makes of an entity's new row, and of each of its
 * new child rows (the same entity again), once, in one statement.
 */
static xchg_status pg_capture_inserted(store *base, const char *type, const char *table,
				       const char *subset_column, const col_form *form,
				       const char *const *uuids, size_t n, xchg_err *err)
{
	char (*spelled)[FORMS_SPELLINGS][37] = calloc(n, sizeof(*spelled));
	xvalue *p = calloc(1 + n * FORMS_SPELLINGS, sizeof(*p));
	xbuf sql = {0};
	size_t keys;
	xchg_status rc;

	if (!spelled || !p) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	p[0] = xv_text(type);
	keys = n * store_uuid_keys(form, uuids, n, spelled, &p[1]);
	xbuf_adds(&sql, "INSERT INTO sync_capture (entity_type, entity_uuid, operation, origin_id,"
			" changed_at, subset, moved) SELECT ?, xchg_uuid_text(t.uuid::text), 'INSERT', o.id,"
			" date_trunc('milliseconds', clock_timestamp()), ");
	if (subset_column)
		xbuf_printf(&sql, "to_jsonb(t)->>'%s'", subset_column);
	else
		xbuf_adds(&sql, "NULL");
	xbuf_printf(&sql, ", 0 FROM \"%s\" t, (SELECT nullif(current_setting('xchg.origin', true),"
			  " '')::uuid AS id) o WHERE EXISTS (SELECT 1 FROM sync_nodes WHERE "
			  CAPTURE_BESIDES("o.id", "%s") ") AND t.uuid IN (", table,
		    subset_column ? "1 = 1" : "1 = 0");
	store_params_sql(&sql, keys);
	xbuf_adds(&sql, ")");
	if (!sql.data)
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	else if (!(rc = store_run(base, sql.data, p, (int)(1 + keys), NULL, err)))
		rc = pg_exec(base, "SELECT set_config('xchg.capture', '', true)", err);
done:
	xbuf_free(&sql);
	free(p);
	free(spelled);
	return rc;
}

/*
 * After the peer's lock, row locks are waited for briefly only: an
 * application transaction that holds a registration xchg wants may be
 * waiting for one xchg holds, and PostgreSQL would break that deadlock by
 * aborting one of the two, perhaps the application's. Giving up first
 * (lock_timeout below deadlock_timeout's default of 1 s) and running the
 * whole export or import again (store_retry) keeps the application's
 * transactions whole.
 */
static xchg_status pg_lock(store *base, const char *name, xchg_err *err)
{
	xvalue key = xv_text(name);
	xchg_status rc;

	if ((rc = store_run(base, "SELECT pg_advisory_xact_lock(hashtextextended('xchg:' || ?, 0))",
			    &key, 1, NULL, err)))
		return rc;
	return pg_exec(base, "SET LOCAL lock_timeout = '400ms'", err);
}

/* A session's advisory lock: PostgreSQL lets go of it when the connection ends. */
static xchg_status pg_try_run_lock(store *base, const char *name, int *held, xchg_err *err)
{
	xvalue key = xv_text(name);
	int64_t got = 0;
	xchg_status rc;

	*held = 0;
	if ((rc = store_int(base, "SELECT pg_try_advisory_lock(hashtextextended('xchg-run:' || ?, 0))::int",
			    &key, 1, &got, NULL, err)))
		return rc;
	*held = got != 0;
	return XCHG_OK;
}

static void pg_run_unlock(store *base, const char *name)
{
	xvalue key = xv_text(name);
	xchg_err ignored;

	store_run(base, "SELECT pg_advisory_unlock(hashtextextended('xchg-run:' || ?, 0))", &key, 1,
		  NULL, &ignored);
}

/* The helpers pg_schema defines; changed_at is a timestamptz, canonical when read. */
static void pg_canonical_sql(xbuf *b, form_kind kind, const char *x)
{
	xbuf_printf(b, kind == FORM_UUID ? "xchg_uuid_text((%s)::text)" : "xchg_instant((%s)::text)", x);
}

/* PostgreSQL's uuid and timestamp types hold the value itself, not a text of it. */
static form_kind pg_native_kind(const char *decl_type)
{
	if (strcmp(decl_type, "uuid") == 0)
		return FORM_UUID;
	if (strncmp(decl_type, "timestamp", 9) == 0)
		return FORM_TIME;
	return FORM_TEXT;
}

static int pg_retryable(store *base)
{
	return ((pg_store *)base)->retryable;
}

static store_fault pg_fault(store *base, const char **message)
{
	pg_store *s = (pg_store *)base;

	*message = s->fault_msg;
	return s->fault;
}

static void forget_prepared(pg_store *s)
{
	pg_prepared *c, *next;

	for (c = s->cache; c; c = next) {
		next = c->next;
		free(c->sql);
		free(c);
	}
	s->cache = NULL;
	s->ncached = 0;
}

/*
 * Timestamps read back in UTC and ISO form, whatever the server's defaults.
 * xchg's statements are prepared once and find rows by key, many keys at a
 * time: planning each run anew for its values (a custom plan) took longer
 * than running it, and gives the same plan.
 */
static xchg_status pg_session(store *base, xchg_err *err)
{
	return pg_exec(base, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO';"
			     " SET client_encoding = 'UTF8'; SET client_min_messages = 'warning';"
			     " SET plan_cache_mode = 'force_generic_plan'", err);
}

/* A new session has none of the old one's prepared statements or settings. */
static xchg_status pg_revive(store *base, xchg_err *err)
{
	pg_store *s = (pg_store *)base;

	if (PQstatus(s->conn) == CONNECTION_OK)
		return XCHG_OK;
	forget_prepared(s);
	PQreset(s->conn);
	if (PQstatus(s->conn) != CONNECTION_OK)
		return pg_fail(s, err, "cannot connect again", NULL);
	return pg_session(base, err);
}

static void pg_close(store *base)
{
	pg_store *s = (pg_store *)base;

	forget_prepared(s);
	PQfinish(s->conn);
	free(s->base.name);
	free(s);
}

/*
 * A PostgreSQL node's default key file name, DBNAME@HOST-PORT.xchg.key, any
 * character but [A-Za-z0-9@._-] made '_': the folder it goes in is the
 * caller's (xchg_set_key_dir).
 */
static void pg_default_key(store *base, char **path, char **key_name)
{
	PGconn *conn = ((pg_store *)base)->conn;
	PQconninfoOption *opts = PQconninfo(conn), *o;
	const char *host = NULL, *port = NULL;
	char *name, *c;

	/* As the URL gives them, so that a failover list keeps one name whichever host answers. */
	for (o = opts; o && o->keyword; o++) {
		if (strcmp(o->keyword, "host") == 0)
			host = o->val;
		else if (strcmp(o->keyword, "port") == 0)
			port = o->val;
	}
	name = xstrdup_printf("%s@%s-%s.xchg.key", PQdb(conn), host && host[0] ? host : PQhost(conn),
			      port && port[0] ? port : PQport(conn));
	/* A socket folder, or a database named "../x", must not make the name a path. */
	for (c = name; c && *c; c++)
		if (!isalnum((unsigned char)*c) && !strchr("@._-", *c))
			*c = '_';
	PQconninfoFree(opts);
	(void)path;
	*key_name = name;
}

static const store_ops pg_ops = {
	.dialect = "postgresql",
	.columns_sql =
		"SELECT a.attname, format_type(a.atttypid, a.atttypmod),"
		" EXISTS (SELECT 1 FROM pg_catalog.pg_index i WHERE i.indrelid = a.attrelid"
		" AND i.indisprimary AND a.attnum = ANY (i.indkey))"
		" FROM pg_catalog.pg_attribute a"
		" WHERE a.attrelid = to_regclass(quote_ident(?)) AND a.attnum > 0"
		" AND NOT a.attisdropped ORDER BY a.attnum",
	.table_exists_sql =
		"SELECT 1 FROM pg_catalog.pg_class c"
		" JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace"
		" WHERE c.relname = ? AND c.relkind IN ('r', 'p')"
		" AND n.nspname = ANY (current_schemas(false))",
	/* indkey lists key columns first, then INCLUDE columns (indnkeyatts). */
	.unique_keys_sql =
		"SELECT c.relname, a.attname, k.n FROM pg_catalog.pg_index i"
		" JOIN pg_catalog.pg_class c ON c.oid = i.indexrelid"
		" CROSS JOIN LATERAL unnest(i.indkey::int2[]) WITH ORDINALITY AS k(attnum, n)"
		" JOIN pg_catalog.pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
		" WHERE i.indrelid = to_regclass(quote_ident(?)) AND i.indisunique"
		" AND i.indpred IS NULL AND i.indexprs IS NULL AND k.n <= i.indnkeyatts"
		" ORDER BY 1, 3",
	.schema_sql = pg_schema,
	.route_sql = pg_route,
	.lock_rows_suffix = " FOR UPDATE",
	/* SHARE waits for writers in flight and holds new ones off. */
	.lock_table_sql = "LOCK TABLE \"%s\" IN SHARE MODE",
	.begin_sql = "BEGIN",
	.exec = pg_exec,
	.rollback = pg_rollback,
	.query = pg_query,
	.step = pg_step,
	.ncols = pg_ncols,
	.col = pg_col,
	.colname = pg_colname,
	.release = pg_release,
	.changes = pg_changes,
	.native_kind = pg_native_kind,
	.canonical_sql = pg_canonical_sql,
	.sync_columns_sql = pg_sync_columns_sql,
	.fill_sql = pg_fill_sql,
	.triggers_sql = pg_triggers_sql,
	.set_origin = pg_set_origin,
	.try_run_lock = pg_try_run_lock,
	.run_unlock = pg_run_unlock,
	.lock = pg_lock,
	.retryable = pg_retryable,
	.fault = pg_fault,
	.revive = pg_revive,
	.capture_hold = pg_capture_hold,
	.capture_inserted = pg_capture_inserted,
	.default_key = pg_default_key,
	.close = pg_close,
};

/* A connection string without its password, for messages. */
static char *redacted(const char *url)
{
	const char *scheme = strstr(url, "://"), *at, *colon;

	if (!scheme || !(at = strchr(scheme + 3, '@')) ||
	    !(colon = memchr(scheme + 3, ':', (size_t)(at - scheme - 3))))
		return strstr(url, "password") ? strdup("PostgreSQL") : strdup(url);
	return xstrdup_printf("%.*s:***%s", (int)(colon - url), url, at);
}

xchg_status store_pg_open(store **out, const char *url, xchg_err *err)
{
	/* Named "xchg" in pg_stat_activity, unless the URL names it otherwise. */
	static const char *const keys[] = {"dbname", "fallback_application_name", NULL};
	const char *values[] = {url, "xchg", NULL};
	pg_store *s = NULL;
	xchg_status rc;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s))) || !(s->base.name = redacted(url))) {
		free(s);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	s->base.ops = &pg_ops;
	s->base.max_params = 65535; /* the protocol counts them in 16 bits */
	if (!(s->conn = PQconnectdbParams(keys, values, 1)) || PQstatus(s->conn) != CONNECTION_OK) {
		rc = s->conn ? pg_fail(s, err, "cannot connect", NULL)
			     : xerr(err, XCHG_ENOMEM, "out of memory");
		pg_close(&s->base);
		return rc;
	}
	if ((rc = pg_session(&s->base, err))) {
		pg_close(&s->base);
		return rc;
	}
	*out = &s->base;
	return XCHG_OK;
}
