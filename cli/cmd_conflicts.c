#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "cli.h"

static const cli_opt opts[] = {
	{"json", NULL, "print JSON instead of text (list and show)"},
	{NULL, NULL, NULL},
};

static void add_text(cJSON *o, const char *key, const char *value)
{
	if (value)
		cJSON_AddStringToObject(o, key, value);
	else
		cJSON_AddNullToObject(o, key);
}

/* A logged version is JSON already: embedded as JSON, not as a string. */
static void add_json(cJSON *o, const char *key, const char *text)
{
	cJSON *v = text ? cJSON_Parse(text) : NULL;

	cJSON_AddItemToObject(o, key, v ? v : cJSON_CreateNull());
}

static cJSON *conflict_json(const xchg_conflict *c, int versions)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddNumberToObject(o, "id", (double)c->id);
	add_text(o, "kind", c->kind);
	add_text(o, "entity_type", c->entity_type);
	add_text(o, "entity_uuid", c->entity_uuid);
	add_text(o, "peer", c->peer);
	add_text(o, "policy", c->policy);
	add_text(o, "winner", c->winner);
	add_text(o, "losing_origin", c->losing_origin);
	add_text(o, "losing_operation", c->losing_operation);
	add_text(o, "local_updated_at", c->local_updated_at);
	add_text(o, "remote_updated_at", c->remote_updated_at);
	add_text(o, "decided_at", c->decided_at);
	add_text(o, "status", c->status);
	add_text(o, "reason", c->reason);
	if (versions) {
		add_json(o, "losing_version", c->losing_version);
		add_json(o, "winning_version", c->winning_version);
		add_json(o, "current_version", c->current_version);
	}
	return o;
}

static int list(xchg_db *db, int json)
{
	xchg_conflict *v = NULL;
	cJSON *arr;
	size_t n = 0, i;
	xchg_err err;
	int rc;

	if (xchg_conflicts_list(db, &v, &n, &err))
		return cli_fail(&err);
	if (json) {
		arr = cJSON_CreateArray();
		for (i = 0; i < n; i++)
			cJSON_AddItemToArray(arr, conflict_json(&v[i], 0));
		rc = cli_print_json(arr);
	} else {
		rc = 0;
		if (n == 0)
			printf("no conflicts\n");
		else
			printf("%6s  %-10s %-10s %-18s %-36s %-12s %-7s %-16s %-24s %s\n", "id", "status",
			       "kind", "entity", "uuid", "with", "kept", "policy", "decided", "reason");
		for (i = 0; i < n; i++)
			printf("%6lld  %-10s %-10s %-18s %-36s %-12s %-7s %-16s %-24s %s\n",
			       (long long)v[i].id, v[i].status, v[i].kind, v[i].entity_type,
			       v[i].entity_uuid, v[i].peer, v[i].winner, v[i].policy, v[i].decided_at,
			       v[i].reason ? v[i].reason : "-");
	}
	xchg_conflicts_free(v, n);
	return rc;
}

/* A refused row was weighed against nothing: there is the row as it came, and this node's. */
static void print_refused(const xchg_conflict *c)
{
	printf("conflict %lld (refused, %s): %s %s, from %s\n", (long long)c->id, c->status,
	       c->entity_type, c->entity_uuid, c->peer);
	printf("refused %s by this node's schema: %s\n", c->decided_at, c->reason ? c->reason : "-");
	printf("the row as it came (%s, updated_at %s):\n  %s\n", c->losing_operation,
	       c->remote_updated_at ? c->remote_updated_at : "-",
	       c->losing_version ? c->losing_version : "(deleted)");
	printf("this node's version then:\n  %s\n", c->winning_version ? c->winning_version : "(none)");
	printf("current version:\n  %s\n", c->current_version ? c->current_version : "(none)");
}

static void print_conflict(const xchg_conflict *c)
{
	int local_won = strcmp(c->winner, "local") == 0;
	const char *local_at = c->local_updated_at ? c->local_updated_at : "-";
	const char *remote_at = c->remote_updated_at ? c->remote_updated_at : "-";

	if (strcmp(c->kind, "refused") == 0) {
		print_refused(c);
		return;
	}

	printf("conflict %lld (%s, %s): %s %s, with %s\n", (long long)c->id, c->kind, c->status,
	       c->entity_type, c->entity_uuid, c->peer);
	printf("decided %s by %s: the %s version was kept\n", c->decided_at, c->policy, c->winner);
	if (c->reason)
		printf("reason: %s\n", c->reason);
	printf("losing version, from %s (%s, updated_at %s):\n  %s\n", c->losing_origin,
	       c->losing_operation, local_won ? remote_at : local_at,
	       c->losing_version ? c->losing_version : "(deleted)");
	printf("winning version, from %s (updated_at %s):\n  %s\n", local_won ? "this node" : c->peer,
	       local_won ? local_at : remote_at, c->winning_version ? c->winning_version : "(deleted)");
	printf("current version:\n  %s\n", c->current_version ? c->current_version : "(deleted)");
}

static int show(xchg_db *db, int64_t id, int json)
{
	xchg_conflict *c = NULL;
	xchg_err err;
	int rc = 0;

	if (xchg_conflict_get(db, id, &c, &err))
		return cli_fail(&err);
	if (json)
		rc = cli_print_json(conflict_json(c, 1));
	else
		print_conflict(c);
	xchg_conflicts_free(c, 1);
	return rc;
}

static int retry(xchg_db *db, int64_t id)
{
	xchg_err err;
	int applied = 0;

	if (xchg_conflict_retry(db, id, &applied, &err))
		return cli_fail(&err);
	printf("conflict %lld resolved: %s\n", (long long)id,
	       applied ? "the row is applied, as if it came from its peer now"
		       : "the row lost to the version here (see xchg conflicts)");
	return 0;
}

static int parse_id(const cli_cmd *cmd, const char *text, int64_t *id)
{
	if (cli_count(text, id) || *id <= 0)
		return cli_usage_error(cmd, "'%s' is not a conflict id (a number from xchg conflicts)", text);
	return 0;
}

static int run(const cli_cmd *cmd, const cli_args *a)
{
	const char *action = a->npos ? a->pos[0] : "list";
	int json = cli_get(cmd, a, "json") != NULL;
	xchg_db *db = NULL;
	xchg_err err;
	int64_t id = 0;
	int rc;

	if (strcmp(action, "list") != 0 && strcmp(action, "show") != 0 &&
	    strcmp(action, "restore") != 0 && strcmp(action, "dismiss") != 0 &&
	    strcmp(action, "retry") != 0)
		return cli_usage_error(cmd, "unknown action '%s': use show, restore, dismiss or retry",
				       action);
	if (strcmp(action, "list") != 0 && a->npos != 2)
		return cli_usage_error(cmd, "%s needs one conflict id", action);
	if (a->npos == 2 && (rc = parse_id(cmd, a->pos[1], &id)))
		return rc;
	if ((rc = cli_open(cmd, a, 0, &db)))
		return rc;
	if (strcmp(action, "list") == 0)
		rc = list(db, json);
	else if (strcmp(action, "show") == 0)
		rc = show(db, id, json);
	else if (strcmp(action, "retry") == 0)
		rc = retry(db, id);
	else if ((rc = strcmp(action, "restore") == 0 ? xchg_conflict_restore(db, id, &err)
						     : xchg_conflict_dismiss(db, id, &err)))
		rc = cli_fail(&err);
	else
		printf("conflict %lld %s\n", (long long)id,
		       action[0] == 'r' ? "restored: the losing version is current and queued for every peer"
					: "dismissed");
	xchg_close(db);
	return rc;
}

const cli_cmd cmd_conflicts = {
	"conflicts", "[show|restore|dismiss|retry ID]",
	"list the conflict log, show one entry, restore its losing version, dismiss it, retry a refused row",
	"The log holds three kinds of entries:\n"
	"  conflict    an incoming change to an entity that was also changed here\n"
	"              and not yet acknowledged by the sender;\n"
	"  unique-key  two entities that claim one unique key (two desktops made\n"
	"              account ACC-7 while offline): the reason names the key and\n"
	"              the entity that holds it now;\n"
	"  refused     a row from a peer that this node's schema refused (a CHECK,\n"
	"              NOT NULL, a foreign key, a length or range): the reason is\n"
	"              the database's message; the rest of its packet was applied.\n"
	"For the first two the plan's policy decided which version to keep, alike\n"
	"at both ends; the other is logged here. 'show ID' prints both versions;\n"
	"'restore ID' makes the losing version current, as a local edit that then\n"
	"travels to every peer; 'dismiss ID' closes the entry as it stands.\n"
	"'retry ID' applies a refused row again once the schema or the data is\n"
	"fixed, as if it came from its peer now; refused again, the entry stays\n"
	"open and the database's message says why.\n",
	opts, 0, 2, run,
};
