#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

/* A packet that takes less than this shows no progress at all; XCHG_PROGRESS_DELAY says otherwise. */
#define PROGRESS_AFTER_S 1.0
/* Redrawn at most this often, so the terminal costs nothing. */
#define PROGRESS_EVERY_S 0.25

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int cli_progress_wanted(cli_progress *p, const char *what)
{
	const char *delay = getenv("XCHG_PROGRESS_DELAY");
	char *end;

	if (!isatty(STDERR_FILENO))
		return 0;
	p->after = PROGRESS_AFTER_S;
	if (delay && *delay) {
		p->after = strtod(delay, &end);
		if (*end || p->after < 0)
			p->after = PROGRESS_AFTER_S;
	}
	p->what = what;
	p->start = now_s();
	p->last = 0;
	p->done = 0;
	p->shown = 0;
	return 1;
}

void cli_progress_show(int64_t done, int64_t total, void *ctx)
{
	cli_progress *p = ctx;
	double t = now_s(), rate;

	if (done < p->done)
		p->start = t;
	p->done = done;
	if (done == total) { /* the end: the line makes way for what follows */
		if (p->shown)
			fputs("\r\033[K", stderr);
		p->shown = 0;
		return;
	}
	if (t - p->start < p->after || t - p->last < PROGRESS_EVERY_S)
		return;
	p->last = t;
	p->shown = 1;
	rate = (double)done / (t - p->start);
	fprintf(stderr, "\r%s: %lld", p->what, (long long)done);
	/* An export counts the rows its tables hold, an import estimates from bytes: either is about. */
	if (total > done)
		fprintf(stderr, " of ~%lld", (long long)total);
	fprintf(stderr, " entities, %.0f/s", rate);
	if (total > done && rate > 0)
		fprintf(stderr, ", %.0f s left", (double)(total - done) / rate);
	fputs("\033[K", stderr);
	fflush(stderr);
}
