/* Option parsing: --name VALUE, --name=VALUE, flags, operands; anywhere after the command. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const cli_opt common_opts[] = {
	{"db", "URL", "the node's database: sqlite:PATH, PATH or postgresql://... (default $XCHG_DB, else ./" CLI_DEFAULT_DB ")"},
	{"help", NULL, "show this help"},
};
#define NCOMMON 2

/* Option slots: the command's own options first, then the common ones. */
static int slot_count(const cli_cmd *cmd)
{
	int n = 0;

	while (cmd->opts[n].name)
		n++;
	return n;
}

static const cli_opt *slot_opt(const cli_cmd *cmd, int i)
{
	int own = slot_count(cmd);

	return i < own ? &cmd->opts[i] : &common_opts[i - own];
}

static int find_slot(const cli_cmd *cmd, const char *name, size_t len)
{
	int i, n = slot_count(cmd) + NCOMMON;

	for (i = 0; i < n; i++)
		if (strlen(slot_opt(cmd, i)->name) == len && strncmp(slot_opt(cmd, i)->name, name, len) == 0)
			return i;
	return -1;
}

/* The one-letter forms people type, for the commands that have the long one. */
static const struct {
	char letter;
	const char *name;
} short_opts[] = {{'h', "help"}, {'q', "quiet"}};

static int find_short(const cli_cmd *cmd, const char *arg)
{
	size_t i;

	if (arg[0] != '-' || !arg[1] || arg[2])
		return -1;
	for (i = 0; i < sizeof(short_opts) / sizeof(short_opts[0]); i++)
		if (short_opts[i].letter == arg[1])
			return find_slot(cmd, short_opts[i].name, strlen(short_opts[i].name));
	return -1;
}

/*
 * The edit distance between a and b (insertions, deletions, substitutions
 * and swaps of two neighbours), or a value above limit once it must be.
 */
static size_t edit_distance(const char *a, size_t la, const char *b, size_t lb, size_t limit)
{
	size_t d[CLI_NAME_MAX + 1][CLI_NAME_MAX + 1], i, j;

	if (la > CLI_NAME_MAX || lb > CLI_NAME_MAX || (la > lb ? la - lb : lb - la) > limit)
		return limit + 1;
	for (i = 0; i <= la; i++)
		d[i][0] = i;
	for (j = 0; j <= lb; j++)
		d[0][j] = j;
	for (i = 1; i <= la; i++)
		for (j = 1; j <= lb; j++) {
			size_t best = d[i - 1][j - 1] + (a[i - 1] != b[j - 1]);

			if (d[i - 1][j] + 1 < best)
				best = d[i - 1][j] + 1;
			if (d[i][j - 1] + 1 < best)
				best = d[i][j - 1] + 1;
			if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] &&
			    d[i - 2][j - 2] + 1 < best)
				best = d[i - 2][j - 2] + 1;
			d[i][j] = best;
		}
	return d[la][lb];
}

const char *cli_closest(const char *word, size_t len, const char *const *names, size_t n)
{
	/* One slip in a short name, two in a longer one: further off is another word. */
	size_t limit = len < 5 ? 1 : 2, best = limit + 1, i, dist, ties = 0;
	const char *found = NULL;

	for (i = 0; i < n; i++) {
		dist = edit_distance(word, len, names[i], strlen(names[i]), limit);
		if (dist < best) {
			best = dist;
			found = names[i];
			ties = 0;
		} else if (dist == best && strcmp(names[i], found ? found : "") != 0) {
			ties++;
		}
	}
	return best <= limit && !ties ? found : NULL;
}

int cli_duration(const char *s, int64_t *seconds)
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = {{'s', 1}, {'m', 60}, {'h', 60 * 60}, {'d', 24 * 60 * 60}};
	int64_t total = 0, n;
	size_t i;

	if (!s || !*s)
		return -1;
	while (*s) {
		if (*s < '0' || *s > '9')
			return -1;
		for (n = 0; *s >= '0' && *s <= '9'; s++)
			if ((n = n * 10 + (*s - '0')) > 100LL * 365 * 24 * 60 * 60)
				return -1;
		for (i = 0; *s && i < sizeof(units) / sizeof(units[0]) && units[i].unit != *s; i++)
			;
		if (*s && i == sizeof(units) / sizeof(units[0]))
			return -1;
		total += n * (*s ? units[i].seconds : 1);
		if (*s)
			s++;
	}
	if (total <= 0)
		return -1;
	*seconds = total;
	return 0;
}

int cli_count(const char *s, int64_t *n)
{
	int64_t v = 0;

	if (!s || !*s)
		return -1;
	for (; *s; s++) {
		if (*s < '0' || *s > '9' || (v = v * 10 + (*s - '0')) > (1LL << 53))
			return -1;
	}
	*n = v;
	return 0;
}

void cli_duration_text(int64_t seconds, char out[32])
{
	static const struct {
		char unit;
		int64_t seconds;
	} units[] = {{'d', 24 * 60 * 60}, {'h', 60 * 60}, {'m', 60}, {'s', 1}};
	size_t i;

	for (i = 0; i + 1 < sizeof(units) / sizeof(units[0]) && seconds % units[i].seconds; i++)
		;
	snprintf(out, 32, "%lld%c", (long long)(seconds / units[i].seconds), units[i].unit);
}

const char *cli_role_json(xchg_role role)
{
	return role == XCHG_ROLE_CENTER ? "master" : "subordinate";
}

const char *cli_role_text(xchg_role role)
{
	return role == XCHG_ROLE_CENTER ? "center" : "desktop";
}

const char *cli_get(const cli_cmd *cmd, const cli_args *a, const char *name)
{
	int i = find_slot(cmd, name, strlen(name));

	return i < 0 ? NULL : a->val[i];
}

const char *cli_db_url(const cli_cmd *cmd, const cli_args *a)
{
	const char *url = cli_get(cmd, a, "db");

	if (!url)
		url = getenv("XCHG_DB");
	return url ? url : CLI_DEFAULT_DB;
}

/*
 * Where a PostgreSQL node keeps its key unless XCHG_KEY_FILE names the file:
 * the user's configuration folder, never the current one, which changes with
 * whoever runs xchg (a shell, a scheduler). A relative XDG_CONFIG_HOME is
 * ignored, as the XDG base directory rules say. NULL when no home is known.
 */
static char *key_folder(void)
{
	const char *xdg = getenv("XDG_CONFIG_HOME"), *home = getenv("HOME"), *base, *tail;
	char *dir = NULL;
	int len;

	if (xdg && xdg[0] == '/') {
		base = xdg;
		tail = "/xchg";
	} else if (home && home[0]) {
		base = home;
		tail = "/.config/xchg";
	} else {
		return NULL;
	}
	for (len = (int)strlen(base); len > 0 && base[len - 1] == '/'; len--)
		;
	return asprintf(&dir, "%.*s%s", len, base, tail) < 0 ? NULL : dir;
}

int cli_open(const cli_cmd *cmd, const cli_args *a, unsigned flags, xchg_db **db)
{
	const char *key = getenv("XCHG_KEY_FILE"), *url = cli_db_url(cmd, a);
	char *dir = NULL;
	xchg_err err;
	xchg_status rc = XCHG_OK;

	/* An empty --db or XCHG_DB is a mistake (an unset shell variable), not a wish for ./xchg.db. */
	if (!url[0])
		return cli_usage_error(cmd, "the database URL is empty (%s)",
				       cli_get(cmd, a, "db") ? "--db \"\"" : "XCHG_DB is set but empty");
	/* Likewise an empty XCHG_KEY_FILE: signing with some other key would be worse than stopping. */
	if (key && !key[0])
		return cli_usage_error(cmd, "XCHG_KEY_FILE is set but empty; unset it or name the key file");
	if (xchg_open(db, url, flags, &err))
		return cli_fail(&err);
	if (key)
		rc = xchg_set_key_file(*db, key, &err);
	else if ((dir = key_folder()))
		rc = xchg_set_key_dir(*db, dir, &err);
	free(dir);
	if (rc) {
		xchg_close(*db);
		*db = NULL;
		return cli_fail(&err);
	}
	return 0;
}

int cli_fail(const xchg_err *err)
{
	fprintf(stderr, "xchg: %s\n", err->msg);
	return err->code ? (int)err->code : XCHG_EFAIL;
}

int cli_usage_error(const cli_cmd *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "xchg %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'xchg %s --help'.\n", cmd->name);
	return XCHG_EUSAGE;
}

void cli_wrap(FILE *out, int indent, const char *text)
{
	while (*text) {
		int room = CLI_HELP_WIDTH - indent, len = (int)strlen(text), cut = len;

		if (len > room) {
			/* The last space that keeps the line within the width, else the first after it. */
			for (cut = room; cut > 0 && text[cut] != ' '; cut--)
				;
			if (cut == 0)
				cut = (int)strcspn(text, " ");
		}
		fprintf(out, "%.*s\n", cut, text);
		text += cut;
		while (*text == ' ')
			text++;
		if (*text)
			fprintf(out, "%*s", indent, "");
	}
}

void cli_help(const cli_cmd *cmd, FILE *out)
{
	int i, n = slot_count(cmd) + NCOMMON;
	char left[64];

	fprintf(out, "usage: xchg %s [OPTIONS]%s%s\n\n", cmd->name,
		cmd->operands ? " " : "", cmd->operands ? cmd->operands : "");
	cli_wrap(out, 0, cmd->summary);
	if (cmd->details)
		fprintf(out, "\n%s", cmd->details);
	fprintf(out, "\noptions:\n");
	for (i = 0; i < n; i++) {
		const cli_opt *o = slot_opt(cmd, i);

		char letter[5] = "";
		size_t k;

		for (k = 0; k < sizeof(short_opts) / sizeof(short_opts[0]); k++)
			if (strcmp(short_opts[k].name, o->name) == 0)
				snprintf(letter, sizeof(letter), "-%c, ", short_opts[k].letter);
		snprintf(left, sizeof(left), "%s--%s%s%s", letter, o->name, o->arg ? " " : "",
			 o->arg ? o->arg : "");
		fprintf(out, "  %-22s ", left);
		cli_wrap(out, 25, o->help);
	}
}

/* An option the command lacks, with the one it likely meant. */
static int unknown_option(const cli_cmd *cmd, const char *arg, const char *name, size_t len)
{
	const char *names[CLI_MAX_OPTS + NCOMMON], *guess;
	int i, n = slot_count(cmd) + NCOMMON;

	for (i = 0; i < n; i++)
		names[i] = slot_opt(cmd, i)->name;
	if ((guess = cli_closest(name, len, names, (size_t)n)))
		return cli_usage_error(cmd, "unknown option '%s'; did you mean '--%s'?", arg, guess);
	return cli_usage_error(cmd, "unknown option '%s'", arg);
}

static int parse(const cli_cmd *cmd, int argc, char **argv, cli_args *a, int *help)
{
	int i, slot, only_operands = 0;

	memset(a, 0, sizeof(*a));
	*help = 0;
	if (!(a->pos = calloc((size_t)argc + 1, sizeof(*a->pos))))
		return cli_usage_error(cmd, "out of memory");
	for (i = 0; i < argc; i++) {
		const char *arg = argv[i], *eq;
		size_t len;

		if (only_operands || arg[0] != '-' || strcmp(arg, "-") == 0) {
			a->pos[a->npos++] = argv[i];
			continue;
		}
		if (strcmp(arg, "--") == 0) {
			only_operands = 1;
			continue;
		}
		if (strncmp(arg, "--", 2) != 0) {
			if ((slot = find_short(cmd, arg)) < 0)
				return unknown_option(cmd, arg, arg + 1, strlen(arg + 1));
			eq = NULL;
		} else {
			eq = strchr(arg + 2, '=');
			len = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
			if ((slot = find_slot(cmd, arg + 2, len)) < 0)
				return unknown_option(cmd, arg, arg + 2, len);
		}
		if (strcmp(slot_opt(cmd, slot)->name, "help") == 0) {
			*help = 1;
			continue;
		}
		if (!slot_opt(cmd, slot)->arg) {
			if (eq)
				return cli_usage_error(cmd, "option '--%s' takes no value", slot_opt(cmd, slot)->name);
			a->val[slot] = "1";
		} else if (eq) {
			a->val[slot] = eq + 1;
		} else if (i + 1 < argc) {
			a->val[slot] = argv[++i];
		} else {
			return cli_usage_error(cmd, "option '--%s' needs a value (%s)",
					       slot_opt(cmd, slot)->name, slot_opt(cmd, slot)->arg);
		}
	}
	return 0;
}

int cli_run(const cli_cmd *cmd, int argc, char **argv)
{
	cli_args a;
	int help = 0, rc;

	if ((rc = parse(cmd, argc, argv, &a, &help)) == 0) {
		if (help) {
			cli_help(cmd, stdout);
		} else if (a.npos < cmd->min_pos) {
			rc = cli_usage_error(cmd, "missing %s", cmd->operands);
		} else if (cmd->max_pos >= 0 && a.npos > cmd->max_pos) {
			rc = cli_usage_error(cmd, "unexpected operand '%s'", a.pos[cmd->max_pos]);
		} else {
			rc = cmd->run(cmd, &a);
		}
	}
	free(a.pos);
	return rc;
}

const char *cli_noun(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

int cli_print_json(cJSON *root)
{
	char *text = root ? cJSON_Print(root) : NULL;

	cJSON_Delete(root);
	if (!text) {
		fprintf(stderr, "xchg: out of memory\n");
		return XCHG_ENOMEM;
	}
	printf("%s\n", text);
	free(text);
	return 0;
}
