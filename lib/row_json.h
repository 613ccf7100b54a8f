/*
 * The generic serializer: a synchronized row (with its child rows) to the
 * JSON object that travels as an entity's "data", and back. Column names come
 * from the plan and the database's own catalogue, never from a packet.
 */
#ifndef XCHG_ROW_JSON_H
#define XCHG_ROW_JSON_H

#include <cjson/cJSON.h>

#include "db.h"

/* Integers beyond this magnitude travel as strings: JSON readers keep doubles. */
#define ROW_JSON_MAX_SAFE_INT 9007199254740992LL /* 2^53 */

typedef struct row_state {
	int found;
	int is_deleted;
	char updated_at[40];
} row_state;

/*
 * Reads the row of entity e with this uuid. When found and not deleted, its
 * data object (children included) is appended to data (which may be NULL to
 * read the state only).
 */
xchg_status row_json_read(xchg_db *db, const plan_entity *e, const char *uuid,
			  xbuf *data, row_state *state, xchg_err *err);

/*
 * Calls fn for every row of entity e's table that has a uuid (that peer
 * receives, unless peer_id is NULL: formats/PLAN.md, "Subsets"), in uuid
 * order: its canonical uuid, its state, and its data object (children
 * included), NULL when it is deleted. Stops at the first failure.
 */
typedef xchg_status (*row_json_fn)(void *ctx, const char *uuid, const row_state *state,
				   const char *data, xchg_err *err);
xchg_status row_json_each(xchg_db *db, const plan_entity *e, const char *peer_id,
			  row_json_fn fn, void *ctx, xchg_err *err);

/*
 * Inserts or updates the row from data and replaces its children with the
 * set in data. absent: the caller has just looked, and no row holds uuid,
 * so the row is inserted without trying an update first.
 */
xchg_status row_json_apply(xchg_db *db, const plan_entity *e, const char *uuid,
			   const char *updated_at, const cJSON *data, int absent, xchg_err *err);

/* A row that is not here yet: its canonical uuid and time, and its data object. */
typedef struct row_json_new {
	const char *uuid;
	const char *updated_at;
	const cJSON *data;
} row_json_new;

/*
 * What row_json_apply does for each of n rows of entity e, none of which,
 * nor any of whose child rows, is here: they are inserted, children and
 * all, as many to a statement as its parameters allow. When a row's data
 * is at fault *at is its index, else n.
 */
xchg_status row_json_insert(xchg_db *db, const plan_entity *e, const row_json_new *rows,
			    size_t n, size_t *at, xchg_err *err);

/* Marks the row deleted (is_deleted = true); a row never seen is left absent. */
xchg_status row_json_delete(xchg_db *db, const plan_entity *e, const char *uuid,
			    const char *updated_at, xchg_err *err);

/*
 * The uuid of the row of e's table, other than uuid's own, whose columns
 * cols hold the values data gives them: the row holding that unique key
 * here. *holder (the caller frees it) is NULL when there is none, and when
 * data gives a column no value or NULL, which holds no key.
 */
xchg_status row_json_key_holder(xchg_db *db, const plan_entity *e, const char *uuid,
				const char *const *cols, size_t ncols, const cJSON *data,
				char **holder, xchg_err *err);

/* Deletes the row and its children outright; the triggers register it as deleted. */
xchg_status row_json_remove(xchg_db *db, const plan_entity *e, const char *uuid, xchg_err *err);

/* Appends one SQL value as JSON. */
int row_json_value(xbuf *b, const xvalue *v);

#endif
