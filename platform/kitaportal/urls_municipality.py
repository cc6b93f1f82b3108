"""A municipality's Kita portal (<slug>.<BASE_DOMAIN>)."""

from django.urls import include, path

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
    path("verwaltung/mitarbeitende/", views_backoffice.staff_accounts, name="backoffice-staff"),
    path(
        "verwaltung/mitarbeitende/<int:pk>/deaktivieren/",
        views_backoffice.deactivate_staff,
        name="backoffice-staff-deactivate",
    ),
    path("verwaltung/dubletten/zusammenfuehren/", views_backoffice.merge, name="backoffice-merge"),
    *common,
]

# Billing and support access (issue 6): the tenant admin's billing page.
urlpatterns += [path("", include("billing.urls_tenant")), path("", include("onboarding.urls"))]

# Facility profiles (issue 3, item 1): carrier/facility staff and the youth office edit them.
from django.urls import re_path  # noqa: E402

from registrations import views_profiles  # noqa: E402

urlpatterns += [
    path("verwaltung/kitas/", views_profiles.facility_profiles, name="facility-profiles"),
    path(
        "verwaltung/kitas/<slug:slug>/profil/",
        views_profiles.edit_profile,
        name="facility-profile-edit",
    ),
    path(
        "verwaltung/kitas/<slug:slug>/profil/fotos/",
        views_profiles.upload_photo,
        name="facility-photo-upload",
    ),
    path(
        "verwaltung/kitas/<slug:slug>/profil/fotos/<int:photo_id>/entfernen/",
        views_profiles.remove_photo,
        name="facility-photo-remove",
    ),
]
# Allocation rounds, offers, contracts, fees, statistics (issue 4).
from registrations import views_allocation as _alloc  # noqa: E402

urlpatterns += [
    path("aufnahmekriterien/", _alloc.criteria_page, name="allocation-criteria-public"),
    path("beitragsrechner/", _alloc.fee_calculator, name="fee-calculator"),
    path("meine-anmeldungen/angebote/", _alloc.family_offers, name="family-offers"),
    re_path(
        r"^meine-anmeldungen/angebote/(?P<pk>[0-9]+)/(?P<answer>annehmen|ablehnen)/$",
        _alloc.family_offer_answer,
        name="family-offer-answer",
    ),
    path(
        "meine-anmeldungen/angebote/<int:pk>/vertrag.pdf",
        _alloc.family_contract_pdf,
        name="family-contract-pdf",
    ),
    path(
        "meine-anmeldungen/angebote/<int:pk>/vertrag-unterschrieben/",
        _alloc.family_contract_signed,
        name="family-contract-signed",
    ),
    path(
        "meine-anmeldungen/<str:reference>/kriterien/",
        _alloc.family_circumstances,
        name="family-circumstances",
    ),
    path(
        "verwaltung/voranmeldungen/<str:reference>/kriterien/",
        _alloc.office_circumstances,
        name="office-circumstances",
    ),
    path("verwaltung/vergabe/", _alloc.runs, name="allocation-runs"),
    path("verwaltung/vergabe/<int:pk>/", _alloc.run_detail, name="allocation-run"),
    path("verwaltung/vergabe/<int:pk>/status/", _alloc.run_status, name="allocation-run-status"),
    path("verwaltung/vergabe/vergleich/", _alloc.run_compare, name="allocation-compare"),
    path("verwaltung/aufnahmekriterien/", _alloc.criteria_edit, name="allocation-criteria"),
    path("verwaltung/beitragstabellen/", _alloc.fee_tables, name="allocation-fees"),
    path("verwaltung/statistik/", _alloc.statistics, name="allocation-statistics"),
    path(
        "verwaltung/statistik/export.<str:fmt>",
        _alloc.statistics_export,
        name="allocation-statistics-export",
    ),
    path("verwaltung/vertragsvorlage/", _alloc.contract_template, name="contract-template"),
    path(
        "verwaltung/kitas/<slug:slug>/freie-plaetze/",
        _alloc.capacity_edit,
        name="facility-capacities",
    ),
    path("verwaltung/angebote/", _alloc.staff_offers, name="allocation-staff-offers"),
    path(
        "verwaltung/angebote/wunsch/<int:wish_id>/anbieten/",
        _alloc.staff_make_offer,
        name="allocation-staff-make-offer",
    ),
    path(
        "verwaltung/vertraege/<int:pk>/gegenzeichnen/",
        _alloc.staff_countersign,
        name="allocation-staff-countersign",
    ),
    path(
        "verwaltung/vertraege/<int:pk>/vertrag.pdf",
        _alloc.staff_contract_pdf,
        name="allocation-staff-contract",
    ),
]

# Reserved places of employers (issue 5): agreements back office, parents' code redemption.
from employer_quota.municipal.urls import urlpatterns as _employer_patterns  # noqa: E402

urlpatterns += _employer_patterns

# Issue 4 follow-ups: income-bracket declaration, children per district, family-daycare places.
from registrations import views_fees as _fees  # noqa: E402
from registrations import views_planning as _planning  # noqa: E402

urlpatterns += [
    path(
        "meine-anmeldungen/<str:reference>/elternbeitrag/",
        _fees.family_fee_declaration,
        name="family-fee-declaration",
    ),
    path("verwaltung/kinder-je-bezirk/", _planning.population, name="planning-population"),
    path("verwaltung/tagespflege/plaetze/", _planning.daycare_places, name="planning-daycare"),
    path(
        "verwaltung/tagespflege/plaetze/<slug:slug>/",
        _planning.daycare_places_edit,
        name="planning-daycare-edit",
    ),
]
