#include "cli.h"

static const cli_opt opts[] = {
	{"out", "DIR", "where acknowledgements go (default: the folder the packet came from)"},
	{"archive", NULL, "file each packet read, as xchg sync does (default: never move a file)"},
	{"quiet", NULL, "say only what failed, and one line of counts"},
	{NULL, NULL, NULL},
};

static int run(const cli_cmd *cmd, const cli_args *a)
{
	xchg_import_opts o = {.version = XCHG_IMPORT_OPTS_VERSION, .ack_dir = cli_get(cmd, a, "out"),
			      .flags = cli_get(cmd, a, "archive") ? XCHG_IMPORT_FILE : 0};
	cli_reporter r = {.quiet = cli_get(cmd, a, "quiet") != NULL};
	cli_progress p;
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if (!r.quiet && cli_progress_wanted(&p, "import")) {
		o.progress = cli_progress_show;
		o.progress_ctx = &p;
	}
	if ((rc = xchg_import_with(db, (const char *const *)a->pos, (size_t)a->npos, &o,
				   cli_report, &r, &err)))
		rc = cli_fail(&err);
	cli_report_summary(&r);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_import = {
	"import", "PATH...", "apply packet files and folders of packets addressed to this node",
	"Each sender's packets are applied in ascending packet number, each in one\n"
	"transaction that commits only when its signature verifies. Duplicates are\n"
	"skipped; bad packets are refused and left where they are. Packets in a\n"
	"folder addressed to other nodes are left alone; a file named explicitly\n"
	"that is addressed elsewhere is refused. Afterwards an acknowledgement\n"
	"packet is written to every sender something was applied from.\n"
	"\n"
	"A row this node's schema refuses (a CHECK, NOT NULL, a foreign key, a\n"
	"length or range) does not stop the packet: the rest applies, and the row\n"
	"is kept in the conflict log with the database's message, counted as\n"
	"refused, for 'xchg conflicts retry ID' once schema or data are fixed. A\n"
	"unique key that another row holds here is decided like a conflict.\n"
	"\n"
	"Sealed packets (.zip.sealed, from export --encrypt) are opened with this\n"
	"node's secret key; one sealed to another node is left alone in a folder and\n"
	"refused when named. The acknowledgement to a sealed packet is sealed too.\n",
	opts, 1, -1, run,
};
