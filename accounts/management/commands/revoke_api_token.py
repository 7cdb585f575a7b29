"""``manage.py revoke_api_token <prefix>`` or ``manage.py revoke_api_token --user <username>``."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from accounts.models import ApiToken


class Command(BaseCommand):
    help = "Revoke one API token by its 8-character prefix, or every active token of a user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("prefix", nargs="?", help="the token's first 8 characters, e.g. mui_AbCd")
        parser.add_argument("--user", dest="username", help="revoke all active tokens of this user")

    def handle(self, *args: Any, **options: Any) -> None:
        prefix: str | None = options["prefix"]
        username: str | None = options["username"]
        if bool(prefix) == bool(username):
            raise CommandError("give either a token prefix or --user <username>, not both or neither")
        active = ApiToken.objects.filter(revoked_at__isnull=True)
        if prefix:
            matches = list(active.filter(prefix=prefix[:8]))
            if not matches:
                raise CommandError(f"no active token starts with {prefix[:8]!r}")
            if len(matches) > 1:
                owners = ", ".join(sorted({str(row.user) for row in matches}))
                raise CommandError(
                    f"{len(matches)} active tokens start with {prefix[:8]!r} (users: {owners}); "
                    "revoke by --user or in the admin"
                )
            matches[0].revoke()
            self.stdout.write(f"Revoked token {matches[0].prefix}… of {matches[0].user}.")
            return
        count = active.filter(user__username=username).update(revoked_at=timezone.now())
        self.stdout.write(f"Revoked {count} token(s) of {username!r}.")
