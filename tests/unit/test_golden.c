/*
 * The golden packets in formats/golden/ were written by an earlier xchg of
 * this format version (formats/PACKET.md section 7); every later reader of
 * the version must still read and verify them byte for byte.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envelope.h"
#include "keys.h"
#include "packet.h"

#define GOLDEN "formats/golden/"
#define CENTER_ID "c0000000-0000-4000-8000-000000000001"

static char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	long n;

	cr_assert(f, "cannot open %s", path);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	buf = malloc((size_t)n + 1);
	cr_assert(buf);
	cr_assert_eq(fread(buf, 1, (size_t)n, f), (size_t)n);
	buf[n] = '\0';
	fclose(f);
	*len = (size_t)n;
	return buf;
}

/* The public key of a key line file (CENTER.pub), checking the line's code and id. */
static void public_key(const char *file, unsigned char *pk)
{
	key_line k;
	xchg_err err;
	size_t len;
	char *text = slurp(file, &len);

	cr_assert_eq(keys_line_parse(text, &k, &err), XCHG_OK, "%s: %s", file, err.msg);
	cr_assert_str_eq(k.code, "CENTER");
	cr_assert_str_eq(k.id, CENTER_ID);
	memcpy(pk, k.pk, sizeof(k.pk));
	free(text);
}

Test(golden, packet_reads_verifies_and_matches_its_message)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	packet_reader *pr = NULL;
	env_reader *er = NULL;
	const env_header *h;
	const env_entity *e;
	xbuf got = {0};
	char chunk[4096];
	size_t len, n, entities = 0;
	char *want = slurp(GOLDEN "pkt_CENTER_DESKTOP-1_1.message.json", &len);
	xchg_err err;

	public_key(GOLDEN "CENTER.pub", pk);
	/* The bytes, exactly. */
	cr_assert_eq(packet_reader_open(&pr, GOLDEN "pkt_CENTER_DESKTOP-1_1.zip", &err), XCHG_OK, "%s", err.msg);
	do {
		cr_assert_eq(packet_reader_read(pr, chunk, sizeof(chunk), &n, &err), XCHG_OK, "%s", err.msg);
		xbuf_add(&got, chunk, n);
	} while (n > 0);
	cr_assert_eq(got.len, len);
	cr_assert(memcmp(got.data, want, len) == 0, "message.json differs from the golden copy");
	cr_assert_eq(packet_reader_verify(pr, pk, &err), XCHG_OK, "%s", err.msg);
	packet_reader_free(pr);

	/* The envelope, entity by entity. */
	cr_assert_eq(packet_reader_open(&pr, GOLDEN "pkt_CENTER_DESKTOP-1_1.zip", &err), XCHG_OK);
	cr_assert_eq(env_reader_new(&er, packet_reader_read, pr, "golden", &err), XCHG_OK);
	cr_assert_eq(env_reader_header(er, &h, &err), XCHG_OK, "%s", err.msg);
	cr_assert_str_eq(h->sender, "CENTER");
	cr_assert_str_eq(h->recipient, "DESKTOP-1");
	cr_assert_str_eq(h->sender_id, CENTER_ID);
	cr_assert_str_eq(h->recipient_id, "d0000000-0000-4000-8000-000000000001");
	cr_assert_eq(h->packet_format, 2);
	cr_assert_eq(h->packet_no, 1);
	do
		cr_assert_eq(env_reader_next(er, &e, &err), XCHG_OK, "%s", err.msg);
	while (e && ++entities);
	cr_assert_eq(entities, 6);
	cr_assert_eq(packet_reader_verify(pr, pk, &err), XCHG_OK, "%s", err.msg);
	env_reader_free(er);
	packet_reader_free(pr);
	xbuf_free(&got);
	free(want);
}

static xchg_status read_and_verify(const char *path, const unsigned char *pk, xchg_err *err)
{
	packet_reader *pr = NULL;
	env_reader *er = NULL;
	const env_entity *e = NULL;
	xchg_status rc;

	if (!(rc = packet_reader_open(&pr, path, err)) &&
	    !(rc = env_reader_new(&er, packet_reader_read, pr, path, err))) {
		while (!(rc = env_reader_next(er, &e, err)) && e)
			;
		if (!rc)
			rc = packet_reader_verify(pr, pk, err);
	}
	env_reader_free(er);
	packet_reader_free(pr);
	return rc;
}

Test(golden, packet_signed_by_another_key_is_refused)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	xchg_err err;

	public_key(GOLDEN "CENTER.pub", pk);
	cr_assert_eq(read_and_verify(GOLDEN "bad-signature.zip", pk, &err), XCHG_EPACKET);
	cr_assert(strstr(err.msg, "signature does not verify"), "%s", err.msg);
}

Test(golden, truncated_packet_is_refused)
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	xchg_err err;

	public_key(GOLDEN "CENTER.pub", pk);
	cr_assert_eq(read_and_verify(GOLDEN "bad-truncated.zip", pk, &err), XCHG_EPACKET, "%s", err.msg);
}
