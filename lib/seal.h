/*
 * The sealed packet (formats/PACKET.md section 8): a packet file encrypted to
 * its recipient's key, for couriers that others can read (e-mail, a USB
 * stick). The plaintext is the ordinary signed ZIP, byte for byte; sealing
 * is a layer below libarchive, so the ZIP never exists unencrypted on disk.
 *
 * A sealed file is a header (a magic line, the recipient's Ed25519 public
 * key, a random payload key sealed to it with crypto_box_seal) followed by
 * the payload in chunks of SEAL_CHUNK bytes, each encrypted on its own with
 * ChaCha20-Poly1305 under the payload key, its number and a "last" flag in
 * the nonce (the STREAM construction, as in age). Independent chunks let
 * the reader seek, so the seekable ZIP reader, with all its checks, reads a
 * sealed packet exactly as it reads a plain one; memory stays at two chunks
 * whatever the size.
 */
#ifndef XCHG_SEAL_H
#define XCHG_SEAL_H

#include <stddef.h>
#include <stdint.h>

#include <sodium.h>

#include "common.h"

struct archive;

/* The first line of every sealed file; the number is the format's version. */
#define SEAL_MAGIC "xchg-sealed-packet/1\n"
#define SEAL_MAGIC_LEN (sizeof(SEAL_MAGIC) - 1)
/* What every version's magic starts with: how a reader recognizes one. */
#define SEAL_MAGIC_PREFIX "xchg-sealed-packet/"
#define SEAL_MAGIC_PREFIX_LEN (sizeof(SEAL_MAGIC_PREFIX) - 1)
#define SEAL_KEY_BYTES crypto_aead_chacha20poly1305_ietf_KEYBYTES
#define SEAL_SEALED_KEY_BYTES (crypto_box_SEALBYTES + SEAL_KEY_BYTES)
/* magic, recipient's Ed25519 public key, sealed payload key: 133 bytes */
#define SEAL_HEADER_BYTES (SEAL_MAGIC_LEN + crypto_sign_PUBLICKEYBYTES + SEAL_SEALED_KEY_BYTES)
/* Payload bytes per chunk; each chunk carries a tag of SEAL_TAG_BYTES more. */
#define SEAL_CHUNK 65536
#define SEAL_TAG_BYTES crypto_aead_chacha20poly1305_ietf_ABYTES
/* The file name suffix a sealed packet gets after the plain name. */
#define SEAL_SUFFIX ".sealed"

/*
 * Where the ciphertext goes. It cannot fail: the packet writer records a
 * failed write itself and looks at it after every call (see writer_out in
 * packet.c).
 */
typedef void (*seal_out_fn)(void *ctx, const void *data, size_t len);

typedef struct seal_writer seal_writer;

/*
 * Starts a sealed stream to recipient_pk (Ed25519, crypto_sign_PUBLICKEYBYTES)
 * and emits its header. what names the file in messages. XCHG_EUSAGE when
 * the key cannot receive sealed packets (not a valid Ed25519 point).
 */
xchg_status seal_writer_new(seal_writer **out, const unsigned char *recipient_pk,
			    seal_out_fn emit, void *ctx, const char *what, xchg_err *err);
/* Encrypts and emits every complete chunk; keeps the rest for the next call. */
void seal_writer_write(seal_writer *s, const void *data, size_t len);
/* Emits what is left as the last chunk. Nothing may be written after it. */
void seal_writer_finish(seal_writer *s);
void seal_writer_free(seal_writer *s);

/* 1 when head (the first len bytes of a file, len >= 1) starts a sealed file. */
int seal_sniff(const void *head, size_t len);

/*
 * Supplies this node's Ed25519 secret key (crypto_sign_SECRETKEYBYTES) when a
 * sealed packet is to be opened: called at most once per packet, and only for
 * a sealed one, so reading plain packets never touches the key file. *sk
 * must stay valid until the packet is closed.
 */
typedef xchg_status (*seal_key_fn)(void *ctx, const unsigned char **sk, xchg_err *err);

typedef struct seal_reader seal_reader;

/*
 * Reads the header of the sealed file open on fd (the caller keeps the fd),
 * opens the payload key with sk and authenticates the last chunk, so that a
 * file sealed to another key, altered or cut short anywhere is refused here
 * (XCHG_EPACKET, "path: reason"). sk NULL: refused, naming the recipient key.
 */
xchg_status seal_reader_open(seal_reader **out, int fd, const char *path,
			     const unsigned char *sk, xchg_err *err);
/*
 * Opens archive a (formats and options already set) on the payload: reads,
 * seeks and skips come from here, each chunk authenticated before libarchive
 * sees a byte of it. Returns libarchive's status; a chunk that does not
 * authenticate is its error string.
 */
int seal_reader_open_archive(seal_reader *s, struct archive *a);
/* Why a chunk did not authenticate or could not be read; NULL while none has failed. */
const char *seal_reader_failure(const seal_reader *s);
/* The payload's size in bytes. */
uint64_t seal_reader_size(const seal_reader *s);
void seal_reader_free(seal_reader *s);

/*
 * Looks at the start of the file at path without opening the seal: *sealed
 * is 1 for a sealed file, and then recipient_pk (crypto_sign_PUBLICKEYBYTES)
 * holds the key it says it is sealed to, or zeros when the header is cut
 * short. Unauthenticated: good for choosing which files to open, not for
 * trusting them.
 */
xchg_status seal_peek(const char *path, int *sealed, unsigned char *recipient_pk,
		      xchg_err *err);

#endif
