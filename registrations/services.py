"""Pre-registration services: submit, edit, withdraw, forward to family daycare.

Each function validates first (raising ValidationError with messages per field, so forms
can show them next to the field), then writes in one transaction, records history and audit
entries, and schedules emails through the outbox on commit.
"""

from __future__ import annotations

import unicodedata
import uuid
from dataclasses import dataclass, field
from datetime import date

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, ngettext

from tenants.common.services import queue_email, record_audit

from .models import (
    AgeGroup,
    AgeGroupOffer,
    Application,
    ApplicationChild,
    ApplicationEvent,
    CareHours,
    Child,
    DaycareRequest,
    District,
    Facility,
    Family,
    Guardian,
    PortalSettings,
    Wish,
    WishStatus,
)

MAX_CHILD_AGE_YEARS = 7
MAX_EXPECTED_DAYS = 300


@dataclass
class ChildInput:
    first_name: str
    last_name: str
    birth_date: date
    is_expected: bool = False


@dataclass
class GuardianInput:
    first_name: str
    last_name: str
    email: str
    phone: str = ""


@dataclass
class ApplicationInput:
    children: list[ChildInput]
    guardians: list[GuardianInput]
    start_date: date
    care_hours: int
    street: str
    postcode: str
    district_id: int | None
    facility_ids: list[int] = field(default_factory=list)
    wants_family_daycare: bool = False
    family_daycare_district_id: int | None = None
    place_together: bool = False
    notes: str = ""
    idempotency_key: uuid.UUID | None = None


def normalise_name(value: str) -> str:
    value = value.strip().lower().replace("ß", "ss")
    decomposed = unicodedata.normalize("NFKD", value)
    return "".join(ch for ch in decomposed if ch.isalpha())


def duplicate_key(child: ChildInput) -> str:
    return (
        f"{normalise_name(child.first_name)}|{normalise_name(child.last_name)}|"
        f"{child.birth_date.isoformat()}"
    )


def age_group_at(birth_date: date, start_date: date) -> str:
    years = (
        start_date.year
        - birth_date.year
        - ((start_date.month, start_date.day) < (birth_date.month, birth_date.day))
    )
    return AgeGroup.U3 if years < 3 else AgeGroup.UE3


def _add(errors: dict, key: str, message: str) -> None:
    errors.setdefault(key, []).append(message)


def validate_application(
    data: ApplicationInput, today: date | None = None, policy: PortalSettings | None = None
) -> dict:
    """All problems with an application, as {field: [messages]}; empty when valid."""
    today = today or timezone.localdate()
    errors: dict[str, list[str]] = {}
    policy = policy or PortalSettings.current()
    if not data.children:
        _add(errors, "children", _("Bitte geben Sie mindestens ein Kind an."))
    for index, child in enumerate(data.children):
        key = f"child_{index}"
        if not child.first_name.strip() or not child.last_name.strip():
            _add(errors, f"{key}_name", _("Bitte geben Sie Vor- und Nachnamen des Kindes an."))
        if child.is_expected:
            if child.birth_date < today or (child.birth_date - today).days > MAX_EXPECTED_DAYS:
                _add(
                    errors,
                    f"{key}_birth_date",
                    _("Der errechnete Geburtstermin muss in den nächsten 10 Monaten liegen."),
                )
        elif child.birth_date > today:
            _add(
                errors,
                f"{key}_birth_date",
                _(
                    "Das Geburtsdatum liegt in der Zukunft. Für ein ungeborenes Kind kreuzen "
                    "Sie bitte „noch nicht geboren“ an."
                ),
            )
        elif (today - child.birth_date).days > MAX_CHILD_AGE_YEARS * 366:
            _add(
                errors,
                f"{key}_birth_date",
                _("Das Geburtsdatum ist nicht plausibel: Das Kind wäre älter als 7 Jahre."),
            )
    if not data.guardians or not all(
        g.first_name.strip() and g.last_name.strip() and g.email.strip() for g in data.guardians[:1]
    ):
        _add(
            errors,
            "guardian",
            _("Bitte geben Sie mindestens eine sorgeberechtigte Person mit Namen und E-Mail an."),
        )
    if len(data.guardians) > 2:
        _add(errors, "guardian", _("Eine Familie hat höchstens zwei Sorgeberechtigte."))
    if data.start_date < today:
        _add(
            errors, "start_date", _("Der Betreuungsbeginn darf nicht in der Vergangenheit liegen.")
        )
    if data.care_hours not in CareHours.values:
        _add(errors, "care_hours", _("Bitte wählen Sie 25, 35 oder 45 Stunden pro Woche."))
    if not data.street.strip() or not (data.postcode.isdigit() and len(data.postcode) == 5):
        _add(
            errors, "address", _("Bitte geben Sie Straße, Hausnummer und eine fünfstellige PLZ an.")
        )
    if data.district_id is None or not District.objects.filter(pk=data.district_id).exists():
        _add(errors, "district", _("Bitte wählen Sie Ihren Bezirk."))
    _validate_wishes(data, policy.max_wishes, errors)
    if data.wants_family_daycare and (
        data.family_daycare_district_id is None
        or not District.objects.filter(pk=data.family_daycare_district_id).exists()
    ):
        _add(
            errors,
            "family_daycare_district",
            _("Bitte wählen Sie den Bezirk, in dem Sie Kindertagespflege suchen."),
        )
    if not data.facility_ids and not data.wants_family_daycare:
        _add(errors, "wishes", _("Bitte wählen Sie mindestens eine Kita oder Kindertagespflege."))
    return errors


def _validate_wishes(data: ApplicationInput, max_wishes: int, errors: dict) -> None:
    ids = data.facility_ids
    if len(ids) > max_wishes:
        _add(
            errors,
            "wishes",
            ngettext(
                "Sie können höchstens %(n)d Kita wählen.",
                "Sie können höchstens %(n)d Kitas wählen.",
                max_wishes,
            )
            % {"n": max_wishes},
        )
    if len(set(ids)) != len(ids):
        _add(errors, "wishes", _("Jede Kita darf nur einmal gewählt werden."))
    facilities = {f.pk: f for f in Facility.objects.filter(pk__in=ids)}
    offers = set(
        AgeGroupOffer.objects.filter(facility_id__in=ids, places__gt=0).values_list(
            "facility_id", "age_group"
        )
    )
    for rank, facility_id in enumerate(ids, start=1):
        facility = facilities.get(facility_id)
        key = f"wish_{rank}"
        if facility is None:
            _add(errors, key, _("Diese Kita gibt es nicht."))
            continue
        for child in data.children:
            group = age_group_at(child.birth_date, data.start_date)
            if (facility_id, group) not in offers:
                _add(
                    errors,
                    key,
                    _(
                        "%(kita)s nimmt zum gewünschten Beginn keine Kinder der Altersgruppe "
                        "%(group)s auf."
                    )
                    % {"kita": facility.name, "group": AgeGroup(group).label},
                )
                break
        if data.care_hours not in facility.care_hours:
            _add(
                errors,
                key,
                _("%(kita)s bietet keine %(hours)d Stunden pro Woche an.")
                % {"kita": facility.name, "hours": data.care_hours},
            )


def _history(application: Application, kind: str, **data) -> None:
    ApplicationEvent.objects.create(application=application, kind=kind, data=data)


def submit_application(actor, data: ApplicationInput, family: Family | None = None) -> Application:
    """Create a pre-registration. Twice the same idempotency key returns the first one."""
    if data.idempotency_key is not None:
        existing = Application.objects.filter(idempotency_key=data.idempotency_key).first()
        if existing is not None:
            return existing
    policy = PortalSettings.current()  # read once for the checks and the reference
    errors = validate_application(data, policy=policy)
    if errors:
        raise ValidationError(errors)
    try:
        with transaction.atomic():
            application = _create_application(actor, data, family, policy)
    except IntegrityError as exc:
        if data.idempotency_key is not None:
            existing = Application.objects.filter(idempotency_key=data.idempotency_key).first()
            if existing is not None:  # a concurrent double submit won the race
                return existing
        if "one_active_application_per_child" in str(exc):
            raise ValidationError(
                {
                    "children": [
                        _(
                            "Für dieses Kind liegt bereits eine Voranmeldung vor. Sie können die "
                            "bestehende Voranmeldung unter „Meine Anmeldungen“ ändern."
                        )
                    ]
                }
            ) from exc
        raise
    return application


def _create_application(
    actor, data: ApplicationInput, family: Family | None, policy: PortalSettings
) -> Application:
    if family is None:
        family = Family.objects.create()
    guardians = list(family.guardians.all())
    for index, guardian in enumerate(data.guardians):
        if index < len(guardians):
            continue
        guardians.append(
            Guardian.objects.create(
                family=family,
                user=actor if index == 0 and getattr(actor, "pk", None) else None,
                first_name=guardian.first_name.strip(),
                last_name=guardian.last_name.strip(),
                email=guardian.email.strip().lower(),
                phone=guardian.phone.strip(),
            )
        )
    application = Application.objects.create(
        family=family,
        reference=f"tmp-{uuid.uuid4().hex[:12]}",
        idempotency_key=data.idempotency_key or uuid.uuid4(),
        start_date=data.start_date,
        care_hours=data.care_hours,
        street=data.street.strip(),
        postcode=data.postcode.strip(),
        district_id=data.district_id,
        place_together=data.place_together and len(data.children) > 1,
        wants_family_daycare=data.wants_family_daycare,
        family_daycare_district_id=data.family_daycare_district_id
        if data.wants_family_daycare
        else None,
        notes=data.notes.strip(),
    )
    application.reference = f"{policy.reference_prefix}-{timezone.now():%Y}-{application.pk:06d}"
    application.save(update_fields=["reference"])
    children = []
    for child_input in data.children:
        key = duplicate_key(child_input)
        child = Child.objects.create(
            family=family,
            first_name=child_input.first_name.strip(),
            last_name=child_input.last_name.strip(),
            birth_date=child_input.birth_date,
            is_expected=child_input.is_expected,
            duplicate_key=key,
        )
        ApplicationChild.objects.create(application=application, child=child, duplicate_key=key)
        children.append(child)
    Wish.objects.bulk_create(
        [
            Wish(application=application, facility_id=facility_id, rank=rank)
            for rank, facility_id in enumerate(data.facility_ids, start=1)
        ]
    )
    daycare = None
    if data.wants_family_daycare:
        daycare = DaycareRequest.objects.create(
            application=application, district_id=data.family_daycare_district_id
        )
    _history(
        application,
        "submitted",
        wishes=list(data.facility_ids),
        family_daycare=data.wants_family_daycare,
        children=len(data.children),
    )
    record_audit(actor, "application.submitted", application)
    first = min(guardians, key=lambda guardian: guardian.pk)
    _send_to_family(
        application,
        "confirmation",
        gettext_noop("Eingangsbestätigung Ihrer Voranmeldung"),
        # what this function has just written, instead of reading it back
        known={
            "recipients": [guardian.email for guardian in guardians],
            "language": getattr(actor, "language", None)
            if first.user_id is not None and first.user_id == getattr(actor, "pk", None)
            else None,
            "children": children,
            "daycare": daycare,
        },
    )
    if data.wants_family_daycare:
        transaction.on_commit(lambda: _dispatch_daycare(application.pk))
    return application


def _dispatch_daycare(application_id: int) -> None:
    from .tasks import forward_daycare_request

    try:
        forward_daycare_request.apply_async(args=[application_id], retry=False)
    except Exception:  # broker down: the periodic sweep forwards it later
        return


def forward_daycare_request(application_id: int) -> bool:
    """Forward a family-daycare request to its district's Fachberatung (idempotent)."""
    with transaction.atomic():
        request = (
            DaycareRequest.objects.select_for_update()
            .select_related("district", "application")
            .filter(application_id=application_id, forwarded_at__isnull=True)
            .first()
        )
        if request is None:
            return False
        request.forwarded_at = timezone.now()
        request.save(update_fields=["forwarded_at"])
        _history(request.application, "daycare_forwarded", district=request.district_id)
        if request.district.fachberatung_email:
            context = {"application": request.application, "district": request.district}
            queue_email(
                to=[request.district.fachberatung_email],
                subject=_("Neue Anfrage Kindertagespflege %(ref)s")
                % {"ref": request.application.reference},
                text=render_to_string("registrations/email/daycare_forwarded.txt", context),
            )
        return True


def _family_language(application: Application) -> str:
    guardian = application.family.guardians.select_related("user").first()
    user = getattr(guardian, "user", None)
    return getattr(user, "language", None) or translation.get_language() or "de"


def _send_to_family(
    application: Application, template: str, subject: str, known: dict | None = None
) -> None:
    """Email the guardians in the family's language; `subject` is an untranslated msgid.
    `known` may hold the recipients, language, children and family-daycare request the
    caller already has (a missing or None language is looked up)."""
    known = known or {}
    if "recipients" in known:
        recipients = known["recipients"]
    else:
        recipients = list(application.family.guardians.values_list("email", flat=True))
    if not recipients:
        return
    language = known.get("language") or _family_language(application)
    with translation.override(language):
        context = {
            "application": application,
            "wishes": list(application.wishes.select_related("facility").order_by("rank")),
            "children": known["children"]
            if "children" in known
            else list(application.children.all()),
            "daycare": known["daycare"]
            if "daycare" in known
            else getattr(application, "daycare_request", None),
        }
        queue_email(
            to=recipients,
            subject=f"{translation.gettext(subject)} {application.reference}",
            text=render_to_string(f"registrations/email/{template}.txt", context),
            html=render_to_string(f"registrations/email/{template}.html", context),
        )


def _input_for(application: Application, **changes) -> ApplicationInput:
    """The validation input describing an existing application, with `changes` applied."""
    data = {
        "children": [
            ChildInput(c.first_name, c.last_name, c.birth_date, c.is_expected)
            for c in application.children.all()
        ],
        # the guardians are not edited here; a placeholder keeps the guardian rule quiet
        "guardians": [GuardianInput("x", "x", "x@example.org")],
        "start_date": application.start_date,
        "care_hours": application.care_hours,
        "street": application.street,
        "postcode": application.postcode,
        "district_id": application.district_id,
        "facility_ids": list(
            application.wishes.exclude(status=WishStatus.WITHDRAWN)
            .order_by("rank")
            .values_list("facility_id", flat=True)
        ),
        "wants_family_daycare": application.wants_family_daycare,
        "family_daycare_district_id": application.family_daycare_district_id,
    }
    data.update(changes)
    return ApplicationInput(**data)


def set_wish_order(actor, application: Application, facility_ids: list[int]) -> Application:
    """Change which Kitas are wished and in which order (the family's edit)."""
    _ensure_editable(application)
    data = _input_for(application, facility_ids=facility_ids)
    errors = {k: v for k, v in validate_application(data).items() if k.startswith("wish")}
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        current = {w.facility_id: w for w in application.wishes.all()}
        kept = [fid for fid in facility_ids if fid in current]
        for facility_id, wish in current.items():
            if facility_id not in facility_ids:
                wish.delete()
        # two passes avoid clashing ranks while reordering
        for wish in current.values():
            if wish.facility_id in kept:
                wish.rank += 100
                wish.save(update_fields=["rank"])
        for rank, facility_id in enumerate(facility_ids, start=1):
            if facility_id in current:
                Wish.objects.filter(pk=current[facility_id].pk).update(rank=rank)
            else:
                Wish.objects.create(application=application, facility_id=facility_id, rank=rank)
        _history(application, "wishes_changed", wishes=list(facility_ids))
        record_audit(actor, "application.wishes_changed", application)
        _send_to_family(application, "changed", gettext_noop("Änderung Ihrer Voranmeldung"))
    return application


def withdraw_wish(actor, application: Application, facility_id: int) -> Wish:
    _ensure_editable(application)
    wish = application.wishes.filter(facility_id=facility_id).first()
    if wish is None:
        raise ValidationError({"wishes": [_("Diesen Wunsch gibt es nicht.")]})
    with transaction.atomic():
        wish.status = WishStatus.WITHDRAWN
        wish.status_changed_at = timezone.now()
        wish.save(update_fields=["status", "status_changed_at"])
        _history(application, "wish_withdrawn", facility=facility_id)
        record_audit(actor, "application.wish_withdrawn", application, facility=facility_id)
        _send_to_family(application, "changed", gettext_noop("Änderung Ihrer Voranmeldung"))
    return wish


def withdraw_application(actor, application: Application) -> Application:
    _ensure_editable(application)
    with transaction.atomic():
        application.status = Application.Status.WITHDRAWN
        application.save(update_fields=["status", "updated_at"])
        ApplicationChild.objects.filter(application=application).update(is_active=False)
        application.wishes.exclude(status=WishStatus.WITHDRAWN).update(
            status=WishStatus.WITHDRAWN, status_changed_at=timezone.now()
        )
        DaycareRequest.objects.filter(application=application).update(
            status=DaycareRequest.Status.WITHDRAWN
        )
        _history(application, "withdrawn")
        record_audit(actor, "application.withdrawn", application)
        _send_to_family(application, "changed", gettext_noop("Änderung Ihrer Voranmeldung"))
    return application


def _ensure_editable(application: Application) -> None:
    policy = PortalSettings.current()
    if application.status != Application.Status.ACTIVE:
        raise ValidationError(_("Diese Voranmeldung ist nicht mehr aktiv."))
    if policy.edits_locked:
        raise ValidationError(
            policy.lock_reason
            or _(
                "Während einer laufenden Vergaberunde können Voranmeldungen nicht geändert werden."
            )
        )


# --- Back office: scopes, family daycare queue, duplicates ----------------------------------


def visible_facilities(user):
    """The facilities a staff account may see (youth office: all; carrier: its facilities;
    facility staff: one). Others see none."""
    from tenants.accounts.models import Role

    role = getattr(user, "role", None)
    if role in (Role.YOUTH_OFFICE, Role.TENANT_ADMIN):
        return Facility.objects.all()
    assignment = getattr(user, "staff_assignment", None) if user.is_authenticated else None
    if role == Role.CARRIER_STAFF and assignment is not None and assignment.carrier_id:
        return Facility.objects.filter(carrier_id=assignment.carrier_id)
    if role == Role.FACILITY_STAFF and assignment is not None and assignment.facility_id:
        return Facility.objects.filter(pk=assignment.facility_id)
    return Facility.objects.none()


def visible_daycare_districts(user):
    from tenants.accounts.models import Role

    role = getattr(user, "role", None)
    if role in (Role.YOUTH_OFFICE, Role.TENANT_ADMIN):
        return District.objects.all()
    assignment = getattr(user, "staff_assignment", None) if user.is_authenticated else None
    if role == Role.FACHBERATUNG and assignment is not None and assignment.district_id:
        return District.objects.filter(pk=assignment.district_id)
    return District.objects.none()


def set_daycare_status(actor, request: DaycareRequest, status: str) -> DaycareRequest:
    """Fachberatung marks a family-daycare request as in contact or placed."""
    allowed = {DaycareRequest.Status.IN_CONTACT, DaycareRequest.Status.PLACED}
    if status not in allowed:
        raise ValidationError(_("Dieser Status kann hier nicht gesetzt werden."))
    if request.status == DaycareRequest.Status.WITHDRAWN:
        raise ValidationError(_("Die Familie hat diese Anfrage zurückgezogen."))
    with transaction.atomic():
        request.status = status
        request.save(update_fields=["status"])
        _history(request.application, f"daycare_{status}", district=request.district_id)
        record_audit(actor, "daycare.status_changed", request.application, status=status)
    return request


def suspected_duplicates(limit: int = 200) -> list[tuple[Application, Application]]:
    """Active applications that probably concern the same child: same birth date and same
    normalised last name, or same birth date and the same guardian email. Exact duplicates
    are already refused at submission; these are the near misses (typos, second account)."""
    rows = (
        ApplicationChild.objects.filter(is_active=True)
        .select_related("application", "child")
        .order_by("child__birth_date", "application_id")
    )
    by_birth: dict = {}
    for row in rows:
        by_birth.setdefault(row.child.birth_date, []).append(row)
    emails = dict(Guardian.objects.values_list("family_id", "email").order_by("family_id", "pk"))
    pairs = []
    for group in by_birth.values():
        for i, first in enumerate(group):
            for second in group[i + 1 :]:
                if first.application_id == second.application_id:
                    continue
                same_name = normalise_name(first.child.last_name) == normalise_name(
                    second.child.last_name
                )
                same_email = emails.get(first.application.family_id) == emails.get(
                    second.application.family_id
                )
                if same_name or same_email:
                    pairs.append((first.application, second.application))
                if len(pairs) >= limit:
                    return pairs
    return pairs


def merge_applications(actor, keep: Application, drop: Application) -> Application:
    """Youth office: merge a duplicate into the application to keep. The dropped one is marked
    merged; its wishes that the kept one lacks are appended (up to the wish limit)."""
    if keep.pk == drop.pk:
        raise ValidationError(
            _("Eine Voranmeldung kann nicht mit sich selbst zusammengeführt werden.")
        )
    if Application.Status.ACTIVE != keep.status or drop.status != Application.Status.ACTIVE:
        raise ValidationError(_("Nur aktive Voranmeldungen können zusammengeführt werden."))
    policy = PortalSettings.current()
    with transaction.atomic():
        existing = set(keep.wishes.values_list("facility_id", flat=True))
        rank = len(existing)
        for wish in drop.wishes.order_by("rank"):
            if wish.facility_id not in existing and rank < policy.max_wishes:
                rank += 1
                Wish.objects.create(application=keep, facility_id=wish.facility_id, rank=rank)
        drop.status = Application.Status.MERGED
        drop.save(update_fields=["status", "updated_at"])
        ApplicationChild.objects.filter(application=drop).update(is_active=False)
        drop.wishes.update(status=WishStatus.WITHDRAWN, status_changed_at=timezone.now())
        _history(keep, "merged_in", other=drop.pk)
        _history(drop, "merged_into", other=keep.pk)
        record_audit(actor, "application.merged", keep, dropped=drop.pk)
        _send_to_family(keep, "changed", gettext_noop("Änderung Ihrer Voranmeldung"))
    return keep


def change_start_and_hours(actor, application: Application, start_date: date, care_hours: int):
    """The family changes the desired start date and care hours; every wish must still fit."""
    _ensure_editable(application)
    data = _input_for(application, start_date=start_date, care_hours=care_hours)
    errors = {
        key: messages
        for key, messages in validate_application(data).items()
        if key in ("start_date", "care_hours") or key.startswith("wish")
    }
    if errors:
        raise ValidationError(errors)
    with transaction.atomic():
        application.start_date = start_date
        application.care_hours = care_hours
        application.save(update_fields=["start_date", "care_hours", "updated_at"])
        _history(application, "start_changed", start=start_date.isoformat(), hours=care_hours)
        record_audit(actor, "application.start_changed", application)
        _send_to_family(application, "changed", gettext_noop("Änderung Ihrer Voranmeldung"))
    return application


def submit_accessibility_feedback(actor, *, page: str, message: str, email: str = ""):
    from .models import AccessibilityFeedback

    message = message.strip()
    if len(message) < 5:
        raise ValidationError(
            {"message": [_("Bitte beschreiben Sie kurz, wo Sie auf eine Barriere gestoßen sind.")]}
        )
    with transaction.atomic():
        feedback = AccessibilityFeedback.objects.create(
            page=page[:300], message=message[:3000], email=email.strip()
        )
        record_audit(actor, "accessibility.feedback", feedback)
    return feedback
