#!/usr/bin/env bash
# What a newcomer does with the library: `make install` into a prefix of
# their own, then build examples/library/export.c against it through
# pkg-config, link the shared library, and read `man xchg`. The build is a
# plain one of its own (make all), so it does not touch build/.
#   - the prefix holds the tool, both libraries (the shared one with its
#     soname), the header, xchg.pc, the man page, bash completion and the
#     formats' documentation;
#   - pkg-config names -lxchg and the six libraries it needs;
#   - the example, linked to the shared library, exports a packet that the
#     installed xchg imports at the desktop;
#   - the shared library exports the public API and nothing else;
#   - the man page has an entry for every command, naming the options the
#     command's help lists and no other.
set -u

E2E_NAME=install
. "$(cd "$(dirname "$0")" && pwd)/lib.bash"

P=$W/prefix
export PKG_CONFIG_PATH=$P/lib/pkgconfig
if ! out=$(env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL make -C "$root" --no-print-directory -s -j2 BUILD="$W/build" PREFIX="$P" install 2>&1); then
	bad "make install into a prefix" "$(tail -n 5 <<<"$out" | tr '\n' ' ')"
	summary; exit 1
fi
ok "make install into a prefix"

for f in bin/xchg include/xchg.h lib/libxchg.a lib/pkgconfig/xchg.pc share/man/man1/xchg.1 \
	share/bash-completion/completions/xchg share/doc/xchg/PLAN.md share/doc/xchg/PACKET.md; do
	check "installed: $f" test -s "$P/$f"
done
version=$("$P/bin/xchg" --version | cut -d' ' -f2)
check "installed: the shared library with its soname" test -x "$P/lib/libxchg.so.$version" -a \
	-L "$P/lib/libxchg.so.${version%%.*}" -a -L "$P/lib/libxchg.so"
eq "its soname is libxchg.so.MAJOR" "libxchg.so.${version%%.*}" \
	"$(objdump -p "$P/lib/libxchg.so.$version" 2>/dev/null | awk '$1 == "SONAME" { print $2 }')"
eq "pkg-config knows the version" "$version" "$(pkg-config --modversion xchg)"
libs=$(pkg-config --libs xchg)
for l in -lxchg -lz -larchive -lsqlite3 -lpq -lcjson -lsodium; do
	check "pkg-config --libs xchg names $l" grep -qw -- "$l" <<<"$libs"
done
eq "the shared library exports xchg_* alone" "" \
	"$(nm -D --defined-only "$P/lib/libxchg.so.$version" | awk '$3 !~ /^xchg_/ && $3 != "XCHG_0" { print $3 }')"
check "the completion script is valid bash" bash -n "$P/share/bash-completion/completions/xchg"
# complete WORDS...: what the installed completion offers for the last word, with
# bash-completion's two helpers stood in for (the package need not be here).
complete_words() {
	PATH=$P/bin:$PATH bash -c '
		_init_completion() { words=("${COMP_WORDS[@]}"); cword=$COMP_CWORD
			cur=${COMP_WORDS[COMP_CWORD]}; prev=${COMP_WORDS[COMP_CWORD-1]}; }
		_filedir() { COMPREPLY=(FILES); }
		. "$0"; COMP_WORDS=("$@"); COMP_CWORD=$(($# - 1)); _xchg; echo "${COMPREPLY[*]}"' \
		"$P/share/bash-completion/completions/xchg" "$@"
}
eq "completion: a command" export "$(complete_words xchg exp)"
eq "completion: a group's subcommands" "remove revoke resync" "$(complete_words xchg node re)"
eq "completion: a command's options, from its help" --node "$(complete_words xchg export --no)"
eq "completion: a file after --plan" FILES "$(complete_words xchg init --plan "")"

# The example, built as its comment says, against the shared library.
if cc "$root/examples/library/export.c" $(pkg-config --cflags --libs xchg) -o "$W/export" 2>"$W/cc.err"; then
	ok "examples/library/export.c builds with pkg-config --cflags --libs xchg"
else
	bad "examples/library/export.c builds with pkg-config --cflags --libs xchg" "$(head -n 5 "$W/cc.err")"
fi
check "and links libxchg.so" grep -q "libxchg.so.${version%%.*} => $P/lib/" \
	<<<"$(LD_LIBRARY_PATH=$P/lib ldd "$W/export")"

sqlite3 "$W/center.db" <"$schema" && sqlite3 "$W/d1.db" <"$schema"
X="$P/bin/xchg"
check "init the center with the installed xchg" "$X" init --db "$W/center.db" --code CENTER --plan "$plan" --master
check "init a desktop" "$X" init --db "$W/d1.db" --code D1 --plan "$plan"
check "register the desktop" "$X" node add --db "$W/center.db" --key "$("$X" key --db "$W/d1.db")"
check "register the center" "$X" node add --db "$W/d1.db" --key "$("$X" key --db "$W/center.db")"
sqlite3 "$W/center.db" "INSERT INTO brigades (name) VALUES ('Linked')"
mkdir -p "$W/out"
out=$(LD_LIBRARY_PATH=$P/lib "$W/export" "$W/center.db" D1 "$W/out" 2>&1)
eq "the example exits 0" 0 "$?"
check "and says which packet it wrote" grep -q "pkt_CENTER_D1_1.zip: packet 1 for D1" <<<"$out"
check "the desktop imports it" "$X" import --db "$W/d1.db" "$W/out/pkt_CENTER_D1_1.zip"
eq "and holds the row" Linked "$(sqlite3 "$W/d1.db" "SELECT name FROM brigades")"

# man xchg, from the prefix's man folder.
page=$(MANPATH=$P/share/man MANWIDTH=80 man xchg 2>&1)
check "man xchg shows the page" grep -qE "xchg +- +keep a center database" <<<"$page"
check "with the exit status table" grep -q "EXIT STATUS" <<<"$page"
eq "and man finds no fault in it" "" "$(MANPATH=$P/share/man man --warnings -E UTF-8 xchg 2>&1 >/dev/null)"

# The page is written by hand beside the commands' help: each command has its
# entry, and the entry names the options its help lists, and no other.
commands=$("$X" --help | sed -n '/^commands:/,/^$/{s/^  \([a-z][a-z-]*\( [a-z-]*\)\{0,1\}\)  .*/\1/p}' | sed 's/ *$//')
man_src=$(sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/"//g' "$P/share/man/man1/xchg.1")
# man_entry CMD: the COMMANDS entry whose heading starts with CMD and no longer command.
man_entry() {
	awk -v cmd="$1" -v all="$commands" '
		BEGIN { n = split(all, cmds, "\n") }
		/^\.SH/ { in_commands = ($2 == "COMMANDS"); on = 0; next }
		!in_commands { next }
		/^\.TP/ { heading = 1; on = 0; next }
		heading {
			line = $0; sub(/^\.[A-Z]+ /, "", line); best = ""
			for (i = 1; i <= n; i++)
				if ((line == cmds[i] || index(line, cmds[i] " ") == 1) && length(cmds[i]) > length(best))
					best = cmds[i]
			on = (best == cmd); heading = 0
		}
		on' <<<"$man_src"
}
while read -r cmd; do
	entry=$(man_entry "$cmd")
	if [ -z "$entry" ]; then
		bad "man xchg has an entry for $cmd" "none found under COMMANDS"
		continue
	fi
	# "SHORT LONG" per option of the help; SHORT is - when there is none.
	help_opts=$("$X" $cmd --help | sed -n 's/^  \(-[a-z]\), \(--[a-z-]*\).*/\1 \2/p; s/^  \(--[a-z-]*\).*/- \1/p')
	named=$(grep -oE -- '(^|[^a-z-])--?[a-z][a-z-]*' <<<"$entry" | sed 's/^[^-]*//' | sort -u)
	missing=$(while read -r short long; do
		case $long in --db | --help) continue ;; esac
		grep -qxe "$short" -e "$long" <<<"$named" || echo "$long"
	done <<<"$help_opts")
	eq "man xchg names every option of xchg $cmd --help" "" "$missing"
	eq "and none that xchg $cmd does not take" "" \
		"$(grep -vxF -f <(tr ' ' '\n' <<<"$help_opts") <<<"$named" | grep . | tr '\n' ' ')"
done <<<"$commands"

summary
[ "$fail" -eq 0 ]
