/*
 * The public header's promises to a program that links libxchg: the
 * version it reports, and options structs that carry their version, so
 * that a struct the library does not know is refused before any of its
 * fields is read.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <string.h>

#include "harness.h"

TestSuite(api, .init = harness_setup, .fini = harness_teardown);

Test(api, the_library_reports_the_headers_version)
{
	char built[32];

	cr_assert_str_eq(xchg_version(), XCHG_VERSION);
	snprintf(built, sizeof(built), "%d.%d.%d", XCHG_VERSION_MAJOR, XCHG_VERSION_MINOR,
		 XCHG_VERSION_PATCH);
	cr_assert_str_eq(built, XCHG_VERSION);
}

static void expect_refused(xchg_status rc, const xchg_err *err, const char *type, const char *init)
{
	cr_assert_eq(rc, XCHG_EUSAGE, "%s of an unknown version was taken", type);
	cr_assert(strstr(err->msg, type) && strstr(err->msg, init), "%s: %s", type, err->msg);
}

/*
 * Catches: an options struct read whatever its version, so that a program
 * built against another header (or that zeroed the struct instead of
 * using its _INIT macro) has fields read that it never set.
 */
Test(api, options_of_a_version_the_library_does_not_know_are_refused)
{
	node *c = center_new("CENTER");
	const char *path = "pkt.zip";
	int already;
	unsigned versions[] = {0, 2};
	size_t i;

	for (i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		xchg_init_opts io = XCHG_INIT_OPTS_INIT;
		xchg_link_opts lo = XCHG_LINK_OPTS_INIT;
		xchg_export_opts eo = XCHG_EXPORT_OPTS_INIT;
		xchg_import_opts mo = XCHG_IMPORT_OPTS_INIT;
		xchg_watch_opts wo = XCHG_WATCH_OPTS_INIT;
		xchg_export_result res;
		xchg_err err;

		io.version = lo.version = eo.version = mo.version = wo.version = versions[i];
		io.code = "CENTER";
		io.plan_path = EXAMPLE_PLAN;
		expect_refused(xchg_init(c->db, &io, &already, &err), &err, "xchg_init_opts",
			       "XCHG_INIT_OPTS_INIT");
		expect_refused(xchg_node_set(c->db, "NOBODY", &lo, &err), &err, "xchg_link_opts",
			       "XCHG_LINK_OPTS_INIT");
		expect_refused(xchg_export_with(c->db, "NOBODY", &eo, &res, &err), &err,
			       "xchg_export_opts", "XCHG_EXPORT_OPTS_INIT");
		expect_refused(xchg_import_with(c->db, &path, 1, &mo, NULL, NULL, &err), &err,
			       "xchg_import_opts", "XCHG_IMPORT_OPTS_INIT");
		expect_refused(xchg_watch(c->db, &wo, NULL, NULL, &err), &err, "xchg_watch_opts",
			       "XCHG_WATCH_OPTS_INIT");
	}
}

/* The _INIT macros make structs the library takes, with every other field at its default. */
Test(api, options_made_by_their_init_macro_are_taken)
{
	node *c = center_new("CENTER");
	xchg_init_opts io = XCHG_INIT_OPTS_INIT;
	xchg_export_opts eo = XCHG_EXPORT_OPTS_INIT;
	xchg_export_result res;
	xchg_err err;
	int already = 0;

	io.code = "CENTER";
	io.plan_path = EXAMPLE_PLAN;
	io.master = 1;
	cr_assert_eq(xchg_init(c->db, &io, &already, &err), XCHG_OK, "%s", err.msg);
	cr_assert(already);
	/* Past the version check, the export fails for the reason of its own: no such peer. */
	cr_assert_eq(xchg_export_with(c->db, "NOBODY", &eo, &res, &err), XCHG_ENOTFOUND, "%s", err.msg);
}
