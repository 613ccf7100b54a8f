#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"json", NULL, "print JSON instead of text"},
	{NULL, NULL, NULL},
};

static const char *verdict_text(xchg_verdict v)
{
	switch (v) {
	case XCHG_VERDICT_VERIFIED: return "verified";
	case XCHG_VERDICT_BAD: return "does not verify";
	case XCHG_VERDICT_UNKNOWN_SENDER: return "unknown sender";
	case XCHG_VERDICT_NOT_CHECKED: break;
	}
	return "not checked (no database)";
}

static int print_json(const xchg_inspect_report *r)
{
	cJSON *root = cJSON_CreateObject(), *h, *counts;
	size_t i;

	h = cJSON_AddObjectToObject(root, "header");
	/* The header's members under their names in message.json. */
	cJSON_AddStringToObject(h, "sender_node_id", r->sender_id);
	cJSON_AddStringToObject(h, "recipient_node_id", r->recipient_id);
	cJSON_AddNumberToObject(h, "packet_no", (double)r->packet_no);
	cJSON_AddNumberToObject(h, "ack_packet_no", (double)r->ack_packet_no);
	cJSON_AddStringToObject(h, "schema_version", r->schema_version);
	cJSON_AddStringToObject(h, "message_id", r->message_id);
	cJSON_AddStringToObject(h, "sender_code", r->sender);
	cJSON_AddStringToObject(h, "recipient_code", r->recipient);
	cJSON_AddStringToObject(h, "created_at", r->created_at);
	cJSON_AddBoolToObject(h, "full_state", r->full_state);
	cJSON_AddStringToObject(root, "signature", verdict_text(r->signature));
	cJSON_AddBoolToObject(root, "sealed", r->sealed);
	if (r->sealed_to)
		cJSON_AddStringToObject(root, "sealed_to", r->sealed_to);
	cJSON_AddNumberToObject(root, "entities", (double)r->entities);
	counts = cJSON_AddArrayToObject(root, "counts");
	for (i = 0; i < r->ncounts; i++) {
		cJSON *c = cJSON_CreateObject();

		cJSON_AddStringToObject(c, "type", r->counts[i].entity_type);
		cJSON_AddStringToObject(c, "operation", r->counts[i].operation);
		cJSON_AddNumberToObject(c, "count", (double)r->counts[i].count);
		cJSON_AddItemToArray(counts, c);
	}
	return cli_print_json(root);
}

static void print_sealed(const xchg_inspect_report *r, int json)
{
	cJSON *root;

	if (!json) {
		printf("sealed      to key %s; only that node's database opens it\n", r->sealed_to);
		return;
	}
	root = cJSON_CreateObject();
	cJSON_AddBoolToObject(root, "sealed", 1);
	cJSON_AddStringToObject(root, "sealed_to", r->sealed_to);
	cJSON_AddBoolToObject(root, "opened", 0);
	cli_print_json(root);
}

static void print_text(const xchg_inspect_report *r)
{
	size_t i;

	printf("packet      %lld from %s to %s\n", (long long)r->packet_no, r->sender, r->recipient);
	printf("node ids    %s -> %s\n", r->sender_id, r->recipient_id);
	printf("acknowledges %lld\n", (long long)r->ack_packet_no);
	printf("message_id  %s\ncreated_at  %s\nschema      %s\nsignature   %s\n",
	       r->message_id, r->created_at, r->schema_version, verdict_text(r->signature));
	printf("sealed      %s\n", r->sealed ? "yes, to this node; opened with its key" : "no");
	printf("entities    %lld%s\n", (long long)r->entities,
	       r->full_state ? ", the sender's full state" : "");
	for (i = 0; i < r->ncounts; i++)
		printf("  %-24s %-6s %lld\n", r->counts[i].entity_type, r->counts[i].operation,
		       (long long)r->counts[i].count);
}

static int run(const cli_cmd *cmd, const cli_args *a)
{
	xchg_inspect_report *rep = NULL;
	xchg_db *db = NULL;
	xchg_err err;
	const char *url = cli_db_url(cmd, a);
	int rc;

	/* Without a database named or present, the packet is shown unverified. */
	if ((cli_get(cmd, a, "db") || getenv("XCHG_DB") || access(url, F_OK) == 0) &&
	    (rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_inspect(db, a->pos[0], &rep, &err)) && rep) {
		/* Sealed to another node, or no database here: what shows in clear, then why no more. */
		print_sealed(rep, cli_get(cmd, a, "json") != NULL);
		rc = cli_fail(&err);
	} else if (rc) {
		rc = cli_fail(&err);
	} else if (cli_get(cmd, a, "json"))
		rc = print_json(rep);
	else
		print_text(rep);
	/* Shown all the same: what a tampered packet claims helps to find who sent it. */
	if (!rc && rep->signature == XCHG_VERDICT_BAD)
		rc = XCHG_EPACKET;
	xchg_inspect_free(rep);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_inspect = {
	"inspect", "PKT", "show a packet's header, signature and contents; changes nothing",
	"The signature is checked against the key registered for the sender in the\n"
	"node's database, when there is one; exits 4 when it does not verify. A sealed\n"
	"packet (.zip.sealed, written by export --encrypt) opens only with its\n"
	"recipient's database and key.\n",
	opts, 1, 1, run,
};
