"""Onboarding: the checklists and the setup steps that have no page elsewhere."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from tenants.accounts.models import Role
from tenants.common.services import record_audit

from .models import PortalSetup

MAX_LOGO_BYTES = 1_000_000


@dataclass(frozen=True)
class Item:
    key: str
    label: str
    done: bool
    url: str


@dataclass(frozen=True)
class Checklist:
    items: list[Item]

    @property
    def done_count(self) -> int:
        return sum(item.done for item in self.items)

    @property
    def complete(self) -> bool:
        return all(item.done for item in self.items)

    @property
    def percent(self) -> int:
        return round(100 * self.done_count / len(self.items)) if self.items else 100


def _require_admin(actor) -> None:
    if getattr(actor, "role", None) != Role.TENANT_ADMIN:
        raise ValidationError(_("Nur die Administration des Portals kann das Portal einrichten."))


def municipality_checklist() -> Checklist:
    """Runs in the municipality's schema. Complete = the portal can open."""
    from registrations.models import Criterion, District, Facility, FeeTable

    setup = PortalSetup.current()
    staff_roles = [Role.YOUTH_OFFICE, Role.CARRIER_STAFF, Role.FACILITY_STAFF, Role.FACHBERATUNG]
    items = [
        ("districts", gettext_lazy("Bezirke anlegen"), District.objects.exists(),
         "/verwaltung/einrichtung/bezirke/"),
        ("facilities", gettext_lazy("Träger und Kitas importieren"), Facility.objects.exists(),
         "/verwaltung/einrichtung/kitas/"),
        ("fees", gettext_lazy("Beitragstabelle hinterlegen"), FeeTable.objects.exists(),
         "/verwaltung/beitragstabellen/"),
        ("criteria", gettext_lazy("Aufnahmekriterien festlegen"),
         Criterion.objects.filter(active=True).exists(), "/verwaltung/aufnahmekriterien/"),
        ("rules", gettext_lazy("Wunschzahl und Fristen festlegen"),
         setup.rules_confirmed_at is not None, "/verwaltung/einrichtung/regeln/"),
        ("staff", gettext_lazy("Konten für Mitarbeitende und ihre Rollen anlegen"),
         get_user_model().objects.filter(role__in=staff_roles, is_active=True).exists(),
         "/verwaltung/mitarbeitende/"),
        ("texts", gettext_lazy("Texte und Logo des Portals"),
         bool(setup.welcome_text and setup.logo), "/verwaltung/einrichtung/texte/"),
    ]  # fmt: skip
    return Checklist([Item(key, str(label), done, url) for key, label, done, url in items])


def employer_checklist(tenant) -> Checklist:
    """Runs in the employer's schema."""
    from employer_quota.models import EmployerProfile, HRContact, Survey

    profile = EmployerProfile.objects.first()
    hr = (
        HRContact.objects.exists()
        or get_user_model().objects.filter(role=Role.HR, is_active=True).exists()
    )
    try:
        from employer_quota.agreements.models import PlaceRequest

        requests = PlaceRequest.objects.filter(employer_id=tenant.pk).exists()
    except ImportError:  # the reserved-places app is optional
        requests = False
    items = [
        ("profile", gettext_lazy("Profil des Arbeitgebers"),
         bool(profile and profile.name and profile.employee_count), "/"),
        ("hr", gettext_lazy("Personalabteilung eintragen"), hr, "/"),
        ("survey", gettext_lazy("Erste Bedarfsumfrage anlegen"), Survey.objects.exists(),
         "/umfragen/"),
        ("requests", gettext_lazy("Belegplätze anfragen"), requests, "/belegplaetze/anfrage/"),
    ]  # fmt: skip
    return Checklist([Item(key, str(label), done, url) for key, label, done, url in items])


def create_district(actor, *, name: str, fachberatung_email: str = ""):
    from registrations.models import District

    _require_admin(actor)
    name = (name or "").strip()
    fachberatung_email = (fachberatung_email or "").strip().lower()
    errors: dict[str, list[str]] = {}
    if not name:
        errors["name"] = [_("Bitte geben Sie einen Namen an.")]
    elif (
        District.objects.filter(name__iexact=name).exists()
        or District.objects.filter(slug=slugify(name)).exists()
    ):
        errors["name"] = [_("Diesen Bezirk gibt es schon.")]
    if fachberatung_email:
        try:
            validate_email(fachberatung_email)
        except ValidationError:
            errors["fachberatung_email"] = [_("Keine gültige E-Mail-Adresse.")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        district = District.objects.create(
            name=name, slug=slugify(name)[:100], fachberatung_email=fachberatung_email
        )
        record_audit(actor, "district.created", district)
    return district


def save_rules(actor, *, max_wishes: int, application_deadline: date, offers_from: date):
    from registrations.models import PortalSettings

    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if not 1 <= max_wishes <= 10:
        errors["max_wishes"] = [_("Bitte zwischen 1 und 10 Wunsch-Kitas.")]
    if application_deadline and offers_from and offers_from < application_deadline:
        errors["offers_from"] = [
            _("Zusagen können erst nach dem Anmeldeschluss verschickt werden.")
        ]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        portal = PortalSettings.current()
        portal.max_wishes = max_wishes
        portal.save(update_fields=["max_wishes"])
        setup = PortalSetup.current()
        setup.application_deadline = application_deadline
        setup.offers_from = offers_from
        setup.rules_confirmed_at = timezone.now()
        setup.save()
        record_audit(actor, "portal.rules_saved", setup, max_wishes=max_wishes)
    return setup


def save_texts(actor, *, welcome_text: str, welcome_text_en: str, logo=None, logo_alt: str = ""):
    _require_admin(actor)
    errors: dict[str, list[str]] = {}
    if not (welcome_text or "").strip():
        errors["welcome_text"] = [_("Bitte geben Sie einen Begrüßungstext an.")]
    if logo is not None:
        if logo.size > MAX_LOGO_BYTES:
            errors["logo"] = [_("Das Logo darf höchstens 1 MB groß sein.")]
        if not (logo_alt or "").strip():
            errors["logo_alt"] = [_("Bitte beschreiben Sie das Logo (Alternativtext).")]
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        setup = PortalSetup.current()
        setup.welcome_text = welcome_text.strip()
        setup.welcome_text_en = (welcome_text_en or "").strip()
        if logo is not None:
            setup.logo = logo
            setup.logo_alt = logo_alt.strip()
        setup.save()
        record_audit(actor, "portal.texts_saved", setup)
    return setup
