#!/usr/bin/env bash
# The crash test (issue 5, DESIGN.md invariants 5, 6 and 7). xchg is killed
# by SIGKILL at every named kill point of export and import in turn
# (XCHG_KILL_AT, lib/common.h; formats/PACKET.md "Crash safety" says what a
# crash at each point leaves), on a star of a center and two desktops that
# keep editing on all sides: new rows, edits, child rows added, changed and
# removed, soft deletes, and one counter per node that only its node raises.
# After each kill:
#   - the process died by SIGKILL (exit 137), and left what PACKET.md says;
#   - every packet under a final name is whole: it verifies;
#   - no published packet carries a number its sender has not committed;
#   - a node whose counters did not move holds exactly what it held before:
#     nothing of an interrupted transaction survives;
#   - a hidden temporary is never imported, not even a complete one.
# Then the same command runs again without the kill, the nodes exchange
# until quiet, and: identical data everywhere, nothing queued, no conflict,
# every counter equal to the number of raises its node made, and no sign of
# a packet applied twice. That sign is watched by triggers the test puts on
# every node: a row whose updated_at goes back (an older version applied
# over a newer one, which is what applying an old packet again does), a
# counter that goes down, a received, sent or acknowledged number that does
# not move forward; and no two "applied" reports of one packet.
# A last part kills one import at its 1st, 2nd, 3rd ... point until it runs
# through, so repeated points (every entity, the export of each
# acknowledgement) are hit too. The test fails if lib/*.c has a kill point
# it did not hit.
# The kill points are compiled into test builds only (-DXCHG_KILL_POINTS).
#   usage: XCHG_BIN=build/asan/xchg bash tests/e2e/crash.sh   (after make test)
set -u

E2E_NAME=crash
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

if ! grep -qa XCHG_KILL_AT "$bin"; then
	bad "binary" "$bin has no kill points: build it with -DXCHG_KILL_POINTS (make test's build/asan/xchg has them)"
	summary; exit 1
fi

SH=$W/shared       # the shared folder every node exports into and imports
mkdir -p "$SH"
NODES="center d1 d2"
declare -A raised=([center]=0 [d1]=0 [d2]=0) edits=([center]=0 [d1]=0 [d2]=0) hit=()
: >"$W/applied.log"

node_of() { printf '%s' "${1,,}"; }   # node_of CENTER -> center

# ---------------------------------------------------------------- running xchg

# run NODE ARGS...: x, plus what shows a packet applied twice or a temporary
# taken in: every "applied" report of an import goes to applied.log, and an
# import that names a hidden file is noted in picked.log.
run() {
	local rc
	x "$@"; rc=$RC
	if [ "$2" = import ]; then
		printf '%s\n' "$OUT" | sed -nE "s/^applied .*: packet ([0-9]+) from ([^,]+),.*/$1 <- \2 \1/p" >>"$W/applied.log"
		grep -F '/.pkt_' <<<"$OUT$ERR" >>"$W/picked.log"
	fi
	RC=$rc
	return $rc
}

applied_entities() {
	printf '%s\n' "$OUT" | sed -nE 's/^applied .*: packet [0-9]+ from [^,]+, ([0-9]+) entit.*/\1/p' |
		awk '{ n += $1 } END { print n + 0 }'
}
round_step() {
	if ! run "$@"; then
		XERR="'xchg ${*:2}' at $1 exited $RC: $(printf '%s' "$ERR" | head -n 3 | tr '\n' ' ')"
		return 1
	fi
	[ "$2" != import ] || ROUND_APPLIED=$((ROUND_APPLIED + $(applied_entities)))
}
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
# exchange_until_quiet: rounds, each closed by the center taking in the
# desktops' acknowledgements, until nothing is queued for any peer anywhere.
exchange_until_quiet() {
	local n queued
	ROUNDS=0
	while [ $ROUNDS -lt 6 ]; do
		ROUNDS=$((ROUNDS + 1))
		exchange_round && round_step center import "$SH" || return 1
		queued=0
		for n in $NODES; do queued=$((queued + $(sql $n 'SELECT count(*) FROM sync_changes'))); done
		[ $queued -eq 0 ] && return 0
	done
	XERR="$queued changes still queued after $ROUNDS rounds"
	return 1
}

# ---------------------------------------------------------------- what a node holds

# counters NODE: "PEER:sent:received:acked" for each peer.
counters() {
	sql "$1" "SELECT code || ':' || sent_packet_no || ':' || received_packet_no || ':' || acked_packet_no
		FROM sync_nodes WHERE is_self = 0 ORDER BY code"
}
# sent NODE PEER / received NODE PEER
sent() { sql "$1" "SELECT sent_packet_no FROM sync_nodes WHERE code = '$2'"; }
received() { sql "$1" "SELECT received_packet_no FROM sync_nodes WHERE code = '$2'"; }

# dump NODE: lib.bash's dump_tables in one database session, the query built once.
declare -A dump_sql=()
dump() {
	local t col kind names exprs q=""
	if [ -z "${dump_sql[$1]:-}" ]; then
		for t in $tables; do
			names="" exprs=""
			while IFS='|' read -r col kind; do
				names="$names${names:+|}$col"
				exprs="$exprs${exprs:+ || '|' || }$(norm "$1" "$kind" "\"$col\"")"
			done < <(columns "$1" "$t")
			q="$q SELECT '== $t: $names'; SELECT $exprs FROM \"$t\" ORDER BY $(pick "$1" uuid 'uuid::text COLLATE "C"');"
		done
		dump_sql[$1]=$q
	fi
	sql "$1" "${dump_sql[$1]}"
}

# Triggers that write down, in crash_watch, what a packet applied twice or
# out of order does: an older version over a newer one, a counter going
# down, a packet number that does not move forward. xchg never writes the
# table, so it is the same on every node only when it is empty.
watch_install() {
	local t n=$1 q
	if is_pg "$n"; then
		q="CREATE TABLE crash_watch (what text);
		CREATE FUNCTION crash_note() RETURNS trigger LANGUAGE plpgsql AS \$f\$ BEGIN
			INSERT INTO crash_watch VALUES (format('%s %s: %s went from %s to %s', TG_TABLE_NAME,
				coalesce(to_jsonb(NEW)->>'code', to_jsonb(NEW)->>'name', to_jsonb(NEW)->>'uuid'),
				TG_ARGV[0], to_jsonb(OLD)->>TG_ARGV[0], to_jsonb(NEW)->>TG_ARGV[0]));
			RETURN NULL; END \$f\$;
		CREATE TRIGGER crash_sent AFTER UPDATE OF sent_packet_no ON sync_nodes FOR EACH ROW
			WHEN (NEW.sent_packet_no <= OLD.sent_packet_no) EXECUTE FUNCTION crash_note('sent_packet_no');
		CREATE TRIGGER crash_received AFTER UPDATE OF received_packet_no ON sync_nodes FOR EACH ROW
			WHEN (NEW.received_packet_no <= OLD.received_packet_no) EXECUTE FUNCTION crash_note('received_packet_no');
		CREATE TRIGGER crash_acked AFTER UPDATE OF acked_packet_no ON sync_nodes FOR EACH ROW
			WHEN (NEW.acked_packet_no <= OLD.acked_packet_no) EXECUTE FUNCTION crash_note('acked_packet_no');
		CREATE TRIGGER crash_counter AFTER UPDATE ON brigades FOR EACH ROW
			WHEN (NEW.name LIKE 'counter %' AND NEW.headcount < OLD.headcount) EXECUTE FUNCTION crash_note('headcount');"
		for t in $tables; do
			q="$q CREATE TRIGGER crash_stale AFTER UPDATE ON \"$t\" FOR EACH ROW
				WHEN (NEW.updated_at < OLD.updated_at) EXECUTE FUNCTION crash_note('updated_at');"
		done
	else
		q="CREATE TABLE crash_watch (what TEXT);"
		for t in sent received acked; do
			q="$q CREATE TRIGGER crash_$t AFTER UPDATE OF ${t}_packet_no ON sync_nodes
				WHEN NEW.${t}_packet_no <= OLD.${t}_packet_no BEGIN INSERT INTO crash_watch VALUES
				('sync_nodes ' || NEW.code || ': ${t}_packet_no went from ' || OLD.${t}_packet_no || ' to ' || NEW.${t}_packet_no); END;"
		done
		q="$q CREATE TRIGGER crash_counter AFTER UPDATE ON brigades
			WHEN NEW.name LIKE 'counter %' AND NEW.headcount < OLD.headcount BEGIN INSERT INTO crash_watch VALUES
			('brigades ' || NEW.name || ': headcount went from ' || OLD.headcount || ' to ' || NEW.headcount); END;"
		for t in $tables; do
			q="$q CREATE TRIGGER crash_stale_$t AFTER UPDATE ON \"$t\" WHEN NEW.updated_at < OLD.updated_at
				BEGIN INSERT INTO crash_watch VALUES ('$t ' || NEW.uuid || ': updated_at went from ' ||
				OLD.updated_at || ' to ' || NEW.updated_at); END;"
		done
	fi
	sql "$n" "$q" >/dev/null
}

# ---------------------------------------------------------------- edits

# Every node edits only rows no other node edits, so nothing here is a
# conflict: a conflict after a crash means a packet was applied again.
edit_center() {
	local k=$((edits[center] + 1))
	edits[center]=$k
	sql center "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'counter CENTER';
		UPDATE brigades SET foreman = 'foreman $k' WHERE name = 'Concrete team';
		INSERT INTO estimates (number, title, total) VALUES ('E-C-$k', 'center edit $k', '$k.50');
		UPDATE estimates SET title = title || ', revised' WHERE number = 'E-C-$((k - 1))';
		UPDATE estimates SET is_deleted = $(pick center 1 true) WHERE number = 'E-C-$((k - 2))';
		INSERT INTO daily_report_lines (report_uuid, volume, hours, comment)
			SELECT uuid, $k, 1, 'center line $k' FROM daily_reports WHERE notes = 'initial report';
		DELETE FROM daily_report_lines WHERE comment = 'center line $((k - 2))';" >/dev/null &&
		raised[center]=$((raised[center] + 1))
}
edit_d1() {
	local k=$((edits[d1] + 1))
	edits[d1]=$k
	sql d1 "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'counter D1';
		INSERT INTO works (code, name, unit, quantity, price) VALUES ('W-D1-$k', 'D1 work $k', 'm2', $k, '10.00');
		UPDATE works SET quantity = quantity + 1 WHERE code = 'W-D1-$((k - 1))';
		INSERT INTO daily_reports (report_date, author, notes) VALUES ('2026-12-01', 'Site 1', 'D1 report $k');
		INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
			SELECT r.uuid, w.uuid, $k, 8, 'D1 line ${k}a' FROM daily_reports r, works w
			WHERE r.notes = 'D1 report $k' AND w.code = 'W-D1-$k';
		INSERT INTO daily_report_lines (report_uuid, volume, hours, comment)
			SELECT uuid, $k.25, 2, 'D1 line ${k}b' FROM daily_reports WHERE notes = 'D1 report $k';
		UPDATE daily_report_lines SET volume = volume + 0.5 WHERE comment = 'D1 line $((k - 1))a';
		DELETE FROM daily_report_lines WHERE comment = 'D1 line $((k - 1))b';
		UPDATE daily_reports SET is_deleted = 1 WHERE notes = 'D1 report $((k - 3))';" &&
		raised[d1]=$((raised[d1] + 1))
}
edit_d2() {
	local k=$((edits[d2] + 1))
	edits[d2]=$k
	sql d2 "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'counter D2';
		INSERT INTO work_specifications (work_uuid, material, quantity, unit)
			SELECT uuid, 'D2 spec $k', $k, 'kg' FROM works WHERE code = 'W-01';
		UPDATE work_specifications SET quantity = quantity * 2 WHERE material = 'D2 spec $((k - 1))';
		UPDATE work_specifications SET is_deleted = 1 WHERE material = 'D2 spec $((k - 2))';
		INSERT INTO daily_reports (report_date, author, notes) VALUES ('2026-12-02', 'Site 2', 'D2 report $k');
		INSERT INTO daily_report_lines (report_uuid, volume, hours, comment)
			SELECT uuid, $k, 4, 'D2 line $k' FROM daily_reports WHERE notes = 'D2 report $k';
		DELETE FROM daily_report_lines WHERE comment = 'D2 line $((k - 1))';" &&
		raised[d2]=$((raised[d2] + 1))
}
edit_all() { edit_center && edit_d1 && edit_d2; }
# A second edit at the center before D2 hears of the first: nothing the first
# changed is changed again. (A row edited, then deleted, in one packet
# travels as a bare DELETE, and its receiver keeps the older values under
# is_deleted; a matter for the soft-delete rule, not for this test.)
raise_center() {
	sql center "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'counter CENTER';
		INSERT INTO daily_report_lines (report_uuid, volume, hours, comment)
			SELECT uuid, 0.5, 1, 'center extra line' FROM daily_reports WHERE notes = 'initial report';" &&
		raised[center]=$((raised[center] + 1))
}
# A small change at D1: two entities, one with a child row.
raise_d1() {
	sql d1 "UPDATE brigades SET headcount = headcount + 1 WHERE name = 'counter D1';
		INSERT INTO daily_reports (report_date, author, notes) VALUES ('2026-12-03', 'Site 1', 'D1 small report');
		INSERT INTO daily_report_lines (report_uuid, volume, hours, comment)
			SELECT uuid, 1, 1, 'D1 small line' FROM daily_reports WHERE notes = 'D1 small report' ORDER BY id DESC LIMIT 1;" &&
		raised[d1]=$((raised[d1] + 1))
}

# ---------------------------------------------------------------- checks

# published_ok FILE...: each packet under a final name verifies at its
# recipient and says inside what its name says.
published_ok() {
	local f b s r n bad_ones=""
	for f in "$@"; do
		b=${f##*/}
		[[ $b =~ ^pkt_([A-Za-z0-9._-]+)_([A-Za-z0-9._-]+)_([0-9]+)\.zip$ ]] || { bad_ones="$bad_ones $b(name)"; continue; }
		s=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]} n=${BASH_REMATCH[3]}
		x "$(node_of "$r")" inspect --json "$f"
		[ "$RC" -eq 0 ] && jq -e --arg s "$s" --argjson n "$n" \
			'.signature == "verified" and .header.sender_code == $s and .header.packet_no == $n' \
			>/dev/null <<<"$OUT" || bad_ones="$bad_ones $b"
	done
	printf '%s' "$bad_ones"
}

# numbers_committed: "S->R N>M" for every link whose highest published packet
# N is above the sent_packet_no M its sender's database holds (invariant 6).
numbers_committed() {
	local f b s r n m out=""
	declare -A top=()
	for f in "$SH"/pkt_*.zip; do
		[ -e "$f" ] || continue
		b=${f##*/}
		[[ $b =~ ^pkt_([A-Za-z0-9._-]+)_([A-Za-z0-9._-]+)_([0-9]+)\.zip$ ]] || continue
		s=${BASH_REMATCH[1]} r=${BASH_REMATCH[2]} n=${BASH_REMATCH[3]}
		[ "${top[$s $r]:-0}" -ge "$n" ] || top[$s $r]=$n
	done
	for b in "${!top[@]}"; do
		s=${b% *} r=${b#* }
		m=$(sent "$(node_of "$s")" "$r")
		[ "${top[$b]}" -le "$m" ] || out="$out $s->$r ${top[$b]}>$m"
	done
	printf '%s' "$out"
}

# facts NODE BEFORE AFTER PUB TMP: what a crash left, as PACKET.md states it:
# how far NODE's sent and received numbers moved (summed over its peers), and
# how many packets and hidden temporaries appeared in the shared folder.
facts() {
	local sums
	sums=$(paste -d: <(printf '%s\n' "$2") <(printf '%s\n' "$3") |
		awk -F: '{ s += $6 - $2; r += $7 - $3 } END { printf "sent+%d received+%d", s, r }')
	printf '%s published+%d temps+%d' "$sums" "$4" "$5"
}

ls_pub() { find "$SH" -maxdepth 1 -name 'pkt_*.zip' | sort; }
ls_tmp() { find "$SH" -maxdepth 1 -name '.*' -type f | sort; }

# converged WHAT: after exchanging until quiet.
converged() {
	local what=$1 n c q watch="" queued="" conflicts="" twice
	c=$(dump center)
	for n in d1 d2; do
		if [ "$c" == "$(dump $n)" ]; then ok "$what: ${n^^} holds exactly the center's data"
		else bad "$what: ${n^^} holds exactly the center's data" "$(diff <(printf '%s\n' "$c") <(dump $n) | head -n 6 | tr '\n' ' ')"; fi
	done
	for n in $NODES; do
		{ read -r q; read -r c; watch="$watch$(cat)"; } < <(sql $n "SELECT count(*) FROM sync_changes;
			SELECT count(*) FROM sync_conflicts; SELECT ' $n: ' || what FROM crash_watch;")
		queued="$queued $n:$q" conflicts="$conflicts $n:$c"
	done
	eq "$what: nothing queued anywhere (every sync_changes empty)" " center:0 d1:0 d2:0" "$queued"
	eq "$what: every counter holds the number of raises its node made, everywhere" \
		"counter CENTER=${raised[center]} counter D1=${raised[d1]} counter D2=${raised[d2]}" \
		"$(sql center "SELECT name || '=' || headcount FROM brigades WHERE name LIKE 'counter %'
			ORDER BY name $(pick center '' 'COLLATE "C"')" | tr '\n' ' ' | sed 's/ $//')"
	eq "$what: no conflict anywhere (none was made; one would mean a packet applied again)" \
		" center:0 d1:0 d2:0" "$conflicts"
	eq "$what: no row went back to an older version, no counter down, every number only forward" "" "$watch"
	twice=$(sort "$W/applied.log" | uniq -d | head -n 3 | tr '\n' ';')
	eq "$what: no packet reported applied twice" "" "$twice"
	eq "$what: no import took in a hidden temporary" "" "$(head -n 3 "$W/picked.log" 2>/dev/null | tr '\n' ' ')"
}

# ---------------------------------------------------------------- one crash

# crash KIND SPEC [FACTS]: edits on every node, the packets KIND needs, then
# its command killed at SPEC (an XCHG_KILL_AT value), the checks above,
# the command again, exchange until quiet, and converged. Returns 2 when
# the command ran through without being killed (SPEC is past its last point).
#   export-d1      D1 exports to the center
#   export-center  the center exports to D2
#   import-center  the center imports a packet from each desktop, answers both
#   import-d1      D1 imports two packets from the center at once, answers one
#   import-one     the center imports one small packet from D1, answers it
crash() {
	local kind=$1 spec=$2 want=${3:-} node what pre post pre_sum pub0 tmp0 pub tmp f b n r s through=0
	what="$kind killed at $spec"
	if [ "$kind" = import-one ]; then raise_d1; else edit_all; fi || { bad "$what: edits" "sql failed"; return 1; }
	case $kind in
	export-d1) node=d1; set -- export --node CENTER --out "$SH" ;;
	export-center) node=center; set -- export --node D2 --out "$SH" ;;
	import-center)
		run d1 export --node CENTER --out "$SH" && run d2 export --node CENTER --out "$SH" ||
			{ bad "$what: the desktops' packets" "$ERR"; return 1; }
		node=center; set -- import "$SH" ;;
	import-one)
		run d1 export --node CENTER --out "$SH" || { bad "$what: D1's packet" "$ERR"; return 1; }
		node=center; set -- import "$SH" ;;
	import-d1)
		run center export --node D1 --out "$SH" && raise_center && run center export --node D1 --out "$SH" ||
			{ bad "$what: the center's two packets" "$ERR"; return 1; }
		node=d1; set -- import "$SH" ;;
	esac
	pre=$(counters $node); pre_sum=$(db_sum $node); pub0=$(ls_pub); tmp0=$(ls_tmp)

	export XCHG_KILL_AT=$spec
	run "$node" "$@"
	unset XCHG_KILL_AT
	if [ "$RC" -eq 0 ] && [ -z "$want" ]; then
		through=1
	elif [ "$RC" -eq 137 ]; then
		[[ $spec =~ ^[0-9]+$ ]] || hit[${spec%%:*}]=1
		ok "$what: died by SIGKILL (exit 137)"
	else
		bad "$what: died by SIGKILL (exit 137)" "exit $RC: $(printf '%s' "$ERR" | head -n 2 | tr '\n' ' ')"
	fi

	pub=$(comm -13 <(printf '%s\n' "$pub0") <(ls_pub) | sed '/^$/d')
	tmp=$(comm -13 <(printf '%s\n' "$tmp0") <(ls_tmp) | sed '/^$/d')
	post=$(counters $node)
	if [ $through = 0 ]; then
		# shellcheck disable=SC2086
		eq "$what: every new packet under a final name is whole and verifies" "" "$(published_ok $pub)"
		eq "$what: no published packet carries a number its sender did not commit" "" "$(numbers_committed)"
		if [ "$pre" == "$post" ]; then
			eq "$what: counters unmoved, so the database is exactly as before" "$pre_sum" "$(db_sum $node)"
		fi
		[ -z "$want" ] || eq "$what: leaves what PACKET.md says" "$want" \
			"$(facts $node "$pre" "$post" "$(printf '%s' "$pub" | grep -c .)" "$(printf '%s' "$tmp" | grep -c .)")"
		# A temporary may be complete and signed, with a number the sender
		# will hand out again: its recipient must not take it in.
		for f in $tmp; do
			b=${f##*/}
			[[ $b =~ ^\.pkt_([A-Za-z0-9._-]+)_([A-Za-z0-9._-]+)_([0-9]+)\.zip\.tmp$ ]] || continue
			s=${BASH_REMATCH[1]} r=$(node_of "${BASH_REMATCH[2]}") n=${BASH_REMATCH[3]}
			run "$r" import "$SH"
			if [ "$RC" -eq 0 ] && [ "$(received "$r" "$s")" -lt "$n" ]; then
				ok "$what: ${r^^} importing the folder leaves $b alone"
			else bad "$what: ${r^^} importing the folder leaves $b alone" "exit $RC, received $(received "$r" "$s")"; fi
		done
		run "$node" "$@"
		eq "$what: the same command again succeeds" 0 "$RC"
		[ "$RC" -eq 0 ] || printf '%s\n' "$ERR" | head -n 3
	fi
	if exchange_until_quiet; then ok "$what: then quiet after $ROUNDS rounds"; else bad "$what: then quiet" "$XERR"; fi
	converged "$what"
	# The courier empties the folder once every packet in it is taken in.
	find "$SH" -mindepth 1 -delete
	[ $through = 0 ] || return 2
}

# ---------------------------------------------------------------- main

setup() {
	local n kc k1 k2
	for n in $NODES; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('Concrete team', 'Ivanov', 6),
			('counter CENTER', NULL, 0), ('counter D1', NULL, 0), ('counter D2', NULL, 0);
		INSERT INTO estimates (number, title, total) VALUES ('E-0', 'School, block A', '100.00');
		INSERT INTO works (code, name, unit, quantity, price) VALUES ('W-01', 'Foundation pour', 'm3', 120.5, '8500.00');
		INSERT INTO daily_reports (report_date, author, notes) VALUES ('2026-11-20', 'Head office', 'initial report');" ||
		{ bad setup "the center's first rows"; return 1; }
	x center init --code CENTER --name "Head office" --plan "$plan" --master &&
		x d1 init --code D1 --name "Site 1" --plan "$plan" &&
		x d2 init --code D2 --name "Site 2" --plan "$plan" || { bad setup "init: $ERR"; return 1; }
	x center key; kc=$OUT; x d1 key; k1=$OUT; x d2 key; k2=$OUT
	x center node add --code D1 --name "Site 1" --key "$k1" &&
		x center node add --code D2 --name "Site 2" --key "$k2" &&
		x d1 node add --code CENTER --key "$kc" &&
		x d2 node add --code CENTER --key "$kc" || { bad setup "node add: $ERR"; return 1; }
	for n in $NODES; do watch_install $n || { bad setup "the watch triggers on $n"; return 1; }; done
	exchange_until_quiet || { bad setup "first exchange: $XERR"; return 1; }
	ok "setup: a center ($center_backend) and two desktops, exchanged until quiet"
	find "$SH" -mindepth 1 -delete
}

# The kill points the library has, from its source; each must be hit below.
points=$(grep -oh 'xkill_point("[^"]*")' "$root"/lib/*.c | sed -E 's/^xkill_point\("(.*)"\)$/\1/' | sort -u)

if setup; then
	if [ -z "$points" ]; then bad "kill points" "no xkill_point(\"...\") found in lib/*.c"; fi

	# An export: the number and the marks are in the transaction; the packet
	# grows under a hidden name; commit; rename into place.
	for kind in export-d1 export-center; do
		crash $kind export.numbered "sent+0 received+0 published+0 temps+0"
		crash $kind export.marked "sent+0 received+0 published+0 temps+1"
		crash $kind export.written "sent+0 received+0 published+0 temps+1"
		crash $kind export.sealed "sent+0 received+0 published+0 temps+1"
		crash $kind export.synced "sent+0 received+0 published+0 temps+1"
		crash $kind export.committed "sent+1 received+0 published+0 temps+1"
		crash $kind export.published "sent+1 received+0 published+1 temps+0"
	done
	# An import of two senders' packets (D1's first), then two acknowledgements.
	crash import-center import.headers_read "sent+0 received+0 published+0 temps+0"
	crash import-center import.entity_applied:3 "sent+0 received+0 published+0 temps+0"
	crash import-center import.verified "sent+0 received+0 published+0 temps+0"
	crash import-center import.committed "sent+0 received+1 published+0 temps+0"
	crash import-center import.between_packets "sent+0 received+1 published+0 temps+0"
	crash import-center import.verified:2 "sent+0 received+1 published+0 temps+0"
	crash import-center import.before_ack "sent+0 received+2 published+0 temps+0"
	crash import-center export.committed:1 "sent+1 received+2 published+0 temps+1"
	crash import-center import.ack_written "sent+1 received+2 published+1 temps+0"
	crash import-center export.synced:2 "sent+1 received+2 published+1 temps+1"
	crash import-center import.ack_written:2 "sent+2 received+2 published+2 temps+0"
	# Two packets from one sender: both cumulative, applied in order.
	crash import-d1 import.entity_applied:1 "sent+0 received+0 published+0 temps+0"
	crash import-d1 import.committed "sent+0 received+1 published+0 temps+0"
	crash import-d1 import.between_packets "sent+0 received+1 published+0 temps+0"
	crash import-d1 import.verified:2 "sent+0 received+1 published+0 temps+0"
	crash import-d1 import.committed:2 "sent+0 received+2 published+0 temps+0"
	crash import-d1 import.before_ack "sent+0 received+2 published+0 temps+0"
	crash import-d1 import.ack_written "sent+1 received+2 published+1 temps+0"

	missing=""
	for p in $points; do [ -n "${hit[$p]:-}" ] || missing="$missing $p"; done
	eq "every kill point in lib/*.c ($(wc -w <<<"$points")) was hit" "" "$missing"

	# Every point of one import in turn, by number: each entity, and each
	# point of the export that writes the acknowledgement.
	n=0
	while [ $n -lt 100 ]; do
		n=$((n + 1))
		crash import-one "$n"
		[ $? -eq 2 ] && break
	done
	if [ $n -gt 10 ] && [ $n -lt 100 ]; then ok "an import killed at each of its $((n - 1)) points in turn, then once run through"
	else bad "an import killed at each of its points in turn" "ran through at $n (expected between 10 and 100)"; fi
fi
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" -eq 0 ]
