"""Agreement lifecycle, eligibility codes, place claims and releases (public schema).

Every function is atomic and takes the acting user (whose id and role go into the audit
log of the schema the request runs in). Callers (views) check that the actor belongs to the
right tenant and scope; these functions check the business rules.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from tenants.common.services import record_audit
from tenants.models import Tenant, TenantType

from .models import (
    AgeGroup,
    Agreement,
    AgreementVersion,
    CodeAttempt,
    EligibilityCode,
    PlaceClaim,
    PlaceRequest,
    Release,
    kita_year_of,
)

MAX_PLACES = 200
MAX_FEE = Decimal("10000")

# --- Agreements -----------------------------------------------------------------------------


@dataclass
class Terms:
    age_group: str
    places: int
    care_hours: int
    valid_from: date
    valid_to: date
    monthly_fee: Decimal
    release_rule: str = AgreementVersion.ReleaseRule.UNCLAIMED_BY_DATE
    release_month: int = 3
    release_day: int = 15

    def as_fields(self) -> dict:
        return dict(self.__dict__)


def validate_terms(terms: Terms) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}

    def add(field: str, message: str) -> None:
        errors.setdefault(field, []).append(message)

    if terms.age_group not in AgeGroup.values:
        add("age_group", _("Bitte wählen Sie eine Altersgruppe."))
    if not isinstance(terms.places, int) or not 1 <= terms.places <= MAX_PLACES:
        add(
            "places",
            _("Die Zahl der Plätze muss zwischen 1 und %(max)d liegen.") % {"max": MAX_PLACES},
        )
    if terms.care_hours not in (25, 35, 45):
        add("care_hours", _("Der Betreuungsumfang muss 25, 35 oder 45 Stunden betragen."))
    if not isinstance(terms.valid_from, date) or not isinstance(terms.valid_to, date):
        add("valid_to", _("Bitte geben Sie Beginn und Ende der Laufzeit an."))
    elif terms.valid_to < terms.valid_from:
        add("valid_to", _("Das Ende der Laufzeit liegt vor ihrem Beginn."))
    elif (terms.valid_to - terms.valid_from).days > 366 * 10:
        add("valid_to", _("Eine Vereinbarung läuft höchstens zehn Jahre."))
    try:
        fee = Decimal(terms.monthly_fee)
    except (InvalidOperation, TypeError, ValueError):
        fee = None
    if fee is None or not fee.is_finite() or fee < 0 or fee > MAX_FEE:
        add("monthly_fee", _("Bitte geben Sie ein Monatsentgelt zwischen 0 und 10.000 Euro an."))
    elif fee != fee.quantize(Decimal("0.01")):
        add("monthly_fee", _("Das Monatsentgelt hat höchstens zwei Nachkommastellen."))
    if terms.release_rule not in AgreementVersion.ReleaseRule.values:
        add("release_rule", _("Bitte wählen Sie eine Freigaberegel."))
    elif terms.release_rule == AgreementVersion.ReleaseRule.UNCLAIMED_BY_DATE:
        try:
            date(2001, int(terms.release_month), int(terms.release_day))
        except (TypeError, ValueError):
            add("release_day", _("Der Stichtag ist kein gültiges Datum."))
    return errors


def _next_number(agreement: Agreement) -> int:
    return (agreement.versions.aggregate(n=Max("number"))["n"] or 0) + 1


@transaction.atomic
def propose_agreement(
    actor,
    *,
    municipality: Tenant,
    employer: Tenant,
    facility_id: int | None = None,
    facility_name: str,
    terms: Terms,
    carrier_id: int | None = None,
) -> Agreement:
    """The municipality (youth office or carrier) proposes an agreement to an employer, for one
    facility or for all facilities of a carrier (`carrier_id`; `facility_name` is the label)."""
    errors = validate_terms(terms)
    if (facility_id is None) == (carrier_id is None):
        errors.setdefault("facility", []).append(
            _("Bitte wählen Sie entweder eine Kita oder einen Träger.")
        )
    if municipality.type != TenantType.MUNICIPALITY:
        errors.setdefault("municipality", []).append(_("Nur Kommunen schlagen Vereinbarungen vor."))
    if employer.type != TenantType.EMPLOYER or not employer.is_active or employer.is_template:
        errors.setdefault("employer", []).append(_("Bitte wählen Sie einen Arbeitgeber."))
    if errors:
        raise ValidationError(errors)
    agreement = Agreement.objects.create(
        municipality=municipality,
        employer=employer,
        facility_id=facility_id,
        carrier_id=carrier_id,
        facility_name=facility_name[:200],
    )
    AgreementVersion.objects.create(
        agreement=agreement,
        number=1,
        proposed_by_role=getattr(actor, "role", ""),
        **terms.as_fields(),
    )
    record_audit(
        actor,
        "agreement_proposed",
        agreement,
        employer=employer.pk,
        facility=facility_id,
        carrier=carrier_id,
    )
    return agreement


@transaction.atomic
def propose_change(actor, agreement: Agreement, terms: Terms) -> AgreementVersion:
    """A new version of an active agreement; it applies once HR confirms it."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    errors = validate_terms(terms)
    if agreement.status != Agreement.Status.ACTIVE:
        errors.setdefault("__all__", []).append(
            _("Nur bestätigte Vereinbarungen können geändert werden.")
        )
    elif agreement.versions.filter(state=AgreementVersion.State.PROPOSED).exists():
        errors.setdefault("__all__", []).append(
            _("Es liegt bereits eine Änderung zur Bestätigung vor.")
        )
    if not errors and terms.age_group != agreement.current.age_group:
        errors.setdefault("age_group", []).append(
            _("Die Altersgruppe einer Vereinbarung bleibt gleich; schlagen Sie eine neue vor.")
        )
    if errors:
        raise ValidationError(errors)
    version = AgreementVersion.objects.create(
        agreement=agreement,
        number=_next_number(agreement),
        proposed_by_role=getattr(actor, "role", ""),
        **terms.as_fields(),
    )
    record_audit(actor, "agreement_change_proposed", agreement, version=version.number)
    return version


@transaction.atomic
def withdraw_proposal(actor, agreement: Agreement) -> AgreementVersion:
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    version = agreement.versions.filter(state=AgreementVersion.State.PROPOSED).first()
    if version is None:
        raise ValidationError(_("Es liegt kein Vorschlag vor."))
    version.state = AgreementVersion.State.WITHDRAWN
    version.decided_at = timezone.now()
    version.save(update_fields=["state", "decided_at"])
    if agreement.status == Agreement.Status.PROPOSED:
        agreement.status = Agreement.Status.DECLINED
        agreement.save(update_fields=["status"])
    record_audit(actor, "agreement_proposal_withdrawn", agreement, version=version.number)
    return version


@transaction.atomic
def decide_version(actor, agreement: Agreement, *, confirm: bool) -> AgreementVersion:
    """The employer's HR confirms or declines the pending version."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    version = agreement.versions.filter(state=AgreementVersion.State.PROPOSED).first()
    if version is None:
        raise ValidationError(_("Es liegt kein Vorschlag zur Bestätigung vor."))
    if agreement.status == Agreement.Status.ENDED:
        raise ValidationError(_("Die Vereinbarung ist beendet."))
    now = timezone.now()
    if confirm:
        if agreement.current is not None:
            previous = agreement.current
            previous.state = AgreementVersion.State.SUPERSEDED
            previous.save(update_fields=["state"])
        version.state = AgreementVersion.State.CONFIRMED
        agreement.current = version
        agreement.status = Agreement.Status.ACTIVE
    else:
        version.state = AgreementVersion.State.DECLINED
        if agreement.status == Agreement.Status.PROPOSED:
            agreement.status = Agreement.Status.DECLINED
    version.decided_at = now
    version.save(update_fields=["state", "decided_at"])
    agreement.save(update_fields=["current", "status"])
    record_audit(
        actor,
        "agreement_confirmed" if confirm else "agreement_declined",
        agreement,
        version=version.number,
    )
    return version


@transaction.atomic
def end_agreement(actor, agreement: Agreement) -> Agreement:
    """Either side ends an active agreement early; open claims end with it."""
    agreement = Agreement.objects.select_for_update().get(pk=agreement.pk)
    if agreement.status != Agreement.Status.ACTIVE:
        raise ValidationError(_("Nur bestätigte Vereinbarungen können beendet werden."))
    agreement.status = Agreement.Status.ENDED
    agreement.save(update_fields=["status"])
    agreement.versions.filter(state=AgreementVersion.State.PROPOSED).update(
        state=AgreementVersion.State.WITHDRAWN, decided_at=timezone.now()
    )
    agreement.claims.exclude(state=PlaceClaim.State.ENDED).update(
        state=PlaceClaim.State.ENDED, ended_at=timezone.now()
    )
    record_audit(actor, "agreement_ended", agreement)
    return agreement


def active_agreements(**filters):
    return Agreement.objects.filter(status=Agreement.Status.ACTIVE, **filters).select_related(
        "current", "employer", "municipality"
    )


# --- Occupancy and releases -----------------------------------------------------------------


@dataclass
class Occupancy:
    reserved: int
    claimed: int
    occupied: int
    released: int

    @property
    def used(self) -> int:
        return self.claimed + self.occupied

    @property
    def free(self) -> int:
        return max(self.reserved - self.released - self.used, 0)


def occupancy(agreement: Agreement, kita_year: int) -> Occupancy:
    version = agreement.current
    reserved = version.places if version is not None else 0
    counts = dict(
        agreement.claims.filter(kita_year=kita_year)
        .exclude(state=PlaceClaim.State.ENDED)
        .values_list("state")
        .annotate(n=Count("pk"))
    )
    release = agreement.releases.filter(kita_year=kita_year).first()
    return Occupancy(
        reserved=reserved,
        claimed=counts.get(PlaceClaim.State.CLAIMED, 0),
        occupied=counts.get(PlaceClaim.State.OCCUPIED, 0),
        released=release.places if release else 0,
    )


def covers(version: AgreementVersion, day: date) -> bool:
    return version.valid_from <= day <= version.valid_to


@transaction.atomic
def apply_releases(today: date | None = None, municipality: Tenant | None = None) -> list[Release]:
    """Release rule: on the release date before a Kita year, the places of an active agreement
    that no eligible child has claimed return to the general pool for that year. Idempotent."""
    today = today or timezone.localdate()
    released = []
    scope = {"municipality": municipality} if municipality is not None else {}
    for agreement in active_agreements(**scope).select_for_update(of=("self",)):
        version = agreement.current
        for year in version.kita_years():
            deadline = version.release_date(year)
            if deadline is None or deadline > today:
                continue
            if agreement.releases.filter(kita_year=year).exists():
                continue
            if today >= date(year + 1, 7, 31):
                continue  # the Kita year is over
            state = occupancy(agreement, year)
            release = Release.objects.create(
                agreement=agreement, kita_year=year, places=max(state.reserved - state.used, 0)
            )
            record_audit(
                None, "agreement_places_released", agreement, year=year, places=release.places
            )
            released.append(release)
    return released


def upcoming_releases(agreements, today: date | None = None, horizon_days: int = 400) -> list[dict]:
    """Release dates within the horizon, with the places that would be released today."""
    today = today or timezone.localdate()
    rows = []
    for agreement in agreements:
        version = agreement.current
        if version is None:
            continue
        for year in version.kita_years():
            deadline = version.release_date(year)
            if deadline is None or not today <= deadline <= today + timedelta(days=horizon_days):
                continue
            if agreement.releases.filter(kita_year=year).exists():
                continue
            state = occupancy(agreement, year)
            rows.append(
                {
                    "agreement": agreement,
                    "kita_year": year,
                    "date": deadline,
                    "places": max(state.reserved - state.used, 0),
                }
            )
    return sorted(rows, key=lambda row: (row["date"], row["agreement"].pk))


def claim_place(
    agreement: Agreement, kita_year: int, facility_id: int | None = None
) -> PlaceClaim | None:
    """Claim one reserved place for an eligible child, if one is free. Caller holds a
    transaction; the agreement row is locked so two claims cannot take the last place."""
    agreement = (
        Agreement.objects.select_for_update(of=("self",))
        .select_related("current")
        .get(pk=agreement.pk)
    )
    if agreement.status != Agreement.Status.ACTIVE:
        return None
    if occupancy(agreement, kita_year).free <= 0:
        return None
    return PlaceClaim.objects.create(
        agreement=agreement,
        kita_year=kita_year,
        facility_id=facility_id if facility_id is not None else agreement.facility_id,
    )


def set_claim_state(token, state: str) -> int:
    """The municipality marks a claim occupied (contract) or ended (withdrawn, contract over)."""
    changes = {"state": state}
    if state == PlaceClaim.State.ENDED:
        changes["ended_at"] = timezone.now()
    return (
        PlaceClaim.objects.filter(token=token)
        .exclude(state=PlaceClaim.State.ENDED)
        .update(**changes)
    )


# --- Eligibility codes ----------------------------------------------------------------------

CODE_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTUVWXYZ"  # no 0/O, 1/I: 32 symbols, 5 bits each
CODE_LENGTH = 12  # 60 bits
DEFAULT_VALID_DAYS = 90
MAX_CODES_PER_BATCH = 200
ATTEMPT_WINDOW = timedelta(minutes=15)
MAX_FAILURES_PER_ACCOUNT = 5
MAX_FAILURES_PER_ADDRESS = 20


def _key(purpose: str, value: str) -> str:
    secret = (settings.SECRET_KEY + "|" + purpose).encode()
    return hmac.new(secret, value.encode(), hashlib.sha256).hexdigest()


def normalise_code(text: str) -> str:
    return "".join(ch for ch in (text or "").upper() if ch.isalnum())


def hash_code(text: str) -> str:
    """Keyed hash (HMAC-SHA256 with the server secret) of the normalised code."""
    return _key("eligibility-code", normalise_code(text))


def format_code(raw: str) -> str:
    return "-".join(raw[i : i + 4] for i in range(0, len(raw), 4))


@transaction.atomic
def issue_codes(
    actor, employer: Tenant, *, count: int, channel: str, valid_days: int = DEFAULT_VALID_DAYS
) -> list[tuple[EligibilityCode, str]]:
    """Issue `count` single-use codes. Returns (code, plain text) pairs; the plain text is not
    stored and must be handed out now (invitation email or printed sheet)."""
    if employer.type != TenantType.EMPLOYER:
        raise ValidationError(_("Nur Arbeitgeber geben Codes aus."))
    if not 1 <= count <= MAX_CODES_PER_BATCH:
        raise ValidationError(
            {
                "count": [
                    _("Bitte zwischen 1 und %(max)d Codes auf einmal.")
                    % {"max": MAX_CODES_PER_BATCH}
                ]
            }
        )
    if not 1 <= valid_days <= 365:
        raise ValidationError({"valid_days": [_("Ein Code gilt 1 bis 365 Tage.")]})
    if channel not in EligibilityCode.Channel.values:
        raise ValidationError({"channel": [_("Unbekannter Ausgabeweg.")]})
    Tenant.objects.select_for_update().filter(pk=employer.pk).first()  # serialise numbering
    start = (
        EligibilityCode.objects.filter(employer=employer).aggregate(n=Max("number"))["n"] or 0
    ) + 1
    expires = timezone.now() + timedelta(days=valid_days)
    issued = []
    for offset in range(count):
        raw = "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
        code = EligibilityCode.objects.create(
            employer=employer,
            number=start + offset,
            code_hash=hash_code(raw),
            channel=channel,
            expires_at=expires,
        )
        issued.append((code, format_code(raw)))
    record_audit(
        actor, "eligibility_codes_issued", None, employer=employer.pk, count=count, channel=channel
    )
    return issued


@transaction.atomic
def revoke_code(actor, employer: Tenant, number: int) -> EligibilityCode:
    code = (
        EligibilityCode.objects.select_for_update().filter(employer=employer, number=number).first()
    )
    if code is None:
        raise ValidationError(_("Diesen Code gibt es nicht."))
    if code.revoked_at is None:
        code.revoked_at = timezone.now()
        code.save(update_fields=["revoked_at"])
        record_audit(actor, "eligibility_code_revoked", code)
    return code


def rate_limited(account_key: str, address_key: str) -> bool:
    since = timezone.now() - ATTEMPT_WINDOW
    recent = CodeAttempt.objects.filter(created_at__gte=since)
    return (
        recent.filter(account_key=account_key).count() >= MAX_FAILURES_PER_ACCOUNT
        or recent.filter(address_key=address_key).count() >= MAX_FAILURES_PER_ADDRESS
    )


def attempt_keys(tenant: Tenant, user_id: int, address: str) -> tuple[str, str]:
    return _key("attempt-account", f"{tenant.pk}:{user_id}"), _key("attempt-address", address or "")


class CodeRejected(ValidationError):
    """A wrong, used, expired or revoked code: counts as a failed attempt."""


def _fail(message) -> CodeRejected:
    return CodeRejected({"code": [message]})


def record_failed_attempt(account_key: str, address_key: str) -> None:
    """Call outside the redemption's (rolled back) transaction."""
    CodeAttempt.objects.create(account_key=account_key, address_key=address_key)


def find_redeemable_code(
    *, municipality: Tenant, text: str, account_key: str, address_key: str
) -> EligibilityCode:
    """The code for `text`, locked, if it may be redeemed in `municipality`; otherwise a
    CodeRejected (the caller then records a failed attempt). Refuses without looking once the
    account or the address has too many recent failures. Caller redeems it in the same
    transaction."""
    if rate_limited(account_key, address_key):
        raise ValidationError(
            {
                "code": [
                    _(
                        "Zu viele ungültige Versuche. Bitte warten Sie 15 Minuten und "
                        "versuchen Sie es dann erneut."
                    )
                ]
            }
        )
    raw = normalise_code(text)
    invalid = _("Dieser Code ist ungültig, abgelaufen oder bereits verwendet.")
    if len(raw) != CODE_LENGTH or any(ch not in CODE_ALPHABET for ch in raw):
        raise _fail(invalid)
    code = (
        EligibilityCode.objects.select_for_update()
        .select_related("employer")
        .filter(code_hash=hash_code(raw))
        .first()
    )
    now = timezone.now()
    if code is None or code.revoked_at or code.redeemed_at or code.expires_at <= now:
        raise _fail(invalid)
    if not active_agreements(employer=code.employer, municipality=municipality).exists():
        raise _fail(_("Ihr Arbeitgeber hat in dieser Kommune keine Belegplätze."))
    return code


def mark_redeemed(code: EligibilityCode, municipality: Tenant) -> EligibilityCode:
    code.redeemed_at = timezone.now()
    code.municipality = municipality
    code.save(update_fields=["redeemed_at", "municipality"])
    return code


def share_status(code_id: int, status: str | None) -> None:
    """With consent: the application's status as the employer may see it; None withdraws."""
    EligibilityCode.objects.filter(pk=code_id).update(
        status_shared=status is not None,
        shared_status=status or "",
        shared_status_at=timezone.now() if status else None,
    )


def code_counts(employer: Tenant) -> dict[str, int]:
    """What the employer learns about its codes: issued, redeemed, revoked. Each count is over
    all codes (a revoked code counts as revoked whether or not it was redeemed), so no change
    of a count tells whether one particular code was redeemed."""
    return EligibilityCode.objects.filter(employer=employer).aggregate(
        issued=Count("pk"),
        redeemed=Count("pk", filter=Q(redeemed_at__isnull=False)),
        revoked=Count("pk", filter=Q(revoked_at__isnull=False)),
    )


def purge_expired(now=None) -> dict[str, int]:
    now = now or timezone.now()
    attempts, _ = CodeAttempt.objects.filter(created_at__lt=now - timedelta(hours=24)).delete()
    codes, _ = EligibilityCode.objects.filter(
        Q(expires_at__lt=now - timedelta(days=365), redeemed_at__isnull=True)
        | Q(revoked_at__lt=now - timedelta(days=365))
    ).delete()
    return {"attempts": attempts, "codes": codes}


# --- Place requests (from an employer, e.g. after a needs survey) ---------------------------


@transaction.atomic
def request_places(
    actor,
    *,
    employer: Tenant,
    municipality: Tenant,
    u3_places: int,
    ue3_places: int,
    care_hours: int,
    wanted_from: date,
    basis: str = "",
) -> PlaceRequest:
    errors: dict[str, list] = {}
    if municipality.type != TenantType.MUNICIPALITY or not municipality.is_active:
        errors["municipality"] = [_("Bitte wählen Sie eine Kommune.")]
    if u3_places < 0 or ue3_places < 0 or u3_places + ue3_places < 1:
        errors["u3_places"] = [_("Bitte fragen Sie mindestens einen Platz an.")]
    if u3_places > MAX_PLACES or ue3_places > MAX_PLACES:
        errors["u3_places"] = [_("Höchstens %(max)d Plätze je Altersgruppe.") % {"max": MAX_PLACES}]
    if care_hours not in (25, 35, 45):
        errors["care_hours"] = [_("Der Betreuungsumfang muss 25, 35 oder 45 Stunden betragen.")]
    if errors:
        raise ValidationError(errors)
    place_request = PlaceRequest.objects.create(
        employer=employer,
        municipality=municipality,
        u3_places=u3_places,
        ue3_places=ue3_places,
        care_hours=care_hours,
        wanted_from=wanted_from,
        basis=basis[:200],
    )
    record_audit(actor, "place_request_sent", place_request, municipality=municipality.pk)
    return place_request


@transaction.atomic
def answer_place_request(actor, place_request: PlaceRequest, status: str) -> PlaceRequest:
    if status not in (PlaceRequest.Status.PROPOSED, PlaceRequest.Status.DECLINED):
        raise ValidationError(_("Unbekannte Antwort."))
    place_request.status = status
    place_request.save(update_fields=["status"])
    record_audit(actor, "place_request_answered", place_request, status=status)
    return place_request


def current_kita_year(today: date | None = None) -> int:
    return kita_year_of(today or timezone.localdate())
