#include <stdio.h>
#include <stdlib.h>

#include "cli.h"

static const cli_opt opts[] = {{NULL, NULL, NULL}};

/* Both commands print one public key: the current one, or the one just made. */
static int print_key(const cli_cmd *cmd, const cli_args *a,
		     xchg_status (*get)(xchg_db *db, char **key, xchg_err *err))
{
	xchg_db *db = NULL;
	xchg_err err;
	char *key = NULL;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = get(db, &key, &err)))
		rc = cli_fail(&err);
	else
		printf("%s\n", key);
	free(key);
	xchg_close(db);
	return rc;
}

static int run(const cli_cmd *cmd, const cli_args *a)
{
	return print_key(cmd, a, xchg_public_key);
}

const cli_cmd cmd_key = {
	"key", NULL, "print this node's public key on one line",
	"Give it to the peer, which registers it with 'xchg node add --key'.\n",
	opts, 0, 0, run,
};

static int run_rotate(const cli_cmd *cmd, const cli_args *a)
{
	return print_key(cmd, a, xchg_key_rotate);
}

const cli_cmd cmd_key_rotate = {
	"key rotate", NULL, "replace this node's key pair; peers follow on their own",
	"Writes a new secret key file in place of the old one and prints the new\n"
	"public key. The old key signs the new one, and every packet from now on\n"
	"carries that signature, so a peer switches to the new key with the first\n"
	"packet it verifies; nothing has to be registered again. A peer that\n"
	"missed more than 16 rotations must be given the new key with node add.\n"
	"If the old secret key was stolen, revoke the node on its peers instead:\n"
	"whoever holds the old key could rotate it too.\n",
	opts, 0, 0, run_rotate,
};
