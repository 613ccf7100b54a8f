#!/usr/bin/env bash
# How a PostgreSQL center fails: a dropped connection in the middle of an
# import, a role without rights, a synchronized table gone. Each gives one
# clear message and leaves the database and the packet as they were.
set -u

E2E_NAME=failures
XCHG_E2E_CENTER=pg
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

SH=$W/shared
mkdir -p "$SH"
CENTER_URL=$(db_url center)

setup() {
	local n
	for n in center d1; do load_schema "$n"; done
	x center init --code CENTER --plan "$plan" --master || bad "init center" "$ERR"
	x d1 init --code D1 --plan "$plan" || bad "init d1" "$ERR"
	x center node add --code D1 --key "$(xchg_on d1 key)" || bad "center adds D1" "$ERR"
	x d1 node add --code CENTER --key "$(xchg_on center key)" || bad "D1 adds the center" "$ERR"
}

# center_state: what must not move when an import fails.
center_state() {
	sql center "SELECT (SELECT count(*) FROM brigades) || '|' || (SELECT count(*) FROM sync_changes)
		|| '|' || (SELECT string_agg(code || ':' || received_packet_no || ':' || acked_packet_no, ',' ORDER BY code)
		FROM sync_nodes)"
}

# A desktop packet big enough that an import takes a while.
big_packet() {
	sql d1 "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1)
		INSERT INTO brigades (name, foreman, headcount) SELECT '$2-' || i, 'f', i FROM n"
	x d1 export --node CENTER --out "$SH" || bad "D1 exports" "$ERR"
	printf '%s' "$OUT"
}

# The connection dies while entities are being applied: nothing of the
# packet may stay, and the packet itself is left for the next try.
scenario_dropped_connection() {
	local pkt before sum pid tries=0
	pkt=$(big_packet 20000 drop)
	before=$(center_state); sum=$(sha256sum <"$pkt")
	xchg_on center import "$pkt" >"$W/import.out" 2>"$W/import.err" &
	pid=$!
	# Wait until the import is applying, then end its backend from outside.
	until [ "$(sql center "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'xchg'
			AND state = 'active' AND pid <> pg_backend_pid()")" -gt 0 ] || [ $tries -ge 200 ]; do
		sleep 0.02; tries=$((tries + 1))
	done
	sql center "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'xchg' AND pid <> pg_backend_pid()" >/dev/null
	wait "$pid"; RC=$?
	cat "$W/import.err" >>"$W/all-stderr"
	sed 's/^/    | /' "$W/import.err"
	if [ $RC -eq 0 ]; then
		# The import outran the kill: nothing to judge, but say so.
		ok "dropped connection: the import finished before the connection was cut"
	else
		check "dropped connection: the failure names the packet" grep -q "$(basename "$pkt")" "$W/import.err"
		check "dropped connection: the message says the connection went" \
			grep -qiE "terminat|connection|server closed" "$W/import.err"
		eq "dropped connection: the center is as it was" "$before" "$(center_state)"
		eq "dropped connection: the packet is unchanged" "$sum" "$(sha256sum <"$pkt")"
	fi
	x center import "$pkt"
	eq "dropped connection: a second import applies the packet" 0 "$RC"
	eq "dropped connection: every row arrived once" 20000 \
		"$(sql center "SELECT count(DISTINCT uuid) FROM brigades WHERE name LIKE 'drop-%'")"
}

# A role that may connect but not touch the tables.
scenario_permission() {
	local pkt before sum
	sql center "DROP ROLE IF EXISTS xchg_reader; CREATE ROLE xchg_reader LOGIN;" >/dev/null 2>&1
	pkt=$(big_packet 3 perm)
	before=$(center_state); sum=$(sha256sum <"$pkt")
	XCHG_KEY_FILE=$W/center.key "$bin" import "$pkt" \
		--db "postgresql:///$PGDB?host=$XCHG_PG_HOST&user=xchg_reader" >"$W/.out" 2>"$W/.err"
	RC=$?
	cat "$W/.err" >>"$W/all-stderr"
	sed 's/^/    | /' "$W/.err"
	eq "no rights: import exits 3" 3 "$RC"
	check "no rights: the message says permission denied" grep -q "permission denied" "$W/.err"
	eq "no rights: the center is as it was" "$before" "$(center_state)"
	eq "no rights: the packet is unchanged" "$sum" "$(sha256sum <"$pkt")"
	x center import "$pkt"
	eq "no rights: the same packet applies for the center's own user" 0 "$RC"
}

# A synchronized table dropped behind xchg's back.
scenario_missing_table() {
	local pkt before sum
	sql d1 "INSERT INTO work_specifications (material) VALUES ('orphan')"
	x d1 export --node CENTER --out "$SH"; pkt=$OUT
	sql center "DROP TABLE work_specifications" >/dev/null
	before=$(center_state); sum=$(sha256sum <"$pkt")
	x center import "$pkt"
	eq "missing table: the packet is not applied, a database failure (exit 3)" 3 "$RC"
	check "missing table: the line says not applied" grep -q "^not applied" <<<"$ERR"
	check "missing table: the message names the table" grep -q "work_specifications" <<<"$ERR"
	eq "missing table: the center is as it was" "$before" "$(center_state)"
	eq "missing table: the packet is unchanged" "$sum" "$(sha256sum <"$pkt")"
}

setup
scenario_dropped_connection
scenario_permission
scenario_missing_table
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" -eq 0 ]
