#!/usr/bin/env bash
# Per-node subsets and integer references (formats/PLAN.md, "Subsets" and
# "Integer references"), on the construction example: estimates, works and
# daily reports carry a site; works reference estimates, reports brigades,
# and report lines works, each by local integer id. D1 is site A's office,
# D2 site B's. Each office must hold exactly its site's rows plus the shared
# ones, every reference must point at the right local row, rows moved
# between sites must follow, and foreign keys must hold everywhere.
E2E_NAME=subsets
. "$(dirname "$0")/lib.bash"
SH=$W/shared
mkdir -p "$SH"
shared_star || { summary; exit 1; }
round() { star_round; star_round; }
# Local ids differ from node to node: references are compared through refs.
local_columns="id estimate_id brigade_id work_id"

# uuids NODE TABLE WHERE: the canonical uuids of TABLE's rows WHERE, sorted.
uuids() { sql "$1" "SELECT lower($(pick "$1" uuid 'uuid::text')) FROM $2 WHERE $3" | sort | tr '\n' ' '; }
# refs NODE TABLE COLUMN TARGET: "row uuid>target uuid" for every row of TABLE,
# COLUMN's local id followed to TARGET's row ("-" for NULL), sorted.
refs() {
	sql "$1" "SELECT lower($(pick "$1" t.uuid 't.uuid::text')) || '>' || coalesce(lower($(pick "$1" r.uuid 'r.uuid::text')), '-')
		FROM $2 t LEFT JOIN $4 r ON r.id = t.$3" | sort | tr '\n' ' '
}
# fk_clean NODE: no row of NODE breaks a foreign key.
fk_clean() {
	local out
	if is_pg "$1"; then
		out=$(sql "$1" "SELECT count(*) FROM works w WHERE estimate_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM estimates e WHERE e.id = w.estimate_id)")
		[ "$out" = 0 ]
	else
		out=$(sql "$1" "PRAGMA foreign_key_check") && [ -z "$out" ]
	fi
}
# only_sites NODE SITES: NODE's estimates, works and reports are those of SITES and the shared ones.
only_sites() {
	local t w
	for t in estimates works daily_reports; do
		w=$(sql "$1" "SELECT count(*) FROM $t WHERE site IS NOT NULL AND site NOT IN ($2)")
		[ "$w" = 0 ] || { echo "$1 holds $w rows of $t outside ($2)"; return 1; }
	done
}

# The plan's new members are checked like the rest, on a node of their own.
load_schema d3
sql d3 "CREATE TABLE specs (a TEXT, b TEXT, PRIMARY KEY (a, b))"
plan_refused "a subset column the table lacks" d3 '.entities[1].subset_column = "region"' \
	'table "estimates" has no column "region" (subset_column)'
plan_refused "a subset column that does not travel" d3 '.entities[1].subset_column = "id"' \
	'"subset_column": "id" does not travel'
plan_refused "a reference to no entity of the plan" d3 '.entities[2].references.estimate_id = "Budget"' \
	'"estimate_id" names "Budget", which is no entity type of the plan'
plan_refused "a reference column the table lacks" d3 '.entities[2].references = {"budget_id": "Estimate"}' \
	'table "works" has no column "budget_id" (references)'
plan_refused "a local column as a reference" d3 '.entities[2].references = {"id": "Estimate"}' \
	'"id" does not travel as data'
plan_refused "a reference to a table without a one-column key" d3 \
	'.entities[2].references = {"estimate_id": "Spec"} | .entities += [{"type": "Spec", "table": "specs"}]' \
	'table "specs" has no primary key of one column'
# Listed after the rows that reference them, entities still travel first.
jq '.entities |= ([.[1]] + [.[0]] + .[2:] | reverse)' "$plan" >"$W/reversed.json"
check "a plan listing referenced entities last is taken" x d3 init --code D3 --plan "$W/reversed.json"

x center node set D1 --subset A
check "the center gives D1 subset A" test $RC = 0
x center node set D2 --subset "B"
x center status --json
eq "status shows D1's subset" '["A"]' "$(jq -c '.peers[] | select(.code == "D1") | .subset' <<<"$OUT")"
eq "and D2's" '["B"]' "$(jq -c '.peers[] | select(.code == "D2") | .subset' <<<"$OUT")"
x d1 node set CENTER --subset A
eq "a desktop cannot give the center a subset" 2 "$RC"
check "and says the center holds every row" has "$ERR" "holds every row"

# The center's rows: two brigades (shared), estimates of A, B and none, works
# referencing estimates (one across sites), a report of A with lines.
sql center "
INSERT INTO brigades (name) VALUES ('Brigade 1'), ('Brigade 2');
INSERT INTO estimates (number, site) VALUES ('E-A', 'A'), ('E-B', 'B'), ('E-S', NULL);
INSERT INTO works (name, site, estimate_id) VALUES
  ('W-A1', 'A', (SELECT id FROM estimates WHERE number = 'E-A')),
  ('W-B1', 'B', (SELECT id FROM estimates WHERE number = 'E-B')),
  ('W-X', 'B', (SELECT id FROM estimates WHERE number = 'E-A')),
  ('W-S', NULL, (SELECT id FROM estimates WHERE number = 'E-S'));
INSERT INTO daily_reports (report_date, site, brigade_id, author) VALUES
  ('2026-12-01', 'A', (SELECT id FROM brigades WHERE name = 'Brigade 2'), 'R-A');"
ra=$(uuid_of center daily_reports "author = 'R-A'")
sql center "INSERT INTO daily_report_lines (report_uuid, work_id, volume) VALUES
  ('$ra', (SELECT id FROM works WHERE name = 'W-A1'), 1.5),
  ('$ra', (SELECT id FROM works WHERE name = 'W-S'), 2.5);"
# Desktops' own rows, with references to rows they received... next round.
round
check "D1 holds only site A's rows and the shared ones" only_sites d1 "'A'"
check "D2 holds only site B's rows and the shared ones" only_sites d2 "'B'"
eq "D1's estimates: E-A and E-S" "$(uuids center estimates "number IN ('E-A', 'E-S')")" "$(uuids d1 estimates 1=1)"
eq "D2's works: W-B1, W-X and W-S" "$(uuids center works "name IN ('W-B1', 'W-X', 'W-S')")" "$(uuids d2 works 1=1)"
eq "D1 has both brigades" 2 "$(sql d1 'SELECT count(*) FROM brigades')"
eq "D2 has both brigades" 2 "$(sql d2 'SELECT count(*) FROM brigades')"
eq "D1's works point at its own estimate rows" "$(refs center works estimate_id estimates | tr ' ' '\n' | grep -F -e "$(uuids center works "name = 'W-A1'" | tr -d ' ')" -e "$(uuids center works "name = 'W-S'" | tr -d ' ')" | tr '\n' ' ')" "$(refs d1 works estimate_id estimates)"
xa=$(uuid_of center works "name = 'W-X'")
eq "a reference to a row outside D2's subset is NULL there" "" "$(sql d2 "SELECT estimate_id FROM works WHERE uuid = '$xa'")"
eq "D1's report points at Brigade 2" "Brigade 2" "$(sql d1 "SELECT b.name FROM daily_reports r JOIN brigades b ON b.id = r.brigade_id")"
eq "the report's lines point at D1's works" "1.5|W-A1 2.5|W-S " "$(sql d1 "SELECT l.volume || '|' || w.name FROM daily_report_lines l JOIN works w ON w.id = l.work_id ORDER BY l.volume" | tr '\n' ' ')"
eq "D2 has no report" 0 "$(sql d2 'SELECT count(*) FROM daily_reports')"

# Edits on the desktops, with references by their own local ids.
sql d1 "INSERT INTO works (name, site, estimate_id) VALUES ('W-A2', 'A', (SELECT id FROM estimates WHERE number = 'E-A'));"
sql d2 "INSERT INTO works (name, site, estimate_id) VALUES ('W-B2', 'B', (SELECT id FROM estimates WHERE number = 'E-B'));
UPDATE works SET name = 'W-X edited at D2' WHERE name = 'W-X';"
round
eq "D1's work arrives at the center pointing at E-A" "E-A" "$(sql center "SELECT e.number FROM works w JOIN estimates e ON e.id = w.estimate_id WHERE w.name = 'W-A2'")"
eq "D2's work arrives pointing at E-B" "E-B" "$(sql center "SELECT e.number FROM works w JOIN estimates e ON e.id = w.estimate_id WHERE w.name = 'W-B2'")"
eq "an edit at D2 of a row whose reference D2 cannot resolve keeps the reference" "E-A" "$(sql center "SELECT e.number FROM works w JOIN estimates e ON e.id = w.estimate_id WHERE w.name = 'W-X edited at D2'")"
eq "D2 did not receive D1's work" 0 "$(sql d2 "SELECT count(*) FROM works WHERE name = 'W-A2'")"
check "D1 still holds only A" only_sites d1 "'A'"
check "D2 still holds only B" only_sites d2 "'B'"

# A row moved between sites at the center leaves D1 and arrives whole at D2.
sql center "UPDATE daily_reports SET site = 'B' WHERE author = 'R-A'"
round
eq "the moved report left D1" 0 "$(sql d1 'SELECT count(*) FROM daily_reports')"
eq "and its lines" 0 "$(sql d1 'SELECT count(*) FROM daily_report_lines')"
eq "the move was not a delete at the center" 0 "$(sql center "SELECT count(*) FROM daily_reports WHERE is_deleted $(pick center '= 1' '')")"
eq "it arrived at D2" "R-A" "$(sql d2 'SELECT author FROM daily_reports')"
eq "with its lines" 2 "$(sql d2 'SELECT count(*) FROM daily_report_lines')"
eq "a line's reference to a work outside B is NULL at D2, the other resolved" "1.5| 2.5|W-S " "$(sql d2 "SELECT l.volume || '|' || coalesce(w.name, '') FROM daily_report_lines l LEFT JOIN works w ON w.id = l.work_id ORDER BY l.volume" | tr '\n' ' ')"
eq "its brigade reference resolved at D2" "Brigade 2" "$(sql d2 "SELECT b.name FROM daily_reports r JOIN brigades b ON b.id = r.brigade_id")"
eq "the center's report still points at Brigade 2" "Brigade 2" "$(sql center "SELECT b.name FROM daily_reports r JOIN brigades b ON b.id = r.brigade_id")"

# A row moved at a desktop: D2 gives W-B2 to site A.
sql d2 "UPDATE works SET site = 'A' WHERE name = 'W-B2'"
round
eq "the work D2 moved away left D2" 0 "$(sql d2 "SELECT count(*) FROM works WHERE name = 'W-B2'")"
eq "and arrived at D1" 1 "$(sql d1 "SELECT count(*) FROM works WHERE name = 'W-B2'")"
eq "its reference to E-B (not at D1) is NULL there" "" "$(sql d1 "SELECT estimate_id FROM works WHERE name = 'W-B2'")"
eq "and still E-B at the center" "E-B" "$(sql center "SELECT e.number FROM works w JOIN estimates e ON e.id = w.estimate_id WHERE w.name = 'W-B2'")"

# D1 now covers B as well: B's rows arrive, pending references resolve.
check "D1's subset grows to A,B" x center node set D1 --subset A,B
round
eq "D1 now holds B's report" "R-A" "$(sql d1 'SELECT author FROM daily_reports')"
eq "the pending reference of W-B2 resolved at D1" "E-B" "$(sql d1 "SELECT e.number FROM works w JOIN estimates e ON e.id = w.estimate_id WHERE w.name = 'W-B2'")"
eq "the report's line now points at W-A1 at D1" "1.5|W-A1 2.5|W-S " "$(sql d1 "SELECT l.volume || '|' || coalesce(w.name, '') FROM daily_report_lines l LEFT JOIN works w ON w.id = l.work_id ORDER BY l.volume" | tr '\n' ' ')"
same_tables "D1, covering every site, holds what the center holds" center d1
for r in "works estimate_id estimates" "daily_reports brigade_id brigades" "daily_report_lines work_id works"; do
	eq "every reference of $r agrees at D1 and the center" "$(refs center $r)" "$(refs d1 $r)"
done

check "D1's subset shrinks to B" x center node set D1 --subset B
round
check "D1 holds only B now" only_sites d1 "'B'"
eq "A's works left D1" 0 "$(sql d1 "SELECT count(*) FROM works WHERE site = 'A'")"
eq "and nothing was deleted at the center" 0 "$(sql center "SELECT count(*) FROM works WHERE is_deleted $(pick center '= 1' '')")"
check "D1's subset is every row again" x center node set D1 --subset ""
round
same_tables "D1 with every row holds what the center holds" center d1
x center status --json
eq "status says D1 receives every row" null "$(jq -c '.peers[] | select(.code == "D1") | .subset' <<<"$OUT")"

# An edit at D2 crossing the EVICT of its row: D2 keeps the row until its
# edit has reached the center, which alone decides (master-wins here).
sql center "UPDATE works SET site = 'A' WHERE name = 'W-B1'"
sql d2 "UPDATE works SET name = 'W-B1 edited at D2' WHERE name = 'W-B1'"
wb=$(uuid_of center works "name = 'W-B1'")
x center export --node D2 --out "$SH" && x d2 import "$SH"
eq "D2 keeps a row it edited while the row left its subset" 1 "$(sql d2 "SELECT count(*) FROM works WHERE name = 'W-B1 edited at D2'")"
up d2
eq "the center weighs D2's edit and keeps its own version" "W-B1|A" "$(sql center "SELECT name || '|' || site FROM works WHERE uuid = '$wb'")"
check "and logs D2's edit as the loser" has "$(sql center "SELECT losing_version FROM sync_conflicts WHERE entity_uuid = '$wb'")" "W-B1 edited at D2"
x center export --node D2 --out "$SH" && x d2 import "$SH"
eq "the row leaves D2 once its edit reached the center" 0 "$(sql d2 "SELECT count(*) FROM works WHERE uuid = '$wb'")"
eq "D2 decided nothing about it" 0 "$(sql d2 "SELECT count(*) FROM sync_conflicts WHERE entity_uuid = '$wb'")"
round
eq "it is at D1, which covers every row, as the center has it" "W-B1|A" "$(sql d1 "SELECT name || '|' || site FROM works WHERE uuid = '$wb'")"

# An application that gives a waiting reference an id, then takes it away, means NULL.
eq "W-X still waits at D2 for E-A" 1 "$(sql d2 "SELECT count(*) FROM sync_refs WHERE column_name = 'estimate_id'")"
sql d2 "UPDATE works SET estimate_id = (SELECT id FROM estimates WHERE number = 'E-B') WHERE name = 'W-X edited at D2';
UPDATE works SET estimate_id = NULL WHERE name = 'W-X edited at D2';"
round
eq "a reference the application set and then cleared is NULL at the center" "" \
	"$(sql center "SELECT estimate_id FROM works WHERE name = 'W-X edited at D2'")"

for n in center d1 d2; do check "$n: no foreign key is broken" fk_clean $n; done
no_sanitizer_reports "$W/all-stderr"
summary
[ "$fail" = 0 ]
