/*
 * xchg sync: one unattended round for this node. Every link's folder is
 * read, each packet read from it is filed (archived, deleted or kept as
 * its link says; refused ones aside with their reason), and a packet goes
 * out to each peer with something to send, and to no other.
 */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "changes.h"
#include "db.h"
#include "exchange.h"
#include "nodes.h"
#include "sync.h"

/* A packet import read from a folder, and what became of it. */
typedef struct seen {
	char *path;
	char *sender;
	char *reason;
	xchg_outcome outcome;
} seen;

typedef struct sync_run {
	xchg_db *db;
	xchg_import_cb cb;
	void *ctx;
	seen *seen;
	size_t nseen;
	char **unacked;  /* peers an acknowledgement could not be written to */
	size_t nunacked;
	int nomem;
} sync_run;

static char *dup_or_null(const char *s, int *nomem)
{
	char *d = s ? strdup(s) : NULL;

	*nomem |= s && !d;
	return d;
}

/*
 * Keeps on the sender's link, for xchg status, that a packet from it was
 * not applied, and why. Only an unattended run does: a refusal by hand is
 * said to whoever ran it, and leaves the database as it was. A failure to
 * record it is left unsaid: the import's own report has been made.
 */
static void note_problem(sync_run *run, const xchg_import_event *ev)
{
	const char *base = strrchr(ev->path, '/'), *reason = ev->message ? ev->message : "";
	char *name;
	size_t n = strlen(ev->path);
	xchg_err ignored;

	if (!ev->sender || !(name = strdup(base ? base + 1 : ev->path)))
		return;
	/* The message is scrubbed already, and begins with the path, scrubbed too. */
	if (strlen(reason) > n + 2 && strncmp(reason + n, ": ", 2) == 0)
		reason += n + 2;
	nodes_note_problem(run->db->st, ev->sender, xchg_scrub(name),
			   ev->outcome == XCHG_REFUSED ? NODE_PROBLEM_REFUSED : NODE_PROBLEM_FAILED,
			   reason, &ignored);
	free(name);
}

/* Passes import's report on and keeps what sync files afterwards. */
static void note(const xchg_import_event *ev, void *ctx)
{
	sync_run *run = ctx;
	seen *grown;
	char **more;

	run->cb(ev, run->ctx);
	if (ev->outcome == XCHG_REFUSED || ev->outcome == XCHG_FAILED)
		note_problem(run, ev);
	if (ev->outcome == XCHG_ACK_FAILED && ev->sender) {
		if (!(more = realloc(run->unacked, (run->nunacked + 1) * sizeof(*more)))) {
			run->nomem = 1;
			return;
		}
		run->unacked = more;
		run->unacked[run->nunacked++] = dup_or_null(ev->sender, &run->nomem);
	}
	if (ev->outcome != XCHG_APPLIED && ev->outcome != XCHG_SKIPPED && ev->outcome != XCHG_REFUSED)
		return;
	if (!(grown = realloc(run->seen, (run->nseen + 1) * sizeof(*grown)))) {
		run->nomem = 1;
		return;
	}
	run->seen = grown;
	grown[run->nseen].path = dup_or_null(ev->path, &run->nomem);
	grown[run->nseen].sender = dup_or_null(ev->sender, &run->nomem);
	grown[run->nseen].reason = dup_or_null(ev->message, &run->nomem);
	grown[run->nseen++].outcome = ev->outcome;
}

/* DIR/SUB/NAME for path DIR/NAME, the folder made if need be; the caller frees it. */
static xchg_status aside(const char *path, const char *sub, char **out, xchg_err *err)
{
	const char *slash = strrchr(path, '/');
	char *dir;

	*out = NULL;
	if (!(dir = slash ? xstrdup_printf("%.*s/%s", (int)(slash - path), path, sub)
			  : xstrdup_printf("%s", sub)))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if (mkdir(dir, 0777) != 0 && errno != EEXIST) {
		xerr(err, XCHG_EIO, "%s: cannot make the folder: %s", dir, strerror(errno));
		free(dir);
		return XCHG_EIO;
	}
	*out = xstrdup_printf("%s/%s", dir, slash ? slash + 1 : path);
	free(dir);
	return *out ? XCHG_OK : xerr(err, XCHG_ENOMEM, "out of memory");
}

/* The policy of the link s came over: a packet whose sender is unknown is kept. */
static const char *policy_of(const node_row *peers, size_t n, const seen *s)
{
	size_t i;

	for (i = 0; s->sender && i < n; i++)
		if (strcmp(peers[i].code, s->sender) == 0)
			return peers[i].applied ? peers[i].applied : NODE_APPLIED_DEFAULT;
	return "keep";
}

static xchg_status write_why(const char *path, const char *reason, xchg_err *err)
{
	char *why = xstrdup_printf("%s.why", path);
	FILE *f;
	int bad;

	if (!why)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if (!(f = fopen(why, "w"))) {
		xerr(err, XCHG_EIO, "%s: %s", why, strerror(errno));
		free(why);
		return XCHG_EIO;
	}
	bad = fprintf(f, "%s\n", reason ? reason : "refused") < 0;
	bad |= fclose(f) != 0;
	if (bad)
		xerr(err, XCHG_EIO, "%s: cannot write", why);
	free(why);
	return bad ? XCHG_EIO : XCHG_OK;
}

/*
 * Files one packet: applied or skipped as its link says, refused into
 * rejected/ with its reason, so that it stops failing every later run. A
 * packet already gone (another sync filed it) is no failure.
 */
static xchg_status file_one(sync_run *run, const node_row *peers, size_t n, const seen *s,
			    xchg_err *err)
{
	const char *policy = s->outcome == XCHG_REFUSED ? "reject" : policy_of(peers, n, s);
	xchg_import_event ev = {.path = s->path, .sender = s->sender};
	char *to = NULL;
	xchg_status rc = XCHG_OK;

	if (strcmp(policy, "keep") == 0)
		return XCHG_OK;
	if (strcmp(policy, "delete") == 0) {
		if (unlink(s->path) != 0 && errno != ENOENT)
			return xerr(err, XCHG_EIO, "%s: cannot delete: %s", s->path, strerror(errno));
		ev.outcome = XCHG_DELETED;
		run->cb(&ev, run->ctx);
		return XCHG_OK;
	}
	if ((rc = aside(s->path, s->outcome == XCHG_REFUSED ? "rejected" : "archive", &to, err)))
		return rc;
	if (rename(s->path, to) != 0) {
		if (errno != ENOENT)
			rc = xerr(err, XCHG_EIO, "%s: cannot move to %s: %s", s->path, to, strerror(errno));
	} else if (s->outcome != XCHG_REFUSED || !(rc = write_why(to, s->reason, err))) {
		ev.outcome = s->outcome == XCHG_REFUSED ? XCHG_REJECTED : XCHG_ARCHIVED;
		ev.message = to;
		run->cb(&ev, run->ctx);
	}
	free(to);
	return rc;
}

static void run_free(sync_run *run)
{
	size_t i;

	for (i = 0; i < run->nseen; i++) {
		free(run->seen[i].path);
		free(run->seen[i].sender);
		free(run->seen[i].reason);
	}
	for (i = 0; i < run->nunacked; i++)
		free(run->unacked[i]);
	free(run->seen);
	free(run->unacked);
}

/*
 * Imports paths as xchg_import does, then files each packet it read
 * (file_one). A refused packet, or one a local failure left unapplied,
 * does not stop the filing: *first and later keep import's status; only
 * what leaves nothing to file is returned.
 */
static xchg_status import_filed(xchg_db *db, const char *const *paths, size_t npaths,
				const char *ack_dir, const node_row *peers, size_t n, sync_run *run,
				xchg_status *first, xchg_err *later, xchg_err *err)
{
	size_t i;
	xchg_status rc = XCHG_OK;

	*first = xchg_import(db, paths, npaths, ack_dir, note, run, later);
	/* A packet gone meanwhile (another watcher took it) is no reason to stop either. */
	if (*first && *first != XCHG_EPACKET && *first != XCHG_EIO && *first != XCHG_EDB &&
	    *first != XCHG_ENOTFOUND)
		return xerr(err, *first, "%s", later->msg);
	if (run->nomem)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	for (i = 0; i < run->nseen && !rc; i++)
		rc = file_one(run, peers, n, &run->seen[i], err);
	return rc;
}

xchg_status xchg_import_with(xchg_db *db, const char *const *paths, size_t npaths,
			     const xchg_import_opts *o, xchg_import_cb cb, void *ctx, xchg_err *err)
{
	sync_run run = {.db = db, .cb = cb, .ctx = ctx};
	node_row *peers = NULL;
	size_t n = 0;
	xchg_err later = {0};
	xchg_status rc, first = XCHG_OK;

	if ((rc = xcheck_opts(o->version, XCHG_IMPORT_OPTS_VERSION, "xchg_import_opts",
			      "XCHG_IMPORT_OPTS_INIT", err)))
		return rc;
	if (o->flags & ~(unsigned)XCHG_IMPORT_FILE)
		return xerr(err, XCHG_EUSAGE, "xchg_import_with: unknown flags 0x%x",
			    o->flags & ~(unsigned)XCHG_IMPORT_FILE);
	db->progress = (progress){.cb = o->progress, .ctx = o->progress_ctx};
	if (!(o->flags & XCHG_IMPORT_FILE))
		rc = xchg_import(db, paths, npaths, o->ack_dir, cb, ctx, err);
	else if (!(rc = db_ready(db, err)) && !(rc = nodes_peers(db->st, &peers, &n, err)) &&
		 !(rc = import_filed(db, paths, npaths, o->ack_dir, peers, n, &run, &first, &later,
				     err)) &&
		 first)
		rc = xerr(err, first, "%s", later.msg);
	db->progress.cb = NULL;
	run_free(&run);
	node_rows_free(peers, n);
	return rc;
}

/* Whether peer has anything to be sent: a change not yet in a packet, or its full state. */
static xchg_status has_news(xchg_db *db, const node_row *peer, const sync_run *run, int *news,
			    xchg_err *err)
{
	int64_t unsent = 0, unacked = 0;
	size_t i;
	xchg_status rc;

	*news = peer->full_state == NODE_FULL_OWED;
	for (i = 0; i < run->nunacked && !*news; i++)
		*news = run->unacked[i] && strcmp(run->unacked[i], peer->code) == 0;
	if (*news)
		return XCHG_OK;
	if ((rc = changes_count(db->st, peer->id, &unsent, &unacked, err)))
		return rc;
	*news = unsent > 0;
	return XCHG_OK;
}

/* How long a second sync waits for the first before it says so and stops. */
#define SYNC_WAIT_MS 5000
/* An export's hidden temporary this old is what a crash left, not one being written. */
#define STALE_TEMPORARY_S (60 * 60)

static xchg_status lock_sync(xchg_db *db, const char *code, xchg_err *err)
{
	int held = 0, waited;
	xchg_status rc;

	for (waited = 0; !(rc = store_try_run_lock(db->st, "sync", &held, err)) && !held; waited += 100) {
		if (waited >= SYNC_WAIT_MS)
			return xerr(err, XCHG_EFAIL, "node %s: another xchg sync of this node is running;"
				    " this one stops", code);
		usleep(100 * 1000);
	}
	return rc;
}

/* The folder of peer's packets: its own, else the one given (dir, perhaps NULL). */
static const char *peer_folder(const node_row *peer, const char *dir)
{
	return peer->link_dir ? peer->link_dir : dir;
}

/*
 * Removes what a crashed export left in dir: .pkt_*.tmp of a packet to a
 * peer whose packets go there that was never committed, and any once old.
 * A link may stay quiet long after the crash, and only an export of the
 * same number would write over it otherwise.
 */
static void sweep_temporaries(xchg_db *db, const node_row *self, const node_row *peers, size_t n,
			      const char *dir, const char *default_dir, sync_run *run)
{
	struct dirent *e;
	struct stat sb;
	char *path;
	DIR *d = opendir(dir);
	time_t now = time(NULL);
	xchg_err ignored = {0};
	size_t i;
	int gone;

	if (!d)
		return; /* the import said why already */
	while ((e = readdir(d))) {
		size_t len = strlen(e->d_name);

		if (strncmp(e->d_name, ".pkt_", 5) != 0 || len < 4 || strcmp(e->d_name + len - 4, ".tmp") != 0 ||
		    !(path = xstrdup_printf("%s/%s", dir, e->d_name)))
			continue;
		gone = stat(path, &sb) == 0 && S_ISREG(sb.st_mode) && now - sb.st_mtime > STALE_TEMPORARY_S &&
		       unlink(path) == 0;
		/* Best effort: a database fault shows in the exports that follow. */
		for (i = 0; i < n && !gone; i++)
			if (!peers[i].revoked_at &&
			    strcmp(peer_folder(&peers[i], default_dir), dir) == 0 &&
			    exchange_remove_abandoned(db, self, peers[i].code, dir, e->d_name, &gone, &ignored))
				gone = 0;
		if (gone) {
			xchg_import_event ev = {.outcome = XCHG_DELETED, .path = path};

			run->cb(&ev, run->ctx);
		}
		free(path);
	}
	closedir(d);
}

xchg_status sync_folders(const node_row *peers, size_t n, const char *dir, const char ***out,
			 size_t *nout, xchg_err *err)
{
	const char **dirs;
	size_t i, j, ndirs = 0;

	*out = NULL;
	*nout = 0;
	if (!(dirs = calloc(n ? n : 1, sizeof(*dirs))))
		return xerr(err, XCHG_ENOMEM, "out of memory");
	for (i = 0; i < n; i++) {
		const char *d = peer_folder(&peers[i], dir);

		if (peers[i].revoked_at)
			continue;
		if (!d) {
			free(dirs);
			return xerr(err, XCHG_EUSAGE, "node %s: no folder for its packets: set one with"
				    " xchg node set %s --dir DIR, or give --dir", peers[i].code,
				    peers[i].code);
		}
		for (j = 0; j < ndirs && strcmp(dirs[j], d) != 0; j++)
			;
		if (j == ndirs)
			dirs[ndirs++] = d;
	}
	*out = dirs;
	*nout = ndirs;
	return XCHG_OK;
}

xchg_status xchg_sync(xchg_db *db, const char *dir, xchg_import_cb cb, void *ctx, xchg_err *err)
{
	sync_run run = {.db = db, .cb = cb, .ctx = ctx};
	node_row self = {0}, *peers = NULL;
	const char **dirs = NULL;
	size_t n = 0, ndirs = 0, i;
	xchg_status rc, first = XCHG_OK;
	xchg_err later = {0};
	int news = 0, locked = 0;

	if ((rc = db_ready(db, err)) || (rc = nodes_self_required(db->st, &self, err)))
		goto done;
	if ((rc = lock_sync(db, self.code, err)))
		goto done;
	locked = 1;
	if ((rc = nodes_peers(db->st, &peers, &n, err)))
		goto done;
	if ((rc = sync_folders(peers, n, dir, &dirs, &ndirs, err)))
		goto done;
	if (ndirs && (rc = import_filed(db, dirs, ndirs, NULL, peers, n, &run, &first, &later, err)))
		goto done;
	for (i = 0; i < ndirs; i++)
		sweep_temporaries(db, &self, peers, n, dirs[i], dir, &run);
	/* Each export routes what was captured; has_news counts it unrouted. */
	for (i = 0; i < n && !rc; i++) {
		xchg_export_result res = {0};
		xchg_import_event ev = {.outcome = XCHG_EXPORTED};

		if (peers[i].revoked_at || (rc = has_news(db, &peers[i], &run, &news, err)) || !news)
			continue;
		if (!(rc = exchange_export(db, &self, peers[i].code,
					   peer_folder(&peers[i], dir), 0, &res, err))) {
			ev.path = res.path;
			ev.sender = peers[i].code;
			ev.packet_no = res.packet_no;
			ev.entities = res.entities;
			cb(&ev, ctx);
		}
		xchg_export_result_clear(&res);
	}
	if (!rc && first)
		rc = xerr(err, first, "%s", later.msg);
done:
	if (locked)
		store_run_unlock(db->st, "sync");
	run_free(&run);
	free(dirs);
	node_rows_free(peers, n);
	node_row_clear(&self);
	return rc;
}
