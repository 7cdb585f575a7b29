"""Django app configuration for accounts."""

from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = "Accounts and API tokens"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.contrib.auth import get_user_model
        from django.contrib.auth.signals import user_logged_in, user_login_failed
        from django.db.models.signals import m2m_changed, post_save

        # Registers how bearer tokens appear in the OpenAPI schema; contacts nothing.
        from accounts import schema  # noqa: F401
        from accounts.admin_access import on_groups_changed, on_user_saved
        from accounts.signin import on_logged_in, on_login_failed

        # The admin role and Django's is_staff stay one thing (accounts.admin_access).
        user_model = get_user_model()
        m2m_changed.connect(on_groups_changed, sender=user_model.groups.through, dispatch_uid="meshui-role-staff")
        post_save.connect(on_user_saved, sender=user_model, dispatch_uid="meshui-superuser-staff")
        # Sign-in limits (accounts.signin): every failed password check from a client counts.
        user_login_failed.connect(on_login_failed, dispatch_uid="meshui-signin-failed")
        user_logged_in.connect(on_logged_in, dispatch_uid="meshui-signin-succeeded")
