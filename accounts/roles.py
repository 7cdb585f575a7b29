"""The three meshui roles, kept as Django groups.

``admin`` includes ``operator`` which includes ``viewer``; a superuser is an admin whatever
their groups. A user in several role groups has the highest of them.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import Group

VIEWER = "viewer"
OPERATOR = "operator"
ADMIN = "admin"
ROLES: tuple[str, ...] = (VIEWER, OPERATOR, ADMIN)  # lowest to highest
_RANK = {role: rank for rank, role in enumerate(ROLES)}
_CACHE_ATTRIBUTE = "_meshui_role"


def role_of(user: Any) -> str | None:
    """The highest role of ``user``, or None for anonymous, inactive or role-less users.

    The answer is cached on the user object, which lives for one request: a role change
    takes effect on the user's next request.
    """
    if user is None or not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    if user.is_superuser:
        return ADMIN
    if not hasattr(user, _CACHE_ATTRIBUTE):
        names = set(user.groups.filter(name__in=ROLES).values_list("name", flat=True))
        ranked = [role for role in ROLES if role in names]
        setattr(user, _CACHE_ATTRIBUTE, ranked[-1] if ranked else None)
    return getattr(user, _CACHE_ATTRIBUTE)


def has_role(user: Any, role: str) -> bool:
    """True when ``user``'s role is ``role`` or a higher one.

    Raises ValueError for a name that is not one of ``ROLES``.
    """
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    current = role_of(user)
    return current is not None and _RANK[current] >= _RANK[role]


def set_role(user: Any, role: str) -> None:
    """Make ``role`` the user's only meshui role group (other groups are kept).

    Raises ValueError for an unknown role; the role groups are created by the accounts
    migrations, ``get_or_create`` only covers a database migrated before they existed.
    """
    if role not in _RANK:
        raise ValueError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    group, _ = Group.objects.get_or_create(name=role)
    user.groups.remove(*Group.objects.filter(name__in=ROLES).exclude(pk=group.pk))
    user.groups.add(group)
    forget_role(user)


def forget_role(user: Any) -> None:
    """Drop the role cached on ``user`` (``role_of``), after its groups changed."""
    if hasattr(user, _CACHE_ATTRIBUTE):
        delattr(user, _CACHE_ATTRIBUTE)
