#!/usr/bin/env bash
# Full disks and read-only folders (issue 5): an export into a read-only
# outbox or onto a full file system, an import whose acknowledgement cannot
# be written, an import from a read-only medium, a database whose own disk
# is full. Each failure exits with the documented status, names the folder or
# file and the reason on stderr, leaves no file an importer could pick up and
# leaves the database as it was; once the fault is gone the same command
# succeeds and the exchange converges with nothing lost.
#   usage: XCHG_BIN=build/xchg bash tests/e2e/disk.sh
#
# The faults are real mounts, so that they hold for root too (permissions
# stop nothing there): the script runs itself again in a private mount
# namespace, as root or, for anyone else, mapped to root in a new user
# namespace, and there mounts tiny tmpfs file systems and read-only binds
# that nobody outside sees and that vanish with the script. Where no
# namespace can be made it falls back to chmod for the read-only cases
# (enough without root) and says which cases it skips.
set -u

if [ -z "${XCHG_DISK_NS:-}" ]; then
	if [ "$(id -u)" = 0 ]; then ns=(unshare --mount --propagation private)
	else ns=(unshare --map-root-user --mount --propagation private); fi
	# A namespace is only of use if a tmpfs can be mounted in it.
	# shellcheck disable=SC2016
	if "${ns[@]}" sh -c 'd=$(mktemp -d) || exit 1
		mount -t tmpfs -o size=64k tmpfs "$d" && umount "$d"; r=$?; rmdir "$d"; exit $r' 2>/dev/null; then
		XCHG_DISK_NS=mounts exec "${ns[@]}" bash "$0" "$@"
	fi
	XCHG_DISK_NS=none
fi

E2E_NAME=disk
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

SH=$W/shared
mkdir -p "$SH"

# ---------------------------------------------------------------- faults

MOUNTS=()
disk_cleanup() {
	local i
	for ((i = ${#MOUNTS[@]} - 1; i >= 0; i--)); do umount -l "${MOUNTS[i]}" 2>/dev/null; done
	chmod -R u+w "$W" 2>/dev/null
	e2e_cleanup
}
trap disk_cleanup EXIT

skip() { printf 'skip - %s\n' "$1"; }

# How a read-only folder is made, and the reason xchg will give.
if [ "$XCHG_DISK_NS" = mounts ]; then RO_HOW="a read-only bind mount" RO_WHY="Read-only file system"
elif [ "$(id -u)" != 0 ]; then RO_HOW="chmod 555" RO_WHY="Permission denied"
else RO_HOW="" RO_WHY=""; fi

# make_readonly DIR / make_writable DIR: DIR refuses, then takes, new files.
make_readonly() {
	if [ "$XCHG_DISK_NS" = mounts ]; then
		mount --bind "$1" "$1" && mount -o remount,bind,ro "$1" && MOUNTS+=("$1")
	else chmod 555 "$1"; fi
}
make_writable() {
	if [ "$XCHG_DISK_NS" = mounts ]; then umount "$1"; else chmod 755 "$1"; fi
}
# tiny_fs DIR SIZE: DIR becomes a new, empty file system of SIZE bytes.
tiny_fs() {
	mkdir -p "$1" && mount -t tmpfs -o "size=$2,mode=0755" tmpfs "$1" && MOUNTS+=("$1")
}
# fill DIR: the file DIR/filler takes every free byte of DIR's file system.
fill() {
	dd if=/dev/zero of="$1/filler" bs=4k status=none 2>/dev/null
	[ "$(df --output=avail "$1" | tail -n1)" -eq 0 ]
}

# ---------------------------------------------------------------- checks

file_sum() { sha256sum <"$1" | cut -c1-64; }
# listing DIR: every name in DIR, hidden ones too, but the filler.
listing() { find "$1" -mindepth 1 -maxdepth 1 ! -name filler -printf '%f\n' | sort | tr '\n' ' '; }
# state NODE: what a failed command must leave as it was: the synchronized
# rows, this node's counters for every peer, the registrations, the
# captures not routed yet and the conflict log.
state() {
	dump_tables "$1"
	sql "$1" "SELECT code, received_packet_no, sent_packet_no, acked_packet_no,
			quote(last_sync_in), quote(last_sync_out) FROM sync_nodes ORDER BY code;
		SELECT id, node_id, entity_type, entity_uuid, operation, quote(packet_no), quote(changed_at)
			FROM sync_changes ORDER BY id;
		SELECT * FROM sync_capture ORDER BY id;
		SELECT count(*) FROM sync_conflicts;"
}
# outgoing NODE: what an unwritten acknowledgement must leave as it was (the
# registrations stamped with a packet; the import routes new ones, unstamped).
outgoing() {
	sql "$1" "SELECT code, sent_packet_no, quote(last_sync_out) FROM sync_nodes ORDER BY code;
		SELECT id, node_id, entity_type, entity_uuid, operation, quote(packet_no), quote(changed_at)
			FROM sync_changes WHERE packet_no IS NOT NULL ORDER BY id;"
}
# same NAME BEFORE AFTER: eq, with the first lines of the difference.
same() {
	if [ "$2" == "$3" ]; then ok "$1"
	else bad "$1" "$(diff <(printf '%s\n' "$2") <(printf '%s\n' "$3") | head -n 8 | cut -c1-160 | tr '\n' ' ')"; fi
}
# same_data NAME NODE NODE: same_tables, with the difference cut short
# (the bulk rows are 2000 characters wide).
same_data() {
	local a b
	a=$(dump_tables "$2"); b=$(dump_tables "$3")
	if [ "$a" == "$b" ]; then ok "$1"
	else bad "$1" "$(diff <(printf '%s\n' "$a") <(printf '%s\n' "$b") | head -n 8 | cut -c1-160 | tr '\n' ' ')"; fi
}
# says NAME NEEDLE...: stderr of the last run holds every NEEDLE.
says() {
	local name=$1 n; shift
	for n in "$@"; do
		has "$ERR" "$n" || { bad "$name" "no '$n' in stderr: $(printf '%s' "$ERR" | head -n 4 | tr '\n' ' ')"; return; }
	done
	ok "$name"
}
sent_no() { sql "$1" "SELECT sent_packet_no FROM sync_nodes WHERE code = '$2'"; }
received_no() { sql "$1" "SELECT received_packet_no FROM sync_nodes WHERE code = '$2'"; }
unsent() { sql "$1" "SELECT count(*) FROM sync_changes WHERE packet_no IS NULL"; }

# failed_export NAME NODE PEER DIR WHY: `xchg export` into DIR fails with
# exit 5 and a message naming DIR and WHY; DIR gains no file and NODE's
# database is as it was.
failed_export() {
	local name=$1 node=$2 peer=$3 dir=$4 why=$5 before files
	before=$(state "$node"); files=$(listing "$dir")
	x "$node" export --node "$peer" --out "$dir"
	printf '%s\n' "$ERR" | sed 's/^/    | /'
	eq "$name: exit status 5 (a file or folder could not be written)" 5 "$RC"
	eq "$name: no path on stdout" "" "$OUT"
	says "$name: stderr names the folder and says '$why'" "$dir/" "$why"
	eq "$name: no file left behind, hidden or not" "$files" "$(listing "$dir")"
	same "$name: the database is as it was" "$before" "$(state "$node")"
}

# ---------------------------------------------------------------- scenarios

setup() {
	local n
	for n in center d1; do load_schema $n || { bad setup "schema into $(db_url $n)"; return 1; }; done
	x center init --code CENTER --name "Head office" --plan "$plan" --master || { bad "init center" "$ERR"; return 1; }
	x d1 init --code D1 --name "Site 1" --plan "$plan" || { bad "init D1" "$ERR"; return 1; }
	x center node add --code D1 --key "$(xchg_on d1 key)" || { bad "center registers D1" "$ERR"; return 1; }
	x d1 node add --code CENTER --key "$(xchg_on center key)" || { bad "D1 registers the center" "$ERR"; return 1; }
	# Random hex does not shrink below half: 120 names of 2000 characters
	# make a first packet of about 120 KB, more than the tiny file system holds.
	sql center "INSERT INTO brigades (name, foreman, headcount) VALUES ('Concrete team', 'Ivanov', 6);
		WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 120)
		INSERT INTO brigades (name, foreman, headcount) SELECT hex(randomblob(1000)), 'bulk', i FROM n;
		INSERT INTO estimates (number, title, total) VALUES ('E-1', 'School, block A', '100.00');"
	ok "setup: a center with 122 rows to send and a desktop"
}

# 1. An outbox that is read-only: nothing is written, nothing moves.
scenario_readonly_outbox() {
	local ro=$W/readonly-outbox
	mkdir -p "$ro"
	if [ -z "$RO_HOW" ]; then skip "export into a read-only outbox: root without a mount namespace"; return; fi
	make_readonly "$ro" || { bad "read-only outbox" "cannot make $ro read-only ($RO_HOW)"; return; }
	failed_export "export into a read-only outbox ($RO_HOW)" center D1 "$ro" "$RO_WHY"
	make_writable "$ro"
}

# 2. An outbox on a file system with no byte free: the temporary file is
# created, its first write fails, and it is removed again.
scenario_full_outbox() {
	local full=$W/full-outbox
	if [ "$XCHG_DISK_NS" != mounts ]; then skip "export onto a full file system: no mount namespace"; return; fi
	tiny_fs "$full" 256k && fill "$full" || { bad "full outbox" "cannot make a full file system at $full"; return; }
	failed_export "export onto a full file system" center D1 "$full" "No space left on device"
	rm -f "$full/filler"
}

# 3. A packet larger than the free space: the write fails half-way, and the
# half-written temporary file goes. Then, with room, the same export
# succeeds and takes the number the failed ones did not use.
scenario_packet_too_big() {
	local tiny=$W/tiny-outbox sent
	sent=$(sent_no center D1)
	if [ "$XCHG_DISK_NS" = mounts ]; then
		tiny_fs "$tiny" 64k || { bad "tiny outbox" "cannot mount a 64 KB file system at $tiny"; return; }
		failed_export "export of a 120 KB packet onto a 64 KB file system" center D1 "$tiny" "No space left on device"
		# Room again: the tiny file system goes, the folder under it stays.
		umount "$tiny" || bad "tiny outbox" "cannot unmount $tiny"
	else
		skip "export of a packet larger than the free space: no mount namespace"
		mkdir -p "$tiny"
	fi
	x center export --node D1 --out "$tiny"
	eq "with room again, the same export succeeds" 0 "$RC"
	eq "it takes the next number, none skipped: pkt_CENTER_D1_$((sent + 1)).zip" \
		"$tiny/pkt_CENTER_D1_$((sent + 1)).zip" "$OUT"
	check "the packet is bigger than 64 KB (so the failure above was a real half-write)" \
		test "$(stat -c %s "$OUT")" -gt 65536
	eq "the outbox holds that packet only" "pkt_CENTER_D1_$((sent + 1)).zip " "$(listing "$tiny")"
	FIRST_PKT=$OUT
}

# 4. A packet on a read-only medium (a write-protected USB stick) is
# imported; it stays where it was, unchanged; the acknowledgement goes to
# --out.
scenario_readonly_medium() {
	local stick=$W/stick pkt sum before
	mkdir -p "$stick"
	cp "$FIRST_PKT" "$stick/"
	pkt=$stick/$(basename "$FIRST_PKT")
	sum=$(file_sum "$pkt")
	if [ -n "$RO_HOW" ]; then make_readonly "$stick" || bad "read-only medium" "cannot make $stick read-only"
	else skip "import from a read-only medium: root without a mount namespace (imported from a writable one)"; fi
	x d1 import "$pkt" --out "$SH"
	eq "import of a packet on a read-only medium exits 0" 0 "$RC"
	check "the packet is applied" grep -q "^applied $pkt: packet 1 from CENTER" <<<"$OUT"
	check "the acknowledgement goes to --out" grep -q "^acknowledged with $SH/pkt_D1_CENTER_1.zip" <<<"$OUT"
	if [ -f "$pkt" ] && [ "$(file_sum "$pkt")" = "$sum" ]; then ok "the packet is still on the medium, unchanged"
	else bad "the packet is still on the medium, unchanged" "$pkt was moved or changed"; fi
	eq "nothing else is on the medium" "$(basename "$pkt") " "$(listing "$stick")"
	same_data "D1 holds the center's data" center d1
	[ -n "$RO_HOW" ] && make_writable "$stick"
	# The center takes the acknowledgement: its queue for D1 empties.
	x center import "$SH"
	eq "the center takes D1's acknowledgement" 0 "$RC"
	eq "the center's queue for D1 is empty" 0 "$(sql center "SELECT count(*) FROM sync_changes")"
	before=$(state d1)
	x d1 import "$stick"
	eq "importing the medium again: exit 0" 0 "$RC"
	check "importing the medium again: skipped as a duplicate" grep -q "^skipped $pkt: " <<<"$OUT"
	same "importing the medium again changes nothing" "$before" "$(state d1)"
}

# ack_failed NAME NODE DIR WHY BEFORE_OUTGOING: the last import applied its
# packet but could not write the acknowledgement into DIR: exit 5, stderr
# names DIR and WHY and says the packet is applied, DIR gains no file, and
# nothing went out: the counters of sent packets and the registrations
# are as they were.
ack_failed() {
	local name=$1 node=$2 dir=$3 why=$4 before=$5 files=$6
	printf '%s\n' "$ERR" | sed 's/^/    | /'
	eq "$name: exit status 5" 5 "$RC"
	check "$name: the packet is applied (stdout)" grep -q "^applied " <<<"$OUT"
	says "$name: stderr names the folder and says '$why'" "$dir/" "$why"
	check "$name: stderr does not call the applied packet 'not applied'" \
		bash -c "! grep -q '^not applied' <<<\"\$1\"" _ "$ERR"
	eq "$name: no file left behind, hidden or not" "$files" "$(listing "$dir")"
	same "$name: no packet number used, no registration marked" "$before" "$(outgoing "$node")"
}

# 5. The acknowledgement goes beside the packet by default; on a read-only
# medium it cannot. The packet is applied all the same (its own
# transaction); the acknowledgement travels with D1's next export.
scenario_ack_readonly() {
	local in=$W/readonly-inbox before files
	mkdir -p "$in"
	sql center "UPDATE brigades SET headcount = 7 WHERE name = 'Concrete team'"
	sql d1 "INSERT INTO brigades (name, foreman, headcount) VALUES ('Site crew', 'D1', 3)"
	x center export --node D1 --out "$in" || bad "center exports packet 2" "$ERR"
	if [ -z "$RO_HOW" ]; then skip "acknowledgement into a read-only folder: root without a mount namespace"; return; fi
	make_readonly "$in" || { bad "read-only inbox" "cannot make $in read-only"; return; }
	before=$(outgoing d1); files=$(listing "$in")
	x d1 import "$in"
	ack_failed "acknowledgement into a read-only folder" d1 "$in" "$RO_WHY" "$before" "$files"
	eq "D1 received packet 2" 2 "$(received_no d1 CENTER)"
	eq "D1's own edit is still waiting to be sent" 1 "$(unsent d1)"
	make_writable "$in"
}

# 6. An acknowledgement into a full folder (--out): the same.
scenario_ack_full() {
	local full=$W/full-acks before files
	sql center "UPDATE brigades SET headcount = 8 WHERE name = 'Concrete team'"
	x center export --node D1 --out "$SH" || bad "center exports packet 3" "$ERR"
	if [ "$XCHG_DISK_NS" != mounts ]; then skip "acknowledgement onto a full file system: no mount namespace"; return; fi
	tiny_fs "$full" 64k && fill "$full" || { bad "full folder" "cannot make a full file system at $full"; return; }
	before=$(outgoing d1); files=$(listing "$full")
	x d1 import "$SH" --out "$full"
	ack_failed "acknowledgement onto a full file system" d1 "$full" "No space left on device" "$before" "$files"
	rm -f "$full/filler"
}

# 7. A database on a full disk: export and import fail as database failures
# (exit 3), the outbox stays empty, the packet stays where it was.
scenario_full_database() {
	local fs=$W/dbfs node before pkt sum files
	if [ "$XCHG_DISK_NS" != mounts ]; then skip "a database on a full disk: no mount namespace"; return; fi
	tiny_fs "$fs" 4m || { bad "database disk" "cannot mount a file system at $fs"; return; }
	node=${fs#"$W"/}/d2 # lib.bash keeps node N's database in $W/N.db
	load_schema "$node" && x "$node" init --code D2 --plan "$plan" &&
		x center node add --code D2 --key "$(xchg_on "$node" key)" &&
		x "$node" node add --code CENTER --key "$(xchg_on center key)" ||
		{ bad "database disk" "cannot set up D2 on $fs: $ERR"; return; }
	sql "$node" "INSERT INTO brigades (name, foreman, headcount) VALUES ('D2 crew', 'D2', 2)"
	x center export --node D2 --out "$SH" || { bad "center exports to D2" "$ERR"; return; }
	pkt=$OUT; sum=$(file_sum "$pkt")
	fill "$fs" || { bad "database disk" "cannot fill $fs"; return; }
	before=$(state "$node"); files=$(listing "$SH")
	x "$node" import "$pkt"
	printf '%s\n' "$ERR" | sed 's/^/    | /'
	eq "import into a database on a full disk: exit status 3 (the database failed)" 3 "$RC"
	check "the packet is reported not applied, with the reason" grep -qiE "^not applied $pkt: .*(full|space)" <<<"$ERR"
	same "the database on the full disk is as it was" "$before" "$(state "$node")"
	eq "the packet is left where it was" "$sum" "$(file_sum "$pkt")"
	eq "no acknowledgement written" "$files" "$(listing "$SH")"
	# export: the registration must be marked with the packet number, which
	# needs room; the temporary packet in the outbox goes again.
	x "$node" export --node CENTER --out "$SH"
	printf '%s\n' "$ERR" | sed 's/^/    | /'
	eq "export from a database on a full disk: exit status 3 (the database failed)" 3 "$RC"
	eq "the outbox gains no file" "$files" "$(listing "$SH")"
	same "the database on the full disk is still as it was" "$before" "$(state "$node")"
	rm -f "$fs/filler"
	x "$node" import "$pkt"
	eq "with room again, the same packet imports" 0 "$RC"
	check "and D2 acknowledges it" grep -q "^acknowledged with $SH/pkt_D2_CENTER_1.zip" <<<"$OUT"
	D2=$node
}

# 8. With every fault gone, a few rounds settle everything: nothing was lost
# on the way (D1's edit made before its failed acknowledgements arrives,
# the center's last edit arrives, every queue empties).
scenario_converge() {
	local n r applied nodes=(d1) peers=(D1)
	[ -n "${D2:-}" ] && nodes+=("$D2") peers+=(D2)
	for r in 1 2 3 4; do
		applied=0
		for n in "${nodes[@]}"; do
			x "$n" export --node CENTER --out "$SH" || bad "round $r: $n exports" "$ERR"
		done
		x center import "$SH" || bad "round $r: the center imports" "$ERR"
		applied=$((applied + $(grep -cE '^applied .*, [1-9][0-9]* entit(y|ies)' <<<"$OUT")))
		for n in "${peers[@]}"; do
			x center export --node "$n" --out "$SH" || bad "round $r: the center exports to $n" "$ERR"
		done
		for n in "${nodes[@]}"; do
			x "$n" import "$SH" || bad "round $r: $n imports" "$ERR"
			applied=$((applied + $(grep -cE '^applied .*, [1-9][0-9]* entit(y|ies)' <<<"$OUT")))
		done
		[ $applied -eq 0 ] && break
	done
	eq "the exchange settles" 0 "$applied"
	same_data "D1 holds exactly the center's data" center d1
	eq "D1's edit made before the failed acknowledgements reached the center" 1 \
		"$(sql center "SELECT count(*) FROM brigades WHERE name = 'Site crew'")"
	eq "the center's last edit reached D1" 8 "$(sql d1 "SELECT headcount FROM brigades WHERE name = 'Concrete team'")"
	if [ -n "${D2:-}" ]; then
		same_data "D2 holds exactly the center's data" center "$D2"
		eq "D2's edit reached D1" 1 "$(sql d1 "SELECT count(*) FROM brigades WHERE name = 'D2 crew'")"
	fi
	for n in center "${nodes[@]}"; do
		eq "$n: every queue is empty" 0 "$(sql "$n" 'SELECT count(*) FROM sync_changes')"
	done
	local f stray=""
	for f in "$SH"/* "$SH"/.[!.]*; do
		[ -e "$f" ] || continue
		[[ $(basename "$f") =~ ^pkt_[A-Z0-9]+_[A-Z0-9]+_[0-9]+\.zip$ ]] || stray="$stray $(basename "$f")"
	done
	eq "the shared folder holds packets only, no temporary leftovers" "" "$stray"
	no_sanitizer_reports "$W/all-stderr"
}

# ---------------------------------------------------------------- main

case $XCHG_DISK_NS in
mounts) echo "# faults made with mounts in a private mount namespace" ;;
*) echo "# no mount namespace could be made: read-only folders by ${RO_HOW:-nothing (root)}, full disks skipped" ;;
esac
if setup; then
	scenario_readonly_outbox
	scenario_full_outbox
	scenario_packet_too_big
	scenario_readonly_medium
	scenario_ack_readonly
	scenario_ack_full
	scenario_full_database
	scenario_converge
fi
summary
[ "$fail" -eq 0 ]
