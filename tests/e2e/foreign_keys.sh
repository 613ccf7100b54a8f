#!/usr/bin/env bash
# A packet applies with the application's foreign keys on, whatever order its
# entities come in (formats/PLAN.md, "Integer references"; PACKET.md rule 13).
# A center written in Python (tests/interop/xchgpkt.py) sends a desktop whose
# works also reference estimates by uuid (a foreign key the plan does not know)
# packets with the referencing rows first; references by local id resolve as
# their rows arrive, and an EVICT keeps them for the row's return.
E2E_NAME=foreign_keys
. "$(dirname "$0")/lib.bash"
pkt=$root/tests/interop/xchgpkt.py
SH=$W/shared
mkdir -p "$SH"
PY_SEED=$(printf '51%.0s' {1..32})
PY_ID=a0000000-0000-4000-8000-0000000000f1

py() { POUT=$(python3 "$pkt" "$@" 2>"$W/.perr"); PRC=$?; }
# send N FILE: the Python center writes packet N of FILE's entities to the desktop; the desktop imports it.
send() {
	py write --seed-hex "$PY_SEED" --code PYC --id "$PY_ID" --to-line "$DESK_LINE" --packet-no "$1" \
		--ack 0 --entities "$2" --out "$SH" || bad "Python writes packet $1" "$(cat "$W/.perr")"
	x desk import "$POUT"
}
# id_of TABLE UUID: the desktop's local id of the row.
id_of() { sql desk "SELECT id FROM $1 WHERE uuid = '$2'"; }

# An application whose works reference estimates by uuid has the uuid column already.
sed -e 's/^\testimate_uuid TEXT,$/\testimate_uuid TEXT REFERENCES estimates(uuid),/' \
	-e 's/^\tnumber TEXT NOT NULL,$/\tnumber TEXT NOT NULL,\n\tuuid TEXT UNIQUE,/' "$schema" | sqlite3 -bail "$W/desk.db"
eq "the desktop's works reference estimates by uuid too" 1 \
	"$(sql desk "SELECT count(*) FROM pragma_foreign_key_list('works') WHERE \"from\" = 'estimate_uuid'")"
check "init the desktop" x desk init --code DESK --plan "$plan"
x desk key; DESK_LINE=$OUT
py keyline --seed-hex "$PY_SEED" --code PYC --id "$PY_ID"
check "it registers the Python center" x desk node add --key "$POUT"

B=21000000-0000-4000-8000-000000000001 E=21000000-0000-4000-8000-000000000002
W1=21000000-0000-4000-8000-000000000003 R=21000000-0000-4000-8000-000000000004
L=21000000-0000-4000-8000-000000000005 W2=21000000-0000-4000-8000-000000000006
cat >"$W/p1.json" <<EOF2
[{"type": "DailyReport", "uuid": "$R", "operation": "INSERT", "updated_at": "2026-12-01T08:00:00.000Z",
  "data": {"report_date": "2026-12-01", "site": "A", "brigade_id": "$B",
           "lines": [{"uuid": "$L", "work_id": "$W1", "volume": 2.5}]}},
 {"type": "Work", "uuid": "$W1", "operation": "INSERT", "updated_at": "2026-12-01T08:00:00.000Z",
  "data": {"name": "Lay", "estimate_uuid": "$E", "estimate_id": "$E"}},
 {"type": "Estimate", "uuid": "$E", "operation": "INSERT", "updated_at": "2026-12-01T08:00:00.000Z",
  "data": {"number": "E-1"}},
 {"type": "Brigade", "uuid": "$B", "operation": "INSERT", "updated_at": "2026-12-01T08:00:00.000Z",
  "data": {"name": "Roofers"}}]
EOF2
send 1 "$W/p1.json"
eq "a packet with every referencing row first applies" 0 "$RC"
eq "all four rows are in" "1 1 1 1" "$(for t in brigades estimates works daily_reports; do sql desk "SELECT count(*) FROM $t"; done | tr '\n' ' ' | sed 's/ $//')"
eq "the work's local reference holds the estimate's id here" "$(id_of estimates "$E")" "$(sql desk "SELECT estimate_id FROM works WHERE uuid = '$W1'")"
eq "the report's holds the brigade's" "$(id_of brigades "$B")" "$(sql desk "SELECT brigade_id FROM daily_reports")"
eq "the line's holds the work's" "$(id_of works "$W1")" "$(sql desk "SELECT work_id FROM daily_report_lines")"
eq "nothing is left pending" 0 "$(sql desk 'SELECT count(*) FROM sync_refs')"
eq "no foreign key is broken" "" "$(sql desk 'PRAGMA foreign_key_check')"

# A row whose uuid foreign key finds no row, even after the rest of the packet, is refused alone.
cat >"$W/p2.json" <<EOF2
[{"type": "Work", "uuid": "$W2", "operation": "INSERT", "updated_at": "2026-12-01T09:00:00.000Z",
  "data": {"name": "Orphan", "estimate_uuid": "21000000-0000-4000-8000-0000000000ff"}},
 {"type": "Estimate", "uuid": "$E", "operation": "UPDATE", "updated_at": "2026-12-01T09:00:00.000Z",
  "data": {"number": "E-1b"}}]
EOF2
send 2 "$W/p2.json"
eq "a row the foreign key refuses does not stop the packet" 0 "$RC"
eq "the rest of it applied" "E-1b" "$(sql desk "SELECT number FROM estimates")"
eq "the refused row is not stored" 0 "$(sql desk "SELECT count(*) FROM works WHERE uuid = '$W2'")"
eq "it waits in the conflict log as refused" 1 "$(sql desk "SELECT count(*) FROM sync_conflicts WHERE kind = 'refused' AND entity_uuid = '$W2'")"
check "with the database's words" has "$(sql desk "SELECT reason FROM sync_conflicts WHERE entity_uuid = '$W2'")" "FOREIGN KEY"

# An EVICT removes the work; the line's reference waits for it, and comes back with it.
cat >"$W/p3.json" <<EOF2
[{"type": "Work", "uuid": "$W1", "operation": "EVICT", "updated_at": "2026-12-01T10:00:00.000Z", "data": null}]
EOF2
send 3 "$W/p3.json"
eq "an EVICT applies" 0 "$RC"
eq "the work is gone" 0 "$(sql desk "SELECT count(*) FROM works WHERE uuid = '$W1'")"
eq "and not as a delete: nothing goes back to the center" 0 "$(sql desk "SELECT count(*) FROM sync_changes")"
eq "the line that pointed at it holds NULL" "" "$(sql desk "SELECT work_id FROM daily_report_lines")"
eq "and waits for the work" "daily_report_lines|work_id|Work|$W1" "$(sql desk "SELECT table_name, column_name, target_type, target_uuid FROM sync_refs")"
x desk export --node PYC --out "$SH"
py read "$OUT" --key-line "$DESK_LINE" --json
cat >"$W/p4.json" <<EOF2
[{"type": "Work", "uuid": "$W1", "operation": "UPDATE", "updated_at": "2026-12-01T11:00:00.000Z",
  "data": {"name": "Lay again", "estimate_uuid": "$E", "estimate_id": "$E"}}]
EOF2
send 4 "$W/p4.json"
eq "the work is back" "Lay again" "$(sql desk "SELECT name FROM works WHERE uuid = '$W1'")"
eq "and the line points at it again" "$(id_of works "$W1")" "$(sql desk "SELECT work_id FROM daily_report_lines")"
eq "nothing is pending any more" 0 "$(sql desk 'SELECT count(*) FROM sync_refs')"
eq "no foreign key is broken at the end" "" "$(sql desk 'PRAGMA foreign_key_check')"
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" = 0 ]
