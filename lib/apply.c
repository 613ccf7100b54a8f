#include "apply.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "conflict.h"
#include "forms.h"
#include "row_json.h"
#include "subsets.h"

/*
 * An application may be changing this entity right now; its registration
 * is invisible until it commits. Holding the row and its children first
 * makes the conflict check see that change, so it is decided as a conflict
 * instead of being overwritten.
 */
static xchg_status lock_entity(xchg_db *db, const plan_entity *e, const char *uuid,
			       xchg_err *err)
{
	size_t i;
	xchg_status rc = store_lock_rows(db->st, e->table, "uuid", uuid, err);

	for (i = 0; i < e->nchildren && !rc; i++)
		rc = store_lock_rows(db->st, e->children[i].table, e->children[i].parent_column,
				     uuid, err);
	return rc;
}

/*
 * outside: the row is here and outside the sender's subset, so what the
 * sender holds of it is a copy it should no longer have (kept across a
 * restore, say): any difference is weighed like a conflict.
 */
static xchg_status weigh_and_write(xchg_db *db, const node_row *self, const node_row *sender,
				   const plan_entity *e, const env_entity *in, unsigned flags,
				   int outside, apply_result *r, xchg_err *err)
{
	char now[32], changed_at[40];
	int found = 0, conflict = 0, wins = 1, absent = 0;
	local_version local;
	xchg_status rc;

	if ((rc = changes_find(db->st, sender->id, e->type, in->uuid, &found, changed_at, err)))
		return rc;
	/*
	 * The row left this node's subset at the center (PACKET.md 6.13): it is
	 * removed here with its children, and the removal goes nowhere, since
	 * the center is this node's only peer and the origin of the change. An
	 * EVICT is never weighed here: a change of this node's that crosses it,
	 * or the row in the full state this node owes the center, is weighed at
	 * the center, which holds every version, and the center sends the EVICT
	 * again once it has that version (write_entity). Until then the row
	 * stays, so that the version leaves as it was made.
	 */
	if (strcmp(in->operation, "EVICT") == 0) {
		if (found || sender->full_state != NODE_FULL_NONE)
			return XCHG_OK;
		rc = row_json_remove(db, e, in->uuid, err);
		r->applied = !rc;
		return rc;
	}
	if (!found) {
		if ((rc = conflict_compare(db, e, in, &local, err)))
			return rc;
		absent = !local.found;
		/*
		 * A version that is exactly this node's changes nothing here, such as
		 * what a full state carries back, or a change the sender carries again
		 * until its packet is acknowledged. Written again it would only be
		 * captured and sent on to every other peer, where it could overtake
		 * what they changed since.
		 */
		if (local.same)
			return XCHG_OK;
		/*
		 * This node's full state on its way to the sender counts as every row
		 * sent and not acknowledged: the sender weighs it against its own
		 * changes, and this end must decide alike. A sender that went back
		 * in time may send a version that lost here, or to this node's,
		 * before it went back, whatever its time says: every difference is
		 * decided by the policy, and the loser kept in the conflict log.
		 */
		found = local.found && (sender->full_state > 0 || (flags & APPLY_SUSPECT) || outside);
	}
	if (found) {
		if ((rc = conflict_resolve(db, self, sender, e, in, changed_at, &conflict, &wins, err)))
			return rc;
		r->conflicts += conflict;
		if (!wins)
			return XCHG_OK;
	}
	xnow_iso(now);
	if (strcmp(in->operation, "DELETE") == 0)
		rc = row_json_delete(db, e, in->uuid, in->updated_at ? in->updated_at : now, err);
	else
		rc = row_json_apply(db, e, in->uuid, in->updated_at ? in->updated_at : now,
				    in->data, absent, err);
	r->applied = !rc;
	return rc;
}

static xchg_status write_entity(xchg_db *db, const node_row *self, const node_row *sender,
				const plan_entity *e, const env_entity *in, unsigned flags,
				apply_result *r, xchg_err *err)
{
	int master = nodes_is_master(self), outside = 0;
	xchg_status rc;

	if (strcmp(in->operation, "EVICT") == 0 && master)
		return xerr(err, XCHG_EPACKET, "EVICT comes only from the center: this node is the"
			    " center, which holds every row");
	if ((rc = lock_entity(db, e, in->uuid, err)) ||
	    (master && e->subset_column &&
	     (rc = subsets_outside(db, e, sender->id, in->uuid, &outside, err))) ||
	    (rc = weigh_and_write(db, self, sender, e, in, flags, outside, r, err)))
		return rc;
	/*
	 * The sender keeps a row it should not hold, and this node's version
	 * stays: it is removed there (PACKET.md 6.13). A version that was
	 * applied is routed as such, an EVICT to its origin among it.
	 */
	if (outside && !r->applied)
		rc = changes_requeue(db->st, sender->id, e->type, in->uuid, "EVICT", err);
	return rc;
}

/* The fault of the row itself that rc stands for, its words kept in r; else OTHER. */
static store_fault row_fault(xchg_db *db, xchg_status rc, apply_result *r)
{
	const char *msg = NULL;
	store_fault f;

	if (rc != XCHG_EDB || (f = store_last_fault(db->st, &msg)) == STORE_FAULT_OTHER)
		return STORE_FAULT_OTHER;
	snprintf(r->reason, sizeof(r->reason), "%s", msg);
	return f;
}

/* Undoes the attempt: the savepoint stays set, and r forgets what was counted. */
static xchg_status undo(xchg_db *db, apply_result *r, xchg_err *err)
{
	r->applied = 0;
	r->conflicts = 0;
	return store_savepoint_undo(db->st, err);
}

xchg_status apply_entity(xchg_db *db, const node_row *self, const node_row *sender,
			 const env_entity *in, unsigned flags, apply_result *r, xchg_err *err)
{
	const plan_entity *e = plan_find(db->plan, in->type);
	char uuid[37], at[FORMS_TEXT_MAX];
	env_entity canonical = *in;
	store_fault fault;
	int found = 0, wins = 1;
	int64_t logged = 0;
	xchg_status rc;

	memset(r, 0, sizeof(*r));
	if (!e)
		return xerr(err, XCHG_EPACKET, "unknown entity type \"%.64s\" (not in this node's plan)",
			    in->type);
	/* Registrations and the conflict log know an entity by its canonical uuid and time. */
	if (forms_uuid_parse(in->uuid, uuid, NULL))
		canonical.uuid = uuid;
	canonical.updated_at = forms_canonical(&FORMS_TIME_XCHG, in->updated_at, at);
	in = &canonical;
	if (!(flags & APPLY_GUARDED))
		return write_entity(db, self, sender, e, in, flags, r, err);
	if ((rc = store_savepoint(db->st, err)))
		return rc;
	if (!(rc = write_entity(db, self, sender, e, in, flags, r, err)))
		return store_savepoint_release(db->st, err);
	if ((fault = row_fault(db, rc, r)) == STORE_FAULT_OTHER)
		return rc;
	if ((rc = undo(db, r, err)))
		return rc;
	if ((fault == STORE_FAULT_UNIQUE || fault == STORE_FAULT_FOREIGN_KEY) &&
	    (flags & APPLY_DEFER)) {
		r->collided = 1;
		return store_savepoint_release(db->st, err);
	}
	if (fault == STORE_FAULT_UNIQUE) {
		if ((rc = conflict_collision(db, self, sender, e, in, &found, &wins, &logged, err)))
			return rc;
		if (found && !wins) {
			r->conflicts = logged;
			return store_savepoint_release(db->st, err);
		}
		/* The holders are gone: stored now, unless the schema refuses the row itself. */
		if (found && !(rc = write_entity(db, self, sender, e, in, flags, r, err))) {
			r->conflicts += logged;
			return store_savepoint_release(db->st, err);
		}
		if (found && row_fault(db, rc, r) == STORE_FAULT_OTHER)
			return rc;
		/* The holders stay after all: the row they gave way to is not stored. */
		if (found && (rc = undo(db, r, err)))
			return rc;
	}
	r->refused = 1;
	return store_savepoint_release(db->st, err);
}

xchg_status apply_log_refused(xchg_db *db, const node_row *sender, const env_entity *in,
			      const char *reason, xchg_err *err)
{
	const plan_entity *e = plan_find(db->plan, in->type);
	xbuf local = {0};
	row_state state;
	char *text = NULL;
	conflict_entry c = {
		.kind = CONFLICT_KIND_REFUSED,
		.entity_type = in->type,
		.entity_uuid = in->uuid,
		.peer_id = sender->id,
		.policy = "schema",
		.losing_origin = sender->code,
		.remote_updated_at = in->updated_at,
		.losing_operation = in->operation,
		.reason = reason,
	};
	xchg_status rc;

	if (!e)
		return xerr(err, XCHG_EPACKET, "unknown entity type \"%.64s\"", in->type);
	if (in->data && !(text = cJSON_PrintUnformatted(in->data))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	/* An older version the peer sent of this entity is this one's past. */
	if ((rc = conflict_log_supersede(db, sender->id, in->type, in->uuid, text ? text : "", err)) ||
	    (rc = row_json_read(db, e, in->uuid, &local, &state, err)))
		goto done;
	c.local_updated_at = state.found ? state.updated_at : NULL;
	c.losing_version = text;
	c.winning_version = local.len ? local.data : NULL;
	rc = conflict_log_add(db, &c, err);
done:
	free(text);
	xbuf_free(&local);
	return rc;
}
