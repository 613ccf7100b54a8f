#!/usr/bin/env bash
# End-to-end: sealed packets (`xchg export --encrypt`, formats/PACKET.md
# section 8), driving the real binary ($XCHG_BIN, default build/xchg). A
# center and two desktops; the center seals a packet to D1, and the checks
# are what a user would try: unzip cannot read it, the secret does not show
# in its bytes, D1 imports it, D2 and a thief without a database cannot,
# damaged copies are refused, and a refusal leaves the database as it was.
# Each check prints "ok - NAME" or "FAIL - NAME: detail"; the last line is
# "N passed, M failed".
#   usage: XCHG_BIN=build/xchg bash tests/e2e/encrypt.sh
set -u

E2E_NAME=encrypt
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

SH="$W/usb stick"   # the courier's folder (a space, on purpose)
mkdir -p "$SH"
SECRET="Concrete-SECRET-$RANDOM$RANDOM"
MAGIC="xchg-sealed-packet/1"

# ---------------------------------------------------------------- helpers

# cut_copy SRC DST N: the first N bytes of SRC.
cut_copy() { head -c "$3" "$1" >"$2"; }
# flip_at SRC DST OFF: a copy of SRC with the byte at OFF changed.
flip_at() {
	local byte
	byte=$(od -An -tu1 -j "$3" -N1 "$1" | tr -d ' ')
	cp "$1" "$2"
	printf "\\$(printf %03o $((byte ^ 0x01)))" | dd of="$2" bs=1 seek="$3" conv=notrunc status=none
}
# refused NAME NODE PATH REASON: importing PATH at NODE exits 4, says REASON
# about PATH, changes nothing and leaves the file where it was.
refused() {
	local name=$1 node=$2 path=$3 reason=$4 before
	before=$(db_sum "$node")
	x "$node" import "$path"
	eq "$name: exit status 4" 4 "$RC"
	if has "$ERR" "refused $path: " && has "$ERR" "$reason"; then ok "$name: says '$reason'"
	else bad "$name: says '$reason'" "stderr: $ERR"; fi
	eq "$name: the database is unchanged" "$before" "$(db_sum "$node")"
	if [ -f "$path" ]; then ok "$name: the file stays where it was"; else bad "$name: the file stays where it was" "gone"; fi
}

# ---------------------------------------------------------------- setup

setup() {
	local kc k1 k2
	for n in center d1 d2; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	check "init center" x center init --code CENTER --plan "$plan" --master
	check "init D1" x d1 init --code D1 --plan "$plan"
	check "init D2" x d2 init --code D2 --plan "$plan"
	x center key; kc=$OUT
	x d1 key; k1=$OUT
	x d2 key; k2=$OUT
	check "center registers D1" x center node add --code D1 --key "$k1"
	check "center registers D2" x center node add --code D2 --key "$k2"
	check "D1 registers the center" x d1 node add --code CENTER --key "$kc"
	check "D2 registers the center" x d2 node add --code CENTER --key "$kc"
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('$SECRET', 'Ivanov', 7)"
	[ "$fail" -eq 0 ]
}

# ---------------------------------------------------------------- scenarios

scenario_export() {
	x center export --help
	check "export --help documents --encrypt" has "$OUT" "--encrypt"
	x center export --node D1 --out "$SH" --encrypt
	eq "export --encrypt exits 0" 0 "$RC"
	PKT=$OUT
	eq "it is named pkt_CENTER_D1_1.zip.sealed" "$SH/pkt_CENTER_D1_1.zip.sealed" "$PKT"
	eq "it starts with the magic line" "$MAGIC" "$(head -n 1 "$PKT")"
	if ls -a "$SH" | grep -q '\.tmp$'; then bad "no temporary file is left" "$(ls -a "$SH")"
	else ok "no temporary file is left"; fi
	x center export --node NOBODY --out "$SH" --encrypt
	eq "export --encrypt to an unknown node exits 7" 7 "$RC"
}

# What a thief of the stick gets: ciphertext, and what the name says.
scenario_thief() {
	local out rc
	out=$(unzip -l "$PKT" 2>&1); rc=$?
	if [ $rc -ne 0 ]; then ok "unzip -l cannot read it (exit $rc)"; else bad "unzip -l cannot read it" "$out"; fi
	out=$(unzip -p "$PKT" message.json 2>/dev/null); rc=$?
	if [ $rc -ne 0 ] && [ -z "$out" ]; then ok "unzip -p gives nothing"; else bad "unzip -p gives nothing" "exit $rc: $out"; fi
	if grep -aq -- "$SECRET" "$PKT"; then bad "the secret is not in the file's bytes" "found"; else ok "the secret is not in the file's bytes"; fi
	if grep -aq -- "message.json" "$PKT"; then bad "no ZIP member name in the file's bytes" "found"; else ok "no ZIP member name in the file's bytes"; fi
	(cd "$W" && "$bin" inspect "$PKT" >"$W/.out" 2>"$W/.err"); RC=$?; ERR=$(cat "$W/.err")
	local shown=$(cat "$W/.out") d1key
	d1key=$(x d1 key; cut -d" " -f3 <<<"$OUT")
	eq "inspect without a database exits 4" 4 "$RC"
	check "and names the key it is sealed to" has "$ERR" "sealed to key $d1key"
	check "after showing the header in clear: the recipient's key" has "$shown" "sealed      to key $d1key"
	(cd "$W" && "$bin" inspect --json "$PKT" >"$W/.out" 2>/dev/null)
	check "and so does --json" jq -e --arg k "$d1key" '.sealed and .sealed_to == $k and (.opened | not)' "$W/.out"
}

scenario_wrong_node() {
	refused "D2 imports D1's sealed packet" d2 "$PKT" "sealed to another node's key"
	x d2 inspect "$PKT"
	eq "D2 cannot inspect it (exit 4)" 4 "$RC"
	check "but sees whose it is" has "$OUT" "sealed      to key $(x d1 key; cut -d" " -f3 <<<"$OUT")"
	x center inspect "$PKT"
	eq "not even its sender can open it (exit 4)" 4 "$RC"
	local before
	before=$(db_sum d2)
	x d2 import "$SH"
	eq "D2 importing the folder exits 0: another node's packet is left alone" 0 "$RC"
	eq "and applies nothing" "" "$OUT$ERR"
	eq "and changes nothing" "$before" "$(db_sum d2)"
}

scenario_damaged() {
	local bad_dir="$W/damaged" size
	mkdir -p "$bad_dir"
	size=$(stat -c %s "$PKT")
	cut_copy "$PKT" "$bad_dir/pkt_CENTER_D1_1.zip.sealed" $((size - 1))
	refused "a copy missing its last byte" d1 "$bad_dir/pkt_CENTER_D1_1.zip.sealed" "truncated"
	cut_copy "$PKT" "$bad_dir/pkt_CENTER_D1_1.zip.sealed" 100
	refused "a copy cut inside the header" d1 "$bad_dir/pkt_CENTER_D1_1.zip.sealed" "truncated"
	flip_at "$PKT" "$bad_dir/pkt_CENTER_D1_1.zip.sealed" $((size / 2))
	refused "a copy with a byte changed" d1 "$bad_dir/pkt_CENTER_D1_1.zip.sealed" "does not authenticate"
	flip_at "$PKT" "$bad_dir/pkt_CENTER_D1_1.zip.sealed" 30
	refused "a copy with the recipient key changed" d1 "$bad_dir/pkt_CENTER_D1_1.zip.sealed" "sealed to another node's key"
	eq "D1 has received nothing yet" "0" "$(sql d1 "SELECT received_packet_no FROM sync_nodes WHERE code = 'CENTER'")"
}

scenario_import() {
	local ack
	x d1 inspect "$PKT" --json
	eq "D1 inspects it: sealed" true "$(jq -r .sealed <<<"$OUT")"
	eq "D1 inspects it: signature verified" verified "$(jq -r .signature <<<"$OUT")"
	x d1 import "$SH"
	eq "D1 imports the folder (exit 0)" 0 "$RC"
	check "applied the sealed packet" has "$OUT" "applied $PKT: packet 1 from CENTER, 1 entity"
	eq "the row arrived" "Ivanov|7" "$(sql d1 "SELECT foreman, headcount FROM brigades WHERE name = '$SECRET'")"
	ack="$SH/pkt_D1_CENTER_1.zip.sealed"
	check "the acknowledgement goes back sealed" has "$OUT" "acknowledged with $ack"
	eq "the acknowledgement starts with the magic line" "$MAGIC" "$(head -n 1 "$ack")"
	x center import "$SH"
	eq "the center imports the folder (exit 0)" 0 "$RC"
	check "applied the sealed acknowledgement" has "$OUT" "applied $ack: packet 1 from D1"
	eq "the center's queue for D1 is empty" "0" "$(sql center "SELECT count(*) FROM sync_changes WHERE node_id = (SELECT id FROM sync_nodes WHERE code = 'D1')")"
	x d1 import "$PKT"
	eq "importing it again is a duplicate (exit 0)" 0 "$RC"
	check "skipped as a duplicate" has "$OUT" "skipped $PKT"
}

# Plain and sealed packets mix on one link; a renamed sealed packet still opens.
scenario_mixed() {
	local p inbox="$W/inbox"
	sql d1 "UPDATE brigades SET headcount = 8 WHERE name = '$SECRET'"
	x d1 export --node CENTER --out "$SH"
	p=$OUT
	eq "a plain export is still a .zip" "$SH/pkt_D1_CENTER_2.zip" "$p"
	check "that unzip reads" unzip -tq "$p"
	x center import "$p"
	eq "the center applies the plain packet" 0 "$RC"
	eq "the change arrived" 8 "$(sql center "SELECT headcount FROM brigades WHERE name = '$SECRET'")"
	mkdir -p "$inbox"
	sql center "UPDATE brigades SET foreman = 'Petrov' WHERE name = '$SECRET'"
	x center export --node D1 --out "$W" --encrypt
	mv "$OUT" "$inbox/pkt_renamed.zip"
	x d1 import "$inbox"
	eq "a sealed packet renamed .zip is found by its magic and applied" 0 "$RC"
	eq "its change arrived" Petrov "$(sql d1 "SELECT foreman FROM brigades WHERE name = '$SECRET'")"
}

# Many rows: many chunks each way, and both ends agree.
scenario_large() {
	sql center "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 3000)
		INSERT INTO brigades (name, foreman, headcount) SELECT 'bulk ' || i || ' ' || hex(randomblob(40)), 'f' || i, i FROM n"
	x center export --node D1 --out "$SH" --encrypt
	eq "a large sealed export exits 0" 0 "$RC"
	local p=$OUT
	if [ "$(stat -c %s "$p")" -gt 200000 ]; then ok "it spans several chunks ($(stat -c %s "$p") bytes)"
	else bad "it spans several chunks" "$(stat -c %s "$p") bytes"; fi
	x d1 import "$p"
	eq "D1 imports it (exit 0)" 0 "$RC"
	same_tables "center and D1 hold the same rows" center d1
}

# ---------------------------------------------------------------- main

if setup; then
	scenario_export
	scenario_thief
	scenario_wrong_node
	scenario_damaged
	scenario_import
	scenario_mixed
	scenario_large
fi
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" -eq 0 ]
