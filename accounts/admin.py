"""Admin pages for API tokens (list, inspect and revoke; the digest is never shown) and users,
open to the meshui admin role (accounts.admin_access)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin
from django.contrib.auth.models import User
from django.db.models import QuerySet
from django.http import HttpRequest
from django.utils import timezone

from accounts.admin_access import AdminRoleAccess
from accounts.forms import AdminSignInForm
from accounts.models import ApiToken

# /admin/login/ checks passwords too: the same sign-in limits (meshui.urls routes it through
# accounts.views.signin_limited for the 429).
admin.site.login_form = AdminSignInForm


@admin.register(ApiToken)
class ApiTokenAdmin(AdminRoleAccess, admin.ModelAdmin):
    list_display = ("prefix", "user", "name", "created_at", "expires_at", "last_used_at", "revoked_at")
    list_filter = ("revoked_at",)
    search_fields = ("prefix", "name", "user__username")
    fields = ("user", "name", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")
    readonly_fields = ("user", "prefix", "created_at", "last_used_at")
    actions = ("revoke_tokens",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # A token is shown in clear only once, on the command line (create_api_token).
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Revoked, never deleted: the audit log names tokens by prefix.
        return False

    @admin.action(description="Revoke the selected tokens")
    def revoke_tokens(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        count = queryset.filter(revoked_at__isnull=True).update(revoked_at=timezone.now())
        self.message_user(request, f"Revoked {count} token(s).")


# Users (and their role groups) are managed by the admin role too, not only by superusers.
admin.site.unregister(User)


@admin.register(User)
class MeshuiUserAdmin(AdminRoleAccess, UserAdmin):
    pass
