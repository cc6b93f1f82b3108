"""A municipality's Kita portal (<slug>.<BASE_DOMAIN>)."""

from django.urls import path

from registrations import views

from .urls_common import urlpatterns as common

urlpatterns = [
    path("", views.facility_list, name="home"),
    path("kitas/<slug:slug>/", views.facility_detail, name="facility-detail"),
    path("registrieren/", views.signup, name="signup"),
    path("konto/bestaetigen/<str:uidb64>/<str:token>/", views.verify_email, name="verify-email"),
    path("voranmeldung/", views.apply, name="apply"),
    path(
        "voranmeldung/<str:reference>/bestaetigung/",
        views.confirmation,
        name="application-confirmation",
    ),
    path("meine-anmeldungen/", views.my_applications, name="my-applications"),
    path(
        "meine-anmeldungen/<str:reference>/aendern/",
        views.change_application,
        name="change-application",
    ),
    path("demo-postfach/", views.demo_mailbox, name="demo-mailbox"),
    *common,
]
