"""``session-sync backups``: list and restore backup sets, this machine's or (over
one agent connection) the other machine's, as text or ``--json``.

What the other machine says is checked before it is printed: a far side that
answers with something else than backup sets is a ``ProtocolError``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from session_sync.errors import ProtocolError, UsageError

if TYPE_CHECKING:
    from session_sync.transports.connection import AgentConnection

__all__ = [
    "check_restorable",
    "print_restored",
    "print_sets",
    "remote_restore",
    "remote_sets",
    "write_json",
]

_SET_FIELDS: Mapping[str, type] = {"id": str, "label": str, "entries": list}
_ENTRY_FIELDS: Mapping[str, type] = {"dir": str, "rel": str, "size": int}
_RESULT_FIELDS: Mapping[str, type] = {"rel": str, "ok": bool}


def _check(item: Any, fields: Mapping[str, type], what: str, where: str) -> dict[str, Any]:
    if not isinstance(item, dict):
        raise ProtocolError(f"{where} sent a {what} that is not an object", where=where)
    for key, kind in fields.items():
        value = item.get(key, "" if kind is str else None)
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise ProtocolError(f"{where} sent a {what} without a valid {key!r}", where=where)
    return item


def remote_sets(connection: AgentConnection) -> list[dict[str, Any]]:
    """The other machine's backup sets (oldest first), checked."""
    where = connection.transport.description
    answer = connection.request({"op": "backups"})
    sets = answer.get("backups")
    if not isinstance(sets, list):
        raise ProtocolError(f"{where} answered the backups request without a list", where=where)
    for backup in sets:
        _check(backup, _SET_FIELDS, "backup set", where)
        for entry in backup.get("entries", []):
            _check(entry, _ENTRY_FIELDS, "backup entry", where)
    return sets


def remote_restore(
    connection: AgentConnection, backup_id: str, rel: str | None
) -> list[dict[str, Any]]:
    """Restore ``backup_id`` (only ``rel`` when given) on the other machine; the results."""
    where = connection.transport.description
    answer = connection.request({"op": "restore", "backup_id": backup_id, "file": rel})
    results = answer.get("restored")
    if not isinstance(results, list):
        raise ProtocolError(f"{where} answered the restore without a list", where=where)
    return [_check(r, _RESULT_FIELDS, "restore result", where) for r in results]


def check_restorable(sets: Sequence[dict[str, Any]], backup_id: str, where: str) -> None:
    """``UsageError`` unless ``backup_id`` is one of ``sets``."""
    if all(b.get("id") != backup_id for b in sets):
        raise UsageError(f"no backup set {backup_id!r} on {where}")


def write_json(document: dict[str, Any], out: TextIO) -> None:
    json.dump(document, out, indent=2)
    out.write("\n")


def print_sets(sets: Sequence[dict[str, Any]], empty: str, out: TextIO) -> None:
    """Each set and its files, one line each; ``empty`` when there is none."""
    if not sets:
        out.write(f"{empty}\n")
    for backup in sets:
        entries = backup.get("entries", [])
        out.write(f"{backup['id']}  {len(entries)} file(s)  {backup.get('label', '')}\n")
        for entry in entries:
            out.write(
                f"    {entry['dir']}/{entry['rel']}  {entry['size']} bytes"
                f"  ({entry.get('reason', '')})\n"
            )


def print_restored(results: Sequence[dict[str, Any]], out: TextIO) -> None:
    for result in results:
        if result.get("unchanged"):
            out.write(f"  same   {result['rel']} (already as in the backup)\n")
        elif result.get("ok"):
            out.write(f"  ok     {result['rel']}\n")
        else:
            out.write(f"  FAILED {result['rel']}: {result.get('error')}\n")
