/* xchg: dispatches to one subcommand per file; the library does the work. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const cli_cmd *const commands[] = {
	&cmd_init, &cmd_key, &cmd_key_rotate, &cmd_node_add, &cmd_node_list, &cmd_node_set, &cmd_node_set_key,
	&cmd_node_remove, &cmd_node_revoke, &cmd_node_resync, &cmd_export, &cmd_import, &cmd_sync, &cmd_watch, &cmd_status, &cmd_inspect,
	&cmd_conflicts,
};
#define NCOMMANDS (sizeof(commands) / sizeof(commands[0]))

static void usage(FILE *out)
{
	size_t i;

	fprintf(out, "usage: xchg COMMAND [OPTIONS]\n\n"
		     "Keeps a center and its desktops in step through signed packet files.\n\n"
		     "commands:\n");
	for (i = 0; i < NCOMMANDS; i++) {
		fprintf(out, "  %-14s ", commands[i]->name);
		cli_wrap(out, 17, commands[i]->summary);
	}
	fprintf(out, "\nEvery command takes --db URL (sqlite:PATH, PATH or postgresql://...;\n"
		     "default $XCHG_DB, else ./" CLI_DEFAULT_DB ") and --help. The node's secret key\n"
		     "is the file $XCHG_KEY_FILE, else DB.key beside a SQLite database, else\n"
		     "DBNAME@HOST-PORT.xchg.key in $XDG_CONFIG_HOME/xchg (~/.config/xchg) for\n"
		     "PostgreSQL.\n\n"
		     "exit status:\n"
		     "  0  everything asked for was done (a duplicate packet counts as done)\n"
		     "  1  something asked for was not done\n"
		     "  2  bad arguments or options\n"
		     "  3  the database cannot be opened, is not set up, or failed\n"
		     "  4  a packet was refused (unreadable, tampered, misaddressed, unknown sender)\n"
		     "  5  a file or folder could not be read or written\n"
		     "  6  out of memory\n"
		     "  7  a named node or packet does not exist\n");
}

/* Whether name is "first" (second NULL) or "first second". */
static int names_command(const char *name, const char *first, const char *second)
{
	size_t len = strlen(first);

	if (strncmp(name, first, len) != 0)
		return 0;
	if (!second)
		return name[len] == '\0';
	return name[len] == ' ' && strcmp(name + len + 1, second) == 0;
}

/* Whether name is a two-word command of the group word ("node add" of "node"). */
static int in_group(const char *name, const char *word)
{
	size_t len = strlen(word);

	return strncmp(name, word, len) == 0 && name[len] == ' ';
}

/*
 * Lists the commands of the group word ("node add", "node list", ... of
 * "node") on out, or only counts them when out is NULL; 0: no such group.
 */
static size_t group_help(const char *word, FILE *out)
{
	size_t i, n = 0;

	for (i = 0; i < NCOMMANDS; i++) {
		if (!in_group(commands[i]->name, word))
			continue;
		if (out && n == 0)
			fprintf(out, "usage: xchg %s SUBCOMMAND [OPTIONS]\n\nsubcommands:\n", word);
		if (out) {
			fprintf(out, "  %-16s ", commands[i]->name);
			cli_wrap(out, 19, commands[i]->summary);
		}
		n++;
	}
	if (out && n)
		fprintf(out, "\n'xchg %s SUBCOMMAND --help' tells more of each.\n", word);
	return n;
}

/* The words that may follow "xchg" (or "xchg group"), each once. */
typedef struct word_list {
	char text[NCOMMANDS][CLI_NAME_MAX + 1];
	const char *names[NCOMMANDS];
	size_t n;
} word_list;

static void command_words(const char *group, word_list *w)
{
	size_t i, j, len;
	const char *name;

	w->n = 0;
	for (i = 0; i < NCOMMANDS; i++) {
		name = commands[i]->name;
		if (group && !in_group(name, group))
			continue;
		if (group)
			name += strlen(group) + 1;
		len = strcspn(name, " ");
		if (len > CLI_NAME_MAX)
			continue;
		for (j = 0; j < w->n && !(strlen(w->names[j]) == len && strncmp(w->names[j], name, len) == 0);
		     j++)
			;
		if (j < w->n)
			continue;
		memcpy(w->text[w->n], name, len);
		w->text[w->n][len] = '\0';
		w->names[w->n] = w->text[w->n];
		w->n++;
	}
}

/* A command word xchg (or its group) lacks, with the one likely meant. */
static int unknown(const char *group, const char *word)
{
	word_list w;
	const char *guess;

	command_words(group, &w);
	guess = cli_closest(word, strlen(word), w.names, w.n);
	fprintf(stderr, "xchg: unknown command '%s%s%s'", group ? group : "", group ? " " : "", word);
	if (guess)
		fprintf(stderr, "; did you mean '%s%s%s'?\n", group ? group : "", group ? " " : "", guess);
	else
		fprintf(stderr, "%s\n", group ? "" : "; try 'xchg --help'");
	if (!guess && group)
		group_help(group, stderr);
	return XCHG_EUSAGE;
}


/* The command argv names, and how many words its name took; NULL when none. */
static const cli_cmd *find_command(int argc, char **argv, int *used)
{
	size_t i;

	/* "node add": a two-word command is looked for before a one-word one ("key rotate", "key"). */
	for (*used = 2; *used >= 1; (*used)--)
		for (i = 0; i < NCOMMANDS; i++)
			if (argc >= *used && names_command(commands[i]->name, argv[0],
							   *used == 2 ? argv[1] : NULL))
				return commands[i];
	return NULL;
}

static int dispatch(int argc, char **argv)
{
	const cli_cmd *cmd;
	int used, help;

	if (argc < 1) {
		usage(stderr);
		return XCHG_EUSAGE;
	}
	if (strcmp(argv[0], "--version") == 0 || strcmp(argv[0], "-V") == 0) {
		printf("xchg %s\n", xchg_version());
		return 0;
	}
	/* "xchg help CMD" is "xchg CMD --help". */
	if ((help = strcmp(argv[0], "help") == 0) && argc > 1) {
		argc--;
		argv++;
	} else if (help || strcmp(argv[0], "--help") == 0 || strcmp(argv[0], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	if ((cmd = find_command(argc, argv, &used))) {
		if (help) {
			cli_help(cmd, stdout);
			return 0;
		}
		return cli_run(cmd, argc - used, argv + used);
	}
	/*
	 * A group word alone ("xchg node", "xchg node --db X") asks what it
	 * holds; followed by a word it lacks, it is a mistake.
	 */
	if (argc == 1 || argv[1][0] == '-')
		return group_help(argv[0], stdout) ? 0 : unknown(NULL, argv[0]);
	if (group_help(argv[0], NULL))
		return unknown(argv[0], argv[1]);
	return unknown(NULL, argv[0]);
}

int main(int argc, char **argv)
{
	int rc = dispatch(argc - 1, argv + 1);

	/* Output that did not reach its file is a failure, as coreutils have it (a full disk, /dev/full). */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		fprintf(stderr, "xchg: cannot write to standard output: %s\n", strerror(errno));
		return rc ? rc : XCHG_EIO;
	}
	return rc;
}
