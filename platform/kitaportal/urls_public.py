"""The platform host (BASE_DOMAIN): landing page and platform admin."""

from billing import views_public as billing_views
from django.contrib import admin
from django.urls import include, path

from .urls_common import urlpatterns as common

urlpatterns = [
    # the public platform site: what the service does, plans and prices, demo, sign-up
    path("", billing_views.home, name="landing"),
    path("", include("billing.urls_public")),
    path("admin/", admin.site.urls),
    *common,
]
