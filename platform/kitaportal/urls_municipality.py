"""A municipality's Kita portal (<slug>.<BASE_DOMAIN>)."""

from django.urls import path

from registrations import views

from .urls_common import urlpatterns as common

urlpatterns = [
    path("", views.facility_list, name="home"),
    path("kitas/<slug:slug>/", views.facility_detail, name="facility-detail"),
    *common,
]
