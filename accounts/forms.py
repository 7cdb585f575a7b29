"""Sign-in forms that refuse every sign-in during a lockout (accounts.signin)."""

from __future__ import annotations

import math
from typing import Any

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth.forms import AuthenticationForm

from accounts import signin


def lockout_message(lockout: signin.Lockout) -> str:
    """What the sign-in page says during ``lockout``: why, and when to try again (never too early)."""
    seconds = lockout.retry_after_s
    plural = "" if seconds == 1 else "s"
    wait = f"{seconds} second{plural}" if seconds < 120 else f"{math.ceil(seconds / 60)} minutes"
    return f"Too many failed sign-ins: signing in is paused. Try again in {wait}."


class SignInLimitMixin:
    """For an ``AuthenticationForm``: during a lockout, refuse before the password is checked.

    The lockout (a refused attempt's, or the one a wrong password just began) is left on the
    request as ``signin_lockout``; ``accounts.views.signin_limited`` answers it with a 429.
    """

    request: Any
    cleaned_data: dict[str, Any]

    def clean(self) -> dict[str, Any]:
        username = self.cleaned_data.get("username")
        if username is not None and self.cleaned_data.get("password") and self.request is not None:
            address = signin.client_address(self.request)
            lockout = signin.lockout_of(username, address)
            if lockout is not None:
                signin.record_refusal(username, address, lockout)
                raise self._refusal(lockout)
        try:
            return super().clean()  # type: ignore[misc]
        except forms.ValidationError:
            begun = getattr(self.request, "signin_lockout", None)
            if begun is None:
                raise
            raise self._refusal(begun) from None

    def _refusal(self, lockout: signin.Lockout) -> forms.ValidationError:
        self.request.signin_lockout = lockout
        return forms.ValidationError(lockout_message(lockout), code="signin_locked")


class SignInForm(SignInLimitMixin, AuthenticationForm):
    """The login page's form."""


class AdminSignInForm(SignInLimitMixin, AdminAuthenticationForm):
    """``/admin/login/``'s form (staff only, as Django's), under the same limits."""
