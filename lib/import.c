/*
 * Import: packets from files and folders, each sender's in ascending number,
 * each applied in one transaction that commits only once the signature has
 * verified; then an acknowledgement to every sender something came from.
 */
#include "exchange.h"

#include <dirent.h>
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "apply.h"
#include "bulk.h"
#include "changes.h"
#include "conflict.h"
#include "envelope.h"
#include "keys.h"
#include "forms.h"
#include "packet.h"
#include "prefetch.h"
#include "prune.h"
#include "restore.h"
#include "route.h"

typedef struct candidate {
	char *path;
	int named;       /* named on the command line, not found in a folder */
	env_header h;
} candidate;

typedef struct candidates {
	candidate *v;
	size_t n;
} candidates;

typedef struct import_run {
	xchg_db *db;
	node_row self;
	xchg_import_cb cb;
	void *ctx;
	int refused;            /* some packet was refused */
	xchg_status failed;     /* the first local failure, if any */
	xchg_status unacked;    /* the first acknowledgement not written, if any */
	keypair kp;             /* this node's key, once a sealed packet needed it */
	int have_key;
	int guarded;            /* the packet runs again, each entity in a savepoint */
	int row_fault;          /* an entity failed by a fault of its own row */
	int64_t open_refused;   /* the sender's rows refused here and still open */
	int full_state;         /* the packet carries its sender's every row */
	int suspect;            /* its sender went back in time, or asks as if it had */
	int pruning;            /* the center's full state to a desktop: what it leaves out goes */
} import_run;

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n > k && strcmp(s + n - k, suffix) == 0;
}

/*
 * Only what is named like a packet: a shared folder holds other files too
 * (photos.zip), which are none of xchg's business. Hidden files include
 * the exporters' temporaries, never complete.
 */
static int is_packet_name(const char *name)
{
	return strncmp(name, "pkt_", 4) == 0 &&
	       (ends_with(name, ".zip") || ends_with(name, ".zip" SEAL_SUFFIX));
}

/*
 * pkt_<sender>_<code>_<number>.zip[.sealed]: what the name claims, never
 * trusted, only used to decide whether an unopenable packet in a folder is
 * this node's business (PACKET.md 8.3) and which link to blame for it.
 * Codes may hold '_', so the name is read from its ends: the number, then
 * code. The claimed sender goes to sender (size bytes) when given.
 */
static int name_addresses(const char *path, const char *code, char *sender, size_t size)
{
	const char *base = strrchr(path, '/'), *ext, *num;
	size_t k = strlen(code), n;

	base = base ? base + 1 : path;
	if (strncmp(base, "pkt_", 4) != 0 || !(ext = strstr(base, ".zip")))
		return 0;
	for (num = ext; num > base && num[-1] >= '0' && num[-1] <= '9'; num--)
		;
	/* "pkt_" + a sender of 1 or more + "_" + code + "_" + 1 or more digits */
	if (!(num < ext && (size_t)(num - base) >= 4 + 1 + 1 + k + 1 && num[-1] == '_' &&
	      strncmp(num - 1 - k, code, k) == 0 && num[-2 - (long)k] == '_'))
		return 0;
	if (sender) {
		n = (size_t)(num - 2 - (long)k - (base + 4));
		snprintf(sender, size, "%.*s", (int)(n < size ? n : size - 1), base + 4);
	}
	return 1;
}

/* pkt_A_B_N.zip: a name that addresses someone, unlike pkt_photos.zip. */
static int name_addresses_anyone(const char *path)
{
	const char *base = strrchr(path, '/'), *ext, *num, *under;

	base = base ? base + 1 : path;
	if (!(ext = strstr(base, ".zip")))
		return 0;
	for (num = ext; num > base && num[-1] >= '0' && num[-1] <= '9'; num--)
		;
	under = strchr(base + 4, '_');
	return num < ext && num[-1] == '_' && under && under > base + 4 && under + 1 < num - 1;
}

/* Messages name the packet first; one that does not yet is prefixed with it. */
static void emit(import_run *run, xchg_outcome outcome, const char *path, const env_header *h,
		 int64_t entities, int64_t conflicts, int64_t refused, const char *message)
{
	xchg_import_event ev = {outcome, path, h ? h->sender : NULL, h ? h->packet_no : 0,
				entities, conflicts, message, refused};
	char *named = NULL, claimed[XCODE_MAX + 1];

	/* An unreadable packet is blamed on the link its name claims. */
	if (!h && name_addresses(path, run->self.code, claimed, sizeof(claimed)) &&
	    xchg_code_valid(claimed))
		ev.sender = claimed;
	if (message && (named = strncmp(message, path, strlen(path)) != 0 ?
				xstrdup_printf("%s: %s", path, message) : xstrdup(message)))
		ev.message = xchg_scrub(named);
	else if (message)
		ev.message = "out of memory";
	if (run->cb)
		run->cb(&ev, run->ctx);
	free(named);
}

/* A packet not applied: refused when the packet is at fault, failed when this node is. */
static void emit_failure(import_run *run, const char *path, const env_header *h,
			 const xchg_err *why)
{
	int refused = why->code == XCHG_EPACKET;

	if (refused)
		run->refused = 1;
	else if (!run->failed)
		run->failed = why->code;
	emit(run, refused ? XCHG_REFUSED : XCHG_FAILED, path, h, 0, 0, 0, why->msg);
}

static xchg_status add_candidate(candidates *c, const char *path, int named, xchg_err *err)
{
	candidate *grown;

	if (!(grown = realloc(c->v, (c->n + 1) * sizeof(*grown))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	c->v = grown;
	memset(&c->v[c->n], 0, sizeof(c->v[0]));
	if (!(c->v[c->n].path = strdup(path)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	c->v[c->n++].named = named;
	return XCHG_OK;
}

static void candidates_free(candidates *c)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		free(c->v[i].path);
		env_header_clear(&c->v[i].h);
	}
	free(c->v);
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

static xchg_status scan_folder(candidates *c, const char *dir, xchg_err *err)
{
	struct dirent **names = NULL;
	struct stat sb;
	char *path;
	int n, i;
	xchg_status rc = XCHG_OK;

	if ((n = scandir(dir, &names, NULL, by_name)) < 0)
		return xerr(err, XCHG_EIO, "%s: cannot list folder: %s", dir, strerror(errno));
	for (i = 0; i < n; i++) {
		if (!rc && is_packet_name(names[i]->d_name)) {
			if (!(path = xstrdup_printf("%s/%s", dir, names[i]->d_name)))
				rc = xerr(err, XCHG_ENOMEM, "out of memory");
			else if (stat(path, &sb) == 0 && S_ISREG(sb.st_mode))
				rc = add_candidate(c, path, 0, err);
			free(path);
		}
		free(names[i]);
	}
	free(names);
	return rc;
}

static xchg_status gather(candidates *c, const char *const *paths, size_t npaths, xchg_err *err)
{
	struct stat sb;
	size_t i;
	xchg_status rc;

	for (i = 0; i < npaths; i++) {
		if (stat(paths[i], &sb) != 0)
			return xerr_sys(err, paths[i], NULL);
		rc = S_ISDIR(sb.st_mode) ? scan_folder(c, paths[i], err)
					 : add_candidate(c, paths[i], 1, err);
		if (rc)
			return rc;
	}
	return XCHG_OK;
}

/* An open packet with its envelope reader. */
typedef struct opened {
	packet_reader *pr;
	env_reader *er;
	const env_header *h;
} opened;

static void opened_close(opened *o)
{
	env_reader_free(o->er);
	packet_reader_free(o->pr);
	memset(o, 0, sizeof(*o));
}

/* Loaded for the first sealed packet only: plain ones never need the secret key. */
static xchg_status run_key(void *ctx, const unsigned char **sk, xchg_err *err)
{
	import_run *run = ctx;
	xchg_status rc;

	if (!run->have_key) {
		if ((rc = db_signing_key(run->db, &run->self, &run->kp, err)))
			return rc;
		run->have_key = 1;
	}
	*sk = run->kp.sk;
	return XCHG_OK;
}

static xchg_status open_packet(import_run *run, opened *o, const char *path, xchg_err *err)
{
	xchg_status rc;

	memset(o, 0, sizeof(*o));
	if ((rc = packet_reader_open_keyed(&o->pr, path, run_key, run, err)) ||
	    (rc = env_reader_new(&o->er, packet_reader_read, o->pr, path, err)) ||
	    (rc = env_reader_header(o->er, &o->h, err)))
		opened_close(o);
	return rc;
}

/*
 * A folder's packet sealed to another key is another node's, and is left
 * alone like a plain packet addressed elsewhere, unless its name says it is
 * for this node: then it is opened, and refused with the reason.
 */
static int sealed_elsewhere(import_run *run, const char *path)
{
	unsigned char to[crypto_sign_PUBLICKEYBYTES], mine[crypto_sign_PUBLICKEYBYTES];
	xchg_err ignored;
	int sealed = 0;

	if (seal_peek(path, &sealed, to, &ignored) || !sealed || !run->self.public_key ||
	    keys_decode_public(run->self.public_key, mine, &ignored))
		return 0;
	return sodium_memcmp(to, mine, sizeof(mine)) != 0 && !name_addresses(path, run->self.code, NULL, 0);
}

/*
 * Whether a packet is addressed to this node: by id, and then by code too,
 * since a packet that names this node's id under another code was not
 * written for this star by anyone it trusts.
 */
static xchg_status check_recipient(const import_run *run, const char *path, const env_header *h,
				   xchg_err *err)
{
	if (strcmp(h->recipient_id, run->self.id) != 0)
		return xerr(err, XCHG_EPACKET, "%s: addressed to %s (node id %s), not to this node (%s, %s)",
			    path, h->recipient, h->recipient_id, run->self.code, run->self.id);
	if (strcmp(h->recipient, run->self.code) != 0)
		return xerr(err, XCHG_EPACKET, "%s: addressed to this node's id %s under the code %s;"
			    " this node is %s", path, h->recipient_id, h->recipient, run->self.code);
	return XCHG_OK;
}

/* Reads every candidate's header; drops those for other nodes that a folder held. */
static void read_headers(import_run *run, candidates *c)
{
	opened o = {0};
	xchg_err err;
	size_t i, kept = 0;

	for (i = 0; i < c->n; i++) {
		candidate *cd = &c->v[i];
		int keep = 0;

		if (!cd->named && sealed_elsewhere(run, cd->path)) {
			/* Another node's sealed packet: its business, not ours. */
		} else if (open_packet(run, &o, cd->path, &err) || env_header_copy(&cd->h, o.h, &err)) {
			/* Unreadable, and named for another node: its business too. */
			if (cd->named || name_addresses(cd->path, run->self.code, NULL, 0) ||
			    !name_addresses_anyone(cd->path))
				emit_failure(run, cd->path, NULL, &err);
		} else if (strcmp(cd->h.recipient_id, run->self.id) != 0) {
			/* A shared folder serves many links: other nodes' packets are theirs. */
			if (cd->named) {
				check_recipient(run, cd->path, &cd->h, &err);
				emit_failure(run, cd->path, &cd->h, &err);
			}
		} else {
			keep = 1;
		}
		opened_close(&o);
		if (keep) {
			c->v[kept++] = *cd;
		} else {
			free(cd->path);
			env_header_clear(&cd->h);
		}
	}
	c->n = kept;
}

static int by_sender_and_number(const void *pa, const void *pb)
{
	const candidate *a = pa, *b = pb;
	int cmp = strcmp(a->h.sender, b->h.sender);

	if (cmp)
		return cmp;
	if (a->h.packet_no != b->h.packet_no)
		return a->h.packet_no < b->h.packet_no ? -1 : 1;
	return strcmp(a->path, b->path);
}

typedef struct applied {
	int64_t received;  /* entities the packet carried */
	int64_t entities;  /* of those, applied here */
	int64_t conflicts;
	int64_t refused;   /* rows this node's schema refused, kept in the conflict log */
	int duplicate;
	int former_key;    /* a duplicate signed with a key its sender has rotated away from */
	int sealed;        /* it came sealed: the acknowledgement goes back sealed */
	restore_seen restore; /* either end went back in time: what was seen and done */
	int64_t pruned;    /* rows here that the center's full state did not carry, removed */
} applied;

/*
 * Whether an applied packet is answered (PACKET.md rule 5). One that
 * changed nothing here needs no answer: an acknowledgement, or changes
 * its sender carries again until it hears of them (rule 2) that are each
 * this node's version already. Answering them would keep two nodes that
 * answer each other at once trading packets forever, since each answer
 * carries again what the other's crossing answer could not acknowledge
 * yet. The acknowledgement waits for the next packet either way. A full
 * state is answered all the same (its sender writes one until it is
 * acknowledged), and so is a packet in which either end's restore shows.
 */
static int needs_answer(const applied *a, const env_header *h)
{
	return a->entities || a->conflicts || a->refused || a->pruned || h->full_state ||
	       a->restore.suspect || a->restore.message;
}

/* An entity held back until the rest of its packet is applied, in a copy of its own. */
typedef struct held {
	char *type, *uuid, *operation, *updated_at;
	cJSON *data;
	size_t index;
} held;

typedef struct held_list {
	held *v;
	size_t n;
} held_list;

static void held_free(held_list *l)
{
	size_t i;

	for (i = 0; i < l->n; i++) {
		free(l->v[i].type);
		free(l->v[i].uuid);
		free(l->v[i].operation);
		free(l->v[i].updated_at);
		cJSON_Delete(l->v[i].data);
	}
	free(l->v);
}

static xchg_status hold(held_list *l, const env_entity *in, xchg_err *err)
{
	held *grown, *h;

	if (!(grown = realloc(l->v, (l->n + 1) * sizeof(*grown))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	l->v = grown;
	h = &l->v[l->n++];
	memset(h, 0, sizeof(*h));
	h->index = in->index;
	if (!(h->type = strdup(in->type)) || !(h->uuid = strdup(in->uuid)) ||
	    !(h->operation = strdup(in->operation)) ||
	    (in->updated_at && !(h->updated_at = strdup(in->updated_at))) ||
	    (in->data && !(h->data = cJSON_Duplicate(in->data, 1))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	return XCHG_OK;
}

/* Counts what r says of entity in, keeping a refused row aside. */
static xchg_status settle(import_run *run, const node_row *sender, const env_entity *in,
			  const apply_result *r, applied *a, xchg_err *err)
{
	xchg_status rc;

	if (r->refused && (rc = apply_log_refused(run->db, sender, in, r->reason, err)))
		return rc;
	if (r->applied && run->open_refused &&
	    (rc = conflict_log_supersede(run->db, sender->id, in->type, in->uuid, NULL, err)))
		return rc;
	a->entities += r->applied;
	a->conflicts += r->conflicts;
	a->refused += r->refused;
	return XCHG_OK;
}

/*
 * One entity; later is where one that runs into a unique key, or misses a
 * row it references, waits (NULL: it is decided now).
 */
static xchg_status apply_one(import_run *run, const node_row *sender, const env_entity *in,
			     held_list *later, applied *a, xchg_err *err)
{
	apply_result r;
	unsigned flags = (run->guarded ? APPLY_GUARDED | (later ? APPLY_DEFER : 0) : 0) |
			 (run->full_state ? APPLY_FULL_STATE : 0) | (run->suspect ? APPLY_SUSPECT : 0);
	xchg_status rc;

	if ((rc = apply_entity(run->db, &run->self, sender, in, flags, &r, err)))
		return rc;
	if (r.collided)
		return hold(later, in, err);
	return settle(run, sender, in, &r, a, err);
}

/* What the entities of one packet are applied with. */
typedef struct applying {
	import_run *run;
	const node_row *sender;
	held_list later;
	applied *a;
} applying;

/* Each entity in the packet's order: bulk wrote it (inserted), or it is applied now. */
static xchg_status apply_taken(void *ctx, const env_entity *in, int inserted, xchg_err *err)
{
	applying *ap = ctx;
	apply_result r = {.applied = 1};
	xchg_status rc;

	if (inserted)
		return settle(ap->run, ap->sender, in, &r, ap->a, err);
	if ((rc = apply_one(ap->run, ap->sender, in, &ap->later, ap->a, err)))
		xerr_prefix(err, "entity %zu (%s %s)", in->index + 1, in->type, in->uuid);
	return rc;
}

/* The packet's next entity, on prefetch's thread: it alone reads the packet meanwhile. */
static xchg_status read_entity(void *ctx, prefetch_item *item, int *more, xchg_err *err)
{
	opened *o = ctx;
	const env_entity *in;
	xchg_status rc;

	if ((rc = env_reader_next(o->er, &in, err)) || !(*more = in != NULL))
		return rc;
	item->e = *in;
	item->owner = env_reader_take(o->er);
	packet_reader_progress(o->pr, &item->read, &item->size);
	return XCHG_OK;
}

static xchg_status apply_entities(import_run *run, const node_row *sender, opened *o,
				  applied *a, xchg_err *err)
{
	const env_entity *in = NULL;
	applying ap = {run, sender, {0}, a};
	prefetch *pf = NULL;
	prefetch_item item;
	bulk *b = NULL;
	size_t i;
	int more = 0;
	xchg_status rc;

	if (run->pruning && (rc = prune_begin(run->db->st, err)))
		return rc;
	/* A row fault fails the packet unguarded, and it runs again entity by entity. */
	if ((!run->guarded && (rc = bulk_new(&b, run->db, sender->id, apply_taken, &ap, err))) ||
	    (rc = prefetch_new(&pf, read_entity, o, err)))
		goto done;
	progress_start(&run->db->progress, 0);
	while (!(rc = prefetch_next(pf, &item, &more, err)) && more) {
		char canonical[37];

		in = &item.e;
		a->received++;
		if (run->pruning &&
		    (rc = prune_seen(run->db->st, in->type,
				     forms_uuid_parse(in->uuid, canonical, NULL) ? canonical : in->uuid,
				     err))) {
			xerr_prefix(err, "%s: entity %zu (%s %s)", packet_reader_path(o->pr),
				    in->index + 1, in->type, in->uuid);
			cJSON_Delete(item.owner);
			goto done;
		}
		if (b) {
			rc = bulk_add(b, in, item.owner, err);
		} else {
			rc = apply_taken(&ap, in, 0, err);
			cJSON_Delete(item.owner);
		}
		if (rc)
			goto failed;
		progress_estimate(&run->db->progress, item.read, item.size);
		progress_step(&run->db->progress);
		xkill_point("import.entity_applied");
	}
	/* Read to its end: the packet is this thread's again (packet_reader_verify). */
	prefetch_free(pf);
	pf = NULL;
	if (!rc && b && (rc = bulk_flush(b, err)))
		goto failed;
	if (!rc)
		progress_end(&run->db->progress);
	/*
	 * A unique key held here when an entity came may be given up by what
	 * came after it (a rename, a delete, a swap of two codes), in any
	 * order: only what is still held now is decided as a collision. A row
	 * a foreign key looked for may have come after it too (a sender that
	 * orders its entities otherwise): only one still missing now refuses it.
	 */
	for (i = 0; i < ap.later.n && !rc; i++) {
		const held *h = &ap.later.v[i];
		env_entity again = {h->type, h->uuid, h->operation, h->updated_at, h->data, h->index, 0};

		if ((rc = apply_one(run, sender, &again, NULL, a, err)))
			xerr_prefix(err, "%s: entity %zu (%s %s)", packet_reader_path(o->pr),
				    h->index + 1, h->type, h->uuid);
	}
	if (!rc && run->pruning)
		rc = prune_rest(run->db, sender, &a->pruned, err);
	goto done;
failed:
	xerr_prefix(err, "%s", packet_reader_path(o->pr));
	if (!run->guarded && rc == XCHG_EDB && store_last_fault(run->db->st, NULL) != STORE_FAULT_OTHER)
		run->row_fault = 1;
done:
	prefetch_free(pf);
	bulk_free(b);
	held_free(&ap.later);
	return rc;
}

/*
 * Acks only move forward, so an old or repeated ack is a no-op (PACKET.md
 * 6.5); one of a packet this node never wrote was seen by restore_check.
 */
static xchg_status take_ack(import_run *run, node_row *sender, const env_header *h,
			    xchg_err *err)
{
	xchg_status rc;

	if (h->ack_packet_no <= sender->acked_packet_no)
		return XCHG_OK;
	if ((rc = changes_purge(run->db->st, sender->id, h->ack_packet_no, err)) ||
	    (rc = nodes_acked(run->db->st, sender->id, h->ack_packet_no, err)))
		return rc;
	if (sender->full_state > 0 && sender->full_state <= h->ack_packet_no)
		sender->full_state = NODE_FULL_NONE;
	return XCHG_OK;
}

/*
 * Who sent the packet and the key it must verify with: the registered one,
 * or where the sender's key chain leads from it (*new_key, to be stored
 * once the packet verifies).
 */
static xchg_status check_sender(import_run *run, const char *path, const env_header *h,
				node_row *sender, unsigned char *pk, char **new_key, xchg_err *err)
{
	long mine = plan_version_major(run->db->plan->schema_version);
	int found = 0;
	xchg_status rc;

	/* Checked again here: the file may have changed since its header was first read. */
	if ((rc = check_recipient(run, path, h, err)) ||
	    (rc = nodes_by_id(run->db->st, h->sender_id, sender, &found, err)))
		return rc;
	if (!found || sender->is_self)
		return xerr(err, XCHG_EPACKET, "%s: %s %s (node id %s)", path,
			    found ? "comes from this node itself, sender" : "unknown sender", h->sender,
			    h->sender_id);
	if (strcmp(sender->code, h->sender) != 0)
		return xerr(err, XCHG_EPACKET, "%s: sender node id %s is registered as %s, but the packet"
			    " calls it %s", path, h->sender_id, sender->code, h->sender);
	if (sender->revoked_at)
		return xerr(err, XCHG_EPACKET, "%s: sender %s was revoked on %s", path, h->sender,
			    sender->revoked_at);
	if (!sender->public_key || keys_decode_public(sender->public_key, pk, err))
		return xerr(err, XCHG_EPACKET, "%s: sender %s has no valid public key registered",
			    path, h->sender);
	if (h->key_chain) {
		if ((rc = keys_chain_follow(h->key_chain, h->sender, sender->public_key, new_key, err)))
			return xerr_prefix(err, "%s: sender %s", path, h->sender);
		if (strcmp(*new_key, sender->public_key) == 0) {
			free(*new_key);
			*new_key = NULL;
		} else if (keys_decode_public(*new_key, pk, err)) {
			return xerr(err, XCHG_EPACKET, "%s: sender %s: key_chain leads to a malformed key",
				    path, h->sender);
		}
	}
	if (plan_version_major(h->schema_version) != mine)
		return xerr(err, XCHG_EPACKET, "%s: schema_version %s does not match this node's plan (%s)",
			    path, h->schema_version, run->db->plan->schema_version);
	return XCHG_OK;
}

/* Whether the packet verifies with a key the sender's chain says it had before. */
static int signed_by_former_key(import_run *run, const char *path, const node_row *sender)
{
	cJSON *chain = sender->key_chain ? cJSON_Parse(sender->key_chain) : NULL;
	const cJSON *link;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	xchg_err ignored;
	int found = 0;

	cJSON_ArrayForEach(link, chain) {
		const cJSON *prev = cJSON_GetObjectItemCaseSensitive(link, "previous_key");
		opened o;

		if (!cJSON_IsString(prev) || keys_decode_public(prev->valuestring, pk, &ignored) ||
		    open_packet(run, &o, path, &ignored))
			continue;
		found = packet_reader_verify(o.pr, pk, &ignored) == XCHG_OK;
		opened_close(&o);
		if (found)
			break;
	}
	cJSON_Delete(chain);
	return found;
}

/*
 * One packet, all or nothing (PACKET.md 6.7). Entities are applied as they
 * stream in, inside the transaction; the signature is checked once the
 * whole message has been read, and only then does anything commit.
 */
typedef struct import_job {
	import_run *run;
	const char *path;
	applied *a;
} import_job;

static xchg_status import_once(void *ctx, xchg_err *err)
{
	import_job *job = ctx;
	import_run *run = job->run;
	const char *path = job->path;
	applied *a = job->a;
	opened o = {0};
	node_row sender = {0};
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	char *new_key = NULL;
	int in_tx = 0;
	xchg_status rc;

	restore_seen_clear(&a->restore);
	memset(a, 0, sizeof(*a));
	if ((rc = open_packet(run, &o, path, err)) || (rc = store_begin(run->db->st, err)))
		goto done;
	a->sealed = packet_reader_sealed(o.pr);
	in_tx = 1;
	/* The sender's counters are read under the lock: another import may have moved them. */
	if ((rc = route_pending(run->db->st, err)) || (rc = store_lock(run->db->st, o.h->sender, err)) ||
	    (rc = check_sender(run, path, o.h, &sender, pk, &new_key, err)) ||
	    (rc = restore_check(run->db->st, &sender, o.h, &a->restore, err)))
		goto done;
	a->duplicate = o.h->packet_no <= sender.received_packet_no && !a->restore.reused;
	run->full_state = o.h->full_state;
	run->suspect = a->restore.suspect;
	/* A desktop that owes the center its own full state keeps every row: each is on its way. */
	run->pruning = o.h->full_state && !nodes_is_master(&run->self) && nodes_is_master(&sender) &&
		       sender.full_state == NODE_FULL_NONE;
	if (run->pruning && (rc = prune_needed(run->db, &run->pruning, err)))
		goto done;
	/* The ack goes first: a change the peer has confirmed is no conflict. */
	if ((rc = take_ack(run, &sender, o.h, err)))
		goto done;
	if (!a->duplicate) {
		/* Counted once: most links have none, and then no entity looks for its own. */
		if ((rc = conflict_log_open(run->db, sender.id, NULL, &run->open_refused, err)) ||
		    (rc = store_set_origin(run->db->st, a->restore.stale ? NULL : sender.id, err)) ||
		    (rc = apply_entities(run, &sender, &o, a, err)) ||
		    (rc = nodes_record_received(run->db->st, sender.id, o.h->packet_no, o.h->created_at,
						restore_written_later(&sender, o.h), err)) ||
		    (rc = store_set_origin(run->db->st, NULL, err)))
			goto done;
	}
	if ((rc = nodes_settle(run->db->st, sender.id, !a->duplicate && o.h->full_state, err)))
		goto done;
	if ((rc = packet_reader_verify(o.pr, pk, err))) {
		/*
		 * A copy of a packet applied before its sender rotated its key:
		 * nothing to apply, and the acknowledgement it carries is left out
		 * (rolled back), since the old key is the one that may have leaked.
		 */
		if (rc == XCHG_EPACKET && a->duplicate && signed_by_former_key(run, path, &sender)) {
			a->former_key = 1;
			rc = XCHG_OK;
		}
		goto done;
	}
	/* The sender rotated its key and proved it: trust the new one from now on. */
	if (new_key && (rc = nodes_set_key(run->db->st, sender.id, new_key, o.h->key_chain, err)))
		goto done;
	xkill_point("import.verified");
	if ((rc = store_commit(run->db->st, err)))
		goto done;
	in_tx = 0;
	xkill_point("import.committed");
done:
	if (in_tx)
		store_rollback(run->db->st);
	free(new_key);
	node_row_clear(&sender);
	opened_close(&o);
	return rc;
}

static xchg_status import_one(import_run *run, const char *path, applied *a, xchg_err *err)
{
	import_job job = {run, path, a};
	xchg_status rc;

	run->guarded = run->row_fault = 0;
	rc = store_retry(run->db->st, import_once, &job, err);
	/*
	 * A row this node cannot store as it came: the packet runs again with
	 * each entity in a savepoint, so that such a row fails alone. Only
	 * then: PostgreSQL keeps each savepoint's subtransaction until the
	 * commit, and past 64 in one transaction every other session's
	 * snapshots slow down; a packet that applies cleanly takes none.
	 */
	if (rc && run->row_fault) {
		run->guarded = 1;
		rc = store_retry(run->db->st, import_once, &job, err);
	}
	return rc;
}

typedef struct ack_target {
	const char *sender;
	char *dir;
	int seal;          /* reply in kind: some packet from sender came sealed */
} ack_target;

static xchg_status write_acks(import_run *run, const ack_target *acks, size_t n, xchg_err *err)
{
	xchg_export_result res;
	size_t i;
	xchg_status rc = XCHG_OK;

	for (i = 0; i < n; i++) {
		if ((rc = exchange_export(run->db, &run->self, acks[i].sender, acks[i].dir,
					  acks[i].seal ? XCHG_EXPORT_ENCRYPT : 0, &res, err))) {
			/* Not "not applied": the packets are, each in its own committed
			 * transaction. The export rolled back, and every later export
			 * carries the ack, so an answer is owed, nothing is lost. */
			xchg_import_event ev = {XCHG_ACK_FAILED, acks[i].dir, acks[i].sender,
						0, 0, 0, err->msg, 0};

			if (rc == XCHG_ENOMEM)
				return rc;
			if (!run->unacked)
				run->unacked = rc;
			if (run->cb)
				run->cb(&ev, run->ctx);
			continue;
		}
		xkill_point("import.ack_written");
		{
			env_header h = {.sender = run->self.code, .packet_no = res.packet_no};

			emit(run, XCHG_ACK_WRITTEN, res.path, &h, res.entities, 0, 0, NULL);
		}
		xchg_export_result_clear(&res);
	}
	return XCHG_OK;
}

static char *folder_of(const char *path)
{
	char *copy = strdup(path), *dir;

	if (!copy)
		return NULL;
	dir = strdup(dirname(copy));
	free(copy);
	return dir;
}

static xchg_status apply_all(import_run *run, candidates *c, const char *ack_dir, xchg_err *err)
{
	ack_target *acks = NULL;
	size_t nacks = 0, i;
	applied a = {0};
	xchg_err one;
	xchg_status rc = XCHG_OK;

	if (c->n && !(acks = calloc(c->n, sizeof(*acks))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if (c->n > 1)
		qsort(c->v, c->n, sizeof(c->v[0]), by_sender_and_number);
	for (i = 0; i < c->n && !rc; i++) {
		candidate *cd = &c->v[i];

		if (i > 0)
			xkill_point("import.between_packets");
		if (import_one(run, cd->path, &a, &one)) {
			if (one.code == XCHG_ENOMEM)
				rc = xerr(err, XCHG_ENOMEM, "%s", one.msg);
			emit_failure(run, cd->path, &cd->h, &one);
			continue;
		}
		if (a.restore.message)
			emit(run, XCHG_NOTICE, cd->path, &cd->h, 0, 0, 0, a.restore.message);
		if (a.pruned) {
			char *said = xstrdup_printf("%lld %s here that the center's full state does not"
						    " carry %s removed (the center has no trace of %s)",
						    (long long)a.pruned, xnoun(a.pruned, "row", "rows"),
						    xnoun(a.pruned, "is", "are"), xnoun(a.pruned, "it", "them"));

			emit(run, XCHG_NOTICE, cd->path, &cd->h, 0, 0, 0, said ? said : "rows deleted");
			free(said);
		}
		if (a.duplicate) {
			emit(run, XCHG_SKIPPED, cd->path, &cd->h, 0, 0, 0,
			     a.former_key ? "signed with a key its sender has rotated away from;"
					    " its acknowledgement is not taken" : NULL);
			continue;
		}
		emit(run, XCHG_APPLIED, cd->path, &cd->h, a.entities, a.conflicts, a.refused, NULL);
		if (!needs_answer(&a, &cd->h))
			continue;
		if (nacks == 0 || strcmp(acks[nacks - 1].sender, cd->h.sender) != 0)
			acks[nacks++].sender = cd->h.sender;
		acks[nacks - 1].seal |= a.sealed;
		free(acks[nacks - 1].dir);
		if (!(acks[nacks - 1].dir = ack_dir ? strdup(ack_dir) : folder_of(cd->path)))
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
	}
	if (!rc && nacks)
		xkill_point("import.before_ack");
	if (!rc)
		rc = write_acks(run, acks, nacks, err);
	restore_seen_clear(&a.restore);
	for (i = 0; i < nacks; i++)
		free(acks[i].dir);
	free(acks);
	return rc;
}

xchg_status xchg_import(xchg_db *db, const char *const *paths, size_t npaths,
			const char *ack_dir, xchg_import_cb cb, void *ctx, xchg_err *err)
{
	import_run run = {.db = db, .cb = cb, .ctx = ctx};
	candidates c = {0};
	xchg_status rc;

	if ((rc = db_ready(db, err)) || (rc = nodes_self_required(db->st, &run.self, err)))
		return rc;
	if (!(rc = gather(&c, paths, npaths, err))) {
		read_headers(&run, &c);
		xkill_point("import.headers_read");
		rc = apply_all(&run, &c, ack_dir, err);
	}
	if (!rc && run.refused)
		rc = xerr(err, XCHG_EPACKET, "some packets were refused");
	else if (!rc && run.failed)
		rc = xerr(err, run.failed, "some packets could not be applied; they are unchanged and may be imported again");
	else if (!rc && run.unacked)
		rc = xerr(err, run.unacked, "the packets are applied, but an acknowledgement could not be written; the next export to that node carries it");
	candidates_free(&c);
	node_row_clear(&run.self);
	keys_wipe(&run.kp);
	return rc;
}
