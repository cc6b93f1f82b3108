"""An employer's portal (<slug>.<BASE_DOMAIN>)."""

from django.urls import include, path

from employer_quota.urls import urlpatterns as employer

from .urls_common import urlpatterns as common

urlpatterns = [
    *employer,
    *common,
    # billing and support access (issue 6)
    path("", include("billing.urls_tenant")),
    path("", include("onboarding.urls")),
]
