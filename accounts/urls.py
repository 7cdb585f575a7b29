"""Sign-in and sign-out pages."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("login/", views.signin_limited(views.LoginView.as_view()), name="login"),
    path("logout/", views.LogoutView.as_view(), name="logout"),
]
