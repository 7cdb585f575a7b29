"""Traces pages; included at the site root by ``meshui.urls``."""

from django.urls import path

from traces import views

urlpatterns = [path("traces/<str:trace_id>", views.trace_page, name="trace-detail")]
