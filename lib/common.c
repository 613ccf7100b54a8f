#include "common.h"

#include <ctype.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>

#include <sodium.h>

const char *xchg_version(void)
{
	return XCHG_VERSION;
}

xchg_status xerr(xchg_err *err, xchg_status code, const char *fmt, ...)
{
	va_list ap;

	if (err) {
		err->code = code;
		va_start(ap, fmt);
		vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
		va_end(ap);
		xchg_scrub(err->msg);
	}
	return code;
}

xchg_status xerr_prefix(xchg_err *err, const char *fmt, ...)
{
	char joined[2 * XCHG_ERRMSG_MAX + 2];
	va_list ap;
	int n;

	if (!err)
		return XCHG_EFAIL;
	va_start(ap, fmt);
	n = vsnprintf(joined, XCHG_ERRMSG_MAX, fmt, ap);
	va_end(ap);
	if (n < 0)
		n = 0;
	if (n >= XCHG_ERRMSG_MAX)
		n = XCHG_ERRMSG_MAX - 1;
	snprintf(joined + n, sizeof(joined) - (size_t)n, ": %s", err->msg);
	snprintf(err->msg, sizeof(err->msg), "%.*s", XCHG_ERRMSG_MAX - 1, joined);
	xchg_scrub(err->msg);
	return err->code;
}

xchg_status xerr_sys(xchg_err *err, const char *path, const char *doing)
{
	int e = errno;

	return xerr(err, e == ENOENT || e == ENOTDIR ? XCHG_ENOTFOUND : XCHG_EIO, "%s: %s%s%s", path,
		    doing ? doing : "", doing ? ": " : "", strerror(e));
}

void xerr_clear(xchg_err *err)
{
	if (err) {
		err->code = XCHG_OK;
		err->msg[0] = '\0';
	}
}

char *xstrdup(const char *s)
{
	return s ? strdup(s) : NULL;
}

const char *xnoun(long long n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

char *xstrdup_printf(const char *fmt, ...)
{
	va_list ap;
	char *out = NULL;

	va_start(ap, fmt);
	if (vasprintf(&out, fmt, ap) < 0)
		out = NULL;
	va_end(ap);
	return out;
}

static int xbuf_fail(xbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 1;
	return -1;
}

int xbuf_reserve(xbuf *b, size_t extra)
{
	size_t need, cap;
	char *p;

	if (b->failed || extra > SIZE_MAX - b->len - 1)
		return xbuf_fail(b);
	need = b->len + extra + 1;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 256;
	while (cap < need)
		cap = cap > SIZE_MAX / 2 ? need : cap * 2;
	if (!(p = realloc(b->data, cap)))
		return xbuf_fail(b);
	b->data = p;
	b->cap = cap;
	return 0;
}

int xbuf_add(xbuf *b, const void *data, size_t len)
{
	if (xbuf_reserve(b, len) < 0)
		return -1;
	if (len)
		memcpy(b->data + b->len, data, len);
	b->len += len;
	b->data[b->len] = '\0';
	return 0;
}

int xbuf_adds(xbuf *b, const char *s)
{
	return xbuf_add(b, s, strlen(s));
}

int xbuf_addc(xbuf *b, char c)
{
	return xbuf_add(b, &c, 1);
}

int xbuf_printf(xbuf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0)
		return xbuf_fail(b);
	if (xbuf_reserve(b, (size_t)n) < 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(b->data + b->len, (size_t)n + 1, fmt, ap);
	va_end(ap);
	b->len += (size_t)n;
	return 0;
}

void xbuf_reset(xbuf *b)
{
	b->len = 0;
	if (b->data)
		b->data[0] = '\0';
}

void xbuf_free(xbuf *b)
{
	free(b->data);
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

char *xbuf_detach(xbuf *b)
{
	char *out;

	if (!b->data && xbuf_reserve(b, 0) < 0)
		return NULL;
	b->data[b->len] = '\0';
	out = b->data;
	b->data = NULL;
	b->len = b->cap = 0;
	return out;
}

int xbuf_json_string(xbuf *b, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run = 0;
	int rc = xbuf_addc(b, '"');

	for (i = 0; i < len && rc == 0; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[7] = {'\\', 0};

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		rc = xbuf_add(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
		}
		if (rc == 0)
			rc = xbuf_adds(b, esc);
	}
	if (rc == 0)
		rc = xbuf_add(b, s + run, len - run);
	return rc == 0 ? xbuf_addc(b, '"') : rc;
}

void xdouble_text(char out[XDOUBLE_TEXT_MAX], double d)
{
	int digits;

	/* 17 significant digits always read back; fewer often do, and read as people wrote them. */
	for (digits = 15; digits < 17; digits++) {
		snprintf(out, XDOUBLE_TEXT_MAX, "%.*g", digits, d);
		if (strtod(out, NULL) == d)
			return;
	}
	snprintf(out, XDOUBLE_TEXT_MAX, "%.17g", d);
}

time_t xnow_iso_seconds(char out[32])
{
	struct timeval tv;
	struct tm tm;

	gettimeofday(&tv, NULL);
	gmtime_r(&tv.tv_sec, &tm);
	strftime(out, 32, "%Y-%m-%dT%H:%M:%S", &tm);
	snprintf(out + 19, 32 - 19, ".%03dZ", (int)(tv.tv_usec / 1000) % 1000);
	return tv.tv_sec;
}

time_t xiso_seconds(const char *s)
{
	struct tm tm = {0};
	int n = 0;

	if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d%n", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			 &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &n) != 6 || n != 19)
		return -1;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	return timegm(&tm);
}

void xnow_iso(char out[32])
{
	xnow_iso_seconds(out);
}

void xuuid4(char out[37])
{
	unsigned char b[16];

	randombytes_buf(b, sizeof(b));
	b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
	b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
	snprintf(out, 37,
		 "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		 b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9],
		 b[10], b[11], b[12], b[13], b[14], b[15]);
}

int xuuid_valid(const char *s)
{
	size_t i;

	for (i = 0; i < 36; i++) {
		int dash = i == 8 || i == 13 || i == 18 || i == 23;

		if (dash ? s[i] != '-' : !((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	}
	return s[36] == '\0';
}

int xident_valid(const char *s)
{
	size_t i;

	if (!s || !(isalpha((unsigned char)s[0]) || s[0] == '_'))
		return 0;
	for (i = 1; s[i]; i++)
		if (i >= 63 || !(isalnum((unsigned char)s[i]) || s[i] == '_'))
			return 0;
	return 1;
}

int xchg_code_valid(const char *code)
{
	size_t i;

	if (!code || !code[0])
		return 0;
	for (i = 0; code[i]; i++)
		if (i >= XCODE_MAX || !(isalnum((unsigned char)code[i]) ||
				 code[i] == '.' || code[i] == '_' || code[i] == '-'))
			return 0;
	return 1;
}

xchg_status xcheck_opts(unsigned version, unsigned want, const char *type, const char *init,
			xchg_err *err)
{
	if (version == want)
		return XCHG_OK;
	return xerr(err, XCHG_EUSAGE, "%s: version %u is not the one libxchg %s knows (%u);"
		    " declare it with %s", type, version, XCHG_VERSION, want, init);
}

xchg_status xcheck_code(const char *code, xchg_err *err)
{
	if (xchg_code_valid(code))
		return XCHG_OK;
	return xerr(err, XCHG_EUSAGE,
		    "node code \"%.80s\" is invalid: use 1 to %d of letters, digits, '.', '_' and '-'",
		    code ? code : "", XCODE_MAX);
}

#ifdef XCHG_KILL_POINTS
/*
 * The two counters are the library's only mutable globals, and only the
 * crash test moves them: "the N-th point" is a property of the process.
 */
void xkill_point(const char *name)
{
	static unsigned long reached, named;
	const char *want = getenv("XCHG_KILL_AT"), *colon;
	unsigned long n, k = 1;
	size_t len;

	if (!want || !*want)
		return;
	n = __atomic_add_fetch(&reached, 1, __ATOMIC_SEQ_CST);
	if (isdigit((unsigned char)want[0])) {
		if (n == strtoul(want, NULL, 10))
			raise(SIGKILL);
		return;
	}
	colon = strchr(want, ':');
	len = colon ? (size_t)(colon - want) : strlen(want);
	if (colon)
		k = strtoul(colon + 1, NULL, 10);
	if (strlen(name) == len && strncmp(name, want, len) == 0 &&
	    __atomic_add_fetch(&named, 1, __ATOMIC_SEQ_CST) == k)
		raise(SIGKILL);
}
#endif

/* The length of the valid UTF-8 sequence at p (RFC 3629), or 0. */
static size_t utf8_length(const unsigned char *p)
{
	size_t n, i;
	unsigned char lo = 0x80, hi = 0xBF;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xC2 && p[0] <= 0xDF)
		n = 2;
	else if (p[0] >= 0xE0 && p[0] <= 0xEF)
		n = 3;
	else if (p[0] >= 0xF0 && p[0] <= 0xF4)
		n = 4;
	else
		return 0;
	/* No overlong forms, no surrogates, nothing past U+10FFFF. */
	if (p[0] == 0xE0)
		lo = 0xA0;
	else if (p[0] == 0xED)
		hi = 0x9F;
	else if (p[0] == 0xF0)
		lo = 0x90;
	else if (p[0] == 0xF4)
		hi = 0x8F;
	if (p[1] < lo || p[1] > hi)
		return 0;
	for (i = 2; i < n; i++)
		if (p[i] < 0x80 || p[i] > 0xBF)
			return 0;
	return n;
}

char *xchg_scrub(char *s)
{
	const unsigned char *r = (const unsigned char *)s;
	unsigned char *w = (unsigned char *)s;
	size_t n;

	if (!s)
		return NULL;
	while (*r) {
		n = utf8_length(r);
		if (n == 0 || (n == 1 && (*r < 0x20 || *r == 0x7F)) ||
		    (n == 2 && r[0] == 0xC2 && r[1] <= 0x9F)) {
			*w++ = '?';
			r += n ? n : 1;
		} else {
			memmove(w, r, n);
			w += n;
			r += n;
		}
	}
	*w = '\0';
	return s;
}
