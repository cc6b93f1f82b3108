"""Billing pages on every tenant host (municipality and employer)."""

from django.urls import path

from . import views_tenant as views

app_name = "billing-tenant"

urlpatterns = [
    path("verwaltung/abrechnung/", views.settings_page, name="settings"),
    path("verwaltung/abrechnung/kundenportal/", views.customer_portal, name="portal"),
    path(
        "verwaltung/abrechnung/rechnungen/<int:pk>/xrechnung.xml",
        views.invoice_xrechnung,
        name="xrechnung",
    ),
    path("verwaltung/abrechnung/datenexport/", views.export_data, name="export"),
    path("verwaltung/abrechnung/support/", views.support_grant, name="support-grant"),
    path(
        "verwaltung/abrechnung/support/<int:pk>/widerrufen/",
        views.support_revoke,
        name="support-revoke",
    ),
    path("support/eintritt/<str:token>/", views.support_enter, name="support-enter"),
]
