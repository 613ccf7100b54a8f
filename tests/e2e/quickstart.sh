#!/usr/bin/env bash
# The README's quick start, run as written: its first shell block is taken
# from README.md line by line, with only what a reader fills in replaced
# (the key lines they pass on, the shared folder, where xchg and the plan
# are), so a change that breaks the documented commands fails here.
E2E_NAME=quickstart
. "$(dirname "$0")/lib.bash"

block=$(awk '/^## Quick start/ { on = 1 } on && /^```sh$/ { inside = 1; next }
	inside && /^```$/ { exit } inside' "$root/README.md")
check "README.md has a quick start block" test -n "$block"

share=$W/share
mkdir -p "$share"
cp "$plan" "$W/plan.json"
# "Both sides have the business tables already."
sqlite3 "$W/center.db" <"$schema"
sqlite3 "$W/site1.db" <"$schema"
sqlite3 "$W/center.db" "INSERT INTO brigades (name, foreman, headcount) VALUES ('Concrete team', 'Ivanov', 6)"

xchg() { "$bin" "$@"; }
export -f xchg
export bin
n=0
while IFS= read -r line; do
	cmd=${line%%#*}
	cmd=${cmd%"${cmd##*[![:space:]]}"}
	[ -n "$cmd" ] || continue
	cmd=${cmd//\"<the center\'s line>\"/\"\$(xchg key --db center.db)\"}
	cmd=${cmd//\"<the desktop\'s line>\"/\"\$(xchg key --db site1.db)\"}
	cmd=${cmd//\/mnt\/share/$share}
	n=$((n + 1))
	if out=$(cd "$W" && bash -c "$cmd" 2>&1); then
		ok "quick start step $n: $cmd"
	else
		bad "quick start step $n: $cmd" "$out"
	fi
done <<<"$block"
check "the quick start ran ten commands or more" test "$n" -ge 10

eq "the desktop holds the center's brigade" "Concrete team" \
	"$(sqlite3 "$W/site1.db" "SELECT name FROM brigades")"
check "the center's first packet is where the README says" test -f "$share/pkt_CENTER_DESKTOP-USER-1_1.zip"
check "the desktop acknowledged it" test -f "$share/pkt_DESKTOP-USER-1_CENTER_1.zip"
check "and exported its own packet" test -f "$share/pkt_DESKTOP-USER-1_CENTER_2.zip"
eq "both ends know the desktop by one id" \
	"$(sqlite3 "$W/site1.db" "SELECT id FROM sync_nodes WHERE is_self = 1")" \
	"$(sqlite3 "$W/center.db" "SELECT id FROM sync_nodes WHERE code = 'DESKTOP-USER-1'")"
summary
[ "$fail" -eq 0 ]
