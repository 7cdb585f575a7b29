"""Where the read-only reference fixtures are: one place for every test and test server.

``MESHUI_SHARED_FIXTURES`` when set (a clone outside the workspace points it at the fixtures),
else ``../shared/fixtures`` beside the repository. Tests only; the product never reads them.
"""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SHARED_FIXTURES = Path(os.environ.get("MESHUI_SHARED_FIXTURES") or REPO / ".." / "shared" / "fixtures").resolve()


def missing_fixtures_message() -> str | None:
    """Why the fixtures cannot be used, or None when they are there."""
    if (SHARED_FIXTURES / "README.md").is_file():
        return None
    return (f"reference fixtures not found at {SHARED_FIXTURES}: clone meshui beside shared/ or set "
            "MESHUI_SHARED_FIXTURES=/path/to/shared/fixtures")
