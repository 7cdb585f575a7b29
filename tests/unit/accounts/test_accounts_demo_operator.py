import re
from io import StringIO

import pytest
from django.contrib.auth import authenticate
from django.core.management import CommandError, call_command

from accounts.roles import role_of

pytestmark = pytest.mark.django_db


def run() -> str:
    out = StringIO()
    call_command("demo_operator", stdout=out)
    return out.getvalue()


def test_it_creates_an_operator_with_the_printed_password(settings):
    # given the demo mesh is the telemetry source
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    # when
    output = run()
    # then
    password = re.search(r"user demo, password (\S+)$", output.strip()).group(1)
    user = authenticate(username="demo", password=password)
    assert user is not None
    assert role_of(user) == "operator"


def test_the_password_survives_a_restart_and_reset_replaces_it(settings, tmp_path):
    # given the demo's data directory
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    settings.DATA_DIR = tmp_path
    # when make demo starts twice
    first = run().split()[-1]
    second = run().split()[-1]
    # then the same password is printed and still works (a signed-in tab stays signed in)
    assert first == second
    assert authenticate(username="demo", password=first) is not None
    # and it is kept readable by its owner only
    kept = tmp_path / "demo-operator-password"
    assert kept.read_text().strip() == first
    assert kept.stat().st_mode & 0o777 == 0o600
    # when a reset is asked for, a new one replaces it
    out = StringIO()
    call_command("demo_operator", "--reset", stdout=out)
    third = out.getvalue().split()[-1]
    assert third != first
    assert authenticate(username="demo", password=first) is None
    assert authenticate(username="demo", password=third) is not None


def test_a_kept_password_that_no_longer_works_is_replaced(settings, tmp_path):
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    settings.DATA_DIR = tmp_path
    (tmp_path / "demo-operator-password").write_text("someone-edited-this\n")
    password = run().split()[-1]
    assert password != "someone-edited-this"
    assert authenticate(username="demo", password=password) is not None


def test_it_refuses_when_a_real_prometheus_is_configured(settings):
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": "http://prometheus:9090"}
    with pytest.raises(CommandError, match="demo mesh only"):
        run()
