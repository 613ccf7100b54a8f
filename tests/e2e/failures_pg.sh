#!/usr/bin/env bash
# How a PostgreSQL center fails: a dropped connection in the middle of an
# import, a role without rights, a synchronized table gone. Each gives one
# clear message and leaves the database and the packet as they were. And
# how it does not: a center run from another folder still finds its key.
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

# at DIR [-u NAME | NAME=VALUE]... xchg ARGS...: runs xchg in DIR with that
# environment, no XCHG_KEY_FILE unless given, on $KEYS_URL; leaves OUT, ERR and RC.
at() {
	local dir=$1; shift
	(cd "$dir" && env -u XCHG_KEY_FILE "$@" --db "$KEYS_URL") >"$W/.out" 2>"$W/.err"
	RC=$?
	OUT=$(cat "$W/.out"); ERR=$(cat "$W/.err")
	cat "$W/.err" >>"$W/all-stderr"
	return $RC
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
			AND datname = current_database() AND state = 'active' AND pid <> pg_backend_pid()")" -gt 0 ] || [ $tries -ge 200 ]; do
		sleep 0.02; tries=$((tries + 1))
	done
	sql center "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
		WHERE application_name = 'xchg' AND datname = current_database() AND pid <> pg_backend_pid()" >/dev/null
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

# A PostgreSQL node whose key file nobody names keeps it in the user's
# configuration folder, not in the folder init ran in, so a scheduler running
# xchg elsewhere still finds it; XCHG_KEY_FILE still names another.
scenario_key_folder() {
	local db=${PGDB}_keys home=$W/home cfg=$W/config name key runs
	if ! createdb -h "$XCHG_PG_HOST" -U xchg "$db" 2>"$W/.err"; then
		bad "key folder" "createdb $db failed: $(cat "$W/.err")"; return
	fi
	psql -X -q -v ON_ERROR_STOP=1 -h "$XCHG_PG_HOST" -U xchg -d "$db" -f "$schema_pg" >/dev/null
	KEYS_URL="postgresql:///$db?host=$XCHG_PG_HOST&user=xchg"
	name="$db@$(sed 's/[^A-Za-z0-9@._-]/_/g' <<<"$XCHG_PG_HOST")-${PGPORT:-5432}.xchg.key"
	runs=$W/runs; mkdir -p "$runs/first" "$runs/second" "$runs/third"

	at "$runs/first" HOME="$home" XDG_CONFIG_HOME="$cfg" "$bin" init --code KEYS --plan "$plan" --master
	eq "key folder: init exits 0" 0 "$RC"
	key=$cfg/xchg/$name
	eq "key folder: init says where the key is" "secret key: $key (keep it private; never send it)" \
		"$(sed -n 2p <<<"$OUT")"
	check "key folder: the key is in \$XDG_CONFIG_HOME/xchg, named after database, host and port" test -f "$key"
	eq "key folder: the key file is mode 600 and its folder mode 700" "600 700" \
		"$(stat -c %a "$key" 2>&1) $(stat -c %a "$cfg/xchg" 2>&1)"
	eq "key folder: nothing lands in the folder init ran in, nor in HOME" "|" \
		"$(ls -A "$runs/first")|$(ls -A "$home" 2>/dev/null)"

	# Without XDG_CONFIG_HOME (unset, empty or relative): ~/.config/xchg.
	mkdir -p "$home/.config"
	mv "$cfg/xchg" "$home/.config/xchg"
	at "$runs/second" HOME="$home" XDG_CONFIG_HOME= "$bin" init --code KEYS --plan "$plan" --master
	eq "key folder: with XDG_CONFIG_HOME empty, init finds the key in ~/.config/xchg" \
		"0|secret key: $home/.config/xchg/$name (keep it private; never send it)" "$RC|$(sed -n 2p <<<"$OUT")"
	load_schema d2
	x d2 init --code D2 --plan "$plan"
	eq "key folder: init of a SQLite node says its key is beside the database" \
		"0|secret key: $W/d2.db.key (keep it private; never send it)" "$RC|$(sed -n 2p <<<"$OUT")"
	at "$runs/second" HOME="$home" "$bin" node add --code D2 --key "$(xchg_on d2 key)" || bad "KEYS adds D2" "$ERR"
	at "$runs/second" HOME="$home" "$bin" key || bad "KEYS prints its key" "$ERR"
	x d2 node add --code KEYS --key "$OUT" || bad "D2 adds KEYS" "$ERR"
	at "$runs/second" HOME="$home" XDG_CONFIG_HOME=relative "$bin" export --node D2 --out "$runs/second"
	eq "key folder: a relative XDG_CONFIG_HOME is ignored (the export signs with ~/.config/xchg's key)" 0 "$RC"
	x d2 import "$OUT"
	eq "key folder: D2 verifies and applies that packet" 0 "$RC"
	at "$runs/third" -u XDG_CONFIG_HOME HOME="$home" "$bin" export --node D2 --out "$runs/third"
	eq "key folder: an export from a third folder signs with that key too" 0 "$RC"
	x d2 import "$OUT"
	eq "key folder: D2 verifies and applies the packet" 0 "$RC"
	eq "key folder: no key file in any folder xchg ran in" "" "$(find "$runs" -name '*.key')"

	# XCHG_KEY_FILE still names the file; and with no home at all, a refusal.
	dropdb -h "$XCHG_PG_HOST" -U xchg "$db"; createdb -h "$XCHG_PG_HOST" -U xchg "$db"
	psql -X -q -v ON_ERROR_STOP=1 -h "$XCHG_PG_HOST" -U xchg -d "$db" -f "$schema_pg" >/dev/null
	at "$runs/first" -u HOME -u XDG_CONFIG_HOME "$bin" init --code KEYS --plan "$plan" --master
	check "key folder: with no home and no XCHG_KEY_FILE, init is refused" test "$RC" -eq 2
	check "key folder: and says no file is named for the key" grep -q "no folder or file is named" <<<"$ERR"
	at "$runs/first" HOME="$home" XCHG_KEY_FILE="$W/named.key" "$bin" init --code KEYS --plan "$plan" --master
	eq "key folder: XCHG_KEY_FILE still names the key file" \
		"0|secret key: $W/named.key (keep it private; never send it)" "$RC|$(sed -n 2p <<<"$OUT")"
	check "key folder: and the key is there" test -f "$W/named.key"
	eq "key folder: nothing was left in the folder init ran in" "" "$(ls -A "$runs/first")"
	dropdb -h "$XCHG_PG_HOST" -U xchg "$db"
}

setup
scenario_dropped_connection
scenario_permission
scenario_missing_table
scenario_key_folder
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" -eq 0 ]
