"""Admin pages: the audit log (read-only) and operators' namespace limits."""

from django.contrib import admin

from traffic.models import OperatorNamespace, TrafficChange


@admin.register(TrafficChange)
class TrafficChangeAdmin(admin.ModelAdmin):
    list_display = ("id", "created_at", "actor", "namespace", "service", "summary", "backend")
    list_filter = ("backend", "namespace")

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_add_permission(self, request) -> bool:
        return False


@admin.register(OperatorNamespace)
class OperatorNamespaceAdmin(admin.ModelAdmin):
    list_display = ("user", "namespace")
