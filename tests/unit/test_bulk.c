/*
 * A packet's new rows are inserted many at a time (lib/bulk.c); every
 * other entity is applied alone, in the packet's order. These tests give a
 * center packets in which the two kinds mix, and check that the outcome is
 * what applying each entity in turn gives: a row here, a change registered
 * here, a child row here (of another parent, or of none), the same row or
 * child row twice in one packet, rows giving different columns.
 *
 * The center imports, so XCHG_TEST_CENTER=pg runs them on PostgreSQL too.
 * The plan has no integer references: rows with them are applied alone.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(bulk, .init = harness_setup, .fini = harness_teardown);

static node *C, *D;

static const char plan_text[] =
	"{\"schema_version\": \"1.0.0\", \"conflict_policy\": \"master-wins\", \"entities\": ["
	"{\"type\": \"Brigade\", \"table\": \"brigades\"},"
	"{\"type\": \"DailyReport\", \"table\": \"daily_reports\", \"children\": [{\"name\":"
	" \"lines\", \"table\": \"daily_report_lines\", \"parent_column\": \"report_uuid\"}]},"
	"{\"type\": \"Wide\", \"table\": \"wide\"}]}";

/* Columns of table wide: more than 240 rows of them bind than a statement may. */
#define WIDE_COLUMNS 300

/* Table wide on both ends, as an application with a wide table has it. */
static const char *wide_sql(void)
{
	char *sql = malloc(16 * WIDE_COLUMNS + 64);
	size_t at;
	int j;

	cr_assert_not_null(sql);
	at = (size_t)sprintf(sql, "CREATE TABLE wide (note TEXT");
	for (j = 1; j <= WIDE_COLUMNS; j++)
		at += (size_t)sprintf(sql + at, ", c%d TEXT", j);
	strcpy(sql + at, ");");
	return sql;
}

/* center_sql: what the center's database holds before xchg_init, beside table wide (may be NULL). */
static void star(const char *center_sql)
{
	const char *plan = tmp_path("bulk-plan.json"), *wide = wide_sql();
	FILE *f = fopen(plan, "w");

	cr_assert_not_null(f, "cannot write %s", plan);
	fputs(plan_text, f);
	fclose(f);
	C = node_create("CENTER", 1, plan, center_sql ? hstr("%s%s", wide, center_sql) : wide);
	D = node_create("DESKTOP-1", 0, plan, wide);
	link_nodes(C, D);
	free((char *)wide);
}

/* The i-th uuid of a kind (a hex digit: b brigades, d reports, e lines). */
static const char *uuid_of(char kind, int i)
{
	return hstr("0b3e7a3c-8a5b-4c1e-9f00-%c%011d", kind, i);
}

/* Packet 1 from the desktop to the center, with these entities; the center's import log. */
static const import_log *to_center(const pkt_entity *e, size_t n)
{
	const char *path = write_packet(D, make_folder("hand"), "CENTER", 1, 0, e, n);

	return import_paths(C, make_folder("acks"), path, NULL);
}

static const import_event *applied_event(const import_log *log)
{
	const import_event *ev = find_event(log, XCHG_APPLIED, 1);

	cr_assert_not_null(ev, "packet 1 not applied: %s", log->err.msg);
	return ev;
}

/*
 * Catches: a batch inserting over a row that is here, or over one whose
 * removal here is registered for the desktop: each is weighed as a
 * conflict (master-wins: the center's version stays), the rest inserted,
 * across more entities than one batch holds.
 */
Test(bulk, rows_here_and_changes_here_are_weighed_among_new_rows)
{
	enum { N = 600 };
	pkt_entity e[N];
	const import_event *ev;
	const char *here, *gone;
	int i;

	star(NULL);
	sql_exec(C, "INSERT INTO brigades (name) VALUES ('Here')");
	here = sql_text(C, "SELECT uuid FROM brigades WHERE name = 'Here'");
	sql_exec(C, "INSERT INTO brigades (name) VALUES ('Gone')");
	gone = sql_text(C, "SELECT uuid FROM brigades WHERE name = 'Gone'");
	sql_exec(C, "DELETE FROM brigades WHERE name = 'Gone'");
	for (i = 0; i < N; i++)
		e[i] = (pkt_entity){"Brigade", uuid_of('b', i), "INSERT", "2026-11-01T10:00:00.000Z",
				    hstr("{\"name\":\"B%d\",\"headcount\":%d}", i, i)};
	e[250].uuid = here;
	e[250].data = "{\"name\":\"Theirs\"}";
	e[420].uuid = gone;
	ev = applied_event(to_center(e, N));
	cr_assert_eq(ev->conflicts, 2, "%lld conflicts, expected 2", (long long)ev->conflicts);
	cr_assert_eq(ev->entities, N - 2, "%lld entities applied, expected %d",
		     (long long)ev->entities, N - 2);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades"), N - 1);
	cr_assert_str_eq(sql_text(C, "SELECT name FROM brigades WHERE uuid = '%s'", here), "Here");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE uuid = '%s'", gone), 0,
		     "a row removed here came back over its registered removal");
	cr_assert_eq(sql_int(C, "SELECT headcount FROM brigades WHERE uuid = '%s'", uuid_of('b', 599)),
		     599);
	cr_assert_str_eq(sql_text(C, "SELECT name FROM brigades WHERE uuid = '%s'", uuid_of('b', 0)),
			 "B0");
}

/* Catches: the same row twice in one batch inserted twice, or the first version kept. */
Test(bulk, the_same_row_twice_ends_as_the_later)
{
	pkt_entity e[5];
	int i;

	star(NULL);
	for (i = 0; i < 5; i++)
		e[i] = (pkt_entity){"Brigade", uuid_of('b', i), "INSERT", "2026-11-01T10:00:00.000Z",
				    hstr("{\"name\":\"B%d\"}", i)};
	e[3].uuid = uuid_of('b', 1);
	e[3].data = "{\"name\":\"second\"}";
	applied_event(to_center(e, 5));
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades"), 4);
	cr_assert_str_eq(sql_text(C, "SELECT name FROM brigades WHERE uuid = '%s'", uuid_of('b', 1)),
			 "second");
}

/*
 * Catches: a lookup that looks for one spelling of a uuid where a row
 * here may be spelled another way (written by the application), and one
 * that misses a row an earlier batch of the same packet inserted into a
 * table that was empty.
 */
Test(bulk, rows_are_found_however_spelled_and_across_batches)
{
	enum { N = 600 };
	pkt_entity e[N];
	const char *upper = "0B3E7A3C-8A5B-4C1E-9F00-C00000000007";
	const import_log *log;
	int i;

	star(NULL);
	/* Sent and acknowledged long ago: no change of it is registered, so only the lookup finds it. */
	sql_exec(C, "INSERT INTO brigades (name, uuid) VALUES ('Upper', '%s')", upper);
	sql_exec(C, "INSERT INTO brigades (name) VALUES ('One'), ('Two'), ('Three')");
	sql_exec(C, "DELETE FROM sync_capture");
	for (i = 0; i < N; i++)
		e[i] = (pkt_entity){"DailyReport", uuid_of('d', i), "INSERT", "2026-11-01T10:00:00.000Z",
				    hstr("{\"report_date\":\"2026-11-01\",\"notes\":\"r%d\"}", i)};
	e[500].uuid = uuid_of('d', 10);
	applied_event(to_center(e, N));
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_reports"), N - 1,
		     "a report given twice, 490 entities apart, is held twice");
	cr_assert_str_eq(sql_text(C, "SELECT notes FROM daily_reports WHERE uuid = '%s'", uuid_of('d', 10)),
			 "r500");

	for (i = 0; i < 50; i++)
		e[i] = (pkt_entity){"Brigade", uuid_of('b', i), "INSERT", "2026-11-01T10:00:00.000Z",
				    hstr("{\"name\":\"B%d\"}", i)};
	/* The rows here are spelled two ways: whichever one a lookup takes for the table, one misses. */
	e[20].uuid = sql_text(C, "SELECT uuid FROM brigades WHERE name = 'One'");
	e[20].data = "{\"name\":\"One again\"}";
	e[30].uuid = "0b3e7a3c-8a5b-4c1e-9f00-c00000000007";
	e[30].data = "{\"name\":\"Upper again\"}";
	log = import_paths(C, make_folder("acks2"),
			   write_packet(D, make_folder("hand2"), "CENTER", 2, 0, e, 50), NULL);
	cr_assert_not_null(find_event(log, XCHG_APPLIED, 2), "packet 2 not applied: %s", log->err.msg);
	/* Four here, 48 new. */
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades"), 52,
		     "a row here spelled another way is held twice: %s", sql_rows(C, "SELECT name || ':' || uuid FROM brigades WHERE name NOT LIKE 'B%%'"));
}

/* n new reports of two lines each, report i volume i on its first line. */
static void reports(pkt_entity *e, int n)
{
	int i;

	for (i = 0; i < n; i++)
		e[i] = (pkt_entity){"DailyReport", uuid_of('d', i), "INSERT", "2026-11-01T10:00:00.000Z",
				    hstr("{\"report_date\":\"2026-11-01\",\"lines\":[{\"uuid\":\"%s\","
					 "\"volume\":%d},{\"uuid\":\"%s\",\"volume\":2}]}",
					 uuid_of('e', 2 * i), i, uuid_of('e', 2 * i + 1))};
}

/*
 * Catches: a new report's lines inserted beside a line here that names it
 * (from before xchg came, so no change of it is registered): after the
 * import its lines are exactly the packet's.
 */
Test(bulk, a_new_parents_children_replace_what_names_it_here)
{
	enum { N = 10 };
	pkt_entity e[N];
	const char *r2 = uuid_of('d', 2);

	star(hstr("INSERT INTO daily_report_lines (report_uuid, volume) VALUES ('%s', 9)", r2));
	reports(e, N);
	applied_event(to_center(e, N));
	cr_assert_str_eq(sql_rows(C, "SELECT uuid FROM daily_report_lines WHERE report_uuid = '%s'"
				  " ORDER BY uuid", r2), hstr("%s;%s", uuid_of('e', 4), uuid_of('e', 5)),
			 "the new report's lines are not the packet's");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines"), 2 * N);
}

/*
 * Catches: child rows inserted beside what is here instead of replacing
 * it: a line of another report moves to the new one, a line given under
 * two reports ends under the later; and rows giving different columns each
 * keep only their own.
 */
Test(bulk, children_move_and_are_never_doubled)
{
	enum { N = 30 };
	pkt_entity e[N];
	const import_event *ev;
	const char *old_report, *r1 = uuid_of('d', 1), *r2 = uuid_of('d', 2), *r4 = uuid_of('d', 4);
	const char *moved, *twice = uuid_of('e', 700);

	star(NULL);
	sql_exec(C, "INSERT INTO daily_reports (report_date) VALUES ('2026-10-01')");
	old_report = sql_text(C, "SELECT uuid FROM daily_reports");
	sql_exec(C, "INSERT INTO daily_report_lines (report_uuid, volume) VALUES ('%s', 1)", old_report);
	moved = sql_text(C, "SELECT uuid FROM daily_report_lines");
	reports(e, N);
	e[1].data = hstr("{\"report_date\":\"2026-11-02\",\"notes\":\"n1\",\"lines\":[{\"uuid\":"
			 "\"%s\",\"volume\":5}]}", moved);
	e[2].data = hstr("{\"report_date\":\"2026-11-03\",\"author\":\"a2\",\"lines\":[{\"uuid\":"
			 "\"%s\",\"volume\":6}]}", uuid_of('e', 500));
	e[3].data = hstr("{\"report_date\":\"2026-11-04\",\"lines\":[{\"uuid\":\"%s\"}]}", twice);
	e[4].data = hstr("{\"report_date\":\"2026-11-05\",\"lines\":[{\"uuid\":\"%s\"}]}", twice);
	e[5].data = "{\"report_date\":\"2026-11-06\"}";
	ev = applied_event(to_center(e, N));
	cr_assert_eq(ev->entities, N, "%lld entities applied (%lld conflicts, %lld refused), expected %d",
		     (long long)ev->entities, (long long)ev->conflicts, (long long)ev->refused, N);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_reports"), N + 1);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines WHERE uuid = '%s'"
				" AND report_uuid = '%s'", moved, r1), 1, "the line did not move");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines WHERE uuid = '%s'"
				" AND report_uuid = '%s'", twice, r4), 1, "the line is not the later report's");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '%s'",
			     uuid_of('d', 5)), 0);
	cr_assert_str_eq(sql_text(C, "SELECT notes FROM daily_reports WHERE uuid = '%s'", r1), "n1");
	cr_assert_null(sql_text(C, "SELECT author FROM daily_reports WHERE uuid = '%s'", r1));
	cr_assert_str_eq(sql_text(C, "SELECT author FROM daily_reports WHERE uuid = '%s'", r2), "a2");
	cr_assert_null(sql_text(C, "SELECT notes FROM daily_reports WHERE uuid = '%s'", r2));
	/* The other 25 reports' two lines each, one each of reports 1 and 2, and the line given twice. */
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines"), 2 * (N - 5) + 3);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '%s'"
				" AND volume = 29", uuid_of('d', 29)), 1);
}

/*
 * Catches: rows a batch inserts at the center not routed on to the other
 * desktop, or routed back to their sender (on PostgreSQL the importer
 * captures them, once an entity, in place of the triggers).
 */
Test(bulk, new_rows_go_on_to_the_other_desktop_and_not_back)
{
	enum { N = 300 };
	pkt_entity e[N];
	const char *wide = wide_sql();
	node *D2;

	star(NULL);
	D2 = node_create("DESKTOP-2", 0, tmp_path("bulk-plan.json"), wide);
	free((char *)wide);
	link_nodes(C, D2);
	reports(e, N);
	applied_event(to_center(e, N));
	route(C);
	cr_assert_eq(queued(C, "DESKTOP-2"), N, "%lld registrations for DESKTOP-2, expected %d",
		     (long long)queued(C, "DESKTOP-2"), N);
	cr_assert_eq(queued(C, "DESKTOP-1"), 0, "new rows registered back for their sender");
	expect_applied(deliver(C, D2, make_folder("down")), "the center's packet to DESKTOP-2");
	cr_assert_eq(sql_int(D2, "SELECT count(*) FROM daily_reports"), N);
	cr_assert_eq(sql_int(D2, "SELECT count(*) FROM daily_report_lines"), 2 * N);
}

/*
 * Catches: a row the schema refuses failing the batch's other rows with
 * it: the packet runs again entity by entity, the refused row is kept
 * aside and every other row applied.
 */
Test(bulk, a_refused_row_in_a_batch_leaves_the_others_applied)
{
	enum { N = 50 };
	pkt_entity e[N];
	const import_event *ev;
	int i;

	star(NULL);
	for (i = 0; i < N; i++)
		e[i] = (pkt_entity){"Brigade", uuid_of('b', i), "INSERT", "2026-11-01T10:00:00.000Z",
				    hstr("{\"name\":\"B%d\"}", i)};
	e[17].data = "{\"name\":null}";
	ev = applied_event(to_center(e, N));
	cr_assert_eq(ev->refused, 1, "%lld refused, expected 1", (long long)ev->refused);
	cr_assert_eq(ev->entities, N - 1);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades"), N - 1);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE uuid = '%s'", uuid_of('b', 17)), 0);
}

/*
 * Catches: a batch of new rows that gives more values than one statement
 * binds (240 rows of 300 columns: 72,000, past PostgreSQL's 65,535; SQLite
 * as Debian builds it binds 250,000) sent as one INSERT, and large rows lost or doubled
 * where a batch stops at its bound of JSON text (4 MiB: 200 rows of 40 kB
 * fill about five batches).
 */
Test(bulk, rows_past_the_bind_limit_and_the_batch_bound_arrive_whole)
{
	enum { WIDE = 240, LARGE = 200, N = WIDE + LARGE, NOTE = 40000 };
	pkt_entity e[N];
	char *data[N], *note = malloc(NOTE + 1);
	const import_event *ev;
	int i, j;

	cr_assert_not_null(note);
	memset(note, 'x', NOTE);
	note[NOTE] = '\0';
	star(NULL);
	for (i = 0; i < N; i++) {
		size_t at;

		data[i] = malloc(24 * WIDE_COLUMNS + NOTE + 64);
		cr_assert_not_null(data[i]);
		at = (size_t)sprintf(data[i], "{\"note\":\"%s\"", i < WIDE ? "small" : note);
		for (j = 1; j <= WIDE_COLUMNS; j++)
			at += (size_t)sprintf(data[i] + at, ",\"c%d\":\"%d.%d\"", j, i, j);
		strcpy(data[i] + at, "}");
		e[i] = (pkt_entity){"Wide", uuid_of('f', i), "INSERT", "2026-11-01T10:00:00.000Z", data[i]};
	}
	ev = applied_event(to_center(e, N));
	cr_assert_eq(ev->entities, N, "%lld entities applied (%lld refused), expected %d",
		     (long long)ev->entities, (long long)ev->refused, N);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM wide"), N);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM wide WHERE c1 = %s || '.1' AND c%d = %s || '.%d'",
			     "CAST(CAST(substr(CAST(uuid AS TEXT), 26, 11) AS INTEGER) AS TEXT)", WIDE_COLUMNS,
			     "CAST(CAST(substr(CAST(uuid AS TEXT), 26, 11) AS INTEGER) AS TEXT)", WIDE_COLUMNS), N,
		     "some row's first or last column is not its own");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM wide WHERE length(note) = %d", NOTE), LARGE);
	cr_assert_str_eq(sql_text(C, "SELECT c150 FROM wide WHERE uuid = '%s'", uuid_of('f', 321)),
			 "321.150");
	for (i = 0; i < N; i++)
		free(data[i]);
	free(note);
}
