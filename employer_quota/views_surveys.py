"""HR's survey pages and the staff's anonymous answer page."""

from __future__ import annotations

from urllib.parse import urlencode

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import gettext as _
from kitaportal.exports import table_download

from . import surveys
from .access import hr_required
from .models import EmployerProfile, Question, Survey


def _errors(request, exc: ValidationError) -> None:
    for message in exc.messages:
        messages.error(request, message)


@hr_required
def survey_list(request):
    if request.method == "POST":
        try:
            min_cell = int(request.POST.get("min_cell") or 5)
        except ValueError:
            min_cell = 0
        try:
            survey = surveys.create_survey(
                request.user,
                title=request.POST.get("title", ""),
                intro=request.POST.get("intro", ""),
                min_cell=min_cell,
            )
        except ValidationError as exc:
            _errors(request, exc)
        else:
            return redirect("survey-detail", pk=survey.pk)
    return render(request, "employer_quota/survey_list.html", {"surveys": Survey.objects.all()})


@hr_required
def survey_detail(request, pk: int):
    survey = get_object_or_404(Survey, pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action == "save_question":
                question = None
                if request.POST.get("question"):
                    question = get_object_or_404(
                        Question, pk=request.POST["question"], survey=survey
                    )
                surveys.save_question(
                    request.user,
                    survey,
                    text=request.POST.get("text", ""),
                    kind=request.POST.get("kind", ""),
                    options=request.POST.get("options", "").splitlines(),
                    required=request.POST.get("required") == "on",
                    question=question,
                )
                messages.success(request, _("Die Frage ist gespeichert."))
            elif action == "delete_question":
                question = get_object_or_404(
                    Question, pk=request.POST.get("question"), survey=survey
                )
                surveys.delete_question(request.user, question)
                messages.success(request, _("Die Frage ist gelöscht."))
            elif action == "open":
                emails = [
                    e.strip()
                    for e in request.POST.get("emails", "").replace(",", "\n").splitlines()
                    if e.strip()
                ]
                surveys.open_survey(
                    request.user, survey, emails=emails, with_link=request.POST.get("link") == "on"
                )
                messages.success(request, _("Die Umfrage läuft."))
            elif action == "close":
                surveys.close_survey(request.user, survey)
                messages.success(
                    request, _("Die Umfrage ist abgeschlossen; die Einladungen sind gelöscht.")
                )
            else:
                raise Http404
        except ValidationError as exc:
            _errors(request, exc)
        return redirect("survey-detail", pk=survey.pk)
    survey.refresh_from_db()
    link = request.build_absolute_uri(f"/umfrage/{survey.link_token}/") if survey.link_token else ""
    return render(
        request,
        "employer_quota/survey_detail.html",
        {
            "survey": survey,
            "questions": survey.questions.all(),
            "link": link,
            "responses": survey.responses.count(),
            "progress": surveys.invitation_progress(survey) if survey.invited else None,
            "kinds": Question.Kind.choices,
        },
    )


def _population(survey: Survey) -> int | None:
    if survey.invited:
        return survey.invited
    profile = EmployerProfile.objects.first()
    return profile.employee_count if profile else None


@hr_required
def survey_results(request, pk: int):
    survey = get_object_or_404(Survey, pk=pk)
    count, distributions = surveys.results(survey)
    recommendation = surveys.recommendation(survey, _population(survey))
    request_link = ""
    if recommendation:
        query = urlencode(
            {
                "u3_places": recommendation[("now", "U3")].point,
                "ue3_places": recommendation[("now", "UE3")].point,
                "umfrage": survey.pk,
            }
        )
        request_link = f"/belegplaetze/anfrage/?{query}"
    for distribution in distributions:
        top = max([c.count or 0 for c in distribution.cells] + [1])
        distribution.bars = [
            (c.label, c.count, round(300 * (c.count or 0) / top), 18 * i)
            for i, c in enumerate(distribution.cells)
        ]
        distribution.height = 18 * len(distribution.cells) + 4
    return render(
        request,
        "employer_quota/survey_results.html",
        {
            "survey": survey,
            "count": count,
            "distributions": distributions,
            "k": max(survey.min_cell, surveys.MIN_CELL_FLOOR),
            "crosstab": surveys.crosstab(survey, "child_ages", "times"),
            "recommendation": recommendation,
            "rec_rows": [
                (label, recommendation[(h, "U3")], recommendation[(h, "UE3")])
                for h, label in (("now", _("jetzt (12 Monate)")), ("3y", _("in 3 Jahren")))
            ]
            if recommendation
            else [],
            "request_link": request_link,
        },
    )


@hr_required
def survey_export(request, pk: int, fmt: str):
    survey = get_object_or_404(Survey, pk=pk)
    _count, distributions = surveys.results(survey)
    rows = [["Frage", "Antwort", "Anzahl"]]
    for d in distributions:
        if d.suppressed:
            rows.append([d.question.text, "", f"< {survey.min_cell} Antworten"])
            continue
        for cell in d.cells:
            rows.append(
                [d.question.text, cell.label, cell.count if cell.count is not None else "verborgen"]
            )
    return table_download(fmt, None, rows, f"umfrage-{survey.pk}")


def answer(request, token: str):
    """Public: answer through an invitation link or the anonymous link. No login."""
    if getattr(request.tenant, "type", "") != "employer":
        raise Http404
    found = surveys.survey_for_token(token)
    if found is None:
        raise Http404
    survey, invitation = found
    if survey.status != Survey.Status.OPEN:
        return render(
            request, "employer_quota/survey_answer.html", {"survey": survey, "closed": True}
        )
    if invitation is not None and invitation.used:
        return render(
            request, "employer_quota/survey_answer.html", {"survey": survey, "done": True}
        )
    errors = {}
    if request.method == "POST":
        data = {
            q.key: request.POST.getlist(q.key)
            if q.kind == Question.Kind.MULTI
            else request.POST.get(q.key)
            for q in survey.questions.all()
        }
        try:
            surveys.submit_response(survey, data, invitation=invitation)
        except ValidationError as exc:
            errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
        else:
            return render(
                request, "employer_quota/survey_answer.html", {"survey": survey, "thanks": True}
            )
    return render(
        request,
        "employer_quota/survey_answer.html",
        {
            "survey": survey,
            "questions": survey.questions.all(),
            "errors": errors,
            "posted": request.POST,
        },
        status=400 if errors else 200,
    )
