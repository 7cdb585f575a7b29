"""Real git repositories for the gitops tests: ``git`` as a hand would run it, and a new repository.

The identity is given on each command line, so the tests need no git configuration on the machine.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

IDENTITY = ("-c", "user.name=hand", "-c", "user.email=hand@example.invalid", "-c", "commit.gpgsign=false")
GIT_TIMEOUT_S = 30


def git(root: Path, *args: str) -> str:
    """``git -C root <args>`` as the user ``hand``; its standard output. Raises on a non-zero exit."""
    done = subprocess.run(["git", "-C", str(root), *IDENTITY, *args], capture_output=True, text=True,
                          timeout=GIT_TIMEOUT_S, check=True)  # fmt: skip
    return done.stdout


def new_repository(root: Path, files: dict[str, str] | None = None) -> Path:
    """A git repository at ``root`` whose initial commit holds ``files`` (relative path → text)."""
    root.mkdir(parents=True)
    git(root, "init", "-q")
    for name, text in (files or {}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    git(root, "add", "-A")
    git(root, "commit", "-q", "--allow-empty", "-m", "initial")
    return root
