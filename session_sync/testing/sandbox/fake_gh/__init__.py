"""A stand-in for the GitHub CLI ``gh``, whose codespaces are sandbox SSH servers.

Two parts:

- the script: the ``gh`` wrapper runs ``script.main`` on its arguments, which
  behaves like ``gh ARGS...`` for ``auth status`` and
  ``codespace list/ssh/create/delete/stop``. It uses the standard library
  only and runs under any python3 >= 3.8 (``python -I -S``, this package
  imported under its bare name ``fake_gh``, so every module here imports only
  the standard library and its siblings, by relative imports). Its state
  (login, codespaces and the ports of their sshd, delays, how ``create``
  ends) is a JSON file named by ``FAKE_GH_STATE``, read and written under a
  lock, since several gh processes run at once;
- ``install_fake_gh`` and ``FakeGh`` (``control``): write an executable
  ``gh`` wrapper and the state, and change the state from a test.

Output follows the real gh (cli/cli ``pkg/cmd/codespace``) when its stdout is
not a terminal, as when a program runs it: ``--json`` prints compact JSON
with sorted keys on one line, ``list`` without ``--json`` prints
tab-separated rows and no header, ``delete``/``stop`` print nothing,
``create`` prints the new name. ``ssh --config`` prints the real template.

``gh codespace ssh -c NAME`` with no command (ssh options after ``--`` or
not) runs ssh with no remote command, so the codespace's login shell reads
stdin: with ``-T`` when stdin is not a terminal, ``-t`` when it is (real gh
adds neither). Its exit status is ssh's.

A codespace made by ``create`` can show a state such as ``Starting`` for a
while and then another (``FakeGh.set_create_outcome``): the record keeps
``ready_at`` (a ``time.time()``) and ``final_state``, and whoever reads the
state after ``ready_at`` sees ``final_state`` (the next write saves it), so no
process runs in the background. ``gh codespace ssh`` on such a codespace waits
for ``ready_at``, as gh waits for a codespace to start.

Every call appends ``{"argv": [...], "time": T, "pid": P}`` to the log (a
JSON-lines file) before anything else, so a call that hangs is logged too.
Other lines of the log are events: ``{"event": "started" | "created" |
"deleted" | "stopped" | "waited" | "relay-end", "name": ..., ...}``
(``waited``: ``gh codespace ssh`` waited for a codespace still starting).

The modules:

* ``state``: the state file, its lock, and the log;
* ``args``: flag parsing, and ``GhExit``;
* ``invocation``: one run of the script, what its subcommands share;
* ``codespace_cmds``: ``gh codespace list/create/delete/stop``;
* ``ssh_cmd``: ``gh codespace ssh`` (a command, a shell, ``--stdio``, ``--config``);
* ``script``: ``main``, and the dispatch to the subcommands;
* ``control``: ``install_fake_gh`` and ``FakeGh``, for tests.
"""

from __future__ import annotations

from .control import FakeGh, install_fake_gh
from .script import AUTH_HELP, main
from .state import STATE_ENV

__all__ = [
    "AUTH_HELP",
    "STATE_ENV",
    "FakeGh",
    "install_fake_gh",
    "main",
]
