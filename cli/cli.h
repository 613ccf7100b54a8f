/* The command-line tool: option parsing shared by the subcommands. */
#ifndef XCHG_CLI_H
#define XCHG_CLI_H

#include <stdio.h>

#include "xchg.h"

#define CLI_MAX_OPTS 12
/* The longest command word or option name. */
#define CLI_NAME_MAX 32
#define CLI_DEFAULT_DB "xchg.db"

typedef struct cli_opt {
	const char *name; /* without the leading "--" */
	const char *arg;  /* placeholder for its value, NULL for a flag */
	const char *help;
} cli_opt;

typedef struct cli_args {
	const char *val[CLI_MAX_OPTS]; /* by position in the command's options */
	char **pos;
	int npos;
} cli_args;

typedef struct cli_cmd cli_cmd;
struct cli_cmd {
	const char *name;     /* "init", "node add", ... */
	const char *operands; /* shown after the options in the usage line */
	const char *summary;
	const char *details;  /* more lines for --help, or NULL */
	const cli_opt *opts;  /* ends with {NULL}; --db and --help are implied */
	int min_pos, max_pos; /* operand count; max -1 for any */
	int (*run)(const cli_cmd *cmd, const cli_args *a);
};

extern const cli_cmd cmd_init, cmd_key, cmd_key_rotate, cmd_node_add, cmd_node_list,
	cmd_node_set, cmd_node_set_key, cmd_node_remove, cmd_node_revoke, cmd_node_resync, cmd_export, cmd_import,
	cmd_sync, cmd_watch, cmd_status,
	cmd_inspect, cmd_conflicts;

/*
 * Of names, the one word (len bytes, not NUL-terminated) was most likely
 * meant to be: a typing slip or two away, and closer than any other; NULL
 * when none is, or two are as close.
 */
const char *cli_closest(const char *word, size_t len, const char *const *names, size_t n);

/* A role as the JSON outputs (and sync_nodes) spell it: "master", "subordinate". */
const char *cli_role_json(xchg_role role);
/* A role as people say it: "center", "desktop". */
const char *cli_role_text(xchg_role role);

/* The value of option name, or NULL when not given. */
const char *cli_get(const cli_cmd *cmd, const cli_args *a, const char *name);
/*
 * A duration as people write it: 90, 90s, 30m, 24h, 7d or a sum such as
 * 1h30m, in seconds. 0 on success, -1 when s is none or is not above zero.
 */
int cli_duration(const char *s, int64_t *seconds);
/* A whole number of 1 or more digits, up to 2^53: 0 on success, -1 otherwise. */
int cli_count(const char *s, int64_t *n);
/* A duration in the largest whole units that give it exactly: "1d", "90m", "45s". */
void cli_duration_text(int64_t seconds, char out[32]);
/* How import, sync and watch report (report.c). */
typedef struct cli_reporter {
	int quiet; /* only failures, and cli_report_summary's line */
	int log;   /* every line on stderr behind its time: a service's log */
	int64_t counts[XCHG_WARNING + 1]; /* events by outcome since the last summary */
} cli_reporter;

/* Prints one event of an import, sync or watch (ctx: a cli_reporter). */
void cli_report(const xchg_import_event *ev, void *ctx);
/* When quiet: one line of what was counted since the last, if anything was. */
void cli_report_summary(cli_reporter *r);
/*
 * The progress line of a long export or import (progress.c): on stderr, and
 * only when stderr is a terminal and the work has run a second already.
 */
typedef struct cli_progress {
	const char *what; /* "export", "import" */
	double start, last; /* monotonic seconds */
	double after;       /* seconds before the line appears */
	int64_t done;       /* as last heard: less now means the next packet */
	int shown;
} cli_progress;

/* Whether a progress line may be shown at all; if so, p is ready for cli_progress_show. */
int cli_progress_wanted(cli_progress *p, const char *what);
/* An xchg_progress_cb (ctx: a cli_progress). */
void cli_progress_show(int64_t done, int64_t total, void *ctx);
/* The --db option, else $XCHG_DB, else ./xchg.db; cli_open refuses an empty one. */
const char *cli_db_url(const cli_cmd *cmd, const cli_args *a);
int cli_open(const cli_cmd *cmd, const cli_args *a, unsigned flags, xchg_db **db);
/* Prints "xchg: message" to stderr and returns the status as exit code. */
int cli_fail(const xchg_err *err);
int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));
void cli_help(const cli_cmd *cmd, FILE *out);
/* Help fits a terminal of this many columns. */
#define CLI_HELP_WIDTH 80
/*
 * Prints text from column indent on (the caller has filled the line to
 * it), words wrapped to CLI_HELP_WIDTH, each next line indented alike,
 * and ends the line.
 */
void cli_wrap(FILE *out, int indent, const char *text);
/* The noun for n of them: cli_noun(1, "entity", "entities") is "entity". */
const char *cli_noun(long long n, const char *one, const char *many);
/* Prints root as indented JSON on stdout and frees it. */
struct cJSON;
int cli_print_json(struct cJSON *root);
int cli_run(const cli_cmd *cmd, int argc, char **argv);

#endif
