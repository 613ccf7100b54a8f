#include <stdio.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"node", "CODE", "the peer to write the packet for (required)"},
	{"out", "DIR", "the folder to write it into (default: .)"},
	{NULL, NULL, NULL},
};

static int run(const cli_cmd *cmd, const cli_args *a)
{
	const char *node = cli_get(cmd, a, "node"), *out = cli_get(cmd, a, "out");
	xchg_export_result res;
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if (!node)
		return cli_usage_error(cmd, "--node is required");
	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_export(db, node, out ? out : ".", &res, &err)))
		rc = cli_fail(&err);
	else
		printf("%s\n", res.path);
	xchg_export_result_clear(&res);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_export = {
	"export", NULL, "write the next packet for a peer and print its path",
	"The packet carries every change registered for the peer that it has not\n"
	"acknowledged yet, and acknowledges the last packet received from it. It is\n"
	"named pkt_SENDER_RECIPIENT_NUMBER.zip and appears in DIR atomically.\n",
	opts, 0, 0, run,
};
