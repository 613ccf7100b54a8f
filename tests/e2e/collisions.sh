#!/usr/bin/env bash
# A unique key two desktops both claim, and a row the center's schema
# refuses: neither stops a link. Through the binary: what import, status and
# conflicts print, and `xchg conflicts retry ID` once the schema is fixed.
# A SQLite center, or a PostgreSQL one with XCHG_E2E_CENTER=pg.
E2E_NAME=collisions
. "$(dirname "$0")/lib.bash"

plan=$W/plan.json
cat >"$plan" <<'JSON'
{"schema_version": "1.0.0", "conflict_policy": "master-wins",
 "entities": [{"type": "Ledger", "table": "ledgers"}]}
JSON
tables=ledgers
# The center keeps names short; the desktops do not.
short_name=" CONSTRAINT short_name CHECK (length(name) <= 10)"
ledgers() {
	sql "$1" "CREATE TABLE ledgers (code TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL$2,
		balance INTEGER NOT NULL DEFAULT 0)"
}

setup() {
	ledgers center "$short_name" && ledgers d1 "" && ledgers d2 "" || { bad setup "schemas"; return 1; }
	init_star
}

SH=$W/share
mkdir -p "$SH"
conflict_id() { # conflict_id NODE KIND: the newest entry of that kind in NODE's log
	x "$1" conflicts --json
	jq -r --arg k "$2" '[.[] | select(.kind == $k)][0].id' <<<"$OUT"
}

scenario_collision() {
	local u1 u2 id
	sql d1 "INSERT INTO ledgers (code, name) VALUES ('ACC-7', 'From D1')"
	sql d2 "INSERT INTO ledgers (code, name) VALUES ('ACC-7', 'From D2')"
	u1=$(uuid_of d1 ledgers "code = 'ACC-7'") u2=$(uuid_of d2 ledgers "code = 'ACC-7'")
	up d1
	up d2
	eq "the center's import counts the collision and goes on" 0 "$RC"
	check "the import line says 1 conflict" has "$OUT" "0 entities, 1 conflict, 0 refused"
	star_round
	for n in center d1 d2; do
		eq "$n holds one ACC-7, the center's first" "$u1|From D1" \
			"$(sql $n "SELECT uuid || '|' || name FROM ledgers WHERE code = 'ACC-7'")"
	done
	same_tables "D1 and the center converge" center d1
	same_tables "D2 and the center converge" center d2
	x center conflicts
	check "conflicts lists it as a unique-key entry" has "$OUT" "unique-key"
	check "naming the key and its holder" has "$OUT" "unique key (code) = 'ACC-7' is held by $u1"
	check "for the losing entity" has "$OUT" "$u2"
	id=$(conflict_id center unique-key)
	x center conflicts show "$id"
	check "show says why" has "$OUT" "reason: unique key (code) = 'ACC-7' is held by $u1"
	check "show keeps the losing version" has "$OUT" "From D2"
	x center conflicts retry "$id"
	eq "retry is for refused rows only (exit 1)" 1 "$RC"
	check "and says so" has "$ERR" "not a refused row"
}

# SQLite cannot drop a CHECK; its documented way is to edit the schema's text.
drop_short_name() {
	if is_pg center; then sql center "ALTER TABLE ledgers DROP CONSTRAINT short_name"
	else
		local v
		v=$(sql center "PRAGMA schema_version")
		sql center "PRAGMA writable_schema = ON;
			UPDATE sqlite_master SET sql = replace(sql, '$short_name', '') WHERE name = 'ledgers';
			PRAGMA writable_schema = OFF; PRAGMA schema_version = $((v + 1));"
	fi
}

scenario_refused() {
	local bad id before
	sql d1 "INSERT INTO ledgers (code, name) VALUES ('ACC-8', 'A name far too long'), ('ACC-9', 'Short')"
	bad=$(uuid_of d1 ledgers "code = 'ACC-8'")
	before=$(sql center "SELECT received_packet_no FROM sync_nodes WHERE code = 'D1'")
	up d1
	eq "a refused row does not fail the import" 0 "$RC"
	check "the import line counts it" has "$OUT" "1 entity, 0 conflicts, 1 refused (kept in the conflict log"
	eq "the packet counts as received" "$((before + 1))" \
		"$(sql center "SELECT received_packet_no FROM sync_nodes WHERE code = 'D1'")"
	eq "the rest of the packet applied" "Short" "$(sql center "SELECT name FROM ledgers WHERE code = 'ACC-9'")"
	x center status
	check "status has a refused column" has "$OUT" "refused"
	check "status tells what to do" has "$OUT" "1 refused row is not applied here"
	x center status --json
	eq "status --json counts it for D1" "1 0" \
		"$(jq -r '[.peers[] | select(.code == "D1") | .refused, .conflicts] | join(" ")' <<<"$OUT")"
	x center conflicts
	check "conflicts lists the refused row" has "$OUT" "refused"
	check "with the database's message" has "$OUT" "short_name"
	id=$(conflict_id center refused)
	x center conflicts --json
	eq "the entry names the row" "$bad|open|D1" \
		"$(jq -r --argjson id "$id" '.[] | select(.id == $id) | [.entity_uuid, .status, .peer] | join("|")' <<<"$OUT")"
	x center conflicts retry "$id"
	eq "retry before the fix fails (exit 1)" 1 "$RC"
	check "with the database's message" has "$ERR" "short_name"
	eq "and changes nothing" "0" "$(sql center "SELECT count(*) FROM ledgers WHERE code = 'ACC-8'")"
	star_round
	eq "the link flows meanwhile; D2 has the rest" "Short" "$(sql d2 "SELECT name FROM ledgers WHERE code = 'ACC-9'")"
	drop_short_name || bad "drop the CHECK" "sql failed"
	x center conflicts retry "$id"
	eq "retry after the fix succeeds" 0 "$RC"
	check "and says the row is applied" has "$OUT" "conflict $id resolved: the row is applied"
	x center status --json
	eq "status counts no refused row now" "0" "$(jq -r '.peers[] | select(.code == "D1") | .refused' <<<"$OUT")"
	star_round
	eq "the retried row reached D2" "A name far too long" "$(sql d2 "SELECT name FROM ledgers WHERE code = 'ACC-8'")"
	same_tables "D1 and the center converge" center d1
	same_tables "D2 and the center converge" center d2
	x center conflicts --json
	eq "the entry is resolved" "resolved" "$(jq -r --argjson id "$id" '.[] | select(.id == $id) | .status' <<<"$OUT")"
	x center conflicts retry "$id"
	eq "a resolved entry is not retried again" 1 "$RC"
}

if setup; then
	scenario_collision
	scenario_refused
fi
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" -eq 0 ]
