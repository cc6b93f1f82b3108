"""Onboarding pages on tenant hosts (municipality: every step; employer: the checklist)."""

from django.urls import path

from . import views

app_name = "onboarding"

urlpatterns = [
    path("verwaltung/einrichtung/", views.checklist, name="checklist"),
    path("verwaltung/einrichtung/bezirke/", views.districts, name="districts"),
    path("verwaltung/einrichtung/kitas/", views.facility_import, name="facility-import"),
    path(
        "verwaltung/einrichtung/kitas/vorlage.<str:fmt>",
        views.facility_template,
        name="facility-template",
    ),
    path("verwaltung/einrichtung/regeln/", views.rules, name="rules"),
    path("verwaltung/einrichtung/texte/", views.texts, name="texts"),
]
