"""Onboarding pages of a tenant's admin (404 for everyone else)."""

from __future__ import annotations

from billing.views_tenant import tenant_admin_required
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods
from kitaportal.forms import apply_service_errors

from registrations import imports

from . import services
from .forms import DistrictForm, ImportForm, RulesForm, TextsForm
from .models import PortalSetup

MAX_UPLOAD = 5 * 1024 * 1024


def _municipality_only(request) -> None:
    if request.tenant.type != "municipality":
        raise Http404


@require_GET
@tenant_admin_required
def checklist(request):
    if request.tenant.type == "municipality":
        items = services.municipality_checklist()
    else:
        items = services.employer_checklist(request.tenant)
    return render(request, "onboarding/checklist.html", {"checklist": items})


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def districts(request):
    from registrations.models import District

    _municipality_only(request)
    form = DistrictForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            services.create_district(request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("onboarding:districts")
    return render(
        request,
        "onboarding/districts.html",
        {"form": form, "districts": District.objects.order_by("name")},
    )


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def facility_import(request):
    _municipality_only(request)
    form = ImportForm(request.POST or None, request.FILES or None)
    report = None
    status = 200
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        if upload.size > MAX_UPLOAD:
            form.add_error("file", "≤ 5 MB")
        else:
            report = imports.import_facilities(request.user, upload.read(), upload.name)
            status = 200 if report.applied else 400
    return render(
        request, "onboarding/facility_import.html", {"form": form, "report": report}, status=status
    )


@require_GET
@tenant_admin_required
def facility_template(request, fmt: str):
    _municipality_only(request)
    if fmt == "csv":
        response = HttpResponse(imports.template_csv(), content_type="text/csv; charset=utf-8")
    elif fmt == "xlsx":
        response = HttpResponse(
            imports.template_xlsx(),
            content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        )
    else:
        raise Http404
    response["Content-Disposition"] = f'attachment; filename="kitas-vorlage.{fmt}"'
    return response


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def rules(request):
    from registrations.models import PortalSettings

    _municipality_only(request)
    setup = PortalSetup.current()
    initial = {
        "max_wishes": PortalSettings.current().max_wishes,
        "application_deadline": setup.application_deadline,
        "offers_from": setup.offers_from,
    }
    form = RulesForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        try:
            services.save_rules(request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("onboarding:checklist")
    return render(request, "onboarding/form.html", {"form": form, "step": "rules"})


@require_http_methods(["GET", "POST"])
@tenant_admin_required
def texts(request):
    _municipality_only(request)
    setup = PortalSetup.current()
    form = TextsForm(
        request.POST or None,
        request.FILES or None,
        initial={
            "welcome_text": setup.welcome_text,
            "welcome_text_en": setup.welcome_text_en,
            "logo_alt": setup.logo_alt,
        },
    )
    if request.method == "POST" and form.is_valid():
        try:
            services.save_texts(request.user, **form.cleaned_data)
        except ValidationError as exc:
            apply_service_errors(form, exc)
        else:
            return redirect("onboarding:checklist")
    return render(request, "onboarding/form.html", {"form": form, "step": "texts", "setup": setup})
