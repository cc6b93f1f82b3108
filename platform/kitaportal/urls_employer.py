"""An employer's portal (<slug>.<BASE_DOMAIN>)."""

from employer_quota.urls import urlpatterns as employer

from .urls_common import urlpatterns as common

urlpatterns = [
    *employer,
    *common,
]
