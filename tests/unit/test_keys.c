/*
 * Keys over a node's life: rotation (the old key signs the new one, and
 * packets carry that chain so a peer follows), an interrupted rotation,
 * and revocation of a peer whose key is lost or stolen.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "keys.h"

TestSuite(keys, .init = harness_setup, .fini = harness_teardown);

static node *C, *D;
static const char *share, *acks;

static void star(void)
{
	C = center_new("CENTER");
	D = desktop_new("DESKTOP-1");
	link_nodes(C, D);
	share = make_folder("share");
	acks = make_folder("acks");
}

/* The key the center holds for the desktop. */
static const char *registered(void)
{
	return sql_text(C, "SELECT public_key FROM sync_nodes WHERE code = 'DESKTOP-1'");
}

/* The public key in a key line: its last field. */
static const char *key_of(const char *line)
{
	return strrchr(line, ' ') + 1;
}

/* The node's new public key. */
static const char *rotate(node *n)
{
	char *line = NULL;
	const char *key;
	xchg_err err;

	cr_assert_eq(xchg_key_rotate(n->db, &line, &err), XCHG_OK, "%s: key rotate: %s", n->code,
		     err.msg);
	cr_assert_eq(strncmp(line, hstr("%s %s ", n->code, node_id(n)), strlen(n->code) + 38), 0,
		     "key rotate gives the key line: %s", line);
	key = hstr("%s", key_of(line));
	free(line);
	return key;
}

static const char *desk_edit(const char *name)
{
	sql_exec(D, "INSERT INTO brigades (name) VALUES ('%s')", name);
	return export_packet(D, "CENTER", share).path;
}

static void expect_refused_with(const import_log *log, const char *because)
{
	cr_assert_eq(count_outcome(log, XCHG_REFUSED), 1, "expected a refusal: %s", log->err.msg);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 0, "something was applied");
	cr_assert(log->ev[0].message && strstr(log->ev[0].message, because),
		  "message \"%s\" does not say \"%s\"", log->ev[0].message ? log->ev[0].message : "",
		  because);
}

/* Catches: a rotated key that the peer never learns, so every later packet is refused. */
Test(keys, rotation_moves_the_peer_to_the_new_key)
{
	const char *old, *new_key;

	star();
	old = public_key(D);
	new_key = rotate(D);
	cr_assert_str_neq(old, new_key);
	cr_assert_str_eq(key_of(public_key(D)), new_key, "xchg key prints the new key");
	expect_applied(import_paths(C, acks, desk_edit("after rotation"), NULL), "first packet");
	cr_assert_str_eq(registered(), new_key, "the center now trusts the new key");
	expect_applied(import_paths(C, acks, desk_edit("later"), NULL), "a later packet");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE name IN ('after rotation', 'later')"), 2);
}

/* Catches: a chain walked only one link, so a peer that missed a rotation is lost. */
Test(keys, two_rotations_are_followed_at_once)
{
	const char *last;

	star();
	rotate(D);
	last = rotate(D);
	expect_applied(import_paths(C, acks, desk_edit("two rotations"), NULL), "packet");
	cr_assert_str_eq(registered(), last);
}

/* Catches: the old key still accepted after the peer moved to the new one. */
Test(keys, old_key_is_refused_after_the_peer_moved_on)
{
	const char *saved = hstr("%s/old.key", make_folder("saved")), *forged;
	xchg_err err;

	star();
	copy_file(D->key_path, saved);
	chmod(saved, 0600);
	rotate(D);
	expect_applied(import_paths(C, acks, desk_edit("rotated"), NULL), "rotated packet");
	/* Whoever kept the old secret key signs a packet with it. */
	cr_assert_eq(xchg_set_key_file(D->db, saved, &err), XCHG_OK, "%s", err.msg);
	forged = write_packet(D, make_folder("forged"), "CENTER", 99, 0,
			      &(pkt_entity){"Brigade", "00000000-0000-4000-8000-000000000001", "INSERT",
					    "2026-01-01T00:00:00.000Z",
					    "{\"name\": \"forged\"}"},
			      1);
	expect_refused_with(import_paths(C, acks, forged, NULL), "signature");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE name = 'forged'"), 0);
}

/* Catches: a chain link taken on trust, which would let anyone announce a new key. */
Test(keys, chain_link_not_signed_by_the_old_key_is_refused)
{
	const char *old, *new_key, *pkt, *bad;
	node *other;

	star();
	other = desktop_new("OTHER");
	old = registered();
	new_key = rotate(D);
	pkt = desk_edit("rotated");
	bad = tamper_packet(pkt, hstr("%s/pkt_DESKTOP-1_CENTER_7.zip", make_folder("bad")), new_key,
			    key_of(public_key(other)));
	expect_refused_with(import_paths(C, acks, bad, NULL), "is not signed by DESKTOP-1's key");
	cr_assert_str_eq(registered(), old, "the refused chain changed the registered key");
	expect_applied(import_paths(C, acks, pkt, NULL), "the genuine packet");
}

/*
 * A rotation that committed but stopped before renaming the key file leaves
 * the new key beside the old one. Catches: the next export signing with the
 * old key (every peer that followed the chain would refuse it) or failing.
 */
Test(keys, interrupted_rotation_is_finished_by_the_next_export)
{
	const char *saved = hstr("%s/old.key", make_folder("saved")), *new_key, *pending;

	star();
	pending = hstr("%s.new", D->key_path);
	copy_file(D->key_path, saved);
	new_key = rotate(D);
	cr_assert_eq(rename(D->key_path, pending), 0);
	copy_file(saved, D->key_path);
	chmod(D->key_path, 0600);
	expect_applied(import_paths(C, acks, desk_edit("after the crash"), NULL), "packet");
	cr_assert_str_eq(registered(), new_key);
	cr_assert(!file_exists(pending), "the pending key file is still there");
	cr_assert_str_eq(key_of(public_key(D)), new_key);
}

static xchg_status refuse_commit(void *ctx, const char *public_key, const char *chain,
				 xchg_err *err)
{
	(void)ctx;
	(void)public_key;
	(void)chain;
	return xerr(err, XCHG_EDB, "the database refused");
}

/*
 * Catches: a rotation whose database commit failed replacing the key file,
 * or leaving its new key beside the old, where a later load would take a
 * key no peer was told of.
 */
Test(keys, rotation_that_does_not_commit_keeps_the_old_key)
{
	const char *path = hstr("%s/node.key", make_folder("keys"));
	char before[KEY_TEXT_MAX], uncommitted[KEY_TEXT_MAX];
	keypair old, now;
	xchg_err err = {0};
	int created = 0, matched = 0;

	cr_assert_eq(keys_load(path, &created, &old, &err), XCHG_OK, "%s", err.msg);
	keys_encode_public(old.pk, before);
	cr_assert_eq(keys_rotate(path, "DESKTOP-1", NULL, &old, refuse_commit, NULL, uncommitted,
				 &err), XCHG_EDB);
	cr_assert_str_eq(err.msg, "the database refused");
	cr_assert(!file_exists(hstr("%s.new", path)), "the uncommitted key was left beside the old");
	cr_assert_eq(keys_load_named(path, before, &now, &matched, &err), XCHG_OK, "%s", err.msg);
	cr_assert(matched, "the key file no longer holds the old key");
	cr_assert_eq(keys_load_named(path, uncommitted, &now, &matched, &err), XCHG_OK, "%s", err.msg);
	cr_assert(!matched, "a key no commit recorded was taken");
	keys_wipe(&old);
	keys_wipe(&now);
}

/* Catches: a revoked peer still trusted, still sent data, or still queued for. */
Test(keys, revoked_peer_is_refused_both_ways)
{
	const char *pkt;
	exported out;
	xchg_err err;

	star();
	sql_exec(C, "INSERT INTO brigades (name) VALUES ('before')");
	cr_assert_gt(queued(C, "DESKTOP-1"), 0);
	pkt = desk_edit("from the stolen laptop");
	cr_assert_eq(xchg_node_revoke(C->db, "DESKTOP-1", &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(queued(C, "DESKTOP-1"), 0, "the revoked peer's queue was kept");
	expect_refused_with(import_paths(C, acks, pkt, NULL), "was revoked");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE name = 'from the stolen laptop'"), 0);
	cr_assert_neq(try_export(C, "DESKTOP-1", share, &out, &err), XCHG_OK);
	cr_assert(strstr(err.msg, "revoked"), "%s", err.msg);
	sql_exec(C, "INSERT INTO brigades (name) VALUES ('after')");
	cr_assert_eq(queued(C, "DESKTOP-1"), 0, "a change was registered for the revoked peer");
	cr_assert_eq(xchg_node_revoke(C->db, "DESKTOP-1", &err), XCHG_EFAIL, "revoking twice");
	cr_assert_eq(xchg_node_revoke(C->db, "NOBODY", &err), XCHG_ENOTFOUND, "an unknown node");
	cr_assert_eq(xchg_node_revoke(C->db, "CENTER", &err), XCHG_EUSAGE, "this node itself");
}

/*
 * A copy of a packet from before the rotation, picked up again from a
 * shared folder. Catches: it being refused (every later import of the folder
 * would fail) or its acknowledgement, signed with the old key, being taken.
 */
Test(keys, old_copy_from_before_the_rotation_is_skipped)
{
	const char *before, *log_msg;
	const import_log *log;

	star();
	before = desk_edit("before");
	expect_applied(import_paths(C, acks, before, NULL), "packet before the rotation");
	rotate(D);
	expect_applied(import_paths(C, acks, desk_edit("after"), NULL), "packet after it");
	log = import_paths(C, acks, before, NULL);
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	cr_assert_eq(count_outcome(log, XCHG_SKIPPED), 1, "the old copy was not skipped");
	log_msg = log->ev[0].message;
	cr_assert(log_msg && strstr(log_msg, "rotated away"), "no word of the old key: %s",
		  log_msg ? log_msg : "(none)");
}

/*
 * Catches: a secret key that others on the machine can read being used, so
 * that the leak goes unnoticed; and a refusal that moves the counters or
 * leaves a packet behind.
 */
Test(keys, secret_key_readable_by_others_is_refused)
{
	static const mode_t loose[] = {0640, 0604, 0660, 0644};
	exported out;
	xchg_err err;
	size_t i;

	star();
	sql_exec(D, "INSERT INTO brigades (name) VALUES ('waiting')");
	for (i = 0; i < sizeof(loose) / sizeof(loose[0]); i++) {
		cr_assert_eq(chmod(D->key_path, loose[i]), 0);
		cr_assert_neq(try_export(D, "CENTER", share, &out, &err), XCHG_OK, "mode %03o",
			      (unsigned)loose[i]);
		cr_assert(strstr(err.msg, D->key_path) && strstr(err.msg, "readable by others") &&
				  strstr(err.msg, "chmod 600"),
			  "mode %03o: %s", (unsigned)loose[i], err.msg);
		cr_assert_eq(count_files(share, "pkt_"), 0, "a packet was written");
		cr_assert_eq(sent_no(D, "CENTER"), 0, "the refused export took a packet number");
		cr_assert(strstr(err.msg, "secret:") == NULL, "the message shows key material");
	}
	cr_assert_eq(chmod(D->key_path, 0600), 0);
	expect_applied(import_paths(C, acks, export_packet(D, "CENTER", share).path, NULL),
		       "the packet once the mode is 0600");
}
