"""``manage.py create_api_token <username> --role viewer|operator|admin [--days N] [--name NAME]``.

Creates the user when missing (with an unusable password: a token-only account), makes
``--role`` their meshui role and prints the new token alone on the last line of stdout;
everything else goes to stderr, so ``TOKEN=$(manage.py create_api_token ... | tail -n1)`` works.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from accounts.roles import ROLES, role_of, set_role
from accounts.tokens import issue_token


class Command(BaseCommand):
    help = "Create an API token for a user (created when missing) with the given role."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=ROLES)
        parser.add_argument(
            "--days", type=int, default=None, help="validity in days (default MESHUI_API_TOKEN_DAYS)"
        )
        parser.add_argument("--name", default="", help="a label to tell tokens apart")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"].strip()
        role: str = options["role"]
        days: int | None = options["days"]
        if not username:
            raise CommandError("username must not be empty")
        if days is not None and not 1 <= days <= 3650:
            raise CommandError(f"--days={days} is not valid: expected a whole number between 1 and 3650")
        user_model = get_user_model()
        with transaction.atomic():
            user = user_model.objects.filter(**{user_model.USERNAME_FIELD: username}).first()
            if user is None:
                user = user_model(**{user_model.USERNAME_FIELD: username})
                user.set_unusable_password()
                user.save()
                self.stderr.write(f"Created user {username!r} (token only, no password).")
            previous = role_of(user)
            set_role(user, role)
            if previous not in (None, role):
                self.stderr.write(f"Role of {username!r} changed from {previous} to {role}.")
            row, token = issue_token(user, name=options["name"], days=days)
        self.stderr.write(
            f"Token {row.prefix}… for {username!r} ({role_of(user)}) "
            f"expires {row.expires_at:%Y-%m-%d %H:%M} UTC. It is shown only now:"
        )
        self.stdout.write(token)
