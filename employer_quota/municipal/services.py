"""Redeeming an employer's eligibility code for an application, the parent's consent, and
keeping the employer-facing claims and status in step with the application."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import EligibilityCode, PlaceClaim, kita_year_of
from registrations.models import Application, WishStatus
from registrations.services import age_group_at
from tenants.common.services import record_audit

from .models import EmployerEligibility

# What the employer may see of an application (only with the parent's consent).
SHARED_STATUSES = ("received", "offer", "accepted", "contract", "withdrawn")


def _contracted_facilities(application: Application) -> set[int]:
    from registrations.models import CareContract

    return set(
        CareContract.objects.filter(offer__application=application).values_list(
            "offer__facility_id", flat=True
        )
    )


def shared_status_of(application: Application) -> str:
    """Coarse status for the employer: received, offer, accepted, contract or withdrawn."""
    from registrations.models import Offer

    if application.status != Application.Status.ACTIVE:
        return "withdrawn"
    if _contracted_facilities(application):
        return "contract"
    offers = set(application.offers.values_list("status", flat=True))
    statuses = set(application.wishes.values_list("status", flat=True))
    if Offer.Status.ACCEPTED in offers or WishStatus.ACCEPTED in statuses:
        return "accepted"
    if Offer.Status.OPEN in offers or WishStatus.OFFER in statuses:
        return "offer"
    return "received"


def _owns(actor, application: Application) -> bool:
    return application.family.guardians.filter(user_id=getattr(actor, "pk", None)).exists()


def _claim_places(application: Application, employer) -> list:
    """One reserved place per child at the best-ranked wished facility where an active
    agreement of the employer (for that facility, or for all facilities of its carrier)
    matches the child's age group and the care hours. Facility agreements come first."""
    tenant = connection.tenant
    by_facility: dict[int, list] = {}
    by_carrier: dict[int, list] = {}
    for agreement in agreements.active_agreements(employer=employer, municipality=tenant):
        if agreement.facility_id is not None:
            by_facility.setdefault(agreement.facility_id, []).append(agreement)
        else:
            by_carrier.setdefault(agreement.carrier_id, []).append(agreement)
    if not by_facility and not by_carrier:
        return []
    wishes = (
        application.wishes.exclude(status__in=[WishStatus.WITHDRAWN, WishStatus.DECLINED])
        .select_related("facility")
        .order_by("rank")
    )
    kita_year = kita_year_of(application.start_date)
    tokens = []
    for child in application.children.all():
        age_group = age_group_at(child.birth_date, application.start_date)
        for wish in wishes:
            claim = None
            candidates = by_facility.get(wish.facility_id, []) + by_carrier.get(
                wish.facility.carrier_id, []
            )
            for agreement in candidates:
                version = agreement.current
                if (
                    version.age_group == age_group
                    and version.care_hours == application.care_hours
                    and agreements.covers(version, application.start_date)
                ):
                    claim = agreements.claim_place(agreement, kita_year, wish.facility_id)
                    if claim is not None:
                        break
            if claim is not None:
                tokens.append(claim.token)
                break
    return tokens


def redeem_code(
    actor,
    application: Application,
    text: str,
    *,
    share_status: bool,
    address: str,
    on_behalf: bool = False,
) -> EmployerEligibility:
    """A parent enters an employer's code for one of their applications (or the youth office,
    `on_behalf`, for a paper application). The municipality learns only: eligible for this
    employer's reserved places. The code is used up."""
    from tenants.accounts.models import Role

    if on_behalf:
        if actor is not None and getattr(actor, "role", None) not in (
            Role.YOUTH_OFFICE,
            Role.TENANT_ADMIN,
        ):
            raise PermissionDenied
    elif not _owns(actor, application):
        raise PermissionDenied
    if application.status != Application.Status.ACTIVE:
        raise ValidationError({"code": [_("Diese Voranmeldung ist nicht mehr aktiv.")]})
    tenant = connection.tenant
    keys = agreements.attempt_keys(tenant, getattr(actor, "pk", 0) or 0, address)
    try:
        with transaction.atomic():
            code = agreements.find_redeemable_code(
                municipality=tenant, text=text, account_key=keys[0], address_key=keys[1]
            )
            if EmployerEligibility.objects.filter(
                application=application, employer_id=code.employer_id
            ).exists():
                raise ValidationError(
                    {
                        "code": [
                            _(
                                "Diese Voranmeldung ist für diesen Arbeitgeber bereits "
                                "berechtigt; der Code bleibt gültig."
                            )
                        ]
                    }
                )
            agreements.mark_redeemed(code, tenant)
            eligibility = EmployerEligibility.objects.create(
                application=application,
                employer_id=code.employer_id,
                employer_slug=code.employer.slug,
                employer_name=code.employer.name,
                code_id=code.pk,
                share_status=share_status,
                consent_changed_at=timezone.now() if share_status else None,
            )
            eligibility.claim_tokens = _claim_places(application, code.employer)
            eligibility.save(update_fields=["claim_tokens"])
            if share_status:
                agreements.share_status(code.pk, shared_status_of(application))
            record_audit(
                actor,
                "employer_code_redeemed",
                application,
                employer=code.employer_id,
                claims=len(eligibility.claim_tokens),
            )
    except agreements.CodeRejected:
        agreements.record_failed_attempt(*keys)
        raise
    return eligibility


@transaction.atomic
def set_status_sharing(actor, eligibility: EmployerEligibility, share: bool) -> EmployerEligibility:
    """The parent gives or withdraws consent to show the application's status to the employer."""
    if not _owns(actor, eligibility.application):
        raise PermissionDenied
    eligibility.share_status = share
    eligibility.consent_changed_at = timezone.now()
    eligibility.save(update_fields=["share_status", "consent_changed_at"])
    agreements.share_status(
        eligibility.code_id, shared_status_of(eligibility.application) if share else None
    )
    record_audit(actor, "employer_status_sharing", eligibility, share=share)
    return eligibility


def set_places_occupied(application: Application) -> int:
    """Hook for contracts (issue 4): the claimed reserved places are now occupied."""
    changed = 0
    for eligibility in application.employer_eligibilities.all():
        for token in eligibility.claim_tokens:
            changed += agreements.set_claim_state(token, PlaceClaim.State.OCCUPIED)
    return changed


@transaction.atomic
def sync_eligibilities() -> dict[str, int]:
    """Periodic, per municipality: claims of withdrawn or merged applications and of revoked
    codes end; a contract at the agreement's Kita makes its claim occupied, a contract elsewhere
    ends it; consented statuses are refreshed. Idempotent."""
    ended = occupied = refreshed = 0
    eligibilities = EmployerEligibility.objects.select_related("application")
    revoked = set(
        EligibilityCode.objects.filter(
            pk__in=eligibilities.values_list("code_id", flat=True), revoked_at__isnull=False
        ).values_list("pk", flat=True)
    )
    for eligibility in eligibilities:
        application = eligibility.application
        claims = {
            claim.token: claim
            for claim in PlaceClaim.objects.filter(token__in=eligibility.claim_tokens)
            .exclude(state=PlaceClaim.State.ENDED)
            .select_related("agreement")
        }
        if application.status != Application.Status.ACTIVE or eligibility.code_id in revoked:
            for token in claims:
                ended += agreements.set_claim_state(token, PlaceClaim.State.ENDED)
        elif claims:
            contracted = _contracted_facilities(application)
            for token, claim in claims.items():
                if (claim.facility_id or claim.agreement.facility_id) in contracted:
                    if claim.state != PlaceClaim.State.OCCUPIED:
                        occupied += agreements.set_claim_state(token, PlaceClaim.State.OCCUPIED)
                elif contracted:
                    ended += agreements.set_claim_state(token, PlaceClaim.State.ENDED)
        if eligibility.share_status:
            agreements.share_status(eligibility.code_id, shared_status_of(application))
            refreshed += 1
    return {"claims_ended": ended, "claims_occupied": occupied, "statuses_refreshed": refreshed}
