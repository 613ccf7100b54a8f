#include <stdio.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"code", "CODE", "the peer's node code (required)"},
	{"name", "NAME", "a display name (default: the code)"},
	{"key", "KEY", "the peer's public key, as its 'xchg key' prints it (required)"},
	{NULL, NULL, NULL},
};

static int run(const cli_cmd *cmd, const cli_args *a)
{
	const char *code = cli_get(cmd, a, "code"), *key = cli_get(cmd, a, "key");
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if (!code)
		return cli_usage_error(cmd, "--code is required");
	if (!key)
		return cli_usage_error(cmd, "--key is required");
	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_node_add(db, code, cli_get(cmd, a, "name"), key, &err)))
		rc = cli_fail(&err);
	else
		printf("registered peer %s; everything already in the database is queued for it\n", code);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_node_add = {
	"node add", NULL, "register a peer node and its public key",
	"On the center, each desktop is added as a peer. On a desktop, the center is\n"
	"its one peer; a second one is refused (star topology). Every row already in\n"
	"the database is registered for the new peer, so its first packet carries the\n"
	"whole database.\n",
	opts, 0, 0, run,
};

static int run_revoke(const cli_cmd *cmd, const cli_args *a)
{
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_node_revoke(db, a->pos[0], &err)))
		rc = cli_fail(&err);
	else
		printf("revoked %s: its packets are refused and nothing more is sent to it\n", a->pos[0]);
	xchg_close(db);
	return rc;
}

static const cli_opt no_opts[] = {{NULL, NULL, NULL}};

const cli_cmd cmd_node_revoke = {
	"node revoke", "CODE", "revoke a peer whose key is lost or stolen",
	"From now on packets from CODE are refused, whoever signed them, and\n"
	"nothing is exported to it; what was queued for it is dropped. This cannot\n"
	"be undone: set the replacement up with a new key and add it under a new\n"
	"code. On the center, revoke a desktop; on a desktop, the center.\n",
	no_opts, 1, 1, run_revoke,
};
