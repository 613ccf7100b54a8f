#include "conflict.h"

#include <stdlib.h>
#include <string.h>

#include "changes.h"
#include "forms.h"
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
		/* Instants, never text: "2026-12-02 07:14:05" is later than "2026-12-02T07:14:03Z". */
		cmp = forms_time_cmp(remote_at, local_at);
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

/*
 * Whether in carries exactly the local version: the same time (at the
 * precision the local column keeps), state and data.
 */
static xchg_status same_version(const row_state *local, const xbuf *data, const env_entity *in,
				int *same)
{
	int in_deleted = strcmp(in->operation, "DELETE") == 0;
	cJSON *mine;

	*same = 0;
	if (!local->found || local->is_deleted != in_deleted || !in->updated_at ||
	    !forms_time_same(local->updated_at, in->updated_at))
		return XCHG_OK;
	if (in_deleted) {
		*same = 1;
		return XCHG_OK;
	}
	if (!in->data || !data->len)
		return XCHG_OK;
	if (!(mine = cJSON_ParseWithLength(data->data, data->len)))
		return XCHG_ENOMEM;
	*same = cJSON_Compare(mine, in->data, 1);
	cJSON_Delete(mine);
	return XCHG_OK;
}

xchg_status conflict_resolve(xchg_db *db, const node_row *self, const node_row *sender,
			     const plan_entity *e, const env_entity *in,
			     const char *changed_at, int *conflict, int *wins, xchg_err *err)
{
	xbuf data = {0};
	row_state local;
	char *text = NULL;
	const char *rule;
	version mine, theirs;
	int local_deleted, same;
	xchg_status rc;

	if ((rc = row_json_read(db, e, in->uuid, &data, &local, err)))
		goto done;
	local_deleted = !local.found || local.is_deleted;
	/* A copy of what is here already, such as a resent version the center echoed. */
	if (same_version(&local, &data, in, &same) != XCHG_OK) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if (same) {
		*conflict = *wins = 0;
		goto done;
	}
	*conflict = 1;
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
	/*
	 * The sender's version is now ours. A desktop drops its registration:
	 * nothing is left to send back. The center sends the winner back all
	 * the same: the desktop may meanwhile have met an earlier version of
	 * the center's, which it weighed against its own in place of the one
	 * weighed here, and decided otherwise. The center's word comes last,
	 * after the ack of this packet, so the desktop takes it without a
	 * conflict and both end on the same version.
	 */
	if (*wins && nodes_is_master(self))
		rc = changes_requeue(db->st, sender->id, e->type, in->uuid, in->operation, err);
	else if (*wins)
		rc = changes_drop(db->st, sender->id, e->type, in->uuid, err);
done:
	free(text);
	xbuf_free(&data);
	return rc;
}
