"""``python manage.py demo_operator``: the demo's operator account, with a fresh password.

``make demo`` runs it at every start so the demo can be driven (traffic changes need an
operator) without a password ever being committed or reused: the password is generated anew
and printed once. Refuses to run when the demo mesh is not the telemetry source, so it can
never create a known account on a deployment that watches a real mesh.
"""

from __future__ import annotations

import secrets
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from accounts.roles import set_role

DEMO_USERNAME = "demo"


class Command(BaseCommand):
    help = "Create or reset the demo operator account and print its new password (demo mesh only)."

    def handle(self, *args: Any, **options: Any) -> None:
        if settings.PROMETHEUS["URL"]:
            raise CommandError("demo_operator is for the built-in demo mesh only; MESHUI_PROMETHEUS_URL is set.")
        password = secrets.token_urlsafe(12)
        user, _ = get_user_model().objects.get_or_create(username=DEMO_USERNAME)
        user.set_password(password)
        user.save()
        set_role(user, "operator")
        self.stdout.write(f"meshui: demo operator account — user {DEMO_USERNAME}, password {password}")
