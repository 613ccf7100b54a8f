/*
 * What import, sync and watch say of each packet: a line per event on
 * stdout, failures on stderr; quiet, only the failures and one line of
 * counts; as a log (watch), every line on stderr behind its time.
 */
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"

enum line_kind { EVENT, FAILURE, SUMMARY };

static void say(const cli_reporter *r, enum line_kind kind, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static void say(const cli_reporter *r, enum line_kind kind, const char *fmt, ...)
{
	FILE *out = kind == FAILURE || r->log ? stderr : stdout;
	char line[2 * XCHG_ERRMSG_MAX + PATH_MAX];
	va_list ap;

	if (r->quiet && kind == EVENT)
		return;
	fflush(stdout);
	if (r->log) {
		char stamp[32];
		time_t now = time(NULL);
		struct tm tm;

		gmtime_r(&now, &tm);
		strftime(stamp, sizeof(stamp), "%Y-%m-%dT%H:%M:%SZ", &tm);
		fprintf(out, "%s ", stamp);
	}
	/* The path is a name found in a shared folder: shown scrubbed, as the messages are. */
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fprintf(out, "%s\n", xchg_scrub(line));
	fflush(out);
}

void cli_report(const xchg_import_event *ev, void *ctx)
{
	cli_reporter *r = ctx;

	if ((size_t)ev->outcome < sizeof(r->counts) / sizeof(r->counts[0]))
		r->counts[ev->outcome]++;
	switch (ev->outcome) {
	case XCHG_EXPORTED:
		say(r, EVENT, "exported %s: packet %lld to %s, %lld %s", ev->path,
		    (long long)ev->packet_no, ev->sender, (long long)ev->entities,
		    cli_noun(ev->entities, "entity", "entities"));
		break;
	case XCHG_ARCHIVED:
		say(r, EVENT, "archived %s to %s", ev->path, ev->message);
		break;
	case XCHG_DELETED:
		say(r, EVENT, "deleted %s", ev->path);
		break;
	case XCHG_REJECTED:
		say(r, EVENT, "rejected %s to %s (the reason is in %s.why)", ev->path, ev->message,
		    ev->message);
		break;
	case XCHG_APPLIED:
		say(r, EVENT, "applied %s: packet %lld from %s, %lld %s, %lld %s, %lld refused%s",
		    ev->path, (long long)ev->packet_no, ev->sender, (long long)ev->entities,
		    cli_noun(ev->entities, "entity", "entities"), (long long)ev->conflicts,
		    cli_noun(ev->conflicts, "conflict", "conflicts"), (long long)ev->refused,
		    ev->refused ? " (kept in the conflict log: see xchg conflicts)" : "");
		break;
	case XCHG_SKIPPED:
		say(r, EVENT, "skipped %s: packet %lld from %s: duplicate, applied before%s%s", ev->path,
		    (long long)ev->packet_no, ev->sender, ev->message ? "; " : "",
		    ev->message ? ev->message + strlen(ev->path) + 2 : "");
		break;
	case XCHG_ACK_WRITTEN:
		say(r, EVENT, "acknowledged with %s: packet %lld, %lld %s", ev->path,
		    (long long)ev->packet_no, (long long)ev->entities,
		    cli_noun(ev->entities, "entity", "entities"));
		break;
	case XCHG_REFUSED:
		say(r, FAILURE, "refused %s", ev->message);
		break;
	case XCHG_FAILED:
		say(r, FAILURE, "not applied %s", ev->message);
		break;
	case XCHG_ACK_FAILED:
		say(r, FAILURE, "not acknowledged %s (the packets from %s are applied; "
			  "the next 'xchg export --node %s' acknowledges them)",
		    ev->message, ev->sender, ev->sender);
		break;
	case XCHG_NOTICE:
		say(r, EVENT, "%s", ev->message);
		break;
	case XCHG_WARNING:
		say(r, FAILURE, "%s", ev->message);
		break;
	}
}

void cli_report_summary(cli_reporter *r)
{
	static const struct {
		xchg_outcome outcome;
		const char *what;
	} parts[] = {
		{XCHG_APPLIED, "applied"}, {XCHG_SKIPPED, "skipped as duplicates"},
		{XCHG_REFUSED, "refused"}, {XCHG_FAILED, "not applied"},
		{XCHG_ACK_WRITTEN, "acknowledgements written"}, {XCHG_EXPORTED, "exported"},
		{XCHG_ARCHIVED, "archived"}, {XCHG_DELETED, "deleted"}, {XCHG_REJECTED, "rejected"},
	};
	char line[512];
	size_t i, len = 0;

	for (i = 0; i < sizeof(parts) / sizeof(parts[0]) && len < sizeof(line); i++)
		if (r->counts[parts[i].outcome])
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%lld %s",
						len ? ", " : "", (long long)r->counts[parts[i].outcome],
						parts[i].what);
	memset(r->counts, 0, sizeof(r->counts));
	if (r->quiet && len)
		say(r, SUMMARY, "packets: %s", line);
}
