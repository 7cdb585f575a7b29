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


def test_each_run_replaces_the_password(settings):
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": ""}
    first = run().split()[-1]
    second = run().split()[-1]
    assert first != second
    assert authenticate(username="demo", password=first) is None
    assert authenticate(username="demo", password=second) is not None


def test_it_refuses_when_a_real_prometheus_is_configured(settings):
    settings.PROMETHEUS = {**settings.PROMETHEUS, "URL": "http://prometheus:9090"}
    with pytest.raises(CommandError, match="demo mesh only"):
        run()
