"""Deltas between two graph documents (the wire JSON of ``graph_to_wire``), and their application.

A delta (docs/decisions/0005-live-graph-protocol.md) says how to go from one document to the
next of the same view:

* ``nodes`` / ``edges``: ``added`` (whole entries), ``removed`` (ids), ``changed`` (entries
  carrying ``id`` and only the fields whose value changed; a field that disappeared is named in
  ``unset`` — only the optional ``grpc_responses`` of an edge can disappear);
* ``query_time`` and ``warnings`` of the new document, always;
* any other top-level field of the document (``namespaces``, ``graph_type``, ``window_s``) only
  when it changed.

Pure functions over plain dicts: no Django, no I/O.
"""

from __future__ import annotations

from typing import Any

_LISTS = ("nodes", "edges")
_ALWAYS = ("query_time", "warnings", "read_mode")


def _index(entries: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {entry["id"]: entry for entry in entries}


def _diff_entries(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, list]:
    old_by_id = _index(old)
    new_by_id = _index(new)
    added = [entry for entry_id, entry in new_by_id.items() if entry_id not in old_by_id]
    removed = sorted(entry_id for entry_id in old_by_id if entry_id not in new_by_id)
    changed = []
    for entry_id, entry in new_by_id.items():
        before = old_by_id.get(entry_id)
        if before is None or before == entry:
            continue
        change: dict[str, Any] = {"id": entry_id}
        for key, value in entry.items():
            if key not in before or before[key] != value:
                change[key] = value
        gone = sorted(key for key in before if key not in entry)
        if gone:
            change["unset"] = gone
        changed.append(change)
    return {"added": added, "removed": removed, "changed": changed}


def diff_graphs(old_wire: dict[str, Any], new_wire: dict[str, Any]) -> dict[str, Any]:
    """The delta that turns ``old_wire`` into ``new_wire`` (both ``graph_to_wire`` documents).

    Entries are matched by ``id``; ``added`` and ``changed`` keep the order of ``new_wire``,
    ``removed`` is sorted. Raises ``KeyError`` when a document lacks ``nodes``, ``edges`` or an
    entry lacks ``id``.
    """
    delta: dict[str, Any] = {name: _diff_entries(old_wire[name], new_wire[name]) for name in _LISTS}
    for key, value in new_wire.items():
        if key in _LISTS:
            continue
        if key in _ALWAYS or old_wire.get(key) != value:
            delta[key] = value
    return delta


def is_empty(delta: dict[str, Any]) -> bool:
    """True when ``delta`` adds, removes and changes no node and no edge."""
    return not any(delta[name][part] for name in _LISTS for part in ("added", "removed", "changed"))


def _apply_entries(entries: list[dict[str, Any]], part: dict[str, list]) -> list[dict[str, Any]]:
    by_id = _index(entries)
    for entry_id in part["removed"]:
        by_id.pop(entry_id, None)
    for change in part["changed"]:
        current = by_id.get(change["id"])
        if current is None:
            raise ValueError(f"delta changes {change['id']!r}, which the document does not have")
        updated = {**current, **{key: value for key, value in change.items() if key != "unset"}}
        for key in change.get("unset", ()):
            updated.pop(key, None)
        by_id[change["id"]] = updated
    for entry in part["added"]:
        by_id[entry["id"]] = entry
    return [by_id[entry_id] for entry_id in sorted(by_id)]


def apply_delta(wire: dict[str, Any], delta: dict[str, Any]) -> dict[str, Any]:
    """A new document: ``wire`` with ``delta`` applied (``wire`` itself is not modified).

    Entries come out sorted by id, as ``graph_to_wire`` lists them, so
    ``apply_delta(a, diff_graphs(a, b)) == b`` for any two documents ``a`` and ``b``. Frame
    fields of a live delta (``type``, ``view_key``, ``seq``) are ignored. Raises ``ValueError``
    when a change names an entry that ``wire`` does not have.
    """
    result = dict(wire)
    for name in _LISTS:
        result[name] = _apply_entries(wire[name], delta[name])
    for key, value in delta.items():
        if key in _LISTS or key in ("type", "view_key", "seq"):
            continue
        result[key] = value
    return result
