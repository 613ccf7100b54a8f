#!/usr/bin/env bash
# Capture once, route later (formats/PACKET.md 6.2) through the real binary:
# an application's write is one captured row however many desktops there
# are; xchg routes captures to the peers at export and import, never back
# to their origin; node add queues nothing and the first packet reads the
# tables; the full state is owed until acknowledged; a silent peer holds
# nothing back; an older node is upgraded in place. SQLite nodes, or a
# PostgreSQL center with XCHG_E2E_CENTER=pg.
E2E_NAME=routing
. "$(dirname "$0")/lib.bash"

SH=$W/share
mkdir -p "$SH"

count() { sql "$1" "SELECT count(*) FROM $2"; }   # count NODE TABLE-AND-WHERE
peer_id() { sql "$1" "SELECT id FROM sync_nodes WHERE code = '$2'"; }
queued() { count "$1" "sync_changes WHERE node_id = '$(peer_id "$1" "$2")'"; }
# header PKT JQ: jq's answer to JQ on the packet's header
header() { unzip -p "$1" message.json | jq -r ".header | $2"; }
# entities PKT JQ-FILTER: how many of the packet's entities pass the filter
entities() { unzip -p "$1" message.json | jq "[.body.entities[] | select($2)] | length"; }
full_state() { x "$1" status --json; jq -r ".peers[] | select(.code == \"$2\") | .full_state" <<<"$OUT"; }

setup() {
	local n
	for n in center d1 d2 d3 d4 d5; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('Concrete team', 'Ivanov', 6),
			('Roofers', 'Petrova', 4), ('Gone', 'Nobody', 1), ('Old', 'Nobody', 2);
		INSERT INTO estimates (number, title, total) VALUES ('E-1', 'School', '100.00');
		INSERT INTO works (estimate_uuid, code, name, unit, quantity, price)
			SELECT uuid, 'W-01', 'Foundation', 'm3', 120.5, '8500.00' FROM estimates;"
	check "init the center alone" x center init --code CENTER --plan "$plan" --master
	sql center "UPDATE brigades SET headcount = 5 WHERE name = 'Old'"
	eq "a node with no peer yet captures nothing" 0 "$(count center sync_capture)"
	init_star
	sql d3 "INSERT INTO brigades (name, foreman, headcount) VALUES ('Site 3 crew', 'Kim', 5)"
	for n in d3 d4 d5; do
		check "init ${n^^}" x $n init --code "${n^^}" --plan "$plan"
		check "${n^^} registers the center" x $n node add --key "$(x center key; echo "$OUT")"
	done
}

# node add costs nothing: no registration for the new peer, the full state owed.
scenario_add() {
	local before
	before=$(count center sync_changes)
	check "the center registers D3" x center node add --key "$(x d3 key; echo "$OUT")"
	eq "node add queues nothing for D3" 0 "$(queued center D3)"
	eq "nor anything at all" "$before" "$(count center sync_changes)"
	eq "D3 is owed the full state" true "$(full_state center D3)"
	x center status
	check "status shows D3's queue as all" grep -qE '^D3 +ok +desktop +never +never +all ' <<<"$OUT"
	eq "D1, empty when it registered the center, owes it nothing" false "$(full_state d1 CENTER)"
	eq "D3, which held a row, owes the center its full state" true "$(full_state d3 CENTER)"
	x d3 export --node CENTER --out "$W"
	eq "D3's first packet carries its row as the full state" "true|1" \
		"$(header "$OUT" .full_state)|$(entities "$OUT" true)"
}

# The first packet reads the tables: every row, marked as the full state,
# again in every packet until one is acknowledged.
scenario_first_packet() {
	local pkt rows
	x center export --node D1 --out "$W"; pkt=$OUT
	eq "D1's first packet is a full state" true "$(header "$pkt" .full_state)"
	rows=$(( $(count center brigades) + $(count center estimates) + $(count center works) ))
	eq "it carries every row of every table, as INSERTs" "$rows|$rows" \
		"$(entities "$pkt" true)|$(entities "$pkt" '.operation == "INSERT"')"
	x center inspect "$pkt" --json
	eq "inspect shows the full state too" true "$(jq .header.full_state <<<"$OUT")"
	x center export --node D1 --out "$SH"; pkt=$OUT
	eq "the first one lost, the next packet is a full state again (rule 2)" "true|$rows" \
		"$(header "$pkt" .full_state)|$(entities "$pkt" true)"
	check "D1 applies it" x d1 import "$pkt"
	eq "D1 holds the center's brigades" "$(count center brigades)" "$(count d1 brigades)"
	pkt=$(ls "$SH"/pkt_D1_CENTER_*.zip)
	eq "D1 answers with a bare acknowledgement" "null|0" "$(header "$pkt" .full_state)|$(entities "$pkt" true)"
	x center import "$pkt"
	eq "which ends the full state owed to D1" false "$(full_state center D1)"
	x center export --node D1 --out "$SH"; pkt=$OUT
	eq "then packets carry changes only" "null|0" "$(header "$pkt" .full_state)|$(entities "$pkt" true)"
	x d1 import "$pkt"
}

# A full state carries back what its sender took from the receiver (D3's
# first packet was lost): the receiver leaves those copies alone, with no
# conflict and nothing routed on but the sender's own row.
scenario_copies() {
	local pkt rows q
	rows=$(( $(count center brigades) + $(count center estimates) + $(count center works) ))
	x center export --node D3 --out "$SH"
	check "D3 takes the center's full state" x d3 import "$OUT"
	pkt=$(ls "$SH"/pkt_D3_CENTER_*.zip)
	eq "D3's answer is its full state again, the center's rows included" "true|$((rows + 1))" \
		"$(header "$pkt" .full_state)|$(entities "$pkt" true)"
	q=$(queued center D2)
	x center import "$pkt"
	check "the center takes it, with no conflict" has "$OUT" "0 conflicts"
	eq "D3's row is at the center" 1 "$(count center "brigades WHERE name = 'Site 3 crew'")"
	eq "and is the one change routed on" $((q + 1)) "$(queued center D2)"
	x d3 import "$SH"
	eq "both full states are delivered" "false|false" "$(full_state d3 CENTER)|$(full_state center D3)"
}

# One change is one captured row, whatever the number of peers; routing
# makes it a registration for each peer but its origin.
scenario_capture_once() {
	local cap uuid q
	check "the center registers D4" x center node add --key "$(x d4 key; echo "$OUT")"
	check "the center registers D5" x center node add --key "$(x d5 key; echo "$OUT")"
	x center export --node D2 --out "$SH"     # routes whatever was captured so far
	eq "routing empties the capture log" 0 "$(count center sync_capture)"
	cap=$(count center sync_changes)
	x center status --json
	q=$(jq '.peers[] | select(.code == "D1") | .queued' <<<"$OUT")
	sql center "UPDATE brigades SET headcount = 7 WHERE name = 'Concrete team'"
	eq "an update with five desktops registered is one captured row" 1 "$(count center sync_capture)"
	eq "and registers nothing in the application's transaction" "$cap" "$(count center sync_changes)"
	sql center "INSERT INTO works (estimate_uuid, code, name, unit, quantity, price)
		SELECT uuid, 'W-02', 'Roof', 'm2', 900, '1250.50' FROM estimates"
	eq "an insert is one more" 2 "$(count center sync_capture)"
	x center status --json
	eq "status counts what routing will queue for D1" $((q + 2)) "$(jq '.peers[] | select(.code == "D1") | .queued' <<<"$OUT")"
	x center export --node D1 --out "$SH"
	eq "an export routes the log and empties it" 0 "$(count center sync_capture)"
	uuid=$(uuid_of center brigades "name = 'Concrete team'")
	eq "the change is queued for D2" 1 \
		"$(count center "sync_changes WHERE node_id = '$(peer_id center D2)' AND entity_uuid = '$uuid'")"
	eq "and for D4, owed the full state and sent nothing yet: its next packet may be read before" 1 \
		"$(count center "sync_changes WHERE node_id = '$(peer_id center D4)' AND entity_uuid = '$uuid'")"
	x d1 import "$SH"
	eq "D1 takes the update" 7 "$(sql d1 "SELECT headcount FROM brigades WHERE name = 'Concrete team'")"
}

# No echo: D1's change, applied at the center, is routed to every desktop but D1.
scenario_no_echo() {
	local uuid
	sql d1 "UPDATE brigades SET foreman = 'Sidorov' WHERE name = 'Roofers'"
	uuid=$(uuid_of d1 brigades "name = 'Roofers'")
	up d1
	x center export --node D2 --out "$SH"
	eq "D1's change is not queued back for D1" 0 \
		"$(count center "sync_changes WHERE node_id = '$(peer_id center D1)' AND entity_uuid = '$uuid'")"
	eq "it is queued for D2" 1 \
		"$(count center "sync_changes WHERE node_id = '$(peer_id center D2)' AND entity_uuid = '$uuid'")"
	check "D2 imports" x d2 import "$SH"
	eq "D2 gets D1's change through the center" Sidorov "$(sql d2 "SELECT foreman FROM brigades WHERE name = 'Roofers'")"
}

# A silent peer holds nothing back: routing empties the capture log at every
# export; the silent peer's queue keeps one registration per row changed, and
# its next packet carries them.
scenario_silent() {
	local i uuid
	for i in 1 2 3 4 5 6 7 8 9 10; do
		sql center "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'Roofers'"
		x center export --node D1 --out "$SH"
		x d1 import "$SH"
	done
	sql center "UPDATE brigades SET is_deleted = $(pick center 1 true) WHERE name = 'Gone'"
	x center export --node D1 --out "$SH"
	eq "the capture log is empty although D2 was silent" 0 "$(count center sync_capture)"
	uuid=$(uuid_of center brigades "name = 'Roofers'")
	eq "D2's queue holds ten updates of one row as one registration" 1 \
		"$(count center "sync_changes WHERE node_id = '$(peer_id center D2)' AND entity_uuid = '$uuid'")"
	x center export --node D2 --out "$SH"
	check "D2 comes back" x d2 import "$SH"
	eq "and takes the row as it is now" "$(sql center "SELECT headcount FROM brigades WHERE name = 'Roofers'")" \
		"$(sql d2 "SELECT headcount FROM brigades WHERE name = 'Roofers'")"
	eq "and the soft delete" 1 "$(sql d2 "SELECT is_deleted FROM brigades WHERE name = 'Gone'")"
	star_round
	same_tables "D2 holds the center's data" center d2
	same_tables "D1 holds the center's data" center d1
}

# PostgreSQL: an application's writer never waits for xchg's routing (which
# holds the routing lock, the captures it moves and the registrations it
# writes), nor for another writer's capture.
scenario_writers_do_not_wait() {
	local bg
	is_pg center || return 0
	sql center "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'Roofers'"
	psql_on -c "BEGIN; SELECT pg_advisory_xact_lock(hashtextextended('xchg:xchg routing', 0));
		DELETE FROM sync_capture; UPDATE sync_changes SET packet_no = packet_no;
		SELECT pg_sleep(4); COMMIT;" >/dev/null 2>&1 &
	bg=$!
	psql_on -c "BEGIN; UPDATE brigades SET headcount = headcount + 1 WHERE name = 'Concrete team';
		SELECT pg_sleep(4); COMMIT;" >/dev/null 2>&1 &
	sleep 1
	check "an application writes while routing and another writer hold their rows" \
		psql_on -c "SET lock_timeout = '1s'; UPDATE brigades SET headcount = headcount + 1 WHERE name = 'Roofers';
			INSERT INTO brigades (name, foreman, headcount) VALUES ('Night shift', 'Lee', 2);
			DELETE FROM brigades WHERE name = 'Night shift'"
	wait
	eq "and its three changes are captured, once each" 3 "$(count center "sync_capture WHERE origin_id IS NULL
		AND entity_uuid NOT IN (SELECT uuid::text FROM brigades WHERE name = 'Concrete team')")"
}

# A node an older xchg set up (no capture log, no full_state_no, no list of
# packets received) is upgraded by the next command and exchanges on.
scenario_upgrade() {
	sql d1 "DROP TABLE sync_received; ALTER TABLE sync_sent DROP COLUMN listed_received;
		ALTER TABLE sync_nodes DROP COLUMN full_state_no; ALTER TABLE sync_nodes DROP COLUMN added_at;
		DROP TABLE sync_capture"
	check "status on an older node works" x d1 status
	eq "and gives it the capture log" 0 "$(count d1 sync_capture)"
	eq "and the full-state column" 1 "$(count d1 "pragma_table_info('sync_nodes') WHERE name = 'full_state_no'")"
	eq "and the packets received" 0 "$(count d1 sync_received)"
	eq "and what each packet sent listed" 1 \
		"$(count d1 "pragma_table_info('sync_sent') WHERE name = 'listed_received'")"
	sql d1 "INSERT INTO brigades (name, foreman, headcount) VALUES ('Upgraded', 'Park', 9)"
	up d1
	eq "a change made after the upgrade reaches the center" 9 \
		"$(sql center "SELECT headcount FROM brigades WHERE name = 'Upgraded'")"
}

# A row deleted outright while a peer is owed the full state travels as a DELETE.
scenario_hard_delete() {
	local uuid pkt
	uuid=$(uuid_of center works "code = 'W-02'")
	x center export --node D5 --out "$W"; pkt=$OUT     # D5's first full state, lost
	sql center "DELETE FROM works WHERE code = 'W-02'"
	x center export --node D5 --out "$SH"; pkt=$OUT
	eq "the next full state carries W-02's deletion" 1 \
		"$(entities "$pkt" ".uuid == \"$uuid\" and .operation == \"DELETE\"")"
	eq "and W-02 nowhere else" 1 "$(entities "$pkt" ".uuid == \"$uuid\"")"
}

setup && {
	scenario_add
	scenario_first_packet
	scenario_copies
	scenario_capture_once
	scenario_no_echo
	scenario_silent
	scenario_writers_do_not_wait
	scenario_upgrade
	scenario_hard_delete
}
no_sanitizer_reports "$W/all-stderr"
summary
