#!/usr/bin/env bash
# Unattended exchange through the real binary: each link's settings (node
# set), stored in the database and shown by status; xchg sync rounds that
# converge the star with nobody calling import or export, write nothing
# when nothing is new, and keep the shared folder tidy. SQLite nodes, or a
# PostgreSQL center with XCHG_E2E_CENTER=pg.
E2E_NAME=unattended
. "$(dirname "$0")/lib.bash"

SH=$W/share
mkdir -p "$SH"
# link NODE PEER: the peer's link settings in NODE's status, as dir|late_after|applied
link() {
	x "$1" status --json
	jq -r ".peers[] | select(.code == \"$2\") | \"\(.dir)|\(.late_after)|\(.applied)\"" <<<"$OUT"
}

setup() {
	local n
	for n in center d1 d2; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	init_star
}

scenario_node_set() {
	local before
	eq "a new link: no folder, late after a day, applied packets archived" "null|86400|archive" \
		"$(link center D1)"
	x center node set D1 --dir "$SH" --late-after 1h30m --applied delete
	eq "node set takes a folder, a duration and a policy" 0 "$RC"
	check "and says what it set" has "$OUT" "late after 90m"
	eq "status shows them" "$SH|5400|delete" "$(link center D1)"
	check "a relative folder is kept as a full path" bash -c "cd '$W' && '$bin' node set D2 --dir share --db '$(db_url center)'"
	eq "so any later run finds it" "$SH|86400|archive" "$(link center D2)"
	x center node set D1 --dir ""
	eq "--dir \"\" forgets the folder, and only it" "null|5400|delete" "$(link center D1)"
	before=$(db_sum center)
	x center node set D1 --late-after 10q
	eq "a duration that is none exits 2" 2 "$RC"
	check "and names it" has "$ERR" "--late-after 10q"
	x center node set D1 --applied burn
	eq "an unknown policy exits 2" 2 "$RC"
	check "and names the three" has "$ERR" "archived, deleted or kept"
	x center node set D1
	eq "nothing to set exits 2" 2 "$RC"
	x center node set D9 --late-after 1h
	eq "an unknown peer exits 7" 7 "$RC"
	eq "the refusals change nothing" "$before" "$(db_sum center)"
}

# packets DIR: the names of the packets in DIR, one line
packets() { (cd "$1" && ls pkt_* 2>/dev/null | tr '\n' ' '); }
# sync_all: xchg sync at every node in turn, twice; fails a check on an error
sync_all() {
	local i n
	for i in 1 2; do
		for n in d1 d2 center; do x $n sync || bad "$n sync" "$ERR"; done
	done
}

scenario_sync() {
	local before
	x center node set D1 --dir "$SH" --applied archive
	x center node set D2 --dir "$SH" --applied delete
	x d1 node set CENTER --dir "$SH"
	x d2 node set CENTER --dir "$SH"
	echo "not a packet" >"$SH/photos.zip"
	echo "notes" >"$SH/notes.txt"
	sql d1 "INSERT INTO brigades (name, foreman, headcount) VALUES ('D1 crew', 'Lee', 3)"
	sql d2 "INSERT INTO brigades (name, foreman, headcount) VALUES ('D2 crew', 'Kim', 4)"
	sql center "INSERT INTO estimates (number, title, total) VALUES ('E-9', 'Depot', '9.00')"
	x d1 sync
	eq "a desktop's sync exits 0" 0 "$RC"
	check "and exports its change" has "$OUT" "exported $SH/pkt_D1_CENTER_1.zip"
	sync_all
	same_tables "sync at every node in turn converges D1 with the center" center d1
	same_tables "and D2" center d2
	eq "files not named like packets are left alone" "not a packet|notes" "$(cat "$SH/photos.zip")|$(cat "$SH/notes.txt")"
	check "no warning about them either" bash -c "! grep -q photos '$W/all-stderr'"
	check "the center archives D1's packets" test -n "$(packets "$SH/archive" | grep -o 'pkt_D1_CENTER_1.zip')"
	check "and deletes D2's, as their links say" bash -c "! ls '$SH'/archive/pkt_D2_CENTER_* >/dev/null 2>&1"
	check "a desktop archives the center's" test -n "$(packets "$SH/archive" | grep -o 'pkt_CENTER_D1_1.zip')"
	before=$(packets "$SH")
	for n in center d1 d2; do x $n sync; done
	eq "a round with nothing new writes no packet" "$before" "$(packets "$SH")"
	check "and says nothing of packets" bash -c "! grep -q exported <<<'$OUT'"
	x d1 sync -q
	eq "sync -q with nothing to do says nothing" "0||" "$RC|$OUT|$ERR"
	x center import -q "$SH/archive"
	check "import -q of packets applied before: one line of counts" \
		grep -qxE 'packets: [0-9]+ skipped as duplicates' <<<"$OUT"
	eq "and nothing else" "0|1|" "$RC|$(wc -l <<<"$OUT")|$ERR"
}


scenario_rejected() {
	local bad=$SH/pkt_D1_CENTER_99.zip
	eq "status calls a link that exchanged ok" "ok|null" "$(link_state center D1)"
	eq "and exits 0 when every link is" 0 "$RC"
	echo "garbage" >"$bad"
	x d2 sync
	eq "a desktop leaves an unreadable packet named for the center alone" "0|garbage" "$RC|$(cat "$bad")"
	x center sync
	eq "a garbage packet makes that sync exit 4" 4 "$RC"
	check "it is moved to rejected/" test -f "$SH/rejected/pkt_D1_CENTER_99.zip" -a ! -e "$bad"
	check "with the reason beside it" test -s "$SH/rejected/pkt_D1_CENTER_99.zip.why"
	x center sync
	eq "so the next sync is not held up by it" 0 "$RC"
	check "status calls the link broken, naming the packet" \
		has "$(link_state center D1)" "broken|pkt_D1_CENTER_99.zip was refused: "
	x center status --json
	eq "and exits 1, for a monitor" 1 "$RC"
	x center status
	eq "the table says the same, and exits 1" 1 "$RC"
	check "with the reason below it" has "$OUT" "D1: broken: pkt_D1_CENTER_99.zip was refused: "
	eq "the other link is ok all the same" "ok|null" "$(link_state center D2)"
	sql d1 "UPDATE brigades SET headcount = 8 WHERE name = 'D1 crew'"
	x d1 sync; x center sync
	eq "and the link carries on" 8 "$(sql center "SELECT headcount FROM brigades WHERE name = 'D1 crew'")"
	eq "a good packet since mends it" "ok|null" "$(link_state center D1)"
	x center status --json
	eq "the refused packet is still shown, as the link's last problem" \
		"pkt_D1_CENTER_99.zip|refused" \
		"$(jq -r '.peers[] | select(.code == "D1") | "\(.problem.packet)|\(.problem.kind)"' <<<"$OUT")"
	x center node set D2 --late-after 1s
	sleep 2
	check "a link silent longer than its late-after is late" has "$(link_state center D2)" "late|nothing received since "
	x center status --json
	eq "which exits 1 too" 1 "$RC"
	x center node set D2 --late-after 1d
	eq "ok again within a day" "ok|null" "$(link_state center D2)"
}

scenario_revoked() {
	x center node revoke D1
	eq "a revoked peer that is silent is no failure" "ok|null" "$(link_state center D1)"
	sql d1 "UPDATE brigades SET headcount = 11 WHERE name = 'D1 crew'"
	x d1 sync
	x center sync --dir "$SH"
	check "a revoked peer that still sends is broken" has "$(link_state center D1)" "broken|revoked on "
	x center status
	check "the table says it is revoked" has "$OUT" "D1: revoked on "
}

# Two syncs of one node do not both run; what a crashed export left is swept.
scenario_lock_and_sweep() {
	local t
	command -v flock >/dev/null || { bad "tools" "flock is not installed"; return; }
	flock "$W/d1.db.sync.lock" sleep 8 &
	sleep 0.3
	t=$SECONDS
	x d1 sync
	eq "a sync while another runs on the node exits 1" 1 "$RC"
	check "after waiting a few seconds, not at once" test $((SECONDS - t)) -ge 4
	check "and says another is running" has "$ERR" "another xchg sync of this node is running"
	wait
	flock "$W/d1.db.sync.lock" sleep 1 &
	sleep 0.3
	x d1 sync
	eq "one that waits for a short one runs" 0 "$RC"
	wait
	: >"$SH/.pkt_D1_CENTER_77.zip.tmp"
	: >"$SH/.pkt_D1_CENTER_78.zip.tmp"
	touch -d '2 hours ago' "$SH/.pkt_D1_CENTER_77.zip.tmp"
	x center sync
	check "an export's temporary left for hours is removed" test ! -e "$SH/.pkt_D1_CENTER_77.zip.tmp"
	check "and said so" has "$OUT" "deleted $SH/.pkt_D1_CENTER_77.zip.tmp"
	check "a fresh one, perhaps being written, stays" test -e "$SH/.pkt_D1_CENTER_78.zip.tmp"
	# The center's own: numbered past what it committed, no export is writing it any more.
	local sent
	sent=$(sql center "SELECT sent_packet_no FROM sync_nodes WHERE code = 'D1'")
	: >"$SH/.pkt_CENTER_D1_$((sent + 1)).zip.tmp"
	: >"$SH/.pkt_CENTER_D1_$((sent + 5)).zip.sealed.tmp"
	: >"$SH/.pkt_CENTER_D1_$sent.zip.tmp"
	x center sync
	check "a fresh temporary of a number never committed is removed" \
		test ! -e "$SH/.pkt_CENTER_D1_$((sent + 1)).zip.tmp"
	check "a sealed one too" test ! -e "$SH/.pkt_CENTER_D1_$((sent + 5)).zip.sealed.tmp"
	check "and said so" has "$OUT" "deleted $SH/.pkt_CENTER_D1_$((sent + 1)).zip.tmp"
	check "one of a number committed, perhaps being published, stays" \
		test -e "$SH/.pkt_CENTER_D1_$sent.zip.tmp"
	rm -f "$SH/.pkt_CENTER_D1_$sent.zip.tmp" "$SH/.pkt_D1_CENTER_78.zip.tmp"
}

scenario_by_hand() {
	local pkt
	sql d2 "UPDATE brigades SET headcount = 9 WHERE name = 'D2 crew'"
	x d2 export --node CENTER --out "$W"; pkt=$OUT
	x center import "$pkt"
	check "import by hand leaves the packet where it was" test -f "$pkt"
	x center import --archive "$pkt"
	eq "import --archive files it as sync does: a duplicate now, deleted as D2's link says" \
		"0|deleted $pkt" "$RC|$(grep '^deleted' <<<"$OUT")"
	check "so it is gone" test ! -e "$pkt"
	sql d1 "UPDATE brigades SET headcount = 10 WHERE name = 'D1 crew'"
	x d1 export --node CENTER --out "$W"; pkt=$OUT
	x center import --archive "$pkt"
	check "and one of D1's goes to the archive beside it" test -f "$W/archive/$(basename "$pkt")" -a ! -e "$pkt"
	x center node set D2 --dir ""
	x center sync
	eq "a link with no folder, and no --dir, exits 2" 2 "$RC"
	check "naming the link and how to set one" has "$ERR" "xchg node set D2 --dir"
	check "--dir gives it one for the run" x center sync --dir "$SH"
}

setup && {
	scenario_node_set
	scenario_sync
	scenario_rejected
	scenario_lock_and_sweep
	scenario_by_hand
	scenario_revoked
}
no_sanitizer_reports "$W/all-stderr"
summary
