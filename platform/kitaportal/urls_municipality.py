"""A municipality's Kita portal (<slug>.<BASE_DOMAIN>)."""

from django.urls import path

from registrations import views, views_backoffice, views_family, views_info

from .urls_common import urlpatterns as common

urlpatterns = [
    path("", views.facility_list, name="home"),
    path("kitas/<slug:slug>/", views.facility_detail, name="facility-detail"),
    path("registrieren/", views_family.signup, name="signup"),
    path(
        "konto/bestaetigen/<str:uidb64>/<str:token>/",
        views_family.verify_email,
        name="verify-email",
    ),
    path("voranmeldung/", views_family.apply, name="apply"),
    path(
        "voranmeldung/<str:reference>/bestaetigung/",
        views_family.confirmation,
        name="application-confirmation",
    ),
    path("meine-anmeldungen/", views_family.my_applications, name="my-applications"),
    path(
        "meine-anmeldungen/<str:reference>/aendern/",
        views_family.change_application,
        name="change-application",
    ),
    path("demo-postfach/", views_family.demo_mailbox, name="demo-mailbox"),
    path("barrierefreiheit/", views_info.accessibility, name="accessibility"),
    path("verwaltung/", views_backoffice.dashboard, name="backoffice"),
    path("verwaltung/voranmeldungen/", views_backoffice.incoming, name="backoffice-incoming"),
    path(
        "verwaltung/voranmeldungen/export.<str:fmt>",
        views_backoffice.incoming_export,
        name="backoffice-export",
    ),
    path("verwaltung/tagespflege/", views_backoffice.daycare_queue, name="backoffice-daycare"),
    path(
        "verwaltung/tagespflege/<int:pk>/status/",
        views_backoffice.daycare_status,
        name="backoffice-daycare-status",
    ),
    path("verwaltung/dubletten/", views_backoffice.duplicates, name="backoffice-duplicates"),
    path("verwaltung/dubletten/zusammenfuehren/", views_backoffice.merge, name="backoffice-merge"),
    *common,
]
