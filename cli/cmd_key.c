#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const cli_opt opts[] = {{NULL, NULL, NULL}};

static int run(const cli_cmd *cmd, const cli_args *a)
{
	xchg_db *db = NULL;
	xchg_err err;
	char *key = NULL;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_public_key(db, &key, &err)))
		rc = cli_fail(&err);
	else
		printf("%s\n", key);
	free(key);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_key = {
	"key", NULL, "print this node's public key on one line",
	"Give it to the peer, which registers it with 'xchg node add --key'.\n",
	opts, 0, 0, run,
};
