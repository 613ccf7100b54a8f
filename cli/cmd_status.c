#include <stdio.h>
#include <stdlib.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"json", NULL, "print JSON instead of a table"},
	{NULL, NULL, NULL},
};

/* A text member, or null for NULL. */
static void add_text(cJSON *o, const char *name, const char *s)
{
	if (s)
		cJSON_AddStringToObject(o, name, s);
	else
		cJSON_AddNullToObject(o, name);
}

static cJSON *node_json(const xchg_node_info *n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "code", n->code);
	cJSON_AddStringToObject(o, "id", n->id);
	cJSON_AddStringToObject(o, "name", n->name ? n->name : n->code);
	cJSON_AddStringToObject(o, "role", n->role);
	cJSON_AddStringToObject(o, "public_key", n->public_key ? n->public_key : "");
	if (n->is_self)
		return o;
	cJSON_AddNumberToObject(o, "sent_packet_no", (double)n->sent_packet_no);
	cJSON_AddNumberToObject(o, "acked_packet_no", (double)n->acked_packet_no);
	cJSON_AddNumberToObject(o, "received_packet_no", (double)n->received_packet_no);
	add_text(o, "last_sync_out", n->last_sync_out);
	add_text(o, "last_sync_in", n->last_sync_in);
	cJSON_AddNumberToObject(o, "queued", (double)n->queued);
	cJSON_AddBoolToObject(o, "full_state", n->full_state);
	add_text(o, "dir", n->link_dir);
	cJSON_AddNumberToObject(o, "late_after", (double)n->late_after);
	cJSON_AddStringToObject(o, "applied", n->applied);
	cJSON_AddNumberToObject(o, "conflicts", (double)n->conflicts);
	cJSON_AddNumberToObject(o, "refused", (double)n->refused);
	return o;
}

static int print_json(const xchg_status_report *rep)
{
	cJSON *root = cJSON_CreateObject(), *peers;
	size_t i;

	cJSON_AddItemToObject(root, "node", node_json(&rep->self));
	peers = cJSON_AddArrayToObject(root, "peers");
	for (i = 0; i < rep->npeers; i++)
		cJSON_AddItemToArray(peers, node_json(&rep->peers[i]));
	return cli_print_json(root);
}

static void print_table(const xchg_status_report *rep)
{
	int64_t refused = 0;
	size_t i;

	printf("node %s (%s, %s)\n", rep->self.code, rep->self.name ? rep->self.name : rep->self.code,
	       rep->self.role[0] == 'm' ? "center" : "desktop");
	if (rep->npeers == 0) {
		printf("no peers yet: add one with xchg node add\n");
		return;
	}
	printf("%-20s %-8s %9s %9s %9s %7s %9s %7s  %-24s %-24s\n", "peer", "role", "generated",
	       "acked", "received", "queued", "conflicts", "refused", "last out", "last in");
	for (i = 0; i < rep->npeers; i++) {
		const xchg_node_info *p = &rep->peers[i];

		char queued[24];

		/* A peer owed the full state gets every row, whatever is queued. */
		snprintf(queued, sizeof(queued), p->full_state ? "all" : "%lld", (long long)p->queued);
		printf("%-20s %-8s %9lld %9lld %9lld %7s %9lld %7lld  %-24s %-24s\n", p->code,
		       p->role[0] == 'm' ? "center" : "desktop", (long long)p->sent_packet_no,
		       (long long)p->acked_packet_no, (long long)p->received_packet_no,
		       queued, (long long)p->conflicts, (long long)p->refused,
		       p->last_sync_out ? p->last_sync_out : "never",
		       p->last_sync_in ? p->last_sync_in : "never");
		refused += p->refused;
	}
	if (refused)
		printf("%lld refused rows are not applied here: see xchg conflicts, and retry each with"
		       " xchg conflicts retry ID once the schema or the data is fixed\n",
		       (long long)refused);
}

static int run(const cli_cmd *cmd, const cli_args *a)
{
	xchg_status_report *rep = NULL;
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_status_get(db, &rep, &err)))
		rc = cli_fail(&err);
	else if (cli_get(cmd, a, "json"))
		rc = print_json(rep);
	else
		print_table(rep);
	xchg_status_free(rep);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_status = {
	"status", NULL, "show this node, its peers, packet counters and queues",
	"For each peer: the last packet generated for it, the last of those it\n"
	"acknowledged, the last packet received from it, when packets last went out\n"
	"and came in, how many changes are queued for it (\"all\" while it is owed\n"
	"the full state: a new peer, or one silent too long), how many conflicts\n"
	"(unique-key collisions included) were decided against it and are open,\n"
	"and how many of its rows this node's schema refused and are still open\n"
	"(xchg conflicts lists them; xchg conflicts retry ID applies one again).\n",
	opts, 0, 0, run,
};
