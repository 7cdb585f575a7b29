"""Shared test configuration: paths to the reference fixtures and the test output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED_FIXTURES = (REPO / ".." / "shared" / "fixtures").resolve()
TEST_OUTPUT = REPO / "test-results"


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The read-only reference fixtures beside the repository (tests only; never the product)."""
    if not SHARED_FIXTURES.is_dir():
        pytest.fail(f"reference fixtures not found at {SHARED_FIXTURES}")
    return SHARED_FIXTURES
