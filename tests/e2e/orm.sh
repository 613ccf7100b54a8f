#!/usr/bin/env bash
# An ordinary ORM application on the desktop: its tables exactly as
# SQLAlchemy 2's create_all makes them on SQLite (a uuid in CHAR(32) as 32
# hex digits, DATETIME as "YYYY-MM-DD HH:MM:SS.ffffff" without a zone,
# BOOLEAN, NUMERIC), written the way the ORM writes them, against a center
# in xchg's own forms (a SQLite center, or a PostgreSQL one with native uuid
# and timestamptz when XCHG_E2E_CENTER=pg). A uuid is one value whatever its
# spelling and a time an instant: one row per entity, every uuid and time in
# its column's own form at each end, the later edit winning under
# last-writer-wins, and conflicts found at both ends.
E2E_NAME=orm
. "$(dirname "$0")/lib.bash"

command -v python3 >/dev/null || { bad "tools" "python3 is not installed"; summary; exit 1; }

plan=$W/plan.json
cat >"$plan" <<'JSON'
{"schema_version": "1.0.0", "conflict_policy": "master-wins",
 "entities": [
  {"type": "Brigade", "table": "brigades"},
  {"type": "DailyReport", "table": "daily_reports", "conflict_policy": "last-writer-wins",
   "children": [{"name": "lines", "table": "daily_report_lines", "parent_column": "report_uuid"}]},
  {"type": "Note", "table": "notes",
   "column_forms": {"uuid": "uuid-hex", "noted_at": "YYYY-MM-DD HH:MM:SS"}}
 ]}
JSON
SH=$W/share
mkdir -p "$SH"

# What SQLAlchemy 2.0 emits for the models (Uuid, DateTime, Boolean, Numeric,
# a unique uuid beside an integer id) on SQLite, statement for statement. The
# notes table is a peewee-style one: hex uuids in a VARCHAR(40), seconds in a
# DATETIME; nothing in its declaration tells either, so the plan says it.
orm_schema() {
	sqlite3 -bail "$W/desk.db" "
CREATE TABLE brigades (
	id INTEGER NOT NULL, 
	uuid CHAR(32) NOT NULL, 
	name VARCHAR(100) NOT NULL, 
	foreman VARCHAR(100), 
	headcount INTEGER, 
	active BOOLEAN NOT NULL, 
	updated_at DATETIME NOT NULL, 
	is_deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (uuid)
);
CREATE TABLE daily_reports (
	id INTEGER NOT NULL, 
	uuid CHAR(32) NOT NULL, 
	report_date DATE NOT NULL, 
	brigade_uuid CHAR(32), 
	author VARCHAR(100), 
	notes TEXT, 
	submitted_at DATETIME, 
	total NUMERIC(12, 2), 
	updated_at DATETIME NOT NULL, 
	is_deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (uuid), 
	FOREIGN KEY(brigade_uuid) REFERENCES brigades (uuid)
);
CREATE TABLE daily_report_lines (
	id INTEGER NOT NULL, 
	uuid CHAR(32) NOT NULL, 
	report_uuid CHAR(32) NOT NULL, 
	hours NUMERIC(6, 2), 
	comment TEXT, 
	updated_at DATETIME NOT NULL, 
	is_deleted BOOLEAN NOT NULL, 
	PRIMARY KEY (id), 
	UNIQUE (uuid), 
	FOREIGN KEY(report_uuid) REFERENCES daily_reports (uuid)
);
CREATE TABLE notes (
	id INTEGER NOT NULL PRIMARY KEY, 
	uuid VARCHAR(40) NOT NULL, 
	body TEXT NOT NULL, 
	noted_at DATETIME NOT NULL, 
	updated_at DATETIME NOT NULL, 
	is_deleted BOOLEAN NOT NULL
);"
}

# The center's tables in xchg's own forms: init adds uuid, updated_at and
# is_deleted (text on SQLite, uuid and timestamptz on PostgreSQL).
center_schema() {
	if is_pg center; then
		sql center "
CREATE TABLE brigades (id BIGSERIAL PRIMARY KEY, name TEXT NOT NULL, foreman TEXT, headcount BIGINT,
	active BOOLEAN);
CREATE TABLE daily_reports (id BIGSERIAL PRIMARY KEY, report_date DATE NOT NULL, brigade_uuid UUID,
	author TEXT, notes TEXT, submitted_at TIMESTAMPTZ, total NUMERIC(12, 2));
CREATE TABLE daily_report_lines (id BIGSERIAL PRIMARY KEY, report_uuid UUID, hours DOUBLE PRECISION,
	comment TEXT);
CREATE TABLE notes (id BIGSERIAL PRIMARY KEY, body TEXT NOT NULL, noted_at TIMESTAMPTZ NOT NULL);"
	else
		sql center "
CREATE TABLE brigades (id INTEGER PRIMARY KEY, name TEXT NOT NULL, foreman TEXT, headcount INTEGER,
	active BOOLEAN);
CREATE TABLE daily_reports (id INTEGER PRIMARY KEY, report_date TEXT NOT NULL, brigade_uuid TEXT,
	author TEXT, notes TEXT, submitted_at TEXT, total TEXT);
CREATE TABLE daily_report_lines (id INTEGER PRIMARY KEY, report_uuid TEXT, hours REAL, comment TEXT);
CREATE TABLE notes (id INTEGER PRIMARY KEY, body TEXT NOT NULL, noted_at TEXT NOT NULL);"
	fi
}

# The forms, as GLOB patterns.
HEX=$(printf '[0-9a-f]%.0s' {1..32})
DASHED="${HEX:0:64}-${HEX:0:32}-${HEX:0:32}-${HEX:0:32}-${HEX:0:96}"
D='[0-9]'
DAY="$D$D$D$D-$D$D-$D$D"
SPACE6="$DAY $D$D:$D$D:$D$D.$D$D$D$D$D$D"
SPACE0="$DAY $D$D:$D$D:$D$D"
ISO3="${DAY}T$D$D:$D$D:$D$D.$D$D${D}Z"
ISO6="${DAY}T$D$D:$D$D:$D$D.$D$D$D$D$D${D}Z"

# What the ORM does: uuid.uuid4().hex, and the time now, naive UTC in its storage format.
new_hex() { python3 -c 'import uuid; print(uuid.uuid4().hex)'; }
orm_now() { python3 -c 'import datetime as d; print(d.datetime.now(d.timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f"))'; }
dashed() { printf '%s-%s-%s-%s-%s' "${1:0:8}" "${1:8:4}" "${1:12:4}" "${1:16:4}" "${1:20:12}"; }
hex() { printf '%s' "${1//-/}"; }
# The uuid NODE holds for a row, as 32 hex digits (the desktop's spelling).
hex_of() { hex "$(sql "$1" "SELECT uuid FROM $2 WHERE $3")"; }

setup() {
	orm_schema || { bad setup "the ORM's schema"; return 1; }
	center_schema || { bad setup "the center's schema"; return 1; }
	# The desktop application ran before xchg came: its forms are in its rows.
	sql desk "INSERT INTO brigades (uuid, name, foreman, headcount, active, updated_at, is_deleted)
		VALUES ('$(new_hex)', 'Site crew', NULL, 2, 1, '$(orm_now)', 0)"
	# Rows from before xchg: init gives them uuids and times in the center's forms.
	sql center "INSERT INTO brigades (name, foreman, headcount, active) VALUES
			('Concrete team', 'Ivanov', 6, $(pick center 1 true)),
			('Roofers', NULL, 3, $(pick center 0 false))"
	check "init the center" x center init --code CENTER --plan "$plan" --master
	check "init the ORM desktop" x desk init --code DESK --plan "$plan"
	check "the center registers the desktop" x center node add --key "$(xchg_on desk key)"
	check "the desktop registers the center" x desk node add --key "$(xchg_on center key)"
	sql desk "UPDATE brigades SET headcount = 2 WHERE name = 'Site crew'"
	eq "a change to a row from before xchg is captured canonical" "1" \
		"$(sql desk "SELECT count(*) FROM sync_capture WHERE entity_uuid GLOB '$DASHED' AND changed_at GLOB '$ISO3'")"
	sql center "INSERT INTO daily_reports (report_date, brigade_uuid, author, notes, submitted_at, total)
			SELECT '2026-11-30', uuid, 'Head office', 'poured the slab', '2026-11-30T16:05:00.250Z', 1234.50
			FROM brigades WHERE name = 'Concrete team';
		INSERT INTO daily_report_lines (report_uuid, hours, comment)
			SELECT uuid, 4.5, 'formwork' FROM daily_reports;
		INSERT INTO daily_report_lines (report_uuid, hours, comment)
			SELECT uuid, 3, 'pour' FROM daily_reports;
		INSERT INTO notes (body, noted_at) VALUES ('site opened', '2026-11-29T06:00:00Z')"
}

# One packet each way: the center to the desktop, then back.
center_to_desk() {
	x center export --node DESK --out "$SH" || bad "the center exports" "$ERR"
	x desk import "$SH" || bad "the desktop imports" "$ERR"
}
desk_to_center() {
	x desk export --node CENTER --out "$SH" || bad "the desktop exports" "$ERR"
	x center import "$SH" || bad "the center imports" "$ERR"
}
round() { center_to_desk; desk_to_center; center_to_desk; }
# Crossing packets: each side exports before it sees the other's, so both
# hold a registration of an entity edited at both ends, and both decide.
cross() {
	x center export --node DESK --out "$SH" || bad "the center exports" "$ERR"
	x desk export --node CENTER --out "$SH" || bad "the desktop exports" "$ERR"
	x desk import "$SH" || bad "the desktop imports" "$ERR"
	x center import "$SH" || bad "the center imports" "$ERR"
	round
}

# canon KINDS DIGITS: rows on stdin (fields by '|') in one text whatever the
# node's forms, sorted: u a uuid (canonical), t a time (UTC, cut to DIGITS
# fraction digits; T to whole seconds), n a number, b a boolean, s text;
# "NULL" for nothing.
canon() {
	python3 -c '
import sys, uuid, datetime as dt
kinds, digits = sys.argv[1], int(sys.argv[2])
def one(k, v):
    if v == "":
        return "NULL"
    try:
        if k == "u":
            return str(uuid.UUID(v))
        if k in "tT":
            t = dt.datetime.fromisoformat(v.replace("Z", "+00:00"))
            t = t.replace(tzinfo=dt.timezone.utc) if t.tzinfo is None else t.astimezone(dt.timezone.utc)
            return t.strftime("%Y-%m-%dT%H:%M:%S.") + ("%06d" % t.microsecond)[:digits if k == "t" else 0]
        if k == "n":
            return repr(float(v))
        if k == "b":
            return {"t": "1", "f": "0", "true": "1", "false": "0"}.get(v, v)
    except ValueError:
        return "NOT-A-%s:%s" % (k, v)
    return v
rows = ["|".join(one(k, v) for k, v in zip(kinds, line.split("|"))) for line in sys.stdin.read().splitlines()]
print("\n".join(sorted(rows)))
' "$1" "$2"
}

# Each table's columns and their kinds, in canon's letters.
declare -A shape=(
	[brigades]="uuid name foreman headcount active updated_at is_deleted:ussnbtb"
	[daily_reports]="uuid report_date brigade_uuid author notes submitted_at total updated_at is_deleted:ususstntb"
	[daily_report_lines]="uuid report_uuid hours comment updated_at is_deleted:uunstb"
	[notes]="uuid body noted_at updated_at is_deleted:usTtb"
)
# The center keeps milliseconds in its text columns, microseconds in timestamptz.
digits=$(pick center 3 6)
values() { # values NODE TABLE: the table's rows in canon's text
	local cols=${shape[$2]%:*} kinds=${shape[$2]#*:}
	sql "$1" "SELECT $(printf '%s' "$cols" | tr ' ' ',') FROM $2" | canon "$kinds" "$digits"
}
# same_values NAME: the desktop and the center hold the same values, every table.
same_values() {
	local t a b diffs=""
	for t in brigades daily_reports daily_report_lines notes; do
		a=$(values center $t); b=$(values desk $t)
		[ "$a" == "$b" ] || diffs="$diffs $t: $(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -n 6 | tr '\n' ' ')"
	done
	if [ -z "$diffs" ]; then ok "$1"; else bad "$1" "$diffs"; fi
}
# in_form NAME NODE TABLE COLUMN GLOB: every non-NULL value of COLUMN matches GLOB.
in_form() {
	eq "$1" "0" "$(sql "$2" "SELECT count(*) FROM $3 WHERE $4 IS NOT NULL AND NOT ($4 GLOB '$5')")"
}
one_row_each() { # one_row_each NAME NODE: no entity is there twice under two spellings
	local t n
	for t in brigades daily_reports daily_report_lines notes; do
		n=$(sql "$2" "SELECT count(*) - count(DISTINCT lower(replace(uuid$(pick "$2" "" "::text"), '-', ''))) FROM $t")
		[ "$n" = 0 ] || { bad "$1" "$t holds $n rows twice"; return; }
	done
	ok "$1"
}

scenario_first_exchange() {
	local c r
	center_to_desk
	eq "the desktop holds the center's brigades, report and lines beside its own" "3 1 2 1" \
		"$(for t in brigades daily_reports daily_report_lines notes; do sql desk "SELECT count(*) FROM $t"; done | paste -sd' ')"
	c=$(hex_of center brigades "name = 'Concrete team'")
	eq "the ORM finds a center's row by its 32-digit uuid" "Concrete team|1" \
		"$(sql desk "SELECT name, active FROM brigades WHERE brigades.uuid = '$c'")"
	r=$(hex_of center daily_reports "author = 'Head office'")
	eq "and its report by the brigade's" "$r" "$(sql desk "SELECT uuid FROM daily_reports WHERE brigade_uuid = '$c'")"
	eq "and the lines by the report's" "2" "$(sql desk "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '$r'")"
	eq "a time in data arrives in the DATETIME's form" "2026-11-30 16:05:00.250000" \
		"$(sql desk "SELECT submitted_at FROM daily_reports")"
	check "the packet carries uuids and times canonical" jq -e '
		([.body.entities[] | .uuid | test("^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")] | all)
		and ([.body.entities[] | .updated_at | test("^[0-9-]{10}T[0-9:]{8}[.][0-9]{3}([0-9]{3})?Z$")] | all)' \
		<(unzip -p "$(ls -t "$SH"/pkt_CENTER_DESK_*.zip | head -n 1)" message.json)
	desk_to_center
	same_values "after the first exchange both hold the same values"
}

scenario_made_at_the_desktop() {
	local b r l1 l2 now
	b=$(new_hex) r=$(new_hex) l1=$(new_hex) l2=$(new_hex) now=$(orm_now)
	# session.add(Brigade(...)); session.add(DailyReport(..., lines=[...])); session.commit()
	sql desk "INSERT INTO brigades (uuid, name, foreman, headcount, active, updated_at, is_deleted)
			VALUES ('$b', 'Max brigade', 'Petrov', 4, 1, '$now', 0);
		INSERT INTO daily_reports (uuid, report_date, brigade_uuid, author, notes, submitted_at, total,
			updated_at, is_deleted)
			VALUES ('$r', '2026-12-01', '$b', 'Site engineer', 'three lines', '2026-12-01 17:30:00.123456',
				99.5, '$now', 0);
		INSERT INTO daily_report_lines (uuid, report_uuid, hours, comment, updated_at, is_deleted)
			VALUES ('$l1', '$r', 8, 'digging', '$now', 0), ('$l2', '$r', 2.25, 'cleanup', '$now', 0)"
	desk_to_center
	eq "the center holds the desktop's brigade under its uuid" "Max brigade|4" \
		"$(sql center "SELECT name, headcount FROM brigades WHERE uuid = '$(dashed "$b")'")"
	eq "and its report with both lines" "2" \
		"$(sql center "SELECT count(*) FROM daily_report_lines WHERE report_uuid = '$(dashed "$r")'")"
	# The center's application edits the row the desktop made.
	sql center "UPDATE brigades SET headcount = 7 WHERE uuid = '$(dashed "$b")'"
	center_to_desk
	eq "a row made at the desktop and edited at the center is one row there" "1|7" \
		"$(sql desk "SELECT count(*), max(headcount) FROM brigades WHERE name = 'Max brigade'")"
	eq "under the ORM's uuid" "7" "$(sql desk "SELECT headcount FROM brigades WHERE uuid = '$b'")"
	desk_to_center
	same_values "both hold the same values after edits at both ends"
}

scenario_child_lines() {
	local r l now pkt
	r=$(hex_of center daily_reports "author = 'Head office'")
	l=$(new_hex) now=$(orm_now)
	# report.lines.append(DailyReportLine(...)); session.commit()
	sql desk "INSERT INTO daily_report_lines (uuid, report_uuid, hours, comment, updated_at, is_deleted)
		VALUES ('$l', '$r', 1.5, 'rebar check', '$now', 0)"
	x desk export --node CENTER --out "$SH" || bad "the desktop exports" "$ERR"
	pkt=$OUT
	check "a line added at the desktop sends its report as an UPDATE, not a DELETE" jq -e --arg r "$(dashed "$r")" '
		[.body.entities[] | select(.uuid == $r)] | length == 1 and .[0].operation == "UPDATE"
		and (.[0].data.lines | length) == 3
		and ([.[0].data.lines[].uuid | test("^[0-9a-f]{8}-")] | all)
		and ([.[0].data.lines[].updated_at | test("T.*Z$")] | all)' <(unzip -p "$pkt" message.json)
	x center import "$SH" || bad "the center imports" "$ERR"
	eq "the report is not deleted at the center, and has the added line" "0|3" \
		"$(sql center "SELECT $(norm center bool is_deleted), (SELECT count(*) FROM daily_report_lines l
			WHERE l.report_uuid = r.uuid) FROM daily_reports r WHERE uuid = '$(dashed "$r")'" | tr -d "'")"
	# session.delete(line); session.commit()
	sql desk "DELETE FROM daily_report_lines WHERE uuid = '$l'"
	desk_to_center
	eq "a line removed at the desktop is removed at the center, the report kept" "0|2" \
		"$(sql center "SELECT $(norm center bool is_deleted), (SELECT count(*) FROM daily_report_lines l
			WHERE l.report_uuid = r.uuid) FROM daily_reports r WHERE uuid = '$(dashed "$r")'" | tr -d "'")"
	# The center's application changes a line of the report: the desktop's lines follow.
	sql center "UPDATE daily_report_lines SET hours = 5 WHERE comment = 'formwork'"
	center_to_desk
	eq "a line edited at the center reaches the desktop, the rest kept" "5|3" \
		"$(sql desk "SELECT group_concat(hours, '|') FROM (SELECT hours FROM daily_report_lines
			WHERE report_uuid = '$r' ORDER BY comment)")"
	same_values "both hold the same lines"
}

scenario_delete() {
	local b r
	b=$(hex_of desk brigades "name = 'Max brigade'")
	r=$(hex_of desk daily_reports "notes = 'three lines'")
	# The application deletes as its schema says: is_deleted, and the time.
	sql desk "UPDATE daily_reports SET is_deleted = 1, updated_at = '$(orm_now)' WHERE uuid = '$r'"
	sql center "UPDATE brigades SET is_deleted = $(pick center 1 true) WHERE uuid = '$(dashed "$b")'"
	round
	eq "a report deleted at the desktop is deleted at the center" "1" \
		"$(sql center "SELECT $(norm center bool is_deleted) FROM daily_reports WHERE uuid = '$(dashed "$r")'" | tr -d "'")"
	eq "a brigade deleted at the center is deleted at the desktop, one row" "1|1" \
		"$(sql desk "SELECT count(*), max(is_deleted) FROM brigades WHERE uuid = '$b'")"
	same_values "both hold the same deletes"
}

# conflict_logged NAME UUID: both ends logged a conflict on the entity (canonical uuid).
conflict_logged() {
	eq "$1" "1 1" "$(for n in center desk; do
		sql $n "SELECT count(*) > 0 FROM sync_conflicts WHERE entity_uuid = '$2'" | sed 's/^t$/1/; s/^f$/0/'
	done | paste -sd' ')"
}

scenario_conflicts() {
	local b r
	# master-wins, on a row the desktop made: the center's edit wins at both ends.
	b=$(hex_of desk brigades "name = 'Max brigade'")
	sql center "UPDATE brigades SET is_deleted = $(pick center 0 false), foreman = 'center''s choice',
		updated_at = '2026-12-02T07:14:03.202Z' WHERE uuid = '$(dashed "$b")'"
	round
	sql desk "UPDATE brigades SET foreman = 'desk''s choice', updated_at = '2026-12-02 07:14:05.000000'
		WHERE id = (SELECT id FROM brigades WHERE uuid = '$b')"
	sql center "UPDATE brigades SET foreman = 'center again', updated_at = '2026-12-02T07:14:04.000Z'
		WHERE uuid = '$(dashed "$b")'"
	cross
	eq "master-wins: the center's edit wins at both ends" "center again|center again" \
		"$(sql center "SELECT foreman FROM brigades WHERE uuid = '$(dashed "$b")'")|$(sql desk "SELECT foreman FROM brigades WHERE uuid = '$b'")"
	conflict_logged "master-wins: the conflict on a row made at the desktop is found at both ends" "$(dashed "$b")"
	eq "and the desktop still holds it once" "1" "$(sql desk "SELECT count(*) FROM brigades WHERE foreman = 'center again'")"

	# last-writer-wins, the desktop later though its text sorts first.
	r=$(hex_of center daily_reports "author = 'Head office'")
	sql center "UPDATE daily_reports SET notes = 'center at :03', updated_at = '2026-12-02T07:14:03.202Z'
		WHERE uuid = '$(dashed "$r")'"
	sql desk "UPDATE daily_reports SET notes = 'desk at :05', updated_at = '2026-12-02 07:14:05.000000'
		WHERE uuid = '$r'"
	cross
	eq "last-writer-wins: the later edit wins though '2026-12-02 07:14:05' sorts before '2026-12-02T07:14:03.202Z'" \
		"desk at :05|desk at :05" \
		"$(sql center "SELECT notes FROM daily_reports WHERE uuid = '$(dashed "$r")'")|$(sql desk "SELECT notes FROM daily_reports WHERE uuid = '$r'")"
	eq "and the winner's time is the instant it was made, in each column's form" \
		"$(pick center 2026-12-02T07:14:05.000Z '2026-12-02 07:14:05+00')|2026-12-02 07:14:05.000000" \
		"$(sql center "SELECT updated_at FROM daily_reports WHERE uuid = '$(dashed "$r")'")|$(sql desk "SELECT updated_at FROM daily_reports WHERE uuid = '$r'")"
	conflict_logged "last-writer-wins: the conflict is found at both ends" "$(dashed "$r")"

	# last-writer-wins, the center later by a microsecond (at a PostgreSQL
	# center, written with an offset).
	sql center "UPDATE daily_reports SET notes = 'center later',
		updated_at = '$(pick center 2026-12-02T08:00:00.001Z 2026-12-02T09:00:00.001+01:00)'
		WHERE uuid = '$(dashed "$r")'"
	sql desk "UPDATE daily_reports SET notes = 'desk earlier', updated_at = '2026-12-02 08:00:00.000999'
		WHERE uuid = '$r'"
	cross
	eq "last-writer-wins: the center's later edit wins at both ends" "center later|center later" \
		"$(sql center "SELECT notes FROM daily_reports WHERE uuid = '$(dashed "$r")'")|$(sql desk "SELECT notes FROM daily_reports WHERE uuid = '$r'")"
	same_values "after the conflicts both hold the same values"
}

scenario_triggers() {
	local b
	# A write outside the ORM (the sqlite3 shell) that leaves updated_at alone.
	b=$(hex_of desk brigades "name = 'Roofers'")
	sql desk "UPDATE brigades SET headcount = 9 WHERE uuid = '$b'"
	in_form "the desktop's trigger stamps updated_at in the DATETIME's form" desk brigades updated_at "$SPACE6"
	round
	eq "and the change travels" "9" "$(sql center "SELECT headcount FROM brigades WHERE uuid = '$(dashed "$b")'")"
	# The notes: the plan's forms, where nothing else could tell them.
	sql desk "INSERT INTO notes (uuid, body, noted_at, updated_at, is_deleted)
		VALUES ('$(new_hex)', 'crane arrived', '2026-12-02 09:15:42', '$(orm_now)', 0)"
	sql center "INSERT INTO notes (body, noted_at) VALUES ('inspection', '2026-12-02T10:00:00.900Z')"
	round
	in_form "the plan's uuid-hex form holds at the desktop" desk notes uuid "$HEX"
	in_form "the plan's time form holds at the desktop" desk notes noted_at "$SPACE0"
	eq "a time cut to the form's seconds" "2026-12-02 10:00:00" \
		"$(sql desk "SELECT noted_at FROM notes WHERE body = 'inspection'")"
	if ! is_pg center; then
		in_form "and at the center, whose column is text too" center notes uuid "$HEX"
	fi
	same_values "both hold the same notes"
}

scenario_plan_rules() {
	plan_refused "a form for a column the table lacks" desk '.entities[2].column_forms.nosuch = "uuid"' \
		'table "notes" has no column "nosuch" (column_forms)'
	plan_refused "a form it does not know" desk '.entities[2].column_forms.uuid = "dashed"' \
		'"uuid" must be text, uuid, uuid-hex, UUID, UUID-HEX'
	# Run again, init reads the forms from the rows and renews the triggers alike.
	check "init runs again at the center" x center init --code CENTER --plan "$plan" --master
	check "init runs again at the desktop" x desk init --code DESK --plan "$plan"
	sql desk "UPDATE daily_report_lines SET comment = 'pour, checked' WHERE comment = 'pour'"
	sql center "INSERT INTO brigades (name, active) VALUES ('Painters', $(pick center 1 true))"
	round
	eq "edits travel after init ran again" "pour, checked|1" \
		"$(sql center "SELECT comment FROM daily_report_lines WHERE comment LIKE 'pour%'")|$(sql desk "SELECT count(*) FROM brigades WHERE name = 'Painters'")"
}

scenario_forms_at_the_end() {
	local t
	for t in brigades daily_reports daily_report_lines; do
		in_form "desktop $t.uuid: 32 lower-case hex digits" desk $t uuid "$HEX"
		in_form "desktop $t.updated_at: YYYY-MM-DD HH:MM:SS.ffffff" desk $t updated_at "$SPACE6"
	done
	in_form "desktop daily_reports.brigade_uuid: 32 hex digits" desk daily_reports brigade_uuid "$HEX"
	in_form "desktop daily_report_lines.report_uuid: 32 hex digits" desk daily_report_lines report_uuid "$HEX"
	in_form "desktop daily_reports.submitted_at: the DATETIME's form" desk daily_reports submitted_at "$SPACE6"
	eq "desktop booleans stay 0 and 1" "0" \
		"$(sql desk "SELECT count(*) FROM brigades WHERE active NOT IN (0, 1) OR is_deleted NOT IN (0, 1)")"
	if ! is_pg center; then
		for t in brigades daily_reports daily_report_lines; do
			in_form "center $t.uuid: canonical, with dashes" center $t uuid "$DASHED"
			in_form "center $t.updated_at: xchg's ISO form with milliseconds" center $t updated_at "$ISO3"
		done
		in_form "center daily_report_lines.report_uuid: with dashes" center daily_report_lines report_uuid "$DASHED"
		eq "center daily_reports.submitted_at: canonical as it travelled" "0" \
			"$(sql center "SELECT count(*) FROM daily_reports WHERE NOT (submitted_at GLOB '$ISO3' OR submitted_at GLOB '$ISO6')")"
	fi
	one_row_each "the desktop holds one row per entity" desk
	one_row_each "the center holds one row per entity" center
	same_values "the desktop and the center hold the same values"
	eq "nothing is left to send" "0 0" \
		"$(for n in center desk; do sql $n "SELECT count(*) FROM sync_changes WHERE packet_no IS NULL"; done | paste -sd' ')"
	eq "registrations and the conflict log hold canonical uuids" "0 0" \
		"$(for n in center desk; do sql $n "SELECT count(*) FROM (SELECT entity_uuid FROM sync_changes
			UNION ALL SELECT entity_uuid FROM sync_conflicts) u WHERE
			$(pick $n "entity_uuid NOT GLOB '$DASHED'" "entity_uuid !~ '^[0-9a-f]{8}(-[0-9a-f]{4}){3}-[0-9a-f]{12}\$'")"
		done | paste -sd' ')"
	no_sanitizer_reports "$W/all-stderr"
}

if setup; then
	scenario_first_exchange
	scenario_made_at_the_desktop
	scenario_child_lines
	scenario_delete
	scenario_conflicts
	scenario_triggers
	scenario_plan_rules
	scenario_forms_at_the_end
fi
summary
[ "$fail" -eq 0 ]
