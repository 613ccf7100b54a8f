#!/usr/bin/env bash
# End-to-end exchange between a center and two desktops, driving the real
# binary ($XCHG_BIN, default build/xchg) the way a user does: plain SQL
# edits, `xchg export` into a shared folder, `xchg import` of the folder.
# The desktops are SQLite; the center is SQLite too, or, with
# XCHG_E2E_CENTER=pg (what exchange_pg.sh sets), a PostgreSQL database on the
# test server at $XCHG_PG_HOST: every scenario is written once, and where the
# center's SQL differs, `pick` gives its PostgreSQL form (lib.bash).
# One function per scenario; each prints "ok - NAME" or
# "FAIL - NAME: detail", and the last line is "N passed, M failed".
#   usage: XCHG_BIN=build/xchg bash tests/e2e/exchange.sh
set -u

E2E_NAME=exchange
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

SH="$W/shared folder"   # every node exports into it and imports it (a space, on purpose)
mkdir -p "$SH"

# ---------------------------------------------------------------- helpers

# not_verified: the last `xchg inspect --json` failed or did not say "verified".
not_verified() { [ "$RC" -ne 0 ] || ! jq -e '.signature == "verified"' >/dev/null <<<"$OUT"; }

file_sum() { sha256sum <"$1" | cut -c1-64; }
flip_byte() { # flip_byte SRC DST: a copy of SRC with its middle byte changed
	local off byte
	off=$(( $(stat -c %s "$1") / 2 ))
	byte=$(od -An -tu1 -j "$off" -N1 "$1" | tr -d ' ')
	cp "$1" "$2"
	printf "\\$(printf %03o $((byte ^ 0x20)))" | dd of="$2" bs=1 seek="$off" conv=notrunc status=none
}
count_files() { find "$1" -maxdepth 1 -type f | wc -l; }
# bare DIR ARGS...: runs xchg in DIR with no --db added; leaves OUT, ERR and RC.
bare() {
	local dir=$1; shift
	(cd "$dir" && "$bin" "$@") >"$W/.out" 2>"$W/.err"
	RC=$?
	OUT=$(cat "$W/.out"); ERR=$(cat "$W/.err")
	cat "$W/.err" >>"$W/all-stderr"
}

# hex_of NODE EXPR: SQL for the UTF-8 bytes of a text in upper-case hex.
hex_of() { pick "$1" "hex($2)" "upper(encode(convert_to($2, 'UTF8'), 'hex'))"; }

# applied_entities: the sum of the entity counts of the "applied" lines in OUT.
applied_entities() {
	printf '%s\n' "$OUT" | sed -nE 's/^applied .*: packet [0-9]+ from [^,]+, ([0-9]+) entit(y|ies).*/\1/p' |
		awk '{ n += $1 } END { print n + 0 }'
}

# round_step NODE ARGS...: one xchg run of a round; adds what an import
# applied to ROUND_APPLIED; returns 1 with XERR when it fails.
round_step() {
	if ! x "$@"; then
		XERR="'xchg ${*:2}' at $1 exited $RC: $(printf '%s' "$ERR" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	[ "$2" != import ] || ROUND_APPLIED=$((ROUND_APPLIED + $(applied_entities)))
}
# exchange_round: each desktop exports to the center, the center takes in the
# shared folder and answers both desktops, the desktops take in the folder.
# Sets ROUND_APPLIED (entities applied anywhere); returns 1 with XERR on error.
exchange_round() {
	ROUND_APPLIED=0
	round_step d1 export --node CENTER --out "$SH" &&
		round_step d2 export --node CENTER --out "$SH" &&
		round_step center import "$SH" &&
		round_step center export --node D1 --out "$SH" &&
		round_step center export --node D2 --out "$SH" &&
		round_step d1 import "$SH" &&
		round_step d2 import "$SH"
}
# exchange_until_quiet: rounds until one applies no entity (at most 10).
# Sets ROUNDS; returns 1 with XERR when it fails or never settles.
exchange_until_quiet() {
	ROUNDS=0
	while [ $ROUNDS -lt 10 ]; do
		ROUNDS=$((ROUNDS + 1))
		exchange_round || return 1
		[ $ROUND_APPLIED -eq 0 ] && return 0
	done
	XERR="still applying entities after $ROUNDS rounds"
	return 1
}
# quiet NAME: exchange until quiet as a check.
quiet() {
	if exchange_until_quiet; then ok "$1 (quiet after $ROUNDS rounds)"; else bad "$1" "$XERR"; fi
}

# expect_refused NAME NODE PKT: importing PKT explicitly is refused with exit 4,
# a "refused" line naming it on stderr, the database and the file untouched.
expect_refused() {
	local name=$1 node=$2 pkt=$3 before fbefore nfiles
	before=$(db_sum "$node"); fbefore=$(file_sum "$pkt"); nfiles=$(count_files "$(dirname "$pkt")")
	x "$node" import "$pkt"
	eq "$name: exit status 4" 4 "$RC"
	if grep -qE "^refused $pkt: ." <<<"$ERR"; then ok "$name: 'refused $pkt: reason' on stderr"
	else bad "$name: 'refused $pkt: reason' on stderr" "stderr was: $(printf '%s' "$ERR" | tr '\n' ' ')"; fi
	has "$OUT" applied && bad "$name: nothing applied" "stdout: $OUT"
	eq "$name: database untouched" "$before" "$(db_sum "$node")"
	if [ -f "$pkt" ] && [ "$(file_sum "$pkt")" = "$fbefore" ]; then ok "$name: packet left where it was, unchanged"
	else bad "$name: packet left where it was, unchanged" "$pkt was moved or changed"; fi
	eq "$name: no acknowledgement written" "$nfiles" "$(count_files "$(dirname "$pkt")")"
}

# ---------------------------------------------------------------- scenarios

# Three databases with the construction schema (the center's in its own
# flavour); initial data at the center only, a daily report with lines among
# it; keys exchanged.
setup() {
	local n
	for n in center d1 d2; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('Concrete team', 'Ivanov', 6), ('Roofers', 'Petrova', 4);
		INSERT INTO estimates (number, title, total) VALUES ('E-2026-001', 'School, block A', '12345678901234.56');
		INSERT INTO works (estimate_uuid, code, name, unit, quantity, price) VALUES
			(NULL, 'W-01', 'Foundation pour', 'm3', 120.5, '8500.00'), (NULL, 'W-02', 'Roof membrane', 'm2', 900, '1250.50');"
	check "init center (--master)" x center init --code CENTER --name "Head office" --plan "$plan" --master
	check "init desktop D1" x d1 init --code D1 --name "Site 1" --plan "$plan"
	check "init desktop D2" x d2 init --code D2 --name "Site 2" --plan "$plan"
	if is_pg center; then # the sync columns in PostgreSQL's own types
		local t want="" got=""
		for t in $tables; do
			want="$want $t:uuid,timestamp with time zone,boolean"
			got="$got $t:$(sql center "SELECT string_agg(format_type(atttypid, atttypmod), ',' ORDER BY attname DESC)
				FROM pg_attribute WHERE attrelid = '\"$t\"'::regclass AND attname IN ('uuid', 'updated_at', 'is_deleted')")"
		done
		eq "init adds uuid UUID, updated_at TIMESTAMPTZ and is_deleted BOOLEAN to the center's tables" "$want" "$got"
	fi
	# Rows written after init, by plain sqlite3, are registered by the triggers.
	sql center "UPDATE works SET estimate_uuid = (SELECT uuid FROM estimates WHERE number = 'E-2026-001');
		INSERT INTO work_specifications (work_uuid, material, quantity, unit)
			SELECT uuid, 'Concrete B25', 121, 'm3' FROM works WHERE code = 'W-01';
		INSERT INTO daily_reports (report_date, brigade_uuid, author, notes)
			SELECT '2026-11-20', uuid, 'Head office', 'initial report' FROM brigades WHERE name = 'Concrete team';
		INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
			SELECT r.uuid, w.uuid, 10.5, 4, 'initial line ' || w.code FROM daily_reports r, works w;"
	local kc k1 k2
	x center key; kc=$OUT; x d1 key; k1=$OUT; x d2 key; k2=$OUT
	check "keys are printed" test -n "$kc" -a -n "$k1" -a -n "$k2"
	check "center registers D1" x center node add --code D1 --name "Site 1" --key "$k1"
	check "center registers D2" x center node add --code D2 --name "Site 2" --key "$k2"
	check "D1 registers the center" x d1 node add --code CENTER --key "$kc"
	check "D2 registers the center" x d2 node add --code CENTER --key "$kc"
}

# 1. The center's initial data reaches both desktops on the first exchange;
# init twice is safe; a desktop takes one peer only; bad codes and PostgreSQL
# URLs are refused cleanly.
scenario_initial() {
	local p n before key
	for n in D1 D2; do
		x center export --node "$n" --out "$SH"
		eq "first export to $n prints pkt_CENTER_${n}_1.zip" "$SH/pkt_CENTER_${n}_1.zip" "$OUT"
		check "first packet to $n is a readable ZIP with message.json" bash -c "unzip -p '$OUT' message.json | jq -e .header >/dev/null"
	done
	# Values travel in one form whatever the center's backend: times
	# YYYY-MM-DDTHH:MM:SS.mmmZ, money as exact text, uuids and dates as text.
	local forms='.body.entities as $e
		| ([$e[].updated_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}[.][0-9]{3}Z$")] | all)
		and ([$e[] | select(.type == "Estimate") | .data.total] == ["12345678901234.56"])
		and ([$e[] | select(.type == "Work") | .data.price] | sort == ["1250.50", "8500.00"])
		and ([$e[] | select(.type == "Work") | .data.estimate_uuid
			| test("^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")] | all)
		and ([$e[] | select(.type == "DailyReport") | .data.report_date] == ["2026-11-20"])
		and ([$e[] | select(.type == "DailyReport") | .data.lines[] | [.volume, .hours]] == [[10.5, 4], [10.5, 4]])
		and ([$e[] | select(.type == "Brigade") | .data.headcount] | sort == [4, 6])'
	check "the first packet carries times as ...T..:..:...mmmZ, money as exact text, uuids, dates and numbers as such" \
		jq -e "$forms" <(unzip -p "$SH/pkt_CENTER_D1_1.zip" message.json)
	for n in d1 d2; do
		x "$n" import "$SH"
		eq "$n imports the first packet (exit 0)" 0 "$RC"
		check "$n reports the packet applied" grep -q "^applied $SH/pkt_CENTER_${n^^}_1.zip: " <<<"$OUT"
		check "$n writes an acknowledgement" grep -q "^acknowledged with $SH/pkt_${n^^}_CENTER_1.zip" <<<"$OUT"
		check "$n leaves the other desktop's packet alone" test -f "$SH/pkt_CENTER_D$(( ${n#d} % 2 + 1 ))_1.zip"
		eq "$n has as many brigades as the center" "$(sql center 'SELECT count(*) FROM brigades')" "$(sql "$n" 'SELECT count(*) FROM brigades')"
		eq "$n has as many report lines as the center" "$(sql center 'SELECT count(*) FROM daily_report_lines')" "$(sql "$n" 'SELECT count(*) FROM daily_report_lines')"
		same_tables "$n holds exactly the center's data after the first exchange" center "$n"
	done
	check "the data is not empty" test "$(sql d1 'SELECT count(*) FROM daily_report_lines')" -eq 2

	# init twice: says so, exits 0, keeps identity, data, peers and queues.
	key=$(x center key; echo "$OUT")
	before=$(dump_tables center; sql center "SELECT * FROM sync_nodes ORDER BY code; SELECT * FROM sync_changes ORDER BY id")
	x center init --code CENTER --name "Head office" --plan "$plan" --master
	eq "init twice exits 0" 0 "$RC"
	check "init twice says 'already initialized'" grep -q "already initialized" <<<"$OUT$ERR"
	eq "init twice keeps the key" "$key" "$(x center key; echo "$OUT")"
	eq "init twice keeps data, peers and queues" "$before" "$(dump_tables center; sql center "SELECT * FROM sync_nodes ORDER BY code; SELECT * FROM sync_changes ORDER BY id")"

	# a desktop has exactly one peer
	before=$(db_sum d1)
	x d1 node add --code D2 --key "$(x d2 key; echo "$OUT")"
	check "a desktop refuses a second peer (non-zero exit)" test "$RC" -ne 0 -a "$RC" -lt 128
	check "the refusal is explained on stderr" test -n "$ERR"
	eq "the refused peer is not registered" "$before" "$(db_sum d1)"

	# node codes: 1 to 64 of letters, digits, '.', '_', '-'
	x bad1 init --code "bad code" --plan "$plan"; eq "init with a code holding a space exits 2" 2 "$RC"
	x bad1 init --code "" --plan "$plan"; eq "init with an empty code exits 2" 2 "$RC"
	x bad1 init --code "$(printf 'a%.0s' {1..65})" --plan "$plan"; eq "init with a 65-character code exits 2" 2 "$RC"
	x center node add --code "a/b" --key "$(x d2 key; echo "$OUT")"; eq "node add with code 'a/b' exits 2" 2 "$RC"
	x center export --node "D1;x" --out "$W"; eq "export --node 'D1;x' (an invalid code) exits 2, like init and node add" 2 "$RC"
	check "a bad code is named on stderr" grep -q "D1;x" <<<"$ERR"
	sqlite3 "$W/code64.db" <"$schema"
	check "a 64-character code of every allowed kind is accepted" \
		x code64 init --code "Aa0._-$(printf 'z%.0s' {1..58})" --plan "$plan"
	x center export --node NOBODY --out "$W"; eq "export to an unknown node exits 7" 7 "$RC"

	# conflict rules: only the documented values, each refusal naming the member
	sed 's/"master-wins"/"master-wins", "delete_conflict": "delete-wins"/' "$plan" >"$W/plan-delete-wins.json"
	sqlite3 "$W/rules.db" <"$schema"
	check "a plan with delete_conflict delete-wins is accepted" \
		x rules init --code RULES --plan "$W/plan-delete-wins.json"
	sed 's/"master-wins"/"master-wins", "delete_conflict": "newest"/' "$plan" >"$W/plan-bad-rule.json"
	x bad1 init --code BAD --plan "$W/plan-bad-rule.json"; eq "a plan with an unknown delete_conflict exits 2" 2 "$RC"
	check "the refusal names delete_conflict and its values" grep -q 'delete_conflict.*by-policy, delete-wins or edit-wins' <<<"$ERR"
	sed 's/"master-wins"/"oldest-wins"/' "$plan" >"$W/plan-bad-policy.json"
	x bad1 init --code BAD --plan "$W/plan-bad-policy.json"; eq "a plan with an unknown conflict_policy exits 2" 2 "$RC"
	check "the refusal names conflict_policy" grep -q 'conflict_policy.*master-wins or last-writer-wins' <<<"$ERR"
	sed 's/"conflict_policy"/"conflict_polcy"/' "$plan" >"$W/plan-misspelt.json"
	x bad1 init --code BAD --plan "$W/plan-misspelt.json"; eq "a plan with a misspelt key exits 2" 2 "$RC"
	check "and names the key" grep -q 'unknown key "conflict_polcy"' <<<"$ERR"
	x bad1 init --code BAD --plan "$W"; eq "a folder given as the plan exits 2" 2 "$RC"
	check "and says it is a folder" grep -q "a folder, not a plan file" <<<"$ERR"

	# A PostgreSQL server that is not there: one clear message, no password in it
	"$bin" status --db "postgresql://xchg:s3cret@127.0.0.1:1/center" >"$W/.out" 2>"$W/.err"; RC=$?
	cat "$W/.err" >>"$W/all-stderr"
	eq "--db postgresql://... with no server exits 3" 3 "$RC"
	check "--db postgresql://... says it cannot connect" grep -q "cannot connect" "$W/.err"
	check "the message does not show the password" bash -c "! grep -q s3cret '$W/.err'"
	XCHG_DB="postgresql:///center?host=$W/no-such-socket-dir" "$bin" export --node D1 >"$W/.out" 2>"$W/.err"; RC=$?
	cat "$W/.err" >>"$W/all-stderr"
	eq "XCHG_DB=postgresql://... with no server exits 3 too" 3 "$RC"
}

# 1b. An empty database URL, from --db or from XCHG_DB (an unset shell
# variable, typically), is a usage error and never falls back to ./xchg.db.
scenario_empty_url() {
	local dir=$W/empty-url
	mkdir -p "$dir"
	bare "$dir" init --code E --plan "$plan" --db ""
	eq "init --db '' exits 2" 2 "$RC"
	check "init --db '' says the database URL is empty" grep -q "database URL is empty" <<<"$ERR"
	bare "$dir" status --db=
	eq "status --db= exits 2" 2 "$RC"
	check "status --db= says the database URL is empty" grep -q "database URL is empty" <<<"$ERR"
	XCHG_DB= bare "$dir" init --code E --plan "$plan"
	eq "init with XCHG_DB set to '' exits 2" 2 "$RC"
	check "it says XCHG_DB is empty" grep -q "database URL is empty (XCHG_DB" <<<"$ERR"
	XCHG_DB= bare "$dir" inspect "$SH/pkt_CENTER_D1_1.zip"
	eq "inspect with XCHG_DB set to '' exits 2" 2 "$RC"
	XCHG_DB=$(db_url d1) bare "$dir" key --db ""
	eq "--db '' is refused even when XCHG_DB names a database" 2 "$RC"
	XCHG_KEY_FILE= bare "$dir" key --db "$(db_url d1)"
	eq "an empty XCHG_KEY_FILE is refused too" 2 "$RC"
	check "and named" grep -q "XCHG_KEY_FILE is set but empty" <<<"$ERR"
	eq "no ./xchg.db (or anything else) was created" "" "$(ls -A "$dir")"
}

# 1c. A first init that fails leaves nothing behind: neither the SQLite file
# it created nor a key file; a database that existed before stays as it was.
scenario_failed_init() {
	local why before
	printf '{' >"$W/broken-plan.json"
	for why in "a missing plan file|$W/no-such-plan.json" "an invalid plan|$W/broken-plan.json" \
		"a plan naming a missing table|$plan"; do
		x fresh init --code FRESH --plan "${why#*|}"
		check "first init with ${why%%|*} fails" test "$RC" -ne 0 -a "$RC" -lt 128
		eq "first init with ${why%%|*} leaves no database and no key file" "" \
			"$(cd "$W" && ls -A | grep '^fresh')"
	done
	load_schema old
	before=$(db_sum old)
	x old init --code OLD --plan "$W/broken-plan.json"
	check "init of an existing database with an invalid plan fails" test "$RC" -ne 0
	eq "the existing database stays, unchanged, and gets no key file" "$before|" \
		"$(db_sum old)|$(cd "$W" && ls -A | grep '^old.db.key')"
	: >"$W/blank.db"
	x blank init --code BLANK --plan "$plan"
	check "init of an existing empty file without the plan's tables fails" test "$RC" -ne 0
	check "the empty file that existed before stays" test -f "$W/blank.db"
	# A failure after the key is made: a first init whose node row cannot be written.
	load_schema keyfail
	check "init keyfail" x keyfail init --code KEYFAIL --plan "$plan"
	sql keyfail "DELETE FROM sync_nodes; CREATE TRIGGER no_nodes BEFORE INSERT ON sync_nodes
		BEGIN SELECT RAISE(ABORT, 'no new nodes here'); END;"
	rm "$W/keyfail.db.key"
	x keyfail init --code KEYFAIL --plan "$plan"
	check "a first init that fails after making its key says why" grep -q "no new nodes here" <<<"$ERR"
	check "and removes the key file it made" test ! -e "$W/keyfail.db.key"
	check "and keeps the database that existed before" test -s "$W/keyfail.db"
}

# 1d. A table appears once in a plan: a child table under two entities would
# keep only the second's triggers, and edits to the first's child rows would
# never be registered. init refuses such a plan naming the table; a stored
# plan that this xchg refuses (an older one took it) is a database error
# until init with a corrected plan replaces it.
scenario_plan_table_twice() {
	local twice=$W/plan-child-twice.json before
	jq '.entities |= map(if .type == "Brigade" then . + {children: [{name: "lines",
		table: "daily_report_lines", parent_column: "report_uuid"}]} else . end)' \
		"$plan" >"$twice" || { bad "plan with a child table twice" "jq failed"; return; }
	load_schema twice
	before=$(db_sum twice)
	x twice init --code TWICE --plan "$twice"
	eq "init with a child table under two entities exits 2" 2 "$RC"
	check "and names the table" grep -q 'child table "daily_report_lines" is already a child table' <<<"$ERR"
	eq "and leaves the database as it was" "$before" "$(db_sum twice)"
	check "init twice with the plan" x twice init --code TWICE --plan "$plan"
	sql twice "UPDATE sync_plan SET plan = '$(jq -c . "$twice")'"
	x twice status
	eq "a stored plan this xchg refuses is a database error (exit 3)" 3 "$RC"
	check "which names the stored plan and what to do" grep -q \
		'stored plan: .*"daily_report_lines" is already a child table.*; run xchg init --plan' <<<"$ERR"
	check "init with a corrected plan replaces it" x twice init --code TWICE --plan "$plan"
	check "and the node opens again" x twice status
}

# 2. Edits on every node, with values that are easy to damage, round-trip
# exactly; D1's change reaches D2 through the center; no echo to the origin.
scenario_edits() {
	# Prices are text at a SQLite center, numeric(18,2) at a PostgreSQL one,
	# which takes neither '' nor 22 digits and writes '1e5' as '100000.00'.
	local prices=(1e5 '' 3.0) big_total=99999999999999999999.99
	is_pg center && prices=(100000.00 0.00 3.00) big_total=9999999999999999.99
	sql d1 "INSERT INTO brigades (name, foreman, headcount) VALUES
			('Max brigade', 'Smith', 9223372036854775807),
			('Min brigade', NULL, -9223372036854775808),
			('Big brigade', '', 9007199254740993),
			('Edge brigade', 'NULL', 9007199254740992),
			('Neg edge brigade', 'null', -9007199254740993),
			('Бригада «Север» \"quoted\" back\\slash \\n' || char(10) || 'line two' || char(9) || 'tab ☃ 😀 ''single''', 'O''Brien', 0);
		INSERT INTO estimates (number, title, total) VALUES
			('E-D1-1', 'Tricky: {\"json\": [1, 2]} \\u0041 </script>', '12345678901234.56'),
			('007', NULL, '-0.01');
		INSERT INTO works (estimate_uuid, code, name, unit, quantity, price) VALUES
			(NULL, 'W-D1-1', 'tenth', 'm', 0.1, NULL),
			(NULL, 'W-D1-2', 'huge', 'm', 1e300, '0.10'),
			(NULL, 'W-D1-3', 'awkward', 'm', 0.30000000000000004, '${prices[0]}'),
			(NULL, 'W-D1-4', 'tiny', 'm', 5e-324, '${prices[1]}'),
			(NULL, 'W-D1-5', 'largest', 'm', -1.7976931348623157e308, '${prices[2]}');"
	sql center "UPDATE brigades SET headcount = 7, foreman = 'Ivanov Jr.' WHERE name = 'Concrete team';
		INSERT INTO estimates (number, title, total) VALUES ('E-C-2', 'Центр: \"new\"', '$big_total');"
	sql d2 "UPDATE works SET price = '9999.99', quantity = 2.5 WHERE code = 'W-02';
		INSERT INTO work_specifications (work_uuid, material, quantity, unit)
			SELECT uuid, 'PVC membrane 1.5 mm', 950, 'm2' FROM works WHERE code = 'W-02';"

	local vals=(9223372036854775807 -9223372036854775808 9007199254740993 9007199254740992 -9007199254740993)
	local maxu pkt n v
	maxu=$(uuid_of d1 brigades "name = 'Max brigade'")

	# D1 sends first, alone, so the center's registrations can be looked at.
	x d1 export --node CENTER --out "$SH"; pkt=$OUT
	check "D1 exports its edits" test "$RC" -eq 0 -a -f "$pkt"
	x center import "$pkt"
	eq "the center applies D1's packet (exit 0)" 0 "$RC"
	eq "no echo: the center queues nothing for D1 from D1's packet" 0 \
		"$(sql center "SELECT count(*) FROM sync_changes c JOIN sync_nodes n ON n.id = c.node_id WHERE n.code = 'D1' AND c.entity_uuid = '$maxu'")"
	eq "routing: the center queues D1's brigade for D2" 1 \
		"$(sql center "SELECT count(*) FROM sync_changes c JOIN sync_nodes n ON n.id = c.node_id WHERE n.code = 'D2' AND c.entity_uuid = '$maxu'")"
	quiet "edits on all three nodes exchanged"

	for n in center d2; do
		for v in "${vals[@]}"; do
			eq "$n: headcount $v arrives exactly, as an integer" "$v|$(pick "$n" integer bigint)" \
				"$(sql "$n" "$(pick "$n" "SELECT quote(headcount) || '|' || typeof(headcount)" "SELECT headcount::text || '|' || pg_typeof(headcount)") FROM brigades WHERE uuid = (SELECT uuid FROM brigades WHERE headcount = $v)")"
			eq "$n: headcount $v is the origin's row" "$(sql d1 "SELECT uuid FROM brigades WHERE headcount = $v")" \
				"$(sql "$n" "SELECT uuid FROM brigades WHERE headcount = $v")"
		done
		eq "$n: decimal text '12345678901234.56' stays $(pick "$n" text 'exact numeric')" "'12345678901234.56'|$(pick "$n" text numeric)" \
			"$(sql "$n" "$(pick "$n" "SELECT quote(total) || '|' || typeof(total)" "SELECT quote_literal(total::text) || '|' || pg_typeof(total)") FROM estimates WHERE number = 'E-D1-1'")"
		eq "$n: text '007' stays text" "'007'|text" "$(sql "$n" "$(pick "$n" "SELECT quote(number) || '|' || typeof(number)" "SELECT quote_literal(number) || '|' || pg_typeof(number)") FROM estimates WHERE total = '-0.01'")"
		eq "$n: unicode text with quotes, backslashes, newlines, tabs arrives byte for byte" \
			"$(sql d1 "SELECT hex(name) || '/' || hex(foreman) FROM brigades WHERE headcount = 0")" \
			"$(sql "$n" "SELECT $(hex_of "$n" name) || '/' || $(hex_of "$n" foreman) FROM brigades WHERE headcount = 0")"
		eq "$n: JSON-looking text arrives byte for byte" \
			"$(sql d1 "SELECT hex(title) FROM estimates WHERE number = 'E-D1-1'")" \
			"$(sql "$n" "SELECT $(hex_of "$n" title) FROM estimates WHERE number = 'E-D1-1'")"
		local quote typeof
		quote=$(pick "$n" quote quote_nullable) typeof=$(pick "$n" typeof "pg_typeof")
		eq "$n: NULL, empty string and the text 'NULL' stay distinct" \
			"NULL|text:|text:NULL|text:null|NULL" \
			"$(sql "$n" "SELECT (SELECT $quote(foreman) FROM brigades WHERE name = 'Min brigade') || '|' ||
				(SELECT $typeof(foreman) || ':' || foreman FROM brigades WHERE name = 'Big brigade') || '|' ||
				(SELECT $typeof(foreman) || ':' || foreman FROM brigades WHERE name = 'Edge brigade') || '|' ||
				(SELECT $typeof(foreman) || ':' || foreman FROM brigades WHERE name = 'Neg edge brigade') || '|' ||
				(SELECT $quote(title) FROM estimates WHERE number = '007')")"
		# norm shows each double as %.15g and its 64 bits: equal means bit-equal.
		eq "$n: reals (0.1, 1e300, 0.30000000000000004, 5e-324, -1.797e308) arrive exactly" \
			"$(sql d1 "SELECT code || ':' || $(norm d1 real quantity) || ':' || $(norm d1 text price) FROM works WHERE code LIKE 'W-D1-%' ORDER BY code")" \
			"$(sql "$n" "SELECT code || ':' || $(norm "$n" real quantity) || ':' || $(norm "$n" text price) FROM works WHERE code LIKE 'W-D1-%' ORDER BY code")"
	done
	eq "D2 sees 0.1 as 0.1" "0.1|real" "$(sql d2 "SELECT quote(quantity) || '|' || typeof(quantity) FROM works WHERE code = 'W-D1-1'")"
	eq "D2 sees 1e300 as 1e300" "1" "$(sql d2 "SELECT quantity = 1e300 FROM works WHERE code = 'W-D1-2'")"
	for n in d1 d2; do
		eq "$n gets the center's update" "7|'Ivanov Jr.'" "$(sql "$n" "SELECT headcount || '|' || quote(foreman) FROM brigades WHERE name = 'Concrete team'")"
		eq "$n gets the center's insert with a $(( ${#big_total} - 1 ))-digit decimal" "'$big_total'" "$(sql "$n" "SELECT quote(total) FROM estimates WHERE number = 'E-C-2'")"
	done
	for n in center d1; do
		eq "$n gets D2's update" "'9999.99'|2.5" "$(sql "$n" "SELECT $(norm "$n" text price) || '|' || $(pick "$n" "quote(quantity)" "quantity::text") FROM works WHERE code = 'W-02'")"
		eq "$n gets D2's insert" 1 "$(sql "$n" "SELECT count(*) FROM work_specifications WHERE material = 'PVC membrane 1.5 mm'")"
	done
	same_tables "after the edits D1 and the center agree" center d1
	same_tables "after the edits D2 and the center agree" center d2
	D1_EDITS_PKT=$pkt
}

# 3. A packet imported again is skipped as a duplicate: exit 0, nothing changes.
scenario_reimport() {
	local before nfiles
	before=$(db_sum center); nfiles=$(count_files "$SH")
	x center import "$D1_EDITS_PKT"
	eq "re-import of an applied packet exits 0" 0 "$RC"
	check "re-import says 'skipped ... duplicate'" grep -qE "^skipped $D1_EDITS_PKT: .*duplicate" <<<"$OUT"
	check "re-import applies nothing" test "$(grep -c '^applied' <<<"$OUT")" -eq 0
	eq "re-import leaves the database unchanged" "$before" "$(db_sum center)"
	eq "re-import writes no acknowledgement" "$nfiles" "$(count_files "$SH")"
	# the whole folder again, at every node: every packet a duplicate or not ours
	local n
	for n in center d1 d2; do
		before=$(db_sum $n)
		x $n import "$SH"
		eq "$n: importing the folder again exits 0" 0 "$RC"
		eq "$n: importing the folder again applies nothing" "" "$(grep '^applied' <<<"$OUT")"
		eq "$n: importing the folder again changes nothing" "$before" "$(db_sum $n)"
	done
	eq "importing the folder again writes no packet" "$nfiles" "$(count_files "$SH")"
}

# 4. Several packets from one sender, named so that they sort out of order,
# are applied in packet_no order.
scenario_order() {
	local o=$W/order ooo=$W/order-shuffled p1 p2 p3
	mkdir -p "$o" "$ooo"
	sql center "UPDATE brigades SET headcount = 21 WHERE name = 'Concrete team'"
	x center export --node D1 --out "$o"; p1=$OUT
	sql center "UPDATE brigades SET headcount = 22 WHERE name = 'Concrete team';
		INSERT INTO brigades (name, foreman, headcount) VALUES ('Order B', 'second packet', 2);"
	x center export --node D1 --out "$o"; p2=$OUT
	sql center "UPDATE brigades SET headcount = 23 WHERE name = 'Concrete team';
		UPDATE brigades SET foreman = 'third packet' WHERE name = 'Order B';"
	x center export --node D1 --out "$o"; p3=$OUT
	local n1 n2 n3
	n1=$(unzip -p "$p1" message.json | jq .header.packet_no)
	n2=$(unzip -p "$p2" message.json | jq .header.packet_no)
	n3=$(unzip -p "$p3" message.json | jq .header.packet_no)
	eq "three exports get consecutive numbers" "$((n1 + 1)) $((n1 + 2))" "$n2 $n3"
	# Named like packets (a folder's other files are left alone), but in the wrong order.
	cp "$p3" "$ooo/pkt_a_3.zip"; cp "$p1" "$ooo/pkt_b_1.zip"; cp "$p2" "$ooo/pkt_c_2.zip"
	cp "$p1" "$ooo/pkt_d_1_again.zip"
	ORDER_LAST_PKT=$p3
	x d1 import "$ooo" --out "$SH"
	eq "importing the shuffled folder exits 0" 0 "$RC"
	eq "the second copy of the first packet is skipped as a duplicate" "$ooo/pkt_d_1_again.zip" \
		"$(sed -nE 's/^skipped (.*): packet [0-9]+ from CENTER.*duplicate.*/\1/p' <<<"$OUT")"
	eq "applied in packet_no order: b_1, c_2, a_3" \
		"$ooo/pkt_b_1.zip $n1
$ooo/pkt_c_2.zip $n2
$ooo/pkt_a_3.zip $n3" \
		"$(sed -nE 's/^applied (.*): packet ([0-9]+) from CENTER.*/\1 \2/p' <<<"$OUT")"
	eq "the last packet's value wins" "23" "$(sql d1 "SELECT headcount FROM brigades WHERE name = 'Concrete team'")"
	eq "every packet's insert and update arrived" "'third packet'" "$(sql d1 "SELECT quote(foreman) FROM brigades WHERE name = 'Order B'")"
	eq "D1's received number is the last packet's" "$n3" "$(x d1 status --json; jq '.peers[0].received_packet_no' <<<"$OUT")"
	check "one acknowledgement for the center" test "$(grep -c '^acknowledged with' <<<"$OUT")" -eq 1

	# ACK purge: a row changed again after it was sent survives the ack of
	# the packet that carried its older version.
	local ack
	ack=$(sed -nE 's/^acknowledged with (.*): packet.*/\1/p' <<<"$OUT")
	sql center "UPDATE brigades SET headcount = 24 WHERE name = 'Concrete team'"
	x center import "$ack"
	eq "the center takes D1's acknowledgement" 0 "$RC"
	eq "the center's acked number for D1 moves to the last packet" "$n3" \
		"$(x center status --json; jq '.peers[] | select(.code == "D1") | .acked_packet_no' <<<"$OUT")"
	eq "the ack purges what D1 has, keeps the row changed since (packet_no reset)" "Brigade|" \
		"$(sql center "SELECT c.entity_type || '|' || $(norm center int c.packet_no) FROM sync_changes c JOIN sync_nodes n ON n.id = c.node_id
			WHERE n.code = 'D1'" | sed 's/|NULL$/|/')"
	x center export --node D1 --out "$SH"; x d1 import "$OUT" --out "$SH"
	eq "the newer change travels in the next packet" 24 "$(sql d1 "SELECT headcount FROM brigades WHERE name = 'Concrete team'")"
}

# 5. A lost packet is repaired by the next one (packets are cumulative).
scenario_lost() {
	local l=$W/lost p1 p2 n2
	mkdir -p "$l"
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('Lost one', 'in the lost packet', 1)"
	x center export --node D2 --out "$l"; p1=$OUT
	sql center "UPDATE estimates SET title = 'after the loss' WHERE number = 'E-2026-001'"
	x center export --node D2 --out "$l"; p2=$OUT
	rm -f "$p1"
	n2=$(unzip -p "$p2" message.json | jq .header.packet_no)
	x d2 import "$p2" --out "$SH"
	eq "the packet after a lost one is applied (exit 0)" 0 "$RC"
	check "it is reported applied" grep -q "^applied $p2: packet $n2 from CENTER" <<<"$OUT"
	eq "the lost packet's change arrived" "'in the lost packet'" "$(sql d2 "SELECT quote(foreman) FROM brigades WHERE name = 'Lost one'")"
	eq "the later change arrived" "after the loss" "$(sql d2 "SELECT title FROM estimates WHERE number = 'E-2026-001'")"
	eq "D2 also has the changes D1 got out of order" "24" "$(sql d2 "SELECT headcount FROM brigades WHERE name = 'Concrete team'")"
	eq "D2's received number jumps over the gap" "$n2" "$(x d2 status --json; jq '.peers[0].received_packet_no' <<<"$OUT")"
	quiet "exchange after the loss"
}

# 6. Tampered, truncated, misaddressed and foreign packets are refused with
# the database untouched and the file left as it was.
scenario_refused() {
	local b=$W/bad legit
	mkdir -p "$b"
	sql center "UPDATE brigades SET foreman = 'Bad-test' WHERE name = 'Roofers'"
	x center export --node D1 --out "$b"; legit=$OUT
	check "the packet under attack carries the change" bash -c "unzip -p '$legit' message.json | grep -q Bad-test"

	# message.json altered by one byte and re-zipped with its old signature
	mkdir "$b/unpacked"
	(cd "$b/unpacked" && unzip -q "$legit" && sed -i 's/Bad-test/Bad-tesT/' message.json &&
		zip -X -q ../tampered.zip message.json message.sig)
	check "the tampered copy differs only inside message.json" bash -c \
		"unzip -p '$b/tampered.zip' message.json | grep -q Bad-tesT && cmp -s <(unzip -p '$b/tampered.zip' message.sig) <(unzip -p '$legit' message.sig)"
	expect_refused "tampered message.json" d1 "$b/tampered.zip"

	# one byte flipped in the middle of the file
	flip_byte "$legit" "$b/flipped.zip"
	expect_refused "a byte flipped in the file" d1 "$b/flipped.zip"

	local size
	size=$(stat -c %s "$legit" 2>/dev/null || echo 0)
	head -c $((size / 2)) "$legit" >"$b/truncated.zip"
	expect_refused "truncated to half" d1 "$b/truncated.zip"
	head -c $((size - 1)) "$legit" >"$b/short1.zip"
	expect_refused "truncated by one byte" d1 "$b/short1.zip"
	: >"$b/empty.zip"
	expect_refused "an empty file" d1 "$b/empty.zip"
	printf 'not a zip at all\n' >"$b/garbage.zip"
	expect_refused "a text file named .zip" d1 "$b/garbage.zip"

	# D1's packet given to D2, by name
	expect_refused "a packet for D1 given to D2" d2 "$legit"
	check "the misaddressed refusal says where it is addressed" grep -q "D1" <<<"$ERR"
	# D1's own packet to the center, given back to D1
	x d1 export --node CENTER --out "$b"
	expect_refused "D1's packet to the center given to D1" d1 "$OUT"
	rm -f "$OUT"   # D1 moves on; the cumulative next packet repairs this one

	# a sender D1 has never heard of
	sqlite3 "$W/stranger.db" <"$schema"
	sql stranger "INSERT INTO brigades (name, foreman, headcount) VALUES ('Intruders', 'Mallory', 666)"
	x stranger init --code STRANGER --plan "$plan" --master
	x stranger node add --code D1 --key "$(x d1 key; echo "$OUT")"
	x stranger export --node D1 --out "$b"
	check "a stranger can write a packet for D1" test -f "$OUT"
	expect_refused "a packet from an unknown sender" d1 "$OUT"

	# a node that calls itself CENTER but signs with another key
	sqlite3 "$W/impostor.db" <"$schema"
	sql impostor "INSERT INTO brigades (name, foreman, headcount) VALUES ('Impostors', 'Mallory', 667)"
	x impostor init --code CENTER --plan "$plan" --master
	x impostor node add --code D1 --key "$(x d1 key; echo "$OUT")"
	mkdir -p "$b/impostor" "$b/impostor-low"
	x impostor export --node D1 --out "$b/impostor-low"
	check "the impostor's packet claims to come from CENTER" bash -c "unzip -p '$OUT' message.json | jq -e '.header.sender_code == \"CENTER\"' >/dev/null"
	expect_refused "a packet signed with the wrong key, numbered as an old one" d1 "$OUT"
	# numbered above what D1 received, so only the signature can stop it
	local got i
	got=$(x d1 status --json; jq '.peers[0].received_packet_no' <<<"$OUT")
	for ((i = 2; i <= got + 1; i++)); do x impostor export --node D1 --out "$b/impostor"; done
	IMPOSTOR_PKT=$OUT
	eq "the impostor's next packet is numbered above D1's last received" "$((got + 1))" \
		"$(unzip -p "$IMPOSTOR_PKT" message.json | jq .header.packet_no)"
	expect_refused "a packet signed with the wrong key" d1 "$IMPOSTOR_PKT"

	# a folder holding a bad packet: the good ones are applied, the bad one refused
	local mix=$W/mixed before
	mkdir -p "$mix"; cp "$b/tampered.zip" "$mix/pkt_CENTER_D1_999.zip"
	before=$(db_sum d1)
	x d1 import "$mix"
	eq "a folder with only a bad packet exits 4" 4 "$RC"
	eq "the folder's bad packet changes nothing" "$before" "$(db_sum d1)"

	# after all that, the genuine packet still applies: refusals burnt no number
	x d1 import "$legit" --out "$SH"
	eq "the genuine packet is applied after the refusals" 0 "$RC"
	eq "its change arrived" "Bad-test" "$(sql d1 "SELECT foreman FROM brigades WHERE name = 'Roofers'")"
	eq "no intruder got in" 0 "$(sql d1 "SELECT count(*) FROM brigades WHERE foreman = 'Mallory'")"
	quiet "exchange after the refusals"
}

# 7. A soft delete travels as DELETE with "data": null and is applied as
# is_deleted = 1, in both directions.
scenario_soft_delete() {
	local u w pkt n
	u=$(uuid_of d2 brigades "name = 'Roofers'")
	w=$(uuid_of center works "code = 'W-01'")
	sql d2 "UPDATE brigades SET is_deleted = 1 WHERE uuid = '$u'"
	sql center "UPDATE works SET is_deleted = $(pick center 1 true) WHERE uuid = '$w'"
	x d2 export --node CENTER --out "$SH"; pkt=$OUT
	check "D2's packet carries the delete as operation DELETE with data null" bash -c \
		"unzip -p '$pkt' message.json | jq -e '[.body.entities[] | select(.uuid == \"$u\")] | length == 1 and .[0].operation == \"DELETE\" and .[0].data == null and .[0].type == \"Brigade\"' >/dev/null"
	x center export --node D1 --out "$SH"; pkt=$OUT
	check "the center's packet carries its delete as DELETE with data null" bash -c \
		"unzip -p '$pkt' message.json | jq -e '[.body.entities[] | select(.uuid == \"$w\")] | length == 1 and .[0].operation == \"DELETE\" and .[0].data == null' >/dev/null"
	quiet "exchange of the deletes"
	for n in center d1 d2; do
		eq "$n: the brigade deleted at D2 is kept with is_deleted = 1" "1|Roofers" "$(sql $n "SELECT $(norm $n bool is_deleted) || '|' || name FROM brigades WHERE uuid = '$u'")"
		eq "$n: the work deleted at the center is kept with is_deleted = 1" "1|W-01" "$(sql $n "SELECT $(norm $n bool is_deleted) || '|' || code FROM works WHERE uuid = '$w'")"
	done
}

# 8. A report's lines travel inside it and are replaced as a set.
scenario_children() {
	local r n
	# lines NODE: the report's lines, one a line, in NODE's SQL.
	lines() {
		sql "$1" "SELECT uuid || ',' || $(norm "$1" real volume) || ',' || $(norm "$1" real hours) || ',' ||
				$(norm "$1" text comment) || ',' || $(norm "$1" bool is_deleted)
			FROM daily_report_lines WHERE report_uuid = '$r' ORDER BY $(pick "$1" uuid uuid::text)"
	}
	sql d1 "INSERT INTO daily_reports (report_date, brigade_uuid, author, notes)
			SELECT '2026-12-01', uuid, 'Site 1 engineer', 'three lines' FROM brigades WHERE name = 'Concrete team';"
	r=$(uuid_of d1 daily_reports "notes = 'three lines'")
	sql d1 "INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
			SELECT '$r', uuid, 1.5, 8, 'line 1' FROM works WHERE code = 'W-01';
		INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
			SELECT '$r', uuid, 2.5, 8, 'line 2' FROM works WHERE code = 'W-02';
		INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
			SELECT '$r', uuid, 3.5, NULL, 'line 3' FROM works WHERE code = 'W-D1-1';"
	quiet "exchange of a report with three lines"
	for n in center d2; do
		eq "$n: the report arrives with its 3 lines" 3 "$(sql $n "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '$r'")"
		eq "$n: the lines are D1's" "$(lines d1)" "$(lines $n)"
	done
	sql d1 "DELETE FROM daily_report_lines WHERE report_uuid = '$r' AND comment = 'line 2';
		UPDATE daily_report_lines SET volume = 99.25, hours = 7, comment = 'line 3, edited' WHERE report_uuid = '$r' AND comment = 'line 3';"
	x d1 export --node CENTER --out "$SH"
	check "the packet carries the report with 2 lines inside its data" bash -c \
		"unzip -p '$OUT' message.json | jq -e '[.body.entities[] | select(.uuid == \"$r\")] | length == 1 and (.[0].data.lines | length) == 2' >/dev/null"
	quiet "exchange of the edited lines"
	for n in center d2; do
		eq "$n: exactly 2 lines remain" 2 "$(sql $n "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '$r'")"
		eq "$n: the lines are exactly D1's, with the new values" "$(lines d1)" "$(lines $n)"
		eq "$n: the edited line has its new values" "99.25|$(pick $n 7.0 7)|line 3, edited" \
			"$(sql $n "SELECT volume || '|' || $(pick $n "quote(hours)" hours::text) || '|' || comment FROM daily_report_lines WHERE report_uuid = '$r' AND comment LIKE 'line 3%'")"
	done
	# a line moved to another report leaves the first and joins the second
	local r0
	r0=$(uuid_of d1 daily_reports "notes = 'initial report'")
	sql d1 "UPDATE daily_report_lines SET report_uuid = '$r0', comment = 'moved' WHERE report_uuid = '$r' AND comment = 'line 1'"
	quiet "exchange of a line moved between reports"
	both() {
		sql "$1" "SELECT report_uuid || ',' || uuid || ',' || $(norm "$1" text comment) FROM daily_report_lines
			WHERE report_uuid IN ('$r', '$r0') ORDER BY $(pick "$1" "report_uuid, uuid" "report_uuid::text, uuid::text")"
	}
	for n in center d2; do
		eq "$n: the moved line is under its new report only" "$(both d1)" "$(both $n)"
	done
	# and the other way: the center edits a line of its own report
	sql center "UPDATE daily_report_lines SET comment = 'edited at the center' WHERE comment = 'initial line W-01'"
	quiet "exchange of a line edited at the center"
	for n in d1 d2; do
		eq "$n: the center's line edit arrived" 1 "$(sql $n "SELECT count(*) FROM daily_report_lines WHERE comment = 'edited at the center'")"
	done
}

# 9. inspect shows the header and the signature's state and changes nothing;
# status --json shows the peers and their counters.
scenario_inspect_status() {
	local p before no
	p=$ORDER_LAST_PKT
	no=$(unzip -p "$p" message.json | jq .header.packet_no)
	before=$(db_sum d1)
	x d1 inspect "$p"
	eq "inspect exits 0" 0 "$RC"
	check "inspect shows the signature verified with the receiver's db" grep -qE '^signature +verified' <<<"$OUT"
	check "inspect shows sender, recipient and number" grep -qE "packet +$no from CENTER to D1" <<<"$OUT"
	check "inspect shows counts by type and operation" grep -qE 'Brigade +(INSERT|UPDATE) +[0-9]+' <<<"$OUT"
	x d1 inspect "$p" --json
	check "inspect --json: header, verified signature, counts" jq -e \
		".header.sender_code == \"CENTER\" and .header.recipient_code == \"D1\" and .header.packet_no == $no
		 and (.header.message_id | length) > 0 and .signature == \"verified\" and (.counts | length) > 0
		 and all(.counts[]; has(\"type\") and has(\"operation\") and has(\"count\"))" <<<"$OUT"
	eq "inspect changes nothing" "$before" "$(db_sum d1)"
	x d1 inspect "$W/bad/tampered.zip" --json
	check "inspect of the tampered packet does not say verified" not_verified
	eq "and exits 4, the signature failing, after showing it" "4 does not verify" \
		"$RC $(jq -r .signature <<<"$OUT")"
	x d1 inspect "$W/no-such-packet.zip"
	eq "inspect of a packet that does not exist exits 7" 7 "$RC"
	x d1 import "$W/no-such-packet.zip"
	eq "and so does import" 7 "$RC"
	x d1 inspect "$IMPOSTOR_PKT" --json
	check "inspect of the impostor's packet does not say verified" not_verified

	mkdir -p "$W/nodb"
	(cd "$W/nodb" && "$bin" inspect "$p" --json >"$W/.out" 2>"$W/.err"); RC=$?
	cat "$W/.err" >>"$W/all-stderr"
	eq "inspect without a database exits 0" 0 "$RC"
	check "inspect without a database shows the header and an unchecked signature" jq -e \
		".header.packet_no == $no and (.signature | startswith(\"not checked\"))" "$W/.out"
	check "inspect without a database creates none" test ! -e "$W/nodb/xchg.db"

	x center status --json
	eq "status --json exits 0" 0 "$RC"
	check "status --json: this node and both peers with their counters" jq -e \
		'.node.code == "CENTER" and .node.role == "master" and ([.peers[].code] | sort) == ["D1", "D2"]
		 and all(.peers[]; (.sent_packet_no | type) == "number" and (.acked_packet_no | type) == "number"
		   and (.received_packet_no | type) == "number" and (.queued | type) == "number"
		   and has("last_sync_in") and has("last_sync_out") and has("conflicts"))' <<<"$OUT"
	x d1 status --json
	check "status --json at a desktop: one peer, the center" jq -e \
		'.node.code == "D1" and .node.role == "subordinate" and ([.peers[].code]) == ["CENTER"] and .peers[0].sent_packet_no > 0' <<<"$OUT"
	x d1 status
	eq "status (text) exits 0" 0 "$RC"
	check "status (text) names the peer" grep -q CENTER <<<"$OUT"
}

# 9b. The same row edited at the center and at D1 before either hears of
# the other: master wins on both sides, and the losing version is logged.
scenario_conflict() {
	local u n
	u=$(uuid_of center estimates "number = 'E-2026-001'")
	sql center "UPDATE estimates SET title = 'center version' WHERE uuid = '$u'"
	sql d1 "UPDATE estimates SET title = 'D1 version' WHERE uuid = '$u'"
	quiet "exchange of a conflicting edit"
	for n in center d1 d2; do
		eq "$n: the center's version wins" "center version" "$(sql $n "SELECT title FROM estimates WHERE uuid = '$u'")"
	done
	check "the losing version is kept in a conflict log" test \
		"$(( $(sql center "SELECT count(*) FROM sync_conflicts WHERE entity_uuid = '$u' AND losing_version LIKE '%D1 version%'") +
		     $(sql d1 "SELECT count(*) FROM sync_conflicts WHERE entity_uuid = '$u' AND losing_version LIKE '%D1 version%'") ))" -ge 1
	scenario_conflict_commands "$u"
}

# The conflict log through the CLI, on the node that logged the lost edit:
# list, show, restore (the losing version becomes current and travels
# everywhere), dismiss.
scenario_conflict_commands() {
	local u=$1 id n at=center
	[ "$(sql d1 "SELECT count(*) FROM sync_conflicts WHERE entity_uuid = '$u'")" -gt 0 ] && at=d1
	x $at conflicts --json
	id=$(jq -r --arg u "$u" '[.[] | select(.entity_uuid == $u and .status == "open")][0].id // 0' <<<"$OUT")
	check "conflicts --json lists the lost edit" test "$id" -gt 0
	x $at conflicts
	check "conflicts lists it as a table" has "$OUT" "$u"
	x $at conflicts show "$id" --json
	eq "conflicts show: the losing version" "D1 version" "$(jq -r .losing_version.title <<<"$OUT")"
	eq "conflicts show: the winning version" "center version" "$(jq -r .winning_version.title <<<"$OUT")"
	eq "conflicts show: the current version" "center version" "$(jq -r .current_version.title <<<"$OUT")"
	x $at conflicts show "$id"
	check "conflicts show (text) prints the losing version" grep -q "^losing version, from D1" <<<"$OUT"
	check "conflicts show (text) prints the winning version" grep -q "^winning version" <<<"$OUT"
	check "conflicts show (text) prints the current version" grep -q "^current version" <<<"$OUT"
	x $at status --json
	check "status counts the open conflict" test "$(jq '[.peers[].conflicts] | add' <<<"$OUT")" -ge 1
	x $at conflicts restore "$id"
	eq "conflicts restore exits 0" 0 "$RC"
	eq "restore makes the losing version current" "D1 version" \
		"$(sql $at "SELECT title FROM estimates WHERE uuid = '$u'")"
	x $at conflicts restore "$id"
	eq "a second restore is refused (exit 1)" 1 "$RC"
	x $at conflicts show 999999
	eq "an unknown conflict id exits 7" 7 "$RC"
	x $at conflicts frob 1
	eq "an unknown action is a usage error" 2 "$RC"
	quiet "exchange of a restored version"
	for n in center d1 d2; do
		eq "$n: the restored version travelled" "D1 version" "$(sql $n "SELECT title FROM estimates WHERE uuid = '$u'")"
	done
	eq "the conflict is marked restored" restored "$(sql $at "SELECT status FROM sync_conflicts WHERE id = $id")"
	sql center "UPDATE estimates SET title = 'center again' WHERE uuid = '$u'"
	sql d2 "UPDATE estimates SET title = 'D2 version' WHERE uuid = '$u'"
	quiet "exchange of a second conflicting edit"
	id=$(sql center "SELECT max(id) FROM sync_conflicts WHERE status = 'open'")
	check "the second conflict is logged at the center" test -n "$id"
	x center conflicts dismiss "$id"
	eq "conflicts dismiss exits 0" 0 "$RC"
	eq "the conflict is marked dismissed" dismissed "$(sql center "SELECT status FROM sync_conflicts WHERE id = $id")"
	eq "dismiss keeps the version that won" "center again" "$(sql d2 "SELECT title FROM estimates WHERE uuid = '$u'")"
}

# 9b. Native types of a PostgreSQL center (boolean, timestamptz, jsonb, date,
# numeric) reach the desktops in their closest natural form and come back
# unchanged in meaning after a desktop edits the same rows.
scenario_types() {
	local r b
	b=$(uuid_of center brigades "name = 'Concrete team'")
	sql center "UPDATE brigades SET active = $(pick center 1 true) WHERE uuid = '$b'"
	sql center "INSERT INTO daily_reports (report_date, author, submitted_at, weather)
		VALUES ('2026-11-24', 'types', '2026-11-24T17:05:09.250Z', '{\"t\": -5, \"sky\": \"snow\"}')"
	r=$(uuid_of center daily_reports "author = 'types'")
	quiet "exchange of typed values"
	for n in d1 d2; do
		eq "$n: a boolean arrives as 1" 1 "$(sql $n "SELECT active FROM brigades WHERE uuid = '$b'")"
		eq "$n: a timestamp arrives as ISO-8601 UTC text" "2026-11-24T17:05:09.250Z" \
			"$(sql $n "SELECT submitted_at FROM daily_reports WHERE uuid = '$r'")"
		eq "$n: a date arrives as its text" "2026-11-24" "$(sql $n "SELECT report_date FROM daily_reports WHERE uuid = '$r'")"
		check "$n: JSON arrives as JSON text" bash -c \
			"sqlite3 '$W/$n.db' \"SELECT weather FROM daily_reports WHERE uuid = '$r'\" | jq -e '.t == -5 and .sky == \"snow\"' >/dev/null"
	done
	sql d1 "UPDATE brigades SET foreman = 'types edit' WHERE uuid = '$b';
		UPDATE daily_reports SET notes = 'edited at D1' WHERE uuid = '$r'"
	quiet "typed values travel back"
	eq "center: the boolean is still true" 1 "$(sql center "SELECT $(pick center 'active' 'active::int') FROM brigades WHERE uuid = '$b'")"
	eq "center: the instant is unchanged" 1 "$(sql center "SELECT $(pick center \
		"submitted_at = '2026-11-24T17:05:09.250Z'" \
		"(submitted_at = '2026-11-24 17:05:09.25+00')::int") FROM daily_reports WHERE uuid = '$r'")"
	eq "center: the JSON is unchanged in meaning" 1 "$(sql center "SELECT $(pick center \
		"json_extract(weather, '\$.t') = -5 AND json_extract(weather, '\$.sky') = 'snow'" \
		"(weather = '{\"t\": -5, \"sky\": \"snow\"}'::jsonb)::int") FROM daily_reports WHERE uuid = '$r'")"
	eq "center: the desktop's edit arrived" "edited at D1" "$(sql center "SELECT notes FROM daily_reports WHERE uuid = '$r'")"
}

# 10. After rounds until quiet every node holds the same data, every queue is
# empty and the counters at both ends of each link agree.
scenario_converged() {
	sql d1 "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'Order B'"
	sql d2 "INSERT INTO brigades (name, foreman, headcount) VALUES ('Last one', 'D2', 1)"
	sql center "UPDATE estimates SET title = 'final' WHERE number = 'E-C-2'"
	quiet "final exchange"
	same_tables "D1 is identical to the center" center d1
	same_tables "D2 is identical to the center" center d2
	local n c s
	for n in center d1 d2; do
		eq "$n: sync_changes is empty" 0 "$(sql $n 'SELECT count(*) FROM sync_changes')"
	done
	x center status --json; c=$OUT
	for n in d1 d2; do
		x $n status --json; s=$OUT
		eq "${n^^}: what it received is what the center sent" \
			"$(jq ".peers[] | select(.code == \"${n^^}\") | .sent_packet_no" <<<"$c")" "$(jq '.peers[0].received_packet_no' <<<"$s")"
		eq "center: what it received is what ${n^^} sent" \
			"$(jq '.peers[0].sent_packet_no' <<<"$s")" "$(jq ".peers[] | select(.code == \"${n^^}\") | .received_packet_no" <<<"$c")"
		eq "center: nothing queued for ${n^^}" 0 "$(jq ".peers[] | select(.code == \"${n^^}\") | .queued" <<<"$c")"
	done
	local f bad_names="" h
	for f in "$SH"/*; do
		h=$(unzip -p "$f" message.json 2>/dev/null | jq -r '"pkt_\(.header.sender_code)_\(.header.recipient_code)_\(.header.packet_no).zip"' 2>/dev/null)
		[ "$h" = "$(basename "$f")" ] || bad_names="$bad_names $(basename "$f")"
	done
	eq "every file in the shared folder is a packet named after its header (no temporary leftovers)" "" "$bad_names"
	no_sanitizer_reports "$W/all-stderr"
}

# 13. Keys: a desktop and the center rotate theirs and the exchange goes on
# without anyone registering anything; no secret key is ever printed or sent;
# then the center revokes D2, whose packets are refused from then on.
scenario_keys() {
	local old new f secrets n leaked="" pkt
	x d1 key; old=$OUT
	x d1 key rotate
	eq "key rotate exits 0" 0 "$RC"; new=$OUT
	check "key rotate prints a new public key" test -n "$new" -a "$new" != "$old"
	x d1 key; eq "xchg key prints the rotated key" "$new" "$OUT"
	check "the rotated key file is still mode 600" test "$(stat -c %a "$W/d1.db.key")" = 600
	sql d1 "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'Last one'"
	x center key rotate; eq "the center rotates its key too" 0 "$RC"
	sql center "UPDATE estimates SET title = 'after rotation' WHERE number = 'E-C-2'"
	quiet "exchange after both rotations"
	same_tables "D1 is identical to the center after the rotations" center d1
	same_tables "D2 is identical to the center after the rotations" center d2
	eq "key rotate prints D1's key line: its code and id stay" "$(cut -d' ' -f1-2 <<<"$old")" "$(cut -d' ' -f1-2 <<<"$new")"
	eq "the center follows D1's rotation" "$(cut -d' ' -f3 <<<"$new")" \
		"$(sql center "SELECT public_key FROM sync_nodes WHERE code = 'D1'")"

	secrets=$(cat "$W"/*.key 2>/dev/null | sed -n 's/^xchg-ed25519-secret://p')
	check "there are secret keys to look for" test -n "$secrets"
	for f in "$SH"/*.zip; do unzip -p "$f" message.json >>"$W/all-messages" 2>/dev/null; done
	for n in $secrets; do
		grep -qF -- "$n" "$W/all-messages" "$W/all-stderr" "$W/.out" 2>/dev/null && leaked="$leaked $n"
	done
	eq "no secret key appears in any packet or any output" "" "$leaked"

	sql d2 "INSERT INTO brigades (name, foreman, headcount) VALUES ('from a stolen laptop', 'D2', 1)"
	x d2 export --node CENTER --out "$W"; pkt=$OUT
	x center node revoke D2
	eq "node revoke exits 0" 0 "$RC"
	expect_refused "a packet from a revoked node" center "$pkt"
	check "the refusal says the sender was revoked" grep -q "revoked" <<<"$ERR"
	x center export --node D2 --out "$W"
	eq "export to a revoked node exits 1" 1 "$RC"
	check "and says so" grep -q "D2: revoked" <<<"$ERR"
	x center node revoke D2; eq "revoking twice exits 1" 1 "$RC"
	x center node revoke NOBODY; eq "revoking an unknown node exits 7" 7 "$RC"
	x center node revoke; eq "node revoke without a code exits 2" 2 "$RC"
	x center node; eq "'xchg node' alone prints its help and exits 0" 0 "$RC"
	check "the help lists every node subcommand" \
		grep -qz "node add.*node list.*node set-key.*node remove.*node revoke" <<<"$OUT"
	x center node frobnicate; eq "'xchg node frobnicate' exits 2" 2 "$RC"
	check "and names the mistake, then the subcommands" \
		grep -qz "unknown command 'node frobnicate'.*node add" <<<"$ERR"
	# Unix habits: a version, help by name, a guess at a slip, output that fails is a failure.
	x center --version; eq "xchg --version exits 0" 0 "$RC"
	check "and prints the version" grep -qE '^xchg [0-9]+\.[0-9]+\.[0-9]+$' <<<"$OUT"
	x center -V; eq "xchg -V is --version" "0 xchg" "$RC ${OUT%% *}"
	x center help node add; eq "xchg help node add exits 0" 0 "$RC"
	check "and prints node add's help" grep -q "^usage: xchg node add " <<<"$OUT"
	x center node revoke -h; check "-h is --help on every command" grep -q "^usage: xchg node revoke " <<<"$OUT"
	x center exprot --node D1; eq "a mistyped command exits 2" 2 "$RC"
	check "and the likely one is named" grep -q "unknown command 'exprot'; did you mean 'export'?" <<<"$ERR"
	x center node ad; check "within a group too" grep -q "did you mean 'node add'?" <<<"$ERR"
	x center status --jsno; eq "a mistyped option exits 2" 2 "$RC"
	check "and the likely one is named" grep -q "unknown option '--jsno'; did you mean '--json'?" <<<"$ERR"
	local wide
	wide=$(for c in "" init key "key rotate" node "node add" "node list" "node set" "node set-key" \
		"node remove" "node revoke" "node resync" export import sync watch status inspect \
		conflicts; do "$bin" $c --help; done | awk 'length > 80' | head -n 3)
	eq "every help line fits 80 columns" "" "$wide"
	if [ -w /dev/full ]; then
		xchg_on center key >/dev/full 2>"$W/full.err"
		eq "xchg key > /dev/full exits 5, as coreutils fail a write error" 5 "$?"
		check "and says so" grep -q "cannot write to standard output" "$W/full.err"
	fi
	sql d1 "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'Last one'"
	x d1 export --node CENTER --out "$W"; x center import "$OUT"
	eq "D1 still exchanges with the center" 0 "$RC"
}

# ---------------------------------------------------------------- main

if setup; then
	scenario_initial
	scenario_empty_url
	scenario_failed_init
	scenario_plan_table_twice
	scenario_edits
	scenario_reimport
	scenario_order
	scenario_lost
	scenario_refused
	scenario_soft_delete
	scenario_children
	scenario_inspect_status
	scenario_conflict
	scenario_types
	scenario_converged
	scenario_keys
fi
summary
[ "$fail" -eq 0 ]
