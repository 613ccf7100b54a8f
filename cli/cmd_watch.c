#include <signal.h>
#include <string.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"dir", "DIR", "the folder of every link that has none of its own (xchg node set --dir)"},
	{"interval", "SECONDS", "how often to export what changed here when no packet arrives"
				" (default 60; 30s, 5m also do)"},
	{"poll", NULL, "look at the folders every second instead of inotify (network shares)"},
	{"quiet", NULL, "say only what failed, and a line of counts when stopped"},
	{NULL, NULL, NULL},
};

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static int run(const cli_cmd *cmd, const cli_args *a)
{
	xchg_watch_opts o = {.version = XCHG_WATCH_OPTS_VERSION, .dir = cli_get(cmd, a, "dir"),
			     .stop = &stop};
	cli_reporter r = {.quiet = cli_get(cmd, a, "quiet") != NULL, .log = 1};
	struct sigaction sa;
	xchg_db *db = NULL;
	xchg_err err;
	int rc;

	if (cli_get(cmd, a, "interval") && cli_duration(cli_get(cmd, a, "interval"), &o.interval))
		return cli_usage_error(cmd, "--interval %s: give seconds above zero (90, or 30s, 5m, 1h)",
				       cli_get(cmd, a, "interval"));
	if (cli_get(cmd, a, "poll"))
		o.flags |= XCHG_WATCH_POLL;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if ((rc = xchg_watch(db, &o, cli_report, &r, &err)))
		rc = cli_fail(&err);
	cli_report_summary(&r);
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_watch = {
	"watch", NULL, "run sync rounds as packets arrive and on an interval, until stopped",
	"Runs the rounds of xchg sync (import, file, export what is new) at once\n"
	"when a packet file arrives in a link's folder, and every --interval to\n"
	"send what changed here. Writers rename packets into place; hidden files\n"
	"(an export's temporary) and this node's own packets wake nothing. A folder\n"
	"that disappears (an unmounted stick, a share gone) is waited for; a bad\n"
	"packet goes to rejected/ as sync does, and the watch carries on. inotify\n"
	"tells of new files at once; on a network share, where it is blind, --poll\n"
	"looks every second instead. SIGINT or SIGTERM stops it after the round\n"
	"under way, within a few seconds, with no half-written file left. Each\n"
	"action is one line on stderr behind its UTC time, for journald or a log.\n"
	"Exits 0 when stopped; 2 when a link has no folder, 3 when the database\n"
	"cannot be used at the start.\n",
	opts, 0, 0, run,
};
