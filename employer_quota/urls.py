"""The employer's URLs (HR back office); included by kitaportal.urls_employer."""

from django.urls import path

from . import views, views_daycare, views_reserved, views_surveys

urlpatterns = [
    path("", views.profile, name="home"),
    path("belegplaetze/", views_reserved.dashboard, name="reserved-dashboard"),
    path("belegplaetze/export.<str:fmt>", views_reserved.dashboard_export, name="reserved-export"),
    path("belegplaetze/<int:pk>/", views_reserved.agreement_detail, name="reserved-agreement"),
    path(
        "belegplaetze/<int:pk>/abrechnung/<int:year>-<int:month>.pdf",
        views_reserved.statement_pdf,
        name="reserved-statement",
    ),
    path("belegplaetze/anfrage/", views_reserved.place_request, name="place-request"),
    path("codes/", views_reserved.codes, name="codes"),
    path("codes/<int:number>/widerrufen/", views_reserved.revoke_code, name="code-revoke"),
    path("betriebskita/", views_daycare.overview, name="daycare"),
    path("betriebskita/vertrag/<int:pk>.pdf", views_daycare.contract_pdf, name="daycare-contract"),
    path(
        "betriebskita/anmeldungen/<int:pk>/zurueckziehen/",
        views_daycare.withdraw,
        name="daycare-withdraw",
    ),
    path("umfragen/", views_surveys.survey_list, name="surveys"),
    path("umfragen/<int:pk>/", views_surveys.survey_detail, name="survey-detail"),
    path("umfragen/<int:pk>/ergebnisse/", views_surveys.survey_results, name="survey-results"),
    path(
        "umfragen/<int:pk>/ergebnisse.<str:fmt>",
        views_surveys.survey_export,
        name="survey-export",
    ),
    path("umfrage/<str:token>/", views_surveys.answer, name="survey-answer"),
]
