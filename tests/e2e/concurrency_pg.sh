#!/usr/bin/env bash
# Concurrency at a PostgreSQL center (on $XCHG_PG_HOST) with two SQLite
# desktops. An application client keeps writing the center's tables through
# psql (single statements and small transactions: new brigades 'c-N', new
# headcounts, daily reports with lines, line edits and deletions), bounded
# by a number of statements and a time, while in the foreground the nodes
# exchange without pause: the center exports to both desktops, they import,
# make edits of their own (some on the writer's rows: conflicts), export,
# and the center imports; sometimes two xchg processes run at once for the
# same peer (two exports, an export and an import, two imports) to exercise
# the per-peer lock. When the writer stops, rounds run until quiet. Then:
# every row the writer inserted is on both desktops exactly once, all three
# nodes hold the same data (dump_tables), every queue is empty, nothing was
# refused, and no xchg run failed. Three targeted races follow, each made
# certain with an application transaction held open through a FIFO: one
# holding a registration longer than xchg waits for it; one committing a
# change of a row while the center imports a desktop's change of the same
# row; one inserting a row while `node add` registers a new desktop.
# The last line is "N passed, M failed".
#   usage: XCHG_PG_HOST=/socket/dir XCHG_BIN=build/xchg bash tests/e2e/concurrency_pg.sh
set -u

E2E_NAME=concurrency
XCHG_E2E_CENTER=pg
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

MAX_STATEMENTS=${XCHG_E2E_STATEMENTS:-400}
MAX_SECONDS=${XCHG_E2E_SECONDS:-30}
SH=$W/shared     # every packet goes through it
ARCH=$W/archive  # packets a node has taken in move here, so folders stay small
RUN=$W/run       # output of the xchg runs that go in parallel
mkdir -p "$SH" "$ARCH" "$RUN"
started=$SECONDS
FAILED_RUNS=""   # every xchg run that exited non-zero, unexpectedly
RUNS=0 PACKETS_APPLIED=0 ENTITIES_APPLIED=0

# ---------------------------------------------------------------- helpers

# note_run TAG NODE RC OUT ERR ARGS...: books one finished xchg run: its
# failure if any, the entities it applied; an import's taken-in packets move
# to the archive.
note_run() {
	local tag=$1 node=$2 rc=$3 out=$4 err=$5 p n
	shift 5
	RUNS=$((RUNS + 1))
	printf '%s\n' "$err" >>"$W/all-stderr"
	[ "$rc" -eq 0 ] || FAILED_RUNS="$FAILED_RUNS
  [$tag] 'xchg $*' at $node exited $rc: $(printf '%s' "$err" | head -n 3 | tr '\n' ' ')"
	[ "$1" = import ] || return 0
	n=$(printf '%s\n' "$out" | sed -nE 's/^applied .*: packet [0-9]+ from [^,]+, ([0-9]+) entit(y|ies).*/\1/p' |
		awk '{ n += $1 } END { print n + 0 }')
	ENTITIES_APPLIED=$((ENTITIES_APPLIED + n)) ROUND_APPLIED=$((ROUND_APPLIED + n))
	PACKETS_APPLIED=$((PACKETS_APPLIED + $(printf '%s\n' "$out" | grep -c '^applied ')))
	while IFS= read -r p; do
		[ -f "$p" ] && mv -f "$p" "$ARCH/" 2>/dev/null
	done < <(printf '%s\n' "$out" | sed -nE 's/^(applied|skipped) (.*): packet [0-9]+ from .*/\2/p')
	return 0
}
# step NODE ARGS...: one xchg run in the foreground, booked.
step() {
	x "$@"
	note_run fg "$1" "$RC" "$OUT" "$ERR" "${@:2}"
}
# spawn TAG NODE ARGS...: one xchg run in the background; reap books it.
declare -A SPAWNED
spawn() {
	local tag=$1 node=$2
	shift 2
	printf '%s\n' "$node" "$@" >"$RUN/$tag.what"
	rm -f "$RUN/$tag.rc"
	(xchg_on "$node" "$@" >"$RUN/$tag.out" 2>"$RUN/$tag.err"; echo $? >"$RUN/$tag.rc") &
	SPAWNED[$tag]=$!
}
# reap TAG...: waits for all the spawned runs named, then books each (only
# then do an import's packets move: the other run may be reading them).
reap() {
	local tag args
	for tag; do wait "${SPAWNED[$tag]}"; done
	for tag; do
		mapfile -t args <"$RUN/$tag.what"
		note_run "$tag" "${args[0]}" "$(cat "$RUN/$tag.rc")" \
			"$(cat "$RUN/$tag.out")" "$(cat "$RUN/$tag.err")" "${args[@]:1}"
	done
}
packet_no_of() { unzip -p "$1" message.json | jq .header.packet_no; }

# round: the center exports to both desktops, they take in the folder, edit
# (while the writer runs), export, and the center takes in the folder.
# PARALLEL picks which runs go two at a time: 1 two exports to D1, 2 an
# export to D1 with an import, 3 two imports at the center and two at D1.
round() {
	local mode=${PARALLEL:-0} a b na nb i
	ROUND_APPLIED=0
	case $mode in
	1)
		spawn e1 center export --node D1 --out "$SH"
		spawn e2 center export --node D1 --out "$SH"
		reap e1 e2
		a=$(cat "$RUN/e1.out") b=$(cat "$RUN/e2.out")
		if [ -f "$a" ] && [ -f "$b" ]; then
			na=$(packet_no_of "$a") nb=$(packet_no_of "$b")
			PAR_EXPORTS="$PAR_EXPORTS $(( na > nb ? na - nb : nb - na ))"
		else PAR_EXPORTS="$PAR_EXPORTS missing"; fi
		;;
	*) step center export --node D1 --out "$SH" ;;
	esac
	step center export --node D2 --out "$SH"
	if [ "$mode" = 3 ]; then
		i=$(ls "$SH" | grep -c '^pkt_CENTER_D1_')
		spawn i1 d1 import "$SH"; spawn i2 d1 import "$SH"
		reap i1 i2
		PAR_IMPORTS_D1="$PAR_IMPORTS_D1 $(cat "$RUN/i1.out" "$RUN/i2.out" | grep -c '^applied ')/$i"
	else
		step d1 import "$SH"
	fi
	step d2 import "$SH"
	if [ "${WRITING:-0}" = 1 ]; then desktop_edits; fi
	step d1 export --node CENTER --out "$SH"
	step d2 export --node CENTER --out "$SH"
	case $mode in
	2)
		spawn i1 center import "$SH"
		spawn e1 center export --node D1 --out "$SH"
		reap i1 e1
		PAR_MIXED=$((PAR_MIXED + 1))
		;;
	3)
		spawn i1 center import "$SH"; spawn i2 center import "$SH"
		reap i1 i2
		# each packet applied by one of the two and skipped by the other
		i=$(cat "$RUN/i1.out" "$RUN/i2.out" | sed -nE 's/^applied (.*): packet.*/\1/p' | sort | uniq -d | wc -l)
		PAR_IMPORTS="$PAR_IMPORTS $i"
		;;
	*) step center import "$SH" ;;
	esac
}

# The desktops' own edits: each adds a brigade a round and changes an
# older one of its own; D1 adds a report with a line every third round.
# They also change what the writer is changing (conflicts, master wins):
# D1 a brigade's headcount, D2 a brigade's foreman and a report line.
DESK_ROWS=0
desktop_edits() {
	local d k=$((DESK_ROWS + 1))
	for d in d1 d2; do
		sql $d "INSERT INTO brigades (name, foreman, headcount) VALUES ('$d-$k', 'desk', $k);
			UPDATE brigades SET foreman = 'desk again $k' WHERE name = '$d-$(( (k + 1) / 2 ))';" || EDIT_ERRORS=$((EDIT_ERRORS + 1))
	done
	sql d1 "UPDATE brigades SET headcount = 1000 + $k WHERE name = (SELECT name FROM brigades WHERE name LIKE 'c-%' ORDER BY random() LIMIT 1);" ||
		EDIT_ERRORS=$((EDIT_ERRORS + 1))
	sql d2 "UPDATE brigades SET foreman = 'D2 edit $k' WHERE name = (SELECT name FROM brigades WHERE name LIKE 'c-%' ORDER BY random() LIMIT 1);
		UPDATE daily_report_lines SET volume = $k.75 WHERE uuid = (SELECT uuid FROM daily_report_lines WHERE comment LIKE 'r-%' ORDER BY random() LIMIT 1);" ||
		EDIT_ERRORS=$((EDIT_ERRORS + 1))
	if [ $((k % 3)) = 0 ]; then
		sql d1 "INSERT INTO daily_reports (report_date, brigade_uuid, author, notes)
				SELECT '2026-12-02', uuid, 'Site 1', 'd1-r-$k' FROM brigades WHERE name = 'd1-$k';
			INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
				SELECT uuid, NULL, $k.5, 8, 'd1-r-$k line' FROM daily_reports WHERE notes = 'd1-r-$k';" || EDIT_ERRORS=$((EDIT_ERRORS + 1))
		DESK_REPORTS=$((DESK_REPORTS + 1))
	fi
	DESK_ROWS=$k
}

# ---------------------------------------------------------------- the writer

# writer_sql: the application's statements on stdout, paced: about
# MAX_STATEMENTS of them, for at most MAX_SECONDS; what it inserted goes to files.
writer_sql() {
	# live: the brigades it changes. It deletes no brigade: a deleted row's
	# DELETE carries no data (PACKET.md), so a row inserted or changed and
	# then soft-deleted between two exports never reaches the desktops as
	# it stands at the center, and the nodes could not be compared.
	local n=0 stmts=0 op a b k lines live=(seed-1 seed-2) inserted=0 reports=() nlines=0 t0=$SECONDS
	: >"$W/writer.names"; : >"$W/writer.reports"
	while [ $stmts -lt "$MAX_STATEMENTS" ] && [ $((SECONDS - t0)) -lt "$MAX_SECONDS" ]; do
		n=$((n + 1))
		op=$((RANDOM % 20))
		[ ${#live[@]} -lt 4 ] && op=0
		a=${live[RANDOM % ${#live[@]}]} b=${live[RANDOM % ${#live[@]}]}
		case $op in
		[0-6]) # a new brigade
			echo "INSERT INTO brigades (name, foreman, headcount) VALUES ('c-$n', 'writer', $n);"
			live+=("c-$n") inserted=$((inserted + 1)); echo "c-$n" >>"$W/writer.names"; stmts=$((stmts + 1)) ;;
		[7-9]) # a new headcount
			echo "UPDATE brigades SET headcount = $RANDOM, foreman = 'writer $n' WHERE name = '$a';"
			stmts=$((stmts + 1)) ;;
		1[0-2]) # a small transaction: one new brigade, two others changed, some work between
			echo "BEGIN;
				INSERT INTO brigades (name, foreman, headcount) VALUES ('c-$n', 'writer tx', $n);
				UPDATE brigades SET headcount = headcount + 1 WHERE name = '$a';
				SELECT pg_sleep(0.01);
				UPDATE brigades SET headcount = headcount + 2 WHERE name = '$b';
			COMMIT;"
			live+=("c-$n") inserted=$((inserted + 1)); echo "c-$n" >>"$W/writer.names"; stmts=$((stmts + 4)) ;;
		1[3-5]) # a daily report with 1 to 3 lines
			lines=$((RANDOM % 3 + 1))
			echo "BEGIN;
				INSERT INTO daily_reports (report_date, brigade_uuid, author, notes)
					SELECT DATE '2026-12-01' + $((n % 28)), uuid, 'writer', 'r-$n' FROM brigades WHERE name = '$a';"
			for ((k = 1; k <= lines; k++)); do
				echo "INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
					SELECT uuid, NULL, $n.25, $k, 'r-$n line $k' FROM daily_reports WHERE notes = 'r-$n';"
			done
			echo "COMMIT;"
			reports+=("r-$n"); echo "r-$n" >>"$W/writer.reports"; nlines=$((nlines + lines))
			stmts=$((stmts + lines + 1)) ;;
		16 | 17) # a line edited, another deleted outright
			[ ${#reports[@]} -gt 0 ] && k=${reports[RANDOM % ${#reports[@]}]} || k=r-0
			echo "UPDATE daily_report_lines SET hours = hours + 0.5, comment = comment || ' edited' WHERE comment = '$k line 1';"
			echo "DELETE FROM daily_report_lines WHERE comment = '$k line 2';"
			stmts=$((stmts + 2)) ;;
		18) # a report and a brigade changed in one transaction
			[ ${#reports[@]} -gt 0 ] && k=${reports[RANDOM % ${#reports[@]}]} || k=r-0
			echo "BEGIN;
				UPDATE daily_reports SET author = 'writer $n' WHERE notes = '$k';
				UPDATE brigades SET foreman = 'writer $n' WHERE name = '$a';
			COMMIT;"
			stmts=$((stmts + 2)) ;;
		19) # a report's brigade changed and its notes with it, in one statement
			[ ${#reports[@]} -gt 0 ] && k=${reports[RANDOM % ${#reports[@]}]} || k=r-0
			echo "UPDATE daily_reports SET brigade_uuid = (SELECT uuid FROM brigades WHERE name = '$b'), author = 'writer $n' WHERE notes = '$k';"
			stmts=$((stmts + 1)) ;;
		esac
		sleep 0.03
	done
	printf '%s statements (%s transactions), %s brigades, %s reports with %s lines inserted\n' \
		"$stmts" "$n" "$inserted" "${#reports[@]}" "$nlines" >"$W/writer.counts"
}

# ---------------------------------------------------------------- setup

setup() {
	local n kc k1 k2
	for n in center d1 d2; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES
			('seed-1', 'seed', 1), ('seed-2', 'seed', 2), ('held', 'seed', 1), ('race', 'seed', 1);
		INSERT INTO works (code, name, unit, quantity, price) VALUES ('W-01', 'Foundation pour', 'm3', 120.5, '8500.00');" ||
		{ bad setup "seed rows at the center"; return 1; }
	check "init center (PostgreSQL, --master)" x center init --code CENTER --name "Head office" --plan "$plan" --master
	check "init desktop D1" x d1 init --code D1 --plan "$plan"
	check "init desktop D2" x d2 init --code D2 --plan "$plan"
	x center key; kc=$OUT; x d1 key; k1=$OUT; x d2 key; k2=$OUT
	check "center registers D1" x center node add --code D1 --key "$k1"
	check "center registers D2" x center node add --code D2 --key "$k2"
	check "D1 registers the center" x d1 node add --code CENTER --key "$kc"
	check "D2 registers the center" x d2 node add --code CENTER --key "$kc"
	[ "$fail" -eq 0 ]
}

# ---------------------------------------------------------------- scenarios

# The writer against the exchange loop, then rounds until quiet.
scenario_load() {
	local wpid rounds=0 quiet=0 writer_rc
	PAR_EXPORTS="" PAR_IMPORTS="" PAR_IMPORTS_D1="" PAR_MIXED=0 EDIT_ERRORS=0 DESK_REPORTS=0

	writer_sql | PGAPPNAME=xchg-e2e-writer psql_on -f - >"$W/writer.out" 2>"$W/writer.err" &
	wpid=$!
	WRITING=1
	while kill -0 $wpid 2>/dev/null; do
		rounds=$((rounds + 1))
		PARALLEL=$((rounds % 4)) round
	done
	wait $wpid; writer_rc=$?
	WRITING=0
	local load_rounds=$rounds
	while [ $quiet -lt 15 ]; do
		quiet=$((quiet + 1)) rounds=$((rounds + 1))
		PARALLEL=$((quiet <= 3 ? quiet : 0)) round
		[ $ROUND_APPLIED -eq 0 ] && [ $quiet -gt 3 ] && break
	done

	local counts
	counts=$(cat "$W/writer.counts" 2>/dev/null)
	eq "the writer's psql exits 0" 0 "$writer_rc"
	eq "the writer's statements all succeed (no deadlock, no lock timeout on its side)" "" "$(cat "$W/writer.err")"
	check "the writer wrote something" test "$(wc -l <"$W/writer.names")" -gt 20
	echo "# writer: $counts in $((SECONDS - started)) s"
	echo "# exchange: $load_rounds rounds during the writing, $((rounds - load_rounds)) after; $RUNS xchg runs, $PACKETS_APPLIED packets applied carrying $ENTITIES_APPLIED entities"
	echo "# desktops: $DESK_ROWS brigades each, $DESK_REPORTS reports from D1"
	if [ $ROUND_APPLIED -eq 0 ]; then ok "quiet after $((rounds - load_rounds)) rounds once the writer stopped"
	else bad "quiet once the writer stopped" "still applying entities after $((rounds - load_rounds)) rounds"; fi
	eq "the desktops' own edits all succeed" 0 "$EDIT_ERRORS"
	eq "no xchg run failed" "" "$FAILED_RUNS"
	eq "no packet was refused" "" "$(grep '^refused' "$W/all-stderr")"

	# two exports at once for the same peer: consecutive numbers, both published
	check "two exports to D1 ran at once at least once" test -n "$PAR_EXPORTS"
	eq "two exports to D1 at once get numbers one apart, both files published (each pair's difference)" \
		"$(printf '%s\n' $PAR_EXPORTS | sed 's/.*/1/' | tr '\n' ' ')" "$(printf '%s\n' $PAR_EXPORTS | tr '\n' ' ')"
	check "an export to D1 and an import ran at once at the center" test "$PAR_MIXED" -gt 0
	check "two imports of the folder ran at once at the center" test -n "$PAR_IMPORTS"
	eq "two imports at once at the center never apply the same packet twice" \
		"$(printf '%s\n' $PAR_IMPORTS | sed 's/.*/0/' | tr '\n' ' ')" "$(printf '%s\n' $PAR_IMPORTS | tr '\n' ' ')"
	check "two imports ran at once at D1" test -n "$PAR_IMPORTS_D1"
	local pair bad_pairs=""
	for pair in $PAR_IMPORTS_D1; do
		# applied by the two together at most as many as there were packets for D1
		[ "${pair%/*}" -le "${pair#*/}" ] || bad_pairs="$bad_pairs $pair"
	done
	eq "two imports at once at D1 never apply the same packet twice (applied/present)" "" "$bad_pairs"

	# every row the writer inserted, exactly once everywhere
	local want n got
	want=$(sort "$W/writer.names")
	for n in center d1 d2; do
		got=$(sql $n "SELECT name FROM brigades WHERE name LIKE 'c-%' ORDER BY name" | sort)
		eq "$n: the writer's $(wc -l <<<"$want") brigades, each exactly once" "$(printf '%s' "$want" | md5sum)" "$(printf '%s' "$got" | md5sum)"
		[ "$want" == "$got" ] || echo "# $n: missing $(comm -23 <(printf '%s\n' "$want") <(printf '%s\n' "$got" | sort -u) | head -n 5 | tr '\n' ' ') duplicated $(printf '%s\n' "$got" | uniq -d | head -n 5 | tr '\n' ' ')"
		got=$(sql $n "SELECT notes FROM daily_reports WHERE notes LIKE 'r-%'" | sort)
		eq "$n: the writer's $(grep -c . "$W/writer.reports") reports, each exactly once" "$(sort "$W/writer.reports")" "$got"
	done
	for n in center d2; do
		eq "$n: D1's $DESK_ROWS brigades, each exactly once" "$DESK_ROWS $DESK_ROWS" \
			"$(sql $n "SELECT count(*) || ' ' || count(DISTINCT name) FROM brigades WHERE name LIKE 'd1-%'")"
		eq "$n: D1's $DESK_REPORTS reports with their lines" "$DESK_REPORTS $DESK_REPORTS" \
			"$(sql $n "SELECT count(DISTINCT r.uuid) || ' ' || count(l.uuid) FROM daily_reports r JOIN daily_report_lines l ON l.report_uuid = r.uuid WHERE r.notes LIKE 'd1-r-%'")"
	done
	for n in center d1; do
		eq "$n: D2's $DESK_ROWS brigades, each exactly once" "$DESK_ROWS $DESK_ROWS" \
			"$(sql $n "SELECT count(*) || ' ' || count(DISTINCT name) FROM brigades WHERE name LIKE 'd2-%'")"
	done
	echo "# rows at the center: $(sql center "SELECT (SELECT count(*) FROM brigades) || ' brigades, ' || (SELECT count(*) FROM daily_reports) || ' reports, ' || (SELECT count(*) FROM daily_report_lines) || ' lines'")"

	same_tables "D1 holds exactly the center's data" center d1
	same_tables "D2 holds exactly the center's data" center d2
	for n in center d1 d2; do
		eq "$n: sync_changes is empty" 0 "$(sql $n 'SELECT count(*) FROM sync_changes')"
	done
	echo "# conflicts decided: $(for n in center d1 d2; do printf '%s %s; ' $n "$(sql $n 'SELECT count(*) FROM sync_conflicts')"; done)"
	eq "every conflict went the master's way (master-wins)" \
		"$(sql center "SELECT count(*) FROM sync_conflicts")|0" \
		"$(sql center "SELECT count(*) FROM sync_conflicts WHERE winner = 'local'")|$(for n in d1 d2; do sql $n "SELECT count(*) FROM sync_conflicts WHERE winner = 'local'"; done | awk '{ s += $1 } END { print s + 0 }')"
	eq "no temporary or stray files in the shared folder" "" "$(ls -A "$SH" | grep -vE '^pkt_[A-Z0-9]+_[A-Z0-9]+_[0-9]+\.zip$')"
}

# An application transaction that holds one of the center's registrations
# for D1 for 8 s, longer than xchg waits for a row lock: the export either
# gives up cleanly (exit 3, nothing published, its number not spent) or
# goes through; the application's transaction is never the one broken.
scenario_long_lock() {
	local sent before_files rc fifo=$W/app.fifo app t0 i
	sql center "UPDATE brigades SET headcount = 50 WHERE name = 'held'"   # a committed registration
	sent=$(x center status --json; jq '.peers[] | select(.code == "D1") | .sent_packet_no' <<<"$OUT")
	before_files=$(ls -A "$SH" | wc -l)
	mkfifo "$fifo"
	PGAPPNAME=xchg-e2e-app psql_on -f "$fifo" >"$W/app.out" 2>"$W/app.err" &
	app=$!
	exec 7>"$fifo"
	echo "BEGIN; UPDATE brigades SET headcount = 51 WHERE name = 'held';" >&7
	wait_for "the application's transaction holds the row" \
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xchg-e2e-app' AND state = 'idle in transaction'"
	t0=$SECONDS
	spawn held center export --node D1 --out "$SH"
	for ((i = 0; i < 800; i++)); do [ -s "$RUN/held.rc" ] && break; sleep 0.01; done
	echo "COMMIT;" >&7
	exec 7>&-
	wait "$app"
	wait "${SPAWNED[held]}"
	rm -f "$fifo"
	rc=$(cat "$RUN/held.rc") ERR=$(cat "$RUN/held.err")
	cat "$RUN/held.err" >>"$W/all-stderr"
	echo "# the export blocked by the application's transaction ended after $((SECONDS - t0)) s, exit $rc: $(tr "\n" " " <<<"$ERR")"
	eq "the application's transaction, holding the row for up to 8 s, committed untouched" "" "$(cat "$W/app.err")"
	case $rc in
	3)
		check "the export gave up (exit 3) and says why" test -n "$ERR"
		eq "it publishes nothing and leaves no temporary file" "$before_files" "$(ls -A "$SH" | wc -l)"
		eq "its packet number is not spent" "$sent" \
			"$(x center status --json; jq '.peers[] | select(.code == "D1") | .sent_packet_no' <<<"$OUT")"
		x center export --node D1 --out "$SH"
		eq "once the application commits, the next export goes through" 0 "$RC"
		eq "with the next number" "$((sent + 1))" "$(packet_no_of "$OUT" 2>/dev/null)"
		;;
	0)
		ok "the export went through (exit 0)"
		eq "with the next number" "$((sent + 1))" "$(packet_no_of "$(cat "$RUN/held.out")" 2>/dev/null)"
		;;
	*) bad "the export blocked by an application transaction gives up cleanly (3) or goes through (0)" "exit $rc: $ERR" ;;
	esac
	exchange_quiet "exchange after the long lock"
	for n in d1 d2; do
		eq "$n: the application's value arrived" 51 "$(sql $n "SELECT headcount FROM brigades WHERE name = 'held'")"
	done
}

# wait_for NAME SQL: waits (at most 10 s) until SQL at the center says 1.
wait_for() {
	local i
	for ((i = 0; i < 1000; i++)); do
		[ "$(sql center "$2")" = 1 ] && return 0
		sleep 0.01
	done
	bad "$1" "not seen in 10 s: $2"
	return 1
}
# exchange_quiet NAME: rounds until one applies nothing (at most 10).
exchange_quiet() {
	local i
	for ((i = 1; i <= 10; i++)); do
		PARALLEL=0 round
		[ $ROUND_APPLIED -eq 0 ] && { ok "$1 (quiet after $i rounds)"; return 0; }
	done
	bad "$1" "still applying entities after 10 rounds"
}

# D1 changes a row while an application transaction at the center changes
# the same row and commits just after the center's import of D1's change
# has begun to wait for it. It is a conflict like any other (PACKET.md,
# invariant 9): master wins, so the application's committed value stays
# everywhere and D1's is kept in sync_conflicts; it must not be overwritten
# without a trace.
scenario_commit_during_import() {
	local pkt fifo=$W/app2.fifo app u n i
	u=$(uuid_of center brigades "name = 'race'")
	sql d1 "UPDATE brigades SET headcount = 100, foreman = 'D1 version' WHERE name = 'race'"
	x d1 export --node CENTER --out "$W"; pkt=$OUT
	check "D1 exports its change of the row" test -f "$pkt"
	mkfifo "$fifo"
	PGAPPNAME=xchg-e2e-app2 psql_on -f "$fifo" >"$W/app2.out" 2>"$W/app2.err" &
	app=$!
	exec 7>"$fifo"
	echo "BEGIN; UPDATE brigades SET headcount = 200, foreman = 'center version' WHERE name = 'race';" >&7
	wait_for "the application's transaction holds the row" \
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xchg-e2e-app2' AND state = 'idle in transaction'"
	spawn imp center import "$pkt" --out "$SH"
	# commit as soon as the import waits for the row, well inside its lock_timeout
	# (or once it has ended, should it never wait)
	for ((i = 0; i < 1000; i++)); do
		[ -s "$RUN/imp.rc" ] && break
		[ "$(sql center "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xchg' AND wait_event_type = 'Lock'")" = 1 ] && break
		sleep 0.01
	done
	echo "COMMIT;" >&7
	exec 7>&-
	wait "$app"
	reap imp
	rm -f "$fifo"
	eq "the import exits 0" 0 "$(cat "$RUN/imp.rc")"
	eq "the application's transaction committed" "" "$(cat "$W/app2.err")"
	eq "master wins: the center keeps the application's committed value, not D1's" "200|center version" \
		"$(sql center "SELECT headcount || '|' || foreman FROM brigades WHERE name = 'race'")"
	eq "the conflict is logged at the center with D1's losing version" 1 \
		"$(sql center "SELECT count(*) FROM sync_conflicts WHERE entity_uuid = '$u' AND losing_version LIKE '%D1 version%'")"
	exchange_quiet "exchange after the conflict"
	for n in d1 d2; do
		eq "$n: ends with the center's version" "$(sql center "SELECT headcount || '|' || foreman FROM brigades WHERE name = 'race'")" \
			"$(sql $n "SELECT headcount || '|' || foreman FROM brigades WHERE name = 'race'")"
	done
	same_tables "D1 and the center agree after the conflict" center d1
	same_tables "D2 and the center agree after the conflict" center d2
}

# A third desktop is registered at the center (its first packet reads every
# row from the tables) while an application transaction is inserting a row:
# once that transaction commits, the row must reach the new desktop too,
# like every other row of the center.
scenario_node_add_during_insert() {
	local fifo=$W/app3.fifo app i k3 kc
	load_schema d3 && x d3 init --code D3 --plan "$plan" || { bad "a third desktop" "init: $ERR"; return 1; }
	k3=$(x d3 key; echo "$OUT") kc=$(x center key; echo "$OUT")
	mkfifo "$fifo"
	PGAPPNAME=xchg-e2e-app3 psql_on -f "$fifo" >"$W/app3.out" 2>"$W/app3.err" &
	app=$!
	exec 7>"$fifo"
	echo "BEGIN; INSERT INTO brigades (name, foreman, headcount) VALUES ('born during node add', 'app', 3);" >&7
	wait_for "the application's transaction has inserted its row" \
		"SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xchg-e2e-app3' AND state = 'idle in transaction'"
	spawn add center node add --code D3 --key "$k3"
	# commit once node add is done, or after 3 s should it wait for the application
	for ((i = 0; i < 300; i++)); do [ -s "$RUN/add.rc" ] && break; sleep 0.01; done
	echo "COMMIT;" >&7
	exec 7>&-
	wait "$app"
	reap add
	eq "node add D3 exits 0" 0 "$(cat "$RUN/add.rc")"
	eq "the application's transaction committed" "" "$(cat "$W/app3.err")"
	check "D3 registers the center" x d3 node add --code CENTER --key "$kc"
	local d3in=$W/d3in
	mkdir -p "$d3in"
	x center export --node D3 --out "$d3in"
	eq "the center's first packet for D3 is written" 0 "$RC"
	x d3 import "$d3in"
	eq "D3 imports it" 0 "$RC"
	eq "D3 has the row the application inserted while D3 was being added" 1 \
		"$(sql d3 "SELECT count(*) FROM brigades WHERE name = 'born during node add'")"
	x center export --node D3 --out "$d3in"; x d3 import "$d3in"
	same_tables "D3 holds exactly the center's data" center d3
}

# ---------------------------------------------------------------- main

if setup; then
	scenario_load
	scenario_long_lock
	scenario_commit_during_import
	scenario_node_add_during_insert
	no_sanitizer_reports "$W/all-stderr"
fi
echo "# $((SECONDS - started)) s"
summary
[ "$fail" -eq 0 ]
