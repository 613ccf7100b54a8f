#include "keys.h"

#include <cjson/cJSON.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
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

xchg_status keys_load(const char *path, int *created, keypair *kp, xchg_err *err)
{
	int fd;
	xchg_status rc;

	if (created)
		*created = 0;
	if (sodium_init() < 0)
		return xerr(err, XCHG_EFAIL, "libsodium cannot be initialized");
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && created) {
			rc = keys_create(path, kp, err);
			*created = rc == XCHG_OK;
			return rc;
		}
		return xerr(err, XCHG_EIO, "%s: cannot open secret key file: %s", path, strerror(errno));
	}
	rc = keys_read(path, fd, kp, err);
	close(fd);
	return rc;
}

xchg_status keys_make_folder(const char *dir, xchg_err *err)
{
	char *path = strdup(dir), *slash;
	xchg_status rc = XCHG_OK;

	if (!path)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	/* mkdir makes one level: each parent in turn, then dir itself. */
	for (slash = strchr(path + (path[0] == '/'), '/');; slash = strchr(slash + 1, '/')) {
		if (slash)
			*slash = '\0';
		if (mkdir(path, 0700) != 0 && errno != EEXIST) {
			rc = xerr(err, XCHG_EIO, "%s: cannot create folder: %s", path, strerror(errno));
			break;
		}
		if (!slash)
			break;
		*slash = '/';
	}
	free(path);
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

/*
 * Copies the field that starts at *p (after spaces) into out, cap bytes;
 * 0 when it does not fit or there is none.
 */
static int next_field(const char **p, char *out, size_t cap)
{
	size_t len;

	*p += strspn(*p, " \t\r\n");
	len = strcspn(*p, " \t\r\n");
	if (len == 0 || len >= cap)
		return 0;
	memcpy(out, *p, len);
	out[len] = '\0';
	*p += len;
	return 1;
}

xchg_status keys_line_parse(const char *text, key_line *out, xchg_err *err)
{
	const char *p = text;

	memset(out, 0, sizeof(*out));
	if (!next_field(&p, out->code, sizeof(out->code)) ||
	    !next_field(&p, out->id, sizeof(out->id)) ||
	    !next_field(&p, out->key, sizeof(out->key)) || p[strspn(p, " \t\r\n")] != '\0') {
		/* The one mistake worth naming: a bare key, as xchg printed before node ids. */
		if (keys_decode_public(text, out->pk, err) == XCHG_OK)
			return xerr(err, XCHG_EUSAGE, "key \"%.60s\" is a bare public key; node add needs the"
				    " peer's whole key line (CODE ID KEY), as its xchg key prints it", text);
		return xerr(err, XCHG_EUSAGE, "key line \"%.120s\" is not CODE ID KEY, the one line"
			    " xchg key prints", text);
	}
	if (!xchg_code_valid(out->code))
		return xerr(err, XCHG_EUSAGE, "key line: \"%s\" is not a node code", out->code);
	if (!xuuid_valid(out->id))
		return xerr(err, XCHG_EUSAGE, "key line of %s: \"%s\" is not a node id (a uuid in"
			    " lower case)", out->code, out->id);
	if (keys_decode_public(out->key, out->pk, err))
		return xerr_prefix(err, "key line of %s", out->code);
	keys_encode_public(out->pk, out->key);
	return XCHG_OK;
}

char *keys_line_format(const char *code, const char *id, const char *key)
{
	return xstrdup_printf("%s %s %s", code, id, key);
}

void keys_fingerprint(const char *key, char out[KEY_FINGERPRINT_MAX])
{
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], hash[crypto_hash_sha256_BYTES];
	char hex[2 * crypto_hash_sha256_BYTES + 1];
	xchg_err ignored;
	int i;

	if (!key || keys_decode_public(key, pk, &ignored)) {
		snprintf(out, KEY_FINGERPRINT_MAX, "no valid key");
		return;
	}
	crypto_hash_sha256(hash, pk, sizeof(pk));
	sodium_bin2hex(hex, sizeof(hex), hash, sizeof(hash));
	/* 16 digits, 64 bits: plenty for a person to tell two keys apart. */
	for (i = 0; i < 4; i++) {
		memcpy(out + 5 * i, hex + 4 * i, 4);
		out[5 * i + 4] = i < 3 ? ':' : '\0';
	}
}

static xchg_status keys_create_new(const char *path, keypair *kp, xchg_err *err)
{
	/* A leftover of a rotation that never committed: no peer trusts it. */
	if (unlink(path) != 0 && errno != ENOENT)
		return xerr(err, XCHG_EIO, "%s: cannot remove: %s", path, strerror(errno));
	if (sodium_init() < 0)
		return xerr(err, XCHG_EFAIL, "libsodium cannot be initialized");
	return keys_create(path, kp, err);
}

static xchg_status keys_install(const char *from, const char *to, xchg_err *err)
{
	char *dir = xstrdup_printf("%s", to), *slash;
	int fd;
	xchg_status rc = XCHG_OK;

	if (!dir)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if (rename(from, to) != 0) {
		rc = xerr(err, XCHG_EIO, "%s: cannot rename to %s: %s", from, to, strerror(errno));
		goto done;
	}
	/* The rename is durable only once the folder is. */
	slash = strrchr(dir, '/');
	if (slash)
		*(slash == dir ? slash + 1 : slash) = '\0';
	if ((fd = open(slash ? dir : ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC)) >= 0) {
		fsync(fd);
		close(fd);
	}
done:
	free(dir);
	return rc;
}

static char *pending_path(const char *path)
{
	return xstrdup_printf("%s.new", path);
}

static int key_is(const keypair *kp, const char *public_key)
{
	char pub[KEY_TEXT_MAX];

	keys_encode_public(kp->pk, pub);
	return public_key && strcmp(public_key, pub) == 0;
}

xchg_status keys_load_named(const char *path, const char *public_key, keypair *kp, int *matched,
			    xchg_err *err)
{
	char *pending = NULL;
	keypair next;
	xchg_err ignored;
	xchg_status rc;

	*matched = 0;
	memset(&next, 0, sizeof(next));
	if ((rc = keys_load(path, NULL, kp, err)))
		return rc;
	if (key_is(kp, public_key)) {
		*matched = 1;
		return XCHG_OK;
	}
	if (!(pending = pending_path(path))) {
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
		goto done;
	}
	/* A rotation committed in the database but stopped before its rename: finish it. */
	if (keys_load(pending, NULL, &next, &ignored) == XCHG_OK && key_is(&next, public_key) &&
	    (rc = keys_install(pending, path, err)) == XCHG_OK) {
		*kp = next;
		*matched = 1;
	}
done:
	if (rc)
		keys_wipe(kp);
	keys_wipe(&next);
	free(pending);
	return rc;
}

/* What the previous key signs: the node, its old key and its new one. */
static void rotation_statement(xbuf *b, const char *code, const char *previous,
			       const char *public_key)
{
	xbuf_printf(b, "xchg-key-rotation-v1\n%s\n%s\n%s\n", code, previous, public_key);
}

/* *out: chain (NULL for none) with a link from old to new_pk appended. */
static xchg_status keys_chain_extend(const char *chain, const char *code, const keypair *old,
				     const unsigned char *new_pk, char **out, xchg_err *err)
{
	char prev[KEY_TEXT_MAX], next[KEY_TEXT_MAX];
	unsigned char sig[crypto_sign_BYTES];
	char sig_text[sodium_base64_ENCODED_LEN(crypto_sign_BYTES, sodium_base64_VARIANT_ORIGINAL)];
	cJSON *arr = NULL, *link = NULL;
	xbuf msg = {0};
	xchg_status rc = XCHG_ENOMEM;

	*out = NULL;
	keys_encode_public(old->pk, prev);
	keys_encode_public(new_pk, next);
	rotation_statement(&msg, code, prev, next);
	if (!msg.data)
		goto nomem;
	crypto_sign_detached(sig, NULL, (const unsigned char *)msg.data, msg.len, old->sk);
	sodium_bin2base64(sig_text, sizeof(sig_text), sig, sizeof(sig), sodium_base64_VARIANT_ORIGINAL);
	arr = chain ? cJSON_Parse(chain) : cJSON_CreateArray();
	if (!cJSON_IsArray(arr)) {
		rc = xerr(err, XCHG_EDB, "sync_nodes: this node's key_chain is not a JSON array");
		goto done;
	}
	/* The newest links are what a peer needs; one that missed more rotations re-registers. */
	while (cJSON_GetArraySize(arr) >= KEY_CHAIN_MAX)
		cJSON_DeleteItemFromArray(arr, 0);
	if (!(link = cJSON_CreateObject()) ||
	    !cJSON_AddStringToObject(link, "previous_key", prev) ||
	    !cJSON_AddStringToObject(link, "public_key", next) ||
	    !cJSON_AddStringToObject(link, "signature", sig_text) ||
	    !cJSON_AddItemToArray(arr, link))
		goto nomem;
	link = NULL;
	if (!(*out = cJSON_PrintUnformatted(arr)))
		goto nomem;
	rc = XCHG_OK;
	goto done;
nomem:
	rc = xerr(err, XCHG_ENOMEM, "out of memory");
done:
	cJSON_Delete(link);
	cJSON_Delete(arr);
	xbuf_free(&msg);
	return rc;
}

static const char *link_text(const cJSON *link, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(link, key);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

xchg_status keys_chain_follow(const char *chain, const char *code, const char *registered,
			      char **out, xchg_err *err)
{
	cJSON *arr = cJSON_Parse(chain);
	const cJSON *link;
	char cur[KEY_TEXT_MAX];
	unsigned char pk[crypto_sign_PUBLICKEYBYTES], sig[crypto_sign_BYTES];
	size_t i = 0, siglen;
	xbuf msg = {0};
	xchg_status rc = XCHG_OK;

	*out = NULL;
	if (!cJSON_IsArray(arr) || cJSON_GetArraySize(arr) > KEY_CHAIN_MAX) {
		rc = xerr(err, XCHG_EPACKET, "key_chain: must be an array of at most %d links",
			  KEY_CHAIN_MAX);
		goto done;
	}
	snprintf(cur, sizeof(cur), "%s", registered);
	/* Links before the registered key are history this node has already followed. */
	cJSON_ArrayForEach(link, arr) {
		const char *prev = link_text(link, "previous_key"), *next = link_text(link, "public_key");
		const char *sig_text = link_text(link, "signature");

		i++;
		if (!prev || !next || !sig_text) {
			rc = xerr(err, XCHG_EPACKET, "key_chain: link %zu lacks previous_key, public_key"
				  " or signature", i);
			goto done;
		}
		if (strcmp(prev, cur) != 0)
			continue;
		xbuf_reset(&msg);
		rotation_statement(&msg, code, prev, next);
		if (!msg.data) {
			rc = xerr(err, XCHG_ENOMEM, "out of memory");
			goto done;
		}
		if (keys_decode_public(next, pk, err) || keys_decode_public(prev, pk, err)) {
			xerr_prefix(err, "key_chain: link %zu", i);
			rc = err->code = XCHG_EPACKET;
			goto done;
		}
		if (sodium_base642bin(sig, sizeof(sig), sig_text, strlen(sig_text), NULL, &siglen, NULL,
				      sodium_base64_VARIANT_ORIGINAL) != 0 || siglen != sizeof(sig) ||
		    crypto_sign_verify_detached(sig, (const unsigned char *)msg.data, msg.len, pk) != 0) {
			rc = xerr(err, XCHG_EPACKET, "key_chain: link %zu is not signed by %s's key %s", i,
				  code, prev);
			goto done;
		}
		snprintf(cur, sizeof(cur), "%s", next);
	}
	if (!(*out = strdup(cur)))
		rc = xerr(err, XCHG_ENOMEM, "out of memory");
done:
	xbuf_free(&msg);
	cJSON_Delete(arr);
	return rc;
}

xchg_status keys_rotate(const char *path, const char *code, const char *chain, const keypair *old,
			keys_commit_fn commit, void *ctx, char public_key[KEY_TEXT_MAX], xchg_err *err)
{
	char *pending = pending_path(path), *longer = NULL;
	keypair next;
	int committed = 0;
	xchg_status rc;

	memset(&next, 0, sizeof(next));
	if (!pending)
		return xerr(err, XCHG_ENOMEM, "out of memory");
	if ((rc = keys_create_new(pending, &next, err)) ||
	    (rc = keys_chain_extend(chain, code, old, next.pk, &longer, err)))
		goto done;
	keys_encode_public(next.pk, public_key);
	if ((rc = commit(ctx, public_key, longer, err)))
		goto done;
	committed = 1;
	/* Committed: the new key is the node's now, even if this rename is left to the next load. */
	rc = keys_install(pending, path, err);
done:
	if (!committed)
		unlink(pending);
	keys_wipe(&next);
	free(pending);
	free(longer);
	return rc;
}
