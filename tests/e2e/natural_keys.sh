#!/usr/bin/env bash
# Tables keyed by business data, not by a local id: an integer account
# number, a text code, a composite key. Every column but a local "id" (and
# what the plan names local) travels, so the receiver stores the same key,
# and an existing row is updated in place, NOT NULL columns and all. A
# SQLite center, or a PostgreSQL one with XCHG_E2E_CENTER=pg.
E2E_NAME=natural_keys
. "$(dirname "$0")/lib.bash"

plan=$W/plan.json
cat >"$plan" <<'JSON'
{"schema_version": "1.0.0", "conflict_policy": "last-writer-wins",
 "entities": [
  {"type": "Account", "table": "accounts"},
  {"type": "Ledger", "table": "ledgers"},
  {"type": "Rate", "table": "rates"},
  {"type": "Item", "table": "items", "shared_id": true},
  {"type": "Ticket", "table": "tickets", "local_columns": ["printed"],
   "children": [{"name": "notes", "table": "ticket_notes", "parent_column": "ticket_uuid"}]}
 ]}
JSON
tables=$(jq -r '.entities[] | .table, (.children // [] | .[].table)' "$plan")
local_columns="id printed"
# Money as exact text on SQLite, numeric on PostgreSQL (as in the construction
# schema); a local id that numbers itself on each backend.
keys_schema() {
	local money serial
	money=$(pick "$1" TEXT 'NUMERIC(12,2)') serial=$(pick "$1" 'INTEGER PRIMARY KEY' 'BIGSERIAL PRIMARY KEY')
	sql "$1" "
CREATE TABLE accounts (aid INTEGER NOT NULL PRIMARY KEY, bid INTEGER NOT NULL, abalance INTEGER NOT NULL,
	filler CHAR(84));
CREATE TABLE ledgers (code TEXT NOT NULL PRIMARY KEY, name TEXT NOT NULL, balance $money NOT NULL);
CREATE TABLE rates (region TEXT NOT NULL, item TEXT NOT NULL, price $money NOT NULL,
	PRIMARY KEY (region, item));
CREATE TABLE items (id INTEGER PRIMARY KEY, name TEXT NOT NULL);
CREATE TABLE tickets (id $serial, title TEXT NOT NULL, printed INTEGER NOT NULL DEFAULT 0);
CREATE TABLE ticket_notes (id $serial, ticket_uuid TEXT, body TEXT NOT NULL);"
}

setup() {
	local n
	for n in center d1 d2; do keys_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	# Rows from before xchg: init gives them their uuids.
	sql center "INSERT INTO accounts (aid, bid, abalance) VALUES (1, 1, 0), (2, 1, 0), (100000, 1, 7);
		INSERT INTO ledgers (code, name, balance) VALUES ('ACC-1', 'Cash', '10.50'), ('ACC-2', 'Bank', '0.00');
		INSERT INTO rates (region, item, price) VALUES ('north', 'sand', '12.00'), ('north', 'gravel', '9.50'),
			('south', 'sand', '11.00');
		INSERT INTO items (id, name) VALUES (501, 'crane'), (502, 'mixer');
		INSERT INTO tickets (id, title, printed) VALUES (10, 'fence', 1)"
	init_star
}

SH=$W/share
mkdir -p "$SH"

scenario_first_packet() {
	x center export --node D1 --out "$SH"
	check "the first packet carries the account number, the code and the composite key" jq -e '
		([.body.entities[] | select(.type == "Account") | .data.aid] | sort == [1, 2, 100000])
		and ([.body.entities[] | select(.type == "Ledger") | .data.code] | sort == ["ACC-1", "ACC-2"])
		and ([.body.entities[] | select(.type == "Rate") | .data | [.region, .item]] | length == 3)
		and ([.body.entities[] | select(.type == "Item") | .data.id] | sort == [501, 502])
		and ([.body.entities[] | select(.type == "Ticket") | .data | has("id") or has("printed")] == [false])' \
		<(unzip -p "$OUT" message.json)
	star_round
	eq "D1 holds the accounts under their own numbers" "1|0 2|0 100000|7" \
		"$(sql d1 "SELECT aid || '|' || abalance FROM accounts ORDER BY aid" | paste -sd' ')"
	eq "D1 holds the ledgers under their codes" "ACC-1|Cash ACC-2|Bank" \
		"$(sql d1 "SELECT code || '|' || name FROM ledgers ORDER BY code" | paste -sd' ')"
	eq "a shared id travels" "501|crane 502|mixer" \
		"$(sql d2 "SELECT id || '|' || name FROM items ORDER BY id" | paste -sd' ')"
	eq "a local column keeps the receiver's own value (its default)" "fence|0" \
		"$(sql d1 "SELECT title || '|' || printed FROM tickets")"
	same_tables "D1 holds the center's rows, keys intact" center d1
	same_tables "D2 holds the center's rows, keys intact" center d2
}

scenario_edits() {
	# The desktop edits an account: an UPDATE of a row that exists, NOT NULL columns and all.
	sql d1 "UPDATE accounts SET abalance = abalance + 25 WHERE aid = 2;
		UPDATE ledgers SET balance = '99.99' WHERE code = 'ACC-1';
		UPDATE rates SET price = '13.25' WHERE region = 'north' AND item = 'sand';
		INSERT INTO ledgers (code, name, balance) VALUES ('ACC-3', 'Petty cash', '1.00');
		INSERT INTO tickets (title) VALUES ('gate');
		INSERT INTO ticket_notes (ticket_uuid, body) SELECT uuid, 'hinges' FROM tickets WHERE title = 'gate';
		UPDATE tickets SET printed = 5 WHERE title = 'fence'"
	sql center "UPDATE accounts SET abalance = abalance - 3 WHERE aid = 100000;
		INSERT INTO accounts (aid, bid, abalance) VALUES (3, 1, 42);
		INSERT INTO rates (region, item, price) VALUES ('south', 'gravel', '8.75');
		UPDATE tickets SET title = 'fence, north side' WHERE id = 10"
	star_round
	eq "the desktop's edit of account 2 reached the center" "25" "$(sql center "SELECT abalance FROM accounts WHERE aid = 2")"
	eq "the center's new account 3 reached D2" "42" "$(sql d2 "SELECT abalance FROM accounts WHERE aid = 3")"
	eq "a text-keyed row made at a desktop reached the other" "Petty cash" \
		"$(sql d2 "SELECT name FROM ledgers WHERE code = 'ACC-3'")"
	eq "the center keeps its own local column" "1" "$(sql center "SELECT printed FROM tickets WHERE id = 10")"
	eq "and D1 its own" "5" "$(sql d1 "SELECT printed FROM tickets WHERE title = 'fence, north side'")"
	same_tables "D1 and the center converge" center d1
	same_tables "D2 and the center converge" center d2
	eq "nothing is left to send" "0 0 0" \
		"$(for n in center d1 d2; do sql $n "SELECT count(*) FROM sync_changes WHERE packet_no IS NULL"; done | paste -sd' ')"
}

scenario_plan_rules() {
	plan_refused "a local column the table lacks" d2 '.entities[0].local_columns = ["no_such_column"]' \
		'table "accounts" has no column "no_such_column" (local_columns)'
	plan_refused "uuid as a local column" d2 '.entities[0].local_columns = ["uuid"]' "it always travels"
	plan_refused "an id both shared and local" d2 '.entities[3].local_columns = ["id"]' "choose one"
}

if setup; then
	scenario_first_packet
	scenario_edits
	scenario_plan_rules
fi
summary
[ "$fail" -eq 0 ]
