"""Browser sign-in and sign-out (session cookie, CSRF-protected forms)."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth import views as auth_views
from django.http import HttpRequest, HttpResponse

from accounts.forms import SignInForm


def signin_limited(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Wrap a sign-in view whose form is a ``SignInLimitMixin``: a lockout is answered 429.

    The page is the view's own (the form shows when to try again), with ``Retry-After`` in
    seconds. Every view that checks a password goes through this (``/login/``, ``/admin/login/``).
    """

    @wraps(view)
    def limited(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = view(request, *args, **kwargs)
        lockout = getattr(request, "signin_lockout", None)
        if lockout is not None:
            response.status_code = 429
            response["Retry-After"] = str(lockout.retry_after_s)
        return response

    return limited


class LoginView(auth_views.LoginView):
    """Django's login form under the sign-in limits; a signed-in user goes straight to the home page."""

    template_name = "accounts/login.html"
    authentication_form = SignInForm
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Sign out on POST only (Django refuses GET, so a link or image cannot log anyone out)."""
