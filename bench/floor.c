/*
 * The floors `make bench` measures xchg's SQLite import against: how fast
 * SQLite itself stores the same rows into an empty database of the same
 * schema, in one transaction.
 *
 *   floor insert SOURCE TARGET     a prepared INSERT, reused for every row
 *   floor changeset SOURCE TARGET  sqlite3changeset_apply of a change set
 *                                  holding the rows (built first, not timed)
 *
 * Every table of SOURCE with rows is copied, in the order sqlite_master
 * lists them (parents first in bench/speed's schema). Prints the seconds the
 * timed part took; exits non-zero, naming the failure, on any error.
 */
/* Debian's SQLite is built with the session extension; its header declares it on request. */
#define SQLITE_ENABLE_SESSION 1
#define SQLITE_ENABLE_PREUPDATE_HOOK 1
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define TABLES_MAX 16

typedef struct tables {
	char *name[TABLES_MAX];
	int n;
} tables;

static int fail(sqlite3 *db, const char *what)
{
	fprintf(stderr, "floor: %s: %s\n", what, db ? sqlite3_errmsg(db) : "out of memory");
	return 1;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int exec(sqlite3 *db, const char *sql)
{
	return sqlite3_exec(db, sql, NULL, NULL, NULL) == SQLITE_OK ? 0 : fail(db, sql);
}

static int list_tables(sqlite3 *src, tables *t)
{
	sqlite3_stmt *st;
	int rc;

	t->n = 0;
	if (sqlite3_prepare_v2(src, "SELECT name FROM src.sqlite_master WHERE type = 'table'"
				    " AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'sync_%' ORDER BY rowid",
			       -1, &st, NULL) != SQLITE_OK)
		return fail(src, "listing the tables");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW && t->n < TABLES_MAX)
		if (!(t->name[t->n++] = strdup((const char *)sqlite3_column_text(st, 0))))
			rc = SQLITE_NOMEM;
	sqlite3_finalize(st);
	return rc == SQLITE_DONE || rc == SQLITE_ROW ? 0 : fail(src, "listing the tables");
}

/* Copies every row of table from src.<table> to main.<table>, through one prepared INSERT. */
static int copy_table(sqlite3 *db, const char *table)
{
	sqlite3_stmt *rd = NULL, *wr = NULL;
	char sql[512];
	int ncols, i, rc = 0;

	snprintf(sql, sizeof(sql), "SELECT * FROM src.\"%s\"", table);
	if (sqlite3_prepare_v2(db, sql, -1, &rd, NULL) != SQLITE_OK)
		return fail(db, sql);
	ncols = sqlite3_column_count(rd);
	i = snprintf(sql, sizeof(sql), "INSERT INTO main.\"%s\" VALUES (?", table);
	while (--ncols > 0 && i < (int)sizeof(sql) - 8)
		i += snprintf(sql + i, sizeof(sql) - (size_t)i, ", ?");
	snprintf(sql + i, sizeof(sql) - (size_t)i, ")");
	if (sqlite3_prepare_v2(db, sql, -1, &wr, NULL) != SQLITE_OK) {
		sqlite3_finalize(rd);
		return fail(db, sql);
	}
	ncols = sqlite3_column_count(rd);
	while (!rc && sqlite3_step(rd) == SQLITE_ROW) {
		for (i = 0; i < ncols; i++)
			sqlite3_bind_value(wr, i + 1, sqlite3_column_value(rd, i));
		if (sqlite3_step(wr) != SQLITE_DONE)
			rc = fail(db, "inserting a row");
		sqlite3_reset(wr);
	}
	sqlite3_finalize(rd);
	sqlite3_finalize(wr);
	return rc;
}

static int open_with_source(const char *path, const char *source, sqlite3 **db)
{
	char sql[4200];

	if (sqlite3_open(path, db) != SQLITE_OK)
		return fail(*db, path);
	snprintf(sql, sizeof(sql), "ATTACH '%s' AS src", source);
	return exec(*db, sql);
}

static int floor_insert(const char *source, const char *target, double *secs)
{
	sqlite3 *db = NULL;
	tables t;
	double t0;
	int i, rc;

	if ((rc = open_with_source(target, source, &db)) || (rc = list_tables(db, &t)))
		goto done;
	t0 = now();
	rc = exec(db, "BEGIN");
	for (i = 0; i < t.n && !rc; i++)
		rc = copy_table(db, t.name[i]);
	if (!rc)
		rc = exec(db, "COMMIT");
	*secs = now() - t0;
	for (i = 0; i < t.n; i++)
		free(t.name[i]);
done:
	sqlite3_close(db);
	return rc;
}

static int on_conflict(void *ctx, int kind, sqlite3_changeset_iter *it)
{
	(void)ctx;
	(void)kind;
	(void)it;
	return SQLITE_CHANGESET_ABORT;
}

/*
 * The change set is recorded on a scratch database holding the target's
 * schema (the target itself stays empty for the apply), by copying the
 * rows in under a session.
 */
static int floor_changeset(const char *source, const char *target, double *secs)
{
	sqlite3 *scratch = NULL, *db = NULL;
	sqlite3_session *session = NULL;
	void *set = NULL;
	int size = 0, i, rc;
	char path[4200];
	tables t = {0};
	double t0;

	snprintf(path, sizeof(path), "%s.scratch", target);
	remove(path);
	if ((rc = open_with_source(path, source, &scratch)) || (rc = list_tables(scratch, &t)))
		goto done;
	if ((rc = exec(scratch, "PRAGMA journal_mode = OFF")))
		goto done;
	/* A session records only tables with a primary key: the copies take the source's schema. */
	{
		sqlite3_stmt *st;

		if (sqlite3_prepare_v2(scratch, "SELECT sql FROM src.sqlite_master WHERE type = 'table'"
						" AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'sync_%'"
						" ORDER BY rowid", -1, &st, NULL) != SQLITE_OK) {
			rc = fail(scratch, "reading the schema");
			goto done;
		}
		while (!rc && sqlite3_step(st) == SQLITE_ROW)
			rc = exec(scratch, (const char *)sqlite3_column_text(st, 0));
		sqlite3_finalize(st);
	}
	if (rc || sqlite3session_create(scratch, "main", &session) != SQLITE_OK ||
	    sqlite3session_attach(session, NULL) != SQLITE_OK) {
		rc = rc ? rc : fail(scratch, "starting a session");
		goto done;
	}
	rc = exec(scratch, "BEGIN");
	for (i = 0; i < t.n && !rc; i++)
		rc = copy_table(scratch, t.name[i]);
	if (rc || (rc = exec(scratch, "COMMIT")))
		goto done;
	if (sqlite3session_changeset(session, &size, &set) != SQLITE_OK) {
		rc = fail(scratch, "building the change set");
		goto done;
	}
	if (sqlite3_open(target, &db) != SQLITE_OK) {
		rc = fail(db, target);
		goto done;
	}
	t0 = now();
	if (sqlite3changeset_apply(db, size, set, NULL, on_conflict, NULL) != SQLITE_OK)
		rc = fail(db, "applying the change set");
	*secs = now() - t0;
done:
	for (i = 0; i < t.n; i++)
		free(t.name[i]);
	sqlite3_free(set);
	if (session)
		sqlite3session_delete(session);
	sqlite3_close(scratch);
	sqlite3_close(db);
	remove(path);
	return rc;
}

int main(int argc, char **argv)
{
	double secs = 0;
	int rc;

	if (argc != 4 || (strcmp(argv[1], "insert") != 0 && strcmp(argv[1], "changeset") != 0)) {
		fprintf(stderr, "usage: floor insert|changeset SOURCE TARGET\n");
		return 2;
	}
	rc = strcmp(argv[1], "insert") == 0 ? floor_insert(argv[2], argv[3], &secs)
					    : floor_changeset(argv[2], argv[3], &secs);
	if (!rc)
		printf("%.3f\n", secs);
	return rc;
}
