# Helpers shared by the end-to-end scripts; sourced, never run (tests/run runs
# tests/e2e/*.sh only). It makes the temporary folder W, checks the binary
# ($XCHG_BIN, default build/xchg) and the tools, and gives every node a
# database: a SQLite file $W/NODE.db, except the node named "center" when
# XCHG_E2E_CENTER=pg, which is a fresh PostgreSQL database on the test server
# whose socket folder is $XCHG_PG_HOST (tests/run starts one; by hand:
# d=$(mktemp -d) && tests/pg-server start $d && export XCHG_PG_HOST=$d).
# Scenarios say `x NODE ARGS` and `sql NODE SQL` and never care which it is;
# where SQL itself differs, `pick NODE SQLITE_FORM PG_FORM` chooses.
#   usage, at the top of a script:  E2E_NAME=exchange; . "$(dirname "$0")/lib.bash"

e2e_here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$e2e_here/../.." && pwd)
plan=$root/examples/construction/plan.json
schema=$root/examples/construction/schema.sql
schema_pg=$root/examples/construction/schema.pg.sql
pass=0 fail=0

ok() { pass=$((pass + 1)); printf 'ok - %s\n' "$1"; }
bad() { fail=$((fail + 1)); printf 'FAIL - %s: %s\n' "$1" "$2"; }
summary() { printf '%d passed, %d failed\n' "$pass" "$fail"; }

# check NAME CMD...: passes when CMD succeeds; on failure shows its output.
check() {
	local name=$1 out; shift
	if out=$("$@" 2>&1); then ok "$name"; else bad "$name" "'$*' failed${out:+: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')}"; fi
}
# eq NAME EXPECTED ACTUAL
eq() {
	if [ "$2" == "$3" ]; then ok "$1"; else bad "$1" "expected [$2], got [$3]"; fi
}
has() { grep -qF -- "$2" <<<"$1"; } # has TEXT NEEDLE

center_backend=${XCHG_E2E_CENTER:-sqlite}
case $center_backend in
sqlite | pg) ;;
*) bad "backend" "XCHG_E2E_CENTER must be sqlite or pg, not '$center_backend'"; summary; exit 1 ;;
esac

bin=${XCHG_BIN:-$root/build/xchg}
case $bin in /*) ;; *) bin=$PWD/$bin ;; esac
if [ ! -x "$bin" ]; then
	bad "binary" "$bin is not an executable; run 'make build/xchg' or set XCHG_BIN"
	summary; exit 1
fi
e2e_tools="sqlite3 jq zip unzip od dd"
[ "$center_backend" = pg ] && e2e_tools="$e2e_tools psql createdb"
for tool in $e2e_tools; do
	command -v "$tool" >/dev/null || { bad "tools" "$tool is not installed"; summary; exit 1; }
done
if [ "$center_backend" = pg ] && [ -z "${XCHG_PG_HOST:-}" ]; then
	bad "PostgreSQL" "XCHG_PG_HOST is not set: run this through tests/run, or start a server with
	d=\$(mktemp -d) && tests/pg-server start \$d && export XCHG_PG_HOST=\$d"
	summary; exit 1
fi

W=$(mktemp -d "${TMPDIR:-/tmp}/xchg-${E2E_NAME:-e2e}.XXXXXX")
unset XCHG_DB XCHG_KEY_FILE
# The center's database when it is PostgreSQL: made here, dropped at exit.
PGDB=xchg_${E2E_NAME:-e2e}_$$_$RANDOM
pg_center=0
e2e_cleanup() {
	[ $pg_center = 1 ] && psql -X -q -h "$XCHG_PG_HOST" -U xchg -d postgres \
		-c "DROP DATABASE IF EXISTS \"$PGDB\" WITH (FORCE)" >/dev/null 2>&1
	# XCHG_E2E_KEEP=1 leaves the nodes' folder for a look after a failure.
	[ "${XCHG_E2E_KEEP:-0}" = 1 ] && echo "kept: $W" >&2 || rm -rf "$W"
}
trap e2e_cleanup EXIT
if [ "$center_backend" = pg ]; then
	if ! out=$(createdb -h "$XCHG_PG_HOST" -U xchg "$PGDB" 2>&1); then
		bad "PostgreSQL" "createdb -h $XCHG_PG_HOST -U xchg $PGDB failed: $out"
		summary; exit 1
	fi
	pg_center=1
fi

# is_pg NODE: NODE's database is PostgreSQL.
is_pg() { [ $pg_center = 1 ] && [ "$1" = center ]; }
# pick NODE SQLITE_FORM PG_FORM: the form for NODE's database.
pick() { if is_pg "$1"; then printf '%s' "$3"; else printf '%s' "$2"; fi; }
# db_url NODE: what --db says for NODE.
db_url() {
	if is_pg "$1"; then printf '%s' "postgresql:///$PGDB?host=$XCHG_PG_HOST&user=xchg"; else printf '%s' "$W/$1.db"; fi
}

# xchg_on NODE ARGS...: runs xchg on NODE's database (the PostgreSQL center
# keeps its key file in W); output as the command leaves it.
xchg_on() {
	local node=$1; shift
	if is_pg "$node"; then XCHG_KEY_FILE=$W/$node.key "$bin" "$@" --db "$(db_url "$node")"
	else "$bin" "$@" --db "$(db_url "$node")"; fi
}
# x NODE ARGS...: runs xchg on NODE's database; leaves OUT, ERR and RC.
x() {
	local node=$1; shift
	xchg_on "$node" "$@" >"$W/.out" 2>"$W/.err"
	RC=$?
	OUT=$(cat "$W/.out"); ERR=$(cat "$W/.err")
	cat "$W/.err" >>"$W/all-stderr"
	return $RC
}
# psql_on: psql on the PostgreSQL center, unaligned, no headers, stopping at
# the first error; doubles print as %.15g (what SQLite's printf('%.15g') gives).
psql_on() {
	PGOPTIONS="-c extra_float_digits=0 -c DateStyle=ISO -c TimeZone=UTC" \
		psql -X -q -A -t -v ON_ERROR_STOP=1 -h "$XCHG_PG_HOST" -U xchg -d "$PGDB" "$@"
}
# sql NODE SQL: runs a script of statements; each SELECT's rows, fields by '|'.
# On SQLite it waits for a lock as an application would (a watcher may be writing).
sql() {
	if is_pg "$1"; then psql_on -f - <<<"$2"; else sqlite3 -bail -cmd ".timeout 10000" "$W/$1.db" "$2"; fi
}
# load_schema NODE: the construction tables, in NODE's flavour.
load_schema() {
	if is_pg "$1"; then psql_on -f "$schema_pg" >/dev/null; else sqlite3 -bail "$W/$1.db" <"$schema"; fi
}
# db_sum NODE: a digest of everything in NODE's database (a different word
# each time, and the error on stderr, when it cannot be read).
db_sum() {
	local out
	if is_pg "$1"; then
		out=$(psql_on -f - <<<"SELECT format('SELECT %L, x::text FROM %I x ORDER BY 2', tablename, tablename)
			FROM pg_tables WHERE schemaname = 'public' ORDER BY tablename \gexec")
	else out=$(sqlite3 -bail "$W/$1.db" .dump); fi || { echo "db_sum $1 failed" >&2; echo "unreadable-$RANDOM$RANDOM"; return 1; }
	sha256sum <<<"$out" | cut -c1-64
}
uuid_of() { sql "$1" "SELECT uuid FROM $2 WHERE $3"; }  # uuid_of NODE TABLE WHERE

# norm NODE KIND EXPR: SQL giving EXPR's value as the same text on either
# backend, NULL as NULL: text-like values (text, numeric, uuid, date,
# timestamps) quoted like SQLite's quote(); integers and booleans as digits;
# a double as %.15g, '~' and its 64 bits in hex, so equal means bit-equal.
# KIND: text, int, real, bool or ts. On SQLite every kind but real is quote(),
# so a value of the wrong type shows (7 is not '7').
norm() {
	local node=$1 kind=$2 e=$3
	if ! is_pg "$node"; then
		case $kind in
		real) printf "CASE typeof(%s) WHEN 'real' THEN printf('%%.15g', %s) || '~' || hex(ieee754_to_blob(%s)) ELSE quote(%s) END" "$e" "$e" "$e" "$e" ;;
		*) printf 'quote(%s)' "$e" ;;
		esac
		return
	fi
	case $kind in
	int) printf "coalesce((%s)::text, 'NULL')" "$e" ;;
	bool) printf "coalesce((%s)::int::text, 'NULL')" "$e" ;;
	real) printf "coalesce((%s)::float8::text || '~' || upper(encode(float8send((%s)::float8), 'hex')), 'NULL')" "$e" "$e" ;;
	ts) printf "coalesce('''' || to_char((%s) AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') || '''', 'NULL')" "$e" ;;
	*) printf "coalesce('''' || replace((%s)::text, '''', '''''') || '''', 'NULL')" "$e" ;;
	esac
}

# The synchronized tables, parents and children, in the plan's order.
tables=$(jq -r '.entities[] | .table, (.children // [] | .[].table)' "$plan")

# init_star: CENTER and desktops D1 and D2 made nodes with $plan, and each
# desktop and the center registered with the other.
init_star() {
	check "init center" x center init --code CENTER --plan "$plan" --master
	check "init D1" x d1 init --code D1 --plan "$plan"
	check "init D2" x d2 init --code D2 --plan "$plan"
	check "the center registers D1" x center node add --key "$(x d1 key; echo "$OUT")"
	check "the center registers D2" x center node add --key "$(x d2 key; echo "$OUT")"
	check "D1 registers the center" x d1 node add --key "$(x center key; echo "$OUT")"
	check "D2 registers the center" x d2 node add --key "$(x center key; echo "$OUT")"
}

# shared_star: the construction tables on center, d1 and d2, made a star
# (init_star) whose every link runs through the one folder $SH.
shared_star() {
	local n
	for n in center d1 d2; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	init_star
	x center node set D1 --dir "$SH"; x center node set D2 --dir "$SH"
	x d1 node set CENTER --dir "$SH"; x d2 node set CENTER --dir "$SH"
}
# link_state NODE PEER: the link's verdict in NODE's status --json, as state|reason
link_state() {
	x "$1" status --json
	jq -r ".peers[] | select(.code == \"$2\") | \"\(.state)|\(.reason)\"" <<<"$OUT"
}

# star_round: twice over, each desktop sends its packet to the center and
# takes the center's; then the center takes the last acknowledgements. $SH is
# the shared folder.
star_round() {
	local i n
	for i in 1 2; do
		for n in d1 d2; do
			up $n
			x center export --node "${n^^}" --out "$SH" || bad "export to $n" "$ERR"
			x $n import "$SH" || bad "$n imports" "$ERR"
		done
	done
	x center import "$SH" || bad "the center imports the acknowledgements" "$ERR"
}
# up NODE: NODE's packet to the center, imported there; the import's output in OUT.
up() {
	x "$1" export --node CENTER --out "$SH" || bad "$1 exports" "$ERR"
	x center import "$OUT" || bad "the center imports from $1" "$ERR"
}

# plan_refused NAME NODE JQ REASON: init on NODE with $plan edited by JQ
# exits 2 and says REASON.
plan_refused() {
	jq "$3" "$plan" >"$W/bad-plan.json"
	x "$2" init --code "${2^^}" --plan "$W/bad-plan.json"
	eq "init refuses $1" 2 "$RC"
	check "and says why" has "$ERR" "$4"
}

# Columns that stay on each node (formats/PLAN.md); a script whose plan names more sets this.
local_columns="id"
# columns NODE TABLE: "name|kind" for every column but the local ones, by name.
local_list() { printf "'%s'," $local_columns | sed 's/,$//'; }
columns() {
	if is_pg "$1"; then
		sql "$1" "SELECT a.attname || '|' || CASE
				WHEN t.typname IN ('int2', 'int4', 'int8') THEN 'int'
				WHEN t.typname IN ('float4', 'float8') THEN 'real'
				WHEN t.typname = 'bool' THEN 'bool'
				WHEN t.typname IN ('timestamp', 'timestamptz') THEN 'ts' ELSE 'text' END
			FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
			WHERE a.attrelid = '\"$2\"'::regclass AND a.attnum > 0 AND NOT a.attisdropped
			  AND a.attname NOT IN ($(local_list))
			ORDER BY a.attname COLLATE \"C\""
	else
		sql "$1" "SELECT name || '|' || CASE WHEN upper(type) LIKE '%INT%' THEN 'int'
				WHEN upper(type) LIKE '%REAL%' OR upper(type) LIKE '%FLOA%' OR upper(type) LIKE '%DOUB%' THEN 'real'
				ELSE 'text' END
			FROM pragma_table_info('$2') WHERE name NOT IN ($(local_list)) ORDER BY name"
	fi
}

# dump_tables NODE: every synchronized table, rows ordered by uuid, every
# column but the local ones, each value through norm: identical text for
# identical data, whichever backend holds it.
dump_tables() {
	local t col kind names exprs
	for t in $tables; do
		names="" exprs=""
		while IFS='|' read -r col kind; do
			names="$names${names:+|}$col"
			exprs="$exprs${exprs:+ || '|' || }$(norm "$1" "$kind" "\"$col\"")"
		done < <(columns "$1" "$t")
		echo "== $t: $names"
		sql "$1" "SELECT $exprs FROM \"$t\" ORDER BY $(pick "$1" uuid 'uuid::text COLLATE "C"')"
	done
}
# same_tables NAME NODE NODE: both nodes hold the same synchronized rows.
same_tables() {
	local a b
	a=$(dump_tables "$2"); b=$(dump_tables "$3")
	if [ "$a" == "$b" ]; then ok "$1"
	else bad "$1" "$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -n 8 | tr '\n' ' ')"; fi
}
# no_sanitizer_reports FILE: a check that no run wrote a sanitizer report into FILE.
no_sanitizer_reports() {
	if grep -qE 'ERROR: (Address|Leak)Sanitizer|runtime error:|Segmentation fault' "$1" 2>/dev/null; then
		bad "no sanitizer reports from any run" "$(grep -m 3 -E 'Sanitizer|runtime error' "$1" | tr '\n' ' ')"
	else ok "no sanitizer reports from any run"; fi
}
