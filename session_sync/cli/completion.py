"""``session-sync completion bash|zsh|fish``: a shell completion script made from the
parser itself, so a new subcommand or flag completes without anyone editing a script.

The parser is walked into ``Level``s (one per subcommand path: its subcommands,
flags, which flags take a value and their choices); each shell gets the same small
walker over the words typed so far, with the levels written into it as ``case``
tables. Every shell's walker is a function that prints the candidates for the last
word (``_session_sync_candidates sync --pu`` prints ``--pull`` and ``--push``), so
the tests drive the real scripts in the real shells.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from typing import Any

import attrs

__all__ = ["COMMANDS", "SHELLS", "Level", "add_parsers", "levels", "script"]

SHELLS = ("bash", "zsh", "fish")

# Every word written into a script matches this, so none needs quoting in any shell.
_WORD = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*|-[A-Za-z0-9]|--[A-Za-z0-9][A-Za-z0-9_-]*")


@attrs.frozen
class Level:
    """What can follow one subcommand path (``()`` is the program itself)."""

    path: tuple[str, ...]
    """The subcommands typed to get here (``("backups", "list")``)."""
    commands: tuple[str, ...]
    """Its subcommands."""
    words: tuple[str, ...]
    """Fixed choices of its positional arguments (``hooks install|uninstall``)."""
    flags: tuple[str, ...]
    """Its option strings, as ``--help`` shows them."""
    valued: dict[str, tuple[str, ...]] = attrs.field(factory=dict)
    """The flags that take a value, each with its choices (empty: any value)."""


def _words(values: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in values)


def levels(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[Level]:
    """The parser's levels, the top one first (flags hidden from ``--help`` left out)."""
    commands: dict[str, argparse.ArgumentParser] = {}
    words: list[str] = []
    flags: list[str] = []
    valued: dict[str, tuple[str, ...]] = {}
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            commands.update(action.choices)
        elif action.help == argparse.SUPPRESS:
            continue
        elif not action.option_strings:
            words += _words(action.choices or ())
        else:
            flags += action.option_strings
            if action.nargs != 0:
                valued.update(dict.fromkeys(action.option_strings, _words(action.choices or ())))
    yield Level(path, tuple(commands), tuple(words), tuple(flags), valued)
    for name, sub in commands.items():
        yield from levels(sub, (*path, name))


def _check(level: Level) -> None:
    named = [*level.path, *level.commands, *level.words, *level.flags]
    named += [w for choices in level.valued.values() for w in choices]
    odd = [w for w in named if not _WORD.fullmatch(w)]
    if odd:
        raise ValueError(f"cannot write these words into a completion script: {odd}")


def _spec(kind: str, level: Level) -> tuple[str, str]:
    """The ``KIND PATH`` key and the space-separated words of one table row."""
    key = f"{kind} {' '.join(level.path)}"
    values = {
        "cmds": level.commands,
        "words": level.words,
        "flags": level.flags,
        "valued": tuple(level.valued),
    }[kind]
    return key, " ".join(values)


def _rows(all_levels: list[Level]) -> list[tuple[str, str]]:
    rows = []
    for level in all_levels:
        _check(level)
        rows += [_spec(kind, level) for kind in ("cmds", "words", "flags", "valued")]
        rows += [
            (f"choices:{flag} {' '.join(level.path)}", " ".join(choices))
            for flag, choices in level.valued.items()
            if choices
        ]
    return [(key, value) for key, value in rows if value]


_POSIX_SPEC = """\
_session_sync_spec() {
    # $1: KIND PATH (cmds, words, flags, valued, choices:FLAG); prints its words
    case "$1" in
@ROWS@
    esac
}
"""

_POSIX_WALK = """\
_session_sync_candidates() {
    # The words after session-sync, the last one the word being completed: prints the
    # candidates for it; status 1 when it is the value of a flag that takes any value.
    @LOCAL@
    cur="@LAST@"
    at=''
    skip=''
    cmds=$(_session_sync_spec "cmds ")
    valued=$(_session_sync_spec "valued ")
    for word in @GIVEN@; do
        if [[ -n $skip ]]; then
            skip=''
        elif [[ $word == -* ]]; then
            if [[ $word != *=* && " $valued " == *" $word "* ]]; then
                skip=$word
            fi
        elif [[ " $cmds " == *" $word "* ]]; then
            at="${at:+$at }$word"
            cmds=$(_session_sync_spec "cmds $at")
            valued=$(_session_sync_spec "valued $at")
        fi
    done
    if [[ -n $skip ]]; then
        list=$(_session_sync_spec "choices:$skip $at")
        [[ -n $list ]] || return 1
    elif [[ $cur == -* ]]; then
        list=$(_session_sync_spec "flags $at")
    else
        list="$cmds $(_session_sync_spec "words $at")"
    fi
    for word in @SPLIT@; do
        if [[ "${word:0:${#cur}}" == "$cur" ]]; then
            printf '%s\\n' "$word"
        fi
    done
    return 0
}
"""

_BASH_HOOK = """\
_session_sync() {
    local IFS=$'\\n'
    COMPREPLY=($(_session_sync_candidates "${COMP_WORDS[@]:1:COMP_CWORD}"))
}
complete -o bashdefault -o default -F _session_sync session-sync
"""

_ZSH_HOOK = """\
_session_sync() {
    local out found
    out=$(_session_sync_candidates "${(@)words[2,CURRENT]}") || { _files; return; }
    found=(${(f)out})
    compadd -a found
}
if [[ ${zsh_eval_context[-1]} == loadautofunc ]]; then
    _session_sync "$@"
elif (( $+functions[compdef] )); then
    compdef _session_sync session-sync
fi
"""

_FISH = """\
function __session_sync_spec --description 'session-sync: the words of KIND PATH'
    switch "$argv[1]"
@ROWS@
    end
end

function __session_sync_candidates --description 'session-sync: candidates for the last word'
    set -l cur $argv[-1]
    set -e argv[-1]
    set -l path ''
    set -l skip ''
    set -l cmds (__session_sync_spec "cmds ")
    set -l valued (__session_sync_spec "valued ")
    for word in $argv
        if test -n "$skip"
            set skip ''
        else if string match -q -- '-*' $word
            if not string match -q -- '*=*' $word; and contains -- $word $valued
                set skip $word
            end
        else if contains -- $word $cmds
            set path (string trim -- "$path $word")
            set cmds (__session_sync_spec "cmds $path")
            set valued (__session_sync_spec "valued $path")
        end
    end
    set -l list
    if test -n "$skip"
        set list (__session_sync_spec "choices:$skip $path")
        test (count $list) -gt 0; or return 1
    else if string match -q -- '-*' "$cur"
        set list (__session_sync_spec "flags $path")
    else
        set list $cmds (__session_sync_spec "words $path")
    end
    for word in $list
        if test -z "$cur"; or test (string sub -l (string length -- "$cur") -- $word) = "$cur"
            echo $word
        end
    end
end

function __session_sync_typed --description 'session-sync: candidates for the command line'
    set -l tokens (commandline -opc)
    set -e tokens[1]
    __session_sync_candidates $tokens (commandline -ct)
end

complete -c session-sync -f -a '(__session_sync_typed)'
complete -c session-sync -n 'not __session_sync_typed >/dev/null' -F
"""


def _posix(shell: str, rows: list[tuple[str, str]]) -> str:
    table = "\n".join(f"        '{key}') printf '%s\\n' '{value}' ;;" for key, value in rows)
    if shell == "bash":
        local = "local IFS=$' \\t\\n' cur at skip cmds valued word list"
        last, given, split = "${@: -1}", '"${@:1:$#-1}"', "$list"
    else:
        local = "emulate -L zsh\n    local IFS=$' \\t\\n' cur at skip cmds valued word list"
        last, given, split = "${@[-1]}", '"${@[1,-2]}"', "${=list}"
    walk = (
        _POSIX_WALK.replace("@LOCAL@", local)
        .replace("@LAST@", last)
        .replace("@GIVEN@", given)
        .replace("@SPLIT@", split)
    )
    hook = _BASH_HOOK if shell == "bash" else _ZSH_HOOK
    head = "#compdef session-sync\n" if shell == "zsh" else ""
    return head + _header(shell) + _POSIX_SPEC.replace("@ROWS@", table) + "\n" + walk + "\n" + hook


def _header(shell: str) -> str:
    return f"# {shell} completion for session-sync, made by `session-sync completion {shell}`.\n"


def script(shell: str, parser: argparse.ArgumentParser) -> str:
    """The completion script for ``shell`` (one of ``SHELLS``) of ``parser``."""
    rows = _rows(list(levels(parser)))
    if shell == "fish":
        table = "\n".join(
            f"        case '{key}'\n            printf '%s\\n' {value}" for key, value in rows
        )
        return _header(shell) + _FISH.replace("@ROWS@", table)
    if shell in ("bash", "zsh"):
        return _posix(shell, rows)
    raise ValueError(f"no completion for the shell {shell!r}; choose one of {', '.join(SHELLS)}")


def add_parsers(sub: Any) -> None:
    """Add ``completion`` to the ``session-sync`` subcommands."""
    completion = sub.add_parser(
        "completion",
        help="print a completion script for bash, zsh or fish",
        description=(
            "Print a script that completes session-sync's subcommands, flags and their"
            " choices in the shell. bash: `source <(session-sync completion bash)` in"
            ' ~/.bashrc. zsh: `session-sync completion zsh > "${fpath[1]}/_session-sync"`'
            " (or source it after compinit). fish: `session-sync completion fish >"
            " ~/.config/fish/completions/session-sync.fish`."
        ),
    )
    completion.add_argument("shell", choices=SHELLS, help="the shell")


def _cmd_completion(args: argparse.Namespace) -> int:
    from session_sync.cli.parser import build_parser

    sys.stdout.write(script(args.shell, build_parser()))
    return 0


COMMANDS = {"completion": _cmd_completion}
