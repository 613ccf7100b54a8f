#include "bulk.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "forms.h"
#include "row_json.h"

/* Entities a batch holds: each lookup is then one statement per table. */
#define BULK_MAX STORE_UUIDS_PER_QUERY
/*
 * The JSON text a batch holds at most, parsed: a packet's memory stays
 * flat however large its entities are (one may be 64 MiB, ENV_MAX_ENTITY_BYTES).
 */
#define BULK_MAX_BYTES (4u * 1024u * 1024u)
/*
 * The uuids this packet wrote rows under, as a Bloom filter of 2^24 bits
 * (2 MiB), four bits a uuid: at a million uuids about one lookup in 500
 * asks the database for nothing; past several million most ask, as
 * without it.
 */
#define WRITTEN_BITS (1u << 24)
#define WRITTEN_HASHES 4

typedef struct held_entity {
	env_entity in; /* as the packet gives it; points into tree */
	cJSON *tree;
	char uuid[37]; /* canonical, as the sync tables know it */
	char updated_at[FORMS_TEXT_MAX];
} held_entity;

struct bulk {
	xchg_db *db;
	char *sender_id;
	bulk_fn fn;
	void *ctx;
	const plan_entity *e; /* the type of the entities held */
	held_entity v[BULK_MAX];
	const char *uuids[BULK_MAX]; /* v[i].uuid: what the lookups take */
	size_t n;
	size_t bytes; /* the JSON text of the entities held */
	/* whether batchable's answer for `checked` is yes */
	const plan_entity *checked;
	int check;
	/* the tables this packet's lookups have met, and which were empty then */
	const char **tables;
	unsigned char *fresh;
	size_t ntables;
	/*
	 * Where writers take turns: the canonical uuids of every row this
	 * packet wrote, entities' and child rows' (WRITTEN_BITS). A table that
	 * was empty at the packet's first look holds no other rows, so a
	 * lookup there asks the database only of the uuids this may hold.
	 */
	uint64_t *written;
};

xchg_status bulk_new(bulk **out, xchg_db *db, const char *sender_id, bulk_fn fn, void *ctx,
		     xchg_err *err)
{
	bulk *b;

	*out = NULL;
	if (!(b = calloc(1, sizeof(*b))) || !(b->sender_id = strdup(sender_id))) {
		free(b);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	if (db->st->serial && !(b->written = calloc(WRITTEN_BITS / 64, sizeof(uint64_t)))) {
		free(b->sender_id);
		free(b);
		return xerr(err, XCHG_ENOMEM, "out of memory");
	}
	b->db = db;
	b->fn = fn;
	b->ctx = ctx;
	*out = b;
	return XCHG_OK;
}

/* The filter's bits for a canonical uuid (FNV-1a, two halves for double hashing). */
static void written_bits(const char *uuid, uint32_t bit[WRITTEN_HASHES])
{
	uint64_t h = 14695981039346656037u;
	uint32_t h1, h2;
	size_t i;

	for (; *uuid; uuid++)
		h = (h ^ (unsigned char)*uuid) * 1099511628211u;
	h1 = (uint32_t)h;
	h2 = (uint32_t)(h >> 32) | 1;
	for (i = 0; i < WRITTEN_HASHES; i++)
		bit[i] = (h1 + (uint32_t)i * h2) & (WRITTEN_BITS - 1);
}

static void written_add(bulk *b, const char *uuid)
{
	uint32_t bit[WRITTEN_HASHES];
	size_t i;

	written_bits(uuid, bit);
	for (i = 0; i < WRITTEN_HASHES; i++)
		b->written[bit[i] / 64] |= UINT64_C(1) << (bit[i] % 64);
}

static int written_may_hold(const bulk *b, const char *uuid)
{
	uint32_t bit[WRITTEN_HASHES];
	size_t i;

	written_bits(uuid, bit);
	for (i = 0; i < WRITTEN_HASHES; i++)
		if (!(b->written[bit[i] / 64] & (UINT64_C(1) << (bit[i] % 64))))
			return 0;
	return 1;
}

/* Notes entity uuid of e (as the packet gives it) and its child rows' as written. */
static void note_written(bulk *b, const plan_entity *e, const char *uuid, const cJSON *data)
{
	char canonical[37];
	const cJSON *row;
	size_t i;

	if (!b->written)
		return;
	if (forms_uuid_parse(uuid, canonical, NULL))
		written_add(b, canonical);
	for (i = 0; e && i < e->nchildren; i++)
		cJSON_ArrayForEach(row, cJSON_GetObjectItemCaseSensitive(data, e->children[i].name))
			if (forms_uuid_parse(cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "uuid")),
					     canonical, NULL))
				written_add(b, canonical);
}

/* Hands in to fn, noting what it writes. */
static xchg_status write_alone(bulk *b, const plan_entity *e, const env_entity *in, xchg_err *err)
{
	note_written(b, e, in->uuid, in->data);
	return b->fn(b->ctx, in, 0, err);
}

static int refs_name(const plan_refs *r, const char *type)
{
	size_t k;

	for (k = 0; k < r->n; k++)
		if (strcmp(r->types[k], type) == 0)
			return 1;
	return 0;
}

/*
 * Whether rows of e may be inserted in a batch: no integer reference
 * leaves or names them, since one is mapped to a local id, or waits for
 * its row, as each row is written (refs.c).
 */
static int batchable(const plan *p, const plan_entity *e)
{
	size_t i, j;

	if (e->refs.n)
		return 0;
	for (j = 0; j < e->nchildren; j++)
		if (e->children[j].refs.n)
			return 0;
	for (i = 0; i < p->nentities; i++) {
		if (refs_name(&p->entities[i].refs, e->type))
			return 0;
		for (j = 0; j < p->entities[i].nchildren; j++)
			if (refs_name(&p->entities[i].children[j].refs, e->type))
				return 0;
	}
	return 1;
}

/* A uuid of a row and the entity of the batch it belongs to. */
typedef struct owned {
	const char *uuid;
	size_t owner;
} owned;

static int owned_order(const void *a, const void *b)
{
	return strcmp(((const owned *)a)->uuid, ((const owned *)b)->uuid);
}

/*
 * The one spelling a lookup in column of table may look for (NULL: any):
 * the column's own when it is a native uuid, or when writers take turns
 * and the table was empty the first time this packet looked, since every
 * row it holds since is one this import wrote, in the column's form.
 */
static xchg_status lookup_form(bulk *b, const char *table, const char *column,
			       const col_form **form, int *was_empty, xchg_err *err)
{
	table_meta *m;
	const col_form *f;
	const char **tables;
	unsigned char *fresh;
	size_t i;
	int empty = 0;
	xchg_status rc;

	*form = NULL;
	*was_empty = 0;
	if ((rc = db_meta(b->db, table, &m, err)))
		return rc;
	if (!(f = db_column_form(m, column)) || f->kind != FORM_UUID)
		return XCHG_OK;
	if (f->native || !b->db->st->serial) {
		*form = f->native ? f : NULL;
		return XCHG_OK;
	}
	for (i = 0; i < b->ntables; i++)
		if (strcmp(b->tables[i], table) == 0) {
			*form = b->fresh[i] ? f : NULL;
			*was_empty = b->fresh[i];
			return XCHG_OK;
		}
	if ((rc = store_table_empty(b->db->st, table, &empty, err)))
		return rc;
	if (!(tables = realloc(b->tables, (b->ntables + 1) * sizeof(*tables))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	b->tables = tables;
	if (!(fresh = realloc(b->fresh, b->ntables + 1)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	b->fresh = fresh;
	b->tables[b->ntables] = table;
	b->fresh[b->ntables++] = (unsigned char)empty;
	*form = empty ? f : NULL;
	*was_empty = empty;
	return XCHG_OK;
}

/*
 * store_uuids_held of the n uuids in column of table; in a table that was
 * empty at the packet's first look, asking only of those this packet may
 * have written there.
 */
static xchg_status uuids_held(bulk *b, const char *table, const char *column,
			      const char *const *uuids, size_t n, unsigned char *held, xchg_err *err)
{
	const col_form *form;
	const char **maybe = NULL;
	size_t *at = NULL, m = 0, i;
	unsigned char *got = NULL;
	int was_empty;
	xchg_status rc;

	if ((rc = lookup_form(b, table, column, &form, &was_empty, err)))
		return rc;
	if (!was_empty || !b->written)
		return store_uuids_held(b->db->st, table, column, form, uuids, n, held, err);
	memset(held, 0, n);
	if (!(maybe = calloc(n, sizeof(*maybe))) || !(at = calloc(n, sizeof(*at))) ||
	    !(got = calloc(n, 1))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < n; i++)
		if (written_may_hold(b, uuids[i])) {
			maybe[m] = uuids[i];
			at[m++] = i;
		}
	if (m && !(rc = store_uuids_held(b->db->st, table, column, form, maybe, m, got, err)))
		for (i = 0; i < m; i++)
			held[at[i]] = got[i];
done:
	free(got);
	free(at);
	free(maybe);
	return rc;
}

/* Takes out of the batch every entity a lookup found held here. */
static void drop_held(unsigned char *fresh, const unsigned char *held, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		fresh[i] &= !held[i];
}

/*
 * Sorts the n uuids and takes every entity owning one that appears twice
 * out of the batch: applied in turn, the second would update what the
 * first wrote.
 */
static void drop_twice(owned *o, size_t n, unsigned char *fresh)
{
	size_t i;

	qsort(o, n, sizeof(*o), owned_order);
	for (i = 1; i < n; i++)
		if (strcmp(o[i - 1].uuid, o[i].uuid) == 0)
			fresh[o[i - 1].owner] = fresh[o[i].owner] = 0;
}

/*
 * Takes out of the batch every entity that has a row of child c here
 * already, or whose rows of c are not what row_json_insert can write
 * (applied alone, it is refused with the reason): a row may move to
 * another parent, and the parent's children are replaced.
 */
static xchg_status check_children(bulk *b, const plan_child *c, unsigned char *fresh,
				  xchg_err *err)
{
	unsigned char held[BULK_MAX], *in_use = NULL;
	owned *rows = NULL;
	char (*canonical)[37] = NULL;
	const char **distinct = NULL;
	const cJSON *list, *row;
	size_t i, n = 0, cap = 0, m = 0;
	xchg_status rc;

	if ((rc = uuids_held(b, c->table, c->parent_column, b->uuids, b->n, held, err)))
		return rc;
	drop_held(fresh, held, b->n);
	for (i = 0; i < b->n; i++) {
		list = cJSON_GetObjectItemCaseSensitive(b->v[i].in.data, c->name);
		if (list && !cJSON_IsArray(list))
			fresh[i] = 0;
		cap += (size_t)cJSON_GetArraySize(list);
	}
	if (!cap)
		return XCHG_OK;
	if (!(rows = calloc(cap, sizeof(*rows))) || !(canonical = calloc(cap, sizeof(*canonical))) ||
	    !(distinct = calloc(cap, sizeof(*distinct))) || !(in_use = calloc(cap, 1))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	for (i = 0; i < b->n; i++) {
		list = cJSON_GetObjectItemCaseSensitive(b->v[i].in.data, c->name);
		if (!cJSON_IsArray(list))
			continue;
		cJSON_ArrayForEach(row, list) {
			const char *u = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(row, "uuid"));

			if (!cJSON_IsObject(row) || !u || !forms_uuid_parse(u, canonical[n], NULL)) {
				fresh[i] = 0;
				continue;
			}
			rows[n].uuid = canonical[n];
			rows[n++].owner = i;
		}
	}
	drop_twice(rows, n, fresh);
	for (i = 0; i < n; i++)
		if (!i || strcmp(rows[i - 1].uuid, rows[i].uuid) != 0)
			distinct[m++] = rows[i].uuid;
	if ((rc = uuids_held(b, c->table, "uuid", distinct, m, in_use, err)))
		goto done;
	/* distinct and rows are in the same order: walk both. */
	for (i = 0, m = 0; i < n; i++) {
		if (i && strcmp(rows[i - 1].uuid, rows[i].uuid) != 0)
			m++;
		if (in_use[m])
			fresh[rows[i].owner] = 0;
	}
done:
	free(in_use);
	free(distinct);
	free(canonical);
	free(rows);
	return rc;
}

/*
 * Inserts the run of entities idx[0..n), captured once each
 * (store_capture_hold), and reports each to fn as inserted.
 */
static xchg_status insert_run(bulk *b, const size_t *idx, size_t n, xchg_err *err)
{
	row_json_new rows[BULK_MAX] = {{0}};
	const char *uuids[BULK_MAX];
	const col_form *form;
	size_t i, at = n;
	int was_empty;
	xchg_status rc;

	if (!n)
		return XCHG_OK;
	if ((rc = lookup_form(b, b->e->table, "uuid", &form, &was_empty, err)))
		return rc;
	for (i = 0; i < n; i++) {
		rows[i].uuid = uuids[i] = b->v[idx[i]].uuid;
		rows[i].updated_at = b->v[idx[i]].updated_at;
		rows[i].data = b->v[idx[i]].in.data;
		note_written(b, b->e, rows[i].uuid, rows[i].data);
	}
	if ((rc = store_capture_hold(b->db->st, err)) ||
	    (rc = row_json_insert(b->db, b->e, rows, n, &at, err)) ||
	    (rc = store_capture_inserted(b->db->st, b->e->type, b->e->table, b->e->subset_column,
					 form, uuids, n, err))) {
		if (at < n)
			return xerr_prefix(err, "entity %zu (%s %s)", b->v[idx[at]].in.index + 1,
					   b->e->type, b->v[idx[at]].in.uuid);
		return xerr_prefix(err, "entities %zu to %zu (%s)", b->v[idx[0]].in.index + 1,
				   b->v[idx[n - 1]].in.index + 1, b->e->type);
	}
	for (i = 0; i < n && !rc; i++)
		rc = b->fn(b->ctx, &b->v[idx[i]].in, 1, err);
	return rc;
}

/*
 * Which of the held entities are new here in every respect (fresh), then
 * each in the packet's order: a run of fresh ones inserted together, any
 * other applied alone after the run before it.
 */
static xchg_status write_held(bulk *b, xchg_err *err)
{
	unsigned char fresh[BULK_MAX], held[BULK_MAX];
	owned own[BULK_MAX];
	size_t run[BULK_MAX], nrun = 0, i;
	xchg_status rc;

	for (i = 0; i < b->n; i++) {
		own[i] = (owned){b->v[i].uuid, i};
		fresh[i] = 1;
	}
	drop_twice(own, b->n, fresh);
	if ((rc = uuids_held(b, b->e->table, "uuid", b->uuids, b->n, held, err)))
		return rc;
	drop_held(fresh, held, b->n);
	if ((rc = changes_find_many(b->db->st, b->sender_id, b->e->type, b->uuids, b->n, held, err)))
		return rc;
	drop_held(fresh, held, b->n);
	for (i = 0; i < b->e->nchildren && !rc; i++)
		rc = check_children(b, &b->e->children[i], fresh, err);
	for (i = 0; i < b->n && !rc; i++) {
		if (fresh[i]) {
			run[nrun++] = i;
			continue;
		}
		if (!(rc = insert_run(b, run, nrun, err)))
			rc = write_alone(b, b->e, &b->v[i].in, err);
		nrun = 0;
	}
	return rc ? rc : insert_run(b, run, nrun, err);
}

xchg_status bulk_flush(bulk *b, xchg_err *err)
{
	size_t i;
	xchg_status rc = b->n ? write_held(b, err) : XCHG_OK;

	for (i = 0; i < b->n; i++)
		cJSON_Delete(b->v[i].tree);
	b->n = b->bytes = 0;
	return rc;
}

xchg_status bulk_add(bulk *b, const env_entity *in, cJSON *tree, xchg_err *err)
{
	const plan_entity *e = plan_find(b->db->plan, in->type);
	held_entity *h;
	char uuid[37], at[FORMS_TEXT_MAX];
	xchg_status rc;

	if (e && e != b->checked) {
		b->checked = e;
		b->check = batchable(b->db->plan, e);
	}
	if (!e || !b->check || !in->data || !in->updated_at ||
	    (strcmp(in->operation, "INSERT") != 0 && strcmp(in->operation, "UPDATE") != 0) ||
	    !forms_uuid_parse(in->uuid, uuid, NULL) ||
	    strlen(forms_canonical(&FORMS_TIME_XCHG, in->updated_at, at)) >= sizeof(at)) {
		if (!(rc = bulk_flush(b, err)))
			rc = write_alone(b, e, in, err);
		cJSON_Delete(tree);
		return rc;
	}
	if (b->n && (b->e != e || b->n == BULK_MAX || b->bytes + in->bytes > BULK_MAX_BYTES) &&
	    (rc = bulk_flush(b, err))) {
		cJSON_Delete(tree);
		return rc;
	}
	b->e = e;
	b->bytes += in->bytes;
	h = &b->v[b->n++];
	h->in = *in;
	h->tree = tree;
	memcpy(h->uuid, uuid, sizeof(uuid));
	b->uuids[b->n - 1] = h->uuid;
	snprintf(h->updated_at, sizeof(h->updated_at), "%s",
		 forms_canonical(&FORMS_TIME_XCHG, in->updated_at, at));
	return XCHG_OK;
}

void bulk_free(bulk *b)
{
	size_t i;

	if (!b)
		return;
	for (i = 0; i < b->n; i++)
		cJSON_Delete(b->v[i].tree);
	free(b->tables);
	free(b->fresh);
	free(b->written);
	free(b->sender_id);
	free(b);
}
