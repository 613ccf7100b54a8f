/*
 * Hostile packets: everything formats/PACKET.md section 5 says a reader
 * refuses, played against a real node database.
 *
 * Every packet here is signed with the real key of a registered peer
 * (DESKTOP-1), so a refusal comes from the check the test is about and not
 * from the signature. Each one is imported at the center, and a refusal
 * must leave everything as it was:
 *   - the outcome is REFUSED (XCHG_EPACKET), no acknowledgement is written;
 *   - the message names the packet file and the reason, and carries no
 *     control character from the packet;
 *   - every row of every table (business and sync_*) and the schema itself
 *     (tables, columns, triggers, indexes) are unchanged; on SQLite the
 *     database file is unchanged byte for byte;
 *   - the packet file is still where it was, with the same bytes.
 *
 * With XCHG_TEST_CENTER=pg the center, and so the importer, is PostgreSQL.
 */
#include <criterion/criterion.h>

#include <archive.h>
#include <archive_entry.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "harness.h"
#include "common.h"
#include "envelope.h"
#include "keys.h"
#include "packet.h"

TestSuite(hostile, .init = harness_setup, .fini = harness_teardown);

/* ---- the stage ---------------------------------------------------------- */

static node *C, *D;        /* the importing center; the desktop whose key signs */
static const char *inbox;  /* where the hostile packets lie */
static const char *acks;   /* where the center would write acknowledgements */
static const char *report; /* a daily report the center holds, with one line */

#define FRESH_UUID "7d0c6a52-4b1e-4c3a-9e55-0000000000f1"
#define LINE_UUID "7d0c6a52-4b1e-4c3a-9e55-0000000000f2"
#define CENTER_ID "c0000000-0000-4000-8000-000000000001"
#define DESKTOP_ID "d0000000-0000-4000-8000-000000000001"

/*
 * A center and a desktop that already exchanged once (the center received
 * the desktop's packet 1), with rows in the business tables and
 * registrations queued: a change anywhere would show.
 */
static void stage(void)
{
	C = center_new("CENTER");
	D = desktop_new("DESKTOP-1");
	set_node_id(C, CENTER_ID);
	set_node_id(D, DESKTOP_ID);
	link_nodes(C, D);
	inbox = make_folder("inbox");
	acks = make_folder("acks");
	sql_exec(C, "INSERT INTO brigades (name, foreman, headcount, active)"
		    " VALUES ('Roofers', 'Ivanov', 5, TRUE)");
	sql_exec(C, "INSERT INTO estimates (number, title, total) VALUES ('E-1', 'Roof', '12345.67')");
	sql_exec(C, "INSERT INTO daily_reports (report_date, author) VALUES ('2026-11-24', 'Petrov')");
	report = sql_text(C, "SELECT uuid FROM daily_reports");
	sql_exec(C, "INSERT INTO daily_report_lines (report_uuid, comment, volume)"
		    " VALUES ('%s', 'dig', 1.5)", report);
	sql_exec(D, "INSERT INTO brigades (name) VALUES ('Desk')");
	deliver(D, C, make_folder("warmup"));
	cr_assert_eq(received_no(C, "DESKTOP-1"), 1);
}

/* ---- files -------------------------------------------------------------- */

typedef struct blob {
	char *data;
	size_t len;
} blob;

static blob slurp_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	blob b = {NULL, 0};
	long size;

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	fseek(f, 0, SEEK_END);
	size = ftell(f);
	fseek(f, 0, SEEK_SET);
	b.data = hkeep(malloc((size_t)size + 1));
	b.len = (size_t)size;
	cr_assert_eq(fread(b.data, 1, b.len, f), b.len, "%s: short read", path);
	b.data[b.len] = '\0';
	fclose(f);
	return b;
}

static void spit_file(const char *path, const void *data, size_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert_not_null(f, "%s: %s", path, strerror(errno));
	cr_assert_eq(fwrite(data, 1, len, f), len, "%s: short write", path);
	cr_assert_eq(fclose(f), 0, "%s: %s", path, strerror(errno));
}

static int same_bytes(blob a, blob b)
{
	return a.len == b.len && memcmp(a.data, b.data, a.len) == 0;
}

/* ---- what the database holds -------------------------------------------- */

static const char *table_list(node *n)
{
	if (n->pg)
		return sql_rows(n, "SELECT table_name FROM information_schema.tables"
				   " WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'"
				   " ORDER BY 1");
	return sql_rows(n, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY 1");
}

/* Tables, columns, triggers, indexes and functions: a DROP or ALTER anywhere shows. */
static const char *schema_of(node *n)
{
	if (n->pg)
		return hstr("%s\n%s\n%s\n%s",
			    sql_rows(n, "SELECT table_name, column_name, data_type, is_nullable,"
				        " column_default FROM information_schema.columns"
				        " WHERE table_schema = current_schema() ORDER BY 1, ordinal_position"),
			    sql_rows(n, "SELECT tgrelid::regclass::text, tgname, tgenabled"
				        " FROM pg_catalog.pg_trigger WHERE NOT tgisinternal ORDER BY 1, 2"),
			    sql_rows(n, "SELECT indexname, indexdef FROM pg_catalog.pg_indexes"
				        " WHERE schemaname = current_schema() ORDER BY 1"),
			    sql_rows(n, "SELECT proname, md5(prosrc) FROM pg_catalog.pg_proc"
				        " WHERE pronamespace = current_schema()::regnamespace ORDER BY 1"));
	return sql_rows(n, "SELECT type, name, tbl_name, sql FROM sqlite_master ORDER BY 1, 2");
}

/* The schema and every row of every table but those in skip (" name name "). */
static const char *snapshot(node *n, const char *skip)
{
	char *tables = (char *)hstr("%s", table_list(n)), *t, *save = NULL;
	const char *out = schema_of(n);

	for (t = strtok_r(tables, ";", &save); t; t = strtok_r(NULL, ";", &save))
		if (!skip || !strstr(skip, hstr(" %s ", t)))
			out = hstr("%s\n== %s\n%s", out, t, sql_rows(n, "SELECT * FROM \"%s\" ORDER BY 1", t));
	return out;
}

typedef struct state {
	const char *rows;  /* snapshot */
	blob file;         /* the SQLite file, byte for byte (empty on PostgreSQL) */
	blob packet;
	size_t nacks;
} state;

static state state_of(const char *packet)
{
	state s = {snapshot(C, NULL), {NULL, 0}, {NULL, 0}, count_files(acks, "")};

	if (!C->pg)
		s.file = slurp_file(C->db_path);
	if (packet)
		s.packet = slurp_file(packet);
	return s;
}

static void expect_unchanged(const state *before, const char *packet, const char *what)
{
	state after = state_of(packet);

	cr_assert_str_eq(after.rows, before->rows, "%s: the database changed", what);
	if (!C->pg)
		cr_assert(same_bytes(after.file, before->file),
			  "%s: the database file changed (%zu bytes, was %zu)", what, after.file.len,
			  before->file.len);
	cr_assert(file_exists(packet), "%s: the packet is gone from where it was", what);
	cr_assert(same_bytes(after.packet, before->packet), "%s: the packet file changed", what);
	cr_assert_eq(after.nacks, before->nacks, "%s: an acknowledgement was written", what);
}

/*
 * Imports path at the center and checks that it was refused for a reason
 * containing because (any reason when NULL), naming the file, and that
 * nothing changed.
 */
static void expect_refused(const char *path, const char *because, const char *what)
{
	state before = state_of(path);
	const import_log *log = import_paths(C, acks, path, NULL);
	const char *msg;

	cr_assert_eq(log->n, 1, "%s: %zu import events, expected one refusal: %d %s", what, log->n, log->ev[0].outcome, log->ev[0].message);
	msg = log->ev[0].message ? log->ev[0].message : "";
	cr_assert_eq(log->ev[0].outcome, XCHG_REFUSED, "%s: outcome %d, expected REFUSED: %s", what,
		     log->ev[0].outcome, msg);
	cr_assert_eq(log->rc, XCHG_EPACKET, "%s: import returned %d: %s", what, log->rc,
		     log->err.msg);
	cr_assert(strncmp(msg, path, strlen(path)) == 0, "%s: the message does not name the file: %s",
		  what, msg);
	cr_assert(!because || strstr(msg, because), "%s: message \"%s\" does not say \"%s\"", what,
		  msg, because);
	cr_assert(printable_text(msg), "%s: control characters in the message: %s", what, msg);
	expect_unchanged(&before, path, what);
}

/* Imports path at the center and checks that it was applied. */
static void expect_applied_here(const char *path, const char *what)
{
	expect_applied(import_paths(C, acks, path, NULL), what);
}

/* ---- packets by hand ---------------------------------------------------- */

typedef struct member {
	const char *name;
	unsigned type;      /* AE_IFREG, AE_IFLNK or AE_IFDIR */
	const void *data;
	size_t len;
	const char *target; /* of a link */
} member;

/* A ZIP of exactly these members, as an attacker would build it with libarchive. */
static const char *zip_members(const char *file, const member *m, size_t n)
{
	const char *path = hstr("%s/%s", inbox, file);
	struct archive *a = archive_write_new();
	size_t i;

	cr_assert_not_null(a);
	cr_assert_eq(archive_write_set_format_zip(a), ARCHIVE_OK);
	cr_assert_eq(archive_write_open_filename(a, path), ARCHIVE_OK, "%s: %s", path,
		     archive_error_string(a));
	for (i = 0; i < n; i++) {
		struct archive_entry *e = archive_entry_new();

		archive_entry_set_pathname(e, m[i].name);
		archive_entry_set_filetype(e, m[i].type);
		archive_entry_set_perm(e, m[i].type == AE_IFDIR ? 0755 : 0644);
		if (m[i].type == AE_IFLNK)
			archive_entry_set_symlink(e, m[i].target);
		if (m[i].type == AE_IFREG)
			archive_entry_set_size(e, (la_int64_t)m[i].len);
		if (m[i].len > 64)
			archive_write_zip_set_compression_deflate(a);
		else
			archive_write_zip_set_compression_store(a);
		cr_assert_eq(archive_write_header(a, e), ARCHIVE_OK, "%s", archive_error_string(a));
		if (m[i].type == AE_IFREG && m[i].len)
			cr_assert_eq(archive_write_data(a, m[i].data, m[i].len), (la_ssize_t)m[i].len,
				     "%s", archive_error_string(a));
		archive_entry_free(e);
	}
	cr_assert_eq(archive_write_close(a), ARCHIVE_OK, "%s", archive_error_string(a));
	archive_write_free(a);
	return path;
}

/* The desktop's real Ed25519ph signature of msg. */
static unsigned char *signature_of(const char *msg, size_t len)
{
	unsigned char *sig = hkeep(malloc(crypto_sign_BYTES));
	crypto_sign_ed25519ph_state st;
	xchg_err err = {0};
	keypair kp;

	cr_assert_eq(keys_load(D->key_path, NULL, &kp, &err), XCHG_OK, "%s", err.msg);
	crypto_sign_ed25519ph_init(&st);
	crypto_sign_ed25519ph_update(&st, (const unsigned char *)msg, len);
	crypto_sign_ed25519ph_final_create(&st, sig, NULL, kp.sk);
	keys_wipe(&kp);
	return sig;
}

/* A well-formed archive holding msg, signed by the desktop. */
static const char *signed_packet_n(const char *file, const char *msg, size_t len)
{
	const member m[2] = {
		{PACKET_MEMBER_MESSAGE, AE_IFREG, msg, len, NULL},
		{PACKET_MEMBER_SIGNATURE, AE_IFREG, signature_of(msg, len), crypto_sign_BYTES, NULL},
	};

	return zip_members(file, m, 2);
}

static const char *signed_packet(const char *file, const char *msg)
{
	return signed_packet_n(file, msg, strlen(msg));
}

/* s with the first find replaced by repl; the test fails when find is absent. */
static const char *swap(const char *s, const char *find, const char *repl)
{
	const char *at = strstr(s, find);

	cr_assert_not_null(at, "\"%s\" not in %s", find, s);
	return hstr("%.*s%s%s", (int)(at - s), s, repl, at + strlen(find));
}

/* s as a JSON string literal. */
static const char *jstr(const char *s)
{
	xbuf b = {0};

	cr_assert_eq(xbuf_json_string(&b, s, strlen(s)), 0, "out of memory");
	return hkeep(xbuf_detach(&b));
}

/* s as an SQL string literal's inside. */
static const char *sq(const char *s)
{
	const char *out = "";

	for (; *s; s++)
		out = *s == '\'' ? hstr("%s''", out) : hstr("%s%c", out, *s);
	return out;
}

#define HEADER                                                                             \
	"{\"sender_node_id\":\"" DESKTOP_ID "\",\"recipient_node_id\":\"" CENTER_ID "\","       \
	"\"packet_no\":2,\"ack_packet_no\":0,\"schema_version\":\"1.0.0\",\"packet_format\":2," \
	"\"message_id\":\"5b0e7a3c-8a5b-4c1e-9f00-00000000000a\",\"sender_code\":\"DESKTOP-1\","   \
	"\"recipient_code\":\"CENTER\",\"created_at\":\"2026-11-25T09:30:00.123Z\"}"

#define BRIGADE_DATA "{\"name\":\"Fresh\",\"foreman\":null,\"headcount\":3,\"active\":true}"

#define LINE_ROW                                                                           \
	"{\"uuid\":\"" LINE_UUID "\",\"work_uuid\":null,\"volume\":2.5,\"hours\":8,"             \
	"\"comment\":\"pour\",\"updated_at\":\"2026-11-25T09:29:58.001Z\",\"is_deleted\":false}"

#define REPORT_DATA                                                                        \
	"{\"report_date\":\"2026-11-25\",\"brigade_uuid\":null,\"author\":\"Sidorov\","        \
	"\"notes\":\"fine\",\"submitted_at\":null,\"weather\":null,\"lines\":[" LINE_ROW "]}"

static const char *entity(const char *type, const char *uuid, const char *op,
			  const char *updated_at, const char *data)
{
	return hstr("{\"type\":%s,\"uuid\":%s,\"operation\":%s,\"updated_at\":%s,"
		    "\"data\":%s}", type, uuid, op, updated_at, data);
}

static const char *message(const char *header, const char *entities)
{
	return hstr("{\"header\":%s,\n\"body\":{\"entities\":[\n%s]}}\n", header, entities);
}

/*
 * The packet every test starts from: a brigade and a daily report with a
 * line, packet 2 from the desktop. As it is, the center applies it
 * (baseline_packet_is_applied); each test breaks one thing in it.
 */
static const char *good_message(void)
{
	return message(HEADER,
		       hstr("%s,\n%s",
			    entity("\"Brigade\"", "\"7d0c6a52-4b1e-4c3a-9e55-0000000000f0\"", "\"INSERT\"",
				   "\"2026-11-25T09:29:57.001Z\"", BRIGADE_DATA),
			    entity("\"DailyReport\"", "\"" FRESH_UUID "\"", "\"INSERT\"",
				   "\"2026-11-25T09:29:58.001Z\"", REPORT_DATA)));
}

typedef struct edit {
	const char *find;
	const char *repl;
	const char *because;
} edit;

/* Each edit of the good message, signed and imported: refused for its reason. */
static void refuse_edits(const char *label, const edit *e, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		const char *msg = swap(good_message(), e[i].find, e[i].repl);
		const char *path = signed_packet(hstr("%s-%zu.zip", label, i), msg);

		expect_refused(path, e[i].because,
			       hstr("%s %zu: %s -> %s", label, i, e[i].find, e[i].repl));
	}
}

#define N(a) (sizeof(a) / sizeof((a)[0]))

/* ---- the baseline ------------------------------------------------------- */

/*
 * Catches: a harness that cannot build an acceptable packet, which would
 * make every refusal below pass for the wrong reason.
 */
Test(hostile, baseline_packet_is_applied)
{
	stage();
	expect_applied_here(signed_packet("good.zip", good_message()), "the baseline packet");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE name = 'Fresh'"), 1);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines WHERE comment = 'pour'"), 1);
	cr_assert_eq(received_no(C, "DESKTOP-1"), 2);
}

/* ---- the archive -------------------------------------------------------- */

/*
 * Catches: a reader that takes a ZIP cut short (by a full USB stick, a
 * half-finished copy) and applies what it could inflate.
 */
Test(hostile, truncated_archive_is_refused)
{
	const char *good;
	blob b;
	size_t cut, step;

	stage();
	good = signed_packet("whole.zip", good_message());
	b = slurp_file(good);
	step = b.len / 40 ? b.len / 40 : 1;
	for (cut = 0; cut < b.len; cut += cut + 64 < b.len ? step : 1) {
		const char *path = hstr("%s/cut-%zu.zip", inbox, cut);

		spit_file(path, b.data, cut);
		expect_refused(path, NULL, hstr("cut at %zu of %zu bytes", cut, b.len));
	}
}

/*
 * Catches: corruption inside the deflated message (a bad sector, a flipped
 * bit in transit) that is applied before the CRC or the signature fails,
 * and left committed.
 */
Test(hostile, corrupted_archive_is_refused)
{
	const char *good;
	blob b;
	size_t start, end, i;
	const char *dd;

	stage();
	good = signed_packet("whole.zip", good_message());
	b = slurp_file(good);
	/*
	 * The deflated bytes of message.json: after its local header, up to its
	 * data descriptor. The last one is left alone: its high bits may be
	 * padding after the end of the stream, which inflate never looks at.
	 */
	start = 30 + (size_t)(unsigned char)b.data[26] + ((size_t)(unsigned char)b.data[27] << 8) +
		(size_t)(unsigned char)b.data[28] + ((size_t)(unsigned char)b.data[29] << 8);
	dd = memmem(b.data + start, b.len - start, "PK\007\010", 4);
	cr_assert_not_null(dd, "no data descriptor after message.json in %s", good);
	end = (size_t)(dd - b.data) - 1;
	cr_assert_gt(end, start + 100, "message.json's deflated bytes not found");
	for (i = start; i < end; i += 5) {
		const char *path = hstr("%s/flip-%zu.zip", inbox, i);

		b.data[i] ^= 0x20;
		spit_file(path, b.data, b.len);
		b.data[i] ^= 0x20;
		expect_refused(path, NULL, hstr("byte %zu flipped", i));
	}
	/* The checks above ran against a packet the center would take. */
	expect_applied_here(good, "the packet before corruption");
}

/* Catches: a reader that ignores members it does not expect, or does without one it needs. */
Test(hostile, extra_or_missing_members_are_refused)
{
	const char *msg, *extra = "{\"anything\":1}";
	const unsigned char *sig;
	size_t i;

	stage();
	msg = good_message();
	sig = signature_of(msg, strlen(msg));
	{
		const member mj = {PACKET_MEMBER_MESSAGE, AE_IFREG, msg, strlen(msg), NULL};
		const member ms = {PACKET_MEMBER_SIGNATURE, AE_IFREG, sig, crypto_sign_BYTES, NULL};
		const member mx = {"extra.json", AE_IFREG, extra, strlen(extra), NULL};
		const struct {
			member m[4];
			size_t n;
			const char *because;
		} cases[] = {
			{{mj, ms, mx}, 3, "unexpected member \"extra.json\" after message.sig"},
			{{mx, mj, ms}, 3, "member \"extra.json\" where message.json belongs"},
			{{mj, mx, ms}, 3, "member \"extra.json\" where message.sig belongs"},
			{{mj, mj, ms}, 3, "member \"message.json\" where message.sig belongs"},
			{{mj, ms, ms}, 3, "unexpected member \"message.sig\" after message.sig"},
			{{mj, ms, mj}, 3, "unexpected member \"message.json\" after message.sig"},
			{{ms, mj}, 2, "member \"message.sig\" where message.json belongs"},
			{{mj}, 1, "message.sig is missing"},
			{{ms}, 1, "member \"message.sig\" where message.json belongs"},
			{{{0}}, 0, "not a packet (ZIP)"},
		};

		for (i = 0; i < N(cases); i++)
			expect_refused(zip_members(hstr("members-%zu.zip", i), cases[i].m, cases[i].n),
				       cases[i].because, hstr("member case %zu", i));
	}
}

/*
 * Catches: a reader that resolves member names as paths (../, absolute,
 * through a directory) or follows links, and so could be led to read or
 * write outside the packet. Nothing may appear beside the packet or above
 * its folder either.
 */
Test(hostile, members_with_paths_or_links_are_refused)
{
	const char *msg;
	const unsigned char *sig;
	size_t i, in_inbox, in_root;

	stage();
	msg = good_message();
	sig = signature_of(msg, strlen(msg));
	{
		const member mj = {PACKET_MEMBER_MESSAGE, AE_IFREG, msg, strlen(msg), NULL};
		const member ms = {PACKET_MEMBER_SIGNATURE, AE_IFREG, sig, crypto_sign_BYTES, NULL};
		const struct {
			member m[3];
			size_t n;
			const char *because;
		} cases[] = {
			{{{"../message.json", AE_IFREG, msg, strlen(msg), NULL}, ms}, 2,
			 "member \"../message.json\" where message.json belongs"},
			{{{"/message.json", AE_IFREG, msg, strlen(msg), NULL}, ms}, 2,
			 "member \"/message.json\" where message.json belongs"},
			{{{"x/../message.json", AE_IFREG, msg, strlen(msg), NULL}, ms}, 2,
			 "where message.json belongs"},
			{{{"./message.json", AE_IFREG, msg, strlen(msg), NULL}, ms}, 2,
			 "where message.json belongs"},
			{{{"..\\message.json", AE_IFREG, msg, strlen(msg), NULL}, ms}, 2,
			 "where message.json belongs"},
			{{mj, {"../message.sig", AE_IFREG, sig, crypto_sign_BYTES, NULL}}, 2,
			 "member \"../message.sig\" where message.sig belongs"},
			{{mj, {"/message.sig", AE_IFREG, sig, crypto_sign_BYTES, NULL}}, 2,
			 "where message.sig belongs"},
			{{{PACKET_MEMBER_MESSAGE, AE_IFLNK, NULL, 0, "../../outside.json"}, ms}, 2,
			 "message.json is not a regular file"},
			{{mj, {PACKET_MEMBER_SIGNATURE, AE_IFLNK, NULL, 0, "../outside.sig"}}, 2,
			 "message.sig is not a regular file"},
			{{{PACKET_MEMBER_MESSAGE, AE_IFDIR, NULL, 0, NULL}, mj, ms}, 3,
			 "where message.json belongs"},
			{{mj, ms, {"../../evil", AE_IFLNK, NULL, 0, "../../outside"}}, 3,
			 "unexpected member \"../../evil\" after message.sig"},
			{{mj, ms, {"/evil", AE_IFREG, "x", 1, NULL}}, 3,
			 "unexpected member \"/evil\" after message.sig"},
			{{mj, ms, {"../", AE_IFDIR, NULL, 0, NULL}}, 3, "unexpected member"},
		};

		for (i = 0; i < N(cases); i++) {
			const char *path = zip_members(hstr("path-%zu.zip", i), cases[i].m, cases[i].n);

			in_inbox = count_files(inbox, "");
			in_root = count_files(test_root(), "");
			expect_refused(path, cases[i].because, hstr("path case %zu", i));
			cr_assert_eq(count_files(inbox, ""), in_inbox, "path case %zu: a file appeared", i);
			cr_assert_eq(count_files(test_root(), ""), in_root,
				     "path case %zu: a file appeared above the inbox", i);
		}
		cr_assert(!file_exists(tmp_path("outside.json")) && !file_exists(tmp_path("evil")) &&
			  !file_exists(hstr("%s/message.json", inbox)));
	}
}

/* Little-endian fields of a ZIP record. */
static void le(xbuf *b, uint64_t v, int bytes)
{
	int i;

	for (i = 0; i < bytes; i++)
		cr_assert_eq(xbuf_addc(b, (char)(v >> (8 * i) & 0xff)), 0);
}

/*
 * A ZIP written byte by byte: message.json stored, its real length on disk
 * but `declared` as its size in Zip64 fields (local and central), then
 * message.sig.
 */
static const char *zip_declaring(const char *file, const char *msg, uint64_t declared)
{
	const unsigned char *sig = signature_of(msg, strlen(msg));
	const char *name[2] = {PACKET_MEMBER_MESSAGE, PACKET_MEMBER_SIGNATURE};
	const void *data[2] = {msg, sig};
	uint64_t len[2] = {strlen(msg), crypto_sign_BYTES}, offset[2];
	uint32_t crc[2];
	xbuf z = {0}, cd = {0};
	size_t i;

	for (i = 0; i < 2; i++) {
		int big = i == 0;

		crc[i] = (uint32_t)crc32(0, data[i], (uInt)len[i]);
		offset[i] = z.len;
		le(&z, 0x04034b50, 4);
		le(&z, 45, 2);
		le(&z, 0, 2);                     /* flags */
		le(&z, 0, 2);                     /* stored */
		le(&z, 0, 2);                     /* time */
		le(&z, 0x21, 2);                  /* 1980-01-01 */
		le(&z, crc[i], 4);
		le(&z, big ? 0xffffffffu : len[i], 4);
		le(&z, big ? 0xffffffffu : len[i], 4);
		le(&z, strlen(name[i]), 2);
		le(&z, big ? 20 : 0, 2);
		xbuf_adds(&z, name[i]);
		if (big) {
			le(&z, 0x0001, 2);
			le(&z, 16, 2);
			le(&z, declared, 8);
			le(&z, len[i], 8);
		}
		cr_assert_eq(xbuf_add(&z, data[i], len[i]), 0);
	}
	for (i = 0; i < 2; i++) {
		int big = i == 0;

		le(&cd, 0x02014b50, 4);
		le(&cd, 0x031e, 2);               /* made on Unix */
		le(&cd, 45, 2);
		le(&cd, 0, 2);
		le(&cd, 0, 2);
		le(&cd, 0, 2);
		le(&cd, 0x21, 2);
		le(&cd, crc[i], 4);
		le(&cd, big ? 0xffffffffu : len[i], 4);
		le(&cd, big ? 0xffffffffu : len[i], 4);
		le(&cd, strlen(name[i]), 2);
		le(&cd, big ? 20 : 0, 2);
		le(&cd, 0, 2);                    /* comment */
		le(&cd, 0, 2);                    /* disk */
		le(&cd, 0, 2);                    /* internal attributes */
		le(&cd, (uint64_t)0100644 << 16, 4);
		le(&cd, offset[i], 4);
		xbuf_adds(&cd, name[i]);
		if (big) {
			le(&cd, 0x0001, 2);
			le(&cd, 16, 2);
			le(&cd, declared, 8);
			le(&cd, len[i], 8);
		}
	}
	{
		uint64_t cd_at = z.len;

		cr_assert_eq(xbuf_add(&z, cd.data, cd.len), 0);
		le(&z, 0x06054b50, 4);
		le(&z, 0, 2);
		le(&z, 0, 2);
		le(&z, 2, 2);
		le(&z, 2, 2);
		le(&z, cd.len, 4);
		le(&z, cd_at, 4);
		le(&z, 0, 2);
	}
	{
		const char *path = hstr("%s/%s", inbox, file);

		spit_file(path, z.data, z.len);
		xbuf_free(&z);
		xbuf_free(&cd);
		return path;
	}
}

/*
 * Catches: a reader without a size limit that trusts an archive claiming a
 * message.json of 5 GiB, and a hand-built ZIP the reader cannot read at all.
 */
Test(hostile, archive_declaring_a_message_past_the_size_limit_is_refused)
{
	const char *msg;

	stage();
	msg = good_message();
	expect_refused(zip_declaring("huge.zip", msg, PACKET_MAX_MESSAGE_BYTES + 1),
		       hstr("message.json is larger than %llu bytes",
			    (unsigned long long)PACKET_MAX_MESSAGE_BYTES),
		       "a message.json declared one byte past the limit");
	/* The same archive, honest about its size, is a packet like any other. */
	expect_applied_here(zip_declaring("honest.zip", msg, strlen(msg)), "the honest archive");
}

/*
 * A message.json of filler bytes: at the top level (skipped whitespace, or
 * an unknown member whose value must be read) between the header and the
 * body. Deflate turns it into almost nothing.
 */
static const char *padded_message(size_t filler, int as_member)
{
	const char *good = good_message(), *body = strstr(good, "\"body\"");
	size_t head = (size_t)(body - good), len;
	char *m;

	cr_assert_not_null(body);
	m = hkeep(malloc(head + filler + strlen(body) + 16));
	memcpy(m, good, head);
	len = head;
	if (as_member) {
		memcpy(m + len, "\"pad\":\"", 7);
		len += 7;
		memset(m + len, 'a', filler);
		len += filler;
		memcpy(m + len, "\",", 2);
		len += 2;
	} else {
		memset(m + len, ' ', filler);
		len += filler;
	}
	strcpy(m + len, body);
	return m;
}

/*
 * Catches: a reader with only the 4 GiB size limit, which inflates, hashes
 * and parses a zip bomb of a few kilobytes whose message is valid JSON
 * (and signed) all the way to that limit: the ratio limit stops it.
 * Padding within the free allowance still goes through, which shows it is
 * the ratio that refused.
 */
Test(hostile, zip_bomb_past_the_ratio_is_refused, .timeout = 120)
{
	const size_t bomb = PACKET_RATIO_FREE_BYTES + 8u * 1024 * 1024;
	const char *msg, *path;
	blob b;

	stage();
	msg = padded_message(bomb, 0);
	path = signed_packet("bomb-spaces.zip", msg);
	b = slurp_file(path);
	cr_assert_gt(strlen(msg) / b.len, PACKET_MAX_RATIO, "the bomb deflated only %zu to %zu",
		     strlen(msg), b.len);
	expect_refused(path, hstr("inflates to more than %d times", PACKET_MAX_RATIO), "whitespace bomb");
	expect_refused(signed_packet("bomb-member.zip", padded_message(bomb, 1)),
		       "(as a zip bomb does)", "a bomb in an unknown member");
	expect_applied_here(signed_packet("padded.zip", padded_message(2u * 1024 * 1024, 0)),
			    "2 MiB of padding, under the ratio's free allowance");
}

/* ---- message.json ------------------------------------------------------- */

/* A value nested depth levels deep, objects and arrays in turn. */
static const char *nested(int depth)
{
	xbuf b = {0};
	int i;

	for (i = 0; i < depth; i++)
		xbuf_adds(&b, i % 2 ? "[" : "{\"k\":");
	xbuf_addc(&b, '1');
	for (i = depth - 1; i >= 0; i--)
		xbuf_addc(&b, i % 2 ? ']' : '}');
	cr_assert_not_null(b.data, "out of memory");
	return hkeep(xbuf_detach(&b));
}

/*
 * Catches: nesting that reaches cJSON's recursive parser unbounded (a stack
 * overflow), wherever it sits: in data, in a child row, in members the
 * reader skips as unknown.
 */
Test(hostile, json_nested_too_deep_is_refused)
{
	const char *deep = nested(ENV_MAX_DEPTH + 8);
	const edit e[] = {
		{"\"headcount\":3", hstr("\"headcount\":%s", deep), "nested deeper than 32 levels"},
		{"\"comment\":\"pour\"", hstr("\"comment\":%s", deep), "nested deeper than 32 levels"},
		{"\"operation\":\"INSERT\"", hstr("\"extra\":%s,\"operation\":\"INSERT\"", deep),
		 "nested deeper than 32 levels"},
		{"\"packet_no\":2", hstr("\"packet_no\":2,\"extra\":%s", deep), "nested deeper than 32 levels"},
		{"\"body\":{", hstr("\"extra\":%s,\"body\":{", deep), "nested deeper than 32 levels"},
		{"\"body\":{", hstr("\"body\":{\"extra\":%s,", deep), "nested deeper than 32 levels"},
		{"\"headcount\":3", hstr("\"headcount\":%s", nested(20000)), "nested deeper than 32 levels"},
	};

	stage();
	refuse_edits("deep", e, N(e));
}

/*
 * Catches: header numbers taken past 2^53 or as fractions (a double's
 * guess at the packet number), and data numbers past a double's range
 * reaching a column as infinity.
 */
Test(hostile, numbers_out_of_range_are_refused)
{
	const edit e[] = {
		{"\"packet_no\":2", "\"packet_no\":9007199254740992", "\"packet_no\" must be between 1 and"},
		{"\"packet_no\":2", "\"packet_no\":18446744073709551617", "\"packet_no\" must be between"},
		{"\"packet_no\":2", "\"packet_no\":1e400", "\"packet_no\" must be between"},
		{"\"packet_no\":2", "\"packet_no\":0", "\"packet_no\" must be between"},
		{"\"packet_no\":2", "\"packet_no\":-2", "\"packet_no\" must be between"},
		{"\"packet_no\":2", "\"packet_no\":2.5", "\"packet_no\" is not a whole number"},
		{"\"ack_packet_no\":0", "\"ack_packet_no\":-1", "\"ack_packet_no\" must be between 0 and"},
		{"\"ack_packet_no\":0", "\"ack_packet_no\":-1e400", "\"ack_packet_no\" must be between"},
		{"\"ack_packet_no\":0", "\"ack_packet_no\":1e300", "\"ack_packet_no\" must be between"},
		{"\"headcount\":3", "\"headcount\":1e400", "column \"headcount\": number out of range"},
		{"\"headcount\":3", "\"headcount\":-1E+999", "column \"headcount\": number out of range"},
		{"\"volume\":2.5", "\"volume\":123e456789", "column \"volume\": number out of range"},
		{"\"headcount\":3", "\"headcount\":01", "invalid number"},
		{"\"headcount\":3", "\"headcount\":+1", "invalid number"},
		{"\"headcount\":3", "\"headcount\":.5", "invalid number"},
		{"\"headcount\":3", "\"headcount\":1.", "invalid number"},
		{"\"headcount\":3", "\"headcount\":NaN", "not valid JSON"},
		{"\"headcount\":3", "\"headcount\":Infinity", "not valid JSON"},
		{"\"headcount\":3", "\"headcount\":-Infinity", "invalid number"},
		{"\"headcount\":3", "\"headcount\":0x10", "invalid number"},
	};

	stage();
	refuse_edits("number", e, N(e));
}

/*
 * Catches: text that is not UTF-8 (overlong forms that smuggle '/' or '"',
 * UTF-16 surrogates, code points past U+10FFFF, stray bytes) or that hides
 * a NUL, in any string of the envelope: header, entity members, column
 * names, values, child rows, members the reader skips.
 */
Test(hostile, strings_with_invalid_utf8_are_refused)
{
	static const char *const bad[][2] = {
		{"\xc0\xaf", "invalid UTF-8 in a string"},         /* overlong '/' */
		{"\xc1\xa2", "invalid UTF-8 in a string"},         /* overlong '"' */
		{"\xe0\x80\xaf", "invalid UTF-8 in a string"},     /* overlong, 3 bytes */
		{"\xed\xa0\x80", "invalid UTF-8 in a string"},     /* surrogate D800 */
		{"\xf4\x90\x80\x80", "invalid UTF-8 in a string"}, /* U+110000 */
		{"\xff", "invalid UTF-8 in a string"},
		{"\x80", "invalid UTF-8 in a string"},             /* a lone continuation */
		{"\xe2\x82", "invalid UTF-8 in a string"},         /* cut short */
		{"\\u0000", "\\u0000 in a string"},
		{"\\ud800", "unpaired surrogate"},
		{"\\udc00", "unpaired surrogate"},
		{"\\ud800\\u0041", "unpaired surrogate"},
		{"\x01", "control character in a string"},
		{"\\x41", "invalid escape"},
	};
	static const char *const where[][2] = {
		{"\"Fresh\"", "\"Fr%ssh\""},                         /* a data value */
		{"\"pour\"", "\"po%sur\""},                          /* a child row's value */
		{"\"foreman\"", "\"fore%sman\""},                    /* a column name */
		{"\"lines\"", "\"li%snes\""},                        /* a child name */
		{"\"Brigade\"", "\"Bri%sgade\""},                    /* type */
		{"\"7d0c6a52-4b1e-4c3a-9e55-0000000000f0\"", "\"7d0c%s\""}, /* uuid */
		{"\"2026-11-25T09:29:57.001Z\"", "\"2026%s\""},      /* updated_at */
		{"\"2026-11-25T09:30:00.123Z\"", "\"2026%s\""},      /* created_at */
		{"\"5b0e7a3c-8a5b-4c1e-9f00-00000000000a\"", "\"5b0e%s\""}, /* message_id */
		{"\"DESKTOP-1\"", "\"DESKTOP%s-1\""},                /* sender_code */
		{"\"body\"", "\"x%sx\":1,\"body\""},                 /* an unknown member's name */
	};
	size_t i, j;

	stage();
	for (i = 0; i < N(where); i++)
		for (j = 0; j < N(bad); j++) {
			const edit e = {where[i][0], hstr(where[i][1], bad[j][0]), bad[j][1]};

			refuse_edits(hstr("utf8-%zu", i), &e, 1);
		}
}

/*
 * Catches: a member of the wrong JSON type taken for something else (a
 * number for a string, an object for an array, null for anything), in the
 * header, the body, an entity, data, children and child rows.
 */
Test(hostile, wrong_types_anywhere_in_the_envelope_are_refused)
{
	const edit e[] = {
		{"{\"header\":" HEADER, "{\"header\":[]", "header: must be an object"},
		{"{\"header\":" HEADER, "{\"header\":null", "header: must be an object"},
		{"{\"header\":" HEADER, "{\"header\":\"x\"", "header: must be an object"},
		{"\"message_id\":\"5b0e7a3c-8a5b-4c1e-9f00-00000000000a\"", "\"message_id\":7",
		 "\"message_id\" is missing or not a string"},
		{"\"schema_version\":\"1.0.0\"", "\"schema_version\":1.0",
		 "\"schema_version\" is missing or not a string"},
		{"\"sender_code\":\"DESKTOP-1\"", "\"sender_code\":null",
		 "\"sender_code\" is missing or not a string"},
		{"\"sender_code\":\"DESKTOP-1\"", "\"sender_code\":[\"DESKTOP-1\"]",
		 "\"sender_code\" is missing or not a string"},
		{"\"recipient_code\":\"CENTER\"", "\"recipient_code\":{\"code\":\"CENTER\"}",
		 "\"recipient_code\" is missing or not a string"},
		{"\"packet_no\":2", "\"packet_no\":\"2\"", "\"packet_no\" is missing or not a number"},
		{"\"packet_no\":2", "\"packet_no\":true", "\"packet_no\" is missing or not a number"},
		{"\"ack_packet_no\":0", "\"ack_packet_no\":null", "\"ack_packet_no\" is missing or not a number"},
		{"\"created_at\":\"2026-11-25T09:30:00.123Z\"", "\"created_at\":1764063000",
		 "\"created_at\" is missing or not a string"},
		{",\"created_at\":\"2026-11-25T09:30:00.123Z\"", "", "\"created_at\" is missing or not a string"},
		{"\"body\":{\"entities\":[", "\"body\":[[", "body: expected '{'"},
		{"\"body\":{\"entities\":[", "\"body\":{\"entities\":{\"0\":",
		 "body: expected '['"},
		{"\"body\":{\"entities\":[", "\"body\":{\"entities\":null,\"x\":[", "body: expected '['"},
		{"\"body\":{\"entities\":[\n", "\"body\":{\"entities\":[\"Brigade\",", "must be an object"},
		{"\"body\":{\"entities\":[\n", "\"body\":{\"entities\":[[],", "must be an object"},
		{"\"body\":{\"entities\":[\n", "\"body\":{\"entities\":[null,", "must be an object"},
		{"\"type\":\"Brigade\"", "\"type\":1", "\"type\" must be a non-empty string"},
		{"\"type\":\"Brigade\"", "\"type\":[\"Brigade\"]",
		 "\"type\" must be a non-empty string"},
		{"\"type\":\"Brigade\",", "", "\"type\" must be a non-empty string"},
		{"\"uuid\":\"7d0c6a52-4b1e-4c3a-9e55-0000000000f0\"", "\"uuid\":42",
		 "\"uuid\" must be a string"},
		{"\"uuid\":\"7d0c6a52-4b1e-4c3a-9e55-0000000000f0\"",
		 hstr("\"uuid\":\"%065d\"", 0), "\"uuid\" must be a string of 1 to 64 bytes"},
		{"\"operation\":\"INSERT\"", "\"operation\":\"insert\"", "\"operation\" must be INSERT, UPDATE, DELETE or EVICT"},
		{"\"operation\":\"INSERT\"", "\"operation\":\"UPSERT\"", "\"operation\" must be"},
		{"\"operation\":\"INSERT\"", "\"operation\":1", "\"operation\" must be"},
		{"\"operation\":\"INSERT\"", "\"operation\":null", "\"operation\" must be"},
		{"\"updated_at\":\"2026-11-25T09:29:57.001Z\"", "\"updated_at\":1764063000",
		 "\"updated_at\" must be a string or null"},
		{"\"updated_at\":\"2026-11-25T09:29:57.001Z\"", "\"updated_at\":{}",
		 "\"updated_at\" must be a string or null"},
		{"\"data\":{\"name\":\"Fresh\"", "\"data\":\"Fresh\",\"x\":{\"name\":\"Fresh\"",
		 "\"data\" must be an object for INSERT and UPDATE"},
		{"\"data\":" BRIGADE_DATA, "\"data\":[" BRIGADE_DATA "]", "\"data\" must be an object"},
		{"\"data\":" BRIGADE_DATA, "\"data\":3", "\"data\" must be an object"},
		{"\"data\":{\"name\":\"Fresh\"", "\"data\":null,\"x\":{\"name\":\"Fresh\"",
		 "\"data\" must be an object"},
		{"\"operation\":\"INSERT\"", "\"operation\":\"DELETE\"", "\"data\" must be null for DELETE and EVICT"},
		{"\"name\":\"Fresh\"", "\"name\":{\"text\":\"Fresh\"}",
		 "column \"name\": an object or array is not a column value"},
		{"\"name\":\"Fresh\"", "\"name\":[\"Fresh\"]", "an object or array is not a column value"},
		{"\"comment\":\"pour\"", "\"comment\":[]", "an object or array is not a column value"},
		{"\"lines\":[" LINE_ROW "]", "\"lines\":{\"0\":" LINE_ROW "}",
		 "child \"lines\" must be an array of rows"},
		{"\"lines\":[" LINE_ROW "]", "\"lines\":\"x\"", "child \"lines\" must be an array of rows"},
		{"\"lines\":[" LINE_ROW "]", "\"lines\":null", "child \"lines\" must be an array of rows"},
		{"\"lines\":[" LINE_ROW "]", "\"lines\":" LINE_ROW, "child \"lines\" must be an array of rows"},
		{"\"lines\":[{", "\"lines\":[7,{", "each row must be an object with a \"uuid\""},
		{"\"lines\":[{", "\"lines\":[[],{", "each row must be an object with a \"uuid\""},
		{"\"lines\":[{", "\"lines\":[\"" LINE_UUID "\",{", "each row must be an object"},
		{"\"uuid\":\"" LINE_UUID "\"", "\"uuid\":7", "each row must be an object with a \"uuid\""},
		{"\"uuid\":\"" LINE_UUID "\"", "\"uuid\":null", "each row must be an object with a \"uuid\""},
		{"\"uuid\":\"" LINE_UUID "\",", "", "each row must be an object with a \"uuid\""},
	};

	stage();
	refuse_edits("type", e, N(e));
}

/*
 * Catches: an entity type resolved loosely (by table name, by case, a child
 * table standing on its own) instead of exactly as the plan names it: a
 * packet must not reach a table the plan does not offer under that name.
 */
Test(hostile, unknown_entity_types_are_refused)
{
	const edit e[] = {
		{"\"Brigade\"", "\"Ghost\"", "unknown entity type \"Ghost\""},
		{"\"Brigade\"", "\"brigades\"", "unknown entity type \"brigades\""},
		{"\"Brigade\"", "\"brigade\"", "unknown entity type"},
		{"\"Brigade\"", "\"BRIGADE\"", "unknown entity type"},
		{"\"Brigade\"", "\"Brigade \"", "unknown entity type"},
		{"\"Brigade\"", "\"sync_nodes\"", "unknown entity type \"sync_nodes\""},
		{"\"Brigade\"", "\"lines\"", "unknown entity type \"lines\""},
		{"\"Brigade\"", "\"daily_report_lines\"", "unknown entity type"},
		{"\"Brigade\"", "\"\"", "\"type\" must be a non-empty string"},
		{"\"DailyReport\"", "\"Ghost\"", "entity 2"},
	};

	stage();
	refuse_edits("type", e, N(e));
}

/*
 * Catches: data members taken as column names without a look at the
 * catalogue: names the table lacks, the local primary key (which never
 * travels), the sync columns (which travel in the entity's own members),
 * near-misses by case or space, in data and in child rows.
 */
Test(hostile, unknown_columns_are_refused)
{
	const edit e[] = {
		{"\"foreman\":null", "\"no_such\":null", "table \"brigades\" has no column \"no_such\""},
		{"\"foreman\":null", "\"id\":7", "has no column \"id\""},
		{"\"foreman\":null", "\"uuid\":\"7d0c6a52-4b1e-4c3a-9e55-0000000000ff\"", "has no column \"uuid\""},
		{"\"foreman\":null", "\"updated_at\":\"2030-01-01T00:00:00.000Z\"", "has no column \"updated_at\""},
		{"\"foreman\":null", "\"is_deleted\":true", "has no column \"is_deleted\""},
		{"\"foreman\":null", "\"FOREMAN\":null", "has no column \"FOREMAN\""},
		{"\"foreman\":null", "\"foreman \":null", "has no column \"foreman \""},
		{"\"foreman\":null", "\"\":null", "has no column \"\""},
		{"\"foreman\":null", "\"tableoid\":null", "has no column \"tableoid\""},
		{"\"foreman\":null", "\"rowid\":1", "has no column \"rowid\""},
		{"\"comment\":\"pour\"", "\"no_such\":\"pour\"", "table \"daily_report_lines\" has no column"},
		{"\"comment\":\"pour\"", "\"id\":1", "table \"daily_report_lines\" has no column \"id\""},
		{"\"comment\":\"pour\"", "\"lines\":[]", "table \"daily_report_lines\" has no column \"lines\""},
	};

	stage();
	refuse_edits("column", e, N(e));
}

/*
 * A child row names no parent: it belongs to the entity whose data carries
 * it. Catches: a child row that carries the link column itself and so
 * lands under another parent (an existing report of the center's, or one
 * that does not exist), children under a name the plan does not have or
 * on an entity without children, and children given twice.
 */
Test(hostile, child_rows_for_another_or_missing_parent_are_refused)
{
	edit e[] = {
		{"\"comment\":\"pour\"", NULL, "has no column \"report_uuid\""},
		{"\"comment\":\"pour\"", "\"report_uuid\":\"7d0c6a52-4b1e-4c3a-9e55-0000000000ee\"",
		 "has no column \"report_uuid\""},
		{"\"comment\":\"pour\"", "\"report_uuid\":\"" FRESH_UUID "\"", "has no column \"report_uuid\""},
		{"\"comment\":\"pour\"", "\"report_uuid\":null", "has no column \"report_uuid\""},
		{"\"lines\":[", "\"items\":[", "table \"daily_reports\" has no column \"items\""},
		{"\"lines\":[", "\"daily_report_lines\":[", "has no column \"daily_report_lines\""},
		{"\"foreman\":null", "\"lines\":[{\"uuid\":\"" LINE_UUID "\"}]",
		 "table \"brigades\" has no column \"lines\""},
		{"\"weather\":null,", "\"lines\":[],", "\"lines\" is given twice"},
	};

	stage();
	e[0].repl = hstr("\"report_uuid\":\"%s\"", report);
	refuse_edits("child", e, N(e));
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '%s'",
			     report), 1, "the center's report lost or gained a line");
}

/*
 * Catches: a column given twice in one object, where SQLite would keep one
 * of the two values (which one is the parser's whim) and PostgreSQL would
 * fail the statement.
 */
Test(hostile, column_given_twice_is_refused)
{
	const edit e[] = {
		{"\"foreman\":null", "\"name\":\"Other\"", "table \"brigades\": \"name\" is given twice"},
		{"\"comment\":\"pour\"", "\"comment\":\"other\",\"comment\":\"pour\"",
		 "table \"daily_report_lines\": \"comment\" is given twice"},
		{"\"comment\":\"pour\"", "\"uuid\":\"" LINE_UUID "\"", "\"uuid\" is given twice"},
		{"\"type\":\"Brigade\"", "\"type\":\"Brigade\",\"type\":\"Brigade\"",
		 "\"type\" appears twice"},
		{"\"packet_no\":2", "\"packet_no\":2,\"packet_no\":2", "\"packet_no\" appears twice"},
	};

	stage();
	refuse_edits("twice", e, N(e));
}

/*
 * Catches: a packet of another plan's major version applied column by
 * column as if it were this one's, and a version the reader cannot parse.
 * A minor version apart is the same plan and goes through.
 */
Test(hostile, schema_version_of_another_major_is_refused)
{
	const edit e[] = {
		{"\"1.0.0\"", "\"2.0.0\"", "schema_version 2.0.0 does not match this node's plan (1.0.0)"},
		{"\"1.0.0\"", "\"0.9.9\"", "does not match this node's plan"},
		{"\"1.0.0\"", "\"11.0.0\"", "does not match this node's plan"},
		{"\"1.0.0\"", "\"1.0\"", "\"schema_version\" is not MAJOR.MINOR.PATCH"},
		{"\"1.0.0\"", "\"v1.0.0\"", "\"schema_version\" is not MAJOR.MINOR.PATCH"},
		{"\"1.0.0\"", "\"1.0.0-rc1\"", "\"schema_version\" is not MAJOR.MINOR.PATCH"},
		{"\"1.0.0\"", "\"\"", "\"schema_version\" is not MAJOR.MINOR.PATCH"},
		{"\"1.0.0\"", "\"99999999999999999999.0.0\"", "does not match"},
	};

	stage();
	refuse_edits("version", e, N(e));
	expect_applied_here(signed_packet("minor.zip", swap(good_message(), "\"1.0.0\"", "\"1.7.3\"")),
			    "a packet of plan 1.7.3");
}

/*
 * Catches: a message that passes a packet's control characters on (an
 * escape sequence rewriting the operator's terminal, a newline forging a
 * line of the log).
 */
Test(hostile, messages_carry_no_control_characters_from_the_packet)
{
	const edit e[] = {
		{"\"Brigade\"", "\"\\u001b]0;owned\\u0007\\u001b[2J\"", "unknown entity type"},
		{"\"Brigade\"", "\"Ghost\\nrefused pkt_OTHER.zip: forged\"", "unknown entity type"},
		{"\"Brigade\"", "\"\\u009b2J\\u0085\"", "unknown entity type"},
		{"\"foreman\":null", "\"\\u001b[31mred\\r\":null", "has no column"},
		{"\"comment\":\"pour\"", "\"\\n\\r\\t\\u007f\":1", "has no column"},
	};

	stage();
	refuse_edits("control", e, N(e));
}

/*
 * Catches: an inspect that shows a packet's strings as they came (import
 * scrubbed its messages, inspect printed entity types raw), in either form
 * of its report: text and JSON print the report's strings.
 */
Test(hostile, inspect_shows_no_control_characters_from_the_packet)
{
	static const char *const types[] = {
		"\"\\u001b]0;owned\\u0007\\u001b[2J\"", "\"\\u009b2J\\u0085\"", "\"Ghost\\nforged line\"",
	};
	size_t i, k;

	stage();
	for (i = 0; i < N(types); i++) {
		const char *path = signed_packet(hstr("inspect-%zu.zip", i),
						 swap(good_message(), "\"Brigade\"", types[i]));
		xchg_inspect_report *rep = NULL;
		xchg_err err = {0};

		cr_assert_eq(xchg_inspect(C->db, path, &rep, &err), XCHG_OK, "%s: %s", types[i], err.msg);
		for (k = 0; k < rep->ncounts; k++) {
			cr_assert(printable_text(rep->counts[k].entity_type), "%s: shown as %s", types[i],
				  rep->counts[k].entity_type);
			cr_assert(printable_text(rep->counts[k].operation));
		}
		cr_assert(printable_text(rep->sender) && printable_text(rep->created_at) &&
			  printable_text(rep->schema_version) && printable_text(rep->message_id));
		xchg_inspect_free(rep);
	}
}

/*
 * Catches: a sanitizer that lets through what a terminal acts on (C0, DEL,
 * C1 in UTF-8, a stray byte that a terminal in an 8-bit locale reads as
 * C1), or that mangles text people write (Cyrillic, a four-byte emoji).
 */
Test(hostile, the_one_sanitizer_keeps_text_and_drops_what_a_terminal_obeys)
{
	static const struct {
		const char *in, *out;
	} cases[] = {
		{"\x1b]0;owned\x07", "?]0;owned?"},
		{"a\nb\r\tc\x7f", "a?b??c?"},
		{"\xc2\x9b" "2J \xc2\x85", "?2J ?"},
		{"\x9b" "2J", "?2J"},
		{"\xd0\x91\xd1\x80\xd0\xb8\xd0\xb3\xd0\xb0\xd0\xb4\xd0\xb0", "\xd0\x91\xd1\x80\xd0\xb8\xd0\xb3\xd0\xb0\xd0\xb4\xd0\xb0"},
		{"\xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80", "\xc2\xa0\xe2\x82\xac\xf0\x9f\x98\x80"},
		{"\xc0\x80", "??"},             /* an overlong NUL */
		{"\xed\xa0\x80", "???"},        /* a surrogate */
		{"\xf4\x90\x80\x80", "????"},  /* past U+10FFFF */
		{"cut \xd0", "cut ?"},            /* a sequence cut short, as %.80s may cut one */
		{"", ""},
	};
	char buf[64];
	size_t i;

	for (i = 0; i < N(cases); i++) {
		snprintf(buf, sizeof(buf), "%s", cases[i].in);
		cr_expect_str_eq(xchg_scrub(buf), cases[i].out, "case %zu", i);
	}
	cr_expect_null(xchg_scrub(NULL));
}

/* ---- SQL injection ------------------------------------------------------ */

static const char *const payloads[] = {
	"'); DROP TABLE brigades; --",
	"\" OR 1=1 --",
	"x'||(SELECT count(*) FROM sync_nodes)||'",
	"'; DELETE FROM sync_changes; --",
	"name\" = 'x'; --",
	"brigades\"; DROP TABLE \"brigades",
	"1' OR '1'='1",
	"\\'; DROP TABLE sync_nodes; --",
	"Robert'); DROP TABLE daily_report_lines;--",
	"x\"); UPDATE sync_nodes SET public_key = NULL; --",
	"? $1 $2 :name @p",
	"%s%s%s%n%x",
	"*/ DROP TABLE estimates; /*",
	"$$; DROP TABLE works; $$",
	"x\" = excluded.\"name",
};

/* Every string field of the envelope that reaches the importer. */
enum field {
	F_MESSAGE_ID, F_CREATED_AT, F_SCHEMA_VERSION, F_SENDER, F_RECIPIENT, F_SENDER_ID,
	F_RECIPIENT_ID,
	F_ENTITY_TYPE, F_ENTITY_UUID, F_OPERATION, F_UPDATED_AT, F_DATA_KEY,
	F_DATA_VALUE, F_CHILD_KEY, F_CHILD_ROW_KEY, F_CHILD_ROW_VALUE, F_CHILD_ROW_UUID,
	F_COUNT
};

/* What the importer must do with an injection in a field. */
enum fate {
	STORED,        /* a value: it lands verbatim as data */
	STORED_TYPED,  /* a value kept verbatim in SQLite's text column; a PostgreSQL
			* column of type uuid or timestamptz fails the packet instead */
	IGNORED,       /* read, checked for form, not stored */
	REFUSED        /* not a name this node knows, or not of the format */
};

static const struct {
	const char *name;
	enum fate fate;
	const char *because; /* REFUSED */
} fields[F_COUNT] = {
	[F_MESSAGE_ID] = {"message_id", IGNORED, NULL},
	[F_CREATED_AT] = {"created_at", IGNORED, NULL},
	[F_SCHEMA_VERSION] = {"schema_version", REFUSED, "\"schema_version\" is not MAJOR.MINOR.PATCH"},
	[F_SENDER] = {"sender_code", REFUSED, "\"sender_code\" is not a valid node code"},
	[F_RECIPIENT] = {"recipient_code", REFUSED, "\"recipient_code\" is not a valid node code"},
	[F_SENDER_ID] = {"sender_node_id", REFUSED, "\"sender_node_id\" is not a node id"},
	[F_RECIPIENT_ID] = {"recipient_node_id", REFUSED, "\"recipient_node_id\" is not a node id"},
	[F_ENTITY_TYPE] = {"type", REFUSED, "unknown entity type"},
	[F_ENTITY_UUID] = {"uuid", STORED_TYPED, NULL},
	[F_OPERATION] = {"operation", REFUSED, "\"operation\" must be INSERT, UPDATE, DELETE or EVICT"},
	[F_UPDATED_AT] = {"updated_at", STORED_TYPED, NULL},
	[F_DATA_KEY] = {"a data key", REFUSED, "table \"daily_reports\" has no column"},
	[F_DATA_VALUE] = {"a data value", STORED, NULL},
	[F_CHILD_KEY] = {"a child key", REFUSED, "table \"daily_reports\" has no column"},
	[F_CHILD_ROW_KEY] = {"a child row's key", REFUSED, "table \"daily_report_lines\" has no column"},
	[F_CHILD_ROW_VALUE] = {"a child row's value", STORED, NULL},
	[F_CHILD_ROW_UUID] = {"a child row's uuid", STORED_TYPED, NULL},
};

#define AT_OK "2026-11-25T09:29:58.001Z"

/* Packet no with p in field f: one daily report (FRESH_UUID) with one line (LINE_UUID). */
static const char *injected(enum field f, const char *p, int64_t no)
{
	const char *j = jstr(p);
	const char *h = swap(HEADER, "\"packet_no\":2", hstr("\"packet_no\":%lld", (long long)no));
	const char *type = "\"DailyReport\"", *uuid = "\"" FRESH_UUID "\"", *op = "\"INSERT\"";
	const char *at = "\"" AT_OK "\"", *key = "\"notes\"", *val = "\"fine\"";
	const char *ckey = "\"lines\"", *rkey = "\"comment\"", *rval = "\"pour\"";
	const char *ruuid = "\"" LINE_UUID "\"";

	switch (f) {
	case F_MESSAGE_ID: h = swap(h, "\"5b0e7a3c-8a5b-4c1e-9f00-00000000000a\"", j); break;
	case F_CREATED_AT: h = swap(h, "\"2026-11-25T09:30:00.123Z\"", j); break;
	case F_SCHEMA_VERSION: h = swap(h, "\"1.0.0\"", j); break;
	case F_SENDER: h = swap(h, "\"DESKTOP-1\"", j); break;
	case F_RECIPIENT: h = swap(h, "\"CENTER\"", j); break;
	case F_SENDER_ID: h = swap(h, "\"" DESKTOP_ID "\"", j); break;
	case F_RECIPIENT_ID: h = swap(h, "\"" CENTER_ID "\"", j); break;
	case F_ENTITY_TYPE: type = j; break;
	case F_ENTITY_UUID: uuid = j; break;
	case F_OPERATION: op = j; break;
	case F_UPDATED_AT: at = j; break;
	case F_DATA_KEY: key = j; break;
	case F_DATA_VALUE: val = j; break;
	case F_CHILD_KEY: ckey = j; break;
	case F_CHILD_ROW_KEY: rkey = j; break;
	case F_CHILD_ROW_VALUE: rval = j; break;
	case F_CHILD_ROW_UUID: ruuid = j; break;
	default: break;
	}
	return message(h, entity(type, uuid, op, at,
				 hstr("{\"report_date\":\"2026-11-25\",\"author\":\"Sidorov\",%s:%s,"
				      "%s:[{\"uuid\":%s,%s:%s,\"volume\":2.5}]}",
				      key, val, ckey, ruuid, rkey, rval)));
}

/*
 * The packet applied: the one report and its one line arrived with the
 * injected value verbatim where it belongs, and nothing else changed (the
 * center's other rows, every other table, the schema; of sync_nodes only
 * the received number moved).
 */
/*
 * What applying a packet moves besides its rows: the received number, and
 * (through the acknowledgement written back) the sent number and the
 * packet_no of the registrations that acknowledgement carries and the time
 * it was written (sync_sent), the packet received (sync_received), and the
 * capture log, which holds the applied rows for the other peers. The rest of sync_nodes and sync_changes is
 * compared as NODES_SQL and CHANGES_SQL.
 */
#define APPLY_MOVES " daily_reports daily_report_lines sync_nodes sync_changes sync_capture sync_sent sync_received "
#define NODES_SQL "SELECT id, code, role, public_key, acked_packet_no FROM sync_nodes ORDER BY 1"
#define CHANGES_SQL "SELECT id, node_id, entity_type, entity_uuid, operation, changed_at" \
		    " FROM sync_changes ORDER BY 1"

static void expect_stored(enum field f, const char *p, int64_t no, const char *before,
			  const char *nodes_before, const char *changes_before, const char *reports_before,
			  const char *lines_before, const char *what)
{
	const char *uuid = f == F_ENTITY_UUID ? p : FRESH_UUID;
	const char *line = f == F_CHILD_ROW_UUID ? p : LINE_UUID;

	cr_assert_str_eq(snapshot(C, APPLY_MOVES), before, "%s: something else changed", what);
	cr_assert_eq(received_no(C, "DESKTOP-1"), no, "%s: received number", what);
	cr_assert_str_eq(sql_rows(C, NODES_SQL), nodes_before, "%s: sync_nodes changed", what);
	cr_assert_str_eq(sql_rows(C, CHANGES_SQL), changes_before, "%s: sync_changes changed", what);
	cr_assert_str_eq(sql_rows(C, "SELECT * FROM daily_reports WHERE uuid <> '%s' ORDER BY 1",
				  sq(uuid)), reports_before, "%s: another report changed", what);
	cr_assert_str_eq(sql_rows(C, "SELECT * FROM daily_report_lines WHERE uuid <> '%s' ORDER BY 1",
				  sq(line)), lines_before, "%s: another line changed", what);
	cr_assert_str_eq(sql_rows(C, "SELECT notes, author, updated_at FROM daily_reports"
				     " WHERE uuid = '%s'", sq(uuid)),
			 hstr("%s|Sidorov|%s", f == F_DATA_VALUE ? p : "fine",
			      f == F_UPDATED_AT ? p : AT_OK), "%s: the report as stored", what);
	cr_assert_str_eq(sql_rows(C, "SELECT comment, report_uuid FROM daily_report_lines"
				     " WHERE uuid = '%s'", sq(line)),
			 hstr("%s|%s", f == F_CHILD_ROW_VALUE ? p : "pour", uuid),
			 "%s: the line as stored", what);
	/*
	 * The next packet brings this report again: take it out, and its
	 * registration and the capture of its deletion with it, or the center
	 * would see a conflict.
	 */
	sql_exec(C, "DELETE FROM daily_report_lines WHERE report_uuid = '%s'", sq(uuid));
	sql_exec(C, "DELETE FROM daily_reports WHERE uuid = '%s'", sq(uuid));
	sql_exec(C, "DELETE FROM sync_changes WHERE entity_uuid = '%s'", sq(uuid));
	sql_exec(C, "DELETE FROM sync_capture WHERE entity_uuid = '%s'", sq(uuid));
}

/*
 * Catches: any name in SQL taken from a packet (a table, a column, a child)
 * instead of from the plan and the catalogue, and any value spliced into
 * SQL text instead of bound, through every string field of the envelope
 * and a set of classic payloads. Values land verbatim, names the node does
 * not know are refused, and nothing else in the database moves: no table
 * dropped, no row touched.
 */
Test(hostile, sql_injection_through_every_string_field)
{
	int64_t no = 2;
	size_t f, i, stored = 0, refused = 0;

	stage();
	for (f = 0; f < F_COUNT; f++)
		for (i = 0; i < N(payloads); i++) {
			const char *p = payloads[i];
			const char *what = hstr("%s = %s", fields[f].name, p);
			const char *path = signed_packet(hstr("inject-%zu-%zu.zip", f, i),
							 injected((enum field)f, p, no));
			enum fate fate = fields[f].fate;

			if (fate == STORED_TYPED && C->pg) {
				state before = state_of(path);
				const import_log *log = import_paths(C, acks, path, NULL);

				/* Not a uuid or not a time: PostgreSQL's column refuses it, whole. */
				cr_assert_eq(log->n, 1, "%s: %zu events", what, log->n);
				cr_assert_neq(log->ev[0].outcome, XCHG_APPLIED, "%s: applied", what);
				cr_assert_neq(log->rc, XCHG_OK, "%s: import succeeded", what);
				expect_unchanged(&before, path, what);
				refused++;
			} else if (fate == REFUSED) {
				expect_refused(path, fields[f].because, what);
				refused++;
			} else {
				const char *before = snapshot(C, APPLY_MOVES);
				const char *changes = sql_rows(C, CHANGES_SQL);
				const char *reports = sql_rows(C, "SELECT * FROM daily_reports ORDER BY 1");
				const char *lines = sql_rows(C, "SELECT * FROM daily_report_lines ORDER BY 1");
				const char *nodes = sql_rows(C, NODES_SQL);

				expect_applied(import_paths(C, acks, path, NULL), what);
				expect_stored((enum field)f, p, no++, before, nodes, changes, reports, lines,
					      what);
				stored++;
			}
		}
	cr_log_info("%zu injections stored as data, %zu refused", stored, refused);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE name = 'Roofers'"), 1);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_nodes WHERE public_key IS NOT NULL"), 2);
}
