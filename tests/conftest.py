"""Shared test configuration: paths to the reference fixtures and the test output folder."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.fixtures import SHARED_FIXTURES, missing_fixtures_message

REPO = Path(__file__).resolve().parents[1]
TEST_OUTPUT = REPO / "test-results"


def pytest_sessionstart(session: pytest.Session) -> None:
    # Many modules read the fixtures at import: say once, clearly, where they were looked for.
    problem = missing_fixtures_message()
    if problem:
        raise pytest.UsageError(problem)


@pytest.fixture(scope="session")
def shared_fixtures() -> Path:
    """The read-only reference fixtures (tests only; never the product)."""
    return SHARED_FIXTURES
