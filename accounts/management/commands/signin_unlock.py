"""``manage.py signin_unlock [--username NAME] [--address IP]``: end a sign-in lockout now.

Clears the failure count and ends the lockout of an account and/or a client address
(accounts.signin). The counts live in the shared cache only with ``MESHUI_REDIS_URL``; embedded
(local memory) they belong to the web process, which a restart clears, so the command says so.
"""

from __future__ import annotations

from typing import Any

from django.core.cache import caches
from django.core.cache.backends.locmem import LocMemCache
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts import signin


def process_local_cache() -> bool:
    """Whether the default cache is this process's memory (the command's, not the server's)."""
    return isinstance(caches["default"], LocMemCache)


class Command(BaseCommand):
    help = "End the sign-in lockout of an account and/or a client address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--username", default="", help="the account's username (any case)")
        parser.add_argument("--address", default="", help="the client address (IPv6: any address of its /64)")

    def handle(self, *args: Any, **options: Any) -> None:
        username: str = options["username"]
        address: str = options["address"].strip()
        if not username.strip() and not address:
            raise CommandError("name what to unlock: --username NAME and/or --address IP")
        if process_local_cache():
            raise CommandError(
                "the sign-in counts are in the web process's own memory (MESHUI_REDIS_URL is unset): "
                "restart meshui to clear them"
            )
        signin.unlock(username=username, address=address)
        parts = (username and f"account {username!r}", address and f"address {address}")
        what = " and ".join(part for part in parts if part)
        self.stdout.write(f"Unlocked {what}.")
