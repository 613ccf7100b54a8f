#include <stdio.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"code", "CODE", "this node's code: 1 to 64 of letters, digits, '.', '_', '-' (required)"},
	{"name", "NAME", "a display name (default: the code)"},
	{"plan", "PLAN.json", "the exchange plan (required; see formats/PLAN.md)"},
	{"master", NULL, "this node is the center; without it, a desktop"},
	{NULL, NULL, NULL},
};

static int run(const cli_cmd *cmd, const cli_args *a)
{
	xchg_init_opts o = {.version = XCHG_INIT_OPTS_VERSION, .code = cli_get(cmd, a, "code"),
			    .name = cli_get(cmd, a, "name"), .plan_path = cli_get(cmd, a, "plan"),
			    .master = cli_get(cmd, a, "master") != NULL};
	xchg_db *db = NULL;
	xchg_err err;
	int already = 0, rc;

	if (!o.code)
		return cli_usage_error(cmd, "--code is required");
	if (!o.plan_path)
		return cli_usage_error(cmd, "--plan is required");
	if ((rc = cli_open(cmd, a, XCHG_OPEN_CREATE, &db)))
		return rc;
	if ((rc = xchg_init(db, &o, &already, &err)))
		rc = cli_fail(&err);
	else if (already)
		printf("node %s was already initialized in %s; plan and triggers renewed\n",
		       o.code, cli_db_url(cmd, a));
	else
		printf("initialized node %s (%s) in %s\n", o.code, o.master ? "center" : "desktop",
		       cli_db_url(cmd, a));
	if (!rc)
		printf("secret key: %s (keep it private; never send it)\n", xchg_key_file(db));
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_init = {
	"init", NULL, "prepare a database as an exchange node",
	"Creates sync_nodes and sync_changes, stores the plan, adds uuid, updated_at\n"
	"and is_deleted to synchronized tables where missing, installs the\n"
	"registration triggers, creates this node's key pair and prints where the\n"
	"secret key is. That file (mode 0600) is $XCHG_KEY_FILE, else DB.key beside\n"
	"a SQLite database, else for PostgreSQL DBNAME@HOST-PORT.xchg.key in\n"
	"$XDG_CONFIG_HOME/xchg, or ~/.config/xchg without it (folders made with mode\n"
	"0700). Keep it private and never send it. Running init again is safe: it\n"
	"renews the plan and the triggers and keeps the node's identity.\n",
	opts, 0, 0, run,
};
