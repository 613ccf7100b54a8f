/* Internal helpers shared by every module of libxchg. */
#ifndef XCHG_COMMON_H
#define XCHG_COMMON_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "xchg.h"

#define XCHG_UNUSED(x) ((void)(x))

/* Records a message and returns code, so a failure is one line: return xerr(...). */
xchg_status xerr(xchg_err *err, xchg_status code, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Prefixes the message already in err with "prefix: ", keeping its code. */
xchg_status xerr_prefix(xchg_err *err, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

void xerr_clear(xchg_err *err);
/*
 * The failed system call on path that errno tells of: "PATH: DOING: why"
 * ("PATH: why" when doing is NULL), XCHG_ENOTFOUND when no such file
 * exists, else XCHG_EIO.
 */
xchg_status xerr_sys(xchg_err *err, const char *path, const char *doing);

/* The noun for n of them: xnoun(1, "row", "rows") is "row". */
const char *xnoun(long long n, const char *one, const char *many);

/* strdup that records an allocation failure; NULL in, NULL out. */
char *xstrdup(const char *s);
char *xstrdup_printf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/*
 * A growable byte buffer; always NUL-terminated when len > 0. A failed
 * append (out of memory, or past SIZE_MAX) empties it to NULL data and
 * fails every later one until xbuf_free: a statement built by a run of
 * appends checked only at the end is whole or absent, never half.
 */
typedef struct xbuf {
	char *data;
	size_t len;
	size_t cap;
	int failed;
} xbuf;

int xbuf_reserve(xbuf *b, size_t extra);
int xbuf_add(xbuf *b, const void *data, size_t len);
int xbuf_adds(xbuf *b, const char *s);
int xbuf_addc(xbuf *b, char c);
int xbuf_printf(xbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void xbuf_reset(xbuf *b);
void xbuf_free(xbuf *b);
/* Hands the contents to the caller (NUL-terminated, never NULL on success). */
char *xbuf_detach(xbuf *b);

/* Appends s (len bytes, UTF-8) as a JSON string literal with its quotes. */
int xbuf_json_string(xbuf *b, const char *s, size_t len);

/*
 * d as the first of %.15g, %.16g and %.17g that strtod reads back as d
 * itself: 0.1, not 0.10000000000000001. Non-finite values print as %.17g.
 */
#define XDOUBLE_TEXT_MAX 32
void xdouble_text(char out[XDOUBLE_TEXT_MAX], double d);

/* Current UTC time as ISO-8601 with milliseconds: 2026-11-25T09:30:00.123Z */
void xnow_iso(char out[32]);
/* The same, and returns that time in whole seconds. */
time_t xnow_iso_seconds(char out[32]);

/* The time xnow_iso wrote into s, in seconds; -1 when s is not such a time. */
time_t xiso_seconds(const char *s);

/* A random RFC 4122 version 4 uuid in lower-case text. */
void xuuid4(char out[37]);
/* True for a uuid in the form xuuid4 writes: 8-4-4-4-12 lower-case hex digits. */
int xuuid_valid(const char *s);


/*
 * XCHG_EUSAGE unless an options struct's version (first member) is want,
 * the one this library was built with; type names the struct and init
 * its _INIT macro, for the message.
 */
xchg_status xcheck_opts(unsigned version, unsigned want, const char *type, const char *init,
			xchg_err *err);

/* The longest node code, in bytes. */
#define XCODE_MAX 64

/* XCHG_EUSAGE with a message unless code is a valid node code. */
xchg_status xcheck_code(const char *code, xchg_err *err);

/* True for an SQL identifier the plan may name: [A-Za-z_][A-Za-z0-9_]{0,62}. */
int xident_valid(const char *s);

/*
 * Test hook, and the one place lib/ ends the process. The crash test
 * (tests/e2e/crash.sh) sets XCHG_KILL_AT to stop xchg at a named step of
 * export or import, the steps formats/PACKET.md "Crash safety" lists:
 * NAME kills the first time NAME is reached, NAME:K the K-th time, and a
 * bare number N at the N-th point of any name. The kill is SIGKILL, as close
 * to a power cut as a process can get: no rollback, no atexit handler, no
 * stdio flush. Unset, a point costs one getenv. Names are stable: the test
 * finds them in the source and fails if it does not exercise one.
 * Compiled only into test builds (-DXCHG_KILL_POINTS, as `make test`
 * builds): a library an application links must never kill its host
 * because of an environment variable.
 */
#ifdef XCHG_KILL_POINTS
void xkill_point(const char *name);
#else
static inline void xkill_point(const char *name)
{
	(void)name;
}
#endif

#endif
