/*
 * This node's Ed25519 key pair. The secret key lives in a file of its own
 * (mode 0600), never in the database or a packet; public keys travel as
 * base64 text on one line.
 */
#ifndef XCHG_KEYS_H
#define XCHG_KEYS_H

#include <sodium.h>

#include "common.h"

#define KEY_TEXT_MAX 64

typedef struct keypair {
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
	unsigned char sk[crypto_sign_SECRETKEYBYTES];
} keypair;

/*
 * Loads the key file. With created non-NULL, a file that does not exist is
 * created instead, and *created says whether that happened.
 */
xchg_status keys_load(const char *path, int *created, keypair *kp, xchg_err *err);
/* Creates folder dir and any missing parent, each mode 0700, for a key file to go in. */
xchg_status keys_make_folder(const char *dir, xchg_err *err);
void keys_wipe(keypair *kp);
void keys_encode_public(const unsigned char *pk, char out[KEY_TEXT_MAX]);
xchg_status keys_decode_public(const char *text, unsigned char *pk, xchg_err *err);

/*
 * A node's key line: "CODE ID KEY", its code, its id (a uuid, the same in
 * every database of the star) and its public key, the one line xchg key
 * prints and xchg node add reads (formats/PACKET.md section 4).
 */
typedef struct key_line {
	char code[65];
	char id[37];
	char key[KEY_TEXT_MAX]; /* the public key in its canonical base64 */
	unsigned char pk[crypto_sign_PUBLICKEYBYTES];
} key_line;

/* Reads a key line; spaces and tabs around and between its fields are forgiven. */
xchg_status keys_line_parse(const char *text, key_line *out, xchg_err *err);
/* The line for code, id and key; NULL when out of memory. */
char *keys_line_format(const char *code, const char *id, const char *key);

/*
 * What people compare when they check a key by phone: the first 16 hex
 * digits of the SHA-256 of its 32 bytes, in groups of 4 ("no valid key" for
 * a key that does not decode).
 */
#define KEY_FINGERPRINT_MAX 20
void keys_fingerprint(const char *key, char out[KEY_FINGERPRINT_MAX]);

/*
 * Key rotation, safe against a stop at any point. keys_rotate writes a new
 * key beside the old one at path (path.new; a leftover there, of a
 * rotation that never committed, is removed first), extends chain with a
 * link the old key signs, and has commit record the new public key and
 * chain, in the database's transaction; only once that committed is the
 * new file renamed over the old. A stop between the two leaves the new key
 * beside the old, where keys_load_named finds it.
 */
typedef xchg_status (*keys_commit_fn)(void *ctx, const char *public_key, const char *chain,
				      xchg_err *err);
xchg_status keys_rotate(const char *path, const char *code, const char *chain, const keypair *old,
			keys_commit_fn commit, void *ctx, char public_key[KEY_TEXT_MAX], xchg_err *err);
/*
 * Loads the key file at path that holds the key named public_key (text;
 * NULL names none): path itself, or the new key a rotation left beside it,
 * which is renamed into place first. *matched is 0 when neither holds it;
 * kp then holds path's key.
 */
xchg_status keys_load_named(const char *path, const char *public_key, keypair *kp, int *matched,
			    xchg_err *err);

/*
 * A node's key chain: a JSON array of links {"previous_key", "public_key",
 * "signature"}, each signed by the previous key, newest last, at most
 * KEY_CHAIN_MAX. Packets carry it so peers can follow a rotation.
 */
#define KEY_CHAIN_MAX 16
/*
 * *out: the key that registered leads to through the chain's links of node
 * code (registered itself when none applies). XCHG_EPACKET for a malformed
 * chain or a link that the key before it did not sign.
 */
xchg_status keys_chain_follow(const char *chain, const char *code, const char *registered,
			      char **out, xchg_err *err);

#endif
