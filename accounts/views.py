"""Browser sign-in and sign-out (session cookie, CSRF-protected forms)."""

from django.contrib.auth import views as auth_views


class LoginView(auth_views.LoginView):
    """Django's login form; a signed-in user visiting it goes straight to the home page."""

    template_name = "accounts/login.html"
    redirect_authenticated_user = True


class LogoutView(auth_views.LogoutView):
    """Sign out on POST only (Django refuses GET, so a link or image cannot log anyone out)."""
