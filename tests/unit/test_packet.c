/*
 * The packet file (lib/packet.c): a ZIP with message.json then message.sig.
 * Every test works in its own fresh folder under /tmp; teardown removes it.
 */
#include <criterion/criterion.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "files.h"
#include "packet.h"

static char dir[64];
static unsigned char pk[crypto_sign_PUBLICKEYBYTES];
static unsigned char sk[crypto_sign_SECRETKEYBYTES];

static int rm_entry(const char *path, const struct stat *sb, int flag,
		    struct FTW *ftw)
{
	XCHG_UNUSED(sb);
	XCHG_UNUSED(flag);
	XCHG_UNUSED(ftw);
	return remove(path);
}

static void setup(void)
{
	unsigned char seed[crypto_sign_SEEDBYTES];

	cr_assert_geq(sodium_init(), 0);
	strcpy(dir, "/tmp/xchg_test_packet_XXXXXX");
	cr_assert_not_null(mkdtemp(dir), "mkdtemp: %s", strerror(errno));
	memset(seed, 0x42, sizeof(seed));
	crypto_sign_seed_keypair(pk, sk, seed);
}

static void teardown(void)
{
	nftw(dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

TestSuite(packet, .init = setup, .fini = teardown);

/* ---- helpers --------------------------------------------------------- */

/* dir/name, from a small ring of buffers so a test can hold a few at once. */
static const char *at(const char *name)
{
	static char ring[4][256];
	static unsigned i;
	char *p = ring[i++ % 4];

	snprintf(p, sizeof(ring[0]), "%s/%s", dir, name);
	return p;
}

/* JSON-like lines with a stretch of random bytes: deflates, but not to nothing. */
static unsigned char *make_message(size_t len)
{
	static const unsigned char seed[randombytes_SEEDBYTES] = {1, 2, 3};
	unsigned char *m = malloc(len + 1);
	size_t i = 0;
	unsigned n = 0;

	cr_assert_not_null(m);
	while (i < len) {
		char line[96];
		int k = snprintf(line, sizeof(line),
				 "{\"n\":%u,\"uuid\":\"%08x-0000\",\"name\":\"row %u\"},\n",
				 n, n * 2654435761u, n);
		size_t take = (size_t)k < len - i ? (size_t)k : len - i;

		memcpy(m + i, line, take);
		i += take;
		n++;
	}
	if (len >= 64)
		randombytes_buf_deterministic(m + len / 2, len / 16, seed);
	return m;
}

static void sign(const void *msg, size_t len, unsigned char sig[crypto_sign_BYTES])
{
	crypto_sign_ed25519ph_state st;

	crypto_sign_ed25519ph_init(&st);
	crypto_sign_ed25519ph_update(&st, msg, len);
	crypto_sign_ed25519ph_final_create(&st, sig, NULL, sk);
}

/* Writes in pieces of 0, 1, 2, ... 1499 bytes over and over when chunk is 0. */
static void write_message(packet_writer *w, const unsigned char *msg, size_t len,
			  size_t chunk)
{
	xchg_err err = {0};
	size_t off = 0, step = 0;

	while (off < len) {
		size_t n = chunk ? chunk : step++ % 1500;

		if (n > len - off)
			n = len - off;
		cr_assert_eq(packet_writer_write(w, msg + off, n, &err), XCHG_OK, "%s", err.msg);
		off += n;
	}
}

static void write_packet(const char *name, const unsigned char *msg, size_t len,
			 size_t chunk)
{
	packet_writer *w = NULL;
	xchg_err err = {0};

	cr_assert_eq(packet_writer_open(&w, dir, name, sk, &err), XCHG_OK, "%s", err.msg);
	write_message(w, msg, len, chunk);
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_OK, "%s", err.msg);
	packet_writer_free(w);
}

/*
 * Opens, reads message.json in pieces of cap bytes into out, verifies with key.
 * Returns the first failure. After a failed read, verify is still called: a
 * refused reader must keep refusing, not crash.
 */
static xchg_status read_packet(const char *path, const unsigned char *key,
			       size_t cap, xbuf *out, xchg_err *err)
{
	packet_reader *r = NULL;
	unsigned char *buf = malloc(cap);
	size_t got;
	xchg_status rc;

	cr_assert_not_null(buf);
	if ((rc = packet_reader_open(&r, path, err)) == XCHG_OK) {
		cr_assert_not_null(r);
		do {
			if ((rc = packet_reader_read(r, buf, cap, &got, err)))
				break;
			cr_assert_leq(got, cap);
			cr_assert_eq(xbuf_add(out, buf, got), 0);
		} while (got > 0);
		if (!rc)
			rc = packet_reader_verify(r, key, err);
		else
			cr_assert_neq(packet_reader_verify(r, key, &(xchg_err){0}), XCHG_OK,
				      "%s: verified after a failed read", path);
		cr_assert_neq(packet_reader_verify(r, key, &(xchg_err){0}), XCHG_OK,
			      "%s: verified twice", path);
	} else {
		cr_assert_null(r);
	}
	packet_reader_free(r);
	free(buf);
	return rc;
}

/* A refusal is XCHG_EPACKET and its message starts with "PATH: ". */
static void assert_refused(xchg_status rc, const xchg_err *err, const char *path)
{
	size_t n = strlen(path);

	cr_assert_eq(rc, XCHG_EPACKET, "%s: expected a refusal, got %d: %s", path, rc,
		     err->msg);
	cr_assert(strncmp(err->msg, path, n) == 0 && err->msg[n] == ':' &&
		  err->msg[n + 1] == ' ', "message does not start with the path: %s", err->msg);
}

static void assert_refused_with(xchg_status rc, const xchg_err *err,
				const char *path, const char *reason)
{
	assert_refused(rc, err, path);
	cr_assert_not_null(strstr(err->msg, reason), "\"%s\" lacks \"%s\"", err->msg, reason);
}

static xchg_status check_file(const char *path, xchg_err *err)
{
	xbuf got = {0};
	xchg_status rc = read_packet(path, pk, 4096, &got, err);

	xbuf_free(&got);
	return rc;
}

struct member {
	const char *name;
	mode_t type; /* AE_IFREG, AE_IFDIR, AE_IFLNK */
	const void *data;
	size_t len;
};

/* A zip written by libarchive with whatever members a test needs. */
static void build_zip(const char *path, const struct member *m, size_t n)
{
	struct archive *a = archive_write_new();
	size_t i;

	cr_assert_eq(archive_write_set_format_zip(a), ARCHIVE_OK);
	cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK);
	for (i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, m[i].type);
		archive_entry_set_perm(e, m[i].type == AE_IFDIR ? 0755 : 0644);
		if (m[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, "elsewhere");
		if (m[i].type == AE_IFREG)
			archive_entry_set_size(e, (la_int64_t)m[i].len);
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
		if (m[i].type == AE_IFREG && m[i].len)
			cr_assert_eq(archive_write_data(a, m[i].data, m[i].len),
				     (la_ssize_t)m[i].len);
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK);
	archive_write_free(a);
}

static const char msg_text[] = "{\"header\":{},\"body\":{\"entities\":[]}}\n";

/* message.json (msg_text) and its right signature, then the extra members. */
static void build_signed_zip(const char *path, const struct member *extra, size_t n)
{
	unsigned char sig[crypto_sign_BYTES];
	struct member m[8] = {
		{PACKET_MEMBER_MESSAGE, AE_IFREG, msg_text, sizeof(msg_text) - 1},
		{PACKET_MEMBER_SIGNATURE, AE_IFREG, sig, sizeof(sig)},
	};

	cr_assert_leq(n, 6);
	sign(msg_text, sizeof(msg_text) - 1, sig);
	if (n)
		memcpy(m + 2, extra, n * sizeof(*extra));
	build_zip(path, m, 2 + n);
}

static unsigned char *run_capture(const char *cmd, size_t *len, int *status)
{
	FILE *p = popen(cmd, "r");
	xbuf out = {0};
	char buf[4096];
	size_t n;

	cr_assert_not_null(p, "%s: %s", cmd, strerror(errno));
	while ((n = fread(buf, 1, sizeof(buf), p)) > 0)
		cr_assert_eq(xbuf_add(&out, buf, n), 0);
	*status = pclose(p);
	*len = out.len;
	return (unsigned char *)xbuf_detach(&out);
}

/* ---- writer ---------------------------------------------------------- */

Test(packet, round_trip_many_small_writes)
{
	size_t len = 300 * 1024, caps[] = {1, 7, 4096, 65536, 1 << 20}, i;
	unsigned char *msg = make_message(len);

	write_packet("pkt_A_B_1.zip", msg, len, 0);
	for (i = 0; i < sizeof(caps) / sizeof(caps[0]); i++) {
		xbuf got = {0};
		xchg_err err = {0};

		cr_assert_eq(read_packet(at("pkt_A_B_1.zip"), pk, caps[i], &got, &err),
			     XCHG_OK, "cap %zu: %s", caps[i], err.msg);
		cr_assert_eq(got.len, len, "cap %zu", caps[i]);
		cr_assert(memcmp(got.data, msg, len) == 0, "cap %zu: bytes differ", caps[i]);
		xbuf_free(&got);
	}
	free(msg);
}

Test(packet, round_trip_empty_message)
{
	xbuf got = {0};
	xchg_err err = {0};

	write_packet("empty.zip", (const unsigned char *)"", 0, 1);
	cr_assert_eq(read_packet(at("empty.zip"), pk, 100, &got, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(got.len, 0);
	xbuf_free(&got);
}

Test(packet, temp_is_hidden_until_publish)
{
	packet_writer *w = NULL;
	xchg_err err = {0};
	unsigned char *msg = make_message(5000);

	cr_assert_eq(packet_writer_open(&w, dir, "pkt_A_B_2.zip", sk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_str_eq(packet_writer_path(w), at("pkt_A_B_2.zip"));
	cr_assert(file_exists(at(".pkt_A_B_2.zip.tmp")));
	write_message(w, msg, 5000, 100);
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert(file_exists(at(".pkt_A_B_2.zip.tmp")));
	cr_assert_not(file_exists(at("pkt_A_B_2.zip")), "the final name appeared before publish");
	/* The finished temp is already a complete, valid packet. */
	cr_assert_eq(check_file(at(".pkt_A_B_2.zip.tmp"), &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert(file_exists(at("pkt_A_B_2.zip")));
	cr_assert_not(file_exists(at(".pkt_A_B_2.zip.tmp")));
	packet_writer_free(w);
	cr_assert(file_exists(at("pkt_A_B_2.zip")), "free removed a published packet");
	cr_assert_eq(check_file(at("pkt_A_B_2.zip"), &err), XCHG_OK, "%s", err.msg);
	free(msg);
}

Test(packet, free_without_publish_removes_temp)
{
	packet_writer *w = NULL;
	xchg_err err = {0};

	/* Abandoned while writing. */
	cr_assert_eq(packet_writer_open(&w, dir, "a.zip", sk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_write(w, "{}", 2, &err), XCHG_OK, "%s", err.msg);
	packet_writer_free(w);
	cr_assert_not(file_exists(at(".a.zip.tmp")));
	cr_assert_not(file_exists(at("a.zip")));

	/* Abandoned after finish: the export's commit failed. */
	cr_assert_eq(packet_writer_open(&w, dir, "b.zip", sk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_write(w, "{}", 2, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	packet_writer_free(w);
	cr_assert_not(file_exists(at(".b.zip.tmp")));
	cr_assert_not(file_exists(at("b.zip")));

	packet_writer_free(NULL);
	packet_reader_free(NULL);
}

Test(packet, stale_temp_is_replaced)
{
	xchg_err err = {0};

	write_file(at(".c.zip.tmp"), "left by a crash", 15);
	write_packet("c.zip", (const unsigned char *)msg_text, sizeof(msg_text) - 1, 5);
	cr_assert_not(file_exists(at(".c.zip.tmp")));
	cr_assert_eq(check_file(at("c.zip"), &err), XCHG_OK, "%s", err.msg);
}

Test(packet, publish_refuses_to_overwrite)
{
	packet_writer *w = NULL;
	xchg_err err = {0};
	char want[300];
	size_t len;
	unsigned char *old;

	write_file(at("d.zip"), "an earlier packet", 17);
	cr_assert_eq(packet_writer_open(&w, dir, "d.zip", sk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_write(w, "{}", 2, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_EFAIL);
	snprintf(want, sizeof(want), "%s: already exists", at("d.zip"));
	cr_assert_str_eq(err.msg, want);
	old = read_file(at("d.zip"), &len);
	cr_assert(len == 17 && memcmp(old, "an earlier packet", 17) == 0, "overwritten");
	free(old);
	packet_writer_free(w);
	cr_assert_not(file_exists(at(".d.zip.tmp")));
}

Test(packet, publish_twice_and_other_misuse_are_errors)
{
	packet_writer *w = NULL;
	xchg_err err = {0};

	cr_assert_eq(packet_writer_open(&w, dir, "e.zip", sk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_EFAIL, "publish before finish");
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_write(w, "x", 1, &err), XCHG_EFAIL, "write after finish");
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_EFAIL, "finish twice");
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_EFAIL, "publish twice");
	cr_assert_not_null(strstr(err.msg, "already published"), "%s", err.msg);
	packet_writer_free(w);
	cr_assert_eq(check_file(at("e.zip"), &err), XCHG_OK, "%s", err.msg);
}

/* A full disk, played by RLIMIT_FSIZE (each test runs in its own process). */
Test(packet, full_disk_fails_cleanly)
{
	struct rlimit lim = {4096, 4096};
	unsigned char *msg = make_message(300 * 1024);
	packet_writer *w = NULL;
	xchg_err err = {0};
	size_t off;
	xchg_status rc = XCHG_OK;

	cr_assert_neq(signal(SIGXFSZ, SIG_IGN), SIG_ERR);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	cr_assert_eq(packet_writer_open(&w, dir, "full.zip", sk, &err), XCHG_OK, "%s", err.msg);
	for (off = 0; off < 300 * 1024 && !rc; off += 1024)
		rc = packet_writer_write(w, msg + off, 1024, &err);
	if (!rc)
		rc = packet_writer_finish(w, &err);
	cr_assert_eq(rc, XCHG_EIO, "%d: %s", rc, err.msg);
	cr_assert(strncmp(err.msg, at(".full.zip.tmp"), strlen(at(".full.zip.tmp"))) == 0 &&
		  strstr(err.msg, strerror(EFBIG)), "%s", err.msg);
	/* Broken stays broken. */
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_EFAIL);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_EFAIL);
	packet_writer_free(w);
	cr_assert_not(file_exists(at(".full.zip.tmp")));
	cr_assert_not(file_exists(at("full.zip")));
	free(msg);
}

Test(packet, bad_names_refused)
{
	const char *names[] = {"", ".hidden.zip", "sub/p.zip", "/abs.zip", "..", NULL};
	size_t i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		packet_writer *w = (packet_writer *)1;
		xchg_err err = {0};

		cr_assert_eq(packet_writer_open(&w, dir, names[i], sk, &err), XCHG_EUSAGE,
			     "name \"%s\" accepted", names[i] ? names[i] : "(null)");
		cr_assert_null(w);
	}
}

Test(packet, missing_folder_is_io_error)
{
	packet_writer *w = NULL;
	xchg_err err = {0};

	cr_assert_eq(packet_writer_open(&w, at("nope"), "f.zip", sk, &err), XCHG_EIO);
	cr_assert_null(w);
	cr_assert_not_null(strstr(err.msg, "nope/.f.zip.tmp: cannot create: No such file"),
			   "%s", err.msg);
}

Test(packet, null_dir_means_current_folder)
{
	packet_writer *w = NULL;
	xchg_err err = {0};

	cr_assert_eq(chdir(dir), 0);
	cr_assert_eq(packet_writer_open(&w, NULL, "g.zip", sk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_str_eq(packet_writer_path(w), "g.zip");
	cr_assert(file_exists(at(".g.zip.tmp")));
	cr_assert_eq(packet_writer_finish(w, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_writer_publish(w, &err), XCHG_OK, "%s", err.msg);
	packet_writer_free(w);
	cr_assert(file_exists(at("g.zip")));
}

Test(packet, dir_with_trailing_slash)
{
	packet_writer *w = NULL;
	xchg_err err = {0};
	char slashed[128];

	snprintf(slashed, sizeof(slashed), "%s/", dir);
	cr_assert_eq(packet_writer_open(&w, slashed, "h.zip", sk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_str_eq(packet_writer_path(w), at("h.zip"));
	packet_writer_free(w);
}

Test(packet, packets_are_reproducible)
{
	unsigned char *msg = make_message(20000), *a, *b;
	size_t alen, blen;

	write_packet("r1.zip", msg, 20000, 0);
	write_packet("r2.zip", msg, 20000, 333);
	a = read_file(at("r1.zip"), &alen);
	b = read_file(at("r2.zip"), &blen);
	cr_assert(alen == blen && memcmp(a, b, alen) == 0,
		  "same message and key gave different files");
	free(a);
	free(b);
	free(msg);
}

/* Little-endian fields of a ZIP local file header at p. */
static unsigned le16(const unsigned char *p)
{
	return (unsigned)p[0] | (unsigned)p[1] << 8;
}

static unsigned long le32(const unsigned char *p)
{
	return (unsigned long)le16(p) | (unsigned long)le16(p + 2) << 16;
}

Test(packet, layout_matches_the_format)
{
	unsigned char *msg = make_message(10000), *file, sig[crypto_sign_BYTES];
	const unsigned char *lh2, *data;
	struct archive *a = archive_read_new();
	struct archive_entry *e;
	time_t before, after;
	size_t len;
	int n = 0;

	before = time(NULL);
	write_packet("l.zip", msg, 10000, 0);
	after = time(NULL);
	file = read_file(at("l.zip"), &len);

	/* message.json: first, deflated (8), sizes in a data descriptor (flag bit 3). */
	cr_assert(memcmp(file, "PK\3\4", 4) == 0);
	cr_assert(le16(file + 6) & 8, "no data descriptor");
	cr_assert_eq(le16(file + 8), 8, "message.json not deflated");
	cr_assert_eq(le16(file + 26), strlen(PACKET_MEMBER_MESSAGE));
	cr_assert(memcmp(file + 30, PACKET_MEMBER_MESSAGE, 12) == 0);

	/* message.sig: stored (0), sizes in its header, the raw signature as data. */
	sign(msg, 10000, sig);
	data = memmem(file, len, sig, sizeof(sig));
	cr_assert_not_null(data, "raw signature not found in the file");
	lh2 = memmem(file + 4, len - 4, "PK\3\4", 4);
	cr_assert_not_null(lh2);
	cr_assert_eq(le16(lh2 + 8), 0, "message.sig not stored");
	cr_assert_eq(le32(lh2 + 18), crypto_sign_BYTES);
	cr_assert_eq(le32(lh2 + 22), crypto_sign_BYTES);
	cr_assert(memcmp(lh2 + 30, PACKET_MEMBER_SIGNATURE, 11) == 0);
	cr_assert_eq(data, lh2 + 30 + le16(lh2 + 26) + le16(lh2 + 28));

	/* Exactly two regular 0644 members, stamped with the time of writing, in this order. */
	archive_read_support_format_zip_seekable(a);
	cr_assert_eq(archive_read_open_filename(a, at("l.zip"), 4096), ARCHIVE_OK);
	while (archive_read_next_header(a, &e) == ARCHIVE_OK) {
		cr_assert_str_eq(archive_entry_pathname(e),
				 n == 0 ? PACKET_MEMBER_MESSAGE : PACKET_MEMBER_SIGNATURE);
		cr_assert_eq(archive_entry_filetype(e), AE_IFREG);
		cr_assert_eq(archive_entry_perm(e), 0644);
		cr_assert(archive_entry_mtime(e) >= before && archive_entry_mtime(e) <= after,
			  "member time %lld, written between %lld and %lld",
			  (long long)archive_entry_mtime(e), (long long)before, (long long)after);
		n++;
	}
	cr_assert_eq(n, 2);
	archive_read_free(a);
	free(file);
	free(msg);
}

Test(packet, unzip_reads_what_we_write)
{
	size_t len = 200 * 1024, outlen;
	unsigned char *msg = make_message(len), *out, sig[crypto_sign_BYTES];
	char cmd[512];
	int status;

	write_packet("u.zip", msg, len, 0);

	snprintf(cmd, sizeof(cmd), "unzip -p '%s' message.json", at("u.zip"));
	out = run_capture(cmd, &outlen, &status);
	cr_assert_eq(status, 0, "%s failed", cmd);
	cr_assert(outlen == len && memcmp(out, msg, len) == 0, "unzip -p: %zu bytes differ", outlen);
	free(out);

	snprintf(cmd, sizeof(cmd), "unzip -p '%s' message.sig", at("u.zip"));
	out = run_capture(cmd, &outlen, &status);
	sign(msg, len, sig);
	cr_assert_eq(status, 0, "%s failed", cmd);
	cr_assert(outlen == sizeof(sig) && memcmp(out, sig, sizeof(sig)) == 0);
	free(out);

	snprintf(cmd, sizeof(cmd), "unzip -Z1 '%s'", at("u.zip"));
	out = run_capture(cmd, &outlen, &status);
	cr_assert_eq(status, 0, "%s failed", cmd);
	cr_assert_str_eq((char *)out, "message.json\nmessage.sig\n");
	free(out);

	snprintf(cmd, sizeof(cmd), "unzip -tqq '%s'", at("u.zip"));
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	free(msg);
}

/* A second implementation: Info-ZIP's zip builds a packet the reader accepts. */
Test(packet, reader_accepts_a_zip_built_by_info_zip)
{
	unsigned char sig[crypto_sign_BYTES];
	char cmd[512];
	xchg_err err = {0};

	write_file(at("message.json"), msg_text, sizeof(msg_text) - 1);
	sign(msg_text, sizeof(msg_text) - 1, sig);
	write_file(at("message.sig"), sig, sizeof(sig));
	snprintf(cmd, sizeof(cmd), "cd '%s' && zip -qX z.zip message.json message.sig", dir);
	cr_assert_eq(system(cmd), 0, "%s failed", cmd);
	cr_assert_eq(check_file(at("z.zip"), &err), XCHG_OK, "%s", err.msg);
}

Test(packet, reader_accepts_a_zip_built_with_sizes_known)
{
	xchg_err err = {0};

	build_signed_zip(at("k.zip"), NULL, 0);
	cr_assert_eq(check_file(at("k.zip"), &err), XCHG_OK, "%s", err.msg);
}

/* ---- reader: refusals ------------------------------------------------ */

Test(packet, wrong_public_key_refused)
{
	unsigned char pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
	xbuf got = {0};
	xchg_err err = {0};
	char want[300];

	crypto_sign_keypair(pk2, sk2);
	write_packet("w.zip", (const unsigned char *)msg_text, sizeof(msg_text) - 1, 3);
	cr_assert_eq(read_packet(at("w.zip"), pk2, 4096, &got, &err), XCHG_EPACKET);
	snprintf(want, sizeof(want), "%s: signature does not verify", at("w.zip"));
	cr_assert_str_eq(err.msg, want);
	xbuf_free(&got);
}

Test(packet, signature_of_other_bytes_refused)
{
	unsigned char sig[crypto_sign_BYTES];
	struct member m[] = {
		{PACKET_MEMBER_MESSAGE, AE_IFREG, msg_text, sizeof(msg_text) - 1},
		{PACKET_MEMBER_SIGNATURE, AE_IFREG, sig, sizeof(sig)},
	};
	xchg_err err = {0};

	sign(msg_text, sizeof(msg_text) - 2, sig); /* all but the last byte */
	build_zip(at("o.zip"), m, 2);
	assert_refused_with(check_file(at("o.zip"), &err), &err, at("o.zip"),
			    "signature does not verify");
}

/*
 * The signature covers message.json's bytes, not the ZIP's bookkeeping (times,
 * attributes, extra fields), so a flip there may still verify. What must never
 * happen is a crash, or a verified message that differs from what was signed.
 */
static void flip_every_byte(const char *name, size_t msglen, unsigned char mask)
{
	unsigned char *msg = make_message(msglen), *file, sig[crypto_sign_BYTES];
	const unsigned char *sigpos;
	size_t len, i, refused = 0;

	write_packet(name, msg, msglen, 0);
	file = read_file(at(name), &len);
	sign(msg, msglen, sig);
	sigpos = memmem(file, len, sig, sizeof(sig));
	cr_assert_not_null(sigpos);
	for (i = 0; i < len; i++) {
		xbuf got = {0};
		xchg_err err = {0};
		xchg_status rc;

		file[i] ^= mask;
		write_file(at("flipped.zip"), file, len);
		file[i] ^= mask;
		rc = read_packet(at("flipped.zip"), pk, 1000, &got, &err);
		if (rc == XCHG_OK) {
			cr_assert(got.len == msglen && memcmp(got.data, msg, msglen) == 0,
				  "byte %zu of %zu: altered message verified", i, len);
			cr_assert(file + i < sigpos || file + i >= sigpos + sizeof(sig),
				  "byte %zu: altered signature verified", i);
		} else {
			assert_refused(rc, &err, at("flipped.zip"));
			refused++;
		}
		xbuf_free(&got);
	}
	/* Most of the file is deflated message and signature: most flips must fail. */
	cr_assert_gt(refused, len * 3 / 4, "only %zu of %zu flips refused", refused, len);
	cr_log_info("%s: %zu of %zu flips (mask %02x) refused", name, refused, len, mask);
	free(file);
	free(msg);
}

Test(packet, flipped_bit_anywhere_never_verifies_altered_bytes, .timeout = 120)
{
	flip_every_byte("f1.zip", 6000, 0x01);
}

Test(packet, flipped_byte_anywhere_never_verifies_altered_bytes, .timeout = 120)
{
	flip_every_byte("f2.zip", 6000, 0xff);
}

Test(packet, flipped_bytes_in_a_large_packet, .timeout = 120)
{
	unsigned char *msg = make_message(300 * 1024), *file;
	size_t len, i;

	write_packet("fl.zip", msg, 300 * 1024, 0);
	file = read_file(at("fl.zip"), &len);
	/* A spread across the file, and every byte of its last 300 (signature, directory). */
	for (i = 0; i < len; i += i + 300 < len ? 997 : 1) {
		xbuf got = {0};
		xchg_err err = {0};
		xchg_status rc;

		file[i] ^= 0x10;
		write_file(at("flipped.zip"), file, len);
		file[i] ^= 0x10;
		rc = read_packet(at("flipped.zip"), pk, 65536, &got, &err);
		if (rc == XCHG_OK)
			cr_assert(got.len == 300 * 1024 && memcmp(got.data, msg, got.len) == 0,
				  "byte %zu: altered message verified", i);
		else
			assert_refused(rc, &err, at("flipped.zip"));
		xbuf_free(&got);
	}
	free(file);
	free(msg);
}

Test(packet, every_truncation_refused, .timeout = 120)
{
	unsigned char *msg = make_message(4000), *file;
	size_t len, cut;

	write_packet("t.zip", msg, 4000, 0);
	file = read_file(at("t.zip"), &len);
	for (cut = 0; cut < len; cut++) {
		xchg_err err = {0};

		write_file(at("cut.zip"), file, cut);
		/* Past its first member's signature, a cut file is called what it is. */
		if (cut >= 4)
			assert_refused_with(check_file(at("cut.zip"), &err), &err, at("cut.zip"),
					    "truncated: it starts as a ZIP but its end is missing");
		else
			assert_refused(check_file(at("cut.zip"), &err), &err, at("cut.zip"));
	}
	free(file);
	free(msg);
}

Test(packet, truncations_of_a_large_packet_refused, .timeout = 120)
{
	unsigned char *msg = make_message(300 * 1024), *file;
	size_t len, cut;

	write_packet("tl.zip", msg, 300 * 1024, 0);
	file = read_file(at("tl.zip"), &len);
	for (cut = 0; cut < len; cut += cut + 400 < len ? 1499 : 1) {
		xchg_err err = {0};

		write_file(at("cut.zip"), file, cut);
		assert_refused(check_file(at("cut.zip"), &err), &err, at("cut.zip"));
	}
	free(file);
	free(msg);
}

Test(packet, first_member_must_be_message_json)
{
	unsigned char sig[crypto_sign_BYTES];
	const struct member sigm = {PACKET_MEMBER_SIGNATURE, AE_IFREG, sig, sizeof(sig)};
	const struct member msgm = {PACKET_MEMBER_MESSAGE, AE_IFREG, msg_text, sizeof(msg_text) - 1};
	const struct {
		struct member first;
		const char *reason;
	} cases[] = {
		{{"other.txt", AE_IFREG, "x", 1}, "member \"other.txt\" where message.json belongs"},
		{{"sub/message.json", AE_IFREG, msg_text, sizeof(msg_text) - 1}, "where message.json belongs"},
		{{"./message.json", AE_IFREG, msg_text, sizeof(msg_text) - 1}, "where message.json belongs"},
		{{"message.json", AE_IFLNK, NULL, 0}, "message.json is not a regular file"},
		{{"message.json", AE_IFDIR, NULL, 0}, "where message.json belongs"},
		{{"MESSAGE.JSON", AE_IFREG, msg_text, sizeof(msg_text) - 1}, "where message.json belongs"},
		{{"message.json\n", AE_IFREG, msg_text, sizeof(msg_text) - 1}, "\"message.json?\""},
		{sigm, "member \"message.sig\" where message.json belongs"},
	};
	size_t i;

	sign(msg_text, sizeof(msg_text) - 1, sig);
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct member m[3] = {cases[i].first, msgm, sigm};
		packet_reader *r = (packet_reader *)1;
		xchg_err err = {0};

		build_zip(at("m.zip"), m, 3);
		assert_refused_with(packet_reader_open(&r, at("m.zip"), &err), &err,
				    at("m.zip"), cases[i].reason);
		cr_assert_null(r);
	}
}

Test(packet, empty_zip_refused)
{
	xchg_err err = {0};

	build_zip(at("empty.zip"), NULL, 0);
	assert_refused(check_file(at("empty.zip"), &err), &err, at("empty.zip"));
}

Test(packet, extra_member_refused)
{
	const struct member extra[][1] = {
		{{"extra.txt", AE_IFREG, "x", 1}},
		{{PACKET_MEMBER_SIGNATURE, AE_IFREG, "x", 1}},
		{{"sub", AE_IFDIR, NULL, 0}},
	};
	size_t i;

	for (i = 0; i < sizeof(extra) / sizeof(extra[0]); i++) {
		xchg_err err = {0};

		build_signed_zip(at("x.zip"), extra[i], 1);
		assert_refused_with(check_file(at("x.zip"), &err), &err, at("x.zip"),
				    "unexpected member");
	}
}

Test(packet, missing_signature_refused)
{
	const struct member m[] = {{PACKET_MEMBER_MESSAGE, AE_IFREG, msg_text, sizeof(msg_text) - 1}};
	xchg_err err = {0};

	build_zip(at("n.zip"), m, 1);
	assert_refused_with(check_file(at("n.zip"), &err), &err, at("n.zip"),
			    "message.sig is missing");
}

Test(packet, signature_of_wrong_length_or_kind_refused)
{
	unsigned char sig[crypto_sign_BYTES + 1];
	const struct {
		size_t len;
		mode_t type;
		const char *name;
		const char *reason;
	} cases[] = {
		{63, AE_IFREG, PACKET_MEMBER_SIGNATURE, "message.sig is 63 bytes, not 64"},
		{0, AE_IFREG, PACKET_MEMBER_SIGNATURE, "message.sig is 0 bytes, not 64"},
		{65, AE_IFREG, PACKET_MEMBER_SIGNATURE, "message.sig is longer than 64 bytes"},
		{0, AE_IFLNK, PACKET_MEMBER_SIGNATURE, "message.sig is not a regular file"},
		{64, AE_IFREG, "message.sig2", "where message.sig belongs"},
	};
	size_t i;

	sign(msg_text, sizeof(msg_text) - 1, sig);
	sig[64] = 0;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct member m[] = {
			{PACKET_MEMBER_MESSAGE, AE_IFREG, msg_text, sizeof(msg_text) - 1},
			{cases[i].name, cases[i].type, sig, cases[i].len},
		};
		xchg_err err = {0};

		build_zip(at("s.zip"), m, 2);
		assert_refused_with(check_file(at("s.zip"), &err), &err, at("s.zip"),
				    cases[i].reason);
	}
}

Test(packet, encrypted_message_refused)
{
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	xchg_err err = {0};

	archive_write_set_format_zip(a);
	cr_assert_eq(archive_write_set_options(a, "zip:encryption=zipcrypt"), ARCHIVE_OK,
		     "%s", archive_error_string(a));
	cr_assert_eq(archive_write_set_passphrase(a, "secret"), ARCHIVE_OK);
	cr_assert_eq(archive_write_open_filename(a, at("enc.zip")), ARCHIVE_OK);
	archive_entry_set_pathname(e, PACKET_MEMBER_MESSAGE);
	archive_entry_set_filetype(e, AE_IFREG);
	archive_entry_set_perm(e, 0644);
	archive_entry_set_size(e, 2);
	cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
	cr_assert_eq(archive_write_data(a, "{}", 2), 2);
	archive_entry_free(e);
	archive_write_close(a);
	archive_write_free(a);
	assert_refused_with(check_file(at("enc.zip"), &err), &err, at("enc.zip"),
			    "message.json is encrypted");
}

Test(packet, not_a_zip_refused)
{
	xchg_err err = {0};

	write_file(at("plain.zip"), "just some text, not a zip\n", 26);
	assert_refused_with(check_file(at("plain.zip"), &err), &err, at("plain.zip"),
			    "not a packet (ZIP)");
	write_file(at("zero.zip"), "", 0);
	assert_refused_with(check_file(at("zero.zip"), &err), &err, at("zero.zip"),
			    "not a packet (ZIP)");
	cr_assert_eq(mkdir(at("adir.zip"), 0755), 0);
	assert_refused_with(check_file(at("adir.zip"), &err), &err, at("adir.zip"),
			    "not a regular file");
	cr_assert_eq(mkfifo(at("fifo.zip"), 0644), 0);
	assert_refused_with(check_file(at("fifo.zip"), &err), &err, at("fifo.zip"),
			    "not a regular file");
}

/* The README's exit status 7: a named packet that does not exist (5 is a file that cannot be read). */
Test(packet, missing_file_is_not_found)
{
	packet_reader *r = (packet_reader *)1;
	xchg_err err = {0};
	char want[300];

	cr_assert_eq(packet_reader_open(&r, at("absent.zip"), &err), XCHG_ENOTFOUND);
	cr_assert_null(r);
	snprintf(want, sizeof(want), "%s: cannot open: %s", at("absent.zip"), strerror(ENOENT));
	cr_assert_str_eq(err.msg, want);
}

/* ---- reader: the caller's side --------------------------------------- */

Test(packet, verify_drains_what_the_caller_left)
{
	unsigned char *msg = make_message(100000), buf[100];
	packet_reader *r = NULL;
	xchg_err err = {0};
	size_t got;

	write_packet("v.zip", msg, 100000, 0);

	/* Verify without reading at all. */
	cr_assert_eq(packet_reader_open(&r, at("v.zip"), &err), XCHG_OK, "%s", err.msg);
	cr_assert_str_eq(packet_reader_path(r), at("v.zip"));
	cr_assert_eq(packet_reader_verify(r, pk, &err), XCHG_OK, "%s", err.msg);
	packet_reader_free(r);

	/* Stop after the first bytes. */
	cr_assert_eq(packet_reader_open(&r, at("v.zip"), &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_reader_read(r, buf, sizeof(buf), &got, &err), XCHG_OK, "%s", err.msg);
	cr_assert(got > 0 && memcmp(buf, msg, got) == 0);
	cr_assert_eq(packet_reader_verify(r, pk, &err), XCHG_OK, "%s", err.msg);
	packet_reader_free(r);

	/* Walk away without verifying: nothing leaks, nothing breaks. */
	cr_assert_eq(packet_reader_open(&r, at("v.zip"), &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_reader_read(r, buf, sizeof(buf), &got, &err), XCHG_OK, "%s", err.msg);
	packet_reader_free(r);
	free(msg);
}

Test(packet, verify_twice_and_read_after_verify_are_errors)
{
	packet_reader *r = NULL;
	xchg_err err = {0};
	char buf[64];
	size_t got = 99;

	write_packet("y.zip", (const unsigned char *)msg_text, sizeof(msg_text) - 1, 0);
	cr_assert_eq(packet_reader_open(&r, at("y.zip"), &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_reader_verify(r, pk, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_reader_verify(r, pk, &err), XCHG_EFAIL);
	cr_assert_not_null(strstr(err.msg, "already checked"), "%s", err.msg);
	cr_assert_eq(packet_reader_read(r, buf, sizeof(buf), &got, &err), XCHG_EFAIL);
	cr_assert_eq(got, 0);
	packet_reader_free(r);
}

Test(packet, end_of_message_repeats_and_refusal_sticks)
{
	unsigned char pk2[crypto_sign_PUBLICKEYBYTES], sk2[crypto_sign_SECRETKEYBYTES];
	packet_reader *r = NULL;
	xchg_err err = {0};
	char buf[4096];
	size_t got;

	crypto_sign_keypair(pk2, sk2);
	write_packet("z.zip", (const unsigned char *)msg_text, sizeof(msg_text) - 1, 0);
	cr_assert_eq(packet_reader_open(&r, at("z.zip"), &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(packet_reader_read(r, buf, sizeof(buf), &got, &err), XCHG_OK);
	cr_assert_eq(got, sizeof(msg_text) - 1);
	cr_assert_eq(packet_reader_read(r, buf, sizeof(buf), &got, &err), XCHG_OK);
	cr_assert_eq(got, 0);
	cr_assert_eq(packet_reader_read(r, buf, sizeof(buf), &got, &err), XCHG_OK);
	cr_assert_eq(got, 0, "end of message.json did not repeat");
	assert_refused(packet_reader_verify(r, pk2, &err), &err, at("z.zip"));
	/* Refused stays refused, with the right key too. */
	assert_refused(packet_reader_verify(r, pk, &err), &err, at("z.zip"));
	assert_refused(packet_reader_read(r, buf, sizeof(buf), &got, &err), &err, at("z.zip"));
	packet_reader_free(r);
}
