"""Company daycare (Betriebskita): groups, educators, staff children's applications, the
waiting list, offers and contracts; optional listing in a municipality's finder.

All functions are atomic, take the acting HR user and write an audit entry (ids only)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.common.services import queue_email, record_audit
from tenants.models import Tenant, TenantType

from .models import (
    CompanyDaycare,
    DaycareContract,
    DaycareGroup,
    DaycareOffer,
    Educator,
    StaffChildApplication,
)

OFFER_DAYS = 14


def age_in_months(birth: date, on: date) -> int:
    return (on.year - birth.year) * 12 + (on.month - birth.month) - (on.day < birth.day)


@transaction.atomic
def save_daycare(actor, daycare: CompanyDaycare | None = None, **fields) -> CompanyDaycare:
    errors = {}
    for name in ("name", "street", "postcode", "city"):
        if not str(fields.get(name) or "").strip():
            errors[name] = [_("Bitte ausfüllen.")]
    if (
        fields.get("opens_at")
        and fields.get("closes_at")
        and fields["closes_at"] <= fields["opens_at"]
    ):
        errors["closes_at"] = [_("Die Schließzeit liegt vor der Öffnungszeit.")]
    if errors:
        raise ValidationError(errors)
    daycare = daycare or CompanyDaycare()
    for key, value in fields.items():
        setattr(daycare, key, value)
    daycare.save()
    record_audit(actor, "company_daycare_saved", daycare)
    _sync_listing(daycare)
    return daycare


@transaction.atomic
def add_group(
    actor,
    daycare: CompanyDaycare,
    *,
    name: str,
    room: str,
    capacity: int,
    min_age_months: int,
    max_age_months: int,
) -> DaycareGroup:
    errors = {}
    if not name.strip():
        errors["name"] = [_("Bitte geben Sie der Gruppe einen Namen.")]
    if not 1 <= capacity <= 50:
        errors["capacity"] = [_("Eine Gruppe hat 1 bis 50 Plätze.")]
    if not 0 <= min_age_months < max_age_months <= 84:
        errors["max_age_months"] = [
            _("Das Höchstalter muss über dem Mindestalter liegen (bis 84 Monate).")
        ]
    if errors:
        raise ValidationError(errors)
    group = DaycareGroup.objects.create(
        daycare=daycare,
        name=name.strip(),
        room=room.strip(),
        capacity=capacity,
        min_age_months=min_age_months,
        max_age_months=max_age_months,
    )
    record_audit(actor, "company_daycare_group_added", group)
    _sync_listing(daycare)
    return group


@transaction.atomic
def add_educator(
    actor,
    daycare: CompanyDaycare,
    *,
    name: str,
    qualification: str,
    weekly_hours: Decimal,
    group: DaycareGroup | None,
) -> Educator:
    if not name.strip():
        raise ValidationError({"name": [_("Bitte geben Sie den Namen an.")]})
    if not Decimal("1") <= Decimal(weekly_hours) <= Decimal("41"):
        raise ValidationError({"weekly_hours": [_("1 bis 41 Wochenstunden.")]})
    if group is not None and group.daycare_id != daycare.pk:
        raise ValidationError({"group": [_("Unbekannte Gruppe.")]})
    educator = Educator.objects.create(
        daycare=daycare,
        name=name.strip(),
        qualification=qualification.strip(),
        weekly_hours=weekly_hours,
        group=group,
    )
    record_audit(actor, "company_daycare_educator_added", educator)
    return educator


def groups_for(daycare: CompanyDaycare, birth: date, start: date):
    months = age_in_months(birth, start)
    return daycare.groups.filter(min_age_months__lte=months, max_age_months__gt=months)


@transaction.atomic
def register_application(
    actor,
    daycare: CompanyDaycare,
    *,
    child_first_name: str,
    child_birth_date: date,
    parent_name: str,
    parent_email: str,
    start_date: date,
    weekly_hours: int,
) -> StaffChildApplication:
    """HR enters a staff member's application; it joins the waiting list."""
    errors = {}
    if not child_first_name.strip():
        errors["child_first_name"] = [_("Bitte geben Sie den Vornamen an.")]
    if not parent_name.strip():
        errors["parent_name"] = [_("Bitte geben Sie den Namen an.")]
    if child_birth_date > start_date:
        errors["child_birth_date"] = [_("Das Kind ist zum gewünschten Beginn noch nicht geboren.")]
    elif not groups_for(daycare, child_birth_date, start_date).exists():
        errors["start_date"] = [
            _("Zum gewünschten Beginn passt das Alter des Kindes zu keiner Gruppe.")
        ]
    if not 10 <= weekly_hours <= 50:
        errors["weekly_hours"] = [_("10 bis 50 Stunden je Woche.")]
    if errors:
        raise ValidationError(errors)
    application = StaffChildApplication.objects.create(
        daycare=daycare,
        child_first_name=child_first_name.strip(),
        child_birth_date=child_birth_date,
        parent_name=parent_name.strip(),
        parent_email=parent_email.strip().lower(),
        start_date=start_date,
        weekly_hours=weekly_hours,
    )
    record_audit(actor, "company_daycare_application", application)
    return application


def occupied(group: DaycareGroup, on: date) -> int:
    contracts = (
        DaycareContract.objects.filter(offer__group=group, start_date__lte=on)
        .filter(Q(ended_on__isnull=True) | Q(ended_on__gt=on))
        .count()
    )
    pending = DaycareOffer.objects.filter(
        group=group,
        status__in=[DaycareOffer.Status.OPEN, DaycareOffer.Status.ACCEPTED],
        contract__isnull=True,
    ).count()
    return contracts + pending


def free_places(group: DaycareGroup, on: date) -> int:
    return max(group.capacity - occupied(group, on), 0)


@dataclass
class WaitingEntry:
    position: int
    application: StaffChildApplication
    groups: list[tuple[DaycareGroup, int]]  # fitting groups with free places at the start


def waiting_list(daycare: CompanyDaycare) -> list[WaitingEntry]:
    """First come, first served: by date of application."""
    entries = []
    for position, application in enumerate(
        daycare.applications.filter(status=StaffChildApplication.Status.WAITING).order_by(
            "created_at", "pk"
        ),
        start=1,
    ):
        fitting = [
            (g, free_places(g, application.start_date))
            for g in groups_for(daycare, application.child_birth_date, application.start_date)
        ]
        entries.append(WaitingEntry(position, application, fitting))
    return entries


@transaction.atomic
def make_offer(actor, application: StaffChildApplication, group: DaycareGroup) -> DaycareOffer:
    application = StaffChildApplication.objects.select_for_update().get(pk=application.pk)
    group = DaycareGroup.objects.select_for_update().get(pk=group.pk)
    if application.status != StaffChildApplication.Status.WAITING:
        raise ValidationError(_("Nur wartende Anmeldungen bekommen ein Angebot."))
    if (
        group.daycare_id != application.daycare_id
        or not groups_for(application.daycare, application.child_birth_date, application.start_date)
        .filter(pk=group.pk)
        .exists()
    ):
        raise ValidationError(_("Das Alter des Kindes passt nicht zu dieser Gruppe."))
    if free_places(group, application.start_date) < 1:
        raise ValidationError(_("Die Gruppe hat zum Beginn keinen freien Platz."))
    offer = DaycareOffer.objects.create(
        application=application,
        group=group,
        start_date=application.start_date,
        expires_on=timezone.localdate() + timedelta(days=OFFER_DAYS),
    )
    application.status = StaffChildApplication.Status.OFFERED
    application.save(update_fields=["status"])
    queue_email(
        to=[application.parent_email],
        subject=_("Platzangebot: %(name)s") % {"name": application.daycare.name},
        text=render_to_string(
            "employer_quota/email/daycare_offer.txt", {"offer": offer, "application": application}
        ),
    )
    record_audit(actor, "company_daycare_offer", offer)
    return offer


@transaction.atomic
def answer_offer(actor, offer: DaycareOffer, *, accept: bool) -> DaycareOffer:
    """HR records the family's answer."""
    offer = DaycareOffer.objects.select_for_update().select_related("application").get(pk=offer.pk)
    if offer.status != DaycareOffer.Status.OPEN:
        raise ValidationError(_("Dieses Angebot ist nicht mehr offen."))
    application = offer.application
    if accept:
        offer.status = DaycareOffer.Status.ACCEPTED
        application.status = StaffChildApplication.Status.ACCEPTED
    else:
        offer.status = DaycareOffer.Status.DECLINED
        application.status = StaffChildApplication.Status.DECLINED
        application.closed_at = timezone.now()
    offer.save(update_fields=["status"])
    application.save(update_fields=["status", "closed_at"])
    record_audit(actor, "company_daycare_offer_answered", offer, accept=accept)
    return offer


@transaction.atomic
def make_contract(actor, offer: DaycareOffer) -> DaycareContract:
    offer = (
        DaycareOffer.objects.select_for_update()
        .select_related("application", "group__daycare")
        .get(pk=offer.pk)
    )
    if offer.status != DaycareOffer.Status.ACCEPTED or hasattr(offer, "contract"):
        raise ValidationError(_("Ein Vertrag entsteht nur aus einem angenommenen Angebot, einmal."))
    contract = DaycareContract.objects.create(
        offer=offer,
        start_date=offer.start_date,
        weekly_hours=offer.application.weekly_hours,
        monthly_fee=offer.group.daycare.monthly_fee,
    )
    offer.application.status = StaffChildApplication.Status.CONTRACTED
    offer.application.save(update_fields=["status"])
    record_audit(actor, "company_daycare_contract", contract)
    return contract


def expire_offers(today: date | None = None) -> int:
    today = today or timezone.localdate()
    count = 0
    for offer in DaycareOffer.objects.filter(status=DaycareOffer.Status.OPEN, expires_on__lt=today):
        offer.status = DaycareOffer.Status.EXPIRED
        offer.save(update_fields=["status"])
        StaffChildApplication.objects.filter(pk=offer.application_id).update(
            status=StaffChildApplication.Status.WAITING
        )
        count += 1
    return count


def purge_expired(today: date | None = None) -> int:
    today = today or timezone.localdate()
    closed = StaffChildApplication.objects.filter(
        status__in=[StaffChildApplication.Status.DECLINED, StaffChildApplication.Status.WITHDRAWN],
        closed_at__lt=timezone.now() - timedelta(days=183),
    )
    ended = StaffChildApplication.objects.filter(
        offers__contract__ended_on__lt=today - timedelta(days=730)
    )
    deleted, _ = (closed | ended).delete()
    return deleted


# --- Listing in a municipality's finder (public schema, organisation data only) --------------


def _sync_listing(daycare: CompanyDaycare) -> None:
    from employer_quota.agreements.models import CompanyDaycareListing

    employer = connection.tenant
    groups = list(daycare.groups.all())
    if not daycare.listed_in or not groups:
        CompanyDaycareListing.objects.filter(employer=employer, daycare_id=daycare.pk).delete()
        return
    CompanyDaycareListing.objects.update_or_create(
        employer=employer,
        daycare_id=daycare.pk,
        defaults={
            "municipality_id": daycare.listed_in,
            "name": daycare.name,
            "address": f"{daycare.street}, {daycare.postcode} {daycare.city}",
            "min_age_months": min(g.min_age_months for g in groups),
            "max_age_months": max(g.max_age_months for g in groups),
            "places": sum(g.capacity for g in groups),
            "opens_at": daycare.opens_at,
            "closes_at": daycare.closes_at,
        },
    )


@transaction.atomic
def set_listing(actor, daycare: CompanyDaycare, municipality: Tenant | None) -> CompanyDaycare:
    if municipality is not None and (
        municipality.type != TenantType.MUNICIPALITY or not municipality.is_active
    ):
        raise ValidationError(_("Bitte wählen Sie eine Kommune."))
    daycare.listed_in = municipality.pk if municipality else None
    daycare.save(update_fields=["listed_in"])
    _sync_listing(daycare)
    record_audit(actor, "company_daycare_listing", daycare, municipality=daycare.listed_in)
    return daycare
