#!/usr/bin/env bash
# A node restored from a backup loses nothing (PACKET.md 6.3), through the
# real binary: a desktop restored from a copy mid-history, with edits after
# the restore; the center restored from a copy; a desktop whose rows and
# queue were altered behind xchg's back, repaired by node resync; a silent
# peer's queue past its cap. Each time xchg sync at every node converges
# the star with every edit made before and after, and the detection is said
# by import and shown by status. SQLite nodes, or a PostgreSQL center with
# XCHG_E2E_CENTER=pg.
E2E_NAME=restore
. "$(dirname "$0")/lib.bash"

SH=$W/share
mkdir -p "$SH"
ALL_OUT=$W/all-stdout

# backup NODE NAME / restore NODE NAME: a copy of NODE's database, and NODE put back to it
backup() {
	if is_pg "$1"; then
		createdb -h "$XCHG_PG_HOST" -U xchg -T "$PGDB" "${PGDB}_$2"
	else sqlite3 "$W/$1.db" ".backup '$W/$1.$2'"; fi
}
restore() {
	if is_pg "$1"; then
		psql -X -q -h "$XCHG_PG_HOST" -U xchg -d postgres -c "DROP DATABASE \"$PGDB\" WITH (FORCE)" \
			-c "CREATE DATABASE \"$PGDB\" TEMPLATE \"${PGDB}_$2\"" -c "DROP DATABASE \"${PGDB}_$2\""
	else cp "$W/$1.$2" "$W/$1.db"; rm -f "$W/$1.db-wal" "$W/$1.db-shm" "$W/$1.db-journal"; fi
}
# sync_all: xchg sync at every node in turn, four times, their output in $ALL_OUT
sync_all() {
	local i n
	for i in 1 2 3 4; do
		for n in d1 d2 center; do
			x $n sync
			[ $RC = 0 ] || bad "$n sync" "exit $RC: $ERR"
			printf '%s\n' "$OUT" >>"$ALL_OUT"
		done
	done
}
in_step() {
	same_tables "$1: D1 holds what the center holds" center d1
	same_tables "$1: and D2" center d2
}
crew() { sql "$1" "SELECT count(*) FROM brigades WHERE name = '$2'"; }
# everywhere NAME ROW...: each brigade ROW is on all three nodes
everywhere() {
	local name=$1 r n missing=""; shift
	for r in "$@"; do
		for n in center d1 d2; do [ "$(crew $n "$r")" = 1 ] || missing="$missing $n:$r"; done
	done
	eq "$name" "" "$missing"
}
add() { sql "$1" "INSERT INTO brigades (name, foreman, headcount) VALUES ('$2', 'F', 1)"; }

setup() {
	shared_star || return 1
	add center "C0"; add d1 "A0"; add d2 "B0"
	sync_all
}

scenario_desktop_restored() {
	local id
	: >"$ALL_OUT"
	backup d1 copy
	add d1 "A1 delivered, then lost to the restore"
	add center "C1 received by D1, then lost to the restore"
	add d2 "B1"
	sync_all
	everywhere "before the restore, every edit is everywhere" "A1 delivered, then lost to the restore" \
		"C1 received by D1, then lost to the restore" "B1"
	restore d1 copy
	eq "the restored D1 has lost its week" 0 "$(crew d1 "A1 delivered, then lost to the restore")"
	add d1 "A2 after the restore"
	sql d1 "UPDATE brigades SET headcount = 5 WHERE name = 'A0'"
	add center "C2"
	x d1 sync
	x center sync
	printf '%s\n' "$OUT" >>"$ALL_OUT"
	check "the center says D1 went back in time" grep -q "D1 went back in time" "$ALL_OUT"
	check "status shows the link recovering, with the reason" \
		has "$(link_state center D1)" "recovering|D1 went back in time"
	x center status
	eq "and exits 1 meanwhile" 1 "$RC"
	sync_all
	check "D1 says it went back, and what it does" grep -q "this node went back in time: CENTER acknowledges packet" "$ALL_OUT"
	in_step "a desktop restored from a copy"
	everywhere "every edit from before and after the restore is everywhere" \
		"A1 delivered, then lost to the restore" "C1 received by D1, then lost to the restore" \
		"A2 after the restore" "C2" "B1"
	# An edit on the restored node meanwhile is decided by the policy: master-wins here.
	eq "an edit to an old row after the restore is weighed: the center's version stays" "1|1|1" \
		"$(for n in center d1 d2; do sql $n "SELECT headcount FROM brigades WHERE name = 'A0'"; done | paste -sd'|')"
	id=$(sql center "SELECT id FROM sync_conflicts WHERE status = 'open' AND losing_version LIKE '%\"headcount\":5%'")
	check "and the edit waits in the center's conflict log" test -n "$id"
	x center conflicts restore "$id"
	sync_all
	eq "from where it is restored, and reaches every node" "5|5|5" \
		"$(for n in center d1 d2; do sql $n "SELECT headcount FROM brigades WHERE name = 'A0'"; done | paste -sd'|')"
	eq "the link is back in step" "ok|null" "$(link_state center D1)"
	eq "at both ends" "ok|null" "$(link_state d1 CENTER)"
}

scenario_center_restored() {
	: >"$ALL_OUT"
	backup center copy
	add center "C3 delivered, then lost to the restore"
	add d1 "A3 received by the center, then lost to the restore"
	add d2 "B3"
	sync_all
	restore center copy
	eq "the restored center has lost its week" 0 "$(crew center "C3 delivered, then lost to the restore")"
	add center "C4 after the restore"
	add d2 "B4"
	sync_all
	sync_all
	check "the desktops say the center went back in time" grep -q "CENTER went back in time\|this node went back in time" "$ALL_OUT"
	in_step "a center restored from a copy"
	everywhere "every edit from before and after the restore is everywhere" \
		"C3 delivered, then lost to the restore" "A3 received by the center, then lost to the restore" \
		"B3" "C4 after the restore" "B4"
	for p in D1 D2; do eq "the center's link to $p is back in step" "ok|null" "$(link_state center $p)"; done
}

# D2's rows and queue altered with its triggers dropped: node resync at the center mends it.
scenario_resync() {
	local trig
	: >"$ALL_OUT"
	for trig in $(sqlite3 "$W/d2.db" "SELECT name FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'brigades'"); do
		sql d2 "DROP TRIGGER \"$trig\""
	done
	sql d2 "UPDATE brigades SET headcount = 99 WHERE name = 'B0'; DELETE FROM brigades WHERE name = 'C0';
		INSERT INTO brigades (uuid, name, foreman, headcount, updated_at, is_deleted)
		VALUES ('0b3e7a3c-8a5b-4c1e-9f00-00000000abcd', 'ghost', 'G', 1, '2026-01-01T00:00:00.000Z', 0);
		DELETE FROM sync_changes"
	x center node resync D2
	eq "node resync exits 0" 0 "$RC"
	check "and says what it does" has "$OUT" "D2 gets this node's full state with the next packet to it"
	eq "status shows the link recovering" "recovering|an operator asked for a resync: D2 gets this node's full state" \
		"$(link_state center D2)"
	x center node resync D2
	eq "running it again changes nothing more" "0|recovering" "$RC|$(link_state center D2 | cut -d'|' -f1)"
	x center node resync D9
	eq "an unknown peer exits 7" 7 "$RC"
	sync_all
	eq "the row edited behind xchg's back is the center's again" 1 "$(sql d2 "SELECT headcount FROM brigades WHERE name = 'B0'")"
	eq "the row deleted behind its back is back" 1 "$(crew d2 C0)"
	eq "the row added behind its back, which the center never had, is gone" 0 "$(crew d2 ghost)"
	check "and the import said so" grep -qE "[0-9]+ rows? here that the center's full state does not carry (is|are) removed" "$ALL_OUT"
	in_step "after node resync"
	eq "the link is back in step" "ok|null" "$(link_state center D2)"
	x d1 node resync CENTER
	eq "a desktop can resync the center too" 0 "$RC"
	sync_all
	in_step "after a desktop's resync"
}

scenario_cap() {
	local i
	x center node set D2 --max-queue 5
	eq "node set takes a cap" 0 "$RC"
	check "and says it" has "$OUT" "past 5 queued changes"
	for i in $(seq 12); do add center "silent $i"; done
	for i in 1 2; do x center sync; x d1 sync; done
	x center status --json
	eq "a silent peer's queue past its cap collapses into its full state" "true|0|recovering" \
		"$(jq -r '.peers[] | select(.code == "D2") | "\(.full_state)|\(.unsent)|\(.state)"' <<<"$OUT")"
	check "the reason names the cap" has "$(link_state center D2)" "its queue passed 5 changes while it was silent"
	eq "sync_changes holds nothing for it" 0 "$(sql center "SELECT count(*) FROM sync_changes c JOIN sync_nodes n ON n.id = c.node_id WHERE n.code = 'D2'")"
	sync_all
	in_step "the silent peer, back"
	eq "it has every row" 12 "$(sql d2 "SELECT count(*) FROM brigades WHERE name LIKE 'silent %'")"
	eq "the link is back in step" "ok|null" "$(link_state center D2)"
	x center node set D2 --max-queue none
	eq "the cap can be taken away" "null" "$(x center status --json; jq -r '.peers[] | select(.code == "D2") | .max_queue' <<<"$OUT")"
}

setup && {
	in_step "the star starts in step"
	scenario_desktop_restored
	scenario_center_restored
	scenario_resync
	scenario_cap
}
no_sanitizer_reports "$W/all-stderr"
summary
