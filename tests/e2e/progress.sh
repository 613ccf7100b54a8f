#!/usr/bin/env bash
# The progress line of a big export and import: on stderr, and only when
# stderr is a terminal (here a pseudo-terminal from script(1)); a packet
# that goes to a file, a pipe or a log gets none, and neither does a small
# one. The line is cleared at the end, so the usual output follows intact.
E2E_NAME=progress
. "$(dirname "$0")/lib.bash"
SH=$W/shared
mkdir -p "$SH"
command -v script >/dev/null || { bad tools "script (util-linux) is not installed"; summary; exit 1; }
load_schema center && load_schema d1 || { bad setup "schemas"; summary; exit 1; }
# Enough rows for a progress report (every 1,024 entities); the line waits
# for no second here (XCHG_PROGRESS_DELAY=0), but for its small packet.
sql center "WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < 60000)
	INSERT INTO brigades (name, foreman, headcount) SELECT 'Brigade ' || i, 'Foreman ' || (i % 97), i % 12 FROM s;"
x center init --code CENTER --plan "$plan" --master && x d1 init --code D1 --plan "$plan" ||
	{ bad setup "init: $ERR"; summary; exit 1; }
x d1 key; dk=$OUT
x center key; ck=$OUT
x center node add --code D1 --key "$dk" && x d1 node add --code CENTER --key "$ck" ||
	{ bad setup "node add: $ERR"; summary; exit 1; }

# on_tty OUTFILE NODE ARGS...: xchg on NODE with its stdin, stdout and stderr a terminal.
on_tty() {
	local out=$1 node=$2; shift 2
	script -qfec "$(printf '%q ' "$bin" "$@" --db "$(db_url "$node")")" /dev/null >"$out" 2>&1
}

export XCHG_PROGRESS_DELAY=0
on_tty "$W/export.tty" center export --node D1 --out "$SH"
eq "export on a terminal exits 0" 0 "$?"
check "and shows its progress" grep -qE 'export: [0-9]+ of ~[0-9]+ entities, [0-9]+/s, [0-9]+ s left' "$W/export.tty"
check "then clears the line before the packet's path" grep -qF $'\r\033[K'"$SH/pkt_CENTER_D1_1.zip" "$W/export.tty"
cp "$SH/pkt_CENTER_D1_1.zip" "$W/first.zip"
cp "$W/d1.db" "$W/d1-before.db"

on_tty "$W/import.tty" d1 import "$SH/pkt_CENTER_D1_1.zip"
eq "import on a terminal exits 0" 0 "$?"
check "and shows its progress, the total estimated" grep -qE 'import: [0-9]+ of ~[0-9]+ entities, [0-9]+/s' "$W/import.tty"
check "then says what it applied" grep -qF "packet 1 from CENTER, 60000 entities" "$W/import.tty"
eq "every row arrived" 60000 "$(sql d1 'SELECT count(*) FROM brigades')"

# Not a terminal: not a byte of progress.
cp "$W/d1-before.db" "$W/d1.db"
rm -f "$SH"/pkt_D1_*
x d1 import "$W/first.zip"
eq "import to a pipe exits 0" 0 "$RC"
eq "and writes nothing on stderr" "" "$ERR"
x center export --node D1 --out "$SH"
eq "export to a pipe writes nothing on stderr" "" "$ERR"
# A small packet on a terminal: done before a line would help.
unset XCHG_PROGRESS_DELAY
sql center "UPDATE brigades SET headcount = 1 WHERE name = 'Brigade 7'"
on_tty "$W/small.tty" center export --node D1 --out "$SH"
check "a small export on a terminal shows no progress" sh -c "! grep -q 'entities,' '$W/small.tty'"
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" = 0 ]
