/* The node database handle shared by the modules behind the public API. */
#ifndef XCHG_DB_H
#define XCHG_DB_H

#include "common.h"
#include "plan.h"
#include "progress.h"
#include "store.h"

typedef struct table_meta {
	char *table;
	store_column *cols;
	size_t ncols;
	unsigned char *local; /* per column: stays on this node, never travels (PLAN.md) */
	col_form *forms;      /* per column: how it holds uuids and times (PLAN.md, "Value forms") */
	char *select_sql;     /* row_json's reading statement, built on first use */
	size_t *select_cols;  /* per column it reads after its lead: the index in cols */
	/* row_json_each's first and next page, of every row and of a peer's
	 * subset, built on first use */
	char *scan_sql[4];
	/* row_json's UPDATE and INSERT for the columns it wrote last, in that order */
	size_t *write_cols;
	size_t nwrite_cols;
	char *update_sql, *insert_sql;
	/*
	 * a child table's: the rows of one parent, and the DELETE of them, for
	 * the member of the plan named (its parent column), built on first use
	 */
	char *children_sql, *delete_sql;
	const void *child_for;
} table_meta;

struct xchg_db {
	store *st;
	char *key_path;   /* this node's secret key file; NULL until named on PostgreSQL */
	char *key_name;   /* a PostgreSQL node's default key file name, for xchg_set_key_dir */
	char *key_dir;    /* the folder init creates for key_path, when set by xchg_set_key_dir */
	plan *plan;       /* loaded from the database by db_ready */
	table_meta *metas;
	size_t nmetas;
	/* per entity of the plan: the column of its local ids (refs.c), once looked up */
	char **local_ids;
	size_t nlocal_ids;
	/* the running export's or import's, as its options named it */
	progress progress;
};

/* Loads the stored plan; fails with a hint when the node is not initialized. */
xchg_status db_ready(xchg_db *db, xchg_err *err);
/* The columns of a table and their forms, decided once per handle. */
xchg_status db_meta(xchg_db *db, const char *table, table_meta **out,
		    xchg_err *err);
/* The form of m's column; text when m has no such column. */
const col_form *db_column_form(const table_meta *m, const char *column);
/*
 * The column of a table (its columns cols) holding a row's local id, the
 * one an integer reference holds (formats/PLAN.md, "Integer references"):
 * its primary key, when it is one column; else NULL.
 */
const char *db_local_id(const store_column *cols, size_t n);
/* Forgets cached columns after the schema changed (init). */
void db_forget_meta(xchg_db *db);

struct node_row;
struct keypair;
/*
 * This node's secret key, checked against its row in sync_nodes; finishes a
 * key rotation that committed but did not get to rename its key file.
 */
xchg_status db_signing_key(xchg_db *db, const struct node_row *self, struct keypair *kp,
			   xchg_err *err);

#endif
