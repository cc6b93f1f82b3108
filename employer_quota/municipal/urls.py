"""Included at the end of kitaportal.urls_municipality."""

from django.urls import path

from . import views

urlpatterns = [
    path("verwaltung/belegplaetze/", views.agreement_list, name="agreement-list"),
    path("verwaltung/belegplaetze/neu/", views.agreement_new, name="agreement-new"),
    path("verwaltung/belegplaetze/<int:pk>/", views.agreement_detail, name="agreement-detail"),
    path(
        "verwaltung/belegplaetze/anfragen/<int:pk>/ablehnen/",
        views.place_request_decline,
        name="place-request-decline",
    ),
    path(
        "verwaltung/belegplaetze/berechtigte/",
        views.eligible_applications,
        name="agreement-eligible",
    ),
    path(
        "meine-anmeldungen/<str:reference>/arbeitgeber-code/",
        views.redeem,
        name="employer-code",
    ),
    path(
        "meine-anmeldungen/<str:reference>/arbeitgeber-code/<int:pk>/einwilligung/",
        views.consent,
        name="employer-code-consent",
    ),
]
