#include <stdio.h>
#include <string.h>
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

static const char *const state_names[] = {
	[XCHG_LINK_OK] = "ok", [XCHG_LINK_LATE] = "late", [XCHG_LINK_BROKEN] = "broken",
	[XCHG_LINK_RECOVERING] = "recovering",
};

/* "3 h ago": how long ago, in the one unit people read at a glance. */
static void ago_text(int64_t seconds, char out[32])
{
	if (seconds < 0)
		snprintf(out, 32, "never");
	else if (seconds < 60)
		snprintf(out, 32, "%lld s ago", (long long)seconds);
	else if (seconds < 60 * 60)
		snprintf(out, 32, "%lld min ago", (long long)(seconds / 60));
	else if (seconds < 48 * 60 * 60)
		snprintf(out, 32, "%lld h ago", (long long)(seconds / (60 * 60)));
	else
		snprintf(out, 32, "%lld d ago", (long long)(seconds / (24 * 60 * 60)));
}

static void add_ago(cJSON *o, const char *name, int64_t seconds)
{
	char ago[32];

	ago_text(seconds, ago);
	add_text(o, name, seconds < 0 ? NULL : ago);
}

static cJSON *problem_json(const xchg_node_info *n)
{
	cJSON *o;

	if (!n->problem_packet)
		return cJSON_CreateNull();
	o = cJSON_CreateObject();
	cJSON_AddStringToObject(o, "packet", n->problem_packet);
	add_text(o, "kind", n->problem_kind);
	add_text(o, "reason", n->problem_reason);
	add_text(o, "at", n->problem_at);
	add_ago(o, "ago", n->problem_age);
	return o;
}

/* "subset": ["A", "B"], or null for a peer that receives every row. */
static void add_subset(cJSON *o, const char *joined)
{
	cJSON *values;
	const char *p = joined, *comma;
	char value[256];

	if (!joined) {
		cJSON_AddNullToObject(o, "subset");
		return;
	}
	values = cJSON_AddArrayToObject(o, "subset");
	do {
		comma = strchr(p, ',');
		snprintf(value, sizeof(value), "%.*s", (int)(comma ? (size_t)(comma - p) : strlen(p)), p);
		cJSON_AddItemToArray(values, cJSON_CreateString(value));
		p = comma + 1;
	} while (comma);
}

static cJSON *node_json(const xchg_node_info *n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "code", n->code);
	cJSON_AddStringToObject(o, "id", n->id);
	cJSON_AddStringToObject(o, "name", n->name ? n->name : n->code);
	cJSON_AddStringToObject(o, "role", cli_role_json(n->role));
	cJSON_AddStringToObject(o, "public_key", n->public_key ? n->public_key : "");
	if (n->is_self)
		return o;
	cJSON_AddStringToObject(o, "state", state_names[n->state]);
	add_text(o, "reason", n->state_reason);
	cJSON_AddNumberToObject(o, "sent_packet_no", (double)n->sent_packet_no);
	cJSON_AddNumberToObject(o, "acked_packet_no", (double)n->acked_packet_no);
	cJSON_AddNumberToObject(o, "received_packet_no", (double)n->received_packet_no);
	add_text(o, "last_sync_out", n->last_sync_out);
	add_text(o, "last_sync_in", n->last_sync_in);
	add_ago(o, "last_out", n->out_age);
	add_ago(o, "last_in", n->in_age);
	cJSON_AddNumberToObject(o, "queued", (double)n->queued);
	cJSON_AddNumberToObject(o, "unsent", (double)n->unsent);
	cJSON_AddNumberToObject(o, "unacked", (double)n->unacked);
	cJSON_AddBoolToObject(o, "full_state", n->full_state);
	cJSON_AddBoolToObject(o, "wants_full_state", n->wants_full_state);
	if (n->max_queue)
		cJSON_AddNumberToObject(o, "max_queue", (double)n->max_queue);
	else
		cJSON_AddNullToObject(o, "max_queue");
	add_text(o, "dir", n->link_dir);
	add_subset(o, n->subset);
	cJSON_AddNumberToObject(o, "late_after", (double)n->late_after);
	cJSON_AddStringToObject(o, "applied", n->applied);
	cJSON_AddNumberToObject(o, "conflicts", (double)n->conflicts);
	cJSON_AddNumberToObject(o, "refused", (double)n->refused);
	cJSON_AddBoolToObject(o, "revoked", n->revoked_at != NULL);
	add_text(o, "revoked_at", n->revoked_at);
	cJSON_AddItemToObject(o, "problem", problem_json(n));
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

/* "#12, 3 h ago": the last packet one way, and when. */
static void packet_text(int64_t packet_no, int64_t seconds, char out[48])
{
	char ago[32];

	ago_text(seconds, ago);
	if (seconds < 0)
		snprintf(out, 48, "never");
	else
		snprintf(out, 48, "#%lld, %s", (long long)packet_no, ago);
}

/* What the table cannot hold: why a link is not ok, its last problem, a revocation. */
static void print_notes(const xchg_node_info *p)
{
	char ago[32];

	if (p->state != XCHG_LINK_OK)
		printf("%s: %s: %s\n", p->code, state_names[p->state], p->state_reason);
	if (p->revoked_at)
		printf("%s: revoked on %s: its packets are refused\n", p->code, p->revoked_at);
	if (p->subset)
		printf("%s: receives subset %s and the shared rows\n", p->code, p->subset);
	if (p->problem_packet && p->state != XCHG_LINK_BROKEN) {
		ago_text(p->problem_age, ago);
		printf("%s: problem: %s %s %s: %s\n", p->code, p->problem_packet,
		       p->problem_kind ? p->problem_kind : "", ago,
		       p->problem_reason ? p->problem_reason : "");
	}
}

static void print_table(const xchg_status_report *rep)
{
	int64_t refused = 0;
	size_t i;

	printf("node %s (%s, %s)\n", rep->self.code, rep->self.name ? rep->self.name : rep->self.code,
	       cli_role_text(rep->self.role));
	if (rep->npeers == 0) {
		printf("no peers yet: add one with xchg node add\n");
		return;
	}
	printf("%-16s %-10s %-8s %-18s %-18s %6s %7s %9s %7s\n", "peer", "state", "role", "last in",
	       "last out", "unsent", "unacked", "conflicts", "refused");
	for (i = 0; i < rep->npeers; i++) {
		const xchg_node_info *p = &rep->peers[i];
		char unsent[24], in[48], out[48];

		/* A peer owed the full state gets every row, whatever is queued. */
		snprintf(unsent, sizeof(unsent), p->full_state ? "all" : "%lld", (long long)p->unsent);
		packet_text(p->received_packet_no, p->in_age, in);
		packet_text(p->sent_packet_no, p->out_age, out);
		printf("%-16s %-10s %-8s %-18s %-18s %6s %7lld %9lld %7lld\n", p->code,
		       state_names[p->state], cli_role_text(p->role), in, out,
		       unsent, (long long)p->unacked, (long long)p->conflicts, (long long)p->refused);
		refused += p->refused;
	}
	for (i = 0; i < rep->npeers; i++)
		print_notes(&rep->peers[i]);
	if (refused)
		printf("%lld refused %s not applied here: see xchg conflicts, and retry each with"
		       " xchg conflicts retry ID once the schema or the data is fixed\n",
		       (long long)refused, cli_noun(refused, "row is", "rows are"));
}

/* What a monitor reads: 0 when every link is ok. */
static int verdict(const xchg_status_report *rep)
{
	size_t i;

	for (i = 0; i < rep->npeers; i++)
		if (rep->peers[i].state != XCHG_LINK_OK)
			return XCHG_EFAIL;
	return 0;
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
	if (!rc)
		rc = verdict(rep);
	xchg_status_free(rep);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_status = {
	"status", NULL, "show this node, its peers, packet counters and queues",
	"For each peer: the state of the link, the last packet received from it and\n"
	"the last generated for it with how long ago, how many changes are in no\n"
	"packet yet (unsent; \"all\" while it is owed the full state: a new peer)\n"
	"and how many are in packets it has not acknowledged (unacked), how many\n"
	"conflicts (unique-key collisions included) were decided against it and\n"
	"are open, and how many of its rows this node's schema refused and are\n"
	"still open (xchg conflicts lists them; xchg conflicts retry ID applies one\n"
	"again). Below the table: why a link is not ok, the last packet from a peer\n"
	"that sync, watch or import --archive refused or could not apply (problem),\n"
	"and revoked peers.\n"
	"\n"
	"state is ok, recovering (an end of the link went back in time, restored\n"
	"from a copy, or xchg node resync was run: the full state is on its way),\n"
	"late (nothing from the peer for longer than its late-after, xchg node set)\n"
	"or broken (a packet from it was refused since the last one applied:\n"
	"unreadable, tampered, misaddressed; or a revoked peer that still sends).\n"
	"The exit status is 0 when every link is ok and 1 otherwise, for monitors;\n"
	"--json carries the same with the same names.\n",
	opts, 0, 0, run,
};
