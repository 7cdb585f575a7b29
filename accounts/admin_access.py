"""Who may use the Django admin: exactly the meshui ``admin`` role (docs/operations.md).

Django's admin asks two things — ``is_staff`` to sign in at ``/admin/`` and per-model
permissions to see anything. meshui keeps the first in step with the role (``sync_staff``,
run on every change of a user's groups and on saves that may change ``is_superuser``) and
answers the second from the role (``AdminRoleAccess``), so "admin" means the same on the API and in ``/admin/``.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.http import HttpRequest

from accounts.roles import ADMIN, forget_role, has_role


def sync_staff(user: Any) -> None:
    """Set ``user.is_staff`` to whether the user is a superuser or holds the ``admin`` role."""
    forget_role(user)  # the role cached on this object may predate the change
    staff = bool(user.is_superuser or has_role(user, ADMIN))
    if user.is_staff != staff:
        user.is_staff = staff
        user.save(update_fields=["is_staff"])


def on_groups_changed(sender: Any, instance: Any, action: str, reverse: bool, pk_set: Any, **kwargs: Any) -> None:
    """``m2m_changed`` receiver of ``User.groups``: re-derive ``is_staff`` of the users touched."""
    if action not in ("post_add", "post_remove", "post_clear"):
        return
    if not reverse:
        sync_staff(instance)
    elif pk_set:  # a group's users changed
        for user in get_user_model().objects.filter(pk__in=pk_set):
            sync_staff(user)


def on_user_saved(
    sender: Any, instance: Any, created: bool, raw: bool = False, update_fields: Any = None, **kwargs: Any
) -> None:
    """``post_save`` receiver of the user model: a save that may change ``is_superuser``
    re-derives ``is_staff``. Partial saves of other fields (``last_login`` at every sign-in,
    ``is_staff`` by ``sync_staff`` itself) cost nothing."""
    if raw or (update_fields is not None and "is_superuser" not in update_fields):
        return
    sync_staff(instance)


class AdminRoleAccess:
    """ModelAdmin mixin: users with the ``admin`` role may view, add, change and delete.

    Subclasses narrow it (``return False``) for what nobody may do, e.g. edit the audit log.
    """

    def has_module_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, ADMIN)

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, ADMIN)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return has_role(request.user, ADMIN)

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, ADMIN)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return has_role(request.user, ADMIN)
