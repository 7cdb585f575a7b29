"""Sign-in limits: failures per account and per address lock sign-in out (429), audited."""

from __future__ import annotations

import logging
import re
import time
from io import StringIO

import pytest
from django.core.cache import cache
from django.core.management import CommandError, call_command
from django.test import Client

from accounts import signin
from meshui.observability import REGISTRY

PASSWORD = "correct horse battery"  # make_user's


@pytest.fixture(autouse=True)
def empty_counters():
    cache.clear()
    yield
    cache.clear()


def attempt(client: Client, username: str, password: str, address: str = "198.51.100.7", path: str = "/login/",
            **extra):  # fmt: skip
    return client.post(path, {"username": username, "password": password}, REMOTE_ADDR=address, **extra)


def page_without_token(response, username: str) -> str:
    """The page with the typed username and the (per-response) CSRF token blanked."""
    body = response.content.decode().replace(username, "USERNAME")
    return re.sub(r'name="csrfmiddlewaretoken" value="[^"]+"', "", body)


def signed_in(client: Client) -> bool:
    return "_auth_user_id" in client.session


def test_five_wrong_passwords_lock_the_account_and_the_right_one_is_refused(client, make_user):
    # given a user
    make_user("alice", role="viewer")
    # when four wrong passwords are tried, then each is an ordinary wrong-password page
    for _ in range(4):
        response = attempt(client, "alice", "wrong password")
        assert response.status_code == 200
        assert "Please enter a correct username and password" in response.content.decode()
    # when the fifth is tried, then the account is locked: 429 with Retry-After
    response = attempt(client, "alice", "wrong password")
    assert response.status_code == 429
    assert response["Retry-After"] == "900"
    # and the right password is refused too, from another address, and nobody is signed in
    response = attempt(client, "alice", PASSWORD, address="203.0.113.9")
    assert response.status_code == 429
    assert 899 <= int(response["Retry-After"]) <= 900
    assert not signed_in(client)


def test_the_lockout_page_is_the_login_page_saying_when_to_retry(client, make_user):
    # given a locked account
    make_user("alice", role="viewer")
    for _ in range(5):
        attempt(client, "alice", "wrong password")
    # when the right password is tried
    response = attempt(client, "alice", PASSWORD)
    # then the login form is shown again with a message saying when to try again
    body = response.content.decode()
    assert response.status_code == 429
    assert 'data-testid="login-error"' in body
    assert "Too many failed sign-ins: signing in is paused. Try again in 15 minutes." in body
    assert 'name="password"' in body


def test_the_lockout_ends_after_its_time(client, make_user, settings):
    # given a lockout of one second
    settings.SIGNIN_MAX_FAILURES_PER_ACCOUNT = 2
    settings.SIGNIN_LOCKOUT_S = 1
    make_user("alice", role="viewer")
    attempt(client, "alice", "wrong password")
    response = attempt(client, "alice", "wrong password")
    assert response.status_code == 429
    assert response["Retry-After"] == "1"
    assert "Try again in 1 second." in response.content.decode()
    # when it has passed, then the right password signs in
    time.sleep(1.1)
    response = attempt(client, "alice", PASSWORD)
    assert response.status_code == 302
    assert signed_in(client)


def test_a_successful_sign_in_clears_the_account_count(client, make_user):
    # given four failures and then a successful sign-in
    make_user("alice", role="viewer")
    for _ in range(4):
        attempt(client, "alice", "wrong password")
    assert attempt(client, "alice", PASSWORD).status_code == 302
    client.logout()
    # when four more failures follow, then the account is still not locked
    for _ in range(4):
        assert attempt(client, "alice", "wrong password").status_code == 200
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_usernames_are_counted_trimmed_and_case_folded(client, make_user):
    make_user("alice", role="viewer")
    for typed in ("alice", "Alice", " ALICE", "alicE ", "aLiCe"):
        response = attempt(client, typed, "wrong password")
    assert response.status_code == 429
    assert attempt(client, "alice", PASSWORD).status_code == 429


def test_an_address_is_locked_after_its_limit_whatever_the_accounts(client, make_user, settings):
    # given an address limit of three
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 3
    make_user("bob", role="viewer")
    # when one address tries wrong passwords on three accounts
    assert attempt(client, "carol", "wrong", address="198.51.100.7").status_code == 200
    assert attempt(client, "dave", "wrong", address="198.51.100.7").status_code == 200
    assert attempt(client, "erin", "wrong", address="198.51.100.7").status_code == 429
    # then even a right password is refused from that address, and accepted from another
    assert attempt(client, "bob", PASSWORD, address="198.51.100.7").status_code == 429
    assert attempt(client, "bob", PASSWORD, address="203.0.113.9").status_code == 302


def test_an_ipv6_address_is_counted_by_its_64_bit_prefix(db, client, settings):
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 2
    assert attempt(client, "carol", "wrong", address="2001:db8:1:2::1").status_code == 200
    assert attempt(client, "dave", "wrong", address="2001:db8:1:2:ffff::9").status_code == 429
    assert signin.address_key("::ffff:198.51.100.7") == "198.51.100.7"


def test_unknown_accounts_are_locked_exactly_like_real_ones(client, make_user):
    # given a real account and a made-up one, each failing five times
    make_user("alice", role="viewer")
    real = [attempt(client, "alice", "wrong", address="198.51.100.1") for _ in range(5)]
    made_up = [attempt(client, "nobody-here", "wrong", address="198.51.100.2") for _ in range(5)]
    # then the answers do not tell which exists
    assert [r.status_code for r in real] == [r.status_code for r in made_up] == [200, 200, 200, 200, 429]
    assert real[-1]["Retry-After"] == made_up[-1]["Retry-After"]
    assert page_without_token(real[-1], "alice") == page_without_token(made_up[-1], "nobody-here")


def test_x_forwarded_for_is_ignored_unless_proxies_are_trusted(db, client, settings):
    settings.SIGNIN_MAX_FAILURES_PER_ADDRESS = 2
    # given no trusted proxy: a client varying X-Forwarded-For is still one address
    assert attempt(client, "carol", "wrong", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 200
    assert attempt(client, "dave", "wrong", HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 429


def test_with_one_trusted_proxy_the_client_is_the_last_forwarded_entry(rf, settings):
    settings.SIGNIN_TRUSTED_PROXY_HOPS = 1
    # a client-sent first entry is not trusted: the proxy appended the address it saw
    request = rf.post("/login/", HTTP_X_FORWARDED_FOR="192.0.2.1, 198.51.100.7", REMOTE_ADDR="10.0.0.5")
    assert signin.client_address(request) == "198.51.100.7"
    # and without the header the proxy's own address is used
    assert signin.client_address(rf.post("/login/", REMOTE_ADDR="10.0.0.5")) == "10.0.0.5"
    settings.SIGNIN_TRUSTED_PROXY_HOPS = 2
    assert signin.client_address(request) == "192.0.2.1"


def test_the_admin_sign_in_is_limited_too(client, make_user):
    # given an admin
    make_user("ada", role="admin")
    # when five wrong passwords are tried at /admin/login/
    statuses = [attempt(client, "ada", "wrong", path="/admin/login/").status_code for _ in range(5)]
    # then the fifth locks the account, and the right password is refused there and at /login/
    assert statuses == [200, 200, 200, 200, 429]
    response = attempt(client, "ada", PASSWORD, path="/admin/login/")
    assert response.status_code == 429
    assert response["Retry-After"] in ("899", "900")
    assert "Try again in 15 minutes" in response.content.decode()
    assert attempt(client, "ada", PASSWORD).status_code == 429


def test_failures_lockouts_and_refusals_are_audited(client, make_user, caplog):
    # given the counters before
    def sample(name: str, scope: str | None = None) -> float:
        return REGISTRY.get_sample_value(name, {"scope": scope} if scope else {}) or 0.0

    failures, lockouts, refused = (
        sample("meshui_signin_failures_total"),
        sample("meshui_signin_lockouts_total", "account"),
        sample("meshui_signin_refused_total", "account"),
    )
    make_user("alice", role="viewer")
    # when five failures lock the account and a sixth attempt is refused
    with caplog.at_level(logging.WARNING, logger="meshui.signin"):
        for _ in range(5):
            attempt(client, "alice", "wrong")
        attempt(client, "alice", PASSWORD)
    # then each is a WARNING naming who and from where, and the counters moved
    messages = [r.getMessage() for r in caplog.records if r.name == "meshui.signin"]
    assert all(r.levelno == logging.WARNING for r in caplog.records if r.name == "meshui.signin")
    assert messages[0] == (
        "sign-in failed: username='alice' address=198.51.100.7 account_failures=1/5 address_failures=1/20"
    )
    assert messages[4:] == [
        "sign-in failed: username='alice' address=198.51.100.7 account_failures=5/5 address_failures=5/20",
        "sign-in lockout begun: scope=account username='alice' address=198.51.100.7 lockout_s=900",
        "sign-in refused during a lockout: scope=account username='alice' address=198.51.100.7 retry_after_s=900",
    ]
    assert sample("meshui_signin_failures_total") == failures + 5
    assert sample("meshui_signin_lockouts_total", "account") == lockouts + 1
    assert sample("meshui_signin_refused_total", "account") == refused + 1
    # and the password is never logged
    assert all("wrong" not in m and PASSWORD not in m for m in messages)


def test_an_empty_form_is_not_counted(db, client):
    for _ in range(10):
        assert client.post("/login/", {"username": "alice", "password": ""}).status_code == 200
    assert signin.lockout_of("alice", "127.0.0.1") is None


def test_unlock_ends_a_lockout(client, make_user):
    make_user("alice", role="viewer")
    for _ in range(5):
        attempt(client, "alice", "wrong")
    signin.unlock(username="alice")
    assert attempt(client, "alice", PASSWORD).status_code == 302


def test_the_unlock_command_refuses_a_process_local_cache():
    # given the embedded cache (another process's memory than the web server's)
    # when / then the command says a restart is what clears it
    with pytest.raises(CommandError, match="restart meshui"):
        call_command("signin_unlock", "--username", "alice")


def test_the_unlock_command_ends_a_lockout_in_a_shared_cache(client, make_user, monkeypatch):
    # given a locked account (the test's cache standing in for Redis)
    monkeypatch.setattr("accounts.management.commands.signin_unlock.process_local_cache", lambda: False)
    make_user("alice", role="viewer")
    for _ in range(5):
        attempt(client, "alice", "wrong")
    # when
    out = StringIO()
    call_command("signin_unlock", "--username", "Alice", stdout=out)
    # then
    assert out.getvalue() == "Unlocked account 'Alice'.\n"
    assert attempt(client, "alice", PASSWORD).status_code == 302
