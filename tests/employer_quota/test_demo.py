"""The demo: RathausKids' 5 U3 + 10 Ü3 places in Bochum with codes issued and redeemed;
Kreismäuse's company daycare with two groups and a closed survey with 120 answers."""

from django_tenants.utils import tenant_context

from employer_quota import surveys
from employer_quota.agreements import services as agreements
from employer_quota.demo import load_reserved_places_demo
from employer_quota.models import CompanyDaycare, Survey
from employer_quota.reserved import dashboard_rows


def test_the_demo_fills_both_employers_and_is_idempotent(
    city, other_city, employer, other_employer
):
    figures = load_reserved_places_demo()
    assert figures["agreements"] == 5 and figures["codes_issued"] == 12
    assert figures["codes_redeemed"] >= 2
    rows = dashboard_rows(employer, agreements.current_kita_year() + 1)
    by_group = {}
    for row in rows:
        by_group[row.age_group] = by_group.get(row.age_group, 0) + row.reserved
    assert sorted(by_group.values()) == [5, 10]
    assert sum(r.used for r in rows) >= 2
    counts = agreements.code_counts(employer)
    assert counts["issued"] == 12 and counts["redeemed"] == figures["codes_redeemed"]

    with tenant_context(other_employer):
        kita = CompanyDaycare.objects.get()
        assert kita.groups.count() == 2
        survey = Survey.objects.get()
        assert survey.status == Survey.Status.CLOSED and survey.responses.count() == 120
        count, distributions = surveys.results(survey)
        assert count == 120 and sum(not d.suppressed for d in distributions) >= 10
        assert surveys.recommendation(survey, 1400)[("now", "U3")].point > 0

    assert load_reserved_places_demo().get("agreements") is None, "second run adds nothing"
