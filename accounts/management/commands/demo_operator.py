"""``python manage.py demo_operator``: the demo's operator account, and its password.

``make demo`` runs it at every start so the demo can be driven (traffic changes need an
operator) without a password ever being committed: the password is generated on the first
start, kept in the data directory (``demo-operator-password``, readable by its owner only) and
printed at every start. Keeping it keeps a signed-in tab signed in across restarts (a new
password would end every session). ``--reset`` makes a new one. Refuses to run when the demo
mesh is not the telemetry source, so it can never create a known account on a deployment that
watches a real mesh.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import set_role

DEMO_USERNAME = "demo"
PASSWORD_FILE = "demo-operator-password"  # noqa: S105  (a file name, not a password)


def _kept_password(path: Path) -> str | None:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except OSError:
        return None
    return text or None


def _keep(path: Path, password: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created owner-only before the secret is written into it.
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    path.chmod(0o600)


class Command(BaseCommand):
    help = "Create the demo operator account (or keep it) and print its password (demo mesh only)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--reset", action="store_true", help="make a new password (ends the demo's sessions)")

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PROMETHEUS["URL"]:
            raise CommandError("demo_operator is for the built-in demo mesh only; MESHUI_PROMETHEUS_URL is set.")
        path = Path(settings.DATA_DIR) / PASSWORD_FILE
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        password = None if options["reset"] else _kept_password(path)
        if password is None or not user.check_password(password):
            password = secrets.token_urlsafe(12)
            user.set_password(password)
            user.save()
            _keep(path, password)
        set_role(user, "operator")
        self.stdout.write(f"meshui: demo operator account — user {DEMO_USERNAME}, password {password}")
