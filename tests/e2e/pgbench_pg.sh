#!/usr/bin/env bash
# PostgreSQL's own benchmark as the application at the center: pgbench makes
# its schema (tables keyed by integer business numbers: aid, bid, tid) and
# then writes the center with its TPC-B-like transactions from 4 clients,
# while a SQLite desktop edits accounts and exchanges packets with it. At the
# end both hold every row alike, keys intact.
E2E_NAME=pgbench
XCHG_E2E_CENTER=pg
. "$(dirname "$0")/lib.bash"
command -v pgbench >/dev/null || { bad tools "pgbench is not installed"; summary; exit 1; }

plan=$W/plan.json
cat >"$plan" <<'JSON'
{"schema_version": "1.0.0",
 "entities": [
  {"type": "Branch", "table": "pgbench_branches"},
  {"type": "Teller", "table": "pgbench_tellers"},
  {"type": "Account", "table": "pgbench_accounts"}
 ]}
JSON
tables=$(jq -r '.entities[].table' "$plan")
accounts=1000
SH=$W/share
mkdir -p "$SH"
pgb() { pgbench -h "$XCHG_PG_HOST" -U xchg "$@" "$PGDB"; }

setup() {
	local out
	# The benchmark's own schema at scale 1, cut to $accounts accounts to keep the test short.
	out=$(pgb -i -s 1 -q 2>&1) || { bad "pgbench -i" "$out"; return 1; }
	sql center "DELETE FROM pgbench_accounts WHERE aid > $accounts" >/dev/null
	# The desktop's tables as a SQLite application would declare them.
	sqlite3 "$W/d1.db" "
		CREATE TABLE pgbench_branches (bid INTEGER NOT NULL PRIMARY KEY, bbalance INTEGER, filler CHAR(88));
		CREATE TABLE pgbench_tellers (tid INTEGER NOT NULL PRIMARY KEY, bid INTEGER, tbalance INTEGER,
			filler CHAR(84));
		CREATE TABLE pgbench_accounts (aid INTEGER NOT NULL PRIMARY KEY, bid INTEGER, abalance INTEGER,
			filler CHAR(84));"
	check "init the pgbench database as the center" x center init --code CENTER --plan "$plan" --master
	check "init the desktop" x d1 init --code D1 --plan "$plan"
	check "the center registers D1" x center node add --key "$(x d1 key; echo "$OUT")"
	check "D1 registers the center" x d1 node add --key "$(x center key; echo "$OUT")"
}

# exchange NAME [busy]: one round both ways. A failure fails a check, except
# that while pgbench runs (busy) the center may give way to the application's
# row locks: then it must say so, and the next round carries on.
exchange() {
	local step
	for step in "center export --node D1 --out $SH" "d1 import $SH" "d1 export --node CENTER --out $SH" \
		"center import $SH"; do
		# shellcheck disable=SC2086
		x $step && continue
		if [ -n "${2:-}" ] && has "$ERR" "lock timeout"; then gave_way=$((gave_way + 1)); continue; fi
		bad "$1: ${step%% --out*}" "$ERR"
		return
	done
}
gave_way=0

# The rows of every table by their business keys; filler is blank-padded
# CHAR on PostgreSQL, kept as sent on SQLite, so it is compared trimmed.
rows() {
	sql "$1" "SELECT 'b' || bid || '|' || coalesce(bbalance, -1) || '|' || coalesce(rtrim(filler), '-')
			FROM pgbench_branches ORDER BY bid;
		SELECT 't' || tid || '|' || bid || '|' || tbalance || '|' || coalesce(rtrim(filler), '-')
			FROM pgbench_tellers ORDER BY tid;
		SELECT 'a' || aid || '|' || bid || '|' || abalance || '|' || coalesce(rtrim(filler), '-') || '|' || uuid
			FROM pgbench_accounts ORDER BY aid"
}
same_rows() {
	local a b
	a=$(rows center); b=$(rows d1)
	if [ -n "$a" ] && [ "$a" == "$b" ]; then ok "$1"
	else bad "$1" "$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -n 6 | tr '\n' ' ')"; fi
}

scenario_first() {
	exchange "first"
	eq "D1 has every account under its own number" "$accounts 1 $accounts" \
		"$(sqlite3 "$W/d1.db" "SELECT count(*), min(aid), max(aid) FROM pgbench_accounts" | tr '|' ' ')"
	same_rows "D1 holds the center's rows after the first exchange"
}

scenario_under_load() {
	local script=$W/tpcb.sql i pid
	# pgbench's built-in TPC-B-like transaction, over the accounts kept.
	cat >"$script" <<SQL
\set aid random(1, $accounts)
\set bid random(1, 1)
\set tid random(1, 10)
\set delta random(-5000, 5000)
BEGIN;
UPDATE pgbench_accounts SET abalance = abalance + :delta WHERE aid = :aid;
SELECT abalance FROM pgbench_accounts WHERE aid = :aid;
UPDATE pgbench_tellers SET tbalance = tbalance + :delta WHERE tid = :tid;
UPDATE pgbench_branches SET bbalance = bbalance + :delta WHERE bid = :bid;
INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) VALUES (:tid, :bid, :aid, :delta, CURRENT_TIMESTAMP);
END;
SQL
	pgb -n -c 4 -j 2 -T 6 -f "$script" >"$W/pgbench.out" 2>&1 &
	pid=$!
	for i in 1 2 3 4 5; do
		sqlite3 "$W/d1.db" "UPDATE pgbench_accounts SET abalance = abalance + $i WHERE aid IN ($i, $((i * 7)), $((i * 131)));"
		exchange "under load, round $i" busy
		sleep 0.5
	done
	wait $pid
	eq "pgbench ran to the end (exit 0)" 0 "$?"
	check "and committed transactions" grep -qE "number of transactions actually processed: [1-9]" "$W/pgbench.out"
	check "pgbench reports no failed transaction" bash -c "! grep -qE 'number of failed transactions: [1-9]' '$W/pgbench.out'"
	# pgbench's last changes travel first: an edit of an account pgbench
	# changed after the last round would be a conflict the center wins.
	for i in 1 2; do exchange "after the load, round $i"; done
	sqlite3 "$W/d1.db" "UPDATE pgbench_accounts SET abalance = -1 WHERE aid = $accounts"
	for i in 3 4; do exchange "after the load, round $i"; done
	same_rows "D1 and the center hold every row alike after the load"
	echo "# the center gave way to pgbench's row locks $gave_way times under load"
	eq "the desktop's last edit reached the center" "-1" \
		"$(sql center "SELECT abalance FROM pgbench_accounts WHERE aid = $accounts")"
	eq "nothing is left to send" "0 0" \
		"$(sql center "SELECT count(*) FROM sync_changes WHERE packet_no IS NULL") $(sql d1 "SELECT count(*) FROM sync_changes WHERE packet_no IS NULL")"
}

if setup; then
	scenario_first
	scenario_under_load
fi
summary
[ "$fail" -eq 0 ]
