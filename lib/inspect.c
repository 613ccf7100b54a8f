/* inspect: a packet's header, signature and contents, changing nothing. */
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "envelope.h"
#include "exchange.h"
#include "keys.h"
#include "nodes.h"
#include "packet.h"
#include "seal.h"

static xchg_status count_entity(xchg_inspect_report *rep, const env_entity *e, xchg_err *err)
{
	xchg_entity_count *grown;
	size_t i;

	rep->entities++;
	for (i = 0; i < rep->ncounts; i++)
		if (strcmp(rep->counts[i].entity_type, e->type) == 0 &&
		    strcmp(rep->counts[i].operation, e->operation) == 0) {
			rep->counts[i].count++;
			return XCHG_OK;
		}
	if (!(grown = realloc(rep->counts, (rep->ncounts + 1) * sizeof(*grown))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	rep->counts = grown;
	grown = &rep->counts[rep->ncounts++];
	grown->entity_type = strdup(e->type);
	grown->operation = strdup(e->operation);
	grown->count = 1;
	if (!grown->entity_type || !grown->operation)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	xchg_scrub(grown->entity_type);
	xchg_scrub(grown->operation);
	return XCHG_OK;
}

/* The sender's registered key, if this database knows the sender by its id and code. */
static xchg_status sender_key(xchg_db *db, const env_header *h, unsigned char *pk, int *known,
			      xchg_err *err)
{
	node_row n = {0};
	xchg_err ignored;
	xchg_status rc;

	*known = 0;
	if (!db)
		return XCHG_OK;
	if ((rc = db_ready(db, err)) || (rc = nodes_by_id(db->st, h->sender_id, &n, known, err)))
		return rc;
	if (*known && (strcmp(n.code, h->sender) != 0 || !n.public_key ||
		       keys_decode_public(n.public_key, pk, &ignored)))
		*known = 0;
	node_row_clear(&n);
	return XCHG_OK;
}

/* A sealed packet opens only with this node's key: without a database, it stays shut. */
typedef struct inspect_key {
	xchg_db *db;
	keypair kp;
} inspect_key;

static xchg_status open_with(void *ctx, const unsigned char **sk, xchg_err *err)
{
	inspect_key *k = ctx;
	node_row self = {0};
	xchg_status rc;

	*sk = NULL;
	if (!k->db)
		return XCHG_OK;
	if (!(rc = db_ready(k->db, err)) && !(rc = nodes_self_required(k->db->st, &self, err)) &&
	    !(rc = db_signing_key(k->db, &self, &k->kp, err)))
		*sk = k->kp.sk;
	node_row_clear(&self);
	return rc;
}

/* Moves the header's strings into the report, each safe to show. */
static xchg_status take_header(xchg_inspect_report *rep, const env_header *h, xchg_err *err)
{
	env_header copy;
	xchg_status rc;

	if ((rc = env_header_copy(&copy, h, err)))
		return rc;
	rep->message_id = copy.message_id;
	rep->schema_version = copy.schema_version;
	rep->sender = copy.sender;
	rep->recipient = copy.recipient;
	rep->sender_id = copy.sender_id;
	rep->recipient_id = copy.recipient_id;
	rep->created_at = copy.created_at;
	rep->packet_no = copy.packet_no;
	rep->ack_packet_no = copy.ack_packet_no;
	rep->full_state = copy.full_state;
	xchg_scrub(rep->message_id);
	xchg_scrub(rep->schema_version);
	xchg_scrub(rep->sender);
	xchg_scrub(rep->recipient);
	xchg_scrub(rep->sender_id);
	xchg_scrub(rep->recipient_id);
	xchg_scrub(rep->created_at);
	/* What the report does not show is freed with the copy. */
	copy.message_id = copy.schema_version = copy.sender = copy.recipient = NULL;
	copy.sender_id = copy.recipient_id = copy.created_at = NULL;
	env_header_clear(&copy);
	return XCHG_OK;
}

/* The key a sealed packet is sealed to, readable without any key. */
static xchg_status sealed_to(xchg_inspect_report *rep, const char *path, xchg_err *err)
{
	unsigned char to[crypto_sign_PUBLICKEYBYTES];
	char text[KEY_TEXT_MAX];
	int sealed = 0;
	xchg_status rc;

	if ((rc = seal_peek(path, &sealed, to, err)) || !sealed)
		return rc;
	keys_encode_public(to, text);
	if (!(rep->sealed_to = strdup(text)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	return XCHG_OK;
}

xchg_status xchg_inspect(xchg_db *db, const char *path, xchg_inspect_report **out,
			 xchg_err *err)
{
	xchg_inspect_report *rep = NULL;
	packet_reader *pr = NULL;
	env_reader *er = NULL;
	const env_header *h;
	const env_entity *e = NULL;
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	inspect_key key = {.db = db};
	xchg_err verr;
	int known = 0;
	xchg_status rc;

	*out = NULL;
	if (!(rep = calloc(1, sizeof(*rep)))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if ((rc = sealed_to(rep, path, err)))
		goto done;
	rc = packet_reader_open_keyed(&pr, path, open_with, &key, err);
	if (rc == XCHG_EPACKET && rep->sealed_to) {
		/* Not for this node, or no node at all: what shows in clear is the report. */
		*out = rep;
		rep = NULL;
		goto done;
	}
	if (rc || (rc = env_reader_new(&er, packet_reader_read, pr, path, err)) ||
	    (rc = env_reader_header(er, &h, err)) ||
	    (rc = take_header(rep, h, err)) ||
	    (rc = sender_key(db, h, pk, &known, err)))
		goto done;
	while (!(rc = env_reader_next(er, &e, err)) && e)
		if ((rc = count_entity(rep, e, err)))
			break;
	if (rc)
		goto done;
	if (known)
		rep->signature = packet_reader_verify(pr, pk, &verr) ? XCHG_VERDICT_BAD
								     : XCHG_VERDICT_VERIFIED;
	else
		rep->signature = db ? XCHG_VERDICT_UNKNOWN_SENDER : XCHG_VERDICT_NOT_CHECKED;
	rep->sealed = packet_reader_sealed(pr);
	*out = rep;
	rep = NULL;
done:
	env_reader_free(er);
	packet_reader_free(pr);
	keys_wipe(&key.kp);
	xchg_inspect_free(rep);
	return rc;
}

void xchg_inspect_free(xchg_inspect_report *rep)
{
	size_t i;

	if (!rep)
		return;
	for (i = 0; i < rep->ncounts; i++) {
		free(rep->counts[i].entity_type);
		free(rep->counts[i].operation);
	}
	free(rep->counts);
	free(rep->message_id);
	free(rep->schema_version);
	free(rep->sender);
	free(rep->recipient);
	free(rep->sender_id);
	free(rep->recipient_id);
	free(rep->created_at);
	free(rep->sealed_to);
	free(rep);
}
