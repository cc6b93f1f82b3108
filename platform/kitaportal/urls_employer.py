"""An employer's portal (<slug>.<BASE_DOMAIN>)."""

from django.urls import path

from employer_quota import views

from .urls_common import urlpatterns as common

urlpatterns = [
    path("", views.profile, name="home"),
    *common,
]
