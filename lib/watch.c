/*
 * xchg watch: xchg sync rounds, run as packets arrive and on an interval,
 * until the caller's stop flag is set. A folder is watched with inotify,
 * or looked at every second where inotify is blind (network shares); one
 * that disappears (an unmounted stick) is waited for. A round that fails
 * is said once, not every interval, and the watch carries on.
 */
#include <dirent.h>
#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "nodes.h"
#include "sync.h"

/* How often the folders are looked at, and the stop flag with them. */
#define TICK_MS 1000
/* A packet arriving often comes with others: they are taken in one round. */
#define SETTLE_MS 200
#define EVENT_BUFFER 4096

typedef struct folder {
	char *path;
	int wd;          /* its inotify watch, or -1 */
	int present;     /* it was there when last looked at */
	dev_t dev;       /* which folder it was: one renamed away and another put in */
	ino_t ino;       /* its place is watched anew */
	uint64_t listing; /* polling: what its packets looked like */
} folder;

typedef struct watcher {
	xchg_db *db;
	const xchg_watch_opts *o;
	xchg_import_cb cb;
	void *ctx;
	int fd;          /* inotify, or -1 when polling */
	folder *f;
	size_t n;
	char *own;       /* "pkt_CODE_": this node's own packets wake nothing */
	char *failure;   /* the last round's failure, said once */
} watcher;

static void tell(const watcher *w, xchg_outcome outcome, const char *path, const char *message)
{
	xchg_import_event ev = {.outcome = outcome, .path = path, .message = message};

	w->cb(&ev, w->ctx);
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A name another node's packet may have: what arrives for this node or passes through. */
static int wakes(const watcher *w, const char *name)
{
	size_t n = strlen(name);

	return strncmp(name, "pkt_", 4) == 0 && strncmp(name, w->own, strlen(w->own)) != 0 &&
	       ((n > 4 && strcmp(name + n - 4, ".zip") == 0) ||
		(n > 11 && strcmp(name + n - 11, ".zip.sealed") == 0));
}

/*
 * The names, sizes and times of the packets in a folder, in one number: a
 * sum of each one's FNV-1a, since a folder lists its names in any order.
 */
static uint64_t listing_of(const watcher *w, const char *path)
{
	uint64_t sum = 0;
	struct dirent *e;
	struct stat sb;
	DIR *d = opendir(path);
	int dfd;

	if (!d)
		return 0;
	dfd = dirfd(d);
	while ((e = readdir(d))) {
		const unsigned char *p;
		uint64_t h = 1469598103934665603ULL;
		int64_t v[2];
		size_t i;

		if (!wakes(w, e->d_name) || fstatat(dfd, e->d_name, &sb, 0) != 0)
			continue;
		v[0] = (int64_t)sb.st_size;
		v[1] = (int64_t)sb.st_mtim.tv_sec * 1000000000 + sb.st_mtim.tv_nsec;
		for (p = (const unsigned char *)e->d_name; *p; p++)
			h = (h ^ *p) * 1099511628211ULL;
		for (i = 0; i < sizeof(v); i++)
			h = (h ^ ((const unsigned char *)v)[i]) * 1099511628211ULL;
		sum += h;
	}
	closedir(d);
	return sum;
}

static void unwatch(watcher *w, folder *f)
{
	if (w->fd >= 0 && f->wd >= 0)
		inotify_rm_watch(w->fd, f->wd);
	f->wd = -1;
}

/*
 * Looks at each folder: one gone is said and waited for; one back, or put
 * back in its place, is watched again. Returns whether a round is due: a
 * folder came back, or (polling) its packets changed.
 */
static int look(watcher *w, int first)
{
	struct stat sb;
	size_t i;
	int due = 0;

	for (i = 0; i < w->n; i++) {
		folder *f = &w->f[i];
		uint64_t listing;
		const char *gone = stat(f->path, &sb) != 0 ? strerror(errno) :
				   !S_ISDIR(sb.st_mode) ? "not a folder" : NULL;
		char *why;

		if (gone) {
			if (f->present || first) {
				why = xstrdup_printf("%s: %s; waiting for it to come back", f->path, gone);
				tell(w, XCHG_WARNING, f->path, why ? why : "a folder is gone");
				free(why);
			}
			f->present = 0;
			unwatch(w, f);
			continue;
		}
		if (!f->present || f->dev != sb.st_dev || f->ino != sb.st_ino) {
			unwatch(w, f);
			if (w->fd >= 0)
				f->wd = inotify_add_watch(w->fd, f->path, IN_MOVED_TO | IN_CLOSE_WRITE |
							  IN_ONLYDIR);
			if (!f->present && !first)
				tell(w, XCHG_NOTICE, f->path, "the folder is back");
			due |= !f->present && !first;
			f->present = 1;
			f->dev = sb.st_dev;
			f->ino = sb.st_ino;
		}
		if (w->fd < 0 && (listing = listing_of(w, f->path)) != f->listing) {
			due |= !first;
			f->listing = listing;
		}
	}
	return due;
}

static int all_present(const watcher *w)
{
	size_t i;

	for (i = 0; i < w->n; i++)
		if (!w->f[i].present)
			return 0;
	return 1;
}

static void folders_free(watcher *w)
{
	size_t i;

	for (i = 0; i < w->n; i++) {
		unwatch(w, &w->f[i]);
		free(w->f[i].path);
	}
	free(w->f);
	w->f = NULL;
	w->n = 0;
}

/* The links' folders as the database has them now: xchg node set may have moved one. */
static xchg_status refresh_folders(watcher *w, xchg_err *err)
{
	node_row *peers = NULL;
	const char **dirs = NULL;
	folder *f = NULL;
	size_t n = 0, ndirs = 0, i, j;
	xchg_status rc;

	if ((rc = nodes_peers(w->db->st, &peers, &n, err)) ||
	    (rc = sync_folders(peers, n, w->o->dir, &dirs, &ndirs, err)))
		goto done;
	for (i = 0; i < ndirs && i < w->n && strcmp(dirs[i], w->f[i].path) == 0; i++)
		;
	if (i == ndirs && ndirs == w->n)
		goto done;
	if (ndirs && !(f = calloc(ndirs, sizeof(*f)))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	for (j = 0; j < ndirs && !rc; j++) {
		f[j].wd = -1;
		if (!(f[j].path = strdup(dirs[j])))
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
	}
	if (rc) {
		while (j--)
			free(f[j].path);
		free(f);
		goto done;
	}
	folders_free(w);
	w->f = f;
	w->n = ndirs;
	look(w, 1);
done:
	free(dirs);
	node_rows_free(peers, n);
	return rc;
}

/* Says a round's failure once; a round that succeeds after one says so. */
static void judge_round(watcher *w, xchg_status rc, const xchg_err *e)
{
	/* A refused packet was said, and filed aside, by the round itself. */
	if (rc == XCHG_EPACKET)
		rc = XCHG_OK;
	if (!rc) {
		if (w->failure)
			tell(w, XCHG_NOTICE, NULL, "rounds succeed again");
		free(w->failure);
		w->failure = NULL;
		return;
	}
	if (w->failure && strcmp(w->failure, e->msg) == 0)
		return;
	free(w->failure);
	w->failure = strdup(e->msg);
	tell(w, XCHG_WARNING, NULL, e->msg);
}

/* A round, unless a folder is away: it was said, and the round waits for it. */
static void round_once(watcher *w)
{
	xchg_err e = {0};
	xchg_status rc;

	if (!all_present(w))
		return;
	if (!(rc = store_revive(w->db->st, &e)) && !(rc = xchg_sync(w->db, w->o->dir, w->cb, w->ctx, &e)))
		rc = refresh_folders(w, &e);
	judge_round(w, rc, &e);
}

/* Waits up to ms for a packet to arrive; returns whether one did. */
static int wait_for_packet(watcher *w, int ms)
{
	char buf[EVENT_BUFFER] __attribute__((aligned(__alignof__(struct inotify_event))));
	struct pollfd p = {.fd = w->fd, .events = POLLIN};
	const struct inotify_event *ev;
	ssize_t len;
	char *at;
	int woke = 0;

	if (w->fd < 0) {
		poll(NULL, 0, ms);
		return 0;
	}
	if (poll(&p, 1, ms) <= 0)
		return 0;
	while ((len = read(w->fd, buf, sizeof(buf))) > 0)
		for (at = buf; at < buf + len; at += sizeof(*ev) + ev->len) {
			ev = (const struct inotify_event *)at;
			/* A full queue lost events: any of them may have been a packet. */
			woke |= (ev->mask & IN_Q_OVERFLOW) || (ev->len > 0 && wakes(w, ev->name));
		}
	return woke;
}

xchg_status xchg_watch(xchg_db *db, const xchg_watch_opts *o, xchg_import_cb cb, void *ctx,
		       xchg_err *err)
{
	watcher w = {.db = db, .o = o, .cb = cb, .ctx = ctx, .fd = -1};
	node_row self = {0};
	int64_t interval_ms, last = 0;
	int due = 1;
	char *hello = NULL;
	xchg_status rc;

	if ((rc = xcheck_opts(o->version, XCHG_WATCH_OPTS_VERSION, "xchg_watch_opts",
			      "XCHG_WATCH_OPTS_INIT", err)))
		return rc;
	if (o->flags & ~(unsigned)XCHG_WATCH_POLL)
		return xerr(err, XCHG_EUSAGE, "xchg_watch: unknown flags 0x%x",
			    o->flags & ~(unsigned)XCHG_WATCH_POLL);
	if (o->interval < 0)
		return xerr(err, XCHG_EUSAGE, "xchg_watch: the interval is negative");
	interval_ms = (o->interval ? o->interval : XCHG_WATCH_INTERVAL_DEFAULT) * 1000;
	if ((rc = db_ready(db, err)) || (rc = nodes_self_required(db->st, &self, err)))
		return rc;
	if (!(w.own = xstrdup_printf("pkt_%s_", self.code))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	if (!(o->flags & XCHG_WATCH_POLL) && (w.fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0)
		tell(&w, XCHG_WARNING, NULL, "inotify is not available; looking at the folders every second");
	if ((rc = refresh_folders(&w, err)))
		goto done;
	hello = xstrdup_printf("node %s: watching %zu %s (%s), a round every %lld s", self.code,
			       w.n, xnoun((long long)w.n, "folder", "folders"), w.fd >= 0 ? "inotify" : "polling",
			       (long long)(interval_ms / 1000));
	tell(&w, XCHG_NOTICE, NULL, hello ? hello : "watching");
	while (!*o->stop) {
		due |= look(&w, 0);
		if (due || now_ms() - last >= interval_ms) {
			round_once(&w);
			last = now_ms();
			due = 0;
			continue;
		}
		if (wait_for_packet(&w, TICK_MS)) {
			poll(NULL, 0, SETTLE_MS);
			wait_for_packet(&w, 0);
			due = 1;
		}
	}
	tell(&w, XCHG_NOTICE, NULL, "stopped");
done:
	free(hello);
	folders_free(&w);
	if (w.fd >= 0)
		close(w.fd);
	free(w.own);
	free(w.failure);
	node_row_clear(&self);
	return rc;
}
