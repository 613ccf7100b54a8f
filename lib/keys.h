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

/* Loads the key file, or creates it when it does not exist and create is set. */
xchg_status keys_load(const char *path, int create, keypair *kp, xchg_err *err);
void keys_wipe(keypair *kp);
void keys_encode_public(const unsigned char *pk, char out[KEY_TEXT_MAX]);
xchg_status keys_decode_public(const char *text, unsigned char *pk, xchg_err *err);

#endif
