"""The platform host (BASE_DOMAIN): landing page and platform admin."""

from django.contrib import admin
from django.urls import path

from tenants import views

from .urls_common import urlpatterns as common

urlpatterns = [
    path("", views.landing, name="landing"),
    path("admin/", admin.site.urls),
    *common,
]
