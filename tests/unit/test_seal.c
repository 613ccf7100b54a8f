/*
 * Sealed packets (lib/seal.c, formats/PACKET.md section 8): a packet
 * encrypted to its recipient's key. The first half drives the packet layer
 * with fixed keys (A sends, B receives, C is a bystander); the second plays
 * out exchanges between real nodes through the public API.
 *
 * What is guarded: the payload is exactly the plain packet and a reader
 * written from the spec alone opens it; only the recipient's key opens it;
 * every truncation and every altered byte is refused, naming the file; the
 * ZIP never reaches the disk in the clear; memory stays flat whatever the
 * size; an import refuses what it cannot open and changes nothing, and
 * answers a sealed packet with a sealed acknowledgement.
 */
#include <criterion/criterion.h>

#include <dirent.h>
#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "handoff.h"
#include "harness.h"
#include "keys.h"
#include "packet.h"
#include "seal.h"

typedef struct pair {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
} pair;

static pair A, B, C; /* sender, recipient, bystander */
static int key_calls;

static void pair_from(pair *p, unsigned char seed_byte)
{
	unsigned char seed[crypto_sign_SEEDBYTES];

	memset(seed, seed_byte, sizeof(seed));
	crypto_sign_seed_keypair(p->pk, p->sk, seed);
}

static void setup(void)
{
	harness_setup();
	pair_from(&A, 'A');
	pair_from(&B, 'B');
	pair_from(&C, 'C');
	key_calls = 0;
}

TestSuite(seal, .init = setup, .fini = harness_teardown);

/* ---- helpers --------------------------------------------------------- */

/* JSON-like lines, a marker that must never show in a sealed file, random bytes. */
#define MARKER "PLAINTEXT-MARKER"

static unsigned char *make_msg(size_t len)
{
	static const unsigned char seed[randombytes_SEEDBYTES] = {7, 7, 7};
	unsigned char *m = malloc(len + 1);
	size_t i = 0;
	unsigned n = 0;

	cr_assert_not_null(m);
	while (i < len) {
		char line[96];
		int k = snprintf(line, sizeof(line), "{\"n\":%u,\"name\":\"" MARKER " %u\"},\n", n, n);
		size_t take = (size_t)k < len - i ? (size_t)k : len - i;

		memcpy(m + i, line, take);
		i += take;
		n++;
	}
	if (len >= 64)
		randombytes_buf_deterministic(m + len / 2, len / 8, seed);
	return m;
}

/* Random bytes with the marker every 4 KiB: it does not deflate, so it fills chunks. */
static unsigned char *make_noise(size_t len)
{
	static const unsigned char seed[randombytes_SEEDBYTES] = {9, 9, 9};
	unsigned char *m = malloc(len + 1);
	size_t i;

	cr_assert_not_null(m);
	randombytes_buf_deterministic(m, len, seed);
	for (i = 0; i + strlen(MARKER) <= len; i += 4096)
		memcpy(m + i, MARKER, strlen(MARKER));
	return m;
}

/* A sealed packet from A to `to`, message written in pieces of 1 to 1500 bytes. */
static const char *seal_packet(const char *name, const unsigned char *msg, size_t len,
			       const unsigned char *to)
{
	const char *path = tmp_path(name);
	packet_writer *w = NULL;
	xchg_err err = {0};
	size_t off = 0, step = 1;

	cr_assert_eq(packet_writer_open_sealed(&w, test_root(), name, A.sk, to, time(NULL), &err), XCHG_OK,
		     "%s", err.msg);
	while (off < len) {
		size_t n = step++ % 1500;

		if (n > len - off)
			n = len - off;
		cr_assert_eq(packet_writer_write(w, msg + off, n, &err), XCHG_OK, "%s", err.msg);
		off += n;
	}
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_OK, "%s", err.msg);
	packet_writer_free(w);
	return path;
}

static xchg_status give_key(void *ctx, const unsigned char **sk, xchg_err *err)
{
	XCHG_UNUSED(err);
	key_calls++;
	*sk = ctx ? ((const pair *)ctx)->sk : NULL;
	return XCHG_OK;
}

/*
 * Opens path with opener's key, reads message.json in pieces of cap bytes
 * into out and verifies A's signature. The first failure is returned; a
 * refused reader must keep refusing.
 */
static xchg_status open_as(const char *path, const pair *opener, size_t cap, xbuf *out,
			   int *sealed, xchg_err *err)
{
	packet_reader *r = NULL;
	unsigned char *buf = malloc(cap);
	size_t got;
	xchg_status rc;

	cr_assert_not_null(buf);
	if ((rc = packet_reader_open_keyed(&r, path, give_key, (void *)opener, err)) == XCHG_OK) {
		if (sealed)
			*sealed = packet_reader_sealed(r);
		do {
			if ((rc = packet_reader_read(r, buf, cap, &got, err)))
				break;
			cr_assert_eq(xbuf_add(out, buf, got), 0);
		} while (got > 0);
		if (!rc)
			rc = packet_reader_verify(r, A.pk, err);
		else
			cr_assert_neq(packet_reader_verify(r, A.pk, &(xchg_err){0}), XCHG_OK,
				      "%s: verified after a failed read", path);
	} else {
		cr_assert_null(r);
	}
	packet_reader_free(r);
	free(buf);
	return rc;
}

static xchg_status check_as(const char *path, const pair *opener, xchg_err *err)
{
	xbuf got = {0};
	xchg_status rc = open_as(path, opener, 4096, &got, NULL, err);

	xbuf_free(&got);
	return rc;
}

/* A refusal is XCHG_EPACKET and its message starts with "PATH: ". */
static void assert_refused(xchg_status rc, const xchg_err *err, const char *path,
			   const char *reason)
{
	size_t n = strlen(path);

	cr_assert_eq(rc, XCHG_EPACKET, "%s: expected a refusal, got %d: %s", path, rc, err->msg);
	cr_assert(strncmp(err->msg, path, n) == 0 && err->msg[n] == ':' && err->msg[n + 1] == ' ',
		  "message does not start with the path: %s", err->msg);
	if (reason)
		cr_assert_not_null(strstr(err->msg, reason), "\"%s\" lacks \"%s\"", err->msg, reason);
}

static void seal_to_file(void *ctx, const void *data, size_t len)
{
	cr_assert_eq(fwrite(data, 1, len, ctx), len);
}

/* The seal layer alone: data sealed to `to` in pieces of 1000 bytes. */
static void seal_raw(const char *path, const unsigned char *data, size_t len,
		     const unsigned char *to)
{
	FILE *f = fopen(path, "wb");
	seal_writer *s = NULL;
	xchg_err err = {0};
	size_t off;

	cr_assert_not_null(f);
	cr_assert_eq(seal_writer_new(&s, to, seal_to_file, f, path, &err), XCHG_OK, "%s", err.msg);
	for (off = 0; off < len; off += 1000)
		seal_writer_write(s, data + off, len - off < 1000 ? len - off : 1000);
	seal_writer_finish(s);
	seal_writer_write(s, "late", 4); /* after the last chunk: ignored */
	seal_writer_free(s);
	cr_assert_eq(fclose(f), 0);
}

/* The seal layer read through libarchive's raw format, as the ZIP reader reads it. */
static xchg_status open_raw(const char *path, const unsigned char *sk, xbuf *out, xchg_err *err)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	seal_reader *s = NULL;
	struct archive *a = NULL;
	struct archive_entry *e;
	char buf[3000];
	la_ssize_t n;
	xchg_status rc;

	cr_assert_geq(fd, 0);
	if (!(rc = seal_reader_open(&s, fd, path, sk, err)) && seal_reader_size(s) > 0) {
		cr_assert_not_null(a = archive_read_new());
		cr_assert_eq(archive_read_support_format_raw(a), ARCHIVE_OK);
		cr_assert_eq(seal_reader_open_archive(s, a), ARCHIVE_OK, "%s", archive_error_string(a));
		cr_assert_eq(archive_read_next_header(a, &e), ARCHIVE_OK, "%s", archive_error_string(a));
		while ((n = archive_read_data(a, buf, sizeof(buf))) > 0)
			cr_assert_eq(xbuf_add(out, buf, (size_t)n), 0);
		if (n < 0)
			rc = xerr(err, XCHG_EPACKET, "%s: %s", path, archive_error_string(a));
	}
	archive_read_free(a);
	seal_reader_free(s);
	close(fd);
	return rc;
}

/*
 * PACKET.md section 8, implemented from the text alone: the payload of a
 * sealed file, or NULL if any part fails. It shares no code with seal.c, so
 * the spec and the code cannot drift apart unnoticed.
 */
static unsigned char *spec_open(const unsigned char *file, size_t len, const pair *k,
				size_t *out_len)
{
	static const char magic[] = "xchg-sealed-packet/1\n";
	const size_t H = 21 + 32 + 80, W = 65536 + 16;
	unsigned char xpk[32], xsk[32], key[32], nonce[12];
	unsigned char *out;
	size_t at = H, n = 0;
	uint64_t i = 0;
	unsigned long long got;

	if (len < H + 16 || memcmp(file, magic, 21) != 0 || memcmp(file + 21, k->pk, 32) != 0)
		return NULL;
	if (crypto_sign_ed25519_pk_to_curve25519(xpk, k->pk) != 0 ||
	    crypto_sign_ed25519_sk_to_curve25519(xsk, k->sk) != 0 ||
	    crypto_box_seal_open(key, file + 53, 80, xpk, xsk) != 0)
		return NULL;
	cr_assert_not_null(out = malloc(len));
	while (at < len) {
		size_t take = len - at < W ? len - at : W;
		int last = at + take == len, b;

		memset(nonce, 0, sizeof(nonce));
		for (b = 10; b >= 3; b--) /* an 11-byte big-endian counter; a uint64 fills 8 */
			nonce[b] = (unsigned char)(i >> (8 * (10 - b)));
		nonce[11] = (unsigned char)last;
		if (take < 16 || crypto_aead_chacha20poly1305_ietf_decrypt(
					 out + n, &got, NULL, file + at, take, file, H, nonce, key) != 0) {
			free(out);
			return NULL;
		}
		n += got;
		at += take;
		i++;
	}
	*out_len = n;
	return out;
}

/* ---- the format ------------------------------------------------------ */

Test(seal, round_trip_opens_with_the_recipients_key)
{
	size_t len = 300 * 1024, caps[] = {1, 4096, 65536, 1 << 20}, i;
	unsigned char *msg = make_msg(len);
	const char *path = seal_packet("pkt_A_B_1.zip.sealed", msg, len, B.pk);

	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		xbuf got = {0};
		xchg_err err = {0};
		int sealed = 0;

		cr_assert_eq(open_as(path, &B, caps[i], &got, &sealed, &err), XCHG_OK, "cap %zu: %s",
			     caps[i], err.msg);
		cr_assert(sealed, "not reported as sealed");
		cr_assert(got.len == len && memcmp(got.data, msg, len) == 0, "cap %zu: bytes differ",
			  caps[i]);
		xbuf_free(&got);
	}
	cr_assert_eq(key_calls, (int)(sizeof(caps) / sizeof(caps[0])), "the key is asked once per open");
	free(msg);
}

Test(seal, file_is_magic_then_ciphertext_with_no_plaintext)
{
	size_t len = 100 * 1024, flen;
	unsigned char *msg = make_msg(len), *file;
	const char *path = seal_packet("p.zip.sealed", msg, len, B.pk);

	file = read_file(path, &flen);
	cr_assert(memcmp(file, SEAL_MAGIC, SEAL_MAGIC_LEN) == 0, "no magic line");
	cr_assert(memcmp(file + SEAL_MAGIC_LEN, B.pk, sizeof(B.pk)) == 0, "recipient key not next");
	cr_assert_null(memmem(file, flen, MARKER, strlen(MARKER)), "plaintext in the file");
	cr_assert_null(memmem(file, flen, PACKET_MEMBER_MESSAGE, strlen(PACKET_MEMBER_MESSAGE)),
		       "a ZIP member name in the file");
	cr_assert_null(memmem(file, flen, "PK\x03\x04", 4), "a ZIP local header in the file");
	free(file);
	free(msg);
}

/* The payload is exactly a plain packet, and a reader built from the spec opens it. */
Test(seal, payload_is_the_plain_packet_per_the_spec)
{
	size_t len = 200 * 1024, flen, plen;
	unsigned char *msg = make_msg(len), *file, *payload;
	const char *path = seal_packet("s.zip.sealed", msg, len, B.pk);
	xbuf got = {0};
	xchg_err err = {0};
	int sealed = 1;

	file = read_file(path, &flen);
	payload = spec_open(file, flen, &B, &plen);
	cr_assert_not_null(payload, "the spec's reader cannot open what the writer sealed");
	cr_assert_null(spec_open(file, flen, &C, &plen), "opened with the wrong key");
	write_file(tmp_path("payload.zip"), payload, plen);
	cr_assert_eq(open_as(tmp_path("payload.zip"), NULL, 4096, &got, &sealed, &err), XCHG_OK,
		     "%s", err.msg);
	cr_assert_not(sealed);
	cr_assert_eq(key_calls, 0, "a plain packet asked for the secret key");
	cr_assert(got.len == len && memcmp(got.data, msg, len) == 0);
	xbuf_free(&got);
	free(payload);
	free(file);
	free(msg);
}

/* Chunk boundaries: file size, contents, and the spec's reader, for each size. */
Test(seal, payload_sizes_around_chunk_boundaries)
{
	const size_t sizes[] = {0, 1, 100, SEAL_CHUNK - 1, SEAL_CHUNK, SEAL_CHUNK + 1,
				2 * SEAL_CHUNK, 2 * SEAL_CHUNK + 7, 3 * SEAL_CHUNK - 1};
	unsigned char *data = make_msg(3 * SEAL_CHUNK);
	size_t i;

	for (i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		size_t n = sizes[i], chunks = n ? (n + SEAL_CHUNK - 1) / SEAL_CHUNK : 1, flen, plen;
		const char *path = tmp_path(hstr("raw%zu", i));
		unsigned char *file, *payload;
		xbuf got = {0};
		xchg_err err = {0};

		seal_raw(path, data, n, B.pk);
		file = read_file(path, &flen);
		cr_assert_eq(flen, SEAL_HEADER_BYTES + n + chunks * SEAL_TAG_BYTES, "size %zu", n);
		cr_assert_not_null(payload = spec_open(file, flen, &B, &plen), "size %zu", n);
		cr_assert(plen == n && memcmp(payload, data, n) == 0, "size %zu", n);
		cr_assert_eq(open_raw(path, B.sk, &got, &err), XCHG_OK, "size %zu: %s", n, err.msg);
		cr_assert(got.len == n && (n == 0 || memcmp(got.data, data, n) == 0), "size %zu", n);
		xbuf_free(&got);
		free(payload);
		free(file);
	}
	free(data);
}

/*
 * The test vector of PACKET.md 7: the good golden packet sealed to DESKTOP-1
 * (seed 32 bytes of 'D'). Its key opens it, by the spec and by xchg, and the
 * payload is a packet that verifies against CENTER.pub; no other key opens it.
 */
static void golden_center_key(unsigned char *pk)
{
	xchg_err err = {0};
	size_t len;
	unsigned char *text = read_file("formats/golden/CENTER.pub", &len);

	key_line k;

	text[len] = '\0';
	cr_assert_eq(keys_line_parse((char *)text, &k, &err), XCHG_OK, "%s", err.msg);
	memcpy(pk, k.pk, sizeof(k.pk));
	free(text);
}

Test(seal, golden_sealed_packet_opens_with_desktop_1s_key)
{
	const char *path = "formats/golden/pkt_CENTER_DESKTOP-1_1.zip.sealed";
	unsigned char *file, *payload, center[crypto_sign_PUBLICKEYBYTES];
	packet_reader *r = NULL;
	xbuf got = {0};
	xchg_err err = {0};
	size_t len, plen;
	pair d;

	pair_from(&d, 'D');
	golden_center_key(center);
	file = read_file(path, &len);
	cr_assert_not_null(payload = spec_open(file, len, &d, &plen), "the spec's reader fails");
	cr_assert(plen > 4 && memcmp(payload, "PK\x03\x04", 4) == 0, "the payload is no ZIP");
	cr_assert_null(spec_open(file, len, &B, &plen));
	cr_assert_eq(packet_reader_open_keyed(&r, path, give_key, &d, &err), XCHG_OK, "%s", err.msg);
	cr_assert(packet_reader_sealed(r));
	cr_assert_eq(packet_reader_verify(r, center, &err), XCHG_OK, "%s", err.msg);
	packet_reader_free(r);
	assert_refused(open_as(path, &B, 4096, &got, NULL, &err), &err, path,
		       "sealed to another node's key");
	xbuf_free(&got);
	free(payload);
	free(file);
}

/* Opens path (with B's key if sealed), reads it all and verifies against pk. */
static xchg_status verdict(const char *path, const unsigned char *pk, xchg_err *err)
{
	packet_reader *r = NULL;
	unsigned char buf[4096];
	size_t got;
	xchg_status rc;

	if ((rc = packet_reader_open_keyed(&r, path, give_key, &B, err)) == XCHG_OK) {
		do
			rc = packet_reader_read(r, buf, sizeof(buf), &got, err);
		while (!rc && got > 0);
		if (!rc)
			rc = packet_reader_verify(r, pk, err);
	}
	packet_reader_free(r);
	return rc;
}

/*
 * Sealing changes nothing about what is accepted: every hostile ZIP of the
 * fuzz corpus and the golden vectors, sealed, gets the verdict it gets in
 * the clear, through the seal's reads and seeks (run under ASan by make test).
 */
Test(seal, sealed_hostile_zips_get_the_verdict_they_get_in_the_clear)
{
	const char *dirs[] = {"tests/fuzz/corpus/fuzz_packet", "formats/golden"};
	unsigned char center[crypto_sign_PUBLICKEYBYTES];
	size_t i, seen = 0;

	golden_center_key(center);
	for (i = 0; i < sizeof(dirs) / sizeof(dirs[0]); i++) {
		DIR *d = opendir(dirs[i]);
		struct dirent *de;

		if (!d)
			continue;
		while ((de = readdir(d))) {
			const char *path = hstr("%s/%s", dirs[i], de->d_name);
			const char *sealed = tmp_path(hstr("%s.sealed", de->d_name));
			size_t len, n = strlen(de->d_name);
			unsigned char *bytes;
			xchg_err plain_err = {0}, sealed_err = {0};
			xchg_status plain_rc, sealed_rc;

			if (n < 4 || strcmp(de->d_name + n - 4, ".zip") != 0)
				continue;
			bytes = read_file(path, &len);
			seal_raw(sealed, bytes, len, B.pk);
			free(bytes);
			plain_rc = verdict(path, center, &plain_err);
			sealed_rc = verdict(sealed, center, &sealed_err);
			cr_assert_eq(sealed_rc, plain_rc, "%s: %d (%s) sealed, %d (%s) in the clear", path,
				     sealed_rc, sealed_err.msg, plain_rc, plain_err.msg);
			seen++;
		}
		closedir(d);
	}
	cr_assert_geq(seen, 3, "no ZIPs found to seal");
}

/* ---- who can open it ------------------------------------------------- */

Test(seal, another_nodes_key_is_refused_naming_both_keys)
{
	unsigned char *msg = make_msg(5000);
	const char *path = seal_packet("w.zip.sealed", msg, 5000, B.pk);
	char to[KEY_TEXT_MAX], mine[KEY_TEXT_MAX];
	xchg_err err = {0};

	keys_encode_public(B.pk, to);
	keys_encode_public(C.pk, mine);
	assert_refused(check_as(path, &C, &err), &err, path, "sealed to another node's key");
	cr_assert_not_null(strstr(err.msg, to), "%s", err.msg);
	cr_assert_not_null(strstr(err.msg, mine), "%s", err.msg);
	/* The sender cannot open what it sealed either: only the recipient can. */
	assert_refused(check_as(path, &A, &err), &err, path, "sealed to another node's key");
	free(msg);
}

Test(seal, no_key_refuses_and_names_the_recipient_key)
{
	unsigned char *msg = make_msg(5000);
	const char *path = seal_packet("n.zip.sealed", msg, 5000, B.pk);
	packet_reader *r = NULL;
	char to[KEY_TEXT_MAX];
	xchg_err err = {0};

	keys_encode_public(B.pk, to);
	assert_refused(packet_reader_open(&r, path, &err), &err, path, "opening it needs");
	cr_assert_null(r);
	cr_assert_not_null(strstr(err.msg, to), "%s", err.msg);
	/* A key function that has no key is the same. */
	assert_refused(check_as(path, NULL, &err), &err, path, "opening it needs");
	free(msg);
}

/* The key function's failure (an unreadable key file) is passed on as it is. */
static xchg_status no_key_file(void *ctx, const unsigned char **sk, xchg_err *err)
{
	XCHG_UNUSED(ctx);
	*sk = NULL;
	return xerr(err, XCHG_EIO, "node.key: cannot open secret key file: Permission denied");
}

Test(seal, key_loading_failure_is_not_a_refusal)
{
	unsigned char *msg = make_msg(5000);
	const char *path = seal_packet("k.zip.sealed", msg, 5000, B.pk);
	packet_reader *r = NULL;
	xchg_err err = {0};

	cr_assert_eq(packet_reader_open_keyed(&r, path, no_key_file, NULL, &err), XCHG_EIO);
	cr_assert_null(r);
	cr_assert_not_null(strstr(err.msg, "node.key"), "%s", err.msg);
	free(msg);
}

Test(seal, key_that_is_not_a_point_cannot_be_sealed_to)
{
	unsigned char bad[crypto_sign_PUBLICKEYBYTES];
	packet_writer *w = NULL;
	xchg_err err = {0};

	memset(bad, 0xff, sizeof(bad));
	cr_assert_eq(packet_writer_open_sealed(&w, test_root(), "bad.zip.sealed", A.sk, bad, time(NULL), &err),
		     XCHG_EUSAGE);
	cr_assert_null(w);
	cr_assert_not_null(strstr(err.msg, "cannot be sealed to"), "%s", err.msg);
	cr_assert_not(file_exists(tmp_path(".bad.zip.sealed.tmp")), "temp file left behind");
}

/* ---- hostile copies -------------------------------------------------- */

Test(seal, every_truncation_refused, .timeout = 240)
{
	unsigned char *msg = make_msg(3000), *file;
	const char *path = seal_packet("t.zip.sealed", msg, 3000, B.pk), *cut = tmp_path("cut");
	size_t len, n;

	file = read_file(path, &len);
	for (n = 0; n < len; n++) {
		xchg_err err = {0};

		write_file(cut, file, n);
		assert_refused(check_as(cut, &B, &err), &err, cut, n == 0 ? NULL : "truncated");
	}
	free(file);
	free(msg);
}

/* Cuts at and around every chunk boundary of a packet of several chunks. */
Test(seal, truncations_at_chunk_boundaries_refused, .timeout = 240)
{
	size_t len = 5 * SEAL_CHUNK, flen, k;
	unsigned char *msg = make_noise(len), *file;
	const char *path = seal_packet("tb.zip.sealed", msg, len, B.pk), *cut = tmp_path("cut");
	const long around[] = {-17, -16, -15, -1, 0, 1, 15, 16, 17};

	file = read_file(path, &flen);
	cr_assert_gt(flen, SEAL_HEADER_BYTES + 2 * (SEAL_CHUNK + SEAL_TAG_BYTES), "too few chunks");
	for (k = 0; SEAL_HEADER_BYTES + k * (SEAL_CHUNK + SEAL_TAG_BYTES) < flen + 17; k++) {
		size_t edge = SEAL_HEADER_BYTES + k * (SEAL_CHUNK + SEAL_TAG_BYTES), j;

		for (j = 0; j < sizeof(around) / sizeof(around[0]); j++) {
			long n = (long)edge + around[j];
			xchg_err err = {0};

			if (n < 0 || (size_t)n >= flen)
				continue;
			write_file(cut, file, (size_t)n);
			assert_refused(check_as(cut, &B, &err), &err, cut, NULL);
			if (k > 0 && around[j] == 0)
				cr_assert_not_null(strstr(err.msg, "is not the last"),
						   "a cut at a chunk boundary: %s", err.msg);
		}
	}
	free(file);
	free(msg);
}

/* Unlike a plain ZIP, every byte of a sealed file counts: no flip goes unnoticed. */
static void flip_all(size_t msglen, unsigned char mask, size_t step)
{
	unsigned char *msg = make_noise(msglen), *file;
	const char *path = seal_packet("f.zip.sealed", msg, msglen, B.pk), *bad = tmp_path("flipped");
	size_t len, i;

	file = read_file(path, &len);
	for (i = 0; i < len; i += i < SEAL_HEADER_BYTES || i + 64 > len ? 1 : step) {
		xchg_err err = {0};

		file[i] ^= mask;
		write_file(bad, file, len);
		file[i] ^= mask;
		assert_refused(check_as(bad, &B, &err), &err, bad, NULL);
	}
	free(file);
	free(msg);
}

Test(seal, every_flipped_bit_refused, .timeout = 240)
{
	flip_all(3000, 0x01, 1);
}

Test(seal, every_flipped_byte_refused, .timeout = 240)
{
	flip_all(3000, 0xff, 1);
}

Test(seal, flips_across_a_packet_of_many_chunks_refused, .timeout = 240)
{
	flip_all(4 * SEAL_CHUNK, 0x20, 4093);
}

Test(seal, flips_say_what_was_hit)
{
	unsigned char *msg = make_noise(3 * SEAL_CHUNK), *file;
	const char *path = seal_packet("fw.zip.sealed", msg, 3 * SEAL_CHUNK, B.pk);
	const char *bad = tmp_path("flipped");
	const struct {
		size_t at;
		const char *reason;
	} cases[] = {
		{SEAL_MAGIC_LEN + 3, "sealed to another node's key"},
		{SEAL_MAGIC_LEN + 32 + 5, "payload key does not open"},
		{SEAL_HEADER_BYTES + 10, "chunk 0 of"},
		{SEAL_HEADER_BYTES + SEAL_CHUNK + SEAL_TAG_BYTES + 10, "chunk 1 of"},
	};
	size_t len, i;

	file = read_file(path, &len);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		xchg_err err = {0};

		file[cases[i].at] ^= 0x04;
		write_file(bad, file, len);
		file[cases[i].at] ^= 0x04;
		assert_refused(check_as(bad, &B, &err), &err, bad, cases[i].reason);
	}
	free(file);
	free(msg);
}

Test(seal, swapped_chunks_refused)
{
	size_t len = 4 * SEAL_CHUNK, flen, w = SEAL_CHUNK + SEAL_TAG_BYTES;
	unsigned char *msg = make_noise(len), *file, *tmp = malloc(w);
	const char *path = seal_packet("sw.zip.sealed", msg, len, B.pk), *bad = tmp_path("swapped");
	xchg_err err = {0};

	file = read_file(path, &flen);
	memcpy(tmp, file + SEAL_HEADER_BYTES, w);
	memmove(file + SEAL_HEADER_BYTES, file + SEAL_HEADER_BYTES + w, w);
	memcpy(file + SEAL_HEADER_BYTES + w, tmp, w);
	write_file(bad, file, flen);
	assert_refused(check_as(bad, &B, &err), &err, bad, "does not authenticate");
	free(tmp);
	free(file);
	free(msg);
}

/* Each chunk is bound to its header: chunks of one file under another's header fail. */
Test(seal, spliced_header_refused)
{
	unsigned char *msg = make_msg(5000), *one, *two;
	const char *p1 = seal_packet("h1.zip.sealed", msg, 5000, B.pk);
	const char *p2 = seal_packet("h2.zip.sealed", msg, 5000, B.pk), *bad = tmp_path("spliced");
	size_t l1, l2;
	xchg_err err = {0};

	one = read_file(p1, &l1);
	two = read_file(p2, &l2);
	cr_assert_eq(l1, l2);
	cr_assert(memcmp(one, two, l1) != 0, "two sealings of one packet are alike");
	memcpy(one + SEAL_HEADER_BYTES, two + SEAL_HEADER_BYTES, l1 - SEAL_HEADER_BYTES);
	write_file(bad, one, l1);
	assert_refused(check_as(bad, &B, &err), &err, bad, "does not authenticate");
	free(one);
	free(two);
	free(msg);
}

Test(seal, unknown_version_refused)
{
	unsigned char *msg = make_msg(2000), *file;
	const char *path = seal_packet("v.zip.sealed", msg, 2000, B.pk), *bad = tmp_path("v2");
	size_t len;
	xchg_err err = {0};

	file = read_file(path, &len);
	file[SEAL_MAGIC_PREFIX_LEN] = '2';
	write_file(bad, file, len);
	assert_refused(check_as(bad, &B, &err), &err, bad, "format version \"2\"");
	free(file);
	free(msg);
}

Test(seal, sealed_empty_payload_is_not_a_packet)
{
	const char *path = tmp_path("empty.sealed");
	xchg_err err = {0};

	seal_raw(path, (const unsigned char *)"", 0, B.pk);
	assert_refused(check_as(path, &B, &err), &err, path, "sealed payload is not a packet");
}

Test(seal, peek_reads_the_claimed_recipient_without_a_key)
{
	unsigned char *msg = make_msg(2000), to[crypto_sign_PUBLICKEYBYTES];
	const char *path = seal_packet("pk.zip.sealed", msg, 2000, B.pk);
	xchg_err err = {0};
	int sealed = 0;

	cr_assert_eq(seal_peek(path, &sealed, to, &err), XCHG_OK, "%s", err.msg);
	cr_assert(sealed);
	cr_assert(memcmp(to, B.pk, sizeof(to)) == 0);
	write_file(tmp_path("plain"), "PK\x03\x04 not sealed", sizeof("PK\x03\x04 not sealed") - 1);
	cr_assert_eq(seal_peek(tmp_path("plain"), &sealed, to, &err), XCHG_OK, "%s", err.msg);
	cr_assert_not(sealed);
	write_file(tmp_path("short"), SEAL_MAGIC, 10);
	cr_assert_eq(seal_peek(tmp_path("short"), &sealed, to, &err), XCHG_OK, "%s", err.msg);
	cr_assert(sealed, "a cut-off magic is still a sealed file (and refused as truncated)");
	cr_assert_eq(seal_peek(tmp_path("absent"), &sealed, to, &err), XCHG_ENOTFOUND);
	free(msg);
}

/* ---- the writer ------------------------------------------------------ */

/*
 * While it is written, and once finished, the temp file holds only
 * ciphertext. A writer holds at most HANDOFF_SLOTS chunks of the message:
 * past them, what came first has been written.
 */
Test(seal, zip_never_reaches_the_disk_in_the_clear)
{
	size_t len = 4 * HANDOFF_SLOTS * HANDOFF_CHUNK, flen;
	unsigned char *msg = make_noise(len), *file;
	const char *tmp = tmp_path(".c.zip.sealed.tmp");
	packet_writer *w = NULL;
	xchg_err err = {0};

	cr_assert_eq(packet_writer_open_sealed(&w, test_root(), "c.zip.sealed", A.sk, B.pk, time(NULL), &err),
		     XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_write(w, msg, len / 2, &err), XCHG_OK, "%s", err.msg);
	file = read_file(tmp, &flen);
	cr_assert_gt(flen, SEAL_HEADER_BYTES, "nothing written while streaming");
	cr_assert(memcmp(file, SEAL_MAGIC, SEAL_MAGIC_LEN) == 0);
	cr_assert_null(memmem(file, flen, MARKER, strlen(MARKER)), "plaintext in the temp file");
	free(file);
	cr_assert_eq(packet_writer_write(w, msg + len / 2, len - len / 2, &err), XCHG_OK, "%s",
		     err.msg);
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_not(file_exists(tmp_path("c.zip.sealed")), "published before publish");
	file = read_file(tmp, &flen);
	cr_assert_null(memmem(file, flen, MARKER, strlen(MARKER)), "plaintext in the temp file");
	free(file);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_OK, "%s", err.msg);
	packet_writer_free(w);
	cr_assert_not(file_exists(tmp));
	cr_assert_eq(check_as(tmp_path("c.zip.sealed"), &B, &err), XCHG_OK, "%s", err.msg);
	free(msg);
}

/* A full disk, played by RLIMIT_FSIZE (each test runs in its own process). */
Test(seal, full_disk_fails_cleanly)
{
	struct rlimit lim = {20000, 20000};
	unsigned char *msg = make_msg(300 * 1024);
	const char *tmp = tmp_path(".full.zip.sealed.tmp");
	packet_writer *w = NULL;
	xchg_err err = {0};
	size_t off;
	xchg_status rc = XCHG_OK;

	cr_assert_neq(signal(SIGXFSZ, SIG_IGN), SIG_ERR);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	cr_assert_eq(packet_writer_open_sealed(&w, test_root(), "full.zip.sealed", A.sk, B.pk, time(NULL), &err),
		     XCHG_OK, "%s", err.msg);
	for (off = 0; off < 300 * 1024 && !rc; off += 1024)
		rc = packet_writer_write(w, msg + off, 1024, &err);
	if (!rc)
		rc = packet_writer_finish(w, &err);
	cr_assert_eq(rc, XCHG_EIO, "%d: %s", rc, err.msg);
	cr_assert(strncmp(err.msg, tmp, strlen(tmp)) == 0 && strstr(err.msg, strerror(EFBIG)),
		  "%s", err.msg);
	packet_writer_free(w);
	cr_assert_not(file_exists(tmp));
	cr_assert_not(file_exists(tmp_path("full.zip.sealed")));
	free(msg);
}

/* A piece of the big message: random, so it does not deflate, and reproducible. */
static void big_piece(unsigned char *buf, size_t len, uint64_t index)
{
	unsigned char seed[randombytes_SEEDBYTES] = {0};

	memcpy(seed, &index, sizeof(index));
	randombytes_buf_deterministic(buf, len, seed);
}

static long max_rss_kib(void)
{
	struct rusage ru;

	cr_assert_eq(getrusage(RUSAGE_SELF, &ru), 0);
	return ru.ru_maxrss;
}

/*
 * 48 MiB through the writer and back through the reader: the peak resident
 * size may not grow by anything near it. Neither side may hold the message,
 * the ZIP or the ciphertext whole.
 */
Test(seal, large_packet_streams_in_flat_memory, .timeout = 600)
{
	const size_t piece = 64 * 1024, pieces = 768, bound_kib = 24 * 1024;
	unsigned char *buf = malloc(piece), want[32], got[32];
	crypto_hash_sha256_state h;
	packet_writer *w = NULL;
	packet_reader *r = NULL;
	const char *path = tmp_path("big.zip.sealed");
	xchg_err err = {0};
	struct stat sb;
	long before;
	size_t i, n;

	cr_assert_not_null(buf);
	big_piece(buf, piece, 0); /* touch everything once before measuring */
	before = max_rss_kib();
	crypto_hash_sha256_init(&h);
	cr_assert_eq(packet_writer_open_sealed(&w, test_root(), "big.zip.sealed", A.sk, B.pk, time(NULL), &err),
		     XCHG_OK, "%s", err.msg);
	for (i = 0; i < pieces; i++) {
		big_piece(buf, piece, i);
		crypto_hash_sha256_update(&h, buf, piece);
		cr_assert_eq(packet_writer_write(w, buf, piece, &err), XCHG_OK, "%s", err.msg);
	}
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_OK, "%s", err.msg);
	packet_writer_free(w);
	crypto_hash_sha256_final(&h, want);
	cr_assert_eq(stat(path, &sb), 0);
	cr_assert_gt((size_t)sb.st_size, piece * pieces, "the packet is smaller than its message");
	cr_assert_lt(max_rss_kib() - before, (long)bound_kib, "writing grew the peak by %ld KiB",
		     max_rss_kib() - before);

	crypto_hash_sha256_init(&h);
	cr_assert_eq(packet_reader_open_keyed(&r, path, give_key, &B, &err), XCHG_OK, "%s", err.msg);
	do {
		cr_assert_eq(packet_reader_read(r, buf, piece, &n, &err), XCHG_OK, "%s", err.msg);
		crypto_hash_sha256_update(&h, buf, n);
	} while (n > 0);
	cr_assert_eq(packet_reader_verify(r, A.pk, &err), XCHG_OK, "%s", err.msg);
	packet_reader_free(r);
	crypto_hash_sha256_final(&h, got);
	cr_assert(memcmp(want, got, sizeof(got)) == 0, "the message read back differs");
	cr_assert_lt(max_rss_kib() - before, (long)bound_kib, "reading grew the peak by %ld KiB",
		     max_rss_kib() - before);
	cr_log_info("48 MiB sealed and opened; the peak grew by %ld KiB", max_rss_kib() - before);
	free(buf);
}

/* ---- between nodes --------------------------------------------------- */

static node *Cn, *D1, *D2;
static const char *share;

static void star(void)
{
	Cn = center_new("CENTER");
	D1 = desktop_new("DESKTOP-1");
	D2 = desktop_new("DESKTOP-2");
	link_nodes(Cn, D1);
	link_nodes(Cn, D2);
	share = make_folder("share");
}

static const char *export_sealed(node *from, const char *peer)
{
	xchg_export_opts opts = {.version = XCHG_EXPORT_OPTS_VERSION, .out_dir = share,
				 .flags = XCHG_EXPORT_ENCRYPT};
	xchg_export_result res;
	xchg_err err = {0};
	const char *path;

	cr_assert_eq(xchg_export_with(from->db, peer, &opts, &res, &err), XCHG_OK, "%s", err.msg);
	path = hstr("%s", res.path);
	xchg_export_result_clear(&res);
	return path;
}

static int starts_sealed(const char *path)
{
	size_t len;
	unsigned char *file = read_file(path, &len);
	int sealed = len >= SEAL_MAGIC_LEN && memcmp(file, SEAL_MAGIC, SEAL_MAGIC_LEN) == 0;

	free(file);
	return sealed;
}

static int ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), k = strlen(suffix);

	return n >= k && strcmp(s + n - k, suffix) == 0;
}

Test(seal, export_encrypt_then_import_and_a_sealed_acknowledgement)
{
	const char *pkt, *ack;
	const import_log *log;
	const import_event *ev;

	star();
	sql_exec(Cn, "INSERT INTO brigades (name) VALUES ('" MARKER "')");
	pkt = export_sealed(Cn, "DESKTOP-1");
	cr_assert(ends_with(pkt, "/pkt_CENTER_DESKTOP-1_1.zip.sealed"), "%s", pkt);
	cr_assert(starts_sealed(pkt));
	log = import_paths(D1, share, pkt, NULL);
	expect_applied(log, "the sealed packet");
	cr_assert_eq(sql_int(D1, "SELECT count(*) FROM brigades WHERE name = '" MARKER "'"), 1);
	/* Reply in kind: the acknowledgement may carry the desktop's changes. */
	cr_assert_not_null(ev = find_event(log, XCHG_ACK_WRITTEN, 1), "no acknowledgement");
	ack = ev->path;
	cr_assert(ends_with(ack, "/pkt_DESKTOP-1_CENTER_1.zip.sealed"), "%s", ack);
	cr_assert(starts_sealed(ack));
	log = import_paths(Cn, share, ack, NULL);
	expect_applied(log, "the sealed acknowledgement");
	cr_assert_eq(acked_no(Cn, "DESKTOP-1"), 1);
	cr_assert_eq(queued(Cn, "DESKTOP-1"), 0);
}

Test(seal, plain_packets_get_plain_acknowledgements)
{
	const import_log *log;
	const import_event *ev;
	exported p;

	star();
	sql_exec(Cn, "INSERT INTO brigades (name) VALUES ('open')");
	p = export_packet(Cn, "DESKTOP-1", share);
	cr_assert(ends_with(p.path, ".zip"), "%s", p.path);
	log = import_paths(D1, share, p.path, NULL);
	expect_applied(log, "the plain packet");
	cr_assert_not_null(ev = find_event(log, XCHG_ACK_WRITTEN, 1));
	cr_assert(ends_with(ev->path, ".zip") && !starts_sealed(ev->path), "%s", ev->path);
}

/* Refused when named, left alone in a folder, and nothing changes either way. */
Test(seal, packet_sealed_to_another_desktop_changes_nothing)
{
	const char *pkt;
	const import_log *log;

	star();
	sql_exec(Cn, "INSERT INTO brigades (name) VALUES ('" MARKER "')");
	pkt = export_sealed(Cn, "DESKTOP-1");
	log = import_paths(D2, share, pkt, NULL);
	cr_assert_eq(log->rc, XCHG_EPACKET, "%d: %s", log->rc, log->err.msg);
	cr_assert_eq(log->n, 1);
	cr_assert_eq(log->ev[0].outcome, XCHG_REFUSED);
	cr_assert_not_null(strstr(log->ev[0].message, "sealed to another node's key"), "%s",
			   log->ev[0].message);
	cr_assert(strncmp(log->ev[0].message, pkt, strlen(pkt)) == 0, "%s", log->ev[0].message);
	cr_assert_eq(sql_int(D2, "SELECT count(*) FROM brigades"), 0);
	cr_assert_eq(received_no(D2, "CENTER"), 0);
	cr_assert(file_exists(pkt), "the refused packet was moved");
	cr_assert_eq(count_files(share, "pkt_DESKTOP-2"), 0, "an acknowledgement was written");

	log = import_paths(D2, share, share, NULL);
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	cr_assert_eq(log->n, 0, "another desktop's sealed packet in the folder was not left alone");
	expect_applied(import_paths(D1, share, share, NULL), "the right desktop, from the folder");
}

/* The magic decides, not the name: a sealed packet renamed .zip still opens. */
Test(seal, sealed_packet_renamed_zip_is_still_opened)
{
	const char *pkt, *renamed;

	star();
	sql_exec(Cn, "INSERT INTO brigades (name) VALUES ('renamed')");
	pkt = export_sealed(Cn, "DESKTOP-1");
	renamed = hstr("%s/pkt_CENTER_DESKTOP-1_1.zip", make_folder("inbox"));
	copy_file(pkt, renamed);
	expect_applied(import_paths(D1, share, make_folder("inbox"), NULL), "renamed to .zip");
}

/* Named for this node, sealed to some other key (say one it rotated away): said, not hidden. */
Test(seal, folder_packet_named_for_this_node_but_sealed_elsewhere_is_refused)
{
	const char *pkt, *misnamed;
	const import_log *log;

	star();
	sql_exec(Cn, "INSERT INTO brigades (name) VALUES ('x')");
	pkt = export_sealed(Cn, "DESKTOP-1");
	misnamed = hstr("%s/pkt_CENTER_DESKTOP-2_1.zip.sealed", make_folder("inbox"));
	copy_file(pkt, misnamed);
	log = import_paths(D2, share, make_folder("inbox"), NULL);
	cr_assert_eq(log->rc, XCHG_EPACKET, "%s", log->err.msg);
	cr_assert_eq(count_outcome(log, XCHG_REFUSED), 1);
	cr_assert_eq(received_no(D2, "CENTER"), 0);
}

Test(seal, tampered_sealed_packet_refused_and_left_in_place)
{
	const char *pkt;
	unsigned char *file;
	const import_log *log;
	size_t len;

	star();
	sql_exec(Cn, "INSERT INTO brigades (name) VALUES ('t')");
	pkt = export_sealed(Cn, "DESKTOP-1");
	file = read_file(pkt, &len);
	file[len - 40] ^= 1;
	write_file(pkt, file, len);
	log = import_paths(D1, share, pkt, NULL);
	cr_assert_eq(log->rc, XCHG_EPACKET);
	cr_assert_eq(count_outcome(log, XCHG_REFUSED), 1);
	cr_assert_not_null(strstr(log->ev[0].message, "does not authenticate"), "%s",
			   log->ev[0].message);
	cr_assert_eq(sql_int(D1, "SELECT count(*) FROM brigades"), 0);
	cr_assert_eq(received_no(D1, "CENTER"), 0);
	cr_assert(file_exists(pkt));
	/* Cut short: the same. */
	write_file(pkt, file, len - 100);
	log = import_paths(D1, share, pkt, NULL);
	cr_assert_eq(count_outcome(log, XCHG_REFUSED), 1);
	cr_assert_eq(received_no(D1, "CENTER"), 0);
	free(file);
}

Test(seal, inspect_opens_only_with_the_recipients_database)
{
	xchg_inspect_report *rep = NULL;
	xchg_err err = {0};
	const char *pkt;

	star();
	sql_exec(Cn, "INSERT INTO brigades (name) VALUES ('i')");
	pkt = export_sealed(Cn, "DESKTOP-1");
	cr_assert_eq(xchg_inspect(D1->db, pkt, &rep, &err), XCHG_OK, "%s", err.msg);
	cr_assert(rep->sealed);
	cr_assert_eq(rep->signature, XCHG_VERDICT_VERIFIED);
	cr_assert_eq(rep->entities, 1);
	xchg_inspect_free(rep);
	rep = NULL;
	/* Unopened, the report is what shows in clear: whose key it is sealed to. */
	assert_refused(xchg_inspect(NULL, pkt, &rep, &err), &err, pkt, "opening it needs");
	cr_assert_not_null(rep);
	cr_assert(rep->sealed_to && strstr(public_key(D1), rep->sealed_to), "%s", rep->sealed_to);
	cr_assert(!rep->sealed && !rep->sender && !rep->entities && !rep->ncounts);
	xchg_inspect_free(rep);
	assert_refused(xchg_inspect(D2->db, pkt, &rep, &err), &err, pkt,
		       "sealed to another node's key");
	cr_assert(rep->sealed_to && strstr(public_key(D1), rep->sealed_to), "%s", rep->sealed_to);
	xchg_inspect_free(rep);
	assert_refused(xchg_inspect(Cn->db, pkt, &rep, &err), &err, pkt,
		       "sealed to another node's key");
	xchg_inspect_free(rep);
}

Test(seal, export_options_are_checked)
{
	xchg_export_opts opts = {.version = XCHG_EXPORT_OPTS_VERSION, .out_dir = NULL, .flags = 0x80};
	xchg_export_result res;
	xchg_err err = {0};

	star();
	cr_assert_eq(xchg_export_with(Cn->db, "DESKTOP-1", &opts, &res, &err), XCHG_EUSAGE);
	cr_assert_eq(sent_no(Cn, "DESKTOP-1"), 0);
}
