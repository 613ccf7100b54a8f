/*
 * The growable buffer (lib/common.c) that every statement, trigger script
 * and message is built in: a run of appends checked once at the end gives
 * the whole text or none of it.
 */
#include <criterion/criterion.h>

#include <stdint.h>
#include <string.h>

#include "common.h"

/*
 * Catches: an append that fails in the middle of a run and leaves the
 * buffer holding the text before it, while the appends after it succeed:
 * a trigger script missing its middle statement would run.
 */
Test(xbuf, a_failed_append_leaves_nothing_and_fails_every_later_one)
{
	xbuf b = {0};

	cr_assert_eq(xbuf_adds(&b, "DROP TRIGGER IF EXISTS t;"), 0);
	cr_assert_eq(xbuf_add(&b, "x", SIZE_MAX), -1, "an append past SIZE_MAX succeeded");
	cr_assert_null(b.data, "the text before the failure is still there: %s", b.data);
	cr_assert_eq(xbuf_adds(&b, "CREATE TRIGGER t ...;"), -1);
	cr_assert_eq(xbuf_addc(&b, ';'), -1);
	cr_assert_eq(xbuf_printf(&b, "%d", 1), -1);
	cr_assert_eq(xbuf_json_string(&b, "v", 1), -1);
	cr_assert_null(b.data, "an append after the failure wrote: %s", b.data);
	cr_assert_eq(b.len, 0);
	cr_assert_null(xbuf_detach(&b));
	xbuf_reset(&b);
	cr_assert_eq(xbuf_adds(&b, "again"), -1, "a reset cleared the failure");
	xbuf_free(&b);
	cr_assert_eq(xbuf_adds(&b, "fresh"), 0, "a freed buffer stays failed");
	cr_assert_str_eq(b.data, "fresh");
	xbuf_free(&b);
}
