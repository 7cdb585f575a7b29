"""Users with each role, and API tokens for them."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from django.contrib.auth.models import User

from accounts.roles import set_role
from accounts.tokens import issue_token


@pytest.fixture
def make_user(db) -> Callable[..., User]:
    """``make_user("alice", role="viewer", superuser=False)``: a saved user with that role (or none)."""

    def make(username: str, role: str | None = None, superuser: bool = False) -> User:
        user = User.objects.create_user(username, password="correct horse battery", is_superuser=superuser)
        if role:
            set_role(user, role)
        return user

    return make


@pytest.fixture
def bearer_for(make_user) -> Callable[..., str]:
    """``bearer_for("viewer")``: an Authorization header value for a new user with that role."""

    def make(role: str | None, superuser: bool = False) -> str:
        user = make_user(f"user-{role or 'none'}-{int(superuser)}", role=role, superuser=superuser)
        _, token = issue_token(user)
        return f"Bearer {token}"

    return make
