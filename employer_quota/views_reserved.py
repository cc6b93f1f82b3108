"""HR's pages for reserved places: dashboard, agreements, statements, codes, place requests."""

from __future__ import annotations

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.http import require_POST
from kitaportal.exports import table_download

from employer_quota.agreements import services as agreements
from employer_quota.agreements.forms import IssueCodesForm
from employer_quota.agreements.models import Agreement, EligibilityCode, PlaceRequest
from tenants.common.services import queue_email
from tenants.models import Tenant, TenantType

from . import reserved
from .access import hr_required
from .models import EmployerProfile


def _agreements(request):
    return Agreement.objects.filter(employer=request.tenant).select_related(
        "municipality", "current"
    )


def _kita_year(request) -> int:
    """?jahr=YYYY among the running and the next three Kita years; default: the next one (the
    year being planned: claims, releases and allocation happen before it starts)."""
    running = agreements.current_kita_year()
    raw = request.GET.get("jahr", "")
    year = int(raw) if raw.isdigit() else running + 1
    return year if running <= year <= running + 3 else running + 1


@hr_required
def dashboard(request):
    year = _kita_year(request)
    rows = reserved.dashboard_rows(request.tenant, year)
    pending = [a for a in _agreements(request) if a.pending is not None]
    chart_max = max([r.reserved for r in rows] + [1])
    return render(
        request,
        "employer_quota/reserved_dashboard.html",
        {
            "rows": rows,
            "totals": reserved.totals(rows),
            "pending": pending,
            "kita_year": year,
            "years": range(agreements.current_kita_year(), agreements.current_kita_year() + 4),
            "releases": agreements.upcoming_releases(
                agreements.active_agreements(employer=request.tenant)
            ),
            "chart_max": chart_max,
            "chart_height": 10 * len(rows) + 2,
            "legend": [
                ("#0b5394", _("belegt/beansprucht")),
                ("#9fc5e8", _("frei")),
                ("#b7b7b7", _("freigegeben")),
            ],
            "codes": agreements.code_counts(request.tenant),
            "all_agreements": _agreements(request),
        },
    )


@hr_required
def dashboard_export(request, fmt: str):
    rows = reserved.export_table(reserved.dashboard_rows(request.tenant, _kita_year(request)))
    return table_download(
        fmt, reserved.EXPORT_HEADER, rows, "belegplaetze", sheet_title="Belegplaetze"
    )


@hr_required
def agreement_detail(request, pk: int):
    agreement = get_object_or_404(_agreements(request), pk=pk)
    if request.method == "POST":
        action = request.POST.get("action")
        try:
            if action in ("confirm", "decline"):
                agreements.decide_version(request.user, agreement, confirm=action == "confirm")
                messages.success(
                    request,
                    _("Die Fassung ist bestätigt und gilt.")
                    if action == "confirm"
                    else _("Der Vorschlag ist abgelehnt."),
                )
            elif action == "end":
                agreements.end_agreement(request.user, agreement)
                messages.success(request, _("Die Vereinbarung wurde beendet."))
            else:
                raise Http404
        except ValidationError as exc:
            for message in exc.messages:
                messages.error(request, message)
        return redirect("reserved-agreement", pk=agreement.pk)
    years = agreement.current.kita_years() if agreement.current else []
    return render(
        request,
        "employer_quota/agreement_detail.html",
        {
            "agreement": agreement,
            "versions": agreement.versions.all(),
            "pending": agreement.pending,
            "occupancy": [(year, agreements.occupancy(agreement, year)) for year in years],
            "months": reserved.statement_months(agreement, timezone.localdate()),
        },
    )


@hr_required
def statement_pdf(request, pk: int, year: int, month: int):
    agreement = get_object_or_404(_agreements(request), pk=pk)
    statement = reserved.statement(agreement, year, month)
    if statement is None:
        raise Http404
    html = render_to_string(
        "employer_quota/statement.html",
        {
            "s": statement,
            "profile": EmployerProfile.objects.first(),
            "employer": request.tenant,
            "created": timezone.localdate(),
        },
        request=request,
    )
    pdf = reserved.render_statement_pdf(html)
    response = HttpResponse(pdf, content_type="application/pdf")
    response["Content-Disposition"] = (
        f'inline; filename="abrechnung-{agreement.pk}-{year}-{month:02d}.pdf"'
    )
    return response


# --- Eligibility codes ------------------------------------------------------------------------


@hr_required
def codes(request):
    form = IssueCodesForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        profile = EmployerProfile.objects.first()
        name = profile.name if profile else request.tenant.name
        try:
            with transaction.atomic():
                if data["channel"] == "email":
                    issued = agreements.issue_codes(
                        request.user,
                        request.tenant,
                        count=len(data["addresses"]),
                        channel="email",
                        valid_days=data["valid_days"],
                    )
                    for address, (code, plain) in zip(data["addresses"], issued, strict=True):
                        queue_email(
                            to=[address],
                            subject=_("Ihr Code für Kita-Belegplätze von %(name)s")
                            % {"name": name},
                            text=render_to_string(
                                "employer_quota/email/code_invitation.txt",
                                {
                                    "name": name,
                                    "code": plain,
                                    "number": code.number,
                                    "expires": code.expires_at,
                                    "municipalities": _municipalities(request),
                                },
                            ),
                        )
                else:
                    issued = agreements.issue_codes(
                        request.user,
                        request.tenant,
                        count=data["count"],
                        channel="print",
                        valid_days=data["valid_days"],
                    )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            if data["channel"] == "print":
                return render(
                    request,
                    "employer_quota/code_sheet.html",
                    {"issued": issued, "name": name, "municipalities": _municipalities(request)},
                )
            messages.success(
                request,
                _("%(n)d Einladungen mit Code werden versendet.") % {"n": len(issued)},
            )
            return redirect("codes")
    now = timezone.now()
    return render(
        request,
        "employer_quota/codes.html",
        {
            "form": form,
            "counts": agreements.code_counts(request.tenant),
            "codes": EligibilityCode.objects.filter(employer=request.tenant)[:500],
            "now": now,
        },
    )


def _municipalities(request) -> list[str]:
    return sorted(
        {a.municipality.name for a in agreements.active_agreements(employer=request.tenant)}
    )


@hr_required
@require_POST
def revoke_code(request, number: int):
    if not EligibilityCode.objects.filter(employer=request.tenant, number=number).exists():
        raise Http404
    agreements.revoke_code(request.user, request.tenant, number)
    messages.success(request, _("Code Nr. %(n)d ist widerrufen.") % {"n": number})
    return redirect("codes")


# --- Place requests -------------------------------------------------------------------------


class PlaceRequestForm(forms.Form):
    municipality = forms.ModelChoiceField(
        label=gettext_lazy("Kommune"),
        queryset=Tenant.objects.filter(
            type=TenantType.MUNICIPALITY, is_active=True, is_template=False
        ),
    )
    u3_places = forms.IntegerField(
        label=gettext_lazy("U3-Plätze"), min_value=0, max_value=200, initial=0
    )
    ue3_places = forms.IntegerField(
        label=gettext_lazy("Ü3-Plätze"), min_value=0, max_value=200, initial=0
    )
    care_hours = forms.TypedChoiceField(
        label=gettext_lazy("Betreuungsumfang"),
        choices=[(25, "25"), (35, "35"), (45, "45")],
        coerce=int,
        initial=35,
    )
    wanted_from = forms.DateField(
        label=gettext_lazy("gewünscht ab"), widget=forms.DateInput(attrs={"type": "date"})
    )


def _survey_basis(survey_id) -> str:
    """The request's basis, written by the system (never free text): survey and answer count."""
    from .models import Survey

    survey = Survey.objects.filter(pk=survey_id).first() if str(survey_id or "").isdigit() else None
    if survey is None:
        return ""
    return _("Bedarfsumfrage „%(t)s“ (%(n)d Antworten)") % {
        "t": survey.title[:120],
        "n": survey.responses.count(),
    }


@hr_required
def place_request(request):
    initial = {
        k: request.GET[k] for k in ("u3_places", "ue3_places") if request.GET.get(k, "").isdigit()
    }
    basis = _survey_basis(request.GET.get("umfrage") or request.POST.get("umfrage"))
    form = PlaceRequestForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            agreements.request_places(
                request.user,
                employer=request.tenant,
                basis=basis,
                **form.cleaned_data,
            )
        except ValidationError as exc:
            for field, errors in exc.message_dict.items():
                for error in errors:
                    form.add_error(field if field in form.fields else None, error)
        else:
            messages.success(request, _("Die Anfrage ist bei der Kommune eingegangen."))
            return redirect("reserved-dashboard")
    return render(
        request,
        "employer_quota/place_request.html",
        {
            "form": form,
            "basis": basis,
            "requests": PlaceRequest.objects.filter(employer=request.tenant).select_related(
                "municipality"
            ),
        },
    )
