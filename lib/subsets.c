#include "subsets.h"

#include <stdlib.h>
#include <string.h>

xchg_status subsets_get(store *s, const char *peer_id, char **joined, xchg_err *err)
{
	xvalue id = xv_text(peer_id), v;
	store_stmt *st = NULL;
	xbuf b = {0};
	int has_row = 0;
	xchg_status rc;

	*joined = NULL;
	if ((rc = store_query(s, "SELECT value FROM sync_subsets WHERE node_id = ? ORDER BY value",
			      &id, 1, &st, err)))
		return rc;
	while (!(rc = store_step(st, &has_row, err)) && has_row) {
		store_col(st, 0, &v);
		if (b.len)
			xbuf_addc(&b, ',');
		xbuf_adds(&b, v.type == XV_TEXT ? v.s : "");
	}
	store_release(st);
	if (!rc && b.len && !(*joined = xbuf_detach(&b)))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	xbuf_free(&b);
	return rc;
}

/* Splits list at its commas into values[], each trimmed of spaces; they point into copy. */
static xchg_status split(const char *code, char *copy, char **values, size_t *n, xchg_err *err)
{
	char *p = copy, *end;
	size_t i;

	*n = 0;
	if (!copy[0])
		return XCHG_OK;
	for (;;) {
		char *v, *comma = strchr(p, ',');

		if (comma)
			*comma = '\0';
		for (v = p; *v == ' '; v++)
			;
		for (end = v + strlen(v); end > v && end[-1] == ' '; end--)
			;
		*end = '\0';
		if (!v[0] || strlen(v) > SUBSET_VALUE_MAX)
			return xerr(err, XCHG_EUSAGE, "node %s: a subset value is 1 to %d characters,"
				    " separated by commas", code, SUBSET_VALUE_MAX);
		for (end = v; *end; end++)
			if ((unsigned char)*end < 0x20 || *end == 0x7f)
				return xerr(err, XCHG_EUSAGE, "node %s: a subset value holds a control"
					    " character", code);
		for (i = 0; i < *n && strcmp(values[i], v) != 0; i++)
			;
		if (i == *n) {
			if (*n == SUBSETS_MAX)
				return xerr(err, XCHG_EUSAGE, "node %s: more than %d subset values",
					    code, SUBSETS_MAX);
			values[(*n)++] = v;
		}
		if (!comma)
			return XCHG_OK;
		p = comma + 1;
	}
}

/*
 * Registers for the peer, as op, every row of e whose value the peer
 * receives after the change (to_new) and did not before, or the other way
 * round: covered by now ("(now)") and not by next (its values, params
 * [2..]), when op is EVICT; the reverse for an UPDATE.
 */
static xchg_status register_moved(xchg_db *db, const plan_entity *e, const char *op,
				  xvalue *p, size_t nvalues, xchg_err *err)
{
	xbuf sql = {0}, col = {0}, next = {0};
	size_t i;
	xchg_status rc;

	xbuf_printf(&col, "CAST(\"%s\" AS TEXT)", e->subset_column);
	if (nvalues == 0)
		xbuf_adds(&next, "1 = 1");
	else {
		xbuf_printf(&next, "%s IN (?", col.data);
		for (i = 1; i < nvalues; i++)
			xbuf_adds(&next, ", ?");
		xbuf_addc(&next, ')');
	}
	xbuf_printf(&sql, "INSERT INTO sync_changes (node_id, entity_type, entity_uuid, operation,"
		    " changed_at) SELECT ?, ?, ");
	store_canonical_sql(db->st, &sql, FORM_UUID, "uuid");
	xbuf_printf(&sql, ", '%s', ? FROM \"%s\" WHERE uuid IS NOT NULL AND \"%s\" IS NOT NULL"
		    " AND %s" SUBSET_COVERS("?", "%s")
		    " AND %s(%s)"
		    " ON CONFLICT (node_id, entity_type, entity_uuid) DO UPDATE SET"
		    " operation = excluded.operation, packet_no = NULL, changed_at = excluded.changed_at",
		    op, e->table, e->subset_column, strcmp(op, "EVICT") == 0 ? "" : "NOT ",
		    col.data, col.data, strcmp(op, "EVICT") == 0 ? "NOT " : "",
		    next.data ? next.data : "");
	if (!sql.data || !next.data)
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	else
		rc = store_run(db->st, sql.data, p, (int)(5 + nvalues), NULL, err);
	xbuf_free(&sql);
	xbuf_free(&col);
	xbuf_free(&next);
	return rc;
}

xchg_status subsets_set(xchg_db *db, const node_row *peer, const char *list, xchg_err *err)
{
	char *copy = NULL, *values[SUBSETS_MAX], now[32];
	xvalue p[5 + SUBSETS_MAX], row[2];
	size_t n = 0, i;
	xchg_status rc;

	if (strcmp(peer->role, "master") == 0)
		return xerr(err, XCHG_EUSAGE, "node %s: is the center, which holds every row; a subset"
			    " is set at the center for a desktop", peer->code);
	if (!(copy = strdup(list)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if ((rc = split(peer->code, copy, values, &n, err)))
		goto done;
	xnow_iso(now);
	p[0] = xv_text(peer->id);
	p[2] = xv_text(now);
	p[3] = xv_text(peer->id);
	p[4] = xv_text(peer->id);
	for (i = 0; i < n; i++)
		p[5 + i] = xv_text(values[i]);
	for (i = 0; i < db->plan->nentities && !rc; i++) {
		const plan_entity *e = &db->plan->entities[i];

		if (!e->subset_column)
			continue;
		p[1] = xv_text(e->type);
		if (!(rc = register_moved(db, e, "EVICT", p, n, err)))
			rc = register_moved(db, e, "UPDATE", p, n, err);
		if (rc)
			xerr_prefix(err, "entity %s (table %s)", e->type, e->table);
	}
	if (!rc)
		rc = store_run(db->st, "DELETE FROM sync_subsets WHERE node_id = ?", p, 1, NULL, err);
	row[0] = xv_text(peer->id);
	for (i = 0; i < n && !rc; i++) {
		row[1] = xv_text(values[i]);
		rc = store_run(db->st, "INSERT INTO sync_subsets (node_id, value) VALUES (?, ?)", row, 2,
			       NULL, err);
	}
done:
	free(copy);
	return rc;
}

xchg_status subsets_outside(xchg_db *db, const plan_entity *e, const char *peer_id,
			    const char *uuid, int *outside, xchg_err *err)
{
	char spelled[FORMS_SPELLINGS][37], *sql;
	xvalue p[FORMS_SPELLINGS + 2];
	int64_t n = 0;
	xchg_status rc;

	*outside = 0;
	store_uuid_params(uuid, spelled, p);
	p[FORMS_SPELLINGS] = p[FORMS_SPELLINGS + 1] = xv_text(peer_id);
	if (!(sql = xstrdup_printf("SELECT count(*) FROM \"%s\" WHERE uuid " STORE_UUID_IN
				   " AND NOT " SUBSET_COVERS("?", "CAST(\"%s\" AS TEXT)"),
				   e->table, e->subset_column, e->subset_column)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = store_int(db->st, sql, p, FORMS_SPELLINGS + 2, &n, NULL, err);
	free(sql);
	*outside = n > 0;
	return rc;
}

void subsets_filter_sql(xbuf *sql, const plan_entity *e)
{
	if (e->subset_column)
		xbuf_printf(sql, " AND " SUBSET_COVERS("?", "CAST(\"%s\" AS TEXT)"), e->subset_column,
			    e->subset_column);
}
