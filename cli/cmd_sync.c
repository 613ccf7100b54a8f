#include <stdio.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"dir", "DIR", "the folder of every link that has none of its own (xchg node set --dir)"},
	{"quiet", NULL, "say only what failed, and one line of counts"},
	{NULL, NULL, NULL},
};

static int run(const cli_cmd *cmd, const cli_args *a)
{
	cli_reporter r = {.quiet = cli_get(cmd, a, "quiet") != NULL};
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_sync(db, cli_get(cmd, a, "dir"), cli_report, &r, &err)))
		rc = cli_fail(&err);
	cli_report_summary(&r);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_sync = {
	"sync", NULL, "one unattended round: import, file, then export what is new",
	"Imports every packet addressed to this node from each link's folder (xchg\n"
	"node set --dir, or --dir for the links without one), each sender's in\n"
	"order, and acknowledges them as import does. Then it files each packet it\n"
	"read: an applied or duplicate one is archived into FOLDER/archive/, deleted\n"
	"or kept, as its link says (xchg node set --applied); a refused one goes to\n"
	"FOLDER/rejected/ with the reason in NAME.why, so that it stops failing every\n"
	"later run. Last, it exports to each peer with changes not yet sent (or its\n"
	"full state owed), and to no other: a run with nothing new writes nothing.\n"
	"Files not named like packets (pkt_*.zip, pkt_*.zip.sealed) are left alone.\n"
	"Safe to run again at once, and from cron or a systemd timer. Exit status as\n"
	"for import and export.\n",
	opts, 0, 0, run,
};
