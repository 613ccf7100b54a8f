/* xchg: dispatches to one subcommand per file; the library does the work. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#define XCHG_VERSION "0.1.0"

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
	for (i = 0; i < NCOMMANDS; i++)
		fprintf(out, "  %-14s %s\n", commands[i]->name, commands[i]->summary);
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
		if (out)
			fprintf(out, "  %-16s %s\n", commands[i]->name, commands[i]->summary);
		n++;
	}
	if (out && n)
		fprintf(out, "\n'xchg %s SUBCOMMAND --help' tells more of each.\n", word);
	return n;
}

static int unknown(const char *word)
{
	fprintf(stderr, "xchg: unknown command '%s'; try 'xchg --help'\n", word);
	return XCHG_EUSAGE;
}

int main(int argc, char **argv)
{
	size_t i, used;

	if (argc < 2) {
		usage(stderr);
		return XCHG_EUSAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "help") == 0) {
		usage(stdout);
		return 0;
	}
	if (strcmp(argv[1], "--version") == 0) {
		printf("xchg %s\n", XCHG_VERSION);
		return 0;
	}
	/* "node add": a two-word command is looked for before a one-word one ("key rotate", "key"). */
	for (used = 3; used >= 2; used--)
		for (i = 0; i < NCOMMANDS; i++)
			if (argc > (int)used - 1 && names_command(commands[i]->name, argv[1],
								   used == 3 ? argv[2] : NULL))
				return cli_run(commands[i], argc - (int)used, argv + used);
	/*
	 * A group word alone ("xchg node", "xchg node --db X") asks what it
	 * holds; followed by a word it lacks, it is a mistake.
	 */
	if (argc == 2 || argv[2][0] == '-')
		return group_help(argv[1], stdout) ? 0 : unknown(argv[1]);
	if (group_help(argv[1], NULL)) {
		fprintf(stderr, "xchg: unknown command '%s %s'\n", argv[1], argv[2]);
		group_help(argv[1], stderr);
		return XCHG_EUSAGE;
	}
	return unknown(argv[1]);
}
