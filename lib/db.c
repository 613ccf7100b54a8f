/* Opening a node database, preparing it (init), and what every command needs first. */
#include "db.h"

#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include "conflict.h"
#include "keys.h"
#include "nodes.h"

xchg_status xchg_open(xchg_db **out, const char *url, unsigned flags, xchg_err *err)
{
	xchg_db *db = NULL;
	xchg_status rc;

	*out = NULL;
	if (!(db = calloc(1, sizeof(*db))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if ((rc = store_open(&db->st, url, (flags & XCHG_OPEN_CREATE) != 0, err)))
		goto fail;
	/* A PostgreSQL node's key has no natural place: the caller names its folder or the file. */
	store_default_key(db->st, &db->key_path, &db->key_name);
	if (!db->key_path && !db->key_name) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto fail;
	}
	*out = db;
	return XCHG_OK;
fail:
	xchg_close(db);
	return rc;
}

xchg_status xchg_set_key_file(xchg_db *db, const char *path, xchg_err *err)
{
	char *copy;

	if (!path || !path[0])
		return xerr(err, XCHG_EUSAGE, "the key file needs a name");
	if (!(copy = strdup(path)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	free(db->key_path);
	free(db->key_dir);
	db->key_path = copy;
	db->key_dir = NULL;
	return XCHG_OK;
}

xchg_status xchg_set_key_dir(xchg_db *db, const char *dir, xchg_err *err)
{
	char *path, *copy = NULL;

	if (!dir || !dir[0])
		return xerr(err, XCHG_EUSAGE, "the key folder needs a name");
	if (!db->key_name)
		return XCHG_OK;
	if (!(path = xstrdup_printf("%s/%s", dir, db->key_name)) || !(copy = strdup(dir))) {
		free(path);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	free(db->key_path);
	free(db->key_dir);
	db->key_path = path;
	db->key_dir = copy;
	return XCHG_OK;
}

const char *xchg_key_file(const xchg_db *db)
{
	return db->key_path;
}

/* Fails unless this node's key file is named, as it is by default only for SQLite. */
static xchg_status key_named(const xchg_db *db, xchg_err *err)
{
	if (db->key_path)
		return XCHG_OK;
	return xerr(err, XCHG_EUSAGE, "%s: no folder or file is named for this node's secret key",
		    db->st->name);
}

void db_forget_meta(xchg_db *db)
{
	size_t i, j;

	for (i = 0; i < db->nmetas; i++) {
		free(db->metas[i].table);
		free(db->metas[i].local);
		free(db->metas[i].forms);
		free(db->metas[i].select_sql);
		free(db->metas[i].children_sql);
		for (j = 0; j < 4; j++)
			free(db->metas[i].scan_sql[j]);
		free(db->metas[i].select_cols);
		free(db->metas[i].write_cols);
		free(db->metas[i].update_sql);
		free(db->metas[i].insert_sql);
		free(db->metas[i].delete_sql);
		store_columns_free(db->metas[i].cols, db->metas[i].ncols);
	}
	free(db->metas);
	db->metas = NULL;
	db->nmetas = 0;
	for (i = 0; i < db->nlocal_ids; i++)
		free(db->local_ids[i]);
	free(db->local_ids);
	db->local_ids = NULL;
	db->nlocal_ids = 0;
}

void xchg_close(xchg_db *db)
{
	if (!db)
		return;
	db_forget_meta(db);
	plan_free(db->plan);
	store_close(db->st);
	free(db->key_path);
	free(db->key_name);
	free(db->key_dir);
	free(db);
}

/*
 * What a node set up by an older xchg lacks, added before anything reads
 * it: ALTER TABLE ... ADD COLUMN in the form both dialects take.
 */
static const struct {
	const char *table;
	const char *column;
	const char *sql;
} added_columns[] = {
	{"sync_conflicts", "kind", "ALTER TABLE sync_conflicts ADD COLUMN kind TEXT NOT NULL DEFAULT 'conflict'"},
	{"sync_conflicts", "reason", "ALTER TABLE sync_conflicts ADD COLUMN reason TEXT"},
	{"sync_nodes", "full_state_no", "ALTER TABLE sync_nodes ADD COLUMN full_state_no BIGINT"},
	{"sync_nodes", "link_dir", "ALTER TABLE sync_nodes ADD COLUMN link_dir TEXT"},
	{"sync_nodes", "late_after", "ALTER TABLE sync_nodes ADD COLUMN late_after BIGINT"},
	{"sync_nodes", "applied", "ALTER TABLE sync_nodes ADD COLUMN applied TEXT"},
	{"sync_nodes", "added_at", "ALTER TABLE sync_nodes ADD COLUMN added_at TEXT"},
	{"sync_nodes", "problem_packet", "ALTER TABLE sync_nodes ADD COLUMN problem_packet TEXT"},
	{"sync_nodes", "problem_kind", "ALTER TABLE sync_nodes ADD COLUMN problem_kind TEXT"},
	{"sync_nodes", "problem_reason", "ALTER TABLE sync_nodes ADD COLUMN problem_reason TEXT"},
	{"sync_nodes", "problem_at", "ALTER TABLE sync_nodes ADD COLUMN problem_at TEXT"},
	{"sync_nodes", "received_created_at", "ALTER TABLE sync_nodes ADD COLUMN received_created_at TEXT"},
	{"sync_nodes", "wants_full_state",
	 "ALTER TABLE sync_nodes ADD COLUMN wants_full_state INTEGER NOT NULL DEFAULT 0"},
	{"sync_nodes", "recovering", "ALTER TABLE sync_nodes ADD COLUMN recovering TEXT"},
	{"sync_nodes", "max_queue", "ALTER TABLE sync_nodes ADD COLUMN max_queue BIGINT"},
	{"sync_capture", "subset", "ALTER TABLE sync_capture ADD COLUMN subset TEXT"},
	{"sync_capture", "moved", "ALTER TABLE sync_capture ADD COLUMN moved INTEGER NOT NULL DEFAULT 0"},
	{"sync_capture", "moved_from", "ALTER TABLE sync_capture ADD COLUMN moved_from TEXT"},
	{"sync_sent", "listed_received", "ALTER TABLE sync_sent ADD COLUMN listed_received BIGINT"},
};

/* Whether the table of added_columns[i] lacks its column; not when the table does not exist. */
static xchg_status column_missing(store *s, size_t i, int *missing, xchg_err *err)
{
	store_column *cols = NULL;
	size_t n = 0;
	xchg_status rc;

	*missing = 0;
	if ((rc = store_columns(s, added_columns[i].table, &cols, &n, err)))
		return rc;
	*missing = n && !store_has_column(cols, n, added_columns[i].column);
	store_columns_free(cols, n);
	return XCHG_OK;
}

/*
 * Adds what an older xchg did not create. The capture log comes with the
 * schema script, which only creates what is missing and, on PostgreSQL,
 * renews the triggers' functions: a node's triggers capture from then on.
 * Another xchg may be upgrading the same node at the same time: only what
 * is still missing afterwards fails.
 */
static xchg_status db_upgrade(store *s, xchg_err *err)
{
	int missing = 0, capture = 0;
	size_t i;
	xchg_status rc;

	if ((rc = store_table_exists(s, "sync_capture", &capture, err)) ||
	    (capture && (rc = store_table_exists(s, "sync_sent", &capture, err))) ||
	    (capture && (rc = store_table_exists(s, "sync_refs", &capture, err))) ||
	    (capture && (rc = store_table_exists(s, "sync_received", &capture, err))))
		return rc;
	if (!capture && (rc = store_create_schema(s, err)) &&
	    (store_table_exists(s, "sync_received", &capture, err) || !capture))
		return xerr_prefix(err, "creating the sync tables that an older xchg did not");
	for (i = 0; i < sizeof(added_columns) / sizeof(added_columns[0]); i++) {
		if ((rc = column_missing(s, i, &missing, err)))
			return rc;
		if (!missing || !store_run(s, added_columns[i].sql, NULL, 0, NULL, err))
			continue;
		if (column_missing(s, i, &missing, err) == XCHG_OK && !missing)
			continue;
		return xerr_prefix(err, "%s: adding column %s", added_columns[i].table,
				   added_columns[i].column);
	}
	return XCHG_OK;
}

/*
 * A stored plan that no longer parses (damaged, or written by an xchg that
 * took what this one refuses) is the database's fault, not the caller's
 * arguments; init with a corrected plan replaces it without reading it.
 */
static xchg_status stored_plan_refused(const xchg_db *db, xchg_err *err)
{
	char why[XCHG_ERRMSG_MAX];

	snprintf(why, sizeof(why), "%s", err->msg);
	return xerr(err, XCHG_EDB, "%s: %s; run xchg init --plan with a corrected plan", db->st->name,
		    why);
}

static xchg_status load_plan(xchg_db *db, xchg_err *err)
{
	store_stmt *st = NULL;
	int has_row = 0;
	xvalue v;
	xchg_status rc;

	if ((rc = store_query(db->st, "SELECT plan FROM sync_plan WHERE id = 1", NULL, 0, &st, err)))
		return rc;
	if (!(rc = store_step(st, &has_row, err))) {
		store_col(st, 0, &v);
		if (!has_row || v.type != XV_TEXT)
			rc = xerr(err, XCHG_EDB, "%s: the stored plan is missing; run xchg init",
				  db->st->name);
		else if ((rc = plan_parse(&db->plan, v.s, v.len, "stored plan", err)) == XCHG_EUSAGE)
			rc = stored_plan_refused(db, err);
	}
	store_release(st);
	return rc;
}

xchg_status db_ready(xchg_db *db, xchg_err *err)
{
	int exists = 0;
	xchg_status rc;

	if (db->plan)
		return XCHG_OK;
	if ((rc = store_table_exists(db->st, "sync_plan", &exists, err)))
		return rc;
	if (!exists)
		return xerr(err, XCHG_EDB, "%s: not an xchg node yet; run xchg init first",
			    db->st->name);
	/* A node set up by an older xchg gets what this one writes, before anything reads it. */
	if ((rc = db_upgrade(db->st, err)))
		return rc;
	return load_plan(db, err);
}

/* Rows a form is read from: enough to see past the odd row an application wrote otherwise. */
#define META_SAMPLE_ROWS 16

/* Whether a declared type holds text of exactly 32 characters: CHAR(32), VARCHAR(32), ... */
static int declared_32(const char *decl)
{
	const char *open = strchr(decl, '(');
	char *end;

	return open && strcasestr(decl, "CHAR") && strtol(open + 1, &end, 10) == 32 && *end == ')';
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

/*
 * Whether a column holds uuids, times or neither, by its name and declared
 * type: xchg's own columns and a child's link to its parent, the
 * references xchg's examples name *_uuid, and what ORMs declare (SQLAlchemy
 * and Django store a uuid in CHAR(32), a time in DATETIME).
 */
static form_kind column_kind(const store_column *c, const char *parent_column)
{
	if (strcmp(c->name, "uuid") == 0 || (parent_column && strcmp(c->name, parent_column) == 0))
		return FORM_UUID;
	if (strcmp(c->name, "updated_at") == 0)
		return FORM_TIME;
	if (strcasestr(c->decl_type, "UUID") || declared_32(c->decl_type))
		return FORM_UUID;
	if (strcasestr(c->decl_type, "DATETIME") || strcasestr(c->decl_type, "TIMESTAMP"))
		return FORM_TIME;
	return ends_with(c->name, "_uuid") ? FORM_UUID : FORM_TEXT;
}

/*
 * The form of a uuid or time column the plan does not name: the form of
 * the values it holds (the fraction digits of the most precise), else what
 * its declared type suggests, else xchg's own.
 */
static xchg_status sample_form(xchg_db *db, const char *table, const store_column *c,
			       col_form *out, xchg_err *err)
{
	store_stmt *st = NULL;
	col_form shape, seen = {0};
	xinstant t;
	xvalue v;
	char *sql;
	int has_row = 0, found = 0;
	xchg_status rc;

	if (!(sql = xstrdup_printf("SELECT \"%s\" FROM \"%s\" WHERE \"%s\" IS NOT NULL LIMIT %d",
				   c->name, table, c->name, META_SAMPLE_ROWS)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_query(db->st, sql, NULL, 0, &st, err);
	free(sql);
	while (!rc && !(rc = store_step(st, &has_row, err)) && has_row) {
		store_col(st, 0, &v);
		if (v.type != XV_TEXT)
			continue;
		if (out->kind == FORM_UUID ? forms_uuid_parse(v.s, NULL, &shape)
					   : forms_time_parse(v.s, &t, &shape)) {
			if (!found++)
				seen = shape;
			if (shape.digits > seen.digits)
				seen.digits = shape.digits;
		}
	}
	store_release(st);
	if (rc)
		return xerr_prefix(err, "table \"%s\": column \"%s\"", table, c->name);
	if (out->kind == FORM_UUID) {
		/* A 32-character column cannot hold the dashes, whatever a stray row says. */
		if (declared_32(c->decl_type))
			*out = (col_form){.kind = FORM_UUID, .hex = 1,
					  .upper = found && seen.hex && seen.upper};
		else if (found)
			*out = seen;
		else
			*out = FORMS_UUID_CANONICAL;
	} else if (found) {
		*out = seen;
	} else if (strcasestr(c->decl_type, "DATETIME") || strcasestr(c->decl_type, "TIMESTAMP")) {
		/* What SQLAlchemy, Django and Rails write into such a column on SQLite. */
		*out = (col_form){.kind = FORM_TIME, .space = 1, .digits = 6};
	} else {
		*out = FORMS_TIME_XCHG;
	}
	return XCHG_OK;
}

/* The form of a column: the database's own type first, then the plan's word, then sample_form. */
static xchg_status decide_form(xchg_db *db, const char *table, const store_column *c,
			       const plan_forms *named, const char *parent_column, col_form *out,
			       xchg_err *err)
{
	const col_form *given = plan_column_form(named, c->name);

	memset(out, 0, sizeof(*out));
	if ((out->kind = store_native_kind(db->st, c->decl_type)) != FORM_TEXT) {
		out->native = 1;
		return XCHG_OK;
	}
	if (given) {
		*out = *given;
		return XCHG_OK;
	}
	if ((out->kind = column_kind(c, parent_column)) == FORM_TEXT)
		return XCHG_OK;
	return sample_form(db, table, c, out, err);
}

/* db_meta under plan p, which init gives before it is the node's. */
static xchg_status meta_load(xchg_db *db, const plan *p, const char *table, table_meta **out,
			     xchg_err *err)
{
	table_meta *grown, *m;
	const plan_locals *locals;
	const plan_forms *named;
	const char *parent_column;
	size_t i;
	xchg_status rc = XCHG_OK;

	for (i = 0; i < db->nmetas; i++)
		if (strcmp(db->metas[i].table, table) == 0) {
			*out = &db->metas[i];
			return XCHG_OK;
		}
	if (!(grown = realloc(db->metas, (db->nmetas + 1) * sizeof(*grown))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	db->metas = grown;
	m = &db->metas[db->nmetas];
	memset(m, 0, sizeof(*m));
	if ((rc = store_columns(db->st, table, &m->cols, &m->ncols, err)))
		return rc;
	if (m->ncols == 0) {
		store_columns_free(m->cols, 0);
		return xerr(err, XCHG_EDB, "%s: table \"%s\" does not exist", db->st->name, table);
	}
	if (!(m->table = strdup(table)) || !(m->local = calloc(m->ncols, 1)) ||
	    !(m->forms = calloc(m->ncols, sizeof(*m->forms)))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	plan_table_rules(p, table, &locals, &named, &parent_column);
	for (i = 0; i < m->ncols && !rc; i++) {
		m->local[i] = (unsigned char)plan_column_is_local(locals, m->cols[i].name);
		rc = decide_form(db, table, &m->cols[i], named, parent_column, &m->forms[i], err);
	}
done:
	if (rc) {
		free(m->table);
		free(m->local);
		free(m->forms);
		store_columns_free(m->cols, m->ncols);
		return rc;
	}
	db->nmetas++;
	*out = m;
	return XCHG_OK;
}

xchg_status db_meta(xchg_db *db, const char *table, table_meta **out,
		    xchg_err *err)
{
	return meta_load(db, db->plan, table, out, err);
}

const char *db_local_id(const store_column *cols, size_t n)
{
	const char *pk = NULL;
	size_t i;

	for (i = 0; i < n; i++)
		if (cols[i].is_pk) {
			if (pk)
				return NULL;
			pk = cols[i].name;
		}
	return pk;
}

const col_form *db_column_form(const table_meta *m, const char *column)
{
	static const col_form text = {.kind = FORM_TEXT};
	size_t i;

	for (i = 0; i < m->ncols; i++)
		if (strcmp(m->cols[i].name, column) == 0)
			return &m->forms[i];
	return &text;
}

/*
 * A column the plan names that the table lacks is a typo that would let a
 * local column travel after all, or leave a form to guessing.
 */
static xchg_status check_named(const table_meta *m, char *const *names, size_t n,
			       const char *member, xchg_err *err)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (!store_has_column(m->cols, m->ncols, names[i]))
			return xerr(err, XCHG_EUSAGE, "table \"%s\" has no column \"%s\" (%s)", m->table,
				    names[i], member);
	return XCHG_OK;
}

/*
 * Adds what table lacks of uuid, updated_at and is_deleted, decides the
 * forms of its columns, and fills uuid and updated_at in them where they
 * are missing: in the form the application's rows already hold.
 */
static xchg_status prepare_table(xchg_db *db, const plan *p, const char *table,
				 sync_forms *forms, xchg_err *err)
{
	const plan_locals *locals;
	const plan_forms *named;
	const char *parent_column;
	table_meta *m;
	xchg_status rc;

	const plan_refs *refs = plan_table_refs(p, table);
	const plan_entity *e = plan_entity_of(p, table);

	plan_table_rules(p, table, &locals, &named, &parent_column);
	if ((rc = store_prepare_table(db->st, table, parent_column, err)) ||
	    (rc = meta_load(db, p, table, &m, err)) ||
	    (rc = check_named(m, locals->columns, locals->ncolumns, "local_columns", err)) ||
	    (rc = check_named(m, named->columns, named->n, "column_forms", err)) ||
	    (refs && (rc = check_named(m, refs->columns, refs->n, "references", err))) ||
	    (e && e->subset_column && (rc = check_named(m, &e->subset_column, 1, "subset_column", err))))
		return rc;
	forms->uuid = *db_column_form(m, "uuid");
	forms->updated_at = *db_column_form(m, "updated_at");
	return store_fill_table(db->st, table, parent_column, forms, err);
}

/* Each entity a reference of table names has a local id for it to hold. */
static xchg_status check_ref_targets(xchg_db *db, const plan *p, const plan_refs *refs,
				     const char *table, xchg_err *err)
{
	table_meta *tm;
	size_t i;
	xchg_status rc;

	for (i = 0; i < refs->n; i++) {
		const plan_entity *t = plan_find(p, refs->types[i]);

		if ((rc = meta_load(db, p, t->table, &tm, err)))
			return rc;
		if (!db_local_id(tm->cols, tm->ncols))
			return xerr(err, XCHG_EUSAGE, "table \"%s\": \"references\": \"%s\" holds ids of"
				    " %s rows, but table \"%s\" has no primary key of one column to"
				    " hold them", table, refs->columns[i], t->type, t->table);
	}
	return XCHG_OK;
}

/* Prepares every table of p; forms gets one entry per table, in store_install_triggers' order. */
static xchg_status prepare_tables(xchg_db *db, const plan *p, sync_forms *forms, xchg_err *err)
{
	size_t i, j, k = 0;
	xchg_status rc;

	/* What was decided under the former plan may not hold under this one. */
	db_forget_meta(db);
	for (i = 0; i < p->nentities; i++) {
		const plan_entity *e = &p->entities[i];

		if ((rc = prepare_table(db, p, e->table, &forms[k++], err)))
			return xerr_prefix(err, "entity %s", e->type);
		for (j = 0; j < e->nchildren; j++)
			if ((rc = prepare_table(db, p, e->children[j].table, &forms[k++], err)))
				return xerr_prefix(err, "entity %s", e->type);
	}
	for (i = 0; i < p->nentities; i++) {
		const plan_entity *e = &p->entities[i];

		for (j = 0; j <= e->nchildren; j++)
			if ((rc = check_ref_targets(db, p, j < e->nchildren ? &e->children[j].refs : &e->refs,
						    j < e->nchildren ? e->children[j].table : e->table, err)))
				return xerr_prefix(err, "entity %s", e->type);
	}
	return XCHG_OK;
}

/* Tables in the plan: each entity's and its children's. */
static size_t plan_tables(const plan *p)
{
	size_t i, n = 0;

	for (i = 0; i < p->nentities; i++)
		n += 1 + p->entities[i].nchildren;
	return n;
}

/* An existing node keeps its identity: a second init may only renew the plan. */
static xchg_status check_same_node(const node_row *self, const xchg_init_opts *o,
				   xchg_err *err)
{
	if (strcmp(self->code, o->code) != 0)
		return xerr(err, XCHG_EFAIL, "this database is already node %s, not %s",
			    self->code, o->code);
	if (nodes_is_master(self) != (o->master != 0))
		return xerr(err, XCHG_EFAIL, "node %s is already initialized as %s",
			    self->code, nodes_is_master(self) ? "the center (--master)" : "a desktop");
	return XCHG_OK;
}

xchg_status xchg_init(xchg_db *db, const xchg_init_opts *o, int *already, xchg_err *err)
{
	plan *p = NULL;
	node_row self = {0};
	sync_forms *forms = NULL;
	keypair kp;
	char now[32], id[37], pub[KEY_TEXT_MAX];
	int in_tx = 0, found = 0, key_created = 0;
	xchg_status rc;

	*already = 0;
	memset(&kp, 0, sizeof(kp));
	if ((rc = xcheck_opts(o->version, XCHG_INIT_OPTS_VERSION, "xchg_init_opts",
			      "XCHG_INIT_OPTS_INIT", err)) ||
	    (rc = xcheck_code(o->code, err)) || (rc = key_named(db, err)))
		return rc;
	if ((rc = plan_load_file(&p, o->plan_path, err)))
		return rc;
	if (!(forms = calloc(plan_tables(p), sizeof(*forms)))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = store_begin(db->st, err)))
		goto done;
	in_tx = 1;
	if ((rc = store_create_schema(db->st, err)) ||
	    (rc = db_upgrade(db->st, err)) ||
	    (rc = nodes_self(db->st, &self, &found, err)))
		goto done;
	if (found && (rc = check_same_node(&self, o, err)))
		goto done;
	*already = found;
	xnow_iso(now);
	{
		xvalue params[2] = {xv_text(p->text), xv_text(now)};

		if ((rc = prepare_tables(db, p, forms, err)) ||
		    (rc = store_run(db->st, "INSERT INTO sync_plan (id, plan, installed_at) VALUES (1, ?, ?)"
					    " ON CONFLICT (id) DO UPDATE SET plan = excluded.plan,"
					    " installed_at = excluded.installed_at",
				    params, 2, NULL, err)) ||
		    (rc = store_install_triggers(db->st, p, forms, err)))
			goto done;
	}
	if ((db->key_dir && (rc = keys_make_folder(db->key_dir, err))) ||
	    (rc = keys_load(db->key_path, &key_created, &kp, err)))
		goto done;
	keys_encode_public(kp.pk, pub);
	if (!found) {
		node_row n = {.code = (char *)o->code, .name = (char *)(o->name ? o->name : o->code),
			      .role = o->master ? "master" : "subordinate", .public_key = pub,
			      .is_self = 1, .full_state = NODE_FULL_NONE};

		xuuid4(id);
		n.id = id;
		if ((rc = nodes_insert(db->st, &n, err)))
			goto done;
	} else if (!self.public_key || strcmp(self.public_key, pub) != 0) {
		rc = xerr(err, XCHG_EFAIL, "%s: this key file does not belong to node %s",
			  db->key_path, self.code);
		goto done;
	}
	/* A COMMIT that reports failure may still have happened (a connection lost
	 * on the way back), and then the database names this key: keep it. */
	key_created = 0;
	if ((rc = store_commit(db->st, err)))
		goto done;
	in_tx = 0;
	plan_free(db->plan);
	db->plan = p;
	p = NULL;
	db_forget_meta(db);
done:
	if (in_tx)
		store_rollback(db->st);
	/* No peer can know a key from an init that did not happen; a retry makes a fresh one. */
	if (key_created)
		unlink(db->key_path);
	/* Forms decided under a plan that did not take. */
	if (rc)
		db_forget_meta(db);
	free(forms);
	keys_wipe(&kp);
	node_row_clear(&self);
	plan_free(p);
	return rc;
}

xchg_status xchg_public_key(xchg_db *db, char **out, xchg_err *err)
{
	node_row self = {0};
	int found = 0;
	xchg_status rc;

	*out = NULL;
	if ((rc = db_ready(db, err)) || (rc = nodes_self(db->st, &self, &found, err)))
		return rc;
	if (!found || !self.public_key)
		rc = xerr(err, XCHG_EDB, "%s: this node has no key; run xchg init", db->st->name);
	else if (!(*out = keys_line_format(self.code, self.id, self.public_key)))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	node_row_clear(&self);
	return rc;
}

xchg_status db_signing_key(xchg_db *db, const node_row *self, keypair *kp, xchg_err *err)
{
	int matched = 0;
	xchg_status rc;

	if ((rc = key_named(db, err)) ||
	    (rc = keys_load_named(db->key_path, self->public_key, kp, &matched, err)))
		return rc;
	if (matched)
		return XCHG_OK;
	keys_wipe(kp);
	return xerr(err, XCHG_EFAIL, "%s: this key file does not belong to node %s (its public key"
		    " is %s)", db->key_path, self->code, self->public_key ? self->public_key : "unset");
}

/* The node whose key rotates; whether its transaction committed. */
typedef struct rotation {
	store *st;
	const char *id;
	int committed;
} rotation;

/* keys_rotate's commit: the node's row takes the new key, and the transaction commits. */
static xchg_status record_rotation(void *ctx, const char *public_key, const char *chain,
				   xchg_err *err)
{
	rotation *r = ctx;
	xchg_status rc;

	if (!(rc = nodes_set_key(r->st, r->id, public_key, chain, err)) &&
	    !(rc = store_commit(r->st, err)))
		r->committed = 1;
	return rc;
}

xchg_status xchg_key_rotate(xchg_db *db, char **new_public_key, xchg_err *err)
{
	node_row self = {0};
	rotation r = {db->st, NULL, 0};
	keypair old;
	char pub[KEY_TEXT_MAX];
	xchg_status rc;

	*new_public_key = NULL;
	memset(&old, 0, sizeof(old));
	if ((rc = db_ready(db, err)) || (rc = key_named(db, err)) || (rc = store_begin(db->st, err)))
		return rc;
	if (!(rc = nodes_self_required(db->st, &self, err)) &&
	    !(rc = db_signing_key(db, &self, &old, err))) {
		r.id = self.id;
		rc = keys_rotate(db->key_path, self.code, self.key_chain, &old, record_rotation, &r, pub,
				 err);
	}
	/* Once committed, the new key is the node's: a rename left undone is the next load's. */
	if (rc && !r.committed)
		store_rollback(db->st);
	if (!rc && !(*new_public_key = keys_line_format(self.code, self.id, pub)))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	keys_wipe(&old);
	node_row_clear(&self);
	return rc;
}
