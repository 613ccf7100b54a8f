#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const cli_opt no_opts[] = {{NULL, NULL, NULL}};

static const cli_opt add_opts[] = {
	{"key", "LINE", "the peer's key line, as its 'xchg key' prints it (required)"},
	{"code", "CODE", "the peer's code; only confirms the one the key line carries"},
	{"name", "NAME", "a display name (default: the code)"},
	{NULL, NULL, NULL},
};

static int run_add(const cli_cmd *cmd, const cli_args *a)
{
	const char *key = cli_get(cmd, a, "key");
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if (!key)
		return cli_usage_error(cmd, "--key is required");
	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_node_add(db, key, cli_get(cmd, a, "code"), cli_get(cmd, a, "name"), &err)))
		rc = cli_fail(&err);
	else /* the line's first word is the peer's code */
		printf("registered peer %.*s; its first packet carries the whole database\n",
		       (int)strcspn(key + strspn(key, " \t"), " \t"), key + strspn(key, " \t"));
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_node_add = {
	"node add", NULL, "register a peer node from its key line",
	"LINE is what 'xchg key' prints on the peer: its code, its id and its public\n"
	"key. The peer is registered under that id, the same in every database of\n"
	"the star. On the center, each desktop is added as a peer. On a desktop, the\n"
	"center is its one peer; a second one is refused (star topology). Refused\n"
	"too: this node's own line, a key or id registered already, and a code equal\n"
	"to a registered one but for case. Nothing is queued: the peer's first\n"
	"packet reads the whole database from its tables, and later ones carry what\n"
	"changed since, so adding a peer costs the same for ten rows or ten million.\n",
	add_opts, 0, 0, run_add,
};

static const cli_opt list_opts[] = {
	{"json", NULL, "print JSON instead of a table"},
	{NULL, NULL, NULL},
};

static cJSON *node_json(const xchg_node_info *n)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "code", n->code);
	cJSON_AddStringToObject(o, "name", n->name ? n->name : n->code);
	cJSON_AddStringToObject(o, "id", n->id);
	cJSON_AddStringToObject(o, "role", cli_role_json(n->role));
	cJSON_AddBoolToObject(o, "self", n->is_self);
	cJSON_AddStringToObject(o, "public_key", n->public_key ? n->public_key : "");
	cJSON_AddStringToObject(o, "fingerprint", n->fingerprint);
	cJSON_AddBoolToObject(o, "revoked", n->revoked_at != NULL);
	if (n->revoked_at)
		cJSON_AddStringToObject(o, "revoked_at", n->revoked_at);
	return o;
}

static void print_node(const xchg_node_info *n)
{
	printf("%-16s %-36s %-7s %-19s %s%s%s\n", n->code, n->id,
	       n->is_self ? "self" : cli_role_text(n->role), n->fingerprint,
	       n->name ? n->name : n->code, n->revoked_at ? ", revoked on " : "",
	       n->revoked_at ? n->revoked_at : "");
}

static int run_list(const cli_cmd *cmd, const cli_args *a)
{
	xchg_status_report *rep = NULL;
	xchg_db *db = NULL;
	xchg_err err;
	size_t i;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_status_get(db, &rep, &err))) {
		rc = cli_fail(&err);
	} else if (cli_get(cmd, a, "json")) {
		cJSON *nodes = cJSON_CreateArray();

		cJSON_AddItemToArray(nodes, node_json(&rep->self));
		for (i = 0; i < rep->npeers; i++)
			cJSON_AddItemToArray(nodes, node_json(&rep->peers[i]));
		rc = cli_print_json(nodes);
	} else {
		printf("%-16s %-36s %-7s %-19s %s\n", "CODE", "ID", "ROLE", "KEY FINGERPRINT", "NAME");
		print_node(&rep->self);
		for (i = 0; i < rep->npeers; i++)
			print_node(&rep->peers[i]);
	}
	xchg_status_free(rep);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_node_list = {
	"node list", NULL, "list this node and its peers: code, id, role, key",
	"One line per node, this one first: its code, its id (the same in every\n"
	"database of the star), its role (self, center or desktop), the fingerprint\n"
	"of its public key (to compare with what 'xchg node list' shows on the peer),\n"
	"its name, and whether it is revoked.\n",
	list_opts, 0, 0, run_list,
};

static const cli_opt set_opts[] = {
	{"dir", "DIR", "the folder this link's packets go to and come from (\"\" forgets it)"},
	{"late-after", "DURATION", "how long without a packet from the peer before the link is"
				   " late: 90m, 24h, 7d (default 24h)"},
	{"applied", "WHAT", "what sync does with a packet once applied: archive (into DIR/archive/),"
			    " delete or keep (default archive)"},
	{"max-queue", "N", "changes queued for a silent peer before they collapse into its full"
			   " state, sent when it is back (none: no cap, the default)"},
	{"subset", "A,B", "at the center: the values of the plan's subset columns whose rows"
			  " the desktop receives, besides the shared ones (\"\": every row)"},
	{NULL, NULL, NULL},
};

static int run_set(const cli_cmd *cmd, const cli_args *a)
{
	const char *dir = cli_get(cmd, a, "dir"), *late = cli_get(cmd, a, "late-after"),
		   *cap = cli_get(cmd, a, "max-queue");
	xchg_link_opts o = {.version = XCHG_LINK_OPTS_VERSION, .applied = cli_get(cmd, a, "applied"),
			    .subset = cli_get(cmd, a, "subset")};
	char cwd[4096], *abs = NULL, when[32];
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if (!dir && !late && !o.applied && !cap && !o.subset)
		return cli_usage_error(cmd, "give at least one of --dir, --late-after, --applied,"
					    " --max-queue and --subset");
	if (cap && strcmp(cap, "none") == 0)
		o.max_queue = XCHG_NO_MAX_QUEUE;
	else if (cap && (cli_count(cap, &o.max_queue) || o.max_queue < 1))
		return cli_usage_error(cmd, "--max-queue %s: give a number of changes above zero, or none",
				       cap);
	if (late && cli_duration(late, &o.late_after))
		return cli_usage_error(cmd, "--late-after %s: not a duration such as 90m, 24h or 7d",
				       late);
	/* Kept as a full path: sync and watch run from wherever the scheduler starts them. */
	if (dir && dir[0] && dir[0] != '/') {
		if (!getcwd(cwd, sizeof(cwd)) || !(abs = malloc(strlen(cwd) + strlen(dir) + 2))) {
			fprintf(stderr, "xchg: cannot tell the current folder: %s\n", strerror(errno));
			return XCHG_EIO;
		}
		sprintf(abs, "%s/%s", cwd, dir);
	}
	o.dir = abs ? abs : dir;
	if ((rc = cli_open(cmd, a, 0, &db)) == 0) {
		if ((rc = xchg_node_set(db, a->pos[0], &o, &err)))
			rc = cli_fail(&err);
		else {
			if (o.dir)
				printf("%s: packets go to and come from %s\n", a->pos[0],
				       o.dir[0] ? o.dir : "the folder named on each run (none set)");
			if (o.late_after) {
				cli_duration_text(o.late_after, when);
				printf("%s: late after %s without a packet from it\n", a->pos[0], when);
			}
			if (o.applied)
				printf("%s: applied packets are %s\n", a->pos[0],
				       o.applied[0] == 'a' ? "archived" : o.applied[0] == 'd' ? "deleted" : "kept");
			if (o.max_queue > 0)
				printf("%s: past %lld queued %s, it gets the full state instead\n",
				       a->pos[0], (long long)o.max_queue,
				       cli_noun(o.max_queue, "change", "changes"));
			else if (o.max_queue)
				printf("%s: its queue has no cap\n", a->pos[0]);
			if (o.subset && o.subset[0])
				printf("%s: receives the rows of subset %s and the shared rows; its next"
				       " packet brings its copy there\n", a->pos[0], o.subset);
			else if (o.subset)
				printf("%s: receives every row\n", a->pos[0]);
		}
		xchg_close(db);
	}
	free(abs);
	return rc;
}

const cli_cmd cmd_node_set = {
	"node set", "CODE", "set how the link with a peer runs unattended",
	"Stored in this node's database, for xchg sync, xchg watch and xchg status:\n"
	"the folder the link's packets go to and come from (both directions may share\n"
	"it, and one folder may serve every link), how long the peer may be silent\n"
	"before status calls the link late, what becomes of a packet once it is\n"
	"applied or skipped as a duplicate, and how many changes may queue up for a\n"
	"silent peer before the queue collapses into one mark: the full state, sent\n"
	"when the peer is back (a dead laptop does not grow the queue for ever), and\n"
	"at the center which subset of the rows a desktop receives: rows whose subset\n"
	"column (formats/PLAN.md) holds one of its values, and rows that hold none.\n",
	set_opts, 1, 1, run_set,
};

static const cli_opt set_key_opts[] = {
	{"key", "LINE", "the peer's new key line, as its 'xchg key' prints it (required)"},
	{NULL, NULL, NULL},
};

/* What one of the commands on an existing peer does to it; key is --key or NULL. */
typedef xchg_status (*peer_fn)(xchg_db *db, const char *code, const char *key, xchg_err *err);

/* Opens the database, does fn to peer CODE (the operand) and says what became of it. */
static int on_peer(const cli_cmd *cmd, const cli_args *a, peer_fn fn, const char *key,
		   const char *done)
{
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = fn(db, a->pos[0], key, &err)))
		rc = cli_fail(&err);
	else
		printf("%s %s\n", a->pos[0], done);
	xchg_close(db);
	return rc;
}

static xchg_status set_key(xchg_db *db, const char *code, const char *key, xchg_err *err)
{
	return xchg_node_set_key(db, code, key, err);
}

static int run_set_key(const cli_cmd *cmd, const cli_args *a)
{
	const char *key = cli_get(cmd, a, "key");

	if (!key)
		return cli_usage_error(cmd, "--key is required");
	return on_peer(cmd, a, set_key, key, "will be checked against its new key from now on");
}

const cli_cmd cmd_node_set_key = {
	"node set-key", "CODE", "register a new key for a peer, given out of band",
	"For a peer that made a new key pair outside 'xchg key rotate' (its key file\n"
	"was lost) or missed more than 16 rotations. LINE must carry the peer's code\n"
	"and id. Check the key with the peer first (xchg node list shows its\n"
	"fingerprint on both sides): whoever hands you a line takes the peer's place.\n",
	set_key_opts, 1, 1, run_set_key,
};

static xchg_status remove_peer(xchg_db *db, const char *code, const char *key, xchg_err *err)
{
	(void)key;
	return xchg_node_remove(db, code, err);
}

static int run_remove(const cli_cmd *cmd, const cli_args *a)
{
	return on_peer(cmd, a, remove_peer, NULL, "is removed, and what was queued for it");
}

const cli_cmd cmd_node_remove = {
	"node remove", "CODE", "forget a peer that never exchanged, or a revoked one",
	"Removes the peer, what is queued for it and its entries in the conflict\n"
	"log. A peer that has exchanged packets is removed only once revoked: a\n"
	"live link removed by mistake could not be set up again without losing\n"
	"changes.\n",
	no_opts, 1, 1, run_remove,
};

static xchg_status revoke_peer(xchg_db *db, const char *code, const char *key, xchg_err *err)
{
	(void)key;
	return xchg_node_revoke(db, code, err);
}

static int run_revoke(const cli_cmd *cmd, const cli_args *a)
{
	return on_peer(cmd, a, revoke_peer, NULL,
		       "is revoked: its packets are refused and nothing more is sent to it");
}

static xchg_status resync_peer(xchg_db *db, const char *code, const char *key, xchg_err *err)
{
	(void)key;
	return xchg_node_resync(db, code, err);
}

static int run_resync(const cli_cmd *cmd, const cli_args *a)
{
	return on_peer(cmd, a, resync_peer, NULL,
		       "gets this node's full state with the next packet to it");
}

const cli_cmd cmd_node_resync = {
	"node resync", "CODE", "send a peer the full state of every synchronized row",
	"For a database damaged or edited behind xchg's back, at either end: the\n"
	"next packet to CODE carries every row this node has, read from its tables,\n"
	"and the peer applies it under its usual rules (a row changed on both sides\n"
	"is a conflict, decided and logged as ever). xchg status shows the link as\n"
	"recovering until CODE acknowledges it. Running it again changes nothing\n"
	"more.\n",
	no_opts, 1, 1, run_resync,
};

const cli_cmd cmd_node_revoke = {
	"node revoke", "CODE", "revoke a peer whose key is lost or stolen",
	"From now on packets from CODE are refused, whoever signed them, and\n"
	"nothing is exported to it; what was queued for it is dropped. This cannot\n"
	"be undone: set the replacement up with a new key and add it under a new\n"
	"code. On the center, revoke a desktop; on a desktop, the center.\n",
	no_opts, 1, 1, run_revoke,
};
