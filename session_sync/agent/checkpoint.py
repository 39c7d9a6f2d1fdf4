"""Checkpoints of a git checkout's work, made without touching the checkout.

A checkpoint is a commit object (parent ``HEAD``) whose tree is the work as it
is: tracked files as they are on disk (staged or not), and untracked files
that are not ignored (those over a size limit left out). It is built with a
temporary index (``GIT_INDEX_FILE``): the branch, ``HEAD``, the real index and
the working tree are never written. ``GIT_OPTIONAL_LOCKS=0`` keeps git from
refreshing the real index on the side.

Both ends run this: the controller for its own checkout (objects into its
repository, then a ref), the agent for a far one, where every object goes into
a temporary object directory and comes home as a git bundle, so nothing of
the far repository changes at all.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import tempfile
from typing import BinaryIO, Dict, Iterable, List, Optional, Sequence, Tuple

from .paths import repositories_match
from .protocol import FrameWriter, Refusal, send_file

__all__ = [
    "DEFAULT_MAX_FILE_SIZE",
    "MAX_BUNDLE_BYTES",
    "REF_PREFIX",
    "TRAILERS",
    "GitFailed",
    "Work",
    "bundle_request",
    "git",
    "make_work",
    "safe_machine",
    "serve_checkpoint",
    "toplevel",
]

REF_PREFIX = "refs/session-sync/checkpoints/"
"""Where checkpoints live: ``REF_PREFIX + <machine>/<YYYYMMDDTHHMMSSZ>``."""

DEFAULT_MAX_FILE_SIZE = 50 * 1024 * 1024
"""Untracked files larger than this are left out of a checkpoint (and listed)."""

MAX_BUNDLE_BYTES = 512 * 1024 * 1024
"""The largest bundle a far checkpoint may send home."""

TRAILERS = ("Session-Sync-Branch", "Session-Sync-Files", "Session-Sync-Bytes")
"""The trailers every checkpoint message carries (``Session-Sync-Upstream``
too when the branch has one)."""

_HEX = re.compile(r"^[0-9a-f]{40}([0-9a-f]{24})?$")
_BUNDLE_REF = "refs/session-sync/bundle"


class GitFailed(Exception):
    """A git command failed (its own words in the message)."""


def safe_machine(name: str) -> str:
    """``name`` as a ref component: only ``[A-Za-z0-9._-]``, no leading dot or dash,
    no ``..`` or ``.lock`` (git refuses them), at most 64 characters."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", name).strip("._-")
    cleaned = re.sub(r"\.{2,}", ".", cleaned)[:64].rstrip(".")
    if cleaned.endswith(".lock"):
        cleaned = cleaned[: -len(".lock")] + "_lock"
    return cleaned or "machine"


def git(
    cwd: str,
    *args: str,
    env: Optional[Dict[str, str]] = None,
    data: Optional[bytes] = None,
    ok: Sequence[int] = (0,),
    stdin: Optional[BinaryIO] = None,
) -> Tuple[int, bytes]:
    """``git ARGS`` in ``cwd``: (exit status, stdout); raises ``GitFailed`` for a
    status not in ``ok`` (with git's last line of stderr). ``data`` or ``stdin``
    (an open file, read from where it stands) is its input."""
    full = dict(os.environ)
    for name in ("GIT_INDEX_FILE", "GIT_DIR", "GIT_WORK_TREE", "GIT_OBJECT_DIRECTORY"):
        full.pop(name, None)
    full.update({"GIT_OPTIONAL_LOCKS": "0", "GIT_TERMINAL_PROMPT": "0", "LC_ALL": "C"})
    full.update(env or {})
    try:
        done = subprocess.run(
            ["git", "-c", "gc.auto=0", "-c", "core.fsmonitor=false", *args],
            cwd=cwd,
            input=data,
            stdin=stdin if stdin is not None else None if data is not None else subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=full,
            timeout=600,
            check=False,
        )
    except FileNotFoundError:
        raise GitFailed("git is not installed") from None
    except subprocess.TimeoutExpired:
        raise GitFailed("git %s took over 600 s" % args[0]) from None
    if done.returncode not in ok:
        said = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GitFailed("git %s: %s" % (args[0], said[-1] if said else "exit %d" % done.returncode))
    return done.returncode, done.stdout


def _out(cwd: str, *args: str, env: Optional[Dict[str, str]] = None) -> str:
    return git(cwd, *args, env=env)[1].decode("utf-8", "surrogateescape").strip()


def _maybe(cwd: str, *args: str) -> Optional[str]:
    code, out = git(cwd, *args, ok=(0, 1, 128))
    text = out.decode("utf-8", "surrogateescape").strip()
    return text if code == 0 and text else None


class Work:
    """A checkout's work as one commit object (not yet under any ref)."""

    def __init__(
        self,
        commit: str,
        tree: str,
        head: Optional[str],
        branch: str,
        upstream: Optional[str],
        files: int,
        size: int,
        left_out: List[Dict[str, object]],
    ) -> None:
        self.commit = commit
        self.tree = tree
        self.head = head
        self.branch = branch
        self.upstream = upstream
        self.files = files
        self.bytes = size
        self.left_out = left_out

    def to_json(self) -> Dict[str, object]:
        """The fields, as the agent sends them."""
        return dict(vars(self))


def toplevel(path: str) -> str:
    """The top level of the checkout holding ``path``."""
    if not os.path.isdir(path):
        raise GitFailed("%s: no such directory" % path)
    top = _maybe(path, "rev-parse", "--show-toplevel")
    if top is None:
        raise GitFailed("%s is not in a git checkout" % path)
    return top


def make_work(
    top: str,
    machine: str,
    iso_time: str,
    max_file_size: int = DEFAULT_MAX_FILE_SIZE,
    objects: Optional[str] = None,
) -> Work:
    """The work of the checkout at ``top`` as a commit object.

    ``objects``: write every new object there (the repository's own objects
    are read as an alternate) instead of into the repository."""
    head = _maybe(top, "rev-parse", "-q", "--verify", "HEAD^{commit}")
    branch = _maybe(top, "symbolic-ref", "-q", "--short", "HEAD") or "(detached HEAD)"
    upstream = _maybe(top, "rev-parse", "--abbrev-ref", "--symbolic-full-name", "@{upstream}")
    env = {}  # type: Dict[str, str]
    if objects is not None:
        env["GIT_OBJECT_DIRECTORY"] = objects
        env["GIT_ALTERNATE_OBJECT_DIRECTORIES"] = _abs_git_path(top, "objects")
    scratch = tempfile.mkdtemp(prefix="session-sync-index-")
    try:
        env["GIT_INDEX_FILE"] = os.path.join(scratch, "index")
        _seed_index(top, head, env)
        git(top, "add", "-u", "--", ".", env=env)
        left_out = _add_untracked(top, max_file_size, env)
        tree = _out(top, "write-tree", env=env)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    files, size = _changes(top, head, tree, env)
    message = _message(machine, iso_time, branch, files, size, upstream)
    who = "session-sync"
    stamp = "%s +0000" % iso_time
    ident = {
        "GIT_AUTHOR_NAME": who,
        "GIT_AUTHOR_EMAIL": "session-sync@%s" % machine,
        "GIT_AUTHOR_DATE": stamp,
        "GIT_COMMITTER_NAME": who,
        "GIT_COMMITTER_EMAIL": "session-sync@%s" % machine,
        "GIT_COMMITTER_DATE": stamp,
    }
    ident.update(env)
    ident.pop("GIT_INDEX_FILE", None)
    parents = ["-p", head] if head else []
    commit = git(top, "commit-tree", tree, *parents, env=ident, data=message.encode("utf-8"))[1]
    return Work(
        commit=commit.decode("ascii").strip(),
        tree=tree,
        head=head,
        branch=branch,
        upstream=upstream,
        files=files,
        size=size,
        left_out=left_out,
    )


def _abs_git_path(top: str, name: str) -> str:
    path = _out(top, "rev-parse", "--git-path", name)
    return os.path.normpath(os.path.join(top, path))


def _seed_index(top: str, head: Optional[str], env: Dict[str, str]) -> None:
    """The temporary index starts as a copy of the real one (its stat data spares
    rehashing unchanged files, and files staged as new are kept), else as HEAD."""
    real = _abs_git_path(top, "index")
    if os.path.isfile(real) and not os.path.islink(real):
        # copy2: the copy keeps the index's mtime, by which git tells a file changed
        # in the same second as the index was written ("racy git") from a clean one.
        shutil.copy2(real, env["GIT_INDEX_FILE"])
        # Unmerged entries would make write-tree fail; HEAD's version is the base.
        if not git(top, "ls-files", "-u", "-z", env=env)[1]:
            return
        os.unlink(env["GIT_INDEX_FILE"])
    if head:
        git(top, "read-tree", head, env=env)
    else:
        git(top, "read-tree", "--empty", env=env)


def _add_untracked(top: str, max_file_size: int, env: Dict[str, str]) -> List[Dict[str, object]]:
    listed = git(top, "ls-files", "--others", "--exclude-standard", "-z", env=env)[1]
    take = []  # type: List[bytes]
    left_out = []  # type: List[Dict[str, object]]
    for rel in listed.split(b"\0"):
        if not rel or rel.endswith(b"/"):  # a nested repository: not ours to take
            continue
        try:
            size = os.lstat(os.path.join(os.fsencode(top), rel)).st_size
        except OSError:
            continue  # gone since it was listed
        if size > max_file_size:
            left_out.append({"path": os.fsdecode(rel), "size": size})
        else:
            take.append(rel)
    if take:
        git(top, "update-index", "--add", "-z", "--stdin", env=env, data=b"\0".join(take) + b"\0")
    return left_out


def _changes(top: str, head: Optional[str], tree: str, env: Dict[str, str]) -> Tuple[int, int]:
    """(files that differ from HEAD, bytes of their new content)."""
    base = head or _out(top, "hash-object", "-t", "tree", "--stdin", env=env)
    raw = git(top, "diff-tree", "-r", "-z", "--no-renames", base, tree, env=env)[1]
    fields = raw.split(b"\0")
    blobs = []  # type: List[bytes]
    files = 0
    for i in range(0, len(fields) - 1, 2):
        meta = fields[i].split()
        if len(meta) >= 5:
            files += 1
            if meta[3] != b"0" * len(meta[3]) and meta[1] != b"160000":
                blobs.append(meta[3])
    size = 0
    if blobs:
        sizes = git(
            top, "cat-file", "--batch-check=%(objectsize)", env=env, data=b"\n".join(blobs) + b"\n"
        )[1]
        size = sum(int(s) for s in sizes.split() if s.isdigit())
    return files, size


def _message(
    machine: str, iso_time: str, branch: str, files: int, size: int, upstream: Optional[str]
) -> str:
    lines = [
        "session-sync checkpoint %s %s" % (machine, iso_time),
        "",
        "Work in progress, saved by session-sync; the checkout was not changed.",
        "",
        "Session-Sync-Branch: %s" % branch.replace("\n", " "),
        "Session-Sync-Files: %d" % files,
        "Session-Sync-Bytes: %d" % size,
    ]
    if upstream:
        lines.append("Session-Sync-Upstream: %s" % upstream.replace("\n", " "))
    return "\n".join(lines) + "\n"


def bundle_request(request: Dict[str, object]) -> Tuple[Dict[str, object], Optional[str]]:
    """The agent's ``checkpoint`` op: make the work of the far checkout a commit
    in a scratch object store, and bundle it.

    Returns (the answer, the bundle file to send or None) — the caller sends
    the file and removes ``os.path.dirname`` of it."""
    path = os.path.expanduser(str(request["path"]))
    top = toplevel(path)
    machine = safe_machine(str(request["machine"]))
    iso_time = str(request["time"])
    if not re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", iso_time):
        raise GitFailed("bad checkpoint time %r" % iso_time)
    max_file_size = int(request.get("max_file_size", DEFAULT_MAX_FILE_SIZE))  # type: ignore[call-overload]
    limit = min(int(request.get("max_bundle", MAX_BUNDLE_BYTES)), MAX_BUNDLE_BYTES)  # type: ignore[call-overload]
    if os.path.realpath(top) != os.path.realpath(path):
        # A checkout that merely holds the path (a dotfiles repo in the home) is not it.
        raise GitFailed("%s is not a checkout's top level (it is inside %s)" % (path, top))
    origin = _maybe(top, "config", "--get", "remote.origin.url")
    expected = request.get("origin")
    if isinstance(expected, str) and not _same_origin(origin, expected):
        raise GitFailed(
            "the checkout %s (origin %s) is not of the repository of the checkout that"
            " would keep its checkpoint (origin %s)" % (top, origin or "none", expected)
        )
    scratch = tempfile.mkdtemp(prefix="session-sync-checkpoint-")
    try:
        store = os.path.join(scratch, "repo.git")
        git(scratch, "init", "-q", "--bare", store)
        objects = os.path.join(store, "objects")
        with open(os.path.join(objects, "info", "alternates"), "w") as fh:
            fh.write(_abs_git_path(top, "objects") + "\n")
        work = make_work(top, machine, iso_time, max_file_size, objects=objects)
        answer = {"top": top, "origin": origin, "work": work.to_json()}  # type: Dict[str, object]
        last = request.get("last") or {}
        same = isinstance(last, dict) and (last.get("tree"), last.get("head")) == (
            work.tree,
            work.head,
        )
        if same or request.get("dry_run") is True:
            answer["unchanged" if same else "dry_run"] = True
            shutil.rmtree(scratch, ignore_errors=True)
            return answer, None
        git(store, "update-ref", _BUNDLE_REF, work.commit)
        have = request.get("have")
        haves = _present(store, have if isinstance(have, list) else [])
        out = os.path.join(scratch, "checkpoint.bundle")
        git(store, "bundle", "create", "-q", out, _BUNDLE_REF, *["^" + h for h in haves])
        size = os.path.getsize(out)
        if size > limit:
            raise GitFailed(
                "the checkpoint's bundle is %d bytes, over the limit of %d" % (size, limit)
            )
        answer["bundle_bytes"] = size
        answer["ref"] = _BUNDLE_REF
        return answer, out
    except BaseException:
        shutil.rmtree(scratch, ignore_errors=True)
        raise


def _same_origin(a: Optional[str], b: str) -> bool:
    return repositories_match(a, b) or (a or "").strip() == b.strip()


def _present(store: str, haves: Iterable[object]) -> List[str]:
    """The commit ids of ``haves`` that this repository holds (the laptop has them
    too: the bundle leaves them out)."""
    wanted = [h for h in haves if isinstance(h, str) and _HEX.match(h)][:5000]
    if not wanted:
        return []
    out = git(
        store,
        "cat-file",
        "--batch-check=%(objectname) %(objecttype)",
        data="\n".join(wanted).encode() + b"\n",
    )[1]
    found = []
    for line in out.decode("ascii", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1] == "commit":
            found.append(parts[0])
    return found


def serve_checkpoint(request: Dict[str, object], writer: FrameWriter) -> None:
    """Answer a ``checkpoint`` request: a ``J`` answer, then (unless the work is
    unchanged) the bundle as one file's data frames."""
    try:
        answer, bundle = bundle_request(request)
    except GitFailed as exc:
        raise Refusal(str(exc)) from None
    try:
        writer.json(b"J", answer)
        if bundle is not None:
            send_file(writer, bundle, 0, os.path.getsize(bundle))
    finally:
        if bundle is not None:
            shutil.rmtree(os.path.dirname(bundle), ignore_errors=True)
