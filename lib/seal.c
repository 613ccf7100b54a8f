#include "seal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>

#include "keys.h"

#define SEAL_CHUNK_WIRE (SEAL_CHUNK + SEAL_TAG_BYTES)
#define SEAL_NONCE_BYTES crypto_aead_chacha20poly1305_ietf_NPUBBYTES
/* Where the fields of the header start. */
#define SEAL_AT_RECIPIENT SEAL_MAGIC_LEN
#define SEAL_AT_SEALED_KEY (SEAL_AT_RECIPIENT + crypto_sign_PUBLICKEYBYTES)

/*
 * Chunk i's nonce: i as 11 bytes big-endian, then 1 for the last chunk and 0
 * for every other. A chunk cannot be moved, and no chunk but the real last
 * one authenticates as last, so a file cut at a chunk boundary is refused too.
 */
static void chunk_nonce(unsigned char nonce[SEAL_NONCE_BYTES], uint64_t i, int last)
{
	int k;

	memset(nonce, 0, SEAL_NONCE_BYTES);
	for (k = SEAL_NONCE_BYTES - 2; k >= 0 && i; k--, i >>= 8)
		nonce[k] = (unsigned char)(i & 0xff);
	nonce[SEAL_NONCE_BYTES - 1] = last ? 1 : 0;
}

int seal_sniff(const void *head, size_t len)
{
	size_t n = len < SEAL_MAGIC_PREFIX_LEN ? len : SEAL_MAGIC_PREFIX_LEN;

	return n > 0 && memcmp(head, SEAL_MAGIC_PREFIX, n) == 0;
}

/* ---- writer ---------------------------------------------------------- */

struct seal_writer {
	seal_out_fn emit;
	void *ctx;
	uint64_t chunk;      /* the number of the chunk being filled */
	size_t fill;         /* payload bytes waiting in plain */
	int finished;
	unsigned char header[SEAL_HEADER_BYTES];
	unsigned char key[SEAL_KEY_BYTES];
	unsigned char plain[SEAL_CHUNK];
	unsigned char wire[SEAL_CHUNK_WIRE];
};

/* Every chunk's additional data is the whole header: it cannot be swapped. */
static void emit_chunk(seal_writer *s, int last)
{
	unsigned char nonce[SEAL_NONCE_BYTES];
	unsigned long long n = 0;

	chunk_nonce(nonce, s->chunk, last);
	crypto_aead_chacha20poly1305_ietf_encrypt(s->wire, &n, s->plain, s->fill, s->header,
						  sizeof(s->header), NULL, nonce, s->key);
	s->emit(s->ctx, s->wire, (size_t)n);
	s->chunk++;
	s->fill = 0;
}

xchg_status seal_writer_new(seal_writer **out, const unsigned char *recipient_pk,
			    seal_out_fn emit, void *ctx, const char *what, xchg_err *err)
{
	unsigned char xpk[crypto_box_PUBLICKEYBYTES];
	seal_writer *s = NULL;
	xchg_status rc = XCHG_OK;

	*out = NULL;
	if (sodium_init() < 0)
		return xerr(err, XCHG_EFAIL, "libsodium cannot be initialized");
	if (!(s = calloc(1, sizeof(*s))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", what);
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, recipient_pk) != 0) {
		rc = xerr(err, XCHG_EUSAGE, "%s: the recipient's public key cannot be sealed to "
			  "(not a valid Ed25519 key)", what);
		goto done;
	}
	s->emit = emit;
	s->ctx = ctx;
	crypto_aead_chacha20poly1305_ietf_keygen(s->key);
	memcpy(s->header, SEAL_MAGIC, SEAL_MAGIC_LEN);
	memcpy(s->header + SEAL_AT_RECIPIENT, recipient_pk, crypto_sign_PUBLICKEYBYTES);
	if (crypto_box_seal(s->header + SEAL_AT_SEALED_KEY, s->key, sizeof(s->key), xpk) != 0) {
		rc = xerr(err, XCHG_EFAIL, "%s: cannot seal the payload key", what);
		goto done;
	}
	s->emit(s->ctx, s->header, sizeof(s->header));
	*out = s;
	s = NULL;
done:
	seal_writer_free(s);
	return rc;
}

void seal_writer_write(seal_writer *s, const void *data, size_t len)
{
	const unsigned char *p = data;
	size_t take;

	while (len > 0 && !s->finished) {
		/* A full chunk goes out only once more follows: the last is never empty. */
		if (s->fill == SEAL_CHUNK)
			emit_chunk(s, 0);
		take = SEAL_CHUNK - s->fill < len ? SEAL_CHUNK - s->fill : len;
		memcpy(s->plain + s->fill, p, take);
		s->fill += take;
		p += take;
		len -= take;
	}
}

void seal_writer_finish(seal_writer *s)
{
	if (s->finished)
		return;
	emit_chunk(s, 1);
	s->finished = 1;
	sodium_memzero(s->key, sizeof(s->key));
}

void seal_writer_free(seal_writer *s)
{
	if (!s)
		return;
	sodium_memzero(s->key, sizeof(s->key));
	sodium_memzero(s->plain, sizeof(s->plain));
	free(s);
}

/* ---- reader ---------------------------------------------------------- */

struct seal_reader {
	int fd;
	char *path;
	uint64_t nchunks;     /* >= 1 */
	size_t last_len;      /* payload bytes of the last chunk */
	uint64_t size;        /* payload bytes in all */
	uint64_t pos;         /* libarchive's position in the payload */
	uint64_t cached;      /* the chunk in plain, or UINT64_MAX */
	size_t plain_len;
	char why[200];        /* the reason the last chunk read failed */
	unsigned char header[SEAL_HEADER_BYTES];
	unsigned char key[SEAL_KEY_BYTES];
	unsigned char plain[SEAL_CHUNK];
	unsigned char wire[SEAL_CHUNK_WIRE];
};

/* pread until len bytes or the end of the file; *got says how many came. */
static int read_at(int fd, void *buf, size_t len, uint64_t off, size_t *got)
{
	unsigned char *p = buf;
	ssize_t n;

	*got = 0;
	while (*got < len) {
		n = pread(fd, p + *got, len - *got, (off_t)(off + *got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

/*
 * Decrypts chunk i into plain. 0 when it authenticates; otherwise -1 with
 * the reason in why. A last chunk that fails is tried once more as an inner
 * one, to tell a file cut at a chunk boundary from one altered.
 */
static int load_chunk(seal_reader *s, uint64_t i)
{
	unsigned char nonce[SEAL_NONCE_BYTES];
	uint64_t off = SEAL_HEADER_BYTES + i * (uint64_t)SEAL_CHUNK_WIRE;
	size_t want, got;
	unsigned long long n = 0;
	int last = i + 1 == s->nchunks;

	if (s->cached == i)
		return 0;
	s->cached = UINT64_MAX;
	want = last ? s->last_len + SEAL_TAG_BYTES : SEAL_CHUNK_WIRE;
	if (read_at(s->fd, s->wire, want, off, &got) != 0) {
		snprintf(s->why, sizeof(s->why), "cannot read: %s", strerror(errno));
		return -1;
	}
	if (got < want) {
		snprintf(s->why, sizeof(s->why), "cut short while being read (chunk %llu)",
			 (unsigned long long)i);
		return -1;
	}
	chunk_nonce(nonce, i, last);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(s->plain, &n, NULL, s->wire, want, s->header,
						      sizeof(s->header), nonce, s->key) != 0) {
		chunk_nonce(nonce, i, 0);
		if (last && crypto_aead_chacha20poly1305_ietf_decrypt(
				    s->plain, &n, NULL, s->wire, want, s->header,
				    sizeof(s->header), nonce, s->key) == 0)
			snprintf(s->why, sizeof(s->why),
				 "truncated: it ends after chunk %llu (counted from 0), which is not "
				 "the last",
				 (unsigned long long)i);
		else
			snprintf(s->why, sizeof(s->why),
				 "chunk %llu of %llu (counted from 0) does not authenticate "
				 "(altered, damaged or truncated)",
				 (unsigned long long)i, (unsigned long long)s->nchunks);
		return -1;
	}
	s->cached = i;
	s->plain_len = (size_t)n;
	return 0;
}

/* "PATH: reason" as a refusal; the path comes first, like every packet message. */
static xchg_status refuse(const char *path, xchg_err *err, const char *why)
{
	return xerr(err, XCHG_EPACKET, "%s: %s", path, why);
}

static xchg_status read_header(seal_reader *s, xchg_err *err)
{
	char shown[16], why[160];
	size_t got, i;

	if (read_at(s->fd, s->header, sizeof(s->header), 0, &got) != 0)
		return xerr(err, XCHG_EIO, "%s: cannot read: %s", s->path, strerror(errno));
	if (!seal_sniff(s->header, got))
		return refuse(s->path, err, "not a sealed packet");
	if (got >= SEAL_MAGIC_LEN && memcmp(s->header, SEAL_MAGIC, SEAL_MAGIC_LEN) != 0) {
		for (i = 0; i + 1 < sizeof(shown) && SEAL_MAGIC_PREFIX_LEN + i < got &&
			    s->header[SEAL_MAGIC_PREFIX_LEN + i] != '\n'; i++) {
			unsigned char c = s->header[SEAL_MAGIC_PREFIX_LEN + i];

			shown[i] = c >= 0x20 && c < 0x7f ? (char)c : '?';
		}
		shown[i] = '\0';
		snprintf(why, sizeof(why), "sealed in format version \"%s\", which this xchg "
			 "does not read (it reads version 1)", shown);
		return refuse(s->path, err, why);
	}
	if (got < sizeof(s->header)) {
		snprintf(why, sizeof(why), "truncated: %zu bytes, shorter than the %zu-byte "
			 "header of a sealed packet", got, (size_t)SEAL_HEADER_BYTES);
		return refuse(s->path, err, why);
	}
	return XCHG_OK;
}

/* Which key the file is sealed to, against the one this node holds. */
static xchg_status open_payload_key(seal_reader *s, const unsigned char *sk, xchg_err *err)
{
	unsigned char xpk[crypto_box_PUBLICKEYBYTES], xsk[crypto_box_SECRETKEYBYTES];
	const unsigned char *to = s->header + SEAL_AT_RECIPIENT;
	char to_text[KEY_TEXT_MAX], mine[KEY_TEXT_MAX], why[256];
	xchg_status rc = XCHG_OK;

	keys_encode_public(to, to_text);
	if (!sk) {
		snprintf(why, sizeof(why), "sealed to key %s; opening it needs that node's "
			 "secret key (its database)", to_text);
		return refuse(s->path, err, why);
	}
	/* An Ed25519 secret key holds its public key in its second half. */
	if (sodium_memcmp(to, sk + crypto_sign_SEEDBYTES, crypto_sign_PUBLICKEYBYTES) != 0) {
		keys_encode_public(sk + crypto_sign_SEEDBYTES, mine);
		snprintf(why, sizeof(why), "sealed to another node's key %s, not to this node's (%s)",
			 to_text, mine);
		return refuse(s->path, err, why);
	}
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, to) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, sk) != 0 ||
	    crypto_box_seal_open(s->key, s->header + SEAL_AT_SEALED_KEY, SEAL_SEALED_KEY_BYTES,
				 xpk, xsk) != 0)
		rc = refuse(s->path, err, "its payload key does not open with this node's key "
			    "(the sealed header was altered or damaged)");
	sodium_memzero(xsk, sizeof(xsk));
	return rc;
}

/*
 * The chunk layout follows from the file's size: every chunk is full but the
 * last, which holds 1 to SEAL_CHUNK bytes (0 only when the payload is empty).
 */
static xchg_status plan_chunks(seal_reader *s, xchg_err *err)
{
	struct stat sb;
	uint64_t body, rem;
	char why[160];

	if (fstat(s->fd, &sb) != 0)
		return xerr(err, XCHG_EIO, "%s: %s", s->path, strerror(errno));
	if ((uint64_t)sb.st_size < SEAL_HEADER_BYTES)
		return refuse(s->path, err, "truncated while being opened");
	body = (uint64_t)sb.st_size - SEAL_HEADER_BYTES;
	if (body == 0)
		return refuse(s->path, err, "truncated: it ends after the sealed header");
	s->nchunks = body / SEAL_CHUNK_WIRE;
	rem = body % SEAL_CHUNK_WIRE;
	if (rem > 0 && rem < SEAL_TAG_BYTES) {
		snprintf(why, sizeof(why), "truncated or damaged: its last %llu bytes are too few "
			 "for a chunk", (unsigned long long)rem);
		return refuse(s->path, err, why);
	}
	if (rem > 0)
		s->nchunks++;
	s->last_len = rem > 0 ? (size_t)(rem - SEAL_TAG_BYTES) : SEAL_CHUNK;
	if (s->last_len == 0 && s->nchunks > 1)
		return refuse(s->path, err, "damaged: an empty last chunk after full ones");
	s->size = (s->nchunks - 1) * (uint64_t)SEAL_CHUNK + s->last_len;
	return XCHG_OK;
}

xchg_status seal_reader_open(seal_reader **out, int fd, const char *path,
			     const unsigned char *sk, xchg_err *err)
{
	seal_reader *s = NULL;
	xchg_status rc;

	*out = NULL;
	if (sodium_init() < 0)
		return xerr(err, XCHG_EFAIL, "libsodium cannot be initialized");
	if (!(s = calloc(1, sizeof(*s))))
		return xerr(err, XCHG_ENOMEM, "%s: out of memory", path);
	s->fd = fd;
	s->cached = UINT64_MAX;
	if (!(s->path = xstrdup(path))) {
		rc = xerr(err, XCHG_ENOMEM, "%s: out of memory", path);
		goto done;
	}
	if ((rc = read_header(s, err)) || (rc = open_payload_key(s, sk, err)) ||
	    (rc = plan_chunks(s, err)))
		goto done;
	/* The end first: a file cut short is refused before anything reads it. */
	if (load_chunk(s, s->nchunks - 1) != 0) {
		rc = refuse(s->path, err, s->why);
		goto done;
	}
	*out = s;
	s = NULL;
done:
	seal_reader_free(s);
	return rc;
}

const char *seal_reader_failure(const seal_reader *s)
{
	return s->why[0] ? s->why : NULL;
}

uint64_t seal_reader_size(const seal_reader *s)
{
	return s->size;
}

static la_ssize_t archive_read_cb(struct archive *a, void *ctx, const void **buf)
{
	seal_reader *s = ctx;
	size_t at;

	if (s->pos >= s->size)
		return 0;
	if (load_chunk(s, s->pos / SEAL_CHUNK) != 0) {
		archive_set_error(a, EILSEQ, "%s", s->why);
		return ARCHIVE_FATAL;
	}
	at = (size_t)(s->pos % SEAL_CHUNK);
	*buf = s->plain + at;
	s->pos += s->plain_len - at;
	return (la_ssize_t)(s->plain_len - at);
}

static la_int64_t archive_seek_cb(struct archive *a, void *ctx, la_int64_t offset, int whence)
{
	seal_reader *s = ctx;
	la_int64_t base = whence == SEEK_SET ? 0
			  : whence == SEEK_CUR ? (la_int64_t)s->pos
					       : (la_int64_t)s->size;

	/* The offsets come from a hostile ZIP's directory: no overflow, no negative. */
	if ((whence != SEEK_SET && whence != SEEK_CUR && whence != SEEK_END) ||
	    (offset < 0 && base + offset < 0) || (offset > 0 && base > INT64_MAX - offset)) {
		archive_set_error(a, EINVAL, "seek outside the sealed payload");
		return ARCHIVE_FATAL;
	}
	s->pos = (uint64_t)(base + offset);
	return (la_int64_t)s->pos;
}

static la_int64_t archive_skip_cb(struct archive *a, void *ctx, la_int64_t request)
{
	seal_reader *s = ctx;
	uint64_t left = s->pos < s->size ? s->size - s->pos : 0;
	uint64_t n = request < 0 ? 0 : (uint64_t)request;

	XCHG_UNUSED(a);
	if (n > left)
		n = left;
	s->pos += n;
	return (la_int64_t)n;
}

int seal_reader_open_archive(seal_reader *s, struct archive *a)
{
	s->pos = 0;
	if (archive_read_set_read_callback(a, archive_read_cb) != ARCHIVE_OK ||
	    archive_read_set_seek_callback(a, archive_seek_cb) != ARCHIVE_OK ||
	    archive_read_set_skip_callback(a, archive_skip_cb) != ARCHIVE_OK ||
	    archive_read_set_callback_data(a, s) != ARCHIVE_OK)
		return ARCHIVE_FATAL;
	return archive_read_open1(a);
}

void seal_reader_free(seal_reader *s)
{
	if (!s)
		return;
	sodium_memzero(s->key, sizeof(s->key));
	sodium_memzero(s->plain, sizeof(s->plain));
	free(s->path);
	free(s);
}

xchg_status seal_peek(const char *path, int *sealed, unsigned char *recipient_pk,
		      xchg_err *err)
{
	unsigned char head[SEAL_AT_SEALED_KEY];
	size_t got = 0;
	int fd;
	xchg_status rc = XCHG_OK;

	*sealed = 0;
	memset(recipient_pk, 0, crypto_sign_PUBLICKEYBYTES);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return xerr_sys(err, path, "cannot open");
	if (read_at(fd, head, sizeof(head), 0, &got) != 0)
		rc = xerr(err, XCHG_EIO, "%s: cannot read: %s", path, strerror(errno));
	else if ((*sealed = seal_sniff(head, got)) && got == sizeof(head))
		memcpy(recipient_pk, head + SEAL_AT_RECIPIENT, crypto_sign_PUBLICKEYBYTES);
	close(fd);
	return rc;
}
