/*
 * The protocol invariants of formats/PACKET.md 6, one or more
 * tests each, played out between real node databases through the public
 * API. Each test is named after what it guards and is built so that an
 * implementation breaking that rule fails it: the comment above a test says
 * which mistake it catches.
 *
 * The SQL here is what the application would write, and runs on SQLite and
 * on PostgreSQL alike (XCHG_TEST_CENTER=pg puts the center on PostgreSQL,
 * see harness.h): booleans are written TRUE and FALSE, a new row is found by
 * max(id), lists are compared through sql_rows.
 */
#include <criterion/criterion.h>

#include <fnmatch.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"

TestSuite(invariants, .init = harness_setup, .fini = harness_teardown);

/* ---- the story's props ----------------------------------------------------- */

static node *C, *D;       /* the center and its desktop */
static node *D2;          /* a second desktop, where a story needs one */
static const char *share; /* the shared folder */

static void star(void)
{
	C = center_new("CENTER");
	D = desktop_new("DESKTOP-1");
	link_nodes(C, D);
	share = make_folder("share");
}

/* The same star, deciding conflicts by last writer. */
static void star_last_writer_wins(void)
{
	const char *plan = plan_variant("master-wins", "last-writer-wins");

	C = node_create("CENTER", 1, plan, NULL);
	D = node_create("DESKTOP-1", 0, plan, NULL);
	link_nodes(C, D);
	share = make_folder("share");
}

static const char *add_brigade(node *n, const char *name)
{
	sql_exec(n, "INSERT INTO brigades (name) VALUES ('%s')", name);
	return sql_text(n, "SELECT uuid FROM brigades WHERE id = (SELECT max(id) FROM brigades)");
}

static void rename_brigade(node *n, const char *uuid, const char *name)
{
	sql_exec(n, "UPDATE brigades SET name = '%s' WHERE uuid = '%s'", name, uuid);
}

static const char *brigade_name(node *n, const char *uuid)
{
	return sql_text(n, "SELECT name FROM brigades WHERE uuid = '%s'", uuid);
}

static int64_t brigades(node *n)
{
	return sql_int(n, "SELECT count(*) FROM brigades");
}

static void expect_str(const char *got, const char *want, const char *what)
{
	cr_assert(got && want ? strcmp(got, want) == 0 : got == want,
		  "%s: got %s%s%s, expected %s%s%s", what, got ? "\"" : "", got ? got : "NULL",
		  got ? "\"" : "", want ? "\"" : "", want ? want : "NULL", want ? "\"" : "");
}

static void expect_name(node *n, const char *uuid, const char *want)
{
	expect_str(brigade_name(n, uuid), want, hstr("brigade %s at %s", uuid, n->code));
}

/* The path of the one acknowledgement an import wrote. */
static const char *ack_of(const import_log *log);

/*
 * Delivers from the center to the desktop and brings the desktop's ack
 * back, so that nothing is left queued: what a later packet carries was
 * registered after this point (and not left over from an unacked packet).
 */
static void sync_down(void)
{
	const import_log *log = deliver(C, D, share);

	expect_applied(import_paths(C, share, ack_of(log), NULL), "the desktop's ack");
	cr_assert_eq(queued(C, "DESKTOP-1"), 0, "the center's queue after the ack");
	cr_assert_eq(queued(D, "CENTER"), 0, "the desktop's queue after a delivery");
}

/* The path of the one acknowledgement an import wrote. */
static const char *ack_of(const import_log *log)
{
	size_t i;

	cr_assert_eq(count_outcome(log, XCHG_ACK_WRITTEN), 1,
		     "expected one acknowledgement written, got %zu",
		     count_outcome(log, XCHG_ACK_WRITTEN));
	for (i = 0; i < log->n; i++)
		if (log->ev[i].outcome == XCHG_ACK_WRITTEN)
			return log->ev[i].path;
	return NULL;
}

static void expect_refused(const import_log *log, const char *because, const char *what)
{
	cr_assert_eq(count_outcome(log, XCHG_REFUSED), 1, "%s: expected one refusal, got %zu",
		     what, count_outcome(log, XCHG_REFUSED));
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 0, "%s: something was applied", what);
	cr_assert_neq(log->rc, XCHG_OK, "%s: import reported success", what);
	cr_assert_not_null(log->ev[0].message, "%s: a refusal without a message", what);
	cr_assert_not_null(strstr(log->ev[0].message, because),
			   "%s: message \"%s\" does not say \"%s\"", what, log->ev[0].message, because);
}

/* ---- 1. Numbers -------------------------------------------------------------- */

/*
 * Catches: one counter shared by all peers, numbers that skip or restart,
 * a header whose ack is not the last packet received from that peer.
 */
Test(invariants, numbers_count_per_peer_and_ack_the_last_received)
{
	exported p[4];
	const import_log *log;
	const pkt_view *v;
	const char *acks = make_folder("acks");
	int i;

	star();
	D2 = desktop_new("DESKTOP-2");
	link_nodes(C, D2);
	add_brigade(C, "Alpha");
	for (i = 1; i <= 3; i++) {
		p[i] = export_packet(C, "DESKTOP-1", share);
		cr_assert_eq(p[i].packet_no, i, "packet %d for DESKTOP-1 numbered %lld", i,
			     (long long)p[i].packet_no);
		expect_str(p[i].path, hstr("%s/pkt_CENTER_DESKTOP-1_%d.zip", share, i), "file name");
		v = read_packet(p[i].path);
		cr_assert_eq(v->packet_no, i, "header packet_no %lld in packet %d",
			     (long long)v->packet_no, i);
		expect_str(v->sender, "CENTER", "header sender");
		expect_str(v->recipient, "DESKTOP-1", "header recipient");
	}
	cr_assert_eq(export_packet(C, "DESKTOP-2", share).packet_no, 1,
		     "DESKTOP-2's first packet must be 1 whatever was sent to DESKTOP-1");
	cr_assert_eq(sent_no(C, "DESKTOP-1"), 3);
	cr_assert_eq(sent_no(C, "DESKTOP-2"), 1);

	log = import_paths(D, acks, p[1].path, p[2].path, NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 2, "%s", log->err.msg);
	cr_assert_eq(received_no(D, "CENTER"), 2, "the desktop's last received from the center");
	v = read_packet(ack_of(log));
	cr_assert_eq(v->packet_no, 1, "the desktop's first packet to the center");
	cr_assert_eq(v->ack_packet_no, 2, "the acknowledgement names the last packet received");

	/* Packet 3 carries Alpha again, which the desktop has: it needs no answer. */
	log = import_paths(D, acks, p[3].path, NULL);
	expect_applied(log, "packet 3");
	cr_assert_eq(count_outcome(log, XCHG_ACK_WRITTEN), 0, "a packet that changed nothing was answered");
	p[0] = export_packet(D, "CENTER", acks);
	cr_assert_eq(p[0].packet_no, 2, "after one acknowledgement the next packet is 2");
	cr_assert_eq(p[0].ack_packet_no, 3, "result's ack_packet_no");
	cr_assert_eq(read_packet(p[0].path)->ack_packet_no, 3, "header's ack_packet_no");
}

/* ---- 2. Cumulative ----------------------------------------------------------- */

/*
 * Catches: a packet that carries only what is new since the last packet
 * (a lost packet would lose its changes for good), and a receiver that
 * insists on last received + 1.
 */
Test(invariants, cumulative_packet_repairs_a_lost_one)
{
	const char *a, *b, *lost = make_folder("lost");
	exported p1, p2, p3;
	const import_log *log;

	star();
	a = add_brigade(C, "Alpha");
	p1 = export_packet(C, "DESKTOP-1", lost);
	cr_assert_eq(p1.entities, 1);
	b = add_brigade(C, "Bravo");
	p2 = export_packet(C, "DESKTOP-1", share);
	cr_assert_eq(p2.entities, 2, "packet 2 must carry the unacknowledged Alpha as well as Bravo");

	log = import_paths(D, share, p2.path, NULL);
	expect_applied(log, "packet 2 across the gap");
	expect_name(D, a, "Alpha");
	expect_name(D, b, "Bravo");
	cr_assert_eq(received_no(D, "CENTER"), 2);

	/* Once acknowledged, nothing is carried again. */
	expect_applied(import_paths(C, share, ack_of(log), NULL), "the desktop's ack");
	cr_assert_eq(queued(C, "DESKTOP-1"), 0);
	p3 = export_packet(C, "DESKTOP-1", share);
	cr_assert_eq(p3.entities, 0, "an acknowledged change travelled again");
	/* The lost packet turning up later is a duplicate. */
	log = import_paths(D, share, p1.path, NULL);
	cr_assert_eq(count_outcome(log, XCHG_SKIPPED), 1, "late packet 1 after packet 2");
}

/* ---- 3. Duplicates ----------------------------------------------------------- */

/*
 * Catches: applying a packet again. After packet 1 the desktop renames the
 * row locally; if packet 1 were applied a second time its (master's)
 * version would win the conflict and undo the local edit.
 */
Test(invariants, duplicate_packet_is_skipped_never_applied_twice)
{
	const char *uuid, *acks = make_folder("acks");
	exported p1;
	const import_log *log;

	star();
	uuid = add_brigade(C, "Alpha");
	p1 = export_packet(C, "DESKTOP-1", share);
	expect_applied(import_paths(D, acks, p1.path, NULL), "packet 1");
	rename_brigade(D, uuid, "Desk");

	log = import_paths(D, acks, p1.path, NULL);
	cr_assert_eq(log->rc, XCHG_OK, "a duplicate is no failure: %s", log->err.msg);
	cr_assert_eq(count_outcome(log, XCHG_SKIPPED), 1, "packet 1 again must be skipped");
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 0);
	cr_assert_not_null(find_event(log, XCHG_SKIPPED, 1));
	expect_name(D, uuid, "Desk");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM sync_conflicts"), 0,
		     "a skipped packet decided a conflict");
	cr_assert_eq(queued_uuid(D, "CENTER", uuid), 1, "the local edit's registration was dropped");
	cr_assert_eq(received_no(D, "CENTER"), 1);
}

/* Catches: two copies of one packet in one import (two folders) both applied. */
Test(invariants, duplicate_copies_in_one_import_apply_once)
{
	const char *copy = make_folder("copy");
	exported p1;
	const import_log *log;

	star();
	add_brigade(C, "Alpha");
	p1 = export_packet(C, "DESKTOP-1", share);
	copy_file(p1.path, hstr("%s/pkt_CENTER_DESKTOP-1_1.zip", copy));
	log = import_paths(D, make_folder("acks"), share, copy, NULL);
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1);
	cr_assert_eq(count_outcome(log, XCHG_SKIPPED), 1);
	cr_assert_eq(brigades(D), 1);
}

/* ---- 4. Order ---------------------------------------------------------------- */

/* Packets 1..n of the center, each renaming one brigade to "v<k>". */
static void renames(int n, exported *p, const char **uuid)
{
	int k;

	*uuid = add_brigade(C, "v0");
	for (k = 1; k <= n; k++) {
		rename_brigade(C, *uuid, hstr("v%d", k));
		p[k] = export_packet(C, "DESKTOP-1", share);
	}
}

/* Applied packets, in the order the importer reported them, must be first..last. */
static void expect_ascending(const import_log *log, int first, int last)
{
	size_t i;
	int k = first - 1, n = last;

	for (i = 0; i < log->n; i++) {
		if (log->ev[i].outcome == XCHG_ACK_WRITTEN)
			continue;
		k++;
		cr_assert_eq(log->ev[i].outcome, XCHG_APPLIED, "packet %lld was not applied: %s",
			     (long long)log->ev[i].packet_no,
			     log->ev[i].message ? log->ev[i].message : "");
		cr_assert_eq(log->ev[i].packet_no, k, "event %zu is packet %lld, expected %d", i,
			     (long long)log->ev[i].packet_no, k);
	}
	cr_assert_eq(k, n, "reported up to packet %d, expected up to %d", k, n);
}

/*
 * Catches: applying packets in the order given. Given 5,4,3,2,1 a naive
 * importer applies 5 and skips the rest as duplicates.
 */
Test(invariants, order_packets_given_in_reverse_apply_ascending)
{
	exported p[6];
	const char *uuid, *paths[5];
	int k;

	star();
	renames(5, p, &uuid);
	for (k = 0; k < 5; k++)
		paths[k] = p[5 - k].path;
	expect_ascending(import_list(D, make_folder("acks"), paths, 5), 1, 5);
	expect_name(D, uuid, "v5");
	cr_assert_eq(received_no(D, "CENTER"), 5);
}

/*
 * Catches: sorting a folder by file name. pkt_..._10.zip sorts before
 * pkt_..._2.zip; by name, packets 2..9 would be skipped as duplicates.
 */
Test(invariants, order_folder_by_number_not_by_name)
{
	exported p[12];
	const char *uuid;

	star();
	renames(11, p, &uuid);
	expect_ascending(import_paths(D, make_folder("acks"), share, NULL), 1, 11);
	expect_name(D, uuid, "v11");
}

/* ---- 5. ACK purge ------------------------------------------------------------- */

/*
 * Catches: a registration updated after its packet went out but keeping
 * that packet's number; the ack of that packet would purge the newer,
 * unsent change.
 */
Test(invariants, ack_purge_keeps_rows_changed_after_send)
{
	const char *uuid, *acks = make_folder("acks");
	const import_log *log;
	exported p2;
	const pkt_entity *e;

	star();
	uuid = add_brigade(C, "v1");
	log = import_paths(D, acks, export_packet(C, "DESKTOP-1", share).path, NULL);
	expect_applied(log, "packet 1");
	rename_brigade(C, uuid, "v2"); /* after packet 1 was sent */
	route(C);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_changes WHERE entity_uuid = '%s'"
				" AND packet_no IS NULL", uuid), 1,
		     "a change after sending must clear the registration's packet_no");

	expect_applied(import_paths(C, share, ack_of(log), NULL), "the ack of packet 1");
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 1);
	cr_assert_eq(queued_uuid(C, "DESKTOP-1", uuid), 1, "the newer change was purged unsent");

	p2 = export_packet(C, "DESKTOP-1", share);
	cr_assert_eq(p2.entities, 1);
	cr_assert_not_null(e = packet_entity(read_packet(p2.path), uuid));
	cr_assert_not_null(strstr(e->data, "\"v2\""), "packet 2 carries %s", e->data);
	expect_applied(import_paths(D, acks, p2.path, NULL), "packet 2");
	expect_name(D, uuid, "v2");
}

/*
 * Catches: an ack purging more than the packets it acknowledges. Packet 2
 * carried Alpha again (cumulative), so the ack of packet 1 alone keeps both.
 */
Test(invariants, ack_purge_forgets_only_what_acked_packets_carried)
{
	const char *acks = make_folder("acks");
	exported p1, p2;
	const import_log *log1, *log2;

	star();
	add_brigade(C, "Alpha");
	p1 = export_packet(C, "DESKTOP-1", share);
	add_brigade(C, "Bravo");
	p2 = export_packet(C, "DESKTOP-1", share);
	cr_assert_eq(queued(C, "DESKTOP-1"), 2);

	log1 = import_paths(D, acks, p1.path, NULL);
	expect_applied(log1, "packet 1");
	expect_applied(import_paths(C, share, ack_of(log1), NULL), "ack 1");
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 1);
	cr_assert_eq(queued(C, "DESKTOP-1"), 2, "ack 1 purged what only packet 2 carried last");

	log2 = import_paths(D, make_folder("acks2"), p2.path, NULL);
	expect_applied(log2, "packet 2");
	expect_applied(import_paths(C, share, ack_of(log2), NULL), "ack 2");
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 2);
	cr_assert_eq(queued(C, "DESKTOP-1"), 0, "ack 2 must purge everything packet 2 carried");
}

/* Catches: acks that move backwards, or an older ack purging anything. */
Test(invariants, ack_old_or_repeated_is_a_no_op)
{
	const import_log *log1, *log2, *log;
	const char *ack1, *ack2;

	star();
	add_brigade(C, "Alpha");
	log1 = import_paths(D, make_folder("a1"), export_packet(C, "DESKTOP-1", share).path, NULL);
	expect_applied(log1, "packet 1");
	ack1 = ack_of(log1);
	add_brigade(C, "Bravo");
	log2 = import_paths(D, make_folder("a2"), export_packet(C, "DESKTOP-1", share).path, NULL);
	expect_applied(log2, "packet 2");
	ack2 = ack_of(log2);

	expect_applied(import_paths(C, share, ack2, NULL), "ack 2");
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 2);
	add_brigade(C, "Charlie");
	export_packet(C, "DESKTOP-1", share); /* packet 3 carries Charlie */

	log = import_paths(C, share, ack1, NULL); /* late */
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	cr_assert_eq(count_outcome(log, XCHG_SKIPPED), 1);
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 2, "an old ack moved the counter back");
	cr_assert_eq(queued(C, "DESKTOP-1"), 1, "Charlie, carried by unacknowledged packet 3");
	log = import_paths(C, share, ack2, NULL); /* repeated */
	cr_assert_eq(count_outcome(log, XCHG_SKIPPED), 1);
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 2);
	cr_assert_eq(queued(C, "DESKTOP-1"), 1, "a repeated ack purged unacknowledged packet 3");
}

/*
 * Catches: an importer that returns at "duplicate" before reading the ack.
 * The center's received number for the desktop is put ahead (as after a
 * restore, or a packet that arrived by another way), so the desktop's
 * packet 1 is a duplicate whose ack the center has not seen.
 */
Test(invariants, ack_of_a_skipped_duplicate_is_honoured)
{
	const import_log *log;

	star();
	add_brigade(C, "Alpha");
	log = import_paths(D, make_folder("acks"), export_packet(C, "DESKTOP-1", share).path, NULL);
	expect_applied(log, "packet 1");
	sql_exec(C, "UPDATE sync_nodes SET received_packet_no = 5 WHERE code = 'DESKTOP-1'");

	log = import_paths(C, share, ack_of(log), NULL);
	cr_assert_eq(count_outcome(log, XCHG_SKIPPED), 1, "the desktop's packet 1 is a duplicate");
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 1, "its ack was not honoured");
	cr_assert_eq(queued(C, "DESKTOP-1"), 0);
	cr_assert_eq(received_no(C, "DESKTOP-1"), 5, "a duplicate moved the received number");
}

/*
 * Catches: a version the sender carries again (its packet not yet
 * acknowledged) written again at the center, captured, and sent on to the
 * other desktops, where it may overtake what they changed since: answers
 * that cross, each acknowledging the packet before, resend it every round.
 */
Test(invariants, a_resent_version_is_not_sent_on_again)
{
	const char *uuid;

	star();
	D2 = desktop_new("DESKTOP-2");
	link_nodes(C, D2);
	uuid = add_brigade(D, "Alpha");
	deliver(D, C, share);
	deliver(C, D2, share);
	deliver(D2, C, share);
	cr_assert_eq(queued_uuid(C, "DESKTOP-2", uuid), 0, "D2's acknowledgement was not taken");
	/* D has heard nothing from the center: its next packet carries Alpha again. */
	deliver(D, C, share);
	route(C);
	cr_assert_eq(queued_uuid(C, "DESKTOP-2", uuid), 0,
		     "the center sends D2 again a version D2 has, only because D carried it again");
}

/*
 * Catches: answers that never end. The center and its desktop each import
 * the other's packet and answer at once; each answer carries again the
 * change its writer has not heard acknowledged, because the crossing
 * answer acknowledges only the packet before. A packet that changes
 * nothing needs no answer, so the exchange comes to rest.
 */
Test(invariants, answers_that_cross_come_to_rest)
{
	const char *to_d, *to_c, *alpha, *bravo;
	int round, answers = 2;

	star();
	alpha = add_brigade(C, "Alpha");
	bravo = add_brigade(D, "Bravo");
	to_d = export_packet(C, "DESKTOP-1", share).path;
	to_c = export_packet(D, "CENTER", share).path;
	for (round = 0; round < 5 && answers; round++) {
		const import_log *at_d = import_paths(D, make_folder(hstr("to-c-%d", round)), to_d, NULL);
		const import_log *at_c = import_paths(C, make_folder(hstr("to-d-%d", round)), to_c, NULL);

		expect_applied(at_d, "the center's packet");
		expect_applied(at_c, "the desktop's packet");
		answers = (int)(count_outcome(at_d, XCHG_ACK_WRITTEN) + count_outcome(at_c, XCHG_ACK_WRITTEN));
		to_d = count_outcome(at_c, XCHG_ACK_WRITTEN) ? ack_of(at_c) : NULL;
		to_c = count_outcome(at_d, XCHG_ACK_WRITTEN) ? ack_of(at_d) : NULL;
		if (!to_d || !to_c)
			break;
	}
	cr_assert_eq(answers, 0, "the two ends still answer each other after %d rounds", round);
	cr_assert_eq(round, 1, "the answers came to rest after %d rounds, not 2", round + 1);
	expect_name(C, bravo, "Bravo");
	expect_name(D, alpha, "Alpha");
}

/*
 * Catches: acknowledgements taken without checking their signature, and
 * answering an ack with an ack (two nodes would ping-pong empty packets).
 * The ack arrives after the center has sent two more packets.
 */
Test(invariants, ack_packet_is_signed_checked_and_needs_no_answer)
{
	const char *ack, *bad = tmp_path("bad.zip");
	const import_log *log;
	const pkt_view *v;

	star();
	add_brigade(C, "Alpha");
	log = import_paths(D, make_folder("acks"), export_packet(C, "DESKTOP-1", share).path, NULL);
	ack = ack_of(log);
	v = read_packet(ack);
	cr_assert_eq(v->n, 0, "the desktop had nothing to send: its ack has no entities");
	cr_assert_eq(v->ack_packet_no, 1);
	add_brigade(C, "Bravo");
	export_packet(C, "DESKTOP-1", share);
	export_packet(C, "DESKTOP-1", share);

	tamper_packet(ack, bad, "\"ack_packet_no\":1", "\"ack_packet_no\":3");
	log = import_paths(C, share, bad, NULL);
	expect_refused(log, "signature", "a forged ack");
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 0);
	cr_assert_eq(queued(C, "DESKTOP-1"), 2);
	cr_assert_eq(received_no(C, "DESKTOP-1"), 0);

	log = import_paths(C, share, ack, NULL);
	expect_applied(log, "the real ack, picked up late");
	cr_assert_eq(count_outcome(log, XCHG_ACK_WRITTEN), 0, "an ack was answered");
	cr_assert_eq(acked_no(C, "DESKTOP-1"), 1);
	cr_assert_eq(received_no(C, "DESKTOP-1"), 1, "an ack packet is numbered like any other");
	cr_assert_eq(queued(C, "DESKTOP-1"), 2, "packets 2 and 3 re-stamped both: still unacked");
}

/*
 * Catches: an ack for packets this node never wrote purging its changes, or
 * refusing the packet. Such an ack means this node went back in time (it
 * was restored from a copy, PACKET.md section 6.3): its numbering jumps past the
 * ack, everything queued for the peer travels again, the packet applies,
 * and the next packet is this node's full state and asks for the peer's.
 */
Test(invariants, ack_beyond_what_was_sent_means_this_node_went_back)
{
	const pkt_entity e = {"Brigade", "0b3e7a3c-8a5b-4c1e-9f00-000000000001", "INSERT", NULL,
			      "{\"name\":\"Zulu\"}"};
	const import_log *log;
	const import_event *ev;
	const pkt_view *answer;

	star();
	add_brigade(C, "Alpha");
	export_packet(C, "DESKTOP-1", share);
	log = import_paths(C, share, write_packet(D, make_folder("hand"), "CENTER", 1, 7, &e, 1), NULL);
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1);
	cr_assert(ev = find_event(log, XCHG_NOTICE, 1), "the import does not say what it saw");
	cr_assert(strstr(ev->message, "this node went back in time"), "%s", ev->message);
	cr_assert_eq(brigades(C), 2, "Zulu not applied");
	cr_assert_eq(queued(C, "DESKTOP-1"), 1, "the ack purged a change the peer never had");
	cr_assert(ev = find_event(log, XCHG_ACK_WRITTEN, 8),
		  "the answer is not numbered past the ack (packet 8)");
	answer = read_packet(ev->path);
	cr_assert(answer->full_state && answer->n == (size_t)brigades(C),
		  "the answer is not this node's full state (%zu entities)", answer->n);
	cr_assert(answer->resync, "the answer does not ask for the peer's full state");
}

/* A star whose desktop has delivered one brigade, and a copy of the desktop then. */
static const char *backup_after_a_delivery(void)
{
	star();
	add_brigade(D, "First");
	deliver(D, C, share);
	return node_backup(D);
}

/*
 * Catches: a packet its sender wrote before it went back to a copy,
 * brought late, after this node had sent it its full state: applied as the
 * sender's own, what it carries goes nowhere back to the sender, which no
 * longer holds it, and the row ends at the center and not at the desktop
 * that made it (PACKET.md 6.3, found by the convergence soak, seed 9811).
 */
Test(invariants, a_late_packet_from_before_a_restore_goes_back_to_its_sender)
{
	const char *copy, *lost;
	exported late;
	const import_log *log;
	const import_event *ev;

	copy = backup_after_a_delivery();
	add_brigade(D, "Second");
	deliver(D, C, share);
	lost = add_brigade(D, "Lost");
	late = export_packet(D, "CENTER", make_folder("late"));
	node_restore(D, copy);
	/* Packet 2 again, written after: the center finds D went back and owes it its full state. */
	log = import_paths(C, share, export_packet(D, "CENTER", make_folder("again")).path, NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s", log->err.msg);
	/* D applies it (and numbers its acknowledgement 3), then acknowledges it in packet 4. */
	log = import_paths(D, make_folder("ack"), export_packet(C, "DESKTOP-1", make_folder("full")).path,
			   NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s", log->err.msg);
	log = import_paths(C, share, late.path, export_packet(D, "CENTER", make_folder("four")).path,
			   NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 2, "the late packet: %s", log->err.msg);
	cr_assert(ev = find_event(log, XCHG_NOTICE, late.packet_no), "the import does not say what it saw");
	cr_assert(strstr(ev->message, "went back in time after writing packet"), "%s", ev->message);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE uuid = '%s'", lost), 1);
	/* D numbered its acknowledgement 3 too: it learns that its packet 3 reached the center. */
	log = import_paths(D, share, export_packet(C, "DESKTOP-1", make_folder("back")).path, NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s", log->err.msg);
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM brigades WHERE uuid = '%s'", lost), 1,
		     "the row D made before it went back is at the center, and never came back to D");
}

/*
 * Catches: a desktop restored from a copy whose reused number never tells:
 * its packet 2 from before the restore, carrying a row, and its packet 3
 * from after reach the center in one import (the new packet 2 is lost),
 * so no acknowledgement ever names the old packet 2, and the center keeps
 * the row as the desktop's own, never to send it back (found by the
 * convergence soak, seed 10511). The center lists the packets it received
 * until the desktop has read the list, and the desktop finds its packet 2
 * among them, written before its own.
 */
Test(invariants, a_reused_number_never_acknowledged_still_tells_the_sender)
{
	const char *copy, *lost;
	exported old2, new3, down, up;
	const import_log *log;
	const import_event *ev;

	copy = backup_after_a_delivery();
	lost = add_brigade(D, "Lost");
	old2 = export_packet(D, "CENTER", make_folder("old"));
	node_restore(D, copy);
	(void)export_packet(D, "CENTER", make_folder("lost"));
	new3 = export_packet(D, "CENTER", make_folder("new"));
	log = import_paths(C, share, old2.path, new3.path, NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 2, "%s", log->err.msg);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE uuid = '%s'", lost), 1);
	down = export_packet(C, "DESKTOP-1", make_folder("down"));
	cr_assert_eq(read_packet(down.path)->ack_packet_no, 3, "the center acknowledges packet 3");
	log = import_paths(D, share, down.path, NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s", log->err.msg);
	cr_assert(ev = find_event(log, XCHG_NOTICE, down.packet_no),
		  "the desktop does not see that it went back");
	cr_assert(strstr(ev->message, "lists as received a packet 2"), "%s", ev->message);
	/* Its next packet asks for the center's full state, which brings the row back. */
	up = export_packet(D, "CENTER", make_folder("up"));
	cr_assert(read_packet(up.path)->resync, "the desktop does not ask for the full state");
	log = import_paths(C, share, up.path, NULL);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s", log->err.msg);
	expect_applied(deliver(C, D, share), "the center's full state");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM brigades WHERE uuid = '%s'", lost), 1,
		     "the row D made before it went back is at the center, and never came back to D");
}

/* ---- 6. Commit, then publish ------------------------------------------------- */

/* Catches: a number or marks committed for a packet that was never written. */
Test(invariants, export_that_cannot_write_changes_nothing)
{
	exported p;
	xchg_err err;

	star();
	add_brigade(C, "Alpha");
	cr_assert_neq(try_export(C, "DESKTOP-1", tmp_path("no/such/folder"), &p, &err), XCHG_OK);
	cr_assert_not_null(strstr(err.msg, "no/such/folder"), "the message names the folder: %s",
			   err.msg);
	cr_assert_eq(sent_no(C, "DESKTOP-1"), 0, "a failed export used up a number");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_changes WHERE packet_no IS NOT NULL"), 0,
		     "a failed export marked registrations as sent");
	cr_assert_eq(export_packet(C, "DESKTOP-1", share).packet_no, 1);
}

/*
 * The window between commit and rename: here the rename fails because a
 * file already has the name. The number stays used (never handed out twice,
 * so no second, different packet 1 can appear), no temporary is left, and
 * the next packet carries everything (cumulative).
 */
Test(invariants, publish_failure_after_commit_is_covered_by_the_next_packet)
{
	const char *a, *b, *squatter;
	exported p;
	xchg_err err;

	star();
	a = add_brigade(C, "Alpha");
	squatter = hstr("%s/pkt_CENTER_DESKTOP-1_1.zip", share);
	copy_file(EXAMPLE_PLAN, squatter);
	cr_assert_neq(try_export(C, "DESKTOP-1", share, &p, &err), XCHG_OK, "overwrote a file");
	cr_assert_not_null(strstr(err.msg, "exists"), "%s", err.msg);
	cr_assert_eq(count_files(share, "."), 0, "a temporary file was left behind");
	cr_assert_eq(count_files(share, ""), 1);
	cr_assert_eq(sent_no(C, "DESKTOP-1"), 1, "the committed number must not be handed out again");

	b = add_brigade(C, "Bravo");
	p = export_packet(C, "DESKTOP-1", share);
	cr_assert_eq(p.packet_no, 2);
	cr_assert_eq(p.entities, 2);
	expect_applied(import_paths(D, share, p.path, NULL), "packet 2");
	expect_name(D, a, "Alpha");
	expect_name(D, b, "Bravo");
}

/* Catches: an importer that picks up a writer's hidden temporaries. */
Test(invariants, hidden_temporaries_are_never_imported)
{
	const char *out = make_folder("out");
	exported p;
	const import_log *log;

	star();
	add_brigade(C, "Alpha");
	p = export_packet(C, "DESKTOP-1", out);
	copy_file(p.path, hstr("%s/.pkt_CENTER_DESKTOP-1_1.zip.tmp", share));
	copy_file(p.path, hstr("%s/.pkt_CENTER_DESKTOP-1_1.zip", share));
	copy_file(p.path, hstr("%s/pkt_CENTER_DESKTOP-1_1.zip.part", share));
	log = import_paths(D, share, share, NULL);
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	cr_assert_eq(log->n, 0, "%zu events from a folder of temporaries", log->n);
	cr_assert_eq(brigades(D), 0);
	cr_assert_eq(received_no(D, "CENTER"), 0);
}

/*
 * The common case of a scheduled import: nothing has arrived. Catches an
 * importer that fails (or, under UBSan, aborts: qsort with a NULL array)
 * on a folder without packets.
 */
Test(invariants, empty_inbox_is_no_error)
{
	const import_log *log;

	star();
	log = import_paths(D, share, share, NULL);
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	cr_assert_eq(log->n, 0);
}

/* ---- 7. All or nothing --------------------------------------------------------- */

/*
 * Catches: applying entity by entity with a commit (or no transaction)
 * between them, and taking the ack or the number of a packet that fails.
 * The packet's first entity is good; a later one cannot be applied. The
 * packet also acknowledges the desktop's packet 1, which would purge the
 * desktop's queue.
 */
Test(invariants, packet_is_all_or_nothing_when_a_later_entity_fails)
{
	static const char *const bad[][2] = {
		{"Ghost", "{\"name\":\"Boo\"}"},
		{"Estimate", "{\"number\":\"E-1\",\"no_such_column\":1}"},
		{"Estimate", "{\"number\":\"E-1\",\"id\":42}"},
		{"DailyReport", "{\"report_date\":\"2026-11-25\",\"lines\":[{\"comment\":\"no uuid\"}]}"},
	};
	size_t i;

	star();
	add_brigade(D, "Desk");
	export_packet(D, "CENTER", make_folder("up")); /* desktop's packet 1 */
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const pkt_entity e[2] = {
			{"Brigade", "0b3e7a3c-8a5b-4c1e-9f00-000000000001", "INSERT", NULL,
			 "{\"name\":\"Good\",\"headcount\":5}"},
			{bad[i][0], "0b3e7a3c-8a5b-4c1e-9f00-000000000002", "INSERT", NULL, bad[i][1]},
		};
		const char *path = write_packet(C, make_folder(hstr("bad%zu", i)), "DESKTOP-1", 1, 1, e, 2);
		const import_log *log = import_paths(D, share, path, NULL);
		const char *what = hstr("bad entity %s %s", bad[i][0], bad[i][1]);

		expect_refused(log, "entity 2", what);
		cr_assert_eq(sql_int(D, "SELECT count(*) FROM brigades WHERE name = 'Good'"), 0,
			     "%s: the first entity was applied", what);
		cr_assert_eq(received_no(D, "CENTER"), 0, "%s: received number moved", what);
		cr_assert_eq(acked_no(D, "CENTER"), 0, "%s: ack taken", what);
		cr_assert_eq(queued(D, "CENTER"), 1, "%s: ack purged the queue", what);
		cr_assert(file_exists(path), "%s: a refused packet must stay where it was", what);
		cr_assert_eq(count_outcome(log, XCHG_ACK_WRITTEN), 0, "%s: acknowledged", what);
	}
}

/*
 * The same through the real exporter: the sender's table has a column the
 * receiver lacks. Brigades (earlier in the plan) must not land without the
 * estimate.
 */
Test(invariants, packet_with_a_column_the_receiver_lacks_changes_nothing)
{
	const import_log *log;

	star();
	sql_exec(C, "ALTER TABLE estimates ADD COLUMN discount TEXT");
	node_reopen(C);
	add_brigade(C, "Alpha");
	sql_exec(C, "INSERT INTO estimates (number, discount) VALUES ('E-1', '5%%')");
	log = import_paths(D, share, export_packet(C, "DESKTOP-1", share).path, NULL);
	expect_refused(log, "discount", "estimate with an extra column");
	cr_assert_eq(brigades(D), 0, "the brigade before the bad estimate was applied");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM estimates"), 0);
	cr_assert_eq(received_no(D, "CENTER"), 0);
}

/* Catches: committing what was applied before the signature was checked. */
Test(invariants, tampered_packet_changes_nothing)
{
	const char *uuid, *bad = tmp_path("bad.zip");
	exported p;
	const import_log *log;

	star();
	uuid = add_brigade(C, "Alpha");
	p = export_packet(C, "DESKTOP-1", share);
	tamper_packet(p.path, bad, "Alpha", "Omega");
	log = import_paths(D, share, bad, NULL);
	expect_refused(log, "signature does not verify", "a tampered packet");
	cr_assert_eq(brigades(D), 0, "a tampered entity was applied");
	cr_assert_eq(received_no(D, "CENTER"), 0);
	cr_assert(file_exists(bad));

	expect_applied(import_paths(D, share, p.path, NULL), "the genuine packet");
	expect_name(D, uuid, "Alpha");
}

/* ---- 8. No echo ----------------------------------------------------------------- */

/* Counts, in capture_seen, every row the node's capture log is given. */
static void watch_capture(node *n)
{
	if (n->pg)
		sql_exec(n, "CREATE TABLE capture_seen (entity_type text, origin_id text);"
			    "CREATE FUNCTION capture_seen() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN"
			    " INSERT INTO capture_seen VALUES (NEW.entity_type, NEW.origin_id); RETURN NEW;"
			    " END $$;"
			    "CREATE TRIGGER capture_seen AFTER INSERT ON sync_capture FOR EACH ROW"
			    " EXECUTE FUNCTION capture_seen();");
	else
		sql_exec(n, "CREATE TABLE capture_seen (entity_type TEXT, origin_id TEXT);"
			    "CREATE TRIGGER capture_seen AFTER INSERT ON sync_capture BEGIN"
			    " INSERT INTO capture_seen VALUES (NEW.entity_type, NEW.origin_id); END;");
}

/*
 * Catches: a center with a single desktop logging every row that desktop
 * sends, to be thrown away by routing (a first packet's million rows), or
 * one that stops logging the rows of an entity with a subset, which the
 * center may owe that desktop an EVICT for (rule 13).
 */
Test(invariants, a_center_logs_a_desktops_rows_only_where_they_may_go)
{
	star();
	watch_capture(C);
	add_brigade(D, "Only to the center");
	sql_exec(D, "INSERT INTO estimates (number, title, site) VALUES ('E-1', 'Roof', 'north')");
	deliver(D, C, share);
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM capture_seen WHERE entity_type = 'Brigade'"), 0,
		     "a brigade the desktop sent was logged at a center with no other desktop");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM capture_seen WHERE entity_type = 'Estimate'"), 1,
		     "an estimate, which has a subset, was not logged");
	cr_assert_eq(brigades(C), 1);
}

/*
 * Catches: triggers that register applied changes for the peer they came
 * from (an endless echo), a center that does not forward to the other
 * desktops, and a desktop that registers what it received (children
 * included: applying a report rewrites its lines).
 */
Test(invariants, no_echo_but_the_center_forwards)
{
	const char *b, *r, *at;
	const import_log *log;
	exported p1, p2;

	star();
	D2 = desktop_new("DESKTOP-2");
	link_nodes(C, D2);
	b = add_brigade(D, "FromDesk");
	sql_exec(D, "INSERT INTO daily_reports (report_date) VALUES ('2026-11-25')");
	r = sql_text(D, "SELECT uuid FROM daily_reports");
	sql_exec(D, "INSERT INTO daily_report_lines (report_uuid, comment) VALUES"
		    " ('%s', 'one'), ('%s', 'two')", r, r);
	at = sql_text(D, "SELECT updated_at FROM brigades WHERE uuid = '%s'", b);

	log = deliver(D, C, share);
	cr_assert_eq(queued(C, "DESKTOP-1"), 0, "the center registered the desktop's changes back");
	cr_assert_eq(queued_uuid(C, "DESKTOP-2", b), 1, "not forwarded to the other desktop");
	cr_assert_eq(queued_uuid(C, "DESKTOP-2", r), 1, "report not forwarded");
	cr_assert_eq(read_packet(ack_of(log))->n, 0, "the center's answer echoes entities back");
	expect_str(sql_text(C, "SELECT updated_at FROM brigades WHERE uuid = '%s'", b), at,
		   "updated_at as it travelled");

	/* Two cumulative packets carry the same version; applying it again must not touch it. */
	p1 = export_packet(C, "DESKTOP-2", share);
	p2 = export_packet(C, "DESKTOP-2", share);
	cr_assert_eq(count_outcome(import_paths(D2, share, p1.path, p2.path, NULL), XCHG_APPLIED), 2);
	expect_name(D2, b, "FromDesk");
	cr_assert_eq(sql_int(D2, "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '%s'", r), 2);
	cr_assert_eq(queued(D2, "CENTER"), 0, "a desktop registered what it received");
	expect_str(sql_text(D2, "SELECT updated_at FROM brigades WHERE uuid = '%s'", b), at,
		   "updated_at at the other desktop");
	expect_str(sql_rows(D2, "SELECT uuid, updated_at FROM daily_report_lines ORDER BY uuid"),
		   sql_rows(D, "SELECT uuid, updated_at FROM daily_report_lines ORDER BY uuid"),
		   "the lines' updated_at");
}

/* ---- 9. Conflicts --------------------------------------------------------------- */

/*
 * Both sides edit one synchronized brigade, then exchange in the given
 * order. Returns the brigade's uuid. The logs are checked by the callers.
 */
static const char *edit_on_both_sides(const char *center_name, const char *center_at,
				      const char *desk_name, const char *desk_at, int center_first)
{
	const char *uuid, *acks = make_folder("acks");
	exported cp, dp;
	const import_log *log;

	uuid = add_brigade(C, "Original");
	sync_down();

	sql_exec(C, "UPDATE brigades SET name = '%s'%s%s%s WHERE uuid = '%s'", center_name,
		 center_at ? ", updated_at = '" : "", center_at ? center_at : "",
		 center_at ? "'" : "", uuid);
	sql_exec(D, "UPDATE brigades SET name = '%s'%s%s%s WHERE uuid = '%s'", desk_name,
		 desk_at ? ", updated_at = '" : "", desk_at ? desk_at : "", desk_at ? "'" : "",
		 uuid);
	cp = export_packet(C, "DESKTOP-1", share);
	dp = export_packet(D, "CENTER", acks);
	if (center_first) {
		log = import_paths(C, share, dp.path, NULL);
		cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s", log->err.msg);
		/* the desktop picks up both of the center's packets: the edit and the answer */
		expect_ascending(import_paths(D, acks, ack_of(log), cp.path, NULL), 2, 3);
	} else {
		log = import_paths(D, acks, cp.path, NULL);
		cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "%s", log->err.msg);
		expect_ascending(import_paths(C, share, ack_of(log), dp.path, NULL), 2, 3);
	}
	/* One more round each way: nothing further may change, both agree. */
	import_paths(D, acks, export_packet(C, "DESKTOP-1", share).path, NULL);
	import_paths(C, share, export_packet(D, "CENTER", acks).path, NULL);
	return uuid;
}

/* One conflict logged at n: who won, and both versions as they were then. */
static void expect_logged(node *n, const char *uuid, const char *winner, const char *loser,
			  const char *kept)
{
	const char *v;

	cr_assert_eq(sql_int(n, "SELECT count(*) FROM sync_conflicts WHERE entity_uuid = '%s'", uuid), 1,
		     "%s: one conflict logged for the brigade", n->code);
	expect_str(sql_text(n, "SELECT winner FROM sync_conflicts WHERE entity_uuid = '%s'", uuid),
		   winner, hstr("%s: winner", n->code));
	v = sql_text(n, "SELECT losing_version FROM sync_conflicts WHERE entity_uuid = '%s'", uuid);
	cr_assert(v && strstr(v, hstr("\"%s\"", loser)), "%s: losing_version %s lacks \"%s\"",
		  n->code, v ? v : "NULL", loser);
	v = sql_text(n, "SELECT winning_version FROM sync_conflicts WHERE entity_uuid = '%s'", uuid);
	cr_assert(v && strstr(v, hstr("\"%s\"", kept)), "%s: winning_version %s lacks \"%s\"",
		  n->code, v ? v : "NULL", kept);
}

/*
 * Catches: a desktop whose edit overwrites the center's (or silently
 * disappears), sides that decide differently, and a loser not kept.
 */
Test(invariants, conflict_master_wins_desktop_imports_first)
{
	const char *uuid;

	star();
	uuid = edit_on_both_sides("Center", NULL, "Desk", NULL, 0);
	expect_name(C, uuid, "Center");
	expect_name(D, uuid, "Center");
	expect_logged(D, uuid, "remote", "Desk", "Center");
	expect_logged(C, uuid, "local", "Desk", "Center");
}

Test(invariants, conflict_master_wins_center_imports_first)
{
	const char *uuid;

	star();
	uuid = edit_on_both_sides("Center", NULL, "Desk", NULL, 1);
	expect_name(C, uuid, "Center");
	expect_name(D, uuid, "Center");
	expect_logged(C, uuid, "local", "Desk", "Center");
	expect_logged(D, uuid, "remote", "Desk", "Center");
}

/* Catches: master-wins applied although the plan asks for last-writer-wins. */
Test(invariants, conflict_last_writer_wins_newer_desktop_edit)
{
	const char *uuid;

	star_last_writer_wins();
	uuid = edit_on_both_sides("Center", "2030-01-01T00:00:00.000Z", "Desk",
				  "2030-01-02T00:00:00.000Z", 0);
	expect_name(C, uuid, "Desk");
	expect_name(D, uuid, "Desk");
	expect_logged(C, uuid, "remote", "Center", "Desk");
	expect_logged(D, uuid, "local", "Center", "Desk");
}

Test(invariants, conflict_last_writer_wins_newer_center_edit)
{
	const char *uuid;

	star_last_writer_wins();
	uuid = edit_on_both_sides("Center", "2030-01-03T00:00:00.000Z", "Desk",
				  "2030-01-02T00:00:00.000Z", 1);
	expect_name(C, uuid, "Center");
	expect_name(D, uuid, "Center");
	expect_logged(C, uuid, "local", "Desk", "Center");
	expect_logged(D, uuid, "remote", "Desk", "Center");
}

/* A desktop's delete loses to the center's edit: the row lives on both sides. */
Test(invariants, conflict_master_wins_over_a_desktop_delete)
{
	const char *uuid, *acks = make_folder("acks");
	exported cp, dp;

	star();
	uuid = add_brigade(C, "Original");
	sync_down();
	rename_brigade(C, uuid, "Center");
	sql_exec(D, "UPDATE brigades SET is_deleted = TRUE WHERE uuid = '%s'", uuid);
	cp = export_packet(C, "DESKTOP-1", share);
	dp = export_packet(D, "CENTER", acks);
	import_paths(D, acks, cp.path, NULL);
	import_paths(C, share, dp.path, NULL);
	expect_name(C, uuid, "Center");
	expect_name(D, uuid, "Center");
	cr_assert_eq(sql_int(C, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 0);
	cr_assert_eq(sql_int(D, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 0);
	expect_str(sql_text(C, "SELECT losing_operation FROM sync_conflicts"), "DELETE",
		   "the center logs the desktop's losing delete");
	expect_str(sql_text(D, "SELECT losing_operation FROM sync_conflicts"), "DELETE",
		   "the desktop logs its own losing delete");
}

/*
 * One side soft-deletes a synchronized brigade, the other renames it, and
 * their packets cross. The plan's delete rule (in place of "master-wins"
 * in the example plan) decides; both sides must log the same rule.
 */
static const char *delete_against_edit(const char *rules, int center_deletes)
{
	const char *plan = plan_variant("\"master-wins\"", rules), *uuid, *acks = make_folder("acks");
	node *deleter, *editor;
	exported cp, dp;
	int i;

	C = node_create("CENTER", 1, plan, NULL);
	D = node_create("DESKTOP-1", 0, plan, NULL);
	link_nodes(C, D);
	share = make_folder("share");
	uuid = add_brigade(C, "Original");
	sync_down();
	deleter = center_deletes ? C : D;
	editor = center_deletes ? D : C;
	sql_exec(deleter, "UPDATE brigades SET is_deleted = TRUE WHERE uuid = '%s'", uuid);
	rename_brigade(editor, uuid, "Edited");
	cp = export_packet(C, "DESKTOP-1", share);
	dp = export_packet(D, "CENTER", acks);
	import_paths(D, acks, cp.path, NULL);
	import_paths(C, share, dp.path, NULL);
	/* The winner's registration needs a round trip more to be acknowledged. */
	for (i = 0; i < 2; i++) {
		import_paths(D, acks, export_packet(C, "DESKTOP-1", share).path, NULL);
		import_paths(C, share, export_packet(D, "CENTER", acks).path, NULL);
	}
	cr_assert_eq(queued(C, "DESKTOP-1") + queued(D, "CENTER"), 0, "left queued after the exchange");
	return uuid;
}

static void expect_rule_logged(node *n, const char *uuid, const char *rule, const char *losing_op)
{
	expect_str(sql_text(n, "SELECT policy FROM sync_conflicts WHERE entity_uuid = '%s'", uuid), rule,
		   hstr("%s: the rule logged", n->code));
	expect_str(sql_text(n, "SELECT losing_operation FROM sync_conflicts WHERE entity_uuid = '%s'",
			    uuid), losing_op, hstr("%s: the losing operation", n->code));
}

/* Catches: a delete rule ignored (master-wins would keep the center's edit), or read on one side only. */
Test(invariants, conflict_delete_wins_over_the_centers_edit)
{
	const char *uuid = delete_against_edit("\"master-wins\", \"delete_conflict\": \"delete-wins\"", 0);

	cr_assert_eq(sql_int(C, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 1,
		     "the center kept its edit against the desktop's delete");
	cr_assert_eq(sql_int(D, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 1,
		     "the desktop brought its deleted row back");
	expect_rule_logged(C, uuid, "delete-wins", "UPDATE");
	expect_rule_logged(D, uuid, "delete-wins", "UPDATE");
	cr_assert_not_null(strstr(sql_text(C, "SELECT losing_version FROM sync_conflicts"), "\"Edited\""),
			   "the center's losing edit is kept");
}

/* Catches: edit-wins ignored (master-wins would keep the center's delete). */
Test(invariants, conflict_edit_wins_over_the_centers_delete)
{
	const char *uuid = delete_against_edit("\"master-wins\", \"delete_conflict\": \"edit-wins\"", 1);

	expect_name(C, uuid, "Edited");
	expect_name(D, uuid, "Edited");
	cr_assert_eq(sql_int(C, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 0,
		     "the center's delete won against the desktop's edit");
	cr_assert_eq(sql_int(D, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 0,
		     "the desktop's edit was undone by the center's delete");
	expect_rule_logged(C, uuid, "edit-wins", "DELETE");
	expect_rule_logged(D, uuid, "edit-wins", "DELETE");
}

/*
 * A cycle the rules allow. The center's edit beats the desktop's
 * (master-wins); the center then deletes; a second copy of the desktop's
 * packet arrives and its edit beats that delete (edit-wins). The desktop,
 * for its part, weighed its edit against the center's edit, took it, and
 * then takes the delete as it comes. Catches: the center ending on the
 * desktop's edit and the desktop on the delete, because the center kept its
 * decision to itself.
 */
Test(invariants, conflict_center_sends_back_a_decision_the_desktop_weighed_otherwise)
{
	const char *plan = plan_variant("\"master-wins\"",
					"\"master-wins\", \"delete_conflict\": \"edit-wins\""), *uuid;
	const char *acks = make_folder("acks");
	exported to_desk, first, again;
	int i;

	C = node_create("CENTER", 1, plan, NULL);
	D = node_create("DESKTOP-1", 0, plan, NULL);
	link_nodes(C, D);
	share = make_folder("share");
	uuid = add_brigade(C, "Original");
	sync_down();
	rename_brigade(C, uuid, "Center");
	to_desk = export_packet(C, "DESKTOP-1", share);
	rename_brigade(D, uuid, "Desk");
	first = export_packet(D, "CENTER", acks);
	again = export_packet(D, "CENTER", acks);
	expect_applied(import_paths(C, share, first.path, NULL), "the desktop's first packet");
	expect_name(C, uuid, "Center");
	sql_exec(C, "UPDATE brigades SET is_deleted = TRUE WHERE uuid = '%s'", uuid);
	expect_applied(import_paths(C, share, again.path, NULL), "the desktop's second packet");
	expect_applied(import_paths(D, acks, to_desk.path, NULL), "the center's edit");
	expect_name(D, uuid, "Center");
	for (i = 0; i < 3; i++) {
		import_paths(D, acks, export_packet(C, "DESKTOP-1", share).path, NULL);
		import_paths(C, share, export_packet(D, "CENTER", acks).path, NULL);
	}
	expect_name(C, uuid, "Desk");
	expect_name(D, uuid, "Desk");
	cr_assert_eq(sql_int(D, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 0,
		     "the desktop kept the center's delete, the center the desktop's edit");
	cr_assert_eq(queued(C, "DESKTOP-1") + queued(D, "CENTER"), 0, "left queued after the exchange");
}

/* Catches: a delete rule that decides edits against edits too. */
Test(invariants, conflict_delete_rule_leaves_two_edits_to_the_policy)
{
	const char *plan = plan_variant("\"master-wins\"",
					"\"master-wins\", \"delete_conflict\": \"edit-wins\""), *uuid;

	C = node_create("CENTER", 1, plan, NULL);
	D = node_create("DESKTOP-1", 0, plan, NULL);
	link_nodes(C, D);
	share = make_folder("share");
	uuid = edit_on_both_sides("Center", NULL, "Desk", NULL, 0);
	expect_name(D, uuid, "Center");
	expect_logged(C, uuid, "local", "Desk", "Center");
	expect_str(sql_text(C, "SELECT policy FROM sync_conflicts"), "master-wins", "the rule logged");
}

/*
 * Last-writer-wins with a hard delete at the center and an older edit at
 * the desktop. The delete is the newer change, so both sides must end with
 * the row deleted. Catches sides that decide differently: the center has
 * no row, hence no updated_at to compare with.
 */
Test(invariants, conflict_last_writer_wins_hard_delete_converges)
{
	const char *uuid, *acks = make_folder("acks");
	exported cp, dp;

	star_last_writer_wins();
	uuid = add_brigade(C, "Original");
	sync_down();
	sql_exec(D, "UPDATE brigades SET name = 'Desk', updated_at = '2001-01-01T00:00:00.000Z'"
		    " WHERE uuid = '%s'", uuid);
	sql_exec(C, "DELETE FROM brigades WHERE uuid = '%s'", uuid);
	cp = export_packet(C, "DESKTOP-1", share);
	dp = export_packet(D, "CENTER", acks);
	import_paths(D, acks, cp.path, NULL);
	import_paths(C, share, dp.path, NULL);
	import_paths(D, acks, export_packet(C, "DESKTOP-1", share).path, NULL);

	cr_assert_eq(sql_int(D, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 1,
		     "the desktop keeps the newer delete");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM brigades WHERE uuid = '%s' AND NOT is_deleted",
			     uuid), 0,
		     "diverged: the center brought back the row it deleted (with the desktop's older"
		     " edit, \"%s\"), while the desktop holds it deleted",
		     brigade_name(C, uuid));
}

/* ---- 7 and 9. A row this node cannot store as it came ----------------------- */

/*
 * Accounts are unique by a business key, code, on every node; name may
 * carry a constraint on one node only (a schema the peers do not share).
 * A star of the center and two desktops, D (DESKTOP-1) and D2.
 */
#define ACCOUNTS_SQL "CREATE TABLE accounts (code TEXT NOT NULL UNIQUE, name TEXT%s, balance INTEGER);"
#define SHORT_NAME " CONSTRAINT short_name CHECK (length(name) <= 10)"

static void account_star(const char *policy, const char *center_name, const char *desk_name)
{
	const char *plan = tmp_path(hstr("accounts-%s.json", policy));
	const char *text = hstr("{\"schema_version\": \"1.0.0\", \"conflict_policy\": \"%s\","
				" \"entities\": [{\"type\": \"Account\", \"table\": \"accounts\"},"
				" {\"type\": \"Brigade\", \"table\": \"brigades\"}]}", policy);

	write_file(plan, text, strlen(text));
	C = node_create("CENTER", 1, plan, hstr(ACCOUNTS_SQL, center_name));
	D = node_create("DESKTOP-1", 0, plan, hstr(ACCOUNTS_SQL, desk_name));
	D2 = node_create("DESKTOP-2", 0, plan, hstr(ACCOUNTS_SQL, desk_name));
	link_nodes(C, D);
	link_nodes(C, D2);
	share = make_folder("share");
}

static const char *add_account(node *n, const char *code, const char *name, const char *at)
{
	sql_exec(n, "INSERT INTO accounts (code, name, updated_at) VALUES ('%s', '%s', '%s')", code,
		 name, at);
	return sql_text(n, "SELECT uuid FROM accounts WHERE code = '%s'", code);
}

/* Imports every packet of the shared folder addressed to n; each must go through. */
static const import_log *take(node *n)
{
	const import_log *log = import_paths(n, NULL, share, NULL);

	cr_assert_eq(log->rc, XCHG_OK, "%s imports: %s", n->code, log->err.msg);
	return log;
}

/* One packet from one node to another, applied there (acknowledgements into the shared folder). */
static const import_event *send(node *from, node *to)
{
	exported p = export_packet(from, to->code, share);
	const import_log *log = import_paths(to, share, p.path, NULL);

	cr_assert_eq(log->rc, XCHG_OK, "%s imports: %s", to->code, log->err.msg);
	cr_assert_not_null(find_event(log, XCHG_APPLIED, p.packet_no), "%s applies %s's packet",
			   to->code, from->code);
	return find_event(log, XCHG_APPLIED, p.packet_no);
}

static const import_event *up(node *d)
{
	return send(d, C);
}

static const import_event *down(node *d)
{
	return send(C, d);
}

/* Exchanges until nothing is left to send anywhere. */
static void quiet(void)
{
	int i;

	for (i = 0; i < 4; i++) {
		up(D);
		up(D2);
		down(D);
		down(D2);
	}
	take(C);
	cr_assert_eq(queued(C, "DESKTOP-1") + queued(C, "DESKTOP-2") + queued(D, "CENTER") +
		     queued(D2, "CENTER"), 0, "the star is not quiet");
}

static int64_t open_refused(node *n, const char *peer)
{
	xchg_status_report *rep = NULL;
	xchg_err err = {0};
	int64_t refused = -1;
	size_t i;

	cr_assert_eq(xchg_status_get(n->db, &rep, &err), XCHG_OK, "%s", err.msg);
	for (i = 0; i < rep->npeers; i++)
		if (strcmp(rep->peers[i].code, peer) == 0)
			refused = rep->peers[i].refused;
	xchg_status_free(rep);
	return refused;
}

#define AT_D1 "2026-01-01T00:00:01.000Z"
#define AT_D2 "2026-01-01T00:00:02.000Z"

/*
 * Both desktops create account ACC-7 offline, D2's edit the newer; the
 * first to reach the center is named. Every node must end with one ACC-7,
 * the winner's, whatever the order, and the loser in the center's log with
 * a reason that names the key, while the rest of each packet applied and
 * the links flow on.
 */
static void both_desktops_create_acc7(const char *policy, int d1_first, int d2_wins)
{
	node *all[3], *first, *second;
	const char *u1, *u2, *win, *lose, *why;
	const import_event *ev;
	size_t i;

	account_star(policy, "", "");
	all[0] = C, all[1] = D, all[2] = D2;
	u1 = add_account(D, "ACC-7", "From D1", AT_D1);
	u2 = add_account(D2, "ACC-7", "From D2", AT_D2);
	add_brigade(D2, "Rest of D2");
	add_brigade(D, "Rest of D1");
	first = d1_first ? D : D2;
	second = d1_first ? D2 : D;
	win = d2_wins ? u2 : u1;
	lose = d2_wins ? u1 : u2;

	up(first);
	ev = up(second);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->conflicts, 1, "the collision is counted as a conflict");
	cr_assert_eq(ev->entities, 1 + (d2_wins == d1_first), "the rest of the packet applies");
	cr_assert_eq(ev->refused, 0);
	quiet();

	for (i = 0; i < 3; i++) {
		node *n = all[i];

		cr_assert_eq(sql_int(n, "SELECT count(*) FROM accounts WHERE code = 'ACC-7'"), 1,
			     "%s: one ACC-7", n->code);
		expect_str(sql_text(n, "SELECT uuid FROM accounts WHERE code = 'ACC-7' AND NOT is_deleted"),
			   win, hstr("%s: the uuid holding ACC-7", n->code));
		expect_str(sql_text(n, "SELECT name FROM accounts WHERE code = 'ACC-7'"),
			   d2_wins ? "From D2" : "From D1", hstr("%s: ACC-7's name", n->code));
		cr_assert_eq(sql_int(n, "SELECT count(*) FROM accounts WHERE uuid = '%s' AND NOT is_deleted",
				     lose), 0, "%s: the loser lives on", n->code);
		cr_assert_eq(sql_int(n, "SELECT count(*) FROM brigades WHERE name LIKE 'Rest of %%'"), 2,
			     "%s: the rest of the packets", n->code);
		cr_assert_eq(sql_int(n, "SELECT count(*) FROM sync_conflicts WHERE kind = 'refused'"), 0,
			     "%s: a collision is no refusal", n->code);
	}
	/* The center decided: the loser is in its log, the key named. */
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_conflicts"), 1, "the center's log: %s", sql_rows(C, "SELECT kind, entity_uuid, policy, winner, losing_origin, losing_operation, losing_version, winning_version, reason FROM sync_conflicts ORDER BY id"));
	expect_str(sql_text(C, "SELECT kind FROM sync_conflicts"), "unique-key", "kind");
	expect_str(sql_text(C, "SELECT entity_uuid FROM sync_conflicts"), lose, "the losing entity");
	expect_str(sql_text(C, "SELECT policy FROM sync_conflicts"), policy, "the rule");
	expect_str(sql_text(C, "SELECT winner FROM sync_conflicts"),
		   (d2_wins == !d1_first) ? "local" : "remote", "whose version was kept");
	why = sql_text(C, "SELECT reason FROM sync_conflicts");
	expect_str(why, hstr("unique key (code) = 'ACC-7' is held by %s", win), "reason");
	cr_assert(strstr(sql_text(C, "SELECT losing_version FROM sync_conflicts"),
			 d2_wins ? "From D1" : "From D2"), "the losing version is kept");
	cr_assert_eq(open_refused(C, "DESKTOP-1") + open_refused(C, "DESKTOP-2"), 0);
	/* The links flow on: a later edit goes everywhere. */
	rename_brigade(D, sql_text(D, "SELECT uuid FROM brigades WHERE name = 'Rest of D1'"), "Later");
	quiet();
	cr_assert_eq(sql_int(D2, "SELECT count(*) FROM brigades WHERE name = 'Later'"), 1);
}

/*
 * Catches: a unique-key collision that fails the packet again and again
 * (the link blocked for good), one decided differently at the two ends (the
 * star diverges: two ACC-7 rows, or none), and a loser silently dropped.
 */
Test(invariants, unique_key_collision_master_wins_keeps_the_centers_first)
{
	both_desktops_create_acc7("master-wins", 1, 0);
}

Test(invariants, unique_key_collision_master_wins_other_order)
{
	both_desktops_create_acc7("master-wins", 0, 1);
}

/* The newer version reaches the center second: the center's holder gives way. */
Test(invariants, unique_key_collision_last_writer_wins_newer_arrives_second)
{
	both_desktops_create_acc7("last-writer-wins", 1, 1);
}

Test(invariants, unique_key_collision_last_writer_wins_newer_arrives_first)
{
	both_desktops_create_acc7("last-writer-wins", 0, 1);
}

/*
 * The center's version reaches a desktop that holds a newer one under the
 * same key: the desktop decides first, and the center alike later.
 * Catches a desktop that always yields to the center (the newer version
 * lost at one end and kept at the other).
 */
Test(invariants, unique_key_collision_decided_first_at_a_desktop)
{
	node *all[3];
	const char *older, *newer;
	const import_event *ev;
	size_t i;

	account_star("last-writer-wins", "", "");
	all[0] = C, all[1] = D, all[2] = D2;
	older = add_account(D2, "ACC-7", "From D2", AT_D1);
	newer = add_account(D, "ACC-7", "From D1", AT_D2);
	up(D2);
	ev = down(D);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->conflicts, 1);
	cr_assert_eq(ev->entities, 0, "the center's older ACC-7 is not stored at the desktop");
	expect_str(sql_rows(D, "SELECT kind, entity_uuid, winner FROM sync_conflicts"),
		   hstr("unique-key|%s|local", older), "the desktop's log");
	quiet();
	for (i = 0; i < 3; i++)
		expect_str(sql_rows(all[i], "SELECT uuid, name FROM accounts"), hstr("%s|From D1", newer),
			   hstr("%s's accounts", all[i]->code));
}

/*
 * A packet that gives a key up and hands it to a new row, with the new row
 * first: the key is free once the whole packet is read. Catches a
 * collision decided on the packet's order (the renamed row removed and
 * logged for nothing).
 */
Test(invariants, unique_key_freed_later_in_the_packet_is_no_collision)
{
	const char *x, *y = "0b3e7a3c-8a5b-4c1e-9f00-0000000000a7";
	const import_log *log;
	const import_event *ev;

	account_star("master-wins", "", "");
	x = add_account(C, "ACC-7", "Old", AT_D1);
	down(D);
	take(C);
	{
		const pkt_entity e[2] = {
			{"Account", y, "INSERT", AT_D2, "{\"code\":\"ACC-7\",\"name\":\"New\",\"balance\":1}"},
			{"Account", x, "UPDATE", AT_D2, "{\"code\":\"ACC-8\",\"name\":\"Old\",\"balance\":null}"},
		};
		/* It acknowledges what D has had, as D's own packet would: less would say D went back. */
		const char *path = write_packet(D, make_folder("hand"), "CENTER",
						received_no(C, "DESKTOP-1") + 1,
						received_no(D, "CENTER"), e, 2);

		log = import_paths(C, share, path, NULL);
	}
	cr_assert_eq(log->rc, XCHG_OK, "%s", log->err.msg);
	ev = find_event(log, XCHG_APPLIED, received_no(C, "DESKTOP-1"));
	cr_assert_not_null(ev);
	cr_assert_eq(ev->entities, 2);
	cr_assert_eq(ev->conflicts, 0);
	expect_str(sql_rows(C, "SELECT code, name FROM accounts ORDER BY code"), "ACC-7|New;ACC-8|Old",
		   "the center's accounts");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_conflicts"), 0);
}

/*
 * The center's schema keeps names short, the desktops' does not.
 * Catches: a refused row that fails its whole packet (the link blocked until
 * someone edits the data by hand), one dropped without a trace, counters or
 * acknowledgement held back, and a refused row logged twice.
 */
Test(invariants, refused_row_keeps_the_link_flowing)
{
	const char *bad, *good;
	const import_event *ev;
	const import_log *log;

	account_star("master-wins", SHORT_NAME, "");
	bad = add_account(D, "ACC-1", "A name far too long", AT_D1);
	good = add_account(D, "ACC-2", "Short", AT_D1);
	add_brigade(D, "Rest");
	ev = up(D);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->entities, 2, "the rest of the packet applies");
	cr_assert_eq(ev->refused, 1, "the refused row is counted");
	cr_assert_eq(ev->conflicts, 0);
	cr_assert_eq(received_no(C, "DESKTOP-1"), 1, "the received number moved");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM accounts WHERE uuid = '%s'", bad), 0);
	expect_str(sql_text(C, "SELECT name FROM accounts WHERE uuid = '%s'", good), "Short", "ACC-2");
	cr_assert_eq(brigades(C), 1);

	expect_str(sql_rows(C, "SELECT kind, status, entity_type, entity_uuid, policy, winner"
			       " FROM sync_conflicts"),
		   hstr("refused|open|Account|%s|schema|local", bad), "the log entry");
	cr_assert(strstr(sql_text(C, "SELECT losing_version FROM sync_conflicts"), "A name far too long"),
		  "the row as it came is kept");
	cr_assert(strstr(sql_text(C, "SELECT reason FROM sync_conflicts"), "short_name"),
		  "the database's own message: %s", sql_text(C, "SELECT reason FROM sync_conflicts"));
	cr_assert_eq(open_refused(C, "DESKTOP-1"), 1, "status shows it");

	/* The acknowledgement covers the whole packet, the refused row included. */
	log = take(D);
	cr_assert_eq(count_outcome(log, XCHG_APPLIED), 1, "the center's acknowledgement");
	cr_assert_eq(queued(D, "CENTER"), 0, "the desktop's queue after the acknowledgement");
	/* The same packet again is a duplicate: nothing more is logged. */
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_conflicts"), 1);
	/* Later packets flow; a row the center did not take is not routed on. */
	rename_brigade(D, sql_text(D, "SELECT uuid FROM brigades"), "Later");
	up(D);
	expect_str(sql_text(C, "SELECT name FROM brigades"), "Later", "a later edit");
	down(D2);
	cr_assert_eq(sql_int(D2, "SELECT count(*) FROM accounts"), 1, "only ACC-2 went on to D2");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_conflicts"), 1);
}

/* Each kind of refusal, at either end: a NOT NULL and a CHECK the sender lacks. */
Test(invariants, refused_row_at_a_desktop_and_by_not_null)
{
	const char *bad;
	const import_event *ev;

	account_star("master-wins", "", SHORT_NAME " NOT NULL");
	sql_exec(C, "INSERT INTO accounts (code, name) VALUES ('ACC-1', 'A name far too long')");
	sql_exec(C, "INSERT INTO accounts (code, name) VALUES ('ACC-2', NULL)");
	add_brigade(C, "Rest");
	ev = down(D);
	cr_assert_not_null(ev);
	cr_assert_eq(ev->entities, 1);
	cr_assert_eq(ev->refused, 2);
	cr_assert_eq(brigades(D), 1);
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM accounts"), 0);
	cr_assert_eq(open_refused(D, "CENTER"), 2);
	bad = sql_text(C, "SELECT uuid FROM accounts WHERE code = 'ACC-2'");
	cr_assert(strstr(sql_text(D, "SELECT reason FROM sync_conflicts WHERE entity_uuid = '%s'", bad),
			 "NOT NULL"), "the database's message for NOT NULL");
	take(C);
	cr_assert_eq(queued(C, "DESKTOP-1"), 0, "the desktop acknowledged the packet whole");
}

/* Removes constraint name (text: its definition) from accounts, the way each backend can. */
static void drop_constraint(node *n, const char *name, const char *text)
{
	if (n->pg) {
		sql_exec(n, "ALTER TABLE accounts DROP CONSTRAINT %s", name);
	} else {
		/* SQLite cannot drop a CHECK; its documented way is to edit the schema text. */
		int64_t v = sql_int(n, "PRAGMA schema_version");

		sql_exec(n, "PRAGMA writable_schema = ON;"
			    " UPDATE sqlite_master SET sql = replace(sql, '%s', '')"
			    " WHERE type = 'table' AND name = 'accounts';"
			    " PRAGMA writable_schema = OFF; PRAGMA schema_version = %lld",
			 text, (long long)v + 1);
	}
	node_reopen(n);
}

static int64_t conflict_id(node *n, const char *uuid)
{
	return sql_int(n, "SELECT id FROM sync_conflicts WHERE entity_uuid = '%s'", uuid);
}

/*
 * Catches: a refused row that cannot be brought back once the schema is
 * fixed, a retry that changes anything when it is refused again, and one
 * that sends the row back to its own peer or keeps it from the others.
 */
Test(invariants, refused_row_is_applied_by_retry_once_the_schema_is_fixed)
{
	const char *bad;
	xchg_err err = {0};
	int applied = -1;
	int64_t id;

	account_star("master-wins", SHORT_NAME, "");
	bad = add_account(D, "ACC-1", "A name far too long", AT_D1);
	up(D);
	id = conflict_id(C, bad);
	cr_assert_gt(id, 0);

	cr_assert_eq(xchg_conflict_retry(C->db, id, &applied, &err), XCHG_EFAIL, "%s", err.msg);
	cr_assert(strstr(err.msg, "short_name"), "the database's message: %s", err.msg);
	expect_str(sql_text(C, "SELECT status FROM sync_conflicts"), "open", "refused again");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM accounts"), 0);

	drop_constraint(C, "short_name", SHORT_NAME);
	cr_assert_eq(xchg_conflict_retry(C->db, id, &applied, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(applied, 1);
	expect_str(sql_text(C, "SELECT status FROM sync_conflicts"), "resolved", "after the retry");
	expect_str(sql_text(C, "SELECT name FROM accounts WHERE uuid = '%s'", bad), "A name far too long",
		   "the row as it came");
	expect_str(sql_text(C, "SELECT updated_at FROM accounts WHERE uuid = '%s'", bad), AT_D1,
		   "its time as it came");
	cr_assert_eq(open_refused(C, "DESKTOP-1"), 0);
	cr_assert_eq(queued_uuid(C, "DESKTOP-1", bad), 0, "no echo to the peer it came from");
	cr_assert_eq(queued_uuid(C, "DESKTOP-2", bad), 1, "routed to the others");
	cr_assert_neq(xchg_conflict_retry(C->db, id, &applied, &err), XCHG_OK, "retried twice");
	quiet();
	expect_str(sql_text(D2, "SELECT name FROM accounts WHERE uuid = '%s'", bad), "A name far too long",
		   "D2 has it");
}

/*
 * Catches: a stale refused row left open (and retried over the newer
 * version) after its sender fixed the data itself.
 */
Test(invariants, refused_row_superseded_by_a_newer_version)
{
	const char *bad;

	account_star("master-wins", SHORT_NAME, "");
	bad = add_account(D, "ACC-1", "A name far too long", AT_D1);
	up(D);
	cr_assert_eq(open_refused(C, "DESKTOP-1"), 1);
	sql_exec(D, "UPDATE accounts SET name = 'Fixed' WHERE uuid = '%s'", bad);
	up(D);
	expect_str(sql_text(C, "SELECT name FROM accounts WHERE uuid = '%s'", bad), "Fixed", "the fix");
	expect_str(sql_text(C, "SELECT status FROM sync_conflicts"), "superseded", "the old refusal");
	cr_assert_eq(open_refused(C, "DESKTOP-1"), 0);
}

/*
 * Catches: the conflict log's reports showing a losing version as it came.
 * It holds what a peer wrote, and xchg conflicts prints it to a terminal:
 * a C1 control (CSI, here) in a name would reach it raw, since JSON
 * escapes only C0. The log itself keeps the bytes, for a restore.
 */
Test(invariants, conflict_reports_show_no_control_characters)
{
	const char *hostile = "Desk \xc2\x9b" "2J";
	node *both[2];
	int i;

	star();
	both[0] = C, both[1] = D;
	edit_on_both_sides("Center", NULL, hostile, NULL, 0);
	for (i = 0; i < 2; i++) {
		xchg_conflict *v = NULL, *one = NULL;
		xchg_err err = {0};
		size_t n = 0;

		cr_assert(!printable_text(sql_text(both[i], "SELECT losing_version FROM sync_conflicts")),
			  "%s: the log lost the bytes a restore needs", both[i]->code);
		cr_assert_eq(xchg_conflicts_list(both[i]->db, &v, &n, &err), XCHG_OK, "%s", err.msg);
		cr_assert_eq(n, 1);
		cr_assert(printable_text(v[0].losing_version) && printable_text(v[0].winning_version),
			  "%s: listed as %s", both[i]->code, v[0].losing_version);
		cr_assert_eq(xchg_conflict_get(both[i]->db, v[0].id, &one, &err), XCHG_OK, "%s", err.msg);
		cr_assert(printable_text(one->losing_version) && printable_text(one->current_version),
			  "%s: shown as %s", both[i]->code, one->losing_version);
		xchg_conflicts_free(one, 1);
		xchg_conflicts_free(v, n);
	}
}

/*
 * Catches: a node set up before the log had kind and reason that can no
 * longer read it, or loses its entries on the way.
 */
Test(invariants, conflict_log_of_an_older_node_is_upgraded_in_place)
{
	xchg_conflict *v = NULL;
	xchg_err err = {0};
	size_t n = 0;
	const char *uuid;
	node *both[2];
	int i;

	star();
	both[0] = C, both[1] = D;
	uuid = edit_on_both_sides("Center", NULL, "Desk", NULL, 0);
	for (i = 0; i < 2; i++) {
		sql_exec(both[i], "ALTER TABLE sync_conflicts DROP COLUMN reason");
		sql_exec(both[i], "ALTER TABLE sync_conflicts DROP COLUMN kind");
		node_reopen(both[i]);
		cr_assert_eq(xchg_conflicts_list(both[i]->db, &v, &n, &err), XCHG_OK, "%s", err.msg);
		cr_assert_eq(n, 1, "%s: the old entries", both[i]->code);
		expect_str(v[0].kind, "conflict", "an old entry's kind");
		expect_str(v[0].entity_uuid, uuid, "an old entry's entity");
		cr_assert_null(v[0].reason);
		xchg_conflicts_free(v, n);
	}
	/* And the node goes on exchanging. */
	expect_applied(import_paths(D, share, export_packet(C, "DESKTOP-1", share).path, NULL),
		       "a packet after the upgrade");
}

/* ---- 10. Trust ------------------------------------------------------------------- */

/* Catches: a packet taken on the name in its header, not on the sender's key. */
Test(invariants, trust_refuses_a_packet_signed_with_another_key)
{
	node *impostor;
	const import_log *log;

	star();
	impostor = center_new("CENTER"); /* the center's code and id, its own key */
	take_id_of(impostor, C);
	cr_assert_eq(xchg_node_add(impostor->db, public_key(D), NULL, NULL, &(xchg_err){0}), XCHG_OK);
	add_brigade(impostor, "Evil");
	log = import_paths(D, share, export_packet(impostor, "DESKTOP-1", share).path, NULL);
	expect_refused(log, "signature", "the impostor's packet");
	cr_assert_eq(brigades(D), 0);
	cr_assert_eq(received_no(D, "CENTER"), 0);
}

/* Catches: applying a packet meant for another desktop. */
Test(invariants, trust_refuses_a_packet_for_another_recipient)
{
	const char *path;
	const import_log *log;

	star();
	D2 = desktop_new("DESKTOP-2");
	link_nodes(C, D2);
	add_brigade(C, "ForTwo");
	path = export_packet(C, "DESKTOP-2", share).path;

	log = import_paths(D, share, path, NULL);
	expect_refused(log, "DESKTOP-2", "named explicitly");
	log = import_paths(D, share, share, NULL);
	cr_assert_eq(log->rc, XCHG_OK, "another node's packet in a shared folder is no error: %s",
		     log->err.msg);
	cr_assert_eq(log->n, 0, "another node's packet in a folder must be left alone");
	cr_assert_eq(brigades(D), 0);
	cr_assert_eq(received_no(D, "CENTER"), 0);
	cr_assert(file_exists(path));
}

/* Catches: a packet from a node this node never registered. */
Test(invariants, trust_refuses_an_unknown_sender)
{
	node *other;
	const import_log *log;

	star();
	other = center_new("OTHER");
	cr_assert_eq(xchg_node_add(other->db, public_key(D), NULL, NULL, &(xchg_err){0}), XCHG_OK);
	add_brigade(other, "Stranger");
	log = import_paths(D, share, export_packet(other, "DESKTOP-1", share).path, NULL);
	expect_refused(log, "unknown sender", "a stranger's packet");
	cr_assert_eq(brigades(D), 0);
}

typedef struct swap {
	const char *victim;      /* a packet for us, still to be imported */
	const char *replacement; /* a genuine packet for another node */
	int done;
	import_log log;
} swap;

static void swap_after_first(const xchg_import_event *ev, void *ctx)
{
	swap *s = ctx;

	if (s->log.n < IMPORT_LOG_MAX) {
		s->log.ev[s->log.n].outcome = ev->outcome;
		s->log.ev[s->log.n].packet_no = ev->packet_no;
		s->log.ev[s->log.n].path = hstr("%s", ev->path);
		s->log.ev[s->log.n++].message = ev->message ? hstr("%s", ev->message) : NULL;
	}
	if (!s->done && ev->outcome == XCHG_APPLIED) {
		copy_file(s->replacement, s->victim);
		s->done = 1;
	}
}

/*
 * A hostile shared folder: while the desktop imports packets 1 and 2, the
 * file of packet 2 is replaced by the center's genuine packet 3 for
 * DESKTOP-2. The recipient must be checked on the packet actually applied,
 * not only on an earlier read of the file's header. Applied, the packet
 * would give DESKTOP-1 a received number of 3 from the center, which has
 * sent it only 2: the center then refuses every packet of this desktop.
 */
Test(invariants, trust_recipient_is_checked_on_the_packet_applied)
{
	const char *p1, *p2, *paths[2], *for_two = make_folder("for_two");
	swap s = {0};
	xchg_err err = {0};
	size_t i;

	star();
	D2 = desktop_new("DESKTOP-2");
	link_nodes(C, D2);
	add_brigade(C, "Alpha");
	p1 = export_packet(C, "DESKTOP-1", share).path;
	p2 = export_packet(C, "DESKTOP-1", share).path;
	add_brigade(C, "OnlyForTwo");
	export_packet(C, "DESKTOP-2", for_two);
	export_packet(C, "DESKTOP-2", for_two);
	s.replacement = export_packet(C, "DESKTOP-2", for_two).path;
	s.victim = p2;
	paths[0] = p1;
	paths[1] = p2;
	xchg_import(D->db, paths, 2, make_folder("acks"), swap_after_first, &s, &err);
	cr_assert(s.done, "packet 1 was not applied");
	for (i = 0; i < s.log.n; i++)
		cr_assert(!(s.log.ev[i].outcome == XCHG_APPLIED && s.log.ev[i].packet_no == 3),
			  "DESKTOP-2's packet 3 was applied at DESKTOP-1");
	cr_assert_eq(received_no(D, "CENTER"), 1,
		     "DESKTOP-1 took the number of a packet addressed to DESKTOP-2");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM brigades WHERE name = 'OnlyForTwo'"), 0);
}

/* ---- 11. Soft delete ------------------------------------------------------------ */

/* Catches: a delete that travels with data, or is applied as a hard DELETE. */
Test(invariants, soft_delete_travels_as_delete_with_null_data)
{
	const char *uuid;
	exported p;
	const pkt_entity *e;

	star();
	uuid = add_brigade(C, "Alpha");
	sync_down();
	sql_exec(C, "UPDATE brigades SET is_deleted = TRUE WHERE uuid = '%s'", uuid);
	p = export_packet(C, "DESKTOP-1", share);
	cr_assert_not_null(e = packet_entity(read_packet(p.path), uuid));
	expect_str(e->operation, "DELETE", "operation");
	cr_assert_null(e->data, "a delete carries data: %s", e->data);
	expect_applied(import_paths(D, share, p.path, NULL), "the delete");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM brigades WHERE uuid = '%s'", uuid), 1,
		     "the row must stay, marked deleted");
	cr_assert_eq(sql_int(D, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 1);
}

/* Catches: a hard delete that is lost (the row is gone, so nothing to read). */
Test(invariants, hard_delete_arrives_as_soft_delete)
{
	const char *uuid, *ghost;
	exported p;
	const pkt_view *v;
	const pkt_entity *e;

	star();
	uuid = add_brigade(C, "Alpha");
	sync_down();
	sql_exec(C, "DELETE FROM brigades WHERE uuid = '%s'", uuid);
	ghost = add_brigade(C, "Ghost"); /* never sent: created and deleted between packets */
	sql_exec(C, "DELETE FROM brigades WHERE uuid = '%s'", ghost);
	p = export_packet(C, "DESKTOP-1", share);
	v = read_packet(p.path);
	cr_assert_not_null(e = packet_entity(v, uuid), "the hard delete is not in the packet");
	expect_str(e->operation, "DELETE", "hard delete's operation");
	cr_assert_null(e->data);
	expect_applied(import_paths(D, share, p.path, NULL), "the deletes");
	cr_assert_eq(sql_int(D, "SELECT is_deleted FROM brigades WHERE uuid = '%s'", uuid), 1);
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM brigades WHERE uuid = '%s'", ghost), 0,
		     "a delete of a row never seen creates nothing");
}

/*
 * Catches: a way of emptying a table that the registration triggers never
 * see, so the rows live on at every peer for good. SQLite empties a table
 * with DELETE (its row triggers fire); an application on PostgreSQL uses
 * TRUNCATE, which fires no row trigger (see empty_table). Either every
 * row's delete travels, or the database refuses the TRUNCATE.
 */
Test(invariants, hard_delete_of_a_whole_table_arrives)
{
	const char *refused;
	exported p;

	star();
	add_brigade(C, "Alpha");
	add_brigade(C, "Bravo");
	sync_down();
	if ((refused = empty_table(C, "brigades"))) {
		cr_assert_eq(brigades(C), 2, "emptying the table was refused (%s), yet rows are gone",
			     refused);
		return;
	}
	cr_assert_eq(brigades(C), 0);
	cr_assert_eq(queued(C, "DESKTOP-1"), 2,
		     "%s on the center registered %lld of its 2 deletes for the desktop: they never"
		     " travel, and the desktop keeps the rows for good",
		     C->pg ? "TRUNCATE" : "DELETE without WHERE", (long long)queued(C, "DESKTOP-1"));
	p = export_packet(C, "DESKTOP-1", share);
	cr_assert_eq(p.entities, 2);
	expect_applied(import_paths(D, share, p.path, NULL), "the deletes");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM brigades WHERE is_deleted"), 2);
}

/* ---- 12. Children ------------------------------------------------------------------ */

static const char *lines_of(node *n, const char *report)
{
	return sql_rows(n, "SELECT uuid, comment, volume FROM daily_report_lines"
			   " WHERE report_uuid = '%s' ORDER BY uuid", report);
}

/*
 * Catches: children upserted but never removed, children not re-parented
 * at the receiver, a child-only change that does not register its parent.
 */
Test(invariants, children_after_import_are_exactly_the_packets_set)
{
	const char *r;

	star();
	sql_exec(C, "INSERT INTO daily_reports (report_date, author) VALUES ('2026-11-25', 'Ivanov')");
	r = sql_text(C, "SELECT uuid FROM daily_reports");
	sql_exec(C, "INSERT INTO daily_report_lines (report_uuid, comment, volume) VALUES"
		    " ('%s', 'dig', 1.5), ('%s', 'pour', 2.0), ('%s', 'cure', 3.25)", r, r, r);
	sync_down();
	expect_str(lines_of(D, r), lines_of(C, r), "three lines");

	sql_exec(C, "DELETE FROM daily_report_lines WHERE comment = 'dig'");
	sql_exec(C, "UPDATE daily_report_lines SET volume = 2.5 WHERE comment = 'pour'");
	sql_exec(C, "INSERT INTO daily_report_lines (report_uuid, comment, volume) VALUES ('%s', 'strip', 4.0)", r);
	cr_assert_eq(queued_uuid(C, "DESKTOP-1", r), 1, "line changes must register the report");
	sync_down();
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM daily_report_lines"), 3);
	expect_str(lines_of(D, r), lines_of(C, r), "lines after delete, update and insert");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM daily_report_lines WHERE comment = 'dig'"), 0);
}

/* Catches: a line moved to another report that stays under the old one too. */
Test(invariants, children_moved_between_parents_leave_the_old_one)
{
	const char *r1, *r2;

	star();
	sql_exec(C, "INSERT INTO daily_reports (report_date) VALUES ('2026-11-24'), ('2026-11-25')");
	r1 = sql_text(C, "SELECT uuid FROM daily_reports WHERE report_date = '2026-11-24'");
	r2 = sql_text(C, "SELECT uuid FROM daily_reports WHERE report_date = '2026-11-25'");
	sql_exec(C, "INSERT INTO daily_report_lines (report_uuid, comment, volume) VALUES"
		    " ('%s', 'a', 1), ('%s', 'b', 2)", r1, r1);
	sync_down();
	sql_exec(C, "UPDATE daily_report_lines SET report_uuid = '%s' WHERE comment = 'b'", r2);
	cr_assert_eq(queued(C, "DESKTOP-1"), 2, "moving a line changes both reports");
	sync_down();
	expect_str(lines_of(D, r1), lines_of(C, r1), "the old report");
	expect_str(lines_of(D, r2), lines_of(C, r2), "the new report");
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM daily_report_lines"), 2);
}

/* ---- init --------------------------------------------------------------------------- */

/* Catches: a second init that fails, duplicates this node, or doubles registrations. */
Test(invariants, init_twice_is_safe)
{
	xchg_init_opts opts = {.version = XCHG_INIT_OPTS_VERSION, .code = "CENTER",
			       .plan_path = EXAMPLE_PLAN, .master = 1};
	xchg_err err = {0};
	int already = 0;
	int64_t triggers;
	const char *uuid;

	star();
	triggers = trigger_count(C);
	cr_assert_geq(triggers, 12, "%lld triggers for the plan's six tables", (long long)triggers);
	cr_assert_eq(xchg_init(C->db, &opts, &already, &err), XCHG_OK, "%s", err.msg);
	cr_assert_eq(already, 1, "a second init must report the node as initialized before");
	cr_assert_eq(sql_int(C, "SELECT count(*) FROM sync_nodes"), 2);
	cr_assert_eq(trigger_count(C), triggers, "a second init added or lost triggers");
	uuid = add_brigade(C, "Alpha");
	cr_assert_eq(queued_uuid(C, "DESKTOP-1", uuid), 1);
	deliver(C, D, share);
	expect_name(D, uuid, "Alpha");

	opts.code = "SOMEONE-ELSE";
	cr_assert_neq(xchg_init(C->db, &opts, &already, &err), XCHG_OK,
		      "init must not rename an existing node");
	opts.code = "CENTER";
	opts.master = 0;
	cr_assert_neq(xchg_init(C->db, &opts, &already, &err), XCHG_OK,
		      "init must not turn the center into a desktop");
}

/*
 * Catches: rows that existed before init left without uuid or updated_at,
 * on a desktop and on a center (each backend adds the columns its own way).
 */
Test(invariants, init_gives_existing_rows_uuids)
{
	static const char rows[] = "INSERT INTO brigades (name) VALUES ('a'), ('b'), ('c');"
				   "INSERT INTO daily_reports (report_date) VALUES ('2026-11-25');"
				   "INSERT INTO daily_report_lines (report_uuid, comment) VALUES (NULL, 'x');";
	node *both[2] = {node_create("DESKTOP-1", 0, EXAMPLE_PLAN, rows),
			 node_create("CENTER", 1, EXAMPLE_PLAN, rows)};
	int i;

	for (i = 0; i < 2; i++) {
		node *n = both[i];

		cr_assert_eq(sql_int(n, "SELECT count(DISTINCT uuid) FROM brigades"), 3, "%s", n->code);
		cr_assert_eq(sql_int(n, "SELECT count(*) FROM brigades WHERE updated_at IS NULL"
					" OR is_deleted IS NOT FALSE"), 0, "%s", n->code);
		cr_assert_eq(sql_int(n, "SELECT count(*) FROM daily_reports WHERE uuid IS NULL"), 0,
			     "%s", n->code);
		cr_assert_eq(sql_int(n, "SELECT count(*) FROM daily_report_lines WHERE uuid IS NULL"),
			     0, "%s", n->code);
	}
}

/* Catches: rows written by an application that knows nothing of xchg left unsynchronizable. */
Test(invariants, init_triggers_fill_rows_written_by_plain_sql)
{
	const char *uuid, *at;

	star();
	uuid = add_brigade(C, "Alpha");
	cr_assert_not_null(uuid, "no uuid for a row inserted by plain SQL");
	cr_assert(fnmatch("[0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f][0-9a-f]-"
			  "[0-9a-f][0-9a-f][0-9a-f][0-9a-f]-4[0-9a-f][0-9a-f][0-9a-f]-"
			  "[89ab][0-9a-f][0-9a-f][0-9a-f]-*", uuid, 0) == 0,
		  "not a version 4 uuid: %s", uuid);
	cr_assert_eq(strlen(uuid), 36);
	at = sql_text(C, "SELECT updated_at FROM brigades WHERE uuid = '%s'", uuid);
	cr_assert_not_null(at, "no updated_at");
	cr_assert(fnmatch("20[0-9][0-9]-[01][0-9]-[0-3][0-9]T*Z", at, 0) == 0,
		  "updated_at %s is not ISO-8601 UTC", at);
	cr_assert_eq(queued_uuid(C, "DESKTOP-1", uuid), 1);

	sql_exec(C, "UPDATE brigades SET updated_at = '2000-01-01T00:00:00.000Z' WHERE uuid = '%s'", uuid);
	rename_brigade(C, uuid, "Bravo");
	cr_assert_str_neq(sql_text(C, "SELECT updated_at FROM brigades WHERE uuid = '%s'", uuid),
			  "2000-01-01T00:00:00.000Z", "an update must refresh updated_at");
	sql_exec(C, "UPDATE brigades SET name = 'x', updated_at = '2001-01-01T00:00:00.000Z'"
		    " WHERE uuid = '%s'", uuid);
	expect_str(sql_text(C, "SELECT updated_at FROM brigades WHERE uuid = '%s'", uuid),
		   "2001-01-01T00:00:00.000Z", "an updated_at set by the application is kept");
	cr_assert_eq(queued(C, "DESKTOP-1"), 1, "one registration per (peer, row)");
}

/*
 * Catches: a new desktop that never receives what existed before it joined,
 * or that costs a registration per row before its first packet.
 */
Test(invariants, init_node_add_owes_every_existing_row)
{
	node *c = node_create("CENTER", 1, EXAMPLE_PLAN,
			      "INSERT INTO brigades (name) VALUES ('a'), ('b');"
			      "INSERT INTO estimates (number) VALUES ('E-1');"
			      "INSERT INTO daily_reports (report_date) VALUES ('2026-11-25');");
	node *d = desktop_new("DESKTOP-1");
	const char *r = sql_text(c, "SELECT uuid FROM daily_reports");
	exported p;

	sql_exec(c, "INSERT INTO daily_report_lines (report_uuid, comment) VALUES ('%s', 'x')", r);
	route(c); /* the rows' captures, before there was a peer to route them to */
	link_nodes(c, d);
	cr_assert_eq(queued(c, "DESKTOP-1"), 0, "node add registers nothing");
	p = export_packet(c, "DESKTOP-1", make_folder("share"));
	cr_assert_eq(p.entities, 4, "the first packet reads every row (children travel in parents)");
	expect_applied(import_paths(d, NULL, p.path, NULL), "the first packet");
	cr_assert_eq(sql_int(d, "SELECT count(*) FROM brigades"), 2);
	cr_assert_eq(sql_int(d, "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '%s'", r), 1);
}

/* Catches: a desktop that would take a second center (the star has one). */
Test(invariants, init_desktop_refuses_a_second_peer)
{
	node *other;
	xchg_err err = {0};

	star();
	other = center_new("CENTER-2");
	cr_assert_neq(xchg_node_add(D->db, public_key(other), NULL, NULL, &err), XCHG_OK);
	cr_assert_not_null(strstr(err.msg, "CENTER"), "%s", err.msg);
	cr_assert_eq(sql_int(D, "SELECT count(*) FROM sync_nodes WHERE is_self = 0"), 1);
	cr_assert_neq(xchg_node_add(C->db, public_key(D), NULL, NULL, &err), XCHG_OK,
		      "a peer registered twice");
}
