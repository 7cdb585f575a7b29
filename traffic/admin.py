"""Admin pages: the audit log (read-only, append-only for everyone) and operators' namespace limits."""

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from accounts.admin_access import AdminRoleAccess
from traffic.models import OperatorNamespace, TrafficChange


@admin.register(TrafficChange)
class TrafficChangeAdmin(AdminRoleAccess, admin.ModelAdmin):
    list_display = ("id", "created_at", "actor", "namespace", "service", "summary", "backend")
    list_filter = ("backend", "namespace")

    # Nobody, superusers included, may edit or remove what the audit log says happened.
    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(OperatorNamespace)
class OperatorNamespaceAdmin(AdminRoleAccess, admin.ModelAdmin):
    list_display = ("user", "namespace")
