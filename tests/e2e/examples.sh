#!/usr/bin/env bash
# The scheduler files in examples/unattended, tried as far as a machine
# without systemd or cron running allows: each unit and the crontab parse,
# and the command each one runs, with the environment each one gives it,
# does a sync round of a real node.
E2E_NAME=examples
. "$(dirname "$0")/lib.bash"

ex=$root/examples/unattended
SH=$W/share
mkdir -p "$SH"

# unit_ok FILE: every line a comment, blank, [Section] or Key=Value, in known sections.
unit_ok() {
	awk '/^[[:space:]]*(#|$)/ { next }
		/^\[(Unit|Service|Timer|Install)\]$/ { next }
		/^[A-Za-z]+=/ { next }
		{ print FILENAME ":" NR ": " $0; bad = 1 } END { exit bad }' "$1"
}
# unit_key FILE KEY: the value of KEY
unit_key() { sed -nE "s/^$2=(.*)/\\1/p" "$1"; }

setup() {
	local n
	for n in center d1 d2; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	init_star
	x d1 node set CENTER --dir "$SH"
	x center node set D1 --dir "$SH"
	x center node set D2 --dir "$SH"
	x d2 node set CENTER --dir "$SH"
}

scenario_systemd() {
	local svc=$ex/xchg-sync@.service timer=$ex/xchg-sync@.timer cmd
	check "the service unit parses" unit_ok "$svc"
	check "the timer unit parses" unit_ok "$timer"
	eq "the service is a oneshot round" oneshot "$(unit_key "$svc" Type)"
	eq "the timer starts it every five minutes" 5min "$(unit_key "$timer" OnUnitActiveSec)"
	cmd=$(unit_key "$svc" ExecStart)
	eq "it runs xchg sync" "/usr/local/bin/xchg sync" "$cmd"
	# Its environment file, for node d1, as the unit's comment describes it.
	printf 'XCHG_DB=%s\nXCHG_KEY_FILE=%s\n' "$W/d1.db" "$W/d1.db.key" >"$W/d1.env"
	sql d1 "INSERT INTO brigades (name, foreman, headcount) VALUES ('from the timer', 'T', 1)"
	check "its command, with its environment only, runs a round" \
		env -i PATH=/usr/bin:/bin $(cat "$W/d1.env") "$bin" ${cmd#/usr/local/bin/xchg }
	check "which exported D1's change" test -f "$SH/pkt_D1_CENTER_1.zip"
	if command -v systemd-analyze >/dev/null; then
		check "systemd-analyze reads the timer's schedule" systemd-analyze timespan "$(unit_key "$timer" OnUnitActiveSec)"
	fi
}

scenario_watch_unit() {
	local svc=$ex/xchg-watch@.service cmd pid t
	check "the watcher's unit parses" unit_ok "$svc"
	eq "it is a long-running service, restarted when it fails" "simple|on-failure" \
		"$(unit_key "$svc" Type)|$(unit_key "$svc" Restart)"
	eq "stopped with SIGTERM" SIGTERM "$(unit_key "$svc" KillSignal)"
	cmd=$(unit_key "$svc" ExecStart)
	eq "it runs xchg watch" "/usr/local/bin/xchg watch --interval 60" "$cmd"
	sql d1 "INSERT INTO brigades (name, foreman, headcount) VALUES ('from the watcher', 'W', 1)"
	: >"$W/watch.log"
	env -i PATH=/usr/bin:/bin $(cat "$W/d1.env") "$bin" ${cmd#/usr/local/bin/xchg } 2>"$W/watch.log" &
	pid=$!
	t=$SECONDS
	while ! grep -q "exported .*pkt_D1_CENTER_" "$W/watch.log" && [ $((SECONDS - t)) -lt 30 ]; do sleep 0.2; done
	check "its command, with its environment only, exports D1's change at once" \
		grep -q "exported .*pkt_D1_CENTER_" "$W/watch.log"
	kill -TERM $pid
	wait $pid
	eq "and the stop signal the unit sends ends it with exit 0" 0 "$?"
	cat "$W/watch.log" >>"$W/all-stderr"
	if command -v systemd-analyze >/dev/null; then
		check "systemd-analyze reads its stop timeout" systemd-analyze timespan "$(unit_key "$svc" TimeoutStopSec)"
	fi
}

scenario_cron() {
	local tab=$ex/xchg-sync.cron line cmd
	line=$(grep -E '^[^#A-Z]' "$tab")
	check "the crontab has one job, five time fields, a user and a command" \
		test "$(wc -l <<<"$line")" -eq 1 -a "$(awk '{ print (NF >= 7) }' <<<"$line")" = 1
	eq "every five minutes" "*/5 * * * *" "$(awk '{ print $1, $2, $3, $4, $5 }' <<<"$line")"
	cmd=$(awk '{ for (i = 7; i <= NF && $i !~ /^>/; i++) printf "%s%s", (i > 7 ? " " : ""), $i }' <<<"$line")
	eq "it runs xchg sync" "/usr/local/bin/xchg sync" "$cmd"
	check "the crontab names the database" grep -qE '^XCHG_DB=' "$tab"
	check "its command, with the crontab's environment pointed at the center, runs a round" \
		env -i PATH=/usr/bin:/bin XCHG_DB="$(db_url center)" XCHG_KEY_FILE="$(pick center "$W/center.db.key" "$W/center.key")" \
		"$bin" ${cmd#/usr/local/bin/xchg }
	check "which took D1's packet in" has "$(sql center "SELECT name FROM brigades")" "from the timer"
}

setup && {
	scenario_systemd
	scenario_watch_unit
	scenario_cron
}
no_sanitizer_reports "$W/all-stderr"
summary
