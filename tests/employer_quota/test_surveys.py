"""Needs surveys: template and own questions, invitations by a real task run, anonymous
answers, double-answer protection, tokens discarded on close, k-anonymity, recommendation."""

import re

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError
from django_tenants.utils import tenant_context

from employer_quota import surveys
from employer_quota.models import Invitation, Response, Survey
from tenants.common.models import OutboxMessage

from .helpers import HR, login


def answers(**overrides):
    data = {
        "children": "1",
        "need_now_u3": "1",
        "need_now_ue3": "0",
        "times": ["früh (vor 7:30)"],
        "child_ages": ["1 Jahr"],
    }
    data.update(overrides)
    return data


@pytest.fixture
def survey(employer):
    with tenant_context(employer):
        yield surveys.create_survey(HR, title="Bedarf 2027")


def test_a_survey_starts_from_the_full_template_and_hr_adds_and_edits_questions(employer, survey):
    with tenant_context(employer):
        keys = list(survey.questions.values_list("key", flat=True))
        assert keys[:4] == ["children", "child_ages", "need_now_u3", "need_now_ue3"]
        assert {
            "times",
            "holidays",
            "max_fee",
            "district",
            "commute",
            "current",
            "need_3y_u3",
        } <= set(keys)
        own = surveys.save_question(
            HR, survey, text="Homeoffice?", kind="single", options=["ja", "nein"]
        )
        assert own.key.startswith("own-")
        fee = survey.questions.get(key="max_fee")
        surveys.save_question(
            HR,
            survey,
            text="Höchstbeitrag?",
            kind="single",
            options=["bis 200 €", "mehr"],
            question=fee,
        )
        fee.refresh_from_db()
        assert fee.options == ["bis 200 €", "mehr"]
        with pytest.raises(ValidationError):
            surveys.save_question(HR, survey, text="x", kind="single", options=["nur eine"])


def test_the_threshold_is_never_below_three(employer):
    with tenant_context(employer):
        with pytest.raises(ValidationError):
            surveys.create_survey(HR, title="x", min_cell=2)
        survey = surveys.create_survey(HR, title="y", min_cell=3)
        with pytest.raises(IntegrityError):
            Survey.objects.filter(pk=survey.pk).update(min_cell=2)


def test_invitations_are_sent_by_the_task_with_progress_and_a_bad_address_does_not_stop_it(
    employer, survey
):
    with tenant_context(employer):
        surveys.open_survey(HR, survey, emails=["a@firma.test", "b@firma.test"])
        Invitation.objects.create(survey=survey, email="kaputt@@firma")  # a bounce-to-be
        result = surveys.send_invitations(survey.pk, "http://rathauskids.localhost/")
        assert result == {"sent": 2, "failed": 1}
        survey.refresh_from_db()
        assert (survey.invitations_sent, survey.invitations_failed) == (2, 1)
        assert not Invitation.objects.exclude(email="").exists(), "addresses are wiped"
        assert surveys.send_invitations(survey.pk, "http://x/") == {"sent": 0, "failed": 0}
        assert OutboxMessage.objects.filter(subject__contains="Bedarf 2027").count() == 2
        progress = surveys.invitation_progress(survey)
        assert (progress["queued"], progress["delivered"], progress["invalid"]) == (2, 0, 1)
        first, second = Invitation.objects.exclude(outbox_id=None).order_by("pk")
        OutboxMessage.objects.filter(pk=first.outbox_id).update(status="sent")
        OutboxMessage.objects.filter(pk=second.outbox_id).update(status="failed")  # bounced
        progress = surveys.invitation_progress(survey)
        assert (progress["queued"], progress["delivered"], progress["failed"]) == (0, 1, 1)


def test_answers_are_anonymous_single_use_per_invitation_and_tokens_go_on_close(employer, survey):
    with tenant_context(employer):
        surveys.open_survey(HR, survey, emails=["a@firma.test"])
        surveys.send_invitations(survey.pk, "http://rathauskids.localhost/")
        mail = OutboxMessage.objects.get(subject__contains="Bedarf 2027")
        token = re.search(r"/umfrage/([\w-]+)/", mail.body_text).group(1)
        found, invitation = surveys.survey_for_token(token)
        response = surveys.submit_response(found, answers(), invitation=invitation)
        with pytest.raises(ValidationError):
            surveys.submit_response(found, answers(), invitation=invitation)
        fields = {f.name for f in Response._meta.get_fields()}
        assert fields == {"id", "survey", "submitted_on", "answers"}, "nothing links to an invitee"
        assert token not in str(Invitation.objects.values_list()), "only a hash of the token"
        surveys.close_survey(HR, survey)
        assert not Invitation.objects.filter(survey=survey).exists()
        assert surveys.survey_for_token(token) is None
        assert Response.objects.filter(pk=response.pk).exists()


def test_invalid_answers_are_refused_and_nothing_is_saved(employer, survey):
    with tenant_context(employer):
        surveys.open_survey(HR, survey, with_link=True)
        with pytest.raises(ValidationError) as exc:
            surveys.submit_response(survey, answers(children="11", times=["nachts"]))
        assert {"children", "times"} <= set(exc.value.message_dict)
        assert not survey.responses.exists()


def _fill(survey, n, **overrides):
    for _ in range(n):
        surveys.submit_response(survey, answers(**overrides))


@pytest.mark.parametrize("k", [3, 5, 7])
def test_a_breakdown_shows_only_cells_with_at_least_k_answers(employer, k):
    with tenant_context(employer):
        survey = surveys.create_survey(HR, title=f"k{k}", min_cell=k)
        surveys.open_survey(HR, survey, with_link=True)
        _fill(survey, k - 1)
        count, distributions = surveys.results(survey)
        assert count == k - 1
        assert all(d.suppressed for d in distributions), "too few answers: nothing shown"
        assert surveys.recommendation(survey, 100) is None

        _fill(survey, k + 2, times=["Schichtdienst"])
        _fill(survey, 1, times=["spät (nach 16:30)"])  # one person only
        _count, distributions = surveys.results(survey)
        times = next(d for d in distributions if d.question.key == "times")
        cells = {c.label: c.count for c in times.cells}
        assert cells["Schichtdienst"] == k + 2
        assert cells["spät (nach 16:30)"] is None, "a single answer is never shown"
        assert cells["früh (vor 7:30)"] is None, "complementary suppression (k-1 answers)"
        shown = [c.count for c in times.cells if c.count]
        assert all(n >= k for n in shown)


def test_complementary_suppression_hides_a_second_cell_when_only_one_is_small():
    cells = surveys.suppress([("a", 10), ("b", 2), ("c", 6), ("d", 0)], 5)
    assert [c.count for c in cells] == [10, None, None, 0]
    cells = surveys.suppress([("a", 10), ("b", 2), ("c", 1)], 5)
    assert [c.count for c in cells] == [10, None, None]


def test_the_recommendation_spans_stated_need_to_extrapolated_need(employer):
    with tenant_context(employer):
        survey = surveys.create_survey(HR, title="r", min_cell=5)
        surveys.open_survey(HR, survey, with_link=True)
        _fill(survey, 5, need_now_u3="1", need_now_ue3="0")
        _fill(survey, 5, need_now_u3="0", need_now_ue3="2")
        rec = surveys.recommendation(survey, population=20)
        u3 = rec[("now", "U3")]
        assert u3.low == 5, "what respondents stated"
        assert u3.low < u3.point < u3.high
        assert u3.high >= 10, "non-respondents at least as needy as respondents"
        assert rec[("now", "UE3")].low == 10


def test_survey_pages_results_chart_and_request_reach_the_municipality(city, employer):
    hr = login(employer, "hr-s@rathauskids.test", "hr")
    response = hr.post("/umfragen/", {"title": "Bedarf", "min_cell": 5})
    survey_pk = int(re.search(r"/umfragen/(\d+)/", response["Location"]).group(1))
    assert hr.post(f"/umfragen/{survey_pk}/", {"action": "open", "link": "on"}).status_code == 302
    with tenant_context(employer):
        token = Survey.objects.get(pk=survey_pk).link_token
    from tests.conftest import client_for

    staff = client_for(employer)
    for _ in range(6):
        page = staff.post(
            f"/umfrage/{token}/",
            {"children": "1", "need_now_u3": "1", "need_now_ue3": "1", "times": ["Schichtdienst"]},
        )
        assert "thanks" in page.content.decode()
    results = hr.get(f"/umfragen/{survey_pk}/ergebnisse/").content.decode()
    assert "<svg" in results and 'id="recommendation"' in results
    link = (
        re.search(r'href="(/belegplaetze/anfrage/\?[^"]+)"', results).group(1).replace("&amp;", "&")
    )
    form = hr.get(link).content.decode()
    assert "6 Antworten" in form
    assert (
        hr.post(
            link,
            {
                "municipality": city.pk,
                "u3_places": 6,
                "ue3_places": 6,
                "care_hours": 35,
                "wanted_from": "2031-08-01",
                "umfrage": survey_pk,
            },
        ).status_code
        == 302
    )
    office = login(city, "ja-s@bochum.test", "youth_office")
    assert "Bedarfsumfrage" in office.get("/verwaltung/belegplaetze/").content.decode()
    assert hr.get(f"/umfragen/{survey_pk}/ergebnisse.csv").status_code == 200
    assert hr.get(f"/umfragen/{survey_pk}/ergebnisse.xlsx").content[:2] == b"PK"


def test_survey_pages_are_404_for_other_employers_parents_and_other_tenants(
    city, employer, other_employer
):
    with tenant_context(employer):
        survey = surveys.create_survey(HR, title="geheim")
        surveys.open_survey(HR, survey, with_link=True)
        token = Survey.objects.get(pk=survey.pk).link_token
    other = login(other_employer, "hr-o@kreismaeuse.test", "hr")
    for url in [
        f"/umfragen/{survey.pk}/",
        f"/umfragen/{survey.pk}/ergebnisse/",
        f"/umfragen/{survey.pk}/ergebnisse.csv",
        f"/umfrage/{token}/",
    ]:
        assert other.get(url).status_code == 404, url
    parent = login(employer, "p@rathauskids.test", "parent")
    for url in ["/umfragen/", f"/umfragen/{survey.pk}/", f"/umfragen/{survey.pk}/ergebnisse/"]:
        assert parent.get(url).status_code == 404, url
    bochum = login(city, "ja-o@bochum.test", "youth_office")
    for url in ["/umfragen/", f"/umfragen/{survey.pk}/", f"/umfrage/{token}/"]:
        assert bochum.get(url).status_code == 404, url
