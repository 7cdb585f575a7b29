"""The ``gitops`` backend: YAML files under ``MESHUI_GITOPS_DIR``, edited in place, committed to git.

* Any layout: every ``*.yaml``/``*.yml`` below the directory (``.git`` and hidden folders
  skipped), several documents per file. A document's namespace is ``metadata.namespace``
  (``default`` when absent).
* Edits go through ruamel.yaml's round-trip mode: unrelated documents, key order, comments
  and quoting stay; new resources are written to ``<namespace>/<name>.yaml``. ruamel writes one
  indentation style per file, so the file's own layout is put back line by line
  (``keep_layout``): lines the change does not touch keep their exact text, new lines take the
  indentation of their neighbours — and the result is kept only if it reads back as the same
  documents (else ruamel's uniform layout is written).
* Crash-safe: each file is written to a temporary file in its folder, fsynced and renamed
  over the old one, so a reader sees the old or the new file, never half of one.
* When the directory is inside a git work tree, each change is one commit of the files it
  touched, authored by the actor, its message naming the change.
* The version of a service is a digest of its VirtualService/DestinationRule documents (path
  and content), so a hand edit of those files makes a stale If-Match fail.
* Writers of one directory are serialised by an exclusive ``flock`` (threads and processes).
"""

from __future__ import annotations

import contextlib
import difflib
import fcntl
import hashlib
import io
import json
import os
import re
import subprocess
import tempfile
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from traffic.backends.base import MeshBackend, Snapshot, register
from traffic.errors import BackendUnavailable, StaleVersion, WriteFailed
from traffic.parse import destination_rules_for, name_of, namespace_of, virtual_services_for
from traffic.render import Write

T = TypeVar("T")
KINDS = ("VirtualService", "DestinationRule")
CONTEXT_KINDS = (*KINDS, "Gateway", "Rollout", "Canary")
GIT_TIMEOUT_S = 30
# "key:\n  - item": the file indents sequences under their key (ruamel's offset style).
_OFFSET_STYLE = re.compile(r"^( *)[^\s#-][^:\n]*:\n\1  - ", re.MULTILINE)


@dataclass
class _Document:
    path: Path
    index: int
    plain: dict


def _yaml(text: str = "") -> YAML:
    yaml = YAML()
    yaml.preserve_quotes = True
    yaml.width = 4096
    if _OFFSET_STYLE.search(text):
        yaml.indent(mapping=2, sequence=4, offset=2)
    return yaml


def _plain(node: Any) -> Any:
    return json.loads(json.dumps(node, default=str))


def _dump(yaml: YAML, documents: list[Any], text: str) -> str:
    """``documents`` as ``text``'s file writes them (an opening ``---`` and trailing separators kept)."""
    documents = list(documents)
    # A file ending in "---" (as Istio's samples do) loads with an empty last document: write the
    # separator back rather than letting ruamel dump it as "--- null" + "...".
    trailing = 0
    while documents and documents[-1] is None:
        documents.pop()
        trailing += 1
    out = io.StringIO()
    if text.lstrip().startswith("---"):
        yaml.explicit_start = True
    yaml.dump_all(documents, out)
    return out.getvalue() + "---\n" * trailing


def _reads_as(text: str, documents: list[Any]) -> bool:
    """Whether ``text`` loads as exactly ``documents``."""
    try:
        return _plain(list(_yaml(text).load_all(text))) == _plain(documents)
    except YAMLError:
        return False


def _indent(line: str) -> int:
    return len(line) - len(line.lstrip(" "))


def keep_layout(original: str, before: str, after: str) -> str:
    """``after`` written with ``original``'s own indentation (pure, text only).

    ``before`` and ``after`` are ruamel's renderings of the file's documents before and after
    the change; ``original`` is the file as it is, the same documents as ``before`` but maybe
    indented otherwise (``hosts`` indented under its key, ``http`` not, in one document). When
    ``original`` and ``before`` hold the same lines up to indentation, lines the change leaves
    alone keep their exact text and a changed or new line is shifted as the nearest line above it
    at its depth or shallower was. Otherwise ``after`` is returned as it is. The caller checks
    that the result reads back as the intended documents.
    """
    if original == before:
        return after
    theirs, ours, wanted = original.splitlines(), before.splitlines(), after.splitlines()
    if len(theirs) != len(ours) or any(a.strip() != b.strip() for a, b in zip(theirs, ours, strict=True)):
        return after
    shift = [_indent(a) - _indent(b) for a, b in zip(theirs, ours, strict=True)]

    def shifted(line: str, at: int) -> str:
        depth = _indent(line)
        context = next((shift[i] for i in range(at - 1, -1, -1)
                        if ours[i].strip() and not ours[i].lstrip().startswith("#") and _indent(ours[i]) <= depth),
                       0)  # fmt: skip
        return " " * max(0, depth + context) + line.lstrip(" ") if line.strip() else line

    lines: list[str] = []
    matcher = difflib.SequenceMatcher(None, ours, wanted, autojunk=False)
    for tag, i1, i2, j1, j2 in matcher.get_opcodes():
        if tag == "equal":
            lines.extend(theirs[i1:i2])
        else:
            lines.extend(shifted(line, i1) for line in wanted[j1:j2])
    return "\n".join(lines) + ("\n" if original.endswith("\n") else "")


def _merge(target: Any, desired: Any) -> Any:
    """``desired`` written into ``target`` in place where shapes agree, so comments and order stay."""
    if isinstance(target, dict) and isinstance(desired, dict):
        for key in [k for k in target if k not in desired]:
            del target[key]
        for key, value in desired.items():
            if key in target:
                target[key] = _merge(target[key], value)
            else:
                target[key] = value
        return target
    if isinstance(target, list) and isinstance(desired, list) and len(target) == len(desired):
        for index, value in enumerate(desired):
            target[index] = _merge(target[index], value)
        return target
    if _plain(target) == _plain(desired):
        return target
    return desired


def _atomic_write(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        if path.exists():
            os.chmod(temporary, path.stat().st_mode & 0o777)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(temporary)
        raise
    directory = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(directory)
    finally:
        os.close(directory)


@register
class GitopsBackend(MeshBackend):
    name = "gitops"

    def __init__(self, root: str | Path | None = None) -> None:
        configured = root if root is not None else getattr(settings, "MESHUI_GITOPS_DIR", "")
        if not configured:
            raise BackendUnavailable(message="MESHUI_GITOPS_DIR is not set: the gitops backend needs a directory.")
        self.root = Path(configured).resolve()
        if not self.root.is_dir():
            raise BackendUnavailable(message=f"MESHUI_GITOPS_DIR {self.root} is not a directory.")

    # --- reading -----------------------------------------------------------------------

    def _files(self) -> list[Path]:
        found = []
        for directory, folders, files in os.walk(self.root):
            folders[:] = sorted(f for f in folders if not f.startswith("."))
            found.extend(Path(directory) / f for f in sorted(files) if f.endswith((".yaml", ".yml")))
        return found

    def _documents(self) -> list[_Document]:
        documents = []
        for path in self._files():
            text = path.read_text(encoding="utf-8")
            try:
                loaded = list(_yaml(text).load_all(text))
            except YAMLError as error:
                raise BackendUnavailable(message=f"{path.relative_to(self.root)} is not valid YAML: {error}") from None
            for index, document in enumerate(loaded):
                if isinstance(document, dict) and document.get("kind") in CONTEXT_KINDS:
                    documents.append(_Document(path, index, _plain(document)))
        return documents

    def _version(self, documents: list[_Document], namespace: str, service: str) -> str:
        plain = [d.plain for d in documents]
        mine = {id(r) for r in virtual_services_for(plain, namespace, service) + destination_rules_for(
            plain, namespace, service)}  # fmt: skip
        digest = hashlib.sha256()
        for document in documents:
            if id(document.plain) in mine:
                digest.update(str(document.path.relative_to(self.root)).encode())
                digest.update(json.dumps(document.plain, sort_keys=True).encode())
        return "g" + digest.hexdigest()[:32]

    def snapshot(self, namespace: str, service: str, *, fresh: bool = False) -> Snapshot:
        """Always read from the files (``fresh`` changes nothing)."""
        documents = self._documents()
        resources = tuple(d.plain for d in documents if namespace_of(d.plain) == namespace)
        return Snapshot(namespace, service, resources, self._version(documents, namespace, service))

    def list_resources(self, namespace: str | None) -> list[dict]:
        return [
            d.plain for d in self._documents()
            if d.plain.get("kind") in KINDS and (namespace is None or namespace_of(d.plain) == namespace)
        ]  # fmt: skip

    # --- writing -----------------------------------------------------------------------

    @contextlib.contextmanager
    def _locked(self) -> Iterator[None]:
        lock_dir = Path(settings.DATA_DIR) / "locks"
        lock_dir.mkdir(parents=True, exist_ok=True)
        lock_path = lock_dir / f"gitops-{hashlib.sha256(str(self.root).encode()).hexdigest()[:16]}.lock"
        with open(lock_path, "w") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)

    def _locate(self, write: Write) -> _Document | None:
        for document in self._documents():
            plain = document.plain
            if (plain.get("kind"), namespace_of(plain), name_of(plain)) == (write.kind, write.namespace, write.name):
                return document
        return None

    def write_file(self, path: Path, text: str | None) -> None:
        """Replace ``path`` with ``text`` atomically (None: remove it). The single place files change."""
        if text is None:
            path.unlink(missing_ok=True)
        else:
            _atomic_write(path, text)

    def _path_of(self, write: Write, found: _Document | None) -> Path:
        """The file ``write`` changes: where its document is, else ``<namespace>/<name>.yaml``."""
        return found.path if found else self.root / write.namespace / f"{write.name}.yaml"

    def _apply_one(self, write: Write, found: _Document | None) -> None:
        """Perform one write on the document ``found`` for it just now (``_locate``; None: a new one)."""
        path = self._path_of(write, found)
        text = path.read_text(encoding="utf-8") if path.exists() else ""
        yaml = _yaml(text)
        documents = list(yaml.load_all(text)) if text else []
        documents = [d for d in documents if d is not None] if not found else documents
        before = _dump(yaml, documents, text) if text else ""
        if found is None:
            if write.body is None:
                return
            documents.append(write.body)
        elif write.body is None:
            del documents[found.index]
        else:
            documents[found.index] = _merge(documents[found.index], write.body)
        if not [d for d in documents if d is not None]:
            self.write_file(path, None)
            return
        after = _dump(yaml, documents, text)
        kept = keep_layout(text, before, after) if text else after
        if kept != after and not _reads_as(kept, documents):
            kept = after  # the file's layout could not be kept faithfully: ruamel's own is correct
        self.write_file(path, kept)

    def _git(self, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603  (fixed git arguments, no shell)
            ["git", "-C", str(self.root), *args],  # noqa: S607
            capture_output=True, text=True, timeout=GIT_TIMEOUT_S, env=env, check=False,
        )  # fmt: skip

    def _is_git(self) -> bool:
        try:
            return self._git("rev-parse", "--is-inside-work-tree").stdout.strip() == "true"
        except (OSError, subprocess.TimeoutExpired):
            return False

    def _commit(self, paths: list[Path], actor: Any, message: str) -> None:
        username = getattr(actor, "username", None) or "meshui"
        email = getattr(actor, "email", "") or f"{username}@meshui.invalid"
        env = {**os.environ, "GIT_COMMITTER_NAME": "meshui", "GIT_COMMITTER_EMAIL": "meshui@meshui.invalid",
               "GIT_AUTHOR_NAME": username, "GIT_AUTHOR_EMAIL": email}  # fmt: skip
        names = [str(p) for p in dict.fromkeys(paths)]
        added = self._git("add", "-A", "--", *names, env=env)
        if added.returncode != 0:
            raise OSError(f"git add failed: {added.stderr.strip()[:300]}")
        committed = self._git("commit", "--no-verify", "-m", message or "meshui: traffic change", "--", *names,
                              env=env)  # fmt: skip
        if committed.returncode != 0:
            raise OSError(f"git commit failed: {(committed.stderr or committed.stdout).strip()[:300]}")

    def apply(
        self,
        namespace: str,
        service: str,
        writes: Sequence[Write],
        expected_version: str,
        record: Callable[[str], T],
        *,
        actor: Any = None,
        message: str = "",
    ) -> T:
        with self._locked():
            current = self._version(self._documents(), namespace, service)
            if current != expected_version:
                raise StaleVersion(
                    message=f"the routing of {namespace}/{service} changed since version "
                    f"{expected_version[:40]} (files edited?): read it again"
                )
            originals: dict[Path, str | None] = {}
            applied: list[str] = []
            step = ""
            try:
                for write in writes:
                    step = write.label
                    # Located anew for each step: an earlier step may have moved documents of its file.
                    found = self._locate(write)
                    path = self._path_of(write, found)
                    if path not in originals:
                        originals[path] = path.read_text(encoding="utf-8") if path.exists() else None
                    self._apply_one(write, found)
                    applied.append(step)
                if self._is_git() and originals:
                    step = "git commit"
                    self._commit(list(originals), actor, message)
            except (OSError, YAMLError, subprocess.TimeoutExpired) as error:
                compensated = self._restore(originals)
                raise WriteFailed(
                    f"{step} failed: {error}; "
                    + ("the steps already applied were undone" if compensated else "UNDO FAILED: check the files"),
                    {"applied": applied, "failed": step, "compensated": compensated, "reason": str(error)[:300]},
                ) from error
            return record(self._version(self._documents(), namespace, service))

    def _restore(self, originals: dict[Path, str | None]) -> bool:
        """Put every touched file back as it was; True when all of them were restored."""
        ok = True
        for path, text in originals.items():
            try:
                _atomic_write(path, text) if text is not None else path.unlink(missing_ok=True)
            except OSError:
                ok = False
        return ok
