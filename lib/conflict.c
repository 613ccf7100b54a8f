#include "conflict.h"

#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "row_json.h"

/*
 * Both ends evaluate this with the roles swapped and must agree, so every
 * rule is symmetric: a delete against an edit goes the way the plan's
 * delete rule says; master-wins picks whichever side is the center; the
 * newer updated_at wins otherwise, and a tie also goes to the center.
 * Returns the name of the rule that decided, for the conflict log.
 */
static const char *decide(const plan_entity *e, int self_is_master, int local_deleted,
			  const char *local_at, int remote_deleted, const char *remote_at,
			  int *incoming_wins)
{
	int cmp;

	if (local_deleted != remote_deleted && e->delete_rule != DELETE_BY_POLICY) {
		*incoming_wins = remote_deleted == (e->delete_rule == DELETE_WINS);
		return plan_delete_rule_name(e->delete_rule);
	}
	if (e->policy == POLICY_LAST_WRITER_WINS) {
		cmp = strcmp(remote_at ? remote_at : "", local_at ? local_at : "");
		if (cmp != 0) {
			*incoming_wins = cmp > 0;
			return plan_policy_name(e->policy);
		}
	}
	*incoming_wins = !self_is_master;
	return plan_policy_name(e->policy);
}

/* Both versions as they stood when the rule decided; a delete may have no data. */
typedef struct version {
	const char *origin;
	const char *operation;
	const char *data;
} version;

static xchg_status log_conflict(xchg_db *db, const node_row *sender, const plan_entity *e,
				const env_entity *in, const row_state *local, const char *rule,
				int remote_won, const version *losing, const version *winning,
				xchg_err *err)
{
	char now[32];
	xvalue p[12];

	xnow_iso(now);
	p[0] = xv_text(e->type);
	p[1] = xv_text(in->uuid);
	p[2] = xv_text(sender->id);
	p[3] = xv_text(rule);
	p[4] = xv_text(remote_won ? "remote" : "local");
	p[5] = xv_text(losing->origin);
	p[6] = xv_text(local->found ? local->updated_at : NULL);
	p[7] = xv_text(in->updated_at);
	p[8] = xv_text(losing->operation);
	p[9] = xv_text(losing->data);
	p[10] = xv_text(winning->data);
	p[11] = xv_text(now);
	return store_run(db->st,
			 "INSERT INTO sync_conflicts (entity_type, entity_uuid, peer_id, policy, winner,"
			 " losing_origin, local_updated_at, remote_updated_at, losing_operation,"
			 " losing_version, winning_version, decided_at)"
			 " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			 p, 12, NULL, err);
}

xchg_status conflict_resolve(xchg_db *db, const node_row *self, const node_row *sender,
			     const plan_entity *e, const env_entity *in,
			     const char *changed_at, int *wins, xchg_err *err)
{
	xbuf data = {0};
	row_state local;
	char *text = NULL;
	const char *rule;
	version mine, theirs;
	int local_deleted;
	xchg_status rc;

	if ((rc = row_json_read(db, e, in->uuid, &data, &local, err)))
		goto done;
	local_deleted = !local.found || local.is_deleted;
	rule = decide(e, nodes_is_master(self), local_deleted,
		      local.found ? local.updated_at : changed_at, strcmp(in->operation, "DELETE") == 0,
		      in->updated_at, wins);
	if (in->data && !(text = cJSON_PrintUnformatted(in->data))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	mine = (version){self->code, local_deleted ? "DELETE" : "UPDATE", data.len ? data.data : NULL};
	theirs = (version){sender->code, in->operation, text};
	if ((rc = log_conflict(db, sender, e, in, &local, rule, *wins, *wins ? &mine : &theirs,
			       *wins ? &theirs : &mine, err)))
		goto done;
	/* The sender's version is now ours: nothing left to send it back. */
	if (*wins)
		rc = changes_drop(db->st, sender->id, e->type, in->uuid, err);
done:
	free(text);
	xbuf_free(&data);
	return rc;
}
