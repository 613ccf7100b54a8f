#include "packet.h"

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "handoff.h"
#include "seal.h"

#define PACKET_READ_BLOCK (64 * 1024)

/* ---- shared ---------------------------------------------------------- */

static const char *aerr(struct archive *a)
{
	const char *s = a ? archive_error_string(a) : NULL;

	return s ? s : "unknown libarchive error";
}

/* ---- writer ---------------------------------------------------------- */

enum writer_state { W_WRITING, W_FINISHED, W_PUBLISHED, W_BROKEN };

static const char *const writer_state_text[] = {
	[W_WRITING] = "still being written",
	[W_FINISHED] = "finished but not published",
	[W_PUBLISHED] = "already published",
	[W_BROKEN] = "abandoned after an earlier error",
};

struct packet_writer {
	char *dir;      /* the folder to fsync after the rename */
	char *path;     /* dir/name */
	char *tmp_path; /* dir/.name.tmp */
	int fd;
	int io_errno;   /* the first failed write(); see writer_out */
	int tmp_exists;
	struct archive *a;
	seal_writer *seal; /* set: the ZIP goes through it, encrypted (seal.h) */
	enum writer_state state;
	time_t mtime;   /* the members' time */
	crypto_sign_ed25519ph_state sign;
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
	/*
	 * message.json on its way: deflated, hashed and written on a thread of
	 * its own (handoff.h), which alone touches a, seal, fd and sign until
	 * handoff_finish.
	 */
	handoff *message;
};

/* A bare file name that an importer scanning the folder may pick up. */
static int name_valid(const char *name)
{
	return name && name[0] && name[0] != '.' && !strchr(name, '/');
}

/* dir/prefix+name+suffix, or just prefix+name+suffix when there is no dir. */
static char *path_in(const char *dir, const char *prefix, const char *name,
		     const char *suffix)
{
	size_t n = dir ? strlen(dir) : 0;

	if (!n)
		return xstrdup_printf("%s%s%s", prefix, name, suffix);
	return xstrdup_printf("%s%s%s%s%s", dir, dir[n - 1] == '/' ? "" : "/",
			      prefix, name, suffix);
}

static xchg_status writer_expect(const packet_writer *w, enum writer_state want,
				 const char *op, xchg_err *err)
{
	if (w->state == want)
		return XCHG_OK;
	return xerr(err, XCHG_EFAIL, "%s: cannot %s: the packet is %s", w->path, op,
		    writer_state_text[w->state]);
}

static xchg_status writer_fail(packet_writer *w, const char *what, xchg_err *err)
{
	return xerr(err, XCHG_EIO, "%s: cannot write %s: %s", w->tmp_path, what,
		    w->io_errno ? strerror(w->io_errno) : aerr(w->a));
}

/* libarchive's status and the file's, taken together. */
static xchg_status writer_check(packet_writer *w, int ar, const char *what,
				xchg_err *err)
{
	return ar == ARCHIVE_OK && !w->io_errno ? XCHG_OK : writer_fail(w, what, err);
}

/*
 * libarchive's output. A failed write is recorded, not reported: once
 * libarchive sees one it drops the member without ending its deflate stream,
 * which leaks (3.6). So it is kept going, writing nowhere, and every call
 * into it is followed by a look at io_errno.
 */
static void writer_put_file(void *ctx, const void *buf, size_t len)
{
	packet_writer *w = ctx;
	const char *p = buf;
	size_t left = len;
	ssize_t n;

	while (left > 0 && !w->io_errno) {
		if ((n = write(w->fd, p, left)) > 0) {
			p += n;
			left -= (size_t)n;
		} else if (n == 0 || errno != EINTR) {
			w->io_errno = n == 0 ? EIO : errno;
		}
	}
}

/* A sealed packet's ZIP reaches the file only encrypted, never in the clear. */
static la_ssize_t writer_out(struct archive *a, void *ctx, const void *buf,
			     size_t len)
{
	packet_writer *w = ctx;

	XCHG_UNUSED(a);
	if (w->seal)
		seal_writer_write(w->seal, buf, len);
	else
		writer_put_file(w, buf, len);
	return (la_ssize_t)len;
}

static xchg_status writer_create_temp(packet_writer *w, xchg_err *err)
{
	struct stat sb;

	/*
	 * A temp of this name was left by a crashed export and never published,
	 * so no importer has seen it. O_EXCL after the unlink
	 * makes two writers racing on one name fail instead of interleaving.
	 * Only a temp that is there is removed: in a read-only folder unlink()
	 * fails with EROFS even for no file, and open() names the real fault.
	 */
	if (lstat(w->tmp_path, &sb) == 0 && unlink(w->tmp_path) != 0 && errno != ENOENT)
		return xerr(err, XCHG_EIO, "%s: cannot remove stale temporary file: %s",
			    w->tmp_path, strerror(errno));
	w->fd = open(w->tmp_path, O_CREAT | O_EXCL | O_WRONLY | O_CLOEXEC, 0644);
	if (w->fd < 0)
		return xerr(err, XCHG_EIO, "%s: cannot create: %s", w->tmp_path,
			    strerror(errno));
	w->tmp_exists = 1;
	return XCHG_OK;
}

static xchg_status writer_start_archive(packet_writer *w, xchg_err *err)
{
	if (!(w->a = archive_write_new()))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", w->tmp_path);
	/* The end-of-central-directory record must be the file's last bytes. */
	if (archive_write_set_format_zip(w->a) != ARCHIVE_OK ||
	    archive_write_set_bytes_in_last_block(w->a, 1) != ARCHIVE_OK)
		return writer_fail(w, "the archive", err);
	return writer_check(w, archive_write_open2(w->a, w, NULL, writer_out, NULL, NULL),
			    "the archive", err);
}

/*
 * Starts a member. A negative size leaves it unset, so the zip writer streams
 * the member, puts its sizes and CRC in a data descriptor and gives it Zip64
 * fields, which a message near PACKET_MAX_MESSAGE_BYTES needs anyway. The
 * time is the packet's own, not the clock's, so that the same message and
 * key always give the same file.
 */
static xchg_status writer_begin_member(packet_writer *w, const char *member,
				       la_int64_t size,
				       int (*set_compression)(struct archive *),
				       xchg_err *err)
{
	struct archive_entry *e;
	xchg_status rc = XCHG_OK;

	if (!(e = archive_entry_new()))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", w->tmp_path);
	archive_entry_set_pathname(e, member);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_mtime(e, w->mtime, 0);
	if (size >= 0)
		archive_entry_set_size(e, size);
	if (set_compression(w->a) != ARCHIVE_OK)
		rc = writer_fail(w, member, err);
	else
		rc = writer_check(w, archive_write_header(w->a, e), member, err);
	archive_entry_free(e);
	return rc;
}

static xchg_status writer_put(packet_writer *w, const char *member,
			      const void *data, size_t len, xchg_err *err)
{
	const unsigned char *p = data;
	la_ssize_t n;

	while (len > 0) {
		if ((n = archive_write_data(w->a, p, len)) <= 0 || w->io_errno)
			return writer_fail(w, member, err);
		p += n;
		len -= (size_t)n;
	}
	return XCHG_OK;
}

/* message.json's next bytes, on the handoff's thread: into the archive and the signature. */
static xchg_status write_message(void *ctx, const void *data, size_t len, xchg_err *err)
{
	packet_writer *w = ctx;
	xchg_status rc;

	if ((rc = writer_put(w, PACKET_MEMBER_MESSAGE, data, len, err)))
		return rc;
	crypto_sign_ed25519ph_update(&w->sign, data, len);
	return XCHG_OK;
}

xchg_status packet_writer_open(packet_writer **out, const char *dir,
			       const char *name, const unsigned char *sk,
			       xchg_err *err)
{
	return packet_writer_open_sealed(out, dir, name, sk, NULL, time(NULL), err);
}

xchg_status packet_writer_open_sealed(packet_writer **out, const char *dir,
				      const char *name, const unsigned char *sk,
				      const unsigned char *recipient_pk, time_t mtime,
				      xchg_err *err)
{
	packet_writer *w = NULL;
	xchg_status rc;

	*out = NULL;
	if (!name_valid(name))
		return xerr(err, XCHG_EUSAGE,
			    "\"%s\": not a packet file name (empty, hidden or with a '/')",
			    name ? name : "(null)");
	if (!sk)
		return xerr(err, XCHG_EUSAGE, "%s: no secret key to sign with", name);
	if (sodium_init() < 0)
		return xerr(err, XCHG_EFAIL, "libsodium cannot be initialized");
	if (!(w = calloc(1, sizeof(*w))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", name);
	w->fd = -1;
	w->mtime = mtime;
	if (dir && !dir[0])
		dir = NULL;
	if (!(w->dir = xstrdup(dir ? dir : ".")) ||
	    !(w->path = path_in(dir, "", name, "")) ||
	    !(w->tmp_path = path_in(dir, ".", name, ".tmp"))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", name);
		goto done;
	}
	memcpy(w->sk, sk, sizeof(w->sk));
	crypto_sign_ed25519ph_init(&w->sign);
	if ((rc = writer_create_temp(w, err)) ||
	    (recipient_pk && (rc = seal_writer_new(&w->seal, recipient_pk, writer_put_file, w,
						   w->tmp_path, err))) ||
	    (rc = writer_start_archive(w, err)) ||
	    (rc = writer_begin_member(w, PACKET_MEMBER_MESSAGE, -1,
				      archive_write_zip_set_compression_deflate, err)) ||
	    (rc = handoff_new(&w->message, write_message, w, err)))
		goto done;
	*out = w;
	w = NULL;
done:
	packet_writer_free(w);
	return rc;
}

xchg_status packet_writer_write(void *ctx, const void *data, size_t len,
				xchg_err *err)
{
	packet_writer *w = ctx;
	xchg_status rc;

	if ((rc = writer_expect(w, W_WRITING, "write", err)))
		return rc;
	if ((rc = handoff_write(w->message, data, len, err)))
		w->state = W_BROKEN;
	return rc;
}

/* Ends message.json, appends message.sig and writes the central directory. */
static xchg_status writer_seal(packet_writer *w, const unsigned char *sig,
			       xchg_err *err)
{
	xchg_status rc;

	if ((rc = writer_check(w, archive_write_finish_entry(w->a),
			       PACKET_MEMBER_MESSAGE, err)))
		return rc;
	/* message.sig is stored, not deflated: 64 random bytes do not shrink. */
	if ((rc = writer_begin_member(w, PACKET_MEMBER_SIGNATURE, crypto_sign_BYTES,
				      archive_write_zip_set_compression_store, err)) ||
	    (rc = writer_put(w, PACKET_MEMBER_SIGNATURE, sig, crypto_sign_BYTES, err)))
		return rc;
	if ((rc = writer_check(w, archive_write_close(w->a), "the archive", err)))
		return rc;
	archive_write_free(w->a);
	w->a = NULL;
	if (w->seal) {
		/* The last chunk is marked as such: a copy cut short is refused. */
		seal_writer_finish(w->seal);
		if (w->io_errno)
			return writer_fail(w, "the sealed packet", err);
	}
	return XCHG_OK;
}

/* Flushed before the caller commits: the commit must not outlive the bytes. */
static xchg_status writer_sync_temp(packet_writer *w, xchg_err *err)
{
	xchg_status rc = XCHG_OK;

	if (fsync(w->fd) != 0)
		rc = xerr(err, XCHG_EIO, "%s: cannot flush: %s", w->tmp_path, strerror(errno));
	if (close(w->fd) != 0 && !rc)
		rc = xerr(err, XCHG_EIO, "%s: cannot close: %s", w->tmp_path, strerror(errno));
	w->fd = -1;
	return rc;
}

xchg_status packet_writer_finish(packet_writer *w, xchg_err *err)
{
	unsigned char sig[crypto_sign_BYTES];
	xchg_status rc;

	if ((rc = writer_expect(w, W_WRITING, "finish", err)))
		return rc;
	if ((rc = handoff_finish(w->message, err))) {
		w->state = W_BROKEN;
		return rc;
	}
	crypto_sign_ed25519ph_final_create(&w->sign, sig, NULL, w->sk);
	/* The key's work is done; do not keep it until free. */
	sodium_memzero(w->sk, sizeof(w->sk));
	if (!(rc = writer_seal(w, sig, err))) {
		xkill_point("export.sealed");
		rc = writer_sync_temp(w, err);
	}
	w->state = rc ? W_BROKEN : W_FINISHED;
	return rc;
}

/* Without RENAME_NOREPLACE (some file systems) the caller's lstat is the guard. */
static int rename_noreplace(const char *from, const char *to)
{
#ifdef RENAME_NOREPLACE
	if (renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
#endif
	return rename(from, to);
}

/* Makes a rename durable: the new name lives in the folder's own blocks. */
static xchg_status sync_dir(const char *dir, xchg_err *err)
{
	xchg_status rc = XCHG_OK;
	int fd;

	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return xerr(err, XCHG_EIO, "%s: cannot open folder: %s", dir,
			    strerror(errno));
	if (fsync(fd) != 0)
		rc = xerr(err, XCHG_EIO, "%s: cannot sync folder: %s", dir,
			  strerror(errno));
	close(fd);
	return rc;
}

xchg_status packet_writer_publish(packet_writer *w, xchg_err *err)
{
	struct stat sb;
	xchg_status rc;

	/*
	 * The export commits its database transaction between finish and
	 * publish, so this rename is the last step and must be atomic: an
	 * importer sees either no packet or a complete one, and never one whose
	 * number the sender's database could still hand out again.
	 */
	if ((rc = writer_expect(w, W_FINISHED, "publish", err)))
		return rc;
	/* A packet is never overwritten: its importer may already have read it. */
	if (lstat(w->path, &sb) == 0)
		return xerr(err, XCHG_EFAIL, "%s: already exists", w->path);
	if (errno != ENOENT)
		return xerr(err, XCHG_EIO, "%s: %s", w->path, strerror(errno));
	if (rename_noreplace(w->tmp_path, w->path) != 0) {
		if (errno == EEXIST)
			return xerr(err, XCHG_EFAIL, "%s: already exists", w->path);
		return xerr(err, XCHG_EIO, "%s: cannot rename to %s: %s", w->tmp_path,
			    w->path, strerror(errno));
	}
	w->state = W_PUBLISHED;
	w->tmp_exists = 0;
	return sync_dir(w->dir, err);
}

const char *packet_writer_path(const packet_writer *w)
{
	return w ? w->path : NULL;
}

void packet_writer_free(packet_writer *w)
{
	if (!w)
		return;
	/* Its thread first: it may be writing into the archive. */
	handoff_free(w->message);
	/*
	 * An abandoned archive gets its trailer written into a temp file that is
	 * removed just below; archive_write_fail() would skip that, but then
	 * libarchive leaks the member's deflate stream.
	 */
	archive_write_free(w->a);
	seal_writer_free(w->seal);
	if (w->fd >= 0)
		close(w->fd);
	if (w->tmp_exists)
		unlink(w->tmp_path);
	sodium_memzero(w->sk, sizeof(w->sk));
	sodium_memzero(&w->sign, sizeof(w->sign));
	free(w->dir);
	free(w->path);
	free(w->tmp_path);
	free(w);
}

/* ---- reader ---------------------------------------------------------- */

enum reader_state { R_MESSAGE, R_VERIFIED, R_REFUSED };

struct packet_reader {
	char *path;
	int fd;
	struct archive *a;
	seal_reader *seal; /* set: a sealed packet, the ZIP read through it */
	enum reader_state state;
	int message_done;
	uint64_t message_bytes;
	uint64_t message_size;  /* as the archive says, a hint for progress only; 0 if unsaid */
	uint64_t file_bytes;   /* the packet file's size: what the ratio limit divides by */
	crypto_sign_ed25519ph_state sign;
};

/* Records "PATH: reason"; a refused reader stays refused. */
static xchg_status refuse(packet_reader *r, xchg_err *err, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

static xchg_status refuse(packet_reader *r, xchg_err *err, const char *fmt, ...)
{
	char why[XCHG_ERRMSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	r->state = R_REFUSED;
	/* A sealed chunk that failed is the cause; libarchive saw only its data stop. */
	if (r->seal && seal_reader_failure(r->seal))
		return xerr(err, XCHG_EPACKET, "%s: %s", r->path, seal_reader_failure(r->seal));
	return xerr(err, XCHG_EPACKET, "%s: %s", r->path, why);
}

static xchg_status reader_expect_message(const packet_reader *r, const char *op,
					 xchg_err *err)
{
	if (r->state == R_MESSAGE)
		return XCHG_OK;
	if (r->state == R_REFUSED)
		return xerr(err, XCHG_EPACKET, "%s: cannot %s: the packet was refused",
			    r->path, op);
	return xerr(err, XCHG_EFAIL, "%s: cannot %s: the signature was already checked",
		    r->path, op);
}

/*
 * A sealed packet is recognized by its first bytes, whatever its name, and
 * opened with this node's key; its ZIP is then read through the seal.
 */
static xchg_status reader_open_seal(packet_reader *r, seal_key_fn key, void *key_ctx,
				    xchg_err *err)
{
	unsigned char head[SEAL_MAGIC_PREFIX_LEN];
	const unsigned char *sk = NULL;
	ssize_t n;
	xchg_status rc;

	if ((n = pread(r->fd, head, sizeof(head), 0)) < 0)
		return xerr(err, XCHG_EIO, "%s: cannot read: %s", r->path, strerror(errno));
	if (!seal_sniff(head, (size_t)n))
		return XCHG_OK;
	if (key && (rc = key(key_ctx, &sk, err)))
		return rc;
	if ((rc = seal_reader_open(&r->seal, r->fd, r->path, sk, err)) == XCHG_EPACKET)
		r->state = R_REFUSED;
	return rc;
}

/*
 * Whether the file at fd begins with a ZIP member's header: a packet whose
 * end the seekable reader cannot find is then one cut short, not some
 * other kind of file.
 */
static int starts_as_zip(int fd)
{
	unsigned char head[4];

	return pread(fd, head, sizeof(head), 0) == (ssize_t)sizeof(head) &&
	       memcmp(head, "PK\003\004", sizeof(head)) == 0;
}

static xchg_status reader_open_file(packet_reader *r, seal_key_fn key, void *key_ctx,
				    xchg_err *err)
{
	struct stat sb;
	xchg_status rc;
	int ar;

	/* O_NONBLOCK: a FIFO dropped in the inbox must not hang the import. */
	if ((r->fd = open(r->path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return xerr_sys(err, r->path, "cannot open");
	if (fstat(r->fd, &sb) != 0)
		return xerr(err, XCHG_EIO, "%s: %s", r->path, strerror(errno));
	if (!S_ISREG(sb.st_mode))
		return refuse(r, err, "not a regular file");
	r->file_bytes = (uint64_t)sb.st_size;
	if ((rc = reader_open_seal(r, key, key_ctx, err)))
		return rc;
	/*
	 * Seekable ZIP only: it starts from the central directory, so a file cut
	 * short anywhere lacks its end record and is refused. The streaming
	 * reader would stop at the first central-directory header and accept a
	 * packet truncated inside the directory. A sealed packet's chunks seek
	 * too, so its ZIP gets the same reader.
	 */
	if (!(r->a = archive_read_new()))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", r->path);
	if ((ar = archive_read_support_format_zip_seekable(r->a)) == ARCHIVE_OK)
		ar = r->seal ? seal_reader_open_archive(r->seal, r->a)
			     : archive_read_open_fd(r->a, r->fd, PACKET_READ_BLOCK);
	if (ar != ARCHIVE_OK && !r->seal && starts_as_zip(r->fd))
		return refuse(r, err, "truncated: it starts as a ZIP but its end is missing, as when a"
			      " copy stops short; copy the packet again");
	if (ar != ARCHIVE_OK)
		return refuse(r, err, "%s: %s", r->seal ? "the sealed payload is not a packet (ZIP)"
						      : "not a packet (ZIP)", aerr(r->a));
	return XCHG_OK;
}

/* Reads the next header; it must be a plain regular file named want. */
static xchg_status reader_member(packet_reader *r, const char *want,
				 struct archive_entry **out, xchg_err *err)
{
	struct archive_entry *e;
	const char *name;
	int ar;

	if ((ar = archive_read_next_header(r->a, &e)) == ARCHIVE_EOF)
		return refuse(r, err, "%s is missing", want);
	if (ar != ARCHIVE_OK)
		return refuse(r, err, "cannot read the header of %s: %s", want, aerr(r->a));
	if (!(name = archive_entry_pathname(e)))
		return refuse(r, err, "a member with an unreadable name where %s belongs", want);
	if (strcmp(name, want) != 0)
		return refuse(r, err, "member \"%.80s\" where %s belongs", name, want);
	if (archive_entry_filetype(e) != AE_IFREG)
		return refuse(r, err, "%s is not a regular file", want);
	if (archive_entry_is_encrypted(e))
		return refuse(r, err, "%s is encrypted", want);
	*out = e;
	return XCHG_OK;
}

xchg_status packet_reader_open(packet_reader **out, const char *path,
			       xchg_err *err)
{
	return packet_reader_open_keyed(out, path, NULL, NULL, err);
}

xchg_status packet_reader_open_keyed(packet_reader **out, const char *path,
				     seal_key_fn key, void *key_ctx, xchg_err *err)
{
	packet_reader *r = NULL;
	struct archive_entry *e;
	xchg_status rc;

	*out = NULL;
	if (!path)
		return xerr(err, XCHG_EUSAGE, "no packet path given");
	if (sodium_init() < 0)
		return xerr(err, XCHG_EFAIL, "libsodium cannot be initialized");
	if (!(r = calloc(1, sizeof(*r))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", path);
	r->fd = -1;
	if (!(r->path = xstrdup(path))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", path);
		goto done;
	}
	crypto_sign_ed25519ph_init(&r->sign);
	if ((rc = reader_open_file(r, key, key_ctx, err)) ||
	    (rc = reader_member(r, PACKET_MEMBER_MESSAGE, &e, err)))
		goto done;
	/* The central directory's word is only a hint; reading counts for real. */
	if (archive_entry_size_is_set(e) &&
	    (uint64_t)archive_entry_size(e) > PACKET_MAX_MESSAGE_BYTES) {
		rc = refuse(r, err, "%s is larger than %llu bytes", PACKET_MEMBER_MESSAGE,
			    (unsigned long long)PACKET_MAX_MESSAGE_BYTES);
		goto done;
	}
	if (archive_entry_size_is_set(e) && archive_entry_size(e) > 0)
		r->message_size = (uint64_t)archive_entry_size(e);
	*out = r;
	r = NULL;
done:
	packet_reader_free(r);
	return rc;
}

xchg_status packet_reader_read(void *ctx, void *buf, size_t cap, size_t *got,
			       xchg_err *err)
{
	packet_reader *r = ctx;
	la_ssize_t n;
	xchg_status rc;

	*got = 0;
	if ((rc = reader_expect_message(r, "read", err)))
		return rc;
	if (r->message_done)
		return XCHG_OK;
	if (cap == 0)
		return xerr(err, XCHG_EUSAGE, "%s: read into an empty buffer", r->path);
	/* A bad CRC comes back as ARCHIVE_WARN: every negative is a refusal. */
	if ((n = archive_read_data(r->a, buf, cap)) < 0)
		return refuse(r, err, "%s: %s", PACKET_MEMBER_MESSAGE, aerr(r->a));
	if (n == 0) {
		r->message_done = 1;
		return XCHG_OK;
	}
	if ((uint64_t)n > PACKET_MAX_MESSAGE_BYTES - r->message_bytes)
		return refuse(r, err, "%s inflates past %llu bytes", PACKET_MEMBER_MESSAGE,
			      (unsigned long long)PACKET_MAX_MESSAGE_BYTES);
	r->message_bytes += (uint64_t)n;
	/*
	 * A bomb well under the size limit still costs inflating, hashing and
	 * parsing far more than its sender had to ship; JSON rows deflate about
	 * 10 to 1. The file's own size bounds the compressed bytes from above.
	 */
	if (r->message_bytes > PACKET_RATIO_FREE_BYTES &&
	    r->message_bytes / PACKET_MAX_RATIO > r->file_bytes)
		return refuse(r, err, "%s inflates to more than %d times the packet's %llu bytes"
			      " (as a zip bomb does)", PACKET_MEMBER_MESSAGE, PACKET_MAX_RATIO,
			      (unsigned long long)r->file_bytes);
	crypto_sign_ed25519ph_update(&r->sign, buf, (unsigned long long)n);
	*got = (size_t)n;
	return XCHG_OK;
}

static xchg_status reader_drain_message(packet_reader *r, xchg_err *err)
{
	unsigned char buf[16 * 1024];
	size_t got;
	xchg_status rc;

	do {
		if ((rc = packet_reader_read(r, buf, sizeof(buf), &got, err)))
			return rc;
	} while (got > 0);
	return XCHG_OK;
}

static xchg_status reader_signature(packet_reader *r,
				    unsigned char sig[crypto_sign_BYTES],
				    xchg_err *err)
{
	/* One byte of room past the signature tells a long member from an exact one. */
	unsigned char buf[crypto_sign_BYTES + 1];
	struct archive_entry *e;
	size_t have = 0;
	la_ssize_t n;
	xchg_status rc;

	if ((rc = reader_member(r, PACKET_MEMBER_SIGNATURE, &e, err)))
		return rc;
	do {
		if ((n = archive_read_data(r->a, buf + have, sizeof(buf) - have)) < 0)
			return refuse(r, err, "%s: %s", PACKET_MEMBER_SIGNATURE, aerr(r->a));
		have += (size_t)n;
	} while (n > 0 && have < sizeof(buf));
	if (have > crypto_sign_BYTES)
		return refuse(r, err, "%s is longer than %d bytes", PACKET_MEMBER_SIGNATURE,
			      crypto_sign_BYTES);
	if (have < crypto_sign_BYTES)
		return refuse(r, err, "%s is %zu bytes, not %d", PACKET_MEMBER_SIGNATURE,
			      have, crypto_sign_BYTES);
	memcpy(sig, buf, crypto_sign_BYTES);
	return XCHG_OK;
}

static xchg_status reader_expect_end(packet_reader *r, xchg_err *err)
{
	struct archive_entry *e;
	const char *name;
	int ar;

	if ((ar = archive_read_next_header(r->a, &e)) == ARCHIVE_EOF)
		return XCHG_OK;
	if (ar != ARCHIVE_OK)
		return refuse(r, err, "cannot read past %s: %s", PACKET_MEMBER_SIGNATURE,
			      aerr(r->a));
	name = archive_entry_pathname(e);
	if (!name)
		return refuse(r, err, "an unexpected member after %s", PACKET_MEMBER_SIGNATURE);
	return refuse(r, err, "unexpected member \"%.80s\" after %s", name, PACKET_MEMBER_SIGNATURE);
}

xchg_status packet_reader_verify(packet_reader *r, const unsigned char *pk,
				 xchg_err *err)
{
	unsigned char sig[crypto_sign_BYTES];
	xchg_status rc;

	if ((rc = reader_expect_message(r, "verify", err)))
		return rc;
	if (!pk)
		return xerr(err, XCHG_EUSAGE, "%s: no public key to verify with", r->path);
	if ((rc = reader_drain_message(r, err)) ||
	    (rc = reader_signature(r, sig, err)) ||
	    (rc = reader_expect_end(r, err)))
		return rc;
	if (crypto_sign_ed25519ph_final_verify(&r->sign, sig, pk) != 0)
		return refuse(r, err, "signature does not verify");
	r->state = R_VERIFIED;
	return XCHG_OK;
}

void packet_reader_progress(const packet_reader *r, uint64_t *read, uint64_t *size)
{
	*read = r->message_bytes;
	*size = r->message_size;
}

const char *packet_reader_path(const packet_reader *r)
{
	return r ? r->path : NULL;
}

int packet_reader_sealed(const packet_reader *r)
{
	return r && r->seal;
}

void packet_reader_free(packet_reader *r)
{
	if (!r)
		return;
	archive_read_free(r->a);
	seal_reader_free(r->seal);
	if (r->fd >= 0)
		close(r->fd);
	free(r->path);
	free(r);
}
