#!/usr/bin/env bash
# The demo behind `make demo`: a center and two desktops, all on SQLite, in a
# temporary folder. Each side edits its data; packets travel through one
# shared folder; at the end every node holds the same data.
#   usage: demo.sh [PATH-TO-xchg]
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
xchg=$(realpath "${1:-$here/../../build/xchg}")
work=$(mktemp -d "${TMPDIR:-/tmp}/xchg-demo.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"
mkdir shared

say() { printf '\n== %s\n' "$*"; }
sql() { sqlite3 -bail "$1.db" "$2"; }
on() { local node=$1; shift; "$xchg" "$@" --db "$node.db"; }

say "three offices: CENTER (the web application's database) and two site desktops"
for n in center d1 d2; do sqlite3 "$n.db" < "$here/schema.sql"; done
sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('Concrete team', 'Ivanov', 6), ('Roofers', 'Petrova', 4);
            INSERT INTO estimates (number, title, total) VALUES ('E-2026-001', 'School, block A', '12345678901234.56');"
sql center "INSERT INTO works (estimate_uuid, code, name, unit, quantity, price) VALUES
            (NULL, 'W-01', 'Foundation pour', 'm3', 120.5, '8500.00'), (NULL, 'W-02', 'Roof membrane', 'm2', 900, '1250.50');"
on center init --code CENTER --name "Head office" --plan "$here/plan.json" --master
on d1 init --code DESKTOP-1 --name "Site 1" --plan "$here/plan.json"
on d2 init --code DESKTOP-2 --name "Site 2" --plan "$here/plan.json"
sql center "UPDATE works SET estimate_uuid = (SELECT uuid FROM estimates WHERE number = 'E-2026-001');"

say "exchanging public keys"
on center node add --code DESKTOP-1 --key "$(on d1 key)"
on center node add --code DESKTOP-2 --key "$(on d2 key)"
on d1 node add --code CENTER --key "$(on center key)"
on d2 node add --code CENTER --key "$(on center key)"

# One round: every desktop sends, the center takes everything in and answers.
round() {
	on d1 export --node CENTER --out shared >/dev/null
	on d2 export --node CENTER --out shared >/dev/null
	on center import shared
	on d1 import shared
	on d2 import shared
}

say "first packets: the center sends each desktop the whole database"
on center export --node DESKTOP-1 --out shared
on center export --node DESKTOP-2 --out shared
on d1 import shared
on d2 import shared

say "edits everywhere while offline"
sql d1 "INSERT INTO daily_reports (report_date, brigade_uuid, author, notes)
        VALUES ('2026-11-25', (SELECT uuid FROM brigades WHERE name = 'Concrete team'), 'Site 1 engineer', 'Pour finished; \"B25\" concrete');
        INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment)
        SELECT r.uuid, w.uuid, 40.25, 8, 'first 40 m3' FROM daily_reports r, works w WHERE w.code = 'W-01';"
sql d2 "UPDATE brigades SET headcount = 5 WHERE name = 'Roofers';
        INSERT INTO work_specifications (work_uuid, material, quantity, unit)
        SELECT uuid, 'PVC membrane 1.5 mm', 950, 'm2' FROM works WHERE code = 'W-02';"
sql center "UPDATE estimates SET total = '12345678999999.99' WHERE number = 'E-2026-001';
            UPDATE works SET is_deleted = 1 WHERE code = 'W-02';"

say "exchange rounds through the shared folder"
round
round

say "status at the center"
on center status

say "do all three agree?"
dump() {
	local t
	for t in brigades estimates works work_specifications daily_reports daily_report_lines; do
		sqlite3 "$1.db" "SELECT * FROM (SELECT * FROM $t) ORDER BY uuid" | cut -d'|' -f2- 
	done
}
dump center > center.txt; dump d1 > d1.txt; dump d2 > d2.txt
if cmp -s center.txt d1.txt && cmp -s center.txt d2.txt; then
	echo "converged: all three nodes hold the same $(wc -l < center.txt) rows"
else
	echo "NOT converged:"; diff center.txt d1.txt || true; diff center.txt d2.txt || true; exit 1
fi
