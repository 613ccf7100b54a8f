/*
 * A packet's new rows, written many at a time. The first packet to a new
 * node carries every row of its peer, and one entity at a time that is
 * several statements each (look for a registered change, read the local
 * row, insert, replace the children): on PostgreSQL each a round trip.
 * Here a run of entities of one type is looked up with one statement per
 * table, and those that are new here in every respect (no row, no child
 * row, no registration) are inserted with multi-row statements; every
 * other entity is handed back, in the packet's order, to be applied one at
 * a time as before. The outcome is the same as applying each in turn.
 *
 * Only for an import that runs unguarded: a row the schema refuses fails
 * the whole packet, which then runs again entity by entity (import.c), so
 * that the refused row is found and kept aside.
 */
#ifndef XCHG_BULK_H
#define XCHG_BULK_H

#include "db.h"
#include "envelope.h"

typedef struct bulk bulk;

/*
 * Called for every entity given to bulk_add, in the order given: inserted
 * says bulk wrote it; else the callee applies it. in stays valid during
 * the call only.
 */
typedef xchg_status (*bulk_fn)(void *ctx, const env_entity *in, int inserted, xchg_err *err);

/* sender_id: the peer whose packet this is (whose registrations count as changes here). */
xchg_status bulk_new(bulk **out, xchg_db *db, const char *sender_id, bulk_fn fn, void *ctx,
		     xchg_err *err);
/*
 * Takes entity in and tree, what in points into (env_reader_take), which
 * bulk frees. The entity is held for a batch, or, when it cannot be one of
 * a batch, the batch is written and in handed to fn at once.
 */
xchg_status bulk_add(bulk *b, const env_entity *in, cJSON *tree, xchg_err *err);
/* Writes what is held; call at the end of the entities. */
xchg_status bulk_flush(bulk *b, xchg_err *err);
void bulk_free(bulk *b);

#endif
