"""Needs surveys: template, invitations, anonymous answers, k-anonymous results and the
recommended contingent of reserved places.

Anonymity: a Response holds answers and a date, nothing else. Invitation tokens exist in
plain text only in the invitation email; the row keeps a hash and a `used` flag, which stop a
second answer, and is deleted when the survey closes. Results show a value only when at least
`Survey.min_cell` answers (never fewer than 3) stand behind it.
"""

from __future__ import annotations

import hashlib
import math
import secrets
from dataclasses import dataclass, field

from django.core.exceptions import ValidationError
from django.db import models, transaction
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from tenants.common.services import queue_email, record_audit

from .models import Invitation, Question, Response, Survey

MIN_CELL_FLOOR = 3
MAX_INVITATIONS = 5000

# (key, text, kind, options, required). Texts are German (the survey language); HR edits them.
TEMPLATE = [
    (
        "children",
        gettext_noop(
            "Wie viele Kinder unter 6 Jahren haben Sie, einschließlich erwarteter Geburten in den nächsten 12 Monaten?"  # noqa: E501
        ),
        "number",
        [],
        True,
    ),
    (
        "child_ages",
        gettext_noop("Wie alt sind diese Kinder?"),
        "multi",
        ["erwartet", "unter 1 Jahr", "1 Jahr", "2 Jahre", "3 Jahre", "4 Jahre", "5 Jahre"],
        False,
    ),
    (
        "need_now_u3",
        gettext_noop(
            "Wie viele U3-Plätze (unter 3 Jahren) brauchen Sie in den nächsten 12 Monaten?"
        ),
        "number",
        [],
        True,
    ),
    (
        "need_now_ue3",
        gettext_noop(
            "Wie viele Ü3-Plätze (3 Jahre bis Schule) brauchen Sie in den nächsten 12 Monaten?"
        ),
        "number",
        [],
        True,
    ),
    (
        "need_3y_u3",
        gettext_noop("Wie viele U3-Plätze erwarten Sie in drei Jahren zu brauchen?"),
        "number",
        [],
        False,
    ),
    (
        "need_3y_ue3",
        gettext_noop("Wie viele Ü3-Plätze erwarten Sie in drei Jahren zu brauchen?"),
        "number",
        [],
        False,
    ),
    (
        "start",
        gettext_noop("Ab wann brauchen Sie einen Platz?"),
        "single",
        ["sofort", "in 6 Monaten", "in 12 Monaten", "später", "kein Bedarf"],
        False,
    ),
    (
        "days",
        gettext_noop("An welchen Tagen brauchen Sie Betreuung?"),
        "multi",
        ["Montag", "Dienstag", "Mittwoch", "Donnerstag", "Freitag", "Samstag"],
        False,
    ),
    (
        "times",
        gettext_noop("Zu welchen Zeiten brauchen Sie Betreuung?"),
        "multi",
        ["früh (vor 7:30)", "Kernzeit (7:30–16:30)", "spät (nach 16:30)", "Schichtdienst"],
        False,
    ),
    (
        "kind",
        gettext_noop("Welche Art der Betreuung brauchen Sie?"),
        "single",
        ["regelmäßig", "gelegentlich", "nur im Notfall"],
        False,
    ),
    (
        "holidays",
        gettext_noop("Brauchen Sie Betreuung in den Schulferien?"),
        "single",
        ["ja", "nein"],
        False,
    ),
    (
        "max_fee",
        gettext_noop("Wie viel könnten Sie höchstens im Monat für einen Platz zahlen?"),
        "single",
        ["bis 100 €", "100–200 €", "200–300 €", "300–400 €", "über 400 €"],
        False,
    ),
    (
        "district",
        gettext_noop("In welchem Stadtteil wohnen Sie?"),
        "single",
        ["Mitte", "Nord", "Ost", "Süd", "West", "außerhalb"],
        False,
    ),
    (
        "commute",
        gettext_noop("Wie lange ist Ihr Arbeitsweg?"),
        "single",
        ["unter 15 Minuten", "15–30 Minuten", "30–60 Minuten", "über 60 Minuten"],
        False,
    ),
    (
        "current",
        gettext_noop("Wie ist die Betreuung heute geregelt?"),
        "single",
        ["Eltern/Familie", "Kita", "Kindertagespflege", "noch keine", "anders"],
        False,
    ),
]
NEED_KEYS = {
    ("now", "U3"): "need_now_u3",
    ("now", "UE3"): "need_now_ue3",
    ("3y", "U3"): "need_3y_u3",
    ("3y", "UE3"): "need_3y_ue3",
}


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


@transaction.atomic
def create_survey(actor, *, title: str, intro: str = "", min_cell: int = 5) -> Survey:
    if not title.strip():
        raise ValidationError({"title": [_("Bitte geben Sie einen Titel an.")]})
    if min_cell < MIN_CELL_FLOOR:
        raise ValidationError({"min_cell": [_("Die Mindestzahl ist 3 oder mehr.")]})
    survey = Survey.objects.create(
        title=title.strip()[:200], intro=intro.strip()[:2000], min_cell=min_cell
    )
    Question.objects.bulk_create(
        Question(
            survey=survey,
            position=i,
            key=key,
            text=_(text),
            kind=kind,
            options=options,
            required=required,
        )
        for i, (key, text, kind, options, required) in enumerate(TEMPLATE, start=1)
    )
    record_audit(actor, "survey_created", survey)
    return survey


def _editable(survey: Survey) -> None:
    if survey.status != Survey.Status.DRAFT:
        raise ValidationError(_("Eine gestartete Umfrage kann nicht mehr geändert werden."))


def _clean_options(kind: str, options: list[str]) -> list[str]:
    cleaned = [o.strip()[:100] for o in options if o.strip()]
    if kind != Question.Kind.NUMBER and len(cleaned) < 2:
        raise ValidationError(
            {"options": [_("Bitte geben Sie mindestens zwei Antwortmöglichkeiten an.")]}
        )
    if len(set(cleaned)) != len(cleaned):
        raise ValidationError({"options": [_("Jede Antwortmöglichkeit nur einmal.")]})
    return cleaned if kind != Question.Kind.NUMBER else []


@transaction.atomic
def save_question(
    actor,
    survey: Survey,
    *,
    text: str,
    kind: str,
    options: list[str],
    required: bool = False,
    question: Question | None = None,
) -> Question:
    """Add an own question, or edit one (also a template question)."""
    _editable(survey)
    if not text.strip():
        raise ValidationError({"text": [_("Bitte geben Sie die Frage ein.")]})
    if kind not in Question.Kind.values:
        raise ValidationError({"kind": [_("Bitte wählen Sie die Art der Antwort.")]})
    options = _clean_options(kind, options)
    if question is None:
        position = (
            survey.questions.order_by("-position").values_list("position", flat=True).first() or 0
        ) + 1
        key = f"own-{position}"
        while survey.questions.filter(key=key).exists():
            position += 1
            key = f"own-{position}"
        question = Question(survey=survey, position=position, key=key)
    elif question.key in NEED_KEYS.values() and kind != Question.Kind.NUMBER:
        raise ValidationError(
            {"kind": [_("Diese Frage bleibt eine Zahl, sie fließt in die Empfehlung ein.")]}
        )
    question.text, question.kind, question.options, question.required = (
        text.strip()[:300],
        kind,
        options,
        required,
    )
    question.save()
    record_audit(actor, "survey_question_saved", survey, question=question.pk)
    return question


@transaction.atomic
def delete_question(actor, question: Question) -> None:
    _editable(question.survey)
    question.delete()
    record_audit(actor, "survey_question_deleted", question.survey)


@transaction.atomic
def open_survey(
    actor, survey: Survey, *, emails: list[str] | None = None, with_link: bool = False
) -> Survey:
    """Start the survey: invitations by email (sent by a task) and/or an anonymous link."""
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.status != Survey.Status.DRAFT:
        raise ValidationError(_("Die Umfrage wurde bereits gestartet."))
    emails = sorted({e.strip().lower() for e in (emails or []) if e.strip()})
    if not emails and not with_link:
        raise ValidationError(
            {"emails": [_("Bitte laden Sie per E-Mail ein oder nutzen Sie den Link.")]}
        )
    if len(emails) > MAX_INVITATIONS:
        raise ValidationError({"emails": [_("Höchstens 5000 Einladungen je Umfrage.")]})
    if not survey.questions.exists():
        raise ValidationError(_("Die Umfrage hat keine Fragen."))
    Invitation.objects.bulk_create(Invitation(survey=survey, email=e) for e in emails)
    survey.status = Survey.Status.OPEN
    survey.opened_at = timezone.now()
    survey.invited = len(emails)
    survey.link_token = secrets.token_urlsafe(24) if with_link else ""
    survey.save()
    record_audit(actor, "survey_opened", survey, invited=len(emails), link=with_link)
    if emails:
        from .tasks import send_survey_invitations

        transaction.on_commit(lambda: send_survey_invitations.delay(survey.pk))
    return survey


def send_invitations(survey_id: int, base_url: str, batch: int = 200) -> dict[str, int]:
    """Hand pending invitations to the outbox, each in its own short transaction (a failure
    marks only that invitation; a re-run continues where it stopped). Progress is counted
    on the survey. The address is wiped from the invitation once queued."""
    from django.core.validators import validate_email

    counts = {"sent": 0, "failed": 0}
    while True:
        with transaction.atomic():
            survey = Survey.objects.select_for_update().get(pk=survey_id)
            if survey.status != Survey.Status.OPEN:
                return counts
            pending = list(
                survey.invitations.select_for_update(skip_locked=True)
                .filter(status=Invitation.Status.PENDING)
                .order_by("pk")[:batch]
            )
            if not pending:
                return counts
            for invitation in pending:
                try:
                    validate_email(invitation.email)
                    token = secrets.token_urlsafe(24)
                    with transaction.atomic():
                        message = queue_email(
                            to=[invitation.email],
                            subject=_("Umfrage: %(title)s") % {"title": survey.title},
                            text=render_to_string(
                                "employer_quota/email/survey_invitation.txt",
                                {
                                    "survey": survey,
                                    "url": f"{base_url.rstrip('/')}/umfrage/{token}/",
                                },
                            ),
                        )
                    invitation.token_hash = token_hash(token)
                    invitation.outbox_id = message.pk
                    invitation.status = Invitation.Status.SENT
                    counts["sent"] += 1
                except Exception:  # noqa: BLE001 — a bad address must not stop the others
                    invitation.status = Invitation.Status.FAILED
                    counts["failed"] += 1
                invitation.email = ""
                invitation.save(update_fields=["token_hash", "outbox_id", "status", "email"])
            survey.invitations_sent = survey.invitations.filter(
                status=Invitation.Status.SENT
            ).count()
            survey.invitations_failed = survey.invitations.filter(
                status=Invitation.Status.FAILED
            ).count()
            survey.save(update_fields=["invitations_sent", "invitations_failed"])


def invitation_progress(survey: Survey) -> dict[str, int]:
    """Delivery of the invitations as the outbox reports it: queued (not yet delivered,
    retried on errors), delivered, failed (refused by the mail server after all retries) and
    invalid (address refused before sending)."""
    from tenants.common.models import OutboxMessage

    ids = list(survey.invitations.exclude(outbox_id=None).values_list("outbox_id", flat=True))
    by_status = dict(
        OutboxMessage.objects.filter(pk__in=ids)
        .values_list("status")
        .annotate(n=models.Count("pk"))
    )
    return {
        "invited": survey.invited,
        "queued": by_status.get(OutboxMessage.Status.PENDING, 0)
        + survey.invitations.filter(status=Invitation.Status.PENDING).count(),
        "delivered": by_status.get(OutboxMessage.Status.SENT, 0),
        "failed": by_status.get(OutboxMessage.Status.FAILED, 0),
        "invalid": survey.invitations.filter(status=Invitation.Status.FAILED).count(),
    }


def _validate_answers(survey: Survey, data: dict) -> dict:
    answers, errors = {}, {}
    for question in survey.questions.all():
        raw = data.get(question.key)
        if question.kind == Question.Kind.NUMBER:
            raw = (raw or "").strip() if isinstance(raw, str) else raw
            if raw in ("", None):
                value = None
            else:
                try:
                    value = int(raw)
                except (TypeError, ValueError):
                    value = -1
                if not 0 <= value <= 10:
                    errors[question.key] = [_("Bitte eine Zahl von 0 bis 10.")]
                    continue
        elif question.kind == Question.Kind.SINGLE:
            value = raw or None
            if value is not None and value not in question.options:
                errors[question.key] = [_("Bitte wählen Sie eine der Antworten.")]
                continue
        else:
            value = [v for v in (raw or []) if v]
            if any(v not in question.options for v in value):
                errors[question.key] = [_("Bitte wählen Sie aus den Antworten.")]
                continue
            value = value or None
        if value is None and question.required:
            errors[question.key] = [_("Bitte beantworten Sie diese Frage.")]
            continue
        if value is not None:
            answers[question.key] = value
    if errors:
        raise ValidationError(errors)
    return answers


def survey_for_token(token: str) -> tuple[Survey, Invitation | None] | None:
    """The open survey for an invitation token or the anonymous link token."""
    invitation = (
        Invitation.objects.select_related("survey").filter(token_hash=token_hash(token)).first()
    )
    if invitation is not None:
        return invitation.survey, invitation
    survey = Survey.objects.filter(link_token=token).exclude(link_token="").first()
    return (survey, None) if survey is not None else None


@transaction.atomic
def submit_response(
    survey: Survey, data: dict, *, invitation: Invitation | None = None
) -> Response:
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.status != Survey.Status.OPEN:
        raise ValidationError(_("Diese Umfrage ist abgeschlossen."))
    if invitation is not None:
        invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
        if invitation.used:
            raise ValidationError(_("Mit dieser Einladung wurde bereits geantwortet."))
    answers = _validate_answers(survey, data)
    if invitation is not None:
        invitation.used = True
        invitation.save(update_fields=["used"])
    return Response.objects.create(
        survey=survey, submitted_on=timezone.localdate(), answers=answers
    )


@transaction.atomic
def close_survey(actor, survey: Survey) -> Survey:
    """Close: no more answers; all invitations (tokens, flags) are deleted."""
    survey = Survey.objects.select_for_update().get(pk=survey.pk)
    if survey.status != Survey.Status.OPEN:
        raise ValidationError(_("Nur laufende Umfragen können abgeschlossen werden."))
    survey.invitations.all().delete()
    survey.status = Survey.Status.CLOSED
    survey.closed_at = timezone.now()
    survey.link_token = ""
    survey.save()
    record_audit(actor, "survey_closed", survey)
    return survey


# --- Results --------------------------------------------------------------------------------


@dataclass
class Cell:
    label: str
    count: int | None  # None: suppressed (fewer than min_cell answers, or to protect one)


@dataclass
class Distribution:
    question: Question
    answered: int
    cells: list[Cell] = field(default_factory=list)
    suppressed: bool = False  # the whole question (too few answers)


def suppress(counts: list[tuple[str, int]], k: int) -> list[Cell]:
    """Primary suppression of cells in 1..k-1; if exactly one cell is hidden, the smallest
    other non-zero cell is hidden too, so the hidden one cannot be derived from the total."""
    cells = [Cell(label, count if count == 0 or count >= k else None) for label, count in counts]
    hidden = [i for i, c in enumerate(cells) if c.count is None]
    if len(hidden) == 1:
        others = sorted((c.count, i) for i, c in enumerate(cells) if c.count)
        if others:
            cells[others[0][1]].count = None
    return cells


def _buckets(question: Question) -> list[str]:
    if question.kind == Question.Kind.NUMBER:
        return ["0", "1", "2", "3+"]
    return list(question.options)


def _bucket_number(value: int) -> str:
    return str(value) if value < 3 else "3+"


def results(survey: Survey) -> tuple[int, list[Distribution]]:
    k = max(survey.min_cell, MIN_CELL_FLOOR)
    responses = list(survey.responses.values_list("answers", flat=True))
    distributions = []
    for question in survey.questions.all():
        counts = dict.fromkeys(_buckets(question), 0)
        answered = 0
        for answers in responses:
            if question.key not in answers:
                continue
            answered += 1
            value = answers[question.key]
            if question.kind == Question.Kind.NUMBER:
                counts[_bucket_number(int(value))] += 1
            elif question.kind == Question.Kind.SINGLE:
                if value in counts:
                    counts[value] += 1
            else:
                for v in value:
                    if v in counts:
                        counts[v] += 1
        distribution = Distribution(question=question, answered=answered)
        if answered < k:
            distribution.suppressed = True
        else:
            distribution.cells = suppress(list(counts.items()), k)
        distributions.append(distribution)
    return len(responses), distributions


def crosstab(survey: Survey, row_key: str, col_key: str) -> dict | None:
    """Need by age group × time band (or any two choice questions), k-anonymous."""
    k = max(survey.min_cell, MIN_CELL_FLOOR)
    questions = {q.key: q for q in survey.questions.filter(key__in=[row_key, col_key])}
    if len(questions) != 2:
        return None
    rows, cols = questions[row_key].options, questions[col_key].options
    table = {(r, c): 0 for r in rows for c in cols}
    for answers in survey.responses.values_list("answers", flat=True):
        rv, cv = answers.get(row_key), answers.get(col_key)
        for r in rv if isinstance(rv, list) else [rv]:
            for c in cv if isinstance(cv, list) else [cv]:
                if (r, c) in table:
                    table[(r, c)] += 1
    cells = suppress([(f"{r}|{c}", table[(r, c)]) for r in rows for c in cols], k)
    it = iter(cells)
    return {
        "rows": questions[row_key],
        "cols": questions[col_key],
        "table": [(r, [next(it).count for _ in cols]) for r in rows],
    }


@dataclass
class Estimate:
    low: int
    point: int
    high: int


def recommendation(
    survey: Survey, population: int | None
) -> dict[tuple[str, str], Estimate] | None:
    """Recommended contingent per horizon (now, 3y) × age group with its uncertainty.

    From the stated needs x_i of the n respondents (sum S, mean m, standard deviation s) and
    the population N (invited, or the employee count for link surveys):
    low = S (only what respondents stated); high = S + (m + 1.96·s/√n)·(N−n) (non-respondents
    need as much as respondents, upper 95 % bound of the mean); point = midpoint (assumes
    non-respondents need half as much — they answer less when they need nothing).
    None below the anonymity threshold.
    """
    responses = list(survey.responses.values_list("answers", flat=True))
    n = len(responses)
    if n < max(survey.min_cell, MIN_CELL_FLOOR):
        return None
    population = max(population or n, n)
    result = {}
    for (horizon, group), key in NEED_KEYS.items():
        values = [int(a.get(key) or 0) for a in responses]
        total = sum(values)
        mean = total / n
        sd = math.sqrt(sum((v - mean) ** 2 for v in values) / (n - 1)) if n > 1 else 0.0
        rest = population - n
        high = total + (mean + 1.96 * sd / math.sqrt(n)) * rest
        result[(horizon, group)] = Estimate(
            low=total, point=round((total + high) / 2), high=math.ceil(high)
        )
    return result
