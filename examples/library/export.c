/*
 * The smallest program that uses libxchg: it opens a node's database and
 * writes the next packet for one of its peers, as `xchg export` does.
 *
 *   cc export.c $(pkg-config --cflags --libs xchg) -o export
 *   ./export NODE.db PEER-CODE OUT-DIR
 *
 * The node's secret key is found as the CLI finds it: $XCHG_KEY_FILE, else
 * NODE.db.key beside a SQLite database.
 */
#include <stdio.h>
#include <stdlib.h>

#include <xchg.h>

int main(int argc, char **argv)
{
	xchg_db *db = NULL;
	xchg_export_result res = {0};
	xchg_err err;
	const char *key = getenv("XCHG_KEY_FILE");
	xchg_status rc;

	if (argc != 4) {
		fprintf(stderr, "usage: %s NODE.db PEER-CODE OUT-DIR\n", argv[0]);
		return 2;
	}
	if ((rc = xchg_open(&db, argv[1], 0, &err)) ||
	    (key && (rc = xchg_set_key_file(db, key, &err))) ||
	    (rc = xchg_export(db, argv[2], argv[3], &res, &err))) {
		fprintf(stderr, "export: %s\n", err.msg);
		xchg_close(db);
		return (int)rc;
	}
	printf("%s: packet %lld for %s, %lld %s (libxchg %s)\n", res.path, (long long)res.packet_no,
	       argv[2], (long long)res.entities, res.entities == 1 ? "entity" : "entities",
	       xchg_version());
	xchg_export_result_clear(&res);
	xchg_close(db);
	return 0;
}
