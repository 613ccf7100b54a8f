/* The stage for exchange tests: see harness.h. */
#include "harness.h"

#include <criterion/criterion.h>

#include <archive.h>
#include <archive_entry.h>
#include <dirent.h>
#include <errno.h>
#include <ftw.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "db.h"
#include "envelope.h"
#include "keys.h"
#include "packet.h"
#include "route.h"

#define MAX_NODES 8

static char root[64];
static void **arena;
static size_t narena, carena;
static node *nodes[MAX_NODES];
/* PostgreSQL copies made by node_backup, dropped at teardown. */
static const char *backups[64];
static size_t nbackups;

static size_t nnodes;
static int pg_centers;   /* XCHG_TEST_CENTER=pg */
static PGconn *pg_admin; /* to the server's "postgres" database: creates and drops */

/* ---- memory that lives until teardown ------------------------------------ */

void *hkeep(void *p)
{
	void **grown;

	cr_assert_not_null(p, "out of memory");
	/*
	 * Doubled, not grown by one: a test keeps a string per cell it reads,
	 * and under AddressSanitizer, whose realloc always copies, growing by
	 * one made a long test quadratic (minutes instead of seconds).
	 */
	if (narena == carena) {
		grown = realloc(arena, (carena ? 2 * carena : 256) * sizeof(*arena));
		cr_assert_not_null(grown, "out of memory");
		arena = grown;
		carena = carena ? 2 * carena : 256;
	}
	arena[narena++] = p;
	return p;
}

static const char *vhstr(const char *fmt, va_list ap)
{
	char *s = NULL;

	cr_assert_geq(vasprintf(&s, fmt, ap), 0, "out of memory");
	return hkeep(s);
}

const char *hstr(const char *fmt, ...)
{
	va_list ap;
	const char *s;

	va_start(ap, fmt);
	s = vhstr(fmt, ap);
	va_end(ap);
	return s;
}

static const char *hdup(const char *s)
{
	return s ? hkeep(strdup(s)) : NULL;
}

/* ---- the test's folder ---------------------------------------------------- */

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static const char *pg_host(void)
{
	const char *host = getenv("XCHG_PG_HOST");

	return host && host[0] ? host : NULL;
}

void harness_setup(void)
{
	const char *center = getenv("XCHG_TEST_CENTER");

	cr_assert_geq(sodium_init(), 0, "libsodium cannot be initialized");
	/* A run asked for PostgreSQL that quietly tested SQLite would pass for the wrong reason. */
	pg_centers = center && strcmp(center, "pg") == 0;
	cr_assert(!center || !center[0] || pg_centers || strcmp(center, "sqlite") == 0,
		  "XCHG_TEST_CENTER=%s: expected pg or sqlite", center);
	cr_assert(!pg_centers || pg_host(),
		  "XCHG_TEST_CENTER=pg but XCHG_PG_HOST is not set: it names the socket folder of"
		  " a test PostgreSQL server (d=$(mktemp -d) && tests/pg-server start $d;"
		  " export XCHG_PG_HOST=$d)");
	strcpy(root, "/tmp/xchg_stage_XXXXXX");
	cr_assert_not_null(mkdtemp(root), "mkdtemp: %s", strerror(errno));
}

static void pg_drop(const char *name);

void harness_teardown(void)
{
	size_t i;

	for (i = 0; i < nnodes; i++) {
		xchg_close(nodes[i]->db);
		sqlite3_close(nodes[i]->app);
		if (nodes[i]->pg_app)
			PQfinish(nodes[i]->pg_app);
		if (nodes[i]->pg_name)
			pg_drop(nodes[i]->pg_name);
	}
	nnodes = 0;
	for (i = 0; i < nbackups; i++)
		pg_drop(backups[i]);
	nbackups = 0;
	if (pg_admin)
		PQfinish(pg_admin);
	pg_admin = NULL;
	for (i = 0; i < narena; i++)
		free(arena[i]);
	free(arena);
	arena = NULL;
	narena = carena = 0;
	if (root[0])
		nftw(root, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

const char *test_root(void)
{
	return root;
}

const char *tmp_path(const char *name)
{
	return hstr("%s/%s", root, name);
}

const char *make_folder(const char *name)
{
	const char *path = tmp_path(name);

	cr_assert(mkdir(path, 0755) == 0 || errno == EEXIST, "mkdir %s: %s", path,
		  strerror(errno));
	return path;
}

size_t count_files(const char *dir, const char *prefix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	size_t n = 0;

	cr_assert_not_null(d, "%s: %s", dir, strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strncmp(de->d_name, prefix, strlen(prefix)) == 0)
			n++;
	closedir(d);
	return n;
}

/* ---- PostgreSQL ---------------------------------------------------------- */

static const char *pg_message(PGconn *c, const PGresult *res)
{
	const char *msg = res ? PQresultErrorMessage(res) : PQerrorMessage(c);
	size_t len = strlen(msg);

	while (len && (msg[len - 1] == '\n' || msg[len - 1] == ' '))
		len--;
	return hstr("%.*s", (int)len, msg);
}

/* A connection to database dbname of the test server, as user xchg. */
static PGconn *pg_connect(const char *dbname)
{
	const char *const keys[] = {"host", "user", "dbname", NULL};
	const char *const values[] = {pg_host(), "xchg", dbname, NULL};
	PGconn *c = PQconnectdbParams(keys, values, 0);
	const char *msg;

	cr_assert_not_null(c, "out of memory");
	if (PQstatus(c) != CONNECTION_OK) {
		msg = pg_message(c, NULL);
		PQfinish(c);
		cr_assert_fail("cannot connect to database %s of the test server at %s: %s", dbname,
			       pg_host(), msg);
	}
	return c;
}

/* Runs sql; the result, or NULL with *msg set when it failed. */
static PGresult *pg_run(PGconn *c, const char *sql, const char **msg)
{
	PGresult *res = PQexec(c, sql);
	ExecStatusType st = PQresultStatus(res);

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return res;
	*msg = pg_message(c, res);
	PQclear(res);
	return NULL;
}

/*
 * A new, empty database for one node. Names carry the test process's id, so
 * parallel tests never collide; one left by a crashed test whose id came
 * round again is dropped and made anew.
 */
static const char *pg_create(void)
{
	static unsigned serial;
	const char *name = hstr("xchg_unit_%ld_%u", (long)getpid(), serial++);
	const char *msg = NULL;
	PGresult *res;

	if (!pg_admin)
		pg_admin = pg_connect("postgres");
	res = pg_run(pg_admin, hstr("CREATE DATABASE \"%s\"", name), &msg);
	if (!res && strstr(msg, "already exists")) {
		PQclear(pg_run(pg_admin, hstr("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name), &msg));
		res = pg_run(pg_admin, hstr("CREATE DATABASE \"%s\"", name), &msg);
	}
	cr_assert_not_null(res, "CREATE DATABASE %s: %s", name, msg);
	PQclear(res);
	return name;
}

/* Teardown: never fails the test, but says what it could not clean up. */
static void pg_drop(const char *name)
{
	const char *msg = NULL;
	PGresult *res;

	if (!pg_admin)
		pg_admin = PQconnectdbParams((const char *const[]){"host", "user", "dbname", NULL},
					     (const char *const[]){pg_host(), "xchg", "postgres", NULL}, 0);
	if (!pg_admin || PQstatus(pg_admin) != CONNECTION_OK) {
		cr_log_warn("cannot drop database %s: no connection to the test server", name);
		return;
	}
	res = pg_run(pg_admin, hstr("DROP DATABASE IF EXISTS \"%s\" WITH (FORCE)", name), &msg);
	if (!res)
		cr_log_warn("DROP DATABASE %s: %s", name, msg);
	PQclear(res);
}

/* The URL the library opens: postgresql:///NAME?host=SOCKETDIR&user=xchg. */
static const char *pg_url(const char *name)
{
	const char *host = pg_host(), *p;
	char *enc = hkeep(malloc(strlen(host) * 3 + 1)), *q = enc;

	for (p = host; *p; p++)
		if (strchr("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~/", *p))
			*q++ = *p;
		else
			q += sprintf(q, "%%%02X", (unsigned char)*p);
	*q = '\0';
	return hstr("postgresql:///%s?host=%s&user=xchg", name, enc);
}

/* ---- nodes --------------------------------------------------------------- */

static void app_exec(node *n, const char *sql)
{
	char *msg = NULL;
	const char *pg_msg = NULL;

	if (n->pg_app) {
		PGresult *res = pg_run(n->pg_app, sql, &pg_msg);

		if (!res)
			cr_assert_fail("%s: SQL failed (PostgreSQL): %s\n  in: %.300s", n->code,
				       pg_msg, sql);
		PQclear(res);
		return;
	}
	if (sqlite3_exec(n->app, sql, NULL, NULL, &msg) != SQLITE_OK) {
		char shown[512];

		snprintf(shown, sizeof(shown), "%s", msg ? msg : "?");
		sqlite3_free(msg);
		cr_assert_fail("%s: SQL failed: %s\n  in: %.300s", n->code, shown, sql);
	}
}

/* A fresh SQLite file in folder, and the application's connection to it. */
static void sqlite_node(node *n, const char *folder)
{
	n->db_path = hstr("%s/%s.db", folder, n->code);
	cr_assert_eq(sqlite3_open_v2(n->db_path, &n->app,
				     SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL),
		     SQLITE_OK, "%s: cannot create", n->db_path);
	sqlite3_busy_timeout(n->app, 5000);
	app_exec(n, hkeep(read_file(EXAMPLE_SCHEMA, NULL)));
}

/*
 * A fresh database on the test server, and the application's connection to
 * it. The session shows timestamps in UTC and ISO form, like the library's.
 */
static void pg_node(node *n, const char *folder)
{
	n->pg = 1;
	n->pg_name = pg_create();
	n->db_path = pg_url(n->pg_name);
	n->key_path = hstr("%s/%s.xchg.key", folder, n->code);
	n->pg_app = pg_connect(n->pg_name);
	app_exec(n, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO';"
		    " SET client_min_messages = 'warning'");
	app_exec(n, hkeep(read_file(EXAMPLE_SCHEMA_PG, NULL)));
}

/* The library's handle; on PostgreSQL with the key file in the node's folder. */
static void node_open(node *n, unsigned flags)
{
	xchg_err err = {0};

	cr_assert_eq(xchg_open(&n->db, n->db_path, flags, &err), XCHG_OK, "xchg_open %s: %s",
		     n->db_path, err.msg);
	if (n->pg)
		cr_assert_eq(xchg_set_key_file(n->db, n->key_path, &err), XCHG_OK, "%s: %s",
			     n->code, err.msg);
	else
		n->key_path = hdup(n->db->key_path);
}

int centers_are_pg(void)
{
	return pg_centers;
}

node *node_create(const char *code, int master, const char *plan_path, const char *extra_sql)
{
	node *n = hkeep(calloc(1, sizeof(*n)));
	const char *folder;
	xchg_init_opts opts = {.version = XCHG_INIT_OPTS_VERSION, .code = code,
			       .plan_path = plan_path, .master = master};
	xchg_err err = {0};
	int already = -1;

	cr_assert_lt(nnodes, MAX_NODES, "too many nodes in one test");
	snprintf(n->code, sizeof(n->code), "%s", code);
	folder = make_folder(hstr("node%zu", nnodes));
	nodes[nnodes++] = n; /* from here on teardown cleans it up */
	if (master && pg_centers)
		pg_node(n, folder);
	else
		sqlite_node(n, folder);
	if (extra_sql)
		app_exec(n, extra_sql);
	node_open(n, XCHG_OPEN_CREATE);
	cr_assert_eq(xchg_init(n->db, &opts, &already, &err), XCHG_OK, "xchg_init %s: %s",
		     code, err.msg);
	cr_assert_eq(already, 0, "%s: a fresh database reported as initialized before", code);
	return n;
}

/* Closes both of n's connections: a PostgreSQL database is copied only with no one in it. */
static void node_close(node *n)
{
	xchg_close(n->db);
	n->db = NULL;
	if (n->app)
		sqlite3_close(n->app);
	n->app = NULL;
	if (n->pg_app)
		PQfinish(n->pg_app);
	n->pg_app = NULL;
}

static void node_reconnect(node *n)
{
	if (n->pg) {
		n->pg_app = pg_connect(n->pg_name);
		app_exec(n, "SET TimeZone = 'UTC'; SET DateStyle = 'ISO';"
			    " SET client_min_messages = 'warning'");
	} else {
		cr_assert_eq(sqlite3_open_v2(n->db_path, &n->app, SQLITE_OPEN_READWRITE, NULL),
			     SQLITE_OK, "%s: cannot open", n->db_path);
		sqlite3_busy_timeout(n->app, 5000);
	}
	node_open(n, 0);
}

const char *node_backup(node *n)
{
	static unsigned serial;
	const char *copy = n->pg ? hstr("%s_backup_%u", n->pg_name, serial++)
				 : hstr("%s.backup%u", n->db_path, serial++);
	const char *msg = NULL;
	sqlite3 *to = NULL;
	sqlite3_backup *b;
	PGresult *res;

	if (n->pg) {
		node_close(n);
		res = pg_run(pg_admin, hstr("CREATE DATABASE \"%s\" TEMPLATE \"%s\"", copy, n->pg_name),
			     &msg);
		cr_assert_not_null(res, "%s: cannot copy its database: %s", n->code, msg);
		PQclear(res);
		cr_assert_lt(nbackups, sizeof(backups) / sizeof(backups[0]), "too many backups");
		backups[nbackups++] = copy;
		node_reconnect(n);
		return copy;
	}
	cr_assert_eq(sqlite3_open(copy, &to), SQLITE_OK, "%s: cannot create", copy);
	cr_assert_not_null(b = sqlite3_backup_init(to, "main", n->app, "main"), "%s", sqlite3_errmsg(to));
	cr_assert_eq(sqlite3_backup_step(b, -1), SQLITE_DONE, "%s: backup: %s", n->code, sqlite3_errmsg(to));
	sqlite3_backup_finish(b);
	sqlite3_close(to);
	return copy;
}

void node_restore(node *n, const char *backup)
{
	const char *msg = NULL;
	PGresult *res;

	node_close(n);
	if (n->pg) {
		res = pg_run(pg_admin, hstr("DROP DATABASE \"%s\" WITH (FORCE)", n->pg_name), &msg);
		cr_assert_not_null(res, "%s: cannot drop its database: %s", n->code, msg);
		PQclear(res);
		res = pg_run(pg_admin, hstr("CREATE DATABASE \"%s\" TEMPLATE \"%s\"", n->pg_name, backup),
			     &msg);
		cr_assert_not_null(res, "%s: cannot put its copy back: %s", n->code, msg);
		PQclear(res);
	} else {
		copy_file(backup, n->db_path);
		unlink(hstr("%s-journal", n->db_path));
		unlink(hstr("%s-wal", n->db_path));
	}
	node_reconnect(n);
}

node *center_new(const char *code)
{
	return node_create(code, 1, EXAMPLE_PLAN, NULL);
}

node *desktop_new(const char *code)
{
	return node_create(code, 0, EXAMPLE_PLAN, NULL);
}

const char *public_key(node *n)
{
	xchg_err err = {0};
	char *key = NULL;

	cr_assert_eq(xchg_public_key(n->db, &key, &err), XCHG_OK, "%s: %s", n->code, err.msg);
	return hkeep(key);
}

const char *node_id(node *n)
{
	const char *id = sql_text(n, "SELECT id FROM sync_nodes WHERE is_self = 1");

	cr_assert_not_null(id, "%s has no id", n->code);
	return id;
}

void set_node_id(node *n, const char *id)
{
	sql_exec(n, "UPDATE sync_nodes SET id = '%s' WHERE is_self = 1", id);
}

void take_id_of(node *n, node *other)
{
	set_node_id(n, node_id(other));
}

void link_nodes(node *center, node *desktop)
{
	xchg_err err = {0};

	cr_assert_eq(xchg_node_add(center->db, public_key(desktop), desktop->code, NULL, &err),
		     XCHG_OK, "%s adds %s: %s", center->code, desktop->code, err.msg);
	cr_assert_eq(xchg_node_add(desktop->db, public_key(center), center->code, NULL, &err),
		     XCHG_OK, "%s adds %s: %s", desktop->code, center->code, err.msg);
}

void node_reopen(node *n)
{
	xchg_close(n->db);
	n->db = NULL;
	node_open(n, 0);
}

/* ---- SQL ----------------------------------------------------------------- */

/* The shortest text that reads back as d: PostgreSQL's way, for both backends. */
static const char *float_text(double d)
{
	char buf[40];
	int prec;

	if (!isfinite(d))
		return hstr("%g", d);
	for (prec = 1; prec < 17; prec++) {
		snprintf(buf, sizeof(buf), "%.*g", prec, d);
		if (strtod(buf, NULL) == d)
			return hdup(buf);
	}
	return hstr("%.17g", d);
}

/*
 * PostgreSQL's ISO timestamp "2026-11-25 09:30:00.123+00" (the session is
 * in UTC) in the library's form "2026-11-25T09:30:00.123Z": at least
 * milliseconds, 'Z' for UTC, as lib/store_pg.c hands it to the exchange.
 */
static const char *iso_timestamp(const char *v)
{
	const char *p = v + 19, *zone;
	size_t frac;

	if (strlen(v) < 19 || v[10] != ' ' || v[13] != ':')
		return hdup(v); /* infinity, BC dates: as printed */
	frac = *p == '.' ? strspn(p + 1, "0123456789") : 0;
	zone = frac ? p + 1 + frac : p;
	return hstr("%.10sT%.8s.%.*s%s%s", v, v + 11, (int)frac, frac ? p + 1 : "",
		    frac >= 3 ? "" : &"000"[frac], strcmp(zone, "+00") == 0 ? "Z" : zone);
}

/* Type oids from PostgreSQL's pg_type.h. */
enum { OID_BOOL = 16, OID_FLOAT4 = 700, OID_FLOAT8 = 701, OID_TIMESTAMP = 1114,
       OID_TIMESTAMPTZ = 1184 };

static const char *pg_cell(const PGresult *res, int row, int col)
{
	const char *v;

	if (PQgetisnull(res, row, col))
		return NULL;
	v = PQgetvalue(res, row, col);
	switch (PQftype(res, col)) {
	case OID_BOOL:
		return v[0] == 't' ? "1" : "0";
	case OID_FLOAT4:
	case OID_FLOAT8:
		return float_text(strtod(v, NULL));
	case OID_TIMESTAMP:
	case OID_TIMESTAMPTZ:
		return iso_timestamp(v);
	default:
		return hdup(v);
	}
}

static const char *sqlite_cell(sqlite3_stmt *st, int col)
{
	switch (sqlite3_column_type(st, col)) {
	case SQLITE_NULL:
		return NULL;
	case SQLITE_FLOAT:
		return float_text(sqlite3_column_double(st, col));
	default:
		return hdup((const char *)sqlite3_column_text(st, col));
	}
}

typedef struct result {
	size_t nrows, ncols;
	const char **cell; /* row-major; NULL for SQL NULL */
} result;

/* Every row of sql's result, each value in the common text form (see sql_text). */
static result query(node *n, const char *sql)
{
	result r = {0, 0, NULL};
	size_t i, j;

	if (n->pg_app) {
		const char *msg = NULL;
		PGresult *res = pg_run(n->pg_app, sql, &msg);

		cr_assert_not_null(res, "%s: %s\n  in: %s", n->code, msg, sql);
		r.nrows = (size_t)PQntuples(res);
		r.ncols = (size_t)PQnfields(res);
		r.cell = hkeep(calloc(r.nrows * r.ncols + 1, sizeof(*r.cell)));
		for (i = 0; i < r.nrows; i++)
			for (j = 0; j < r.ncols; j++)
				r.cell[i * r.ncols + j] = pg_cell(res, (int)i, (int)j);
		PQclear(res);
	} else {
		sqlite3_stmt *st = NULL;
		int rc;

		cr_assert_eq(sqlite3_prepare_v2(n->app, sql, -1, &st, NULL), SQLITE_OK,
			     "%s: %s\n  in: %s", n->code, sqlite3_errmsg(n->app), sql);
		r.ncols = (size_t)sqlite3_column_count(st);
		while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
			const char **grown = realloc(r.cell, ((r.nrows + 1) * r.ncols + 1) * sizeof(*grown));

			cr_assert_not_null(grown, "out of memory");
			r.cell = grown;
			for (j = 0; j < r.ncols; j++)
				r.cell[r.nrows * r.ncols + j] = sqlite_cell(st, (int)j);
			r.nrows++;
		}
		cr_assert_eq(rc, SQLITE_DONE, "%s: %s\n  in: %s", n->code, sqlite3_errmsg(n->app), sql);
		sqlite3_finalize(st);
		if (r.cell)
			hkeep(r.cell);
	}
	return r;
}

static const char *first_cell(node *n, const char *sql)
{
	result r = query(n, sql);

	return r.nrows && r.ncols ? r.cell[0] : NULL;
}

void sql_exec(node *n, const char *fmt, ...)
{
	va_list ap;
	const char *sql;

	va_start(ap, fmt);
	sql = vhstr(fmt, ap);
	va_end(ap);
	app_exec(n, sql);
}

int64_t sql_int(node *n, const char *fmt, ...)
{
	va_list ap;
	const char *v;
	char *end;
	long long i;

	va_start(ap, fmt);
	v = first_cell(n, vhstr(fmt, ap));
	va_end(ap);
	if (!v)
		return 0;
	i = strtoll(v, &end, 10);
	if (*end == '.' || *end == 'e' || *end == 'E') { /* a float: truncated, saturated as SQLite does */
		double d = strtod(v, NULL);

		return d >= 0x1p63 ? INT64_MAX : d <= -0x1p63 ? INT64_MIN : (int64_t)d;
	}
	return i;
}

const char *sql_text(node *n, const char *fmt, ...)
{
	va_list ap;
	const char *v;

	va_start(ap, fmt);
	v = first_cell(n, vhstr(fmt, ap));
	va_end(ap);
	return v;
}

const char *sql_rows(node *n, const char *fmt, ...)
{
	va_list ap;
	result r;
	char *text = NULL;
	size_t len = 0, i, j;
	FILE *f;

	va_start(ap, fmt);
	r = query(n, vhstr(fmt, ap));
	va_end(ap);
	cr_assert_not_null(f = open_memstream(&text, &len), "out of memory");
	for (i = 0; i < r.nrows; i++)
		for (j = 0; j < r.ncols; j++)
			fprintf(f, "%s%s", i && !j ? ";" : j ? "|" : "",
				r.cell[i * r.ncols + j] ? r.cell[i * r.ncols + j] : "NULL");
	cr_assert_eq(fclose(f), 0, "out of memory");
	return hkeep(text);
}

int64_t trigger_count(node *n)
{
	if (n->pg)
		return sql_int(n, "SELECT count(*) FROM pg_catalog.pg_trigger WHERE NOT tgisinternal");
	return sql_int(n, "SELECT count(*) FROM sqlite_master WHERE type = 'trigger'");
}

const char *empty_table(node *n, const char *table)
{
	const char *msg = NULL;
	char *sq_msg = NULL;

	if (n->pg_app) {
		PGresult *res = pg_run(n->pg_app, hstr("TRUNCATE \"%s\"", table), &msg);

		PQclear(res);
		return res ? NULL : msg;
	}
	if (sqlite3_exec(n->app, hstr("DELETE FROM \"%s\"", table), NULL, NULL, &sq_msg) == SQLITE_OK)
		return NULL;
	msg = hstr("%s", sq_msg ? sq_msg : "?");
	sqlite3_free(sq_msg);
	return msg;
}

static int64_t node_counter(node *n, const char *peer, const char *column)
{
	return sql_int(n, "SELECT %s FROM sync_nodes WHERE code = '%s'", column, peer);
}

int64_t sent_no(node *n, const char *peer)
{
	return node_counter(n, peer, "sent_packet_no");
}

int64_t received_no(node *n, const char *peer)
{
	return node_counter(n, peer, "received_packet_no");
}

int64_t acked_no(node *n, const char *peer)
{
	return node_counter(n, peer, "acked_packet_no");
}

void route(node *n)
{
	xchg_err err = {0};

	if (store_begin(n->db->st, &err) || route_pending(n->db->st, &err) ||
	    store_commit(n->db->st, &err))
		cr_assert_fail("%s: routing: %s", n->code, err.msg);
}

int64_t queued(node *n, const char *peer)
{
	route(n);
	return sql_int(n, "SELECT count(*) FROM sync_changes c JOIN sync_nodes p ON p.id = c.node_id"
			  " WHERE p.code = '%s'", peer);
}

int64_t queued_uuid(node *n, const char *peer, const char *uuid)
{
	route(n);
	return sql_int(n, "SELECT count(*) FROM sync_changes c JOIN sync_nodes p ON p.id = c.node_id"
			  " WHERE p.code = '%s' AND c.entity_uuid = '%s'", peer, uuid);
}

/* ---- export and import ---------------------------------------------------- */

xchg_status try_export(node *from, const char *peer, const char *dir, exported *out,
		       xchg_err *err)
{
	xchg_export_result res;
	xchg_status rc;

	memset(err, 0, sizeof(*err));
	rc = xchg_export(from->db, peer, dir, &res, err);
	out->path = hdup(res.path);
	out->packet_no = res.packet_no;
	out->ack_packet_no = res.ack_packet_no;
	out->entities = res.entities;
	xchg_export_result_clear(&res);
	return rc;
}

exported export_packet(node *from, const char *peer, const char *dir)
{
	exported out;
	xchg_err err;

	cr_assert_eq(try_export(from, peer, dir, &out, &err), XCHG_OK, "%s exports for %s: %s",
		     from->code, peer, err.msg);
	cr_assert_not_null(out.path, "%s exports for %s: no path", from->code, peer);
	return out;
}

static void collect(const xchg_import_event *ev, void *ctx)
{
	import_log *log = ctx;
	import_event *e;

	cr_assert_lt(log->n, IMPORT_LOG_MAX, "too many import events");
	e = &log->ev[log->n++];
	e->outcome = ev->outcome;
	e->path = hdup(ev->path);
	e->sender = hdup(ev->sender);
	e->packet_no = ev->packet_no;
	e->entities = ev->entities;
	e->conflicts = ev->conflicts;
	e->refused = ev->refused;
	e->message = hdup(ev->message);
}

const import_log *import_list(node *to, const char *ack_dir, const char *const *paths, size_t n)
{
	import_log *log = hkeep(calloc(1, sizeof(*log)));

	log->rc = xchg_import(to->db, paths, n, ack_dir, collect, log, &log->err);
	return log;
}

const import_log *import_paths(node *to, const char *ack_dir, ...)
{
	const char *paths[IMPORT_LOG_MAX];
	size_t n = 0;
	va_list ap;
	const char *p;

	va_start(ap, ack_dir);
	while ((p = va_arg(ap, const char *)) && n < IMPORT_LOG_MAX)
		paths[n++] = p;
	va_end(ap);
	return import_list(to, ack_dir, paths, n);
}

size_t count_outcome(const import_log *log, xchg_outcome outcome)
{
	size_t i, n = 0;

	for (i = 0; i < log->n; i++)
		n += log->ev[i].outcome == outcome;
	return n;
}

const import_event *find_event(const import_log *log, xchg_outcome outcome, int64_t packet_no)
{
	size_t i;

	for (i = 0; i < log->n; i++)
		if (log->ev[i].outcome == outcome && log->ev[i].packet_no == packet_no)
			return &log->ev[i];
	return NULL;
}

static const char *outcome_name(xchg_outcome o)
{
	static const char *const names[] = {"APPLIED", "SKIPPED", "REFUSED", "ACK_WRITTEN"};

	return (unsigned)o < 4 ? names[o] : "?";
}

void expect_applied(const import_log *log, const char *what)
{
	size_t i;

	for (i = 0; i < log->n; i++)
		if (log->ev[i].outcome != XCHG_ACK_WRITTEN)
			cr_assert_eq(log->ev[i].outcome, XCHG_APPLIED, "%s: %s %s: %s", what,
				     outcome_name(log->ev[i].outcome), log->ev[i].path,
				     log->ev[i].message ? log->ev[i].message : "");
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s: %zu packets applied, expected 1",
		     what, count_outcome(log, XCHG_APPLIED));
	cr_assert_eq(log->rc, XCHG_OK, "%s: import returned %d: %s", what, log->rc, log->err.msg);
}

const import_log *deliver(node *from, node *to, const char *dir)
{
	exported p = export_packet(from, to->code, dir);
	const import_log *log = import_paths(to, dir, p.path, NULL);

	expect_applied(log, hstr("%s -> %s packet %lld", from->code, to->code,
				 (long long)p.packet_no));
	return log;
}

/* ---- packets by hand -------------------------------------------------- */

const pkt_view *read_packet(const char *path)
{
	pkt_view *v = hkeep(calloc(1, sizeof(*v)));
	packet_reader *pr = NULL;
	env_reader *er = NULL;
	const env_header *h;
	const env_entity *e;
	xchg_err err = {0};

	cr_assert_eq(packet_reader_open(&pr, path, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(env_reader_new(&er, packet_reader_read, pr, path, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(env_reader_header(er, &h, &err), XCHG_OK, "%s", err.msg);
	v->sender = hdup(h->sender);
	v->recipient = hdup(h->recipient);
	v->packet_no = h->packet_no;
	v->ack_packet_no = h->ack_packet_no;
	v->resync = h->resync;
	v->full_state = h->full_state;
	v->message_id = hdup(h->message_id);
	for (;;) {
		pkt_entity *grown;

		cr_assert_eq(env_reader_next(er, &e, &err), XCHG_OK, "%s", err.msg);
		if (!e)
			break;
		grown = realloc(v->e, (v->n + 1) * sizeof(*grown));
		cr_assert_not_null(grown);
		v->e = grown;
		v->e[v->n].type = hdup(e->type);
		v->e[v->n].uuid = hdup(e->uuid);
		v->e[v->n].operation = hdup(e->operation);
		v->e[v->n].updated_at = hdup(e->updated_at);
		v->e[v->n].data = e->data ? hkeep(cJSON_PrintUnformatted(e->data)) : NULL;
		v->n++;
	}
	if (v->e)
		hkeep(v->e);
	env_reader_free(er);
	packet_reader_free(pr);
	return v;
}

const pkt_entity *packet_entity(const pkt_view *v, const char *uuid)
{
	size_t i;

	for (i = 0; i < v->n; i++)
		if (strcmp(v->e[i].uuid, uuid) == 0)
			return &v->e[i];
	return NULL;
}

const char *write_packet(node *signer, const char *dir, const char *recipient,
			 int64_t packet_no, int64_t ack_packet_no, const pkt_entity *ents,
			 size_t n)
{
	const char *to = sql_text(signer, "SELECT id FROM sync_nodes WHERE code = '%s'", recipient);
	char msgid[37], now[32];
	env_header h = {.message_id = msgid, .schema_version = "1.0.0",
			.sender_id = (char *)node_id(signer),
			.recipient_id = (char *)(to ? to : "00000000-0000-4000-8000-00000000dead"),
			.sender = signer->code, .recipient = (char *)recipient, .created_at = now,
			.packet_no = packet_no, .ack_packet_no = ack_packet_no};
	const char *name = hstr("pkt_%s_%s_%lld.zip", signer->code, recipient,
				(long long)packet_no);
	packet_writer *pw = NULL;
	env_writer *w = NULL;
	xchg_err err = {0};
	keypair kp;
	size_t i;

	xuuid4(msgid);
	xnow_iso(now);
	cr_assert_eq(keys_load(signer->db->key_path, NULL, &kp, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_open(&pw, dir, name, kp.sk, &err), XCHG_OK, "%s", err.msg);
	keys_wipe(&kp);
	cr_assert_eq(env_writer_new(&w, &h, packet_writer_write, pw, &err), XCHG_OK, "%s", err.msg);
	for (i = 0; i < n; i++)
		cr_assert_eq(env_writer_entity(w, ents[i].type, ents[i].uuid, ents[i].operation,
					       ents[i].updated_at, ents[i].data, &err),
			     XCHG_OK, "entity %zu: %s", i, err.msg);
	cr_assert_eq(env_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_finish(pw, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(pw, &err), XCHG_OK, "%s", err.msg);
	env_writer_free(w);
	packet_writer_free(pw);
	return hstr("%s/%s", dir, name);
}

typedef struct member {
	char *name;
	char *data;
	size_t len;
} member;

const char *tamper_packet(const char *src, const char *dst, const char *find, const char *repl)
{
	member m[2] = {{0}};
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	size_t i, n = 0;
	char *at, *edited;

	cr_assert_not_null(a);
	archive_read_support_format_zip_seekable(a);
	cr_assert_eq(archive_read_open_filename(a, src, 16384), ARCHIVE_OK, "%s: %s", src,
		     archive_error_string(a));
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		char buf[4096];
		la_ssize_t got;

		cr_assert_lt(n, 2, "%s: more than two members", src);
		m[n].name = hkeep(strdup(archive_entry_pathname(e)));
		while ((got = archive_read_data(a, buf, sizeof(buf))) > 0) {
			m[n].data = realloc(m[n].data, m[n].len + (size_t)got + 1);
			cr_assert_not_null(m[n].data);
			memcpy(m[n].data + m[n].len, buf, (size_t)got);
			m[n].len += (size_t)got;
		}
		cr_assert_geq(got, 0, "%s: %s", src, archive_error_string(a));
		hkeep(m[n].data);
		n++;
	}
	archive_read_free(a);
	cr_assert_eq(n, 2, "%s: expected message.json and message.sig", src);
	m[0].data[m[0].len] = '\0';
	cr_assert_not_null(at = strstr(m[0].data, find), "%s: \"%s\" not in message.json", src, find);
	edited = hkeep(malloc(m[0].len - strlen(find) + strlen(repl) + 1));
	memcpy(edited, m[0].data, (size_t)(at - m[0].data));
	strcpy(edited + (at - m[0].data), repl);
	strcat(edited, at + strlen(find));
	m[0].data = edited;
	m[0].len = strlen(edited);

	cr_assert_not_null(a = archive_write_new());
	archive_write_set_format_zip(a);
	cr_assert_eq(archive_write_open_filename(a, dst), ARCHIVE_OK, "%s: %s", dst,
		     archive_error_string(a));
	for (i = 0; i < n; i++) {
		e = archive_entry_new();
		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, AE_IFREG);
		archive_entry_set_perm(e, 0644);
		archive_entry_set_size(e, (la_int64_t)m[i].len);
		if (i == 0)
			archive_write_zip_set_compression_deflate(a);
		else
			archive_write_zip_set_compression_store(a);
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
		cr_assert_eq(archive_write_data(a, m[i].data, m[i].len), (la_ssize_t)m[i].len);
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK, "%s", archive_error_string(a));
	archive_write_free(a);
	return dst;
}

const char *plan_variant(const char *find, const char *repl)
{
	static unsigned serial;
	const char *text = hkeep(read_file(EXAMPLE_PLAN, NULL));
	const char *at = strstr(text, find);
	const char *out, *path = tmp_path(hstr("plan-%u.json", serial++));

	cr_assert_not_null(at, "%s: \"%s\" not found", EXAMPLE_PLAN, find);
	out = hstr("%.*s%s%s", (int)(at - text), text, repl, at + strlen(find));
	write_file(path, out, strlen(out));
	return path;
}

int printable_text(const char *s)
{
	const unsigned char *p;

	for (p = (const unsigned char *)s; p && *p; p++)
		if (*p < 0x20 || *p == 0x7f || (p[0] == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f))
			return 0;
	return 1;
}
