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
	conflict_entry c = {
		.kind = CONFLICT_KIND_CONFLICT,
		.entity_type = e->type,
		.entity_uuid = in->uuid,
		.peer_id = sender->id,
		.policy = rule,
		.remote_won = remote_won,
		.losing_origin = losing->origin,
		.local_updated_at = local->found ? local->updated_at : NULL,
		.remote_updated_at = in->updated_at,
		.losing_operation = losing->operation,
		.losing_version = losing->data,
		.winning_version = winning->data,
	};

	return conflict_log_add(db, &c, err);
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

xchg_status conflict_compare(xchg_db *db, const plan_entity *e, const env_entity *in,
			     local_version *out, xchg_err *err)
{
	xbuf data = {0};
	row_state local;
	xchg_status rc;

	memset(out, 0, sizeof(*out));
	if (!(rc = row_json_read(db, e, in->uuid, &data, &local, err)) &&
	    same_version(&local, &data, in, &out->same) != XCHG_OK)
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
	out->found = local.found;
	xbuf_free(&data);
	return rc;
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

/* A row that holds a unique key the incoming row claims. */
typedef struct holder {
	char *uuid;
	char *reason;    /* "unique key (code) = 'ACC-7'" */
	row_state state;
	xbuf data;
} holder;

/* "unique key (a, b) = ('x', 2)": the key by its columns and the values claimed. */
static char *key_text(const store_key *k, const cJSON *data)
{
	xbuf b = {0};
	size_t i;

	xbuf_adds(&b, "unique key (");
	for (i = 0; i < k->ncols; i++)
		xbuf_printf(&b, "%s%s", i ? ", " : "", k->cols[i]);
	xbuf_adds(&b, k->ncols > 1 ? ") = (" : ") = ");
	for (i = 0; i < k->ncols; i++) {
		const cJSON *v = cJSON_GetObjectItemCaseSensitive(data, k->cols[i]);
		char *text = cJSON_IsString(v) ? NULL : cJSON_PrintUnformatted(v);

		if (cJSON_IsString(v))
			xbuf_printf(&b, "%s'%s'", i ? ", " : "", v->valuestring);
		else
			xbuf_printf(&b, "%s%s", i ? ", " : "", text ? text : "?");
		free(text);
	}
	if (k->ncols > 1)
		xbuf_addc(&b, ')');
	return xbuf_detach(&b);
}

/* A key made of the uuid alone is the entity itself, never another's. */
static int is_uuid_key(const store_key *k)
{
	return k->ncols == 1 && strcmp(k->cols[0], "uuid") == 0;
}

/* Every other row holding one of the unique keys in's data claims, each once. */
static xchg_status find_holders(xchg_db *db, const plan_entity *e, const env_entity *in,
				holder *hs, size_t *nh, const store_key *keys, size_t nkeys,
				xchg_err *err)
{
	size_t i, j;
	char *uuid = NULL;
	xchg_status rc = XCHG_OK;

	*nh = 0;
	for (i = 0; i < nkeys && !rc; i++) {
		if (is_uuid_key(&keys[i]) ||
		    (rc = row_json_key_holder(db, e, in->uuid, (const char *const *)keys[i].cols,
					      keys[i].ncols, in->data, &uuid, err)) || !uuid)
			continue;
		for (j = 0; j < *nh && strcmp(hs[j].uuid, uuid) != 0; j++)
			;
		if (j < *nh) {
			free(uuid);
			continue;
		}
		memset(&hs[j], 0, sizeof(hs[j]));
		hs[j].uuid = uuid;
		(*nh)++;
		if (!(hs[j].reason = key_text(&keys[i], in->data)))
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
		else
			rc = row_json_read(db, e, uuid, &hs[j].data, &hs[j].state, err);
	}
	return rc;
}

/* Logs the loser of a unique-key collision; the key now belongs to winner_uuid. */
static xchg_status log_collision(xchg_db *db, const node_row *sender, const plan_entity *e,
				 const env_entity *in, const holder *h, const char *rule,
				 int remote_won, const version *losing, const char *losing_uuid,
				 const version *winning, const char *winner_uuid, xchg_err *err)
{
	char *reason = xstrdup_printf("%s is held by %s", h->reason, winner_uuid);
	conflict_entry c = {
		.kind = CONFLICT_KIND_UNIQUE_KEY,
		.entity_type = e->type,
		.entity_uuid = losing_uuid,
		.peer_id = sender->id,
		.policy = rule,
		.remote_won = remote_won,
		.losing_origin = losing->origin,
		.local_updated_at = h->state.updated_at,
		.remote_updated_at = in->updated_at,
		.losing_operation = losing->operation,
		.losing_version = losing->data,
		.winning_version = winning->data,
		.reason = reason,
	};
	xchg_status rc;

	if (!reason)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rc = conflict_log_add(db, &c, err);
	free(reason);
	return rc;
}

/*
 * Both ends weigh the same two versions with the roles swapped, through
 * decide, so they agree. A deleted holder always gives its key up: soft
 * delete keeps the row only as a trace, and a trace must not outlive a
 * live row that claims its key at one end and not at the other.
 */
static xchg_status settle(xchg_db *db, const node_row *self, const node_row *sender,
			  const plan_entity *e, const env_entity *in, holder *hs, size_t nh,
			  int *incoming_wins, int64_t *logged, xchg_err *err)
{
	const char *rule = NULL, *in_text = NULL;
	char *text = NULL;
	size_t i, against = 0;
	int wins = 1;
	version mine, theirs;
	xchg_status rc = XCHG_OK;

	for (i = 0; i < nh && wins; i++)
		if (!hs[i].state.is_deleted) {
			rule = decide(e, nodes_is_master(self), 0, hs[i].state.updated_at, 0,
				      in->updated_at, &wins);
			against = i;
		}
	if (in->data && !(in_text = text = cJSON_PrintUnformatted(in->data)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	theirs = (version){sender->code, in->operation, in_text};
	*incoming_wins = wins;
	if (!wins) {
		mine = (version){self->code, "UPDATE", hs[against].data.len ? hs[against].data.data : NULL};
		rc = log_collision(db, sender, e, in, &hs[against], rule, 0, &theirs, in->uuid, &mine,
				   hs[against].uuid, err);
		*logged += !rc;
		/* The center's word comes last (as in conflict_resolve): the sender
		 * learns what became of its row, or that the center has none. */
		if (!rc && nodes_is_master(self))
			rc = changes_requeue(db->st, sender->id, e->type, in->uuid, "UPDATE", err);
		goto done;
	}
	for (i = 0; i < nh && !rc; i++) {
		if (!hs[i].state.is_deleted) {
			mine = (version){self->code, "UPDATE", hs[i].data.len ? hs[i].data.data : NULL};
			if ((rc = log_collision(db, sender, e, in, &hs[i], rule, 1, &mine, hs[i].uuid,
						&theirs, in->uuid, err)))
				break;
			(*logged)++;
		}
		/* Removed outright: a soft-deleted row would still hold the key. */
		if (!(rc = row_json_remove(db, e, hs[i].uuid, err)) && nodes_is_master(self))
			rc = changes_requeue(db->st, sender->id, e->type, hs[i].uuid, "DELETE", err);
	}
done:
	free(text);
	return rc;
}

xchg_status conflict_collision(xchg_db *db, const node_row *self, const node_row *sender,
			       const plan_entity *e, const env_entity *in, int *found,
			       int *incoming_wins, int64_t *logged, xchg_err *err)
{
	store_key *keys = NULL;
	holder *hs = NULL;
	size_t nkeys = 0, nh = 0, i;
	xchg_status rc;

	*found = 0;
	*incoming_wins = 1;
	*logged = 0;
	/* A delete writes no key. */
	if (!in->data)
		return XCHG_OK;
	if ((rc = store_unique_keys(db->st, e->table, &keys, &nkeys, err)))
		return rc;
	if (nkeys && !(hs = calloc(nkeys, sizeof(*hs)))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = find_holders(db, e, in, hs, &nh, keys, nkeys, err)) || !nh)
		goto done;
	*found = 1;
	rc = settle(db, self, sender, e, in, hs, nh, incoming_wins, logged, err);
done:
	for (i = 0; i < nh; i++) {
		free(hs[i].uuid);
		free(hs[i].reason);
		xbuf_free(&hs[i].data);
	}
	free(hs);
	store_keys_free(keys, nkeys);
	return rc;
}
