# bash completion for xchg(1). The commands and each command's options are
# read from xchg's own help, so they never drift from the program.

_xchg_commands() { # the one- or two-word command names, one per line
	xchg --help 2>/dev/null | sed -n '/^commands:/,/^$/{s/^  \([a-z][a-z-]*\)\( [a-z-]*\)\{0,1\}  .*/\1\2/p}' |
		sed 's/ *$//'
}

_xchg() {
	local cur prev words cword
	_init_completion || return
	local cmds first second opts
	cmds=$(_xchg_commands)
	first=${words[1]:-}
	second=${words[2]:-}

	if [ "$cword" -eq 1 ]; then
		COMPREPLY=($(compgen -W "$(cut -d' ' -f1 <<<"$cmds" | sort -u) help --version --help" -- "$cur"))
		return
	fi
	if [ "$first" = help ]; then
		[ "$cword" -eq 2 ] && COMPREPLY=($(compgen -W "$(cut -d' ' -f1 <<<"$cmds" | sort -u)" -- "$cur"))
		[ "$cword" -eq 3 ] && COMPREPLY=($(compgen -W "$(sed -n "s/^$second //p" <<<"$cmds")" -- "$cur"))
		return
	fi
	# A group word ("node", "key") takes a subcommand second.
	if [ "$cword" -eq 2 ] && [[ $cur != -* ]] && grep -q "^$first " <<<"$cmds"; then
		COMPREPLY=($(compgen -W "$(sed -n "s/^$first //p" <<<"$cmds")" -- "$cur"))
		return
	fi
	case $prev in
	--db | --plan | --out | --dir)
		_filedir
		return
		;;
	esac
	if [[ $cur == -* ]]; then
		if grep -qx "$first $second" <<<"$cmds"; then
			opts=$(xchg "$first" "$second" --help 2>/dev/null)
		else
			opts=$(xchg "$first" --help 2>/dev/null)
		fi
		COMPREPLY=($(compgen -W "$(sed -n 's/^  \(-[a-z], \)\{0,1\}\(--[a-z-]*\).*/\2/p' <<<"$opts")" -- "$cur"))
		return
	fi
	_filedir
}
complete -F _xchg xchg
