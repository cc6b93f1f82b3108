"""What the allocation instance builder (issue 4) takes from the employer side.

Call inside the municipality's tenant context:

    reserves = reserves_for_round(start_date)      # {(facility_id, "U3"|"UE3", hours): [(slug, n)]}
    employers = eligible_employers(application_ids)  # {application_id: [employer slug, ...]}

Put ``reserved: [{"employer": slug, "places": n}, ...]`` on the matching category and
``employers: [...]`` on every child of the application. Places released under an agreement's
release rule are no longer reserved (they are in the general pool).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date

from django.db import connection

from employer_quota.agreements import services as agreements
from employer_quota.agreements.models import EligibilityCode, kita_year_of
from registrations.models import Application

from .models import EmployerEligibility


def reserves_for_round(as_of: date) -> dict[tuple[int, str, int], list[tuple[str, int]]]:
    """Reserved places per category for the Kita year of `as_of` (the round's start date).

    A facility agreement reserves its places (minus released ones) at its facility. A carrier
    agreement reserves, at each of the carrier's facilities, the places claimed there by
    eligible children (its unclaimed places cannot be located in one category, so they stay
    in the general pool of the run)."""
    from employer_quota.agreements.models import PlaceClaim

    kita_year = kita_year_of(as_of)
    result: dict[tuple[int, str, int], dict[str, int]] = {}

    def add(facility_id: int, version, slug: str, places: int) -> None:
        if places <= 0:
            return
        per_employer = result.setdefault((facility_id, version.age_group, version.care_hours), {})
        per_employer[slug] = per_employer.get(slug, 0) + places

    for agreement in agreements.active_agreements(municipality=connection.tenant).order_by("pk"):
        version = agreement.current
        if not agreements.covers(version, as_of):
            continue
        if agreement.facility_id is not None:
            state = agreements.occupancy(agreement, kita_year)
            add(
                agreement.facility_id,
                version,
                agreement.employer.slug,
                state.reserved - state.released,
            )
            continue
        claims = (
            agreement.claims.filter(kita_year=kita_year)
            .exclude(state=PlaceClaim.State.ENDED)
            .values_list("facility_id", flat=True)
        )
        for facility_id in claims:
            add(facility_id, version, agreement.employer.slug, 1)
    return {key: sorted(value.items()) for key, value in result.items()}


def eligible_employers(application_ids: Iterable[int] | None = None) -> dict[int, list[str]]:
    """Employers (slugs) each active application is eligible for (codes not revoked)."""
    rows = EmployerEligibility.objects.filter(application__status=Application.Status.ACTIVE)
    if application_ids is not None:
        rows = rows.filter(application_id__in=list(application_ids))
    rows = list(rows.values_list("application_id", "employer_slug", "code_id"))
    revoked = set(
        EligibilityCode.objects.filter(
            pk__in=[code for _, _, code in rows], revoked_at__isnull=False
        ).values_list("pk", flat=True)
    )
    result: dict[int, set[str]] = {}
    for application_id, slug, code_id in rows:
        if code_id not in revoked:
            result.setdefault(application_id, set()).add(slug)
    return {key: sorted(value) for key, value in result.items()}
