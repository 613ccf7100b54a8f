#!/usr/bin/env bash
# Regenerates the golden packets from fixed keys and fixed data:
#   formats/golden/make.sh [PATH-TO-xchg]
# The packets differ from run to run only in message_id, created_at (and the
# members' time) and the updated_at the triggers stamp; commit them once per
# format version, and keep them: the tests check that every later reader of
# that version still reads and verifies them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
xchg=$(realpath "${1:-$here/../../build/xchg}")
schema=$here/../../examples/construction/schema.sql
plan=$here/../../examples/construction/plan.json
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# A node whose key comes from a fixed seed and whose id is fixed, so the
# vectors name known keys and ids.
node() { # name seed-byte code id [--master]
	printf 'xchg-ed25519-secret:%s\n' "$(head -c 32 /dev/zero | tr '\0' "$2" | base64)" > "$work/$1.db.key"
	chmod 600 "$work/$1.db.key"
	sqlite3 "$work/$1.db" < "$schema"
	"$xchg" init --db "$work/$1.db" --code "$3" --plan "$plan" ${5:-} >/dev/null
	sqlite3 "$work/$1.db" "UPDATE sync_nodes SET id = '$4' WHERE is_self = 1"
}
center_id=c0000000-0000-4000-8000-000000000001
node center 'C' CENTER $center_id --master
node desk1 'D' DESKTOP-1 d0000000-0000-4000-8000-000000000001
node other 'X' CENTER $center_id --master # an impostor: the center's code and id, not its key

sqlite3 "$work/center.db" <<'SQL'
INSERT INTO brigades (name, foreman, headcount, uuid, updated_at)
VALUES ('Concrete team', 'Иванов "Big" \ Ivan', 9223372036854775807, '00000000-0000-4000-8000-000000000001', '2026-11-25T09:00:00.000Z'),
       ('Roofers', NULL, -9223372036854775808, '00000000-0000-4000-8000-000000000002', '2026-11-25T09:00:00.001Z');
INSERT INTO estimates (number, title, total, uuid, updated_at)
VALUES ('E-1', 'line one
line two	tabbed 🏗', '12345678901234.56', '00000000-0000-4000-8000-000000000003', '2026-11-25T09:00:00.002Z');
INSERT INTO works (estimate_uuid, code, name, unit, quantity, price, uuid, updated_at)
VALUES ('00000000-0000-4000-8000-000000000003', 'W-1', 'Pour', 'm3', 0.1, '8500.00', '00000000-0000-4000-8000-000000000004', '2026-11-25T09:00:00.003Z'),
       ('00000000-0000-4000-8000-000000000003', 'W-2', 'Strip', 'm2', 3.0, NULL, '00000000-0000-4000-8000-000000000005', '2026-11-25T09:00:00.004Z');
INSERT INTO daily_reports (report_date, brigade_uuid, author, notes, uuid, updated_at)
VALUES ('2026-11-25', '00000000-0000-4000-8000-000000000001', 'Site engineer', NULL, '00000000-0000-4000-8000-000000000006', '2026-11-25T09:00:00.005Z');
INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment, uuid, updated_at)
VALUES ('00000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-000000000004', 40.25, 8, 'first', '00000000-0000-4000-8000-000000000007', '2026-11-25T09:00:00.006Z'),
       ('00000000-0000-4000-8000-000000000006', '00000000-0000-4000-8000-000000000004', 1e300, NULL, 'second', '00000000-0000-4000-8000-000000000008', '2026-11-25T09:00:00.007Z');
SQL
"$xchg" node add --db "$work/center.db" --code DESKTOP-1 --key "$("$xchg" key --db "$work/desk1.db")" >/dev/null
"$xchg" node add --db "$work/other.db" --code DESKTOP-1 --key "$("$xchg" key --db "$work/desk1.db")" >/dev/null
sqlite3 "$work/center.db" "UPDATE works SET is_deleted = 1, updated_at = '2026-11-25T09:00:01.000Z' WHERE code = 'W-2';"

rm -f "$here"/*.zip "$here"/*.json "$here"/*.pub "$here"/*.sealed
# The sealed vector: the same packet 1, sealed to DESKTOP-1, from a copy of the center.
cp "$work/center.db" "$work/twin.db"
cp "$work/center.db.key" "$work/twin.db.key"
mkdir "$work/sealed"
sealed=$("$xchg" export --db "$work/twin.db" --node DESKTOP-1 --out "$work/sealed" --encrypt)
cp "$sealed" "$here/pkt_CENTER_DESKTOP-1_1.zip.sealed"
good=$("$xchg" export --db "$work/center.db" --node DESKTOP-1 --out "$work")
cp "$good" "$here/pkt_CENTER_DESKTOP-1_1.zip"
unzip -p "$good" message.json > "$here/pkt_CENTER_DESKTOP-1_1.message.json"
"$xchg" key --db "$work/center.db" > "$here/CENTER.pub"
"$xchg" key --db "$work/desk1.db" > "$here/DESKTOP-1.pub"

# Refusals: a packet that claims to come from CENTER but is signed by another key,
# cuts of the good one.
mkdir "$work/other"
bad=$("$xchg" export --db "$work/other.db" --node DESKTOP-1 --out "$work/other")
cp "$bad" "$here/bad-signature.zip"
head -c 200 "$good" > "$here/bad-truncated.zip"
echo "golden packets written to $here"
