"""API tokens: issue, lookup, expiry, revocation and digest-only storage; roles."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from io import StringIO

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.models import ApiToken
from accounts.roles import ADMIN, OPERATOR, VIEWER, has_role, role_of, set_role
from accounts.tokens import InvalidToken, authenticate_token, issue_token


def test_issue_token_stores_only_digest_and_prefix(make_user):
    # given a user
    user = make_user("alice", role=VIEWER)
    # when a token is issued
    row, token = issue_token(user, name="ci")
    # then the database holds its SHA-256 and its first 8 characters, never the token
    stored = ApiToken.objects.get(pk=row.pk)
    assert re.fullmatch(r"mui_[A-Za-z0-9_-]{43}", token)
    assert stored.digest == hashlib.sha256(token.encode()).hexdigest()
    assert stored.prefix == token[:8]
    assert stored.name == "ci"
    assert token not in {str(value) for value in ApiToken.objects.filter(pk=row.pk).values().get().values()}


def test_issue_token_defaults_to_api_token_days(make_user, settings):
    # given a configured validity of 7 days
    settings.API_TOKEN_DAYS = 7
    # when a token is issued without days
    row, _ = issue_token(make_user("bob"))
    # then it expires 7 days after creation
    assert row.expires_at - row.created_at == timedelta(days=7)


def test_issue_token_refuses_zero_days(make_user):
    user = make_user("carol")
    with pytest.raises(ValueError, match="at least one day"):
        issue_token(user, days=0)


def test_authenticate_token_returns_the_row_of_a_valid_token(make_user):
    # given an issued token
    user = make_user("dave", role=VIEWER)
    row, token = issue_token(user)
    # when it is presented
    found = authenticate_token(token)
    # then its row and user are found and the use is recorded
    assert found.pk == row.pk
    assert found.user == user
    assert ApiToken.objects.get(pk=row.pk).last_used_at is not None


@pytest.mark.parametrize(
    ("presented", "message"),
    [
        ("not-a-token", "Malformed API token"),
        ("mui_short", "Malformed API token"),
        ("mui_" + "A" * 43, "Unknown API token"),
    ],
)
def test_authenticate_token_refuses_malformed_and_unknown_tokens(db, presented, message):
    with pytest.raises(InvalidToken, match=message):
        authenticate_token(presented)


def test_authenticate_token_refuses_an_expired_token(make_user):
    # given a token checked one second after its expiry
    row, token = issue_token(make_user("erin"), days=1)
    # when / then
    with pytest.raises(InvalidToken, match=f"API token {row.prefix}… expired at"):
        authenticate_token(token, now=row.expires_at + timedelta(seconds=1))


def test_authenticate_token_refuses_a_revoked_token(make_user):
    # given a revoked token
    row, token = issue_token(make_user("frank"))
    row.revoke()
    # when / then
    with pytest.raises(InvalidToken, match=f"API token {row.prefix}… has been revoked"):
        authenticate_token(token)


def test_authenticate_token_refuses_the_token_of_an_inactive_user(make_user):
    user = make_user("gina", role=VIEWER)
    _, token = issue_token(user)
    user.is_active = False
    user.save()
    with pytest.raises(InvalidToken, match="inactive"):
        authenticate_token(token)


def test_revoke_keeps_the_first_revocation_time(make_user):
    row, _ = issue_token(make_user("hank"))
    row.revoke()
    first = row.revoked_at
    row.revoke()
    assert ApiToken.objects.get(pk=row.pk).revoked_at == first


def test_last_used_at_is_written_at_most_once_a_minute(make_user):
    # given a token used once at t0
    row, token = issue_token(make_user("ivy"))
    t0 = timezone.now()
    authenticate_token(token, now=t0)
    # when it is used again 30 s later, then 61 s later
    authenticate_token(token, now=t0 + timedelta(seconds=30))
    after_30s = ApiToken.objects.get(pk=row.pk).last_used_at
    authenticate_token(token, now=t0 + timedelta(seconds=61))
    after_61s = ApiToken.objects.get(pk=row.pk).last_used_at
    # then only the second use moved last_used_at
    assert after_30s == t0
    assert after_61s == t0 + timedelta(seconds=61)


def test_migrations_create_the_role_groups(db):
    assert set(Group.objects.filter(name__in=[VIEWER, OPERATOR, ADMIN]).values_list("name", flat=True)) == {
        VIEWER,
        OPERATOR,
        ADMIN,
    }


@pytest.mark.parametrize(
    ("role", "superuser", "expected"),
    [
        (None, False, {VIEWER: False, OPERATOR: False, ADMIN: False}),
        (VIEWER, False, {VIEWER: True, OPERATOR: False, ADMIN: False}),
        (OPERATOR, False, {VIEWER: True, OPERATOR: True, ADMIN: False}),
        (ADMIN, False, {VIEWER: True, OPERATOR: True, ADMIN: True}),
        (None, True, {VIEWER: True, OPERATOR: True, ADMIN: True}),
    ],
)
def test_has_role_follows_the_hierarchy(make_user, role, superuser, expected):
    user = make_user("jo", role=role, superuser=superuser)
    assert {name: has_role(user, name) for name in (VIEWER, OPERATOR, ADMIN)} == expected


def test_role_of_a_user_in_several_groups_is_the_highest(make_user):
    user = make_user("kim")
    user.groups.add(Group.objects.get(name=VIEWER), Group.objects.get(name=OPERATOR))
    assert role_of(user) == OPERATOR


def test_set_role_replaces_the_previous_role(make_user):
    user = make_user("lee", role=ADMIN)
    set_role(user, VIEWER)
    assert list(user.groups.values_list("name", flat=True)) == [VIEWER]
    assert role_of(user) == VIEWER


def test_has_role_rejects_an_unknown_role(make_user):
    with pytest.raises(ValueError, match="unknown role 'root'"):
        has_role(make_user("max"), "root")


def test_create_api_token_prints_the_token_alone_on_the_last_line(db):
    # given no user "robot"
    out, err = StringIO(), StringIO()
    # when the command runs
    call_command(
        "create_api_token",
        "robot",
        "--role",
        "operator",
        "--days",
        "3",
        "--name",
        "ci",
        stdout=out,
        stderr=err,
    )
    # then the last stdout line is a working token of a new password-less operator
    token = out.getvalue().splitlines()[-1]
    row = authenticate_token(token)
    assert row.user.username == "robot"
    assert not row.user.has_usable_password()
    assert role_of(row.user) == OPERATOR
    assert row.name == "ci"
    assert row.expires_at - row.created_at == timedelta(days=3)
    assert "Created user 'robot'" in err.getvalue()


def test_create_api_token_changes_the_role_of_an_existing_user(make_user):
    user = make_user("nina", role=ADMIN)
    err = StringIO()
    call_command("create_api_token", "nina", "--role", "viewer", stdout=StringIO(), stderr=err)
    user.refresh_from_db()
    assert role_of(user) == VIEWER
    assert user.has_usable_password()
    assert "changed from admin to viewer" in err.getvalue()


def test_create_api_token_rejects_an_unknown_role(db):
    with pytest.raises(CommandError, match="invalid choice: 'root'"):
        call_command("create_api_token", "robot", "--role", "root", stdout=StringIO(), stderr=StringIO())


def test_create_api_token_rejects_days_out_of_range(db):
    with pytest.raises(CommandError, match="--days=0 is not valid"):
        call_command("create_api_token", "robot", "--role", "viewer", "--days", "0", stdout=StringIO())


def test_revoke_api_token_by_prefix(make_user):
    row, token = issue_token(make_user("olga"))
    out = StringIO()
    call_command("revoke_api_token", row.prefix, stdout=out)
    assert f"Revoked token {row.prefix}" in out.getvalue()
    with pytest.raises(InvalidToken, match="revoked"):
        authenticate_token(token)


def test_revoke_api_token_of_a_user_revokes_all_active_ones(make_user):
    user = make_user("paul")
    issue_token(user)
    issue_token(user)
    other, other_token = issue_token(make_user("quinn"))
    out = StringIO()
    call_command("revoke_api_token", "--user", "paul", stdout=out)
    assert out.getvalue().strip() == "Revoked 2 token(s) of 'paul'."
    assert ApiToken.objects.filter(user=user, revoked_at__isnull=True).count() == 0
    assert authenticate_token(other_token).pk == other.pk


def test_revoke_api_token_needs_a_prefix_or_a_user(db):
    with pytest.raises(CommandError, match="either a token prefix or --user"):
        call_command("revoke_api_token", stdout=StringIO())


def test_revoke_api_token_reports_an_unknown_prefix(db):
    with pytest.raises(CommandError, match="no active token starts with 'mui_zzzz'"):
        call_command("revoke_api_token", "mui_zzzz", stdout=StringIO())
