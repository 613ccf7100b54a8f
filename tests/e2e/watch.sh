#!/usr/bin/env bash
# xchg watch through the real binary: watchers for a center and two desktops
# on one shared folder keep three databases in step while people edit them
# with plain sqlite3 (or psql), and nobody calls import or export. A watcher
# killed mid-work loses nothing; the folder renamed away and back is waited
# for; a garbage packet goes to rejected/ and status calls the link broken;
# SIGTERM stops every watcher promptly with no temporary left. D2 polls, as
# on a network share. SQLite nodes, or a PostgreSQL center with
# XCHG_E2E_CENTER=pg.
E2E_NAME=watch
. "$(dirname "$0")/lib.bash"

SH=$W/share
mkdir -p "$SH"
declare -A wpid

# watch_start NODE ARGS...: a watcher on NODE in the background, its log in $W/NODE.log
watch_start() {
	local node=$1; shift
	(
		is_pg "$node" && export XCHG_KEY_FILE=$W/$node.key
		exec "$bin" watch --interval 1 "$@" --db "$(db_url "$node")"
	) 2>>"$W/$node.log" >>"$W/$node.out" &
	wpid[$node]=$!
}
# await NAME SECONDS CMD...: passes as soon as CMD succeeds, fails after SECONDS.
await() {
	local name=$1 limit=$2 t=$SECONDS; shift 2
	while ! "$@" >/dev/null 2>&1; do
		if [ $((SECONDS - t)) -ge "$limit" ]; then bad "$name" "not within ${limit}s: $*"; return 1; fi
		sleep 0.3
	done
	ok "$name"
}
in_step() { [ "$(dump_tables center)" == "$(dump_tables d1)" ] && [ "$(dump_tables center)" == "$(dump_tables d2)" ]; }
# diverged: what differs, for a failure's message
diverged() { diff <(dump_tables center) <(dump_tables "$1") | head -n 6 | tr '\n' ' '; }
no_packets_left() { ! ls "$SH"/pkt_* >/dev/null 2>&1; }
# at_rest: nothing is in the folder, and no packet is written for three intervals
at_rest() {
	local n
	n=$(ls "$SH/archive" | wc -l)
	sleep 3
	no_packets_left && [ "$(ls "$SH/archive" | wc -l)" = "$n" ]
}
logged() { grep -qF -- "$2" "$W/$1.log"; }
brigade() { sql "$1" "SELECT headcount FROM brigades WHERE name = '$2'"; }
# headcount_is NODE NAME N: the brigade's headcount on NODE is N (for await)
headcount_is() { [ "$(brigade "$1" "$2")" = "$3" ]; }

setup() { shared_star; }

scenario_converge() {
	watch_start center
	watch_start d1
	watch_start d2 --poll
	sql d1 "INSERT INTO brigades (name, foreman, headcount) VALUES ('D1 crew', 'Lee', 3)"
	sql d2 "INSERT INTO brigades (name, foreman, headcount) VALUES ('D2 crew', 'Kim', 4)"
	sql center "INSERT INTO estimates (number, title, total) VALUES ('E-1', 'Depot', '9.00')"
	await "three watchers bring the star in step, nobody importing or exporting" 90 in_step ||
		bad "what differs" "$(diverged d1) / $(diverged d2)"
	sql d2 "UPDATE brigades SET headcount = 6 WHERE name = 'D1 crew'"
	await "an edit at one desktop reaches the other through the center" 60 \
		headcount_is d1 'D1 crew' 6
	await "and the folder holds no packet once all are taken" 60 no_packets_left
	await "and the watchers come to rest: no packet once everything is acknowledged" 30 at_rest
	check "applied packets are archived, not left in the folder" test -n "$(ls "$SH/archive")"
	check "every line of the log begins with its UTC time" \
		bash -c "! grep -vE '^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z ' '$W/center.log'"
	check "the log says what was applied" logged center "applied $SH/pkt_D1_CENTER_"
	check "and what was exported" logged center "exported $SH/pkt_CENTER_D1_"
	check "the polling watcher says it polls" logged d2 "(polling)"
}

scenario_garbage() {
	# D1 is quiet meanwhile: a good packet from it would mend the link before status is asked.
	kill -TERM "${wpid[d1]}"; wait "${wpid[d1]}"
	echo "garbage" >"$SH/pkt_D1_CENTER_999.zip"
	await "a garbage file named like a packet goes to rejected/" 30 \
		test -f "$SH/rejected/pkt_D1_CENTER_999.zip.why"
	x center status --json
	eq "status calls that link broken, and exits 1" \
		"1|broken" "$RC|$(jq -r '.peers[] | select(.code == "D1") | .state' <<<"$OUT")"
	check "naming the packet" has "$(jq -r '.peers[] | select(.code == "D1") | .reason' <<<"$OUT")" \
		"pkt_D1_CENTER_999.zip was refused"
	check "the watcher keeps running" kill -0 "${wpid[center]}"
	watch_start d1
	sql d1 "UPDATE brigades SET headcount = 7 WHERE name = 'D1 crew'"
	await "the link carries on" 60 headcount_is center 'D1 crew' 7
	await "and its next good packet mends it" 30 bash -c \
		"'$bin' status --db '$(db_url center)' >/dev/null"
}

scenario_folder_away() {
	mv "$SH" "$SH.away"
	await "each watcher notices the folder is gone" 30 \
		bash -c "grep -q 'waiting for it to come back' '$W/center.log' && grep -q 'waiting for it to come back' '$W/d1.log' && grep -q 'waiting for it to come back' '$W/d2.log'"
	sql d1 "UPDATE brigades SET headcount = 12 WHERE name = 'D1 crew'"
	sleep 2
	check "nothing is written while it is away" test ! -e "$SH"
	mv "$SH.away" "$SH"
	await "the exchange resumes when it is back" 60 headcount_is d2 'D1 crew' 12
	check "and the watcher said so" logged center "the folder is back"
}

# A watcher killed with SIGKILL at any moment of its work, then restarted: nothing is lost.
scenario_kill() {
	local i k
	for i in 1 2 3; do
		sql d1 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300)
			INSERT INTO brigades (name, foreman, headcount) SELECT 'kill $i ' || i, 'F', i FROM n"
		for k in $(seq 50); do ls "$SH"/pkt_D1_CENTER_* >/dev/null 2>&1 && break; sleep 0.1; done
		sleep "0.$((RANDOM % 4))"
		kill -KILL "${wpid[center]}"
		wait "${wpid[center]}" 2>/dev/null
		watch_start center
	done
	await "a center watcher killed three times mid-work loses nothing" 120 in_step ||
		bad "what differs" "$(diverged d1) / $(diverged d2)"
	eq "every row arrived" 900 "$(sql d2 "SELECT count(*) FROM brigades WHERE name LIKE 'kill %'")"
}

# The center's connection cut by the server (a restart, an administrator): the watcher connects again.
scenario_connection_lost() {
	is_pg center || return 0
	psql_on -c "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE datname = current_database() AND pid <> pg_backend_pid()" >/dev/null
	sql d1 "UPDATE brigades SET headcount = 21 WHERE name = 'D1 crew'"
	await "a center watcher whose connection the server cut carries on" 60 headcount_is d2 'D1 crew' 21
	check "it is still running" kill -0 "${wpid[center]}"
}

scenario_stop() {
	local n t rc
	for n in center d1 d2; do
		t=$SECONDS
		kill -TERM "${wpid[$n]}"
		wait "${wpid[$n]}"; rc=$?
		eq "$n's watcher stops on SIGTERM with exit 0" 0 "$rc"
		check "within a few seconds" test $((SECONDS - t)) -le 5
		check "and says so" logged $n "stopped"
	done
	check "no temporary file is left" bash -c "! ls -a '$SH' | grep -q '\.tmp$'"
	in_step && ok "the three databases end in step" || bad "the three databases end in step" "$(diverged d1)"
}

scenario_usage() {
	x d1 watch --interval 0
	eq "an interval that is none exits 2" 2 "$RC"
	x d1 node set CENTER --dir ""
	x d1 watch
	eq "a link without a folder exits 2 at once" 2 "$RC"
	check "naming it" has "$ERR" "xchg node set CENTER --dir"
	x d1 node set CENTER --dir "$SH"
}

setup && {
	scenario_converge
	scenario_garbage
	scenario_folder_away
	scenario_kill
	scenario_connection_lost
	scenario_stop
	scenario_usage
}
for n in center d1 d2; do cat "$W/$n.log" >>"$W/all-stderr"; done
no_sanitizer_reports "$W/all-stderr"
summary
