#!/usr/bin/env bash
# Node identity and peer management through the real binary: one id per node
# in every database of the star, carried by the key line and by every packet
# header; node add's refusals; node list, set-key and remove. SQLite nodes,
# or a PostgreSQL center with XCHG_E2E_CENTER=pg.
E2E_NAME=nodes
. "$(dirname "$0")/lib.bash"

SH=$W/share
mkdir -p "$SH"
uuid_re='[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}'

self_id() { sql "$1" "SELECT id FROM sync_nodes WHERE is_self = 1"; }
peer_id() { sql "$1" "SELECT id FROM sync_nodes WHERE code = '$2'"; }
# message.json of packet $1, as jq's answer to $2
header() { unzip -p "$1" message.json | head -n 1 | sed 's/,$/}/' | jq -r "$2"; }
# refused NAME STATUS REASON NODE ARGS...: xchg ARGS on NODE exits STATUS with
# REASON on stderr, and NODE's database is as it was.
refused() {
	local name=$1 rc=$2 reason=$3 node=$4 before
	shift 4
	before=$(db_sum "$node")
	x "$node" "$@"
	eq "$name: exits $rc" "$rc" "$RC"
	check "$name: says why" has "$ERR" "$reason"
	eq "$name: changes nothing" "$before" "$(db_sum "$node")"
}

setup() {
	local n
	for n in center d1 d2 d3 d4; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	check "init center" x center init --code CENTER --plan "$plan" --master
	check "init D1" x d1 init --code D1 --plan "$plan"
	check "init D2" x d2 init --code D2 --plan "$plan"
	check "init a desktop coded d1, D1 but for case" x d3 init --code d1 --plan "$plan"
	check "init D4" x d4 init --code D4 --plan "$plan"
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('Concrete team', 'Ivanov', 6)"
}

scenario_key_line() {
	local id line
	x center key; line=$OUT
	check "xchg key prints CODE ID KEY on one line" grep -qxE "CENTER $uuid_re [A-Za-z0-9+/]{43}=" <<<"$line"
	id=$(self_id center)
	eq "the line carries the node's id" "CENTER $id" "$(cut -d' ' -f1-2 <<<"$line")"
	x center init --code CENTER --plan "$plan" --master
	eq "init again keeps the id and the key line" "$line" "$(x center key; echo "$OUT")"
}

scenario_add() {
	x center node add --key "$(x d1 key; echo "$OUT")"
	eq "the center registers D1 from its line alone" 0 "$RC"
	check "and says which peer" has "$OUT" "registered peer D1"
	check "D1 registers the center, --code confirming the line's" \
		x d1 node add --code CENTER --key "$(x center key; echo "$OUT")"
	eq "the center knows D1 by D1's own id" "$(self_id d1)" "$(peer_id center D1)"
	eq "D1 knows the center by the center's own id" "$(self_id center)" "$(peer_id d1 CENTER)"
	check "the center registers D2 (the line pasted with stray spaces and a CR)" \
		x center node add --name "Site 2" --key "  $(x d2 key; echo "$OUT") "$'\r\n'
	check "D2 registers the center" x d2 node add --key "$(x center key; echo "$OUT")"

	local k1 k2 k3 kc id1 key1 key3
	x d1 key; k1=$OUT; x d2 key; k2=$OUT; x d3 key; k3=$OUT; x center key; kc=$OUT
	id1=$(cut -d' ' -f2 <<<"$k1"); key1=$(cut -d' ' -f3 <<<"$k1"); key3=$(cut -d' ' -f3 <<<"$k3")
	refused "a malformed line" 2 "is not CODE ID KEY" center node add --key "D9 garbage"
	refused "a line with a fourth field" 2 "is not CODE ID KEY" center node add --key "$k1 x"
	refused "a line with a long fourth field" 2 "is not CODE ID KEY" center node add --key "$k1 extra-words"
	refused "a bare public key" 2 "bare public key" center node add --key "$key1"
	refused "an id that is no uuid" 2 "is not a node id" center node add --key "D9 ${id1^^} $key3"
	refused "a key that is no key" 2 "not an Ed25519 public key" center node add \
		--key "D9 00000000-0000-4000-8000-000000000009 AAAA"
	refused "the node's own line" 2 "this node's own" center node add --key "$kc"
	refused "--code that is not the line's" 2 "the key line is node D1's" center node add --code D7 --key "$k1"
	refused "a peer registered twice" 1 "already registered" center node add --key "$k1"
	refused "a code equal to D1 but for case" 1 "differ in more than case" center node add --key "$k3"
	refused "D1's id under another code" 1 "its id $id1 is registered already, as node D1" \
		center node add --key "D9 $id1 $key3"
	refused "D1's key under another code and id" 1 "its key is registered already, for node D1" \
		center node add --key "D9 00000000-0000-4000-8000-000000000009 $key1"
	refused "a desktop's second peer" 1 "already has its center" d1 node add --key "$k2"
}

scenario_list() {
	local json fp
	x center node list; eq "node list exits 0" 0 "$RC"
	eq "node list shows a header, this node first, then its peers" \
		"CODE ID ROLE|CENTER $(self_id center) self|D1 $(self_id d1) desktop|D2 $(self_id d2) desktop" \
		"$(awk '{ print $1, $2, $3 }' <<<"$OUT" | paste -sd'|')"
	check "with the peer's name" grep -q "^D2 .* Site 2$" <<<"$OUT"
	x center node list --json; json=$OUT
	check "node list --json gives code, name, id, role, self, key, fingerprint, revoked" jq -e '
		length == 3 and .[0].self and .[0].code == "CENTER" and .[0].role == "master"
		and ([.[1:][] | .self] == [false, false]) and ([.[1:][] | .role] | unique == ["subordinate"])
		and all(.[]; (.id | test("^[0-9a-f-]{36}$")) and (.fingerprint | test("^[0-9a-f]{4}(:[0-9a-f]{4}){3}$"))
			and .revoked == false and (.public_key | length) == 44)' <<<"$json"
	fp=$(jq -r '.[] | select(.code == "D1") | .fingerprint' <<<"$json")
	x d1 node list --json
	eq "the center and D1 show D1's key with one fingerprint" "$fp" \
		"$(jq -r '.[] | select(.self) | .fingerprint' <<<"$OUT")"
	x d1 node list --json
	eq "a desktop lists itself and its center" "D1 CENTER" "$(jq -r '[.[].code] | join(" ")' <<<"$OUT")"
	x d1 status --json
	eq "status --json gives the ids too" "$(self_id d1) $(self_id center)" \
		"$(jq -r '"\(.node.id) \(.peers[0].id)"' <<<"$OUT")"
}

scenario_packets() {
	local p
	x center export --node D1 --out "$SH"; p=$OUT
	eq "the header names the sender by its id" "$(self_id center)" "$(header "$p" .header.sender_node_id)"
	eq "and the recipient by its id" "$(self_id d1)" "$(header "$p" .header.recipient_node_id)"
	eq "codes travel beside them, and the format's version" "CENTER D1 2" \
		"$(header "$p" '"\(.header.sender_code) \(.header.recipient_code) \(.header.packet_format)"')"
	eq "every entity has exactly type, uuid, operation, updated_at and data" \
		'["data","operation","type","updated_at","uuid"]' \
		"$(unzip -p "$p" message.json | jq -c '[.body.entities[] | keys] | unique | .[]')"
	local created
	created=$(header "$p" .header.created_at)
	eq "both members carry the packet's time, not 1970" "$(date -u -d "${created%.*}Z" +%Y%m%d.%H%M%S)" \
		"$(TZ=UTC0 unzip -Z -T "$p" | awk '/message\./ { print $(NF-1) }' | sort -u)"
	check "D1 applies it" x d1 import "$SH"

	# A packet that names D1's id under another code, or is of format 1.
	local work=$W/forge
	mkdir -p "$work"
	x d1 export --node CENTER --out "$W"; p=$OUT
	(cd "$work" && rm -f message.* && unzip -q "$p" && sed -i '1s/"sender_code":"D1"/"sender_code":"D2"/' message.json &&
		rm -f "$W/pkt_D2_CENTER_9.zip" && zip -q -X "$W/pkt_D2_CENTER_9.zip" message.json message.sig)
	refused "a packet naming D1's id under code D2" 4 "is registered as D1, but the packet calls it D2" \
		center import "$W/pkt_D2_CENTER_9.zip"
	(cd "$work" && rm -f message.* && unzip -q "$p" && sed -i '1s/"packet_format":2,//' message.json &&
		rm -f "$W/old.zip" && zip -q -X "$W/old.zip" message.json message.sig)
	refused "a packet of format 1" 4 "a packet of format 1, from an older xchg" center import "$W/old.zip"
	check "the genuine packet still applies" x center import "$p"
}

scenario_set_key() {
	local old new
	old=$(sql center "SELECT public_key FROM sync_nodes WHERE code = 'D2'")
	x d2 key rotate; new=$OUT
	check "key rotate prints D2's new key line" grep -qxE "D2 $(self_id d2) [A-Za-z0-9+/]{43}=" <<<"$new"
	refused "set-key with another node's line" 2 "the key line is for node D1" \
		center node set-key D2 --key "$(x d1 key; echo "$OUT")"
	refused "set-key with D1's key in D2's line" 1 "its key is registered already, for node D1" \
		center node set-key D2 --key "D2 $(self_id d2) $(x d1 key; cut -d' ' -f3 <<<"$OUT")"
	refused "set-key for an unknown node" 7 "no such peer" center node set-key D9 --key "$new"
	refused "set-key without --key" 2 "--key is required" center node set-key D2
	refused "set-key for this node itself" 2 "is this node itself" center node set-key CENTER --key "$new"
	check "set-key registers the key given out of band" x center node set-key D2 --key "$new"
	eq "the center now holds D2's new key" "$(cut -d' ' -f3 <<<"$new")" \
		"$(sql center "SELECT public_key FROM sync_nodes WHERE code = 'D2'")"
	check "and the old one is gone" test "$old" != "$(cut -d' ' -f3 <<<"$new")"
	check "setting the same key again is no error" x center node set-key D2 --key "$new"
	sql d2 "INSERT INTO brigades (name, foreman, headcount) VALUES ('after set-key', 'D2', 2)"
	x d2 export --node CENTER --out "$W"
	check "a packet signed with the new key applies" x center import "$OUT"
}

scenario_remove() {
	local id4
	check "the center registers D4" x center node add --key "$(x d4 key; echo "$OUT")"
	id4=$(self_id d4)
	eq "adding D4 queues nothing: its first packet reads the tables" 0 \
		"$(sql center "SELECT count(*) FROM sync_changes WHERE node_id = '$id4'")"
	x center status --json
	eq "status shows D4 owed the full state" true "$(jq '.peers[] | select(.code == "D4") | .full_state' <<<"$OUT")"
	refused "removing a peer that exchanged" 1 "has exchanged packets" center node remove D1
	refused "removing an unknown node" 7 "no such peer" center node remove D9
	refused "removing this node" 2 "is this node itself" center node remove CENTER
	check "a peer that never exchanged is removed" x center node remove D4
	eq "it is gone, and its queue with it" "0 0" \
		"$(sql center "SELECT count(*) FROM sync_nodes WHERE code = 'D4'") $(sql center "SELECT count(*) FROM sync_changes WHERE node_id = '$id4'")"
	check "it can be registered again" x center node add --key "$(x d4 key; echo "$OUT")"
	check "a revoked peer that exchanged" x center node revoke D2
	check "is removed" x center node remove D2
	x center node list --json
	eq "node list shows what is left" "CENTER D1 D4" "$(jq -r '[.[].code] | join(" ")' <<<"$OUT")"
}

if setup; then
	scenario_key_line
	scenario_add
	scenario_list
	scenario_packets
	scenario_set_key
	scenario_remove
fi
summary
[ "$fail" -eq 0 ]
