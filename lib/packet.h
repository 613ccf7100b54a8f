/*
 * The packet file: a ZIP archive holding message.json (deflated) followed by
 * message.sig, the detached Ed25519ph signature over message.json's bytes.
 *
 * The writer streams into a hidden temporary file beside the final name and
 * publishes it with rename() only when told to, so a crash never leaves a
 * half-written packet under a name an importer would pick up. The reader
 * streams message.json out and verifies the signature at the end.
 */
#ifndef XCHG_PACKET_H
#define XCHG_PACKET_H

#include <stddef.h>

#include <sodium.h>

#include "common.h"
#include "seal.h"

#define PACKET_MEMBER_MESSAGE "message.json"
#define PACKET_MEMBER_SIGNATURE "message.sig"
/* Refuse a message.json that inflates past this (zip bombs). */
#define PACKET_MAX_MESSAGE_BYTES (4ull * 1024 * 1024 * 1024)
/*
 * And one that inflates past PACKET_MAX_RATIO times the packet file's size,
 * once past PACKET_RATIO_FREE_BYTES (so that a small packet of very
 * repetitive rows is never at risk). Deflate tops out near 1032 to 1.
 */
#define PACKET_MAX_RATIO 200
#define PACKET_RATIO_FREE_BYTES (16ull * 1024 * 1024)

typedef struct packet_writer packet_writer;

/*
 * Creates dir/.name.tmp and opens message.json inside it. sk is the sender's
 * Ed25519 secret key (crypto_sign_SECRETKEYBYTES). The members carry the
 * current time.
 */
xchg_status packet_writer_open(packet_writer **out, const char *dir,
			       const char *name, const unsigned char *sk,
			       xchg_err *err);
/*
 * The same, with the members stamped mtime (the packet's created_at), and
 * sealed to recipient_pk (Ed25519, crypto_sign_PUBLICKEYBYTES) as
 * formats/PACKET.md section 8 says; NULL writes a plain packet. The ZIP is
 * encrypted on its way to the temp file and never touches the disk in the
 * clear.
 */
xchg_status packet_writer_open_sealed(packet_writer **out, const char *dir,
				      const char *name, const unsigned char *sk,
				      const unsigned char *recipient_pk, time_t mtime,
				      xchg_err *err);
/* Appends bytes to message.json; an env_sink_fn. */
xchg_status packet_writer_write(void *w, const void *data, size_t len,
				xchg_err *err);
/* Signs, writes message.sig, closes the archive and fsyncs the temp file. */
xchg_status packet_writer_finish(packet_writer *w, xchg_err *err);
/* Renames the temp file to dir/name and fsyncs dir. */
xchg_status packet_writer_publish(packet_writer *w, xchg_err *err);
/* The final path (dir/name); owned by the writer. */
const char *packet_writer_path(const packet_writer *w);
/* Removes the temp file unless published. */
void packet_writer_free(packet_writer *w);

typedef struct packet_reader packet_reader;

/*
 * Opens the archive; its first member must be message.json. A sealed packet
 * is refused, naming the key it is sealed to: open it with the next one.
 */
xchg_status packet_reader_open(packet_reader **out, const char *path,
			       xchg_err *err);
/*
 * The same, and a sealed packet (recognized by its magic, not its name) is
 * opened with the secret key that key supplies, called only for a sealed
 * one. Sealed to another key, altered or cut short: XCHG_EPACKET.
 */
xchg_status packet_reader_open_keyed(packet_reader **out, const char *path,
				     seal_key_fn key, void *key_ctx, xchg_err *err);
/* 1 when the packet was sealed (and opened with this node's key). */
int packet_reader_sealed(const packet_reader *r);
/* Reads from message.json; an env_source_fn. */
xchg_status packet_reader_read(void *r, void *buf, size_t cap, size_t *got,
			       xchg_err *err);
/*
 * Reads whatever is left of message.json, then message.sig, checks that
 * nothing else follows, and verifies the signature against pk
 * (crypto_sign_PUBLICKEYBYTES). XCHG_EPACKET when it does not verify.
 */
xchg_status packet_reader_verify(packet_reader *r, const unsigned char *pk,
				 xchg_err *err);
/* How much of the message is read, of its size as the archive says (0 if it does not). */
void packet_reader_progress(const packet_reader *r, uint64_t *read, uint64_t *size);
const char *packet_reader_path(const packet_reader *r);
void packet_reader_free(packet_reader *r);

#endif
