#include "keys.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define KEY_FILE_PREFIX "xchg-ed25519-secret:"

static xchg_status keys_create(const char *path, keypair *kp, xchg_err *err)
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	char text[sizeof(KEY_FILE_PREFIX) + KEY_TEXT_MAX + 2];
	size_t len;
	int fd;
	xchg_status rc = XCHG_OK;

	randombytes_buf(seed, sizeof(seed));
	crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
	memcpy(text, KEY_FILE_PREFIX, sizeof(KEY_FILE_PREFIX) - 1);
	sodium_bin2base64(text + sizeof(KEY_FILE_PREFIX) - 1, KEY_TEXT_MAX, seed,
			  sizeof(seed), sodium_base64_VARIANT_ORIGINAL);
	strcat(text, "\n");
	len = strlen(text);
	/* O_EXCL: never overwrite a key that peers already trust. */
	if ((fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0)
		rc = xerr(err, XCHG_EIO, "%s: cannot create key file: %s", path, strerror(errno));
	else if (write(fd, text, len) != (ssize_t)len || fsync(fd) != 0)
		rc = xerr(err, XCHG_EIO, "%s: cannot write key file: %s", path, strerror(errno));
	if (fd >= 0 && close(fd) != 0 && !rc)
		rc = xerr(err, XCHG_EIO, "%s: cannot write key file: %s", path, strerror(errno));
	if (rc && fd >= 0)
		unlink(path);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(text, sizeof(text));
	return rc;
}

static xchg_status keys_read(const char *path, int fd, keypair *kp, xchg_err *err)
{
	unsigned char seed[crypto_sign_SEEDBYTES];
	char text[sizeof(KEY_FILE_PREFIX) + KEY_TEXT_MAX + 2];
	struct stat sb;
	size_t seedlen = 0;
	ssize_t got;
	xchg_status rc = XCHG_OK;

	if (fstat(fd, &sb) != 0)
		return xerr(err, XCHG_EIO, "%s: %s", path, strerror(errno));
	if (sb.st_mode & (S_IRWXG | S_IRWXO))
		return xerr(err, XCHG_EIO,
			    "%s: secret key file is readable by others (mode %03o); run chmod 600 on it",
			    path, (unsigned)(sb.st_mode & 0777));
	got = read(fd, text, sizeof(text) - 1);
	if (got < 0)
		return xerr(err, XCHG_EIO, "%s: %s", path, strerror(errno));
	text[got] = '\0';
	text[strcspn(text, "\r\n")] = '\0';
	if (strncmp(text, KEY_FILE_PREFIX, sizeof(KEY_FILE_PREFIX) - 1) != 0 ||
	    sodium_base642bin(seed, sizeof(seed), text + sizeof(KEY_FILE_PREFIX) - 1,
			      strlen(text + sizeof(KEY_FILE_PREFIX) - 1), NULL, &seedlen,
			      NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    seedlen != sizeof(seed))
		rc = xerr(err, XCHG_EIO, "%s: not an xchg secret key file", path);
	else
		crypto_sign_seed_keypair(kp->pk, kp->sk, seed);
	sodium_memzero(seed, sizeof(seed));
	sodium_memzero(text, sizeof(text));
	return rc;
}

xchg_status keys_load(const char *path, int create, keypair *kp, xchg_err *err)
{
	int fd;
	xchg_status rc;

	if (sodium_init() < 0)
		return xerr(err, XCHG_EFAIL, "libsodium cannot be initialized");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && create)
			return keys_create(path, kp, err);
		return xerr(err, XCHG_EIO, "%s: cannot open secret key file: %s", path, strerror(errno));
	}
	rc = keys_read(path, fd, kp, err);
	close(fd);
	return rc;
}

void keys_wipe(keypair *kp)
{
	sodium_memzero(kp, sizeof(*kp));
}

void keys_encode_public(const unsigned char *pk, char out[KEY_TEXT_MAX])
{
	sodium_bin2base64(out, KEY_TEXT_MAX, pk, crypto_sign_PUBLICKEYBYTES,
			  sodium_base64_VARIANT_ORIGINAL);
}

xchg_status keys_decode_public(const char *text, unsigned char *pk, xchg_err *err)
{
	size_t len = 0;

	if (sodium_base642bin(pk, crypto_sign_PUBLICKEYBYTES, text, strlen(text), " \t\r\n",
			      &len, NULL, sodium_base64_VARIANT_ORIGINAL) != 0 ||
	    len != crypto_sign_PUBLICKEYBYTES)
		return xerr(err, XCHG_EUSAGE,
			    "key \"%.60s\" is not an Ed25519 public key (44 characters of base64, as printed by xchg key)",
			    text);
	return XCHG_OK;
}
