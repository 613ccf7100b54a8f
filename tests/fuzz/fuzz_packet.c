/*
 * Fuzz target: the packet reader (lib/packet.c), driven the way an import
 * drives it. The input is a packet file, plain or sealed: it is opened as
 * DESKTOP-1 (whose key opens a sealed one), message.json is streamed through
 * the envelope reader (header, then every entity), and the signature is
 * checked against the golden CENTER key, whether or not the envelope read to
 * its end.
 *
 * The reader takes a path, so the input lives in a memfd and is opened by its
 * /proc/self/fd name: a regular, seekable file that touches no disk and is
 * never left behind by a crash.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "envelope.h"
#include "keys.h"
#include "packet.h"

/* formats/golden/CENTER.pub: the key the golden packet verifies against. */
#define CENTER_PUB "Ivwpd5Lwtv/Av8/bftsMCqFOAlo2XsDjQuhuOCnLdLY="
/* DESKTOP-1's key pair comes from this seed byte (formats/PACKET.md section 7). */
#define DESKTOP_SEED 0x44

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int fd = -1;
static char path[64];
static unsigned char center_pk[crypto_sign_PUBLICKEYBYTES];
static unsigned char desktop_pk[crypto_sign_PUBLICKEYBYTES];
static unsigned char desktop_sk[crypto_sign_SECRETKEYBYTES];

static xchg_status desktop_key(void *ctx, const unsigned char **sk, xchg_err *err)
{
	(void)ctx;
	(void)err;
	*sk = desktop_sk;
	return XCHG_OK;
}

static void setup(void)
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	xchg_err err;

	if (fd >= 0)
		return;
	memset(seed, DESKTOP_SEED, sizeof(seed));
	if (sodium_init() < 0 ||
	    crypto_sign_seed_keypair(desktop_pk, desktop_sk, seed) != 0 ||
	    (fd = memfd_create("fuzz_packet", MFD_CLOEXEC)) < 0 ||
	    keys_decode_public(CENTER_PUB, center_pk, &err) != XCHG_OK)
		abort();
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
}

static void put_input(const uint8_t *data, size_t size)
{
	size_t done = 0;
	ssize_t n;

	if (ftruncate(fd, 0) != 0)
		abort();
	while (done < size) {
		if ((n = pwrite(fd, data + done, size - done, (off_t)done)) <= 0)
			abort();
		done += (size_t)n;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	packet_reader *pr = NULL;
	env_reader *er = NULL;
	const env_header *h;
	const env_entity *e;
	xchg_err err;

	setup();
	put_input(data, size);
	if (packet_reader_open_keyed(&pr, path, desktop_key, NULL, &err) != XCHG_OK)
		goto done;
	if (env_reader_new(&er, packet_reader_read, pr, "fuzz.zip", &err) == XCHG_OK &&
	    env_reader_header(er, &h, &err) == XCHG_OK)
		while (env_reader_next(er, &e, &err) == XCHG_OK && e)
			;
	packet_reader_verify(pr, center_pk, &err);
done:
	env_reader_free(er);
	packet_reader_free(pr);
	return 0;
}
