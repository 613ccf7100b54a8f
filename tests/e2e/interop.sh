#!/usr/bin/env bash
# End-to-end: xchg against a second implementation of the packet format,
# tests/interop/xchgpkt.py, written in Python from formats/PACKET.md alone.
# Python reads and verifies the golden packets and what xchg exports; Python
# acts as the center (as a web application would) and writes packets that
# the real binary ($XCHG_BIN, default build/xchg) imports; hostile packets
# are refused by both. Each check prints "ok - NAME" or "FAIL - NAME: detail";
# the last line is "N passed, M failed".
#   usage: XCHG_BIN=build/xchg bash tests/e2e/interop.sh
set -u

E2E_NAME=interop
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

golden=$root/formats/golden
pkt=$root/tests/interop/xchgpkt.py
if ! command -v python3 >/dev/null || ! python3 -c 'import sqlite3, zipfile' 2>/dev/null; then
	bad "tools" "python3 (with its sqlite3 and zipfile modules) is not installed"
	summary; exit 1
fi

SH="$W/shared folder"   # the courier's folder (a space, on purpose)
mkdir -p "$SH"

# The Python node: a fixed seed, code and id, like a web application's.
PY_SEED=$(printf '50%.0s' {1..32})
PY_CODE=PYCENTER
PY_ID=a0000000-0000-4000-8000-0000000000c1
# Someone else's seed, for a packet that claims to come from PYCENTER.
IMPOSTOR_SEED=$(printf '58%.0s' {1..32})

# ---------------------------------------------------------------- helpers

# py ARGS...: runs xchgpkt.py; leaves POUT, PERR and PRC.
py() {
	python3 "$pkt" "$@" >"$W/.pout" 2>"$W/.perr"
	PRC=$?
	POUT=$(cat "$W/.pout"); PERR=$(cat "$W/.perr")
	return $PRC
}
# py_write N ACK ENTITIES [ARGS...]: Python writes its packet N to desk2; leaves PKT.
py_write() {
	local n=$1 ack=$2 ents=$3; shift 3
	py write --seed-hex "$PY_SEED" --code "$PY_CODE" --id "$PY_ID" --to-line "$DESK2_LINE" \
		--packet-no "$n" --ack "$ack" --entities "$ents" --out "$SH" "$@"
	PKT=$POUT
}
# py_refuses NAME PATH REASON ARGS...: xchgpkt.py read refuses PATH (exit 4),
# naming the file and REASON.
py_refuses() {
	local name=$1 path=$2 reason=$3; shift 3
	py read "$path" "$@"
	if [ $PRC -eq 4 ] && has "$PERR" "refused $path: " && has "$PERR" "$reason"; then
		ok "$name (Python: $(printf '%s' "${PERR#refused $path: }" | head -n 1))"
	else bad "$name" "exit $PRC, stdout [$POUT], stderr [$PERR]"; fi
}
# xchg_refuses NAME PATH: the desktop desk2's xchg import refuses PATH (exit 4),
# changes nothing and leaves the file where it was.
xchg_refuses() {
	local name=$1 path=$2 before
	before=$(db_sum desk2)
	x desk2 import "$path"
	if [ $RC -eq 4 ] && has "$ERR" "refused $path: "; then
		ok "$name (xchg: $(printf '%s' "${ERR#*refused $path: }" | head -n 1))"
	else bad "$name" "exit $RC, stdout [$OUT], stderr [$ERR]"; fi
	eq "$name: the desktop's database is unchanged" "$before" "$(db_sum desk2)"
	if [ -f "$path" ]; then ok "$name: the file stays where it was"; else bad "$name: the file stays where it was" "gone"; fi
}
# rezip SRC DST EDIT...: DST is SRC with message.json passed through the
# sed script EDIT and the original message.sig (a valid ZIP, a stale signature).
rezip() {
	local src=$1 dst=$2 d="$W/rezip"; shift 2
	rm -rf "$d"; mkdir -p "$d"
	unzip -q "$src" -d "$d" && sed -i "$@" "$d/message.json" &&
		(cd "$d" && zip -q -X "$d/out.zip" message.json message.sig) && mv "$d/out.zip" "$dst"
}
# flip_middle SRC DST: a copy of SRC with its middle byte changed.
flip_middle() {
	local off byte
	off=$(( $(stat -c %s "$1") / 2 ))
	byte=$(od -An -tu1 -j "$off" -N1 "$1" | tr -d ' ')
	cp "$1" "$2"
	printf "\\$(printf %03o $((byte ^ 0x20)))" | dd of="$2" bs=1 seek="$off" conv=notrunc status=none
}

# matches_db NODE JSONLINES [all]: every entity of JSONLINES (what `xchgpkt.py
# read --json` prints) is what NODE's SQLite database holds, by the rules of
# PACKET.md section 3.3: a DELETE is a row marked deleted (or one never had),
# an INSERT or UPDATE a live row with that updated_at and those column values,
# its children exactly the rows in the array. With "all", also every row of
# every entity table has its entity. Prints each difference; nothing when none.
matches_db() {
	python3 - "$W/$1.db" "$plan" "$2" "${3:-}" <<'PY'
import json, re, sqlite3, sys
db, plan, lines, mode = sys.argv[1:5]
con = sqlite3.connect(db)
plan = json.load(open(plan))
ents = [json.loads(l) for l in open(lines) if l.strip()][1:]   # line 1 is the header
def same(j, v):
    if isinstance(j, str) and isinstance(v, int) and re.fullmatch(r"-?[0-9]+", j):
        return int(j) == v   # a 64-bit integer travels as a string
    if isinstance(j, bool) or isinstance(v, bool):
        return int(j) == v if j is not None and v is not None else j is v
    if isinstance(j, (int, float)) and isinstance(v, (int, float)):
        return j == v   # exact: a real must read back to the same double
    return type(j) is type(v) and j == v if j is not None else v is None
def row(table, where, arg):
    cur = con.execute('SELECT * FROM "%s" WHERE %s' % (table, where), arg)
    names = [d[0] for d in cur.description]
    return [dict(zip(names, r)) for r in cur.fetchall()], names
def local(spec):   # formats/PLAN.md, "What travels"
    return set(spec.get("local_columns", [])) | (set() if spec.get("shared_id") else {"id"})
bad = []
seen = {}
for e in ents:
    spec = next((s for s in plan["entities"] if s["type"] == e["type"]), None)
    if spec is None:
        bad.append("%s %s: not an entity type of the plan" % (e["type"], e["uuid"])); continue
    t = spec["table"]
    seen.setdefault(t, set()).add(e["uuid"])
    rows, names = row(t, "uuid = ?", (e["uuid"],))
    what = "%s %s %s" % (e["operation"], e["type"], e["uuid"])
    if e["operation"] == "DELETE":
        if rows and (rows[0]["is_deleted"] != 1 or rows[0]["updated_at"] != e["updated_at"]):
            bad.append("%s: the row is %s" % (what, rows[0]))
        continue
    if not rows:
        bad.append("%s: no such row" % what); continue
    r = rows[0]
    if r["is_deleted"] != 0 or r["updated_at"] != e["updated_at"]:
        bad.append("%s: is_deleted %s, updated_at %s" % (what, r["is_deleted"], r["updated_at"]))
    cols = set(names) - local(spec) - {"uuid", "updated_at", "is_deleted"}
    kids = {c["name"]: c for c in spec.get("children", [])}
    if mode == "all" and set(e["data"]) != cols | set(kids):
        bad.append("%s: data has %s, the table %s" % (what, sorted(e["data"]), sorted(cols | set(kids))))
    for k, j in e["data"].items():
        if k in kids:
            c = kids[k]
            got, cn = row(c["table"], '"%s" = ? ORDER BY uuid' % c["parent_column"], (e["uuid"],))
            if [g["uuid"] for g in got] != [x.get("uuid") for x in j]:
                bad.append("%s: children %s are %s in the database" % (what, [x.get("uuid") for x in j], [g["uuid"] for g in got]))
                continue
            for x, g in zip(j, got):
                keys = set(cn) - local(c) - {c["parent_column"]}
                if mode == "all" and set(x) != keys:
                    bad.append("%s: child %s has %s, the table %s" % (what, x["uuid"], sorted(x), sorted(keys)))
                for ck, cj in x.items():
                    if ck not in g or not same(cj, g[ck]):
                        bad.append("%s: child %s.%s is %r in the packet, %r in the database" % (what, x["uuid"], ck, cj, g.get(ck)))
        elif k not in cols or not same(j, r[k]):
            bad.append("%s: %s is %r in the packet, %r in the database" % (what, k, j, r.get(k)))
if mode == "all":
    for s in plan["entities"]:
        for (u,) in con.execute('SELECT uuid FROM "%s"' % s["table"]):
            if u not in seen.get(s["table"], ()):
                bad.append("%s %s is in the database, not in the packet" % (s["type"], u))
print("\n".join(bad))
PY
}
# reals_shortest NAME MESSAGE.JSON: every real in the file is written in the
# fewest significant digits that read back to the same double (section 3.3).
reals_shortest() {
	local out
	out=$(python3 - "$2" <<'PY'
import re, sys
text = re.sub(r'"(?:[^"\\]|\\.)*"', '""', open(sys.argv[1], encoding="utf-8").read())
def digits(t):   # the significant digits of a number token
    m = re.sub(r"[eE].*", "", t.lstrip("-")).replace(".", "")
    return m.lstrip("0").rstrip("0") or "0"
for t in re.findall(r"-?[0-9]+(?:\.[0-9]+)?(?:[eE][+-]?[0-9]+)?", text):
    if re.search(r"[.eE]", t) and len(digits(t)) > len(digits(repr(float(t)))):
        print("%s (%s would do)" % (t, repr(float(t))))
PY
)
	if [ -z "$out" ]; then ok "$1"; else bad "$1" "$(printf '%s' "$out" | sort -u | head -n 4 | tr '\n' ' ')"; fi
}
# writer_rules NAME PKT: what PACKET.md asks of a writer and a reader need
# not check: message.json deflated, created_at with milliseconds, message_id
# a canonical UUID, both members stamped with created_at (DOS time local,
# the Info-ZIP extended timestamp as Unix time), a newline after the header
# and after each entity.
writer_rules() {
	local out
	out=$(python3 - "$2" <<'PY'
import datetime, json, re, struct, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
m = z.read("message.json").decode()
h = json.loads(m)["header"]
bad = []
if [i.filename for i in z.infolist()] != ["message.json", "message.sig"]:
    bad.append("members %s" % [i.filename for i in z.infolist()])
if z.getinfo("message.json").compress_type != zipfile.ZIP_DEFLATED:
    bad.append("message.json is not deflated")
if not re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", h["created_at"]):
    bad.append("created_at %s" % h["created_at"])
if not re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", h["message_id"]):
    bad.append("message_id %s is not a random UUID in canonical form" % h["message_id"])
t = datetime.datetime.strptime(h["created_at"][:19], "%Y-%m-%dT%H:%M:%S").replace(tzinfo=datetime.timezone.utc)
for i in z.infolist():
    dos = t.astimezone().replace(second=t.second // 2 * 2).timetuple()[:6]
    if i.date_time != dos:
        bad.append("%s DOS time %s, not %s" % (i.filename, i.date_time, dos))
    ut = [i.extra[k + 5:k + 9] for k in range(0, len(i.extra) - 8) if i.extra[k:k + 2] == b"UT"]
    if not ut or struct.unpack("<I", ut[0])[0] != int(t.timestamp()):
        bad.append("%s: no extended timestamp of %s" % (i.filename, h["created_at"]))
lines = m.split("\n")
n = len(json.loads(m)["body"]["entities"])
if not lines[0].startswith('{"header":') or len([l for l in lines if l.startswith('{"type"')]) != n:
    bad.append("the layout is not one line for the header and one for each entity")
print("\n".join(bad))
PY
)
	if [ -z "$out" ]; then ok "$1"; else bad "$1" "$(printf '%s' "$out" | head -n 4 | tr '\n' ' ')"; fi
}
# matches NAME NODE JSONLINES [all]: matches_db as a check.
matches() {
	local diff
	diff=$(matches_db "$2" "$3" "${4:-}" 2>&1)
	if [ -z "$diff" ]; then ok "$1"; else bad "$1" "$(printf '%s' "$diff" | head -n 6 | tr '\n' ' ')"; fi
}

# ---------------------------------------------------------------- a. golden packets

scenario_golden() {
	local good=$golden/pkt_CENTER_DESKTOP-1_1.zip n
	py read "$good" --key-file "$golden/CENTER.pub" --to-line "$(cat "$golden/DESKTOP-1.pub")" \
		--message-out "$W/golden.json"
	eq "Python reads and verifies the golden packet against CENTER.pub (exit 0)" 0 "$PRC"
	[ $PRC -eq 0 ] || printf '# %s\n' "$PERR"
	check "its message.json equals the golden message.json byte for byte" \
		cmp "$W/golden.json" "$golden/pkt_CENTER_DESKTOP-1_1.message.json"
	reals_shortest "the golden packet writes each real in its fewest digits" "$W/golden.json"
	n=$(jq '.body.entities | length' "$golden/pkt_CENTER_DESKTOP-1_1.message.json")
	eq "it prints the header and each of its $n entities" "$((n + 1))" "$(printf '%s\n' "$POUT" | grep -cE '^(header|entity) ')"
	py_refuses "bad-signature.zip is refused" "$golden/bad-signature.zip" "signature" \
		--key-file "$golden/CENTER.pub"
	py_refuses "bad-truncated.zip is refused" "$golden/bad-truncated.zip" "truncated" \
		--key-file "$golden/CENTER.pub"
	py_refuses "the golden packet is refused against DESKTOP-1's key line" "$good" "DESKTOP-1" \
		--key-file "$golden/DESKTOP-1.pub"

	# The writer: the golden packet written again by Python from CENTER's seed
	# (32 bytes of 0x43) is the same message, and Ed25519 being deterministic,
	# the same signature.
	local hdr
	hdr=$(jq -c .header "$golden/pkt_CENTER_DESKTOP-1_1.message.json")
	# (Python, not jq, takes the entities out: jq would turn 8.0 into 8.)
	python3 -c 'import json, sys; json.dump(json.load(open(sys.argv[1]))["body"]["entities"], sys.stdout)' \
		"$golden/pkt_CENTER_DESKTOP-1_1.message.json" >"$W/golden-entities.json"
	mkdir -p "$W/golden-again"
	py write --seed-hex "$(printf '43%.0s' {1..32})" --code CENTER \
		--id "$(jq -r .sender_node_id <<<"$hdr")" --to-line "$(cat "$golden/DESKTOP-1.pub")" \
		--packet-no "$(jq -r .packet_no <<<"$hdr")" --ack "$(jq -r .ack_packet_no <<<"$hdr")" \
		--schema-version "$(jq -r .schema_version <<<"$hdr")" \
		--message-id "$(jq -r .message_id <<<"$hdr")" --created-at "$(jq -r .created_at <<<"$hdr")" \
		--entities "$W/golden-entities.json" --out "$W/golden-again"
	eq "Python writes the golden packet's content again (exit 0)" 0 "$PRC"
	check "its message.json is the golden one, byte for byte" \
		cmp <(unzip -p "$POUT" message.json) "$golden/pkt_CENTER_DESKTOP-1_1.message.json"
	check "and so is its signature" cmp <(unzip -p "$POUT" message.sig) <(unzip -p "$good" message.sig)

	# The sealed vector (section 8), opened with DESKTOP-1's seed (32 bytes of 0x44).
	local sealed=$golden/pkt_CENTER_DESKTOP-1_1.zip.sealed
	py read "$sealed" --key-file "$golden/CENTER.pub" --seed-hex "$(printf '44%.0s' {1..32})" \
		--to-line "$(cat "$golden/DESKTOP-1.pub")" --json
	eq "Python opens the sealed golden packet with DESKTOP-1's key and verifies it (exit 0)" 0 "$PRC"
	[ $PRC -eq 0 ] || printf '# %s\n' "$PERR"
	eq "it carries the good packet's entities" \
		"$(jq -c '[.body.entities[] | [.type, .uuid, .operation]]' "$golden/pkt_CENTER_DESKTOP-1_1.message.json")" \
		"$(tail -n +2 <<<"$POUT" | jq -sc '[.[] | [.type, .uuid, .operation]]')"
	py_refuses "the sealed golden packet is refused with another node's key" "$sealed" \
		"sealed to another node's key" --key-file "$golden/CENTER.pub" --seed-hex "$(printf '43%.0s' {1..32})"
	flip_middle "$sealed" "$W/flipped.zip.sealed"
	py_refuses "a sealed copy with a byte changed is refused" "$W/flipped.zip.sealed" \
		"does not authenticate" --key-file "$golden/CENTER.pub" --seed-hex "$(printf '44%.0s' {1..32})"
}

# ---------------------------------------------------------------- b. xchg writes, Python reads

setup_center() {
	local failed=$fail
	load_schema center && load_schema desk || { bad setup "schemas"; return 1; }
	check "init the center" x center init --code CENTER --plan "$plan" --master
	check "init the desktop" x desk init --code DESK --plan "$plan"
	x center key; CENTER_LINE=$OUT
	x desk key; DESK_LINE=$OUT
	check "the center's key line is CODE ID KEY" \
		grep -qE '^CENTER [0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12} [A-Za-z0-9+/]{43}=$' <<<"$CENTER_LINE"
	check "the center registers the desktop by its key line" x center node add --key "$DESK_LINE"
	[ "$fail" -eq "$failed" ]
}

scenario_export() {
	sql center "
INSERT INTO brigades (name, foreman, headcount, active, uuid, updated_at) VALUES
 ('Concrete team', 'Иванов \"Big\" \\ Ivan 🏗', 9223372036854775807, 1, '10000000-0000-4000-8000-000000000001', '2026-11-25T09:00:00.000Z'),
 ('Roofers', NULL, -9223372036854775808, 0, '10000000-0000-4000-8000-000000000002', '2026-11-25T09:00:00.001Z'),
 ('Painters', 'Petrov', 4, NULL, '10000000-0000-4000-8000-000000000009', '2026-11-25T09:00:00.009Z');
INSERT INTO estimates (number, title, total, uuid, updated_at) VALUES
 ('E-1', 'line one
line two	tabbed', '12345678901234.56', '10000000-0000-4000-8000-000000000003', '2026-11-25T09:00:00.002Z');
INSERT INTO works (estimate_uuid, code, name, unit, quantity, price, uuid, updated_at) VALUES
 ('10000000-0000-4000-8000-000000000003', 'W-1', 'Pour', 'm3', 0.1, '8500.00', '10000000-0000-4000-8000-000000000004', '2026-11-25T09:00:00.003Z'),
 ('10000000-0000-4000-8000-000000000003', 'W-2', 'Strip', 'm2', 3.0, NULL, '10000000-0000-4000-8000-000000000005', '2026-11-25T09:00:00.004Z');
INSERT INTO daily_reports (report_date, brigade_uuid, author, notes, uuid, updated_at) VALUES
 ('2026-11-25', '10000000-0000-4000-8000-000000000001', 'Site engineer', NULL, '10000000-0000-4000-8000-000000000006', '2026-11-25T09:00:00.005Z');
INSERT INTO daily_report_lines (report_uuid, work_uuid, volume, hours, comment, uuid, updated_at) VALUES
 ('10000000-0000-4000-8000-000000000006', '10000000-0000-4000-8000-000000000004', 40.25, 8, 'first', '10000000-0000-4000-8000-000000000007', '2026-11-25T09:00:00.006Z'),
 ('10000000-0000-4000-8000-000000000006', '10000000-0000-4000-8000-000000000004', 1e300, NULL, 'second', '10000000-0000-4000-8000-000000000008', '2026-11-25T09:00:00.007Z');
UPDATE works SET is_deleted = 1, updated_at = '2026-11-25T09:00:01.000Z' WHERE code = 'W-2';
DELETE FROM brigades WHERE name = 'Painters';"
	x center export --node DESK --out "$SH"
	eq "the center exports packet 1 for the desktop (exit 0)" "0 $SH/pkt_CENTER_DESK_1.zip" "$RC $OUT"
	local p=$OUT
	py read "$p" --key-line "$CENTER_LINE" --to-line "$DESK_LINE" --plan "$plan" --json
	eq "Python reads it and verifies it with the center's key line (exit 0)" 0 "$PRC"
	[ $PRC -eq 0 ] || printf '# %s\n' "$PERR"
	printf '%s\n' "$POUT" >"$W/export.jsonl"
	local h
	h=$(head -n 1 "$W/export.jsonl")
	eq "its header: format 2, packet 1, acknowledging 0, from the center's id and code to the desktop's" \
		"2 1 0 $(cut -d' ' -f2 <<<"$CENTER_LINE") CENTER $(cut -d' ' -f2 <<<"$DESK_LINE") DESK 1.0.0" \
		"$(jq -r '.header | "\(.packet_format) \(.packet_no) \(.ack_packet_no) \(.sender_node_id) \(.sender_code) \(.recipient_node_id) \(.recipient_code) \(.schema_version)"' <<<"$h")"
	eq "it carries the 7 entities of the database (an UPDATE counting as an INSERT)" \
		"Brigade DELETE 10000000-0000-4000-8000-000000000009
Brigade INSERT 10000000-0000-4000-8000-000000000001
Brigade INSERT 10000000-0000-4000-8000-000000000002
DailyReport INSERT 10000000-0000-4000-8000-000000000006
Estimate INSERT 10000000-0000-4000-8000-000000000003
Work DELETE 10000000-0000-4000-8000-000000000005
Work INSERT 10000000-0000-4000-8000-000000000004" \
		"$(tail -n +2 "$W/export.jsonl" | jq -r '"\(.type) \(if .operation == "DELETE" then "DELETE" else "INSERT" end) \(.uuid)"' | sort)"
	matches "every entity printed is what the center's database holds, and every row is there" \
		center "$W/export.jsonl" all
	local mj
	mj=$(unzip -p "$p" message.json)
	eq "64-bit integers travel as strings" "1 1" \
		"$(grep -c '"headcount":"9223372036854775807"' <<<"$mj") $(grep -c '"headcount":"-9223372036854775808"' <<<"$mj")"
	unzip -p "$p" message.json >"$W/export.json"
	reals_shortest "xchg writes each real in its fewest digits (0.1, not 0.10000000000000001)" "$W/export.json"
	writer_rules "xchg's packet follows the writer's rules (deflate, times, ids, layout)" "$p"
	x center inspect "$p" --json
	eq "xchg inspect agrees on the entity count" "$(($(wc -l <"$W/export.jsonl") - 1))" "$(jq -r .entities <<<"$OUT")"
}

# ---------------------------------------------------------------- c. Python writes, xchg reads

setup_python_center() {
	load_schema desk2 || { bad setup "schema"; return 1; }
	py keyline --seed-hex "$PY_SEED" --code "$PY_CODE" --id "$PY_ID"
	PY_LINE=$POUT
	eq "Python prints its key line" "$PY_CODE $PY_ID" "$(cut -d' ' -f1,2 <<<"$PY_LINE")"
}

scenario_python_center() {
	local before
	check "a desktop is set up (no --master)" x desk2 init --code DESK2 --plan "$plan"
	x desk2 key; DESK2_LINE=$OUT
	check "it registers the Python center by its key line alone" x desk2 node add --key "$PY_LINE"
	eq "registered under the key line's id and code" "$PY_ID|$PY_CODE" \
		"$(sql desk2 "SELECT id, code FROM sync_nodes WHERE is_self = 0")"
	cat >"$W/p1.json" <<'EOF'
[{"type": "Brigade", "uuid": "20000000-0000-4000-8000-000000000001", "operation": "INSERT",
  "updated_at": "2026-11-26T08:00:00.000Z",
  "data": {"name": "Кровельщики \"North\" \\ 🏗", "foreman": null, "headcount": 9223372036854775807, "active": true}},
 {"type": "Estimate", "uuid": "20000000-0000-4000-8000-000000000002", "operation": "INSERT",
  "updated_at": "2026-11-26T08:00:00.001Z",
  "data": {"number": "E-77", "title": "tabs\tand\nnewlines", "total": "98765432109876.54"}},
 {"type": "Work", "uuid": "20000000-0000-4000-8000-000000000003", "operation": "INSERT",
  "updated_at": "2026-11-26T08:00:00.002Z",
  "data": {"estimate_uuid": "20000000-0000-4000-8000-000000000002", "code": "W-9", "name": "Lay",
           "unit": "m2", "quantity": 0.1, "price": "12.50"}},
 {"type": "Work", "uuid": "20000000-0000-4000-8000-0000000000ff", "operation": "DELETE",
  "updated_at": "2026-11-26T08:00:00.003Z", "data": null},
 {"type": "DailyReport", "uuid": "20000000-0000-4000-8000-000000000004", "operation": "INSERT",
  "updated_at": "2026-11-26T08:00:00.004Z",
  "data": {"report_date": "2026-11-26", "brigade_uuid": "20000000-0000-4000-8000-000000000001",
           "author": "Web app", "notes": null,
           "lines": [{"uuid": "20000000-0000-4000-8000-000000000006", "work_uuid": "20000000-0000-4000-8000-000000000003",
                      "volume": 1e300, "hours": null, "comment": "second", "updated_at": "2026-11-26T08:00:00.006Z", "is_deleted": 0},
                     {"uuid": "20000000-0000-4000-8000-000000000005", "work_uuid": "20000000-0000-4000-8000-000000000003",
                      "volume": 40.25, "hours": 8, "comment": "first", "updated_at": "2026-11-26T08:00:00.005Z", "is_deleted": 0}]}}]
EOF
	py_write 1 0 "$W/p1.json"
	eq "Python writes packet 1 as pkt_PYCENTER_DESK2_1.zip" "0 $SH/pkt_${PY_CODE}_DESK2_1.zip" "$PRC $PKT"
	[ $PRC -eq 0 ] || { printf '# %s\n' "$PERR"; return 1; }
	P1=$PKT
	if ls -A "$SH" | grep -q '^\.'; then bad "no hidden temporary is left" "$(ls -A "$SH")"; else ok "no hidden temporary is left"; fi
	check "Python reads its own packet back" py read "$P1" --key-line "$PY_LINE" --to-line "$DESK2_LINE" --plan "$plan"
	writer_rules "Python's packet follows the writer's rules" "$P1"

	# Hostile copies first: each is refused by xchg and changes nothing.
	local b=$W/bad/pkt_${PY_CODE}_DESK2_1.zip
	mkdir -p "$W/bad"
	flip_middle "$P1" "$b"
	py_refuses "a copy with a byte changed" "$b" "" --key-line "$PY_LINE"
	xchg_refuses "a copy with a byte changed" "$b"
	rezip "$P1" "$b" 's/"headcount":"9223372036854775807"/"headcount":"9223372036854775806"/'
	py_refuses "a copy with one value changed and the signature kept" "$b" "signature" --key-line "$PY_LINE"
	xchg_refuses "a copy with one value changed and the signature kept" "$b"
	head -c 300 "$P1" >"$b"
	py_refuses "a copy cut short" "$b" "truncated" --key-line "$PY_LINE"
	xchg_refuses "a copy cut short" "$b"
	rm -f "$b"
	# An impostor: PYCENTER's id and code, another key.
	py write --seed-hex "$IMPOSTOR_SEED" --code "$PY_CODE" --id "$PY_ID" --to-line "$DESK2_LINE" \
		--packet-no 1 --entities "$W/p1.json" --out "$W/bad"
	py_refuses "a packet signed by another key" "$b" "signature" --key-line "$PY_LINE"
	xchg_refuses "a packet signed by another key" "$b"
	eq "nothing from Python has been received yet" "0 0" \
		"$(sql desk2 "SELECT count(*) FROM brigades") $(sql desk2 "SELECT count(*) FROM estimates")"

	x desk2 import "$P1"
	eq "xchg imports Python's packet 1 (exit 0)" 0 "$RC"
	[ $RC -eq 0 ] || printf '# %s\n' "$ERR"
	check "and says it applied 5 entities" has "$OUT" "applied $P1: packet 1 from $PY_CODE, 5 entities"
	eq "the Brigade: unicode, NULL, a 64-bit integer, a boolean" \
		"'Кровельщики \"North\" \\ 🏗'|NULL|9223372036854775807|integer|1|0|'2026-11-26T08:00:00.000Z'" \
		"$(sql desk2 "SELECT quote(name), quote(foreman), headcount, typeof(headcount), active, is_deleted, quote(updated_at) FROM brigades WHERE uuid = '20000000-0000-4000-8000-000000000001'")"
	eq "the Estimate: control characters and exact decimal text" \
		"$(printf "E-77|tabs\tand\nnewlines|98765432109876.54|text")" \
		"$(sql desk2 "SELECT number, title, total, typeof(total) FROM estimates WHERE uuid = '20000000-0000-4000-8000-000000000002'")"
	eq "the Work: 0.1 arrives as the same double" "3FB999999999999A|real|12.50" \
		"$(sql desk2 "SELECT hex(ieee754_to_blob(quantity)), typeof(quantity), price FROM works WHERE uuid = '20000000-0000-4000-8000-000000000003'")"
	eq "the DELETE of a row the desktop never had leaves it absent" 0 \
		"$(sql desk2 "SELECT count(*) FROM works WHERE uuid = '20000000-0000-4000-8000-0000000000ff'")"
	eq "the DailyReport with its two lines" \
		"Web app|NULL
20000000-0000-4000-8000-000000000005|40.25|8.0|first|0
20000000-0000-4000-8000-000000000006|1.0e+300|NULL|second|0" \
		"$(sql desk2 "SELECT author, quote(notes) FROM daily_reports WHERE uuid = '20000000-0000-4000-8000-000000000004';
			SELECT uuid, volume, quote(hours), comment, is_deleted FROM daily_report_lines
			WHERE report_uuid = '20000000-0000-4000-8000-000000000004' ORDER BY uuid")"
	py read "$P1" --key-line "$PY_LINE" --json
	printf '%s\n' "$POUT" >"$W/p1.jsonl"
	matches "every entity of packet 1 is what the desktop now holds" desk2 "$W/p1.jsonl"

	# The acknowledgement, read by Python.
	local ack="$SH/pkt_DESK2_${PY_CODE}_1.zip"
	check "xchg acknowledged with $(basename "$ack")" has "$OUT" "acknowledged with $ack"
	py read "$ack" --key-line "$DESK2_LINE" --to-line "$PY_LINE" --plan "$plan" --json
	eq "Python reads and verifies the acknowledgement with the desktop's key line (exit 0)" 0 "$PRC"
	[ $PRC -eq 0 ] || printf '# %s\n' "$PERR"
	eq "it is the desktop's packet 1 and acknowledges Python's packet 1" "1 1 2" \
		"$(head -n 1 <<<"$POUT" | jq -r '.header | "\(.packet_no) \(.ack_packet_no) \(.packet_format)"')"
	eq "it sends nothing back that came from Python (no echo)" 1 "$(wc -l <<<"$POUT")"
	writer_rules "the acknowledgement follows the writer's rules" "$ack"

	# Packet 2 acknowledges the desktop's packet 1: a delete, and a report down to one line.
	cat >"$W/p2.json" <<'EOF'
[{"type": "Brigade", "uuid": "20000000-0000-4000-8000-000000000001", "operation": "DELETE",
  "updated_at": "2026-11-26T09:00:00.000Z", "data": null},
 {"type": "DailyReport", "uuid": "20000000-0000-4000-8000-000000000004", "operation": "UPDATE",
  "updated_at": "2026-11-26T09:00:00.001Z",
  "data": {"report_date": "2026-11-26", "brigade_uuid": "20000000-0000-4000-8000-000000000001",
           "author": "Web app", "notes": "one line left",
           "lines": [{"uuid": "20000000-0000-4000-8000-000000000005", "work_uuid": "20000000-0000-4000-8000-000000000003",
                      "volume": 41.5, "hours": 8, "comment": "first", "updated_at": "2026-11-26T09:00:00.002Z", "is_deleted": 0}]}}]
EOF
	py_write 2 1 "$W/p2.json"
	x desk2 import "$P1" "$PKT"
	eq "xchg skips packet 1 as a duplicate and applies packet 2 (exit 0)" 0 "$RC"
	check "it says packet 1 is a duplicate" has "$OUT" "skipped $P1"
	check "it says it applied packet 2" has "$OUT" "applied $PKT: packet 2 from $PY_CODE, 2 entities"
	eq "the Brigade is marked deleted, with Python's updated_at" "1|2026-11-26T09:00:00.000Z" \
		"$(sql desk2 "SELECT is_deleted, updated_at FROM brigades WHERE uuid = '20000000-0000-4000-8000-000000000001'")"
	eq "the report's lines are exactly the one in the packet" "20000000-0000-4000-8000-000000000005|41.5" \
		"$(sql desk2 "SELECT uuid, volume FROM daily_report_lines WHERE report_uuid = '20000000-0000-4000-8000-000000000004' AND is_deleted = 0")"
	py read "$PKT" --key-line "$PY_LINE" --json
	printf '%s\n' "$POUT" >"$W/p2.jsonl"
	matches "every entity of packet 2 is what the desktop now holds" desk2 "$W/p2.jsonl"
	P2=$PKT
}

# Hostile packets that are validly signed by Python's key: xchg refuses each,
# and so does the Python reader.
scenario_hostile() {
	local m="$W/raw.json" hdr body n=3
	hdr="{\"sender_node_id\":\"$PY_ID\",\"recipient_node_id\":\"$(cut -d' ' -f2 <<<"$DESK2_LINE")\",\"packet_no\":3,\"ack_packet_no\":1,\"schema_version\":\"1.0.0\",\"packet_format\":2,\"message_id\":\"30000000-0000-4000-8000-000000000001\",\"sender_code\":\"$PY_CODE\",\"recipient_code\":\"DESK2\",\"created_at\":\"2026-11-26T10:00:00.000Z\"}"
	body='{"entities":[
{"type":"Estimate","uuid":"20000000-0000-4000-8000-000000000002","operation":"UPDATE","updated_at":"2026-11-26T10:00:00.000Z","data":{"number":"E-77","title":"hostile","total":"98765432109876.54"}}
]}'
	hostile() { # NAME REASON MESSAGE
		printf '%s' "$3" >"$m"
		rm -f "$SH/pkt_${PY_CODE}_DESK2_3.zip"
		py write --seed-hex "$PY_SEED" --code "$PY_CODE" --id "$PY_ID" --to-line "$DESK2_LINE" \
			--packet-no 3 --raw-message "$m" --out "$SH"
		local p=$POUT
		py_refuses "$1" "$p" "$2" --key-line "$PY_LINE"
		xchg_refuses "$1" "$p"
	}
	hostile "body before header" "before header" "{\"body\":$body,\"header\":$hdr}"
	hostile "packet_format 3" "packet_format" "{\"header\":${hdr/\"packet_format\":2/\"packet_format\":3},\"body\":$body}"
	hostile "a format 1 header (no packet_format)" "packet_format" "{\"header\":${hdr/\"packet_format\":2,/},\"body\":$body}"
	hostile "a header member given twice" "twice" "{\"header\":${hdr/\"packet_no\":3,/\"packet_no\":3,\"packet_no\":4,},\"body\":$body}"
	hostile "a sender id in upper case" "canonical" "{\"header\":${hdr//$PY_ID/${PY_ID^^}},\"body\":$body}"
	hostile "a DELETE that carries data" "DELETE" "{\"header\":$hdr,\"body\":${body/UPDATE/DELETE}}"
	hostile "an object where a column value belongs" "object" "{\"header\":$hdr,\"body\":${body/\"hostile\"/{\"a\":1\}}}"
	hostile "an unpaired surrogate escape" "surrogate" "{\"header\":$hdr,\"body\":${body/hostile/\\ud800}}"
	hostile "a NUL escape" "U+0000" "{\"header\":$hdr,\"body\":${body/hostile/a\\u0000b}}"
	eq "the Estimate's title is untouched" "tabs	and" "$(sql desk2 "SELECT title FROM estimates WHERE uuid = '20000000-0000-4000-8000-000000000002'" | head -n 1)"
	# ... and the same packet, well formed, applies.
	printf '{"header":%s,\n"body":%s}\n' "$hdr" "$body" >"$m"
	rm -f "$SH/pkt_${PY_CODE}_DESK2_3.zip"
	py write --seed-hex "$PY_SEED" --code "$PY_CODE" --id "$PY_ID" --to-line "$DESK2_LINE" \
		--packet-no 3 --raw-message "$m" --out "$SH"
	x desk2 import "$POUT"
	eq "the same packet well formed applies (exit 0)" "0 hostile" \
		"$RC $(sql desk2 "SELECT title FROM estimates WHERE uuid = '20000000-0000-4000-8000-000000000002'")"

	# A writer's hidden temporary (a crash before the rename) is no packet.
	local tmp="$W/outbox"
	mkdir -p "$tmp"
	py_write 4 1 "$W/p2.json"
	mv "$PKT" "$tmp/.pkt_${PY_CODE}_DESK2_4.zip.tmp"
	x desk2 import "$tmp"
	eq "xchg leaves Python's hidden temporary alone (exit 0, nothing applied)" "0 3" \
		"$RC $(sql desk2 "SELECT received_packet_no FROM sync_nodes WHERE is_self = 0")"
}

# Python seals a packet to the desktop (section 8); xchg opens it, and its
# acknowledgement comes back sealed, which Python opens.
scenario_sealed() {
	local ack
	cat >"$W/p4.json" <<'EOF'
[{"type": "Estimate", "uuid": "20000000-0000-4000-8000-000000000002", "operation": "UPDATE",
  "updated_at": "2026-11-26T11:00:00.000Z",
  "data": {"number": "E-77", "title": "sealed by Python", "total": "98765432109876.54"}}]
EOF
	py_write 4 1 "$W/p4.json" --seal
	eq "Python seals packet 4 as pkt_PYCENTER_DESK2_4.zip.sealed" "0 $SH/pkt_${PY_CODE}_DESK2_4.zip.sealed" "$PRC $PKT"
	[ $PRC -eq 0 ] || { printf '# %s\n' "$PERR"; return 1; }
	eq "it starts with the magic line" "xchg-sealed-packet/1" "$(head -n 1 "$PKT")"
	x desk2 import "$PKT"
	eq "xchg opens and applies it (exit 0)" "0 sealed by Python" \
		"$RC $(sql desk2 "SELECT title FROM estimates WHERE uuid = '20000000-0000-4000-8000-000000000002'")"
	[ $RC -eq 0 ] || printf '# %s\n' "$ERR"
	ack=$(sed -n 's/^acknowledged with \(.*\): packet .*/\1/p' <<<"$OUT")
	eq "the acknowledgement goes back sealed" "xchg-sealed-packet/1" "$(head -n 1 "$ack" 2>/dev/null)"
	py read "$ack" --key-line "$DESK2_LINE" --to-line "$PY_LINE" --seed-hex "$PY_SEED" --json
	eq "Python opens it with its own key and verifies it; it acknowledges packet 4" "0 4" \
		"$PRC $(head -n 1 <<<"$POUT" | jq -r .header.ack_packet_no 2>/dev/null)"
	py_refuses "nobody else opens it" "$ack" "sealed to another node's key" --key-line "$DESK2_LINE" \
		--seed-hex "$IMPOSTOR_SEED"

	# Payloads of several 64 KiB chunks, both ways: 200000 characters of base64.
	local p n len
	head -c 150000 /dev/urandom | base64 -w0 >"$W/big.txt"
	len=$(wc -c <"$W/big.txt")
	jq -n --rawfile big "$W/big.txt" '[{type: "Brigade", uuid: "20000000-0000-4000-8000-0000000000b1",
		operation: "INSERT", updated_at: "2026-11-26T11:00:00.001Z",
		data: {name: "Big", foreman: $big, headcount: 1, active: null}}]' >"$W/p5.json"
	py_write 5 1 "$W/p5.json" --seal
	n=$(( ($(stat -c %s "$PKT") - 133 + 65551) / 65552 ))
	x desk2 import "$PKT"
	eq "xchg opens a packet Python sealed in $n chunks (exit 0)" "0 $len" \
		"$RC $(sql desk2 "SELECT length(foreman) FROM brigades WHERE uuid = '20000000-0000-4000-8000-0000000000b1'")"
	sql desk2 "INSERT INTO brigades (name, foreman) VALUES ('Desk big', CAST(readfile('$W/big.txt') AS TEXT))"
	x desk2 export --node "$PY_CODE" --out "$SH" --encrypt
	p=$OUT
	n=$(( ($(stat -c %s "$p") - 133 + 65551) / 65552 ))
	py read "$p" --key-line "$DESK2_LINE" --seed-hex "$PY_SEED" --json
	eq "Python opens a packet xchg sealed in $n chunks and finds the row" "0 $len" \
		"$PRC $(tail -n +2 <<<"$POUT" | jq -r 'select(.data.name == "Desk big") | .data.foreman | length' 2>/dev/null)"
}

# The desktop rotates its key (section 4.1): Python, which knows only the old
# key line, follows the packet's key_chain to the new key.
scenario_rotation() {
	local p new
	check "the desktop rotates its key" x desk2 key rotate
	x desk2 key; new=$OUT
	sql desk2 "UPDATE estimates SET title = 'after rotation' WHERE uuid = '20000000-0000-4000-8000-000000000002'"
	x desk2 export --node "$PY_CODE" --out "$SH"
	p=$OUT
	py read "$p" --key-line "$DESK2_LINE" --to-line "$PY_LINE" --plan "$plan" --json
	eq "Python verifies its next packet from the old key line through the key chain" \
		"0 1 after rotation" \
		"$PRC $(head -n 1 <<<"$POUT" | jq -r '.header.key_chain | length' 2>/dev/null) $(tail -n +2 <<<"$POUT" | jq -r 'select(.type == "Estimate") | .data.title' 2>/dev/null)"
	[ $PRC -eq 0 ] || printf '# %s\n' "$PERR"
	check "and from the new key line" py read "$p" --key-line "$new" --to-line "$PY_LINE"
	rezip "$p" "$W/chain.zip" 's/"signature":"A/"signature":"B/;t;s/"signature":"./"signature":"A/'
	py_refuses "a key chain link changed is refused" "$W/chain.zip" "key_chain link 1" --key-line "$DESK2_LINE"
}

# ---------------------------------------------------------------- main

scenario_golden
if setup_center; then
	scenario_export
fi
if setup_python_center; then
	scenario_python_center
	scenario_hostile
	scenario_sealed
	scenario_rotation
fi
summary
[ "$fail" -eq 0 ]
