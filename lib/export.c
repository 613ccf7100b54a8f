/*
 * Export: the next packet for a peer, carrying every registration the peer
 * has not acknowledged yet (formats/PACKET.md 6.1, 6.2, 6.6).
 */
#include "exchange.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "changes.h"
#include "envelope.h"
#include "forms.h"
#include "keys.h"
#include "packet.h"
#include "route.h"
#include "row_json.h"

/*
 * One entity as it travels, from the row's state now, not from the
 * registration's. A row deleted outright has no updated_at left; the time
 * its deletion was registered (changed_at) stands in, the same time a
 * conflict here would weigh it by.
 */
static xchg_status write_state(env_writer *w, const plan_entity *e, const char *uuid,
			       const char *op, const row_state *state, const char *data,
			       const char *changed_at, xchg_err *err)
{
	if (!state->found)
		return env_writer_entity(w, e->type, uuid, "DELETE", changed_at, NULL, err);
	if (state->is_deleted)
		return env_writer_entity(w, e->type, uuid, "DELETE", state->updated_at, NULL, err);
	return env_writer_entity(w, e->type, uuid, op, state->updated_at[0] ? state->updated_at : NULL,
				 data, err);
}

static xchg_status write_registration(xchg_db *db, const plan_entity *e, const char *uuid,
				      const char *reg_op, const char *changed_at,
				      env_writer *w, xbuf *data, xchg_err *err)
{
	row_state state;
	char canonical[37];
	xchg_status rc;

	/* A registration made before registrations were canonical travels canonical all the same. */
	if (forms_uuid_parse(uuid, canonical, NULL))
		uuid = canonical;
	xbuf_reset(data);
	/* The row leaves the peer's subset: its time is what a conflict there weighs. */
	if (strcmp(reg_op, "EVICT") == 0) {
		if ((rc = row_json_read(db, e, uuid, NULL, &state, err)))
			return rc;
		return env_writer_entity(w, e->type, uuid, "EVICT",
					 state.found && state.updated_at[0] ? state.updated_at : changed_at,
					 NULL, err);
	}
	if ((rc = row_json_read(db, e, uuid, data, &state, err)))
		return rc;
	return write_state(w, e, uuid, strcmp(reg_op, "INSERT") == 0 ? "INSERT" : "UPDATE", &state,
			   data->data, changed_at, err);
}

/* A failure of one entity, named; a full or failing disk names the packet file already. */
static xchg_status entity_failed(xchg_status rc, const plan_entity *e, const char *uuid,
				 xchg_err *err)
{
	if (rc != XCHG_EIO)
		xerr_prefix(err, "entity %s %s (table %s)", e->type, uuid, e->table);
	return rc;
}

/* Entities go in plan order, so parents land before whatever refers to them. */
static xchg_status write_entities(xchg_db *db, const node_row *peer, int64_t packet_no,
				  env_writer *w, int64_t *count, xchg_err *err)
{
	store_stmt *st = NULL;
	xbuf data = {0};
	xvalue uuid, op, at;
	size_t i;
	int64_t unsent = 0, unacked;
	int has_row = 0;
	xchg_status rc = XCHG_OK;

	if (db->progress.cb && (rc = changes_count(db->st, peer->id, &unsent, &unacked, err)))
		return rc;
	progress_start(&db->progress, unsent);
	for (i = 0; i < db->plan->nentities && !rc; i++) {
		const plan_entity *e = &db->plan->entities[i];

		if ((rc = changes_take(db->st, peer->id, e->type, packet_no, &st, err)))
			break;
		while (!(rc = store_step(st, &has_row, err)) && has_row) {
			store_col(st, 0, &uuid);
			store_col(st, 1, &op);
			store_col(st, 2, &at);
			if (uuid.type != XV_TEXT || op.type != XV_TEXT)
				continue;
			if ((rc = write_registration(db, e, uuid.s, op.s,
						      at.type == XV_TEXT ? at.s : NULL, w, &data, err))) {
				entity_failed(rc, e, uuid.s, err);
				break;
			}
			(*count)++;
			progress_step(&db->progress);
		}
		store_release(st);
		st = NULL;
	}
	if (!rc)
		progress_end(&db->progress);
	xbuf_free(&data);
	return rc;
}

typedef struct full_state_run {
	const plan_entity *e;
	env_writer *w;
	int64_t *count;
	progress *progress;
} full_state_run;

static xchg_status write_row(void *ctx, const char *uuid, const row_state *state,
			     const char *data, xchg_err *err)
{
	full_state_run *run = ctx;
	xchg_status rc;

	if ((rc = write_state(run->w, run->e, uuid, "INSERT", state, data, NULL, err)))
		return entity_failed(rc, run->e, uuid, err);
	(*run->count)++;
	progress_step(run->progress);
	return XCHG_OK;
}

/* The rows a full state reads, for its progress: every row of the plan's tables, at most. */
static xchg_status full_state_total(xchg_db *db, int64_t *total, xchg_err *err)
{
	int64_t n;
	size_t i;
	char *sql;
	xchg_status rc = XCHG_OK;

	*total = 0;
	for (i = 0; i < db->plan->nentities && !rc; i++) {
		if (!(sql = xstrdup_printf("SELECT count(*) FROM \"%s\"", db->plan->entities[i].table)))
			return xerr(err, XCHG_ENOMEM, "out of memory");
		if (!(rc = store_int(db->st, sql, NULL, 0, &n, NULL, err)))
			*total += n;
		free(sql);
	}
	return rc;
}

/*
 * The full state (PACKET.md 6.2): every row of every table, read from the
 * tables, not from registrations, so that a new peer costs nothing until
 * this packet. Every registration the peer has is stamped first: the rows
 * read after carry them, and a change committed after the stamp is routed
 * to the peer and travels next. A row deleted outright is in no table:
 * its registered deletion travels as such; so does the EVICT of a row that
 * left the peer's subset, which the tables read for it no longer show.
 */
static xchg_status write_full_state(xchg_db *db, const node_row *peer, int64_t packet_no,
				    env_writer *w, int64_t *count, xchg_err *err)
{
	store_stmt *st = NULL;
	xbuf data = {0};
	xvalue uuid, at, op;
	row_state state;
	size_t i;
	int64_t total = 0;
	int has_row = 0;
	xchg_status rc;

	if ((rc = changes_take_all(db->st, peer->id, packet_no, err)) ||
	    (rc = nodes_full_state_sent(db->st, peer->id, packet_no, err)) ||
	    (db->progress.cb && (rc = full_state_total(db, &total, err))))
		return rc;
	progress_start(&db->progress, total);
	for (i = 0; i < db->plan->nentities && !rc; i++) {
		full_state_run run = {&db->plan->entities[i], w, count, &db->progress};

		if ((rc = row_json_each(db, run.e, peer->id, write_row, &run, err)) ||
		    (rc = changes_deletions(db->st, peer->id, run.e->type, packet_no, &st, err)))
			break;
		while (!(rc = store_step(st, &has_row, err)) && has_row) {
			store_col(st, 0, &uuid);
			store_col(st, 1, &at);
			store_col(st, 2, &op);
			if (uuid.type != XV_TEXT || op.type != XV_TEXT)
				continue;
			/* Routing and subset changes keep an EVICT only for a row the peer does not receive. */
			if (strcmp(op.s, "EVICT") == 0) {
				if ((rc = write_registration(db, run.e, uuid.s, op.s,
							      at.type == XV_TEXT ? at.s : NULL, w, &data,
							      err))) {
					entity_failed(rc, run.e, uuid.s, err);
					break;
				}
				(*count)++;
				continue;
			}
			if ((rc = row_json_read(db, run.e, uuid.s, NULL, &state, err)))
				break;
			if (state.found)
				continue; /* read with its table */
			if ((rc = write_state(w, run.e, uuid.s, "DELETE", &state, NULL,
					      at.type == XV_TEXT ? at.s : NULL, err))) {
				entity_failed(rc, run.e, uuid.s, err);
				break;
			}
			(*count)++;
		}
		store_release(st);
		st = NULL;
	}
	if (!rc)
		progress_end(&db->progress);
	xbuf_free(&data);
	return rc;
}

/* The key a sealed packet is sealed to: the one registered for the peer. */
static xchg_status peer_seal_key(const node_row *peer, unsigned char *pk, xchg_err *err)
{
	if (!peer->public_key || keys_decode_public(peer->public_key, pk, err))
		return xerr(err, XCHG_EFAIL, "node %s: no valid public key registered to seal to",
			    peer->code);
	return XCHG_OK;
}

typedef struct export_job {
	xchg_db *db;
	const node_row *self;
	const char *peer_code;
	const char *dir;
	unsigned flags;         /* XCHG_EXPORT_* */
	xchg_export_result *res;
} export_job;

/* One attempt's state, from the number reserved to the file published. */
typedef struct export_try {
	node_row peer;
	env_header h;
	keypair kp;
	packet_writer *pw;
	char msgid[37], now[32];
	time_t created;
} export_try;

/*
 * Inside the transaction: the peer, under its link's lock (another xchg
 * may have just moved its counters), and the next packet number for it,
 * recorded as sent, with the header that packet carries.
 */
static xchg_status reserve_number(export_job *job, export_try *t, xchg_err *err)
{
	xchg_db *db = job->db;
	const node_row *self = job->self;
	env_header *h = &t->h;
	xchg_export_result *res = job->res;
	int found = 0;
	xchg_status rc;

	if ((rc = route_pending(db->st, err)) || (rc = store_lock(db->st, job->peer_code, err)) ||
	    (rc = nodes_by_code(db->st, job->peer_code, &t->peer, &found, err)))
		return rc;
	if (!found || t->peer.is_self)
		return xerr(err, XCHG_ENOTFOUND, "node %s: %s", job->peer_code,
			    found ? "is this node itself, not a peer" : "no such peer (see xchg status)");
	if (t->peer.revoked_at)
		return xerr(err, XCHG_EFAIL, "node %s: revoked on %s; nothing is exported to it",
			    job->peer_code, t->peer.revoked_at);
	res->packet_no = t->peer.sent_packet_no + 1;
	res->ack_packet_no = t->peer.received_packet_no;
	t->created = xnow_iso_seconds(t->now);
	if ((rc = nodes_received_listed(db->st, t->peer.id, &h->received, &h->n_received, err)) ||
	    (rc = nodes_record_sent(db->st, t->peer.id, res->packet_no, t->now,
				    h->n_received ? h->received[h->n_received - 1].packet_no : 0, err)))
		return rc;
	xkill_point("export.numbered");
	xuuid4(t->msgid);
	h->message_id = t->msgid;
	h->schema_version = db->plan->schema_version;
	h->sender_id = self->id;
	h->recipient_id = t->peer.id;
	h->sender = self->code;
	h->recipient = t->peer.code;
	h->created_at = t->now;
	h->packet_no = res->packet_no;
	h->ack_packet_no = res->ack_packet_no;
	h->ack_created_at = t->peer.received_created_at;
	h->key_chain = self->key_chain;
	h->full_state = t->peer.full_state != NODE_FULL_NONE;
	h->resync = t->peer.wants_full_state;
	return XCHG_OK;
}

/* The packet, complete and flushed under its hidden temporary name (packet.h). */
static xchg_status write_packet(export_job *job, export_try *t, xchg_err *err)
{
	int sealed = (job->flags & XCHG_EXPORT_ENCRYPT) != 0;
	unsigned char seal_pk[crypto_sign_PUBLICKEYBYTES];
	env_writer *w = NULL;
	char *name;
	xchg_status rc;

	if (!(name = exchange_packet_name(job->self->code, t->peer.code, t->h.packet_no, sealed)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if ((sealed && (rc = peer_seal_key(&t->peer, seal_pk, err))) ||
	    (rc = packet_writer_open_sealed(&t->pw, job->dir, name, t->kp.sk, sealed ? seal_pk : NULL,
					    t->created, err)) ||
	    (rc = env_writer_new(&w, &t->h, packet_writer_write, t->pw, err)) ||
	    (rc = (t->h.full_state ? write_full_state : write_entities)(
		     job->db, &t->peer, t->h.packet_no, w, &job->res->entities, err)))
		goto done;
	job->res->full_state = t->h.full_state;
	xkill_point("export.marked");
	if ((rc = env_writer_finish(w, err)))
		goto done;
	xkill_point("export.written");
	rc = packet_writer_finish(t->pw, err);
done:
	env_writer_free(w);
	free(name);
	return rc;
}

/*
 * Commit, then publish. The packet is complete and flushed under its
 * hidden temporary name; only after the database has committed the new
 * number does the rename make it visible. A crash before the commit
 * leaves no packet (the temp file is never picked up) and the number
 * unused; a crash between commit and rename leaves a number no packet
 * carries, which the next, cumulative packet covers. Never is a packet
 * published whose number the database could hand out again.
 */
static xchg_status commit_then_publish(export_job *job, export_try *t, int *in_tx, xchg_err *err)
{
	xchg_status rc;

	xkill_point("export.synced");
	if ((rc = store_commit(job->db->st, err)))
		return rc;
	*in_tx = 0;
	xkill_point("export.committed");
	if ((rc = packet_writer_publish(t->pw, err)))
		return rc;
	xkill_point("export.published");
	if (!(job->res->path = strdup(packet_writer_path(t->pw))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	return XCHG_OK;
}

static xchg_status export_once(void *ctx, xchg_err *err)
{
	export_job *job = ctx;
	export_try t;
	int in_tx = 0;
	xchg_status rc;

	memset(job->res, 0, sizeof(*job->res));
	memset(&t, 0, sizeof(t));
	if ((rc = db_signing_key(job->db, job->self, &t.kp, err)) || (rc = store_begin(job->db->st, err)))
		goto done;
	in_tx = 1;
	if (!(rc = reserve_number(job, &t, err)) && !(rc = write_packet(job, &t, err)))
		rc = commit_then_publish(job, &t, &in_tx, err);
done:
	if (in_tx)
		store_rollback(job->db->st);
	packet_writer_free(t.pw);
	keys_wipe(&t.kp);
	node_row_clear(&t.peer);
	env_received_free(t.h.received, t.h.n_received);
	return rc;
}

xchg_status exchange_export(xchg_db *db, const node_row *self, const char *peer_code,
			    const char *dir, unsigned flags, xchg_export_result *res,
			    xchg_err *err)
{
	export_job job = {db, self, peer_code, dir, flags, res};

	return store_retry(db->st, export_once, &job, err);
}

char *exchange_packet_name(const char *sender, const char *recipient, int64_t packet_no,
			   int sealed)
{
	/* Not .zip alone: a sealed file is no ZIP until it is opened (PACKET.md 8). */
	return xstrdup_printf("pkt_%s_%s_%lld.zip%s", sender, recipient, (long long)packet_no,
			      sealed ? SEAL_SUFFIX : "");
}

/* N of .pkt_<sender>_<recipient>_<N>.zip[.sealed].tmp; 0 for any other name. */
static int64_t temporary_number(const char *name, const char *sender, const char *recipient)
{
	size_t ns = strlen(sender), nr = strlen(recipient);
	const char *p = name, *end;
	int64_t n = 0;

	if (strncmp(p, ".pkt_", 5) != 0 || strncmp(p += 5, sender, ns) != 0 || p[ns] != '_' ||
	    strncmp(p += ns + 1, recipient, nr) != 0 || p[nr] != '_')
		return 0;
	for (p += nr + 1; *p >= '0' && *p <= '9' && n < (INT64_MAX - 9) / 10; p++)
		n = n * 10 + (*p - '0');
	end = strncmp(p, ".zip", 4) == 0 ? p + 4 : NULL;
	if (end && strncmp(end, SEAL_SUFFIX, strlen(SEAL_SUFFIX)) == 0)
		end += strlen(SEAL_SUFFIX);
	return end && strcmp(end, ".tmp") == 0 ? n : 0;
}

/*
 * An export holds the link's lock from taking its number to its commit, so
 * under the lock a temporary numbered past the last number committed is no
 * export's any more. One at or below it is being published, or a crash
 * left it between the commit and the rename: sync sweeps that by its age.
 */
xchg_status exchange_remove_abandoned(xchg_db *db, const node_row *self, const char *peer_code,
				      const char *dir, const char *name, int *removed,
				      xchg_err *err)
{
	int64_t n = temporary_number(name, self->code, peer_code);
	node_row peer = {0};
	char *path = NULL;
	int found = 0;
	xchg_status rc;

	*removed = 0;
	if (!n)
		return XCHG_OK;
	if (!(path = xstrdup_printf("%s/%s", dir, name)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if (!(rc = store_begin(db->st, err))) {
		if (!(rc = store_lock(db->st, peer_code, err)) &&
		    !(rc = nodes_by_code(db->st, peer_code, &peer, &found, err)) && found &&
		    n > peer.sent_packet_no) {
			if (unlink(path) == 0)
				*removed = 1;
			else if (errno != ENOENT)
				rc = xerr(err, XCHG_EIO, "%s: cannot remove: %s", path, strerror(errno));
		}
		store_rollback(db->st);
	}
	node_row_clear(&peer);
	free(path);
	return rc;
}

xchg_status xchg_export(xchg_db *db, const char *peer, const char *out_dir,
			xchg_export_result *res, xchg_err *err)
{
	xchg_export_opts opts = XCHG_EXPORT_OPTS_INIT;

	opts.out_dir = out_dir;
	return xchg_export_with(db, peer, &opts, res, err);
}

xchg_status xchg_export_with(xchg_db *db, const char *peer, const xchg_export_opts *opts,
			     xchg_export_result *res, xchg_err *err)
{
	static const xchg_export_opts defaults = XCHG_EXPORT_OPTS_INIT;
	node_row self = {0};
	xchg_status rc;

	memset(res, 0, sizeof(*res));
	if (!opts)
		opts = &defaults;
	if ((rc = xcheck_opts(opts->version, XCHG_EXPORT_OPTS_VERSION, "xchg_export_opts",
			      "XCHG_EXPORT_OPTS_INIT", err)))
		return rc;
	if (opts->flags & ~(unsigned)XCHG_EXPORT_ENCRYPT)
		return xerr(err, XCHG_EUSAGE, "xchg_export_with: unknown flags 0x%x",
			    opts->flags & ~(unsigned)XCHG_EXPORT_ENCRYPT);
	if ((rc = xcheck_code(peer, err)) || (rc = db_ready(db, err)) ||
	    (rc = nodes_self_required(db->st, &self, err)))
		return rc;
	db->progress = (progress){.cb = opts->progress, .ctx = opts->progress_ctx};
	rc = exchange_export(db, &self, peer, opts->out_dir, opts->flags, res, err);
	db->progress.cb = NULL;
	node_row_clear(&self);
	return rc;
}

void xchg_export_result_clear(xchg_export_result *res)
{
	if (res) {
		free(res->path);
		memset(res, 0, sizeof(*res));
	}
}

