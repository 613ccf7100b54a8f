#include "conflict.h"

#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "row_json.h"

/*
 * Both ends evaluate this with the roles swapped and must agree, so every
 * rule is symmetric: master-wins picks whichever side is the center; the
 * newer updated_at wins otherwise, and a tie also goes to the center.
 */
static int incoming_wins(plan_policy policy, int self_is_master, const char *local_at,
			 const char *remote_at)
{
	int cmp;

	if (policy == POLICY_LAST_WRITER_WINS) {
		cmp = strcmp(remote_at ? remote_at : "", local_at ? local_at : "");
		if (cmp != 0)
			return cmp > 0;
	}
	return !self_is_master;
}

static xchg_status log_conflict(xchg_db *db, const node_row *sender, const plan_entity *e,
				const env_entity *in, int remote_won, const char *origin,
				const row_state *local, const char *losing_op,
				const char *losing_version, xchg_err *err)
{
	char now[32];
	xvalue p[11];

	xnow_iso(now);
	p[0] = xv_text(e->type);
	p[1] = xv_text(in->uuid);
	p[2] = xv_text(sender->id);
	p[3] = xv_text(plan_policy_name(e->policy));
	p[4] = xv_text(remote_won ? "remote" : "local");
	p[5] = xv_text(origin);
	p[6] = xv_text(local->found ? local->updated_at : NULL);
	p[7] = xv_text(in->updated_at);
	p[8] = xv_text(losing_op);
	p[9] = xv_text(losing_version);
	p[10] = xv_text(now);
	return store_run(db->st,
			 "INSERT INTO sync_conflicts (entity_type, entity_uuid, peer_id, policy, winner,"
			 " losing_origin, local_updated_at, remote_updated_at, losing_operation,"
			 " losing_version, decided_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 p, 11, NULL, err);
}

xchg_status conflict_resolve(xchg_db *db, const node_row *self, const node_row *sender,
			     const plan_entity *e, const env_entity *in,
			     const char *changed_at, int *wins, xchg_err *err)
{
	xbuf data = {0};
	row_state local;
	char *text = NULL;
	xchg_status rc;

	if ((rc = row_json_read(db, e, in->uuid, &data, &local, err)))
		goto done;
	*wins = incoming_wins(e->policy, nodes_is_master(self),
			      local.found ? local.updated_at : changed_at, in->updated_at);
	if (*wins) {
		const char *op = local.found && !local.is_deleted ? "UPDATE" : "DELETE";

		if ((rc = log_conflict(db, sender, e, in, 1, self->code, &local, op,
				       data.len ? data.data : NULL, err)) ||
		    (rc = changes_drop(db->st, sender->id, e->type, in->uuid, err)))
			goto done;
	} else {
		if (in->data && !(text = cJSON_PrintUnformatted(in->data))) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			goto done;
		}
		rc = log_conflict(db, sender, e, in, 0, sender->code, &local, in->operation, text, err);
	}
done:
	free(text);
	xbuf_free(&data);
	return rc;
}
