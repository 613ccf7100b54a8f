/*
 * The convergence test of issue 4: a randomized, seeded, repeatable
 * simulation of one center and four desktops that edit the same data and
 * exchange packets through a courier that loses, duplicates, delays and
 * reorders them. Once the courier turns reliable and the exchanges go quiet,
 * every desktop must hold exactly the center's data restricted to its
 * subset, every integer reference must name the same row everywhere,
 * nothing may wait to be sent, every version overwritten by a node that had
 * not seen it must be in some node's sync_conflicts, both ends of a link
 * must have decided alike, and no packet may have been applied twice.
 *
 * The example plan splits estimates, works and daily reports by their
 * `site` (formats/PLAN.md, "Subsets") and has integer references (works to
 * estimates, reports to brigades, report lines to works; "Integer
 * references"). The application gives rows sites 'A', 'B', 'C' or NULL and
 * moves them between sites; the center gives the desktops subsets (D1 'A',
 * D2 'B', D3 'A,B', D4 every row) and now and then changes one; references
 * point at random local rows, live or deleted, so that they cross subsets
 * and wait for rows that are not there.
 *
 * It checks four rule sets: master-wins, last-writer-wins, and each of them
 * with a delete rule (delete-wins, edit-wins). `make test` runs three fixed
 * seeds of each, with a SQLite and with a PostgreSQL center. Knobs
 * (environment):
 *   XCHG_SEED=N    run seed N only (to replay a failure; the seed is printed)
 *   XCHG_SEEDS=N   run seeds 1..N (XCHG_SEED_FIRST=F: F..F+N-1)
 *   XCHG_ROUNDS=N  rounds of chaos per seed (default 25)
 * The long run is `make soak` (SEEDS=300 ROUNDS=200 by default; tests/soak).
 * With a PostgreSQL center add XCHG_TEST_CENTER=pg XCHG_PG_HOST=DIR (see
 * harness.h).
 *
 * Replays are exact: every random choice comes from the seeded PRNG, the
 * application supplies its own uuids (from the PRNG) and its own updated_at
 * (a simulated clock, which now and then repeats a time so that ties of
 * last-writer-wins are exercised), so even last-writer-wins decides the same
 * way on every run of a seed.
 *
 * The SQL is the application's and runs on SQLite and PostgreSQL alike
 * (TRUE/FALSE for booleans, money with two decimals, reals exact in binary).
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"

TestSuite(convergence, .init = harness_setup, .fini = harness_teardown);

/* ---- a small deterministic PRNG (splitmix64) ------------------------------ */

static uint64_t rng_state;

static uint64_t rng_next(void)
{
	uint64_t z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return z ^ (z >> 31);
}

/* 0 .. n-1 */
static int rnd(int n)
{
	return n <= 1 ? 0 : (int)(rng_next() % (uint64_t)n);
}

static int chance(int percent)
{
	return rnd(100) < percent;
}

/* ---- the stage -------------------------------------------------------------- */

#define NNODES 5 /* 0 is the center */
#define MAX_BATCH 20

static node *nd[NNODES];
static const char *outbox[NNODES];
static const char *courier_dir;
static uint64_t cur_seed;
static const char *cur_policy;
static int cur_round;
static unsigned serial;
static int64_t sim_ms;

/* A packet on its way: a file in courier_dir for node `to`, due in round `due`. */
typedef struct parcel {
	const char *path;
	int to;
	int due;
} parcel;

static parcel *parcels;
static size_t nparcels, cap_parcels;

/* Packets applied so far, per receiver: each packet by its message id. */
typedef struct applied_pkt {
	int to;
	const char *message_id;
	int64_t packet_no;
	size_t seq; /* the how-manieth packet applied in the run */
} applied_pkt;

static applied_pkt *applied;
static size_t napplied, cap_applied, applied_seq;

/* Every value the application wrote: the token @id@ is that write. */
typedef struct token {
	int type;
	const char *uuid;
	int node;
	int round;
	int knowingly; /* overwritten by a local write on a node that held it */
	int final, logged;
	int restored_away; /* gone with a restore: written after a backup of its node
			      and no other node had it, or written over on a node that
			      had lost it to a restore (an edit made without it) */
	unsigned lost_at;  /* the nodes that held it and lost it to a restore, by bit */
} token;

static token *tokens;
static size_t ntokens, cap_tokens;

static struct {
	int ops, exports, lost, duplicated, delayed, imports, applied_packets, skipped, crossed;
	int backups, restores, moves, resubsets, evicts;
} stats;

/*
 * The subset the center gives each desktop ("A,B"; "" for every row), as the
 * test set it. It lives in the center's database, so a restore of the center
 * takes it back to what it was at the backup.
 */
static const char *subset_of[NNODES];
static const char *const first_subset[NNODES] = {NULL, "A", "B", "A,B", ""};

/* A node's backup, taken in some round, and how far the logs had come then. */
static struct {
	const char *copy;
	size_t ntokens, applied_seq;
	int round;
	const char *subset_of[NNODES]; /* the center's, at a backup of the center */
} backup[NNODES];

#define GROW(arr, n, cap)                                                          \
	do {                                                                       \
		if ((n) == (cap)) {                                                \
			(cap) = (cap) ? 2 * (cap) : 64;                            \
			(arr) = realloc((arr), (cap) * sizeof(*(arr)));            \
			cr_assert_not_null((arr), "out of memory");               \
		}                                                                  \
	} while (0)

/* Where a failure shows its seed, so it can be replayed. */
#define WHERE hstr("[seed %llu, %s, round %d] ", (unsigned long long)cur_seed, cur_policy, cur_round)

/*
 * An integer reference as it travels (formats/PLAN.md, "Integer
 * references"): the uuid of the row of target its id names, or, while the
 * column is NULL, the uuid it waits for in sync_refs. That is what must be
 * the same on every node that holds the row; which local id stands for it
 * differs from node to node. `row` is how the query names the table's row;
 * the alias keeps PostgreSQL from naming the column `uuid` after the subquery
 * (which would make ORDER BY uuid ambiguous).
 */
#define REF(row, table, column, target)                                                        \
	"CASE WHEN " row "." column " IS NULL THEN (SELECT p.target_uuid FROM sync_refs p"       \
	" WHERE p.table_name = '" table "' AND p.column_name = '" column "'"                     \
	" AND p.row_uuid = CAST(" row ".uuid AS TEXT)) ELSE (SELECT CAST(t.uuid AS TEXT) FROM "  \
	target " t WHERE t.id = " row "." column ") END AS " column

/*
 * The synchronized tables; `tracked` holds the tokens, `dump` is compared;
 * `split` says the table has the subset column `site`.
 */
typedef struct ent_type {
	const char *table;
	const char *tracked;
	const char *dump;
	int split;
} ent_type;

enum { BRIGADE, ESTIMATE, WORK, SPEC, REPORT, NTYPES };

static const ent_type types[NTYPES] = {
	{"brigades", "name", "uuid, name, foreman, headcount, active, updated_at", 0},
	{"estimates", "title", "uuid, number, title, site, total, updated_at", 1},
	{"works", "name",
	 "uuid, estimate_uuid, site, " REF("works", "works", "estimate_id", "estimates")
	 ", code, name, unit, quantity, price, updated_at", 1},
	{"work_specifications", "material", "uuid, work_uuid, material, quantity, unit, updated_at", 0},
	{"daily_reports", "notes",
	 "uuid, report_date, site, " REF("daily_reports", "daily_reports", "brigade_id", "brigades")
	 ", brigade_uuid, author, notes, submitted_at, weather, updated_at", 1},
};

#define LINE_DUMP                                                                              \
	"l.uuid, l.report_uuid, l.work_uuid, " REF("l", "daily_report_lines", "work_id", "works")  \
	", l.volume, l.hours, l.comment, l.updated_at, l.is_deleted"

/* The integer reference columns of the plan: a column of table holding ids of target's rows. */
static const struct ref_col {
	const char *table, *column, *target;
} ref_cols[] = {
	{"works", "estimate_id", "estimates"},
	{"daily_reports", "brigade_id", "brigades"},
	{"daily_report_lines", "work_id", "works"},
};

/* ---- the application's values ------------------------------------------------ */

static const char *new_uuid(void)
{
	uint64_t a = rng_next(), b = rng_next();

	return hstr("%08x-%04x-4%03x-8%03x-%012llx", (unsigned)(a >> 32), (unsigned)(a >> 16) & 0xffff,
		    (unsigned)a & 0xfff, (unsigned)(b >> 48) & 0xfff,
		    (unsigned long long)(b & 0xffffffffffffULL));
}

/* The simulated clock: strictly later, except now and then the same time again. */
static const char *sim_now(void)
{
	int64_t s;

	if (sim_ms == 0 || !chance(8))
		sim_ms += 1 + rnd(3);
	s = sim_ms / 1000;
	return hstr("2026-01-01T%02d:%02d:%02d.%03dZ", (int)(s / 3600), (int)(s / 60 % 60),
		    (int)(s % 60), (int)(sim_ms % 1000));
}

static const char *new_token(int type, const char *uuid, int node_ix)
{
	token *t;

	GROW(tokens, ntokens, cap_tokens);
	t = &tokens[ntokens];
	memset(t, 0, sizeof(*t));
	t->type = type;
	t->uuid = uuid;
	t->node = node_ix;
	t->round = cur_round;
	return hstr("@%zu@", ntokens++);
}

static const char *money(void)
{
	return hstr("'%d.%02d'", rnd(100000), rnd(100));
}

static const char *real(void)
{
	return hstr("%g", rnd(400) / 4.0);
}

static const char *pick(const char *const *list, size_t n)
{
	return list[rnd((int)n)];
}

#define PICK(...) pick((const char *const[]){__VA_ARGS__}, sizeof((const char *const[]){__VA_ARGS__}) / sizeof(const char *))

/* ---- reading a node ------------------------------------------------------------ */

/* Splits sql_rows' "a;b;c" into a list (n of them). */
static const char **split_rows(const char *rows, size_t *n)
{
	char *copy = (char *)hstr("%s", rows), *p, *save = NULL;
	const char **list = NULL;
	size_t cap = 0;

	*n = 0;
	for (p = strtok_r(copy, ";", &save); p; p = strtok_r(NULL, ";", &save)) {
		GROW(list, *n, cap);
		list[(*n)++] = p;
	}
	return list ? hkeep(list) : NULL;
}

/* A live (not deleted) entity of type at n, or NULL; popular rows first. */
static const char *pick_entity(node *n, int type)
{
	size_t count;
	const char **uuids = split_rows(sql_rows(n, "SELECT uuid FROM %s WHERE is_deleted = FALSE ORDER BY uuid",
						  types[type].table), &count);

	if (!count)
		return NULL;
	/* Half of the edits go to the first three rows, so nodes collide on them. */
	return uuids[chance(50) ? rnd(count < 3 ? (int)count : 3) : rnd((int)count)];
}

static const char *ref_or_null(node *n, int type)
{
	const char *u = chance(70) ? pick_entity(n, type) : NULL;

	return u ? hstr("'%s'", u) : "NULL";
}

/*
 * An integer reference to a row of type at n: its local id, or NULL. Any
 * row n holds, deleted ones too (an application may point at an archived
 * row), so that references cross subsets and name rows that never reach
 * some nodes.
 */
static const char *local_id_or_null(node *n, int type)
{
	size_t count;
	const char **ids;

	if (!chance(75))
		return "NULL";
	ids = split_rows(sql_rows(n, "SELECT id FROM %s ORDER BY uuid", types[type].table), &count);
	return count ? ids[rnd((int)count)] : "NULL";
}

/* A subset value for a row: one every desktop with a subset lacks ('C') and NULL (every desktop) too. */
static const char *site(void)
{
	return PICK("'A'", "'B'", "'C'", "NULL", "'A'", "'B'");
}

/* Calls fn for every token @id@ in text. */
static void scan_tokens(const char *text, void (*fn)(size_t id, void *ctx), void *ctx)
{
	const char *p = text;

	while (p && (p = strchr(p, '@'))) {
		char *end;
		unsigned long id = strtoul(p + 1, &end, 10);

		if (end > p + 1 && *end == '@') {
			fn(id, ctx);
			p = end + 1;
		} else {
			p++;
		}
	}
}

/* The text in which an entity's tokens live at n: its tracked column and its lines. */
static const char *entity_text(node *n, int type, const char *uuid)
{
	const char *own = sql_rows(n, "SELECT %s FROM %s WHERE uuid = '%s'", types[type].tracked,
				   types[type].table, uuid);

	if (type != REPORT)
		return own;
	return hstr("%s;%s", own,
		    sql_rows(n, "SELECT comment FROM daily_report_lines WHERE report_uuid = '%s' ORDER BY uuid",
			     uuid));
}

typedef struct tokset {
	size_t n;
	size_t id[256];
} tokset;

static void tokset_add(size_t id, void *ctx)
{
	tokset *s = ctx;

	if (s->n < 256)
		s->id[s->n++] = id;
}

static int tokset_has(const tokset *s, size_t id)
{
	size_t i;

	for (i = 0; i < s->n; i++)
		if (s->id[i] == id)
			return 1;
	return 0;
}

/*
 * A local write of the application on node ix to an entity: the tokens the
 * entity held there before and no longer holds after (all of them, for a
 * delete) were overwritten by a node that had seen them.
 */
static void local_write(int ix, int type, const char *uuid, int is_delete, const char *sql)
{
	tokset before = {0}, after = {0};
	size_t i;

	scan_tokens(entity_text(nd[ix], type, uuid), tokset_add, &before);
	sql_exec(nd[ix], "%s", sql);
	if (!is_delete)
		scan_tokens(entity_text(nd[ix], type, uuid), tokset_add, &after);
	for (i = 0; i < before.n; i++)
		if (!tokset_has(&after, before.id[i]) && before.id[i] < ntokens)
			tokens[before.id[i]].knowingly = 1;
	/* A value this node lost to a restore is written over by an edit made without it. */
	for (i = 0; i < ntokens; i++)
		if ((tokens[i].lost_at & (1u << ix)) && tokens[i].type == type &&
		    strcmp(tokens[i].uuid, uuid) == 0)
			tokens[i].restored_away = 1;
	stats.ops++;
}

/* ---- the application's operations ------------------------------------------------ */

static void op_insert(int ix)
{
	node *n = nd[ix];
	int type = rnd(NTYPES);
	const char *uuid = new_uuid(), *at = sim_now(), *tok = new_token(type, uuid, ix);
	const char *sql = NULL;
	int lines, i;

	switch (type) {
	case BRIGADE:
		sql = hstr("INSERT INTO brigades (uuid, name, foreman, headcount, active, updated_at)"
			   " VALUES ('%s', '%s', '%s', %d, %s, '%s')",
			   uuid, tok, PICK("Ivanov", "Petrov", "Sidorov", "Kuznetsov"), rnd(20),
			   chance(50) ? "TRUE" : "FALSE", at);
		break;
	case ESTIMATE:
		sql = hstr("INSERT INTO estimates (uuid, number, title, site, total, updated_at)"
			   " VALUES ('%s', 'E-%d', '%s', %s, %s, '%s')", uuid, rnd(1000), tok, site(),
			   money(), at);
		break;
	case WORK:
		sql = hstr("INSERT INTO works (uuid, estimate_uuid, site, estimate_id, code, name, unit,"
			   " quantity, price, updated_at) VALUES ('%s', %s, %s, %s, 'W-%d', '%s', '%s', %s,"
			   " %s, '%s')",
			   uuid, ref_or_null(n, ESTIMATE), site(), local_id_or_null(n, ESTIMATE), rnd(1000),
			   tok, PICK("m2", "m3", "t", "pcs"), real(), money(), at);
		break;
	case SPEC:
		sql = hstr("INSERT INTO work_specifications (uuid, work_uuid, material, quantity, unit,"
			   " updated_at) VALUES ('%s', %s, '%s', %s, '%s', '%s')",
			   uuid, ref_or_null(n, WORK), tok, real(), PICK("kg", "m", "l"), at);
		break;
	case REPORT:
		sql = hstr("INSERT INTO daily_reports (uuid, report_date, site, brigade_id, brigade_uuid,"
			   " author, notes, updated_at) VALUES ('%s', '2026-01-%02d', %s, %s, %s, '%s', '%s',"
			   " '%s')",
			   uuid, 1 + rnd(28), site(), local_id_or_null(n, BRIGADE), ref_or_null(n, BRIGADE),
			   PICK("Anna", "Boris", "Vera"), tok, at);
		lines = rnd(3);
		for (i = 0; i < lines; i++) {
			const char *lu = new_uuid();

			sql = hstr("%s; INSERT INTO daily_report_lines (uuid, report_uuid, work_uuid, work_id,"
				   " volume, hours, comment, updated_at) VALUES ('%s', '%s', %s, %s, %s, %s, '%s',"
				   " '%s')",
				   sql, lu, uuid, ref_or_null(n, WORK), local_id_or_null(n, WORK), real(),
				   real(), new_token(REPORT, uuid, ix), at);
		}
		break;
	}
	local_write(ix, type, uuid, 0, sql);
}

static void op_update(int ix)
{
	int type = rnd(NTYPES);
	const char *uuid = pick_entity(nd[ix], type), *extra = "";

	if (!uuid) {
		op_insert(ix);
		return;
	}
	switch (type) {
	case BRIGADE:
		extra = chance(50) ? hstr(", headcount = %d", rnd(20)) : ", active = NOT active";
		break;
	case ESTIMATE:
		extra = hstr(", total = %s", money());
		break;
	case WORK:
		extra = chance(60) ? hstr(", quantity = %s", real())
				   : hstr(", estimate_id = %s", local_id_or_null(nd[ix], ESTIMATE));
		break;
	case SPEC:
		extra = hstr(", unit = '%s'", PICK("kg", "m", "l"));
		break;
	case REPORT:
		extra = chance(60) ? hstr(", author = '%s'", PICK("Anna", "Boris", "Vera"))
				   : hstr(", brigade_id = %s", local_id_or_null(nd[ix], BRIGADE));
		break;
	}
	if (!chance(60))
		extra = "";
	/* The row moves to another site: it leaves the desktops that lack the new one. */
	if (types[type].split && chance(25)) {
		extra = hstr("%s, site = %s", extra, site());
		stats.moves++;
	}
	local_write(ix, type, uuid, 0,
		    hstr("UPDATE %s SET %s = '%s'%s, updated_at = '%s' WHERE uuid = '%s'",
			 types[type].table, types[type].tracked, new_token(type, uuid, ix), extra,
			 sim_now(), uuid));
}

static void op_delete(int ix)
{
	int type = rnd(NTYPES);
	const char *uuid = pick_entity(nd[ix], type);

	if (!uuid)
		return;
	local_write(ix, type, uuid, 1,
		    hstr("UPDATE %s SET is_deleted = TRUE, updated_at = '%s' WHERE uuid = '%s'",
			 types[type].table, sim_now(), uuid));
}

/* Adds, changes or removes one line of a live report; the report's time moves too. */
static void op_line(int ix)
{
	node *n = nd[ix];
	const char *report = pick_entity(n, REPORT), *at, *sql, *line;
	size_t count;
	const char **lines;

	if (!report) {
		op_insert(ix);
		return;
	}
	at = sim_now();
	lines = split_rows(sql_rows(n, "SELECT uuid FROM daily_report_lines WHERE report_uuid = '%s'"
				       " ORDER BY uuid", report), &count);
	line = count ? lines[rnd((int)count)] : NULL;
	if (!line || chance(35))
		sql = hstr("INSERT INTO daily_report_lines (uuid, report_uuid, work_uuid, work_id, volume,"
			   " hours, comment, updated_at) VALUES ('%s', '%s', %s, %s, %s, %s, '%s', '%s')",
			   new_uuid(), report, ref_or_null(n, WORK), local_id_or_null(n, WORK), real(),
			   real(), new_token(REPORT, report, ix), at);
	else if (chance(60))
		sql = hstr("UPDATE daily_report_lines SET comment = '%s', volume = %s%s, updated_at = '%s'"
			   " WHERE uuid = '%s'", new_token(REPORT, report, ix), real(),
			   chance(40) ? hstr(", work_id = %s", local_id_or_null(n, WORK)) : "", at, line);
	else
		sql = hstr("DELETE FROM daily_report_lines WHERE uuid = '%s'", line);
	local_write(ix, REPORT, report, 0,
		    hstr("%s; UPDATE daily_reports SET updated_at = '%s' WHERE uuid = '%s'", sql, at,
			 report));
}

/* The center gives desktop d the subset list ("A,B"; "" for every row). */
static void set_subset(int d, const char *list)
{
	xchg_err err = {0};

	cr_assert_eq(xchg_node_set(nd[0]->db, nd[d]->code, &(xchg_link_opts){.version = XCHG_LINK_OPTS_VERSION, .subset = list}, &err),
		     XCHG_OK, "%s%s: subset \"%s\": %s", WHERE, nd[d]->code, list, err.msg);
	subset_of[d] = list;
}

/* Now and then a desktop is given another subset: its rows come and go in its next packets. */
static void maybe_resubset(void)
{
	int d = 1 + rnd(NNODES - 1);

	if (!chance(8))
		return;
	set_subset(d, PICK("A", "B", "C", "A,B", "B,C", ""));
	fprintf(stderr, "convergence: %s seed %llu, round %d: %s gets subset \"%s\"\n", cur_policy,
		(unsigned long long)cur_seed, cur_round, nd[d]->code, subset_of[d]);
	stats.resubsets++;
}

static void random_op(void)
{
	int ix = rnd(NNODES), r = rnd(100);

	if (r < 25)
		op_insert(ix);
	else if (r < 65)
		op_update(ix);
	else if (r < 75)
		op_delete(ix);
	else
		op_line(ix);
}

/* ---- the courier ------------------------------------------------------------------ */

static int node_index(const char *code)
{
	int i;

	for (i = 0; i < NNODES; i++)
		if (strcmp(nd[i]->code, code) == 0)
			return i;
	cr_assert_fail("%sunknown node %s", WHERE, code);
	return -1;
}

/* The recipient named in pkt_<sender>_<recipient>_<no>.zip (our codes have no '_'). */
static int recipient_of(const char *path)
{
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char code[65];

	cr_assert_eq(sscanf(base, "pkt_%*[^_]_%64[^_]_", code), 1, "%sodd packet name %s", WHERE, base);
	return node_index(code);
}

static void courier_add(const char *path, int to, int due)
{
	GROW(parcels, nparcels, cap_parcels);
	parcels[nparcels++] = (parcel){path, to, due};
}

/*
 * A packet handed to the courier. A chaotic courier loses some, delivers
 * some twice and holds some back for a few rounds (which reorders them).
 */
static void post(const char *path, int to, int chaotic)
{
	const char *base = strrchr(path, '/') + 1;
	const char *in = hstr("%s/c%u_%s", courier_dir, serial++, base);

	if (chaotic && chance(15)) {
		cr_assert_eq(unlink(path), 0, "%sunlink %s", WHERE, path);
		stats.lost++;
		return;
	}
	cr_assert_eq(rename(path, in), 0, "%srename %s", WHERE, path);
	if (!chaotic) {
		courier_add(in, to, cur_round);
		return;
	}
	if (chance(25))
		stats.delayed++;
	courier_add(in, to, cur_round + (chance(25) ? 1 + rnd(4) : 0));
	if (chance(15)) {
		const char *dup = hstr("%s/c%u_%s", courier_dir, serial++, base);

		copy_file(in, dup);
		courier_add(dup, to, cur_round + rnd(5));
		stats.duplicated++;
	}
}

static void export_to(int from, int to, int chaotic)
{
	exported p = export_packet(nd[from], nd[to]->code, outbox[from]);

	stats.exports++;
	post(p.path, to, chaotic);
}

/*
 * A packet is never applied twice: the same message, by its id. A sender
 * restored from a backup reuses numbers for new messages, which apply.
 */
static void note_applied(int to, const import_event *ev)
{
	const pkt_view *v = read_packet(ev->path);
	const char *id = v->message_id;
	size_t i;

	for (i = 0; i < v->n; i++)
		stats.evicts += strcmp(v->e[i].operation, "EVICT") == 0;
	for (i = 0; i < napplied; i++)
		cr_assert(!(applied[i].to == to && strcmp(applied[i].message_id, id) == 0),
			  "%s%s applied packet %lld of %s twice (%s, first as packet %lld)", WHERE,
			  nd[to]->code, (long long)ev->packet_no, ev->sender, ev->path,
			  (long long)applied[i].packet_no);
	GROW(applied, napplied, cap_applied);
	applied[napplied++] = (applied_pkt){to, id, ev->packet_no, applied_seq++};
}

/*
 * Imports what the courier has for node `to` (everything, when all is set;
 * else what is due), in random order and random batches when chaotic. Acks
 * the import writes go back to the courier. Returns the entities applied.
 */
static int64_t deliver_to(int to, int chaotic, int all)
{
	const char *paths[MAX_BATCH];
	size_t i, k, j;
	int64_t entities = 0;
	size_t *mine = NULL, nmine = 0, cap_mine = 0;

	for (i = 0; i < nparcels; i++)
		if (parcels[i].to == to && (all || parcels[i].due <= cur_round)) {
			GROW(mine, nmine, cap_mine);
			mine[nmine++] = i;
		}
	/* Shuffle: the courier brings them in any order. */
	for (i = nmine; chaotic && i > 1; i--) {
		size_t r = (size_t)rnd((int)i), t = mine[i - 1];

		mine[i - 1] = mine[r];
		mine[r] = t;
	}
	for (i = 0; i < nmine; i += k) {
		const import_log *log;

		k = nmine - i;
		if (k > MAX_BATCH)
			k = MAX_BATCH;
		if (chaotic)
			k = 1 + (size_t)rnd((int)k);
		for (j = 0; j < k; j++)
			paths[j] = parcels[mine[i + j]].path;
		log = import_list(nd[to], outbox[to], paths, k);
		stats.imports++;
		for (j = 0; j < log->n; j++) {
			const import_event *ev = &log->ev[j];

			switch (ev->outcome) {
			case XCHG_APPLIED:
				note_applied(to, ev);
				entities += ev->entities;
				stats.applied_packets++;
				break;
			case XCHG_SKIPPED:
				stats.skipped++;
				break;
			case XCHG_NOTICE: /* an end went back in time: restore_node */
				break;
			case XCHG_ACK_WRITTEN:
				post(ev->path, recipient_of(ev->path), chaotic);
				break;
			default:
				cr_assert_fail("%s%s: %s %s", WHERE, nd[to]->code, ev->path,
					       ev->message ? ev->message : "not applied");
			}
		}
	}
	/* Delivered: gone from the courier. */
	for (i = 0; i < nmine; i++) {
		unlink(parcels[mine[i]].path);
		parcels[mine[i]].to = -1;
	}
	for (i = j = 0; i < nparcels; i++)
		if (parcels[i].to >= 0)
			parcels[j++] = parcels[i];
	nparcels = j;
	free(mine);
	return entities;
}

/* ---- the checks ---------------------------------------------------------------------- */

static void mark_final(size_t id, void *ctx)
{
	(void)ctx;
	if (id < ntokens)
		tokens[id].final = 1;
}

static void mark_logged(size_t id, void *ctx)
{
	(void)ctx;
	if (id < ntokens)
		tokens[id].logged = 1;
}

static long env_long(const char *name, long dflt);
static const char *covered(int d, const char *row);

/* ---- backups and restores ------------------------------------------------------------ */

static void mark_held(size_t id, void *ctx)
{
	if (id < ntokens)
		((char *)ctx)[id] = 1;
}

/*
 * Every token the nodes but `but` (all, for -1) hold: in their data or their
 * conflict logs. A desktop's copy of a row outside its subset does not keep
 * a value when the center goes back: the center's EVICT, written before,
 * may still remove it (PACKET.md 6.3, "What these signs cannot see").
 */
static char *held_by(int only, int but)
{
	char *held = hkeep(calloc(ntokens + 1, 1));
	int n, t;

	for (n = 0; n < NNODES; n++) {
		int leaving = but == 0 && n != 0;

		if (n == but || (only >= 0 && n != only))
			continue;
		for (t = 0; t < NTYPES; t++)
			scan_tokens(sql_rows(nd[n], "SELECT %s FROM %s WHERE %s", types[t].tracked,
					     types[t].table,
					     leaving && types[t].split ? covered(n, types[t].table) : "TRUE"),
				    mark_held, held);
		scan_tokens(sql_rows(nd[n], "SELECT l.comment FROM daily_report_lines l"
					    " LEFT JOIN daily_reports r ON r.uuid = l.report_uuid WHERE %s",
				     leaving ? covered(n, "r") : "TRUE"),
			    mark_held, held);
		scan_tokens(sql_rows(nd[n], "SELECT losing_version FROM sync_conflicts"), mark_held, held);
	}
	return held;
}

/*
 * Node ix goes back to its backup, as after a dead disk. What it wrote
 * since, and what it alone holds, is gone with the restore unless some
 * other node has it (a second restore may take the only other copy), and
 * so is what its conflict log kept since (those values were logged: they
 * count as such); nothing else may be lost (PACKET.md section 6.3). The
 * packets it applied since it may apply again.
 */
static void restore_node(int ix)
{
	char *held = held_by(-1, ix), *mine = held_by(ix, -1);
	size_t i, j;

	scan_tokens(sql_rows(nd[ix], "SELECT losing_version FROM sync_conflicts"), mark_logged, NULL);
	for (i = 0; i < ntokens; i++)
		if (!held[i] && (mine[i] || (tokens[i].node == ix && i >= backup[ix].ntokens)))
			tokens[i].restored_away = 1;
	for (i = j = 0; i < napplied; i++)
		if (applied[i].to != ix || applied[i].seq < backup[ix].applied_seq)
			applied[j++] = applied[i];
	napplied = j;
	node_restore(nd[ix], backup[ix].copy);
	/* The subsets are the center's: it gives the desktops those it knew then. */
	if (ix == 0)
		memcpy(subset_of, backup[0].subset_of, sizeof(subset_of));
	held = held_by(ix, -1);
	for (i = 0; i < ntokens; i++)
		if (mine[i] && !held[i])
			tokens[i].lost_at |= 1u << ix;
	fprintf(stderr, "convergence: %s seed %llu, round %d: %s restored from its backup of round %d\n",
		cur_policy, (unsigned long long)cur_seed, cur_round, nd[ix]->code, backup[ix].round);
	backup[ix].copy = NULL;
	stats.restores++;
}

/*
 * Now and then a node is backed up, and now and then one restored from its
 * backup; XCHG_RESTORES=0 turns both off (the rest of the run draws the
 * same numbers either way, so a seed replays the same otherwise).
 */
static void backups_and_restores(void)
{
	int ix = rnd(NNODES), on = env_long("XCHG_RESTORES", 1) != 0;

	if (!backup[ix].copy && chance(10) && on) {
		backup[ix].copy = node_backup(nd[ix]);
		backup[ix].ntokens = ntokens;
		backup[ix].applied_seq = applied_seq;
		backup[ix].round = cur_round;
		memcpy(backup[ix].subset_of, subset_of, sizeof(subset_of));
		stats.backups++;
	}
	ix = rnd(NNODES);
	if (backup[ix].copy && chance(15) && on)
		restore_node(ix);
}

/* Where a row of table is, on every node, and what is registered for it: for a message. */
static const char *whereabouts(const char *table, const char *uuid)
{
	const char *text = "";
	int i;

	for (i = 0; i < NNODES; i++)
		text = hstr("%s\n  at %s: %s; registered: %s", text, nd[i]->code,
			    sql_rows(nd[i], "SELECT * FROM %s WHERE uuid = '%s'", table, uuid),
			    sql_rows(nd[i], "SELECT c.operation, p.code FROM sync_changes c JOIN sync_nodes p"
					    " ON p.id = c.node_id WHERE c.entity_uuid = '%s'", uuid));
	return text;
}

/* The first row where two dumps of table (uuid first, in order) differ, for the message. */
static const char *first_difference(const char *table, const char *a, const char *b)
{
	size_t na, nb, i;
	const char **ra = split_rows(a, &na), **rb = split_rows(b, &nb), *x, *y;

	for (i = 0; i < na && i < nb && strcmp(ra[i], rb[i]) == 0; i++)
		;
	x = i < na ? ra[i] : "";
	y = i < nb ? rb[i] : "";
	/* The row one side lacks, or has otherwise, comes first by uuid. */
	return hstr("\n  center: %.400s\n  node:   %.400s%s", x, y,
		    whereabouts(table, hstr("%.36s", !*x || (*y && strncmp(y, x, 36) < 0) ? y : x)));
}

/*
 * The rows of a split table that desktop d receives, as an SQL condition on
 * the `site` of row (a table or its alias): its value is one of d's, or
 * NULL, or d has no subset (PLAN.md, "Subsets").
 */
static const char *covered(int d, const char *row)
{
	const char *in = "", *p;

	if (!subset_of[d][0])
		return "TRUE";
	for (p = subset_of[d]; *p; p++)
		in = *p == ',' ? hstr("%s', '", in) : hstr("%s%c", in, *p);
	return hstr("(%s.site IS NULL OR %s.site IN ('%s'))", row, row, in);
}

/* Whether a uuid of list a (rows "uuid|...") starts a row of list b; the first one, or NULL. */
static const char *common_uuid(const char **a, size_t na, const char **b, size_t nb)
{
	size_t x, y;

	for (x = 0; x < na; x++)
		for (y = 0; y < nb; y++)
			if (strncmp(a[x], b[y], 36) == 0)
				return a[x];
	return NULL;
}

/*
 * What the design guarantees about the data, and only that:
 * - The center holds every row; a desktop's live rows (is_deleted false)
 *   are exactly the center's live rows that its subset covers, every column
 *   but the local id the same, updated_at included, and an integer
 *   reference the same as it travels (REF: the row it names, or the uuid it
 *   waits for). Rows of a table without subset column, and rows whose site
 *   is NULL, are on every desktop.
 * - A desktop holds no row, live or deleted, that the center holds outside
 *   the desktop's subset: an EVICT removed it (PACKET.md rule 13).
 * - A deleted row is deleted or absent on every node. Absent is legitimate:
 *   a row inserted and deleted before it ever travelled arrives as a DELETE
 *   of a uuid the receiver never had, which changes nothing there. The
 *   columns of a deleted row are not compared: a DELETE travels without
 *   data (§4.11), so each node keeps whatever it last held. (That deleted
 *   rows are deleted-or-absent everywhere follows from the live rows being
 *   equal.) Where two nodes both hold a deleted row, its updated_at, which
 *   the DELETE carries, must agree.
 * - The lines of a live report are the same everywhere it is; the lines of a
 *   deleted report, like its columns, are the node's own.
 */
static void expect_same_data(void)
{
	int t, i;
	const char *want, *got;

	for (t = 0; t < NTYPES; t++)
		for (i = 1; i < NNODES; i++) {
			const char *sql = hstr("SELECT %s FROM %s WHERE is_deleted = FALSE", types[t].dump,
					       types[t].table);

			want = sql_rows(nd[0], "%s AND %s ORDER BY uuid", sql,
					types[t].split ? covered(i, types[t].table) : "TRUE");
			got = sql_rows(nd[i], "%s ORDER BY uuid", sql);
			cr_assert(strcmp(want, got) == 0,
				  "%s%s: live rows differ between %s and %s (subset \"%s\"):%s", WHERE,
				  types[t].table, nd[0]->code, nd[i]->code, subset_of[i],
				  first_difference(types[t].table, want, got));
			/*
			 * Live rows are compared above; what is left is a deleted row kept
			 * outside the subset. Runs with restores leave tombstones alone, as
			 * the tombstone times below do: a desktop's deletion the restored
			 * center lost can stay behind as a tombstone outside the subset
			 * (PACKET.md 6.3, "What these signs cannot see").
			 */
			if (types[t].split && subset_of[i][0] && !stats.restores) {
				size_t na, nb;
				const char **outside = split_rows(
					sql_rows(nd[0], "SELECT uuid, site FROM %s WHERE NOT %s ORDER BY uuid",
						 types[t].table, covered(i, types[t].table)), &na);
				const char **held = split_rows(
					sql_rows(nd[i], "SELECT uuid, site, is_deleted FROM %s ORDER BY uuid",
						 types[t].table), &nb);
				const char *kept = common_uuid(held, nb, outside, na);

				cr_assert_null(kept, "%s%s: %s (subset \"%s\") keeps a row the center holds"
					       " outside it (uuid|site|is_deleted): %s%s", WHERE, types[t].table,
					       nd[i]->code, subset_of[i], kept,
					       kept ? whereabouts(types[t].table, hstr("%.36s", kept)) : "");
			}
		}
	for (i = 1; i < NNODES; i++) {
		const char *sql = "SELECT " LINE_DUMP " FROM daily_report_lines l"
				  " JOIN daily_reports r ON r.uuid = l.report_uuid"
				  " WHERE r.is_deleted = FALSE";

		want = sql_rows(nd[0], "%s AND %s ORDER BY l.uuid", sql, covered(i, "r"));
		got = sql_rows(nd[i], "%s ORDER BY l.uuid", sql);
		cr_assert(strcmp(want, got) == 0,
			  "%sdaily_report_lines of live reports differ between %s and %s (subset \"%s\"):%s",
			  WHERE, nd[0]->code, nd[i]->code, subset_of[i],
			  first_difference("daily_report_lines", want, got));
	}
	/*
	 * A tombstone's time is the same everywhere, unless a node went back in
	 * time: a row it deleted again, or one the center's full state left out,
	 * is deleted at its own moment. Live rows are the data, and they agree.
	 */
	for (t = 0; t < NTYPES && !stats.restores; t++) {
		int a, b;

		for (a = 0; a < NNODES; a++)
			for (b = a + 1; b < NNODES; b++) {
				const char *q = hstr("SELECT uuid, updated_at FROM %s WHERE is_deleted = TRUE"
						     " ORDER BY uuid", types[t].table);
				size_t na, nb, x, y;
				const char **ra = split_rows(sql_rows(nd[a], "%s", q), &na);
				const char **rb = split_rows(sql_rows(nd[b], "%s", q), &nb);

				for (x = 0; x < na; x++)
					for (y = 0; y < nb; y++)
						if (strncmp(ra[x], rb[y], 36) == 0)
							cr_assert(strcmp(ra[x], rb[y]) == 0,
								  "%s%s: deleted row at %s is %s, at %s %s",
								  WHERE, types[t].table, nd[a]->code, ra[x],
								  nd[b]->code, rb[y]);
			}
	}
}

/*
 * Every node's references stand as PLAN.md ("Integer references") says:
 * an id names a row that is there (on SQLite, PRAGMA foreign_key_check
 * finds nothing; PostgreSQL's constraints see to it there), and a NULL that
 * waits for a row (sync_refs) waits for one that is not there: a row that
 * arrived or came back filled in what waited for it. That the reference
 * names the same row on every node is compared with the data (REF). A
 * report line's report is there too: children go and come with their
 * parent.
 */
static void expect_references_sound(void)
{
	size_t k;
	int i;

	for (i = 0; i < NNODES; i++) {
		const char *bad;

		if (!nd[i]->pg) {
			bad = sql_rows(nd[i], "PRAGMA foreign_key_check");
			cr_assert_str_empty(bad, "%s%s: foreign_key_check: %s", WHERE, nd[i]->code, bad);
		}
		for (k = 0; k < sizeof(ref_cols) / sizeof(ref_cols[0]); k++) {
			const struct ref_col *c = &ref_cols[k];
			const char *pending = hstr("sync_refs p ON p.table_name = '%s' AND p.column_name = '%s'"
						   " AND p.row_uuid = CAST(x.uuid AS TEXT)", c->table, c->column);

			bad = sql_rows(nd[i], "SELECT x.uuid, x.%s FROM %s x WHERE x.%s IS NOT NULL AND NOT EXISTS"
					      " (SELECT 1 FROM %s t WHERE t.id = x.%s) ORDER BY x.uuid",
				       c->column, c->table, c->column, c->target, c->column);
			cr_assert_str_empty(bad, "%s%s: %s.%s names rows that are not there (uuid|id): %s",
					    WHERE, nd[i]->code, c->table, c->column, bad);
			bad = sql_rows(nd[i], "SELECT x.uuid, p.target_uuid FROM %s x JOIN %s WHERE x.%s IS NULL"
					      " AND EXISTS (SELECT 1 FROM %s t WHERE CAST(t.uuid AS TEXT) ="
					      " p.target_uuid) ORDER BY x.uuid",
				       c->table, pending, c->column, c->target);
			cr_assert_str_empty(bad, "%s%s: %s.%s still waits for rows that are there"
					    " (uuid|awaited): %s", WHERE, nd[i]->code, c->table, c->column, bad);
			/*
			 * A reference that holds an id waits for nothing: a wait left
			 * behind would travel again, as if set, once the application
			 * clears the column.
			 */
			bad = sql_rows(nd[i], "SELECT x.uuid, x.%s, p.target_uuid FROM %s x JOIN %s"
					      " WHERE x.%s IS NOT NULL ORDER BY x.uuid",
				       c->column, c->table, pending, c->column);
			cr_assert_str_empty(bad, "%s%s: %s.%s holds an id and still waits for a row"
					    " (uuid|id|awaited): %s", WHERE, nd[i]->code, c->table, c->column,
					    bad);
		}
		bad = sql_rows(nd[i], "SELECT l.uuid, l.report_uuid FROM daily_report_lines l WHERE NOT EXISTS"
				      " (SELECT 1 FROM daily_reports r WHERE r.uuid = l.report_uuid)");
		cr_assert_str_empty(bad, "%s%s: report lines without their report: %s", WHERE, nd[i]->code,
				    bad);
	}
}

/* The center gives each desktop the subset the test set (after any restore of the center). */
static void expect_subsets_kept(void)
{
	int i;

	for (i = 1; i < NNODES; i++) {
		const char *want = "", *p;
		const char *got = sql_rows(nd[0], "SELECT s.value FROM sync_subsets s JOIN sync_nodes n"
						  " ON n.id = s.node_id WHERE n.code = '%s' ORDER BY s.value",
					   nd[i]->code);

		for (p = subset_of[i]; *p; p++)
			want = hstr("%s%c", want, *p == ',' ? ';' : *p);
		cr_assert_str_eq(got, want, "%s%s: the center gives it subset \"%s\", the test set \"%s\"",
				 WHERE, nd[i]->code, got, subset_of[i]);
	}
}

/*
 * Nothing is lost. A write's value (its token) leaves a node in one of
 * these ways: a local write there replaces it (the node had seen it: the
 * test notes that), a conflict there decides against it (it is logged), or
 * an import replaces it silently, which the design allows only when the
 * value was not registered for the sender: the sender had it (sent it, or
 * applied or logged it when acknowledging it) and left it first. So the
 * earliest departure of a value from any node is a local write or a logged
 * conflict, and every value written is, at the end, either live data, in
 * some node's sync_conflicts.losing_version, or was replaced by a local
 * write on a node that held it. That is asserted for every write.
 *
 * An EVICT is one more import that removes a value, and needs no exception
 * here: it removes a desktop's version silently only when the desktop has
 * no registration of the row for the center, that is, when the center
 * already has that version (or had it, and it left the center in one of the
 * ways above); a change of the row not yet acknowledged makes the EVICT a
 * conflict, whose loser is logged (PACKET.md rule 13). The center, which
 * holds every row, keeps every value the desktops lost to EVICTs, so the
 * rule holds for subset rows exactly as for the others.
 */
static void expect_nothing_lost(void)
{
	size_t i;
	int t, n;

	for (t = 0; t < NTYPES; t++)
		scan_tokens(sql_rows(nd[0], "SELECT %s FROM %s WHERE is_deleted = FALSE",
				     types[t].tracked, types[t].table), mark_final, NULL);
	scan_tokens(sql_rows(nd[0], "SELECT l.comment FROM daily_report_lines l JOIN daily_reports r"
				    " ON r.uuid = l.report_uuid WHERE r.is_deleted = FALSE"),
		    mark_final, NULL);
	for (n = 0; n < NNODES; n++)
		scan_tokens(sql_rows(nd[n], "SELECT losing_version FROM sync_conflicts"), mark_logged, NULL);
	for (i = 0; i < ntokens; i++)
		cr_assert(tokens[i].final || tokens[i].logged || tokens[i].knowingly ||
				  tokens[i].restored_away,
			  "%svalue @%zu@ (%s %s, written at %s in round %d) was overwritten by a node"
			  " that had not seen it, and is in no sync_conflicts", WHERE, i,
			  types[tokens[i].type].table, tokens[i].uuid, nd[tokens[i].node]->code,
			  tokens[i].round);
}

/* A version as a conflict logged it: its time and the values it held ("-" if it had no data). */
static const char *version_key(const char *updated_at, const char *data)
{
	tokset t = {0};
	const char *key = hstr("%s %s", updated_at ? updated_at : "NULL", data ? "" : "-");
	size_t i, j;

	scan_tokens(data, tokset_add, &t);
	for (i = 1; i < t.n; i++) /* insertion sort: the same values give the same key */
		for (j = i; j > 0 && t.id[j - 1] > t.id[j]; j--) {
			size_t x = t.id[j];

			t.id[j] = t.id[j - 1];
			t.id[j - 1] = x;
		}
	for (i = 0; i < t.n; i++)
		key = hstr("%s@%zu", key, t.id[i]);
	return key;
}

typedef struct decision {
	int node, peer;
	const char *uuid, *id;
	const char *mine, *theirs; /* version keys, as the deciding node saw them */
	int kept_mine;
} decision;

/*
 * Both ends of a link decide alike. When their packets cross, each end
 * decides the same pair of versions, seen from its own side, and both must
 * keep the same one. A conflict logged at A against P whose versions are
 * those of one logged at P against A, swapped, is such a pair.
 */
static void expect_decisions_agree(void)
{
	decision *d = NULL;
	size_t nd_ = 0, cap = 0, i, j, count, k;
	int n;

	for (n = 0; n < NNODES; n++) {
		const char **ids = split_rows(sql_rows(nd[n], "SELECT id FROM sync_conflicts ORDER BY id"),
					      &count);

		for (k = 0; k < count; k++) {
			const char *q = hstr("FROM sync_conflicts c JOIN sync_nodes p ON p.id = c.peer_id"
					     " WHERE c.id = %s", ids[k]);
			int kept_mine = strcmp(sql_text(nd[n], "SELECT c.winner %s", q), "local") == 0;
			const char *lose = sql_text(nd[n], "SELECT c.losing_version %s", q);
			const char *win = sql_text(nd[n], "SELECT c.winning_version %s", q);

			GROW(d, nd_, cap);
			d[nd_++] = (decision){
				n, node_index(sql_text(nd[n], "SELECT p.code %s", q)),
				sql_text(nd[n], "SELECT c.entity_uuid %s", q), ids[k],
				version_key(sql_text(nd[n], "SELECT c.local_updated_at %s", q),
					    kept_mine ? win : lose),
				version_key(sql_text(nd[n], "SELECT c.remote_updated_at %s", q),
					    kept_mine ? lose : win),
				kept_mine};
		}
	}
	for (i = 0; i < nd_; i++)
		for (j = i + 1; j < nd_; j++)
			if (d[i].node == d[j].peer && d[i].peer == d[j].node &&
			    strcmp(d[i].uuid, d[j].uuid) == 0 && strcmp(d[i].mine, d[j].theirs) == 0 &&
			    strcmp(d[i].theirs, d[j].mine) == 0) {
				stats.crossed++;
				cr_assert(d[i].kept_mine != d[j].kept_mine,
					  "%s%s (conflict %s) and %s (conflict %s) decided %s differently:"
					  " each kept %s version", WHERE, nd[d[i].node]->code, d[i].id,
					  nd[d[j].node]->code, d[j].id, d[i].uuid,
					  d[i].kept_mine ? "its own" : "the other's");
			}
	free(d);
}

/* ---- one run ------------------------------------------------------------------------------ */

static void reset_state(void)
{
	free(parcels);
	free(applied);
	free(tokens);
	parcels = NULL;
	applied = NULL;
	tokens = NULL;
	nparcels = cap_parcels = napplied = cap_applied = applied_seq = ntokens = cap_tokens = 0;
	serial = 0;
	sim_ms = 0;
	memset(&stats, 0, sizeof(stats));
	memset(backup, 0, sizeof(backup));
	memset(subset_of, 0, sizeof(subset_of));
}

static void run_seed(uint64_t seed, int rounds, const char *plan)
{
	int i, r, quiet = 0, it;
	int64_t conflicts = 0, by_delete_rule = 0, pending = 0;

	reset_state();
	cur_seed = seed;
	rng_state = seed;
	cur_round = 0;
	fprintf(stderr, "convergence: %s seed %llu, %d rounds (replay: XCHG_SEED=%llu XCHG_ROUNDS=%d)\n",
		cur_policy, (unsigned long long)seed, rounds, (unsigned long long)seed, rounds);
	for (i = 0; i < NNODES; i++) {
		nd[i] = node_create(i ? hstr("D%d", i) : "CENTER", i == 0, plan, NULL);
		outbox[i] = make_folder(hstr("out%d", i));
		if (i) {
			link_nodes(nd[0], nd[i]);
			set_subset(i, first_subset[i]);
		}
	}
	courier_dir = make_folder("courier");

	for (r = 0; r < rounds; r++) {
		int ops = 1 + rnd(7), order[NNODES];

		cur_round = r;
		backups_and_restores();
		maybe_resubset();
		for (i = 0; i < ops; i++)
			random_op();
		for (i = 1; i < NNODES; i++)
			if (chance(45))
				export_to(i, 0, 1);
		for (i = 1; i < NNODES; i++)
			if (chance(45))
				export_to(0, i, 1);
		for (i = 0; i < NNODES; i++)
			order[i] = i;
		for (i = NNODES; i > 1; i--) {
			int k = rnd(i), t = order[i - 1];

			order[i - 1] = order[k];
			order[k] = t;
		}
		for (i = 0; i < NNODES; i++)
			deliver_to(order[i], 1, 0);
	}

	/* The courier turns reliable: exchange until an exchange applies nothing. */
	for (it = 0; it < 30 && !quiet; it++) {
		int64_t entities = 0;

		cur_round++;
		for (i = 1; i < NNODES; i++)
			export_to(i, 0, 0);
		entities += deliver_to(0, 0, 1);
		for (i = 1; i < NNODES; i++)
			export_to(0, i, 0);
		for (i = 1; i < NNODES; i++)
			entities += deliver_to(i, 0, 1);
		quiet = entities == 0;
	}
	cr_assert(quiet, "%sstill applying entities after %d reliable exchanges", WHERE, it);

	for (i = 0; i < NNODES; i++) {
		int64_t left = sql_int(nd[i], "SELECT count(*) FROM sync_changes");

		cr_assert_eq(left, 0, "%s%s still has %lld registrations: %s", WHERE, nd[i]->code,
			     (long long)left,
			     sql_rows(nd[i], "SELECT c.entity_type, c.entity_uuid, c.operation, c.packet_no, p.code"
					     " FROM sync_changes c JOIN sync_nodes p ON p.id = c.node_id"
					     " ORDER BY c.entity_uuid"));
		conflicts += sql_int(nd[i], "SELECT count(*) FROM sync_conflicts");
		by_delete_rule += sql_int(nd[i], "SELECT count(*) FROM sync_conflicts"
					     " WHERE policy IN ('delete-wins', 'edit-wins')");
		pending += sql_int(nd[i], "SELECT count(*) FROM sync_refs");
	}
	expect_subsets_kept();
	expect_same_data();
	expect_references_sound();
	expect_nothing_lost();
	expect_decisions_agree();
	fprintf(stderr,
		"convergence: %s seed %llu ok: %d ops, %zu values, %d packets (%d lost, %d duplicated,"
		" %d delayed), %d applied, %d skipped, %lld conflicts (%lld by the delete rule, %d decided at both ends),"
		" %d restores from %d backups, %d moves between sites, %d subsets changed, %d evictions,"
		" %lld references waiting (sync_refs), quiet after %d exchanges\n",
		cur_policy, (unsigned long long)seed, stats.ops, ntokens, stats.exports, stats.lost,
		stats.duplicated, stats.delayed, stats.applied_packets, stats.skipped,
		(long long)conflicts, (long long)by_delete_rule, stats.crossed, stats.restores,
		stats.backups, stats.moves, stats.resubsets, stats.evicts, (long long)pending, it);
	reset_state();
}

static long env_long(const char *name, long dflt)
{
	const char *v = getenv(name);

	return v && v[0] ? strtol(v, NULL, 10) : dflt;
}

/*
 * Runs the fixed seeds (or those the environment names) under one set of
 * rules: `rules` replaces the example plan's "master-wins" (NULL keeps it).
 */
static void run_rules(const char *label, const char *rules)
{
	static const uint64_t fixed[] = {1, 2, 3};
	int rounds = (int)env_long("XCHG_ROUNDS", 25);
	long seeds = env_long("XCHG_SEEDS", 0), first = env_long("XCHG_SEED_FIRST", 1), s;
	const char *seed_env = getenv("XCHG_SEED");
	const char *plan = rules ? plan_variant("\"master-wins\"", rules) : EXAMPLE_PLAN;

	cur_policy = label;
	if (seed_env && seed_env[0]) {
		run_seed(strtoull(seed_env, NULL, 10), rounds, plan);
		return;
	}
	for (s = 0; s < (seeds > 0 ? seeds : (long)(sizeof(fixed) / sizeof(fixed[0]))); s++) {
		if (s) { /* a fresh stage for every seed: nodes, folders, memory */
			harness_teardown();
			harness_setup();
			plan = rules ? plan_variant("\"master-wins\"", rules) : EXAMPLE_PLAN;
		}
		run_seed(seeds > 0 ? (uint64_t)(first + s) : fixed[s], rounds, plan);
	}
}

Test(convergence, master_wins, .timeout = 0)
{
	run_rules("master-wins", NULL);
}

Test(convergence, last_writer_wins, .timeout = 0)
{
	run_rules("last-writer-wins", "\"last-writer-wins\"");
}

Test(convergence, last_writer_wins_delete_wins, .timeout = 0)
{
	run_rules("last-writer-wins, delete-wins",
		  "\"last-writer-wins\", \"delete_conflict\": \"delete-wins\"");
}

Test(convergence, master_wins_edit_wins, .timeout = 0)
{
	run_rules("master-wins, edit-wins", "\"master-wins\", \"delete_conflict\": \"edit-wins\"");
}
