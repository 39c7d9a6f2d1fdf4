"""A sandbox of "machines" on this one box, for tests and benchmarks.

Nothing here talks to GitHub or to a real remote:

- ``sshd``: ``Sandbox`` starts one OpenSSH server per simulated machine on
  127.0.0.1, each with its own ``HOME``, all logging in as the current user
  with one sandbox key pair.
- ``fake_gh``: a stand-in for the ``gh`` CLI whose codespaces are those
  servers (``gh codespace list/ssh/create/delete/stop``, ``gh auth status``).
- ``relay``: ``TcpRelay``, a TCP forwarder that counts bytes and can cut,
  refuse or swallow connections, to put faults between a client and a server.

This is a plain library (no pytest imports): the test fixtures and the
benchmark scripts both build on it.
"""

from __future__ import annotations

from session_sync.testing.sandbox.fake_gh import FakeGh, install_fake_gh
from session_sync.testing.sandbox.relay import CutDirection, TcpRelay
from session_sync.testing.sandbox.sshd import Sandbox, SshHost, current_user, find_sshd, ssh_command

__all__ = [
    "CutDirection",
    "FakeGh",
    "Sandbox",
    "SshHost",
    "TcpRelay",
    "current_user",
    "find_sshd",
    "install_fake_gh",
    "ssh_command",
]
